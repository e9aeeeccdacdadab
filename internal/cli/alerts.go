package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/telltale-dev/telltale/client"
)

func (e *env) alertsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "alerts", Short: "Alerts raised by alert rules (docs/ALERTS.md)"}
	var q client.AlertQuery
	list := &cobra.Command{
		Use: "list", Short: "List alerts, newest first", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := e.client(cmd)
			if err != nil {
				return err
			}
			l, err := c.Alerts(cmd.Context(), q)
			if err != nil {
				return err
			}
			t := table{headers: []string{"ID", "STATE", "SEVERITY", "RULE", "PERSON", "EVENTS", "FIRST", "LAST", "ASSIGNEE", "SUMMARY"}, value: l}
			for _, a := range l.Items {
				t.rows = append(t.rows, []string{a.ID, a.State, a.Severity, a.RuleName, a.Person, strconv.FormatInt(a.EventCount, 10),
					ts(a.FirstEventAt), ts(a.LastEventAt), a.Assignee, a.Summary})
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
	list.Flags().StringSliceVar(&q.States, "state", nil, "open, in_progress, resolved or dismissed (repeat or separate with commas)")
	list.Flags().StringSliceVar(&q.Severities, "severity", nil, "low, moderate, high or critical (repeat or separate with commas)")
	list.Flags().StringVar(&q.Rule, "rule", "", "a rule id")
	list.Flags().StringVar(&q.Person, "person", "", "the person's address")
	list.Flags().StringVar(&q.Assignee, "assignee", "", "user name")
	list.Flags().StringVar(&q.Before, "before", "", "the next page: the value printed after the previous one")
	list.Flags().IntVar(&q.Limit, "limit", 100, "at most this many alerts (1 to 1000)")

	show := &cobra.Command{
		Use: "show ID", Short: "An alert with its first events and its history", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client(cmd)
			if err != nil {
				return err
			}
			d, err := c.Alert(cmd.Context(), args[0])
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
			a := d.Alert
			t := table{headers: []string{"FIELD", "VALUE"}, rows: [][]string{{"id", a.ID}, {"rule", a.RuleName + " (" + a.RuleID + ")"},
				{"group", a.Group}, {"person", a.Person}, {"state", a.State}, {"resolution", a.Resolution}, {"assignee", a.Assignee},
				{"severity", a.Severity}, {"summary", a.Summary}, {"events", strconv.FormatInt(a.EventCount, 10)},
				{"first event", ts(a.FirstEventAt)}, {"last event", ts(a.LastEventAt)}, {"raised", ts(a.CreatedAt)}, {"version", strconv.FormatInt(a.Version, 10)}}}
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

	var state, resolution, assignee, note string
	var version int64
	update := &cobra.Command{
		Use:   "update ID [ID...]",
		Short: "Change alerts: state, resolution, assignee, note (several ids: a bulk state change, --state required)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client(cmd)
			if err != nil {
				return err
			}
			opt := func(name string, v *string) *string {
				if cmd.Flags().Changed(name) {
					return v
				}
				return nil
			}
			if len(args) == 1 {
				a, err := c.UpdateAlert(cmd.Context(), args[0], client.AlertUpdate{State: opt("state", &state), Resolution: opt("resolution", &resolution),
					Assignee: opt("assignee", &assignee), Note: note, Version: version})
				if err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "alert %s: %s %s %s (version %d)\n", a.ID, a.State, a.Resolution, a.Assignee, a.Version)
				return nil
			}
			if state == "" || cmd.Flags().Changed("assignee") || version != 0 {
				return errors.New("several alerts change together by --state (with --resolution and --note); change assignees one alert at a time")
			}
			r, err := c.BulkUpdateAlerts(cmd.Context(), client.AlertBulkUpdate{IDs: args, State: state, Resolution: opt("resolution", &resolution), Note: note})
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%d alerts changed, %d already %s\n", r.Updated, r.Unchanged, state)
			for _, x := range r.Errors {
				fmt.Fprintf(e.stderr, "alert %s: %s\n", x.Value, x.Message)
			}
			if len(r.Errors) > 0 {
				return exitError(1)
			}
			return nil
		},
	}
	update.Flags().StringVar(&state, "state", "", "open, in_progress, resolved or dismissed")
	update.Flags().StringVar(&resolution, "resolution", "", "true_positive, benign_true_positive, false_positive, or \"\" to clear")
	update.Flags().StringVar(&assignee, "assignee", "", "user name (\"\" to clear)")
	update.Flags().StringVar(&note, "note", "", "a note for the alert's history")
	update.Flags().Int64Var(&version, "version", 0, "refuse the change if the alert is no longer at this version")
	cmd.AddCommand(list, show, update)
	return cmd
}

