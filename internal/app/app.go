// Package app is the composition root: configuration -> store -> secrets -> services -> work runner
// -> HTTP. It is the only package that sees every driver and service, and it owns the shutdown order:
// stop claiming work and let running work finish before a deadline, then cancel it; then shut the
// HTTP server down; then close the store.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/internal/alert"
	"github.com/telltale-dev/telltale/internal/api"
	"github.com/telltale-dev/telltale/internal/auth"
	"github.com/telltale-dev/telltale/internal/clock"
	"github.com/telltale-dev/telltale/internal/config"
	"github.com/telltale-dev/telltale/internal/connection"
	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/connector/all"
	"github.com/telltale-dev/telltale/internal/console"
	"github.com/telltale-dev/telltale/internal/forward"
	"github.com/telltale-dev/telltale/internal/hr"
	"github.com/telltale-dev/telltale/internal/httpx"
	"github.com/telltale-dev/telltale/internal/ingest"
	"github.com/telltale-dev/telltale/internal/integration"
	"github.com/telltale-dev/telltale/internal/metrics"
	"github.com/telltale-dev/telltale/internal/rescore"
	"github.com/telltale-dev/telltale/internal/secret"
	"github.com/telltale-dev/telltale/internal/settings"
	"github.com/telltale-dev/telltale/internal/sso"
	"github.com/telltale-dev/telltale/internal/store"
	"github.com/telltale-dev/telltale/internal/store/postgres"
	"github.com/telltale-dev/telltale/internal/store/sqlite"
	"github.com/telltale-dev/telltale/internal/work"
)

// Version is set at build time with -ldflags "-X github.com/telltale-dev/telltale/internal/app.Version=...".
var Version = "dev"

// Work kinds scheduled by the app.
const (
	// WorkLifecycle finishes deauthorizations and runs retention (R1.5, R1.8).
	WorkLifecycle = "connections.lifecycle"
)

// App is a running Telltale node.
type App struct {
	Config      config.Config
	Log         *slog.Logger
	Clock       clock.Clock
	Store       store.Store
	Keyring     *secret.Keyring
	Auth        *auth.Service
	Connections *connection.Service
	Runner      *work.Runner
	Connectors  *connector.Registry
	Ingest      *ingest.Service
	Alerts      *alert.Evaluator
	Rescore     *rescore.Rescorer
	// Integrations and Deliveries: automated integrations and flows (R7), and the sender of
	// their deliveries.
	Integrations *integration.Service
	Deliveries   *integration.Sender
	// HR runs the HR sources (R7.2): Workday and BambooHR polls, CSV uploads, signed webhooks.
	HR *hr.Service
	// Forward sends every event to SIEM destinations (R8.7).
	Forward *forward.Service
	Metrics *metrics.Registry
	API     *api.Server
	Console *console.Console
	// Bootstrap is what the first start created (the first admin), empty afterwards.
	Bootstrap auth.Bootstrap

	started chan struct{}
	dirLock *os.File // the data directory's lock (SQLite only)
}

// OpenStore opens the configured store: SQLite in the data dir, or PostgreSQL.
func OpenStore(ctx context.Context, cfg config.Config) (store.Store, error) {
	if cfg.UsesPostgres() {
		return postgres.Open(ctx, cfg.Database, postgres.Options{})
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("app: data dir: %w", err)
	}
	return sqlite.Open(ctx, filepath.Join(cfg.DataDir, "telltale.db"), sqlite.Options{})
}

// errSharedKey: every node sharing a PostgreSQL database must seal and open credentials with the
// same key, so a key generated into one node's data dir is not enough.
var errSharedKey = errors.New("app: with PostgreSQL several nodes share the database, so they must share the secret key: set TELLTALE_SECRET_KEY or TELLTALE_SECRET_KEY_FILE to the same key on every node (generate one with `openssl rand -base64 32`)")

