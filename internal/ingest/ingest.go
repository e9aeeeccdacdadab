// Package ingest drives connectors and owns every write of collected data. It schedules, per
// connection, a discovery unit, a stream unit and one indexing unit per drive in the database
// (internal/work), and for each page it normalizes, drops records already seen, keeps only in-scope
// drives, coalesces rapid repeats, enriches (exposure, trust, category), and writes events +
// touched files + the cursor + the hash jobs of new content in ONE transaction: a crash redoes at
// most one page and the redo stores nothing twice (R3.6, R3.8). Content is hashed off the stream by
// a per-connection unit that drains the hash queue (hash.go).
package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/telltale-dev/telltale/internal/clock"
	"github.com/telltale-dev/telltale/internal/connection"
	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/hashing"
	"github.com/telltale-dev/telltale/internal/httpx"
	"github.com/telltale-dev/telltale/internal/metrics"
	"github.com/telltale-dev/telltale/internal/risk"
	"github.com/telltale-dev/telltale/internal/secret"
	"github.com/telltale-dev/telltale/internal/settings"
	"github.com/telltale-dev/telltale/internal/store"
	"github.com/telltale-dev/telltale/internal/watchlist"
	"github.com/telltale-dev/telltale/internal/work"
)

// Work kinds.
const (
	WorkDiscover = "collect.discover" // key: connection id
	WorkIndex    = "collect.index"    // key: connection id ":" drive row id
	WorkStream   = "collect.stream"   // key: connection id ":" stream key (connector.StreamSpec)
	WorkPush     = "collect.push"     // key: connection id; keeps push subscriptions (connector.Pusher)
	WorkRenew    = "collect.renew"    // key: connection id; renews the push subscriptions due, and only those
	WorkUnpush   = "collect.unpush"   // key: connection id; removes them once collection stops
	WorkHash     = "collect.hash"     // key: connection id; drains the connection's hash queue (hash.go)
)

// pushEvery is how often a connection's push subscriptions are checked and what is missing made
// again (a webhook Box dropped with its folder); polling stays the record meanwhile.
const pushEvery = 24 * time.Hour

// Cursors of a drive's crawl (streams: streams.go).
const indexCursor = "index:" // + drive row id

// indexStartCursor keeps when a drive's crawl began ("indexstart:" + drive row id), until it ends.
const indexStartCursor = "indexstart:"

// Options configure a Service.
type Options struct {
	Store       store.Store
	Connections *connection.Service
	Registry    *connector.Registry
	Keyring     *secret.Keyring
	Clock       clock.Clock
	Log         *slog.Logger
	// Kick, when set, asks the work runner to claim due work now (webhooks, new connections).
	Kick func()
	// Wake, when set, tells every node's runner that a unit was scheduled to run now (work.Runner.Wake:
	// PostgreSQL NOTIFY), so that the node whose share it is runs it at once; push notifications.
	Wake func(ctx context.Context, kind, key string)
	// PollInterval and DiscoveryInterval override the connectors' defaults when > 0.
	PollInterval      time.Duration
	DiscoveryInterval time.Duration
	// GroupRetry is how long a scope group the vendor does not know waits before the next lookup (R2.6).
	GroupRetry time.Duration
	// CoalesceWindow: the same actor doing the same thing to the same file within it is one event (R3.6).
	CoalesceWindow time.Duration
	// HashMaxSize and HashConcurrency bound content hashing (R3.10).
	HashMaxSize     int64
	HashConcurrency int
	// PushDrivesPerRun bounds the drives one run of a connection's push round visits (the next run
	// goes on from there); default 2000.
	PushDrivesPerRun int
	// HashQueueMax bounds a connection's pending hash jobs; jobs beyond it are left out (the event
	// keeps no hash) and counted. Default DefaultHashQueueMax.
	HashQueueMax int
	// RecordRetention is how long vendor record ids are remembered for dedupe: at least a week past
	// the longest connector's Spec.DedupeHorizon (Box: 14 days); default 21 days.
	RecordRetention time.Duration
	// MergeHorizon is how long merge candidates are kept: the longest Spec.MergeHorizon, default
	// 3 days (merge.go).
	MergeHorizon time.Duration
	// AllowLoopback lets connections use loopback vendor URLs (demo mode, tests).
	AllowLoopback bool
	// Resolver resolves the host names of admin-typed vendor URLs for the SSRF guard's checks
	// (nil: the system resolver); tests inject one.
	Resolver httpx.Resolver
	// Sleep waits on Clock for connectors' pacing and Retry-After (connector.Deps.Sleep); nil: real
	// timers. Tests on a fake clock set it to advance the clock.
	Sleep func(ctx context.Context, d time.Duration) error
	// PublicURL is this node's URL as vendors reach it; with it connectors register push
	// notifications to /api/v1/webhooks/{service}/{id}. Empty: polling only.
	PublicURL string
	// FailuresBeforeError is how many runs in a row of one unit must fail for the same transient
	// cause before the connection shows Error; permanent causes show at once. Default
	// DefaultFailuresBeforeError.
	FailuresBeforeError int
	// PageBudget bounds how long one unit run keeps fetching pages before yielding.
	PageBudget time.Duration
	// DefaultRetentionDays is passed to settings.Load.
	DefaultRetentionDays int
	// Metrics receives the push-notification counters; nil: a private registry.
	Metrics *metrics.Registry
	// SpoolDir holds an import's upload while it is checked, before anything is stored ("": the
	// system's temporary directory).
	SpoolDir string
}

