package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/store"
)

// testRescore: a job counts the events of its range stored so far, one job runs at a time, pages
// come in (observed, id) order after the job's position and never past its range or its newest
// event, the position moves only from where it is, SetEventRisks rewrites the stored risk (what
// search reads) and the person risk without an event_updates row, and a finished job stays finished.
func testRescore(t *testing.T, s store.Store) {
	c := mkConn(t, s, "c")
	d := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	mk := func(v string, at time.Time, score int) *event.FileEvent {
		e := Event(c.ID, v, at)
		e.User.Email, e.Risk.Score, e.Risk.Severity = "bob@corp.example", score, event.SeverityLow
		return e
	}
	// observed order: 3, 1, 2 (2 and 4 share a time; 4 is outside the range)
	evs := []*event.FileEvent{mk("1", d.Add(time.Hour), 1), mk("2", d.Add(2*time.Hour), 2), mk("3", d, 3), mk("4", d.Add(48*time.Hour), 1)}
	ok(s.InsertEvents(ctx, evs, false))(t)
	upd0, _ := ok2(s.ListEventUpdates(ctx, 0, 100))(t)

	j := ok(s.CreateRescoreJob(ctx, store.RescoreJob{From: d, To: d.Add(24 * time.Hour), Settings: []byte(`{"x":1}`), CreatedBy: "ann", CreatedAt: d}))(t)
	if j.ID == 0 || j.State != store.RescoreRunning || j.Total != 3 || j.MaxID != evs[3].Event.ID || string(j.Settings) != `{"x":1}` || j.CreatedBy != "ann" || !j.From.Equal(d) {
		t.Fatalf("created %+v", j)
	}
	if _, err := s.CreateRescoreJob(ctx, store.RescoreJob{From: d, To: d.Add(time.Hour)}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("a second running job: %v, want ErrConflict", err)
	}
	// An event stored after the job started was scored with its settings already: not in a page.
	ok(s.InsertEvents(ctx, []*event.FileEvent{mk("5", d.Add(3*time.Hour), 1)}, false))(t)

	page := ok(s.RescorePage(ctx, j, 2))(t)
	if len(page) != 2 || page[0].Event.ID != evs[2].Event.ID || page[1].Event.ID != evs[0].Event.ID {
		t.Fatalf("first page %v, want events 3 then 1", ids(page))
	}
	noErr(t, s.AdvanceRescoreJob(ctx, j, page[1].Timestamp, page[1].Event.ID, 2, 1, d))
	if err := s.AdvanceRescoreJob(ctx, j, page[1].Timestamp, page[1].Event.ID, 2, 1, d); !errors.Is(err, store.ErrConflict) {
		t.Errorf("advancing from a position the job has left: %v, want ErrConflict", err)
	}
	j = ok(s.GetRescoreJob(ctx, j.ID))(t)
	if j.Scanned != 2 || j.Changed != 1 || j.AfterID != evs[0].Event.ID || !j.AfterObserved.Equal(d.Add(time.Hour)) {
		t.Errorf("after a page %+v", j)
	}
	page = ok(s.RescorePage(ctx, j, 2))(t)
	if len(page) != 1 || page[0].Event.ID != evs[1].Event.ID {
		t.Fatalf("second page %v, want event 2 only", ids(page))
	}

	// Rewrite event 2's risk: trusted now, score 0.
	e := page[0]
	e.Risk = event.Risk{Trusted: true, TrustReason: "partner", Severity: event.SeverityNone}
	missing := *mk("x", d, 1)
	missing.Event.ID = 999999
	if n := ok(s.SetEventRisks(ctx, []*event.FileEvent{&e, &missing}))(t); n != 1 {
		t.Errorf("rewrote %d events, want 1 (the missing one skipped)", n)
	}
	got := ok(s.GetEvent(ctx, e.Event.ID))(t)
	if !got.Risk.Trusted || got.Risk.TrustReason != "partner" || got.Risk.Score != 0 || got.Risk.Severity != event.SeverityNone || got.File.Name != e.File.Name {
		t.Errorf("stored after the rewrite %+v", got)
	}
	for q, want := range map[string]int64{"trusted:true": 1, "risk.severity:none": 1, "risk.score>=1": 4, "risk.severity:low": 4} {
		if n := countOf(t, s, q); n != want {
			t.Errorf("%s: %d events, want %d", q, n, want)
		}
	}
	days := ok(s.PersonRiskDays(ctx, "bob@corp.example", d.Add(-24*time.Hour)))(t)
	if len(days) != 2 || days[0].Score != 1+3+1 || days[0].Events != 3 {
		t.Errorf("person risk after the rewrite %+v, want the first day at 5 over 3 events", days)
	}
	if upd, _ := ok2(s.ListEventUpdates(ctx, 0, 100))(t); upd != upd0 {
		t.Errorf("the rewrite appended event updates (%d -> %d): it would make the evaluator judge the event again", upd0, upd)
	}

	noErr(t, s.FinishRescoreJob(ctx, j.ID, store.RescoreDone, "", d.Add(time.Minute)))
	if err := s.FinishRescoreJob(ctx, j.ID, store.RescoreCancelled, "", d); !errors.Is(err, store.ErrConflict) {
		t.Errorf("finishing a finished job: %v, want ErrConflict", err)
	}
	if err := s.FinishRescoreJob(ctx, 424242, store.RescoreDone, "", d); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("finishing no job: %v, want ErrNotFound", err)
	}
	j2 := ok(s.CreateRescoreJob(ctx, store.RescoreJob{From: d, To: d.Add(time.Hour), Settings: []byte(`{}`)}))(t)
	list := ok(s.ListRescoreJobs(ctx, 0))(t)
	if len(list) != 2 || list[0].ID != j2.ID || list[1].State != store.RescoreDone || list[1].FinishedAt.IsZero() {
		t.Errorf("jobs %+v", list)
	}
	if _, err := s.GetRescoreJob(ctx, 424242); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("no job: %v", err)
	}
}

func ids(evs []event.FileEvent) []int64 {
	var out []int64
	for _, e := range evs {
		out = append(out, e.Event.ID)
	}
	return out
}

// countOf counts the events a search query matches.
func countOf(t *testing.T, s store.Store, q string) int64 {
	t.Helper()
	n, _ := ok2(s.CountSearch(ctx, mustParse(t, q), 1000, true))(t)
	return n
}