// New builds a node from its configuration. It opens the store (applying migrations), loads the
// secret key, and creates the first admin on first start.
func New(ctx context.Context, cfg config.Config, log *slog.Logger) (*App, error) {
	a := &App{Config: cfg, Log: log, Clock: clock.Real{}, Metrics: metrics.New(), started: make(chan struct{})}
	if cfg.UsesPostgres() && cfg.SecretKey == "" && cfg.SecretKeyFile == "" {
		return nil, errSharedKey
	}
	var err error
	if !cfg.UsesPostgres() {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("app: data dir: %w", err)
		}
		if a.dirLock, err = lockDataDir(cfg.DataDir); err != nil {
			return nil, err
		}
	}
	if a.Store, err = OpenStore(ctx, cfg); err != nil {
		a.unlock()
		return nil, err
	}
	if s, ok := a.Store.(interface{ SchemaAhead() (int, int) }); ok {
		if have, known := s.SchemaAhead(); have > 0 {
			log.Warn("this node is older than the database: a newer release migrated it (a rolling upgrade); it runs, but upgrade it to that release",
				"schema", have, "this_node_knows", known)
		}
	}
	fail := func(err error) (*App, error) {
		a.Store.Close()
		a.unlock()
		return nil, err
	}
	if a.dirLock != nil {
		// This process alone uses the embedded store: leases still held were a killed process's,
		// and waiting for them to run out would stall collection for a minute after a restart.
		n, err := a.Store.ReleaseLeases(ctx)
		if err != nil {
			return fail(err)
		}
		if n > 0 {
			log.Info("released the work a stopped process still held", "leases", n)
		}
	}
	if a.Keyring, err = secret.LoadKeyring(secret.KeyConfig{Key: cfg.SecretKey, KeyFile: cfg.SecretKeyFile, OldKeys: cfg.OldKeys(), DataDir: cfg.DataDir}); err != nil {
		return fail(err)
	}
	log.Info("secret key loaded: back it up separately from the database", "source", a.Keyring.Source(), "key_id", a.Keyring.KeyID())
	a.Auth = auth.NewService(a.Store, a.Clock, log, auth.Options{SessionTTL: cfg.SessionTTL, Keyring: a.Keyring})
	defaultDays := int(cfg.Retention / (24 * time.Hour))
	a.Connectors = all.Registry()
	a.Connections = connection.NewService(connection.Options{
		Store: a.Store, Clock: a.Clock, Log: log, Services: connection.ServicesOf(a.Connectors.Specs()...),
		Retention: func(ctx context.Context) time.Duration {
			s, err := settings.Load(ctx, a.Store, defaultDays)
			if err != nil {
				log.Warn("app: reading retention setting failed; using the configured default", "err", err)
				return cfg.Retention
			}
			return s.Retention()
		},
		Limits: connection.Limits{Drives: map[string]int{"box": cfg.DriveLimitBox, "google_drive": cfg.DriveLimitGoog, "onedrive": cfg.DriveLimitOne}},
	})
	var waker work.Waker
	if w, ok := a.Store.(work.Waker); ok && cfg.WorkNotify {
		waker = w // PostgreSQL: LISTEN/NOTIFY between the nodes
	}
	a.Runner = work.NewRunner(work.Options{Store: a.Store, Clock: a.Clock, Log: log, Concurrency: cfg.Workers, LeaseFor: cfg.WorkLease,
		PollInterval: cfg.WorkPoll, Waker: waker})
	a.Runner.Handle(WorkLifecycle, a.lifecycle)
	a.Ingest = ingest.New(ingest.Options{
		Store: a.Store, Connections: a.Connections, Registry: a.Connectors, Keyring: a.Keyring, Clock: a.Clock, Log: log,
		Kick: a.Runner.Kick, Wake: a.Runner.Wake, PollInterval: cfg.PollInterval, DiscoveryInterval: cfg.DiscoveryEvery,
		HashMaxSize: cfg.HashMaxSize, HashConcurrency: cfg.HashWorkers, AllowLoopback: cfg.AllowLoopback, PublicURL: cfg.PublicURL,
		DefaultRetentionDays: int(cfg.Retention / (24 * time.Hour)), Metrics: a.Metrics, SpoolDir: cfg.DataDir,
	})
	a.Ingest.Register(a.Runner)
	a.Integrations = integration.New(integration.Options{Store: a.Store, Keyring: a.Keyring, Clock: a.Clock, Log: log,
		Guard: &httpx.Guard{AllowLoopback: cfg.AllowLoopback}, Kick: a.Runner.Kick})
	a.Deliveries = integration.NewSender(integration.SenderOptions{Service: a.Integrations, Clock: a.Clock, Log: log, Metrics: a.Metrics})
	a.Deliveries.Register(a.Runner)
	a.HR = hr.New(hr.Options{Integrations: a.Integrations, Clock: a.Clock, Log: log, Metrics: a.Metrics, Changed: a.Integrations.WatchlistChanged})
	a.HR.Register(a.Runner)
	// An alert's deliveries commit in the evaluator's transaction with the alert (Raised).
	a.Alerts = alert.New(alert.Options{Store: a.Store, Clock: a.Clock, Log: log, Metrics: a.Metrics, Raised: a.Integrations.Raised,
		Grown: a.Integrations.Grown})
	a.Alerts.Register(a.Runner)
	// Re-score jobs (docs/RISK.md): each job's unit is scheduled when an admin starts it and
	// resumes from the job's committed position after a restart.
	a.Rescore = rescore.New(rescore.Options{Store: a.Store, Clock: a.Clock, Log: log})
	a.Rescore.Register(a.Runner)
	a.Forward = forward.New(forward.Options{Store: a.Store, Keyring: a.Keyring, Clock: a.Clock, Log: log, Metrics: a.Metrics,
		Guard: &httpx.Guard{AllowLoopback: cfg.AllowLoopback}, Version: Version, Kick: a.Runner.Kick, DeviceSilentAfter: cfg.DeviceSilent})
	a.Forward.Register(a.Runner)
	if n, err := alert.InstallTemplates(ctx, a.Store, a.Clock.Now()); err != nil {
		return fail(fmt.Errorf("app: installing the alert rule templates: %w", err))
	} else if n > 0 {
		log.Info("alert rule templates installed and enabled", "rules", n)
	}
	if a.Bootstrap, err = a.Auth.Bootstrap(ctx, cfg.BootstrapToken); err != nil {
		return fail(err)
	}
	a.API = api.New(api.Deps{
		Store: a.Store, Clock: a.Clock, Log: log, Auth: a.Auth, Connections: a.Connections, Keyring: a.Keyring,
		Metrics: a.Metrics, RetentionDays: defaultDays, TrustProxy: cfg.TrustProxy, Ready: a.ready, Version: Version,
		Changed: a.kickLifecycle, Collector: a.Ingest, ImportMaxSize: cfg.ImportMaxSize,
		Integrations: a.Integrations, VerifyIntegration: a.verifyIntegration, Forward: a.Forward, HR: a.HR,
		Devices: api.DeviceOptions{CurrentVersion: cfg.AgentVersion, CheckIn: cfg.AgentCheckIn, SilentAfter: cfg.DeviceSilent, EnrollPerMin: cfg.EnrollRate},
	})
	var signOn *sso.Manager
	if cfg.SSOProviders != "" {
		ps, err := sso.Load(cfg.SSOProviders, os.Getenv)
		if err != nil {
			return fail(err)
		}
		// The providers' URLs come from the operator's file, but go through the SSRF guard all the
		// same; private ranges are allowed, since an IdP such as ADFS often lives on one.
		signOn = sso.New(sso.Options{Providers: ps, Store: a.Store, Clock: a.Clock, Log: log, PublicURL: cfg.PublicURL,
			Guard: &httpx.Guard{AllowLoopback: cfg.AllowLoopback, AllowPrivate: true}})
		log.Info("single sign-on configured", "providers", len(ps))
	}
	if a.Console, err = console.New(console.Deps{Auth: a.Auth, API: a.API.Handler(), Log: log, Clock: a.Clock,
		SecureCookies: strings.HasPrefix(strings.ToLower(cfg.PublicURL), "https://"), TrustProxy: cfg.TrustProxy,
		SSO: signOn, SSOSessionTTL: cfg.SSOSessionTTL}); err != nil {
		return fail(err)
	}
	a.registerMetrics()
	a.registerCollectionMetrics()
	return a, nil
}

