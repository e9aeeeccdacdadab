// Package health builds the environment health view (R8.1, docs/OPERATIONS.md "Environment
// health"): every connection's status and history with blind spots first, last event time and
// ingest lag per connection and stream, throttling now and over the last day, integrations and
// forwarders, device check-in coverage, and the warnings the peers do not give: a connection silent
// against its own rhythm, two feeds of one service disagreeing, rule health and watchlists without
// a monitored data source. It only reads the store; every list it returns is bounded.
package health

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/clock"
	"github.com/telltale-dev/telltale/internal/connection"
	"github.com/telltale-dev/telltale/internal/store"
)

// Bounds of the answer.
const (
	MaxConnections = 500  // connections listed (the rest are counted)
	MaxHistory     = 10   // status changes per connection
	MaxStreams     = 20   // streams per connection
	MaxWarnings    = 200  // warnings
	MaxMembers     = 1000 // watchlist members checked per watchlist
)

// HRSource is a source of people data (an HR system) and when it last delivered.
type HRSource struct {
	Name       string
	LastSyncAt time.Time
}

// Options configure a Checker. Zero values take the documented defaults.
type Options struct {
	Store store.Store
	Clock clock.Clock
	// DeviceSilentAfter: an active device not heard from within it is silent (default 24 h, the
	// devices page's setting).
	DeviceSilentAfter time.Duration
	// RuleQuietAfter: an enabled rule unchanged for longer that never raised an alert is flagged
	// (default 14 days).
	RuleQuietAfter time.Duration
	// RuleShare: a rule whose alerts over the last 30 days name more than this share of the people
	// active in that time is flagged (default 0.15).
	RuleShare float64
	// HRSources lists the HR sources; nil: none exist (the HR check then says "none configured").
	// This is the hook an HR connector fills in.
	HRSources func(ctx context.Context) ([]HRSource, error)
	// HRSilentAfter: an HR source that has not delivered for longer is flagged (default 3 days).
	HRSilentAfter time.Duration
}

// Checker builds health reports.
type Checker struct{ o Options }

// New returns a Checker.
func New(o Options) *Checker {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.DeviceSilentAfter <= 0 {
		o.DeviceSilentAfter = 24 * time.Hour
	}
	if o.RuleQuietAfter <= 0 {
		o.RuleQuietAfter = 14 * 24 * time.Hour
	}
	if o.RuleShare <= 0 {
		o.RuleShare = 0.15
	}
	if o.HRSilentAfter <= 0 {
		o.HRSilentAfter = 3 * 24 * time.Hour
	}
	return &Checker{o: o}
}

// collecting: statuses in which a connection is expected to bring events.
var collecting = []string{string(connection.Indexing), string(connection.Monitoring), string(connection.Maintenance)}

// BlindSpot reports whether a connection in status s collects nothing new: in Error (failing, or
// over its drive limit), or deauthorized or being deauthorized (as the health page always showed).
func BlindSpot(s string) bool {
	switch connection.Status(s) {
	case connection.Error, connection.Deauthorizing, connection.Deauthorized:
		return true
	}
	return false
}

