package storetest

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/search"
	"github.com/telltale-dev/telltale/internal/store"
)

func mustParse(t *testing.T, q string) search.Query {
	t.Helper()
	p, err := search.Parse(q, time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatalf("parse %q: %v", q, err)
	}
	return p
}

// testCountGroup: counts with a cap, and groups by each dimension.
func testCountGroup(t *testing.T, s store.Store) {
	c := mkConn(t, s, "c")
	t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	var evs []*event.FileEvent
	for i := range 30 {
		e := Event(c.ID, fmt.Sprint("v", i), t0.Add(time.Duration(i)*2*time.Hour))
		e.User.Email = []string{"ann@corp.example", "bob@corp.example", "ann@corp.example"}[i%3]
		e.Event.Action = []event.Action{event.ActionShared, event.ActionModified}[i%2]
		e.File.ID, e.File.Name = fmt.Sprint("f", i%4), fmt.Sprintf("doc%d.xlsx", i%4)
		if e.Event.Action == event.ActionShared {
			e.Sharing.SharedWith = []string{"x@gmail.com", "y@GMAIL.com", "z@partner.example"}[:1+i%3]
		}
		evs = append(evs, e)
	}
	ok(s.InsertEvents(ctx, evs, false))(t)
	if n, capped := ok2(s.CountSearch(ctx, mustParse(t, "actor:ann@corp.example"), 0, false))(t); n != 20 || capped {
		t.Errorf("count ann: %d capped %v", n, capped)
	}
	if n, capped := ok2(s.CountSearch(ctx, search.Query{}, 10, false))(t); n != 10 || !capped {
		t.Errorf("capped count: %d %v", n, capped)
	}
	// Within a budget: the same counts when there is time, a lower bound (capped) when there is not.
	if n, capped := ok2(s.CountSearchWithin(ctx, mustParse(t, "actor:ann@corp.example"), 100, time.Minute))(t); n != 20 || capped {
		t.Errorf("count ann within a minute: %d capped %v", n, capped)
	}
	if n, capped := ok2(s.CountSearchWithin(ctx, search.Query{}, 10, time.Minute))(t); n != 10 || !capped {
		t.Errorf("capped count within a minute: %d %v", n, capped)
	}
	if n, capped := ok2(s.CountSearchWithin(ctx, search.Query{}, 100, time.Nanosecond))(t); !capped || n > 30 {
		t.Errorf("count with no time: %d capped %v, want a lower bound", n, capped)
	}
	groups := ok(s.GroupEvents(ctx, search.Query{}, store.GroupActor, 10))(t)
	if len(groups) != 2 || groups[0] != (store.GroupCount{Key: "ann@corp.example", Count: 20}) {
		t.Errorf("by actor: %+v", groups)
	}
	if g := ok(s.GroupEvents(ctx, mustParse(t, "action:file-shared"), store.GroupAction, 10))(t); len(g) != 1 || g[0].Count != 15 {
		t.Errorf("by action: %+v", g)
	}
	if g := ok(s.GroupEvents(ctx, search.Query{}, store.GroupDay, 10))(t); len(g) != 3 || g[0].Key != "2026-11-21" || g[0].Count != 12 {
		t.Errorf("by day: %+v", g) // 10:00 on the 20th every 2 h: 7 on the 20th, 12 on the 21st, 11 on the 22nd
	}
	if g := ok(s.GroupEvents(ctx, search.Query{}, store.GroupFile, 1))(t); len(g) != 1 || g[0].Label == "" || g[0].Count < 7 {
		t.Errorf("by file: %+v", g)
	}
	// Destination domains: each event counts once per domain, case-insensitively.
	g := ok(s.GroupEvents(ctx, search.Query{}, store.GroupDestination, 10))(t)
	if len(g) != 2 || g[0] != (store.GroupCount{Key: "gmail.com", Count: 15}) || g[1] != (store.GroupCount{Key: "partner.example", Count: 5}) {
		t.Errorf("by destination: %+v", g)
	}
	if _, err := s.GroupEvents(ctx, search.Query{}, "colour", 10); err == nil {
		t.Errorf("unknown dimension accepted")
	}
}