// Service collects for every connection.
type Service struct {
	o      Options
	st     store.Store
	conns  *connection.Service
	log    *slog.Logger
	clock  clock.Clock
	hasher *hashing.Hasher

	mu         sync.Mutex
	sessions   map[int64]*session
	lastInline map[int64]time.Time          // last inline discovery per connection
	streaks    map[int64]map[string]*streak // failing units per connection (see fail)
	stats      Stats
	hooks      *webhookGate
	m          collectMetrics
	cursorAt   map[string]CursorTime // when each stream's cursor was last committed here, by unit key
	prunedAt   time.Time             // when this node last pruned the health records (PruneHealth)
	// making counts the push rounds of each connection under way on this node: a validation
	// handshake is answered only then (the vendor validates while Subscribe is called).
	making map[int64]int
	// pushChecked: the connections whose push round this node's first Reconcile brought forward.
	pushChecked map[int64]bool
	// watch is who is on which watchlist, for the watchlist risk indicators (reloaded on change).
	watch *watchlist.Cache
}

// collectMetrics are collection's per-connection counters (label values are connection ids and
// service names: closed sets).
type collectMetrics struct {
	records, events, throttles, leftOut, pushFailed metrics.Counter
	lag                                             metrics.Histogram
}

// lagBuckets span a push-fed feed's seconds to the Reports API's hours.
var lagBuckets = []float64{1, 5, 15, 30, 60, 300, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400}

func newCollectMetrics(reg *metrics.Registry) collectMetrics {
	return collectMetrics{
		records: reg.Counter("telltale_connection_records_total", "Vendor records read from a connection's activity stream by this node.", "connection_id", "service"),
		events:  reg.Counter("telltale_connection_events_total", "File events stored from a connection's activity stream by this node (after dedupe and coalescing).", "connection_id", "service"),
		leftOut: reg.Counter("telltale_connection_records_left_out_total",
			"Activity records of a connection not captured because they are outside its scope, by reason: out_of_scope (the drive is not monitored), owner_unknown (no drive or owner could be found for them under a users or groups scope).",
			"connection_id", "service", "reason"),
		pushFailed: reg.Counter("telltale_push_subscription_failures_total",
			"Drives whose push subscriptions could not be made or renewed in a round (polling still collects them; the next round tries again within the hour).", "connection_id", "service"),
		lag: reg.Histogram("telltale_collect_lag_seconds",
			"How long after the action a connection's vendor records were stored (or merged into a stored event) by this node, by feed: \"changes\" and \"reports\" for Google Drive's two feeds, \"stream\" for a connector with one.",
			lagBuckets, "connection_id", "service", "feed"),
		throttles: reg.Counter("telltale_vendor_throttles_total",
			"Throttling answers (429, 503 with Retry-After, or a vendor's own) a connection's vendor gave this node; each is honoured before the next call.", "connection_id", "service"),
	}
}

