package cli

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/telltale-dev/telltale/client"
)

func (e *env) watchlistsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "watchlists", Short: "Watchlists of people and their members (docs/ALERTS.md)"}
	list := &cobra.Command{
		Use: "list [WATCHLIST]", Short: "List the watchlists, or one watchlist's members (by name or id)", Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client(cmd)
			if err != nil {
				return err
			}
			if len(args) == 1 {
				w, err := findWatchlist(cmd, c, args[0])
				if err != nil {
					return err
				}
				t := table{headers: []string{"EMAIL", "DEPARTURE", "NOTES", "ADDED BY", "ADDED"}}
				var all []client.WatchlistMember
				for after := ""; ; {
					page, err := c.WatchlistMembers(cmd.Context(), w.ID, after, 1000)
					if err != nil {
						return err
					}
					all = append(all, page.Items...)
					if page.Next == "" {
						break
					}
					after = page.Next
				}
				for _, m := range all {
					t.rows = append(t.rows, []string{m.Email, m.DepartureDate, m.Notes, m.AddedBy, ts(m.AddedAt)})
				}
				t.value = client.WatchlistMembers{Items: all}
				return render(cmd, e.stdout, t)
			}
			l, err := c.Watchlists(cmd.Context())
			if err != nil {
				return err
			}
			t := table{headers: []string{"ID", "NAME", "TYPE", "MEMBERS", "DESCRIPTION"}, value: l}
			for _, w := range l.Items {
				t.rows = append(t.rows, []string{w.ID, w.Name, w.Type, strconv.FormatInt(w.Members, 10), w.Description})
			}
			return render(cmd, e.stdout, t)
		},
	}
	var departure, notes, csvFile string
	var replace bool
	add := &cobra.Command{
		Use:   "add WATCHLIST [EMAIL...]",
		Short: "Add people to a watchlist (by name or id), or the rows of a CSV with --csv (Email, optional Departure Date and Notes)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client(cmd)
			if err != nil {
				return err
			}
			w, err := findWatchlist(cmd, c, args[0])
			if err != nil {
				return err
			}
			var ch client.WatchlistChange
			switch {
			case csvFile != "" && len(args) > 1:
				return fmt.Errorf("name addresses or --csv, not both")
			case csvFile != "":
				f, done, err := e.input(csvFile)
				if err != nil {
					return err
				}
				defer done()
				if ch, err = c.UploadWatchlistMembers(cmd.Context(), w.ID, f, replace); err != nil {
					return err
				}
			case len(args) == 1:
				return fmt.Errorf("name at least one address, or --csv FILE")
			default:
				var ms []client.WatchlistMember
				for _, a := range args[1:] {
					ms = append(ms, client.WatchlistMember{Email: a, DepartureDate: departure, Notes: notes})
				}
				if ch, err = c.AddWatchlistMembers(cmd.Context(), w.ID, ms); err != nil {
					return err
				}
			}
			fmt.Fprintf(e.stdout, "watchlist %q: %d added, %d updated, %d removed\n", w.Name, ch.Added, ch.Updated, ch.Removed)
			return nil
		},
	}
	add.Flags().StringVar(&departure, "departure-date", "", "YYYY-MM-DD (departing_employee only)")
	add.Flags().StringVar(&notes, "notes", "", "notes about the people added")
	add.Flags().StringVar(&csvFile, "csv", "", `a CSV file of members ("-" for standard input); a bad file changes nothing`)
	add.Flags().BoolVar(&replace, "replace", false, "with --csv: remove the members the file does not list")
	remove := &cobra.Command{
		Use: "remove WATCHLIST EMAIL...", Short: "Remove people from a watchlist (by name or id)", Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client(cmd)
			if err != nil {
				return err
			}
			w, err := findWatchlist(cmd, c, args[0])
			if err != nil {
				return err
			}
			ch, err := c.RemoveWatchlistMembers(cmd.Context(), w.ID, args[1:])
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "watchlist %q: %d removed\n", w.Name, ch.Removed)
			return nil
		},
	}
	cmd.AddCommand(list, add, remove)
	return cmd
}

// findWatchlist resolves a watchlist by id or name (case-insensitively).
func findWatchlist(cmd *cobra.Command, c *client.Client, ref string) (client.Watchlist, error) {
	l, err := c.Watchlists(cmd.Context())
	if err != nil {
		return client.Watchlist{}, err
	}
	var names []string
	for _, w := range l.Items {
		if w.ID == ref || strings.EqualFold(w.Name, strings.TrimSpace(ref)) {
			return w, nil
		}
		names = append(names, w.Name)
	}
	return client.Watchlist{}, fmt.Errorf("no watchlist %q; the watchlists are %s", ref, strings.Join(names, ", "))
}
