package alert

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/store"
)

// genBursts stores generated events over 14 days: people downloading, sharing and e-mailing now
// and then, and in bursts (some crossing bucket edges), files reused, sizes, recipients' domains,
// some trusted events; mixed-case addresses.
func genBursts(e *env, seed uint64) {
	e.t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	people := []string{"alice@corp.example", "Bob@corp.example", "carol@corp.example", "dan@corp.example", "asmith@corp.onmicrosoft.example", "bob@corp.example"}
	domains := []string{"gmail.com", "partner.example", "dropbox.com"}
	actions := []event.Action{event.ActionDownloaded, event.ActionDownloaded, event.ActionShared, event.ActionEmailed}
	var evs []*event.FileEvent
	for i := range 700 { // single events, then bursts
		who := people[rng.IntN(len(people))]
		at := time.Duration(rng.IntN(14*24*60)) * time.Minute
		n := 1
		if i >= 600 {
			n = 2 + rng.IntN(12)
		}
		for range n {
			at += time.Duration(rng.IntN(15*60)) * time.Second
			act := actions[rng.IntN(len(actions))]
			evs = append(evs, e.ev(who, at, act, func(x *event.FileEvent) {
				x.File.ID = fmt.Sprint("f", rng.IntN(40))
				x.File.Size = int64(rng.IntN(3 << 20))
				x.Risk.Trusted = rng.IntN(20) == 0
				if act != event.ActionDownloaded {
					for range 1 + rng.IntN(2) {
						a := fmt.Sprintf("x%d@%s", rng.IntN(3), domains[rng.IntN(len(domains))])
						if act == event.ActionEmailed {
							x.Email.Recipients = append(x.Email.Recipients, a)
						} else {
							x.Sharing.SharedWith = append(x.Sharing.SharedWith, a)
						}
					}
				}
			}))
		}
	}
	e.insert(evs...)
}

// alertsOf describes a backtest's alerts, in the order raised, with their events.
func alertsOf(m *memState) []string {
	var out []string
	for _, a := range m.alerts {
		ids := make([]int64, 0, len(m.events[a.ID]))
		for id := range m.events[a.ID] {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		out = append(out, fmt.Sprintf("%s person=%s %s..%s end=%s created=%s n=%d %q %v", a.GroupKey, a.Person, a.FirstEventAt.Format(time.TimeOnly),
			a.LastEventAt.Format(time.TimeOnly), a.WindowEnd.Format(time.TimeOnly), a.CreatedAt.Format(time.TimeOnly), a.EventCount, a.Summary, ids))
	}
	return out
}

// TestBacktestBucketsAgree: a threshold rule's backtest measured in the database first
// (backtestBuckets) raises exactly the alerts reading every matching event does (backtestEvents):
// the same groups, people, events, windows and creation times, the same alerts held back by the
// hourly cap, for each measure, group fields single- and multi-valued, watchlist scoping and
// windows of several lengths, a person under two addresses; and it reads fewer events.
func TestBacktestBucketsAgree(t *testing.T) {
	e := newEnv(t)
	if err := e.st.AddPersonAlias(ctx, "alice@corp.example", "asmith@corp.onmicrosoft.example", "admin"); err != nil {
		t.Fatal(err)
	}
	genBursts(e, 1)
	dep := e.watchlist("departing_employee")
	if _, err := e.st.PutWatchlistMembers(ctx, dep.ID, []store.WatchlistMember{{Email: "bob@corp.example"}, {Email: "dan@corp.example"}}); err != nil {
		t.Fatal(err)
	}
	now := t0.Add(15 * 24 * time.Hour)
	rules := []struct {
		name, query string
		p           Params
	}{
		{"count", "action:downloaded", Params{Value: 5, Window: "1h"}},
		{"files 30m", "action:downloaded OR action:shared", Params{Measure: MeasureFiles, Value: 4, Window: "30m"}},
		{"bytes 2h", "*", Params{Measure: MeasureBytes, Value: 12 << 20, Window: "2h"}},
		{"by action and domain", "action:shared OR action:emailed", Params{Value: 3, Window: "1h", GroupBy: []string{"action", "domain"}}},
		{"by domain", "action:shared OR action:emailed", Params{Measure: MeasureFiles, Value: 3, Window: "3h", GroupBy: []string{"domain"}}},
		{"by file", "*", Params{Value: 3, Window: "1h", GroupBy: []string{"file_id"}}},
		{"capped", "*", Params{Value: 2, Window: "10m", MaxAlertsPerHour: 2}},
		{"every one", "action:emailed", Params{Value: 1, Window: "24h"}},
		{"departing", "*", Params{Value: 3, Window: "1h", Watchlists: []string{"departing_employee"}}},
	}
	for _, tc := range rules {
		b, _ := json.Marshal(tc.p)
		r := store.AlertRule{Name: tc.name, Query: tc.query, Kind: Threshold, Params: b, Severity: "high"}
		want, wm, err := backtest(ctx, e.st, r, 20, now, 0, true)
		if err != nil {
			t.Fatal(err)
		}
		got, gm, err := backtest(ctx, e.st, r, 20, now, 0, false)
		if err != nil {
			t.Fatal(err)
		}
		if len(wm.alerts) == 0 {
			t.Errorf("%s: no alerts to compare", tc.name)
		}
		if a, b := strings.Join(alertsOf(gm), "\n"), strings.Join(alertsOf(wm), "\n"); a != b {
			t.Errorf("%s: measured first:\n%s\nreading every event:\n%s", tc.name, a, b)
		}
		if got.Alerts != want.Alerts || got.Suppressed != want.Suppressed || fmt.Sprint(got.People) != fmt.Sprint(want.People) || got.Truncated {
			t.Errorf("%s: %+v, want %+v", tc.name, got, want)
		}
		if tc.name == "capped" && want.Suppressed == 0 {
			t.Errorf("capped: nothing held back, the cap is not compared")
		}
		t.Logf("%s: %d alerts, %d suppressed; read %d events of %d", tc.name, got.Alerts, got.Suppressed, got.Events, want.Events)
	}
}

// TestBucketKeys: a bucket row's values survive packing whatever bytes they hold.
func TestBucketKeys(t *testing.T) {
	for _, vs := range [][]string{nil, {""}, {"a", ""}, {"x\x00y", "1:2", "::", "é"}} {
		if got := splitKeys(joinKeys(vs)); fmt.Sprint(got) != fmt.Sprint(vs) || len(got) != len(vs) {
			t.Errorf("%q: got %q", vs, got)
		}
	}
}