// testSearchRisk: risk.severity, risk.score and risk.indicator find the events ingest scored,
// and an event stored before risk existed (no severity) matches no severity or score term.
func testSearchRisk(t *testing.T, s store.Store) {
	c := mkConn(t, s, "c")
	t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	mk := func(v string, score int, sev event.Severity, inds ...string) *event.FileEvent {
		e := Event(c.ID, v, t0)
		e.Risk = event.Risk{Score: score, Severity: sev, Indicators: inds}
		for _, i := range inds {
			e.Risk.Reasons = append(e.Risk.Reasons, event.Reason{Indicator: i, Weight: 1, Why: "because"})
		}
		return e
	}
	evs := []*event.FileEvent{
		mk("high", 8, event.SeverityHigh, "public_link", "off_hours", "category_source_code"),
		mk("low", 1, event.SeverityLow, "off_hours"),
		mk("none", 0, event.SeverityNone),
		mk("old", 0, ""),
		mk("trusted", 0, event.SeverityNone),
	}
	evs[4].Risk.Trusted, evs[4].Risk.TrustReason = true, "every destination is in a trusted domain (corp.example)"
	ok(s.InsertEvents(ctx, evs, false))(t)
	for q, want := range map[string][]string{
		"risk.severity:high":                     {"high"},
		"risk.score>=7":                          {"high"},
		"risk.score:0":                           {"none", "trusted"},
		"NOT risk.score>=1":                      {"none", "old", "trusted"},
		"risk.indicator:off_hours":               {"high", "low"},
		"risk.indicator:category-source-code":    {"high"},
		"NOT risk.indicator:off_hours":           {"none", "old", "trusted"},
		"trusted:true":                           {"trusted"},
		"risk.severity>=low -risk.indicator:off": nil,
	} {
		if q == "risk.severity>=low -risk.indicator:off" {
			if _, err := search.Parse(q, t0); err == nil {
				t.Errorf("%q: an unknown indicator was accepted", q)
			}
			continue
		}
		got := ok(s.SearchEvents(ctx, mustParse(t, q), store.SearchOptions{Sort: store.SortID}))(t)
		var names []string
		for _, e := range got {
			names = append(names, e.Event.VendorIDs[0])
		}
		if fmt.Sprint(names) != fmt.Sprint(want) {
			t.Errorf("%q: %v, want %v", q, names, want)
		}
	}
	got := ok(s.SearchEvents(ctx, mustParse(t, "risk.severity:high"), store.SearchOptions{}))(t)
	if len(got) != 1 || len(got[0].Risk.Reasons) != 3 || got[0].Risk.Reasons[0] != (event.Reason{Indicator: "public_link", Weight: 1, Why: "because"}) {
		t.Errorf("the reasons did not come back: %+v", got)
	}
}

func ok2[A, B any](a A, b B, err error) func(t *testing.T) (A, B) {
	return func(t *testing.T) (A, B) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return a, b
	}
}

func testSavedSearches(t *testing.T, s store.Store) {
	a := ok(s.CreateSavedSearch(ctx, store.SavedSearch{Name: " Public links ", Query: "exposure:public_link", Owner: "ann"}))(t)
	if a.ID == 0 || a.Name != "Public links" || a.CreatedAt.IsZero() {
		t.Errorf("created %+v", a)
	}
	if _, err := s.CreateSavedSearch(ctx, store.SavedSearch{Name: "public LINKS", Query: "x"}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("duplicate name: %v", err)
	}
	b := ok(s.CreateSavedSearch(ctx, store.SavedSearch{Name: "Alpha", Query: "actor:a@x.com"}))(t)
	if l := ok(s.ListSavedSearches(ctx))(t); len(l) != 2 || l[0].ID != b.ID {
		t.Errorf("list: %+v", l)
	}
	if g := ok(s.GetSavedSearchByName(ctx, "PUBLIC links"))(t); g.ID != a.ID {
		t.Errorf("by name: %+v", g)
	}
	a.Query = "exposure:public_link after:7d"
	if u := ok(s.UpdateSavedSearch(ctx, a))(t); u.Query != a.Query {
		t.Errorf("update: %+v", u)
	}
	b.Name = "public links"
	if _, err := s.UpdateSavedSearch(ctx, b); !errors.Is(err, store.ErrConflict) {
		t.Errorf("rename onto a taken name: %v", err)
	}
	noErr(t, s.DeleteSavedSearch(ctx, a.ID))
	if _, err := s.GetSavedSearch(ctx, a.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after delete: %v", err)
	}
	if err := s.DeleteSavedSearch(ctx, a.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("delete twice: %v", err)
	}
}

