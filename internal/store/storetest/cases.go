package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/store"
)

// testCases: a case is created with a history line, updated by compare-and-set with its changes
// recorded, gathers people, alerts and events once each, lists its events (added and of its
// alerts) in id order with paging, and is found by state, person and alert.
func testCases(t *testing.T, s store.Store) {
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	c := mkConn(t, s, "c")
	evs := []*event.FileEvent{Event(c.ID, "1", t0), Event(c.ID, "2", t0), Event(c.ID, "3", t0), Event(c.ID, "4", t0)}
	ok(s.InsertEvents(ctx, evs, false))(t)
	a := ok(s.CreateAlert(ctx, store.Alert{RuleID: 1, RuleName: "r", GroupKey: "bob", Person: "bob@corp.example", State: "open", Severity: "high"},
		[]int64{evs[1].Event.ID, evs[2].Event.ID}))(t)

	k := ok(s.CreateCase(ctx, store.Case{Title: "Bob leaves", Description: "d", State: store.CaseOpen, CreatedBy: "ann", CreatedAt: t0}))(t)
	if k.ID == 0 || k.Version != 1 || k.Title != "Bob leaves" || k.State != "open" || !k.CreatedAt.Equal(t0) || !k.UpdatedAt.Equal(t0) || k.LegalHold {
		t.Fatalf("created %+v", k)
	}
	added := ok(s.AddCaseItems(ctx, k.ID, store.CaseItems{People: []string{"Bob@Corp.Example"}, AlertIDs: []int64{a.ID}, EventIDs: []int64{evs[0].Event.ID, evs[1].Event.ID}}, "ann", t0.Add(time.Minute)))(t)
	if !slices.Equal(added.People, []string{"bob@corp.example"}) || len(added.AlertIDs) != 1 || len(added.EventIDs) != 2 {
		t.Errorf("added %+v", added)
	}
	again := ok(s.AddCaseItems(ctx, k.ID, store.CaseItems{People: []string{"bob@corp.example", "carol@corp.example"}, EventIDs: []int64{evs[0].Event.ID}}, "ann", t0.Add(2*time.Minute)))(t)
	if !slices.Equal(again.People, []string{"carol@corp.example"}) || len(again.EventIDs) != 0 {
		t.Errorf("added again %+v", again)
	}
	if _, err := s.AddCaseItems(ctx, 9999, store.CaseItems{People: []string{"x@corp.example"}}, "ann", t0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("add to a missing case: %v", err)
	}
	k = ok(s.GetCase(ctx, k.ID))(t)
	if k.People != 2 || k.Alerts != 1 || k.Events != 2 || k.Version != 3 {
		t.Errorf("counts %+v", k)
	}
	if p := ok(s.ListCasePeople(ctx, k.ID))(t); !slices.Equal(p, []string{"bob@corp.example", "carol@corp.example"}) {
		t.Errorf("people %v", p)
	}
	if x := ok(s.ListCaseAlertIDs(ctx, k.ID))(t); !slices.Equal(x, []int64{a.ID}) {
		t.Errorf("alerts %v", x)
	}
	want := []int64{evs[0].Event.ID, evs[1].Event.ID, evs[2].Event.ID} // added ones and the alert's, each once
	if x := ok(s.ListCaseEventIDs(ctx, k.ID, 0, 0))(t); !slices.Equal(x, want) {
		t.Errorf("events %v, want %v", x, want)
	}
	if x := ok(s.ListCaseEventIDs(ctx, k.ID, want[0], 1))(t); !slices.Equal(x, want[1:2]) {
		t.Errorf("events page %v", x)
	}
	k2 := k
	k2.State, k2.Assignee, k2.UpdatedAt = store.CaseClosed, "zed", t0.Add(time.Hour)
	u := ok(s.UpdateCase(ctx, k2, []store.CaseChange{{Actor: "ann", Field: "state", From: "open", To: "closed"}, {Actor: "ann", Field: "note", Note: "done"}}))(t)
	if u.Version != 4 || u.State != "closed" || u.Assignee != "zed" || !u.UpdatedAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("updated %+v", u)
	}
	if _, err := s.UpdateCase(ctx, k2, nil); !errors.Is(err, store.ErrConflict) {
		t.Errorf("stale version: %v", err)
	}
	if _, err := s.UpdateCase(ctx, store.Case{ID: 9999, Version: 1}, nil); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing case: %v", err)
	}
	h := ok(s.ListCaseChanges(ctx, k.ID))(t)
	var fields []string
	for _, c := range h {
		fields = append(fields, c.Field)
	}
	if !slices.Equal(fields, []string{"created", "people", "alerts", "events", "people", "state", "note"}) || h[1].To != "bob@corp.example" ||
		h[0].Actor != "ann" || !h[5].At.Equal(t0.Add(time.Hour)) || h[6].Note != "done" {
		t.Errorf("history %+v", h)
	}
	other := ok(s.CreateCase(ctx, store.Case{Title: "Other", State: store.CaseOpen, CreatedBy: "ann"}))(t)
	if l := ok(s.ListCases(ctx, store.CaseFilter{}))(t); len(l) != 2 || l[0].ID != other.ID || l[1].ID != k.ID {
		t.Errorf("list %+v", l)
	}
	if l := ok(s.ListCases(ctx, store.CaseFilter{States: []string{"open"}}))(t); len(l) != 1 || l[0].ID != other.ID {
		t.Errorf("open %+v", l)
	}
	if l := ok(s.ListCases(ctx, store.CaseFilter{Person: "BOB@corp.example"}))(t); len(l) != 1 || l[0].ID != k.ID {
		t.Errorf("bob's %+v", l)
	}
	if l := ok(s.ListCases(ctx, store.CaseFilter{AlertID: a.ID}))(t); len(l) != 1 || l[0].ID != k.ID {
		t.Errorf("the alert's %+v", l)
	}
	if l := ok(s.ListCases(ctx, store.CaseFilter{BeforeID: other.ID, Limit: 1}))(t); len(l) != 1 || l[0].ID != k.ID {
		t.Errorf("page %+v", l)
	}
}

