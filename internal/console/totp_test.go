package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/telltale-dev/telltale/internal/auth"
	oidcemu "github.com/telltale-dev/telltale/internal/emulator/oidc"
)

var (
	totpSecret   = regexp.MustCompile(`<code id="totp-secret">([A-Z2-7]+)</code>`)
	recoveryCode = regexp.MustCompile(`<li><code>([a-z0-9]{5}-[a-z0-9]{5})</code></li>`)
	ticketField  = regexp.MustCompile(`name="ticket" value="([^"]+)"`)
)

// passwordStep signs in with a password and returns the second step's ticket ("" when the
// password alone signed in) and the page.
func passwordStep(b *httpBrowser, user, pw string) (string, *http.Response, string) {
	b.t.Helper()
	_, page := b.get("/login")
	resp, page := b.post("/login", url.Values{"csrf": {csrfOf(b.t, page)}, "username": {user}, "password": {pw}, "next": {"/alerts"}})
	if m := ticketField.FindStringSubmatch(page); m != nil {
		return m[1], resp, page
	}
	return "", resp, page
}

func codeStep(b *httpBrowser, ticket, page, code string) (*http.Response, string) {
	b.t.Helper()
	return b.post("/login/mfa", url.Values{"csrf": {csrfOf(b.t, page)}, "ticket": {ticket}, "code": {code}, "next": {"/alerts"}})
}

func code(t *testing.T, secret string, at time.Time) string {
	c, err := totp.GenerateCode(secret, at)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestTOTPSetUpAndSignIn: a local admin sets up TOTP (RFC 6238) by proving a code, gets ten
// recovery codes once; from then on the password alone signs nobody in, each TOTP code and each
// recovery code works once, a wrong code is refused, and every step is audited.
func TestTOTPSetUpAndSignIn(t *testing.T) {
	t.Parallel()
	s := newSSOApp(t)
	ctx := context.Background()
	b := newBrowser(t, s.Srv.URL)
	csrf := b.login("alice", adminPassword)
	_, page := b.post("/account/totp/begin", url.Values{"csrf": {csrf}})
	m := totpSecret.FindStringSubmatch(page)
	if m == nil || !strings.Contains(page, `src="data:image/png;base64,`) {
		t.Fatalf("no secret or QR code on the set-up page:\n%s", page)
	}
	secret := m[1]
	// Not in force until a code proves the authenticator has it.
	if ticket, _, _ := passwordStep(newBrowser(t, s.Srv.URL), "alice", adminPassword); ticket != "" {
		t.Fatal("TOTP asked for before the set-up was confirmed")
	}
	if resp, page := b.post("/account/totp/confirm", url.Values{"csrf": {csrf}, "code": {"000000"}}); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, "That code is wrong") {
		t.Fatalf("wrong confirmation code: %d\n%s", resp.StatusCode, page)
	}
	now := time.Now()
	resp, page := b.post("/account/totp/confirm", url.Values{"csrf": {csrf}, "code": {code(t, secret, now)}})
	codes := recoveryCode.FindAllStringSubmatch(page, -1)
	if resp.StatusCode != http.StatusOK || len(codes) != 10 {
		t.Fatalf("confirmation: %d, %d recovery codes\n%s", resp.StatusCode, len(codes), page)
	}
	alice, _ := s.App.Store.GetUserByUsername(ctx, "alice")
	if tt, err := s.App.Store.GetUserTOTP(ctx, alice.ID); err != nil || strings.Contains(string(tt.Secret), secret) {
		t.Errorf("the TOTP secret is not stored sealed: %v", err)
	}
	if a := (&ssoApp{testApp: s.testApp}).audit(t, "user.totp.enable"); len(a) != 1 || a[0]["_actor"] != "alice" {
		t.Errorf("enable audit %v", a)
	}
	if a := (&ssoApp{testApp: s.testApp}).audit(t, "user.totp.begin"); len(a) != 1 || a[0]["_actor"] != "alice" || a[0]["was_on"] != false {
		t.Errorf("begin audit %v", a)
	}

	// The password alone no longer signs in: it asks for the code.
	b2 := newBrowser(t, s.Srv.URL)
	ticket, resp, page := passwordStep(b2, "alice", adminPassword)
	if ticket == "" || resp.StatusCode != http.StatusOK || s.sessionCookie(b2) != "" {
		t.Fatalf("password step: %d, session %q\n%s", resp.StatusCode, s.sessionCookie(b2), page)
	}
	// Each answer is a new form with a new CSRF token: the next try posts that one.
	if resp, page = codeStep(b2, ticket, page, "123456"); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(page, "That code is wrong or was used already") {
		t.Errorf("wrong code: %d\n%s", resp.StatusCode, page)
	}
	// The code that confirmed the set-up was used: it does not sign in again.
	if resp, page = codeStep(b2, ticket, page, code(t, secret, now)); resp.StatusCode != http.StatusUnauthorized || s.sessionCookie(b2) != "" {
		t.Errorf("a used code: %d", resp.StatusCode)
	}
	// The next step's code does, once.
	next := code(t, secret, now.Add(30*time.Second))
	if resp, _ := codeStep(b2, ticket, page, next); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/alerts" || s.sessionCookie(b2) == "" {
		t.Fatalf("right code: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	b3 := newBrowser(t, s.Srv.URL)
	ticket, _, page = passwordStep(b3, "alice", adminPassword)
	if resp, page = codeStep(b3, ticket, page, next); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the same code twice: %d", resp.StatusCode)
	}
	// A recovery code works once.
	rc := codes[3][1]
	if resp, _ := codeStep(b3, ticket, page, rc); resp.StatusCode != http.StatusSeeOther || s.sessionCookie(b3) == "" {
		t.Fatalf("recovery code: %d", resp.StatusCode)
	}
	b4 := newBrowser(t, s.Srv.URL)
	ticket, _, page = passwordStep(b4, "alice", adminPassword)
	if resp, _ := codeStep(b4, ticket, page, rc); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a recovery code twice: %d", resp.StatusCode)
	}
	if n, _ := s.App.Store.CountRecoveryCodes(ctx, alice.ID); n != 9 {
		t.Errorf("%d recovery codes left, want 9", n)
	}
	// Five wrong codes void the ticket, even for a right code after.
	b5 := newBrowser(t, s.Srv.URL)
	ticket, _, page = passwordStep(b5, "alice", adminPassword)
	for range 5 {
		_, page = codeStep(b5, ticket, page, "999999")
	}
	if resp, page := codeStep(b5, ticket, page, codes[5][1]); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(page, "too many wrong codes") {
		t.Errorf("a sixth try: %d\n%s", resp.StatusCode, page)
	}
	if r := (&ssoApp{testApp: s.testApp}).audit(t, "session.create"); !strings.Contains(fmt.Sprint(r[0]["reason"]), "ticket") {
		t.Errorf("refusal audit %v", r[0])
	}
	// Wrong codes count as failed sign-ins: a new ticket buys no more guesses.
	if _, resp, _ := passwordStep(newBrowser(t, s.Srv.URL), "alice", adminPassword); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("password after many wrong codes: %d, want 429", resp.StatusCode)
	}
	s.App.Auth.Unlock("alice")

	// An admin resets it for someone who lost everything: the password alone signs in again.
	admin := newBrowser(t, s.Srv.URL)
	ticket, _, page = passwordStep(admin, "alice", adminPassword)
	codeStep(admin, ticket, page, codes[6][1])
	_, users := admin.get("/users")
	if resp, _ := admin.post(fmt.Sprintf("/users/%d/totp/reset", alice.ID), url.Values{"csrf": {csrfOf(t, users)}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("reset: %d", resp.StatusCode)
	}
	if ticket, _, _ := passwordStep(newBrowser(t, s.Srv.URL), "alice", adminPassword); ticket != "" {
		t.Error("TOTP still asked for after the reset")
	}
	if a := (&ssoApp{testApp: s.testApp}).audit(t, "user.totp.disable"); len(a) != 1 || a[0]["user"] != "alice" {
		t.Errorf("reset audit %v", a)
	}
}

