package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/store"
)

// testForward: SIEM destinations have unique names and a configuration version; the position
// moves only by compare-and-set from where it is, and a failure is recorded without a new version.
func testForward(t *testing.T, s store.Store) {
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	d := ok(s.CreateForwardDestination(ctx, store.ForwardDestination{Name: " Splunk ", Kind: "splunk_hec", Format: "ocsf",
		Settings: []byte(`{"url":"https://hec"}`), Secrets: []byte{9, 8}, Position: 41, CreatedBy: "ann", CreatedAt: t0}))(t)
	if d.ID == 0 || d.Name != "Splunk" || d.Version != 1 || d.Position != 41 || d.State != store.ForwardOK || string(d.Secrets) != "\x09\x08" ||
		d.Kind != "splunk_hec" || d.Format != "ocsf" || !d.CreatedAt.Equal(t0) || !d.UpdatedAt.Equal(t0) || d.CreatedBy != "ann" || d.Paused {
		t.Fatalf("created %+v", d)
	}
	if _, err := s.CreateForwardDestination(ctx, store.ForwardDestination{Name: "splunk", Kind: "syslog", Format: "cef"}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("duplicate name: %v", err)
	}
	other := ok(s.CreateForwardDestination(ctx, store.ForwardDestination{Name: "syslog", Kind: "syslog", Format: "cef"}))(t)

	noErr(t, s.AdvanceForwardPosition(ctx, d.ID, 41, 90, 30, t0.Add(time.Minute)))
	if err := s.AdvanceForwardPosition(ctx, d.ID, 41, 95, 5, t0); !errors.Is(err, store.ErrConflict) {
		t.Errorf("advance from a stale position: %v", err)
	}
	if err := s.AdvanceForwardPosition(ctx, 999, 0, 5, 5, t0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("advance a missing destination: %v", err)
	}
	noErr(t, s.SetForwardFailure(ctx, d.ID, store.ForwardRetrying, 3, "503 busy", t0.Add(2*time.Minute)))
	got := ok(s.GetForwardDestination(ctx, d.ID))(t)
	if got.Position != 90 || got.Sent != 30 || !got.LastSentAt.Equal(t0.Add(time.Minute)) || got.State != store.ForwardRetrying || got.Failures != 3 ||
		got.LastError != "503 busy" || !got.LastErrorAt.Equal(t0.Add(2*time.Minute)) || got.Version != 1 {
		t.Errorf("after advance and failure: %+v", got)
	}
	if err := s.SetForwardFailure(ctx, 999, store.ForwardFailed, 1, "x", t0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("failure of a missing destination: %v", err)
	}
	noErr(t, s.AdvanceForwardPosition(ctx, d.ID, 90, 100, 10, t0.Add(3*time.Minute)))
	if got = ok(s.GetForwardDestination(ctx, d.ID))(t); got.State != store.ForwardOK || got.Failures != 0 || got.LastError != "" || got.Sent != 40 {
		t.Errorf("a success clears the failure: %+v", got)
	}

	// Streams other than file events: a position each, appearing with the first batch, moved by
	// compare-and-set, gone with the destination.
	if m := ok(s.ListForwardStreams(ctx, d.ID))(t); len(m) != 0 {
		t.Errorf("streams before any batch: %+v", m)
	}
	if err := s.AdvanceForwardStream(ctx, d.ID, "alerts", 3, 7, 4, t0); !errors.Is(err, store.ErrConflict) {
		t.Errorf("advance a stream never advanced from 3: %v", err)
	}
	noErr(t, s.SetForwardFailure(ctx, d.ID, store.ForwardRetrying, 2, "503 busy", t0))
	noErr(t, s.AdvanceForwardStream(ctx, d.ID, "alerts", 0, 7, 4, t0.Add(4*time.Minute)))
	noErr(t, s.AdvanceForwardStream(ctx, d.ID, "audit", 0, 12, 12, t0.Add(4*time.Minute)))
	if err := s.AdvanceForwardStream(ctx, d.ID, "alerts", 0, 9, 2, t0); !errors.Is(err, store.ErrConflict) {
		t.Errorf("advance a stream from a stale 0: %v", err)
	}
	noErr(t, s.AdvanceForwardStream(ctx, d.ID, "alerts", 7, 9, 2, t0.Add(5*time.Minute)))
	if err := s.AdvanceForwardStream(ctx, 999, "alerts", 0, 1, 1, t0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("advance a stream of a missing destination: %v", err)
	}
	m := ok(s.ListForwardStreams(ctx, d.ID))(t)
	if m["alerts"].Position != 9 || m["alerts"].Sent != 6 || !m["alerts"].LastSentAt.Equal(t0.Add(5*time.Minute)) || m["audit"].Position != 12 || len(m) != 2 {
		t.Errorf("streams %+v", m)
	}
	if got = ok(s.GetForwardDestination(ctx, d.ID))(t); got.State != store.ForwardOK || got.Failures != 0 || got.Position != 100 || got.Sent != 40 {
		t.Errorf("a stream's batch clears the destination's failure and leaves the event position: %+v", got)
	}

	got.Name, got.Format, got.Paused, got.Settings = "Splunk prod", "json", true, []byte(`{"url":"https://hec2"}`)
	up := ok(s.UpdateForwardDestination(ctx, got))(t)
	if up.Version != 2 || up.Name != "Splunk prod" || up.Format != "json" || !up.Paused || string(up.Settings) != `{"url":"https://hec2"}` || up.Position != 100 {
		t.Errorf("updated %+v", up)
	}
	if _, err := s.UpdateForwardDestination(ctx, got); !errors.Is(err, store.ErrConflict) {
		t.Errorf("stale version: %v", err)
	}
	up.Name = "SYSLOG"
	if _, err := s.UpdateForwardDestination(ctx, up); !errors.Is(err, store.ErrConflict) {
		t.Errorf("taken name: %v", err)
	}
	if l := ok(s.ListForwardDestinations(ctx))(t); len(l) != 2 || l[0].ID != d.ID || l[1].ID != other.ID {
		t.Errorf("list %+v", l)
	}
	noErr(t, s.DeleteForwardDestination(ctx, d.ID))
	if _, err := s.GetForwardDestination(ctx, d.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleted: %v", err)
	}
	if m := ok(s.ListForwardStreams(ctx, d.ID))(t); len(m) != 0 {
		t.Errorf("streams of a deleted destination: %+v", m)
	}
	if err := s.DeleteForwardDestination(ctx, d.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("delete twice: %v", err)
	}
}
