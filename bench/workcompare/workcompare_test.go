package main

import (
	"context"
	"testing"
	"time"
)

// TestBehaviourOnSQLite checks the harness measures what the comparison claims: a unit asked to run
// while running runs again (internal/work) where River drops the request; both keep one row per key;
// Retry-After is honoured by both; a throughput run runs every job once.
func TestBehaviourOnSQLite(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real runners for ~20 s")
	}
	ctx := context.Background()
	e := &env{dir: t.TempDir(), dsns: map[backend]string{}}
	for _, sys := range []string{"work", "river"} {
		t.Run(sys, func(t *testing.T) {
			u, err := uniqueness(ctx, e, sys, "sqlite")
			if err != nil {
				t.Fatal(err)
			}
			if u.rowsAfterDuplicates != 1 {
				t.Errorf("300 inserts of one key left %d rows, want 1", u.rowsAfterDuplicates)
			}
			want := map[string]int{"work": 2, "river": 1}[sys]
			if u.runsAfterRerun != want || u.maxConcurrent != 1 {
				t.Errorf("second request while running: %d runs, %d at once; want %d, 1", u.runsAfterRerun, u.maxConcurrent, want)
			}
			r, err := retries(ctx, e, sys, "sqlite")
			if err != nil {
				t.Fatal(err)
			}
			if r.snoozeDelay < 2*time.Second || r.snoozeDelay > 4*time.Second {
				t.Errorf("Retry-After 2 s: next run after %v", r.snoozeDelay)
			}
			tp, err := throughput(ctx, e, sys, "sqlite", 200, 2, 4)
			if err != nil {
				t.Fatal(err)
			}
			if tp.runs != 200 || tp.runPerSec <= 0 {
				t.Errorf("throughput: %d handler calls for 200 jobs, %.0f/s", tp.runs, tp.runPerSec)
			}
		})
	}
}

func TestPct(t *testing.T) {
	ds := []time.Duration{5, 1, 4, 2, 3, 6, 7, 8, 9, 10}
	if got := pct(ds, 50); got != 5 {
		t.Errorf("p50 = %v, want 5", got)
	}
	if got := pct(ds, 95); got != 10 {
		t.Errorf("p95 = %v, want 10", got)
	}
	if got := pct(nil, 50); got != 0 {
		t.Errorf("p50 of nothing = %v", got)
	}
}