// lifecycle finishes deauthorizations (collection has stopped once the status is Deauthorizing) and
// deletes connections past retention. It runs every minute and whenever a connection changes.
func (a *App) lifecycle(ctx context.Context, _ store.Work) (time.Time, error) {
	// Collection units follow the statuses first: a connection in Deauthorizing stops collecting
	// before it is marked Deauthorized.
	if err := a.Ingest.Reconcile(ctx); err != nil {
		return time.Time{}, err
	}
	cs, err := a.Store.ListConnections(ctx)
	if err != nil {
		return time.Time{}, err
	}
	for _, c := range cs {
		if connection.Status(c.Status) == connection.Deauthorizing {
			if _, err := a.Connections.Apply(ctx, c.ID, connection.ActionDeauthorized, "system", "access revoked and collection stopped"); err != nil {
				return time.Time{}, err
			}
		}
	}
	if _, err := a.Connections.RunRetention(ctx); err != nil {
		return time.Time{}, err
	}
	// The next months' event partitions exist before their events arrive (PostgreSQL).
	if n, err := a.Store.PrepareEventPartitions(ctx, a.Clock.Now()); err != nil {
		return time.Time{}, err
	} else if n > 0 {
		a.Log.Info("created event partitions ahead", "months", n)
	}
	if keep := a.Config.EventRetention; keep > 0 {
		if n, err := a.Store.DropEventsBefore(ctx, a.Clock.Now().Add(-keep)); err != nil {
			return time.Time{}, err
		} else if n > 0 {
			a.Log.Info("removed events past the event retention", "events", n, "event_retention", config.FormatDuration(keep))
		}
	}
	return a.Clock.Now().Add(time.Minute), nil
}

