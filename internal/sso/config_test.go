package sso_test

import (
	"strings"
	"testing"

	"github.com/telltale-dev/telltale/internal/auth"
	"github.com/telltale-dev/telltale/internal/sso"
)

func TestParseProviders(t *testing.T) {
	env := map[string]string{"OKTA_SECRET": "s3cret"}
	ps, err := sso.Parse([]byte(`{"providers": [
  {"id": "okta", "name": "Okta", "issuer": "https://corp.okta.com", "client_id": "0oa1", "client_secret_env": "OKTA_SECRET",
   "groups": {"tt-admins": "admin", "tt-analysts": "analyst", "tt-readers": "read-only"}},
  {"id": "entra", "issuer": "https://login.microsoftonline.com/tid/v2.0", "client_id": "app", "client_secret": "x",
   "claims": {"username": "upn"}, "groups": {"6b1f-guid": "admin"}}]}`), func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 2 || ps[0].ClientSecret != "s3cret" || ps[1].Name != "entra" || ps[1].Claims.Groups != "groups" || ps[1].Claims.Username != "upn" ||
		strings.Join(ps[0].Scopes, " ") != "profile email" {
		t.Errorf("parsed %+v", ps)
	}
	for _, c := range []struct{ name, json, want string }{
		{"bad id", `{"providers": [{"id": "Okta!", "issuer": "https://x", "client_id": "a", "client_secret": "b", "groups": {"g": "admin"}}]}`, `"id"`},
		{"no issuer", `{"providers": [{"id": "o", "issuer": "okta", "client_id": "a", "client_secret": "b", "groups": {"g": "admin"}}]}`, `"issuer"`},
		{"no secret", `{"providers": [{"id": "o", "issuer": "https://x", "client_id": "a", "groups": {"g": "admin"}}]}`, "client_secret"},
		{"empty env secret", `{"providers": [{"id": "o", "issuer": "https://x", "client_id": "a", "client_secret_env": "NOPE", "groups": {"g": "admin"}}]}`, "NOPE is empty"},
		{"no mapping", `{"providers": [{"id": "o", "issuer": "https://x", "client_id": "a", "client_secret": "b"}]}`, "nobody could sign in"},
		{"integration role", `{"providers": [{"id": "o", "issuer": "https://x", "client_id": "a", "client_secret": "b", "groups": {"g": "integration"}}]}`, "admin, analyst or read-only"},
		{"unknown field", `{"providers": [{"id": "o", "issuer": "https://x", "client_id": "a", "client_secret": "b", "groups": {"g": "admin"}, "grups": {}}]}`, "unknown field"},
		{"duplicate id", `{"providers": [{"id": "o", "issuer": "https://x", "client_id": "a", "client_secret": "b", "groups": {"g": "admin"}},
			{"id": "o", "issuer": "https://y", "client_id": "a", "client_secret": "b", "groups": {"g": "admin"}}]}`, "two providers"},
	} {
		if _, err := sso.Parse([]byte(c.json), func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", c.name, err, c.want)
		}
	}
}

func TestMapRoleTakesTheHighest(t *testing.T) {
	p := sso.ProviderConfig{Groups: map[string]string{"tt-admins": "admin", "tt-analysts": "analyst", "tt-readers": "read-only", "a-readers": "read-only"}}
	for _, c := range []struct {
		groups []string
		role   auth.Role
		from   string
	}{
		{[]string{"staff", "tt-readers", "tt-analysts"}, auth.RoleAnalyst, "tt-analysts"},
		{[]string{"tt-analysts", "tt-admins"}, auth.RoleAdmin, "tt-admins"},
		{[]string{"tt-readers", "a-readers"}, auth.RoleReadOnly, "a-readers"},
		{[]string{"TT-ADMINS", "staff"}, "", ""}, // group names are compared exactly
		{nil, "", ""},
	} {
		if r, g := p.MapRole(c.groups); r != c.role || g != c.from {
			t.Errorf("%v: %q from %q, want %q from %q", c.groups, r, g, c.role, c.from)
		}
	}
}
