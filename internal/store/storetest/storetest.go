package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/search"
	"github.com/telltale-dev/telltale/internal/store"
)

// Run runs the whole suite; open must return a fresh empty store (closed by the suite).
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := map[string]func(*testing.T, store.Store){
		"Connections":          testConnections,
		"StatusHistory":        testStatusHistory,
		"Scope":                testScope,
		"Drives":               testDrives,
		"Files":                testFiles,
		"FileAltIDs":           testFileAltIDs,
		"EventsDedupe":         testEventsDedupe,
		"EventsRoundTrip":      testEventsRoundTrip,
		"EventsHeld":           testEventsHeld,
		"EventIDsGrow":         testEventIDsGrow,
		"DeleteConnection":     testDeleteConnection,
		"Cursors":              testCursors,
		"Work":                 testWork,
		"WorkConcurrent":       testWorkConcurrent,
		"WorkLoad":             testWorkLoad,
		"Nodes":                testNodes,
		"ReleaseOutbox":        testReleaseOutbox,
		"ReleaseLeases":        testReleaseLeases,
		"Outbox":               testOutbox,
		"Integrations":         testIntegrations,
		"Forward":              testForward,
		"Deliveries":           testDeliveries,
		"HashQueue":            testHashQueue,
		"Subscriptions":        testSubscriptions,
		"People":               testPeople,
		"PersonAliases":        testPersonAliases,
		"PersonStates":         testPersonStates,
		"KnownPeople":          testKnownPeople,
		"Users":                testUsers,
		"Audit":                testAudit,
		"AuditChain":           testAuditChain,
		"AuditConcurrent":      testAuditConcurrent,
		"Settings":             testSettings,
		"Sentinels":            testSentinels,
		"EventsRename":         testEventsConnectionName,
		"Transactions":         testTransactions,
		"DriveScope":           testDriveScope,
		"VendorRecords":        testVendorRecords,
		"Merge":                testMerge,
		"Destinations":         testDestinations,
		"CountGroup":           testCountGroup,
		"SearchRisk":           testSearchRisk,
		"EventVocabularies":    testEventVocabularies,
		"EventAddresses":       testEventAddresses,
		"AggregateBuckets":     testAggregateBuckets,
		"SavedSearches":        testSavedSearches,
		"Checkpoints":          testCheckpoints,
		"AlertRules":           testAlertRules,
		"Alerts":               testAlerts,
		"AlertBatch":           testAlertBatch,
		"Watchlists":           testWatchlists,
		"HRSources":            testHRSources,
		"Cases":                testCases,
		"LegalHold":            testLegalHold,
		"EventPartitions":      testEventPartitions,
		"DropEventsBefore":     testDropEventsBefore,
		"DropEventsDashboards": testDropEventsDashboards,
		"PersonRisk":           testPersonRisk,
		"EventsMalformedHash":  testEventsMalformedHash,
		"Rescore":              testRescore,
		"ExposedFiles":         testExposedFiles,
		"DeploySecrets":        testDeploymentSecrets,
		"Devices":              testDevices,
		"DeviceHealth":         testDeviceHealth,
		"StatusChangesAll":     testStatusChangesAfter,
		"HRRefusals":           testHRRefusals,
		"DeviceEvents":         testDeviceEvents,
		"HealthRecords":        testHealthRecords,
		"HealthAggregates":     testHealthAggregates,
		"Dashboards":           testDashboards,
		"DashboardsRecount":    testDashboardsRecount,
		"EventsDedupeBulk":     testEventsDedupeBulk,
		"EventsManyCallsInTx":  testEventsManyCallsInTx,
		"EventsOddText":        testEventsOddText,
		"EventsLongText":       testEventsLongText,
	}
	names := make([]string, 0, len(tests))
	for n := range tests {
		names = append(names, n)
	}
	sort.Strings(names)
	t.Run("AuditTamper", func(t *testing.T) { testAuditTamper(t, open) })
	for _, n := range names {
		t.Run(n, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() { s.Close() })
			tests[n](t, s)
		})
	}
}

var ctx = context.Background()

// ok turns a (value, error) pair into a function that fails the test on error.
func ok[T any](v T, err error) func(t *testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func noErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func mkConn(t *testing.T, s store.Queries, name string) store.Connection {
	t.Helper()
	return ok(s.CreateConnection(ctx, store.Connection{Name: name, Service: "box", ServiceType: "cloud", Status: "searching", ScopeKind: "all", CreatedBy: "admin"}))(t)
}

func testConnections(t *testing.T, s store.Store) {
	c := mkConn(t, s, "Box Prod")
	if c.ID == 0 || c.Version != 1 || c.CreatedAt.IsZero() {
		t.Fatalf("created %+v", c)
	}
	for _, dup := range []string{"box prod", "  BOX PROD  "} {
		if _, err := s.CreateConnection(ctx, store.Connection{Name: dup, Service: "box", ServiceType: "cloud", Status: "searching"}); !errors.Is(err, store.ErrConflict) {
			t.Errorf("duplicate %q: %v, want ErrConflict", dup, err)
		}
	}
	other := mkConn(t, s, "Drive")
	got := ok(s.GetConnection(ctx, c.ID))(t)
	if diff := cmp.Diff(c, got); diff != "" {
		t.Errorf("get (-created +got):\n%s", diff)
	}
	if _, err := s.GetConnection(ctx, 999); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing: %v", err)
	}
	got.Status, got.Credentials, got.Settings = "monitoring", []byte{1, 2, 3}, []byte(`{"a":"b"}`)
	got.DeauthorizedAt = time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	upd := ok(s.UpdateConnection(ctx, got))(t)
	if upd.Version != 2 || upd.Status != "monitoring" || string(upd.Credentials) != "\x01\x02\x03" || !upd.DeauthorizedAt.Equal(got.DeauthorizedAt) {
		t.Errorf("updated %+v", upd)
	}
	if _, err := s.UpdateConnection(ctx, got); !errors.Is(err, store.ErrConflict) {
		t.Errorf("stale version: %v, want ErrConflict", err)
	}
	upd.Name = " drive "
	if _, err := s.UpdateConnection(ctx, upd); !errors.Is(err, store.ErrConflict) {
		t.Errorf("rename onto another's name: %v", err)
	}
	if _, err := s.UpdateConnection(ctx, store.Connection{ID: 999, Version: 1, Name: "x"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("update missing: %v", err)
	}
	list := ok(s.ListConnections(ctx))(t)
	if len(list) != 2 || list[0].ID != c.ID || list[1].ID != other.ID {
		t.Errorf("list %+v", list)
	}
}

func testStatusHistory(t *testing.T, s store.Store) {
	c := mkConn(t, s, "c")
	other := mkConn(t, s, "other")
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	var want []store.StatusChange
	from := ""
	// Appended with times going backwards: the history is in the order of appending.
	for i, to := range []string{"searching", "indexing", "monitoring"} {
		sc := ok(s.AppendStatusChange(ctx, store.StatusChange{ConnectionID: c.ID, At: t0.Add(-time.Duration(i) * time.Hour), From: from, To: to, Actor: "admin", Reason: fmt.Sprint("r", i)}))(t)
		if sc.ID == 0 {
			t.Fatalf("no id: %+v", sc)
		}
		want = append(want, sc)
		ok(s.AppendStatusChange(ctx, store.StatusChange{ConnectionID: other.ID, At: t0, To: to, Actor: "system"}))(t)
		from = to
	}
	got := ok(s.ListStatusChanges(ctx, c.ID))(t)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("history (-appended +listed):\n%s", diff)
	}
	if got[0].From != "" || got[2].From != "indexing" || !got[1].At.Equal(t0.Add(-time.Hour)) {
		t.Errorf("history %+v", got)
	}
}

