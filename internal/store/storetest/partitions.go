package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/store"
)

// testEventPartitions: events of any time are stored and found, whether their month has a
// partition (PostgreSQL) or not (the default partition): one far in the past, one far in the
// future, one now; a month created after its events arrived takes them over, still found by id and
// by a time-bounded search. Dedupe is exact across months: the same vendor record sent again with
// another time (another partition), in the same call or later, is stored once.
func testEventPartitions(t *testing.T, s store.Store) {
	c := mkConn(t, s, "c")
	now := time.Now().UTC()
	ok(s.PrepareEventPartitions(ctx, now))(t)
	past := time.Date(1995, 3, 10, 8, 0, 0, 0, time.UTC)
	future := time.Date(2090, 1, 15, 8, 0, 0, 0, time.UTC)
	evs := []*event.FileEvent{Event(c.ID, "past", past), Event(c.ID, "future", future), Event(c.ID, "now", now),
		Event(c.ID, "past", future)} // the same record, another month: a duplicate
	if n := ok(s.InsertEvents(ctx, evs, false))(t); n != 3 || evs[3].Event.ID != 0 {
		t.Fatalf("inserted %d (want 3), the repeat got id %d", n, evs[3].Event.ID)
	}
	found := func(stage string) {
		t.Helper()
		for _, e := range evs[:3] {
			got, err := s.GetEvent(ctx, e.Event.ID)
			if err != nil || !got.Timestamp.Equal(e.Timestamp) || got.Event.VendorIDs[0] != e.Event.VendorIDs[0] {
				t.Errorf("%s: get %d: %v %v", stage, e.Event.ID, got.Timestamp, err)
			}
			day := e.Timestamp.Truncate(24 * time.Hour)
			q := mustParse(t, fmt.Sprintf("after:%s before:%s", day.Format("2006-01-02T15:04Z"), day.Add(24*time.Hour).Format("2006-01-02T15:04Z")))
			res := ok(s.SearchEvents(ctx, q, store.SearchOptions{Limit: 10}))(t)
			if len(res) != 1 || res[0].Event.ID != e.Event.ID {
				t.Errorf("%s: the search of %s's day found %d events", stage, e.Event.VendorIDs[0], len(res))
			}
		}
		if n := ok(s.CountEvents(ctx, store.EventFilter{}))(t); n != 3 {
			t.Errorf("%s: %d events stored, want 3", stage, n)
		}
	}
	found("stored")
	// The future month gets its partition now: its event moves there from the default partition.
	ok(s.PrepareEventPartitions(ctx, future))(t)
	if n := ok(s.PrepareEventPartitions(ctx, future))(t); n != 0 {
		t.Errorf("the months exist already, yet %d were created", n)
	}
	found("after the future month was made")
	again := []*event.FileEvent{Event(c.ID, "future", past), Event(c.ID, "now", future), Event(c.ID, "past", now), Event(c.ID, "new", future)}
	if n := ok(s.InsertEvents(ctx, again, false))(t); n != 1 || again[3].Event.ID == 0 {
		t.Errorf("sent again in other months: %d inserted, want 1 (the new one)", n)
	}
}

// testDropEventsBefore: retention by age removes the months before the cut whole, except the
// events a case on legal hold keeps; the months after it stay. The keys of the removed events go
// with them (the same record is stored again later), the kept events' stay (a repeat is refused).
// Lifting the hold lets the next run remove the kept event.
func testDropEventsBefore(t *testing.T, s store.Store) {
	c := mkConn(t, s, "c")
	jan := time.Date(2025, 1, 10, 8, 0, 0, 0, time.UTC)
	ok(s.PrepareEventPartitions(ctx, jan))(t) // January to April 2025
	var evs []*event.FileEvent
	for m := range 3 { // January, February, March: 4 events each
		for i := range 4 {
			evs = append(evs, Event(c.ID, fmt.Sprintf("m%d-%d", m, i), jan.AddDate(0, m, i)))
		}
	}
	ok(s.InsertEvents(ctx, evs, false))(t)
	held := ok(s.CreateCase(ctx, store.Case{Title: "held", State: store.CaseOpen, LegalHold: true}))(t)
	ok(s.AddCaseItems(ctx, held.ID, store.CaseItems{EventIDs: []int64{evs[1].Event.ID}}, "ann", jan))(t)
	plain := ok(s.CreateCase(ctx, store.Case{Title: "not held", State: store.CaseOpen}))(t)
	ok(s.AddCaseItems(ctx, plain.ID, store.CaseItems{EventIDs: []int64{evs[5].Event.ID}}, "ann", jan))(t)

	march := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	if n := ok(s.DropEventsBefore(ctx, march))(t); n != 7 {
		t.Errorf("dropped %d events, want 7 (January and February but the held one)", n)
	}
	ids := func() []int64 {
		var out []int64
		for _, e := range ok(s.ListEvents(ctx, store.EventFilter{IncludeHeld: true}))(t) {
			out = append(out, e.Event.ID)
		}
		return out
	}
	want := []int64{evs[1].Event.ID}
	for _, e := range evs[8:] {
		want = append(want, e.Event.ID)
	}
	if got := ids(); !slices.Equal(got, want) {
		t.Errorf("after retention %v, want %v", got, want)
	}
	if e := ok(s.GetEvent(ctx, evs[1].Event.ID))(t); !e.Timestamp.Equal(evs[1].Timestamp) {
		t.Errorf("the held event: %v", e.Timestamp)
	}
	q := mustParse(t, "after:2025-01-01T00:00Z before:2025-02-01T00:00Z")
	if res := ok(s.SearchEvents(ctx, q, store.SearchOptions{Limit: 10}))(t); len(res) != 1 || res[0].Event.ID != evs[1].Event.ID {
		t.Errorf("January's search found %d events, want the held one", len(res))
	}
	if n := ok(s.DropEventsBefore(ctx, march))(t); n != 0 {
		t.Errorf("a second run dropped %d", n)
	}
	back := []*event.FileEvent{Event(c.ID, "m0-0", jan), Event(c.ID, "m0-1", jan.AddDate(0, 0, 1))}
	if n := ok(s.InsertEvents(ctx, back, false))(t); n != 1 || back[0].Event.ID == 0 || back[1].Event.ID != 0 {
		t.Errorf("sent again: %d stored, want 1 (the dropped one, not the held one)", n)
	}
	held = ok(s.GetCase(ctx, held.ID))(t)
	held.LegalHold = false
	ok(s.UpdateCase(ctx, held, []store.CaseChange{{Actor: "ann", Field: "legal_hold", From: "true", To: "false"}}))(t)
	if n := ok(s.DropEventsBefore(ctx, march))(t); n != 2 {
		t.Errorf("after the hold was lifted dropped %d, want 2 (the once held event and the one sent again)", n)
	}
	if got := ids(); !slices.Equal(got, want[1:]) {
		t.Errorf("at the end %v, want %v", got, want[1:])
	}
}

// testDropEventsDashboards: the dashboards' counts lose the events retention removes (whole months
// on PostgreSQL): every dashboard read equals a recount of the events left.
func testDropEventsDashboards(t *testing.T, s store.Store) {
	ok(s.PrepareEventPartitions(ctx, time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC)))(t) // August to November
	end := loadDashRecount(t, s)
	if n := ok(s.DropEventsBefore(ctx, time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)))(t); n == 0 {
		t.Fatal("nothing dropped")
	}
	checkDashRecount(t, s, end)
}