// TestSignInPolicy: an admin requires TOTP of admins (an admin without it reaches only its
// set-up) and turns password sign-in off once SSO works, keeping one break-glass admin; every
// change audited; bad changes refused with the reason.
func TestSignInPolicy(t *testing.T) {
	t.Parallel()
	s := newSSOApp(t)
	ctx := context.Background()
	b := newBrowser(t, s.Srv.URL)
	csrf := b.login("alice", adminPassword)
	post := func(form url.Values) (*http.Response, string) {
		form.Set("csrf", csrf)
		return b.post("/users/sign-in-policy", form)
	}
	// Password sign-in off before any admin signed in through the IdP: refused.
	if resp, page := post(url.Values{"password_sign_in_off": {"on"}, "break_glass": {"alice"}}); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, "no admin has signed in through an identity provider yet") {
		t.Fatalf("off before SSO works: %d\n%s", resp.StatusCode, page)
	}
	// A break-glass account that is no admin: refused.
	s.IdP.SetUser(oidcemu.User{Subject: "00u-root", Username: "root@corp.example", Password: "root-pw", Groups: []string{"tt-admins"}})
	if resp, _ := s.signIn(newBrowser(t, s.Srv.URL), "/", "root@corp.example", "root-pw"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("SSO admin: %d", resp.StatusCode)
	}
	for _, bg := range []string{"", "ana", "root@corp.example", "nobody"} {
		if resp, _ := post(url.Values{"password_sign_in_off": {"on"}, "break_glass": {bg}}); resp.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("break-glass %q: %d", bg, resp.StatusCode)
		}
	}
	// Off, alice kept: ana's password no longer signs her in, alice's does; API tokens still work.
	if resp, page := post(url.Values{"password_sign_in_off": {"on"}, "break_glass": {"alice"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("off: %d\n%s", resp.StatusCode, page)
	}
	if _, resp, page := passwordStep(newBrowser(t, s.Srv.URL), "ana", analystPassword); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(page, "Password sign-in is turned off here") {
		t.Errorf("ana with a password: %d\n%s", resp.StatusCode, page)
	}
	newBrowser(t, s.Srv.URL).login("alice", adminPassword)
	req, _ := http.NewRequest("GET", s.Srv.URL+"/api/v1/me", nil)
	req.Header.Set("Authorization", "Bearer "+bootstrapToken)
	if r, err := http.DefaultClient.Do(req); err != nil || r.StatusCode != http.StatusOK {
		t.Errorf("API token with password sign-in off: %v %v", r.StatusCode, err)
	}
	// So do a service account's (the bootstrap token above is a person's, the bootstrap admin's).
	bot, err := s.App.Auth.CreateUser(ctx, "ci-bot", "", auth.RoleAnalyst, "", true)
	if err != nil {
		t.Fatal(err)
	}
	_, botToken, err := s.App.Auth.CreateToken(ctx, bot.ID, "ci", 0)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+botToken)
	if r, err := http.DefaultClient.Do(req); err != nil || r.StatusCode != http.StatusOK {
		t.Errorf("a service account's API token with password sign-in off: %v %v", r.StatusCode, err)
	}

	// TOTP required of admins: alice, without it, reaches only the set-up; the API refuses her
	// session too.
	if resp, _ := post(url.Values{"password_sign_in_off": {"on"}, "break_glass": {"alice"}, "admin_totp_required": {"on"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("TOTP required: %d", resp.StatusCode)
	}
	a := newBrowser(t, s.Srv.URL)
	_, resp, _ := passwordStep(a, "alice", adminPassword)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/account/totp" {
		t.Fatalf("admin without TOTP: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := a.get("/connections"); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/account/totp" {
		t.Errorf("another page: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, page := a.get("/api/v1/connections"); resp.StatusCode != http.StatusForbidden || !strings.Contains(page, "two-factor sign-in is required of admins") {
		t.Errorf("the API with a session held at the set-up: %d\n%s", resp.StatusCode, page)
	}
	if resp, page := a.get("/api/v1/me"); resp.StatusCode != http.StatusOK {
		t.Errorf("GET /api/v1/me with a session held at the set-up: %d\n%s", resp.StatusCode, page)
	}
	resp, page := a.get("/account/totp")
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "requires two-factor sign-in of admins") {
		t.Errorf("set-up page: %d\n%s", resp.StatusCode, page)
	}
	// Once she has set it up she goes on, and cannot turn it off while the policy holds.
	_, page = a.post("/account/totp/begin", url.Values{"csrf": {csrfOf(t, page)}})
	m := totpSecret.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no TOTP secret on the set-up page:\n%s", page)
	}
	if resp, page := a.post("/account/totp/confirm", url.Values{"csrf": {csrfOf(t, page)}, "code": {code(t, m[1], time.Now())}}); resp.StatusCode != http.StatusOK {
		t.Fatalf("confirming TOTP: %d\n%s", resp.StatusCode, page)
	}
	if resp, _ := a.get("/connections"); resp.StatusCode != http.StatusOK {
		t.Errorf("an admin with TOTP set up, still held: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, page = a.get("/account/totp")
	if resp, page := a.post("/account/totp/disable", url.Values{"csrf": {csrfOf(t, page)}}); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, "required of admins") {
		t.Errorf("an admin turning TOTP off while it is required: %d\n%s", resp.StatusCode, page)
	}
	alice, _ := s.App.Store.GetUserByUsername(ctx, "alice")
	if on, _, err := s.App.Auth.TOTPStatus(ctx, alice.ID); err != nil || !on {
		t.Errorf("alice's TOTP after the refused turning off: on %v, %v", on, err)
	}
	// Analysts are not held.
	s.IdP.SetUser(oidcemu.User{Subject: "00u-ada", Username: "ada@corp.example", Password: "ada-pw", Groups: []string{"tt-analysts"}})
	ada := newBrowser(t, s.Srv.URL)
	s.signIn(ada, "/", "ada@corp.example", "ada-pw")
	if resp, _ := ada.get("/connections"); resp.StatusCode != http.StatusOK {
		t.Errorf("an SSO analyst with TOTP required of admins: %d", resp.StatusCode)
	}
	// Every attempt is audited: the two changes with what they changed, the refusals with why.
	var ok, refused int
	for _, e := range (&ssoApp{testApp: s.testApp}).audit(t, "settings.sign_in_policy") {
		switch {
		case e["_outcome"] == "ok" && e["_actor"] == "alice" && e["to"] != nil && e["from"] != nil:
			ok++
		case strings.HasPrefix(fmt.Sprint(e["_outcome"]), "422"):
			refused++
		}
	}
	if ok != 2 || refused != 5 {
		t.Errorf("policy audit: %d changes, %d refusals; want 2 and 5", ok, refused)
	}
}
