package forward

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/search"
	"github.com/telltale-dev/telltale/internal/store"
)

// Streams a destination can take (R8.7). File events follow the event log with the destination's
// own position; alerts, the audit log, device health and connection health each have a position
// of their own per destination (store.ForwardStream), moved by compare-and-set after the
// destination acknowledged a batch, so a restart resumes each where it stopped and a crash
// between acknowledgement and commit sends that batch again (at least once; each record carries
// its own id: alert, audit, device health or status change).
//
// One unit per destination sends every stream it takes, so one connection carries them in order:
// the alert and audit streams are sent at the start of each run and whenever the file events are
// caught up. They are small beside file events; under a constant flood of events they wait at most
// one run's budget (10 s by default).
const (
	StreamEvents = "events" // file events (the default)
	StreamAlerts = "alerts" // alerts as raised: rule, person, severity, summary, state then
	StreamAudit  = "audit"  // the audit log: who did what, when, from where, and the outcome
	// StreamDevices is device health: enrolled, checked in, outdated, silent, deactivated,
	// reactivated (store.DeviceHealth).
	StreamDevices = "devices"
	// StreamConnections is connection health: every status change of a connection (its status
	// history, store.StatusChange).
	StreamConnections = "connections"
)

// Streams lists the streams.
func Streams() []string {
	return []string{StreamEvents, StreamAlerts, StreamAudit, StreamDevices, StreamConnections}
}

// auditSettle is how long the audit stream waits for an entry written before its action ran
// (outcome "started") to get its outcome; past it, the entry is sent as started. Entries after
// it wait with it, so the stream stays in id order.
const auditSettle = 2 * time.Minute

// auditLag is how old an audit entry must be before it is sent: entries are written by every node
// in short transactions, so an id can become visible a moment after a larger one; waiting this
// long keeps the stream from passing over it.
const auditLag = 2 * time.Second

// silenceEvery is how often the devices stream looks for devices gone silent
// (store.MarkSilentDevices): a silence is recorded within this of its threshold.
const silenceEvery = 30 * time.Second

// sideBatches bounds the batches of each side stream sent per call of sendStreams.
const sideBatches = 5

// streamsOf returns the streams a destination's settings name (file events when none).
func streamsOf(st Settings) []string {
	if len(st.Streams) == 0 {
		return []string{StreamEvents}
	}
	return st.Streams
}

