package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/store"
)

// testDriveScope covers what discovery and indexing need: finding drives and files by vendor id,
// updating a drive's indexing state, and taking drives discovery no longer sees out of scope.
func testDriveScope(t *testing.T, s store.Store) {
	c := mkConn(t, s, "c")
	other := mkConn(t, s, "other")
	run1 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	run2 := run1.Add(5 * time.Minute)
	for _, v := range []string{"u1", "u2", "u3"} {
		ok(s.UpsertDrive(ctx, store.Drive{ConnectionID: c.ID, VendorID: v, Kind: "user", Owner: v + "@x.com", InScope: true, SeenAt: run1}))(t)
	}
	ok(s.UpsertDrive(ctx, store.Drive{ConnectionID: other.ID, VendorID: "u1", Kind: "user", InScope: true, SeenAt: run1}))(t)
	// The second run sees u1 and u2 only; an upsert without SeenAt (indexing) keeps the stored value.
	for _, v := range []string{"u1", "u2"} {
		ok(s.UpsertDrive(ctx, store.Drive{ConnectionID: c.ID, VendorID: v, Kind: "user", Owner: v + "@x.com", InScope: true, SeenAt: run2}))(t)
	}
	d3 := ok(s.UpsertDrive(ctx, store.Drive{ConnectionID: c.ID, VendorID: "u3", Kind: "user", Owner: "u3@x.com", InScope: true, State: store.DriveIndexing}))(t)
	if !d3.SeenAt.Equal(run1) {
		t.Errorf("upsert without SeenAt changed it to %v, want %v", d3.SeenAt, run1)
	}
	if n := ok(s.MarkDrivesOutOfScope(ctx, c.ID, run2))(t); n != 1 {
		t.Errorf("MarkDrivesOutOfScope = %d, want 1 (u3)", n)
	}
	found := ok(s.FindDrives(ctx, c.ID, []string{"u3", "u1", "nope"}))(t)
	if len(found) != 2 || found[0].VendorID != "u1" || !found[0].InScope || found[1].VendorID != "u3" || found[1].InScope {
		t.Errorf("FindDrives after marking: %+v", found)
	}
	if o := ok(s.FindDrives(ctx, other.ID, []string{"u1"}))(t); len(o) != 1 || !o[0].InScope {
		t.Errorf("the other connection's drive changed: %+v", o)
	}
	if n := ok(s.CountDrives(ctx, c.ID))(t); n.Total != 2 {
		t.Errorf("in-scope drives %d, want 2", n.Total)
	}
	at := run2.Add(time.Minute)
	noErr(t, s.UpdateDriveState(ctx, found[0].ID, store.DriveIndexed, "", 42, at))
	g := ok(s.GetDrive(ctx, found[0].ID))(t)
	if g.State != store.DriveIndexed || g.FileCount != 42 || !g.IndexedAt.Equal(at) || g.Owner != "u1@x.com" {
		t.Errorf("UpdateDriveState: %+v", g)
	}
	if err := s.UpdateDriveState(ctx, 999999, store.DriveIndexed, "", 0, at); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateDriveState of a missing drive: %v, want ErrNotFound", err)
	}
	// Many ids cross the chunk size.
	var ids []string
	var files []store.File
	for i := range 450 {
		id := "f" + string(rune('a'+i%26)) + time.Duration(i).String()
		ids = append(ids, id)
		files = append(files, store.File{ConnectionID: c.ID, DriveID: g.ID, VendorID: id, Name: id + ".txt", SHA1: "da39a3ee5e6b4b0d3255bfef95601890afd80709"})
	}
	noErr(t, s.UpsertFiles(ctx, files))
	got := ok(s.FindFiles(ctx, c.ID, append(ids, "missing")))(t)
	if len(got) != 450 || got[0].Name != ids[0]+".txt" || got[0].SHA1 == "" {
		t.Errorf("FindFiles: %d files, first %+v", len(got), got[0])
	}
	if o := ok(s.FindFiles(ctx, other.ID, ids))(t); len(o) != 0 {
		t.Errorf("FindFiles crossed connections: %d", len(o))
	}
}