// CursorTime is when one of a connection's activity streams last committed a page on this node.
type CursorTime struct {
	ConnectionID int64
	Service      string
	Stream       string
	At           time.Time
}

// CursorTimes lists when each connection's stream cursor was last committed by this node.
func (s *Service) CursorTimes() []CursorTime {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]CursorTime, 0, len(s.cursorAt))
	for _, c := range s.cursorAt {
		out = append(out, c)
	}
	return out
}

// Stats counts what collection skipped or refused, for metrics and tests.
type Stats struct {
	Records, Events, Duplicates, OutOfScope, Coalesced int64
	// Merged counts events of a second feed that enriched an event another feed stored (merge.go).
	Merged int64
	// Hashed and HashErrors count files downloaded and hashed, or not readable; HashLeftOut counts
	// events left without hashes because their connection's hash queue was full.
	Hashed, HashErrors, HashLeftOut                      int64
	Skipped                                              map[string]int64
	WebhooksAccepted, WebhooksRefused, WebhookDuplicates int64
	// WebhookUnknownSubscriptions counts notices of accepted deliveries that named a subscription
	// the connection does not hold (they wake the tenant's streams only).
	WebhookUnknownSubscriptions int64
}

type session struct {
	connector.Session
	spec      connector.Spec
	key       string
	throttled time.Time
	// streamsChecked: a discovery with this session has started the drive streams of every drive
	// already indexed; later discoveries start them only for drives whose state or scope changed.
	streamsChecked bool
	mu             sync.Mutex
}

// New returns a Service.
func New(o Options) *Service {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.GroupRetry <= 0 {
		o.GroupRetry = 24 * time.Hour
	}
	if o.CoalesceWindow <= 0 {
		o.CoalesceWindow = 10 * time.Second
	}
	if o.RecordRetention <= 0 {
		o.RecordRetention = 21 * 24 * time.Hour
	}
	if o.Registry != nil {
		// Record ids are kept at least as long as any vendor may deliver a record again.
		for _, sp := range o.Registry.Specs() {
			o.RecordRetention = max(o.RecordRetention, sp.DedupeHorizon+7*24*time.Hour)
			o.MergeHorizon = max(o.MergeHorizon, sp.MergeHorizon)
		}
	}
	if o.MergeHorizon <= 0 {
		o.MergeHorizon = defaultMergeHorizon
	}
	if o.PushDrivesPerRun <= 0 {
		o.PushDrivesPerRun = 2000
	}
	if o.PageBudget <= 0 {
		o.PageBudget = 20 * time.Second
	}
	if o.FailuresBeforeError <= 0 {
		o.FailuresBeforeError = DefaultFailuresBeforeError
	}
	if o.Metrics == nil {
		o.Metrics = metrics.New()
	}
	if o.HashQueueMax <= 0 {
		o.HashQueueMax = DefaultHashQueueMax
	}
	return &Service{watch: watchlist.NewCache(o.Store), hooks: newWebhookGate(o.Metrics), m: newCollectMetrics(o.Metrics), cursorAt: map[string]CursorTime{}, o: o, st: o.Store, conns: o.Connections, log: o.Log, clock: o.Clock,
		hasher: hashing.New(o.HashMaxSize, o.HashConcurrency), sessions: map[int64]*session{}, lastInline: map[int64]time.Time{}, streaks: map[int64]map[string]*streak{},
		stats: Stats{Skipped: map[string]int64{}}}
}

// Register adds the collection handlers to the runner.
func (s *Service) Register(r *work.Runner) {
	r.Handle(WorkDiscover, s.discover)
	r.Handle(WorkIndex, s.index)
	r.Handle(WorkStream, s.stream)
	r.Handle(WorkPush, s.keepPush)
	r.Handle(WorkRenew, s.renewDue)
	r.Handle(WorkUnpush, s.removePush)
	r.Handle(WorkHash, s.hash)
}

