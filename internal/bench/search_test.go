package bench

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestSearchSmoke runs the search benchmark at a tiny size on SQLite and checks that it measured
// every reference query, the export and the sizes, and wrote its section.
func TestSearchSmoke(t *testing.T) {
	dir := t.TempDir()
	o := SearchOptions{Events: 20000, People: 200, Days: 10, Batch: 1000, Runs: 3, Warmup: 1, Page: 100,
		CountCap: 100000, Drivers: []string{"sqlite"}, TempDir: dir, Seed: 1}
	var progress bytes.Buffer
	rs, err := RunSearch(context.Background(), o, &progress)
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	if len(rs) != 1 || len(rs[0].Queries) != 5 {
		t.Fatalf("got %d results with %v", len(rs), rs)
	}
	r := rs[0]
	for _, q := range r.Queries {
		if q.ReqP95 <= 0 || q.ReqP95 < q.PageP50 {
			t.Errorf("%s: request p95 %.2f ms, page p50 %.2f ms", q.Name, q.ReqP95, q.PageP50)
		}
		if q.MeanCount <= 0 {
			t.Errorf("%s (%s) matched nothing", q.Name, q.Example)
		}
	}
	if r.ExportEvents != o.Events || r.ExportRate <= 0 {
		t.Errorf("exported %d of %d events at %.0f/s", r.ExportEvents, o.Events, r.ExportRate)
	}
	if r.BytesPerEvent < 100 || r.Parts["file_events"] == 0 || r.Parts["file_events_name_data"] == 0 {
		t.Errorf("sizes: %.0f bytes per event, parts %v", r.BytesPerEvent, r.Parts)
	}
	section := FormatSearch(rs, o, "go run ./cmd/telltale-bench search -events 20000")
	for _, want := range []string{"| 1. actor + last 7 days |", "events/s", "Bytes per event"} {
		if !strings.Contains(section, want) {
			t.Errorf("section lacks %q:\n%s", want, section)
		}
	}
}
