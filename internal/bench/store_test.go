package bench

import (
	"context"
	"io"
	"strings"
	"testing"
)

// TestRunStoreSmoke runs the store benchmark small on both drivers and both transaction sizes: each
// side stores every event (storeRun checks the count InsertEvents reports; the bulk side fails on
// any error), and the section names every driver and size.
func TestRunStoreSmoke(t *testing.T) {
	o := StoreOptions{Events: 1200, Batches: []int{500, 1000}, Rounds: 1, Drivers: []string{"sqlite", "postgres"}, TempDir: t.TempDir()}
	rs, err := RunStore(context.Background(), o, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 4 {
		t.Fatalf("%d results, want 4", len(rs))
	}
	for _, r := range rs {
		if r.StoreRate <= 0 || r.BulkRate <= 0 || r.Ratio <= 0 || r.BytesPerEvent <= 0 {
			t.Errorf("%s %d: %+v", r.Driver, r.Batch, r)
		}
	}
	section := FormatStore(rs, o, "cmd", "1 2 3")
	for _, want := range []string{"| sqlite | 500 |", "| sqlite | 1000 |", "| postgres | 500 |", "| postgres | 1000 |", "Load average at the start: 1 2 3"} {
		if !strings.Contains(section, want) {
			t.Errorf("section lacks %q:\n%s", want, section)
		}
	}
}
