package oidc_test

import (
	"context"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	oidcemu "github.com/telltale-dev/telltale/internal/emulator/oidc"
)

// signIn runs the authorization code flow with PKCE against the emulator as a browser would and
// returns the verified ID token's claims.
func signIn(t *testing.T, e *oidcemu.Server, user, password string) (map[string]any, error) {
	t.Helper()
	ctx := context.Background()
	codes := make(chan url.Values, 1)
	rp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { codes <- r.URL.Query() }))
	defer rp.Close()
	e.AllowRedirect(rp.URL + "/cb")
	p, err := gooidc.NewProvider(ctx, e.URL)
	if err != nil {
		t.Fatal(err)
	}
	cfg := oauth2.Config{ClientID: e.ClientID(), ClientSecret: e.ClientSecret(), Endpoint: p.Endpoint(), RedirectURL: rp.URL + "/cb",
		Scopes: []string{gooidc.ScopeOpenID, "profile", "email", "groups"}}
	verifier := oauth2.GenerateVerifier()
	u := cfg.AuthCodeURL("st4te", oauth2.S256ChallengeOption(verifier), gooidc.Nonce("n0nce"))
	jar, _ := cookiejar.New(nil)
	b := &http.Client{Jar: jar}
	resp, err := b.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !strings.Contains(resp.Request.URL.Path, "/login") {
		t.Fatalf("authorize led to %s, want the sign-in page", resp.Request.URL)
	}
	resp, err = b.PostForm(e.URL+"/login", url.Values{"id": {resp.Request.URL.Query().Get("authRequestID")}, "username": {user}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var q url.Values
	select {
	case q = <-codes:
	default:
		t.Fatalf("no redirect to the client (status %d)", resp.StatusCode)
	}
	if q.Get("state") != "st4te" {
		t.Fatalf("state %q", q.Get("state"))
	}
	tok, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		return nil, err
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := p.Verifier(&gooidc.Config{ClientID: e.ClientID()}).Verify(ctx, raw)
	if err != nil {
		return nil, err
	}
	if idt.Nonce != "n0nce" {
		t.Fatalf("nonce %q", idt.Nonce)
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	return claims, nil
}

func TestCodeFlowWithGroupsAndRotation(t *testing.T) {
	e, err := oidcemu.Start(oidcemu.Options{GroupsClaim: "roles", Users: []oidcemu.User{
		{Username: "ada", Password: "pw-ada", Email: "ada@example.com", Name: "Ada L", Groups: []string{"tt-admins", "staff"}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	c, err := signIn(t, e, "ada", "pw-ada")
	if err != nil {
		t.Fatal(err)
	}
	if c["sub"] != "ada" || c["email"] != "ada@example.com" || c["preferred_username"] != "ada" || c["name"] != "Ada L" {
		t.Errorf("claims %v", c)
	}
	g, _ := c["roles"].([]any)
	if len(g) != 2 || g[0] != "tt-admins" {
		t.Errorf("groups claim roles = %v", c["roles"])
	}
	// A rotated key signs the next token; the relying party fetches the new JWKS.
	kid0, _ := e.SigningKey()
	e.RotateKey()
	e.DropOldKeys()
	if kid1, _ := e.SigningKey(); kid1 == kid0 {
		t.Fatal("RotateKey kept the key")
	}
	if _, err := signIn(t, e, "ada", "pw-ada"); err != nil {
		t.Fatalf("after rotation: %v", err)
	}
	e.SetUser(oidcemu.User{Username: "ada", Password: "pw-ada", Groups: []string{"staff"}})
	c, err = signIn(t, e, "ada", "pw-ada")
	if err != nil || !slices.Equal(c["roles"].([]any), []any{"staff"}) {
		t.Fatalf("after the group change: %v %v", c["roles"], err)
	}
}

func TestWrongPasswordStaysOnThePage(t *testing.T) {
	e, err := oidcemu.Start(oidcemu.Options{Users: []oidcemu.User{{Username: "ada", Password: "pw"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	resp, err := http.PostForm(e.URL+"/login", url.Values{"id": {"nope"}, "username": {"ada"}, "password": {"x"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("status %d", resp.StatusCode)
	}
}