func testScope(t *testing.T, s store.Store) {
	c := mkConn(t, s, "c")
	noErr(t, s.ReplaceScope(ctx, c.ID, []store.ScopeEntry{{Kind: "user", Value: "a@x.com", Row: 2}, {Kind: "user", Value: "b@x.com", Row: 3}}))
	noErr(t, s.ReplaceScope(ctx, c.ID, []store.ScopeEntry{{Kind: "group", Value: "Finance", Row: 2}}))
	got := ok(s.ListScope(ctx, c.ID))(t)
	if len(got) != 1 || got[0].Value != "Finance" || got[0].ConnectionID != c.ID {
		t.Fatalf("replace did not replace: %+v", got)
	}
	next := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	noErr(t, s.UpdateScopeEntry(ctx, store.ScopeEntry{ConnectionID: c.ID, Kind: "group", Value: "Finance", Found: false, NextLookupAt: next}))
	got = ok(s.ListScope(ctx, c.ID))(t)
	if !got[0].NextLookupAt.Equal(next) {
		t.Errorf("update scope entry: %+v", got[0])
	}
	if err := s.UpdateScopeEntry(ctx, store.ScopeEntry{ConnectionID: c.ID, Kind: "group", Value: "Nope"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing entry: %v", err)
	}
}

func testDrives(t *testing.T, s store.Store) {
	c := mkConn(t, s, "c")
	first := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	d := ok(s.UpsertDrive(ctx, store.Drive{ConnectionID: c.ID, VendorID: "u1", Kind: "user", Owner: "a@x.com", State: store.DrivePending, InScope: true, DiscoveredAt: first}))(t)
	d2 := ok(s.UpsertDrive(ctx, store.Drive{ConnectionID: c.ID, VendorID: "u1", Kind: "user", Owner: "a@x.com", State: store.DriveIndexed, InScope: true, FileCount: 10, DiscoveredAt: first.Add(time.Hour)}))(t)
	if d2.ID != d.ID || !d2.DiscoveredAt.Equal(first) || d2.State != store.DriveIndexed || d2.FileCount != 10 {
		t.Errorf("upsert: %+v", d2)
	}
	ok(s.UpsertDrive(ctx, store.Drive{ConnectionID: c.ID, VendorID: "u2", Kind: "user", State: store.DriveIndexing, InScope: true}))(t)
	ok(s.UpsertDrive(ctx, store.Drive{ConnectionID: c.ID, VendorID: "u3", Kind: "user", State: store.DriveInaccessible, InScope: true}))(t)
	ok(s.UpsertDrive(ctx, store.Drive{ConnectionID: c.ID, VendorID: "u4", Kind: "user", State: store.DriveIndexed, InScope: false}))(t)
	ok(s.UpsertDrive(ctx, store.Drive{ConnectionID: c.ID, VendorID: "m1", Kind: "mailbox", State: store.DrivePending, InScope: true}))(t)
	got := ok(s.CountDrives(ctx, c.ID, "user", "shared"))(t)
	if want := (store.DriveCounts{Total: 3, Indexing: 1, Indexed: 1, Inaccessible: 1}); got != want {
		t.Errorf("counts %+v want %+v", got, want)
	}
	if got := ok(s.CountDrives(ctx, c.ID))(t); got.Total != 4 || got.Pending != 1 {
		t.Errorf("all kinds %+v", got)
	}
	// AnyUnindexedDrive: u2 (indexing) and m1 (pending) remain; out-of-scope drives do not count.
	if !ok(s.AnyUnindexedDrive(ctx, c.ID))(t) {
		t.Error("AnyUnindexedDrive: false with a pending and an indexing drive")
	}
	other := mkConn(t, s, "no-drives-left")
	ok(s.UpsertDrive(ctx, store.Drive{ConnectionID: other.ID, VendorID: "x1", Kind: "user", State: store.DriveIndexed, InScope: true}))(t)
	ok(s.UpsertDrive(ctx, store.Drive{ConnectionID: other.ID, VendorID: "x2", Kind: "user", State: store.DrivePending, InScope: false}))(t)
	if ok(s.AnyUnindexedDrive(ctx, other.ID))(t) {
		t.Error("AnyUnindexedDrive: true with only indexed and out-of-scope drives")
	}
	page := ok(s.ListDrives(ctx, store.DriveFilter{ConnectionID: c.ID, Kinds: []string{"user"}, Limit: 2}))(t)
	rest := ok(s.ListDrives(ctx, store.DriveFilter{ConnectionID: c.ID, Kinds: []string{"user"}, AfterID: page[1].ID, Limit: 10}))(t)
	if len(page) != 2 || len(rest) != 2 || rest[0].ID <= page[1].ID {
		t.Errorf("paging %d+%d", len(page), len(rest))
	}
	if got := ok(s.ListDrives(ctx, store.DriveFilter{ConnectionID: c.ID, State: store.DriveIndexed}))(t); len(got) != 2 {
		t.Errorf("state filter %d", len(got))
	}
	if g := ok(s.GetDrive(ctx, d.ID))(t); g.VendorID != "u1" {
		t.Errorf("get drive %+v", g)
	}
	if got := ok(s.FindDrivesByOwner(ctx, c.ID, []string{"a@x.com", "nobody@x.com"}))(t); len(got) != 1 || got[0].VendorID != "u1" {
		t.Errorf("by owner: %+v", got)
	}
	if got := ok(s.FindDrivesByOwner(ctx, other.ID, []string{"a@x.com"}))(t); len(got) != 0 {
		t.Errorf("by owner finds another connection's drive: %+v", got)
	}
}

func testFiles(t *testing.T, s store.Store) {
	c := mkConn(t, s, "c")
	noErr(t, s.UpsertFiles(ctx, []store.File{{ConnectionID: c.ID, DriveID: 1, VendorID: "f1", Name: "a.txt", Size: 5, SHA1: "s1", SHA256: "h256", MD5: "m5"}, {ConnectionID: c.ID, DriveID: 2, VendorID: "f2", Name: "b.txt"}}))
	noErr(t, s.UpsertFiles(ctx, []store.File{{ConnectionID: c.ID, DriveID: 1, VendorID: "f1", Name: "a2.txt", Size: 6}}))
	f := ok(s.GetFile(ctx, c.ID, "f1"))(t)
	if f.Name != "a2.txt" || f.Size != 6 || f.SHA256 != "h256" || f.MD5 != "m5" || f.SHA1 != "s1" {
		t.Errorf("upsert erased hashes or kept old fields: %+v", f)
	}
	if n := ok(s.CountFiles(ctx, c.ID, 0))(t); n != 2 {
		t.Errorf("count files %d", n)
	}
	if n := ok(s.CountFiles(ctx, c.ID, 2))(t); n != 1 {
		t.Errorf("count files of drive %d", n)
	}
	if _, err := s.GetFile(ctx, c.ID, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing file: %v", err)
	}
	// MarkFilesGone: a drive's files not indexed since the given time are marked deleted, others kept.
	gc := mkConn(t, s, "files gone")
	t0 := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	noErr(t, s.UpsertFiles(ctx, []store.File{{ConnectionID: gc.ID, DriveID: 7, VendorID: "old", Name: "old", IndexedAt: t0},
		{ConnectionID: gc.ID, DriveID: 7, VendorID: "seen", Name: "seen", IndexedAt: t0.Add(time.Hour)},
		{ConnectionID: gc.ID, DriveID: 8, VendorID: "other", Name: "other", IndexedAt: t0}}))
	if n := ok(s.MarkFilesGone(ctx, gc.ID, 7, t0.Add(time.Minute)))(t); n != 1 {
		t.Errorf("marked %d files gone, want 1", n)
	}
	for _, f := range ok(s.FindFiles(ctx, gc.ID, []string{"old", "seen", "other"}))(t) {
		if f.Deleted != (f.VendorID == "old") {
			t.Errorf("file %s deleted=%v", f.VendorID, f.Deleted)
		}
	}
}

// Event builds a valid event for tests.
func Event(conn int64, vendorID string, at time.Time) *event.FileEvent {
	return &event.FileEvent{Timestamp: at.UTC().Truncate(time.Microsecond),
		Event: event.Meta{Action: event.ActionModified, Observer: event.ObserverBox, ConnectionID: conn, VendorIDs: []string{vendorID}},
		User:  event.User{Email: "alice@corp.example"}, File: event.File{ID: "f-" + vendorID, Name: "plan.xlsx"}}
}

func testEventsDedupe(t *testing.T, s store.Store) {
	c := mkConn(t, s, "c")
	t0 := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	batch := []*event.FileEvent{Event(c.ID, "v1", t0), Event(c.ID, "v2", t0), Event(c.ID, "v1", t0)}
	n := ok(s.InsertEvents(ctx, batch, false))(t)
	if n != 2 || batch[0].Event.ID == 0 || batch[1].Event.ID <= batch[0].Event.ID || batch[2].Event.ID != 0 || batch[0].Event.Inserted.IsZero() {
		t.Fatalf("first batch: n=%d ids %d %d %d", n, batch[0].Event.ID, batch[1].Event.ID, batch[2].Event.ID)
	}
	again := []*event.FileEvent{Event(c.ID, "v2", t0), Event(c.ID, "v3", t0)}
	if n := ok(s.InsertEvents(ctx, again, false))(t); n != 1 || again[0].Event.ID != 0 || again[1].Event.ID <= batch[1].Event.ID {
		t.Fatalf("second batch: n=%d", n)
	}
	if n := ok(s.CountEvents(ctx, store.EventFilter{}))(t); n != 3 {
		t.Errorf("stored %d events, want 3", n)
	}
	// Paging by insertion order returns each once.
	var seen []int64
	after := int64(0)
	for {
		page := ok(s.ListEvents(ctx, store.EventFilter{AfterID: after, Limit: 2}))(t)
		if len(page) == 0 {
			break
		}
		for _, e := range page {
			seen = append(seen, e.Event.ID)
		}
		after = page[len(page)-1].Event.ID
	}
	if len(seen) != 3 || !sort.SliceIsSorted(seen, func(i, j int) bool { return seen[i] < seen[j] }) {
		t.Errorf("paging %v", seen)
	}
}

// testEventsDedupeBulk: a transaction larger than one insert statement (500 rows on SQLite, 5,000
// on PostgreSQL) keeps dedupe and the ids exact: duplicates within a statement, across statements of
// one call and against stored events are stored once, and every stored event's id is its own row,
// in the order given.
func testEventsDedupeBulk(t *testing.T, s store.Store) {
	c := mkConn(t, s, "c")
	t0 := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	stored := []*event.FileEvent{Event(c.ID, "old-1", t0), Event(c.ID, "old-2", t0)}
	ok(s.InsertEvents(ctx, stored, false))(t)
	var batch []*event.FileEvent
	dup := map[int]bool{}
	for i := 0; i < 5200; i++ {
		switch {
		case i == 3: // within the first statement
			batch, dup[i] = append(batch, Event(c.ID, "v0", t0)), true
		case i == 700 || i == 5100: // an earlier statement's event, in a later statement
			batch, dup[i] = append(batch, Event(c.ID, "v1", t0)), true
		case i == 4999: // stored by an earlier call
			batch, dup[i] = append(batch, Event(c.ID, "old-1", t0)), true
		case i == 5001:
			batch, dup[i] = append(batch, Event(c.ID, "old-2", t0)), true
		default:
			batch = append(batch, Event(c.ID, fmt.Sprint("v", i), t0))
		}
	}
	n := ok(s.InsertEvents(ctx, batch, false))(t)
	if n != len(batch)-len(dup) {
		t.Fatalf("inserted %d, want %d", n, len(batch)-len(dup))
	}
	last := stored[1].Event.ID
	for i, e := range batch {
		if dup[i] {
			if e.Event.ID != 0 {
				t.Fatalf("duplicate at %d got id %d", i, e.Event.ID)
			}
			continue
		}
		if e.Event.ID <= last {
			t.Fatalf("event %d: id %d not above the previous %d", i, e.Event.ID, last)
		}
		last = e.Event.ID
		if i%97 == 0 || i == 499 || i == 500 || i == 4999 || i == 5000 || i == len(batch)-1 {
			got := ok(s.GetEvent(ctx, e.Event.ID))(t)
			if got.Event.VendorIDs[0] != e.Event.VendorIDs[0] {
				t.Fatalf("event %d: id %d holds %q, want %q", i, e.Event.ID, got.Event.VendorIDs[0], e.Event.VendorIDs[0])
			}
		}
	}
	if got := ok(s.CountEvents(ctx, store.EventFilter{}))(t); got != int64(len(stored)+n) {
		t.Errorf("stored %d events, want %d", got, len(stored)+n)
	}
	again := ok(s.InsertEvents(ctx, batch[:1000], false))(t)
	if again != 0 {
		t.Errorf("the same events again: %d inserted, want 0", again)
	}
}

// testEventsManyCallsInTx: one transaction of many InsertEvents calls (more than PostgreSQL's
// store claims keys by COPY in a savepoint for: 32), repeats among them against earlier calls of
// the transaction and within a call, stores each event once.
func testEventsManyCallsInTx(t *testing.T, s store.Store) {
	c := mkConn(t, s, "c")
	t0 := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	want := 0
	noErr(t, s.InTx(ctx, func(q store.Queries) error {
		for i := 0; i < 40; i++ {
			batch := []*event.FileEvent{Event(c.ID, fmt.Sprint("a", i), t0), Event(c.ID, fmt.Sprint("b", i), t0)}
			if i%5 == 4 { // an earlier call's event again, and a repeat within the call
				batch = append(batch, Event(c.ID, fmt.Sprint("a", i-3), t0), Event(c.ID, fmt.Sprint("b", i), t0))
			}
			n, err := q.InsertEvents(ctx, batch, false)
			if err != nil {
				return err
			}
			if n != 2 {
				return fmt.Errorf("call %d stored %d events, want 2", i, n)
			}
			want += n
		}
		return nil
	}))
	if n := ok(s.CountEvents(ctx, store.EventFilter{}))(t); n != int64(want) || want != 80 {
		t.Fatalf("stored %d events, want %d (80)", n, want)
	}
	again := []*event.FileEvent{Event(c.ID, "a0", t0), Event(c.ID, "c0", t0)}
	if n := ok(s.InsertEvents(ctx, again, false))(t); n != 1 || again[0].Event.ID != 0 {
		t.Fatalf("after the transaction: %d stored of a stored event and a new one, want 1", n)
	}
}

func testEventsRoundTrip(t *testing.T, s store.Store) {
	c := mkConn(t, s, "c")
	e := &event.FileEvent{
		Timestamp: time.Date(2026, 11, 21, 10, 4, 5, 123456000, time.UTC),
		Event:     event.Meta{Action: event.ActionShared, Observer: event.ObserverBox, ConnectionID: c.ID, ConnectionName: c.Name, Count: 3, VendorIDs: []string{"a", "b"}},
		User:      event.User{Email: "alice@corp.example", VendorID: "114", Name: "Alice"},
		File: event.File{ID: "12345", Name: "plan.xlsx", Directory: "/Finance", Path: "/Finance/plan.xlsx", Size: 2048, MimeType: "application/vnd.ms-excel",
			Category: event.CategorySpreadsheet, Owner: "bob@corp.example", Created: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), Modified: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
			URL: "https://app.box.com/file/12345", DriveID: "d1", OriginalName: "old.xlsx", OriginalDirectory: "/Old",
			Hash: event.Hash{MD5: "d41d8cd98f00b204e9800998ecf8427e", SHA256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", SHA1: "da39a3ee5e6b4b0d3255bfef95601890afd80709", QuickXor: "AAAA"}},
		Sharing: event.Sharing{LinkScope: event.LinkAnyone, SharedWith: []string{"x@gmail.com"}, Exposure: []event.Exposure{event.ExposurePublicLink, event.ExposureOutsideTrustedDomain}},
		Email:   event.Email{Sender: "a@corp.example", From: "a@corp.example", Recipients: []string{"x@gmail.com"}, Subject: "hi", MessageID: "<1@x>"},
		Source:  event.Source{IP: "10.0.0.1", UserAgent: "Box Sync"},
		Risk:    event.Risk{Trusted: true, TrustReason: "trusted domain", Severity: event.SeverityHigh, Indicators: []string{"public link"}},
	}
	minimal := &event.FileEvent{Timestamp: time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC), Event: event.Meta{Action: event.ActionDeleted, Observer: event.ObserverGmail, ConnectionID: c.ID, ConnectionName: c.Name}}
	// Derivable values stored explicitly when they differ from the derivation: an empty MIME type on
	// a .pdf, a path that is not directory + name.
	odd := &event.FileEvent{Timestamp: time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC), Event: event.Meta{Action: event.ActionCreated, Observer: event.ObserverBox, ConnectionID: c.ID, ConnectionName: c.Name, VendorIDs: []string{"odd"}},
		File: event.File{Name: "a.pdf", Directory: "/x", Path: "/elsewhere/a.pdf"}}
	usual := &event.FileEvent{Timestamp: time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC), Event: event.Meta{Action: event.ActionCreated, Observer: event.ObserverBox, ConnectionID: c.ID, ConnectionName: c.Name, VendorIDs: []string{"usual"}},
		File: event.File{Name: "a.pdf", Directory: "/", Path: "/a.pdf", MimeType: "application/pdf"}}
	full := everyField(c)
	// Exposures are stored as a bit set and come back in canonical order.
	exposed := &event.FileEvent{Timestamp: time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC), Event: event.Meta{Action: event.ActionShared, Observer: event.ObserverOneDrive, ConnectionID: c.ID, ConnectionName: c.Name, VendorIDs: []string{"exposed"}},
		Sharing: event.Sharing{Exposure: []event.Exposure{event.ExposureOutsideTrustedDomain, event.ExposureOrganizationLink, event.ExposurePublicLink}}}
	all := []*event.FileEvent{e, minimal, odd, usual, full, exposed}
	ok(s.InsertEvents(ctx, all, false))(t)
	exposed.Sharing.Exposure = event.ExposuresFromBits(event.ExposureBits(exposed.Sharing.Exposure))
	if exposed.Sharing.Exposure[0] != event.ExposurePublicLink {
		t.Fatalf("canonical order: %v", exposed.Sharing.Exposure)
	}
	for _, want := range all {
		if want.Event.Inserted.IsZero() || want.Event.Inserted.Location() != time.UTC || want.Event.Inserted.Nanosecond()%1000 != 0 {
			t.Errorf("Inserted %v: want a UTC time in whole microseconds", want.Event.Inserted)
		}
		got := ok(s.GetEvent(ctx, want.Event.ID))(t)
		if diff := cmp.Diff(*want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("round trip (-want +got):\n%s", diff)
		}
	}
	list := ok(s.ListEvents(ctx, store.EventFilter{ConnectionID: c.ID}))(t)
	if len(list) != len(all) || cmp.Diff(*e, list[0], cmpopts.EquateEmpty()) != "" {
		t.Errorf("list round trip differs")
	}
	if _, err := s.GetEvent(ctx, 9999); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing event: %v", err)
	}
}