// testVendorRecords: a record id is fresh once per connection, whatever the batching.
func testVendorRecords(t *testing.T, s store.Store) {
	c := mkConn(t, s, "c")
	other := mkConn(t, s, "other")
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	fresh := ok(s.MarkVendorRecords(ctx, c.ID, []string{"a", "b", "a", "c"}, t0))(t)
	if !slices.Equal(fresh, []string{"a", "b", "c"}) {
		t.Errorf("first mark: %v", fresh)
	}
	var big []string
	for i := range 500 {
		big = append(big, time.Duration(i).String())
	}
	fresh = ok(s.MarkVendorRecords(ctx, c.ID, append([]string{"b", "d"}, big...), t0.Add(time.Hour)))(t)
	if len(fresh) != 501 || fresh[0] != "d" {
		t.Errorf("second mark: %d fresh, first %q", len(fresh), fresh[0])
	}
	if f := ok(s.MarkVendorRecords(ctx, other.ID, []string{"a"}, t0))(t); !slices.Equal(f, []string{"a"}) {
		t.Errorf("another connection shares record ids: %v", f)
	}
	// Inside a rolled-back transaction nothing is remembered.
	_ = s.InTx(ctx, func(q store.Queries) error {
		ok(q.MarkVendorRecords(ctx, c.ID, []string{"tx"}, t0))(t)
		return errors.New("roll back")
	})
	if f := ok(s.MarkVendorRecords(ctx, c.ID, []string{"tx"}, t0))(t); len(f) != 1 {
		t.Errorf("a rolled-back mark was kept")
	}
	if n := ok(s.PruneVendorRecords(ctx, t0.Add(time.Minute)))(t); n != 5 {
		t.Errorf("prune removed %d, want 5 (a b c tx of c, a of other)", n)
	}
	if f := ok(s.MarkVendorRecords(ctx, c.ID, []string{"a", "d"}, t0))(t); !slices.Equal(f, []string{"a"}) {
		t.Errorf("after prune: %v", f)
	}
	noErr(t, s.DeleteConnection(ctx, c.ID))
	if f := ok(s.MarkVendorRecords(ctx, c.ID, []string{"d"}, t0))(t); len(f) != 1 {
		t.Errorf("DeleteConnection kept vendor records")
	}
}

