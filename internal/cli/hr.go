package cli

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
)

// hrCmd: HR sources (docs/OPERATIONS.md). They are added, changed, connected and deleted with
// `telltale integrations`; these commands show their last sync, sync one now and upload a CSV.
func (e *env) hrCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "hr", Short: "HR sources that keep the Departing employees watchlist: list, sync, upload (docs/OPERATIONS.md)"}
	list := &cobra.Command{Use: "list", Short: "List the HR sources with their last sync and its outcome", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := e.client(cmd)
			if err != nil {
				return err
			}
			l, err := c.HRSources(cmd.Context())
			if err != nil {
				return err
			}
			t := table{headers: []string{"ID", "NAME", "KIND", "STATUS", "CONDITION", "LAST SYNC", "OUTCOME"}, value: l}
			for _, s := range l.Items {
				last, outcome := "never", s.Summary
				if !s.LastSyncAt.IsZero() {
					last = s.LastSyncAt.UTC().Format(time.RFC3339)
				}
				if s.LastError != "" {
					outcome = s.LastError
				}
				t.rows = append(t.rows, []string{s.ID, s.Name, s.Kind, s.Status, s.Condition, last, outcome})
			}
			return render(cmd, e.stdout, t)
		}}
	sync := &cobra.Command{Use: "sync ID", Short: "Poll a Workday or BambooHR source now", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client(cmd)
			if err != nil {
				return err
			}
			r, err := c.SyncHRSource(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%d added, %d updated, %d removed, %d unchanged, %d skipped\n", r.Added, r.Updated, r.Removed, r.Unchanged, r.Skipped)
			return nil
		}}
	upload := &cobra.Command{Use: "upload ID FILE.csv", Short: "Upload a CSV (Email, Departure Date, Action: add or remove) to an hr_csv source; a bad file changes nothing",
		Args: cobra.ExactArgs(2), RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client(cmd)
			if err != nil {
				return err
			}
			f, err := os.Open(args[1])
			if err != nil {
				return err
			}
			defer f.Close()
			r, err := c.UploadHR(cmd.Context(), args[0], f)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%d added, %d updated, %d removed, %d unchanged\n", r.Added, r.Updated, r.Removed, r.Unchanged)
			return nil
		}}
	cmd.AddCommand(list, sync, upload)
	return cmd
}