// testLegalHold: retention (DeleteConnectionEvents, DeleteConnection) deletes every event of a
// connection except those a case on legal hold keeps, added or of its alerts; lifting the hold
// deletes them once their connection is gone, unless another held case keeps them.
func testLegalHold(t *testing.T, s store.Store) {
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	c := mkConn(t, s, "c")
	var evs []*event.FileEvent
	for _, v := range []string{"1", "2", "3", "4", "5", "6"} {
		evs = append(evs, Event(c.ID, v, t0))
	}
	ok(s.InsertEvents(ctx, evs, false))(t)
	id := func(i int) int64 { return evs[i].Event.ID }
	a := ok(s.CreateAlert(ctx, store.Alert{RuleID: 1, RuleName: "r", GroupKey: "g", Person: "alice@corp.example", State: "open", Severity: "high"}, []int64{id(1)}))(t)
	held := ok(s.CreateCase(ctx, store.Case{Title: "held", State: store.CaseOpen, LegalHold: true}))(t)
	ok(s.AddCaseItems(ctx, held.ID, store.CaseItems{AlertIDs: []int64{a.ID}, EventIDs: []int64{id(0)}}, "ann", t0))(t)
	second := ok(s.CreateCase(ctx, store.Case{Title: "also held", State: store.CaseOpen, LegalHold: true}))(t)
	ok(s.AddCaseItems(ctx, second.ID, store.CaseItems{EventIDs: []int64{id(2)}}, "ann", t0))(t)
	notHeld := ok(s.CreateCase(ctx, store.Case{Title: "not held", State: store.CaseOpen}))(t)
	ok(s.AddCaseItems(ctx, notHeld.ID, store.CaseItems{EventIDs: []int64{id(3)}}, "ann", t0))(t)

	var deleted int64
	for {
		n := ok(s.DeleteConnectionEvents(ctx, c.ID, 1))(t)
		if n == 0 {
			break
		}
		deleted += n
	}
	if deleted != 3 {
		t.Errorf("retention deleted %d events, want 3 (those no held case keeps)", deleted)
	}
	stored := func() []int64 {
		var out []int64
		for _, e := range ok(s.ListEvents(ctx, store.EventFilter{IncludeHeld: true}))(t) {
			out = append(out, e.Event.ID)
		}
		return out
	}
	if got := stored(); !slices.Equal(got, []int64{id(0), id(1), id(2)}) {
		t.Errorf("after retention %v, want %v", got, []int64{id(0), id(1), id(2)})
	}
	noErr(t, s.DeleteConnection(ctx, c.ID))
	if got := stored(); !slices.Equal(got, []int64{id(0), id(1), id(2)}) {
		t.Errorf("after the connection's deletion %v", got)
	}
	if e := ok(s.GetEvent(ctx, id(0)))(t); e.Event.ConnectionID != c.ID {
		t.Errorf("held event %+v", e.Event)
	}
	// Lifting the first hold deletes its events (their connection is gone); the second case's stays.
	held = ok(s.GetCase(ctx, held.ID))(t)
	held.LegalHold = false
	ok(s.UpdateCase(ctx, held, []store.CaseChange{{Actor: "ann", Field: "legal_hold", From: "true", To: "false"}}))(t)
	if got := stored(); !slices.Equal(got, []int64{id(2)}) {
		t.Errorf("after lifting the hold %v, want %v", got, []int64{id(2)})
	}
}

