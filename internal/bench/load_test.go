package bench

import (
	"context"
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	xs := []float64{5, 1, 4, 2, 3, 6, 7, 8, 9, 10}
	for _, c := range []struct{ p, want float64 }{{50, 5}, {95, 10}, {99, 10}, {10, 1}, {0, 1}, {100, 10}} {
		if got := Percentile(xs, c.p); got != c.want {
			t.Errorf("Percentile(%v) = %v, want %v", c.p, got, c.want)
		}
	}
	if Percentile(nil, 50) != 0 {
		t.Error("Percentile of nothing is not 0")
	}
	if xs[0] != 5 {
		t.Error("Percentile sorted its argument")
	}
}

func TestParseLoadArgs(t *testing.T) {
	o, write, err := parseLoadArgs(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.Duration != time.Minute || o.Rounds != 2 || !slices.Equal(o.Drivers, []string{"sqlite"}) || o.Searchers+o.Exporters+o.Pages == 0 || o.Activity < 1 || write != "" {
		t.Errorf("defaults: %+v, write %q", o, write)
	}
	o, write, err = parseLoadArgs([]string{"-duration", "2s", "-dsn", "postgres://x@localhost/db", "-pages", "3", "-write", "docs/BENCHMARKS.md"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.Duration != 2*time.Second || o.Pages != 3 || !slices.Equal(o.Drivers, []string{"sqlite", "postgres"}) || write != "docs/BENCHMARKS.md" {
		t.Errorf("-dsn adds postgres: %+v, write %q", o, write)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-drivers", "mysql"}, "unknown driver"},
		{[]string{"-duration", "10ms"}, "-duration"},
		{[]string{"-searchers", "0", "-exporters", "0", "-pages", "0"}, "at least one client"},
		{[]string{"-activity", "0"}, "-activity"},
		{[]string{"extra"}, "unexpected argument"},
		{[]string{"-nope"}, "not defined"},
	} {
		if _, _, err := parseLoadArgs(c.args, io.Discard); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: got %v, want an error containing %q", c.args, err, c.want)
		}
	}
}

// TestLoadSmoke runs the load program for two seconds a phase against a real node: it must finish
// with every kind of client served and no errors. The numbers themselves mean nothing at this size.
func TestLoadSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the telltale binary")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	o := LoadOptions{Duration: 2 * time.Second, Rounds: 1, Warmup: time.Second, Drivers: []string{"sqlite"}, Activity: 200, Users: 10,
		PollInterval: time.Second, Searchers: 1, Exporters: 1, Pages: 1, TempDir: t.TempDir()}
	rs, err := RunLoad(ctx, o, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 || len(rs[0].Phases) != 2 {
		t.Fatalf("results: %+v", rs)
	}
	var stored int64
	for _, ph := range rs[0].Phases {
		stored += ph.Stored
		if ph.Generated == 0 || ph.CPUSeconds <= 0 || ph.RSSEnd <= 0 || ph.HeapEnd <= 0 {
			t.Errorf("%s: %+v", ph.name(), ph)
		}
		if !ph.Load {
			if len(ph.Kinds) != 0 {
				t.Errorf("%s: clients ran: %+v", ph.name(), ph.Kinds)
			}
			continue
		}
		if len(ph.Kinds) != 3 {
			t.Fatalf("%s: kinds %+v", ph.name(), ph.Kinds)
		}
		for _, k := range ph.Kinds {
			if k.Requests == 0 || k.Errors != 0 || (k.Bytes == 0) != (k.Kind == KindSearch) || k.P50 <= 0 {
				t.Errorf("%s: %+v", k.Kind, k)
			}
		}
	}
	if stored == 0 {
		t.Error("the node stored no events")
	}
	section := FormatLoad(rs, o, "go run ./cmd/telltale-bench load -duration 2s")
	for _, want := range []string{"| sqlite | round 1, ingest only |", "| sqlite | 1 | export | 1 |", "| sqlite | 1 | console page | 1 |", "What it shows"} {
		if !strings.Contains(section, want) {
			t.Errorf("section lacks %q:\n%s", want, section)
		}
	}
}
