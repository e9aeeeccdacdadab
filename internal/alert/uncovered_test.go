package alert

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/event"
)

// TestUncovered: the high and critical events of the window that no enabled rule matches (its
// query and its watchlist scope) are listed by indicator with a draft rule that compiles and,
// saved, covers them; covered, trusted, lower, older events and disabled rules are left out.
func TestUncovered(t *testing.T) {
	e := newEnv(t)
	now := e.clock.Now()
	risky := func(actor string, ago time.Duration, sev event.Severity, trusted bool, inds ...string) *event.FileEvent {
		x := e.ev(actor, 0, event.ActionShared)
		x.Timestamp = now.Add(-ago)
		x.Risk = event.Risk{Severity: sev, Score: 7, Indicators: inds, Trusted: trusted}
		return x
	}
	uncovered := risky("alice@corp.example", time.Hour, event.SeverityHigh, false, event.IndicatorPublicLink, event.IndicatorOffHours)
	byBob := risky("bob@corp.example", 2*time.Hour, event.SeverityCritical, false, event.IndicatorPublicLink)
	scopedOut := risky("carol@corp.example", 3*time.Hour, event.SeverityCritical, false, event.IndicatorPersonalMail)
	e.insert(uncovered, byBob, scopedOut,
		risky("dan@corp.example", time.Hour, event.SeverityHigh, true, event.IndicatorPublicLink),     // trusted
		risky("dan@corp.example", time.Hour, event.SeverityModerate, false, event.IndicatorOffHours),  // below high
		risky("dan@corp.example", 8*24*time.Hour, event.SeverityHigh, false, event.IndicatorOffHours)) // before the window
	e.rule("bob", "actor:bob@corp.example", Threshold, Params{Value: 5, Window: "1h"}, "low")
	e.rule("departing shares", "action:shared", Threshold, Params{Value: 1, Window: "1h", Watchlists: []string{"departing_employee"}}, "high")
	off := e.rule("everything", "", Threshold, Params{Value: 1, Window: "1h"}, "low")
	off.Enabled = false
	if _, err := e.st.UpdateAlertRule(ctx, off); err != nil {
		t.Fatal(err)
	}
	res, err := Uncovered(ctx, e.st, 7, now, 0)
	if err != nil {
		t.Fatal(err)
	}
	if res.Scanned != 3 || res.Uncovered != 2 || res.Rules != 2 || res.Truncated {
		t.Fatalf("scanned %d, uncovered %d, rules %d, truncated %v", res.Scanned, res.Uncovered, res.Rules, res.Truncated)
	}
	got := map[string]UncoveredGroup{}
	for _, g := range res.Groups {
		got[g.Indicator] = g
	}
	if len(got) != 3 || got[event.IndicatorPublicLink].Events != 1 || !slices.Equal(got[event.IndicatorPublicLink].Sample, []int64{uncovered.Event.ID}) ||
		got[event.IndicatorOffHours].Events != 1 || got[event.IndicatorPersonalMail].Critical != 1 || got[event.IndicatorPersonalMail].People != 1 {
		t.Fatalf("groups: %+v", res.Groups)
	}
	// The draft compiles and, saved, covers its group.
	d := got[event.IndicatorPersonalMail].Draft
	var p Params
	if err := json.Unmarshal(d.Params, &p); err != nil || p.Value != 1 {
		t.Fatalf("draft params %s: %v", d.Params, err)
	}
	d.Enabled, d.CreatedBy = true, "test"
	if _, err := e.st.CreateAlertRule(ctx, d); err != nil {
		t.Fatal(err)
	}
	res, err = Uncovered(ctx, e.st, 7, now, 0)
	if err != nil {
		t.Fatal(err)
	}
	if res.Uncovered != 1 || len(res.Groups) != 2 {
		t.Errorf("after saving the draft: uncovered %d, groups %+v", res.Uncovered, res.Groups)
	}
	// The limit bounds what is read, newest first.
	if res, err := Uncovered(ctx, e.st, 7, now, 1); err != nil || res.Scanned != 1 || !res.Truncated || res.Uncovered != 1 {
		t.Errorf("limit 1: %+v %v", res, err)
	}
	if _, err := Uncovered(ctx, e.st, 0, now, 0); err == nil {
		t.Error("0 days was accepted")
	}
}
