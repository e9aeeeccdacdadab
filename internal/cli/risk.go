package cli

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/telltale-dev/telltale/client"
)

func (e *env) riskCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "risk", Short: "Re-score stored events with the current risk settings (docs/RISK.md)"}
	jobTable := func(js ...client.RescoreJob) table {
		t := table{headers: []string{"ID", "STATE", "FROM", "TO", "SCANNED", "TOTAL", "CHANGED", "BY", "STARTED", "FINISHED", "ERROR"}}
		for _, j := range js {
			fin := ""
			if j.FinishedAt != nil {
				fin = ts(*j.FinishedAt)
			}
			t.rows = append(t.rows, []string{j.ID, j.State, ts(j.From), ts(j.To), strconv.FormatInt(j.Scanned, 10), strconv.FormatInt(j.Total, 10),
				strconv.FormatInt(j.Changed, 10), j.CreatedBy, ts(j.CreatedAt), fin, j.Error})
		}
		return t
	}
	var from, to string
	var wait bool
	rescore := &cobra.Command{
		Use:   "rescore --from TIME --to TIME",
		Short: "Start a job that applies the current risk settings and trusted domains to the events observed from --from to --to (excluded); re-scored events raise no alert",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if from == "" || to == "" {
				return errors.New("name the range of observed time with --from and --to, e.g. --from 2026-11-01 --to 2026-12-01")
			}
			f, err := parseTime(from)
			if err != nil {
				return fmt.Errorf("--from: %w", err)
			}
			u, err := parseTime(to)
			if err != nil {
				return fmt.Errorf("--to: %w", err)
			}
			c, err := e.client(cmd)
			if err != nil {
				return err
			}
			j, err := c.StartRescore(cmd.Context(), f, u)
			if err != nil {
				return err
			}
			for wait && j.State == "running" {
				select {
				case <-cmd.Context().Done():
					return cmd.Context().Err()
				case <-time.After(time.Second):
				}
				if j, err = c.RescoreJob(cmd.Context(), j.ID); err != nil {
					return err
				}
			}
			t := jobTable(j)
			t.value = j
			return render(cmd, e.stdout, t)
		},
	}
	rescore.Flags().StringVar(&from, "from", "", "the start of the range (RFC 3339 or a date, midnight UTC)")
	rescore.Flags().StringVar(&to, "to", "", "the end of the range, excluded")
	rescore.Flags().BoolVar(&wait, "wait", false, "wait until the job ends")
	jobs := &cobra.Command{
		Use: "jobs [ID]", Short: "The latest re-score jobs, or one job, with their progress", Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client(cmd)
			if err != nil {
				return err
			}
			if len(args) == 1 {
				j, err := c.RescoreJob(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				t := jobTable(j)
				t.value = j
				return render(cmd, e.stdout, t)
			}
			l, err := c.RescoreJobs(cmd.Context())
			if err != nil {
				return err
			}
			t := jobTable(l.Items...)
			t.value = l
			return render(cmd, e.stdout, t)
		},
	}
	cancel := &cobra.Command{
		Use: "cancel ID", Short: "Stop a running re-score job (the events it re-scored keep their new risk)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client(cmd)
			if err != nil {
				return err
			}
			j, err := c.CancelRescore(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			t := jobTable(j)
			t.value = j
			return render(cmd, e.stdout, t)
		},
	}
	cmd.AddCommand(rescore, jobs, cancel)
	return cmd
}
