package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/spf13/cobra"
	"github.com/telltale-dev/telltale/client"
)

func (e *env) casesCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "cases", Short: "Cases: people, alerts and events gathered for an investigation (docs/CASES.md)"}
	var q client.CaseQuery
	list := &cobra.Command{
		Use: "list", Short: "List cases, newest first", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := e.client(cmd)
			if err != nil {
				return err
			}
			l, err := c.Cases(cmd.Context(), q)
			if err != nil {
				return err
			}
			t := table{headers: []string{"ID", "STATE", "TITLE", "ASSIGNEE", "HOLD", "PEOPLE", "ALERTS", "EVENTS", "UPDATED"}, value: l}
			for _, k := range l.Items {
				t.rows = append(t.rows, []string{k.ID, k.State, k.Title, k.Assignee, hold(k.LegalHold), strconv.FormatInt(k.People, 10),
					strconv.FormatInt(k.Alerts, 10), strconv.FormatInt(k.Events, 10), ts(k.UpdatedAt)})
			}
			if err := render(cmd, e.stdout, t); err != nil {
				return err
			}
			if l.Next != "" {
				fmt.Fprintf(e.stderr, "more: --before %s\n", l.Next)
			}
			return nil
		},
	}
	list.Flags().StringSliceVar(&q.States, "state", nil, "open, closed or archived (repeat or separate with commas)")
	list.Flags().StringVar(&q.Person, "person", "", "cases gathering this person")
	list.Flags().StringVar(&q.Alert, "alert", "", "cases gathering this alert id")
	list.Flags().StringVar(&q.Assignee, "assignee", "", "user name")
	list.Flags().StringVar(&q.Before, "before", "", "the next page: the value printed after the previous one")
	list.Flags().IntVar(&q.Limit, "limit", 100, "at most this many cases (1 to 1000)")

	show := &cobra.Command{
		Use: "show ID", Short: "A case with its people, alerts, first events and history", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client(cmd)
			if err != nil {
				return err
			}
			d, err := c.Case(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			f, err := outputFormat(cmd)
			if err != nil {
				return err
			}
			if f == "json" {
				return render(cmd, e.stdout, table{value: d})
			}
			k := d.Case
			t := table{headers: []string{"FIELD", "VALUE"}, rows: [][]string{{"id", k.ID}, {"title", k.Title}, {"description", k.Description},
				{"state", k.State}, {"assignee", k.Assignee}, {"legal hold", hold(k.LegalHold)}, {"created", ts(k.CreatedAt) + " by " + k.CreatedBy},
				{"updated", ts(k.UpdatedAt)}, {"version", strconv.FormatInt(k.Version, 10)}}}
			for _, p := range d.People {
				t.rows = append(t.rows, []string{"person", p})
			}
			for _, a := range d.Alerts {
				t.rows = append(t.rows, []string{"alert", a.ID + " " + a.Severity + " " + a.RuleName + " " + a.Person})
			}
			if err := render(cmd, e.stdout, t); err != nil {
				return err
			}
			ev := table{headers: []string{"EVENT", "OBSERVED", "ACTION", "ACTOR", "FILE", "SEVERITY"}}
			for _, raw := range d.Events.Items {
				var x struct {
					Timestamp string `json:"@timestamp"`
					Event     struct{ ID, Action string }
					User      struct{ Email string }
					File      struct{ Name string }
					Risk      struct{ Severity string }
				}
				if err := json.Unmarshal(raw, &x); err != nil {
					return err
				}
				ev.rows = append(ev.rows, []string{x.Event.ID, x.Timestamp, x.Event.Action, x.User.Email, x.File.Name, x.Risk.Severity})
			}
			fmt.Fprintln(e.stdout)
			if err := render(cmd, e.stdout, ev); err != nil {
				return err
			}
			h := table{headers: []string{"AT", "ACTOR", "CHANGE", "FROM", "TO", "NOTE"}}
			for _, x := range d.History {
				h.rows = append(h.rows, []string{ts(x.At), x.Actor, x.Field, x.From, x.To, x.Note})
			}
			fmt.Fprintln(e.stdout)
			return render(cmd, e.stdout, h)
		},
	}

	var in client.CaseInput
	create := &cobra.Command{
		Use: "create TITLE", Short: "Open a case (with --person, --alert, --event to gather from the start)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client(cmd)
			if err != nil {
				return err
			}
			in.Title = args[0]
			k, err := c.CreateCase(cmd.Context(), in)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "case %s: %s, %d people, %d alerts, %d events, legal hold %s\n", k.ID, k.State, k.People, k.Alerts, k.Events, hold(k.LegalHold))
			return nil
		},
	}
	create.Flags().StringVar(&in.Description, "description", "", "what the case is about")
	create.Flags().StringVar(&in.Assignee, "assignee", "", "user name")
	create.Flags().BoolVar(&in.LegalHold, "legal-hold", false, "keep the case's events past retention")
	itemFlags(create, &in.CaseItemsInput)

	var items client.CaseItemsInput
	add := &cobra.Command{
		Use: "add ID", Short: "Add people, alerts and events to a case (up to 1,000 per call)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client(cmd)
			if err != nil {
				return err
			}
			if len(items.People)+len(items.AlertIDs)+len(items.EventIDs) == 0 {
				return errors.New("name what to add: --person, --alert or --event")
			}
			a, err := c.AddToCase(cmd.Context(), args[0], items)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "case %s: added %d people, %d alerts, %d events (the rest it had)\n", args[0], len(a.People), len(a.AlertIDs), len(a.EventIDs))
			return nil
		},
	}
	itemFlags(add, &items)

	var out string
	export := &cobra.Command{
		Use: "export ID", Short: "Export a case as one zip: case.json, events.csv, events.json and manifest.json (SHA-256 of each file)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client(cmd)
			if err != nil {
				return err
			}
			if out == "" {
				out = "case-" + args[0] + ".zip"
			}
			body, err := c.ExportCase(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			defer body.Close()
			var w io.Writer = e.stdout
			if out != "-" {
				f, err := os.OpenFile(out, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
				if err != nil {
					return err
				}
				defer f.Close()
				w = f
			}
			n, err := io.Copy(w, body)
			if err != nil {
				return fmt.Errorf("case %s: export cut short after %d bytes: %w", args[0], n, err)
			}
			if out != "-" {
				fmt.Fprintf(e.stderr, "wrote %s (%d bytes)\n", out, n)
			}
			return nil
		},
	}
	export.Flags().StringVarP(&out, "file", "f", "", "where to write the zip (default case-ID.zip; - for standard output); an existing file is not overwritten")
	cmd.AddCommand(list, show, create, add, export)
	return cmd
}

func itemFlags(cmd *cobra.Command, in *client.CaseItemsInput) {
	cmd.Flags().StringSliceVar(&in.People, "person", nil, "a person's address (repeat or separate with commas)")
	cmd.Flags().StringSliceVar(&in.AlertIDs, "alert", nil, "an alert id (repeat or separate with commas)")
	cmd.Flags().StringSliceVar(&in.EventIDs, "event", nil, "an event id (repeat or separate with commas)")
}

func hold(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
