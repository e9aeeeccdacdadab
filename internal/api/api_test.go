package api_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/api"
	"github.com/telltale-dev/telltale/internal/app"
	"github.com/telltale-dev/telltale/internal/auth"
	"github.com/telltale-dev/telltale/internal/config"
	"github.com/telltale-dev/telltale/internal/connection"
	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/testutil/syncbuf"
)

const bootToken = "api-test-bootstrap-token-0123456789abcdef"

type fixture struct {
	app   *app.App
	srv   *httptest.Server
	logs  *syncbuf.Buffer
	admin string // token
	dir   string
}

type configT = config.Config

func newFixture(t *testing.T) *fixture { return newFixtureWith(t, nil) }

func newFixtureWith(t *testing.T, edit func(*config.Config)) *fixture {
	t.Helper()
	dir := t.TempDir()
	key := make([]byte, 32)
	rand.Read(key)
	cfg := config.Default()
	cfg.DataDir = dir
	cfg.BootstrapToken = bootToken
	cfg.SecretKey = base64.StdEncoding.EncodeToString(key)
	if edit != nil {
		edit(&cfg)
	}
	logs := &syncbuf.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, err := app.New(context.Background(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(func() { srv.Close(); a.Close() })
	return &fixture{app: a, srv: srv, logs: logs, admin: bootToken, dir: dir}
}

func (f *fixture) do(t *testing.T, token, method, path string, body any) (int, []byte) {
	t.Helper()
	return f.send(t, method, path, body, func(req *http.Request) {
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
	})
}

// send makes a request whose credentials sign adds; a string body is sent as CSV, others as JSON.
func (f *fixture) send(t *testing.T, method, path string, body any, sign func(*http.Request)) (int, []byte) {
	t.Helper()
	var rd io.Reader
	ct := "application/json"
	switch b := body.(type) {
	case nil:
	case string:
		rd, ct = strings.NewReader(b), "text/csv"
	case []byte: // sent as it is (json.Marshal would replace bytes that are not UTF-8)
		rd = bytes.NewReader(b)
	case io.Reader: // streamed, its length unknown to net/http
		rd = b
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, f.srv.URL+path, rd)
	if rd != nil {
		req.Header.Set("Content-Type", ct)
	}
	sign(req)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// userToken creates a user of the role and returns an API token.
func (f *fixture) userToken(t *testing.T, role auth.Role) string {
	t.Helper()
	return f.namedToken(t, "user-"+string(role), role)
}

// namedToken creates the user name with the role and returns an API token.
func (f *fixture) namedToken(t *testing.T, name string, role auth.Role) string {
	t.Helper()
	ctx := context.Background()
	u, err := f.app.Auth.CreateUser(ctx, name, "", role, "correct horse battery staple", role == auth.RoleIntegration)
	if err != nil {
		t.Fatal(err)
	}
	_, plain, err := f.app.Auth.CreateToken(ctx, u.ID, "test", 0)
	if err != nil {
		t.Fatal(err)
	}
	return plain
}

var param = regexp.MustCompile(`\{[a-z_]+\}`)

func concrete(path string) string { return param.ReplaceAllString(path, "1") }

func TestEveryRouteIsAuthorized(t *testing.T) {
	f := newFixture(t)
	tokens := map[auth.Role]string{
		auth.RoleReadOnly:    f.userToken(t, auth.RoleReadOnly),
		auth.RoleAnalyst:     f.userToken(t, auth.RoleAnalyst),
		auth.RoleIntegration: f.userToken(t, auth.RoleIntegration),
	}
	// A revoked token and an expired one are refused like no token at all.
	ctx := context.Background()
	admin, err := f.app.Store.GetUserByUsername(ctx, "admin")
	if err != nil {
		t.Fatal(err)
	}
	revokedTok, revoked, err := f.app.Auth.CreateToken(ctx, admin.ID, "revoked", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.app.Auth.RevokeToken(ctx, revokedTok.ID); err != nil {
		t.Fatal(err)
	}
	_, expired, err := f.app.Auth.CreateToken(ctx, admin.ID, "expired", time.Nanosecond)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Millisecond) // the token's whole life
	dead := map[string]string{"unknown": "tt_notarealtoken", "revoked": revoked, "expired": expired}
	routes := f.app.API.Routes()
	if len(routes) < 25 {
		t.Fatalf("only %d routes", len(routes))
	}
	for _, rt := range routes {
		path := concrete(rt.Path)
		if rt.Public != "" {
			continue
		}
		t.Run(rt.Method+" "+rt.Path, func(t *testing.T) {
			if code, body := f.do(t, "", rt.Method, path, nil); code != http.StatusUnauthorized {
				t.Errorf("no token: got %d %s, want 401", code, body)
			}
			for name, tok := range dead {
				if code, _ := f.do(t, tok, rt.Method, path, nil); code != http.StatusUnauthorized {
					t.Errorf("%s admin token: got %d, want 401", name, code)
				}
			}
			for role, tok := range tokens {
				code, body := f.do(t, tok, rt.Method, path, nil)
				if role.Satisfies(rt.Need) {
					if code == http.StatusUnauthorized || code == http.StatusForbidden {
						t.Errorf("%s token: got %d %s, want to pass authorization", role, code, body)
					}
				} else if code != http.StatusForbidden {
					t.Errorf("%s token on a %s route: got %d %s, want 403", role, rt.Need, code, body)
				}
			}
		})
	}
	// Probes are public and say nothing more than their status.
	for _, p := range []string{"/healthz", "/readyz"} {
		if code, _ := f.do(t, "", "GET", p, nil); code != 200 && code != 503 {
			t.Errorf("%s: %d", p, code)
		}
	}
}

func TestOpenAPIMatchesRoutes(t *testing.T) {
	f := newFixture(t)
	// The description holds no data: it is served without credentials.
	code, body := f.do(t, "", "GET", "/api/v1/openapi.json", nil)
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi = %q", doc.OpenAPI)
	}
	inDoc := map[string]bool{}
	for path, ops := range doc.Paths {
		for m := range ops {
			inDoc[strings.ToUpper(m)+" "+path] = true
			// Every documented operation is served: the mux knows it (no 404 "no API route", no 405).
			code, body := f.do(t, f.admin, strings.ToUpper(m), concrete(path), nil)
			if code == http.StatusMethodNotAllowed || (code == 404 && bytes.Contains(body, []byte("no API route"))) {
				t.Errorf("documented %s %s is not served: %d %s", m, path, code, body)
			}
		}
	}
	for _, rt := range f.app.API.Routes() {
		if !inDoc[rt.Method+" "+rt.Path] {
			t.Errorf("route %s %s missing from the OpenAPI document", rt.Method, rt.Path)
		}
		delete(inDoc, rt.Method+" "+rt.Path)
	}
	for op := range inDoc {
		t.Errorf("OpenAPI documents %s, which is not a route", op)
	}
	// An undocumented path is refused as unknown.
	if code, _ := f.do(t, f.admin, "GET", "/api/v1/nope", nil); code != 404 {
		t.Errorf("unknown route: %d", code)
	}
}

func problem(t *testing.T, body []byte) client.Problem {
	t.Helper()
	var p client.Problem
	if err := json.Unmarshal(body, &p); err != nil || p.Status == 0 {
		t.Fatalf("not a problem document: %s", body)
	}
	return p
}

func TestConnectionLifecycleOverHTTP(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	code, body := f.do(t, f.admin, "POST", "/api/v1/connections", client.NewConnection{
		Name: " Box Prod ", Service: "box", TenantID: "123",
		Settings:    map[string]string{"admin_email": "admin@corp.example"},
		Credentials: map[string]string{"client_id": "cid", "client_secret": "csecret"},
	})
	if code != 201 {
		t.Fatalf("create: %d %s", code, body)
	}
	var c client.Connection
	json.Unmarshal(body, &c)
	if c.Name != "Box Prod" || c.Status != string(connection.Searching) || !c.CredentialsSet || c.ServiceType != "cloud" || c.Drives == nil {
		t.Fatalf("created %+v", c)
	}
	// Duplicate display name, trimmed and case-insensitive (R1.3).
	code, body = f.do(t, f.admin, "POST", "/api/v1/connections", client.NewConnection{Name: "box prod", Service: "box", TenantID: "999",
		Settings: map[string]string{"admin_email": "a@corp.example", "client_id": "c"}, Credentials: map[string]string{"client_secret": "s"}})
	if p := problem(t, body); code != 409 || !strings.Contains(p.Detail, "already") || len(p.Errors) != 1 || p.Errors[0].Field != "name" {
		t.Errorf("duplicate: %d %+v", code, p)
	}
	// A value longer than a setting or a credential holds: refused, naming the field, nothing made.
	for _, tc := range []struct {
		settings, creds map[string]string
		field, says     string
	}{
		{map[string]string{"admin_email": "a@corp.example", "client_id": strings.Repeat("c", connector.MaxSettingLen+1)}, map[string]string{"client_secret": "s"}, "settings.client_id", "a setting holds at most 2048"},
		{map[string]string{"admin_email": "a@corp.example", "client_id": "c"}, map[string]string{"client_secret": strings.Repeat("s", connector.MaxCredentialLen+1)}, "credentials.client_secret", "a credential holds at most 65536"},
	} {
		code, body = f.do(t, f.admin, "POST", "/api/v1/connections", client.NewConnection{Name: "Box long", Service: "box", TenantID: "998",
			Settings: tc.settings, Credentials: tc.creds})
		if p := problem(t, body); code != 400 || len(p.Errors) != 1 || p.Errors[0].Field != tc.field || !strings.Contains(p.Errors[0].Message, tc.says) || len(body) > 2000 {
			t.Errorf("a %s too long: %d %.300s", tc.field, code, body)
		}
	}
	code, body = f.do(t, f.admin, "GET", "/api/v1/connections", nil)
	if strings.Contains(string(body), "Box long") {
		t.Errorf("a connection refused for a too long value was made: %.300s", body)
	}
	// Unknown service and missing name: clear 4xx.
	code, body = f.do(t, f.admin, "POST", "/api/v1/connections", client.NewConnection{Name: "x", Service: "dropbox"})
	if p := problem(t, body); code != 422 || !strings.Contains(p.Detail, "dropbox") {
		t.Errorf("unknown service: %d %+v", code, p)
	}
	code, body = f.do(t, f.admin, "POST", "/api/v1/connections", map[string]any{"name": "y", "service": "box", "colour": "red"})
	if p := problem(t, body); code != 400 || !strings.Contains(p.Detail, "colour") {
		t.Errorf("unknown field: %d %+v", code, p)
	}
	// Deauthorize while Searching is refused with the reason (R1.6).
	code, body = f.do(t, f.admin, "POST", "/api/v1/connections/"+c.ID+"/deauthorize", nil)
	if p := problem(t, body); code != 409 || !strings.Contains(strings.ToLower(p.Detail), "searching") {
		t.Errorf("deauthorize while searching: %d %+v", code, p)
	}
	// Discovery finishes (the connector's job; applied directly here), then deauthorize.
	id := mustInt(t, c.ID)
	if _, err := f.app.Connections.Apply(ctx, id, connection.ActionDiscovered, "system", "drives found"); err != nil {
		t.Fatal(err)
	}
	code, body = f.do(t, f.admin, "POST", "/api/v1/connections/"+c.ID+"/deauthorize", nil)
	json.Unmarshal(body, &c)
	if code != 200 || c.Status != string(connection.Deauthorizing) {
		t.Fatalf("deauthorize: %d %s", code, body)
	}
	if n, err := f.app.Runner.RunDue(ctx); err != nil || n == 0 {
		t.Fatalf("lifecycle work: %d %v", n, err)
	}
	code, body = f.do(t, f.admin, "GET", "/api/v1/connections/"+c.ID, nil)
	json.Unmarshal(body, &c)
	if c.Status != string(connection.Deauthorized) || c.DeleteAfter.IsZero() {
		t.Fatalf("after lifecycle: %s", body)
	}
	// A scope CSV with two bad rows names both and changes nothing (R2.4, R2.9).
	bad := "Email\nalice@corp.example\nbob(at)corp.example\n\"carol\"\n"
	code, body = f.do(t, f.admin, "PUT", "/api/v1/connections/"+c.ID+"/scope?kind=users", bad)
	p := problem(t, body)
	if code != 422 || len(p.Errors) != 2 || p.Errors[0].Row != 3 || p.Errors[1].Row != 4 {
		t.Errorf("bad scope: %d %+v", code, p)
	}
	code, body = f.do(t, f.admin, "GET", "/api/v1/connections/"+c.ID+"/scope", nil)
	if code != 200 || strings.Contains(string(body), "alice") {
		t.Errorf("scope changed by a bad upload: %d %q", code, body)
	}
	good := "\ufeffName,Email Address\r\nAlice,alice@corp.example\r\nBob,bob@corp.example\r\n"
	code, body = f.do(t, f.admin, "PUT", "/api/v1/connections/"+c.ID+"/scope?kind=users", good)
	if code != 200 {
		t.Fatalf("good scope: %d %s", code, body)
	}
	code, body = f.do(t, f.admin, "GET", "/api/v1/connections/"+c.ID+"/scope", nil)
	if code != 200 || !strings.Contains(string(body), "alice@corp.example") || !strings.Contains(string(body), "bob@corp.example") {
		t.Errorf("download: %d %q", code, body)
	}
	// Resume keeps credentials and goes to Searching; history keeps the first entry.
	code, body = f.do(t, f.admin, "POST", "/api/v1/connections/"+c.ID+"/resume", client.ResumeRequest{})
	json.Unmarshal(body, &c)
	if code != 200 || c.Status != string(connection.Searching) || !c.CredentialsSet || c.ScopeKind != "users" {
		t.Fatalf("resume: %d %s", code, body)
	}
	// ... and wakes the lifecycle now, so that discovery does not wait for the next tick.
	if w, err := f.app.Store.GetWork(context.Background(), app.WorkLifecycle, "all"); err != nil || w.NextRunAt.After(time.Now()) {
		t.Errorf("resume did not wake the lifecycle: its next run is %v, %v", w.NextRunAt, err)
	}
	code, body = f.do(t, f.admin, "GET", "/api/v1/connections/"+c.ID+"/history", nil)
	var hist struct{ Items []client.StatusChange }
	json.Unmarshal(body, &hist)
	if code != 200 || len(hist.Items) < 5 || hist.Items[0].From != "" || hist.Items[0].Actor != "admin" {
		t.Fatalf("history: %d %s", code, body)
	}
	last := hist.Items[len(hist.Items)-1]
	if last.To != string(connection.Searching) || last.Actor != "admin" {
		t.Errorf("last history entry %+v", last)
	}
	// Delete is refused unless deauthorized; after deauthorizing it goes to Deleting and the
	// lifecycle work removes the connection.
	if code, body := f.do(t, f.admin, "DELETE", "/api/v1/connections/"+c.ID, nil); code != 409 {
		t.Errorf("delete while searching: %d %s", code, body)
	}
	f.app.Connections.Apply(ctx, id, connection.ActionDiscovered, "system", "drives found")
	f.do(t, f.admin, "POST", "/api/v1/connections/"+c.ID+"/deauthorize", nil)
	f.app.Runner.RunDue(ctx)
	code, body = f.do(t, f.admin, "DELETE", "/api/v1/connections/"+c.ID, nil)
	json.Unmarshal(body, &c)
	if code != 200 || c.Status != string(connection.Deleting) {
		t.Fatalf("delete: %d %s", code, body)
	}
	if n, err := f.app.Runner.RunDue(ctx); err != nil || n == 0 {
		t.Fatalf("purge work: %d %v", n, err)
	}
	if code, _ := f.do(t, f.admin, "GET", "/api/v1/connections/"+c.ID, nil); code != 404 {
		t.Errorf("deleted connection still there: %d", code)
	}
	// Every mutating call is in the audit log with actor and client IP.
	code, body = f.do(t, f.admin, "GET", "/api/v1/audit?target=connection/"+c.ID, nil)
	var al client.AuditList
	json.Unmarshal(body, &al)
	actions := map[string]int{}
	for _, e := range al.Items {
		actions[e.Action+" "+e.Outcome]++
		if e.Actor != "admin" || e.ClientIP != "127.0.0.1" {
			t.Errorf("audit entry %+v", e)
		}
	}
	for _, want := range []string{"connection.create ok", "connection.deauthorize ok", "connection.deauthorize 409 Conflict", "connection.scope.upload ok", "connection.scope.upload 422 Unprocessable Entity", "connection.resume ok"} {
		if actions[want] == 0 {
			t.Errorf("audit lacks %q: %v", want, actions)
		}
	}
}

func mustInt(t *testing.T, s string) int64 {
	t.Helper()
	var n int64
	for _, r := range s {
		n = n*10 + int64(r-'0')
	}
	return n
}

// TestSecretsNeverLeave creates a connection with credentials, calls every readable route, and
// checks that no response, no log line and no database file holds the secret in clear.
func TestSecretsNeverLeave(t *testing.T) {
	f := newFixture(t)
	const secretValue = "SUPER-SECRET-client-secret-7f3a9"
	code, body := f.do(t, f.admin, "POST", "/api/v1/connections", client.NewConnection{
		Name: "Leak check", Service: "box", TenantID: "42",
		Settings:    map[string]string{"admin_email": "a@corp.example", "client_id": "cid"},
		Credentials: map[string]string{"client_secret": secretValue},
	})
	if code != 201 {
		t.Fatalf("%d %s", code, body)
	}
	var c client.Connection
	json.Unmarshal(body, &c)
	f.do(t, f.admin, "PATCH", "/api/v1/connections/"+c.ID, map[string]string{"name": "Leak check 2"})
	var all bytes.Buffer
	all.Write(body)
	for _, rt := range f.app.API.Routes() {
		if rt.Method != "GET" {
			continue
		}
		path := strings.ReplaceAll(concrete(rt.Path), "/1", "/"+c.ID)
		_, b := f.do(t, f.admin, "GET", path, nil)
		all.Write(b)
	}
	for what, text := range map[string]string{"responses": all.String(), "logs": f.logs.String()} {
		for _, s := range []string{secretValue, bootToken} {
			if strings.Contains(text, s) {
				t.Errorf("%s contain a secret (%q...)", what, s[:8])
			}
		}
	}
	if !strings.Contains(all.String(), `"credentials_set": true`) {
		t.Error("the API does not say that credentials are set")
	}
	// At rest: no database file holds the secret in clear.
	f.app.Close()
	files, _ := filepath.Glob(filepath.Join(f.dir, "*"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if bytes.Contains(b, []byte(secretValue)) {
			t.Errorf("%s holds the secret in clear", filepath.Base(p))
		}
		if bytes.Contains(b, []byte(bootToken)) {
			t.Errorf("%s holds the bootstrap token in clear", filepath.Base(p))
		}
	}
}

func TestSettingsAndUsers(t *testing.T) {
	f := newFixture(t)
	code, body := f.do(t, f.admin, "PUT", "/api/v1/settings", client.Settings{TrustedDomains: []string{"Corp.Example", "bad domain"}, RetentionDays: 30})
	if p := problem(t, body); code != 400 || !strings.Contains(p.Detail, `"bad domain"`) {
		t.Errorf("bad settings: %d %+v", code, p)
	}
	code, body = f.do(t, f.admin, "PUT", "/api/v1/settings", client.Settings{TrustedDomains: []string{"Corp.Example"}, RetentionDays: 30})
	if code != 200 || !strings.Contains(string(body), `"corp.example"`) {
		t.Errorf("settings: %d %s", code, body)
	}
	code, body = f.do(t, f.admin, "POST", "/api/v1/users", client.NewUser{Username: "ana", Role: "analyst", Password: "short"})
	if code != 422 && code != 400 {
		t.Errorf("weak password accepted: %d %s", code, body)
	}
	code, body = f.do(t, f.admin, "POST", "/api/v1/users", client.NewUser{Username: "ana", Role: "analyst", Password: "a long enough passphrase"})
	if code != 201 {
		t.Fatalf("create user: %d %s", code, body)
	}
	var u client.User
	json.Unmarshal(body, &u)
	code, body = f.do(t, f.admin, "POST", "/api/v1/users/"+u.ID+"/tokens", client.NewToken{Name: "script"})
	var tok client.CreatedToken
	json.Unmarshal(body, &tok)
	if code != 201 || !strings.HasPrefix(tok.Secret, tok.Prefix) {
		t.Fatalf("token: %d %s", code, body)
	}
	if code, body := f.do(t, tok.Secret, "GET", "/api/v1/me", nil); code != 200 || !strings.Contains(string(body), `"analyst"`) {
		t.Errorf("me: %d %s", code, body)
	}
	if code, _ := f.do(t, tok.Secret, "PUT", "/api/v1/settings", client.Settings{TrustedDomains: []string{}, RetentionDays: 5}); code != 403 {
		t.Errorf("analyst changed settings: %d", code)
	}
	// Someone else's token (the admin's bootstrap token, id 1) is invisible to an analyst.
	if code, _ := f.do(t, tok.Secret, "DELETE", "/api/v1/tokens/1", nil); code != 404 {
		t.Errorf("analyst revoking the admin's token: %d, want 404", code)
	}
	if code, _ := f.do(t, f.admin, "GET", "/api/v1/me", nil); code != 200 {
		t.Errorf("admin token no longer works: %d", code)
	}
	if code, _ := f.do(t, f.admin, "DELETE", "/api/v1/tokens/"+tok.ID, nil); code != 204 {
		t.Errorf("revoke: %d", code)
	}
	if code, _ := f.do(t, tok.Secret, "GET", "/api/v1/me", nil); code != 401 {
		t.Errorf("revoked token still works: %d", code)
	}
}

func TestMetricsAndProbes(t *testing.T) {
	f := newFixture(t)
	f.do(t, f.admin, "GET", "/api/v1/connections", nil)
	code, body := f.do(t, f.admin, "GET", "/metrics", nil)
	if code != 200 || !strings.Contains(string(body), `telltale_http_requests_total{code="200",route="GET /api/v1/connections"} 1`) ||
		!strings.Contains(string(body), `telltale_http_request_duration_seconds_count{route="GET /api/v1/connections"} 1`) {
		t.Errorf("metrics: %d\n%s", code, body)
	}
	// Prometheus conventions: counters end in _total, durations are _seconds histograms, and the
	// runtime and process collectors are there.
	for _, want := range []string{"# TYPE telltale_http_requests_total counter", "# TYPE telltale_http_request_duration_seconds histogram",
		"# TYPE telltale_collect_records_total counter", "# TYPE go_goroutines gauge",
		"# TYPE process_resident_memory_bytes gauge"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	for _, line := range strings.Split(string(body), "\n") {
		if name, ok := strings.CutPrefix(line, "# TYPE "); ok && strings.HasSuffix(name, " counter") && !strings.HasSuffix(strings.Fields(name)[0], "_total") {
			t.Errorf("counter without _total: %s", line)
		}
	}
	if code, _ := f.do(t, "", "GET", "/healthz", nil); code != 200 {
		t.Errorf("healthz %d", code)
	}
	// Not started: not ready.
	if code, _ := f.do(t, "", "GET", "/readyz", nil); code != 503 {
		t.Errorf("readyz before start: %d", code)
	}
	_ = time.Second
	_ = api.SessionCookie
}

// TestMustChangePasswordSession: a session whose password was generated or reset may read who it
// is and change the password, and nothing else, until it has.
func TestMustChangePasswordSession(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	u, err := f.app.Auth.CreateUser(ctx, "bob", "", auth.RoleAdmin, "first password, long enough", false)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.app.Auth.SetPassword(ctx, u.ID, "reset password, long enough"); err != nil {
		t.Fatal(err)
	}
	p, cookie, err := f.app.Auth.Login(ctx, "bob", "reset password, long enough", "127.0.0.1")
	if err != nil || !p.MustChangePassword {
		t.Fatalf("sign-in after a reset: %+v %v", p, err)
	}
	call := func(method, path string, body any) (int, []byte) {
		return f.send(t, method, path, body, func(req *http.Request) {
			req.AddCookie(&http.Cookie{Name: api.SessionCookie, Value: cookie})
			req.Header.Set("X-CSRF-Token", p.SessionCSRF)
		})
	}
	if code, body := call("GET", "/api/v1/connections", nil); code != 403 || !strings.Contains(string(body), "change it first") {
		t.Errorf("before the change, GET connections: %d %s", code, body)
	}
	if code, body := call("POST", "/api/v1/tokens", client.NewToken{Name: "sneaky"}); code != 403 {
		t.Errorf("before the change, create a token: %d %s", code, body)
	}
	code, body := call("GET", "/api/v1/me", nil)
	var me client.Me
	if err := json.Unmarshal(body, &me); code != 200 || err != nil || !me.MustChangePassword {
		t.Errorf("before the change, GET me: %d %s", code, body)
	}
	if code, body := call("POST", "/api/v1/me/password", client.PasswordChange{Current: "reset password, long enough", New: "my own password, long enough"}); code >= 300 {
		t.Fatalf("change: %d %s", code, body)
	}
	// The change ends the sessions; a new one may do everything its role allows.
	p, cookie, err = f.app.Auth.Login(ctx, "bob", "my own password, long enough", "127.0.0.1")
	if err != nil || p.MustChangePassword {
		t.Fatalf("sign-in after the change: %+v %v", p, err)
	}
	if code, body := call("GET", "/api/v1/connections", nil); code != 200 {
		t.Errorf("after the change, GET connections: %d %s", code, body)
	}
}

// TestRiskSettings: an admin edits weights, bands and working hours through the settings; a bad
// value is refused saying what is wrong; a PUT without risk keeps it; every change is audited.
func TestRiskSettings(t *testing.T) {
	f := newFixture(t)
	var got client.Settings
	code, body := f.do(t, f.admin, "GET", "/api/v1/settings", nil)
	json.Unmarshal(body, &got)
	if code != 200 || got.Risk == nil || got.Risk.Weights["public_link"] != 4 || got.Risk.Bands != (client.RiskBands{Low: 1, Moderate: 4, High: 7, Critical: 9}) ||
		got.Risk.WorkingHours.TimeZone != "UTC" {
		t.Fatalf("defaults: %d %s", code, body)
	}
	bad := client.Settings{TrustedDomains: []string{}, RetentionDays: 30, Risk: &client.RiskSettings{
		Weights: map[string]int{"off_hours": -1}, Bands: client.RiskBands{Low: 1, Moderate: 7, High: 7, Critical: 9}}}
	code, body = f.do(t, f.admin, "PUT", "/api/v1/settings", bad)
	p := problem(t, body)
	for _, want := range []string{"risk.weights.off_hours: -1 is negative", "risk.bands.high: starts at 7, not above moderate (7): the bands overlap"} {
		if code != 400 || !strings.Contains(p.Detail, want) {
			t.Errorf("bad risk settings: %d %q lacks %q", code, p.Detail, want)
		}
	}
	good := client.Settings{TrustedDomains: []string{"corp.example"}, RetentionDays: 30, Risk: &client.RiskSettings{
		Weights: map[string]int{"off_hours": 3}, WorkingHours: client.WorkingHours{TimeZone: "Europe/Paris"}}}
	code, body = f.do(t, f.admin, "PUT", "/api/v1/settings", good)
	json.Unmarshal(body, &got)
	if code != 200 || got.Risk.Weights["off_hours"] != 3 || got.Risk.Weights["public_link"] != 4 || got.Risk.WorkingHours.TimeZone != "Europe/Paris" ||
		got.Risk.WorkingHours.Start != "08:00" {
		t.Fatalf("risk settings: %d %s", code, body)
	}
	// without risk: trusted domains change, risk stays
	code, body = f.do(t, f.admin, "PUT", "/api/v1/settings", client.Settings{TrustedDomains: []string{"corp.example", "partner.example"}, RetentionDays: 30})
	json.Unmarshal(body, &got)
	if code != 200 || got.Risk.Weights["off_hours"] != 3 || got.Risk.WorkingHours.TimeZone != "Europe/Paris" {
		t.Errorf("a PUT without risk changed it: %d %s", code, body)
	}
	_, body = f.do(t, f.admin, "GET", "/api/v1/audit?action=settings.update", nil)
	var audit client.AuditList
	json.Unmarshal(body, &audit)
	found := false
	for _, e := range audit.Items {
		var d struct{ Risk client.RiskSettings }
		json.Unmarshal(e.Details, &d)
		found = found || e.Outcome == "ok" && d.Risk.Weights["off_hours"] == 3 && d.Risk.WorkingHours.TimeZone == "Europe/Paris"
	}
	if !found {
		t.Errorf("the risk change is not in the audit log: %s", body)
	}
}
