package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/store"
)

// testAlertRules: rules are created with a unique name, updated by compare-and-set (a change of
// query forgets the rule's evaluator state), warned, seeded and deleted.
func testAlertRules(t *testing.T, s store.Store) {
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	r := ok(s.CreateAlertRule(ctx, store.AlertRule{Name: " Public links ", Query: "exposure:public_link", Kind: "threshold",
		Params: []byte(`{"count":3}`), Severity: "high", Enabled: true, Template: "public_link", CreatedBy: "admin", CreatedAt: t0}))(t)
	if r.ID == 0 || r.Name != "Public links" || r.Version != 1 || !r.Enabled || string(r.Params) != `{"count":3}` || r.UpdatedBy != "admin" ||
		!r.CreatedAt.Equal(t0) || !r.UpdatedAt.Equal(t0) || r.Template != "public_link" {
		t.Fatalf("created %+v", r)
	}
	if _, err := s.CreateAlertRule(ctx, store.AlertRule{Name: "PUBLIC LINKS", Query: "x", Kind: "threshold", Severity: "low"}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("taken name: %v, want ErrConflict", err)
	}
	// Evaluator state of the rule, which a change of query forgets.
	noErr(t, s.AddAlertMatches(ctx, []store.AlertMatch{{RuleID: r.ID, Group: "a", EventID: 1, At: t0}}))
	ok(s.MarkAlertTerms(ctx, r.ID, []string{"x"}, t0, t0))(t)
	noErr(t, s.SetAlertRuleWarning(ctx, r.ID, "capped", 5))
	noErr(t, s.SetAlertRuleWarning(ctx, r.ID, "capped again", 2))
	noErr(t, s.MarkAlertRuleSeeded(ctx, r.ID, 1))
	if err := s.MarkAlertRuleSeeded(ctx, r.ID, 7); !errors.Is(err, store.ErrConflict) {
		t.Errorf("seeded at a stale version: %v, want ErrConflict", err)
	}
	got := ok(s.GetAlertRule(ctx, r.ID))(t)
	if got.Warning != "capped again" || got.Suppressed != 7 || !got.Seeded || got.Version != 1 {
		t.Fatalf("warned and seeded: %+v", got)
	}
	// A rename keeps the state.
	got.Name, got.UpdatedBy = "Links", "bob"
	u := ok(s.UpdateAlertRule(ctx, got))(t)
	if u.Version != 2 || u.Name != "Links" || u.UpdatedBy != "bob" || u.Warning == "" || !u.Seeded {
		t.Errorf("renamed %+v", u)
	}
	if _, err := s.UpdateAlertRule(ctx, got); !errors.Is(err, store.ErrConflict) {
		t.Errorf("stale version: %v, want ErrConflict", err)
	}
	u.Query = "exposure:public_link category:spreadsheet"
	u = ok(s.UpdateAlertRule(ctx, u))(t)
	if u.Version != 3 || u.Warning != "" || u.Suppressed != 0 || u.Seeded {
		t.Errorf("new query keeps the old state: %+v", u)
	}
	if m := ok(s.ListAlertMatches(ctx, r.ID, "a", time.Time{}))(t); len(m) != 0 {
		t.Errorf("matches after a new query: %+v", m)
	}
	if n := ok(s.MarkAlertTerms(ctx, r.ID, []string{"x"}, t0, t0))(t); len(n) != 1 {
		t.Errorf("terms after a new query: %v new, want x", n)
	}
	r2 := ok(s.CreateAlertRule(ctx, store.AlertRule{Name: "Second", Query: "", Kind: "new_terms", Severity: "low"}))(t)
	if l := ok(s.ListAlertRules(ctx))(t); len(l) != 2 || l[0].ID != r.ID || l[1].ID != r2.ID || string(l[1].Params) != "{}" {
		t.Errorf("list %+v", l)
	}
	noErr(t, s.DeleteAlertRule(ctx, r.ID))
	if _, err := s.GetAlertRule(ctx, r.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleted rule: %v", err)
	}
	if err := s.DeleteAlertRule(ctx, r.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleted twice: %v", err)
	}
	if _, err := s.UpdateAlertRule(ctx, u); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("update a deleted rule: %v", err)
	}
}