// testPersonRisk: InsertEvents adds each inserted event's score to its actor's day (lower case,
// by time observed); duplicates, unscored events and events without an actor add nothing; a
// rewritten event (a merge) moves its score; a rolled back transaction leaves no score.
func testPersonRisk(t *testing.T, s store.Store) {
	c := mkConn(t, s, "c")
	d1 := time.Date(2026, 12, 1, 23, 0, 0, 0, time.UTC)
	d2 := d1.Add(2 * time.Hour)
	mk := func(v string, at time.Time, who string, score int) *event.FileEvent {
		e := Event(c.ID, v, at)
		e.User.Email, e.Risk.Score = who, score
		return e
	}
	ok(s.InsertEvents(ctx, []*event.FileEvent{mk("1", d1, "Bob@Corp.Example", 4), mk("2", d1, "bob@corp.example", 3), mk("3", d2, "bob@corp.example", 7),
		mk("4", d1, "bob@corp.example", 0), mk("5", d1, "", 9), mk("6", d1, "carol@corp.example", 2)}, false))(t)
	ok(s.InsertEvents(ctx, []*event.FileEvent{mk("1", d1, "bob@corp.example", 4), mk("7", d2, "bob@corp.example", 1)}, true))(t) // a duplicate, and a held event
	got := ok(s.PersonRiskDays(ctx, "BOB@corp.example", d1.Add(-48*time.Hour)))(t)
	day1 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	want := []store.PersonRiskDay{{Day: day1, Score: 7, Events: 2}, {Day: day1.AddDate(0, 0, 1), Score: 8, Events: 2}}
	if !slices.Equal(got, want) {
		t.Errorf("bob's days %+v, want %+v", got, want)
	}
	if got := ok(s.PersonRiskDays(ctx, "bob@corp.example", d2))(t); len(got) != 1 || got[0].Score != 8 {
		t.Errorf("since the second day %+v", got)
	}
	// A merge rewrites an event (UpdateEvent): its old score leaves its old actor's day, the new
	// one counts.
	first := mk("1", d1, "bob@corp.example", 4)
	first.Event.ID = ok(s.ListEvents(ctx, store.EventFilter{Limit: 1}))(t)[0].Event.ID
	first.Risk.Score, first.User.Email = 1, "carol@corp.example"
	noErr(t, s.UpdateEvent(ctx, first))
	if got := ok(s.PersonRiskDays(ctx, "bob@corp.example", d1))(t); got[0].Score != 3 || got[0].Events != 1 {
		t.Errorf("bob's first day after the merge %+v, want score 3 of 1 event", got[0])
	}
	if got := ok(s.PersonRiskDays(ctx, "carol@corp.example", d1))(t); len(got) != 1 || got[0].Score != 3 || got[0].Events != 2 {
		t.Errorf("carol's days after the merge %+v, want score 3 of 2 events", got)
	}
	// A transaction that fails stores neither the events nor their scores.
	err := s.InTx(ctx, func(q store.Queries) error {
		if _, err := q.InsertEvents(ctx, []*event.FileEvent{mk("8", d1, "carol@corp.example", 5)}, false); err != nil {
			return err
		}
		return errors.New("rolled back")
	})
	if err == nil {
		t.Fatal("the transaction did not fail")
	}
	if got := ok(s.PersonRiskDays(ctx, "carol@corp.example", d1))(t); len(got) != 1 || got[0].Score != 3 {
		t.Errorf("carol's days after a rollback %+v", got)
	}
	// One page with more people and days than one statement carries (the upserts go 50 rows at
	// a time): every person's every day is counted once.
	var page []*event.FileEvent
	for i := 0; i < 130; i++ {
		for j := 0; j < 2; j++ {
			page = append(page, mk(fmt.Sprintf("p%d-%d", i, j), d1.Add(time.Duration(j)*24*time.Hour), fmt.Sprintf("p%03d@corp.example", i), i+j+1))
		}
	}
	ok(s.InsertEvents(ctx, page, false))(t)
	for i := 0; i < 130; i++ {
		got := ok(s.PersonRiskDays(ctx, fmt.Sprintf("p%03d@corp.example", i), day1))(t)
		want := []store.PersonRiskDay{{Day: day1, Score: int64(i + 1), Events: 1}, {Day: day1.AddDate(0, 0, 1), Score: int64(i + 2), Events: 1}}
		if !slices.Equal(got, want) {
			t.Fatalf("person %d's days %+v, want %+v", i, got, want)
		}
	}
}

