package console_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/emulator/workday"
)

// TestBrowserHR drives the HR source pages in headless Chromium: an admin adds a Workday source
// with a wrong password through the form; Sync now shows Workday's refusal and what to fix; the
// corrected password is saved, verified, and a sync puts the departing person on the watchlist;
// the source's last sync shows the counts, it is listed with the data connections as an Automated
// integration, and the person's page shows the line of history. A CSV source refuses a bad file
// naming its row and changing nothing. Every page passes axe-core.
func TestBrowserHR(t *testing.T) {
	t.Parallel()
	if testing.Short() && !browserRequired() {
		t.Skip("browser test skipped in -short mode")
	}
	chromium := findChromium(t)
	ta := newTestApp(t, true)
	emu := workday.New("acme", "ISU_Telltale", "Departures", "isu_telltale", "pw-0123456789")
	wd := httptest.NewServer(emu)
	defer wd.Close()
	emu.Put(workday.Worker{ID: "1", Email: "dana@corp.example", TerminationDate: time.Now().UTC().AddDate(0, 0, 20).Format(time.DateOnly)})

	u := newUI(t, chromium, ta.URL)
	u.step = "sign in"
	u.open("/login")
	u.do(chromedp.SendKeys(chromedp.CSS("#username"), "alice"), chromedp.SendKeys(chromedp.CSS("#password"), adminPassword),
		chromedp.Click(chromedp.CSS("form button[type=submit]")))
	u.waitText("h1", "Risk exposure", 10*time.Second) // sign-in lands on the dashboard

	u.step = "add a Workday source"
	u.do(chromedp.Click(chromedp.CSS(`header nav a[href="/hr"]`)))
	u.waitText("h1", "HR sources", 10*time.Second)
	u.checkPage("hr-sources-empty")
	u.do(chromedp.Click(chromedp.CSS(`#add-workday summary`)),
		chromedp.SendKeys(chromedp.CSS("#wd-name"), "Workday"), chromedp.SendKeys(chromedp.CSS("#wd-url"), wd.URL+emu.Path()),
		chromedp.SendKeys(chromedp.CSS("#wd-user"), "isu_telltale"), chromedp.SendKeys(chromedp.CSS("#wd-password"), "wrong-password"),
		chromedp.Click(chromedp.CSS(`form[aria-label="Add a Workday source"] button.primary`)))
	u.waitText(".flash", "Workday is added", 10*time.Second)
	u.waitText("#last-sync", "never", time.Second)

	u.step = "sync with a wrong password"
	u.do(chromedp.Click(chromedp.CSS(`form[action$="/sync"] button`)))
	u.waitText("#page-error", "refused the credentials", 10*time.Second)
	u.waitText("#last-error", "integration system user", 5*time.Second)
	u.waitText("#hr-status", "credentials refused", time.Second)
	u.checkPage("hr-source-refused")

	u.step = "fix the password"
	u.do(chromedp.SendKeys(chromedp.CSS("#e-password"), "pw-0123456789"), chromedp.Click(chromedp.CSS(`#edit button.primary`)))
	u.waitText(".flash", "Saved, verified and Connected", 10*time.Second)
	u.do(chromedp.Click(chromedp.CSS(`form[action$="/sync"] button`)))
	u.waitText(".flash", "1 added", 10*time.Second)
	u.waitText("#hr-summary", "1 added", time.Second)
	u.checkPage("hr-source")

	u.step = "listed with the connections"
	u.open("/connections")
	u.waitText("main table", "HR source: Workday report", 10*time.Second)
	u.waitText("main table", "Automated integration", time.Second)

	u.step = "the person's history"
	u.open("/people/dana@corp.example")
	h := u.waitText("#person-history", "by HR source Workday", 10*time.Second)
	if !strings.Contains(h, "added on") || !strings.Contains(h, "departing_employee") {
		u.fatal("history %q", h)
	}
	u.checkPage("person-history")

	u.step = "a CSV source refuses a bad file"
	u.open("/hr")
	u.do(chromedp.Click(chromedp.CSS(`#add-csv summary`)), chromedp.SendKeys(chromedp.CSS("#csv-name"), "HR export"),
		chromedp.Click(chromedp.CSS(`form[aria-label="Add a CSV source"] button.primary`)))
	u.waitText(".flash", "upload its CSV", 10*time.Second)
	csvPath := filepath.Join(t.TempDir(), "hr.csv")
	if err := os.WriteFile(csvPath, []byte("Email,Departure Date\neve@corp.example,2027-01-31\nfay@corp.example,next week\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	u.do(chromedp.SetUploadFiles(chromedp.CSS("#hr-csv"), []string{csvPath}), chromedp.Click(chromedp.CSS(`form[action$="/upload"] button.primary`)))
	errText := u.waitText("#page-error", "Row 3", 10*time.Second)
	if !strings.Contains(errText, "departure date") {
		u.fatal("the refusal %q does not say what is wrong", errText)
	}
	u.checkPage("hr-csv-refused")
	u.open("/people/eve@corp.example")
	u.waitText("#wl-h", "Watchlists", 10*time.Second)
	if strings.Contains(u.text("main"), "departing_employee") {
		u.fatal("a refused file changed the watchlist")
	}

	u.step = "a webhook source shows its refused deliveries"
	api := client.New(ta.URL, bootstrapToken)
	wh, err := api.CreateIntegration(context.Background(), client.IntegrationInput{Kind: "hr_webhook", Name: "People system",
		Secrets: &client.IntegrationSecrets{SigningSecret: "hr-webhook-secret-0123456789"}})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(ta.URL+"/api/v1/hr-sources/"+wh.ID+"/webhook", "application/json", strings.NewReader(`{"changes":[{"email":"secret-body@corp.example"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	u.open("/hr/" + wh.ID)
	ref := u.waitText("#refusals", "unsigned", 10*time.Second)
	if !strings.Contains(ref, "127.0.0.1") || strings.Contains(ref, "secret-body") {
		u.fatal("refusals %q: want the reason and address, never the body", ref)
	}
	u.checkPage("hr-source-refusals")
	u.checkClean()
}