// testCheckpoints: checkpoints have an owner; an acknowledgement never moves one backwards, a reset
// does; every change is a compare-and-set on the owner, so a checkpoint adopted or re-created by
// someone else meanwhile is not changed.
func testCheckpoints(t *testing.T, s store.Store) {
	if _, err := s.GetCheckpoint(ctx, "siem"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing checkpoint: %v", err)
	}
	c := ok(s.CreateCheckpoint(ctx, store.Checkpoint{Name: "siem", AfterID: 40, OwnerID: 7}))(t)
	if c.Name != "siem" || c.AfterID != 40 || c.OwnerID != 7 || c.UpdatedAt.IsZero() {
		t.Errorf("created %+v", c)
	}
	if _, err := s.CreateCheckpoint(ctx, store.Checkpoint{Name: "siem", AfterID: 1, OwnerID: 8}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("create a taken name: %v", err)
	}
	if c := ok(s.UpdateCheckpoint(ctx, store.Checkpoint{Name: "siem", AfterID: 12, OwnerID: 7}, 7, true))(t); c.AfterID != 40 {
		t.Errorf("an acknowledgement moved the checkpoint back: %+v", c)
	}
	if c := ok(s.UpdateCheckpoint(ctx, store.Checkpoint{Name: "siem", AfterID: 55, OwnerID: 7}, 7, true))(t); c.AfterID != 55 {
		t.Errorf("acknowledge forward: %+v", c)
	}
	if c := ok(s.UpdateCheckpoint(ctx, store.Checkpoint{Name: "siem", AfterID: 12, OwnerID: 7}, 7, false))(t); c.AfterID != 12 {
		t.Errorf("reset: %+v", c)
	}
	if _, err := s.UpdateCheckpoint(ctx, store.Checkpoint{Name: "siem", AfterID: 99, OwnerID: 8}, 8, true); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("update by a non-owner: %v", err)
	}
	if _, err := s.UpdateCheckpoint(ctx, store.Checkpoint{Name: "nope", AfterID: 1}, 0, true); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("update a missing checkpoint: %v", err)
	}
	// Adoption of a checkpoint without an owner happens once.
	ok(s.CreateCheckpoint(ctx, store.Checkpoint{Name: "legacy", AfterID: 3}))(t)
	if c := ok(s.UpdateCheckpoint(ctx, store.Checkpoint{Name: "legacy", AfterID: 3, OwnerID: 9}, 0, true))(t); c.OwnerID != 9 {
		t.Errorf("adopt: %+v", c)
	}
	if _, err := s.UpdateCheckpoint(ctx, store.Checkpoint{Name: "legacy", AfterID: 3, OwnerID: 10}, 0, true); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second adoption: %v", err)
	}
	l := ok(s.ListCheckpoints(ctx))(t)
	if len(l) != 2 || l[0].Name != "legacy" || l[0].OwnerID != 9 || l[1].Name != "siem" || l[1].AfterID != 12 || l[1].OwnerID != 7 {
		t.Errorf("list: %+v", l)
	}
	noErr(t, s.DeleteCheckpoint(ctx, "siem"))
	if _, err := s.GetCheckpoint(ctx, "siem"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after delete: %v", err)
	}
	if err := s.DeleteCheckpoint(ctx, "siem"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("delete twice: %v", err)
	}

	// The newest event id handed out bounds acknowledgements, and does not go back when the newest
	// events are deleted.
	if n := ok(s.NewestEventID(ctx))(t); n != 0 {
		t.Errorf("newest event id of an empty store: %d", n)
	}
	keep, gone := mkConn(t, s, "keep"), mkConn(t, s, "gone")
	base := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	ok(s.InsertEvents(ctx, []*event.FileEvent{Event(keep.ID, "k1", base)}, false))(t)
	ok(s.InsertEvents(ctx, []*event.FileEvent{Event(gone.ID, "g1", base), Event(gone.ID, "g2", base)}, false))(t)
	all := ok(s.ListEvents(ctx, store.EventFilter{Limit: 10}))(t)
	top := all[len(all)-1].Event.ID
	if n := ok(s.NewestEventID(ctx))(t); n != top {
		t.Errorf("newest event id %d, want %d", n, top)
	}
	ok(s.DeleteConnectionEvents(ctx, gone.ID, 0))(t)
	if n := ok(s.NewestEventID(ctx))(t); n != top {
		t.Errorf("newest event id after deleting the newest events %d, want %d", n, top)
	}
}