// testExposedFiles: a person's files whose latest sharing state is exposed (public link or outside
// the trusted domains), by file owner or, for files without one, the owner of their user drive;
// an unshare after a share, a deleted file, another owner's file, an organization link and a held
// event do not count; events without a sharing state do not change it.
func testExposedFiles(t *testing.T, s store.Store) {
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	c := mkConn(t, s, "c")
	d := ok(s.UpsertDrive(ctx, store.Drive{ConnectionID: c.ID, VendorID: "d-bob", Kind: "user", Owner: "bob@corp.example", State: "indexed"}))(t)
	files := []store.File{
		{ConnectionID: c.ID, DriveID: d.ID, VendorID: "public", Name: "public.xlsx", Owner: "Bob@Corp.Example"},
		{ConnectionID: c.ID, DriveID: d.ID, VendorID: "external", Name: "external.docx"}, // no owner: the drive's
		{ConnectionID: c.ID, DriveID: d.ID, VendorID: "unshared", Name: "unshared.pdf", Owner: "bob@corp.example"},
		{ConnectionID: c.ID, DriveID: d.ID, VendorID: "deleted", Name: "deleted.pdf", Owner: "bob@corp.example", Deleted: true},
		{ConnectionID: c.ID, DriveID: d.ID, VendorID: "carols", Name: "carols.pdf", Owner: "carol@corp.example"},
		{ConnectionID: c.ID, DriveID: d.ID, VendorID: "org", Name: "org.pdf", Owner: "bob@corp.example"},
		{ConnectionID: c.ID, DriveID: d.ID, VendorID: "heldshare", Name: "heldshare.pdf", Owner: "bob@corp.example"},
		{ConnectionID: c.ID, DriveID: d.ID, VendorID: "never", Name: "never.pdf", Owner: "bob@corp.example"},
	}
	noErr(t, s.UpsertFiles(ctx, files))
	n := 0
	share := func(file string, at time.Time, action event.Action, scope event.LinkScope, xs ...event.Exposure) *event.FileEvent {
		n++
		e := Event(c.ID, file+string(rune('a'+n)), at)
		e.Event.Action, e.File.ID, e.Sharing = action, file, event.Sharing{LinkScope: scope, Exposure: xs}
		return e
	}
	ok(s.InsertEvents(ctx, []*event.FileEvent{
		share("public", t0, event.ActionShared, event.LinkAnyone, event.ExposurePublicLink),
		share("public", t0.Add(time.Hour), event.ActionDownloaded, ""), // no sharing state: changes nothing
		share("external", t0, event.ActionShared, event.LinkSpecific, event.ExposureOutsideTrustedDomain),
		share("unshared", t0, event.ActionShared, event.LinkAnyone, event.ExposurePublicLink),
		share("unshared", t0.Add(time.Hour), event.ActionUnshared, event.LinkNone),
		share("deleted", t0, event.ActionShared, event.LinkAnyone, event.ExposurePublicLink),
		share("carols", t0, event.ActionShared, event.LinkAnyone, event.ExposurePublicLink),
		share("org", t0, event.ActionShared, event.LinkOrganization, event.ExposureOrganizationLink),
	}, false))(t)
	ok(s.InsertEvents(ctx, []*event.FileEvent{share("heldshare", t0, event.ActionShared, event.LinkAnyone, event.ExposurePublicLink)}, true))(t)
	mask := event.ExposureBits([]event.Exposure{event.ExposurePublicLink, event.ExposureOutsideTrustedDomain})
	got := ok(s.ExposedFiles(ctx, "BOB@corp.example", mask, 0, 0))(t)
	var names []string
	for _, x := range got {
		names = append(names, x.File.Name)
	}
	if !slices.Equal(names, []string{"public.xlsx", "external.docx"}) {
		t.Fatalf("exposed %v, want public.xlsx, external.docx", names)
	}
	if got[0].Event.Event.Action != event.ActionShared || got[0].Event.Sharing.LinkScope != event.LinkAnyone || got[1].Event.Sharing.Exposure[0] != event.ExposureOutsideTrustedDomain {
		t.Errorf("sharing events %+v", got)
	}
	if p := ok(s.ExposedFiles(ctx, "bob@corp.example", mask, got[0].File.ID, 1))(t); len(p) != 1 || p[0].File.Name != "external.docx" {
		t.Errorf("second page %+v", p)
	}
	// Shared again after the unshare: exposed now.
	ok(s.InsertEvents(ctx, []*event.FileEvent{share("unshared", t0.Add(2*time.Hour), event.ActionShared, event.LinkAnyone, event.ExposurePublicLink)}, false))(t)
	if got := ok(s.ExposedFiles(ctx, "bob@corp.example", mask, 0, 0))(t); len(got) != 3 {
		t.Errorf("after sharing again %d files, want 3", len(got))
	}
}

