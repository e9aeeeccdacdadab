package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/store"
)

// testWatchlists: the built-in watchlists exist from the migration, custom ones have unique names,
// members are added (an address once per list, lower case), updated, listed by address with
// paging, removed; the memberships list every list of every person, and the revision moves with
// every change and only then.
func testWatchlists(t *testing.T, s store.Store) {
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	all := ok(s.ListWatchlists(ctx))(t)
	want := []string{"departing_employee", "flight_risk", "contractor", "new_hire", "elevated_access", "high_impact", "performance_concerns", "poor_security_practices"}
	if len(all) != len(want) {
		t.Fatalf("built-in watchlists %+v", all)
	}
	for i, w := range all {
		if w.Type != want[i] || w.Name != want[i] || w.Members != 0 || w.CreatedBy != "system" {
			t.Errorf("built-in %d: %+v", i, w)
		}
	}
	dep := all[0]
	rev := ok(s.WatchlistRevision(ctx))(t)
	moved := func(what string) {
		t.Helper()
		r := ok(s.WatchlistRevision(ctx))(t)
		if r == rev {
			t.Errorf("%s: the revision did not move from %d", what, rev)
		}
		rev = r
	}
	c := ok(s.CreateWatchlist(ctx, store.Watchlist{Type: "custom", Name: " Project X ", Description: "the merger", CreatedBy: "ann", CreatedAt: t0}))(t)
	if c.ID == 0 || c.Name != "Project X" || c.Type != "custom" || !c.CreatedAt.Equal(t0) || c.CreatedBy != "ann" {
		t.Fatalf("created %+v", c)
	}
	moved("create")
	if _, err := s.CreateWatchlist(ctx, store.Watchlist{Type: "custom", Name: "project x"}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("taken name: %v, want ErrConflict", err)
	}
	if _, err := s.CreateWatchlist(ctx, store.Watchlist{Type: "custom", Name: "Departing_Employee"}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("a built-in list's name: %v, want ErrConflict", err)
	}
	rev = ok(s.WatchlistRevision(ctx))(t)

	n := ok(s.PutWatchlistMembers(ctx, dep.ID, []store.WatchlistMember{
		{Email: "Bob@Corp.Example", DepartureDate: "2026-12-31", Notes: "resigned", AddedBy: "ann", AddedAt: t0},
		{Email: "alice@corp.example", AddedBy: "ann", AddedAt: t0},
	}))(t)
	if n != 2 {
		t.Errorf("added %d, want 2", n)
	}
	moved("add")
	// Again: bob's date and notes change, he is not added twice, his added_by stays.
	n = ok(s.PutWatchlistMembers(ctx, dep.ID, []store.WatchlistMember{{Email: "bob@corp.example", DepartureDate: "2027-01-15", Notes: "moved", AddedBy: "zed", AddedAt: t0.Add(time.Hour)}}))(t)
	if n != 0 {
		t.Errorf("added %d on an update, want 0", n)
	}
	moved("update")
	ok(s.PutWatchlistMembers(ctx, c.ID, []store.WatchlistMember{{Email: "bob@corp.example", AddedBy: "ann"}}))(t)
	if _, err := s.PutWatchlistMembers(ctx, 9999, []store.WatchlistMember{{Email: "x@corp.example"}}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("members of a missing list: %v, want ErrNotFound", err)
	}
	ms := ok(s.ListWatchlistMembers(ctx, dep.ID, "", 0))(t)
	if len(ms) != 2 || ms[0].Email != "alice@corp.example" || ms[1].Email != "bob@corp.example" || ms[1].DepartureDate != "2027-01-15" ||
		ms[1].Notes != "moved" || ms[1].AddedBy != "ann" || !ms[1].AddedAt.Equal(t0) || ms[0].WatchlistID != dep.ID {
		t.Errorf("members %+v", ms)
	}
	if p := ok(s.ListWatchlistMembers(ctx, dep.ID, "alice@corp.example", 1))(t); len(p) != 1 || p[0].Email != "bob@corp.example" {
		t.Errorf("second page %+v", p)
	}
	if pm := ok(s.ListPersonMemberships(ctx, "BOB@corp.example"))(t); len(pm) != 2 || pm[0].WatchlistID != dep.ID || pm[0].DepartureDate != "2027-01-15" || pm[1].WatchlistID != c.ID {
		t.Errorf("bob's memberships %+v", pm)
	}
	if w := ok(s.GetWatchlist(ctx, dep.ID))(t); w.Members != 2 || w.Type != "departing_employee" {
		t.Errorf("get %+v", w)
	}
	if _, err := s.GetWatchlist(ctx, 9999); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing list: %v", err)
	}
	got := ok(s.ListWatchlistMemberships(ctx))(t)
	mk := func(email string, w store.Watchlist) store.WatchlistMembership {
		return store.WatchlistMembership{Email: email, WatchlistID: w.ID, Type: w.Type, Name: w.Name}
	}
	wantM := []store.WatchlistMembership{mk("alice@corp.example", dep), mk("bob@corp.example", dep), mk("bob@corp.example", c)}
	if len(got) != len(wantM) {
		t.Fatalf("memberships %+v", got)
	}
	for i := range got {
		if got[i] != wantM[i] {
			t.Errorf("membership %d: %+v, want %+v", i, got[i], wantM[i])
		}
	}
	rev = ok(s.WatchlistRevision(ctx))(t)
	if r := ok(s.WatchlistRevision(ctx))(t); r != rev {
		t.Errorf("the revision moved without a change")
	}
	if n := ok(s.RemoveWatchlistMembers(ctx, dep.ID, []string{"BOB@corp.example", "nobody@corp.example"}))(t); n != 1 {
		t.Errorf("removed %d, want 1", n)
	}
	moved("remove")
	if ms := ok(s.ListWatchlistMembers(ctx, dep.ID, "", 0))(t); len(ms) != 1 || ms[0].Email != "alice@corp.example" {
		t.Errorf("after remove %+v", ms)
	}
	if l := ok(s.ListWatchlists(ctx))(t); len(l) != 9 || l[0].Members != 1 || l[8].Members != 1 || l[8].ID != c.ID {
		t.Errorf("list %+v", l)
	}
	// In a transaction that rolls back, nothing changes.
	boom := errors.New("boom")
	err := s.InTx(ctx, func(q store.Queries) error {
		if _, err := q.PutWatchlistMembers(ctx, dep.ID, []store.WatchlistMember{{Email: "carol@corp.example"}}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if ms := ok(s.ListWatchlistMembers(ctx, dep.ID, "", 0))(t); len(ms) != 1 {
		t.Errorf("rolled back add kept %+v", ms)
	}
}