// testDestinations: a destination is new once per person, whatever the batching; a transaction
// sees its own marks (the second event of a page to a new destination is not new) and a
// rolled-back one leaves none.
func testDestinations(t *testing.T, s store.Store) {
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	fresh := ok(s.MarkDestinations(ctx, "ann@corp.example", []string{"vendor.example", "x@gmail.com", "vendor.example"}, t0))(t)
	if !slices.Equal(fresh, []string{"vendor.example", "x@gmail.com"}) {
		t.Errorf("first mark: %v", fresh)
	}
	if f := ok(s.MarkDestinations(ctx, "ann@corp.example", []string{"x@gmail.com", "rival.example"}, t0))(t); !slices.Equal(f, []string{"rival.example"}) {
		t.Errorf("second mark: %v, want [rival.example]", f)
	}
	if f := ok(s.MarkDestinations(ctx, "bob@corp.example", []string{"vendor.example"}, t0))(t); !slices.Equal(f, []string{"vendor.example"}) {
		t.Errorf("another person shares destinations: %v", f)
	}
	if f := ok(s.MarkDestinations(ctx, "bob@corp.example", nil, t0))(t); len(f) != 0 {
		t.Errorf("no destinations: %v", f)
	}
	var big []string
	for i := range 700 {
		big = append(big, time.Duration(i).String()+".example")
	}
	if f := ok(s.MarkDestinations(ctx, "cy@corp.example", big, t0))(t); len(f) != 700 {
		t.Errorf("a large mark: %d fresh, want 700", len(f))
	}
	noErr(t, s.InTx(ctx, func(q store.Queries) error {
		if f := ok(q.MarkDestinations(ctx, "dee@corp.example", []string{"new.example"}, t0))(t); len(f) != 1 {
			t.Errorf("first in a transaction: %v", f)
		}
		if f := ok(q.MarkDestinations(ctx, "dee@corp.example", []string{"new.example"}, t0))(t); len(f) != 0 {
			t.Errorf("the transaction does not see its own mark: %v", f)
		}
		return nil
	}))
	_ = s.InTx(ctx, func(q store.Queries) error {
		ok(q.MarkDestinations(ctx, "eve@corp.example", []string{"tx.example"}, t0))(t)
		return errors.New("roll back")
	})
	if f := ok(s.MarkDestinations(ctx, "eve@corp.example", []string{"tx.example"}, t0))(t); len(f) != 1 {
		t.Errorf("a rolled-back mark was kept")
	}
	// Use by people: domains only (x@gmail.com is a whole address), most people first.
	ok(s.MarkDestinations(ctx, "fay@corp.example", []string{"vendor.example", "x@gmail.com"}, t0.Add(-time.Hour)))(t)
	ok(s.MarkDestinations(ctx, "gus@corp.example", []string{"x@gmail.com", "rival.example"}, t0))(t)
	use := ok(s.ListDestinationUse(ctx, 2, 10))(t)
	if len(use) != 2 || use[0].Destination != "vendor.example" || use[0].People != 3 || !use[0].FirstSeen.Equal(t0.Add(-time.Hour)) ||
		use[1].Destination != "rival.example" || use[1].People != 2 {
		t.Errorf("ListDestinationUse: %+v", use)
	}
	if use := ok(s.ListDestinationUse(ctx, 2, 1))(t); len(use) != 1 {
		t.Errorf("ListDestinationUse limit 1: %+v", use)
	}
	// Each destination's own first-seen time (a page's marks in one call per person): a
	// destination named twice keeps its first time, and the new ones come back in the order given.
	t1, t2, t3 := t0.Add(time.Minute), t0.Add(2*time.Minute), t0.Add(3*time.Minute)
	fresh = ok(s.MarkDestinationsAt(ctx, "hal@corp.example", []string{"zeta.example", "alpha.example", "zeta.example", "vendor.example"}, []time.Time{t1, t2, t3, t3}))(t)
	if !slices.Equal(fresh, []string{"zeta.example", "alpha.example", "vendor.example"}) {
		t.Errorf("MarkDestinationsAt: new %v, want zeta, alpha, vendor", fresh)
	}
	ok(s.MarkDestinationsAt(ctx, "ivy@corp.example", []string{"alpha.example", "zeta.example"}, []time.Time{t3, t3}))(t)
	firstSeen := map[string]time.Time{}
	for _, u := range ok(s.ListDestinationUse(ctx, 2, 10))(t) {
		firstSeen[u.Destination] = u.FirstSeen
	}
	if !firstSeen["zeta.example"].Equal(t1) || !firstSeen["alpha.example"].Equal(t2) {
		t.Errorf("first seen: zeta %v (want %v, its first naming), alpha %v (want %v)", firstSeen["zeta.example"], t1, firstSeen["alpha.example"], t2)
	}
	if _, err := s.MarkDestinationsAt(ctx, "hal@corp.example", []string{"a.example", "b.example"}, []time.Time{t1}); err == nil {
		t.Error("MarkDestinationsAt with 1 time for 2 destinations: no error")
	}
}