// Stats returns a copy of the counters.
func (s *Service) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.stats
	c.Skipped = make(map[string]int64, len(s.stats.Skipped))
	for k, v := range s.stats.Skipped {
		c.Skipped[k] = v
	}
	return c
}

func (s *Service) count(fn func(st *Stats)) {
	s.mu.Lock()
	fn(&s.stats)
	s.mu.Unlock()
}

// collecting reports whether a connection in status st collects.
func collecting(st string) bool {
	switch connection.Status(st) {
	case connection.Searching, connection.Indexing, connection.Monitoring, connection.Error, connection.Maintenance:
		return true
	}
	return false
}

func key(id int64) string { return strconv.FormatInt(id, 10) }

// Reconcile makes the scheduled work match the connections: collecting connections have discovery
// and stream units (a connection in Searching is discovered now), others have none. It runs every
// minute and whenever a connection changes.
func (s *Service) Reconcile(ctx context.Context) error {
	cs, err := s.st.ListConnections(ctx)
	if err != nil {
		return err
	}
	now := s.clock.Now()
	for _, c := range cs {
		if _, ok := s.o.Registry.Get(c.Service); !ok {
			continue
		}
		if !collecting(c.Status) {
			if err := s.stop(ctx, c.ID); err != nil {
				return err
			}
			continue
		}
		w := store.Work{Kind: WorkDiscover, Key: key(c.ID), ConnectionID: c.ID, NextRunAt: now}
		if connection.Status(c.Status) == connection.Searching {
			if cur, err := s.st.GetWork(ctx, WorkDiscover, key(c.ID)); err != nil || cur.NextRunAt.After(now) {
				if _, err := s.st.ScheduleWork(ctx, w); err != nil {
					return err
				}
			}
		} else if _, err := s.st.EnsureWork(ctx, w); err != nil {
			return err
		}
		if s.o.PublicURL != "" {
			// Push subscriptions are checked soon after collection starts (again), and soon after
			// this node starts (the vendor may have dropped some while it was down: Box drops a
			// webhook whose deliveries keep failing), then daily.
			pw := store.Work{Kind: WorkPush, Key: key(c.ID), ConnectionID: c.ID, NextRunAt: now.Add(time.Minute)}
			s.mu.Lock()
			first := !s.pushChecked[c.ID]
			if s.pushChecked == nil {
				s.pushChecked = map[int64]bool{}
			}
			s.pushChecked[c.ID] = true
			s.mu.Unlock()
			if first {
				if cur, err := s.st.GetWork(ctx, WorkPush, pw.Key); err == nil && cur.NextRunAt.After(pw.NextRunAt) {
					if _, err := s.st.ScheduleWork(ctx, pw); err != nil {
						return err
					}
				}
			}
			if _, err := s.st.EnsureWork(ctx, pw); err != nil {
				return err
			}
			if _, err := s.st.EnsureWork(ctx, store.Work{Kind: WorkRenew, Key: key(c.ID), ConnectionID: c.ID, NextRunAt: now.Add(time.Minute)}); err != nil {
				return err
			}
		}
	}
	if _, err := s.st.PruneVendorRecords(ctx, now.Add(-s.o.RecordRetention)); err != nil {
		return err
	}
	if _, err := s.st.PruneMergeCandidates(ctx, now.Add(-s.o.MergeHorizon)); err != nil {
		return err
	}
	return nil
}

