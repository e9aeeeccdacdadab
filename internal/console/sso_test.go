package console_test

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/telltale-dev/telltale/internal/auth"
	"github.com/telltale-dev/telltale/internal/config"
	oidcemu "github.com/telltale-dev/telltale/internal/emulator/oidc"
	"github.com/telltale-dev/telltale/internal/store"
)

// ssoApp is a test node whose provider "emu" is an OpenID provider emulator on loopback, with the
// groups tt-admins, tt-analysts and tt-readers mapped, under the groups claim "roles". Extra
// providers (JSON, each starting with a comma) may name the emulator with $ISSUER, $CLIENT_ID
// and $CLIENT_SECRET.
type ssoApp struct {
	*testApp
	Srv *httptest.Server
	IdP *oidcemu.Server
}

func newSSOApp(t *testing.T, extra ...string) *ssoApp {
	t.Helper()
	return newSSOAppConfig(t, nil, extra...)
}

// newSSOAppConfig is newSSOApp with configure (nil: none) applied to the node's configuration.
func newSSOAppConfig(t *testing.T, configure func(*config.Config), extra ...string) *ssoApp {
	t.Helper()
	idp, err := oidcemu.Start(oidcemu.Options{GroupsClaim: "roles", Users: []oidcemu.User{
		{Subject: "00u-ada", Username: "ada@corp.example", Password: "ada-pw", Email: "ada@corp.example", Name: "Ada Lovelace", Groups: []string{"staff", "tt-analysts"}},
		{Subject: "00u-bob", Username: "bob@corp.example", Password: "bob-pw", Email: "bob@corp.example", Name: "Bob", Groups: []string{"staff"}},
		{Subject: "00u-alice", Username: "alice", Password: "alice-pw", Groups: []string{"tt-admins"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(idp.Close)
	providers := fmt.Sprintf(`{"providers": [{"id": "emu", "name": "Emulated IdP", "issuer": %q, "client_id": %q, "client_secret": %q,
  "scopes": ["profile", "email", "groups"], "claims": {"groups": "roles"},
  "groups": {"tt-admins": "admin", "tt-analysts": "analyst", "tt-readers": "read-only"}}%s]}`, idp.URL, idp.ClientID(), idp.ClientSecret(),
		strings.NewReplacer("$ISSUER", idp.URL, "$CLIENT_ID", idp.ClientID(), "$CLIENT_SECRET", idp.ClientSecret()).Replace(strings.Join(extra, "")))
	file := filepath.Join(t.TempDir(), "sso.json")
	if err := os.WriteFile(file, []byte(providers), 0o600); err != nil {
		t.Fatal(err)
	}
	ta := newTestApp(t, false, func(c *config.Config) {
		c.SSOProviders = file
		if configure != nil {
			configure(c)
		}
	})
	srv := ta.httpServer(t)
	idp.AllowRedirect(srv.URL + "/login/sso/emu/callback")
	return &ssoApp{testApp: ta, Srv: srv, IdP: idp}
}

// fetch requests an absolute URL without following redirects.
func (b *httpBrowser) fetch(method, u string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, u, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	page, _ := io.ReadAll(resp.Body)
	return resp, string(page)
}

func resolve(base *http.Response) string {
	loc, _ := base.Request.URL.Parse(base.Header.Get("Location"))
	return loc.String()
}

// toCallback starts a sign-in through "emu", signs in on the provider's page and returns the URL
// the provider sends the browser back to (not yet visited).
func (s *ssoApp) toCallback(b *httpBrowser, next, user, pw string) string {
	b.t.Helper()
	return s.toCallbackOf(b, "emu", next, user, pw)
}

// toCallbackOf is toCallback through provider id (another client of the same provider).
func (s *ssoApp) toCallbackOf(b *httpBrowser, id, next, user, pw string) string {
	b.t.Helper()
	resp, page := b.get("/login/sso/" + id + "?next=" + url.QueryEscape(next))
	if resp.StatusCode != http.StatusSeeOther {
		b.t.Fatalf("start: %d %s", resp.StatusCode, page)
	}
	resp, _ = b.fetch("GET", resolve(resp), nil) // the provider's authorize endpoint
	login, _ := url.Parse(resolve(resp))
	if login.Path != "/login" {
		b.t.Fatalf("authorize led to %s", login)
	}
	resp, page = b.fetch("POST", s.IdP.URL+"/login", url.Values{"id": {login.Query().Get("authRequestID")}, "username": {user}, "password": {pw}})
	if resp.StatusCode != http.StatusFound {
		b.t.Fatalf("provider sign-in: %d %s", resp.StatusCode, page)
	}
	for range 5 {
		to := resolve(resp)
		if strings.HasPrefix(to, s.Srv.URL) {
			return to
		}
		resp, page = b.fetch("GET", to, nil)
		if resp.StatusCode/100 != 3 {
			b.t.Fatalf("provider answered %d: %s", resp.StatusCode, page)
		}
	}
	b.t.Fatal("the provider never sent the browser back")
	return ""
}

// signIn signs in through "emu" and returns the callback's response and page.
func (s *ssoApp) signIn(b *httpBrowser, next, user, pw string) (*http.Response, string) {
	b.t.Helper()
	return b.fetch("GET", s.toCallback(b, next, user, pw), nil)
}

func (s *ssoApp) sessionCookie(b *httpBrowser) string {
	u, _ := url.Parse(s.Srv.URL)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == "telltale_session" {
			return c.Value
		}
	}
	return ""
}

func (s *ssoApp) audit(t *testing.T, action string) []map[string]any {
	t.Helper()
	es, err := s.App.Store.ListAudit(context.Background(), store.AuditFilter{Action: action})
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, e := range es {
		m := map[string]any{}
		json.Unmarshal(e.Details, &m)
		m["_outcome"], m["_actor"] = e.Outcome, e.Actor
		out = append(out, m)
	}
	return out
}

// TestSSOSignInRolesFromGroups: the first sign-in creates the user with the mapped role, marked
// with the provider; a group change changes the role at the next sign-in (audited); a person
// whose groups no longer map is refused with a message naming the mapping and loses their
// sessions; a disabled person is refused; sessions last the SSO session time.
func TestSSOSignInRolesFromGroups(t *testing.T) {
	t.Parallel()
	s := newSSOApp(t)
	ctx := context.Background()
	b := newBrowser(t, s.Srv.URL)
	resp, page := s.signIn(b, "/alerts", "ada@corp.example", "ada-pw")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/alerts" {
		t.Fatalf("callback: %d to %q: %s", resp.StatusCode, resp.Header.Get("Location"), page)
	}
	if _, page := b.get("/alerts"); !strings.Contains(page, "ada@corp.example") || !strings.Contains(page, "(analyst)") {
		t.Fatalf("the alerts page does not show ada as analyst:\n%s", page)
	}
	u, err := s.App.Store.GetUserBySubject(ctx, "emu", "00u-ada")
	if err != nil {
		t.Fatal(err)
	}
	if u.Username != "ada@corp.example" || u.Name != "Ada Lovelace" || u.Role != "analyst" || u.RoleSource != "group:tt-analysts" || u.LastSignInAt.IsZero() || u.PasswordHash != "" {
		t.Errorf("JIT user %+v", u)
	}
	sess, err := s.App.Store.GetSession(ctx, auth.HashToken(s.sessionCookie(b)))
	if err != nil {
		t.Fatal(err)
	}
	if ttl := sess.ExpiresAt.Sub(sess.CreatedAt); ttl != 8*time.Hour {
		t.Errorf("SSO session lasts %s, want the default 8h", ttl)
	}
	// An admin sees the provider, the last sign-in and where the role came from.
	req, _ := http.NewRequest("GET", s.Srv.URL+"/api/v1/users/"+fmt.Sprint(u.ID), nil)
	req.Header.Set("Authorization", "Bearer "+bootstrapToken)
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var wire map[string]any
	json.NewDecoder(r.Body).Decode(&wire)
	r.Body.Close()
	if wire["provider"] != "emu" || wire["role_source"] != "group:tt-analysts" || wire["last_sign_in_at"] == nil || wire["subject"] != "00u-ada" {
		t.Errorf("GET /api/v1/users/%d: %v", u.ID, wire)
	}
	// A password sign-in as the SSO user is refused.
	_, lp := b.get("/login")
	if resp, _ := b.post("/login", url.Values{"csrf": {csrfOf(t, lp)}, "username": {"ada@corp.example"}, "password": {""}}); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("password sign-in of an SSO user: %d", resp.StatusCode)
	}

	// Promoted at the provider: admin at the next sign-in.
	s.IdP.SetUser(oidcemu.User{Subject: "00u-ada", Username: "ada@corp.example", Password: "ada-pw", Groups: []string{"tt-admins", "tt-analysts"}})
	if resp, _ := s.signIn(b, "/", "ada@corp.example", "ada-pw"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("second sign-in: %d", resp.StatusCode)
	}
	if u, _ = s.App.Store.GetUserBySubject(ctx, "emu", "00u-ada"); u.Role != "admin" || u.RoleSource != "group:tt-admins" {
		t.Errorf("after promotion %+v", u)
	}
	if ch := s.audit(t, "user.role.change"); len(ch) != 1 || ch[0]["from"] != "analyst" || ch[0]["to"] != "admin" || ch[0]["provider"] != "emu" || ch[0]["subject"] != "00u-ada" {
		t.Errorf("role change audit %v", ch)
	}
	other := newBrowser(t, s.Srv.URL) // a second session of ada's, which must end too
	s.signIn(other, "/", "ada@corp.example", "ada-pw")

	// Removed from every mapped group: refused, with the message, and her sessions end.
	s.IdP.SetUser(oidcemu.User{Subject: "00u-ada", Username: "ada@corp.example", Password: "ada-pw", Groups: []string{"staff"}})
	resp, page = s.signIn(b, "/", "ada@corp.example", "ada-pw")
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(page, "none of them is mapped to a Telltale role") || !strings.Contains(page, "&#34;staff&#34;") || !strings.Contains(page, "tt-analysts") {
		t.Fatalf("unmapped sign-in: %d\n%s", resp.StatusCode, page)
	}
	if resp, _ := other.get("/connections"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("the other session still works after the groups stopped mapping: %d", resp.StatusCode)
	}
	refusals := s.audit(t, "session.create")
	if r := refusals[0]; r["_outcome"] != "401 Unauthorized" || r["provider"] != "emu" || r["subject"] != "00u-ada" || !strings.Contains(fmt.Sprint(r["reason"]), "no group maps") {
		t.Errorf("refusal audit %v", r)
	}

	// Disabled by an admin: refused even with mapped groups.
	s.IdP.SetUser(oidcemu.User{Subject: "00u-ada", Username: "ada@corp.example", Password: "ada-pw", Groups: []string{"tt-readers"}})
	u, _ = s.App.Store.GetUserBySubject(ctx, "emu", "00u-ada")
	u.Disabled = true
	s.App.Store.UpdateUser(ctx, u)
	if resp, page := s.signIn(b, "/", "ada@corp.example", "ada-pw"); resp.StatusCode != http.StatusForbidden || !strings.Contains(page, "disabled") {
		t.Errorf("disabled user: %d %s", resp.StatusCode, page)
	}
}

// TestSSOSessionTTLFromConfig: --sso-session-ttl reaches the sessions opened through a provider
// (the default, 8h, is checked in TestSSOSignInRolesFromGroups); local sessions keep
// --session-ttl.
func TestSSOSessionTTLFromConfig(t *testing.T) {
	t.Parallel()
	s := newSSOAppConfig(t, func(c *config.Config) { c.SSOSessionTTL, c.SessionTTL = 90*time.Minute, 5*time.Hour })
	ctx := context.Background()
	b := newBrowser(t, s.Srv.URL)
	if resp, page := s.signIn(b, "/", "ada@corp.example", "ada-pw"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %d %s", resp.StatusCode, page)
	}
	sess, err := s.App.Store.GetSession(ctx, auth.HashToken(s.sessionCookie(b)))
	if err != nil {
		t.Fatal(err)
	}
	if ttl := sess.ExpiresAt.Sub(sess.CreatedAt); ttl != 90*time.Minute {
		t.Errorf("SSO session lasts %s, want --sso-session-ttl 1h30m", ttl)
	}
	local := newBrowser(t, s.Srv.URL)
	local.login("alice", adminPassword)
	sess, err = s.App.Store.GetSession(ctx, auth.HashToken(s.sessionCookie(local)))
	if err != nil {
		t.Fatal(err)
	}
	if ttl := sess.ExpiresAt.Sub(sess.CreatedAt); ttl != 5*time.Hour {
		t.Errorf("local session lasts %s, want --session-ttl 5h", ttl)
	}
}

// TestSSOClaimsConfigured: a provider's "claims" choose the ID token claims read for the user
// name and the groups: here the user name from "email" rather than preferred_username.
func TestSSOClaimsConfigured(t *testing.T) {
	t.Parallel()
	s := newSSOApp(t, `, {"id": "emu-mail", "name": "Emulated IdP by email", "issuer": "$ISSUER", "client_id": "$CLIENT_ID", "client_secret": "$CLIENT_SECRET",
  "scopes": ["profile", "email", "groups"], "claims": {"username": "email", "groups": "roles"}, "groups": {"tt-analysts": "analyst"}}`)
	s.IdP.AllowRedirect(s.Srv.URL + "/login/sso/emu-mail/callback")
	s.IdP.SetUser(oidcemu.User{Subject: "00u-cy", Username: "cyril", Password: "cy-pw", Email: "cy.smith@corp.example", Name: "Cy Smith", Groups: []string{"tt-analysts"}})
	b := newBrowser(t, s.Srv.URL)
	if resp, page := b.fetch("GET", s.toCallbackOf(b, "emu-mail", "/", "cyril", "cy-pw"), nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %d %s", resp.StatusCode, page)
	}
	u, err := s.App.Store.GetUserBySubject(context.Background(), "emu-mail", "00u-cy")
	if err != nil || u.Username != "cy.smith@corp.example" || u.Name != "Cy Smith" || u.Role != "analyst" {
		t.Errorf("user %+v %v, want cy.smith@corp.example, analyst", u, err)
	}
	// The default (preferred_username) through the other provider.
	b = newBrowser(t, s.Srv.URL)
	if resp, page := s.signIn(b, "/", "cyril", "cy-pw"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in through emu: %d %s", resp.StatusCode, page)
	}
	if u, err := s.App.Store.GetUserBySubject(context.Background(), "emu", "00u-cy"); err != nil || u.Username != "cyril" {
		t.Errorf("user through emu %+v %v, want cyril", u, err)
	}
}

// TestSSOUnmappedAndTakenNames: someone in no mapped group never gets a user; a provider's user
// name that is a local account's is refused, not merged into it.
func TestSSOUnmappedAndTakenNames(t *testing.T) {
	t.Parallel()
	s := newSSOApp(t)
	b := newBrowser(t, s.Srv.URL)
	resp, page := s.signIn(b, "/", "bob@corp.example", "bob-pw")
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(page, "Emulated IdP says you are in the groups &#34;staff&#34;") {
		t.Fatalf("unmapped: %d\n%s", resp.StatusCode, page)
	}
	if _, err := s.App.Store.GetUserBySubject(context.Background(), "emu", "00u-bob"); err == nil {
		t.Error("an unmapped person got a user")
	}
	resp, page = s.signIn(b, "/", "alice", "alice-pw")
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(page, "belongs to another Telltale account") || s.sessionCookie(b) != "" {
		t.Fatalf("taken name: %d\n%s", resp.StatusCode, page)
	}
}

// TestSSOReplayedStateAndOtherBrowser: a state is used once, and only by the browser that
// started the sign-in.
func TestSSOReplayedStateAndOtherBrowser(t *testing.T) {
	t.Parallel()
	s := newSSOApp(t)
	b := newBrowser(t, s.Srv.URL)
	cb := s.toCallback(b, "/", "ada@corp.example", "ada-pw")
	// Another browser (no cookie of this sign-in) presenting the callback is refused, and the
	// state is spent.
	thief := newBrowser(t, s.Srv.URL)
	if resp, page := thief.fetch("GET", cb, nil); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(page, "started in another browser") || s.sessionCookie(thief) != "" {
		t.Fatalf("other browser: %d %s", resp.StatusCode, page)
	}
	if resp, _ := b.fetch("GET", cb, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a state another browser tried: %d", resp.StatusCode)
	}
	// A fresh sign-in works once; replaying its callback (state and cookie) does not.
	b2 := newBrowser(t, s.Srv.URL)
	cb = s.toCallback(b2, "/", "ada@corp.example", "ada-pw")
	u, _ := url.Parse(s.Srv.URL)
	cookies := b2.c.Jar.Cookies(&url.URL{Scheme: u.Scheme, Host: u.Host, Path: "/login/sso/emu/callback"})
	if resp, _ := b2.fetch("GET", cb, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("first use: %d", resp.StatusCode)
	}
	replay := newBrowser(t, s.Srv.URL)
	replay.c.Jar.SetCookies(&url.URL{Scheme: u.Scheme, Host: u.Host, Path: "/login/sso/"}, cookies)
	if resp, page := replay.fetch("GET", cb, nil); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(page, "already used") || s.sessionCookie(replay) != "" {
		t.Fatalf("replayed state: %d %s", resp.StatusCode, page)
	}
	if r := s.audit(t, "session.create")[0]; !strings.Contains(fmt.Sprint(r["reason"]), "state") || r["provider"] != "emu" {
		t.Errorf("replay audit %v", r)
	}
}

// TestSSOOpenRedirectRefused: the return URL stays on this site.
func TestSSOOpenRedirectRefused(t *testing.T) {
	t.Parallel()
	s := newSSOApp(t)
	for _, next := range []string{"//evil.example/x", "https://evil.example/", "/\\evil.example", "/login/sso/emu"} {
		b := newBrowser(t, s.Srv.URL)
		resp, _ := s.signIn(b, next, "ada@corp.example", "ada-pw")
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/" {
			t.Errorf("next %q: %d to %q", next, resp.StatusCode, loc)
		}
	}
}

// --- bad ID tokens, handed out by the real provider through its hook ---

func claimsOf(t *testing.T, raw string) map[string]any {
	parts := strings.Split(raw, ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]any{}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// resign signs claims with the provider's own key, as a genuine token.
func resign(t *testing.T, idp *oidcemu.Server, c map[string]any) string {
	kid, key := idp.SigningKey()
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: kid}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(c)
	jws, err := sig.Sign(b)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := jws.CompactSerialize()
	return s
}

// hs256 signs the claims of a genuine token with HS256 keyed by the provider's public key.
func hs256(t *testing.T, idp *oidcemu.Server, genuine string, asPEM bool) string {
	kid, key := idp.SigningKey()
	secret, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if asPEM {
		secret = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: secret})
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: secret}, (&jose.SignerOptions{}).WithHeader("kid", kid))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claimsOf(t, genuine))
	jws, err := sig.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := jws.CompactSerialize()
	return out
}

