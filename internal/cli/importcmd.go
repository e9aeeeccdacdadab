package cli

import (
	"errors"
	"fmt"
	"net/http"
	"sort"

	"github.com/spf13/cobra"
	"github.com/telltale-dev/telltale/client"
)

func (e *env) importCmd() *cobra.Command {
	var skipMalformed bool
	cmd := &cobra.Command{
		Use:   "import ID FILE",
		Short: "Import exported vendor records (Box admin events) into a connection",
		Long: `Store exported vendor activity records through a connection, on the same path as live
collection: records already stored are skipped (importing a file twice adds nothing), drives out
of scope are skipped. The server checks the whole file before it stores anything: a file larger
than the server's --import-max-size, or one with malformed records, changes nothing (the first 100
malformed records are listed by line, with the total). With --skip-malformed the other records
are imported and the malformed ones listed. Use - for standard input.`,
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
			res, err := c.ImportRecordsWith(cmd.Context(), args[0], in, client.ImportOptions{SkipMalformed: skipMalformed})
			var p *client.Problem
			if errors.As(err, &p) && p.Status == http.StatusUnprocessableEntity && len(p.Errors) > 0 {
				for _, m := range p.Errors {
					fmt.Fprintf(e.stderr, "%s:%d: %s\n", args[1], m.Line, trimLine(m.Message))
				}
				fmt.Fprintln(e.stderr, p.Detail)
				return exitError(1)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%d records: %d events stored, %d already stored, %d out of scope, %d malformed\n",
				res.Records, res.Events, res.Duplicates, res.OutOfScope, res.MalformedTotal)
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
			if more := res.MalformedTotal - int64(len(res.Malformed)); more > 0 {
				fmt.Fprintf(e.stderr, "%s: and %d more malformed records\n", args[1], more)
			}
			if res.MalformedTotal > 0 {
				return exitError(1)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&skipMalformed, "skip-malformed", false, "import the usable records of a file that has malformed ones (they are listed)")
	return cmd
}
