package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/store"
)

// dashboardEvents stores a week of events of every vector, by four people of three departments,
// and a few alerts: what the dashboards draw.
func dashboardEvents(t *testing.T, s store.Store) {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	people := []struct{ email, dept string }{{"bob@corp.example", "Engineering"}, {"carol@corp.example", "Sales"}, {"dan@corp.example", "Finance"}, {"erin@corp.example", ""}}
	for _, p := range people {
		if p.dept != "" {
			if _, err := s.UpsertPerson(ctx, store.Person{Email: p.email, Department: p.dept}); err != nil {
				t.Fatal(err)
			}
		}
	}
	names := []string{"roadmap.pptx", "customers.xlsx", "source.zip", "payroll.csv", "design.pdf", "main.go"}
	dests := []string{"x@gmail.com", "y@partner.example", "z@yahoo.com", "w@proton.me"}
	var evs []*event.FileEvent
	for i := range 160 {
		who := people[(i*7/3)%len(people)].email
		name := names[i%len(names)]
		e := &event.FileEvent{Timestamp: now.Add(-time.Duration(i) * 61 * time.Minute).Truncate(time.Microsecond),
			Event: event.Meta{Observer: event.ObserverBox, ConnectionID: 1, VendorIDs: []string{fmt.Sprint("d", i)}},
			User:  event.User{Email: who}, File: event.File{ID: fmt.Sprint("f", i), Name: name, Category: event.CategoryOf(name, "")},
			Risk: event.Risk{Score: 1 + i%9, Severity: []event.Severity{event.SeverityLow, event.SeverityModerate, event.SeverityHigh, event.SeverityCritical}[i%4]}}
		switch i % 5 {
		case 0:
			e.Event.Action, e.Sharing = event.ActionShared, event.Sharing{LinkScope: event.LinkAnyone, Exposure: []event.Exposure{event.ExposurePublicLink}}
		case 1:
			e.Event.Action, e.Sharing = event.ActionShared, event.Sharing{LinkScope: event.LinkSpecific, SharedWith: []string{dests[i%len(dests)]}}
		case 2:
			e.Event.Action, e.Email.Recipients = event.ActionEmailed, []string{dests[(i+1)%len(dests)]}
		case 3:
			e.Event.Action, e.Event.Observer, e.File.DriveID = event.ActionCreated, event.ObserverEndpoint, fmt.Sprint("device/", 1+i%3)
			e.Risk = event.Risk{Severity: event.SeverityNone}
		case 4:
			e.Event.Action, e.Email.Recipients, e.Risk = event.ActionEmailed, []string{"a@corp-partner.example"}, event.Risk{Trusted: true, Severity: event.SeverityNone}
		}
		evs = append(evs, e)
	}
	if _, err := s.InsertEvents(ctx, evs, false); err != nil {
		t.Fatal(err)
	}
	for i, a := range []struct{ sev, state string }{{"high", "open"}, {"high", "open"}, {"critical", "in_progress"}, {"moderate", "resolved"}, {"low", "dismissed"}} {
		if _, err := s.CreateAlert(ctx, store.Alert{RuleID: 1, RuleName: "Public links", GroupKey: fmt.Sprint("g", i), Person: "bob@corp.example",
			State: a.state, Severity: a.sev, FirstEventAt: now, LastEventAt: now, WindowEnd: now, CreatedAt: now.Add(-time.Duration(i) * time.Hour)}, nil); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBrowserDashboards drives the dashboards in headless Chromium: signing in lands on Risk
// exposure with its charts (SVG), tables and CSV downloads; the time range and vector are chosen
// with the form; a person is drilled down into from the top list; the Insider risk trends page
// shows its five charts; an admin makes the health page the landing page. Every page passes
// axe-core and fits 800 px; screenshots go to docs/console/ when TELLTALE_SCREENSHOTS is set.
func TestBrowserDashboards(t *testing.T) {
	t.Parallel()
	if testing.Short() && !browserRequired() {
		t.Skip("browser test skipped in -short mode")
	}
	chromium := findChromium(t)
	ta := newTestApp(t, true)
	dashboardEvents(t, ta.App.Store)

	u := newUI(t, chromium, ta.URL)
	u.step = "sign in lands on Risk exposure"
	u.open("/login")
	u.do(chromedp.SendKeys(chromedp.CSS("#username"), "ana"), chromedp.SendKeys(chromedp.CSS("#password"), analystPassword),
		chromedp.Click(chromedp.CSS("form button[type=submit]")))
	u.waitText("h1", "Risk exposure", 10*time.Second)
	u.waitText("#dash-range", "per day", time.Second)
	if n := u.eval(`String(document.querySelectorAll("section.chart-card svg.chart").length)`); n != "5" {
		u.fatal("%s charts drawn, want 5", n)
	}
	if got := u.eval(`String(document.querySelectorAll("#chart-vectors svg polyline").length)`); got != "4" {
		u.fatal("%s vector lines, want 4", got)
	}
	legend := u.eval(`document.querySelector("#chart-vectors svg").textContent`)
	for _, want := range []string{"Public link", "External share", "E-mail to untrusted domain", "Endpoint"} {
		if !strings.Contains(legend, want) {
			u.fatal("the vector chart's legend %q lacks %q", legend, want)
		}
	}
	for sel, want := range map[string]string{"#chart-people tbody": "bob@corp.example", "#chart-destinations tbody": "gmail.com", "#chart-devices tbody": "device/1"} {
		if got := u.content(sel); !strings.Contains(got, want) {
			u.fatal("%s holds %q, want %q", sel, got, want)
		}
	}
	if got := u.text("#dash-range"); !strings.Contains(got, "32 shares and e-mails to trusted domains only are left out") {
		u.fatal("range line %q: want the 32 trusted e-mails left out", got)
	}
	csv := u.fetchLink("#chart-people a[download]")
	if !strings.HasPrefix(csv, "Person,Events,Risky events\n") || !strings.Contains(csv, "bob@corp.example,") {
		u.fatal("people CSV %q", csv)
	}
	csv = u.fetchLink("#chart-vectors a[download]")
	if lines := strings.Split(strings.TrimSpace(csv), "\n"); len(lines) < 8 || lines[0] != "Bucket (UTC),Public link,External share,E-mail to untrusted domain,Endpoint" {
		u.fatal("vectors CSV %q", csv)
	}
	u.checkPage("dashboard-risk-exposure")

	u.step = "last 24 hours, e-mail only"
	u.do(chromedp.SetValue(chromedp.CSS(`select[name=range]`), "24h"), chromedp.SetValue(chromedp.CSS(`select[name=vector]`), "email"),
		chromedp.Click(chromedp.CSS(`#dash-filters button`)))
	u.waitText("#dash-range", "per hour", 10*time.Second)
	if got := u.eval(`String(document.querySelectorAll("#chart-vectors svg polyline").length)`); got != "1" {
		u.fatal("%s lines for one vector, want 1", got)
	}
	if got := u.content("#chart-vectors thead"); !strings.Contains(got, "E-mail") || strings.Contains(got, "Public link") {
		u.fatal("e-mail only table head %q", got)
	}

	u.step = "drill down into a person"
	u.open("/dashboards/exposure?range=7d")
	u.do(chromedp.Click(chromedp.CSS(`#chart-people details summary`)), chromedp.Click(chromedp.CSS(`#chart-people tbody tr:first-child a`)))
	u.waitText("#drill", "person", 10*time.Second)
	person := u.text("#drill strong")
	if !strings.Contains(u.text("#chart-vectors h2"), person) {
		u.fatal("the chart's title does not name %q", person)
	}
	u.checkPage("dashboard-risk-exposure-person")
	u.do(chromedp.Click(chromedp.CSS(`#drill a`)))
	u.waitText("#chart-vectors h2", "by vector", 10*time.Second)
	if u.text("#drill") != "" {
		u.fatal("the drill-down is still shown")
	}

	u.step = "insider risk trends"
	u.do(chromedp.Click(chromedp.CSS(`nav.tabs a[href="/dashboards/trends"]`)))
	u.waitText("h1", "Insider risk trends", 10*time.Second)
	u.do(chromedp.SetValue(chromedp.CSS(`select[name=range]`), "30d"), chromedp.Click(chromedp.CSS(`#dash-filters button`)))
	// The select shows 30d as soon as it is set, before the form's page has replaced this one.
	u.waitPath("range=30d", 10*time.Second)
	u.waitText("#dash-range", "per day", 10*time.Second)
	for sel, want := range map[string]string{"#chart-departments tbody": "Engineering", "#chart-categories tbody": "presentation",
		"#chart-vectors tbody": "Endpoint", "#chart-alerts tbody": "in_progress", "#chart-people thead": "People"} {
		if got := u.content(sel); !strings.Contains(got, want) {
			u.fatal("%s holds %q, want %q", sel, got, want)
		}
	}
	u.checkPage("dashboard-insider-risk-trends")
	u.checkClean()

	u.step = "an admin lands people on health"
	a := newUI(t, chromium, ta.URL)
	a.step = "admin"
	a.open("/login")
	a.do(chromedp.SendKeys(chromedp.CSS("#username"), "alice"), chromedp.SendKeys(chromedp.CSS("#password"), adminPassword),
		chromedp.Click(chromedp.CSS("form button[type=submit]")))
	a.waitText("h1", "Risk exposure", 10*time.Second)
	if u.text("#landing-form") != "" {
		u.fatal("the analyst sees the landing page form")
	}
	a.do(chromedp.Click(chromedp.CSS(`#landing-form input[value=health]`)), chromedp.Click(chromedp.CSS(`#landing-form button`)))
	a.waitText(".flash", "health page", 10*time.Second)
	u.open("/")
	u.waitText("h1", "Environment health", 10*time.Second)
	a.checkClean()
}

// content is the text of the first element matching the CSS selector, shown or not (a table in a
// closed details element), "" if none.
func (u *ui) content(sel string) string {
	u.t.Helper()
	return u.eval(fmt.Sprintf(`(() => { const e = document.querySelector(%q); return e ? e.textContent : "" })()`, sel))
}

// fetchLink reads the answer to the link's href (a CSV download) in the page.
func (u *ui) fetchLink(sel string) string {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(u.ctx, 10*time.Second)
	defer cancel()
	js, _ := json.Marshal(sel)
	out, err := chromedp.Run(ctx, chromedp.Evaluate[string](`fetch(document.querySelector(`+string(js)+`).href).then(r => r.text())`, chromedp.EvalAwaitPromise))
	if err != nil {
		u.fatal("fetch %s: %v", sel, err)
	}
	return out
}
