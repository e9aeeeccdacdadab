package bench

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/telltale-dev/telltale/internal/testutil/pgtest"
)

// TestSearchSmoke runs the search benchmark at a tiny size on both drivers (PostgreSQL through its
// COPY load path) and checks that it measured every reference query, the export and its memory,
// and the sizes, and that a second run reuses the SQLite database.
func TestSearchSmoke(t *testing.T) {
	dir := t.TempDir()
	o := SearchOptions{Events: 12000, People: 200, Days: 10, Batch: 1000, Runs: 2, Warmup: 1, Page: 100,
		CountCap: 100000, Export: true, Drivers: []string{"sqlite", "postgres"}, TempDir: dir, Seed: 1, DSN: pgtest.DSN(t), Reuse: true}
	var progress bytes.Buffer
	rs, err := RunSearch(context.Background(), o, &progress)
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	if len(rs) != 2 {
		t.Fatalf("got %d results", len(rs))
	}
	for _, r := range rs {
		if len(r.Queries) != 5 {
			t.Fatalf("%s: %d queries", r.Driver, len(r.Queries))
		}
		for _, q := range r.Queries {
			if q.ReqP95 <= 0 || q.ReqP95 < q.PageP50 {
				t.Errorf("%s: %s: request p95 %.2f ms, page p50 %.2f ms", r.Driver, q.Name, q.ReqP95, q.PageP50)
			}
			if q.MeanCount <= 0 {
				t.Errorf("%s: %s (%s) matched nothing", r.Driver, q.Name, q.Example)
			}
		}
		x := r.Export
		if x.Events != o.Events || x.Rate <= 0 || x.Bytes < int64(o.Events)*100 || x.SmallBytes <= 0 || x.SmallBytes >= x.Bytes || x.PeakFull <= 0 {
			t.Errorf("%s: export %+v", r.Driver, x)
		}
		if r.BytesPerEvent < 100 || r.Parts["file_events"] == 0 || r.Reused || r.Load.Seconds <= 0 {
			t.Errorf("%s: %.0f bytes per event, parts %v, reused %v, load %+v", r.Driver, r.BytesPerEvent, r.Parts, r.Reused, r.Load)
		}
	}
	if rs[0].Parts["file_events_name_data"] == 0 || rs[1].Parts["file_events_name"] == 0 {
		t.Errorf("no name index: %v / %v", rs[0].Parts, rs[1].Parts)
	}
	section := FormatSearch(rs, o, "go run ./cmd/telltale-bench search -events 12000")
	for _, want := range []string{"| sqlite | 1. actor + last 7 days |", "| postgres | 5. group by actor, one day |", "events/s", "peak RSS"} {
		if !strings.Contains(section, want) {
			t.Errorf("section lacks %q:\n%s", want, section)
		}
	}

	// A second run finds the database loaded and measures it again.
	o.Drivers, o.Export = []string{"sqlite"}, false
	again, err := RunSearch(context.Background(), o, &progress)
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	if !again[0].Reused || again[0].Load != rs[0].Load {
		t.Errorf("second run: reused %v, load %+v, want %+v", again[0].Reused, again[0].Load, rs[0].Load)
	}
}
