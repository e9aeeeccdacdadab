package bench

import (
	"bytes"
	"context"
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/telltale-dev/telltale/internal/testutil/pgtest"
)

// TestDashboardsBench: the dashboards benchmark, small, on both drivers: every request timed, the
// ingest rounds run with the counts on and off, and the counts' own time measured apart (SQLite:
// the event transactions' counting; PostgreSQL with -fold-after: that and the round's fold) and
// written with numbers; bad arguments are refused before anything runs, naming the flag.
func TestDashboardsBench(t *testing.T) {
	if testing.Short() {
		t.Skip("loads two small databases")
	}
	for _, args := range [][]string{{"-events", "10"}, {"-drivers", "mysql"}, {"-ingest-span", "48h"}, {"-reuse"}, {"-as-of", "tomorrow"}} {
		if err := DashboardsCommand(context.Background(), args, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "dashboards:") {
			t.Errorf("DashboardsCommand(%q) = %v, want an error naming the problem", args, err)
		}
	}
	for _, tc := range []struct {
		driver string
		args   []string
		own    string
	}{
		{"sqlite", nil, `in the event transactions \(summing a page's counts and upserting them, ` + "`DB.DashWriteTime`" + `\) [0-9.]+, [0-9.]+ µs per event \(rounds; median [0-9.]+\), against [0-9.]+, [0-9.]+ µs per event for a round without the counts \(median [0-9.]+\): the counts take \*\*-?[0-9.]+ %\*\*`},
		{"postgres", []string{"-fold-after"}, `in the event transactions \(summing a page's counts and copying its deltas\) [0-9.]+, [0-9.]+ µs per event \(rounds; median [0-9.]+\), and folding a round's deltas [0-9.]+, [0-9.]+ µs per event .* the counts take \*\*-?[0-9.]+ %\*\*`},
	} {
		t.Run(tc.driver, func(t *testing.T) {
			args := []string{"-drivers", tc.driver, "-events", "10000", "-days", "10", "-people", "200", "-ingest", "1000", "-rounds", "2", "-runs", "2", "-warmup", "0", "-dir", t.TempDir()}
			if tc.driver == "postgres" {
				args = append(args, "-dsn", pgtest.DSN(t))
			}
			var out bytes.Buffer
			if err := DashboardsCommand(context.Background(), append(args, tc.args...), &out, io.Discard); err != nil {
				t.Fatal(err)
			}
			for _, re := range []string{`\| Risk exposure, last 24 h per hour \| [0-9]+ \| [0-9.]+ \| \*\*[0-9.]+\*\* \|`, `\| on \| [0-9]+, [0-9]+ \| [0-9]+ \|`, `\| off \| [0-9]+, [0-9]+ \| [0-9]+ \|`, tc.own} {
				if !regexp.MustCompile(re).MatchString(out.String()) {
					t.Errorf("no line matching %q in:\n%s", re, out.String())
				}
			}
		})
	}
}