func (e *env) rulesCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "rules", Short: "Alert rules (docs/ALERTS.md)"}
	list := &cobra.Command{
		Use: "list", Short: "List alert rules with their warnings", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := e.client(cmd)
			if err != nil {
				return err
			}
			rs, err := c.Rules(cmd.Context())
			if err != nil {
				return err
			}
			t := table{headers: []string{"ID", "NAME", "ENABLED", "KIND", "SEVERITY", "QUERY", "PARAMS", "WARNING"}, value: rs}
			for _, r := range rs {
				t.rows = append(t.rows, []string{r.ID, r.Name, strconv.FormatBool(r.Enabled), r.Kind, r.Severity, r.Query, string(r.Params), r.Warning})
			}
			return render(cmd, e.stdout, t)
		},
	}
	var in client.AlertRuleInput
	var params string
	var days int
	ruleFlags := func(c *cobra.Command) {
		c.Flags().StringVar(&in.Query, "query", "", "the search query (docs/SEARCH.md)")
		c.Flags().StringVar(&in.Kind, "kind", "threshold", "threshold or new_terms")
		c.Flags().StringVar(&params, "params", "", `the kind's parameters as JSON, e.g. '{"measure":"files","value":50,"window":"1h"}'`)
		c.Flags().StringVar(&in.Severity, "severity", "moderate", "low, moderate, high or critical")
	}
	build := func(cmd *cobra.Command, c *client.Client, args []string) (client.AlertRuleInput, error) {
		r := in
		if len(args) == 1 { // start from a stored rule, flags override
			rs, err := c.Rules(cmd.Context())
			if err != nil {
				return r, err
			}
			found := false
			for _, x := range rs {
				if x.ID == args[0] || strings.EqualFold(x.Name, strings.TrimSpace(args[0])) {
					r, found = client.AlertRuleInput{Name: x.Name, Query: x.Query, Kind: x.Kind, Params: x.Params, Severity: x.Severity}, true
				}
			}
			if !found {
				return r, fmt.Errorf("no rule %q: see `telltale rules list`", args[0])
			}
			for name, dst := range map[string]*string{"query": &r.Query, "kind": &r.Kind, "severity": &r.Severity} {
				if cmd.Flags().Changed(name) {
					v, _ := cmd.Flags().GetString(name)
					*dst = v
				}
			}
		}
		if params != "" {
			if !json.Valid([]byte(params)) {
				return r, fmt.Errorf("--params is not JSON: %s", params)
			}
			r.Params = json.RawMessage(params)
		}
		if r.Name == "" {
			r.Name = "backtest"
		}
		return r, nil
	}
	test := &cobra.Command{
		Use:   "test [RULE]",
		Short: "Backtest a rule (a stored one by id or name, or one given by flags) on the stored events of the last --days days",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client(cmd)
			if err != nil {
				return err
			}
			r, err := build(cmd, c, args)
			if err != nil {
				return err
			}
			res, err := c.TestRule(cmd.Context(), client.RuleTestRequest{Rule: r, Days: days})
			if err != nil {
				return err
			}
			t := table{headers: []string{"PERSON", "ALERTS", "EVENTS"}, value: res}
			for _, p := range res.People {
				t.rows = append(t.rows, []string{p.Person, strconv.Itoa(p.Alerts), strconv.FormatInt(p.Events, 10)})
			}
			if f, _ := outputFormat(cmd); f == "table" {
				fmt.Fprintf(e.stdout, "%d alerts from %s to %s (%d matching events read", res.Alerts, ts(res.From), ts(res.To), res.Events)
				if res.Suppressed > 0 {
					fmt.Fprintf(e.stdout, "; %d more held back by the hourly cap", res.Suppressed)
				}
				if res.Truncated {
					fmt.Fprint(e.stdout, "; stopped at the read limit or the 20 s budget: the counts cover the oldest events only")
				}
				fmt.Fprint(e.stdout, ")\n\n")
			}
			return render(cmd, e.stdout, t)
		},
	}
	ruleFlags(test)
	test.Flags().IntVar(&days, "days", 7, "how many days back (1 to 365)")
	var disabled bool
	create := &cobra.Command{
		Use: "create NAME", Short: "Create an alert rule", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client(cmd)
			if err != nil {
				return err
			}
			r, err := build(cmd, c, nil)
			if err != nil {
				return err
			}
			r.Name = args[0]
			enabled := !disabled
			r.Enabled = &enabled
			saved, err := c.CreateRule(cmd.Context(), r)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "created rule %q as %s\n", saved.Name, saved.ID)
			return nil
		},
	}
	ruleFlags(create)
	create.Flags().BoolVar(&disabled, "disabled", false, "create it disabled")
	cmd.AddCommand(list, test, create)
	return cmd
}