// Report builds the health view as of the checker's clock.
func (c *Checker) Report(ctx context.Context) (client.Health, error) {
	st, now := c.o.Store, c.o.Clock.Now()
	h := client.Health{At: now, Connections: []client.HealthConnection{}, Integrations: []client.HealthIntegration{},
		Forwarders: []client.HealthForwarder{}, Warnings: []client.HealthWarning{}, Completeness: []client.HealthCompleteness{}}
	conns, err := st.ListConnections(ctx)
	if err != nil {
		return h, fmt.Errorf("health: connections: %w", err)
	}
	conns = slices.DeleteFunc(conns, func(x store.Connection) bool { return x.ServiceType == "integration" })
	// Blind spots first, then by id (ListConnections' order).
	slices.SortStableFunc(conns, func(a, b store.Connection) int {
		return cmp.Compare(rank(a.Status), rank(b.Status))
	})
	throttles, err := st.ListThrottles(ctx, now.Add(-24*time.Hour), 10000)
	if err != nil {
		return h, fmt.Errorf("health: throttles: %w", err)
	}
	h.Throttles24h = len(throttles)
	byConnThrottles := map[int64][]store.Throttle{}
	for _, t := range throttles {
		byConnThrottles[t.ConnectionID] = append(byConnThrottles[t.ConnectionID], t)
	}
	counts := map[string]int{}
	for _, x := range conns {
		if _, ok := counts[x.Status]; !ok {
			h.ByStatus = append(h.ByStatus, client.HealthStatusCount{Status: x.Status, StatusLabel: connection.Status(x.Status).Label(x.ServiceType)})
		}
		counts[x.Status]++
		if BlindSpot(x.Status) {
			h.BlindSpots++
		}
		if x.ThrottledUntil.After(now) {
			h.ThrottledNow++
		}
	}
	for i := range h.ByStatus {
		h.ByStatus[i].Count = counts[h.ByStatus[i].Status]
	}
	for i, x := range conns {
		if i == MaxConnections {
			h.Truncated = true
			break
		}
		hc, warn, err := c.connection(ctx, x, now, byConnThrottles[x.ID])
		if err != nil {
			return h, err
		}
		h.Connections = append(h.Connections, hc)
		h.Warnings = append(h.Warnings, warn...)
		comp, warn, err := c.completeness(ctx, x, now)
		if err != nil {
			return h, err
		}
		if comp != nil {
			h.Completeness = append(h.Completeness, *comp)
		}
		h.Warnings = append(h.Warnings, warn...)
	}
	if err := c.integrations(ctx, &h); err != nil {
		return h, err
	}
	if err := c.devices(ctx, &h, now); err != nil {
		return h, err
	}
	for _, f := range []func(context.Context, *client.Health, time.Time) error{c.rules, c.watchlists, c.hr} {
		if err := f(ctx, &h, now); err != nil {
			return h, err
		}
	}
	if len(h.Warnings) > MaxWarnings {
		h.Warnings, h.Truncated = h.Warnings[:MaxWarnings], true
	}
	return h, nil
}

func rank(status string) int {
	if BlindSpot(status) {
		return 0
	}
	return 1
}

func id(n int64) string { return strconv.FormatInt(n, 10) }

// connection builds one connection's line and its silence warning.
func (c *Checker) connection(ctx context.Context, x store.Connection, now time.Time, throttles []store.Throttle) (client.HealthConnection, []client.HealthWarning, error) {
	st := connection.Status(x.Status)
	hc := client.HealthConnection{ID: id(x.ID), Name: x.Name, Service: x.Service, Status: x.Status, StatusLabel: st.Label(x.ServiceType),
		ErrorReason: x.ErrorReason, BlindSpot: BlindSpot(x.Status), LastEventAt: x.LastEventAt,
		Throttled: x.ThrottledUntil.After(now), ThrottledUntil: x.ThrottledUntil, Throttles24h: len(throttles),
		ThrottledSecs: throttledFor(throttles, now.Add(-24*time.Hour), now).Seconds(), History: []client.StatusChange{}, Streams: []client.HealthStream{}}
	hist, err := c.o.Store.ListStatusChanges(ctx, x.ID)
	if err != nil {
		return hc, nil, fmt.Errorf("health: status history of connection %d: %w", x.ID, err)
	}
	hc.HistoryTotal = len(hist)
	for i := len(hist) - 1; i >= 0 && len(hc.History) < MaxHistory; i-- {
		s := hist[i]
		hc.History = append(hc.History, client.StatusChange{At: s.At, From: s.From, To: s.To, FromLabel: labelOf(s.From, x.ServiceType),
			ToLabel: labelOf(s.To, x.ServiceType), Actor: s.Actor, Reason: s.Reason})
	}
	// Streams: the most lagging first; the connection's lag is that of its freshest stored page.
	streams, err := c.o.Store.ListStreamHealth(ctx, x.ID, MaxStreams)
	if err != nil {
		return hc, nil, fmt.Errorf("health: streams of connection %d: %w", x.ID, err)
	}
	for _, s := range streams {
		hc.Streams = append(hc.Streams, client.HealthStream{Stream: s.Stream, PageAt: s.PageAt, EventAt: s.EventAt, StoredAt: s.StoredAt, LagSeconds: s.Lag.Seconds()})
	}
	total, freshest, err := c.o.Store.StreamHealthSummary(ctx, x.ID)
	if err != nil {
		return hc, nil, fmt.Errorf("health: streams of connection %d: %w", x.ID, err)
	}
	hc.StreamsTotal, hc.LagSeconds = int(total), freshest.Lag.Seconds()
	arrivals, err := c.o.Store.ListArrivals(ctx, x.ID, now.Add(-RhythmHistory), RhythmArrivals)
	if err != nil {
		return hc, nil, fmt.Errorf("health: arrivals of connection %d: %w", x.ID, err)
	}
	if len(arrivals) > 0 {
		hc.LastStoredAt = arrivals[0]
	}
	r := RhythmOf(arrivals)
	hc.ExpectedGap, hc.SilentAfter = r.ExpectedGap.Seconds(), r.SilentAfter.Seconds()
	var warns []client.HealthWarning
	if slices.Contains(collecting, x.Status) && r.Silent(now) {
		warns = append(warns, client.HealthWarning{Kind: "connection_silent", Severity: "high", Subject: x.Name, Link: "/connections/" + id(x.ID),
			Message: fmt.Sprintf("no event has arrived for %s; this connection usually brings one at least every %s (silent after %s). Check the connection's status, its credentials at the vendor and the audit settings of the tenant.",
				round(now.Sub(r.Last)), round(r.ExpectedGap), round(r.SilentAfter))})
	}
	return hc, warns, nil
}

