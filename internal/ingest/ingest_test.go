package ingest

import (
	"slices"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/settings"
	"github.com/telltale-dev/telltale/internal/store"
)

func ev(id string, at time.Time, action event.Action, actor, file string) event.FileEvent {
	return event.FileEvent{Timestamp: at, Event: event.Meta{Action: action, Observer: event.ObserverBox, VendorIDs: []string{id}, Count: 1},
		User: event.User{Email: actor}, File: event.File{ID: file, Name: file + ".docx"}}
}

// TestCoalesce: the same actor doing the same thing to the same file within the window is one
// event keeping the count and every vendor id (R3.6); anything else stays apart.
func TestCoalesce(t *testing.T) {
	t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	in := []event.FileEvent{
		ev("c", t0.Add(8*time.Second), event.ActionModified, "ann@x.com", "f1"),
		ev("a", t0, event.ActionModified, "ann@x.com", "f1"),
		ev("b", t0.Add(4*time.Second), event.ActionModified, "ANN@x.com", "f1"),  // case differs: same person
		ev("d", t0.Add(30*time.Second), event.ActionModified, "ann@x.com", "f1"), // past the window
		ev("e", t0.Add(time.Second), event.ActionModified, "bob@x.com", "f1"),    // another actor
		ev("f", t0.Add(2*time.Second), event.ActionDownloaded, "ann@x.com", "f1"),
		ev("g", t0.Add(3*time.Second), event.ActionModified, "ann@x.com", "f2"),
	}
	out := Coalesce(in, 10*time.Second)
	type got struct {
		ids   []string
		count int
	}
	var gs []got
	for _, e := range out {
		gs = append(gs, got{e.Event.VendorIDs, e.Event.Count})
	}
	want := []got{{[]string{"a", "b", "c"}, 3}, {[]string{"e"}, 1}, {[]string{"f"}, 1}, {[]string{"g"}, 1}, {[]string{"d"}, 1}}
	if len(gs) != len(want) {
		t.Fatalf("got %+v", gs)
	}
	for i := range want {
		if !slices.Equal(gs[i].ids, want[i].ids) || gs[i].count != want[i].count {
			t.Errorf("event %d: %+v, want %+v", i, gs[i], want[i])
		}
	}
	if !out[0].Timestamp.Equal(t0) {
		t.Errorf("a coalesced event keeps the first time, got %v", out[0].Timestamp)
	}
	// Every input vendor id survives exactly once.
	var all []string
	for _, e := range out {
		all = append(all, e.Event.VendorIDs...)
	}
	slices.Sort(all)
	if !slices.Equal(all, []string{"a", "b", "c", "d", "e", "f", "g"}) {
		t.Errorf("vendor ids after coalescing: %v", all)
	}
}

func TestEnrich(t *testing.T) {
	trust := settings.Settings{TrustedDomains: []string{"corp.example"}}
	c := store.Connection{ID: 7, Name: "Box"}
	for _, tc := range []struct {
		name  string
		share event.Sharing
		want  []event.Exposure
	}{
		{"public link", event.Sharing{LinkScope: event.LinkAnyone}, []event.Exposure{event.ExposurePublicLink}},
		{"company link", event.Sharing{LinkScope: event.LinkOrganization}, []event.Exposure{event.ExposureOrganizationLink}},
		{"inside", event.Sharing{SharedWith: []string{"bob@corp.example", "eve@eu.corp.example"}}, nil},
		{"outside", event.Sharing{SharedWith: []string{"bob@corp.example", "x@gmail.com"}}, []event.Exposure{event.ExposureOutsideTrustedDomain}},
		{"specific link", event.Sharing{LinkScope: event.LinkSpecific}, nil},
	} {
		e := ev("a", time.Now(), event.ActionShared, "ann@corp.example", "f1")
		e.Sharing = tc.share
		Enrich(&e, c, trust)
		if !slices.Equal(e.Sharing.Exposure, tc.want) || e.Event.ConnectionID != 7 || e.File.Category != event.CategoryDocument {
			t.Errorf("%s: exposure %v category %q connection %d", tc.name, e.Sharing.Exposure, e.File.Category, e.Event.ConnectionID)
		}
		if err := e.Validate(); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}
