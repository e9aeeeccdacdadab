package console_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/store"
)

// TestBrowserRiskRescore drives the risk settings page in headless Chromium: an admin reaches it
// from the navigation, sees the settings in force, is told what is wrong with a bad range, starts
// a re-score job over a good one and watches it end with the event re-scored; the page passes
// axe-core. A reader sees the page without the form.
func TestBrowserRiskRescore(t *testing.T) {
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
	day := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	e := &event.FileEvent{Timestamp: day.Add(10 * time.Hour), Event: event.Meta{Action: event.ActionShared, Observer: event.ObserverBox, ConnectionID: c.ID, VendorIDs: []string{"v1"}},
		User: event.User{Email: "bob@corp.example"}, File: event.File{ID: "f1", Name: "main.go", Category: event.CategoryOf("main.go", "")},
		Sharing: event.Sharing{LinkScope: event.LinkAnyone},
		Risk:    event.Risk{Score: 7, Severity: event.SeverityHigh, Indicators: []string{"public_link", "category_source_code"}}}
	if _, err := ta.App.Store.InsertEvents(ctx, []*event.FileEvent{e}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := api.PutSettings(ctx, client.Settings{TrustedDomains: []string{"corp.example"}, RetentionDays: 30,
		Risk: &client.RiskSettings{Weights: map[string]int{"public_link": 9}},
		TrustedActivities: []client.TrustedActivity{{Kind: "recipient", Value: "ann@ally.example", Reason: "NDA, ticket SEC-12"},
			{Kind: "tenant", Service: "google", Value: "JV.example", Reason: "joint venture, contract JV-7"}}}); err != nil {
		t.Fatal(err)
	}

	u := newUI(t, chromium, ta.URL)
	u.step = "sign in"
	u.open("/login")
	u.do(chromedp.SendKeys(chromedp.CSS("#username"), "alice"), chromedp.SendKeys(chromedp.CSS("#password"), adminPassword),
		chromedp.Click(chromedp.CSS("form button[type=submit]")))
	u.waitText("h1", "Risk exposure", 10*time.Second) // sign-in lands on the dashboard

	u.step = "risk page"
	u.do(chromedp.Click(chromedp.CSS(`header nav a[href="/risk"]`)))
	u.waitText("h1", "Risk settings", 10*time.Second)
	u.waitText("main", "critical from 9", time.Second)
	u.waitText("main", "Trusted domains: corp.example", time.Second)
	u.waitText("main", "No re-score job yet", time.Second)
	u.waitText("#trusted-activities", "NDA, ticket SEC-12", time.Second)
	// A partner's tenant (R6.5): its kind, service, id (as normalized) and reason.
	if rows := u.eval(`[...document.querySelectorAll("#trusted-activities tbody tr")].map(r => [...r.cells].map(c => c.textContent).join("|")).join("\n")`); !strings.Contains(rows, "tenant|google|jv.example|joint venture, contract JV-7") {
		t.Errorf("trusted activities:\n%s\nwant the google tenant jv.example", rows)
	}
	u.checkPage("risk")

	// An admin trusts a partner's tenant from the page: a tenant without its service is refused,
	// naming the entry, and changes nothing; with it, it is listed.
	u.step = "trust a tenant, no service"
	u.eval(`document.querySelector("#trust-kind").value = "tenant"; document.querySelector("#trust-value").value = "11446498"; document.querySelector("#trust-reason").value = "outsourced payroll"; "ok"`)
	u.do(chromedp.Click(chromedp.CSS(`#trust-form button[type=submit]`)))
	u.waitText("main", `trusted_activities[2].service "": a tenant is at one of box, google, microsoft`, 10*time.Second)
	if v := u.eval(`document.querySelector("#trust-value").value`); v != "11446498" {
		t.Errorf("the refused form lost its value: %q", v)
	}
	if got, err := api.Settings(ctx); err != nil || len(got.TrustedActivities) != 2 {
		t.Fatalf("a refused entry changed the settings: %+v %v", got.TrustedActivities, err)
	}
	u.step = "trust a tenant"
	u.eval(`document.querySelector("#trust-service").value = "box"; "ok"`)
	u.do(chromedp.Click(chromedp.CSS(`#trust-form button[type=submit]`)))
	u.waitText("main", "Trusted the box tenant 11446498", 10*time.Second)
	if rows := u.eval(`[...document.querySelectorAll("#trusted-activities tbody tr")].map(r => [...r.cells].map(c => c.textContent).join("|")).join("\n")`); !strings.Contains(rows, "tenant|box|11446498|outsourced payroll") ||
		!strings.Contains(rows, "NDA, ticket SEC-12") {
		t.Errorf("trusted activities after adding:\n%s", rows)
	}

	u.step = "bad range"
	u.eval(`document.querySelector("#from").value = "2026-11-03"; document.querySelector("#to").value = "2026-11-02"; "ok"`)
	u.do(chromedp.Click(chromedp.CSS(`form[action="/risk/rescore"] button[type=submit]`)))
	u.waitText("main", "is not after from", 10*time.Second)
	if n := u.eval(`String(document.querySelectorAll("#jobs tbody tr").length)`); n != "0" {
		t.Errorf("a refused range made %s jobs", n)
	}

	u.step = "start"
	u.eval(`document.querySelector("#from").value = "2026-11-02"; document.querySelector("#to").value = "2026-11-03"; "ok"`)
	u.do(chromedp.Click(chromedp.CSS(`form[action="/risk/rescore"] button[type=submit]`)))
	u.waitText("main", "Started re-score job 1", 10*time.Second)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(300 * time.Millisecond) {
		u.open("/risk")
		got := u.waitText("#jobs", "of 1 events", 10*time.Second)
		if strings.Contains(got, "done") && strings.Contains(got, "1 of 1 events") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the job did not end: %s", got)
		}
	}
	u.checkPage("risk-jobs")
	u.open(fmt.Sprintf("/events/%d", e.Event.ID))
	u.waitText("main", "critical", 10*time.Second)

	u.step = "reader"
	r := newUI(t, chromium, ta.URL)
	r.open("/login")
	r.do(chromedp.SendKeys(chromedp.CSS("#username"), "rita"), chromedp.SendKeys(chromedp.CSS("#password"), readerPassword),
		chromedp.Click(chromedp.CSS("form button[type=submit]")))
	r.waitText("h1", "Risk exposure", 10*time.Second) // sign-in lands on the dashboard
	r.open("/risk")
	r.waitText("#jobs", "done", 10*time.Second)
	if n := r.eval(`String(document.querySelectorAll('form[action="/risk/rescore"]').length)`); n != "0" {
		t.Error("a reader sees the re-score form")
	}
}
