package bench

import (
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/alert"
)

func TestParseAlertsArgs(t *testing.T) {
	o, write, err := parseAlertsArgs(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.Rules != 50 || o.BacktestEvents != 10_000_000 || o.BacktestDays != 30 || !slices.Equal(o.Runs, []string{"ingest", "latency", "backtest"}) || write != "" {
		t.Errorf("defaults: %+v", o)
	}
	for _, bad := range [][]string{{"-runs", "ingest,speed"}, {"-rules", "0"}, {"-reuse"}, {"-days", "400"}, {"-backtest-drivers", "postgres"}} {
		if _, _, err := parseAlertsArgs(bad, io.Discard); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	o, _, err = parseAlertsArgs([]string{"-drivers", "sqlite,postgres", "-backtest-drivers", "sqlite"}, io.Discard)
	if err != nil || !slices.Equal(o.BacktestDrivers, []string{"sqlite"}) || !slices.Equal(o.Drivers, []string{"sqlite", "postgres"}) {
		t.Errorf("backtest on sqlite only: %+v %v", o, err)
	}
}

// TestBenchRules: the rules compile, threshold and new_terms are mixed, and the canary rule comes first.
func TestBenchRules(t *testing.T) {
	rs := benchRules(50)
	kinds := map[string]int{}
	for _, r := range rs {
		if _, err := alert.Compile(r, time.Now()); err != nil {
			t.Errorf("%s %q: %v", r.Name, r.Query, err)
		}
		kinds[r.Kind]++
	}
	if len(rs) != 50 || kinds[alert.Threshold] < 20 || kinds[alert.NewTerms] < 20 || !strings.Contains(rs[0].Query, "canary") {
		t.Errorf("%d rules, kinds %v, first %q", len(rs), kinds, rs[0].Query)
	}
	for _, r := range backtestRules() {
		if _, err := alert.Compile(r, time.Now()); err != nil {
			t.Errorf("backtest rule %s: %v", r.Name, err)
		}
	}
}

// TestBacktestTruncatedNotMet: a backtest that answered within 30 s but truncated (the read limit
// or the 20 s budget cut it short) is reported missed, not met.
func TestBacktestTruncatedNotMet(t *testing.T) {
	o := AlertsOptions{Runs: []string{"backtest"}, BacktestRuns: 3}
	rs := []AlertsResult{{Driver: "postgres", BacktestEvents: 10, Backtest: []BacktestRun{
		{Name: "complete", Query: "action:downloaded", Kind: "threshold", Median: 12},
		{Name: "cut short", Query: "action:shared", Kind: "new_terms", Median: 20, Truncated: true},
	}}}
	out := FormatAlerts(rs, o, "cmd")
	for _, line := range strings.Split(out, "\n") {
		switch {
		case strings.Contains(line, "| complete "):
			if !strings.Contains(line, "(met)") {
				t.Errorf("a complete backtest in 12 s: %q", line)
			}
		case strings.Contains(line, "| cut short "):
			if !strings.Contains(line, "**missed**") {
				t.Errorf("a truncated backtest: %q, want missed", line)
			}
		}
	}
	if !strings.Contains(out, "| cut short ") || !strings.Contains(out, "| complete ") {
		t.Fatalf("rows missing:\n%s", out)
	}
}
