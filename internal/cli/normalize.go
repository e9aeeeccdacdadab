package cli

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/connector/all"
)

func (e *env) normalizeCmd() *cobra.Command {
	var service string
	cmd := &cobra.Command{
		Use:   "normalize --service box [FILE...]",
		Short: "Print vendor activity records as Telltale file events, one JSON object per line",
		Long: `Read vendor activity records from the files (or standard input) and print one normalized file
event per line as JSON, in the schema of the API and exports. For Box: event records one per line,
or API pages ({"entries": [...]}) or arrays. Each event names the vendor record it came from
(event.vendor_ids), and a record given more than once (the same vendor record id: vendors
repeat records, and exports overlap) is printed once and counted as skipped "duplicate".
Records that are not file activity are skipped and counted on standard error. A malformed record
is reported with its line number and the rest is still processed; the exit status is then 1. No
vendor is called.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			con, ok := all.Registry().Get(service)
			if !ok {
				return fmt.Errorf("--service %q is not a connector: use one of %s", service, serviceNames())
			}
			rr, ok := con.(connector.RecordReader)
			if !ok {
				return fmt.Errorf("the %s connector cannot read exported records", service)
			}
			out := bufio.NewWriterSize(e.stdout, 64<<10)
			defer out.Flush()
			enc := json.NewEncoder(out)
			skipped := map[string]int{}
			printed := map[string]bool{} // vendor record ids of the records printed
			var records, events, malformed int
			read := func(name string, r io.Reader) error {
				return rr.ReadRecords(r, func(line int, rec connector.Record, err error) error {
					records++
					if err != nil {
						malformed++
						fmt.Fprintf(e.stderr, "%s:%d: %s\n", name, line, trimLine(err.Error()))
						return nil
					}
					if rec.Skip != "" {
						skipped[rec.Skip]++
						return nil
					}
					// As collection stores it (R3.8): a record once, its id on its events.
					if rec.VendorID != "" {
						if printed[rec.VendorID] {
							skipped["duplicate"]++
							return nil
						}
						printed[rec.VendorID] = true
					}
					for i := range rec.Events {
						events++
						if len(rec.Events[i].Event.VendorIDs) == 0 && rec.VendorID != "" {
							rec.Events[i].Event.VendorIDs = []string{rec.VendorID}
						}
						if err := enc.Encode(&rec.Events[i]); err != nil {
							return err
						}
					}
					return nil
				})
			}
			if len(args) == 0 {
				if err := read("stdin", e.stdin); err != nil {
					return err
				}
			}
			for _, name := range args {
				f, err := os.Open(name)
				if err != nil {
					return err
				}
				err = read(name, f)
				f.Close()
				if err != nil {
					return err
				}
			}
			if err := out.Flush(); err != nil {
				return err
			}
			keys := make([]string, 0, len(skipped))
			total := 0
			for k, n := range skipped {
				keys = append(keys, k)
				total += n
			}
			sort.Strings(keys)
			fmt.Fprintf(e.stderr, "%d records: %d events, %d skipped, %d malformed\n", records, events, total, malformed)
			for _, k := range keys {
				fmt.Fprintf(e.stderr, "  skipped %s: %d\n", k, skipped[k])
			}
			if malformed > 0 {
				return exitError(1)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&service, "service", "", "the vendor of the records: "+serviceNames())
	cmd.MarkFlagRequired("service")
	return cmd
}

func serviceNames() string {
	s := ""
	for i, sp := range all.Registry().Specs() {
		if i > 0 {
			s += ", "
		}
		s += sp.Service
	}
	return s
}

// trimLine drops a leading "line N: " from a record error: the caller prints file:line itself.
func trimLine(msg string) string {
	if strings.HasPrefix(msg, "line ") {
		if i := strings.Index(msg, ": "); i > 0 {
			return msg[i+2:]
		}
	}
	return msg
}
