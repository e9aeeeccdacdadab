package console_test

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// TestBrowserSSO drives the sign-in through the OpenID provider emulator in headless Chromium:
// the sign-in page offers the provider by name, the provider's own page takes the password, and
// the person lands in the console with the role their group maps to; a person in no mapped group
// is refused with the message that names the missing mapping.
func TestBrowserSSO(t *testing.T) {
	t.Parallel()
	if testing.Short() && !browserRequired() {
		t.Skip("browser test skipped in -short mode")
	}
	chromium := findChromium(t)
	s := newSSOApp(t)
	u := newUI(t, chromium, s.Srv.URL)

	u.step = "sign-in page"
	u.open("/alerts")
	u.waitText("h1", "Sign in", 10*time.Second)
	u.waitText("#sso-emu", "Sign in with Emulated IdP", 5*time.Second)
	u.checkPage("login-sso")

	u.step = "sign in at the provider"
	u.do(chromedp.Click(chromedp.CSS("#sso-emu")))
	u.waitText("h1", "Emulated identity provider", 10*time.Second)
	u.do(chromedp.SendKeys(chromedp.CSS("#idp-username"), "ada@corp.example"), chromedp.SendKeys(chromedp.CSS("#idp-password"), "ada-pw"),
		chromedp.Click(chromedp.CSS("#idp-submit")))
	u.waitText("h1", "Alerts", 10*time.Second) // back where she was going
	u.waitText(".who", "ada@corp.example (analyst)", 5*time.Second)

	u.step = "unmapped person refused"
	if err := chromedp.Do(u.ctx, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, network.ClearBrowserCookies, struct{}{})
		return err
	})); err != nil {
		u.fatal("clearing cookies: %v", err)
	}
	u.open("/login")
	u.do(chromedp.Click(chromedp.CSS("#sso-emu")))
	u.waitText("h1", "Emulated identity provider", 10*time.Second)
	u.do(chromedp.SendKeys(chromedp.CSS("#idp-username"), "bob@corp.example"), chromedp.SendKeys(chromedp.CSS("#idp-password"), "bob-pw"),
		chromedp.Click(chromedp.CSS("#idp-submit")))
	u.waitText("h1", "Sign in", 10*time.Second)
	u.waitText("main", `Emulated IdP says you are in the groups "staff", and none of them is mapped to a Telltale role`, 5*time.Second)
	u.checkPage("login-sso-refused")
}