// everyField returns an event with every field of event.FileEvent set (by reflection, so a field
// added later is covered without editing this test), then constrained fields set to valid values.
func everyField(c store.Connection) *event.FileEvent {
	var e event.FileEvent
	n := 0
	var fill func(v reflect.Value, name string)
	fill = func(v reflect.Value, name string) {
		n++
		switch {
		case v.Type() == reflect.TypeOf(time.Time{}):
			v.Set(reflect.ValueOf(time.Date(2026, 1, 1, 0, 0, n, 1000*n, time.UTC)))
		case v.Kind() == reflect.Struct:
			for i := 0; i < v.NumField(); i++ {
				fill(v.Field(i), name+"."+v.Type().Field(i).Name)
			}
		case v.Kind() == reflect.String:
			v.SetString(fmt.Sprintf("%s-%d", name, n))
		case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.String:
			s := reflect.MakeSlice(v.Type(), 2, 2)
			s.Index(0).SetString(fmt.Sprint(name, "-a"))
			s.Index(1).SetString(fmt.Sprint(name, "-b"))
			v.Set(s)
		case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Struct:
			s := reflect.MakeSlice(v.Type(), 2, 2)
			fill(s.Index(0), name+"[0]")
			fill(s.Index(1), name+"[1]")
			v.Set(s)
		case v.Kind() == reflect.Int || v.Kind() == reflect.Int64:
			v.SetInt(int64(n))
		case v.Kind() == reflect.Bool:
			v.SetBool(true)
		default:
			panic("storetest: everyField does not know " + name + " of kind " + v.Kind().String())
		}
	}
	fill(reflect.ValueOf(&e).Elem(), "e")
	e.Event.ID, e.Event.Inserted = 0, time.Time{}
	e.Event.Action, e.Event.Observer, e.Event.ConnectionID, e.Event.ConnectionName = event.ActionEmailed, event.ObserverGmail, c.ID, c.Name
	e.File.Category, e.File.Hash.MD5 = event.CategoryPDF, "0123456789abcdef0123456789abcdef"
	e.File.Hash.SHA256, e.File.Hash.SHA1 = strings.Repeat("ab", 32), strings.Repeat("cd", 20)
	e.Sharing.LinkScope, e.Sharing.Exposure = event.LinkOrganization, []event.Exposure{event.ExposureOrganizationLink}
	e.Risk.Severity = event.SeverityLow
	return &e
}

func testEventsHeld(t *testing.T, s store.Store) {
	c := mkConn(t, s, "c")
	other := mkConn(t, s, "d")
	t0 := time.Now()
	ok(s.InsertEvents(ctx, []*event.FileEvent{Event(c.ID, "h1", t0), Event(c.ID, "h2", t0)}, true))(t)
	ok(s.InsertEvents(ctx, []*event.FileEvent{Event(other.ID, "o1", t0)}, true))(t)
	ok(s.InsertEvents(ctx, []*event.FileEvent{Event(c.ID, "v1", t0)}, false))(t)
	if n := ok(s.CountEvents(ctx, store.EventFilter{ConnectionID: c.ID}))(t); n != 1 {
		t.Errorf("held events visible: %d", n)
	}
	if n := ok(s.CountEvents(ctx, store.EventFilter{ConnectionID: c.ID, IncludeHeld: true}))(t); n != 3 {
		t.Errorf("with held: %d", n)
	}
	if l := ok(s.ListEvents(ctx, store.EventFilter{}))(t); len(l) != 1 || l[0].Event.VendorIDs[0] != "v1" {
		t.Errorf("ListEvents shows held events: %d events", len(l))
	}
	if l := ok(s.ListEvents(ctx, store.EventFilter{IncludeHeld: true}))(t); len(l) != 4 {
		t.Errorf("ListEvents with held: %d events, want 4", len(l))
	}
	before := ok(s.ListEvents(ctx, store.EventFilter{IncludeHeld: true}))(t)
	top := int64(0)
	for _, e := range before {
		top = max(top, e.Event.ID)
	}
	if n := ok(s.ReleaseHeld(ctx, c.ID))(t); n != 2 {
		t.Errorf("released %d", n)
	}
	if n := ok(s.CountEvents(ctx, store.EventFilter{}))(t); n != 3 {
		t.Errorf("after release %d (another connection's held event must stay held)", n)
	}
	// Released events become visible now: an incremental export that already passed their old ids
	// (it resumes after the largest id it wrote) still gets them, in their old order, and the
	// name index follows their new ids.
	got := ok(s.SearchEvents(ctx, search.Query{}, store.SearchOptions{Sort: store.SortID, After: &store.SearchCursor{ID: top}}))(t)
	if len(got) != 2 || got[0].Event.VendorIDs[0] != "h1" || got[1].Event.VendorIDs[0] != "h2" {
		t.Errorf("after the largest id before the release: %d events %v, want h1 and h2", len(got), got)
	}
	named := ok(s.SearchEvents(ctx, mustParse(t, "name:*lan.xls*"), store.SearchOptions{Sort: store.SortID}))(t)
	if len(named) != 3 || len(got) != 2 || named[2].Event.ID != got[len(got)-1].Event.ID {
		t.Errorf("name search after the release: %d events, want v1, h1, h2", len(named))
	}
	if n := ok(s.ReleaseHeld(ctx, c.ID))(t); n != 0 {
		t.Errorf("released %d twice", n)
	}
}

