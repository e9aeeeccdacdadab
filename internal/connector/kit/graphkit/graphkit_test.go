package graphkit

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/connector/kit/oauth"
	"github.com/telltale-dev/telltale/internal/httpx"
)

// TestErrors: Graph's answers read and Entra ID's refusals worded with what to do.
func TestErrors(t *testing.T) {
	a := App{Product: "onedrive", Login: "https://login.example", Tenant: "t1", ClientID: "c1", Permissions: []string{"Files.Read.All", "User.Read.All"}}
	se := &httpx.StatusError{Code: 401, Body: []byte(`{"error":{"code":"InvalidAuthenticationToken","message":"Either scp or roles claim need to be present in the token."}}`)}
	ge := ParseError(se, &http.Response{Header: http.Header{"Location": {"https://graph.example/next"}}})
	if ge.Code != "InvalidAuthenticationToken" || ge.Location != "https://graph.example/next" || !IsStatus(ge, 401) {
		t.Errorf("parsed %+v", ge)
	}
	if err, ok := a.NoConsent(ge); !ok || !errors.Is(err, connector.ErrPermission) || !strings.Contains(err.Error(), "Files.Read.All, User.Read.All") ||
		!strings.Contains(err.Error(), "https://login.example/t1/adminconsent?client_id=c1") {
		t.Errorf("no consent: %v %v", err, ok)
	}
	forbidden := ParseError(&httpx.StatusError{Code: 403, Body: []byte(`{"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges"}}`)}, nil)
	if err := a.Denied(forbidden, "User.Read.All", "listing users", "; hint"); !errors.Is(err, connector.ErrPermission) || !strings.HasSuffix(err.Error(), "; hint") {
		t.Errorf("denied: %v", err)
	}
	if err := RefusedToken(ParseError(&httpx.StatusError{Code: 401}, nil)); !errors.Is(err, connector.ErrAuth) {
		t.Errorf("refused: %v", err)
	}
	for code, want := range map[string]string{"7000215": "create a new client secret", "700016": "does not know application c1", "90002": `does not know tenant "t1"`} {
		err := a.TokenError(&oauth.RefusedError{Status: 400, Code: "invalid_client", Description: "AADSTS" + code + ": text\r\nTrace ID: x"})
		if !errors.Is(err, connector.ErrAuth) || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "Trace ID") {
			t.Errorf("AADSTS%s: %v", code, err)
		}
	}
}

// TestRelAndForeign: a link under the Graph URL is kept relative to it, a path as it is; one
// outside (another host, a longer path segment, a look-alike prefix) is refused as malformed; a
// stored absolute link is foreign unless under the Graph URL.
func TestRelAndForeign(t *testing.T) {
	const base = "https://graph.microsoft.com/v1.0"
	for link, want := range map[string]string{
		base + "/drives/x/root/delta?token=a": "/drives/x/root/delta?token=a",
		"/drives/x/root/delta?token=a":        "/drives/x/root/delta?token=a",
	} {
		if got, err := Rel(base, link); err != nil || got != want {
			t.Errorf("Rel(%q) = %q, %v; want %q", link, got, err, want)
		}
		if Foreign(base, link) {
			t.Errorf("Foreign(%q): want false", link)
		}
	}
	for _, link := range []string{"https://evil.example/v1.0/drives", base + ".evil/x", base, "http://graph.microsoft.com/v1.0/x", "https://graph.microsoft.com/beta/x"} {
		if got, err := Rel(base, link); !errors.Is(err, connector.ErrMalformed) || got != "" {
			t.Errorf("Rel(%q) = %q, %v; want refused", link, got, err)
		}
	}
	for _, link := range []string{"https://evil.example/v1.0/drives", base + ".evil/x", "http://127.0.0.1:1/v1.0/x"} {
		if !Foreign(base, link) {
			t.Errorf("Foreign(%q): want true", link)
		}
	}
}
