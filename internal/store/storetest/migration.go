package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/search"
	"github.com/telltale-dev/telltale/internal/store"
)

// SearchIndexMigration checks migration 0005 (the search indexes) on a database that already holds
// events: old is the database migrated only up to 0004; reopen opens it again with every migration.
// Events stored before the migration are found by name substring (the trigram index is built from
// the existing rows), actor and exposure; events stored and deleted after it too (the triggers on
// SQLite). Each search must return exactly the events search.Match accepts, in order.
func SearchIndexMigration(t *testing.T, old store.Store, reopen func(t *testing.T) store.Store) {
	t.Helper()
	names := []string{"Budget-Q3.xlsx", "budget plan.docx", "Ärger-Überblick.pdf", "100%_done.csv", `back\slash.txt`, "Q3", "roadmap.pptx", "BUDGET.XLSX"}
	actors := []string{"alice@corp.example", "Alice@Corp.Example", "bob@corp.example", ""}
	base := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	mk := func(conn int64, i int) *event.FileEvent {
		e := Event(conn, fmt.Sprintf("mig-%d-%d", conn, i), base.Add(time.Duration(i)*time.Minute))
		e.File.Name, e.User.Email = names[i%len(names)], actors[i%len(actors)]
		if i%5 == 0 {
			e.Event.Action = event.ActionShared
			e.Sharing = event.Sharing{LinkScope: event.LinkAnyone, Exposure: []event.Exposure{event.ExposurePublicLink}}
		}
		return e
	}
	c1, c2 := mkConn(t, old, "one"), mkConn(t, old, "two")
	var before []*event.FileEvent
	for i := range 200 {
		before = append(before, mk(c1.ID, i), mk(c2.ID, i))
	}
	ok(old.InsertEvents(ctx, before, false))(t)
	noErr(t, old.Close())

	s := reopen(t)
	t.Cleanup(func() { s.Close() })
	queries := []string{"name:*budget*", "name:*BUDGET*", "budget", "name:*100%_do*", `name:*\\slash*`, "name:*ärger*", "name:*Ärger*",
		"name:*q3*", "name:q3", "name:budget.xlsx", "NOT name:*udg*", "actor:alice@corp.example", "actor:ALICE@corp.example observed>=2026-11-20T01:00Z",
		"exposure:public_link", "exposure:public_link after:2026-11-20T02:00Z", "NOT exposure:public_link name:*plan*"}
	check := func(stage string) {
		t.Helper()
		all := ok(s.ListEvents(ctx, store.EventFilter{Limit: 100000}))(t)
		for _, text := range queries {
			q := mustParse(t, text)
			var want []int64
			for i := range all {
				if search.Match(q, &all[i]) {
					want = append(want, all[i].Event.ID)
				}
			}
			slices.Reverse(want) // ListEvents is in id order; the search below is newest id first
			got := []int64{}
			for _, e := range ok(s.SearchEvents(ctx, q, store.SearchOptions{Sort: store.SortID, Desc: true, Limit: 10000}))(t) {
				got = append(got, e.Event.ID)
			}
			if want == nil {
				want = []int64{}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s: %q: SQL and Match differ (-match +sql):\n%s", stage, text, diff)
			}
			if n, _ := ok2(s.CountSearch(ctx, q, 0, false))(t); n != int64(len(want)) {
				t.Errorf("%s: %q: count %d, want %d", stage, text, n, len(want))
			}
		}
	}
	check("after the migration")

	var after []*event.FileEvent
	for i := 200; i < 300; i++ {
		after = append(after, mk(c1.ID, i))
	}
	ok(s.InsertEvents(ctx, after, false))(t)
	ok(s.DeleteConnectionEvents(ctx, c2.ID, 100000))(t)
	check("after inserting and deleting")
}
