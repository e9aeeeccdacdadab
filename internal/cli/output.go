package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/telltale-dev/telltale/internal/csvsafe"
)

// table is what a list command prints: headers and rows for table/csv, and the value for json.
type table struct {
	headers []string
	rows    [][]string
	value   any
}

func outputFormat(cmd *cobra.Command) (string, error) {
	f, _ := cmd.Flags().GetString("output")
	switch f {
	case "table", "csv", "json":
		return f, nil
	}
	return "", fmt.Errorf("--output %q: want table, csv or json", f)
}

func render(cmd *cobra.Command, w io.Writer, t table) error {
	f, err := outputFormat(cmd)
	if err != nil {
		return err
	}
	switch f {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(t.value)
	case "csv":
		// Cells come from people (file names, audit targets): a spreadsheet must not run them.
		cw := csvsafe.NewWriter(w)
		cw.Write(t.headers)
		return cw.WriteAll(t.rows)
	default:
		return writeTable(w, t)
	}
}

// writeTable prints t as aligned columns under upper-case headers.
func writeTable(w io.Writer, t table) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.ToUpper(strings.Join(t.headers, "\t")))
	for _, r := range t.rows {
		clean := make([]string, len(r))
		for i, c := range r {
			clean[i] = strings.NewReplacer("\t", " ", "\n", " ").Replace(c)
		}
		fmt.Fprintln(tw, strings.Join(clean, "\t"))
	}
	return tw.Flush()
}

func ts(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
