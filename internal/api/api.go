// Package api serves Telltale's REST API under /api/v1 on the standard library's ServeMux, plus the
// health probes and Prometheus metrics. Every route is declared once in a table (method, path, the
// role it needs, its audit action, its request and response types); the table drives registration,
// authorization, the audit log and the OpenAPI 3.1 document. Errors are RFC 9457 problem documents.
package api

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/telltale-dev/telltale/internal/auth"
	"github.com/telltale-dev/telltale/internal/clock"
	"github.com/telltale-dev/telltale/internal/connection"
	"github.com/telltale-dev/telltale/internal/forward"
	"github.com/telltale-dev/telltale/internal/hr"
	"github.com/telltale-dev/telltale/internal/integration"
	"github.com/telltale-dev/telltale/internal/metrics"
	"github.com/telltale-dev/telltale/internal/secret"
	"github.com/telltale-dev/telltale/internal/store"
)

// Deps are what the API needs, built by the composition root.
type Deps struct {
	Store       store.Store
	Clock       clock.Clock
	Log         *slog.Logger
	Auth        *auth.Service
	Connections *connection.Service
	Keyring     *secret.Keyring
	Metrics     *metrics.Registry
	// Retention is the default retention for deauthorized connections, in days, when the settings
	// API has not set one.
	RetentionDays int
	TrustProxy    bool
	// Ready reports whether the node is ready for traffic (store reachable, work runner started).
	Ready   func(ctx context.Context) error
	Version string
	// Changed is called after a connection's status changed through the API, so that the node's
	// lifecycle work runs now instead of at its next tick.
	Changed func(ctx context.Context)
	// Collector serves connector specs, verification, imports and vendor push notifications.
	Collector Collector
	// ImportMaxSize bounds an uploaded import in bytes (--import-max-size; 0: DefaultImportMaxSize).
	ImportMaxSize int64
	// Integrations manages integrations and flows (R7); nil answers 503 on their routes.
	Integrations *integration.Service
	// VerifyIntegration checks an integration's credentials when an admin connects it.
	VerifyIntegration func(ctx context.Context, i store.Integration, sec integration.Secrets) error
	// Forward manages SIEM destinations (R8.7); nil answers 503 on their routes.
	Forward *forward.Service
	// HR runs the HR sources (R7.2); nil answers 503 on their routes.
	HR *hr.Service
	// Devices are the endpoint agent and device settings (issue 18).
	Devices DeviceOptions
}

// Server is the API handler.
type Server struct {
	store         store.Store
	clock         clock.Clock
	log           *slog.Logger
	auth          *auth.Service
	conns         *connection.Service
	keyring       *secret.Keyring
	metrics       *metrics.Registry
	retentionDays int
	trustProxy    bool
	ready         func(ctx context.Context) error
	version       string
	changed       func(ctx context.Context)
	collector     Collector
	importMaxSize int64
	integ         *integration.Service
	verifyInteg   func(ctx context.Context, i store.Integration, sec integration.Secrets) error
	forward       *forward.Service
	hr            *hr.Service
	requests      metrics.Counter
	seconds       metrics.Histogram
	devOpts       DeviceOptions
	enrollLimit   *addrLimiter
	agentRefused  metrics.Counter
	agentCheckIns metrics.Counter
	agentEventsIn metrics.Counter
	checkIns      *checkInBatcher
	deviceKeys    deviceKeys
	checkInAnswer [2]answer // up to date, outdated
}

// New builds the API server.
func New(d Deps) *Server {
	s := &Server{
		store: d.Store, clock: d.Clock, log: d.Log, auth: d.Auth, conns: d.Connections, keyring: d.Keyring,
		metrics: d.Metrics, retentionDays: d.RetentionDays, trustProxy: d.TrustProxy, ready: d.Ready, version: d.Version, changed: d.Changed, collector: d.Collector,
		importMaxSize: d.ImportMaxSize, integ: d.Integrations, verifyInteg: d.VerifyIntegration,
		forward: d.Forward, hr: d.HR,
	}
	s.devOpts = d.Devices
	s.devOpts.defaults(d.Version)
	s.enrollLimit = &addrLimiter{perMn: s.devOpts.EnrollPerMin}
	s.checkIns = &checkInBatcher{st: d.Store}
	s.checkInAnswer = s.checkInAnswers()
	if s.importMaxSize <= 0 {
		s.importMaxSize = DefaultImportMaxSize
	}
	if s.changed == nil {
		s.changed = func(context.Context) {}
	}
	if s.metrics == nil {
		s.metrics = metrics.New()
	}
	if s.ready == nil {
		s.ready = func(context.Context) error { return nil }
	}
	s.requests = s.metrics.Counter("telltale_http_requests_total", "HTTP requests by route and status code.", "route", "code")
	s.seconds = s.metrics.Histogram("telltale_http_request_duration_seconds", "Time to serve an HTTP request, by route (the route pattern, never the raw path).", metrics.LatencyBuckets, "route")
	s.agentRefused = s.metrics.Counter("telltale_agent_refused_total", "Endpoint agent messages refused, by kind (enrolment, check-in) and reason (rate_limited, oversized, malformed, signature, unknown_device, replay, deactivated, secret_unknown, secret_expired, secret_revoked, enrolled_already).", "kind", "reason")
	s.agentCheckIns = s.metrics.Counter("telltale_agent_checkins_total", "Endpoint agent check-ins accepted.")
	s.agentEventsIn = s.metrics.Counter("telltale_agent_events_total", "File events from endpoint agents stored (duplicates not counted).")
	return s
}

// Handler returns the HTTP handler serving /api/v1, /healthz, /readyz and /metrics.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	s.register(mux)
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, r, problemFor(withStatus(http.StatusNotFound, "no API route %s %s: see /api/v1/openapi.json for the list", r.Method, r.URL.Path)))
	})
	return mux
}

// routes is the route table: the single source of truth for the API.
func (s *Server) routes() []Route {
	var rs []Route
	rs = append(rs, s.systemRoutes()...)
	rs = append(rs, s.connectionRoutes()...)
	rs = append(rs, s.collectRoutes()...)
	rs = append(rs, s.eventRoutes()...)
	rs = append(rs, s.settingRoutes()...)
	rs = append(rs, s.rescoreRoutes()...)
	rs = append(rs, s.alertRoutes()...)
	rs = append(rs, s.watchlistRoutes()...)
	rs = append(rs, s.integrationRoutes()...)
	rs = append(rs, s.hrRoutes()...)
	rs = append(rs, s.forwardRoutes()...)
	rs = append(rs, s.caseRoutes()...)
	rs = append(rs, s.personRoutes()...)
	rs = append(rs, s.dashboardRoutes()...)
	rs = append(rs, s.deviceRoutes()...)
	rs = append(rs, s.healthRoutes()...)
	rs = append(rs, s.userRoutes()...)
	rs = append(rs, s.auditRoutes()...)
	return rs
}

// Routes exposes the route table to tests and docs.
func (s *Server) Routes() []Route { return s.routes() }