// testEventIDsGrow: an id is never handed out twice, even after the newest events are deleted (an
// incremental export resumes after the largest id it wrote: a reused id would be skipped).
func testEventIDsGrow(t *testing.T, s store.Store) {
	a, b := mkConn(t, s, "a"), mkConn(t, s, "b")
	t0 := time.Now()
	insert := func(evs ...*event.FileEvent) []*event.FileEvent {
		ok(s.InsertEvents(ctx, evs, false))(t)
		return evs
	}
	insert(Event(a.ID, "a1", t0))
	top := insert(Event(b.ID, "b1", t0), Event(b.ID, "b2", t0))[1].Event.ID
	ok(s.DeleteConnectionEvents(ctx, b.ID, 100))(t)
	if id := insert(Event(a.ID, "a2", t0))[0].Event.ID; id <= top {
		t.Errorf("after deleting the newest events: new id %d, want above %d", id, top)
	}
	c := mkConn(t, s, "c")
	top = insert(Event(c.ID, "c1", t0))[0].Event.ID
	noErr(t, s.DeleteConnection(ctx, c.ID))
	evs := insert(Event(a.ID, "a2", t0), Event(a.ID, "a3", t0)) // a duplicate first
	if evs[0].Event.ID != 0 || evs[1].Event.ID <= top {
		t.Errorf("after deleting a connection with the newest event: ids %d, %d, want 0 and above %d", evs[0].Event.ID, evs[1].Event.ID, top)
	}
	got := ok(s.SearchEvents(ctx, search.Query{}, store.SearchOptions{Sort: store.SortID}))(t)
	if len(got) != 3 || got[1].Event.VendorIDs[0] != "a2" || got[2].Event.ID != evs[1].Event.ID {
		t.Errorf("stored events: %d, want a1, a2, a3 in id order", len(got))
	}
}

func testDeleteConnection(t *testing.T, s store.Store) {
	c := mkConn(t, s, "c")
	keep := mkConn(t, s, "keep")
	for _, id := range []int64{c.ID, keep.ID} {
		ok(s.AppendStatusChange(ctx, store.StatusChange{ConnectionID: id, To: "searching"}))(t)
		noErr(t, s.ReplaceScope(ctx, id, []store.ScopeEntry{{Kind: "user", Value: "a@x.com", Row: 2}}))
		ok(s.UpsertDrive(ctx, store.Drive{ConnectionID: id, VendorID: "u1", Kind: "user", InScope: true}))(t)
		noErr(t, s.UpsertFiles(ctx, []store.File{{ConnectionID: id, VendorID: "f1"}}))
		var evs []*event.FileEvent
		for i := 0; i < 7; i++ {
			evs = append(evs, Event(id, fmt.Sprint(i), time.Now()))
		}
		ok(s.InsertEvents(ctx, evs, false))(t)
		noErr(t, s.SaveCursor(ctx, id, "admin_logs", "1"))
		ok(s.EnsureWork(ctx, store.Work{Kind: "poll", Key: fmt.Sprint(id), ConnectionID: id, NextRunAt: time.Now()}))(t)
		ok(s.EnqueueOutbox(ctx, store.OutboxItem{ConnectionID: id, Topic: "t", IdempotencyKey: fmt.Sprint("k", id)}))(t)
	}
	if n := ok(s.DeleteConnectionEvents(ctx, c.ID, 5))(t); n != 5 {
		t.Errorf("first batch deleted %d", n)
	}
	if n := ok(s.DeleteConnectionEvents(ctx, c.ID, 5))(t); n != 2 {
		t.Errorf("second batch deleted %d", n)
	}
	if n := ok(s.DeleteConnectionEvents(ctx, c.ID, 5))(t); n != 0 {
		t.Errorf("third batch deleted %d", n)
	}
	// DeleteConnection itself removes what is left, held events included.
	ok(s.InsertEvents(ctx, []*event.FileEvent{Event(c.ID, "late", time.Now())}, false))(t)
	ok(s.InsertEvents(ctx, []*event.FileEvent{Event(c.ID, "held", time.Now())}, true))(t)
	ok(s.UpsertDrive(ctx, store.Drive{ConnectionID: c.ID, VendorID: "m1", Kind: "mailbox", InScope: true}))(t)
	noErr(t, s.DeleteConnection(ctx, c.ID))
	if n := ok(s.CountEvents(ctx, store.EventFilter{ConnectionID: c.ID, IncludeHeld: true}))(t); n != 0 {
		t.Errorf("%d events left", n)
	}
	if _, err := s.GetConnection(ctx, c.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("connection still there: %v", err)
	}
	if h := ok(s.ListStatusChanges(ctx, c.ID))(t); len(h) != 0 {
		t.Error("history left")
	}
	if sc := ok(s.ListScope(ctx, c.ID))(t); len(sc) != 0 {
		t.Error("scope left")
	}
	if n := ok(s.CountDrives(ctx, c.ID))(t); n.Total != 0 {
		t.Error("drives left")
	}
	if n := ok(s.CountFiles(ctx, c.ID, 0))(t); n != 0 {
		t.Error("files left")
	}
	if _, err := s.GetCursor(ctx, c.ID, "admin_logs"); !errors.Is(err, store.ErrNotFound) {
		t.Error("cursor left")
	}
	if w := ok(s.ListWork(ctx, c.ID))(t); len(w) != 0 {
		t.Error("work left")
	}
	// The other connection is untouched.
	if n := ok(s.CountEvents(ctx, store.EventFilter{ConnectionID: keep.ID}))(t); n != 7 {
		t.Errorf("other connection lost events: %d", n)
	}
	if n := ok(s.CountFiles(ctx, keep.ID, 0))(t); n != 1 {
		t.Error("other connection lost files")
	}
	if h := ok(s.ListStatusChanges(ctx, keep.ID))(t); len(h) != 1 {
		t.Error("other connection lost history")
	}
	if sc := ok(s.ListScope(ctx, keep.ID))(t); len(sc) != 1 {
		t.Error("other connection lost scope")
	}
	if n := ok(s.CountDrives(ctx, keep.ID))(t); n.Total != 1 {
		t.Error("other connection lost drives")
	}
	if v := ok(s.GetCursor(ctx, keep.ID, "admin_logs"))(t); v != "1" {
		t.Error("other connection lost its cursor")
	}
	if w := ok(s.ListWork(ctx, keep.ID))(t); len(w) != 1 {
		t.Error("other connection lost work")
	}
	if len(ok(s.ListOutbox(ctx, store.OutboxPending, 10))(t)) != 1 {
		t.Error("outbox of the other connection lost, or of the deleted one kept")
	}
	if err := s.DeleteConnection(ctx, c.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("delete twice: %v", err)
	}
}

func testCursors(t *testing.T, s store.Store) {
	if _, err := s.GetCursor(ctx, 1, "x"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("no cursor: %v", err)
	}
	big := "123456789012345678901234567890"
	noErr(t, s.SaveCursor(ctx, 1, "x", "1"))
	noErr(t, s.SaveCursor(ctx, 1, "x", big))
	if got := ok(s.GetCursor(ctx, 1, "x"))(t); got != big {
		t.Errorf("cursor %q", got)
	}
	// InitCursor: sets an absent or empty cursor, keeps one that is set, and says what is stored.
	if got := ok(s.InitCursor(ctx, 1, "y", "first"))(t); got != "first" {
		t.Errorf("init of an absent cursor stored %q", got)
	}
	if got := ok(s.InitCursor(ctx, 1, "y", "second"))(t); got != "first" {
		t.Errorf("init of a set cursor gave %q, want the one stored (first)", got)
	}
	noErr(t, s.SaveCursor(ctx, 1, "y", ""))
	if got := ok(s.InitCursor(ctx, 1, "y", "third"))(t); got != "third" {
		t.Errorf("init of an emptied cursor gave %q, want third", got)
	}
	if got := ok(s.GetCursor(ctx, 1, "y"))(t); got != "third" {
		t.Errorf("stored %q", got)
	}
}

// testReleaseLeases: a dead process's leases end at once; a run asked for during the lease
// becomes due then; units nobody held are untouched.
func testReleaseLeases(t *testing.T, s store.Store) {
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	ok(s.EnsureWork(ctx, store.Work{Kind: "rl", Key: "held", NextRunAt: t0}))(t)
	ok(s.EnsureWork(ctx, store.Work{Kind: "rl", Key: "asked", NextRunAt: t0}))(t)
	ok(s.EnsureWork(ctx, store.Work{Kind: "rl", Key: "free", NextRunAt: t0.Add(time.Hour)}))(t)
	got := ok(s.ClaimWork(ctx, store.ClaimRequest{Owner: "dead", Now: t0, LeaseFor: time.Hour, Kinds: []string{"rl"}, Limit: 2}))(t)
	if len(got) != 2 {
		t.Fatalf("claim: %+v", got)
	}
	ok(s.ScheduleWork(ctx, store.Work{Kind: "rl", Key: "asked", NextRunAt: t0.Add(time.Second)}))(t)
	if again := ok(s.ClaimWork(ctx, store.ClaimRequest{Owner: "new", Now: t0.Add(time.Minute), LeaseFor: time.Minute, Kinds: []string{"rl"}, Limit: 10}))(t); len(again) != 0 {
		t.Fatalf("held units were claimed before their leases ended: %+v", again)
	}
	ok(s.BeatNode(ctx, "dead", t0, time.Hour))(t)
	if n := ok(s.ReleaseLeases(ctx))(t); n < 2 {
		t.Errorf("released %d leases, want at least 2", n)
	}
	// The killed process's node row goes too: the restarted node must not share with it.
	if ns := ok(s.BeatNode(ctx, "new", t0.Add(time.Second), time.Hour))(t); len(ns) != 1 || ns[0].Owner != "new" {
		t.Errorf("nodes after the release: %+v, want only the new one", ns)
	}
	again := ok(s.ClaimWork(ctx, store.ClaimRequest{Owner: "new", Now: t0.Add(time.Minute), LeaseFor: time.Minute, Kinds: []string{"rl"}, Limit: 10}))(t)
	if len(again) != 2 || again[0].LeaseOwner != "new" {
		t.Errorf("after release: %+v", again)
	}
	for _, w := range again {
		noErr(t, s.FinishWork(ctx, w.ID, "new", t0.Add(2*time.Hour), ""))
	}
	if f := ok(s.GetWork(ctx, "rl", "free"))(t); !f.NextRunAt.Equal(t0.Add(time.Hour)) || f.LeaseOwner != "" {
		t.Errorf("a free unit changed: %+v", f)
	}
}

