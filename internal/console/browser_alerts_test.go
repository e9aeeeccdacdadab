package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/store"
)

// TestBrowserAlertsRulesWatchlists drives the pages of issue 16 in headless Chromium: open an
// alert from the list, change its state with a note and see both in its history; dismiss another
// from the list in bulk; create a rule with a syntax error and see the parser's message beside
// the query, then backtest the corrected rule; add a person to the departing-employee watchlist,
// and see a bad CSV refused with its row named and nothing changed. Every page passes axe-core.
func TestBrowserAlertsRulesWatchlists(t *testing.T) {
	t.Parallel()
	if testing.Short() && !browserRequired() {
		t.Skip("browser test skipped in -short mode")
	}
	chromium := findChromium(t)
	ta := newTestApp(t, true)
	ctx := context.Background()
	api := client.New(ta.URL, bootstrapToken)
	if _, err := api.CreateRule(ctx, client.AlertRuleInput{Name: "Console downloads", Query: "action:downloaded", Kind: "threshold",
		Params: json.RawMessage(`{"value":2,"window":"1h"}`), Severity: "high"}); err != nil {
		t.Fatal(err)
	}
	c, err := ta.App.Store.CreateConnection(ctx, store.Connection{Name: "box", Service: "box", ServiceType: "cloud", Status: "deauthorized", ScopeKind: "all"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	var evs []*event.FileEvent
	for i := range 4 {
		evs = append(evs, &event.FileEvent{Timestamp: now.Add(-time.Duration(i) * time.Minute),
			Event: event.Meta{Action: event.ActionDownloaded, Observer: event.ObserverBox, ConnectionID: c.ID, VendorIDs: []string{fmt.Sprint("v", i)}},
			User:  event.User{Email: fmt.Sprintf("p%d@corp.example", i%2)}, File: event.File{ID: fmt.Sprint("f", i), Name: fmt.Sprintf("plan-%d.xlsx", i)}})
	}
	if _, err := ta.App.Store.InsertEvents(ctx, evs, false); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		l, err := api.Alerts(ctx, client.AlertQuery{})
		if err == nil && len(l.Items) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the evaluator raised %+v (%v), want 2 alerts", l.Items, err)
		}
	}

	u := newUI(t, chromium, ta.URL)
	u.step = "sign in"
	u.open("/login")
	u.do(chromedp.SendKeys(chromedp.CSS("#username"), "alice"), chromedp.SendKeys(chromedp.CSS("#password"), adminPassword),
		chromedp.Click(chromedp.CSS("form button[type=submit]")))
	u.waitText("h1", "Risk exposure", 10*time.Second)

	u.step = "alerts list"
	u.do(chromedp.Click(chromedp.CSS(`header nav a[href="/alerts"]`)))
	u.waitText("h1", "Alerts", 10*time.Second)
	u.waitText("#alerts", "Console downloads", time.Second)
	u.checkPage("alerts")
	// filtered: no critical alerts
	u.open("/alerts?severity=critical")
	u.waitText("main", "No alerts match", 10*time.Second)
	u.open("/alerts?severity=high&state=open")
	u.waitText("#alerts", "p1@corp.example", 10*time.Second)

	u.step = "open an alert"
	u.do(chromedp.Click(chromedp.CSS(`#alerts tbody tr:first-child a[href^="/alerts/"]`)))
	u.waitText("h1", "Console downloads", 10*time.Second)
	u.waitText("#events", "plan-", time.Second)
	u.waitText("#timeline", "file-downloaded", time.Second)
	u.waitText("#history", "raised", time.Second)
	u.checkPage("alert")

	u.step = "change its state"
	u.do(chromedp.SetValue(chromedp.CSS("#state"), "in_progress"), chromedp.SetValue(chromedp.CSS("#assignee"), "ana"),
		chromedp.SendKeys(chromedp.CSS("#note"), "asked the manager"), chromedp.Click(chromedp.CSS(`form[action^="/alerts/"] button[type=submit]`)))
	u.waitText(".flash", "saved", 10*time.Second)
	u.waitText("#al-state", "in_progress", time.Second)
	u.waitText("#al-assignee", "ana", time.Second)
	hist := u.waitText("#history", "asked the manager", time.Second)
	if !strings.Contains(hist, "in_progress") || !strings.Contains(hist, "alice") {
		u.fatal("history %q lacks the state change by alice", hist)
	}

	u.step = "bulk dismiss"
	u.open("/alerts?state=open")
	u.waitText("#alerts", "Console downloads", 10*time.Second)
	if n := u.eval(`String(document.querySelectorAll("#alerts tbody tr").length)`); n != "1" {
		u.fatal("%s open alerts listed, want 1", n)
	}
	u.do(chromedp.Click(chromedp.CSS(`#alerts tbody input[type=checkbox]`)), chromedp.SetValue(chromedp.CSS("#bulk-state"), "dismissed"),
		chromedp.SetValue(chromedp.CSS("#bulk-resolution"), "false_positive"), chromedp.Click(chromedp.CSS(`#bulk button.primary`)))
	u.waitText(".flash", "1 alerts changed to dismissed", 10*time.Second)
	u.waitText("main", "No alerts match", time.Second)

	u.step = "rule with a syntax error"
	u.do(chromedp.Click(chromedp.CSS(`header nav a[href="/rules"]`)))
	u.waitText("#rules", "Departing employee exfiltration", 10*time.Second)
	u.waitText("#rules", "0 confirmed, 1 dismissed", time.Second) // the rule's effectiveness so far
	u.checkPage("rules")
	u.do(chromedp.Click(chromedp.CSS(`a[href="/rules/new"]`)))
	u.waitText("h1", "New alert rule", 10*time.Second)
	u.do(chromedp.SetValue(chromedp.CSS("#name"), "Shares to bob"), chromedp.SetValue(chromedp.CSS("#query"), "action:shared actr:bob"),
		chromedp.Click(chromedp.CSS(`#rule-form button.primary`)))
	msg := u.waitText("#query-err", `did you mean "actor"?`, 10*time.Second)
	if !strings.Contains(msg, "actr") {
		u.fatal("the query's message %q does not name the unknown field", msg)
	}
	if got := u.eval(`document.querySelector("#query").value`); got != "action:shared actr:bob" {
		u.fatal("the form lost what was typed: %q", got)
	}
	u.checkPage("rule-error")

	u.step = "backtest and save"
	u.do(chromedp.SetValue(chromedp.CSS("#query"), "action:downloaded"), chromedp.SetValue(chromedp.CSS("#params"), `{"value": 1, "window": "1h"}`),
		chromedp.Click(chromedp.CSS("#backtest")))
	u.waitText("#backtest-result", "2 alerts", 10*time.Second)
	u.waitText("#backtest-result", "p0@corp.example", time.Second)
	u.checkPage("rule-backtest")
	u.do(chromedp.Click(chromedp.CSS(`#rule-form button.primary`)))
	u.waitText(".flash", "Saved the rule Shares to bob", 10*time.Second)
	u.waitText("h1", "Alert rule: Shares to bob", time.Second)

	u.step = "watchlist member"
	u.do(chromedp.Click(chromedp.CSS(`header nav a[href="/watchlists"]`)))
	u.waitText("#watchlists", "poor_security_practices", 10*time.Second)
	u.checkPage("watchlists")
	u.do(chromedp.Click(chromedp.CSS(`#watchlists a`))) // departing_employee, the first
	u.waitText("h1", "Watchlist: departing_employee", 10*time.Second)
	u.waitText("main", "Nobody is on this watchlist", time.Second)
	u.do(chromedp.SetValue(chromedp.CSS("#email"), "Leaver@Corp.Example"), chromedp.SetValue(chromedp.CSS("#departure_date"), "2026-12-31"),
		chromedp.SetValue(chromedp.CSS("#notes"), "resigned"), chromedp.Click(chromedp.CSS(`#add-member button.primary`)))
	u.waitText(".flash", "Added leaver@corp.example", 10*time.Second)
	u.waitText("#members tbody td:first-child", "leaver@corp.example", time.Second)
	row := u.text("#members tbody tr")
	if !strings.Contains(row, "2026-12-31") || !strings.Contains(row, "resigned") || !strings.Contains(row, "alice") {
		u.fatal("member row %q", row)
	}
	u.checkPage("watchlist")

	u.step = "bad members CSV"
	csvPath := filepath.Join(t.TempDir(), "members.csv")
	if err := os.WriteFile(csvPath, []byte("Email,Departure Date\nnew@corp.example,2026-12-01\nother@corp.example,next week\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	u.do(chromedp.SetUploadFiles(chromedp.CSS("#members_csv"), []string{csvPath}), chromedp.Click(chromedp.CSS(`#replace`)),
		chromedp.Click(chromedp.CSS(`form[action$="/upload"] button.primary`)))
	errText := u.waitText("#page-error", "Row 3", 10*time.Second)
	if !strings.Contains(errText, "departure date") {
		u.fatal("the refusal %q does not say what is wrong", errText)
	}
	if got := u.text("#members"); !strings.Contains(got, "leaver@corp.example") || strings.Contains(got, "new@corp.example") {
		u.fatal("a refused file changed the members: %q", got)
	}
	u.checkPage("watchlist-bad-csv")

	u.step = "remove the member"
	u.do(chromedp.Click(chromedp.CSS(`#members button.linklike`)))
	u.waitText(".flash", "Removed leaver@corp.example", 10*time.Second)
	u.waitText("main", "Nobody is on this watchlist", time.Second)
	u.checkClean()
}