// TestSSOBadIDTokensSignNobodyIn: the provider's token endpoint hands out tokens minted here
// with go-jose (op mints only correct ones); none signs anyone in.
func TestSSOBadIDTokensSignNobodyIn(t *testing.T) {
	t.Parallel()
	s := newSSOApp(t)
	b64 := func(v any) string { b, _ := json.Marshal(v); return base64.RawURLEncoding.EncodeToString(b) }
	now := time.Now().Unix()
	// reason is what the audit log must give as the cause: each case is refused by the check it
	// is about, not by another one it happens to trip.
	cases := []struct {
		name, reason string
		mint         func(genuine string) string
	}{
		{"alg none", `unexpected signature algorithm "none"`, func(g string) string {
			kid, _ := s.IdP.SigningKey()
			return b64(map[string]any{"alg": "none", "kid": kid}) + "." + b64(claimsOf(t, g)) + "."
		}},
		// The classic confusion: the public key, as PEM and as DER, used as an HMAC secret.
		{"HS256 keyed with the provider's public key (PEM)", `unexpected signature algorithm "HS256"`, func(g string) string { return hs256(t, s.IdP, g, true) }},
		{"HS256 keyed with the provider's public key (DER)", `unexpected signature algorithm "HS256"`, func(g string) string { return hs256(t, s.IdP, g, false) }},
		{"expired", "token is expired", func(g string) string {
			c := claimsOf(t, g)
			// iat within the accepted age, so that exp alone refuses it (beyond the skew).
			c["iat"], c["exp"] = now-11*60, now-3*60
			return resign(t, s.IdP, c)
		}},
		{"another audience", "expected audience", func(g string) string {
			c := claimsOf(t, g)
			c["aud"] = "someone-else"
			c["azp"] = "someone-else"
			return resign(t, s.IdP, c)
		}},
		{"wrong nonce", "nonce does not match", func(g string) string {
			c := claimsOf(t, g)
			c["nonce"] = "an-old-nonce"
			return resign(t, s.IdP, c)
		}},
		{"no nonce", "nonce does not match", func(g string) string {
			c := claimsOf(t, g)
			delete(c, "nonce")
			return resign(t, s.IdP, c)
		}},
		{"another issuer", "issued by a different provider", func(g string) string {
			c := claimsOf(t, g)
			c["iss"] = "https://evil.example"
			return resign(t, s.IdP, c)
		}},
		{"issued in the future", "ID token issued at", func(g string) string {
			c := claimsOf(t, g)
			c["iat"], c["exp"] = now+3600, now+7200
			return resign(t, s.IdP, c)
		}},
		// Not expired, but issued long before this sign-in: a token kept from an earlier one.
		{"issued long ago", "ID token issued at", func(g string) string {
			c := claimsOf(t, g)
			c["iat"], c["exp"] = now-3600, now+3600
			return resign(t, s.IdP, c)
		}},
		{"signed by an unknown key", "failed to verify signature", func(g string) string {
			other, err := oidcemu.Start(oidcemu.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer other.Close()
			kid, _ := s.IdP.SigningKey()
			_, key := other.SigningKey()
			sig, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: kid}}, nil)
			payload, _ := json.Marshal(claimsOf(t, g))
			jws, _ := sig.Sign(payload)
			out, _ := jws.CompactSerialize()
			return out
		}},
	}
	for _, tc := range cases {
		s.IdP.SetIDTokenHook(tc.mint)
		b := newBrowser(t, s.Srv.URL)
		resp, page := s.signIn(b, "/", "ada@corp.example", "ada-pw")
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(page, "failed a check") || s.sessionCookie(b) != "" {
			t.Errorf("%s: %d, session %q\n%s", tc.name, resp.StatusCode, s.sessionCookie(b), page)
		}
		if r := s.audit(t, "session.create")[0]; r["provider"] != "emu" || !strings.Contains(fmt.Sprint(r["reason"]), "ID token") ||
			!strings.Contains(fmt.Sprint(r["reason"]), tc.reason) {
			t.Errorf("%s: audit %v, want the reason to say %q", tc.name, r, tc.reason)
		}
	}
	if _, err := s.App.Store.GetUserBySubject(context.Background(), "emu", "00u-ada"); err == nil {
		t.Error("a bad token created the user")
	}
	// The hook off, the same provider signs ada in: the cases failed for their token alone.
	s.IdP.SetIDTokenHook(nil)
	if resp, _ := s.signIn(newBrowser(t, s.Srv.URL), "/", "ada@corp.example", "ada-pw"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("genuine token: %d", resp.StatusCode)
	}
	// Keys rotate: a token signed with a new key (the old one gone from the JWKS) still passes.
	s.IdP.RotateKey()
	s.IdP.DropOldKeys()
	if resp, page := s.signIn(newBrowser(t, s.Srv.URL), "/", "ada@corp.example", "ada-pw"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("after key rotation: %d %s", resp.StatusCode, page)
	}
}