func testWork(t *testing.T, s store.Store) {
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	w := ok(s.EnsureWork(ctx, store.Work{Kind: "poll", Key: "1", ConnectionID: 1, NextRunAt: t0, Payload: []byte("p")}))(t)
	again := ok(s.EnsureWork(ctx, store.Work{Kind: "poll", Key: "1", NextRunAt: t0.Add(time.Hour)}))(t)
	if again.ID != w.ID || !again.NextRunAt.Equal(t0) {
		t.Errorf("ensure changed an existing unit: %+v", again)
	}
	ok(s.EnsureWork(ctx, store.Work{Kind: "poll", Key: "2", NextRunAt: t0.Add(time.Minute)}))(t)
	ok(s.EnsureWork(ctx, store.Work{Kind: "hash", Key: "3", NextRunAt: t0}))(t)
	req := store.ClaimRequest{Owner: "a", Now: t0, LeaseFor: time.Minute, Kinds: []string{"poll"}, Limit: 10}
	got := ok(s.ClaimWork(ctx, req))(t)
	if len(got) != 1 || got[0].ID != w.ID || got[0].LeaseOwner != "a" || string(got[0].Payload) != "p" {
		t.Fatalf("claim: %+v", got)
	}
	if got := ok(s.ClaimWork(ctx, store.ClaimRequest{Owner: "b", Now: t0.Add(30 * time.Second), LeaseFor: time.Minute, Limit: 10}))(t); len(got) != 1 || got[0].Kind != "hash" {
		t.Errorf("a live lease was taken, or due work missed: %+v", got)
	}
	noErr(t, s.ExtendLease(ctx, w.ID, "a", t0.Add(5*time.Minute)))
	if err := s.ExtendLease(ctx, w.ID, "b", t0.Add(time.Hour)); !errors.Is(err, store.ErrConflict) {
		t.Errorf("extend by non-owner: %v", err)
	}
	// Lease expiry lets another owner take it; the first owner then cannot finish it.
	stolen := ok(s.ClaimWork(ctx, store.ClaimRequest{Owner: "b", Now: t0.Add(6 * time.Minute), LeaseFor: time.Minute, Kinds: []string{"poll"}, Limit: 10}))(t)
	if len(stolen) != 2 || stolen[0].ID != w.ID {
		t.Fatalf("after expiry: %+v", stolen)
	}
	if err := s.FinishWork(ctx, w.ID, "a", t0.Add(time.Hour), ""); !errors.Is(err, store.ErrConflict) {
		t.Errorf("finish by lost owner: %v", err)
	}
	noErr(t, s.FinishWork(ctx, w.ID, "b", t0.Add(time.Hour), "boom"))
	g := ok(s.GetWork(ctx, "poll", "1"))(t)
	if g.Attempts != 1 || g.LastError != "boom" || g.LeaseOwner != "" || !g.NextRunAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("after failed run: %+v", g)
	}
	ok(s.ScheduleWork(ctx, store.Work{Kind: "poll", Key: "1", NextRunAt: t0}))(t)
	claimed := ok(s.ClaimWork(ctx, store.ClaimRequest{Owner: "c", Now: t0.Add(10 * time.Minute), LeaseFor: time.Minute, Kinds: []string{"poll"}, Limit: 1}))(t)
	if len(claimed) != 1 || claimed[0].ID != w.ID {
		t.Fatalf("schedule now: %+v", claimed)
	}
	noErr(t, s.FinishWork(ctx, w.ID, "c", t0.Add(time.Hour), ""))
	if g := ok(s.GetWork(ctx, "poll", "1"))(t); g.Attempts != 0 {
		t.Errorf("success did not reset attempts: %+v", g)
	}
	claimed = ok(s.ClaimWork(ctx, store.ClaimRequest{Owner: "c", Now: t0.Add(2 * time.Hour), LeaseFor: time.Minute, Kinds: []string{"poll"}, Limit: 1}))(t)
	noErr(t, s.FinishWork(ctx, claimed[0].ID, "c", time.Time{}, ""))
	if _, err := s.GetWork(ctx, claimed[0].Kind, claimed[0].Key); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("finished with zero next is not deleted: %v", err)
	}
	// A schedule request made while the unit runs is not lost when the run finishes (it used to be
	// overwritten by the handler's next time), nor when the handler deletes the unit.
	ok(s.ScheduleWork(ctx, store.Work{Kind: "poll", Key: "9", NextRunAt: t0}))(t)
	running := ok(s.ClaimWork(ctx, store.ClaimRequest{Owner: "d", Now: t0.Add(3 * time.Hour), LeaseFor: time.Minute, Kinds: []string{"poll"}, Limit: 1}))(t)
	if len(running) != 1 || running[0].Key != "9" {
		t.Fatalf("claim poll/9: %+v", running)
	}
	ok(s.ScheduleWork(ctx, store.Work{Kind: "poll", Key: "9", NextRunAt: t0.Add(3*time.Hour + time.Second)}))(t)
	noErr(t, s.FinishWork(ctx, running[0].ID, "d", t0.Add(4*time.Hour), ""))
	if g := ok(s.GetWork(ctx, "poll", "9"))(t); !g.NextRunAt.Equal(t0.Add(3*time.Hour+time.Second)) || g.LeaseOwner != "" {
		t.Errorf("a run requested during the lease was lost: %+v", g)
	}
	running = ok(s.ClaimWork(ctx, store.ClaimRequest{Owner: "d", Now: t0.Add(3*time.Hour + time.Second), LeaseFor: time.Minute, Kinds: []string{"poll"}, Limit: 1}))(t)
	ok(s.ScheduleWork(ctx, store.Work{Kind: "poll", Key: "9", NextRunAt: t0.Add(3*time.Hour + 2*time.Second)}))(t)
	noErr(t, s.FinishWork(ctx, running[0].ID, "d", time.Time{}, ""))
	if g, err := s.GetWork(ctx, "poll", "9"); err != nil || !g.NextRunAt.Equal(t0.Add(3*time.Hour+2*time.Second)) {
		t.Errorf("a unit finished with zero next but asked to run again during the lease: %+v %v", g, err)
	}
	running = ok(s.ClaimWork(ctx, store.ClaimRequest{Owner: "d", Now: t0.Add(4 * time.Hour), LeaseFor: time.Minute, Kinds: []string{"poll"}, Limit: 1}))(t)
	noErr(t, s.FinishWork(ctx, running[0].ID, "d", t0.Add(5*time.Hour), ""))
	if g := ok(s.GetWork(ctx, "poll", "9"))(t); !g.NextRunAt.Equal(t0.Add(5 * time.Hour)) {
		t.Errorf("a request already served ran again: %+v", g)
	}
	noErr(t, s.DeleteWork(ctx, "hash", "3"))
	if _, err := s.GetWork(ctx, "hash", "3"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("delete work: %v", err)
	}
}