// testMerge: merge candidates are found by file and time window, per connection, joined once,
// pruned by time and dropped with their connection; UpdateEvent rewrites an event in place; a
// file's State survives an upsert without one.
func testMerge(t *testing.T, s store.Store) {
	c := mkConn(t, s, "c")
	other := mkConn(t, s, "other")
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	e := Event(c.ID, "change:f1:1", t0)
	e.File.ID, e.File.Name, e.Event.Action = "f1", "a.txt", event.ActionModified
	ok(s.InsertEvents(ctx, []*event.FileEvent{e}, false))(t)
	cands := []store.MergeCandidate{
		{ConnectionID: c.ID, EventID: e.Event.ID, FileID: "f1", Action: string(event.ActionModified), Feed: "changes", Observed: t0},
		{ConnectionID: c.ID, EventID: e.Event.ID, FileID: "f1", Action: string(event.ActionShared), Actor: "a@x.com", Target: "b@y.com", Feed: "changes", Observed: t0.Add(-time.Minute)},
		{ConnectionID: c.ID, EventID: 99, FileID: "f2", Action: string(event.ActionModified), Feed: "reports", Observed: t0},
		{ConnectionID: c.ID, EventID: 98, FileID: "f1", Action: string(event.ActionModified), Feed: "changes", Observed: t0.Add(time.Hour)},
		{ConnectionID: other.ID, EventID: 97, FileID: "f1", Action: string(event.ActionModified), Feed: "changes", Observed: t0},
	}
	noErr(t, s.AddMergeCandidates(ctx, cands))
	got := ok(s.FindMergeCandidates(ctx, c.ID, []string{"f1", "nope"}, t0.Add(-10*time.Minute), t0.Add(10*time.Minute)))(t)
	if len(got) != 2 || got[0].Action != string(event.ActionShared) || got[0].Actor != "a@x.com" || got[0].Target != "b@y.com" ||
		!got[0].Observed.Equal(t0.Add(-time.Minute)) || got[1].EventID != e.Event.ID || got[1].Feed != "changes" || got[1].Joined {
		t.Fatalf("FindMergeCandidates: %+v", got)
	}
	noErr(t, s.JoinMergeCandidate(ctx, got[1].ID))
	if g := ok(s.FindMergeCandidates(ctx, c.ID, []string{"f1"}, t0, t0))(t); len(g) != 1 || !g[0].Joined {
		t.Errorf("after join: %+v", g)
	}
	if err := s.JoinMergeCandidate(ctx, 999999); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("joining a missing candidate: %v, want ErrNotFound", err)
	}
	// Enrichment rewrites the event in place: same id, new fields, searchable columns too.
	e.User.Email, e.Source.IP = "ann@corp.example", "203.0.113.9"
	e.Event.VendorIDs = append(e.Event.VendorIDs, "2026-11-01T10:00:00Z/1/0/edit")
	e.Event.Feeds = []string{"changes", "reports"}
	e.Event.Enriched = []event.Provenance{{Field: "user.email", Feed: "reports"}, {Field: "source.ip", Feed: "reports"}}
	noErr(t, s.UpdateEvent(ctx, e))
	back := ok(s.GetEvent(ctx, e.Event.ID))(t)
	if back.User.Email != "ann@corp.example" || back.Source.IP != "203.0.113.9" || len(back.Event.VendorIDs) != 2 ||
		!slices.Equal(back.Event.Feeds, e.Event.Feeds) || !slices.Equal(back.Event.Enriched, e.Event.Enriched) || !back.Event.Inserted.Equal(e.Event.Inserted) {
		t.Errorf("UpdateEvent round trip: %+v", back)
	}
	// The dedupe key is kept: the first record delivered again is still a duplicate.
	again := Event(c.ID, "change:f1:1", t0)
	if n := ok(s.InsertEvents(ctx, []*event.FileEvent{again}, false))(t); n != 0 {
		t.Errorf("after UpdateEvent the first record was stored again")
	}
	missing := *e
	missing.Event.ID = 999999
	if err := s.UpdateEvent(ctx, &missing); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("updating a missing event: %v, want ErrNotFound", err)
	}
	// Each rewrite is an update the alert evaluator follows: from where it starts (after the
	// updates already stored), the event is listed once, as it is now, however often rewritten;
	// a held event is left out; advancing forgets the updates passed.
	if _, err := s.GetUpdatesPosition(ctx); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("updates position before init: %v, want ErrNotFound", err)
	}
	upos := ok(s.InitUpdatesPosition(ctx))(t)
	if last, evs := ok2(s.ListEventUpdates(ctx, upos, 10))(t); last != upos || len(evs) != 0 {
		t.Errorf("updates after init: %d %d", last, len(evs))
	}
	held := Event(c.ID, "change:f9:1", t0)
	ok(s.InsertEvents(ctx, []*event.FileEvent{held}, true))(t)
	noErr(t, s.UpdateEvent(ctx, held))
	e.Source.IP = "203.0.113.10"
	noErr(t, s.UpdateEvent(ctx, e))
	e.Source.IP = "203.0.113.11"
	noErr(t, s.UpdateEvent(ctx, e))
	last, evs := ok2(s.ListEventUpdates(ctx, upos, 10))(t)
	if last <= upos || len(evs) != 1 || evs[0].Event.ID != e.Event.ID || evs[0].Source.IP != "203.0.113.11" {
		t.Errorf("ListEventUpdates: last %d (from %d), %d events %+v", last, upos, len(evs), evs)
	}
	if l2, evs2 := ok2(s.ListEventUpdates(ctx, upos, 1))(t); l2 != upos+1 || len(evs2) != 0 {
		t.Errorf("ListEventUpdates limit 1 (the held event's update): last %d, %d events", l2, len(evs2))
	}
	// A SIEM destination following the updates from upos holds them back from the evaluator's pruning.
	dest := ok(s.CreateForwardDestination(ctx, store.ForwardDestination{Name: "siem", Kind: "syslog", Format: "json"}))(t)
	noErr(t, s.AdvanceForwardStream(ctx, dest.ID, store.ForwardUpdatesStream, 0, upos, 0, t0))
	noErr(t, s.AdvanceUpdatesPosition(ctx, upos, last))
	if n := ok(s.NewestEventUpdate(ctx))(t); n != last {
		t.Errorf("updates a destination has not passed were pruned: newest %d, want %d", n, last)
	}
	noErr(t, s.AdvanceForwardStream(ctx, dest.ID, store.ForwardUpdatesStream, upos, last, 1, t0))
	noErr(t, s.DeleteForwardDestination(ctx, dest.ID))
	if err := s.AdvanceUpdatesPosition(ctx, upos, last); !errors.Is(err, store.ErrConflict) {
		t.Errorf("advancing from a stale position: %v, want ErrConflict", err)
	}
	if p := ok(s.GetUpdatesPosition(ctx))(t); p != last {
		t.Errorf("updates position %d, want %d", p, last)
	}
	if l3, evs3 := ok2(s.ListEventUpdates(ctx, 0, 10))(t); l3 != 0 || len(evs3) != 0 {
		t.Errorf("updates passed were kept: last %d, %d events", l3, len(evs3))
	}
	if n := ok(s.PruneMergeCandidates(ctx, t0))(t); n != 1 {
		t.Errorf("prune removed %d, want 1 (the share a minute before)", n)
	}
	noErr(t, s.DeleteConnection(ctx, c.ID))
	if g := ok(s.FindMergeCandidates(ctx, c.ID, []string{"f1", "f2"}, t0.Add(-time.Hour), t0.Add(2*time.Hour)))(t); len(g) != 0 {
		t.Errorf("DeleteConnection kept merge candidates: %+v", g)
	}
	if g := ok(s.FindMergeCandidates(ctx, other.ID, []string{"f1"}, t0, t0))(t); len(g) != 1 {
		t.Errorf("the other connection's candidates: %+v", g)
	}
	// A file's State is kept by an upsert that does not say it.
	noErr(t, s.UpsertFiles(ctx, []store.File{{ConnectionID: other.ID, VendorID: "s1", Name: "a", State: `{"p":"root"}`}}))
	noErr(t, s.UpsertFiles(ctx, []store.File{{ConnectionID: other.ID, VendorID: "s1", Name: "b"}}))
	if f := ok(s.GetFile(ctx, other.ID, "s1"))(t); f.State != `{"p":"root"}` || f.Name != "b" {
		t.Errorf("state after an upsert without it: %+v", f)
	}
	noErr(t, s.UpsertFiles(ctx, []store.File{{ConnectionID: other.ID, VendorID: "s1", Name: "b", State: `{"p":"x"}`}}))
	if fs := ok(s.FindFiles(ctx, other.ID, []string{"s1"}))(t); len(fs) != 1 || fs[0].State != `{"p":"x"}` {
		t.Errorf("state after an upsert with it: %+v", fs)
	}
}

