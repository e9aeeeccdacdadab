package storetest

import (
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/store"
)

// addressEvents are events whose actors and owners differ in case, are missing, or are an owner
// only: what the table of addresses (migration 0044) must keep apart, fold for search and
// group as the texts were.
func addressEvents(conn int64, t0 time.Time) []*event.FileEvent {
	spec := []struct{ actor, owner string }{
		{"Alice@Corp.example", "Alice@Corp.example"},
		{"alice@corp.example", "x@partner.example"},
		{"alice@corp.example", ""},
		{"bob@corp.example", "alice@corp.example"},
		{"", "bob@corp.example"},
		{"bob@corp.example", "Bob@corp.example"},
	}
	var evs []*event.FileEvent
	for i, s := range spec {
		e := Event(conn, fmt.Sprint("addr", i), t0.Add(time.Duration(i)*time.Minute))
		e.User.Email, e.File.Owner = s.actor, s.owner
		evs = append(evs, e)
	}
	return evs
}

// checkAddressEvents checks evs (stored in s) read back, searched, grouped and listed by their
// addresses as the texts would be.
func checkAddressEvents(t *testing.T, s store.Store, evs []*event.FileEvent) {
	t.Helper()
	for _, e := range evs {
		got := ok(s.GetEvent(ctx, e.Event.ID))(t)
		if got.User.Email != e.User.Email || got.File.Owner != e.File.Owner {
			t.Errorf("event %d: actor %q owner %q, stored %q %q", e.Event.ID, got.User.Email, got.File.Owner, e.User.Email, e.File.Owner)
		}
	}
	ids := func(q string) string {
		var out []string
		for _, e := range ok(s.SearchEvents(ctx, mustParse(t, q), store.SearchOptions{Sort: store.SortID, Limit: 100}))(t) {
			for i, w := range evs {
				if w.Event.ID == e.Event.ID {
					out = append(out, fmt.Sprint(i))
				}
			}
		}
		return strings.Join(out, " ")
	}
	for q, want := range map[string]string{
		"actor:alice@corp.example":                 "0 1 2",
		"actor:ALICE@corp.EXAMPLE":                 "0 1 2",
		"actor:*@corp.example":                     "0 1 2 3 5",
		"actor:ali*":                               "0 1 2",
		"actor:*":                                  "0 1 2 3 5",
		"NOT actor:alice@corp.example":             "3 4 5",
		"NOT actor:*":                              "4",
		"owner:alice@corp.example":                 "0 3",
		"owner:bob@corp.example":                   "4 5",
		"owner:*@partner.example":                  "1",
		"owner:*":                                  "0 1 3 4 5",
		"NOT owner:*":                              "2",
		"actor:bob@corp.example OR owner:x*":       "1 3 5",
		"actor:alice@corp.example owner:alice*":    "0",
		"actor:nobody@corp.example":                "",
		"NOT actor:nobody@corp.example":            "0 1 2 3 4 5",
		"actor:bob@corp.example NOT owner:bob*":    "3",
		"owner:alice@corp.example actor:bob*":      "3",
		"NOT (actor:alice* OR owner:bob*)":         "3",
		"actor:\"alice@corp.example\" service:box": "0 1 2",
		"actor:alice@corp.example OR actor:bob*":   "0 1 2 3 5",
	} {
		if got := ids(q); got != want {
			t.Errorf("%s: events [%s], want [%s]", q, got, want)
		}
	}
	groups := map[string]int64{}
	for _, g := range ok(s.GroupEvents(ctx, mustParse(t, "file_id:f-addr*"), store.GroupActor, 10))(t) {
		groups[g.Key] = g.Count
	}
	if want := map[string]int64{"Alice@Corp.example": 1, "alice@corp.example": 2, "bob@corp.example": 2, "": 1}; fmt.Sprint(groups) != fmt.Sprint(want) {
		t.Errorf("grouped by actor: %v, want %v", groups, want)
	}
	var owners []string
	err := s.AggregateBuckets(ctx, mustParse(t, "file_id:f-addr*"), store.BucketSpec{Fields: []string{"owner"}, Width: time.Hour, Measure: "count"},
		func(r store.BucketRow) error {
			owners = append(owners, fmt.Sprintf("%s/%s:%d", r.Actor, r.Keys[0], r.Value))
			return nil
		})
	noErr(t, err)
	sort.Strings(owners)
	if want := "/bob@corp.example:1 Alice@Corp.example/Alice@Corp.example:1 alice@corp.example/:1 alice@corp.example/x@partner.example:1 bob@corp.example/Bob@corp.example:1 bob@corp.example/alice@corp.example:1"; strings.Join(owners, " ") != want {
		t.Errorf("buckets by actor and owner: %s, want %s", strings.Join(owners, " "), want)
	}
	var known []string
	people, _ := ok2(s.ListKnownPeople(ctx, "", 100))(t)
	for _, p := range people {
		known = append(known, p.Email)
	}
	// actors only, folded: an address that is only an owner is not a known person
	if !slices.Contains(known, "alice@corp.example") || !slices.Contains(known, "bob@corp.example") || slices.Contains(known, "x@partner.example") {
		t.Errorf("known people: %v", known)
	}
}

