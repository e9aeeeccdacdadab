package microsoft

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestTokenClientCredentials(t *testing.T) {
	h := newHarness(t, Options{})
	st, m := h.token(h.emu.TenantID(), nil)
	if st != 200 || m["token_type"] != "Bearer" || m["expires_in"] != float64(3599) || m["access_token"] == "" {
		t.Fatalf("%d %v", st, m)
	}
	// The tenant may be named by its domains too.
	for _, tenant := range []string{h.emu.Domain(), "example.onmicrosoft.com"} {
		if st, m := h.token(tenant, nil); st != 200 {
			t.Fatalf("%s: %d %v", tenant, st, m)
		}
	}
	// The Management API's resource is accepted (for the next part).
	if st, m := h.token(h.emu.TenantID(), map[string]string{"scope": ScopeManage}); st != 200 {
		t.Fatalf("manage.office.com: %d %v", st, m)
	}
	// x/oauth2/clientcredentials with AuthStyleInParams, as the connector will use it.
	a := h.get(h.client(), "/v1.0/users?$top=1")
	if a.status != 200 || len(a.values()) != 1 {
		t.Fatalf("%d %s", a.status, a.raw)
	}
}

func TestTokenErrors(t *testing.T) {
	h := newHarness(t, Options{})
	cases := []struct {
		name   string
		tenant string
		set    map[string]string
		status int
		err    string
		code   float64
	}{
		{"bad secret", h.emu.TenantID(), map[string]string{"client_secret": "the-secret-id-not-its-value"}, 401, "invalid_client", 7000215},
		{"app not in tenant", h.emu.TenantID(), map[string]string{"client_id": "11111111-2222-4333-8444-555555555555"}, 400, "unauthorized_client", 700016},
		{"unknown tenant", "00000000-1111-4222-8333-444444444444", nil, 400, "invalid_request", 90002},
		{"unknown tenant domain", "nosuch.example", nil, 400, "invalid_request", 90002},
		{"scope without .default", h.emu.TenantID(), map[string]string{"scope": "https://graph.microsoft.com/User.Read.All"}, 400, "invalid_scope", 1002012},
		{"unknown resource", h.emu.TenantID(), map[string]string{"scope": "https://nosuch.example/.default"}, 400, "invalid_resource", 500011},
		{"no secret", h.emu.TenantID(), map[string]string{"client_secret": ""}, 401, "invalid_client", 7000216},
		{"no grant type", h.emu.TenantID(), map[string]string{"grant_type": ""}, 400, "invalid_request", 900144},
		{"other grant", h.emu.TenantID(), map[string]string{"grant_type": "password"}, 400, "unsupported_grant_type", 70003},
	}
	for _, c := range cases {
		st, m := h.token(c.tenant, c.set)
		if st != c.status || m["error"] != c.err {
			t.Errorf("%s: %d %v", c.name, st, m)
			continue
		}
		codes, _ := m["error_codes"].([]any)
		if len(codes) != 1 || codes[0] != c.code {
			t.Errorf("%s: error_codes %v", c.name, m["error_codes"])
		}
		desc, _ := m["error_description"].(string)
		if !strings.HasPrefix(desc, "AADSTS"+fmtCode(c.code)+": ") || !strings.Contains(desc, "\r\nTrace ID: ") {
			t.Errorf("%s: error_description %q", c.name, desc)
		}
		if m["error_uri"] != "https://login.microsoftonline.com/error?code="+fmtCode(c.code) {
			t.Errorf("%s: error_uri %v", c.name, m["error_uri"])
		}
		if _, err := time.Parse("2006-01-02 15:04:05Z", m["timestamp"].(string)); err != nil {
			t.Errorf("%s: timestamp %v", c.name, m["timestamp"])
		}
	}
	st, m := h.token(h.emu.TenantID(), map[string]string{"client_secret": "wrong"})
	if st != 401 || !strings.Contains(m["error_description"].(string), "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID") {
		t.Fatalf("%v", m)
	}
	if h.emu.Stats().TokenErrors != len(cases)+1 {
		t.Fatalf("TokenErrors %d", h.emu.Stats().TokenErrors)
	}
}

