package ingest_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/connection"
	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/connector/box"
	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/store"
)

// twoFeeds wraps the Box connector into a vendor that reports actions from two feeds, as Google
// Drive does (changes within seconds, Reports hours later): the test hands it pages of records
// tagged with their feed, which its stream answers in order.
type twoFeeds struct {
	streamWrap
	mu    sync.Mutex
	pages []connector.ChangesPage
	n     int
}

func (f *twoFeeds) Spec() connector.Spec {
	sp := f.streamWrap.Spec()
	sp.StateFeed = "changes"
	return sp
}

func newTwoFeeds() *twoFeeds {
	f := &twoFeeds{}
	f.streamWrap = streamWrap{Connector: box.New(), changes: func(ctx context.Context, inner connector.Session, sp connector.StreamSpec, cursor string) (connector.ChangesPage, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if len(f.pages) == 0 {
			return connector.ChangesPage{Next: cursor}, nil
		}
		p := f.pages[0]
		f.pages = f.pages[1:]
		f.n++
		p.Next = fmt.Sprintf("scripted-%d", f.n)
		return p, nil
	}}
	return f
}

func (f *twoFeeds) push(recs ...connector.Record) {
	f.mu.Lock()
	f.pages = append(f.pages, connector.ChangesPage{Records: recs})
	f.mu.Unlock()
}

// rec is one record of a feed: an action on file by actor at t.
func rec(feed, id string, t time.Time, action event.Action, actor, file string, fill func(e *event.FileEvent)) connector.Record {
	e := event.FileEvent{Timestamp: t, Event: event.Meta{Action: action, Observer: event.ObserverBox, VendorIDs: []string{id}},
		User: event.User{Email: actor}, File: event.File{ID: file, Name: file + ".docx", Path: "/Projects/" + file + ".docx", Directory: "/Projects"}}
	if fill != nil {
		fill(&e)
	}
	return connector.Record{VendorID: id, Feed: feed, Events: []event.FileEvent{e}}
}

