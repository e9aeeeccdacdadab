package cli

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

func (e *env) peopleCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "people", Short: "A person's risk, watchlists, alerts and cases, and their departure exposure (docs/CASES.md)"}
	show := &cobra.Command{
		Use: "show EMAIL", Short: "A person's rolling 30-day risk score and trend, watchlists, alerts and cases", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client(cmd)
			if err != nil {
				return err
			}
			p, err := c.Person(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			f, err := outputFormat(cmd)
			if err != nil {
				return err
			}
			if f == "json" {
				return render(cmd, e.stdout, table{value: p})
			}
			status := p.Status
			if status == "" {
				status = "unknown"
			}
			t := table{headers: []string{"FIELD", "VALUE"}, rows: [][]string{{"email", p.Email}, {"status", status},
				{"risk score", fmt.Sprintf("%d (%d scored events in %d days)", p.Risk.Score, p.Risk.Events, p.Risk.WindowDays)}}}
			for _, a := range p.Aliases {
				t.rows = append(t.rows, []string{"alias", a.Alias})
			}
			for _, s := range p.Sources {
				t.rows = append(t.rows, []string{"last " + s.Service, s.Address + " " + ts(s.LastActivity)})
			}
			for _, w := range p.Watchlists {
				v := w.Name
				if w.DepartureDate != "" {
					v += ", leaving " + w.DepartureDate
				}
				t.rows = append(t.rows, []string{"watchlist", v})
			}
			for _, d := range p.Risk.Trend {
				t.rows = append(t.rows, []string{"risk " + d.Day, strconv.FormatInt(d.Score, 10)})
			}
			for _, a := range p.Alerts {
				t.rows = append(t.rows, []string{"alert", a.ID + " " + a.State + " " + a.Severity + " " + a.RuleName})
			}
			for _, k := range p.Cases {
				t.rows = append(t.rows, []string{"case", k.ID + " " + k.State + " " + k.Title})
			}
			return render(cmd, e.stdout, t)
		},
	}
	exposure := &cobra.Command{
		Use: "exposure EMAIL", Short: "Every file the person owns that is shared now by public link or outside the trusted domains, as CSV", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client(cmd)
			if err != nil {
				return err
			}
			body, err := c.ExposureCSV(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			defer body.Close()
			_, err = io.Copy(e.stdout, body)
			return err
		},
	}
	var after string
	var limit int
	list := &cobra.Command{
		Use: "list", Short: "People by address, aliases folded into their person, with status where known", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := e.client(cmd)
			if err != nil {
				return err
			}
			l, err := c.People(cmd.Context(), after, limit)
			if err != nil {
				return err
			}
			t := table{headers: []string{"email", "name", "status", "department", "aliases"}, value: l}
			for _, p := range l.Items {
				t.rows = append(t.rows, []string{p.Email, p.Name, p.Status, p.Department, strings.Join(p.Aliases, " ")})
			}
			if err := render(cmd, e.stdout, t); err != nil {
				return err
			}
			if l.Next != "" {
				fmt.Fprintf(e.stderr, "more: --after %s\n", l.Next)
			}
			return nil
		},
	}
	list.Flags().StringVar(&after, "after", "", "page: people after this address")
	list.Flags().IntVar(&limit, "limit", 100, "at most this many people (1 to 1000)")
	alias := &cobra.Command{Use: "alias", Short: "A person's other addresses (admins)"}
	alias.AddCommand(&cobra.Command{
		Use: "add EMAIL ALIAS", Short: "Make ALIAS (another service's login, UPN or address) another address of the person EMAIL", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client(cmd)
			if err != nil {
				return err
			}
			as, err := c.AddAlias(cmd.Context(), args[0], args[1])
			if err != nil {
				return err
			}
			names := make([]string, len(as))
			for i, a := range as {
				names[i] = a.Alias
			}
			fmt.Fprintf(e.stdout, "%s now has the aliases: %s\n", args[0], strings.Join(names, ", "))
			return nil
		},
	}, &cobra.Command{
		Use: "remove EMAIL ALIAS", Short: "Remove one of the person's aliases", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client(cmd)
			if err != nil {
				return err
			}
			if err := c.RemoveAlias(cmd.Context(), args[0], args[1]); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%s is no longer an alias of %s\n", args[1], args[0])
			return nil
		},
	})
	cmd.AddCommand(show, exposure, list, alias)
	return cmd
}
