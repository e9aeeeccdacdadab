package rescore

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/alert"
	"github.com/telltale-dev/telltale/internal/clock"
	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/risk"
	"github.com/telltale-dev/telltale/internal/search"
	"github.com/telltale-dev/telltale/internal/settings"
	"github.com/telltale-dev/telltale/internal/store"
	"github.com/telltale-dev/telltale/internal/store/postgres"
	"github.com/telltale-dev/telltale/internal/store/sqlite"
	"github.com/telltale-dev/telltale/internal/testutil/pgtest"
)

var ctx = context.Background()

// Monday 2026-11-02, 10:00 UTC: inside the default working hours.
var t0 = time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)

var openStore = func(t *testing.T) store.Store {
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "t.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestOnPostgres runs the tests on PostgreSQL (skipped without one, unless
// TELLTALE_TEST_POSTGRES=require).
func TestOnPostgres(t *testing.T) {
	pgtest.DSN(t)
	defer func(o func(t *testing.T) store.Store) { openStore = o }(openStore)
	openStore = func(t *testing.T) store.Store {
		st, err := postgres.Open(ctx, pgtest.DSN(t), postgres.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	t.Run("Rescore", TestRescore)
	t.Run("ResumesAfterFailedPage", TestResumesAfterFailedPage)
	t.Run("RaisesNoAlert", TestRaisesNoAlert)
	t.Run("Refused", TestRefused)
}

type env struct {
	t   *testing.T
	st  store.Store
	ids map[string]int64
}

// newEnv stores events scored with the default settings and corp.example trusted, as ingest does.
func newEnv(t *testing.T) *env {
	st := openStore(t)
	t.Cleanup(func() { st.Close() })
	c, err := st.CreateConnection(ctx, store.Connection{Name: "box", Service: "box", ServiceType: "cloud", Status: "Monitoring", ScopeKind: "all"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := settings.Save(ctx, st, settings.Settings{TrustedDomains: []string{"corp.example"}, RetentionDays: 90}); err != nil {
		t.Fatal(err)
	}
	sc, err := risk.NewScorer(risk.Defaults(), []string{"corp.example"})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, st: st, ids: map[string]int64{}}
	mk := func(key string, at time.Time, act event.Action, name string, sh event.Sharing, lists []string) *event.FileEvent {
		ev := &event.FileEvent{Timestamp: at, Event: event.Meta{Action: act, Observer: event.ObserverBox, ConnectionID: c.ID, VendorIDs: []string{key}},
			User: event.User{Email: "bob@corp.example"}, File: event.File{ID: key, Name: name, Category: event.CategoryOf(name, "")}, Sharing: sh}
		sc.WithWatchlists(func(string) []string { return lists })
		var first []string
		if key == "partner" {
			first = sc.Destinations(ev) // bob's first share there
		}
		ev.Risk = sc.Assess(ev, first)
		return ev
	}
	evs := map[string]*event.FileEvent{
		// public link to source code: 4 + 3 = 7 (high)
		"public": mk("public", t0, event.ActionShared, "main.go", event.Sharing{LinkScope: event.LinkAnyone}, nil),
		// first share of a document to partner.example: 3 + 2 + 1 = 6 (moderate)
		"partner": mk("partner", t0.Add(time.Minute), event.ActionShared, "plan.docx", event.Sharing{SharedWith: []string{"ann@partner.example"}}, nil),
		// a download of a PDF by a departing employee: 1 + 3 = 4 (moderate)
		"download": mk("download", t0.Add(2*time.Minute), event.ActionDownloaded, "q3.pdf", event.Sharing{}, []string{"departing_employee"}),
		// a view: scores 0 whatever the settings
		"view": mk("view", t0.Add(3*time.Minute), event.ActionViewed, "q3.pdf", event.Sharing{}, nil),
		// outside the range re-scored
		"later": mk("later", t0.Add(48*time.Hour), event.ActionShared, "main.go", event.Sharing{LinkScope: event.LinkAnyone}, nil),
	}
	for _, k := range []string{"public", "partner", "download", "view", "later"} {
		if _, err := st.InsertEvents(ctx, []*event.FileEvent{evs[k]}, false); err != nil {
			t.Fatal(err)
		}
		e.ids[k] = evs[k].Event.ID
	}
	if got := e.event("partner").Risk; got.Score != 6 || got.Trusted {
		t.Fatalf("partner share stored with %+v, want 6", got)
	}
	return e
}

func (e *env) event(k string) event.FileEvent {
	e.t.Helper()
	ev, err := e.st.GetEvent(ctx, e.ids[k])
	if err != nil {
		e.t.Fatal(err)
	}
	return ev
}

// change saves new settings: public links weigh 9, off hours 0, partner.example is trusted.
func (e *env) change() {
	e.t.Helper()
	cfg := risk.Defaults()
	cfg.Weights[event.IndicatorPublicLink] = 9
	cfg.Weights[event.IndicatorOffHours] = 0
	cfg.Weights["category_pdf"] = 2
	if _, err := settings.Save(ctx, e.st, settings.Settings{TrustedDomains: []string{"corp.example", "partner.example"}, RetentionDays: 90, Risk: cfg}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) count(q string) int64 {
	e.t.Helper()
	pq, err := search.Parse(q, t0)
	if err != nil {
		e.t.Fatal(err)
	}
	n, _, err := e.st.CountSearch(ctx, pq, 1000, true)
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

func runAll(t *testing.T, r *Rescorer, id int64) {
	t.Helper()
	for i := 0; ; i++ {
		done, err := r.Step(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if done {
			return
		}
		if i > 100 {
			t.Fatal("the job does not end")
		}
	}
}

// TestRescore: a job applies the settings saved before it to the events of its range, in place:
// weights and trusted domains change the stored score, severity and trust (and what search finds),
// first use and watchlists stay as recorded, events outside the range keep their risk.
func TestRescore(t *testing.T) {
	e := newEnv(t)
	e.change()
	j, err := Start(ctx, e.st, t0.Add(-time.Hour), t0.Add(time.Hour), "ann", 90, t0)
	if err != nil {
		t.Fatal(err)
	}
	if j.Total != 4 || j.State != store.RescoreRunning {
		t.Fatalf("started %+v", j)
	}
	if w, err := e.st.GetWork(ctx, WorkKind, strconv.FormatInt(j.ID, 10)); err != nil || w.NextRunAt.After(t0) {
		t.Fatalf("the job's work unit: %+v, %v", w, err)
	}
	// The job applies what was saved when it started, not what is saved while it runs.
	if _, err := settings.Save(ctx, e.st, settings.Settings{TrustedDomains: []string{"corp.example"}, RetentionDays: 90}); err != nil {
		t.Fatal(err)
	}
	runAll(t, New(Options{Store: e.st, Page: 2}), j.ID)

	if r := e.event("public").Risk; r.Score != 12 || r.Severity != event.SeverityCritical {
		t.Errorf("public link: %+v, want 9 + 3 = 12, critical", r)
	}
	if r := e.event("partner").Risk; !r.Trusted || r.Score != 0 || r.Severity != event.SeverityNone || r.TrustReason == "" {
		t.Errorf("share to a domain trusted now: %+v, want trusted, 0", r)
	}
	if r := e.event("download").Risk; r.Score != 5 || len(r.Indicators) != 2 || r.Indicators[1] != "watchlist_departing_employee" {
		t.Errorf("download: %+v, want PDF 2 + watchlist 3 = 5 (the watchlist kept as recorded)", r)
	}
	if r := e.event("later").Risk; r.Score != 7 {
		t.Errorf("outside the range: %+v, want its stored 7", r)
	}
	if n := e.count("trusted:true"); n != 1 {
		t.Errorf("trusted:true finds %d, want 1", n)
	}
	if n := e.count("risk.severity:critical"); n != 1 {
		t.Errorf("risk.severity:critical finds %d, want 1", n)
	}
	j, _ = e.st.GetRescoreJob(ctx, j.ID)
	if j.State != store.RescoreDone || j.Scanned != 4 || j.Changed != 3 || j.FinishedAt.IsZero() {
		t.Errorf("job after running %+v, want done, 4 scanned, 3 changed", j)
	}
	// Re-scoring again with the same settings changes nothing.
	e.change()
	j2, err := Start(ctx, e.st, t0.Add(-time.Hour), t0.Add(time.Hour), "ann", 90, t0)
	if err != nil {
		t.Fatal(err)
	}
	runAll(t, New(Options{Store: e.st}), j2.ID)
	if j2, _ = e.st.GetRescoreJob(ctx, j2.ID); j2.Changed != 0 || j2.Scanned != 4 {
		t.Errorf("a second run %+v, want 4 scanned, none changed", j2)
	}
}

// TestResumesAfterFailedPage: a page whose transaction fails leaves neither its events' new risk
// nor a moved position; the job resumes from the last committed page (a crash is the same: the
// work unit's lease ends and another run reads the position) and ends as an uninterrupted job.
func TestResumesAfterFailedPage(t *testing.T) {
	e := newEnv(t)
	e.change()
	j, err := Start(ctx, e.st, t0.Add(-time.Hour), t0.Add(time.Hour), "ann", 90, t0)
	if err != nil {
		t.Fatal(err)
	}
	pages := 0
	crash := New(Options{Store: e.st, Page: 1, Hook: func(store.Queries) error {
		if pages++; pages == 2 {
			return errors.New("power cut")
		}
		return nil
	}})
	if _, err := crash.Step(ctx, j.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := crash.Step(ctx, j.ID); err == nil {
		t.Fatal("the failed page did not fail")
	}
	if r := e.event("partner").Risk; r.Trusted {
		t.Error("the failed page's event was re-scored")
	}
	if got, _ := e.st.GetRescoreJob(ctx, j.ID); got.Scanned != 1 || got.AfterID != e.ids["public"] {
		t.Errorf("after the failure %+v, want one event done (public)", got)
	}
	runAll(t, New(Options{Store: e.st, Page: 1}), j.ID)
	if r := e.event("partner").Risk; !r.Trusted {
		t.Error("the resumed job did not re-score the failed page")
	}
	if got, _ := e.st.GetRescoreJob(ctx, j.ID); got.Scanned != 4 || got.Changed != 3 || got.State != store.RescoreDone {
		t.Errorf("after resuming %+v, want 4 scanned once each, 3 changed, done", got)
	}
}

// TestRaisesNoAlert: events a re-score makes critical raise no alert from a rule on
// risk.severity, though the same rule raises one for a new event scored critical (docs/RISK.md
// says why).
func TestRaisesNoAlert(t *testing.T) {
	e := newEnv(t)
	p, _ := json.Marshal(alert.Params{Value: 1, Window: "1h"})
	if _, err := e.st.CreateAlertRule(ctx, store.AlertRule{Name: "critical", Query: "risk.severity:critical", Kind: alert.Threshold, Params: p, Severity: "high", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	v := alert.New(alert.Options{Store: e.st, Clock: clock.NewFake(t0)})
	if err := v.Start(ctx); err != nil { // from the newest event on
		t.Fatal(err)
	}
	if _, err := v.RunOnce(ctx); err != nil { // both positions set: later event updates would be read
		t.Fatal(err)
	}
	e.change()
	j, err := Start(ctx, e.st, t0.Add(-time.Hour), t0.Add(time.Hour), "ann", 90, t0)
	if err != nil {
		t.Fatal(err)
	}
	runAll(t, New(Options{Store: e.st}), j.ID)
	if e.event("public").Risk.Severity != event.SeverityCritical {
		t.Fatal("the re-score did not make the public link critical")
	}
	for i := 0; i < 3; i++ {
		if _, err := v.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if as, _ := e.st.ListAlerts(ctx, store.AlertFilter{}); len(as) != 0 {
		t.Fatalf("re-scored events raised %d alerts", len(as))
	}
	// The rule works: a new critical event raises one.
	ev := e.event("public")
	ev.Event.ID, ev.Event.VendorIDs = 0, []string{"new"}
	if _, err := e.st.InsertEvents(ctx, []*event.FileEvent{&ev}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := v.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if as, _ := e.st.ListAlerts(ctx, store.AlertFilter{}); len(as) != 1 {
		t.Fatalf("a new critical event raised %d alerts, want 1", len(as))
	}
}

// TestRefused: a bad range or a second job is refused with what is wrong, and starts nothing;
// a cancelled job stops.
func TestRefused(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct {
		from, to time.Time
		field    string
	}{{time.Time{}, t0, "from"}, {t0, time.Time{}, "to"}, {t0, t0, "to"}, {t0, t0.Add(-time.Hour), "to"}, {t0.AddDate(-6, 0, 0), t0, "to"}} {
		_, err := Start(ctx, e.st, c.from, c.to, "ann", 90, t0)
		var re *Error
		if !errors.As(err, &re) || re.Field != c.field || re.Msg == "" {
			t.Errorf("%v..%v: %v, want an error about %s", c.from, c.to, err, c.field)
		}
	}
	if js, _ := e.st.ListRescoreJobs(ctx, 0); len(js) != 0 {
		t.Fatalf("refused requests made jobs %+v", js)
	}
	j, err := Start(ctx, e.st, t0.Add(-time.Hour), t0.Add(time.Hour), "ann", 90, t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Start(ctx, e.st, t0.Add(-time.Hour), t0.Add(time.Hour), "ann", 90, t0); !errors.Is(err, ErrRunning) {
		t.Errorf("a second job: %v, want ErrRunning", err)
	}
	if err := Cancel(ctx, e.st, j.ID, t0); err != nil {
		t.Fatal(err)
	}
	if done, err := New(Options{Store: e.st}).Step(ctx, j.ID); !done || err != nil {
		t.Errorf("a cancelled job's step: %v, %v; want done", done, err)
	}
	if got := e.event("public").Risk; got.Score != 7 {
		t.Errorf("a cancelled job re-scored: %+v", got)
	}
	if err := Cancel(ctx, e.st, j.ID, t0); !errors.Is(err, store.ErrConflict) {
		t.Errorf("cancelling twice: %v, want ErrConflict", err)
	}
}
