package cli

import (
	"fmt"
	"sort"

	"github.com/spf13/cobra"
)

func (e *env) importCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "import ID FILE",
		Short: "Import exported vendor records (Box admin events) into a connection",
		Long: `Store exported vendor activity records through a connection, on the same path as live
collection: records already stored are skipped (importing a file twice adds nothing), drives out
of scope are skipped, malformed records are listed by line and the rest is imported. Use - for
standard input.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client(cmd)
			if err != nil {
				return err
			}
			in, closeIn, err := e.input(args[1])
			if err != nil {
				return err
			}
			defer closeIn()
			res, err := c.ImportRecords(cmd.Context(), args[0], in)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%d records: %d events stored, %d already stored, %d out of scope, %d malformed\n",
				res.Records, res.Events, res.Duplicates, res.OutOfScope, len(res.Malformed))
			keys := make([]string, 0, len(res.Skipped))
			for k := range res.Skipped {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				fmt.Fprintf(e.stdout, "  skipped %s: %d\n", k, res.Skipped[k])
			}
			for _, m := range res.Malformed {
				fmt.Fprintf(e.stderr, "%s:%d: %s\n", args[1], m.Line, trimLine(m.Error))
			}
			if len(res.Malformed) > 0 {
				return exitError(1)
			}
			return nil
		},
	}
}