// testEventAddresses: the actor and owner as ids into addresses (migration 0044) read back,
// search, group and list as the texts did; a spelling is stored once however many events use
// it; and an address added by a transaction that rolls back is not taken for stored.
func testEventAddresses(t *testing.T, s store.Store) {
	c := mkConn(t, s, "c")
	t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	evs := addressEvents(c.ID, t0)
	if n := ok(s.InsertEvents(ctx, evs, false))(t); n != len(evs) {
		t.Fatalf("stored %d of %d", n, len(evs))
	}
	checkAddressEvents(t, s, evs)
	count := func() (n int64) {
		t.Helper()
		w, isRaw := s.(interface{ Writer() *sql.DB })
		if !isRaw {
			t.Fatalf("the store %T gives no raw database handle", s)
		}
		noErr(t, w.Writer().QueryRowContext(ctx, `SELECT COUNT(*) FROM addresses`).Scan(&n))
		return n
	}
	if n := count(); n != 5 { // Alice@Corp, alice@corp, x@partner, bob@corp, Bob@corp
		t.Errorf("%d addresses stored, want 5", n)
	}
	// Again, and updated: no new address.
	more := Event(c.ID, "addr-more", t0.Add(time.Hour))
	more.User.Email, more.File.Owner = "bob@corp.example", "Alice@Corp.example"
	ok(s.InsertEvents(ctx, []*event.FileEvent{more}, false))(t)
	more.File.Owner = "x@partner.example"
	noErr(t, s.UpdateEvent(ctx, more))
	if got := ok(s.GetEvent(ctx, more.Event.ID))(t); got.File.Owner != "x@partner.example" || got.User.Email != "bob@corp.example" {
		t.Errorf("updated event: actor %q owner %q", got.User.Email, got.File.Owner)
	}
	if n := count(); n != 5 {
		t.Errorf("%d addresses after events of known addresses, want 5", n)
	}
	// A new address in a transaction that rolls back, then another new one (SQLite would give it
	// the id the first one had), then the first again: each reads back as itself.
	boom := errors.New("rolled back on purpose")
	ghost := Event(c.ID, "addr-ghost", t0.Add(2*time.Hour))
	ghost.User.Email = "ghost@corp.example"
	err := s.InTx(ctx, func(q store.Queries) error {
		if _, err := q.InsertEvents(ctx, []*event.FileEvent{ghost}, false); err != nil {
			return err
		}
		// read inside the transaction: it sees its own new address, which must not outlive it
		if got, err := q.GetEvent(ctx, ghost.Event.ID); err != nil || got.User.Email != "ghost@corp.example" {
			t.Errorf("the new event read in its transaction: actor %q, %v", got.User.Email, err)
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("the rolled-back transaction: %v", err)
	}
	other := Event(c.ID, "addr-other", t0.Add(3*time.Hour))
	other.User.Email, other.File.Owner = "other@corp.example", "other@corp.example"
	ghost = Event(c.ID, "addr-ghost", t0.Add(2*time.Hour))
	ghost.User.Email = "ghost@corp.example"
	for _, e := range []*event.FileEvent{other, ghost} {
		if n := ok(s.InsertEvents(ctx, []*event.FileEvent{e}, false))(t); n != 1 {
			t.Fatalf("stored %d of 1", n)
		}
	}
	for _, e := range []*event.FileEvent{other, ghost} {
		if got := ok(s.GetEvent(ctx, e.Event.ID))(t); got.User.Email != e.User.Email || got.File.Owner != e.File.Owner {
			t.Errorf("event %s: actor %q owner %q, stored %q %q", e.Event.VendorIDs[0], got.User.Email, got.File.Owner, e.User.Email, e.File.Owner)
		}
	}
	if got := len(ok(s.SearchEvents(ctx, mustParse(t, "actor:ghost@corp.example"), store.SearchOptions{Limit: 10}))(t)); got != 1 {
		t.Errorf("actor:ghost@corp.example: %d events, want 1", got)
	}
}

// EventAddressesMigration checks migration 0044 (the actor and owner as ids into addresses):
// old is a store of the schema before it, writing text; open migrates it.
func EventAddressesMigration(t *testing.T, old store.Store, open func(t *testing.T) store.Store) {
	c := mkConn(t, old, "c")
	evs := addressEvents(c.ID, time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC))
	if n := ok(old.InsertEvents(ctx, evs, false))(t); n != len(evs) {
		t.Fatalf("stored %d of %d events before the migration", n, len(evs))
	}
	s := open(t)
	checkAddressEvents(t, s, evs)
	// After it, an event of an address the migration stored gets its id.
	more := Event(c.ID, "addr-after", time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC))
	more.User.Email, more.File.Owner = "Alice@Corp.example", "x@partner.example"
	ok(s.InsertEvents(ctx, []*event.FileEvent{more}, false))(t)
	if got := len(ok(s.SearchEvents(ctx, mustParse(t, "actor:alice@corp.example"), store.SearchOptions{Limit: 10}))(t)); got != 4 {
		t.Errorf("actor:alice@corp.example after a new event: %d, want 4", got)
	}
	w := s.(interface{ Writer() *sql.DB }).Writer()
	var n int64
	noErr(t, w.QueryRowContext(ctx, `SELECT COUNT(*) FROM addresses`).Scan(&n))
	if n != 5 {
		t.Errorf("%d addresses after the migration and a new event of known ones, want 5", n)
	}
}