// stop deletes a connection's collection units and forgets its session.
func (s *Service) stop(ctx context.Context, id int64) error {
	ws, err := s.st.ListWork(ctx, id)
	if err != nil {
		return err
	}
	stopped := false
	for _, w := range ws {
		if _, stream, ok := strings.Cut(w.Key, ":"); ok && w.Kind == WorkStream {
			// Nothing is collected while deauthorized: a resumed connection starts each stream
			// from the vendor's "now", it does not backfill the time it was deauthorized.
			if err := s.st.SaveCursor(ctx, id, streamCursorName(stream), ""); err != nil {
				return err
			}
		}
		switch w.Kind {
		case WorkDiscover, WorkIndex, WorkStream, WorkPush, WorkRenew, WorkHash:
			if err := s.st.DeleteWork(ctx, w.Kind, w.Key); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			stopped = true
		}
	}
	if stopped && s.o.PublicURL != "" {
		// What was registered at the vendor goes with the collection: a deauthorized or deleted
		// connection leaves no webhook behind.
		if _, err := s.st.EnsureWork(ctx, store.Work{Kind: WorkUnpush, Key: key(id), ConnectionID: id, NextRunAt: s.clock.Now()}); err != nil {
			return err
		}
	}
	// Nothing is downloaded for a connection that does not collect: its pending hash jobs go (their
	// events keep no hash), so a resumed connection does not download what it no longer may.
	if _, err := s.st.DeleteHashJobs(ctx, id); err != nil {
		return err
	}
	if stopped {
		// Likewise the one cursor of a connection from before streams had keys.
		if err := s.st.SaveCursor(ctx, id, legacyStreamCursor, ""); err != nil {
			return err
		}
	}
	s.forget(id)
	return nil
}

func (s *Service) forget(id int64) {
	s.mu.Lock()
	ss := s.sessions[id]
	delete(s.sessions, id)
	delete(s.streaks, id)
	s.mu.Unlock()
	if ss != nil {
		_ = ss.Close()
	}
}

// Config builds the connector config of a stored connection (opening its sealed credentials).
func (s *Service) Config(c store.Connection) (connector.Config, error) {
	settings, err := connector.DecodeSettings(c.Settings)
	if err != nil {
		return connector.Config{}, err
	}
	creds := map[string]string{}
	if len(c.Credentials) > 0 {
		plain, err := s.o.Keyring.Open(c.Credentials)
		if err != nil {
			return connector.Config{}, fmt.Errorf("connection %d: opening credentials: %w", c.ID, err)
		}
		if err := json.Unmarshal(plain, &creds); err != nil {
			return connector.Config{}, fmt.Errorf("connection %d: credentials: %w", c.ID, err)
		}
	}
	return connector.Config{ConnectionID: c.ID, TenantID: c.TenantID, Settings: settings, Credentials: creds}, nil
}

// session returns the open session of a connection, reopening it when what it depends on
// (credentials, settings, tenant) changed.
func (s *Service) session(ctx context.Context, c store.Connection) (*session, error) {
	k := sessionKeyOf(c)
	s.mu.Lock()
	ss := s.sessions[c.ID]
	s.mu.Unlock()
	if ss != nil && ss.key == k {
		return ss, nil
	}
	if ss != nil {
		s.forget(c.ID)
	}
	con, ok := s.o.Registry.Get(c.Service)
	if !ok {
		return nil, fmt.Errorf("ingest: no connector for service %q", c.Service)
	}
	cfg, err := s.Config(c)
	if err != nil {
		return nil, &openError{err}
	}
	ns := &session{spec: con.Spec(), key: k}
	id := c.ID
	sess, err := con.Open(ctx, cfg, connector.Deps{
		Log: s.log.With("connection", id, "service", c.Service), Clock: s.clock, Sleep: s.o.Sleep, AllowLoopback: s.o.AllowLoopback,
		Files: fileIndex{st: s.st, conn: id}, PushURL: s.pushURL(c),
		OnThrottle: func(until time.Time) {
			s.m.throttles.Inc(strconv.FormatInt(id, 10), c.Service)
			ns.mu.Lock()
			if until.After(ns.throttled) {
				ns.throttled = until
			}
			ns.mu.Unlock()
		},
	})
	if err != nil {
		return nil, &openError{err}
	}
	ns.Session = sess
	s.mu.Lock()
	s.sessions[c.ID] = ns
	s.mu.Unlock()
	return ns, nil
}

// sessionKeyOf is what a session depends on: credentials, settings, tenant.
func sessionKeyOf(c store.Connection) string {
	return string(c.Credentials) + "\x00" + string(c.Settings) + "\x00" + c.TenantID
}

