package alert

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/store"
	"github.com/telltale-dev/telltale/internal/watchlist"
)

// TestBatchStateAgreesWithPerEventCalls: the evaluator's batch state (prepare, memory, flush)
// raises the same alerts, with the same events, counts, times and summaries, and leaves the same
// pending terms, as evaluating with a store call per event and rule. A few thousand random events
// of 12 people over 6 hours, stored out of order within the hour and in uneven pages, through
// threshold rules (count, distinct files, bytes; by person, by person and domain), new_terms
// rules and a capped rule; an analyst resolves some open alerts between pages, so later events
// of that group raise new alerts rather than joining them.
func TestBatchStateAgreesWithPerEventCalls(t *testing.T) {
	batch, direct := newEnv(t), newEnv(t)
	direct.v.perEvent = true
	to := func(addr string) func(*event.FileEvent) {
		return func(x *event.FileEvent) { x.Email.Recipients = []string{addr} }
	}
	var rules []int64
	for _, e := range []*env{batch, direct} {
		rules = rules[:0]
		for _, r := range []struct {
			name, query, kind string
			p                 Params
		}{
			{"count by person", "action:downloaded", Threshold, Params{Value: 5, Window: "30m"}},
			{"files by person and domain", "action:emailed", Threshold, Params{Measure: MeasureFiles, Value: 3, Window: "1h", GroupBy: []string{"actor", "domain"}}},
			{"bytes", "action:downloaded OR action:emailed", Threshold, Params{Measure: MeasureBytes, Value: 6 << 20, Window: "20m"}},
			{"new domain", "action:emailed", NewTerms, Params{Fields: []string{"actor", "domain"}, HistoryDays: 30}},
			{"new recipient", "action:emailed", NewTerms, Params{Fields: []string{"recipient"}, HistoryDays: 1}},
			{"capped", "", Threshold, Params{Value: 2, Window: "10m", MaxAlertsPerHour: 3}},
		} {
			rules = append(rules, e.rule(r.name, r.query, r.kind, r.p, "high").ID)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	domains := []string{"partner.example", "gmail.com", "proton.me", "vendor.example", "corp.example"}
	var pages [][]int // per page, per event: person, minute, action, domain, recipient, file
	minute := 0
	for range 60 {
		var page []int
		for range 1 + rng.IntN(80) {
			page = append(page, rng.IntN(12), minute+rng.IntN(60)-30, rng.IntN(3), rng.IntN(len(domains)), rng.IntN(4), rng.IntN(30))
		}
		pages = append(pages, page)
		minute += 6
	}
	for pi, page := range pages {
		for _, e := range []*env{batch, direct} {
			var evs []*event.FileEvent
			for i := 0; i < len(page); i += 6 {
				who := fmt.Sprintf("p%02d@corp.example", page[i])
				action := []event.Action{event.ActionDownloaded, event.ActionEmailed, event.ActionShared}[page[i+2]]
				x := e.ev(who, time.Duration(page[i+1])*time.Minute, action, to(fmt.Sprintf("r%d@%s", page[i+4], domains[page[i+3]])))
				x.File.ID, x.File.Size = fmt.Sprint("f", page[i+5]), int64(page[i+5]%4+1)<<20
				evs = append(evs, x)
			}
			e.insert(evs...)
			e.drain()
			if pi%7 == 3 { // an analyst resolves the oldest open alert of each rule
				for _, r := range rules {
					for _, a := range e.alerts(r) {
						if a.State == store.AlertOpen {
							a.State, a.UpdatedAt = store.AlertResolved, t0
							if _, err := e.st.UpdateAlert(ctx, a, nil); err != nil {
								t.Fatal(err)
							}
							break
						}
					}
				}
			}
		}
	}
	total := 0
	for _, r := range rules {
		got, want := batch.alerts(r), direct.alerts(r)
		total += len(got)
		if len(got) != len(want) {
			t.Fatalf("rule %d: %d alerts in batches, %d event by event:\n%s\n%s", r, len(got), len(want), summary(got), summary(want))
		}
		for i := range got {
			g, w := got[i], want[i]
			if g.GroupKey != w.GroupKey || g.EventCount != w.EventCount || g.Summary != w.Summary || g.State != w.State ||
				!g.FirstEventAt.Equal(w.FirstEventAt) || !g.LastEventAt.Equal(w.LastEventAt) || !g.WindowEnd.Equal(w.WindowEnd) ||
				!slices.Equal(batch.eventIDs(g), direct.eventIDs(w)) {
				t.Fatalf("rule %d alert %d: batches %+v %v, event by event %+v %v", r, i, g, batch.eventIDs(g), w, direct.eventIDs(w))
			}
		}
		bw, _ := batch.st.GetAlertRule(ctx, r)
		dw, _ := direct.st.GetAlertRule(ctx, r)
		if bw.Suppressed != dw.Suppressed || bw.Warning != dw.Warning {
			t.Errorf("rule %d: suppressed %d %q in batches, %d %q event by event", r, bw.Suppressed, bw.Warning, dw.Suppressed, dw.Warning)
		}
	}
	if total < 50 {
		t.Fatalf("only %d alerts: the comparison proves little", total)
	}
	// The pending terms agree: the same terms are new afterwards.
	for _, r := range rules {
		for _, term := range []string{"p00@corp.example | gmail.com", "p03@corp.example | proton.me", "r1@vendor.example", "nobody"} {
			a, err := batch.st.MarkAlertTerms(ctx, r, []string{term}, t0.Add(8*time.Hour), t0.Add(-time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			b, err := direct.st.MarkAlertTerms(ctx, r, []string{term}, t0.Add(8*time.Hour), t0.Add(-time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(a, b) {
				t.Errorf("rule %d term %q: new %v in batches, %v event by event", r, term, a, b)
			}
		}
	}
	t.Logf("%d alerts agree", total)
}

// TestMemStateAgreesWithStore: a backtest's memory (memState) and the store's queries, given the
// same rules and events in the same order with the events' own times as the clock, raise the same
// alerts (groups, event counts, times, summaries) and hold back the same number at the hourly cap.
func TestMemStateAgreesWithStore(t *testing.T) {
	e := newEnv(t)
	var rules []*Compiled
	for i, p := range []struct {
		query, kind string
		p           Params
	}{
		{"action:downloaded", Threshold, Params{Value: 3, Window: "30m", MaxAlertsPerHour: 4}},
		{"action:emailed", Threshold, Params{Measure: MeasureFiles, Value: 2, Window: "1h", GroupBy: []string{"actor", "domain"}}},
		{"action:emailed", NewTerms, Params{Fields: []string{"actor", "domain"}, HistoryDays: 30, MaxAlertsPerHour: 5}},
		{"", Threshold, Params{Measure: MeasureBytes, Value: 5 << 20, Window: "15m"}},
	} {
		r := e.rule(fmt.Sprint("rule ", i), p.query, p.kind, p.p, "high")
		c, err := Compile(r, e.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		rules = append(rules, c)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	domains := []string{"partner.example", "gmail.com", "proton.me"}
	var evs []*event.FileEvent
	for i := range 1500 {
		x := e.ev(fmt.Sprintf("p%d@corp.example", rng.IntN(8)), time.Duration(i)*20*time.Second,
			[]event.Action{event.ActionDownloaded, event.ActionEmailed}[rng.IntN(2)])
		x.Email.Recipients = []string{fmt.Sprintf("r%d@%s", rng.IntN(3), domains[rng.IntN(len(domains))])}
		x.File.ID, x.File.Size = fmt.Sprint("f", rng.IntN(40)), int64(rng.IntN(3)+1)<<20
		evs = append(evs, x)
	}
	e.insert(evs...)
	stored, err := e.st.ListEvents(ctx, store.EventFilter{Limit: 5000})
	if err != nil || len(stored) != len(evs) {
		t.Fatalf("%d events read back: %v", len(stored), err)
	}
	at := func(x *event.FileEvent) time.Time { return x.Timestamp }
	mem := newMemState()
	memOut, err := evaluate(ctx, mem, rules, stored, at, watchlist.Set{})
	if err != nil {
		t.Fatal(err)
	}
	var stOut Outcome
	if err := e.st.InTx(ctx, func(q store.Queries) error {
		var err error
		stOut, err = evaluate(ctx, q, rules, stored, at, watchlist.Set{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if memOut.Raised != stOut.Raised || memOut.Gathered != stOut.Gathered || len(memOut.Suppressed) != len(stOut.Suppressed) {
		t.Fatalf("memory raised %d gathered %d suppressed %v; store %d %d %v", memOut.Raised, memOut.Gathered, memOut.Suppressed,
			stOut.Raised, stOut.Gathered, stOut.Suppressed)
	}
	capped := int64(0)
	for id, n := range stOut.Suppressed {
		capped += n
		if memOut.Suppressed[id] != n {
			t.Errorf("rule %d: %d held back in memory, %d with the store", id, memOut.Suppressed[id], n)
		}
	}
	for _, r := range rules {
		want := e.alerts(r.ID)
		var got []store.Alert
		for _, a := range mem.alerts {
			if a.RuleID == r.ID {
				got = append(got, a)
			}
		}
		if len(got) != len(want) {
			t.Fatalf("rule %d: %d alerts in memory, %d with the store", r.ID, len(got), len(want))
		}
		for i := range got {
			g, w := got[i], want[i]
			if g.GroupKey != w.GroupKey || g.EventCount != w.EventCount || g.Summary != w.Summary ||
				!g.FirstEventAt.Equal(w.FirstEventAt) || !g.LastEventAt.Equal(w.LastEventAt) || !g.WindowEnd.Equal(w.WindowEnd) {
				t.Fatalf("rule %d alert %d: memory %+v, store %+v", r.ID, i, g, w)
			}
		}
	}
	if stOut.Raised < 30 || stOut.Gathered < 30 || capped == 0 {
		t.Fatalf("raised %d, gathered %d, held back %d: the comparison proves little", stOut.Raised, stOut.Gathered, capped)
	}
	t.Logf("raised %d, gathered %d, held back %d: memory and store agree", stOut.Raised, stOut.Gathered, capped)
}