// testWorkConcurrent: claimers racing for the same due units never get the same unit at once.
func testWorkConcurrent(t *testing.T, s store.Store) {
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	const units = 60
	for i := 0; i < units; i++ {
		ok(s.EnsureWork(ctx, store.Work{Kind: "k", Key: fmt.Sprint(i), NextRunAt: t0}))(t)
	}
	var mu sync.Mutex
	owner := map[int64]string{}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for c := 0; c < 4; c++ {
		wg.Add(1)
		go func(name string) {
			defer wg.Done()
			for round := 0; round < 40; round++ {
				ws, err := s.ClaimWork(ctx, store.ClaimRequest{Owner: name, Now: t0, LeaseFor: time.Hour, Limit: 3})
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				for _, w := range ws {
					if prev, ok := owner[w.ID]; ok {
						errs <- fmt.Errorf("unit %d claimed by %s and %s", w.ID, prev, name)
					}
					owner[w.ID] = name
				}
				mu.Unlock()
			}
		}(fmt.Sprint("claimer-", c))
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if len(owner) != units {
		t.Errorf("%d of %d units claimed", len(owner), units)
	}
}

// testWorkLoad: due units (not leased, next run passed) and held ones (live lease) per kind.
func testWorkLoad(t *testing.T, s store.Store) {
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for i := range 5 {
		ok(s.EnsureWork(ctx, store.Work{Kind: "load-a", Key: fmt.Sprint(i), NextRunAt: t0}))(t)
	}
	ok(s.EnsureWork(ctx, store.Work{Kind: "load-a", Key: "later", NextRunAt: t0.Add(time.Hour)}))(t)
	for i := range 3 {
		ok(s.EnsureWork(ctx, store.Work{Kind: "load-b", Key: fmt.Sprint(i), NextRunAt: t0}))(t)
	}
	got := ok(s.ClaimWork(ctx, store.ClaimRequest{Owner: "n1", Now: t0, LeaseFor: time.Minute, Kinds: []string{"load-a"}, Limit: 2}))(t)
	if len(got) != 2 {
		t.Fatalf("claimed %d units, want 2", len(got))
	}
	ok(s.ClaimWork(ctx, store.ClaimRequest{Owner: "n2", Now: t0, LeaseFor: 10 * time.Minute, Kinds: []string{"load-b"}, Limit: 1}))(t)
	want := map[string]store.WorkLoad{"load-a": {Due: 3, Held: 2}, "load-b": {Due: 2, Held: 1}}
	if l := ok(s.WorkLoad(ctx, t0, []string{"load-a", "load-b"}))(t); !reflect.DeepEqual(l, want) {
		t.Errorf("work load %v, want %v", l, want)
	}
	if l := ok(s.WorkLoad(ctx, t0, []string{"load-b"}))(t); !reflect.DeepEqual(l, map[string]store.WorkLoad{"load-b": {Due: 2, Held: 1}}) {
		t.Errorf("work load of one kind %v", l)
	}
	// Two minutes on, n1's leases have run out: its units are due again, n2's still held.
	want = map[string]store.WorkLoad{"load-a": {Due: 5}, "load-b": {Due: 2, Held: 1}}
	if l := ok(s.WorkLoad(ctx, t0.Add(2*time.Minute), []string{"load-a", "load-b"}))(t); !reflect.DeepEqual(l, want) {
		t.Errorf("work load after n1's leases ended %v, want %v", l, want)
	}
	// A finished unit is neither due nor held.
	noErr(t, s.FinishWork(ctx, got[0].ID, "n1", t0.Add(time.Hour), ""))
	if l := ok(s.WorkLoad(ctx, t0, []string{"load-a"}))(t); !reflect.DeepEqual(l, map[string]store.WorkLoad{"load-a": {Due: 3, Held: 1}}) {
		t.Errorf("work load after a unit finished %v", l)
	}
}

// testNodes: heartbeats, the live window, leaving, and forgetting long-silent nodes.
func testNodes(t *testing.T, s store.Store) {
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	owners := func(ns []store.Node) []string {
		var o []string
		for _, n := range ns {
			o = append(o, n.Owner)
		}
		return o
	}
	ok(s.BeatNode(ctx, "old", t0.Add(-25*time.Hour), time.Minute))(t)
	ok(s.BeatNode(ctx, "node-b", t0, time.Minute))(t)
	got := ok(s.BeatNode(ctx, "node-a", t0.Add(30*time.Second), time.Minute))(t)
	if o := owners(got); !reflect.DeepEqual(o, []string{"node-a", "node-b"}) {
		t.Errorf("live nodes %v, want node-a and node-b (old was silent for a day)", o)
	}
	if !got[0].StartedAt.Equal(t0.Add(30*time.Second)) || !got[1].HeartbeatAt.Equal(t0) {
		t.Errorf("node times %+v", got)
	}
	// node-b is silent past the live window; node-a's beat keeps its start time.
	got = ok(s.BeatNode(ctx, "node-a", t0.Add(90*time.Second), time.Minute))(t)
	if o := owners(got); !reflect.DeepEqual(o, []string{"node-a"}) || !got[0].StartedAt.Equal(t0.Add(30*time.Second)) || !got[0].HeartbeatAt.Equal(t0.Add(90*time.Second)) {
		t.Errorf("after node-b went silent: %+v", got)
	}
	ok(s.BeatNode(ctx, "node-b", t0.Add(100*time.Second), time.Minute))(t)
	noErr(t, s.LeaveNode(ctx, "node-a"))
	if o := owners(ok(s.BeatNode(ctx, "node-b", t0.Add(110*time.Second), time.Minute))(t)); !reflect.DeepEqual(o, []string{"node-b"}) {
		t.Errorf("after node-a left: %v", o)
	}
	// "old" was forgotten, not just silent: a beat with a window of days does not see it.
	if o := owners(ok(s.BeatNode(ctx, "node-b", t0.Add(120*time.Second), 48*time.Hour))(t)); !reflect.DeepEqual(o, []string{"node-b"}) {
		t.Errorf("a node silent for more than a day was kept: %v", o)
	}
}

// testReleaseOutbox: the deliver unit's new holder frees pending items a gone owner leased, keeps
// its own, and leaves finished items alone.
func testReleaseOutbox(t *testing.T, s store.Store) {
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for i := range 4 {
		ok(s.EnqueueOutbox(ctx, store.OutboxItem{Topic: "t", IdempotencyKey: fmt.Sprint("rel-", i), Payload: []byte("x"), NextRunAt: t0}))(t)
	}
	gone := ok(s.ClaimOutbox(ctx, store.ClaimRequest{Owner: "gone/deliver", Now: t0, LeaseFor: time.Hour, Limit: 3}))(t)
	if len(gone) != 3 {
		t.Fatalf("claimed %d", len(gone))
	}
	noErr(t, s.FinishOutbox(ctx, gone[2].ID, "gone/deliver", store.OutboxDone, time.Time{}, "", "200"))
	mine := ok(s.ClaimOutbox(ctx, store.ClaimRequest{Owner: "me/deliver", Now: t0, LeaseFor: time.Hour, Limit: 5}))(t)
	if len(mine) != 1 {
		t.Fatalf("the fourth item: %d", len(mine))
	}
	if n := ok(s.ReleaseOutbox(ctx, "me/deliver"))(t); n != 2 {
		t.Errorf("released %d leases, want the gone owner's 2 pending items", n)
	}
	again := ok(s.ClaimOutbox(ctx, store.ClaimRequest{Owner: "me/deliver", Now: t0, LeaseFor: time.Hour, Limit: 5}))(t)
	if len(again) != 2 || again[0].ID != gone[0].ID || again[1].ID != gone[1].ID {
		t.Errorf("after the release the gone owner's items are claimable: %+v", again)
	}
	if it := ok(s.GetOutbox(ctx, mine[0].ID))(t); it.LeaseOwner != "me/deliver" {
		t.Errorf("the caller's own lease was released: %+v", it)
	}
	if it := ok(s.GetOutbox(ctx, gone[2].ID))(t); it.State != store.OutboxDone || it.Attempts != 1 {
		t.Errorf("a finished item changed: %+v", it)
	}
	if n := ok(s.ReleaseOutbox(ctx, "me/deliver"))(t); n != 0 {
		t.Errorf("released %d with only the caller's leases left", n)
	}
	if n := ok(s.ReleaseOutbox(ctx, ""))(t); n != 3 {
		t.Errorf("released %d leases with no owner kept, want all 3 pending", n)
	}
	if it := ok(s.GetOutbox(ctx, mine[0].ID))(t); it.LeaseOwner != "" || it.State != store.OutboxPending {
		t.Errorf("after releasing every lease: %+v", it)
	}
}

func testOutbox(t *testing.T, s store.Store) {
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	a := ok(s.EnqueueOutbox(ctx, store.OutboxItem{Topic: "jira", IdempotencyKey: "alert-1", Payload: []byte("x"), NextRunAt: t0}))(t)
	b := ok(s.EnqueueOutbox(ctx, store.OutboxItem{Topic: "jira", IdempotencyKey: "alert-1", Payload: []byte("y"), NextRunAt: t0}))(t)
	if a.ID != b.ID || string(b.Payload) != "x" || b.State != store.OutboxPending {
		t.Errorf("idempotency: %+v %+v", a, b)
	}
	got := ok(s.ClaimOutbox(ctx, store.ClaimRequest{Owner: "n1", Now: t0, LeaseFor: time.Minute, Limit: 5}))(t)
	if len(got) != 1 {
		t.Fatalf("claim outbox %+v", got)
	}
	if err := s.FinishOutbox(ctx, a.ID, "n2", store.OutboxDone, time.Time{}, "", ""); !errors.Is(err, store.ErrConflict) {
		t.Errorf("finish by non-owner: %v", err)
	}
	noErr(t, s.FinishOutbox(ctx, a.ID, "n1", store.OutboxDone, time.Time{}, "", ""))
	if len(ok(s.ListOutbox(ctx, store.OutboxDone, 10))(t)) != 1 || len(ok(s.ClaimOutbox(ctx, store.ClaimRequest{Owner: "n1", Now: t0.Add(time.Hour), LeaseFor: time.Minute, Limit: 5}))(t)) != 0 {
		t.Error("done item listed wrong or claimed again")
	}
}

func testPeople(t *testing.T, s store.Store) {
	p := ok(s.UpsertPerson(ctx, store.Person{Email: " Alice@Corp.Example ", Name: "Alice", Aliases: []string{"al@corp.example"}}))(t)
	p2 := ok(s.UpsertPerson(ctx, store.Person{Email: "alice@corp.example", Name: "Alice B", Department: "Finance"}))(t)
	if p2.ID != p.ID || p2.Name != "Alice B" || p2.Status != "active" {
		t.Errorf("upsert person %+v", p2)
	}
	got := ok(s.GetPersonByEmail(ctx, "ALICE@corp.example"))(t)
	if got.Department != "Finance" {
		t.Errorf("get person %+v", got)
	}
	if l := ok(s.ListPeople(ctx, 0, 10))(t); len(l) != 1 {
		t.Errorf("list people %d", len(l))
	}
}

func testUsers(t *testing.T, s store.Store) {
	u := ok(s.CreateUser(ctx, store.User{Username: "Admin", Role: "admin", PasswordHash: "$argon2id$x"}))(t)
	if _, err := s.CreateUser(ctx, store.User{Username: "admin", Role: "analyst"}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("duplicate user: %v", err)
	}
	if g := ok(s.GetUserByUsername(ctx, "ADMIN"))(t); g.ID != u.ID {
		t.Errorf("case-insensitive lookup")
	}
	u.Disabled, u.Role = true, "analyst"
	if g := ok(s.UpdateUser(ctx, u))(t); !g.Disabled || g.Role != "analyst" {
		t.Errorf("update user %+v", g)
	}
	noErr(t, s.RecordSignIn(ctx, u.ID, time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)))
	if g := ok(s.GetUser(ctx, u.ID))(t); !g.LastSignInAt.Equal(time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)) || g.Role != "analyst" || !g.Disabled {
		t.Errorf("record sign-in %+v", g)
	}
	if err := s.RecordSignIn(ctx, 999999, time.Now()); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("record sign-in of nobody: %v", err)
	}
	if n := ok(s.CountUsers(ctx))(t); n != 1 {
		t.Errorf("count users %d", n)
	}
	tok := ok(s.CreateToken(ctx, store.Token{UserID: u.ID, Name: "cli", Prefix: "tt_abc", Hash: []byte("hash-1")}))(t)
	scoped := ok(s.CreateToken(ctx, store.Token{UserID: u.ID, Name: "siem", Hash: []byte("hash-scoped"), Scopes: []string{"alerts:read", "file-events:read"}}))(t)
	if got := ok(s.GetTokenByHash(ctx, []byte("hash-scoped")))(t); !slices.Equal(got.Scopes, []string{"alerts:read", "file-events:read"}) || len(tok.Scopes) != 0 {
		t.Errorf("token scopes: stored %v, read %v; unscoped %v", scoped.Scopes, got.Scopes, tok.Scopes)
	}
	if _, err := s.CreateToken(ctx, store.Token{UserID: u.ID, Hash: []byte("hash-1")}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("duplicate token hash: %v", err)
	}
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	noErr(t, s.TouchToken(ctx, tok.ID, at))
	noErr(t, s.RevokeToken(ctx, tok.ID, at))
	g := ok(s.GetTokenByHash(ctx, []byte("hash-1")))(t)
	if !g.LastUsedAt.Equal(at) || !g.RevokedAt.Equal(at) {
		t.Errorf("token %+v", g)
	}
	if l := ok(s.ListTokens(ctx, u.ID))(t); len(l) != 2 || !slices.Equal(l[1].Scopes, scoped.Scopes) {
		t.Errorf("tokens %d", len(l))
	}
	noErr(t, s.CreateSession(ctx, store.Session{Hash: []byte("s1"), UserID: u.ID, CSRF: "c", ExpiresAt: at}))
	noErr(t, s.CreateSession(ctx, store.Session{Hash: []byte("s2"), UserID: u.ID, CSRF: "c", ExpiresAt: at.Add(time.Hour)}))
	if ss := ok(s.GetSession(ctx, []byte("s1")))(t); ss.CSRF != "c" || ss.UserID != u.ID {
		t.Errorf("session %+v", ss)
	}
	if n := ok(s.DeleteExpiredSessions(ctx, at))(t); n != 1 {
		t.Errorf("expired sessions deleted %d", n)
	}
	noErr(t, s.DeleteUserSessions(ctx, u.ID))
	if _, err := s.GetSession(ctx, []byte("s2")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("user sessions not deleted: %v", err)
	}
	testSSOUsers(t, s, at)
}

