package storetest

import (
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/store"
)

// testHashQueue: jobs are claimed a file at a time (every job of a file together, oldest file
// first), a completed file fills its events' and its file's hashes, a failed one only goes, the
// per-connection bound leaves jobs out, released held events keep their jobs, and deleting a
// connection deletes its jobs.
func testHashQueue(t *testing.T, s store.Store) {
	c1, c2 := mkConn(t, s, "one"), mkConn(t, s, "two")
	t0 := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	a1, a2, b, other := Event(c1.ID, "a1", t0), Event(c1.ID, "a2", t0.Add(time.Second)), Event(c1.ID, "b", t0), Event(c2.ID, "o", t0)
	a1.File.ID, a2.File.ID = "fa", "fa"
	a2.File.Size = 99
	known := Event(c1.ID, "k", t0) // an event that has its hashes already keeps them
	known.File.ID = "fa"
	known.File.Hash.MD5, known.File.Hash.SHA256 = "00000000000000000000000000000001", "0000000000000000000000000000000000000000000000000000000000000001"
	ok(s.InsertEvents(ctx, []*event.FileEvent{a1, a2, b, other, known}, false))(t)
	noErr(t, s.UpsertFiles(ctx, []store.File{{ConnectionID: c1.ID, VendorID: "fa", Name: "plan.xlsx"}}))
	job := func(e *event.FileEvent) store.HashJob {
		return store.HashJob{ConnectionID: e.Event.ConnectionID, Drive: "d1", File: e.File.ID, EventID: e.Event.ID}
	}
	jobs := []store.HashJob{job(a1), job(b), job(a2), job(other), job(known)}
	if n := ok(s.EnqueueHashJobs(ctx, jobs, 0))(t); n != 5 {
		t.Fatalf("enqueued %d of 5", n)
	}
	if n := ok(s.CountHashJobs(ctx, c1.ID))(t); n != 4 {
		t.Errorf("connection one has %d jobs, want 4", n)
	}
	if n := ok(s.CountHashJobs(ctx, 0))(t); n != 5 {
		t.Errorf("%d jobs in all, want 5", n)
	}
	got := ok(s.ClaimHashJobs(ctx, c1.ID, 1))(t)
	if len(got) != 3 || got[0].EventID != a1.Event.ID || got[1].EventID != a2.Event.ID || got[2].EventID != known.Event.ID {
		t.Fatalf("claimed one file: %+v, want the three jobs of fa, oldest first", got)
	}
	if j := got[0]; j.ID == 0 || j.ConnectionID != c1.ID || j.Drive != "d1" || j.File != "fa" || j.Part != "" || j.EnqueuedAt.IsZero() {
		t.Errorf("claimed job %+v", j)
	}
	sum := &store.HashSum{MD5: "900150983cd24fb0d6963f7d28e17f72", SHA256: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", Size: 3}
	noErr(t, s.CompleteHashJobs(ctx, got, sum))
	for _, e := range []*event.FileEvent{a1, a2} {
		stored := ok(s.GetEvent(ctx, e.Event.ID))(t)
		wantSize := int64(3)
		if e == a2 {
			wantSize = 99 // a size the event had is kept
		}
		if stored.File.Hash.MD5 != sum.MD5 || stored.File.Hash.SHA256 != sum.SHA256 || stored.File.Size != wantSize {
			t.Errorf("event %s after hashing: %+v size %d", e.Event.VendorIDs[0], stored.File.Hash, stored.File.Size)
		}
	}
	if stored := ok(s.GetEvent(ctx, known.Event.ID))(t); stored.File.Hash != known.File.Hash {
		t.Errorf("an event's own hashes were overwritten: %+v", stored.File.Hash)
	}
	if f := ok(s.GetFile(ctx, c1.ID, "fa"))(t); f.MD5 != sum.MD5 || f.SHA256 != sum.SHA256 || f.Size != 3 || f.Name != "plan.xlsx" {
		t.Errorf("file index after hashing: %+v", f)
	}
	got = ok(s.ClaimHashJobs(ctx, c1.ID, 10))(t)
	if len(got) != 1 || got[0].EventID != b.Event.ID {
		t.Fatalf("claimed after fa: %+v, want b's job", got)
	}
	noErr(t, s.CompleteHashJobs(ctx, got, nil)) // unreadable: the job goes, the event keeps no hash
	if stored := ok(s.GetEvent(ctx, b.Event.ID))(t); stored.File.Hash != (event.Hash{}) {
		t.Errorf("a failed download left hashes: %+v", stored.File.Hash)
	}
	if n := ok(s.CountHashJobs(ctx, c1.ID))(t); n != 0 {
		t.Errorf("%d jobs left on connection one", n)
	}
	if got := ok(s.ClaimHashJobs(ctx, c1.ID, 10))(t); len(got) != 0 {
		t.Errorf("claimed from an empty queue: %+v", got)
	}

	// The bound: at most max pending per connection; the rest is left out, other connections unaffected.
	many := make([]store.HashJob, 5)
	for i := range many {
		many[i] = job(b)
		many[i].File = "bounded"
	}
	if n := ok(s.EnqueueHashJobs(ctx, append(many, job(other)), 3))(t); n != 4 {
		t.Errorf("enqueued %d with a bound of 3 on one connection plus 1 on another, want 4", n)
	}
	if n := ok(s.EnqueueHashJobs(ctx, many[:1], 3))(t); n != 0 {
		t.Errorf("enqueued %d into a full queue", n)
	}
	if n := ok(s.CountHashJobs(ctx, c1.ID))(t); n != 3 {
		t.Errorf("connection one holds %d jobs, want the bound 3", n)
	}
	if n := ok(s.DeleteHashJobs(ctx, c1.ID))(t); n != 3 {
		t.Errorf("deleted %d jobs, want 3", n)
	}

	// Held events get new ids when released: their jobs follow.
	held := Event(c1.ID, "held", t0)
	ok(s.InsertEvents(ctx, []*event.FileEvent{held}, true))(t)
	ok(s.InsertEvents(ctx, []*event.FileEvent{Event(c1.ID, "after-held", t0)}, false))(t)
	ok(s.EnqueueHashJobs(ctx, []store.HashJob{job(held)}, 0))(t)
	ok(s.ReleaseHeld(ctx, c1.ID))(t)
	got = ok(s.ClaimHashJobs(ctx, c1.ID, 10))(t)
	if len(got) != 1 || got[0].EventID == held.Event.ID {
		t.Fatalf("after release the job is %+v; the event was %d", got, held.Event.ID)
	}
	if e := ok(s.GetEvent(ctx, got[0].EventID))(t); e.Event.VendorIDs[0] != "held" {
		t.Errorf("the job follows event %v, want the released one", e.Event.VendorIDs)
	}

	noErr(t, s.DeleteConnection(ctx, c2.ID))
	if n := ok(s.CountHashJobs(ctx, c2.ID))(t); n != 0 {
		t.Errorf("a deleted connection left %d hash jobs", n)
	}
}
