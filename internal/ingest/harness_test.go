package ingest_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/clock"
	"github.com/telltale-dev/telltale/internal/connection"
	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/connector/box"
	boxemu "github.com/telltale-dev/telltale/internal/emulator/box"
	"github.com/telltale-dev/telltale/internal/ingest"
	"github.com/telltale-dev/telltale/internal/metrics"
	"github.com/telltale-dev/telltale/internal/secret"
	"github.com/telltale-dev/telltale/internal/store"
	"github.com/telltale-dev/telltale/internal/store/sqlite"
	"github.com/telltale-dev/telltale/internal/testutil/syncbuf"
	"github.com/telltale-dev/telltale/internal/work"
)

var ctx = context.Background()

// env is the real ingest machinery on SQLite and a fake clock, with the Box connector (or a
// wrapper of it) talking to the Box emulator over loopback HTTP.
type env struct {
	t        *testing.T
	clock    *clock.Fake
	store    store.Store
	conns    *connection.Service
	keyring  *secret.Keyring
	reg      *connector.Registry
	ingest   *ingest.Service
	runner   *work.Runner
	metrics  *metrics.Registry
	logs     *syncbuf.Buffer
	kicks    int
	emu      *boxemu.Emulator
	emuURL   string
	opts     ingest.Options
	dbPath   string
	services map[string]connection.ServiceInfo
}

func newEnv(t *testing.T, con connector.Connector, allowLoopback bool) *env {
	t.Helper()
	e := &env{t: t, clock: clock.NewFake(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)), metrics: metrics.New(), logs: &syncbuf.Buffer{}}
	if con == nil {
		con = box.New()
	}
	e.reg = connector.NewRegistry(con)
	e.emu = boxemu.New(boxemu.Options{Seed: 5, Clock: e.clock, Users: 3, InactiveUsers: 0, Groups: 1, FilesPerUser: 3,
		FoldersPerUser: 1, Depth: 1, RateLimitPerMinute: -1, MaxFileSize: 1024})
	srv := httptest.NewServer(e.emu.Handler())
	t.Cleanup(func() { srv.Close(); e.emu.Close() })
	e.emuURL = srv.URL
	e.dbPath = filepath.Join(t.TempDir(), "t.db")
	st, err := sqlite.Open(ctx, e.dbPath, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.store.Close() })
	e.store = st
	key := make([]byte, 32)
	rand.Read(key)
	if e.keyring, err = secret.LoadKeyring(secret.KeyConfig{Key: base64.StdEncoding.EncodeToString(key)}); err != nil {
		t.Fatal(err)
	}
	e.services = connection.ServicesOf(con.Spec())
	e.conns = connection.NewService(connection.Options{Store: st, Clock: e.clock, Log: slog.New(slog.DiscardHandler), Services: e.services})
	e.opts = ingest.Options{AllowLoopback: allowLoopback}
	e.start()
	return e
}

// start builds the ingest service and runner from e.opts, as a (re)started process would.
func (e *env) start() {
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	e.runner = work.NewRunner(work.Options{Store: e.store, Clock: e.clock, Log: slog.New(slog.DiscardHandler), Concurrency: 2,
		Backoff: func(int) time.Duration { return time.Second }})
	o := e.opts
	o.Store, o.Connections, o.Registry, o.Keyring, o.Clock, o.Log = e.store, e.conns, e.reg, e.keyring, e.clock, log
	o.Metrics, o.PageBudget, o.DefaultRetentionDays = e.metrics, time.Minute, 90
	o.Kick = func() { e.kicks++ }
	e.ingest = ingest.New(o)
	e.ingest.Register(e.runner)
}

// reopen restarts on the same database as a process killed and started again: the store is
// opened anew, the leases the dead process held are released, and ingest is built again.
func (e *env) reopen() {
	e.t.Helper()
	if err := e.store.Close(); err != nil {
		e.t.Fatal(err)
	}
	st, err := sqlite.Open(ctx, e.dbPath, sqlite.Options{})
	if err != nil {
		e.t.Fatal(err)
	}
	e.store = st
	if _, err := st.ReleaseLeases(ctx); err != nil {
		e.t.Fatal(err)
	}
	e.conns = connection.NewService(connection.Options{Store: st, Clock: e.clock, Log: slog.New(slog.DiscardHandler), Services: e.services})
	e.start()
}

// connect stores a Box connection to the emulator (or to apiURL when not empty) the way the
// connection service does, without the API's create-time checks: as one stored before them.
func (e *env) connect(name, apiURL string, creds map[string]string) store.Connection {
	e.t.Helper()
	if apiURL == "" {
		apiURL = e.emuURL
	}
	sets, _ := json.Marshal(map[string]string{"enterprise_id": "900001", "client_id": "emu-client-id", "admin_email": "admin@example.com",
		"api_url": apiURL, "rate_limit": "0"})
	if creds == nil {
		creds = map[string]string{"client_secret": "emu-client-secret", "webhook_primary_key": "emu-primary-key", "webhook_secondary_key": "emu-secondary-key"}
	}
	cb, _ := json.Marshal(creds)
	sealed, err := e.keyring.Seal(cb)
	if err != nil {
		e.t.Fatal(err)
	}
	c, err := e.conns.Create(ctx, connection.NewConnection{Name: name, Service: "box", TenantID: "900001", ScopeKind: "all",
		Settings: sets, Credentials: sealed}, "admin")
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// step runs what is due once, then moves the clock one second.
func (e *env) step() int {
	e.t.Helper()
	n, err := e.runner.RunDue(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	e.clock.Advance(time.Second)
	return n
}

// settle reconciles, then runs due work until nothing is due for a few rounds (at most rounds).
func (e *env) settle(rounds int) {
	e.t.Helper()
	if err := e.ingest.Reconcile(ctx); err != nil {
		e.t.Fatal(err)
	}
	idle := 0
	for i := 0; i < rounds && idle <= 3; i++ {
		if e.step() == 0 {
			idle++
		} else {
			idle = 0
		}
	}
}

func (e *env) get(id int64) store.Connection {
	e.t.Helper()
	c, err := e.store.GetConnection(ctx, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// streamWrap wraps the Box connector so that a test can change what its activity stream answers
// (fail, throttle, drop fields), while everything else talks to the emulator.
type streamWrap struct {
	connector.Connector
	changes func(ctx context.Context, inner connector.Session, sp connector.StreamSpec, cursor string) (connector.ChangesPage, error)
}

func (w streamWrap) Open(ctx context.Context, cfg connector.Config, deps connector.Deps) (connector.Session, error) {
	s, err := w.Connector.Open(ctx, cfg, deps)
	if err != nil {
		return nil, err
	}
	return wrappedSession{s, w.changes}, nil
}

type wrappedSession struct {
	connector.Session
	changes func(ctx context.Context, inner connector.Session, sp connector.StreamSpec, cursor string) (connector.ChangesPage, error)
}

func (s wrappedSession) Changes(ctx context.Context, sp connector.StreamSpec, cursor string) (connector.ChangesPage, error) {
	return s.changes(ctx, s.Session, sp, cursor)
}