// verifyIntegration checks an integration's credentials when an admin connects it: an HR source's
// with its HR system, the others' with their destination.
func (a *App) verifyIntegration(ctx context.Context, i store.Integration, sec integration.Secrets) error {
	if integration.IsHR(i.Kind) {
		return a.HR.Verify(ctx, i, sec)
	}
	return a.Deliveries.Verify(ctx, i, sec)
}

func (a *App) kickLifecycle(ctx context.Context) {
	if _, err := a.Store.ScheduleWork(ctx, store.Work{Kind: WorkLifecycle, Key: "all", NextRunAt: a.Clock.Now()}); err != nil {
		a.Log.Warn("app: scheduling lifecycle work failed", "err", err)
		return
	}
	a.Runner.Kick()
}

func (a *App) ready(ctx context.Context) error {
	select {
	case <-a.started:
	default:
		return errors.New("work runner not started yet")
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := a.Store.CountUsers(ctx); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

func (a *App) registerMetrics() {
	a.Metrics.GaugeFunc("telltale_build_info", "Build information.", []string{"version", "driver"}, func(emit func(float64, ...string)) {
		emit(1, Version, a.Store.Driver())
	})
	a.Metrics.GaugeFunc("telltale_connections", "Data connections by service and status.", []string{"service", "status"}, func(emit func(float64, ...string)) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		cs, err := a.Store.ListConnections(ctx)
		if err != nil {
			return
		}
		n := map[[2]string]int{}
		for _, c := range cs {
			n[[2]string{c.Service, c.Status}]++
		}
		for k, v := range n {
			emit(float64(v), k[0], k[1])
		}
	})
}

func (a *App) registerCollectionMetrics() {
	a.Metrics.CounterFunc("telltale_collect_records_total", "Vendor records read by collection since start, by outcome (stored events are counted after coalescing).", []string{"outcome"}, func(emit func(float64, ...string)) {
		st := a.Ingest.Stats()
		emit(float64(st.Records), "read")
		emit(float64(st.Events), "events_stored")
		emit(float64(st.Duplicates), "duplicate")
		emit(float64(st.OutOfScope), "out_of_scope")
		emit(float64(st.Coalesced), "coalesced")
		emit(float64(st.Merged), "merged")
		emit(float64(st.Hashed), "hashed")
		emit(float64(st.HashErrors), "hash_failed")
		emit(float64(st.HashLeftOut), "hash_left_out")
	})
	a.Metrics.CounterFunc("telltale_collect_records_skipped_total", "Vendor records skipped since start because they are not file activity, by reason.", []string{"reason"}, func(emit func(float64, ...string)) {
		for reason, n := range a.Ingest.Stats().Skipped {
			emit(float64(n), reason)
		}
	})
	// Per connection: the lag of what is collected and the age of each stream's cursor. A
	// connection that stops moving shows here before anyone notices missing events.
	a.Metrics.GaugeFunc("telltale_connection_lag_seconds", "Seconds between now and the observed time of the newest event collected through a connection (large for a quiet tenant too; compare with its usual value).", []string{"connection_id", "service"}, func(emit func(float64, ...string)) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		cs, err := a.Store.ListConnections(ctx)
		if err != nil {
			return
		}
		now := a.Clock.Now()
		for _, c := range cs {
			if !c.LastEventAt.IsZero() {
				emit(now.Sub(c.LastEventAt).Seconds(), strconv.FormatInt(c.ID, 10), c.Service)
			}
		}
	})
	a.Metrics.GaugeFunc("telltale_stream_cursor_age_seconds", "Seconds since this node last committed a page of one of a connection's activity streams (its cursor); polling keeps it below the poll interval.", []string{"connection_id", "service", "stream"}, func(emit func(float64, ...string)) {
		now := a.Clock.Now()
		for _, c := range a.Ingest.CursorTimes() {
			emit(now.Sub(c.At).Seconds(), strconv.FormatInt(c.ConnectionID, 10), c.Service, c.Stream)
		}
	})
}

