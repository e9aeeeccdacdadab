package alert

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/store"
)

// heldRules are the rules of the memory tests: a threshold by person, one by person and domain,
// a new_terms rule by person and domain.
func heldRules(e *env) []int64 {
	return []int64{
		e.rule("count", "action:downloaded OR action:emailed", Threshold, Params{Value: 4, Window: "30m"}, "high").ID,
		e.rule("by domain", "action:emailed", Threshold, Params{Measure: MeasureFiles, Value: 2, Window: "1h", GroupBy: []string{"actor", "domain"}}, "high").ID,
		e.rule("new domain", "action:emailed", NewTerms, Params{Fields: []string{"actor", "domain"}, HistoryDays: 30}, "high").ID,
	}
}

// heldPage stores page i of the memory tests' events (the same in every env): 6 people, 4
// domains, downloads and e-mails, each page 20 minutes after the last.
func heldPage(e *env, i int) {
	var evs []*event.FileEvent
	for j := range 9 {
		k := i*9 + j
		x := e.ev(fmt.Sprintf("p%d@corp.example", (k*7)%6), time.Duration(i*20+j)*time.Minute,
			[]event.Action{event.ActionDownloaded, event.ActionEmailed}[k%2],
			func(x *event.FileEvent) { x.Email.Recipients = []string{fmt.Sprintf("r@d%d.example", (k*5+i)%4)} })
		x.File.ID = fmt.Sprint("f", k%11)
		evs = append(evs, x)
	}
	e.insert(evs...)
}

// sameAlerts fails unless both envs raised the same alerts (groups, events, states), and reports
// how many.
func sameAlerts(t *testing.T, got, want *env, rules []int64) int {
	t.Helper()
	n := 0
	for _, r := range rules {
		g, w := got.alerts(r), want.alerts(r)
		if summary(g) != summary(w) {
			t.Fatalf("rule %d: %s, want %s", r, summary(g), summary(w))
		}
		for i := range g {
			if !slices.Equal(got.eventIDs(g[i]), want.eventIDs(w[i])) {
				t.Fatalf("rule %d alert %d: events %v, want %v", r, i, got.eventIDs(g[i]), want.eventIDs(w[i]))
			}
		}
		n += len(g)
	}
	return n
}

// heldRows counts the rows the evaluator holds in memory.
func heldRows(v *Evaluator) int {
	v.held.mu.Lock()
	defer v.held.mu.Unlock()
	return v.held.rows
}

// TestHeldAcrossLeaseHandover: the evaluation lease moves between two nodes' evaluators every
// few pages (each keeps its rules' state in memory): they raise the same alerts as one
// evaluator that reads its state every batch, so each alert is raised once and no event joins
// the wrong one. A node whose memory was made before the other node evaluated must not use it.
func TestHeldAcrossLeaseHandover(t *testing.T) {
	two, ref := newEnv(t), newEnv(t)
	ref.v = New(Options{Store: ref.st, Clock: ref.clock, Batch: 7, HeldRows: -1})
	other := New(Options{Store: two.st, Clock: two.clock, Batch: 5})
	rules := heldRules(two)
	heldRules(ref)
	a := two.v
	for i := range 30 {
		heldPage(two, i)
		heldPage(ref, i)
		if (i/3)%2 == 1 { // pages 3-5, 9-11, ...: the other node holds the lease
			two.v = other
		} else {
			two.v = a
		}
		two.drain()
		ref.drain()
	}
	two.v = a
	if heldRows(a) == 0 || heldRows(other) == 0 {
		t.Fatalf("memory unused: %d and %d rows held", heldRows(a), heldRows(other))
	}
	if n := sameAlerts(t, two, ref, rules); n < 20 {
		t.Fatalf("only %d alerts: the comparison proves little", n)
	}
	if ref.v.held.rows != 0 {
		t.Fatal("HeldRows -1 held rows")
	}
}

