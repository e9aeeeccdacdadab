package alert

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/store"
)

func (e *env) watchlist(typ string) store.Watchlist {
	e.t.Helper()
	ls, err := e.st.ListWatchlists(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	i := slices.IndexFunc(ls, func(w store.Watchlist) bool { return w.Name == typ })
	if i < 0 {
		e.t.Fatalf("no watchlist %s", typ)
	}
	return ls[i]
}

// TestWatchlistScoping: a rule scoped to watchlists raises only for their members (by name,
// case-insensitively), as evaluated and as backtested; a member added later is in scope from the
// next batch; the parameter is validated.
func TestWatchlistScoping(t *testing.T) {
	e := newEnv(t)
	dep := e.watchlist("departing_employee")
	px, err := e.st.CreateWatchlist(ctx, store.Watchlist{Type: "custom", Name: "Project X"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.PutWatchlistMembers(ctx, dep.ID, []store.WatchlistMember{{Email: "alice@corp.example"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.PutWatchlistMembers(ctx, px.ID, []store.WatchlistMember{{Email: "carol@corp.example"}}); err != nil {
		t.Fatal(err)
	}
	r := e.rule("leavers", "action:downloaded", Threshold, Params{Value: 1, Window: "1h", Watchlists: []string{"Departing_Employee", "project x"}}, "high")
	all := e.rule("everyone", "action:downloaded", Threshold, Params{Value: 1, Window: "1h"}, "low")
	e.insert(e.ev("Alice@corp.example", 0, event.ActionDownloaded), e.ev("bob@corp.example", time.Minute, event.ActionDownloaded),
		e.ev("carol@corp.example", 2*time.Minute, event.ActionDownloaded))
	e.drain()
	if got := summary(e.alerts(r.ID)); got != "alice@corp.example:1 carol@corp.example:1" {
		t.Errorf("scoped rule: %s", got)
	}
	if got := summary(e.alerts(all.ID)); got != "alice@corp.example:1 bob@corp.example:1 carol@corp.example:1" {
		t.Errorf("unscoped rule: %s", got)
	}
	res, err := Backtest(ctx, e.st, r, 7, e.clock.Now(), 0)
	if err != nil || res.Alerts != 2 || len(res.People) != 2 || res.People[0].Person != "alice@corp.example" {
		t.Errorf("backtest %+v %v", res, err)
	}
	// bob joins the list: his next download is in scope.
	if _, err := e.st.PutWatchlistMembers(ctx, dep.ID, []store.WatchlistMember{{Email: "bob@corp.example"}}); err != nil {
		t.Fatal(err)
	}
	e.insert(e.ev("bob@corp.example", 3*time.Minute, event.ActionDownloaded))
	e.drain()
	if got := summary(e.alerts(r.ID)); got != "alice@corp.example:1 carol@corp.example:1 bob@corp.example:1" {
		t.Errorf("after bob joined: %s", got)
	}

	for _, p := range []string{`{"value":1,"watchlists":[""]}`, `{"value":1,"watchlists":["a","A "]}`, `{"value":1,"watchlists":"x"}`} {
		_, err := Compile(store.AlertRule{Name: "x", Kind: Threshold, Params: []byte(p), Severity: "low"}, t0)
		var re *Error
		if !errors.As(err, &re) || (re.Field != "params.watchlists" && re.Field != "params") {
			t.Errorf("%s: %v", p, err)
		}
	}
}

// TestDepartingTemplate: the shipped departing-employee rule raises for a member's download and a
// public link, not for a non-member's, and not for a member's view. A database whose templates
// were installed by the first release gets it at the next start, once.
func TestDepartingTemplate(t *testing.T) {
	e := newEnv(t)
	b, _ := json.Marshal(map[string]any{"at": t0, "templates": 5})
	if err := e.st.PutSetting(ctx, templatesSetting, b); err != nil {
		t.Fatal(err)
	}
	if n, err := InstallTemplates(ctx, e.st, t0); err != nil || n != 1 {
		t.Fatalf("upgrade installed %d (%v), want the departing-employee template only", n, err)
	}
	if n, err := InstallTemplates(ctx, e.st, t0); err != nil || n != 0 {
		t.Fatalf("second start installed %d (%v)", n, err)
	}
	rules, _ := e.st.ListAlertRules(ctx)
	if len(rules) != 1 || rules[0].Template != "departing_employee_exfiltration" || !rules[0].Enabled {
		t.Fatalf("rules %+v", rules)
	}
	if _, err := e.st.PutWatchlistMembers(ctx, e.watchlist("departing_employee").ID, []store.WatchlistMember{{Email: "alice@corp.example", DepartureDate: "2026-12-31"}}); err != nil {
		t.Fatal(err)
	}
	scored := func(x *event.FileEvent) {
		x.Risk = event.Risk{Score: 3, Severity: event.SeverityLow, Indicators: []string{"watchlist_departing_employee"}}
	}
	e.insert(e.ev("alice@corp.example", 0, event.ActionViewed), e.ev("bob@corp.example", time.Minute, event.ActionDownloaded, scored),
		e.ev("alice@corp.example", 2*time.Minute, event.ActionDownloaded, scored), e.ev("alice@corp.example", 3*time.Minute, event.ActionShared, scored))
	e.drain()
	if got := summary(e.alerts(rules[0].ID)); got != "alice@corp.example:2" {
		t.Errorf("departing template: %s", got)
	}
}