// PrintBootstrap writes the first admin's credentials, once, on first start.
func (a *App) PrintBootstrap(w io.Writer) {
	b := a.Bootstrap
	if !b.Created {
		return
	}
	fmt.Fprintf(w, "\nFirst start: created the admin user %q.\n", b.Username)
	if b.Password != "" {
		fmt.Fprintf(w, "  console password (change it at first sign-in): %s\n", b.Password)
	}
	if b.Token != "" {
		fmt.Fprintf(w, "  API token: %s\n", b.Token)
	} else {
		fmt.Fprintf(w, "  API token: the value of TELLTALE_BOOTSTRAP_TOKEN\n")
	}
	fmt.Fprintf(w, "These are shown only now. Store them somewhere safe.\n\n")
}

// Handler is the node's whole HTTP handler: the API under /api/ with the probes and metrics, and
// the web console everywhere else, on the same port.
func (a *App) Handler() http.Handler {
	apiHandler := a.API.Handler()
	mux := http.NewServeMux()
	for _, p := range []string{"/api/", "/healthz", "/readyz", "/metrics"} {
		mux.Handle(p, apiHandler)
	}
	mux.Handle("/", a.Console.Handler())
	return securityHeaders(mux, strings.HasPrefix(a.Config.PublicURL, "https://"))
}

