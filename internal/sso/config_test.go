package sso_test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/telltale-dev/telltale/internal/auth"
	samlemu "github.com/telltale-dev/telltale/internal/emulator/saml"
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

// TestParseSAMLProviders: a SAML provider names its IdP metadata (a URL, or a file read and
// checked at load) and no OIDC fields; mistakes are named.
func TestParseSAMLProviders(t *testing.T) {
	dir := t.TempDir()
	idp, err := samlemu.Start(samlemu.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer idp.Close()
	resp, err := http.Get(idp.MetadataURL())
	if err != nil {
		t.Fatal(err)
	}
	md, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	good, garbage := filepath.Join(dir, "idp.xml"), filepath.Join(dir, "garbage.xml")
	os.WriteFile(good, md, 0o600)
	os.WriteFile(garbage, []byte("<html>not metadata"), 0o600)
	ps, err := sso.Parse([]byte(fmt.Sprintf(`{"providers": [
  {"id": "entra", "name": "Entra", "protocol": "saml", "saml": {"idp_metadata_url": "https://login.microsoftonline.com/tid/federationmetadata/2007-06/federationmetadata.xml"},
   "claims": {"groups": "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups"}, "groups": {"6b1f-guid": "admin"}},
  {"id": "adfs", "protocol": "saml", "saml": {"idp_metadata_file": %q, "entity_id": "https://telltale.corp.example"}, "groups": {"g": "analyst"}}]}`, good)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if ps[0].Protocol != "saml" || ps[1].SAML.EntityID != "https://telltale.corp.example" || len(ps[0].Scopes) != 0 || ps[1].Claims.Groups != "groups" {
		t.Errorf("parsed %+v", ps)
	}
	for _, c := range []struct{ name, json, want string }{
		{"no metadata", `{"providers": [{"id": "s", "protocol": "saml", "groups": {"g": "admin"}}]}`, "idp_metadata_url"},
		{"both metadata", `{"providers": [{"id": "s", "protocol": "saml", "saml": {"idp_metadata_url": "https://x/md", "idp_metadata_file": "/x"}, "groups": {"g": "admin"}}]}`, "one of"},
		{"metadata URL not a URL", `{"providers": [{"id": "s", "protocol": "saml", "saml": {"idp_metadata_url": "idp.example/md"}, "groups": {"g": "admin"}}]}`, `"idp_metadata_url" must be`},
		{"metadata file missing", `{"providers": [{"id": "s", "protocol": "saml", "saml": {"idp_metadata_file": "/nonexistent/idp.xml"}, "groups": {"g": "admin"}}]}`, "idp_metadata_file"},
		{"metadata file garbage", fmt.Sprintf(`{"providers": [{"id": "s", "protocol": "saml", "saml": {"idp_metadata_file": %q}, "groups": {"g": "admin"}}]}`, garbage), "not SAML metadata"},
		{"OIDC fields on SAML", `{"providers": [{"id": "s", "protocol": "saml", "issuer": "https://x", "saml": {"idp_metadata_url": "https://x/md"}, "groups": {"g": "admin"}}]}`, "no \"issuer\""},
		{"SAML block on OIDC", `{"providers": [{"id": "o", "issuer": "https://x", "client_id": "a", "client_secret": "b", "saml": {"idp_metadata_url": "https://x/md"}, "groups": {"g": "admin"}}]}`, `"protocol" is not "saml"`},
		{"unknown protocol", `{"providers": [{"id": "o", "protocol": "ws-fed", "groups": {"g": "admin"}}]}`, `use "oidc" or "saml"`},
	} {
		if _, err := sso.Parse([]byte(c.json), func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", c.name, err, c.want)
		}
	}
}
