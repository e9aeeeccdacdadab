package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/auth"
)

// TestScopedTokens (R7.6): an admin gives a service account a token limited to API areas; the
// token reaches those areas (write including read) and is refused everywhere else with a message
// naming the scope needed; scopes are checked when made, and a scoped token never makes a wider one.
func TestScopedTokens(t *testing.T) {
	f := newFixture(t)
	code, body := f.do(t, f.admin, "POST", "/api/v1/users", map[string]any{"username": "siem-script", "role": "integration", "service_account": true})
	if code != http.StatusCreated {
		t.Fatalf("create service account: %d %s", code, body)
	}
	var u client.User
	json.Unmarshal(body, &u)
	mint := func(tok, path string, scopes ...string) (int, client.CreatedToken, string) {
		t.Helper()
		code, body := f.do(t, tok, "POST", path, client.NewToken{Name: "scoped", Scopes: scopes})
		var out client.CreatedToken
		json.Unmarshal(body, &out)
		return code, out, string(body)
	}

	// A scope naming no API area is refused with the closest one; nothing is created.
	if code, _, body := mint(f.admin, "/api/v1/users/"+u.ID+"/tokens", "file-event:read"); code != http.StatusBadRequest || !strings.Contains(body, `did you mean \"file-events:read\"`) {
		t.Errorf("unknown scope: %d %s", code, body)
	}
	if code, _, body := mint(f.admin, "/api/v1/users/"+u.ID+"/tokens", "file-events:delete"); code != http.StatusBadRequest {
		t.Errorf("bad access: %d %s", code, body)
	}
	code, tok, created := mint(f.admin, "/api/v1/users/"+u.ID+"/tokens", "watchlists:write", "file-events:read", "file-events:read")
	if code != http.StatusCreated || strings.Join(tok.Scopes, " ") != "file-events:read watchlists:write" {
		t.Fatalf("create scoped token: %d %s", code, created)
	}
	code, body = f.do(t, f.admin, "GET", "/api/v1/users/"+u.ID+"/tokens", nil)
	var list struct{ Items []client.Token }
	json.Unmarshal(body, &list)
	if code != 200 || len(list.Items) != 1 || strings.Join(list.Items[0].Scopes, " ") != "file-events:read watchlists:write" {
		t.Errorf("token list does not show the scopes: %d %s", code, body)
	}

	// Every route outside the token's areas is refused, naming the scope it needs; inside them
	// authorization passes (the role allows it: integration counts as analyst).
	routes := f.app.API.Routes()
	checked := 0
	for _, rt := range routes {
		if rt.Public != "" || !auth.RoleIntegration.Satisfies(rt.Need) {
			continue
		}
		write := rt.Method != "GET" && !rt.Reads
		code, body := f.do(t, tok.Secret, rt.Method, concrete(rt.Path), nil)
		in := rt.Tag == "file-events" && !write || rt.Tag == "watchlists" || rt.Method+" "+rt.Path == "GET /api/v1/me"
		switch {
		case in && (code == http.StatusUnauthorized || code == http.StatusForbidden):
			t.Errorf("%s %s inside the token's scopes: %d %s", rt.Method, rt.Path, code, body)
		case !in && code != http.StatusForbidden:
			t.Errorf("%s %s outside the token's scopes: %d %s, want 403", rt.Method, rt.Path, code, body)
		case !in && !strings.Contains(string(body), auth.Scope(rt.Tag, write)):
			t.Errorf("%s %s: the refusal does not name the scope %s: %s", rt.Method, rt.Path, auth.Scope(rt.Tag, write), body)
		}
		checked++
	}
	if checked < 30 {
		t.Fatalf("only %d routes checked", checked)
	}
	if code, body := f.do(t, tok.Secret, "POST", "/api/v1/file-events/search", map[string]any{"query": "action:file-shared"}); code != 200 {
		t.Errorf("search with file-events:read: %d %s", code, body)
	}

	// A token that may make tokens (users:write) makes only tokens within its own scopes.
	_, maker, _ := mint(f.admin, "/api/v1/users/"+u.ID+"/tokens", "users:write", "file-events:read")
	for _, tc := range []struct {
		scopes []string
		want   int
	}{{nil, http.StatusForbidden}, {[]string{"alerts:read"}, http.StatusForbidden}, {[]string{"file-events:write"}, http.StatusForbidden},
		{[]string{"file-events:read"}, http.StatusCreated}, {[]string{"users:read"}, http.StatusCreated}} {
		if code, _, body := mint(maker.Secret, "/api/v1/tokens", tc.scopes...); code != tc.want {
			t.Errorf("scoped token making a token with %v: %d %s, want %d", tc.scopes, code, body, tc.want)
		}
	}
	// The list of scopes is served.
	code, body = f.do(t, tok.Secret, "GET", "/api/v1/token-scopes", nil)
	if code != http.StatusForbidden {
		t.Errorf("token-scopes is a users route: %d %s", code, body)
	}
	code, body = f.do(t, f.admin, "GET", "/api/v1/token-scopes", nil)
	var sc client.TokenScopes
	json.Unmarshal(body, &sc)
	if code != 200 || !strings.Contains(strings.Join(sc.Items, " "), "alerts:read alerts:write") {
		t.Errorf("token-scopes: %d %s", code, body)
	}
}