func labelOf(s, serviceType string) string {
	if s == "" {
		return ""
	}
	return connection.Status(s).Label(serviceType)
}

// round shows a duration to the minute (to the second under one).
func round(d time.Duration) time.Duration {
	if d < time.Minute {
		return d.Round(time.Second)
	}
	return d.Round(time.Minute)
}

// throttledFor is how long within [from, to] the throttlings covered (overlaps counted once).
func throttledFor(ts []store.Throttle, from, to time.Time) time.Duration {
	type span struct{ a, b time.Time }
	var ss []span
	for _, t := range ts {
		a, b := maxTime(t.At, from), minTime(t.Until, to)
		if b.After(a) {
			ss = append(ss, span{a, b})
		}
	}
	slices.SortFunc(ss, func(x, y span) int { return x.a.Compare(y.a) })
	var total time.Duration
	var end time.Time
	for _, s := range ss {
		if s.a.Before(end) {
			s.a = end
		}
		if s.b.After(s.a) {
			total += s.b.Sub(s.a)
			end = s.b
		}
	}
	return total
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func (c *Checker) integrations(ctx context.Context, h *client.Health) error {
	is, err := c.o.Store.ListIntegrations(ctx)
	if err != nil {
		return fmt.Errorf("health: integrations: %w", err)
	}
	for _, i := range is {
		if len(h.Integrations) == MaxConnections {
			h.Truncated = true
			break
		}
		h.Integrations = append(h.Integrations, client.HealthIntegration{ID: id(i.ID), Name: i.Name, Kind: i.Kind, Status: i.Status,
			LastError: i.LastError, ErrorKind: i.ErrorKind, LastErrorAt: i.LastErrorAt})
	}
	fs, err := c.o.Store.ListForwardDestinations(ctx)
	if err != nil {
		return fmt.Errorf("health: forward destinations: %w", err)
	}
	for _, f := range fs {
		if len(h.Forwarders) == MaxConnections {
			h.Truncated = true
			break
		}
		h.Forwarders = append(h.Forwarders, client.HealthForwarder{ID: id(f.ID), Name: f.Name, Kind: f.Kind, State: f.State, Paused: f.Paused,
			LastError: f.LastError, LastSentAt: f.LastSentAt})
	}
	return nil
}

func (c *Checker) devices(ctx context.Context, h *client.Health, now time.Time) error {
	active, err := c.o.Store.CountDevices(ctx, store.DeviceFilter{State: "active"})
	if err != nil {
		return fmt.Errorf("health: devices: %w", err)
	}
	silent, err := c.o.Store.CountDevices(ctx, store.DeviceFilter{State: "active", SilentBefore: now.Add(-c.o.DeviceSilentAfter)})
	if err != nil {
		return fmt.Errorf("health: silent devices: %w", err)
	}
	h.Devices = client.HealthDevices{Active: active, CheckedIn: active - silent, SilentSeconds: c.o.DeviceSilentAfter.Seconds(), Coverage: 1}
	if active > 0 {
		h.Devices.Coverage = float64(active-silent) / float64(active)
	}
	return nil
}
