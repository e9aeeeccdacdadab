package agent_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	stdlog "log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/agent"
	"github.com/telltale-dev/telltale/internal/app"
	"github.com/telltale-dev/telltale/internal/config"
	"github.com/telltale-dev/telltale/internal/testutil/syncbuf"
)

const token = "agent-test-bootstrap-token-0123456789abcdef"

type server struct {
	app *app.App
	srv *httptest.Server
}

func newServer(t *testing.T) *server {
	t.Helper()
	key := make([]byte, 32)
	rand.Read(key)
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.BootstrapToken = token
	cfg.SecretKey = base64.StdEncoding.EncodeToString(key)
	cfg.AgentVersion = "1.4.0"
	a, err := app.New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(func() { srv.Close(); a.Close() })
	return &server{app: a, srv: srv}
}

func (s *server) client() *client.Client { return client.New(s.srv.URL, token) }

func (s *server) secretAction(t *testing.T, id, action string) {
	t.Helper()
	if _, err := s.client().DeploymentSecretAction(context.Background(), id, action, nil); err != nil {
		t.Fatalf("%s: %v", action, err)
	}
}

func (s *server) deviceAction(t *testing.T, id, action string) {
	t.Helper()
	if _, err := s.client().DeviceAction(context.Background(), id, action); err != nil {
		t.Fatalf("%s: %v", action, err)
	}
}

func (s *server) secret(t *testing.T) client.DeploymentSecret {
	t.Helper()
	d, err := s.client().CreateDeploymentSecret(context.Background(), client.DeploymentSecretInput{Name: "laptops", ExpiresIn: "1d"})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// waitFor waits for cond with a deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func opts(dir string, log *syncbuf.Buffer) agent.Options {
	return agent.Options{StateDir: dir, Version: "1.3.0", UserEmail: "ann@corp.example", Log: slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Interval: 20 * time.Millisecond, Backoff: 10 * time.Millisecond, MaxBackoff: 80 * time.Millisecond}
}

// TestEnrolAndCheckIn: enrolment leaves a key pair (private key 0600) and no secret in the state
// directory and the public key on the server; the agent checks in with what it knows; a second
// enrolment in the same directory is refused; a restarted agent keeps counting upwards.
func TestEnrolAndCheckIn(t *testing.T) {
	s := newServer(t)
	sec := s.secret(t)
	dir := filepath.Join(t.TempDir(), "state")
	var logs syncbuf.Buffer
	o := opts(dir, &logs)
	st, err := agent.Enroll(context.Background(), s.srv.URL+"/", sec.Secret, o)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, "device.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("device.key: %v %v", fi.Mode(), err)
	}
	if di, _ := os.Stat(dir); di.Mode().Perm() != 0o700 {
		t.Errorf("state dir mode %v", di.Mode())
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		if strings.Contains(string(b), sec.Secret) || strings.Contains(string(b), strings.TrimPrefix(sec.Secret, "tds_")) {
			t.Errorf("%s holds the deployment secret", e.Name())
		}
	}
	id, _ := strconv.ParseInt(st.DeviceID, 10, 64)
	d, err := s.app.Store.GetDevice(context.Background(), id)
	if err != nil || base64.StdEncoding.EncodeToString(d.PublicKey) != st.PublicKey || d.Person != "ann@corp.example" || d.AgentVersion != "1.3.0" {
		t.Fatalf("device on the server: %+v %v", d, err)
	}
	if _, err := agent.Enroll(context.Background(), s.srv.URL, sec.Secret, o); err == nil || !strings.Contains(err.Error(), "holds an enrolment already") {
		t.Errorf("second enrolment: %v", err)
	}

	a, err := agent.Open(o)
	if err != nil {
		t.Fatal(err)
	}
	act := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	a.SawActivity(act)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- a.Run(ctx) }()
	waitFor(t, "three check-ins", func() bool {
		d, _ := s.app.Store.GetDevice(context.Background(), id)
		return strings.Count(logs.String(), "checked in") >= 3 && !d.LastCheckInAt.IsZero()
	})
	cancel()
	<-done
	d, _ = s.app.Store.GetDevice(context.Background(), id)
	host, _ := os.Hostname()
	if d.HostName != host || d.OS == "" || d.Arch == "" || !d.LastActivityAt.Equal(act) {
		t.Errorf("after check-ins: %+v", d)
	}
	if !strings.Contains(logs.String(), "outdated") {
		t.Errorf("an outdated agent does not say so:\n%s", logs.String())
	}
	// A restarted agent continues above the last counter (a replay would be refused).
	before := d.Counter
	a2, err := agent.Open(o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a2.CheckIn(context.Background()); err != nil {
		t.Fatalf("after restart: %v", err)
	}
	if d, _ = s.app.Store.GetDevice(context.Background(), id); d.Counter <= before {
		t.Errorf("counter %d after %d", d.Counter, before)
	}
	// Run without enrolment says what to do.
	if _, err := agent.Open(opts(t.TempDir(), &logs)); err == nil || !strings.Contains(err.Error(), "telltale agent enroll") {
		t.Errorf("open without enrolment: %v", err)
	}
}