// testEventsMalformedHash: a page with an event whose hash is not the hex of its length is
// refused whole, naming the field, and stores nothing (not its other events, not their dedupe
// keys: they are stored once the page comes again without it); a repeat of a stored event with a
// malformed hash is refused too, not skipped as a duplicate.
func testEventsMalformedHash(t *testing.T, s store.Store) {
	c := mkConn(t, s, "c")
	t0 := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	good1, good2, bad := Event(c.ID, "g1", t0), Event(c.ID, "g2", t0), Event(c.ID, "b", t0)
	bad.File.Hash.SHA256 = "not-hex"
	_, err := s.InsertEvents(ctx, []*event.FileEvent{good1, bad, good2}, false)
	if err == nil || !strings.Contains(err.Error(), "file.hash.sha256") {
		t.Fatalf("a page with a malformed SHA-256: %v, want an error naming file.hash.sha256", err)
	}
	if good1.Event.ID != 0 || good2.Event.ID != 0 {
		t.Errorf("a refused page gave ids %d, %d", good1.Event.ID, good2.Event.ID)
	}
	if got := ok(s.ListEvents(ctx, store.EventFilter{Limit: 10}))(t); len(got) != 0 {
		t.Fatalf("a refused page stored %d events", len(got))
	}
	if n := ok(s.InsertEvents(ctx, []*event.FileEvent{good1, good2}, false))(t); n != 2 {
		t.Fatalf("the page without the malformed event stored %d, want 2 (its keys were not kept)", n)
	}
	again := Event(c.ID, "g1", t0)
	again.File.Hash.MD5 = "abc"
	if _, err := s.InsertEvents(ctx, []*event.FileEvent{again}, false); err == nil || !strings.Contains(err.Error(), "file.hash.md5") {
		t.Errorf("a repeat with a malformed MD5: %v, want an error naming file.hash.md5", err)
	}
}
