package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/store"
)

// testDashboards: InsertEvents counts each inserted event that moves a file out in its hour and
// day, by vector, severity, category and trust, and per person, device and destination domain;
// duplicates, events that move nothing and a rolled back transaction count nothing; an updated
// event leaves its old buckets for its new ones; deleted events are taken back.
func testDashboards(t *testing.T, s store.Store) {
	c := mkConn(t, s, "c")
	h0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	h1 := h0.Add(time.Hour)
	day := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	mk := func(v string, at time.Time, who string, a event.Action, score int, sev event.Severity) *event.FileEvent {
		e := Event(c.ID, v, at)
		e.User.Email, e.Event.Action, e.Risk.Score, e.Risk.Severity = who, a, score, sev
		e.File.Category = event.CategorySpreadsheet
		return e
	}
	public := mk("public", h0.Add(5*time.Minute), "Bob@Corp.Example", event.ActionShared, 7, event.SeverityHigh)
	public.Sharing = event.Sharing{LinkScope: event.LinkAnyone, Exposure: []event.Exposure{event.ExposurePublicLink}}
	public.File.Category = event.CategorySourceCode
	external := mk("external", h0.Add(10*time.Minute), "bob@corp.example", event.ActionShared, 4, event.SeverityModerate)
	external.Sharing = event.Sharing{LinkScope: event.LinkSpecific, SharedWith: []string{"x@Gmail.com", "y@partner.example", "z@corp.example"}}
	mail := mk("mail", h1.Add(time.Minute), "carol@corp.example", event.ActionEmailed, 3, event.SeverityLow)
	mail.Email.Recipients = []string{"me@gmail.com"}
	trusted := mk("trusted", h1.Add(2*time.Minute), "carol@corp.example", event.ActionEmailed, 0, event.SeverityNone)
	trusted.Email.Recipients, trusted.Risk.Trusted = []string{"a@partner.example"}, true
	download := mk("download", h1.Add(3*time.Minute), "dan@corp.example", event.ActionDownloaded, 0, event.SeverityNone)
	agent := mk("agent", h1.Add(4*time.Minute), "dan@corp.example", event.ActionCreated, 0, "")
	agent.Event.Observer, agent.File.DriveID = event.ObserverEndpoint, "device/7"
	edit := mk("edit", h1.Add(5*time.Minute), "dan@corp.example", event.ActionModified, 0, event.SeverityNone)
	internal := mk("internal", h1.Add(6*time.Minute), "dan@corp.example", event.ActionShared, 0, event.SeverityNone)
	internal.Sharing = event.Sharing{LinkScope: event.LinkSpecific, SharedWith: []string{"group:Sales"}}
	ok(s.InsertEvents(ctx, []*event.FileEvent{public, external, mail, trusted, download, agent, edit, internal}, false))(t)
	dup := mk("public", h0.Add(5*time.Minute), "bob@corp.example", event.ActionShared, 7, event.SeverityHigh)
	dup.Sharing = public.Sharing
	ok(s.InsertEvents(ctx, []*event.FileEvent{dup}, false))(t) // a duplicate counts once
	// A transaction that fails counts nothing.
	err := s.InTx(ctx, func(q store.Queries) error {
		e := mk("rolled", h0, "bob@corp.example", event.ActionDownloaded, 1, event.SeverityLow)
		if _, err := q.InsertEvents(ctx, []*event.FileEvent{e}, false); err != nil {
			return err
		}
		return errors.New("rolled back")
	})
	if err == nil {
		t.Fatal("the transaction did not fail")
	}

	hours := store.DashQuery{From: h0.Add(30 * time.Minute), To: h1.Add(time.Minute), Step: time.Hour} // snapped to 09:00-11:00
	pt := func(at time.Time, series string, n int64) store.DashPoint {
		return store.DashPoint{At: at, Series: series, Events: n}
	}
	series := ok(s.DashboardSeries(ctx, hours))(t)
	want := []store.DashPoint{pt(h0, "external_share", 1), pt(h0, "public_link", 1), pt(h1, "email", 1), pt(h1, "endpoint", 2)}
	if d := cmp.Diff(want, series); d != "" {
		t.Errorf("hourly series (-want +got):\n%s", d)
	}
	days := store.DashQuery{From: h0, To: h0, Step: 24 * time.Hour}
	if got := ok(s.DashboardSeries(ctx, days))(t); !slices.Equal(got, []store.DashPoint{pt(day, "email", 1), pt(day, "endpoint", 2), pt(day, "external_share", 1), pt(day, "public_link", 1)}) {
		t.Errorf("daily series %+v", got)
	}
	if got := ok(s.DashboardSeries(ctx, store.DashQuery{From: h0, To: h0, Step: 24 * time.Hour, Vector: "endpoint"}))(t); !slices.Equal(got, []store.DashPoint{pt(day, "endpoint", 2)}) {
		t.Errorf("endpoint series %+v", got)
	}
	if got := ok(s.DashboardSeries(ctx, store.DashQuery{From: h0, To: h1.Add(time.Hour), Step: time.Hour, Dim: store.DimPerson, Value: "bob@corp.example"}))(t); !slices.Equal(got, []store.DashPoint{pt(h0, "external_share", 1), pt(h0, "public_link", 1)}) {
		t.Errorf("bob's series %+v", got)
	}
	if got := ok(s.DashboardSeries(ctx, store.DashQuery{From: h0.Add(2 * time.Hour), To: h0.Add(5 * time.Hour), Step: time.Hour}))(t); len(got) != 0 {
		t.Errorf("a later range %+v", got)
	}
	if _, err := s.DashboardSeries(ctx, store.DashQuery{From: h0, To: h1, Step: time.Minute}); err == nil {
		t.Error("a step of a minute was accepted")
	}

	cnt := func(v string, n, risky int64) store.DashCount {
		return store.DashCount{Value: v, Events: n, Risky: risky}
	}
	if got := ok(s.DashboardTop(ctx, days, store.DimPerson, 10))(t); !slices.Equal(got, []store.DashCount{cnt("bob@corp.example", 2, 2), cnt("dan@corp.example", 2, 0), cnt("carol@corp.example", 1, 1)}) {
		t.Errorf("top people %+v", got)
	}
	if got := ok(s.DashboardTop(ctx, days, store.DimPerson, 1))(t); len(got) != 1 {
		t.Errorf("top people, limit 1: %+v", got)
	}
	if got := ok(s.DashboardTop(ctx, days, store.DimDestination, 10))(t); !slices.Equal(got, []store.DashCount{cnt("gmail.com", 2, 2), cnt("partner.example", 1, 1)}) {
		t.Errorf("top destinations %+v (the trusted e-mail and the actor's own domain are left out)", got)
	}
	if got := ok(s.DashboardTop(ctx, days, store.DimDevice, 10))(t); !slices.Equal(got, []store.DashCount{cnt("device/7", 1, 0)}) {
		t.Errorf("top devices %+v", got)
	}
	b := ok(s.DashboardBreakdown(ctx, days))(t)
	wantB := store.DashBreakdown{
		ByVector:   []store.DashCount{cnt("endpoint", 2, 0), cnt("email", 1, 1), cnt("external_share", 1, 1), cnt("public_link", 1, 1)},
		BySeverity: []store.DashCount{cnt("", 1, 0), cnt("high", 1, 1), cnt("low", 1, 1), cnt("moderate", 1, 1), cnt("none", 1, 0)},
		ByCategory: []store.DashCount{cnt("spreadsheet", 4, 2), cnt("source_code", 1, 1)},
		Trusted:    1,
	}
	if d := cmp.Diff(wantB, b); d != "" {
		t.Errorf("breakdown (-want +got):\n%s", d)
	}
	if got := ok(s.DashboardPeople(ctx, hours))(t); !slices.Equal(got, []store.DashPoint{pt(h0, "people", 1), pt(h1, "people", 1)}) {
		t.Errorf("people with risky events per hour %+v", got)
	}
	ok(s.UpsertPerson(ctx, store.Person{Email: "bob@corp.example", Department: "Engineering"}))(t)
	if got := ok(s.DashboardDepartments(ctx, days, 10))(t); !slices.Equal(got, []store.DashCount{cnt("", 3, 1), cnt("Engineering", 2, 2)}) {
		t.Errorf("departments %+v", got)
	}
	ok(s.CreateAlert(ctx, store.Alert{RuleID: 1, RuleName: "r", GroupKey: "bob", Person: "bob", State: store.AlertOpen,
		Severity: "high", FirstEventAt: h0, LastEventAt: h0, WindowEnd: h1, CreatedAt: h0.Add(time.Minute)}, nil))(t)
	ok(s.CreateAlert(ctx, store.Alert{RuleID: 1, RuleName: "r", GroupKey: "old", Person: "old", State: store.AlertOpen,
		Severity: "high", FirstEventAt: h0, LastEventAt: h0, WindowEnd: h1, CreatedAt: h0.AddDate(0, 0, -3)}, nil))(t)
	if got := ok(s.DashboardAlerts(ctx, days))(t); !slices.Equal(got, []store.DashAlertCount{{Severity: "high", State: "open", Alerts: 1}}) {
		t.Errorf("alerts %+v", got)
	}

	// Enrichment rewrites the public share (UpdateEvent): a later hour, another category, another
	// actor and a lower score. Its old buckets lose it, its new ones get it.
	public.Timestamp = h1.Add(30 * time.Minute)
	public.File.Category, public.User.Email, public.Risk.Score, public.Risk.Severity = event.CategoryPDF, "carol@corp.example", 0, event.SeverityNone
	noErr(t, s.UpdateEvent(ctx, public))
	series = ok(s.DashboardSeries(ctx, hours))(t)
	want = []store.DashPoint{pt(h0, "external_share", 1), pt(h1, "email", 1), pt(h1, "endpoint", 2), pt(h1, "public_link", 1)}
	if d := cmp.Diff(want, series); d != "" {
		t.Errorf("hourly series after the update (-want +got):\n%s", d)
	}
	if got := ok(s.DashboardTop(ctx, days, store.DimPerson, 10))(t); !slices.Equal(got, []store.DashCount{cnt("carol@corp.example", 2, 1), cnt("dan@corp.example", 2, 0), cnt("bob@corp.example", 1, 1)}) {
		t.Errorf("top people after the update %+v", got)
	}
	b = ok(s.DashboardBreakdown(ctx, days))(t)
	if !slices.Contains(b.ByCategory, cnt("pdf", 1, 0)) || slices.ContainsFunc(b.ByCategory, func(c store.DashCount) bool { return c.Value == "source_code" }) {
		t.Errorf("categories after the update %+v", b.ByCategory)
	}

	// Deleting the connection's events takes them back.
	for {
		if n := ok(s.DeleteConnectionEvents(ctx, c.ID, 3))(t); n == 0 {
			break
		}
	}
	if got := ok(s.DashboardSeries(ctx, days))(t); len(got) != 0 {
		t.Errorf("series after the events were deleted %+v", got)
	}
	if got := ok(s.DashboardTop(ctx, days, store.DimDestination, 10))(t); len(got) != 0 {
		t.Errorf("destinations after the events were deleted %+v", got)
	}
}
