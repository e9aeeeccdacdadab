package console_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/store"
)

// TestBrowserPeople drives the people pages (issue 18, R8.3) in headless Chromium: the people list
// shows everyone known with their status where a directory gave one; on a person's page an admin
// adds their Microsoft UPN as an alias (a bad one first, refused beside the field), after which
// the page shows the alias, the last activity per service and address, the UPN's events and device, and
// the list folds the UPN into the person; the alias is removed again. Every page passes axe-core.
func TestBrowserPeople(t *testing.T) {
	t.Parallel()
	if testing.Short() && !browserRequired() {
		t.Skip("browser test skipped in -short mode")
	}
	chromium := findChromium(t)
	ta := newTestApp(t, true)
	ctx := context.Background()
	c, err := ta.App.Store.CreateConnection(ctx, store.Connection{Name: "m365", Service: "onedrive", ServiceType: "cloud", Status: "deauthorized", ScopeKind: "all"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	var evs []*event.FileEvent
	for i, a := range []struct {
		actor string
		o     event.Observer
		name  string
	}{{"alice@corp.example", event.ObserverGoogleDrive, "budget.xlsx"}, {"asmith@corp.onmicrosoft.example", event.ObserverOneDrive, "upn-only.docx"}, {"bob@corp.example", event.ObserverBox, "b.txt"}} {
		evs = append(evs, &event.FileEvent{Timestamp: now.Add(-time.Duration(i+1) * time.Minute),
			Event: event.Meta{Action: event.ActionDownloaded, Observer: a.o, ConnectionID: c.ID, VendorIDs: []string{fmt.Sprint("pp", i)}},
			User:  event.User{Email: a.actor}, File: event.File{ID: fmt.Sprint("pf", i), Name: a.name}})
	}
	if _, err := ta.App.Store.InsertEvents(ctx, evs, false); err != nil {
		t.Fatal(err)
	}
	if _, err := ta.App.Store.UpsertPerson(ctx, store.Person{Email: "bob@corp.example", Status: "blocked"}); err != nil {
		t.Fatal(err)
	}
	sec, err := ta.App.Store.CreateDeploymentSecret(ctx, store.DeploymentSecret{Name: "laptops", Prefix: "tds_x", Hash: []byte("h"), ExpiresAt: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ta.App.Store.CreateDevice(ctx, store.Device{PublicKey: []byte("k"), SecretID: sec.ID, HostName: "asmith-laptop", OS: "windows", AgentVersion: "1.0.0",
		Person: "asmith@corp.onmicrosoft.example", EnrolledAt: now}); err != nil {
		t.Fatal(err)
	}

	u := newUI(t, chromium, ta.URL)
	u.step = "sign in"
	u.open("/login")
	u.do(chromedp.SendKeys(chromedp.CSS("#username"), "alice"), chromedp.SendKeys(chromedp.CSS("#password"), adminPassword),
		chromedp.Click(chromedp.CSS("form button[type=submit]")))
	u.waitText("h1", "Risk exposure", 10*time.Second) // sign-in lands on the dashboard

	u.step = "people list"
	u.do(chromedp.Click(chromedp.CSS(`header nav a[href="/people"]`)))
	u.waitText("h1", "People", 10*time.Second)
	list := u.waitText("#people", "asmith@corp.onmicrosoft.example", 10*time.Second)
	if !strings.Contains(list, "blocked") || !strings.Contains(list, "unknown") {
		u.fatal("statuses in the list: %q", list)
	}
	u.checkPage("people")

	u.step = "add an alias"
	u.do(chromedp.Click(chromedp.CSS(`#people a[href="/people/alice@corp.example"]`)))
	u.waitText("h1", "alice@corp.example", 10*time.Second)
	u.waitText("#aliases-none", "No aliases", time.Second)
	u.do(chromedp.SendKeys(chromedp.CSS("#alias"), "ALICE@corp.example"), chromedp.Click(chromedp.CSS(`form[action$="/aliases"] button`)))
	u.waitText("#alias-err", "differ only in case", 10*time.Second)
	u.checkPage("person-alias-refused")
	u.do(chromedp.Clear(chromedp.CSS("#alias")), chromedp.SendKeys(chromedp.CSS("#alias"), "ASmith@corp.onmicrosoft.example"),
		chromedp.Click(chromedp.CSS(`form[action$="/aliases"] button`)))
	u.waitText(".flash", "is now an alias of alice@corp.example", 10*time.Second)
	u.waitText("#aliases", "asmith@corp.onmicrosoft.example", time.Second)
	src := u.waitText("#sources", "onedrive", time.Second)
	if !strings.Contains(src, "asmith@corp.onmicrosoft.example") || !strings.Contains(src, "google_drive") {
		u.fatal("sources: %q", src)
	}
	u.waitText("#person-events", "upn-only.docx", time.Second)
	u.waitText("#person-devices", "asmith-laptop", time.Second)
	u.checkPage("person")

	u.step = "the list folds the alias"
	u.open("/people")
	u.waitText("#people", "asmith@corp.onmicrosoft.example", 10*time.Second)
	if n := u.eval(`String(document.querySelectorAll('#people a[href="/people/asmith@corp.onmicrosoft.example"]').length)`); n != "0" {
		u.fatal("the alias is listed as a person of its own")
	}

	u.step = "remove the alias"
	u.open("/people/alice@corp.example")
	u.do(chromedp.Click(chromedp.CSS(`#aliases form button`)))
	u.waitText(".flash", "is no longer an alias", 10*time.Second)
	u.waitText("#aliases-none", "No aliases", time.Second)
	es, err := ta.App.Store.ListAudit(ctx, store.AuditFilter{Action: "person.alias."})
	if err != nil || len(es) != 3 || es[0].Action != "person.alias.remove" || es[1].Outcome != "ok" || es[2].Outcome != "400 Bad Request" {
		t.Errorf("audit: %+v %v", es, err)
	}
}