// healthKeep is how long throttlings and feed counts are kept for the health view.
const healthKeep = 8 * 24 * time.Hour

// afterRun persists throttling seen during a unit run (R3.7), and prunes the health records at
// most once an hour.
func (s *Service) afterRun(ctx context.Context, c store.Connection, ss *session, lastEvent time.Time) {
	now := s.clock.Now()
	s.mu.Lock()
	prune := now.Sub(s.prunedAt) >= time.Hour
	if prune {
		s.prunedAt = now
	}
	s.mu.Unlock()
	if prune {
		if _, err := s.st.PruneHealth(ctx, now.Add(-healthKeep)); err != nil {
			s.log.Warn("ingest: pruning health records", "err", err)
		}
	}
	ss.mu.Lock()
	until := ss.throttled
	ss.mu.Unlock()
	if until.After(c.ThrottledUntil) || lastEvent.After(c.LastEventAt) {
		if err := s.conns.RecordCollection(ctx, c.ID, until, lastEvent); err != nil && !errors.Is(err, store.ErrNotFound) {
			s.log.Warn("ingest: recording throttling", "connection", c.ID, "err", err)
		}
	}
}

func (s *Service) pollInterval(sp connector.Spec) time.Duration {
	if s.o.PollInterval > 0 {
		return s.o.PollInterval
	}
	if sp.PollInterval > 0 {
		return sp.PollInterval
	}
	return 5 * time.Minute
}

func (s *Service) discoveryInterval(sp connector.Spec) time.Duration {
	if s.o.DiscoveryInterval > 0 {
		return s.o.DiscoveryInterval
	}
	if sp.DiscoveryInterval > 0 {
		return sp.DiscoveryInterval
	}
	return 8 * time.Hour
}

func (s *Service) trusted(ctx context.Context) settings.Settings {
	st, err := settings.Load(ctx, s.st, s.o.DefaultRetentionDays)
	if err != nil {
		s.log.Warn("ingest: loading trusted domains", "err", err)
	}
	return st
}

// scorer prepares the risk settings loaded with the trusted domains. Settings are validated when
// saved, so a failure here means a stored value this version refuses: the defaults score instead,
// and the log says so.
//
// The scorer also knows who is on which watchlist (the watchlist indicators), from a copy in
// memory that is reloaded only when a watchlist changed: one small query per page, none per event.
func (s *Service) scorer(ctx context.Context, st settings.Settings) (*risk.Scorer, error) {
	sc, err := risk.NewScorer(st.Risk, st.TrustedDomains)
	if err != nil {
		s.log.Warn("ingest: the stored risk settings are not valid; scoring with the defaults", "err", err)
		sc, _ = risk.NewScorer(risk.Defaults(), st.TrustedDomains)
	}
	set, err := s.watch.Get(ctx)
	if err != nil {
		return nil, err
	}
	return sc.WithWatchlists(set.Types).WithTrust(st.TrustedActivities), nil
}

// Verify opens a throwaway session with cfg and asks the vendor who it is.
func (s *Service) Verify(ctx context.Context, service string, cfg connector.Config) (string, error) {
	con, ok := s.o.Registry.Get(service)
	if !ok {
		return "", fmt.Errorf("no connector for service %q", service)
	}
	if err := con.Spec().Validate(cfg); err != nil {
		return "", err
	}
	sess, err := con.Open(ctx, cfg, connector.Deps{Log: s.log, Clock: s.clock, AllowLoopback: s.o.AllowLoopback, Files: noFiles{}})
	if err != nil {
		return "", err
	}
	defer sess.Close()
	return sess.Verify(ctx)
}

type noFiles struct{}

func (noFiles) Lookup(context.Context, []string) (map[string]connector.KnownFile, error) {
	return nil, nil
}

// fileIndex answers connector lookups from the store.
type fileIndex struct {
	st   store.Store
	conn int64
}

