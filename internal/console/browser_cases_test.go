package console_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/store"
)

// TestBrowserPersonAndCases drives the person page and the case pages in headless Chromium: from
// an alert, open the person's page through the actor link and see their watchlist, rolling risk
// score and trend, departure exposure (the file shared by public link now, not the one unshared
// since), alerts and recent events; open a case gathering the person and the alert with a legal
// hold, see its people, alerts and events, close it with a note and see the history; the person's
// page then lists the case; an alert opens a new case with itself and its person. Every page
// passes axe-core.
func TestBrowserPersonAndCases(t *testing.T) {
	t.Parallel()
	if testing.Short() && !browserRequired() {
		t.Skip("browser test skipped in -short mode")
	}
	chromium := findChromium(t)
	ta := newTestApp(t, true)
	ctx := context.Background()
	api := client.New(ta.URL, bootstrapToken)
	c, err := ta.App.Store.CreateConnection(ctx, store.Connection{Name: "box", Service: "box", ServiceType: "cloud", Status: "deauthorized", ScopeKind: "all"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	mk := func(i int, action event.Action, file string, score int, sh event.Sharing) *event.FileEvent {
		return &event.FileEvent{Timestamp: now.Add(time.Duration(i-10) * time.Minute),
			Event: event.Meta{Action: action, Observer: event.ObserverBox, ConnectionID: c.ID, VendorIDs: []string{fmt.Sprint("pv", i)}},
			User:  event.User{Email: "bob@corp.example"}, File: event.File{ID: file, Name: file + ".xlsx", Owner: "bob@corp.example"},
			Sharing: sh, Risk: event.Risk{Score: score, Severity: event.SeverityModerate}}
	}
	public := event.Sharing{LinkScope: event.LinkAnyone, Exposure: []event.Exposure{event.ExposurePublicLink}}
	evs := []*event.FileEvent{
		mk(0, event.ActionShared, "roadmap", 4, public),
		mk(1, event.ActionShared, "salaries", 4, public),
		mk(2, event.ActionUnshared, "salaries", 0, event.Sharing{LinkScope: event.LinkNone}),
		mk(3, event.ActionDownloaded, "roadmap", 1, event.Sharing{}),
	}
	if _, err := ta.App.Store.InsertEvents(ctx, evs, false); err != nil {
		t.Fatal(err)
	}
	if err := ta.App.Store.UpsertFiles(ctx, []store.File{{ConnectionID: c.ID, VendorID: "roadmap", Name: "roadmap.xlsx", Owner: "bob@corp.example"},
		{ConnectionID: c.ID, VendorID: "salaries", Name: "salaries.xlsx", Owner: "bob@corp.example"}}); err != nil {
		t.Fatal(err)
	}
	ws, err := api.Watchlists(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ta.App.Store.PutWatchlistMembers(ctx, mustID(t, ws.Items[0].ID), []store.WatchlistMember{{Email: "bob@corp.example", DepartureDate: "2026-12-31"}}); err != nil {
		t.Fatal(err)
	}
	a, err := ta.App.Store.CreateAlert(ctx, store.Alert{RuleID: 1, RuleName: "Manual review", GroupKey: "bob@corp.example", Person: "bob@corp.example",
		State: "open", Severity: "high", Summary: "bob shared files", FirstEventAt: evs[0].Timestamp, LastEventAt: evs[1].Timestamp, WindowEnd: now.Add(time.Hour)},
		[]int64{evs[0].Event.ID, evs[1].Event.ID})
	if err != nil {
		t.Fatal(err)
	}

	u := newUI(t, chromium, ta.URL)
	u.step = "sign in"
	u.open("/login")
	u.do(chromedp.SendKeys(chromedp.CSS("#username"), "alice"), chromedp.SendKeys(chromedp.CSS("#password"), adminPassword),
		chromedp.Click(chromedp.CSS("form button[type=submit]")))
	u.waitText("h1", "Risk exposure", 10*time.Second)

	u.step = "person page from an alert"
	u.open("/alerts/" + strconv.FormatInt(a.ID, 10))
	u.waitText("h1", "Manual review", 10*time.Second)
	u.do(chromedp.Click(chromedp.CSS(`#al-person`)))
	u.waitText("h1", "Person: bob@corp.example", 10*time.Second)
	u.waitText("#risk-score", "9", time.Second) // 4 + 4 + 1: the unshare scores 0
	u.waitText("#trend", now.Format(time.DateOnly), time.Second)
	u.waitText("#watchlists", "departing_employee", time.Second)
	u.waitText("#watchlists", "2026-12-31", time.Second)
	if x := u.waitText("#exposure", "roadmap.xlsx", time.Second); strings.Contains(x, "salaries") || !strings.Contains(x, "public_link") {
		u.fatal("exposure %q: want roadmap.xlsx by public link only (salaries.xlsx was unshared)", x)
	}
	u.waitText("#person-alerts", "Manual review", time.Second)
	u.waitText("#person-events", "file-downloaded", time.Second)
	u.waitText("main", "In no case", time.Second)
	u.checkPage("person")

	u.step = "person page from an event"
	u.open("/events/" + strconv.FormatInt(evs[3].Event.ID, 10))
	u.do(chromedp.Click(chromedp.CSS(`#ev-actor`)))
	u.waitText("h1", "Person: bob@corp.example", 10*time.Second)

	u.step = "open a case"
	u.do(chromedp.Click(chromedp.CSS(`header nav a[href="/cases"]`)))
	u.waitText("h1", "Cases", 10*time.Second)
	u.waitText("main", "No cases", time.Second)
	u.checkPage("cases")
	u.do(chromedp.SendKeys(chromedp.CSS("#people"), "nobody"), chromedp.Click(chromedp.CSS(`form[action="/cases"] button.primary`)))
	u.waitText("#page-error", "title", 10*time.Second) // no title: refused, by the API's message
	u.do(chromedp.SetValue(chromedp.CSS("#title"), "Bob leaves"), chromedp.SetValue(chromedp.CSS("#people"), "bob@corp.example"),
		chromedp.SetValue(chromedp.CSS("#alerts"), strconv.FormatInt(a.ID, 10)), chromedp.Click(chromedp.CSS(`input[name=legal_hold]`)),
		chromedp.Click(chromedp.CSS(`form[action="/cases"] button.primary`)))
	u.waitText(".flash", "opened", 10*time.Second)
	u.waitText("h1", "Bob leaves", time.Second)
	u.waitText("#case-hold", "yes", time.Second)
	u.waitText("#case-people", "bob@corp.example", time.Second)
	u.waitText("#case-alerts", "Manual review", time.Second)
	u.waitText("#case-events", "roadmap.xlsx", time.Second)
	u.checkPage("case")

	u.step = "close the case"
	u.do(chromedp.SetValue(chromedp.CSS("#state"), "closed"), chromedp.SendKeys(chromedp.CSS("#note"), "handed to HR"),
		chromedp.Click(chromedp.CSS(`form[aria-labelledby="cu-h"] button.primary`)))
	u.waitText(".flash", "saved", 10*time.Second)
	u.waitText("#case-state", "closed", time.Second)
	if h := u.waitText("#case-history", "handed to HR", time.Second); !strings.Contains(h, "closed") || !strings.Contains(h, "alice") {
		u.fatal("history %q lacks the state change by alice", h)
	}
	u.do(chromedp.Click(chromedp.CSS(`#case-people a`)))
	u.waitText("#person-cases", "Bob leaves", 10*time.Second)

	u.step = "a case from an alert"
	u.open("/alerts/" + strconv.FormatInt(a.ID, 10))
	u.do(chromedp.Click(chromedp.CSS(`#to-case button`)))
	u.waitText(".flash", "opened with alert", 10*time.Second)
	u.waitText("h1", "Manual review", time.Second)
	u.waitText("#case-people", "bob@corp.example", time.Second)
	u.checkClean()
}

func mustID(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