// TestEnrolRefusals: an unknown, expired or revoked secret fails saying which.
func TestEnrolRefusals(t *testing.T) {
	s := newServer(t)
	sec := s.secret(t)
	var logs syncbuf.Buffer
	_, err := agent.Enroll(context.Background(), s.srv.URL, "tds_wrong", opts(t.TempDir(), &logs))
	if err == nil || !strings.Contains(err.Error(), "secret unknown") {
		t.Errorf("unknown: %v", err)
	}
	s.secretAction(t, sec.ID, "revoke")
	_, err = agent.Enroll(context.Background(), s.srv.URL, sec.Secret, opts(t.TempDir(), &logs))
	if err == nil || !strings.Contains(err.Error(), "secret revoked") {
		t.Errorf("revoked: %v", err)
	}
	id, _ := strconv.ParseInt(sec.ID, 10, 64)
	s.app.Store.UpdateDeploymentSecret(context.Background(), id, time.Now().Add(-time.Second), time.Time{}, time.Now())
	_, err = agent.Enroll(context.Background(), s.srv.URL, sec.Secret, opts(t.TempDir(), &logs))
	if err == nil || !strings.Contains(err.Error(), "secret expired") {
		t.Errorf("expired: %v", err)
	}
	if _, err = agent.Enroll(context.Background(), "ftp://x", sec.Secret, opts(t.TempDir(), &logs)); err == nil || !strings.Contains(err.Error(), "is not a URL") {
		t.Errorf("bad URL: %v", err)
	}
}

// TestUnreachableLogsWhy: a device that cannot reach the server logs why (DNS, TLS, connection
// refused, secret revoked, deactivated) and retries with growing waits; it recovers by itself.
func TestUnreachableLogsWhy(t *testing.T) {
	s := newServer(t)
	sec := s.secret(t)
	dir := t.TempDir()
	var logs syncbuf.Buffer
	o := opts(dir, &logs)
	st, err := agent.Enroll(context.Background(), s.srv.URL, sec.Secret, o)
	if err != nil {
		t.Fatal(err)
	}
	// Point the state at other servers, one failure at a time.
	setServer := func(u string) {
		t.Helper()
		st.Server = u
		b, _ := json.Marshal(st)
		if err := os.WriteFile(filepath.Join(dir, "device.json"), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closedAddr := ln.Addr().String()
	ln.Close()
	tlsSrv := httptest.NewUnstartedServer(http.NotFoundHandler())
	tlsSrv.Config.ErrorLog = stdlog.New(io.Discard, "", 0) // the handshakes it refuses are the point
	tlsSrv.StartTLS()
	defer tlsSrv.Close()
	run := func(t *testing.T, server, reason, says string) {
		t.Helper()
		setServer(server)
		mark := len(logs.String())
		a, err := agent.Open(o)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- a.Run(ctx) }()
		waitFor(t, reason+" logged three times", func() bool { return strings.Count(logs.String()[mark:], "reason="+reason) >= 3 })
		cancel()
		<-done
		out := logs.String()[mark:]
		if !strings.Contains(out, says) {
			t.Errorf("%s: the log does not say %q:\n%s", reason, says, out)
		}
		// Backoff: the waits grow.
		var waits []time.Duration
		for _, line := range strings.Split(out, "\n") {
			if _, v, ok := strings.Cut(line, "retry_in="); ok {
				d, _ := time.ParseDuration(strings.Fields(v)[0])
				waits = append(waits, d)
			}
		}
		if len(waits) < 3 || !(waits[1] > waits[0] && waits[2] > waits[1]) {
			t.Errorf("%s: waits do not grow: %v", reason, waits)
		}
	}
	t.Run("dns", func(t *testing.T) { run(t, "http://telltale.invalid", "dns", "DNS: the server's name") })
	t.Run("refused", func(t *testing.T) { run(t, "http://"+closedAddr, "refused", "connection refused") })
	t.Run("tls", func(t *testing.T) { run(t, tlsSrv.URL, "tls", "TLS: the server's certificate is not trusted") })
	t.Run("secret revoked", func(t *testing.T) {
		s.secretAction(t, sec.ID, "revoke")
		run(t, s.srv.URL, "secret_revoked", `secret revoked: deployment secret \"laptops\"`)
		s.secretAction(t, sec.ID, "reactivate")
	})
	t.Run("deactivated", func(t *testing.T) {
		s.deviceAction(t, st.DeviceID, "deactivate")
		run(t, s.srv.URL, "deactivated", "device deactivated: device "+st.DeviceID+" was deactivated by admin")
		s.deviceAction(t, st.DeviceID, "reactivate")
	})
	// Recovery: after failures, the agent checks in again by itself.
	setServer("http://" + closedAddr)
	mark := len(logs.String())
	a, _ := agent.Open(o)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- a.Run(ctx) }()
	waitFor(t, "a failure", func() bool { return strings.Contains(logs.String()[mark:], "reason=refused") })
	setServer(s.srv.URL)
	a2, _ := agent.Open(o) // the running agent keeps its server; a new one reads the fixed state
	cancel()
	<-done
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	go a2.Run(ctx)
	id, _ := strconv.ParseInt(st.DeviceID, 10, 64)
	before, _ := s.app.Store.GetDevice(context.Background(), id)
	waitFor(t, "a check-in after recovery", func() bool {
		d, _ := s.app.Store.GetDevice(context.Background(), id)
		return d.Counter > before.Counter
	})
}