// CheckpointOwnerMigration checks migration 0008 on a database that holds a checkpoint from before
// it: old is the database migrated up to 0007, exec runs SQL on it; reopen opens it again with every
// migration. The checkpoint keeps its position and has no owner (0).
func CheckpointOwnerMigration(t *testing.T, old store.Store, exec func(query string) error, reopen func(t *testing.T) store.Store) {
	t.Helper()
	noErr(t, exec(`INSERT INTO export_checkpoints (name, after_id, updated_at) VALUES ('siem', 40, 1)`))
	noErr(t, old.Close())
	s := reopen(t)
	t.Cleanup(func() { s.Close() })
	c := ok(s.GetCheckpoint(ctx, "siem"))(t)
	if c.AfterID != 40 || c.OwnerID != 0 {
		t.Errorf("checkpoint after migration 0008: %+v, want after_id 40 and no owner", c)
	}
}

// testAggregateBuckets: the matching events measured per actor, fields and time bucket (count,
// distinct files, positive bytes), held and non-matching events left out, and bad specs refused.
func testAggregateBuckets(t *testing.T, s store.Store) {
	c := mkConn(t, s, "c")
	t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	var evs []*event.FileEvent
	for i := range 12 {
		e := Event(c.ID, fmt.Sprint("v", i), t0.Add(time.Duration(i)*20*time.Minute)) // 3 an hour, 4 hours
		e.User.Email = []string{"Ann@corp.example", "bob@corp.example"}[i%2]
		e.Event.Action = event.ActionDownloaded
		e.File.ID, e.File.Size = fmt.Sprint("f", i%3), int64(100*i)
		if i == 11 {
			e.Event.Action = event.ActionModified
		}
		evs = append(evs, e)
	}
	ok(s.InsertEvents(ctx, evs, false))(t)
	held := Event(c.ID, "held", t0)
	held.Event.Action = event.ActionDownloaded
	ok(s.InsertEvents(ctx, []*event.FileEvent{held}, true))(t)
	collect := func(q string, spec store.BucketSpec) map[string]int64 {
		t.Helper()
		out := map[string]int64{}
		noErr(t, s.AggregateBuckets(ctx, mustParse(t, q), spec, func(r store.BucketRow) error {
			start := time.UnixMicro(r.Bucket * spec.Width.Microseconds()) // the bucket's start, in hours after t0
			k := fmt.Sprintf("%s|%s|%d", r.Actor, strings.Join(r.Keys, ","), int(start.Sub(t0).Hours()))
			out[k] += r.Value
			return nil
		}))
		return out
	}
	want := func(name string, got, want map[string]int64) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: %v, want %v", name, got, want)
		}
	}
	hour := store.BucketSpec{Width: time.Hour, Measure: "count"}
	want("count", collect("action:downloaded", hour), map[string]int64{
		"Ann@corp.example||0": 2, "bob@corp.example||0": 1, "Ann@corp.example||1": 1, "bob@corp.example||1": 2,
		"Ann@corp.example||2": 2, "bob@corp.example||2": 1, "Ann@corp.example||3": 1, "bob@corp.example||3": 1})
	files := store.BucketSpec{Width: 2 * time.Hour, Measure: "files", Fields: []string{"action", "connection"}}
	want("files", collect("action:downloaded", files), map[string]int64{
		fmt.Sprintf("Ann@corp.example|file-downloaded,%d|0", c.ID): 3, fmt.Sprintf("bob@corp.example|file-downloaded,%d|0", c.ID): 3,
		fmt.Sprintf("Ann@corp.example|file-downloaded,%d|2", c.ID): 3, fmt.Sprintf("bob@corp.example|file-downloaded,%d|2", c.ID): 2})
	bytes := store.BucketSpec{Width: 4 * time.Hour, Measure: "bytes"}
	want("bytes", collect("actor:ann@corp.example", bytes), map[string]int64{"Ann@corp.example||-2": 100 * (0 + 2 + 4), "Ann@corp.example||2": 100 * (6 + 8 + 10)})
	for _, bad := range []store.BucketSpec{{Width: time.Hour, Measure: "sum"}, {Width: time.Millisecond, Measure: "count"},
		{Width: time.Hour, Measure: "count", Fields: []string{"recipient"}}} {
		if err := s.AggregateBuckets(ctx, search.Query{}, bad, func(store.BucketRow) error { return nil }); err == nil {
			t.Errorf("%+v was not refused", bad)
		}
	}
	stop := errors.New("stop")
	if err := s.AggregateBuckets(ctx, search.Query{}, hour, func(store.BucketRow) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("fn's error: %v", err)
	}
}
