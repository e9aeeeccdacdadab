package console_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/app"
	"github.com/telltale-dev/telltale/internal/auth"
	"github.com/telltale-dev/telltale/internal/config"
	boxemu "github.com/telltale-dev/telltale/internal/emulator/box"
)

// Passwords of the users every test app has.
const (
	adminPassword   = "correct horse battery staple"
	analystPassword = "analyst horse battery staple"
	readerPassword  = "reader horse battery staple"
)

// testApp is a real Telltale node on SQLite in a temporary directory, with a Box emulator on
// loopback, and users alice (admin), ana (analyst) and rita (read-only).
// bootstrapToken is the test node's admin API token.
const bootstrapToken = "console-test-bootstrap-token-0123456789"

// httpServer serves the app (console and API) on a loopback test server closed with the test.
func (ta *testApp) httpServer(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(ta.App.Handler())
	t.Cleanup(srv.Close)
	return srv
}

type testApp struct {
	App       *app.App
	URL       string // the node's base URL when started
	Emu       *boxemu.Emulator
	VendorURL string
}

func newTestApp(t *testing.T, serve bool, configure ...func(*config.Config)) *testApp {
	t.Helper()
	emu := boxemu.New(boxemu.Options{Seed: 5, Users: 4, InactiveUsers: 0, Groups: 2, FilesPerUser: 6, FoldersPerUser: 2, Depth: 1,
		RateLimitPerMinute: -1, MaxFileSize: 2048})
	vendor := httptest.NewServer(emu.Handler())
	t.Cleanup(func() { vendor.Close(); emu.Close() })

	key := make([]byte, 32)
	rand.Read(key)
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.SecretKey = base64.StdEncoding.EncodeToString(key)
	cfg.BootstrapToken = bootstrapToken
	cfg.AllowLoopback = true
	cfg.PollInterval = time.Second
	for _, f := range configure {
		f(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	ta := &testApp{App: a, Emu: emu, VendorURL: vendor.URL}
	for _, u := range []struct {
		name string
		role auth.Role
		pw   string
	}{{"alice", auth.RoleAdmin, adminPassword}, {"ana", auth.RoleAnalyst, analystPassword}, {"rita", auth.RoleReadOnly, readerPassword}} {
		if _, err := a.Auth.CreateUser(ctx, u.name, u.name, u.role, u.pw, false); err != nil {
			cancel()
			t.Fatal(err)
		}
	}
	if !serve {
		t.Cleanup(func() { cancel(); a.Close() })
		return ta
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	ta.URL = "http://" + ln.Addr().String()
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("app.Run: %v", err)
		}
	})
	// Wait for the first lifecycle run to finish. A connection created while it runs would lose
	// the lifecycle's wake-up (FinishWork overwrites the next_run_at that ScheduleWork set during
	// the lease) and sit in Searching until the next tick a minute later.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		w, err := a.Store.GetWork(ctx, app.WorkLifecycle, "all")
		if err == nil && w.LeaseOwner == "" && w.NextRunAt.After(time.Now().Add(30*time.Second)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the first lifecycle run did not finish: %+v %v", w, err)
		}
	}
	return ta
}

// boxConnection is a Box connection to the test app's emulator (its one enterprise, 900001).
func (ta *testApp) boxConnection(name string) client.NewConnection {
	return client.NewConnection{Name: name, Service: "box", TenantID: "900001",
		Settings:    map[string]string{"enterprise_id": "900001", "client_id": "emu-client-id", "admin_email": "admin@example.com", "api_url": ta.VendorURL, "rate_limit": "0"},
		Credentials: map[string]string{"client_secret": "emu-client-secret"}}
}