func fmtCode(c float64) string { return strconv.Itoa(int(c)) }

func TestGraphTokenChecks(t *testing.T) {
	h := newHarness(t, Options{})
	tok := h.bearer()
	if a := h.getAs(tok, "/v1.0/users"); a.status != 200 {
		t.Fatalf("%d %s", a.status, a.raw)
	}
	if a := h.get(h.hc, "/v1.0/users"); a.status != 401 || a.errCode() != "InvalidAuthenticationToken" || a.errMessage() != "Access token is empty." {
		t.Fatalf("no token: %d %s", a.status, a.raw)
	}
	if a := h.getAs("nonsense", "/v1.0/users"); a.status != 401 || a.errCode() != "InvalidAuthenticationToken" {
		t.Fatalf("bad token: %d %s", a.status, a.raw)
	}
	_, m := h.token(h.emu.TenantID(), map[string]string{"scope": ScopeManage})
	if a := h.getAs(m["access_token"].(string), "/v1.0/users"); a.status != 401 || !strings.Contains(a.errMessage(), "Invalid audience") {
		t.Fatalf("manage token on Graph: %d %s", a.status, a.raw)
	}
	h.clk.Advance(3599 * time.Second)
	if a := h.getAs(tok, "/v1.0/users"); a.status != 401 || a.errMessage() != "Lifetime validation failed, the token is expired." || a.header.Get("WWW-Authenticate") == "" {
		t.Fatalf("expired: %d %s", a.status, a.raw)
	}
}

// A tenant whose admin never consented still issues tokens; Graph refuses them: a token without
// any permission 401 AccessDenied "Either scp or roles claim need to be present in the token.", a
// token without the permission a call needs 403 (Authorization_RequestDenied for the directory,
// NOTES Corrections 6). Verify must call Graph.
func TestNoConsent(t *testing.T) {
	h := newHarness(t, Options{Consent: []string{}})
	tok := h.bearer()
	u := h.licensed()
	for _, p := range []string{"/v1.0/users", "/v1.0/groups", "/v1.0/users/" + u.ID + "/drive", "/v1.0/drives/" + u.DriveID + "/root/delta"} {
		a := h.getAs(tok, p)
		if a.status != 401 || a.errCode() != "AccessDenied" || a.errMessage() != "Either scp or roles claim need to be present in the token." {
			t.Fatalf("%s: %d %s", p, a.status, a.raw)
		}
	}
	// Consent granted later for some permissions: a new token carries them, the old one does not.
	h.emu.SetConsent([]string{RoleFilesReadAll})
	if a := h.getAs(tok, "/v1.0/drives/"+u.DriveID); a.status != 401 {
		t.Fatalf("old token: %d", a.status)
	}
	tok = h.bearer()
	if a := h.getAs(tok, "/v1.0/drives/"+u.DriveID); a.status != 200 {
		t.Fatalf("new token: %d %s", a.status, a.raw)
	}
	a := h.getAs(tok, "/v1.0/users")
	if a.status != 403 || a.errCode() != "Authorization_RequestDenied" || a.errMessage() != "Insufficient privileges to complete the operation." {
		t.Fatalf("User.Read.All not granted: %d %s", a.status, a.raw)
	}
	h.emu.SetConsent([]string{RoleUserReadAll})
	if a := h.getAs(h.bearer(), "/v1.0/drives/"+u.DriveID+"/root/delta"); a.status != 403 || a.errCode() != "accessDenied" {
		t.Fatalf("Files.Read.All not granted: %d %s", a.status, a.raw)
	}
	if h.emu.Stats().Denied != 7 {
		t.Fatalf("Denied %d", h.emu.Stats().Denied)
	}
}
