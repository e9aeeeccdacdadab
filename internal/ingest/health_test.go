package ingest_test

import (
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/connection"
	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/store"
)

// TestHealthRecords: collection counts what each feed reported per file and hour (a record read
// again counts once) for the health view's completeness check, and records each stream's newest
// event, when it was stored and how late.
func TestHealthRecords(t *testing.T) {
	f := newTwoFeeds()
	e := newEnv(t, f, true)
	c := e.connect("two feeds", "", nil)
	e.settle(200)
	if got := e.get(c.ID); got.Status != string(connection.Monitoring) {
		t.Fatalf("setup: status %q (%q)", got.Status, got.ErrorReason)
	}
	t0 := e.clock.Now().Add(-time.Hour).Truncate(time.Hour)
	run := func(recs ...connector.Record) {
		t.Helper()
		f.push(recs...)
		for i := 0; ; i++ {
			f.mu.Lock()
			left := len(f.pages)
			f.mu.Unlock()
			if left == 0 {
				break
			}
			if i > 20 {
				t.Fatal("the stream did not read the scripted page")
			}
			e.clock.Advance(time.Minute)
			e.settle(50)
		}
	}
	run(rec("changes", "c1", t0.Add(time.Minute), event.ActionModified, "ann@example.com", "f1", nil),
		rec("changes", "c2", t0.Add(2*time.Minute), event.ActionModified, "ann@example.com", "f2", nil))
	run(rec("reports", "r1", t0.Add(time.Minute), event.ActionModified, "ann@example.com", "f1", nil))
	run(rec("reports", "r1", t0.Add(time.Minute), event.ActionModified, "ann@example.com", "f1", nil)) // read again
	got, err := e.store.ListFeedCounts(ctx, c.ID, t0, t0.Add(time.Hour), 0)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"f1/changes": 1, "f1/reports": 1, "f2/changes": 1}
	if len(got) != len(want) {
		t.Fatalf("feed counts %+v, want %v", got, want)
	}
	for _, fc := range got {
		if want[fc.FileID+"/"+fc.Feed] != fc.N || !fc.Hour.Equal(t0) {
			t.Errorf("count %+v, want %v", fc, want)
		}
	}
	hs, err := e.store.ListStreamHealth(ctx, c.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	var found *store.StreamHealth
	for i := range hs {
		if hs[i].EventAt.Equal(t0.Add(2 * time.Minute)) {
			found = &hs[i]
		}
	}
	if found == nil || found.StoredAt.IsZero() || found.Lag != found.StoredAt.Sub(found.EventAt) || found.PageAt.Before(found.StoredAt) {
		t.Errorf("stream health %+v", hs)
	}
}
