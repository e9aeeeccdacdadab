package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/connection"
	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/connector/box"
	"github.com/telltale-dev/telltale/internal/ingest"
	"github.com/telltale-dev/telltale/internal/store"
)

// twoStreams wraps the Box connector into a vendor with two activity streams: Box's own and a
// "mirror" that reads the same Box stream from its own cursor, and can be made to fail.
type twoStreams struct {
	connector.Connector
	mirrorFails *atomic.Bool
	mirrorReads *atomic.Int64
}

func (t twoStreams) Open(ctx context.Context, cfg connector.Config, deps connector.Deps) (connector.Session, error) {
	s, err := t.Connector.Open(ctx, cfg, deps)
	if err != nil {
		return nil, err
	}
	return twoStreamsSession{s, t}, nil
}

type twoStreamsSession struct {
	connector.Session
	t twoStreams
}

var mirror = connector.StreamSpec{Key: "mirror"}

func (s twoStreamsSession) Streams() []connector.StreamSpec {
	return append(s.Session.Streams(), mirror)
}

func (s twoStreamsSession) StreamStart(ctx context.Context, sp connector.StreamSpec) (string, error) {
	return s.Session.StreamStart(ctx, s.Session.Streams()[0])
}

func (s twoStreamsSession) Changes(ctx context.Context, sp connector.StreamSpec, cursor string) (connector.ChangesPage, error) {
	if sp.Key == mirror.Key {
		s.t.mirrorReads.Add(1)
		if s.t.mirrorFails.Load() {
			return connector.ChangesPage{}, errors.New("mirror: the vendor is down")
		}
	}
	return s.Session.Changes(ctx, s.Session.Streams()[0], cursor)
}

// vendorIDs counts the stored events of a connection by vendor record id.
func (e *env) vendorIDs(conn int64) map[string]int {
	e.t.Helper()
	evs, err := e.store.ListEvents(ctx, store.EventFilter{ConnectionID: conn, Limit: 100000, IncludeHeld: true})
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]int{}
	for _, ev := range evs {
		for _, id := range ev.Event.VendorIDs {
			out[id]++
		}
	}
	return out
}

// TestStreamsHaveTheirOwnCursorsAndUnits (issue 13, contract v2): each stream a connector declares
// gets its own work unit and cursor; a stream that keeps failing does not hold the other back; the
// same records read by two streams are stored once.
func TestStreamsHaveTheirOwnCursorsAndUnits(t *testing.T) {
	ts := twoStreams{Connector: box.New(), mirrorFails: &atomic.Bool{}, mirrorReads: &atomic.Int64{}}
	e := newEnv(t, ts, true)
	c := e.connect("Box two streams", "", nil)
	e.settle(200)
	if got := e.get(c.ID); got.Status != string(connection.Monitoring) {
		t.Fatalf("setup: status %q (%q)", got.Status, got.ErrorReason)
	}
	for _, k := range []string{"admin_logs_streaming", "mirror"} {
		if _, err := e.store.GetWork(ctx, ingest.WorkStream, fmt.Sprint(c.ID, ":", k)); err != nil {
			t.Errorf("no work unit for stream %s: %v", k, err)
		}
		if cur, err := e.store.GetCursor(ctx, c.ID, "stream:"+k); err != nil || cur == "" {
			t.Errorf("no cursor for stream %s: %q %v", k, cur, err)
		}
	}

	// The mirror fails; Box's own stream still collects everything.
	ts.mirrorFails.Store(true)
	acts := e.emu.Step(40)
	e.clock.Advance(6 * time.Minute)
	e.settle(200)
	if ts.mirrorReads.Load() == 0 {
		t.Fatal("the mirror stream never ran")
	}
	got := e.vendorIDs(c.ID)
	missing := 0
	for _, a := range acts {
		if a.FileActivity && a.ItemType == "file" && got[a.EventID] == 0 {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d file activities missing while the other stream failed", missing)
	}
	// The mirror recovers and reads the same records again from its own cursor (so they are
	// duplicates): nothing doubles.
	dupsBefore := e.ingest.Stats().Duplicates
	ts.mirrorFails.Store(false)
	e.clock.Advance(2 * time.Hour)
	e.settle(200)
	if e.ingest.Stats().Duplicates == dupsBefore {
		t.Errorf("the mirror read nothing again: its cursor did not stay where it failed")
	}
	for id, n := range e.vendorIDs(c.ID) {
		if n > 1 {
			t.Errorf("record %s stored %d times", id, n)
		}
	}
}

// TestOneCursorCarriesOverToStreams: a connection from before streams had keys (one cursor named
// "stream", one unit keyed by the connection) continues from that cursor, so activity since the
// last poll is not skipped by a fresh start position.
func TestOneCursorCarriesOverToStreams(t *testing.T) {
	e := newEnv(t, nil, true)
	c := e.connect("Box legacy", "", nil)
	e.settle(200)
	acts := e.emu.Step(40) // after the last poll: only the old cursor reaches these
	// Make the database look as a version with one stream per connection left it.
	newName := "stream:admin_logs_streaming"
	cur, err := e.store.GetCursor(ctx, c.ID, newName)
	if err != nil || cur == "" {
		t.Fatalf("cursor: %q %v", cur, err)
	}
	if err := e.store.SaveCursor(ctx, c.ID, "stream", cur); err != nil {
		t.Fatal(err)
	}
	if err := e.store.SaveCursor(ctx, c.ID, newName, ""); err != nil {
		t.Fatal(err)
	}
	if err := e.store.DeleteWork(ctx, ingest.WorkStream, fmt.Sprint(c.ID, ":admin_logs_streaming")); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.EnsureWork(ctx, store.Work{Kind: ingest.WorkStream, Key: fmt.Sprint(c.ID), ConnectionID: c.ID, NextRunAt: e.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	e.start() // the new version starts
	e.clock.Advance(6 * time.Minute)
	e.settle(200)
	got := e.vendorIDs(c.ID)
	for _, a := range acts {
		if a.FileActivity && a.ItemType == "file" && got[a.EventID] != 1 {
			t.Errorf("activity %s (%s) stored %d times, want once", a.EventID, a.EventType, got[a.EventID])
		}
	}
	if _, err := e.store.GetWork(ctx, ingest.WorkStream, fmt.Sprint(c.ID)); err == nil {
		t.Errorf("the unkeyed unit is still there")
	}
	if old, _ := e.store.GetCursor(ctx, c.ID, "stream"); old != "" {
		t.Errorf("the old cursor is still set: %q", old)
	}
}
