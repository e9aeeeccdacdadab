package console_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/telltale-dev/telltale/client"
	jiraemu "github.com/telltale-dev/telltale/internal/emulator/jira"
	"github.com/telltale-dev/telltale/internal/emulator/servicenow"
)

// TestBrowserITSM drives the "add an integration" forms in headless Chromium: a refused ServiceNow
// form says why and keeps what was typed (never the password); a ServiceNow integration whose
// password the emulator refuses shows "Connected · credentials refused" and what to fix after its
// test delivery, and the admin fixes the password in the console (verified on save) and replays the
// delivery, which becomes an incident; a Jira integration's test delivery becomes an issue in the emulator. Every page
// passes axe-core.
func TestBrowserITSM(t *testing.T) {
	t.Parallel()
	if testing.Short() && !browserRequired() {
		t.Skip("browser test skipped in -short mode")
	}
	chromium := findChromium(t)
	ta := newTestApp(t, true)
	sn := servicenow.New(servicenow.Options{Users: map[string]string{"telltale.integration": "right-password"}})
	snSrv := httptest.NewServer(sn)
	defer snSrv.Close()
	jr := jiraemu.New(jiraemu.Options{Email: "bot@corp.example", Token: "jira-token-1", Projects: []string{"SEC"}})
	jrSrv := httptest.NewServer(jr)
	defer jrSrv.Close()

	u := newUI(t, chromium, ta.URL)
	u.step = "sign in"
	u.open("/login")
	u.do(chromedp.SendKeys(chromedp.CSS("#username"), "alice"), chromedp.SendKeys(chromedp.CSS("#password"), adminPassword),
		chromedp.Click(chromedp.CSS("form button[type=submit]")))
	u.waitText("h1", "Risk exposure", 10*time.Second)

	u.step = "a refused ServiceNow form"
	u.open("/integrations")
	u.waitText("h1", "Integrations", 10*time.Second)
	u.checkPage("integrations with the add forms")
	u.do(chromedp.Click(chromedp.CSS("#add-servicenow summary")),
		chromedp.SendKeys(chromedp.CSS("#sn-name"), "ServiceNow"),
		chromedp.SendKeys(chromedp.CSS("#sn-url"), "http://169.254.169.254"),
		chromedp.SendKeys(chromedp.CSS("#sn-username"), "telltale.integration"),
		chromedp.SendKeys(chromedp.CSS("#sn-password"), "wrong-password"),
		chromedp.Click(chromedp.CSS("#add-servicenow button[type=submit]")))
	u.waitText("main", "url", 10*time.Second)
	kept, pw := u.eval(`document.querySelector("#sn-username").value`), u.eval(`document.querySelector("#sn-password").value`)
	if kept != "telltale.integration" || pw != "" {
		t.Errorf("after a refused form: user name %q (want it kept), password %q (want it empty)", kept, pw)
	}
	u.checkPage("a refused form")

	u.step = "ServiceNow added with a wrong password"
	u.eval(`document.querySelector("#sn-url").value = ""`)
	u.do(chromedp.SendKeys(chromedp.CSS("#sn-url"), snSrv.URL), chromedp.SendKeys(chromedp.CSS("#sn-password"), "wrong-password"),
		chromedp.Click(chromedp.CSS("#add-servicenow button[type=submit]")))
	u.waitText("h1", "ServiceNow", 10*time.Second)
	u.waitText("main", "Connected", time.Second)
	u.do(chromedp.Click(chromedp.CSS(`form[action$="/test"] button`)))
	u.waitText("main", "test delivery is queued", 10*time.Second)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		u.open(currentPath(u))
		status := u.eval(`document.querySelector("#integration-status").textContent`)
		if strings.Contains(status, "credentials refused") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the integration's status is %q, want credentials refused", status)
		}
	}
	u.waitText("#last-error", "check the username and password", time.Second)
	u.waitText("#deliveries", "Failed", time.Second)
	u.checkPage("credentials refused")

	u.step = "the password fixed in the console, verified, the delivery replayed"
	u.do(chromedp.SendKeys(chromedp.CSS("#e-password"), "right-password"), chromedp.Click(chromedp.CSS("#edit button[type=submit]")))
	u.waitText("main", "Saved, verified and Connected", 10*time.Second)
	u.waitText("#integration-status", "Connected", time.Second)
	if st := u.eval(`document.querySelector("#integration-status").textContent`); strings.Contains(st, "refused") {
		t.Errorf("after fixing the password: %q", st)
	}
	u.do(chromedp.Click(chromedp.CSS(`#deliveries button`)))
	u.waitText("main", "pending again", 10*time.Second)
	for deadline := time.Now().Add(20 * time.Second); len(sn.Incidents()) == 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the replayed test delivery made no incident")
		}
	}
	u.checkPage("fixed")

	u.step = "Jira added, its test delivery an issue"
	u.open("/integrations")
	u.waitText("#integrations", "ServiceNow", 10*time.Second)
	u.do(chromedp.Click(chromedp.CSS("#add-jira summary")),
		chromedp.SendKeys(chromedp.CSS("#jira-name"), "Jira SEC"),
		chromedp.SendKeys(chromedp.CSS("#jira-url"), jrSrv.URL),
		chromedp.SendKeys(chromedp.CSS("#jira-email"), "bot@corp.example"),
		chromedp.SendKeys(chromedp.CSS("#jira-token"), "jira-token-1"),
		chromedp.SendKeys(chromedp.CSS("#jira-project"), "SEC"),
		chromedp.Click(chromedp.CSS("#add-jira button[type=submit]")))
	u.waitText("h1", "Jira SEC", 10*time.Second)
	u.waitText("main", "Jira issue", time.Second)
	u.do(chromedp.Click(chromedp.CSS(`form[action$="/test"] button`)))
	for deadline := time.Now().Add(20 * time.Second); len(jr.Issues()) == 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the Jira test delivery made no issue")
		}
	}
	// Normally "created SEC-1" at once. A create whose answer was lost (its attempt cut short on a
	// loaded machine: seen once in CI) is found by Jira's search after the index wait (30 s):
	// "already in Jira as SEC-1". Either way there is one issue.
	for deadline := time.Now().Add(50 * time.Second); ; time.Sleep(time.Second) {
		u.open(currentPath(u))
		got := u.text("#deliveries")
		if strings.Contains(got, "created SEC-1") || strings.Contains(got, "already in Jira as SEC-1") {
			break
		}
		if time.Now().After(deadline) {
			u.fatal("#deliveries shows %q, want the test delivery's issue SEC-1", got)
		}
	}
	if n := len(jr.Issues()); n != 1 {
		t.Errorf("%d Jira issues for one test delivery", n)
	}
	u.checkPage("jira")
	api := client.New(ta.URL, bootstrapToken)
	l, err := api.Integrations(context.Background())
	if err != nil || len(l.Items) != 2 {
		t.Fatalf("integrations %+v %v", l, err)
	}
}

func currentPath(u *ui) string { return u.eval(`location.pathname + location.search`) }
