package alert

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/search"
	"github.com/telltale-dev/telltale/internal/store"
)

// TestBacktest: a backtest raises, on stored events, what the evaluator would, for whom, writes
// nothing, and stops at its limit.
func TestBacktest(t *testing.T) {
	e := newEnv(t)
	now := t0.Add(10 * 24 * time.Hour)
	var evs []*event.FileEvent
	for d := range 10 {
		for i := range 3 { // alice downloads 3 files a day, bob 1
			evs = append(evs, e.ev("alice@corp.example", time.Duration(d)*24*time.Hour+time.Duration(i)*time.Minute, event.ActionDownloaded))
		}
		evs = append(evs, e.ev("bob@corp.example", time.Duration(d)*24*time.Hour, event.ActionDownloaded))
	}
	e.insert(evs...)
	p, _ := json.Marshal(Params{Value: 3})
	r := store.AlertRule{Name: "downloads", Query: "action:downloaded", Kind: Threshold, Params: p, Severity: "high"}
	res, err := Backtest(ctx, e.st, r, 7, now, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Measured in the database first; bob's downloads never reach 3, but each day's bucket is read
	// for both (alice is half of its people: naming her would save little).
	if res.Alerts != 7 || res.Events != 28 || res.Truncated || len(res.People) != 1 || res.People[0].Person != "alice@corp.example" || res.People[0].Events != 21 {
		t.Fatalf("7 days: %+v", res)
	}
	if res, err := Backtest(ctx, e.st, r, 7, now, 10); err != nil || !res.Truncated || res.Events != 10 {
		t.Fatalf("limited to 10 events: %+v %v", res, err)
	}
	if as, _ := e.st.ListAlerts(ctx, store.AlertFilter{}); len(as) != 0 {
		t.Fatalf("a backtest stored %d alerts", len(as))
	}
	// new_terms reads its history before the window: bob's domain used 5 days before is not new.
	to := func(addr string) func(*event.FileEvent) {
		return func(x *event.FileEvent) { x.Email.Recipients = []string{addr} }
	}
	e.insert(e.ev("bob@corp.example", 4*24*time.Hour, event.ActionEmailed, to("a@gmail.com")),
		e.ev("bob@corp.example", 9*24*time.Hour, event.ActionEmailed, to("b@gmail.com")),
		e.ev("carol@corp.example", 9*24*time.Hour, event.ActionEmailed, to("c@gmail.com")))
	p, _ = json.Marshal(Params{Fields: []string{"actor", "domain"}, HistoryDays: 30})
	nt := store.AlertRule{Name: "nt", Query: "action:emailed", Kind: NewTerms, Params: p, Severity: "low"}
	res, err = Backtest(ctx, e.st, nt, 3, now, 0)
	if err != nil || res.Alerts != 1 || res.People[0].Person != "carol@corp.example" {
		t.Fatalf("new terms: %+v %v", res, err)
	}
	// Refusals are the rule's own.
	bad := r
	bad.Query = "action:downlaoded"
	var se *search.Error
	if _, err := Backtest(ctx, e.st, bad, 7, now, 0); !errors.As(err, &se) || se.Suggest != "file-downloaded" {
		t.Errorf("bad query: %v", err)
	}
	var re *Error
	if _, err := Backtest(ctx, e.st, r, 366, now, 0); !errors.As(err, &re) || re.Field != "days" {
		t.Errorf("366 days: %v", err)
	}
}

// TestTemplates: every template compiles; they are installed enabled once, never again (a deleted
// one stays deleted), and a name an admin took is left alone.
func TestTemplates(t *testing.T) {
	for _, tp := range Templates() {
		p, _ := json.Marshal(tp.Params)
		if _, err := Compile(store.AlertRule{Name: tp.Name, Query: tp.Query, Kind: tp.Kind, Params: p, Severity: tp.Severity}, t0); err != nil {
			t.Errorf("template %s: %v", tp.Key, err)
		}
	}
	e := newEnv(t)
	if _, err := e.st.CreateAlertRule(ctx, store.AlertRule{Name: "external sharing VOLUME", Kind: Threshold, Params: []byte(`{"value":5}`), Severity: "low"}); err != nil {
		t.Fatal(err)
	}
	n, err := InstallTemplates(ctx, e.st, t0)
	if err != nil || n != len(Templates())-1 {
		t.Fatalf("installed %d (%v), want %d", n, err, len(Templates())-1)
	}
	rules, _ := e.st.ListAlertRules(ctx)
	for _, r := range rules[1:] {
		if !r.Enabled || r.Template == "" || r.CreatedBy != "system" {
			t.Errorf("template rule %+v", r)
		}
	}
	if err := e.st.DeleteAlertRule(ctx, rules[2].ID); err != nil {
		t.Fatal(err)
	}
	if n, err := InstallTemplates(ctx, e.st, t0); err != nil || n != 0 {
		t.Fatalf("second start installed %d (%v)", n, err)
	}
	if again, _ := e.st.ListAlertRules(ctx); len(again) != len(rules)-1 {
		t.Errorf("%d rules after the second start, want %d", len(again), len(rules)-1)
	}
	// The shipped public-link rule raises on a public link to a spreadsheet, not on one to an image.
	e.drain()
	pub := func(cat event.Category) func(*event.FileEvent) {
		return func(x *event.FileEvent) {
			x.File.Category = cat
			x.Sharing = event.Sharing{LinkScope: event.LinkAnyone, Exposure: []event.Exposure{event.ExposurePublicLink}}
		}
	}
	e.insert(e.ev("alice@corp.example", 0, event.ActionShared, pub(event.CategoryImage)))
	e.drain()
	if as, _ := e.st.ListAlerts(ctx, store.AlertFilter{}); len(as) != 0 {
		t.Fatalf("an image raised %+v", as)
	}
	e.insert(e.ev("alice@corp.example", time.Minute, event.ActionShared, pub(event.CategorySpreadsheet)))
	e.drain()
	if as, _ := e.st.ListAlerts(ctx, store.AlertFilter{}); len(as) != 1 || as[0].RuleName != "Public link to a sensitive file" {
		t.Fatalf("a public spreadsheet: %s", fmt.Sprint(as))
	}
}

// TestBacktestBudget: past its time budget a backtest answers with the pages it has read, marked
// truncated, covering the oldest events (observed order, whatever order they were stored in).
func TestBacktestBudget(t *testing.T) {
	e := newEnv(t)
	now := t0.Add(3 * 24 * time.Hour)
	var evs []*event.FileEvent
	for i := range 2500 { // stored newest first; the newest 1000 minutes are late's
		who, at := "early@corp.example", 2500-i
		if at > 1500 {
			who = "late@corp.example"
		}
		evs = append(evs, e.ev(who, time.Duration(at)*time.Minute, event.ActionDownloaded))
	}
	e.insert(evs...)
	p, _ := json.Marshal(Params{Value: 2, Window: "1m"})
	r := store.AlertRule{Name: "downloads", Query: "action:downloaded", Kind: Threshold, Params: p, Severity: "high"}
	people := func(res BacktestResult) map[string]int {
		out := map[string]int{}
		for _, p := range res.People {
			out[p.Person] = p.Alerts
		}
		return out
	}
	res, err := Backtest(ctx, e.st, r, 7, now, 0)
	if err != nil || res.Truncated || res.Events != 2500 || people(res)["late@corp.example"] == 0 || people(res)["early@corp.example"] == 0 {
		t.Fatalf("within the budget: %+v %v", res, err)
	}
	defer func(b time.Duration) { backtestBudget = b }(backtestBudget)
	backtestBudget = 0
	res, err = Backtest(ctx, e.st, r, 7, now, 0)
	if err != nil || !res.Truncated || res.Events != 1000 || people(res)["late@corp.example"] != 0 || people(res)["early@corp.example"] == 0 {
		t.Fatalf("no budget: the oldest page only, truncated: %+v %v", res, err)
	}
}

// stuckAggregate is a store whose threshold aggregate never finishes by itself: it returns only
// when its context ends, as a driver interrupts a long statement at its deadline.
type stuckAggregate struct {
	Searcher
	deadline bool
}

func (s *stuckAggregate) AggregateBuckets(ctx context.Context, _ search.Query, _ store.BucketSpec, _ func(store.BucketRow) error) error {
	_, s.deadline = ctx.Deadline()
	<-ctx.Done()
	return ctx.Err()
}

// TestBacktestBudgetHoldsForTheAggregate: a threshold backtest's aggregate runs under the time
// budget's deadline; when it runs out, the backtest reads the events as far as the budget allows
// and answers truncated, instead of waiting for the statement.
func TestBacktestBudgetHoldsForTheAggregate(t *testing.T) {
	e := newEnv(t)
	now := t0.Add(3 * 24 * time.Hour)
	var evs []*event.FileEvent
	for i := range 1500 {
		evs = append(evs, e.ev("ann@corp.example", time.Duration(i)*time.Minute, event.ActionDownloaded))
	}
	e.insert(evs...)
	p, _ := json.Marshal(Params{Value: 2, Window: "1m"})
	r := store.AlertRule{Name: "downloads", Query: "action:downloaded", Kind: Threshold, Params: p, Severity: "high"}
	defer func(b time.Duration) { backtestBudget = b }(backtestBudget)
	backtestBudget = 300 * time.Millisecond
	st := &stuckAggregate{Searcher: e.st}
	done := make(chan struct{})
	var res BacktestResult
	var err error
	go func() { res, err = Backtest(ctx, st, r, 7, now, 0); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the backtest waited on its aggregate past the budget")
	}
	if !st.deadline {
		t.Error("the aggregate ran without the budget's deadline")
	}
	if err != nil || !res.Truncated || res.Events == 0 {
		t.Fatalf("after the aggregate ran out of time: %+v %v (want the events read as far as the budget allows, truncated)", res, err)
	}
}
