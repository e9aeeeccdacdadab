package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/search"
	"github.com/telltale-dev/telltale/internal/store"
)

// testEventVocabularies: the closed vocabularies (action, service, category, link scope,
// severity; stored as small codes since migration 0039) keep every value: each reads back, is
// found by an equality search and buckets under its own text. A value outside its list (a
// category is not validated; a newer node may know more actions) is stored, read back, found by a
// term naming it and bucketed under its text too, and matches no term naming a listed value.
func testEventVocabularies(t *testing.T, s store.Store) {
	c := mkConn(t, s, "c")
	t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	type field struct {
		name   string // search field and bucket field
		values []string
		set    func(e *event.FileEvent, v string)
	}
	fields := []field{
		{"action", names(event.Actions()), func(e *event.FileEvent, v string) { e.Event.Action = event.Action(v) }},
		{"service", names(event.Observers()), func(e *event.FileEvent, v string) { e.Event.Observer = event.Observer(v) }},
		{"category", names(event.Categories()), func(e *event.FileEvent, v string) { e.File.Category = event.Category(v) }},
		{"link", []string{"anyone", "organization", "specific", "none"}, func(e *event.FileEvent, v string) { e.Sharing.LinkScope = event.LinkScope(v) }},
		{"severity", names(event.Severities()), func(e *event.FileEvent, v string) { e.Risk.Severity = event.Severity(v) }},
	}
	const outside = "outside-the-list"
	n := 0
	for fi, f := range fields {
		var evs []*event.FileEvent
		for _, v := range append(f.values, outside) {
			e := Event(c.ID, fmt.Sprintf("%s-%s", f.name, v), t0.Add(time.Duration(n)*time.Minute))
			e.File.Category, e.Risk.Severity = "", ""
			f.set(e, v)
			evs = append(evs, e)
			n++
		}
		ok(s.InsertEvents(ctx, evs, false))(t)
		own := map[int64]bool{}
		for _, e := range evs {
			own[e.Event.ID] = true
		}
		for i, e := range evs {
			got := ok(s.GetEvent(ctx, e.Event.ID))(t)
			v := append(f.values, outside)[i]
			if g := []string{string(got.Event.Action), string(got.Event.Observer), string(got.File.Category), string(got.Sharing.LinkScope), string(got.Risk.Severity)}[fi]; g != v {
				t.Errorf("%s %q read back as %q", f.name, v, g)
			}
			// an equality term (built directly: the parser refuses a value outside the list)
			term := &search.Term{Field: f.name, Op: search.OpEq, Value: v}
			if f.name == "severity" {
				if v == outside {
					continue // severity terms compare ranks; no rank names the outside value
				}
				term.Num = int64(event.Severity(v).Rank())
			}
			res := ok(s.SearchEvents(ctx, search.Query{Root: term}, store.SearchOptions{Limit: 1000}))(t)
			// of this field's events (the others carry Event's defaults: file-modified, box, no
			// category, link or severity), the term finds exactly the one with its value
			var found []int64
			for _, r := range res {
				if own[r.Event.ID] {
					found = append(found, r.Event.ID)
				}
			}
			if len(found) != 1 || found[0] != e.Event.ID {
				t.Errorf("%s:%s found %v of this field's events, want [%d]", f.name, v, found, e.Event.ID)
			}
		}
		// buckets label each value with its text, the outside one included
		labels := map[string]int64{}
		q := search.Query{Root: &search.Term{Field: "id", Op: search.OpGe, Num: evs[0].Event.ID}}
		err := s.AggregateBuckets(ctx, q, store.BucketSpec{Fields: []string{f.name}, Width: 24 * time.Hour, Measure: "count"}, func(r store.BucketRow) error {
			labels[r.Keys[0]] += r.Value
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range append(f.values, outside) {
			if labels[v] < 1 {
				t.Errorf("%s buckets %v: no %q", f.name, labels, v)
			}
		}
	}
	// grouping by action names an action outside the list by its text
	g := ok(s.GroupEvents(ctx, search.Query{Root: &search.Term{Field: "action", Op: search.OpEq, Value: outside}}, store.GroupAction, 10))(t)
	if len(g) != 1 || g[0].Key != outside || g[0].Count != 1 {
		t.Errorf("grouped by action: %+v", g)
	}
}

func names[T ~string](vs []T) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = string(v)
	}
	return out
}

