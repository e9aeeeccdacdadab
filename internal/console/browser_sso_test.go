package console_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"
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
	if strings.Contains(u.text(".who"), "Change password") {
		u.fatal("a person from an identity provider is offered a password change")
	}

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

// TestBrowserUsersPage: an admin sees each person's provider, role source and last sign-in, and
// disables an SSO user, who then cannot sign in through the provider.
func TestBrowserUsersPage(t *testing.T) {
	t.Parallel()
	if testing.Short() && !browserRequired() {
		t.Skip("browser test skipped in -short mode")
	}
	chromium := findChromium(t)
	s := newSSOApp(t)
	b := newBrowser(t, s.Srv.URL)
	if resp, _ := s.signIn(b, "/", "ada@corp.example", "ada-pw"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	ada, err := s.App.Store.GetUserBySubject(context.Background(), "emu", "00u-ada")
	if err != nil {
		t.Fatal(err)
	}
	row := fmt.Sprintf("#user-%d", ada.ID)
	u := newUI(t, chromium, s.Srv.URL)
	u.step = "sign in as the local admin"
	u.open("/login")
	u.do(chromedp.SendKeys(chromedp.CSS("#username"), "alice"), chromedp.SendKeys(chromedp.CSS("#password"), adminPassword),
		chromedp.Click(chromedp.CSS("form.card button[type=submit]")))
	u.waitText("h1", "Risk exposure", 10*time.Second)
	u.step = "users page"
	u.open("/users")
	u.waitText("h1", "Users", 10*time.Second)
	got := u.waitText(row, "ada@corp.example", 5*time.Second)
	for _, want := range []string{"analyst", "group:tt-analysts", "emu", "active"} {
		if !strings.Contains(got, want) {
			u.fatal("ada's row %q lacks %q", got, want)
		}
	}
	if strings.Contains(got, "never") {
		u.fatal("ada's row %q shows no last sign-in", got)
	}
	u.checkPage("users")
	u.step = "disable"
	u.do(chromedp.Click(chromedp.CSS(row + " button")))
	u.waitText(row, "disabled", 10*time.Second)
	u.checkClean()
	if resp, page := s.signIn(newBrowser(t, s.Srv.URL), "/", "ada@corp.example", "ada-pw"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a disabled SSO user signed in: %d %s", resp.StatusCode, page)
	}
}

// TestBrowserSAML drives the sign-in through the SAML IdP emulator (crewjam/saml's samlidp) in
// headless Chromium: the sign-in page offers it by name, the IdP's page takes the password, its
// auto-posting form brings the signed response to the ACS, and the person lands in the console
// with the role their group maps to; a person in no mapped group is refused with the message
// that names the missing mapping.
func TestBrowserSAML(t *testing.T) {
	t.Parallel()
	if testing.Short() && !browserRequired() {
		t.Skip("browser test skipped in -short mode")
	}
	chromium := findChromium(t)
	s := newSAMLApp(t)
	u := newUI(t, chromium, s.Srv.URL)

	u.step = "sign-in page"
	u.open("/alerts")
	u.waitText("h1", "Sign in", 10*time.Second)
	u.waitText("#sso-corp", "Sign in with Corp SAML", 5*time.Second)

	u.step = "sign in at the SAML IdP"
	u.do(chromedp.Click(chromedp.CSS("#sso-corp")))
	u.waitText("h1", "Emulated SAML identity provider", 10*time.Second)
	u.do(chromedp.SendKeys(chromedp.CSS("#idp-username"), "ada"), chromedp.SendKeys(chromedp.CSS("#idp-password"), "ada-pw"),
		chromedp.Click(chromedp.CSS("#idp-submit")))
	u.waitText("h1", "Alerts", 10*time.Second) // back where she was going, through the ACS
	u.waitText(".who", "ada@corp.example (analyst)", 5*time.Second)

	u.step = "unmapped person refused"
	if err := chromedp.Do(u.ctx, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, network.ClearBrowserCookies, struct{}{})
		return err
	})); err != nil {
		u.fatal("clearing cookies: %v", err)
	}
	u.open("/login")
	u.do(chromedp.Click(chromedp.CSS("#sso-corp")))
	u.waitText("h1", "Emulated SAML identity provider", 10*time.Second)
	u.do(chromedp.SendKeys(chromedp.CSS("#idp-username"), "bob"), chromedp.SendKeys(chromedp.CSS("#idp-password"), "bob-pw"),
		chromedp.Click(chromedp.CSS("#idp-submit")))
	u.waitText("h1", "Sign in", 10*time.Second)
	u.waitText("main", `Corp SAML says you are in the groups "staff", and none of them is mapped to a Telltale role`, 5*time.Second)
	u.checkPage("login-saml-refused")
}

// TestBrowserTOTP: a local admin sets up TOTP in headless Chromium (QR code, secret, first code,
// recovery codes shown once), and the next password sign-in asks for the code.
func TestBrowserTOTP(t *testing.T) {
	t.Parallel()
	if testing.Short() && !browserRequired() {
		t.Skip("browser test skipped in -short mode")
	}
	chromium := findChromium(t)
	ta := newTestApp(t, false)
	srv := ta.httpServer(t)
	u := newUI(t, chromium, srv.URL)
	signIn := func() {
		u.open("/login")
		u.waitText("h1", "Sign in", 10*time.Second)
		u.do(chromedp.SendKeys(chromedp.CSS("#username"), "alice"), chromedp.SendKeys(chromedp.CSS("#password"), adminPassword),
			chromedp.Click(chromedp.CSS("form button[type=submit]")))
	}

	u.step = "set up"
	signIn()
	u.waitText("h1", "Risk exposure", 10*time.Second)
	u.do(chromedp.Click(chromedp.CSS(`a[href="/account/totp"]`)))
	u.waitText("#totp-status", "Two-factor sign-in is off", 10*time.Second)
	u.checkPage("totp-off")
	u.do(chromedp.Click(chromedp.CSS("#totp-begin")))
	u.waitText("#totp-confirm", "Scan this code", 10*time.Second)
	secret := u.text("#totp-secret")
	if u.eval(`String(document.querySelector("#totp-confirm img").naturalWidth)`) != "200" {
		u.fatal("the QR code did not load (blocked by the CSP?)")
	}
	u.checkPage("totp-set-up")
	now := time.Now()
	first, _ := totp.GenerateCode(strings.TrimSpace(secret), now)
	u.do(chromedp.SendKeys(chromedp.CSS("#code"), first), chromedp.Click(chromedp.CSS("#totp-confirm button[type=submit]")))
	u.waitText("#recovery-codes", "shown only now", 10*time.Second)
	if n := u.eval(`String(document.querySelectorAll("#recovery-codes li").length)`); n != "10" {
		u.fatal("%s recovery codes shown, want 10", n)
	}
	u.checkPage("totp-recovery-codes")

	u.step = "sign in with the code"
	if err := chromedp.Do(u.ctx, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, network.ClearBrowserCookies, struct{}{})
		return err
	})); err != nil {
		u.fatal("clearing cookies: %v", err)
	}
	signIn()
	u.waitText("label[for=code]", "Code from your authenticator app", 10*time.Second)
	u.checkPage("login-totp")
	next, _ := totp.GenerateCode(strings.TrimSpace(secret), now.Add(30*time.Second))
	u.do(chromedp.SendKeys(chromedp.CSS("#code"), next), chromedp.Click(chromedp.CSS("form button[type=submit]")))
	u.waitText("h1", "Risk exposure", 10*time.Second)
}