// TestHeldRuleEdited: a rule edited between batches is evaluated at its new version, not from
// the memory of the old one: raising a threshold's value forgets its pending matches
// (UpdateAlertRule), so the events before the edit no longer count.
func TestHeldRuleEdited(t *testing.T) {
	e, ref := newEnv(t), newEnv(t)
	ref.v = New(Options{Store: ref.st, Clock: ref.clock, Batch: 7, HeldRows: -1})
	var ids []int64
	for _, x := range []*env{e, ref} {
		r := x.rule("downloads", "action:downloaded", Threshold, Params{Value: 3, Window: "1h"}, "high")
		ids = []int64{r.ID}
		x.insert(x.ev("alice@corp.example", 0, event.ActionDownloaded), x.ev("alice@corp.example", time.Minute, event.ActionDownloaded))
		x.drain()
		p, _ := json.Marshal(Params{Value: 4, Window: "1h"})
		r.Params = p
		if _, err := x.st.UpdateAlertRule(ctx, r); err != nil {
			t.Fatal(err)
		}
		x.insert(x.ev("alice@corp.example", 2*time.Minute, event.ActionDownloaded), x.ev("alice@corp.example", 3*time.Minute, event.ActionDownloaded))
		x.drain()
		if as := x.alerts(r.ID); len(as) != 0 {
			t.Fatalf("the matches of the old version counted: %s", summary(as))
		}
		x.insert(x.ev("alice@corp.example", 4*time.Minute, event.ActionDownloaded), x.ev("alice@corp.example", 5*time.Minute, event.ActionDownloaded))
		x.drain()
		if as := x.alerts(r.ID); summary(as) != "alice@corp.example:4" {
			t.Fatalf("four at the new version: %s", summary(as))
		}
	}
	sameAlerts(t, e, ref, ids)
}

// TestHeldLimit: a memory too small for the rules' state reads per batch (and holds at most its
// limit) and raises the same alerts.
func TestHeldLimit(t *testing.T) {
	e, ref := newEnv(t), newEnv(t)
	ref.v = New(Options{Store: ref.st, Clock: ref.clock, Batch: 7, HeldRows: -1})
	e.v = New(Options{Store: e.st, Clock: e.clock, Batch: 7, HeldRows: 12})
	rules := heldRules(e)
	heldRules(ref)
	most := 0
	for i := range 20 {
		heldPage(e, i)
		heldPage(ref, i)
		e.drain()
		ref.drain()
		most = max(most, heldRows(e.v))
	}
	if most == 0 || most > 12 {
		t.Fatalf("held at most %d rows, limit 12", most)
	}
	sameAlerts(t, e, ref, rules)
}

// TestHeldSavesReads: once a rule's state is held, a batch reads none of it: no
// ListAlertMatchesIn, OpenAlertsIn or AlertTermsIn, and one LoadAlertRuleState per rule in all.
func TestHeldSavesReads(t *testing.T) {
	e := newEnv(t)
	heldRules(e)
	cs := &countingStore{Store: e.st, calls: map[string]int{}}
	e.v = New(Options{Store: cs, Clock: e.clock, Batch: 7})
	for i := range 10 {
		heldPage(e, i)
		e.drain()
	}
	if cs.calls["load"] != 3 || cs.calls["per batch"] != 0 {
		t.Fatalf("calls: %v, want 3 loads and no per-batch reads", cs.calls)
	}
}

// countingStore counts the evaluator's reads of rule state in its transactions.
type countingStore struct {
	store.Store
	calls map[string]int
}

func (c *countingStore) InTx(ctx2 context.Context, fn func(q store.Queries) error) error {
	return c.Store.InTx(ctx2, func(q store.Queries) error { return fn(countingQueries{q, c.calls}) })
}

type countingQueries struct {
	store.Queries
	calls map[string]int
}

func (c countingQueries) LoadAlertRuleState(ctx2 context.Context, id int64, a, b time.Time, limit int) (store.AlertRuleState, bool, error) {
	c.calls["load"]++
	return c.Queries.LoadAlertRuleState(ctx2, id, a, b, limit)
}

func (c countingQueries) ListAlertMatchesIn(ctx2 context.Context, id int64, gs []string, since time.Time) ([]store.AlertMatch, error) {
	c.calls["per batch"]++
	return c.Queries.ListAlertMatchesIn(ctx2, id, gs, since)
}

func (c countingQueries) OpenAlertsIn(ctx2 context.Context, id int64, gs []string, at time.Time) ([]store.Alert, error) {
	c.calls["per batch"]++
	return c.Queries.OpenAlertsIn(ctx2, id, gs, at)
}

func (c countingQueries) AlertTermsIn(ctx2 context.Context, id int64, ts []string) (map[string]time.Time, error) {
	c.calls["per batch"]++
	return c.Queries.AlertTermsIn(ctx2, id, ts)
}