func TestMergeTwoFeeds(t *testing.T) {
	f := newTwoFeeds()
	e := newEnv(t, f, true)
	c := e.connect("two feeds", "", nil)
	e.settle(200)
	if got := e.get(c.ID); got.Status != string(connection.Monitoring) {
		t.Fatalf("setup: status %q (%q)", got.Status, got.ErrorReason)
	}
	t0 := e.clock.Now().Add(-time.Hour).Truncate(time.Second)
	run := func(recs ...connector.Record) {
		t.Helper()
		f.push(recs...)
		for i := 0; ; i++ {
			f.mu.Lock()
			left := len(f.pages)
			f.mu.Unlock()
			if left == 0 {
				break
			}
			if i > 20 {
				t.Fatal("the stream did not read the scripted page")
			}
			e.clock.Advance(time.Minute)
			e.settle(50)
		}
	}
	events := func(file string) []event.FileEvent {
		t.Helper()
		all, err := e.store.ListEvents(ctx, store.EventFilter{ConnectionID: c.ID, Limit: 10000})
		if err != nil {
			t.Fatal(err)
		}
		var out []event.FileEvent
		for _, ev := range all {
			if ev.File.ID == file {
				out = append(out, ev)
			}
		}
		return out
	}

	// 1. The change first (seconds after the action), the report hours later: one event, enriched.
	run(rec("changes", "change:f1:1", t0, event.ActionModified, "ann@example.com", "f1", func(ev *event.FileEvent) {
		ev.File.Hash.MD5, ev.File.Size = "0123456789abcdef0123456789abcdef", 2048
	}))
	first := events("f1")
	if len(first) != 1 {
		t.Fatalf("after the change: %d events, want 1", len(first))
	}
	run(rec("reports", "r-1", t0.Add(-2*time.Minute), event.ActionModified, "Ann@Example.com", "f1", func(ev *event.FileEvent) {
		ev.Source.IP, ev.User.VendorID, ev.File.Path = "203.0.113.7", "1044", "/wrong/f1.docx"
	}))
	got := events("f1")
	if len(got) != 1 {
		t.Fatalf("after the report: %d events, want 1 (the report enriches the change's event)", len(got))
	}
	g := got[0]
	if g.Event.ID != first[0].Event.ID || g.Source.IP != "203.0.113.7" || g.User.VendorID != "1044" || g.Event.Count != 1 ||
		!slices.Equal(g.Event.VendorIDs, []string{"change:f1:1", "r-1"}) || !slices.Equal(g.Event.Feeds, []string{"changes", "reports"}) {
		t.Errorf("merged event: %+v", g)
	}
	if g.File.Path != "/Projects/f1.docx" || g.File.Hash.MD5 == "" || !g.Timestamp.Equal(t0) {
		t.Errorf("the change's file state and time must stay (changes is the state feed): path %q md5 %q at %v", g.File.Path, g.File.Hash.MD5, g.Timestamp)
	}
	if !slices.Contains(g.Event.Enriched, event.Provenance{Field: "source.ip", Feed: "reports"}) || slices.ContainsFunc(g.Event.Enriched, func(p event.Provenance) bool { return p.Field == "file.path" }) {
		t.Errorf("provenance: %+v", g.Event.Enriched)
	}
	// The same report again (an overlap window re-read) changes nothing.
	run(rec("reports", "r-1", t0.Add(-2*time.Minute), event.ActionModified, "ann@example.com", "f1", nil))
	if again := events("f1"); len(again) != 1 || len(again[0].Event.VendorIDs) != 2 {
		t.Errorf("a repeated report: %d events, vendor ids %v", len(again), again[0].Event.VendorIDs)
	}
	// A second edit the change feed folded into the same change is its own event.
	run(rec("reports", "r-2", t0.Add(-time.Minute), event.ActionModified, "ann@example.com", "f1", nil))
	if n := len(events("f1")); n != 2 {
		t.Errorf("a second edit: %d events, want 2", n)
	}

	// 2. The report first, then the change: the change's file state replaces the report's.
	run(rec("reports", "r-3", t0, event.ActionMoved, "bo@example.com", "f2", func(ev *event.FileEvent) {
		ev.File.Path, ev.File.Directory, ev.Source.IP = "/Archive/f2.docx", "/Archive", "198.51.100.2"
	}))
	run(rec("changes", "change:f2:1", t0.Add(30*time.Second), event.ActionMoved, "", "f2", func(ev *event.FileEvent) {
		ev.File.Path, ev.File.Directory, ev.File.Size = "/Projects/2026/Archive/f2.docx", "/Projects/2026/Archive", 99
	}))
	if got := events("f2"); len(got) != 1 || got[0].File.Path != "/Projects/2026/Archive/f2.docx" || got[0].File.Size != 99 ||
		got[0].User.Email != "bo@example.com" || got[0].Source.IP != "198.51.100.2" || !got[0].Timestamp.Equal(t0) {
		t.Errorf("report then change: %+v", got)
	} else if !slices.Contains(got[0].Event.Enriched, event.Provenance{Field: "file.path", Feed: "changes"}) {
		t.Errorf("provenance of the path: %+v", got[0].Event.Enriched)
	}

	// 3. Not the same action: another actor, another share target, too far apart, another action.
	run(rec("changes", "change:f3:1", t0, event.ActionModified, "ann@example.com", "f3", nil),
		rec("changes", "change:f3:2", t0, event.ActionShared, "", "f3", func(ev *event.FileEvent) { ev.Sharing.SharedWith = []string{"x@partner.example"} }))
	run(rec("reports", "r-4", t0.Add(time.Minute), event.ActionModified, "bo@example.com", "f3", nil),
		rec("reports", "r-5", t0.Add(time.Minute), event.ActionShared, "ann@example.com", "f3", func(ev *event.FileEvent) { ev.Sharing.SharedWith = []string{"y@partner.example"} }),
		rec("reports", "r-6", t0.Add(11*time.Minute), event.ActionModified, "ann@example.com", "f3", nil),
		rec("reports", "r-7", t0.Add(time.Minute), event.ActionRenamed, "ann@example.com", "f3", nil))
	if n := len(events("f3")); n != 6 {
		t.Errorf("different actions merged: %d events, want 6", n)
	}
	// ... and the share to the same target is one.
	run(rec("reports", "r-8", t0.Add(time.Minute), event.ActionShared, "ann@example.com", "f3", func(ev *event.FileEvent) { ev.Sharing.SharedWith = []string{"X@partner.example"} }))
	if got := events("f3"); len(got) != 6 {
		t.Errorf("the matching share: %d events, want 6", len(got))
	} else {
		for _, ev := range got {
			if ev.Event.Action == event.ActionShared && slices.Equal(ev.Sharing.SharedWith, []string{"x@partner.example"}) && ev.User.Email != "ann@example.com" {
				t.Errorf("the share's actor was not filled from the report: %+v", ev.User)
			}
		}
	}
	if st := e.ingest.Stats(); st.Merged != 3 {
		t.Errorf("Stats.Merged = %d, want 3", st.Merged)
	}
	// The lag of each fresh record, by feed: 4 changes and 8 reports were fresh (r-1 once).
	lag := e.metrics.Histogram("telltale_collect_lag_seconds", "", nil, "connection_id", "service", "feed")
	id := fmt.Sprint(c.ID)
	if ch, rp := lag.Count(id, "box", "changes"), lag.Count(id, "box", "reports"); ch != 4 || rp != 8 {
		t.Errorf("lag observations: changes %d, reports %d; want 4 and 8", ch, rp)
	}
}
