package cli

import (
	"fmt"
	"io"
	"strconv"

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
			t := table{headers: []string{"FIELD", "VALUE"}, rows: [][]string{{"email", p.Email},
				{"risk score", fmt.Sprintf("%d (%d scored events in %d days)", p.Risk.Score, p.Risk.Events, p.Risk.WindowDays)}}}
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
	cmd.AddCommand(show, exposure)
	return cmd
}