// testSSOUsers: people from identity providers are found by (provider, subject), which is unique;
// sign-in states are taken once and not after they expire.
func testSSOUsers(t *testing.T, s store.Store, at time.Time) {
	p := ok(s.CreateUser(ctx, store.User{Username: "ada@corp.example", Role: "analyst", Provider: "okta", Subject: "00u1",
		RoleSource: "group:tt-analysts", LastSignInAt: at}))(t)
	if g := ok(s.GetUserBySubject(ctx, "okta", "00u1"))(t); g.ID != p.ID || g.RoleSource != "group:tt-analysts" || !g.LastSignInAt.Equal(at) {
		t.Errorf("by subject %+v", g)
	}
	if _, err := s.GetUserBySubject(ctx, "entra", "00u1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("another provider's subject: %v", err)
	}
	if _, err := s.GetUserBySubject(ctx, "", ""); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("local users have no subject: %v", err)
	}
	if _, err := s.CreateUser(ctx, store.User{Username: "ada2", Role: "analyst", Provider: "okta", Subject: "00u1"}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("duplicate subject: %v", err)
	}
	p.Role, p.RoleSource, p.LastSignInAt = "admin", "group:tt-admins", at.Add(time.Hour)
	if g := ok(s.UpdateUser(ctx, p))(t); g.RoleSource != "group:tt-admins" || !g.LastSignInAt.Equal(at.Add(time.Hour)) || g.Provider != "okta" {
		t.Errorf("update sso user %+v", g)
	}
	st := store.SSOState{Hash: []byte("state-1"), Provider: "okta", Browser: []byte("b"), Nonce: "n", Verifier: "v", Next: "/alerts", ExpiresAt: at.Add(10 * time.Minute)}
	noErr(t, s.CreateSSOState(ctx, st))
	noErr(t, s.CreateSSOState(ctx, store.SSOState{Hash: []byte("state-2"), Provider: "okta", Browser: []byte("b"), ExpiresAt: at}))
	if g := ok(s.TakeSSOState(ctx, []byte("state-1"), at))(t); g.Nonce != "n" || g.Verifier != "v" || g.Next != "/alerts" || string(g.Browser) != "b" || !g.ExpiresAt.Equal(st.ExpiresAt) {
		t.Errorf("take %+v", g)
	}
	if _, err := s.TakeSSOState(ctx, []byte("state-1"), at); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second take: %v", err)
	}
	if _, err := s.TakeSSOState(ctx, []byte("state-2"), at); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("expired state taken: %v", err)
	}
	// SAML assertion ids: each accepted once until it expires; an expired record is swept, so the
	// table does not grow (the id could not pass the assertion's own expiry check anyway).
	noErr(t, s.ConsumeSSOAssertion(ctx, "okta:id-1", at.Add(5*time.Minute), at))
	if err := s.ConsumeSSOAssertion(ctx, "okta:id-1", at.Add(5*time.Minute), at.Add(time.Minute)); !errors.Is(err, store.ErrConflict) {
		t.Errorf("replayed assertion: %v", err)
	}
	noErr(t, s.ConsumeSSOAssertion(ctx, "entra:id-1", at.Add(5*time.Minute), at))
	noErr(t, s.ConsumeSSOAssertion(ctx, "okta:id-1", at.Add(20*time.Minute), at.Add(10*time.Minute)))

	// TOTP: set up (not enabled), enabled with recovery codes, each step and each code once.
	alice := ok(s.CreateUser(ctx, store.User{Username: "totp-alice", Role: "admin", PasswordHash: "x"}))(t)
	if _, err := s.GetUserTOTP(ctx, alice.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("no totp yet: %v", err)
	}
	if err := s.EnableUserTOTP(ctx, alice.ID, at, nil); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("enable without a secret: %v", err)
	}
	noErr(t, s.PutUserTOTP(ctx, store.UserTOTP{UserID: alice.ID, Secret: []byte("sealed-1")}))
	if g := ok(s.GetUserTOTP(ctx, alice.ID))(t); string(g.Secret) != "sealed-1" || !g.EnabledAt.IsZero() {
		t.Errorf("put totp %+v", g)
	}
	noErr(t, s.EnableUserTOTP(ctx, alice.ID, at, [][]byte{[]byte("h1"), []byte("h2")}))
	if g := ok(s.GetUserTOTP(ctx, alice.ID))(t); !g.EnabledAt.Equal(at) {
		t.Errorf("enabled totp %+v", g)
	}
	noErr(t, s.UseTOTPStep(ctx, alice.ID, 100))
	for _, step := range []int64{100, 99} {
		if err := s.UseTOTPStep(ctx, alice.ID, step); !errors.Is(err, store.ErrConflict) {
			t.Errorf("step %d after 100: %v", step, err)
		}
	}
	noErr(t, s.UseTOTPStep(ctx, alice.ID, 101))
	noErr(t, s.UseRecoveryCode(ctx, alice.ID, []byte("h1"), at))
	if err := s.UseRecoveryCode(ctx, alice.ID, []byte("h1"), at); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("recovery code used twice: %v", err)
	}
	if n := ok(s.CountRecoveryCodes(ctx, alice.ID))(t); n != 1 {
		t.Errorf("%d recovery codes left, want 1", n)
	}
	// Setting a new secret drops the old codes and starts disabled again.
	noErr(t, s.PutUserTOTP(ctx, store.UserTOTP{UserID: alice.ID, Secret: []byte("sealed-2")}))
	if g := ok(s.GetUserTOTP(ctx, alice.ID))(t); string(g.Secret) != "sealed-2" || !g.EnabledAt.IsZero() || g.LastStep != 0 {
		t.Errorf("reset totp %+v", g)
	}
	if n := ok(s.CountRecoveryCodes(ctx, alice.ID))(t); n != 0 {
		t.Errorf("%d recovery codes after a reset", n)
	}
	noErr(t, s.DeleteUserTOTP(ctx, alice.ID))
	if _, err := s.GetUserTOTP(ctx, alice.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleted totp: %v", err)
	}
}

func testAudit(t *testing.T, s store.Store) {
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 5; i++ {
		ok(s.AppendAudit(ctx, store.AuditEntry{At: t0.Add(time.Duration(i) * time.Hour), Actor: []string{"admin", "ana"}[i%2],
			Action: []string{"connection.create", "settings.update"}[i%2], Target: fmt.Sprint("connection/", i), ClientIP: "127.0.0.1", Outcome: "ok", Details: []byte(`{"a":1}`)}))(t)
	}
	all := ok(s.ListAudit(ctx, store.AuditFilter{}))(t)
	if len(all) != 5 || all[0].ID < all[4].ID || string(all[0].Details) != `{"a":1}` {
		t.Fatalf("newest first: %+v", all)
	}
	if got := ok(s.ListAudit(ctx, store.AuditFilter{Action: "connection."}))(t); len(got) != 3 {
		t.Errorf("action prefix: %d", len(got))
	}
	if got := ok(s.ListAudit(ctx, store.AuditFilter{Actor: "ana", Since: t0.Add(2 * time.Hour)}))(t); len(got) != 1 {
		t.Errorf("actor+since: %d", len(got))
	}
	page := ok(s.ListAudit(ctx, store.AuditFilter{Limit: 2}))(t)
	next := ok(s.ListAudit(ctx, store.AuditFilter{Limit: 2, BeforeID: page[1].ID}))(t)
	if len(next) != 2 || next[0].ID >= page[1].ID {
		t.Errorf("keyset paging: %+v", next)
	}
	if got := ok(s.ListAudit(ctx, store.AuditFilter{Target: "connection/4"}))(t); len(got) != 1 {
		t.Errorf("target: %d", len(got))
	}
	if got := ok(s.ListAudit(ctx, store.AuditFilter{Oldest: true, Limit: 2}))(t); len(got) != 2 || got[0].ID != all[4].ID || got[1].ID != all[3].ID {
		t.Errorf("oldest first: %+v", got)
	}
	if got := ok(s.ListAudit(ctx, store.AuditFilter{Oldest: true, AfterID: all[2].ID}))(t); len(got) != 2 || got[0].ID != all[1].ID {
		t.Errorf("oldest first after an id: %+v", got)
	}

	// A started entry gets its outcome once; finished entries never change.
	st := ok(s.AppendAudit(ctx, store.AuditEntry{At: t0, Actor: "admin", Action: "connection.delete", Target: "connection", Outcome: store.AuditStarted}))(t)
	noErr(t, s.FinishAudit(ctx, st.ID, "connection/9", []byte(`{"b":2}`), "ok"))
	if err := s.FinishAudit(ctx, st.ID, "", nil, "500 Internal Server Error"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("finishing a finished entry: %v", err)
	}
	if err := s.FinishAudit(ctx, all[0].ID, "", nil, "ok"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("finishing an appended entry: %v", err)
	}
	got := ok(s.ListAudit(ctx, store.AuditFilter{Action: "connection.delete"}))(t)
	if len(got) != 1 || got[0].Outcome != "ok" || got[0].Target != "connection/9" || string(got[0].Details) != `{"b":2}` {
		t.Errorf("finished entry: %+v", got)
	}
	if got := ok(s.ListAudit(ctx, store.AuditFilter{Target: "connection/9"}))(t); len(got) != 1 || got[0].ID != st.ID {
		t.Errorf("the target an outcome sets is the one filtered on: %+v", got)
	}
	if got := ok(s.ListAudit(ctx, store.AuditFilter{Target: "connection"}))(t); len(got) != 0 {
		t.Errorf("the started target is replaced: %+v", got)
	}
	st = ok(s.AppendAudit(ctx, store.AuditEntry{At: t0, Actor: "admin", Action: "user.update", Target: "user/3", Details: []byte(`{"c":3}`), Outcome: store.AuditStarted}))(t)
	noErr(t, s.FinishAudit(ctx, st.ID, "", nil, "404 Not Found"))
	got = ok(s.ListAudit(ctx, store.AuditFilter{Action: "user.update"}))(t)
	if len(got) != 1 || got[0].Outcome != "404 Not Found" || got[0].Target != "user/3" || string(got[0].Details) != `{"c":3}` {
		t.Errorf("finished without target or details keeps them: %+v", got)
	}
}