// securityHeaders sets the headers of every response. With an https public URL (or a request
// that came over TLS) browsers are told to use https only (HSTS, one year).
func securityHeaders(h http.Handler, httpsPublic bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("X-Frame-Options", "DENY")
		w.Header().Set("Referrer-Policy", "no-referrer")
		if httpsPublic || r.TLS != nil {
			w.Header().Set("Strict-Transport-Security", "max-age=31536000")
		}
		h.ServeHTTP(w, r)
	})
}

// Run serves HTTP on ln and runs scheduled work until ctx is cancelled, then shuts down in order.
// onListening, if set, is called once the node serves.
func (a *App) Run(ctx context.Context, ln net.Listener) error {
	if _, err := a.Store.EnsureWork(ctx, store.Work{Kind: WorkLifecycle, Key: "all", NextRunAt: a.Clock.Now()}); err != nil {
		return fmt.Errorf("app: scheduling lifecycle work: %w", err)
	}
	// Alerts are raised for events stored from the first start with alerts on (Start), by one
	// evaluation unit that any node may hold.
	if err := a.Alerts.Start(ctx); err != nil {
		return fmt.Errorf("app: starting alert evaluation: %w", err)
	}
	if _, err := a.Store.EnsureWork(ctx, a.Alerts.Unit()); err != nil {
		return fmt.Errorf("app: scheduling alert evaluation: %w", err)
	}
	if _, err := a.Store.EnsureWork(ctx, a.HR.Unit()); err != nil {
		return fmt.Errorf("app: scheduling HR source polls: %w", err)
	}
	if _, err := a.Store.EnsureWork(ctx, a.Deliveries.Unit()); err != nil {
		return fmt.Errorf("app: scheduling deliveries: %w", err)
	}
	if err := a.Forward.EnsureUnits(ctx); err != nil {
		return fmt.Errorf("app: scheduling SIEM forwarding: %w", err)
	}
	srv := &http.Server{
		Handler:           a.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(a.Log.Handler(), slog.LevelWarn),
	}
	if err := a.Runner.Start(ctx); err != nil {
		return err
	}
	close(a.started)
	if a.Config.DebugListen != "" {
		stopDebug, err := a.serveDebug(a.Config.DebugListen)
		if err != nil {
			return err
		}
		defer stopDebug()
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	a.Log.Info("telltale serving", "url", "http://"+ln.Addr().String(), "driver", a.Store.Driver(), "version", Version)

	var err error
	select {
	case <-ctx.Done():
	case err = <-serveErr:
		a.Log.Error("http server stopped", "err", err)
	}
	a.Log.Info("shutting down: finishing running work", "timeout", a.Config.ShutdownTimeout)
	stopCtx, cancel := context.WithTimeout(context.Background(), a.Config.ShutdownTimeout)
	defer cancel()
	if e := a.Runner.Stop(stopCtx); e != nil {
		a.Log.Warn("work runner stop", "err", e)
	}
	a.Forward.Close() // the SIEM destinations' connections
	httpCtx, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	if e := srv.Shutdown(httpCtx); e != nil {
		a.Log.Warn("http shutdown", "err", e)
	}
	a.Ingest.WaitWebhooks() // push notifications accepted before the server stopped are acted on
	if e := a.Store.Close(); e != nil {
		a.Log.Warn("store close", "err", e)
	}
	a.unlock()
	a.Log.Info("stopped")
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// serveDebug serves Go's pprof handlers on addr (validated as loopback by config) until stop.
func (a *App) serveDebug(addr string) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("app: debug-listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	a.Log.Info("pprof profiles served", "url", "http://"+ln.Addr().String()+"/debug/pprof/")
	return func() { srv.Close() }, nil
}

// Close releases the store when Run was never called.
func (a *App) Close() error {
	err := a.Store.Close()
	a.unlock()
	return err
}

// unlock releases the data directory's lock.
func (a *App) unlock() {
	if a.dirLock != nil {
		a.dirLock.Close()
		a.dirLock = nil
	}
}