// TestSSOProviderDownOrGarbage: a provider that is down or answers garbage gives a clear message
// on the sign-in page, and local sign-in still works.
func TestSSOProviderDownOrGarbage(t *testing.T) {
	t.Parallel()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	down := "http://" + ln.Addr().String()
	ln.Close()
	garbage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "<html>garbage{") }))
	t.Cleanup(garbage.Close)
	s := newSSOApp(t,
		fmt.Sprintf(`, {"id": "down", "name": "Down IdP", "issuer": %q, "client_id": "x", "client_secret": "y", "groups": {"a": "admin"}}`, down),
		fmt.Sprintf(`, {"id": "junk", "name": "Junk IdP", "issuer": %q, "client_id": "x", "client_secret": "y", "groups": {"a": "admin"}}`, garbage.URL),
		// The cloud metadata address: the SSRF guard refuses it before any connection.
		`, {"id": "meta", "name": "Metadata IdP", "issuer": "http://169.254.169.254/", "client_id": "x", "client_secret": "y", "groups": {"a": "admin"}}`)
	b := newBrowser(t, s.Srv.URL)
	_, page := b.get("/login")
	for _, want := range []string{"Sign in with Emulated IdP", "Sign in with Down IdP", "Sign in with Junk IdP", `name="password"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the sign-in page lacks %q", want)
		}
	}
	for _, id := range []string{"down", "junk"} {
		resp, page := b.get("/login/sso/" + id)
		if resp.StatusCode != http.StatusBadGateway || !strings.Contains(page, "cannot be reached or did not answer as an OpenID provider") || !strings.Contains(page, `name="password"`) {
			t.Errorf("%s: %d\n%s", id, resp.StatusCode, page)
		}
	}
	if resp, _ := b.get("/login/sso/meta"); resp.StatusCode != http.StatusBadGateway {
		t.Errorf("a provider at the cloud metadata address: %d", resp.StatusCode)
	}
	if r := s.audit(t, "session.create")[0]; r["provider"] != "meta" || !strings.Contains(fmt.Sprint(r["reason"]), "SSRF guard") {
		t.Errorf("guard refusal audit %v", r)
	}
	// The token endpoint answering garbage after a good start.
	cb := s.toCallback(b, "/", "ada@corp.example", "ada-pw")
	s.IdP.AnswerGarbage(true)
	if resp, page := b.fetch("GET", cb, nil); resp.StatusCode != http.StatusBadGateway || !strings.Contains(page, "cannot be reached or answered garbage") || s.sessionCookie(b) != "" {
		t.Errorf("token endpoint answering garbage: %d\n%s", resp.StatusCode, page)
	}
	s.IdP.AnswerGarbage(false)
	// The token endpoint down after a good start.
	cb = s.toCallback(b, "/", "ada@corp.example", "ada-pw")
	s.IdP.Close()
	if resp, page := b.fetch("GET", cb, nil); resp.StatusCode != http.StatusBadGateway || !strings.Contains(page, "cannot be reached or answered garbage") {
		t.Errorf("token endpoint down: %d\n%s", resp.StatusCode, page)
	}
	b.login("alice", adminPassword) // break-glass
}