func testSettings(t *testing.T, s store.Store) {
	if _, err := s.GetSetting(ctx, "x"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unset: %v", err)
	}
	noErr(t, s.PutSetting(ctx, "x", []byte(`1`)))
	noErr(t, s.PutSetting(ctx, "x", []byte(`2`)))
	if v := ok(s.GetSetting(ctx, "x"))(t); string(v) != "2" {
		t.Errorf("setting %q", v)
	}
}

func testTransactions(t *testing.T, s store.Store) {
	boom := errors.New("boom")
	err := s.InTx(ctx, func(q store.Queries) error {
		mkConn(t, q, "rolled back")
		if _, err := q.InsertEvents(ctx, []*event.FileEvent{Event(1, "tx", time.Now())}, false); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("InTx error %v", err)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("panic not re-raised")
			}
		}()
		s.InTx(ctx, func(q store.Queries) error {
			mkConn(t, q, "panicked")
			panic("p")
		})
	}()
	if l := ok(s.ListConnections(ctx))(t); len(l) != 0 {
		t.Errorf("rolled back rows visible: %+v", l)
	}
	if n := ok(s.CountEvents(ctx, store.EventFilter{}))(t); n != 0 {
		t.Errorf("rolled back events visible: %d", n)
	}
	// Commit makes both visible together.
	noErr(t, s.InTx(ctx, func(q store.Queries) error {
		mkConn(t, q, "committed")
		return q.SaveCursor(ctx, 1, "s", "v")
	}))
	if l := ok(s.ListConnections(ctx))(t); len(l) != 1 {
		t.Errorf("committed rows: %d", len(l))
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.ListConnections(cctx); err == nil {
		t.Error("a cancelled context did not fail a read")
	}
	if _, err := s.CreateConnection(cctx, store.Connection{Name: "cancelled", Service: "box", ServiceType: "cloud", Status: "searching"}); err == nil {
		t.Error("a cancelled context did not fail a write")
	}
	e := Event(1, "cancelled", time.Now())
	if n, err := s.InsertEvents(cctx, []*event.FileEvent{e}, false); err == nil || n != 0 || e.Event.ID != 0 {
		t.Errorf("InsertEvents with a cancelled context: n=%d id=%d err=%v", n, e.Event.ID, err)
	}
	called := false
	if err := s.InTx(cctx, func(store.Queries) error { called = true; return nil }); err == nil || called {
		t.Errorf("InTx with a cancelled context: err=%v, fn called=%v", err, called)
	}
	if l := ok(s.ListConnections(ctx))(t); len(l) != 1 {
		t.Errorf("cancelled calls wrote: %d connections", len(l))
	}
}

// testEventsConnectionName: an event's connection name is the connection's current display name
// (it is not stored per event), and "" once no connection has the event's id.
func testEventsConnectionName(t *testing.T, s store.Store) {
	c := mkConn(t, s, "Box Prod")
	e := Event(c.ID, "v1", time.Now())
	e.Event.ConnectionName = c.Name
	ok(s.InsertEvents(ctx, []*event.FileEvent{e}, false))(t)
	if got := ok(s.GetEvent(ctx, e.Event.ID))(t); got.Event.ConnectionName != "Box Prod" {
		t.Errorf("connection name %q", got.Event.ConnectionName)
	}
	c.Name = "Box Production"
	ok(s.UpdateConnection(ctx, c))(t)
	if got := ok(s.ListEvents(ctx, store.EventFilter{}))(t); len(got) != 1 || got[0].Event.ConnectionName != "Box Production" {
		t.Errorf("after rename: %+v", got)
	}
	orphan := Event(c.ID+100, "v2", time.Now())
	ok(s.InsertEvents(ctx, []*event.FileEvent{orphan}, false))(t)
	if got := ok(s.GetEvent(ctx, orphan.Event.ID))(t); got.Event.ConnectionName != "" || got.Event.ConnectionID != c.ID+100 {
		t.Errorf("event of an unknown connection: %+v", got.Event)
	}
}

// testSentinels: every lookup of something absent gives ErrNotFound, and every unique constraint or
// compare-and-set failure gives ErrConflict.
func testSentinels(t *testing.T, s store.Store) {
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	c := mkConn(t, s, "Taken")
	mkConn(t, s, "Other")
	u := ok(s.CreateUser(ctx, store.User{Username: "alice", Role: "admin"}))(t)
	ok(s.CreateUser(ctx, store.User{Username: "bob", Role: "analyst"}))(t)
	ok(s.CreateToken(ctx, store.Token{UserID: u.ID, Hash: []byte("h")}))(t)
	noErr(t, s.CreateSession(ctx, store.Session{Hash: []byte("s"), UserID: u.ID, CSRF: "x", ExpiresAt: t0}))
	w := ok(s.EnsureWork(ctx, store.Work{Kind: "k", Key: "1", NextRunAt: t0}))(t)
	ok(s.ClaimWork(ctx, store.ClaimRequest{Owner: "a", Now: t0, LeaseFor: time.Minute, Limit: 1}))(t)
	it := ok(s.EnqueueOutbox(ctx, store.OutboxItem{Topic: "t", IdempotencyKey: "k", NextRunAt: t0}))(t)
	ok(s.ClaimOutbox(ctx, store.ClaimRequest{Owner: "a", Now: t0, LeaseFor: time.Minute, Limit: 1}))(t)
	drop := func(_ any, err error) error { return err }
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"GetConnection", drop(s.GetConnection(ctx, 999)), store.ErrNotFound},
		{"UpdateConnection", drop(s.UpdateConnection(ctx, store.Connection{ID: 999, Name: "n", Version: 1})), store.ErrNotFound},
		{"DeleteConnection", s.DeleteConnection(ctx, 999), store.ErrNotFound},
		{"UpdateScopeEntry", s.UpdateScopeEntry(ctx, store.ScopeEntry{ConnectionID: c.ID, Kind: "user", Value: "x"}), store.ErrNotFound},
		{"GetDrive", drop(s.GetDrive(ctx, 999)), store.ErrNotFound},
		{"GetFile", drop(s.GetFile(ctx, c.ID, "x")), store.ErrNotFound},
		{"GetEvent", drop(s.GetEvent(ctx, 999)), store.ErrNotFound},
		{"GetCursor", drop(s.GetCursor(ctx, c.ID, "x")), store.ErrNotFound},
		{"GetWork", drop(s.GetWork(ctx, "k", "nope")), store.ErrNotFound},
		{"GetPersonByEmail", drop(s.GetPersonByEmail(ctx, "x@y")), store.ErrNotFound},
		{"GetUser", drop(s.GetUser(ctx, 999)), store.ErrNotFound},
		{"GetUserByUsername", drop(s.GetUserByUsername(ctx, "nobody")), store.ErrNotFound},
		{"UpdateUser", drop(s.UpdateUser(ctx, store.User{ID: 999, Username: "z", Role: "admin"})), store.ErrNotFound},
		{"GetTokenByHash", drop(s.GetTokenByHash(ctx, []byte("nope"))), store.ErrNotFound},
		{"RevokeToken", s.RevokeToken(ctx, 999, t0), store.ErrNotFound},
		{"GetSession", drop(s.GetSession(ctx, []byte("nope"))), store.ErrNotFound},
		{"GetSetting", drop(s.GetSetting(ctx, "nope")), store.ErrNotFound},

		{"CreateConnection same name", drop(s.CreateConnection(ctx, store.Connection{Name: " taken ", Service: "box", ServiceType: "cloud", Status: "searching"})), store.ErrConflict},
		{"UpdateConnection stale", drop(s.UpdateConnection(ctx, store.Connection{ID: c.ID, Name: "Taken", Version: 7})), store.ErrConflict},
		{"UpdateConnection rename", drop(s.UpdateConnection(ctx, store.Connection{ID: c.ID, Name: "OTHER", Version: c.Version})), store.ErrConflict},
		{"CreateUser", drop(s.CreateUser(ctx, store.User{Username: "ALICE", Role: "admin"})), store.ErrConflict},
		{"UpdateUser rename", drop(s.UpdateUser(ctx, store.User{ID: u.ID, Username: "Bob", Role: "admin"})), store.ErrConflict},
		{"CreateToken", drop(s.CreateToken(ctx, store.Token{UserID: u.ID, Hash: []byte("h")})), store.ErrConflict},
		{"CreateSession", s.CreateSession(ctx, store.Session{Hash: []byte("s"), UserID: u.ID, CSRF: "y", ExpiresAt: t0}), store.ErrConflict},
		{"ExtendLease", s.ExtendLease(ctx, w.ID, "b", t0.Add(time.Hour)), store.ErrConflict},
		{"FinishWork", s.FinishWork(ctx, w.ID, "b", t0.Add(time.Hour), ""), store.ErrConflict},
		{"FinishOutbox", s.FinishOutbox(ctx, it.ID, "b", store.OutboxDone, time.Time{}, "", ""), store.ErrConflict},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !errors.Is(tc.err, tc.want) {
				t.Errorf("%s: %v, want %v", tc.name, tc.err, tc.want)
			}
			if tc.err != nil && !strings.HasPrefix(tc.err.Error(), "store: ") {
				t.Errorf("%s: error %q does not say where it comes from (\"store: ...\")", tc.name, tc.err)
			}
		})
	}
	// The failed calls changed nothing.
	if got := ok(s.GetConnection(ctx, c.ID))(t); got.Name != "Taken" || got.Version != c.Version {
		t.Errorf("connection changed by failed updates: %+v", got)
	}
	if got := ok(s.GetWork(ctx, "k", "1"))(t); got.LeaseOwner != "a" {
		t.Errorf("work lease changed by non-owner: %+v", got)
	}
}
