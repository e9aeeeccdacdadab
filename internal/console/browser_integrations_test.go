package console_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/emulator/webhook"
)

// TestBrowserIntegrations drives the integrations pages in headless Chromium: the integration is
// listed with the data connections as an Automated integration; its page shows a delivery whose
// first attempt got garbage (a 502 with HTML), with the destination's answer and the integration's
// last error; the retry sends it; the admin replays it and it arrives again with its key;
// disconnect and connect. Every page passes axe-core.
func TestBrowserIntegrations(t *testing.T) {
	t.Parallel()
	if testing.Short() && !browserRequired() {
		t.Skip("browser test skipped in -short mode")
	}
	chromium := findChromium(t)
	ta := newTestApp(t, true)
	ctx := context.Background()
	const secret = "whsec-console-test-0123456789"
	rx := webhook.New(secret)
	hook := httptest.NewServer(rx)
	defer hook.Close()
	api := client.New(ta.URL, bootstrapToken)
	in, err := api.CreateIntegration(ctx, client.IntegrationInput{Kind: "webhook", Name: "SOAR hook",
		Settings: client.IntegrationSettings{URL: hook.URL + "/in"}, Secrets: &client.IntegrationSecrets{SigningSecret: secret}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := api.CreateFlow(ctx, client.FlowInput{Name: "High to SOAR", MinSeverity: "high", IntegrationIDs: []string{in.ID}}); err != nil {
		t.Fatal(err)
	}
	// The destination answers its first two attempts with garbage: the retry after the first
	// (8-12 s later) fails too, so the pages below show the failure however slow the machine; the
	// third attempt (16-24 s after the second) is sent.
	rx.Fail(webhook.Fault{Status: 502}, webhook.Fault{Status: 502})
	d, err := api.TestIntegration(ctx, in.ID)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		l, err := api.Deliveries(ctx, in.ID, "", "", 10)
		if err == nil && len(l.Items) == 1 && l.Items[0].Attempts == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the first attempt did not happen: %+v %v", l, err)
		}
	}

	u := newUI(t, chromium, ta.URL)
	u.step = "sign in"
	u.open("/login?next=/connections")
	u.do(chromedp.SendKeys(chromedp.CSS("#username"), "alice"), chromedp.SendKeys(chromedp.CSS("#password"), adminPassword),
		chromedp.Click(chromedp.CSS("form button[type=submit]")))
	u.waitText("h1", "Data connections", 10*time.Second)
	u.step = "listed with the connections"
	u.waitText("main table", "SOAR hook", 5*time.Second)
	u.waitText("main table", "Automated integration", time.Second)
	u.waitText("main table", "Connected", time.Second)
	u.checkPage("connections with an integration")

	u.step = "integrations page"
	u.do(chromedp.Click(chromedp.CSS(`header nav a[href="/integrations"]`)))
	u.waitText("h1", "Integrations", 10*time.Second)
	u.waitText("#integrations", "502", 5*time.Second) // the last error
	u.waitText("#flows", "severity ≥ high", time.Second)
	u.checkPage("integrations")

	u.step = "integration page with the failed attempt"
	u.do(chromedp.Click(chromedp.CSS(`#integrations a[href="/integrations/` + in.ID + `"]`)))
	u.waitText("h1", "SOAR hook", 10*time.Second)
	u.waitText("#last-error", "502", time.Second)
	u.waitText("#deliveries", "Bad Gateway", time.Second) // the destination's answer
	u.waitText("#deliveries", "Pending", time.Second)
	u.checkPage("integration")

	u.step = "replay after it was sent"
	// The retries come due after 10 s and 20 s or so (±20 %); the test waits for them.
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		l, _ := api.Deliveries(ctx, in.ID, "done", "", 10)
		if len(l.Items) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the retry was not sent within 60 s")
		}
	}
	u.open("/integrations/" + in.ID + "?state=done")
	u.waitText("#deliveries", "Sent", 5*time.Second)
	u.do(chromedp.Click(chromedp.CSS(`#deliveries button`)))
	u.waitText("main", "pending again", 10*time.Second)
	for deadline := time.Now().Add(20 * time.Second); rx.Keys()[d.IdempotencyKey] < 2; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the replay did not arrive: %v", rx.Keys())
		}
	}

	u.step = "disconnect and connect"
	u.open("/integrations/" + in.ID)
	u.do(chromedp.Click(chromedp.CSS(`form[action$="/disconnect"] button`)))
	u.waitText("#integration-status", "Disconnected", 10*time.Second)
	u.do(chromedp.Click(chromedp.CSS(`form[action$="/connect"] button`)))
	u.waitText("#integration-status", "Connected", 10*time.Second)
	u.checkPage("integration connected")
}
