package console_test

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/telltale-dev/telltale/internal/emulator/hec"
)

// TestBrowserForwarding drives the SIEM forwarding page in headless Chromium as an admin: adds a
// Splunk HEC destination through the form with a wrong token, sees the test fail with Splunk's
// answer and the destination's last error, pauses and resumes it; a bad address is refused with
// what to fix. Every page passes axe-core.
func TestBrowserForwarding(t *testing.T) {
	t.Parallel()
	if testing.Short() && !browserRequired() {
		t.Skip("browser test skipped in -short mode")
	}
	chromium := findChromium(t)
	ta := newTestApp(t, true)
	splunk := hec.New("the-right-token", true)
	srv := httptest.NewServer(splunk.Handler())
	defer srv.Close()

	u := newUI(t, chromium, ta.URL)
	u.step = "sign in"
	u.open("/login")
	u.do(chromedp.SendKeys(chromedp.CSS("#username"), "alice"), chromedp.SendKeys(chromedp.CSS("#password"), adminPassword),
		chromedp.Click(chromedp.CSS("form button[type=submit]")))
	u.waitText("h1", "Risk exposure", 10*time.Second)

	u.step = "forwarding page"
	u.do(chromedp.Click(chromedp.CSS(`header nav a[href="/forwarding"]`)))
	u.waitText("h1", "SIEM forwarding", 10*time.Second)
	u.checkPage("forwarding, empty")

	u.step = "a bad address is refused"
	u.do(chromedp.SendKeys(chromedp.CSS("#f-name"), "Bad"), chromedp.SetValue(chromedp.CSS("#f-kind"), "syslog"),
		chromedp.SendKeys(chromedp.CSS("#f-address"), "siem.example.com"), chromedp.Click(chromedp.CSS("#add-destination button[type=submit]")))
	u.waitText("main", "address must be host:port", 10*time.Second)

	u.step = "add Splunk HEC with a wrong token"
	u.open("/forwarding")
	u.do(chromedp.SendKeys(chromedp.CSS("#f-name"), "Splunk prod"), chromedp.SendKeys(chromedp.CSS("#f-url"), srv.URL),
		chromedp.SendKeys(chromedp.CSS("#f-token"), "a-wrong-token"), chromedp.Click(chromedp.CSS(`input[name=streams][value=alerts]`)),
		chromedp.Click(chromedp.CSS(`input[name=streams][value=audit]`)), chromedp.Click(chromedp.CSS(`input[name=streams][value=devices]`)),
		chromedp.Click(chromedp.CSS(`input[name=streams][value=connections]`)), chromedp.Click(chromedp.CSS("#add-destination button[type=submit]")))
	u.waitText("#destinations", "Splunk prod", 10*time.Second)
	u.waitText("#destinations", "Splunk HEC", time.Second)
	u.waitText("#destinations .streams", "streams: events, alerts, audit, devices, connections", time.Second)

	u.step = "test shows Splunk's answer"
	u.do(chromedp.Click(chromedp.CSS(`#destinations form[action$="/test"] button`)))
	u.waitText("#test-result", "Invalid token", 10*time.Second)
	u.checkPage("forwarding, test failed")

	u.step = "pause and resume"
	u.do(chromedp.Click(chromedp.CSS(`#destinations form[action$="/pause"] button`)))
	u.waitText("#destinations .state", "Paused", 10*time.Second)
	u.do(chromedp.Click(chromedp.CSS(`#destinations form[action$="/resume"] button`)))
	u.waitText("main", "Resumed", 10*time.Second)
	u.waitText("#destinations .lag", "0 events", time.Second)
}