// testFileAltIDs: a file is found by the other id its vendor names it by (OneDrive's SharePoint
// UniqueId) within its drive, per connection, deleted or not; an upsert without the id keeps it. Drives are found by an owner pattern (OneDrive's personal-site segment).
func testFileAltIDs(t *testing.T, s store.Store) {
	c := mkConn(t, s, "c")
	other := mkConn(t, s, "other")
	d := ok(s.UpsertDrive(ctx, store.Drive{ConnectionID: c.ID, VendorID: "b!ada", Kind: "user", Owner: "ada.lovelace@contoso.com", InScope: true}))(t)
	ok(s.UpsertDrive(ctx, store.Drive{ConnectionID: c.ID, VendorID: "b!adax", Kind: "user", Owner: "ada_lovelace@contoso.com", InScope: true}))(t)
	od := ok(s.UpsertDrive(ctx, store.Drive{ConnectionID: other.ID, VendorID: "b!ada", Kind: "user", Owner: "ada.lovelace@contoso.com", InScope: true}))(t)
	var files []store.File
	var alts []string
	for i := range 300 { // crosses the chunk size
		alt := fmt.Sprintf("5f0c%04d-0000-4000-8000-000000000000", i)
		alts = append(alts, alt)
		files = append(files, store.File{ConnectionID: c.ID, DriveID: d.ID, VendorID: fmt.Sprintf("01ITEM%d", i), Name: "f.txt", AltID: alt})
	}
	files = append(files, store.File{ConnectionID: c.ID, DriveID: d.ID, VendorID: "01NOALT", Name: "n.txt"},
		store.File{ConnectionID: c.ID, DriveID: 0, VendorID: "01NODRIVE", Name: "x.txt", AltID: "no-drive"},
		store.File{ConnectionID: other.ID, DriveID: od.ID, VendorID: "01OTHER", Name: "o.txt", AltID: alts[0]})
	noErr(t, s.UpsertFiles(ctx, files))
	got := ok(s.FindFilesByAlt(ctx, c.ID, "b!ada", append(alts, "", "missing", "no-drive")))(t)
	if len(got) != 300 {
		t.Fatalf("FindFilesByAlt: %d files, want 300", len(got))
	}
	if g := got[0]; g.VendorID != "01ITEM0" || g.AltID != alts[0] || g.DriveVendorID != "b!ada" || g.DriveID != d.ID || g.Name != "f.txt" {
		t.Errorf("FindFilesByAlt first: %+v", g)
	}
	if o := ok(s.FindFilesByAlt(ctx, c.ID, "b!adax", alts[:2]))(t); len(o) != 0 {
		t.Errorf("FindFilesByAlt crossed drives: %+v", o)
	}
	if o := ok(s.FindFilesByAlt(ctx, other.ID, "b!ada", alts[:2]))(t); len(o) != 1 || o[0].VendorID != "01OTHER" {
		t.Errorf("FindFilesByAlt crossed connections: %+v", o)
	}
	if o := ok(s.FindFilesByAlt(ctx, c.ID, "b!nowhere", alts[:2]))(t); len(o) != 0 {
		t.Errorf("FindFilesByAlt of an unknown drive: %+v", o)
	}
	if e := ok(s.FindFilesByAlt(ctx, c.ID, "b!ada", []string{""}))(t); len(e) != 0 {
		t.Errorf("an empty alt id found %d files (those without one)", len(e))
	}
	// An upsert without the alt id (a delta state of a deleted file) keeps it, and finds it deleted.
	noErr(t, s.UpsertFiles(ctx, []store.File{{ConnectionID: c.ID, DriveID: d.ID, VendorID: "01ITEM1", Name: "f.txt", Deleted: true}}))
	if g := ok(s.FindFilesByAlt(ctx, c.ID, "b!ada", alts[1:2]))(t); len(g) != 1 || !g[0].Deleted || g[0].AltID != alts[1] {
		t.Errorf("after an upsert without the alt id: %+v", g)
	}
	if f := ok(s.FindFiles(ctx, c.ID, []string{"01ITEM2"}))(t); len(f) != 1 || f[0].AltID != alts[2] || f[0].DriveVendorID != "" {
		t.Errorf("FindFiles: %+v", f)
	}
	if f := ok(s.GetFile(ctx, c.ID, "01ITEM3"))(t); f.AltID != alts[3] {
		t.Errorf("GetFile: %+v", f)
	}
	// Owner patterns: "_" is any one character, compared in lower case; the limit holds.
	like := ok(s.FindDrivesByOwnerLike(ctx, c.ID, "ADA_lovelace_contoso_com", 10))(t)
	if len(like) != 2 || like[0].VendorID != "b!ada" || like[1].VendorID != "b!adax" {
		t.Errorf("FindDrivesByOwnerLike: %+v", like)
	}
	if l := ok(s.FindDrivesByOwnerLike(ctx, c.ID, "ada_lovelace_contoso_com", 1))(t); len(l) != 1 {
		t.Errorf("FindDrivesByOwnerLike past its limit: %d", len(l))
	}
	if l := ok(s.FindDrivesByOwnerLike(ctx, c.ID, "bob_contoso_com", 10))(t); len(l) != 0 {
		t.Errorf("FindDrivesByOwnerLike found another owner: %+v", l)
	}
}