// checkStreams validates and normalizes the streams of a destination's settings.
func checkStreams(st *Settings) error {
	var out []string
	for _, s := range st.Streams {
		s = strings.ToLower(strings.TrimSpace(s))
		if !slices.Contains(Streams(), s) {
			return invalid("streams: %q is not a stream: want events, alerts, audit, devices or connections", s)
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	if len(out) == 1 && out[0] == StreamEvents {
		out = nil // the default
	}
	st.Streams = out
	if st.Query != "" && !slices.Contains(streamsOf(*st), StreamEvents) {
		return invalid("query filters file events, and this destination takes no file events: remove the query or add the events stream")
	}
	return nil
}

// sendStreams sends what the alert and audit streams hold after the destination's positions, up
// to sideBatches batches each, and, for a destination taking file events, the events rewritten
// since they were sent (store.ForwardUpdatesStream). events is the file events' position now: an
// update of an event after it is left out, the events loop reads that event as it is now. An
// error is a failed send (the caller records it); a position moved by someone else ends the call
// without error (the next run reads again).
func (s *Service) sendStreams(ctx context.Context, d store.ForwardDestination, st Settings, filter *search.Query, sink Sink, events int64) error {
	var side []string
	for _, name := range streamsOf(st) {
		if name != StreamEvents {
			side = append(side, name)
		} else {
			side = append(side, store.ForwardUpdatesStream)
		}
	}
	pos, err := s.o.Store.ListForwardStreams(ctx, d.ID)
	if err != nil {
		return err
	}
	for _, name := range side {
		from, ok := pos[name]
		if !ok && name == store.ForwardUpdatesStream {
			// The first run: follow the updates from the newest one (the events after the
			// position are read as they are now; those before were sent before).
			newest, err := s.o.Store.NewestEventUpdate(ctx)
			if err != nil {
				return err
			}
			err = s.o.Store.AdvanceForwardStream(ctx, d.ID, name, 0, newest, 0, s.o.Clock.Now())
			if err != nil {
				return ignoreMoved(err)
			}
			from.Position = newest
		}
		if name == StreamDevices {
			if err := s.markSilent(ctx); err != nil {
				return err
			}
		}
		if err := s.sendStream(ctx, d, name, filter, sink, from.Position, events); err != nil {
			return err
		}
	}
	return nil
}

// markSilent records the devices gone silent since it last looked, at most every silenceEvery
// (every destination taking the devices stream reads the same rows; the store records one
// silence once).
func (s *Service) markSilent(ctx context.Context) error {
	now := s.o.Clock.Now()
	s.mu.Lock()
	due := now.Sub(s.silenceAt) >= silenceEvery || now.Before(s.silenceAt)
	if due {
		s.silenceAt = now
	}
	s.mu.Unlock()
	if !due {
		return nil
	}
	_, err := s.o.Store.MarkSilentDevices(ctx, now.Add(-s.o.DeviceSilentAfter), now)
	return err
}

// ignoreMoved is nil for a position moved by another run (or a destination deleted meanwhile).
func ignoreMoved(err error) error {
	if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

// sendStream sends up to sideBatches batches of one side stream after from.
func (s *Service) sendStream(ctx context.Context, d store.ForwardDestination, name string, filter *search.Query, sink Sink, from, events int64) error {
	for range sideBatches {
		recs, last, err := s.readStream(ctx, name, d.Format, filter, from, events)
		if err != nil {
			return err
		}
		if last == from {
			return nil
		}
		if len(recs) > 0 {
			if err := sink.Send(ctx, recs); err != nil {
				return &streamError{stream: name, err: err}
			}
			if s.o.BeforeAdvance != nil {
				if err := s.o.BeforeAdvance(d.ID); err != nil {
					return err
				}
			}
		}
		err = s.o.Store.AdvanceForwardStream(ctx, d.ID, name, from, last, int64(len(recs)), s.o.Clock.Now())
		if err != nil {
			return ignoreMoved(err)
		}
		s.sent.Add(int64(len(recs)), d.Name)
		from = last
	}
	return nil
}

// streamError is a failed send of a side stream: the destination's error names the stream.
type streamError struct {
	stream string
	err    error
}

func (e *streamError) Error() string { return e.stream + " stream: " + e.err.Error() }
func (e *streamError) Unwrap() error { return e.err }

// readStream reads and formats the batch of stream after pos; last is the largest id it covers
// (pos when nothing is ready).
func (s *Service) readStream(ctx context.Context, stream, format string, filter *search.Query, pos, events int64) (recs []Record, last int64, err error) {
	last = pos
	switch stream {
	case store.ForwardUpdatesStream:
		seq, evs, err := s.o.Store.ListEventUpdates(ctx, pos, s.o.Batch)
		if err != nil {
			return nil, pos, err
		}
		for i := range evs {
			if evs[i].Event.ID > events || (filter != nil && !search.Match(*filter, &evs[i])) {
				continue
			}
			r, err := Format(format, s.o.Version, &evs[i])
			if err != nil {
				return nil, pos, err
			}
			r.Updated = true
			recs = append(recs, r)
		}
		last = seq
	case StreamAlerts:
		as, err := s.o.Store.ListAlerts(ctx, store.AlertFilter{Oldest: true, AfterID: pos, Limit: s.o.Batch})
		if err != nil {
			return nil, pos, err
		}
		for i := range as {
			r, err := FormatAlert(format, s.o.Version, &as[i])
			if err != nil {
				return nil, pos, err
			}
			recs, last = append(recs, r), as[i].ID
		}
	case StreamAudit:
		es, err := s.o.Store.ListAudit(ctx, store.AuditFilter{Oldest: true, AfterID: pos, Limit: s.o.Batch})
		if err != nil {
			return nil, pos, err
		}
		now := s.o.Clock.Now()
		for i := range es {
			e := &es[i]
			if now.Sub(e.At) < auditLag || (e.Outcome == store.AuditStarted && now.Sub(e.At) < auditSettle) {
				break // not settled: it and what follows wait
			}
			r, err := FormatAudit(format, s.o.Version, e)
			if err != nil {
				return nil, pos, err
			}
			recs, last = append(recs, r), e.ID
		}
	case StreamDevices:
		hs, err := s.o.Store.ListDeviceHealth(ctx, pos, s.o.Batch)
		if err != nil {
			return nil, pos, err
		}
		now := s.o.Clock.Now()
		for i := range hs {
			if now.Sub(hs[i].At) < auditLag {
				break // as the audit log: an id written a moment ago may have a smaller one still to show
			}
			r, err := FormatDeviceHealth(format, s.o.Version, &hs[i])
			if err != nil {
				return nil, pos, err
			}
			recs, last = append(recs, r), hs[i].ID
		}
	case StreamConnections:
		cs, err := s.o.Store.ListStatusChangesAfter(ctx, pos, s.o.Batch)
		if err != nil || len(cs) == 0 {
			return nil, pos, err
		}
		conns, err := s.o.Store.ListConnections(ctx)
		if err != nil {
			return nil, pos, err
		}
		byID := make(map[int64]*store.Connection, len(conns))
		for i := range conns {
			byID[conns[i].ID] = &conns[i]
		}
		now := s.o.Clock.Now()
		for i := range cs {
			if now.Sub(cs[i].At) < auditLag {
				break
			}
			r, err := FormatConnectionStatus(format, s.o.Version, &cs[i], byID[cs[i].ConnectionID])
			if err != nil {
				return nil, pos, err
			}
			recs, last = append(recs, r), cs[i].ID
		}
	default:
		return nil, pos, fmt.Errorf("forward: unknown stream %q", stream)
	}
	return recs, last, nil
}

// ---- alert and audit records ----

// AlertRecord is an alert in the json format.
type AlertRecord struct {
	Type         string    `json:"type"` // "alert"
	ID           int64     `json:"id"`
	RuleID       int64     `json:"rule_id"`
	RuleName     string    `json:"rule_name"`
	Person       string    `json:"person,omitempty"`
	Group        string    `json:"group,omitempty"`
	Severity     string    `json:"severity"`
	State        string    `json:"state"`
	Resolution   string    `json:"resolution,omitempty"`
	Assignee     string    `json:"assignee,omitempty"`
	Summary      string    `json:"summary,omitempty"`
	EventCount   int64     `json:"event_count"`
	FirstEventAt time.Time `json:"first_event_at,omitzero"`
	LastEventAt  time.Time `json:"last_event_at,omitzero"`
	CreatedAt    time.Time `json:"created_at"`
}

// AuditRecord is an audit entry in the json format.
type AuditRecord struct {
	Type     string          `json:"type"` // "audit"
	ID       int64           `json:"id"`
	At       time.Time       `json:"at"`
	Actor    string          `json:"actor"`
	Action   string          `json:"action"`
	Target   string          `json:"target,omitempty"`
	Details  json.RawMessage `json:"details,omitempty"`
	ClientIP string          `json:"client_ip,omitempty"`
	Outcome  string          `json:"outcome"`
}

// FormatAlert renders an alert in format f.
func FormatAlert(f, version string, a *store.Alert) (Record, error) {
	r := Record{ID: a.ID, Time: a.CreatedAt, Class: "alert", IDName: "alert_id"}
	var err error
	switch f {
	case FormatJSON:
		r.Body, err = json.Marshal(AlertRecord{Type: "alert", ID: a.ID, RuleID: a.RuleID, RuleName: a.RuleName, Person: a.Person, Group: a.GroupKey,
			Severity: a.Severity, State: a.State, Resolution: a.Resolution, Assignee: a.Assignee, Summary: a.Summary, EventCount: a.EventCount,
			FirstEventAt: a.FirstEventAt, LastEventAt: a.LastEventAt, CreatedAt: a.CreatedAt})
	case FormatCEF:
		r.Body = cefLine(version, "alert", a.RuleName, cefSeverity(event.Severity(a.Severity)), func(kv func(k, v string)) {
			kv("externalId", strconv.FormatInt(a.ID, 10))
			kv("rt", strconv.FormatInt(a.CreatedAt.UnixMilli(), 10))
			kv("cat", "alert")
			kv("suser", a.Person)
			kv("msg", a.Summary)
			kv("cnt", strconv.FormatInt(a.EventCount, 10))
			if !a.FirstEventAt.IsZero() {
				kv("start", strconv.FormatInt(a.FirstEventAt.UnixMilli(), 10))
			}
			if !a.LastEventAt.IsZero() {
				kv("end", strconv.FormatInt(a.LastEventAt.UnixMilli(), 10))
			}
			kv("cs1Label", "rule")
			kv("cs1", strconv.FormatInt(a.RuleID, 10))
			kv("cs2Label", "state")
			kv("cs2", a.State)
			if a.GroupKey != "" {
				kv("cs3Label", "group")
				kv("cs3", a.GroupKey)
			}
		})
	case FormatOCSF:
		o := OCSFAlert(version, a)
		r.Class = "detection_finding"
		r.Body, err = json.Marshal(o)
	default:
		err = fmt.Errorf("forward: unknown format %q (want json, cef or ocsf)", f)
	}
	return r, err
}

// FormatAudit renders an audit entry in format f.
func FormatAudit(f, version string, e *store.AuditEntry) (Record, error) {
	r := Record{ID: e.ID, Time: e.At, Class: "audit", IDName: "audit_id"}
	var err error
	switch f {
	case FormatJSON:
		rec := AuditRecord{Type: "audit", ID: e.ID, At: e.At, Actor: e.Actor, Action: e.Action, Target: e.Target, ClientIP: e.ClientIP, Outcome: e.Outcome}
		if json.Valid(e.Details) {
			rec.Details = e.Details
		}
		r.Body, err = json.Marshal(rec)
	case FormatCEF:
		sev, outcome := "3", "success"
		if e.Outcome != "ok" {
			sev, outcome = "5", "failure"
		}
		r.Body = cefLine(version, "audit:"+e.Action, e.Action, sev, func(kv func(k, v string)) {
			kv("externalId", strconv.FormatInt(e.ID, 10))
			kv("rt", strconv.FormatInt(e.At.UnixMilli(), 10))
			kv("cat", "audit")
			kv("act", e.Action)
			kv("suser", e.Actor)
			kv("src", e.ClientIP)
			kv("outcome", outcome)
			kv("reason", e.Outcome)
			kv("cs1Label", "target")
			kv("cs1", e.Target)
			if len(e.Details) > 0 && len(e.Details) <= 2048 {
				kv("cs2Label", "details")
				kv("cs2", string(e.Details))
			}
		})
	case FormatOCSF:
		o := OCSFAudit(version, e)
		r.Class = "api_activity"
		r.Body, err = json.Marshal(o)
	default:
		err = fmt.Errorf("forward: unknown format %q (want json, cef or ocsf)", f)
	}
	return r, err
}
