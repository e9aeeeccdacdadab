package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"encoding/csv"
	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/auth"
	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/store"
	"net/url"
)

func decodeAs[T any](t *testing.T, code int, body []byte, want int) T {
	t.Helper()
	if code != want {
		t.Fatalf("status %d, want %d: %s", code, want, body)
	}
	var v T
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	return v
}

// TestAlertRulesAndAlertsOverHTTP: templates are there on first start; a rule with a syntax error
// is refused with the parser's message, position and suggestion; a rule is created, backtested,
// raises alerts that analysts list, read, update one by one and in bulk, every change in the
// alert's history and the audit log.
func TestAlertRulesAndAlertsOverHTTP(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	code, body := f.do(t, f.admin, "GET", "/api/v1/rules", nil)
	rules := decodeAs[client.AlertRuleList](t, code, body, 200)
	if len(rules.Items) != 6 || !rules.Items[0].Enabled || rules.Items[0].Template == "" {
		t.Fatalf("shipped templates: %+v", rules.Items)
	}

	// Refusals.
	code, body = f.do(t, f.admin, "POST", "/api/v1/rules", client.AlertRuleInput{Name: "x", Query: "action:shared actr:bob", Kind: "threshold",
		Params: json.RawMessage(`{"value":1}`), Severity: "high"})
	p := problem(t, body)
	if code != 400 || p.Position == nil || *p.Position != 14 || p.Suggestion != "actor" || len(p.Errors) != 1 || p.Errors[0].Field != "query" {
		t.Fatalf("syntax error: %d %s", code, body)
	}
	code, body = f.do(t, f.admin, "POST", "/api/v1/rules", client.AlertRuleInput{Name: "x", Query: "", Kind: "threshold",
		Params: json.RawMessage(`{"value":0}`), Severity: "high"})
	if p := problem(t, body); code != 400 || len(p.Errors) != 1 || p.Errors[0].Field != "params.value" {
		t.Fatalf("bad params: %d %s", code, body)
	}

	code, body = f.do(t, f.admin, "POST", "/api/v1/rules", client.AlertRuleInput{Name: "x", Query: "", Kind: "threshold",
		Params: json.RawMessage(`{"value":1,"watchlists":["departing_employee","nope"]}`), Severity: "high"})
	if p := problem(t, body); code != 400 || len(p.Errors) != 1 || p.Errors[0].Field != "params.watchlists" || !strings.Contains(p.Detail, `"nope"`) {
		t.Fatalf("unknown watchlist: %d %s", code, body)
	}
	code, body = f.do(t, f.admin, "POST", "/api/v1/rules", client.AlertRuleInput{Name: "scoped", Query: "", Kind: "threshold",
		Params: json.RawMessage(`{"value":1,"watchlists":["Departing_Employee"]}`), Severity: "high"})
	scoped := decodeAs[client.AlertRule](t, code, body, 201)
	var sp bytes.Buffer
	json.Compact(&sp, scoped.Params)
	if !strings.Contains(sp.String(), `"watchlists":["Departing_Employee"]`) {
		t.Errorf("scoped rule %s", sp.String())
	}

	// A rule: 2 downloads within an hour per person.
	in := client.AlertRuleInput{Name: "Downloads", Query: "action:downloaded", Kind: "threshold", Params: json.RawMessage(`{"value":2,"window":"1h"}`), Severity: "high"}
	code, body = f.do(t, f.admin, "POST", "/api/v1/rules", in)
	rule := decodeAs[client.AlertRule](t, code, body, 201)
	var compact bytes.Buffer
	json.Compact(&compact, rule.Params)
	if compact.String() != `{"measure":"count","value":2,"window":"1h","max_alerts_per_hour":100}` || !rule.Enabled || rule.CreatedBy != "admin" {
		t.Errorf("created %+v, params %s", rule, rule.Params)
	}
	if code, body := f.do(t, f.admin, "POST", "/api/v1/rules", in); code != 409 {
		t.Fatalf("same name: %d %s", code, body)
	}

	// Events, evaluated.
	if err := f.app.Alerts.Start(ctx); err != nil {
		t.Fatal(err)
	}
	c, err := f.app.Store.CreateConnection(ctx, store.Connection{Name: "box", Service: "box", ServiceType: "cloud", Status: "Monitoring", ScopeKind: "all"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	var evs []*event.FileEvent
	for i := range 6 {
		evs = append(evs, &event.FileEvent{Timestamp: now.Add(-time.Duration(i) * time.Minute),
			Event: event.Meta{Action: event.ActionDownloaded, Observer: event.ObserverBox, ConnectionID: c.ID, VendorIDs: []string{fmt.Sprint("v", i)}},
			User:  event.User{Email: fmt.Sprintf("p%d@corp.example", i%3)}, File: event.File{ID: fmt.Sprint("f", i), Name: "a.xlsx"}})
	}
	if _, err := f.app.Store.InsertEvents(ctx, evs, false); err != nil {
		t.Fatal(err)
	}
	for {
		n, err := f.app.Alerts.RunOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}

	// Backtest: the same three alerts, for three people.
	code, body = f.do(t, f.userToken(t, auth.RoleAnalyst), "POST", "/api/v1/rules/test", client.RuleTestRequest{Rule: in, Days: 1})
	bt := decodeAs[client.RuleTestResult](t, code, body, 200)
	if bt.Alerts != 3 || len(bt.People) != 3 || bt.Events != 6 {
		t.Fatalf("backtest %+v", bt)
	}
	code, body = f.do(t, f.admin, "POST", "/api/v1/rules/test", client.RuleTestRequest{Rule: client.AlertRuleInput{Name: "t", Query: "action:downlaoded",
		Kind: "threshold", Params: json.RawMessage(`{"value":2}`), Severity: "low"}})
	if p := problem(t, body); code != 400 || p.Suggestion != "file-downloaded" || p.Errors[0].Field != "rule.query" {
		t.Fatalf("backtest of a bad rule: %d %s", code, body)
	}

	code, body = f.do(t, f.admin, "GET", "/api/v1/alerts?state=open&rule="+rule.ID+"&limit=2", nil)
	page := decodeAs[client.AlertList](t, code, body, 200)
	if len(page.Items) != 2 || page.Next == "" {
		t.Fatalf("first page %+v", page)
	}
	code, body = f.do(t, f.admin, "GET", "/api/v1/alerts?state=open&rule="+rule.ID+"&limit=2&before="+page.Next, nil)
	if rest := decodeAs[client.AlertList](t, code, body, 200); len(rest.Items) != 1 {
		t.Fatalf("second page %+v", rest)
	}
	if code, _ := f.do(t, f.admin, "GET", "/api/v1/alerts?state=closed", nil); code != 400 {
		t.Errorf("bad state: %d", code)
	}
	if code, _ := f.do(t, f.admin, "GET", "/api/v1/alerts?severity=none", nil); code != 400 {
		t.Errorf("bad severity: %d", code)
	}
	code, body = f.do(t, f.admin, "GET", "/api/v1/alerts?severity=low,moderate&rule="+rule.ID, nil)
	if l := decodeAs[client.AlertList](t, code, body, 200); len(l.Items) != 0 {
		t.Errorf("low or moderate alerts of a high rule: %+v", l.Items)
	}
	code, body = f.do(t, f.admin, "GET", "/api/v1/alerts?severity=high&rule="+rule.ID, nil)
	if l := decodeAs[client.AlertList](t, code, body, 200); len(l.Items) != 3 {
		t.Errorf("high alerts: %d, want 3", len(l.Items))
	}
	code, body = f.do(t, f.admin, "GET", "/api/v1/rules/"+rule.ID, nil)
	if got := decodeAs[client.AlertRule](t, code, body, 200); got.Alerts == nil || got.Alerts.Total != 3 || got.Alerts.Open != 3 || got.Alerts.Effectiveness != nil ||
		len(got.Alerts.Daily) != 30 || got.Alerts.Daily[29] != 3 || got.Alerts.Daily[28] != 0 {
		t.Errorf("rule counts %+v", got.Alerts)
	}
	a := page.Items[0]
	code, body = f.do(t, f.admin, "GET", "/api/v1/alerts/"+a.ID, nil)
	d := decodeAs[client.AlertDetails](t, code, body, 200)
	if d.Alert.EventCount != 2 || len(d.Events.Items) != 2 || len(d.History) != 1 || d.History[0].Field != "raised" {
		t.Fatalf("details %+v", d)
	}

	// One alert by an analyst, with a note; a stale version is refused.
	analyst := f.namedToken(t, "ann", auth.RoleAnalyst)
	st, res, who := "resolved", "true_positive", "ann"
	code, body = f.do(t, analyst, "PATCH", "/api/v1/alerts/"+a.ID, client.AlertUpdate{State: &st, Resolution: &res, Assignee: &who, Note: "confirmed", Version: a.Version})
	up := decodeAs[client.Alert](t, code, body, 200)
	if up.State != "resolved" || up.Resolution != "true_positive" || up.Assignee != "ann" || up.Version != a.Version+1 {
		t.Fatalf("updated %+v", up)
	}
	if code, body := f.do(t, analyst, "PATCH", "/api/v1/alerts/"+a.ID, client.AlertUpdate{Note: "again", Version: a.Version}); code != 409 {
		t.Errorf("stale version: %d %s", code, body)
	}
	bad := "fixed"
	if code, _ := f.do(t, analyst, "PATCH", "/api/v1/alerts/"+a.ID, client.AlertUpdate{State: &bad}); code != 400 {
		t.Errorf("bad state: %d", code)
	}
	code, body = f.do(t, f.admin, "GET", "/api/v1/alerts/"+a.ID+"/history", nil)
	h := decodeAs[client.AlertHistory](t, code, body, 200)
	if len(h.Items) != 5 || h.Items[1].Field != "state" || h.Items[1].From != "open" || h.Items[1].Actor != "ann" || h.Items[4].Note != "confirmed" {
		t.Fatalf("history %+v", h.Items)
	}

	// Bulk: every alert dismissed; the resolved one too, a missing one reported.
	var ids []string
	code, body = f.do(t, f.admin, "GET", "/api/v1/alerts?rule="+rule.ID, nil)
	for _, x := range decodeAs[client.AlertList](t, code, body, 200).Items {
		ids = append(ids, x.ID)
	}
	code, body = f.do(t, analyst, "POST", "/api/v1/alerts/bulk", client.AlertBulkUpdate{IDs: append(ids, "999999"), State: "dismissed", Note: "test data"})
	br := decodeAs[client.AlertBulkResult](t, code, body, 200)
	if br.Updated != 3 || len(br.Errors) != 1 || br.Errors[0].Value != "999999" {
		t.Fatalf("bulk %+v", br)
	}
	code, body = f.do(t, analyst, "POST", "/api/v1/alerts/bulk", client.AlertBulkUpdate{IDs: ids, State: "dismissed"})
	if br := decodeAs[client.AlertBulkResult](t, code, body, 200); br.Updated != 0 || br.Unchanged != 3 {
		t.Fatalf("bulk again %+v", br)
	}
	code, body = f.do(t, f.admin, "GET", "/api/v1/alerts?state=dismissed", nil)
	if l := decodeAs[client.AlertList](t, code, body, 200); len(l.Items) != 3 {
		t.Fatalf("dismissed: %d", len(l.Items))
	}

	// Rule update and delete; the audit log has every change.
	in.Enabled = new(bool)
	in.Version = rule.Version
	code, body = f.do(t, f.admin, "PUT", "/api/v1/rules/"+rule.ID, in)
	if r := decodeAs[client.AlertRule](t, code, body, 200); r.Enabled || r.Version != rule.Version+1 {
		t.Fatalf("disabled %+v", r)
	}
	if code, _ := f.do(t, f.admin, "PUT", "/api/v1/rules/"+rule.ID, in); code != 409 {
		t.Errorf("stale rule version: %d", code)
	}
	if code, body := f.do(t, f.admin, "DELETE", "/api/v1/rules/"+rule.ID, nil); code != http.StatusNoContent {
		t.Fatalf("delete: %d %s", code, body)
	}
	code, body = f.do(t, f.admin, "GET", "/api/v1/alerts?rule="+rule.ID, nil)
	if l := decodeAs[client.AlertList](t, code, body, 200); len(l.Items) != 3 {
		t.Errorf("alerts of a deleted rule: %d, want them kept", len(l.Items))
	}
	entries, err := f.app.Store.ListAudit(ctx, store.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, e := range entries {
		if e.Outcome == "ok" {
			seen[e.Action]++
		}
	}
	for _, act := range []string{"rule.create", "rule.update", "rule.delete", "rule.test", "alert.update", "alert.bulk_update"} {
		if seen[act] == 0 {
			t.Errorf("no audit entry %s: %v", act, seen)
		}
	}
}

// TestUncoveredRisksOverHTTP: analysts see the high and critical events no enabled rule matches,
// by indicator, each with a draft that saves as it is and its backtest; read-only users may not;
// a bad days value is refused, naming it.
func TestUncoveredRisksOverHTTP(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c, err := f.app.Store.CreateConnection(ctx, store.Connection{Name: "box", Service: "box", ServiceType: "cloud", Status: "Monitoring", ScopeKind: "all"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	e := &event.FileEvent{Timestamp: now.Add(-time.Hour),
		Event: event.Meta{Action: event.ActionShared, Observer: event.ObserverBox, ConnectionID: c.ID, VendorIDs: []string{"u1"}},
		User:  event.User{Email: "zed@corp.example"}, File: event.File{ID: "f1", Name: "a.bin"},
		Risk: event.Risk{Score: 9, Severity: event.SeverityCritical, Indicators: []string{event.IndicatorOffHours}}}
	if _, err := f.app.Store.InsertEvents(ctx, []*event.FileEvent{e}, false); err != nil {
		t.Fatal(err)
	}
	analyst := f.userToken(t, auth.RoleAnalyst)
	code, body := f.do(t, analyst, "GET", "/api/v1/rules/uncovered?days=3", nil)
	res := decodeAs[client.UncoveredRisks](t, code, body, http.StatusOK)
	var g *client.UncoveredGroup
	for i := range res.Groups {
		if res.Groups[i].Indicator == event.IndicatorOffHours {
			g = &res.Groups[i]
		}
	}
	if res.Uncovered != 1 || g == nil || g.Events != 1 || g.Critical != 1 || len(g.Sample) != 1 || g.Sample[0] != fmt.Sprint(e.Event.ID) ||
		g.Backtest == nil || g.Backtest.Alerts != 1 || len(g.Backtest.People) != 1 || g.Backtest.People[0].Person != "zed@corp.example" {
		t.Fatalf("uncovered: %s", body)
	}
	code, body = f.do(t, f.admin, "POST", "/api/v1/rules", g.Draft)
	if code != http.StatusCreated && code != http.StatusOK {
		t.Fatalf("saving the draft: %d %s", code, body)
	}
	code, body = f.do(t, analyst, "GET", "/api/v1/rules/uncovered?days=3", nil)
	if res := decodeAs[client.UncoveredRisks](t, code, body, http.StatusOK); res.Uncovered != 0 || len(res.Groups) != 0 {
		t.Errorf("after saving the draft: %s", body)
	}
	if code, body := f.do(t, f.userToken(t, auth.RoleReadOnly), "GET", "/api/v1/rules/uncovered", nil); code != http.StatusForbidden {
		t.Errorf("read-only: %d %s", code, body)
	}
	if code, body := f.do(t, analyst, "GET", "/api/v1/rules/uncovered?days=abc", nil); code != http.StatusBadRequest || !strings.Contains(string(body), "days") {
		t.Errorf("days=abc: %d %s", code, body)
	}
}

// TestTrustRecommendationsOverHTTP: admins are offered a domain many people use often, with its
// counts; trusting it (PUT /api/v1/settings) withdraws the offer; analysts may not read them; a
// bad threshold is refused, naming it.
func TestTrustRecommendationsOverHTTP(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c, err := f.app.Store.CreateConnection(ctx, store.Connection{Name: "box", Service: "box", ServiceType: "cloud", Status: "Monitoring", ScopeKind: "all"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	var evs []*event.FileEvent
	for i := range 5 {
		p := fmt.Sprintf("p%d@corp.example", i)
		if _, err := f.app.Store.MarkDestinations(ctx, p, []string{"vendor.example"}, now.Add(-time.Hour)); err != nil {
			t.Fatal(err)
		}
		for j := range 4 {
			evs = append(evs, &event.FileEvent{Timestamp: now.Add(-time.Duration(j+1) * time.Minute),
				Event: event.Meta{Action: event.ActionShared, Observer: event.ObserverBox, ConnectionID: c.ID, VendorIDs: []string{fmt.Sprint("t", i, j)}},
				User:  event.User{Email: p}, File: event.File{ID: fmt.Sprint("f", i, j), Name: "a.pdf"}, Sharing: event.Sharing{SharedWith: []string{"ops@vendor.example"}}})
		}
	}
	if _, err := f.app.Store.InsertEvents(ctx, evs, false); err != nil {
		t.Fatal(err)
	}
	code, body := f.do(t, f.admin, "GET", "/api/v1/trust/recommendations", nil)
	got := decodeAs[client.TrustRecommendations](t, code, body, http.StatusOK)
	if len(got.Items) != 1 || got.Items[0].Domain != "vendor.example" || got.Items[0].People != 5 || got.Items[0].Events != 20 {
		t.Fatalf("recommendations: %s", body)
	}
	if code, body := f.do(t, f.admin, "GET", "/api/v1/trust/recommendations?min_events=21", nil); code != http.StatusOK || strings.Contains(string(body), "vendor.example") {
		t.Errorf("min_events=21: %d %s", code, body)
	}
	code, body = f.do(t, f.admin, "GET", "/api/v1/settings", nil)
	st := decodeAs[client.Settings](t, code, body, http.StatusOK)
	st.TrustedDomains = append(st.TrustedDomains, "vendor.example")
	if code, body := f.do(t, f.admin, "PUT", "/api/v1/settings", st); code != http.StatusOK {
		t.Fatalf("trusting it: %d %s", code, body)
	}
	code, body = f.do(t, f.admin, "GET", "/api/v1/trust/recommendations", nil)
	if got := decodeAs[client.TrustRecommendations](t, code, body, http.StatusOK); len(got.Items) != 0 {
		t.Errorf("after trusting it: %s", body)
	}
	if code, body := f.do(t, f.userToken(t, auth.RoleAnalyst), "GET", "/api/v1/trust/recommendations", nil); code != http.StatusForbidden {
		t.Errorf("analyst: %d %s", code, body)
	}
	if code, body := f.do(t, f.admin, "GET", "/api/v1/trust/recommendations?min_people=0", nil); code != http.StatusBadRequest || !strings.Contains(string(body), "min_people") {
		t.Errorf("min_people=0: %d %s", code, body)
	}
}

// TestAlertSearchAndExportOverHTTP: alerts are found by text and creation time and exported, every
// one that matches, as CSV (formula cells neutralized) or JSON lines; read-only users may not
// export; a bad filter is refused, naming it.
func TestAlertSearchAndExportOverHTTP(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	for i := range 1203 {
		summary := fmt.Sprintf("p%d: 3 files within 1h", i)
		if i == 7 {
			summary = "=HYPERLINK(\"http://x\") exfil"
		}
		if _, err := f.app.Store.CreateAlert(ctx, store.Alert{RuleID: 1, RuleName: "Public link", GroupKey: fmt.Sprintf("p%d@corp.example", i),
			Person: fmt.Sprintf("p%d@corp.example", i), State: store.AlertOpen, Severity: "high", Summary: summary,
			FirstEventAt: now, LastEventAt: now, WindowEnd: now.Add(time.Hour), CreatedAt: now.Add(-time.Duration(i) * time.Minute)}, []int64{int64(i + 1)}); err != nil {
			t.Fatal(err)
		}
	}
	analyst := f.userToken(t, auth.RoleAnalyst)
	code, body := f.do(t, analyst, "GET", "/api/v1/alerts?q=P12%40CORP", nil)
	if l := decodeAs[client.AlertList](t, code, body, http.StatusOK); len(l.Items) != 1 || l.Items[0].Person != "p12@corp.example" {
		t.Errorf("q=P12@CORP: %s", body)
	}
	from := url.QueryEscape(now.Add(-10 * time.Minute).Format(time.RFC3339))
	code, body = f.do(t, analyst, "GET", "/api/v1/alerts?limit=1000&from="+from, nil)
	if l := decodeAs[client.AlertList](t, code, body, http.StatusOK); len(l.Items) != 11 {
		t.Errorf("from 10 minutes ago: %d alerts, want 11", len(l.Items))
	}
	code, body = f.do(t, analyst, "GET", "/api/v1/alerts/export", nil)
	if code != http.StatusOK {
		t.Fatalf("export: %d %s", code, body)
	}
	rows, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil || len(rows) != 1204 || rows[0][0] != "id" || rows[1][8] != "p1202@corp.example" || rows[1204-1][8] != "p0@corp.example" {
		t.Fatalf("export: %d rows, %v", len(rows), err)
	}
	if !strings.Contains(string(body), `'=HYPERLINK`) {
		t.Errorf("a formula cell was not neutralized")
	}
	code, body = f.do(t, analyst, "GET", "/api/v1/alerts/export?format=jsonl&q=p12", nil)
	// p12, p120 to p129 and p1200 to p1202: 14 alerts.
	if n := strings.Count(string(body), "\n"); code != http.StatusOK || n != 14 {
		t.Errorf("jsonl q=p12: %d, %d lines", code, n)
	}
	if code, _ := f.do(t, f.userToken(t, auth.RoleReadOnly), "GET", "/api/v1/alerts/export", nil); code != http.StatusForbidden {
		t.Errorf("read-only export: %d", code)
	}
	for q, field := range map[string]string{"from=yesterday": "from", "format=xml": "format", "q=" + strings.Repeat("x", 201): "q", "from=2026-12-06&to=2026-12-05": "to"} {
		if code, body := f.do(t, analyst, "GET", "/api/v1/alerts/export?"+q, nil); code != http.StatusBadRequest || !strings.Contains(string(body), field) {
			t.Errorf("%s: %d %s", q, code, body)
		}
	}
}
