package box_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/connector/box"
	boxemu "github.com/telltale-dev/telltale/internal/emulator/box"
)

// TestVerify: each way an admin can get the Box side wrong is reported with what to fix.
func TestVerify(t *testing.T) {
	for _, c := range []struct {
		name    string
		opts    boxemu.Options
		secret  string
		tenant  string
		kind    error
		mention string
	}{
		{name: "ok", secret: "emu-client-secret", tenant: "900001"},
		{name: "bad secret", secret: "wrong", tenant: "900001", kind: connector.ErrAuth, mention: "client secret"},
		{name: "unknown enterprise", secret: "emu-client-secret", tenant: "123", kind: connector.ErrAuth, mention: "enterprise"},
		{name: "app not authorized", opts: boxemu.Options{DenyApp: true}, secret: "emu-client-secret", tenant: "900001", kind: connector.ErrAuth, mention: "Admin Console"},
		{name: "no as-user", opts: boxemu.Options{DenyAsUser: true}, secret: "emu-client-secret", tenant: "900001", kind: connector.ErrPermission, mention: "as-user"},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.opts.RateLimitPerMinute = -1
			emu := boxemu.New(c.opts)
			defer emu.Close()
			srv, _ := specServer(t, emu.Handler())
			sess, err := box.New().Open(context.Background(), connector.Config{TenantID: c.tenant,
				Settings:    map[string]string{"enterprise_id": c.tenant, "client_id": "emu-client-id", "admin_email": "admin@example.com", "api_url": srv.URL, "rate_limit": "0"},
				Credentials: map[string]string{"client_secret": c.secret}}, connector.Deps{AllowLoopback: true})
			if err != nil {
				t.Fatal(err)
			}
			tenant, err := sess.Verify(context.Background())
			if c.kind == nil {
				if err != nil || tenant != "900001" {
					t.Fatalf("Verify = %q, %v", tenant, err)
				}
				return
			}
			if !errors.Is(err, c.kind) || !strings.Contains(err.Error(), c.mention) {
				t.Errorf("Verify error %v, want %v mentioning %q", err, c.kind, c.mention)
			}
			if strings.Contains(err.Error(), c.secret) && c.secret != "" {
				t.Errorf("the error shows the secret: %v", err)
			}
		})
	}
}

// TestOpenRefusesUnsafeURL: an admin-typed API URL must not reach loopback or private addresses
// unless the node allows it (demo mode, tests).
func TestOpenRefusesUnsafeURL(t *testing.T) {
	for _, u := range []string{"http://127.0.0.1:9", "http://169.254.169.254/latest", "http://10.1.2.3", "file:///etc/passwd"} {
		_, err := box.New().Open(context.Background(), connector.Config{TenantID: "1",
			Settings:    map[string]string{"enterprise_id": "1", "client_id": "c", "admin_email": "a@example.com", "api_url": u},
			Credentials: map[string]string{"client_secret": "s"}}, connector.Deps{})
		if err == nil {
			t.Errorf("api_url %s accepted", u)
		}
	}
}

// TestDiscoverStopsOnRepeatedMarker: a users listing whose next_marker never changes ends with
// ErrMalformed (the kit's paging guard) instead of paging forever.
func TestDiscoverStopsOnRepeatedMarker(t *testing.T) {
	var pages atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/oauth2/token":
			fmt.Fprint(w, `{"access_token":"t","expires_in":3600,"token_type":"bearer"}`)
		case "/2.0/users":
			if pages.Add(1) > 100 {
				w.WriteHeader(http.StatusTeapot) // the guard did not stop the loop: end it here
				return
			}
			fmt.Fprint(w, `{"limit":1000,"next_marker":"same","entries":[{"type":"user","id":"1","name":"A","login":"a@example.com","status":"active"}]}`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	sess, err := box.New().Open(context.Background(), connector.Config{TenantID: "900001",
		Settings:    map[string]string{"enterprise_id": "900001", "client_id": "c", "admin_email": "admin@example.com", "api_url": srv.URL, "rate_limit": "0"},
		Credentials: map[string]string{"client_secret": "s"}}, connector.Deps{AllowLoopback: true})
	if err != nil {
		t.Fatal(err)
	}
	_, err = sess.Discover(context.Background(), connector.Scope{}, func([]connector.Drive) error { return nil })
	if !errors.Is(err, connector.ErrMalformed) || !strings.Contains(err.Error(), "box users") {
		t.Fatalf("Discover = %v, want ErrMalformed naming box users", err)
	}
	if n := pages.Load(); n != 2 {
		t.Errorf("%d pages read, want 2 (the second repeats the marker)", n)
	}
}