func (f fileIndex) Lookup(ctx context.Context, ids []string) (map[string]connector.KnownFile, error) {
	fs, err := f.st.FindFiles(ctx, f.conn, ids)
	if err != nil {
		return nil, err
	}
	out := make(map[string]connector.KnownFile, len(fs))
	for _, x := range fs {
		out[x.VendorID] = connector.KnownFile{Path: x.Path, Owner: x.Owner, Size: x.Size, SHA1: x.SHA1,
			Name: x.Name, MimeType: x.MimeType, Modified: x.Modified, Deleted: x.Deleted, State: x.State,
			Hash: event.Hash{MD5: x.MD5, SHA256: x.SHA256, SHA1: x.SHA1, QuickXor: x.QuickXor}}
	}
	return out, nil
}

var _ connector.IndexLookups = fileIndex{}

// LookupAlt implements connector.IndexLookups.
func (f fileIndex) LookupAlt(ctx context.Context, drive string, alts []string) (map[string]connector.KnownFile, error) {
	fs, err := f.st.FindFilesByAlt(ctx, f.conn, drive, alts)
	if err != nil {
		return nil, err
	}
	out := make(map[string]connector.KnownFile, len(fs))
	for _, x := range fs {
		out[x.AltID] = connector.KnownFile{VendorID: x.VendorID, AltID: x.AltID, DriveID: x.DriveVendorID, Path: x.Path, Owner: x.Owner,
			Size: x.Size, SHA1: x.SHA1, Name: x.Name, MimeType: x.MimeType, Modified: x.Modified, Deleted: x.Deleted, State: x.State,
			Hash: event.Hash{MD5: x.MD5, SHA256: x.SHA256, SHA1: x.SHA1, QuickXor: x.QuickXor}}
	}
	return out, nil
}

// DrivesOwnedLike implements connector.IndexLookups.
func (f fileIndex) DrivesOwnedLike(ctx context.Context, pattern string, limit int) ([]connector.Drive, error) {
	ds, err := f.st.FindDrivesByOwnerLike(ctx, f.conn, pattern, limit)
	if err != nil {
		return nil, err
	}
	out := make([]connector.Drive, 0, len(ds))
	for _, d := range ds {
		out = append(out, connector.Drive{VendorID: d.VendorID, Kind: d.Kind, Owner: d.Owner, Name: d.Name})
	}
	return out, nil
}

// StreamCursor implements connector.IndexLookups.
func (f fileIndex) StreamCursor(ctx context.Context, drive, key string) (string, error) {
	ds, err := f.st.FindDrives(ctx, f.conn, []string{drive})
	if err != nil || len(ds) == 0 {
		return "", err
	}
	c, err := f.st.GetCursor(ctx, f.conn, streamCursorName(driveStreamName(ds[0].ID, key)))
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	return c, err
}

// load reads a connection and says whether it still collects.
func (s *Service) load(ctx context.Context, id string) (store.Connection, bool, error) {
	n, err := strconv.ParseInt(strings.SplitN(id, ":", 2)[0], 10, 64)
	if err != nil {
		return store.Connection{}, false, fmt.Errorf("ingest: bad work key %q", id)
	}
	c, err := s.st.GetConnection(ctx, n)
	if errors.Is(err, store.ErrNotFound) {
		return c, false, nil
	}
	if err != nil {
		return c, false, err
	}
	return c, collecting(c.Status), nil
}

// Specs lists the connectors' specs.
func (s *Service) Specs() []connector.Spec { return s.o.Registry.Specs() }

// ConsentURL is the URL where an admin grants a connection's application its access, for a
// connector whose vendor has one (connector.Consenter), from the connection's tenant and
// non-secret settings; "" for the others.
func (s *Service) ConsentURL(service, tenantID string, settings map[string]string) string {
	con, ok := s.o.Registry.Get(service)
	if !ok {
		return ""
	}
	cs, ok := con.(connector.Consenter)
	if !ok {
		return ""
	}
	return cs.ConsentURL(connector.Config{TenantID: tenantID, Settings: settings})
}

func (s *Service) pushURL(c store.Connection) string {
	if s.o.PublicURL == "" {
		return ""
	}
	return strings.TrimRight(s.o.PublicURL, "/") + "/api/v1/webhooks/" + c.Service + "/" + key(c.ID)
}