// EventCodesMigration: migration 0039 turns the vocabularies' text into codes. old is a store of
// the schema before it (writing text); open opens the store, which migrates. Every value of every
// vocabulary, and values outside the lists, read back as they were stored, and equality terms find
// them after the migration as before.
func EventCodesMigration(t *testing.T, old store.Store, open func(t *testing.T) store.Store) {
	c := mkConn(t, old, "c")
	t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	var evs []*event.FileEvent
	add := func(f func(e *event.FileEvent)) {
		e := Event(c.ID, fmt.Sprint("v", len(evs)), t0.Add(time.Duration(len(evs))*time.Minute))
		f(e)
		evs = append(evs, e)
	}
	for _, a := range event.Actions() {
		add(func(e *event.FileEvent) { e.Event.Action = a })
	}
	for _, o := range event.Observers() {
		add(func(e *event.FileEvent) { e.Event.Observer = o })
	}
	for _, k := range event.Categories() {
		add(func(e *event.FileEvent) { e.File.Category = k })
	}
	for _, l := range []event.LinkScope{event.LinkAnyone, event.LinkOrganization, event.LinkSpecific, event.LinkNone} {
		add(func(e *event.FileEvent) { e.Sharing.LinkScope = l })
	}
	for _, s := range event.Severities() {
		add(func(e *event.FileEvent) { e.Risk.Severity = s })
	}
	add(func(e *event.FileEvent) {
		e.Event.Action, e.File.Category, e.Risk.Severity = "file-printed", "hologram", "catastrophic"
		e.Sharing.LinkScope, e.Sharing.SharedWith = "galaxy", []string{"x@gmail.com"}
	})
	if n := ok(old.InsertEvents(ctx, evs, false))(t); n != len(evs) {
		t.Fatalf("stored %d of %d events before the migration", n, len(evs))
	}
	s := open(t)
	for _, e := range evs {
		got := ok(s.GetEvent(ctx, e.Event.ID))(t)
		if got.Event.Action != e.Event.Action || got.Event.Observer != e.Event.Observer || got.File.Category != e.File.Category ||
			got.Sharing.LinkScope != e.Sharing.LinkScope || got.Risk.Severity != e.Risk.Severity || got.File.Name != e.File.Name ||
			len(got.Sharing.SharedWith) != len(e.Sharing.SharedWith) {
			t.Errorf("event %d after the migration: %+v %+v %+v, was %+v %+v %+v", e.Event.ID, got.Event, got.File, got.Risk, e.Event, e.File, e.Risk)
		}
	}
	for q, want := range map[string]int{"action:file-shared": 1, "service:gmail": 1, "category:pdf": 1, "link:anyone": 1,
		"severity:high": 1, "severity>=moderate": 3, "action:file-modified service:box": 25} {
		if got := len(ok(s.SearchEvents(ctx, mustParse(t, q), store.SearchOptions{Limit: 1000}))(t)); got != want {
			t.Errorf("%s after the migration: %d events, want %d", q, got, want)
		}
	}
	if got := ok(s.SearchEvents(ctx, search.Query{Root: &search.Term{Field: "category", Op: search.OpEq, Value: "hologram"}}, store.SearchOptions{Limit: 10}))(t); len(got) != 1 || got[0].Event.ID != evs[len(evs)-1].Event.ID {
		t.Errorf("category:hologram after the migration: %d events", len(got))
	}
}