// testAlerts: the evaluator's state (position, pending matches, terms), alerts with their events,
// the open alert of a group, updates by compare-and-set with history, listing and paging.
func testAlerts(t *testing.T, s store.Store) {
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	// Position: none before it is set; set once; then compare-and-set onwards.
	if _, err := s.GetAlertPosition(ctx); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("position before any run: %v, want ErrNotFound", err)
	}
	if err := s.AdvanceAlertPosition(ctx, 0, 10); !errors.Is(err, store.ErrConflict) {
		t.Errorf("advance a position never set: %v, want ErrConflict", err)
	}
	if p := ok(s.InitAlertPosition(ctx, 0))(t); p != 0 {
		t.Fatalf("init at 0: %d", p)
	}
	if p := ok(s.InitAlertPosition(ctx, 7))(t); p != 0 {
		t.Fatalf("init again at 7: %d, want the stored 0", p)
	}
	noErr(t, s.AdvanceAlertPosition(ctx, 0, 10))
	if err := s.AdvanceAlertPosition(ctx, 0, 20); !errors.Is(err, store.ErrConflict) {
		t.Errorf("advance from a stale 0: %v, want ErrConflict", err)
	}
	if err := s.AdvanceAlertPosition(ctx, 5, 20); !errors.Is(err, store.ErrConflict) {
		t.Errorf("advance from 5: %v, want ErrConflict", err)
	}
	noErr(t, s.AdvanceAlertPosition(ctx, 10, 20))
	// A transaction that fails leaves the position where it was.
	boom := errors.New("boom")
	err := s.InTx(ctx, func(q store.Queries) error {
		noErr(t, q.AdvanceAlertPosition(ctx, 20, 30))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if p := ok(s.GetAlertPosition(ctx))(t); p != 20 {
		t.Errorf("position %d after a rolled back advance, want 20", p)
	}

	// Pending matches: kept once, listed from a time, pruned before a time.
	m := func(ev int64, at time.Duration) store.AlertMatch {
		return store.AlertMatch{RuleID: 1, Group: "alice", EventID: ev, At: t0.Add(at), File: "f", Size: ev * 10}
	}
	noErr(t, s.AddAlertMatches(ctx, []store.AlertMatch{m(1, 0), m(2, time.Minute), m(3, time.Hour)}))
	noErr(t, s.AddAlertMatches(ctx, []store.AlertMatch{m(2, time.Minute), {RuleID: 1, Group: "bob", EventID: 4, At: t0}}))
	if got := ok(s.ListAlertMatches(ctx, 1, "alice", t0.Add(time.Minute)))(t); len(got) != 2 || got[0].EventID != 2 || got[1].Size != 30 || !got[1].At.Equal(t0.Add(time.Hour)) {
		t.Errorf("matches since t0+1m: %+v", got)
	}
	noErr(t, s.DeleteAlertMatches(ctx, 1, "alice", t0.Add(30*time.Minute)))
	if got := ok(s.ListAlertMatches(ctx, 1, "alice", time.Time{}))(t); len(got) != 1 || got[0].EventID != 3 {
		t.Errorf("after pruning: %+v", got)
	}
	noErr(t, s.DeleteAlertMatches(ctx, 1, "alice", time.Time{}))
	if got := ok(s.ListAlertMatches(ctx, 1, "alice", time.Time{}))(t); len(got) != 0 {
		t.Errorf("after clearing: %+v", got)
	}
	if got := ok(s.ListAlertMatches(ctx, 1, "bob", time.Time{}))(t); len(got) != 1 {
		t.Errorf("bob's were cleared too: %+v", got)
	}

	// Terms: new when never seen or not seen since the history start; last seen only moves forward.
	if n := ok(s.MarkAlertTerms(ctx, 1, []string{"a", "b", "a"}, t0, t0.Add(-24*time.Hour)))(t); !slices.Equal(n, []string{"a", "b"}) {
		t.Errorf("first terms new: %v", n)
	}
	if n := ok(s.MarkAlertTerms(ctx, 1, []string{"b", "c"}, t0.Add(-time.Hour), t0.Add(-24*time.Hour)))(t); !slices.Equal(n, []string{"c"}) {
		t.Errorf("second: %v, want c", n)
	}
	if n := ok(s.MarkAlertTerms(ctx, 2, []string{"a"}, t0, t0))(t); !slices.Equal(n, []string{"a"}) {
		t.Errorf("another rule's terms: %v", n)
	}
	// 10 days later with a 7-day history: a and b were last seen at t0, c at t0-1h: all new again,
	// but a history of 30 days still knows them.
	if n := ok(s.MarkAlertTerms(ctx, 1, []string{"a"}, t0.Add(240*time.Hour), t0.Add(72*time.Hour)))(t); !slices.Equal(n, []string{"a"}) {
		t.Errorf("a forgotten after its history: %v", n)
	}
	if n := ok(s.MarkAlertTerms(ctx, 1, []string{"a", "c"}, t0.Add(241*time.Hour), t0.Add(-24*time.Hour)))(t); !slices.Equal(n, nil) {
		t.Errorf("known within 30 days: %v", n)
	}

	// Alerts.
	a := ok(s.CreateAlert(ctx, store.Alert{RuleID: 1, RuleName: "r", GroupKey: "alice", Person: "alice", State: store.AlertOpen,
		Severity: "high", Summary: "3 files", FirstEventAt: t0, LastEventAt: t0.Add(time.Minute), WindowEnd: t0.Add(time.Hour), CreatedAt: t0},
		[]int64{5, 6, 6, 7}))(t)
	if a.ID == 0 || a.EventCount != 3 || a.Version != 1 || !a.WindowEnd.Equal(t0.Add(time.Hour)) || a.State != "open" {
		t.Fatalf("created %+v", a)
	}
	if got := ok(s.OpenAlertFor(ctx, 1, "alice", t0.Add(30*time.Minute)))(t); got.ID != a.ID {
		t.Errorf("open alert within the window: %+v", got)
	}
	if _, err := s.OpenAlertFor(ctx, 1, "alice", t0.Add(time.Hour)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("at the window's end: %v, want ErrNotFound", err)
	}
	if _, err := s.OpenAlertFor(ctx, 1, "bob", t0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("another group: %v, want ErrNotFound", err)
	}
	noErr(t, s.AddAlertEvents(ctx, a.ID, []int64{7, 8, 9}, t0.Add(-time.Minute), t0.Add(2*time.Minute)))
	if err := s.AddAlertEvents(ctx, 9999, []int64{1}, t0, t0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("events for a missing alert: %v", err)
	}
	got := ok(s.GetAlert(ctx, a.ID))(t)
	if got.EventCount != 5 || !got.FirstEventAt.Equal(t0.Add(-time.Minute)) || !got.LastEventAt.Equal(t0.Add(2*time.Minute)) {
		t.Errorf("after adding events: %+v", got)
	}
	if ids := ok(s.ListAlertEventIDs(ctx, a.ID, 0, 0))(t); !slices.Equal(ids, []int64{5, 6, 7, 8, 9}) {
		t.Errorf("events %v", ids)
	}
	if ids := ok(s.ListAlertEventIDs(ctx, a.ID, 6, 2))(t); !slices.Equal(ids, []int64{7, 8}) {
		t.Errorf("events page %v", ids)
	}
	if n := ok(s.CountAlertsRaised(ctx, 1, t0))(t); n != 1 {
		t.Errorf("raised since t0: %d", n)
	}
	if n := ok(s.CountAlertsRaised(ctx, 1, t0.Add(time.Second)))(t); n != 0 {
		t.Errorf("raised since t0+1s: %d", n)
	}

	// Update by compare-and-set, with history.
	got.State, got.Assignee, got.UpdatedAt = store.AlertResolved, "carol", t0.Add(time.Hour)
	got.Resolution = "true_positive"
	up := ok(s.UpdateAlert(ctx, got, []store.AlertChange{{Actor: "carol", Field: "state", From: "open", To: "resolved"},
		{Actor: "carol", Field: "note", Note: "confirmed with HR"}}))(t)
	if up.Version != 2 || up.State != "resolved" || up.Resolution != "true_positive" || up.Assignee != "carol" || !up.UpdatedAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("updated %+v", up)
	}
	if _, err := s.UpdateAlert(ctx, got, nil); !errors.Is(err, store.ErrConflict) {
		t.Errorf("stale version: %v, want ErrConflict", err)
	}
	missing := got
	missing.ID = 9999
	if _, err := s.UpdateAlert(ctx, missing, nil); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing alert: %v, want ErrNotFound", err)
	}
	h := ok(s.ListAlertChanges(ctx, a.ID))(t)
	if len(h) != 3 || h[0].Field != "raised" || h[0].Actor != "system" || h[1].Field != "state" || h[1].To != "resolved" ||
		h[2].Note != "confirmed with HR" || !h[2].At.Equal(t0.Add(time.Hour)) {
		t.Errorf("history %+v", h)
	}
	// A resolved alert gathers nothing.
	if _, err := s.OpenAlertFor(ctx, 1, "alice", t0.Add(30*time.Minute)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("resolved alert still open: %v", err)
	}

	// Listing: newest first, filtered, paged.
	for i := range 4 {
		ok(s.CreateAlert(ctx, store.Alert{RuleID: int64(2 + i%2), RuleName: "r", GroupKey: "bob", Person: "bob", State: store.AlertOpen,
			Severity: "low", FirstEventAt: t0, LastEventAt: t0, WindowEnd: t0, CreatedAt: t0}, []int64{int64(100 + i)}))(t)
	}
	all := ok(s.ListAlerts(ctx, store.AlertFilter{}))(t)
	if len(all) != 5 || all[0].ID < all[4].ID {
		t.Fatalf("all: %d, newest first? %+v", len(all), all)
	}
	if l := ok(s.ListAlerts(ctx, store.AlertFilter{States: []string{"open"}, RuleID: 2}))(t); len(l) != 2 {
		t.Errorf("open of rule 2: %d", len(l))
	}
	if l := ok(s.ListAlerts(ctx, store.AlertFilter{Person: "alice"}))(t); len(l) != 1 || l[0].ID != a.ID {
		t.Errorf("alice's: %+v", l)
	}
	if l := ok(s.ListAlerts(ctx, store.AlertFilter{Assignee: "carol", States: []string{"resolved", "dismissed"}}))(t); len(l) != 1 {
		t.Errorf("carol's closed: %+v", l)
	}
	p1 := ok(s.ListAlerts(ctx, store.AlertFilter{Limit: 2}))(t)
	p2 := ok(s.ListAlerts(ctx, store.AlertFilter{Limit: 2, BeforeID: p1[1].ID}))(t)
	if len(p1) != 2 || len(p2) != 2 || p2[0].ID >= p1[1].ID {
		t.Errorf("pages %+v then %+v", p1, p2)
	}
	// Oldest first after an id (the stream SIEM forwarding follows), from the start too.
	every := ok(s.ListAlerts(ctx, store.AlertFilter{Limit: 1000}))(t)
	if o := ok(s.ListAlerts(ctx, store.AlertFilter{Oldest: true, Limit: 2}))(t); len(o) != 2 || o[0].ID != every[len(every)-1].ID || o[1].ID <= o[0].ID {
		t.Errorf("oldest first: %+v (all %d)", o, len(every))
	}
	if o := ok(s.ListAlerts(ctx, store.AlertFilter{Oldest: true, AfterID: every[1].ID, Limit: 10}))(t); len(o) != 1 || o[0].ID != every[0].ID {
		t.Errorf("after the second newest: %+v", o)
	}
	if l := ok(s.ListAlerts(ctx, store.AlertFilter{Severities: []string{"low"}}))(t); len(l) != 4 {
		t.Errorf("low: %d, want 4", len(l))
	}
	if l := ok(s.ListAlerts(ctx, store.AlertFilter{Severities: []string{"high", "critical"}}))(t); len(l) != 1 || l[0].ID != a.ID {
		t.Errorf("high or critical: %+v", l)
	}

	// Text (rule name, summary, person, group; no wildcards) and creation time.
	if l := ok(s.ListAlerts(ctx, store.AlertFilter{Text: "3 FILES"}))(t); len(l) != 1 || l[0].ID != a.ID {
		t.Errorf("text '3 FILES': %+v", l)
	}
	if l := ok(s.ListAlerts(ctx, store.AlertFilter{Text: "BO", Limit: 1000}))(t); len(l) != 4 {
		t.Errorf("text 'BO' (bob's): %d, want 4", len(l))
	}
	for _, lit := range []string{"%", "_", `\`} {
		if l := ok(s.ListAlerts(ctx, store.AlertFilter{Text: lit}))(t); len(l) != 0 {
			t.Errorf("text %q is not a wildcard: %d alerts", lit, len(l))
		}
	}
	if l := ok(s.ListAlerts(ctx, store.AlertFilter{From: t0, To: t0.Add(time.Second), Limit: 1000}))(t); len(l) != 5 {
		t.Errorf("created in [t0, t0+1s): %d, want 5", len(l))
	}
	if l := ok(s.ListAlerts(ctx, store.AlertFilter{From: t0.Add(time.Second)}))(t); len(l) != 0 {
		t.Errorf("created from t0+1s: %d, want 0", len(l))
	}

	// Counts by rule: one rule-2 alert dismissed, one rule-3 alert a false positive.
	for _, x := range ok(s.ListAlerts(ctx, store.AlertFilter{RuleID: 2, Limit: 1}))(t) {
		x.State = store.AlertDismissed
		ok(s.UpdateAlert(ctx, x, nil))(t)
	}
	for _, x := range ok(s.ListAlerts(ctx, store.AlertFilter{RuleID: 3, Limit: 1}))(t) {
		x.State, x.Resolution = store.AlertResolved, "false_positive"
		ok(s.UpdateAlert(ctx, x, nil))(t)
	}
	counts := ok(s.CountAlertsByRule(ctx))(t)
	want := []store.AlertRuleCounts{{RuleID: 1, Total: 1, Confirmed: 1}, {RuleID: 2, Total: 2, Open: 1, Dismissed: 1}, {RuleID: 3, Total: 2, Open: 1, Dismissed: 1}}
	if !slices.Equal(counts, want) {
		t.Errorf("counts by rule %+v, want %+v", counts, want)
	}
	// By UTC day: every alert so far was raised at t0; one more the next day, for rule 2.
	ok(s.CreateAlert(ctx, store.Alert{RuleID: 2, RuleName: "r", GroupKey: "dan", Person: "dan", State: store.AlertOpen,
		Severity: "low", FirstEventAt: t0, LastEventAt: t0, WindowEnd: t0, CreatedAt: t0.Add(24 * time.Hour)}, []int64{200}))(t)
	day := t0.UTC().Truncate(24 * time.Hour)
	days := ok(s.CountAlertsByRuleDay(ctx, day))(t)
	wantDays := []store.AlertDayCount{{RuleID: 1, Day: day, Alerts: 1}, {RuleID: 2, Day: day, Alerts: 2}, {RuleID: 2, Day: day.AddDate(0, 0, 1), Alerts: 1},
		{RuleID: 3, Day: day, Alerts: 2}}
	if len(days) != len(wantDays) {
		t.Fatalf("counts by rule and day %+v, want %+v", days, wantDays)
	}
	for i := range days {
		if days[i].RuleID != wantDays[i].RuleID || !days[i].Day.Equal(wantDays[i].Day) || days[i].Alerts != wantDays[i].Alerts {
			t.Errorf("counts by rule and day %+v, want %+v", days, wantDays)
			break
		}
	}
	if days := ok(s.CountAlertsByRuleDay(ctx, day.Add(48*time.Hour)))(t); len(days) != 0 {
		t.Errorf("since after every alert: %+v", days)
	}
}

// testAlertBatch covers the evaluator's batch reads and writes: many groups and terms in one
// call (more than one statement's worth), pruning by group, open alerts by group, terms that
// only move forward.
func testAlertBatch(t *testing.T, s store.Store) {
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	var ms []store.AlertMatch
	var groups []string
	for i := range 400 { // 400 groups of 2 matches: 800 rows, several multi-row statements
		g := fmt.Sprintf("person-%03d@corp.example", i)
		groups = append(groups, g)
		ms = append(ms, store.AlertMatch{RuleID: 7, Group: g, EventID: int64(2*i + 1), At: t0, File: "f", Size: 1},
			store.AlertMatch{RuleID: 7, Group: g, EventID: int64(2*i + 2), At: t0.Add(time.Hour), File: "g", Size: 2})
	}
	ms = append(ms, ms[0], store.AlertMatch{RuleID: 8, Group: groups[0], EventID: 1, At: t0}) // a duplicate is kept once; another rule
	noErr(t, s.AddAlertMatches(ctx, ms))
	got := ok(s.ListAlertMatchesIn(ctx, 7, groups, time.Time{}))(t)
	if len(got) != 800 || got[0].Group != groups[0] || got[0].EventID != 1 || got[1].EventID != 2 || got[799].EventID != 800 ||
		got[1].File != "g" || got[1].Size != 2 || !got[1].At.Equal(t0.Add(time.Hour)) || got[1].RuleID != 7 {
		t.Fatalf("matches of 400 groups: %d, first %+v", len(got), got[:min(2, len(got))])
	}
	if got := ok(s.ListAlertMatchesIn(ctx, 7, groups[:3], t0.Add(time.Minute)))(t); len(got) != 3 || got[0].EventID != 2 || got[2].EventID != 6 {
		t.Errorf("3 groups since t0+1m: %+v", got)
	}
	if got := ok(s.ListAlertMatchesIn(ctx, 7, nil, time.Time{}))(t); len(got) != 0 {
		t.Errorf("no groups: %+v", got)
	}
	// Pruning: before a time in the groups named, all of a group's with a zero time, nothing else.
	noErr(t, s.PruneAlertMatches(ctx, 7, groups[:300], t0.Add(time.Minute)))
	noErr(t, s.PruneAlertMatches(ctx, 7, groups[399:], time.Time{}))
	got = ok(s.ListAlertMatchesIn(ctx, 7, groups, time.Time{}))(t)
	if len(got) != 300+2*99 || got[0].EventID != 2 || got[299].EventID != 600 || got[300].EventID != 601 {
		t.Errorf("after pruning: %d rows, %+v", len(got), got[:min(1, len(got))])
	}
	if got := ok(s.ListAlertMatches(ctx, 8, groups[0], time.Time{}))(t); len(got) != 1 {
		t.Errorf("another rule's match was pruned: %+v", got)
	}

	// Open alerts of many groups: window ending after at, open or in progress, by id.
	mk := func(g string, end time.Duration) store.Alert {
		return ok(s.CreateAlert(ctx, store.Alert{RuleID: 7, RuleName: "r", GroupKey: g, Person: g, State: store.AlertOpen, Severity: "high",
			Summary: "s", FirstEventAt: t0, LastEventAt: t0, WindowEnd: t0.Add(end), CreatedAt: t0}, []int64{1}))(t)
	}
	var want []int64
	for i, g := range groups[:200] {
		a := mk(g, 2*time.Hour)
		if i%2 == 0 {
			want = append(want, a.ID)
		} else {
			a.State, a.UpdatedAt = store.AlertResolved, t0
			ok(s.UpdateAlert(ctx, a, nil))(t)
		}
	}
	mk(groups[0], time.Hour) // its window ends before at
	late := mk(groups[1], 3*time.Hour)
	want = append(want, late.ID)
	gotA := ok(s.OpenAlertsIn(ctx, 7, groups, t0.Add(time.Hour)))(t)
	var ids []int64
	for _, a := range gotA {
		ids = append(ids, a.ID)
	}
	if !slices.Equal(ids, want) {
		t.Errorf("open alerts: %v, want %v", ids, want)
	}
	if len(gotA) > 0 && (gotA[0].GroupKey != groups[0] || !gotA[0].WindowEnd.Equal(t0.Add(2*time.Hour))) {
		t.Errorf("open alert read back as %+v", gotA[0])
	}
	if got := ok(s.OpenAlertsIn(ctx, 8, groups, t0))(t); len(got) != 0 {
		t.Errorf("another rule's open alerts: %+v", got)
	}

	// Terms: set many, read back those asked for; last seen only moves forward.
	seen := map[string]time.Time{}
	var terms []string
	for i := range 300 {
		k := fmt.Sprintf("term-%03d", i)
		terms = append(terms, k)
		seen[k] = t0.Add(time.Duration(i) * time.Minute)
	}
	noErr(t, s.SetAlertTerms(ctx, 7, seen))
	noErr(t, s.SetAlertTerms(ctx, 7, map[string]time.Time{"term-000": t0.Add(-time.Hour), "term-001": t0.Add(time.Hour)}))
	noErr(t, s.SetAlertTerms(ctx, 8, map[string]time.Time{"term-002": t0.Add(48 * time.Hour)}))
	back := ok(s.AlertTermsIn(ctx, 7, append(terms, "never")))(t)
	if len(back) != 300 || !back["term-000"].Equal(t0) || !back["term-001"].Equal(t0.Add(time.Hour)) ||
		!back["term-002"].Equal(t0.Add(2*time.Minute)) || !back["term-299"].Equal(t0.Add(299*time.Minute)) {
		t.Errorf("terms read back: %d, term-000 %v, term-001 %v, term-002 %v", len(back), back["term-000"], back["term-001"], back["term-002"])
	}
	if _, found := back["never"]; found {
		t.Error("a term never set was read back")
	}
	// The evaluator's one-term-at-a-time reading agrees with the batch writes.
	if n := ok(s.MarkAlertTerms(ctx, 7, []string{"term-001", "new"}, t0.Add(2*time.Hour), t0))(t); !slices.Equal(n, []string{"new"}) {
		t.Errorf("MarkAlertTerms after SetAlertTerms: %v, want [new]", n)
	}

	// A rule's whole state, as the evaluator keeps it in memory: every match, the open alerts of
	// every group whose window ends after a time, the terms seen since a time; nothing of rule 8.
	rs, whole, err := s.LoadAlertRuleState(ctx, 7, t0.Add(time.Hour), t0.Add(290*time.Minute), 10000)
	if err != nil || !whole {
		t.Fatalf("load rule state: %v %v", whole, err)
	}
	if len(rs.Matches) != 300+2*99 || rs.Matches[0].Group != groups[0] || rs.Matches[0].EventID != 2 || rs.Matches[0].RuleID != 7 ||
		rs.Matches[0].File != "g" || rs.Matches[0].Size != 2 || !rs.Matches[0].At.Equal(t0.Add(time.Hour)) {
		t.Errorf("loaded matches: %d, first %+v", len(rs.Matches), rs.Matches[:min(1, len(rs.Matches))])
	}
	ids = ids[:0]
	for _, a := range rs.Open {
		ids = append(ids, a.ID)
	}
	if !slices.Equal(ids, want) {
		t.Errorf("loaded open alerts: %v, want %v", ids, want)
	}
	// term-290..term-299 and "new" (seen at t0+2h) are at or after t0+290m, term-001 (t0+1h) not
	if len(rs.Terms) != 10 || !rs.Terms["term-299"].Equal(t0.Add(299*time.Minute)) {
		t.Errorf("loaded terms: %v", rs.Terms)
	}
	if _, whole, err := s.LoadAlertRuleState(ctx, 7, t0.Add(time.Hour), t0.Add(290*time.Minute), 498+len(want)+9); err != nil || whole {
		t.Errorf("a state one row over the limit: whole %v, %v", whole, err)
	}
	if _, whole, err := s.LoadAlertRuleState(ctx, 7, t0.Add(time.Hour), t0.Add(290*time.Minute), 498+len(want)+10); err != nil || !whole {
		t.Errorf("a state of exactly the limit: whole %v, %v", whole, err)
	}
	if rs, whole, err := s.LoadAlertRuleState(ctx, 9, time.Time{}, time.Time{}, 10); err != nil || !whole || len(rs.Matches)+len(rs.Open)+len(rs.Terms) != 0 {
		t.Errorf("a rule without state: %+v %v %v", rs, whole, err)
	}

	// The marks: the updates position and a count of UpdateAlert calls (100 above).
	m0 := ok(s.EvaluatorMarks(ctx))(t)
	if m0.AlertChanges < 100 {
		t.Errorf("marks after 100 alert updates: %+v", m0)
	}
	a := gotA[0]
	a.State = store.AlertDismissed
	ok(s.UpdateAlert(ctx, a, nil))(t)
	if _, err := s.UpdateAlert(ctx, a, nil); !errors.Is(err, store.ErrConflict) { // a stale version changes nothing
		t.Errorf("stale update: %v", err)
	}
	if m := ok(s.EvaluatorMarks(ctx))(t); m.AlertChanges != m0.AlertChanges+1 || m.Updates != m0.Updates {
		t.Errorf("marks after one more alert update: %+v, before %+v", m, m0)
	}
	up := ok(s.InitUpdatesPosition(ctx))(t)
	noErr(t, s.AdvanceUpdatesPosition(ctx, up, up+5))
	if m := ok(s.EvaluatorMarks(ctx))(t); m.Updates != up+5 || m.AlertChanges != m0.AlertChanges+1 {
		t.Errorf("marks after the updates position moved to %d: %+v", up+5, m)
	}
}
