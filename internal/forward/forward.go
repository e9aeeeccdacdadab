// Package forward sends every stored file event to SIEM destinations (R8.7): Splunk's HTTP Event
// Collector (with indexer acknowledgement) and syslog (RFC 5424 over TCP with RFC 6587 octet
// counting, TLS, or UDP), as JSON (Telltale's event schema), CEF or OCSF 1.8.0 records.
//
// Forwarding is not an outbox: at tens of thousands of events a second a row per event and
// destination would double the store's writes. Each destination instead keeps a durable position
// over the event log, the same log the alert evaluator follows (events in id order, ids visible in
// commit order, store.EventQueries.ListEvents after an id). A work unit per destination
// (forward.send, key the destination id; one node sends, under the unit's lease) reads a batch
// after the position, formats it, sends it, and moves the position by compare-and-set only after
// the destination acknowledged the batch. A crash between the acknowledgement and the commit
// sends the batch again: delivery is at least once, and every record carries its event id (HEC
// index-time field event_id, syslog structured data telltale@32473 event_id, CEF externalId,
// OCSF metadata.uid, JSON event.id) so that a SIEM can drop the repeat. Memory is bounded by two
// batches (the one being sent and the next, read meanwhile) whatever the backlog.
//
// A failed batch is retried with backoff (1 s doubling to 5 minutes, ±20 % jitter, or the
// destination's Retry-After); the destination shows retrying, then failed after MaxFailures in a
// row or at once for an answer retrying cannot fix (a bad token), with the answer. A failed
// destination is still retried every 5 minutes, so nothing is skipped: events wait in the store
// until the destination takes them or an admin deletes it. See docs/INTEGRATIONS.md.
package forward

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/telltale-dev/telltale/internal/clock"
	"github.com/telltale-dev/telltale/internal/httpx"
	"github.com/telltale-dev/telltale/internal/metrics"
	"github.com/telltale-dev/telltale/internal/search"
	"github.com/telltale-dev/telltale/internal/secret"
	"github.com/telltale-dev/telltale/internal/store"
	"github.com/telltale-dev/telltale/internal/work"
)

// WorkForward is the work kind of a destination's sender; the key is the destination id.
const WorkForward = "forward.send"

// Destination kinds.
const (
	KindHEC    = "splunk_hec"
	KindSyslog = "syslog"
)

// MaxFailures failed batches in a row mark a destination failed (it is still retried).
const MaxFailures = 8

// ErrInvalid is wrapped by errors about what an admin entered.
var ErrInvalid = errors.New("invalid")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Settings are a destination's non-secret settings.
type Settings struct {
	// Splunk HEC
	URL        string `json:"url,omitempty"`   // the collector, e.g. https://splunk.example.com:8088
	Acks       bool   `json:"acks,omitempty"`  // indexer acknowledgement (the token must have it on)
	Index      string `json:"index,omitempty"` // optional
	Sourcetype string `json:"sourcetype,omitempty"`
	// syslog
	Address    string `json:"address,omitempty"`   // host:port
	Transport  string `json:"transport,omitempty"` // tcp, tls or udp
	ServerName string `json:"server_name,omitempty"`
	CAPEM      string `json:"ca_pem,omitempty"` // extra CA to trust for TLS (a certificate is not a secret)
	// Query, when set, forwards only the events it matches (the search language, docs/SEARCH.md).
	Query string `json:"query,omitempty"`
	// Streams are what the destination takes: events, alerts, audit, devices, connections
	// (default: events only).
	Streams []string `json:"streams,omitempty"`
}

// Secrets are a destination's secrets, sealed at rest and never returned.
type Secrets struct {
	Token string `json:"token,omitempty"` // the HEC token
}

// Input is what an admin enters to add or change a destination. A nil Secrets keeps the stored ones.
type Input struct {
	Name     string
	Kind     string
	Format   string
	Settings Settings
	Secrets  *Secrets
	// FromStart forwards the events already stored too (create only); default: from now on.
	FromStart bool
}

// View is a destination as shown: secrets only by name, and how far behind it is.
type View struct {
	store.ForwardDestination
	Config     Settings
	SecretsSet []string
	// Lag is how many event ids lie between the position and the newest event; LagAge how long the
	// oldest event not yet acknowledged has waited (0 when caught up).
	Lag    int64
	LagAge time.Duration
	// Streams are the positions over the alert and audit streams the destination takes.
	Streams map[string]store.ForwardStream
}

// Options configure a Service.
type Options struct {
	Store   store.Store
	Keyring *secret.Keyring
	Clock   clock.Clock  // default clock.Real
	Log     *slog.Logger // default discard
	Guard   *httpx.Guard // nil: refuses loopback and private addresses
	Metrics *metrics.Registry
	Version string // Telltale's version, in CEF headers and OCSF metadata
	Kick    func() // wakes the runner after a change; may be nil
	// Batch is how many events one send carries; default 2,000.
	Batch int
	// Budget is how long one run of a unit sends before yielding; default 10 s (as the alert
	// evaluator: a stopping node waits for a running unit at most about this long).
	Budget time.Duration
	// Idle is the poll interval while caught up; default 200 ms. Linger is how long a run keeps
	// polling once caught up before it gives its runner slot back; default 3 s (negative: none).
	Idle, Linger time.Duration
	// MaxBackoff caps the wait between failed batches; default 5 minutes.
	MaxBackoff time.Duration
	// OnAck, when set, is called after each acknowledged batch with its events' insert times (the
	// benchmark's delivery lag).
	OnAck func(dest int64, inserted []time.Time, at time.Time)
	// DeviceSilentAfter is how long an active device may go without a check-in before the devices
	// stream records it silent (the server's device-silent-after); default 24 hours.
	DeviceSilentAfter time.Duration
	// BeforeAdvance, when set, runs after a batch was acknowledged and before the position moves;
	// an error stops there (tests: a crash between the two).
	BeforeAdvance func(dest int64) error
}

// Service manages destinations and sends their events.
type Service struct {
	o       Options
	mu      sync.Mutex
	sinks   map[int64]cachedSink
	sent    metrics.Counter
	fails   metrics.Counter
	latency metrics.Histogram
	// silenceAt is when the devices stream last looked for silent devices (markSilent).
	silenceAt time.Time
}

type cachedSink struct {
	version int64
	sink    Sink
}

// New returns a Service.
func New(o Options) *Service {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Guard == nil {
		o.Guard = &httpx.Guard{}
	}
	if o.Metrics == nil {
		o.Metrics = metrics.New()
	}
	if o.DeviceSilentAfter <= 0 {
		o.DeviceSilentAfter = 24 * time.Hour
	}
	if o.Batch <= 0 {
		o.Batch = 2000
	}
	if o.Budget <= 0 {
		o.Budget = 10 * time.Second
	}
	if o.Idle <= 0 {
		o.Idle = 200 * time.Millisecond
	}
	if o.Linger == 0 {
		o.Linger = 3 * time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 5 * time.Minute
	}
	if o.Version == "" {
		o.Version = "dev"
	}
	return &Service{o: o, sinks: map[int64]cachedSink{},
		sent:  o.Metrics.Counter("telltale_forward_events_total", "Events acknowledged by SIEM destinations on this node.", "destination"),
		fails: o.Metrics.Counter("telltale_forward_failures_total", "Failed batches to SIEM destinations on this node.", "destination"),
		latency: o.Metrics.Histogram("telltale_forward_delay_seconds", "Time from an event's commit to its acknowledgement by a SIEM destination.",
			[]float64{.1, .25, .5, 1, 2, 5, 10, 30, 60, 300, 3600}, "destination"),
	}
}

// ---- administration ----

func (s *Service) validate(ctx context.Context, in *Input, sec Secrets) error {
	if !slices.Contains(Formats(), in.Format) {
		return invalid("format must be json, cef or ocsf")
	}
	st := &in.Settings
	if err := checkStreams(st); err != nil {
		return err
	}
	if st.Query != "" {
		if _, err := search.Parse(st.Query, s.o.Clock.Now()); err != nil {
			return invalid("query: %v", err)
		}
	}
	switch in.Kind {
	case KindHEC:
		st.Address, st.Transport, st.ServerName, st.CAPEM = "", "", "", ""
		st.URL = strings.TrimRight(strings.TrimSpace(st.URL), "/")
		if st.URL == "" {
			return invalid("url is required: the collector's base URL, e.g. https://splunk.example.com:8088")
		}
		if strings.Contains(st.URL, "/services/collector") {
			return invalid("url is the collector's base (https://host:8088), without /services/collector")
		}
		if err := s.o.Guard.CheckURLContext(ctx, st.URL); err != nil {
			return invalid("url: %v", err)
		}
		if sec.Token == "" {
			return invalid("token is required: the HEC token (Settings > Data inputs > HTTP Event Collector in Splunk)")
		}
	case KindSyslog:
		st.URL, st.Acks, st.Index, st.Sourcetype = "", false, "", ""
		if sec.Token != "" {
			return invalid("syslog takes no token")
		}
		switch st.Transport {
		case SyslogTCP, SyslogTLS, SyslogUDP:
		case "":
			st.Transport = SyslogTLS
		default:
			return invalid("transport must be tcp, tls or udp")
		}
		host, port, err := net.SplitHostPort(st.Address)
		if err != nil || host == "" {
			return invalid("address must be host:port, e.g. siem.example.com:6514")
		}
		if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
			return invalid("address: the port must be 1 to 65535")
		}
		if err := s.o.Guard.CheckURLContext(ctx, "http://"+net.JoinHostPort(host, port)); err != nil {
			return invalid("address: %v", err)
		}
		if st.CAPEM != "" && !strings.Contains(st.CAPEM, "-----BEGIN CERTIFICATE-----") {
			return invalid("ca_pem must be PEM certificates (-----BEGIN CERTIFICATE-----)")
		}
		if len(st.CAPEM) > 64<<10 {
			return invalid("ca_pem is longer than 64 KiB")
		}
	default:
		return invalid("kind must be splunk_hec or syslog")
	}
	return nil
}

func (s *Service) secrets(d store.ForwardDestination) (Secrets, error) {
	var sec Secrets
	if len(d.Secrets) == 0 {
		return sec, nil
	}
	b, err := s.o.Keyring.Open(d.Secrets)
	if err != nil {
		return sec, fmt.Errorf("forward destination %d: opening its secrets: %w", d.ID, err)
	}
	return sec, json.Unmarshal(b, &sec)
}

func (s *Service) seal(sec Secrets) ([]byte, error) {
	if sec == (Secrets{}) {
		return nil, nil
	}
	b, _ := json.Marshal(sec)
	return s.o.Keyring.Seal(b)
}

func (s *Service) view(ctx context.Context, d store.ForwardDestination) (View, error) {
	v := View{ForwardDestination: d}
	v.Secrets = nil
	if len(d.Settings) > 0 {
		if err := json.Unmarshal(d.Settings, &v.Config); err != nil {
			return v, fmt.Errorf("forward destination %d: settings: %w", d.ID, err)
		}
	}
	sec, err := s.secrets(d)
	if err != nil {
		return v, err
	}
	if sec.Token != "" {
		v.SecretsSet = []string{"token"}
	}
	if len(v.Config.Streams) > 0 {
		all, err := s.o.Store.ListForwardStreams(ctx, d.ID)
		if err != nil {
			return v, err
		}
		v.Streams = map[string]store.ForwardStream{}
		for _, name := range v.Config.Streams {
			if name != StreamEvents {
				v.Streams[name] = all[name]
			}
		}
	}
	newest, err := s.o.Store.NewestEventID(ctx)
	if err != nil {
		return v, err
	}
	v.Lag = max(0, newest-d.Position)
	if v.Lag > 0 {
		evs, err := s.o.Store.ListEvents(ctx, store.EventFilter{AfterID: d.Position, Limit: 1})
		if err != nil {
			return v, err
		}
		if len(evs) > 0 && !evs[0].Event.Inserted.IsZero() {
			v.LagAge = max(0, s.o.Clock.Now().Sub(evs[0].Event.Inserted))
		}
	}
	return v, nil
}

func key(id int64) string { return strconv.FormatInt(id, 10) }

func (s *Service) schedule(ctx context.Context, id int64) error {
	if _, err := s.o.Store.ScheduleWork(ctx, store.Work{Kind: WorkForward, Key: key(id), NextRunAt: s.o.Clock.Now()}); err != nil {
		return err
	}
	if s.o.Kick != nil {
		s.o.Kick()
	}
	return nil
}

// Create adds a destination; it forwards the events stored from now on (or all, FromStart).
func (s *Service) Create(ctx context.Context, in Input, actor string) (View, error) {
	in.Name = strings.TrimSpace(in.Name)
	if in.Name == "" || len(in.Name) > 200 {
		return View{}, invalid("name is required (at most 200 characters)")
	}
	var sec Secrets
	if in.Secrets != nil {
		sec = *in.Secrets
	}
	if err := s.validate(ctx, &in, sec); err != nil {
		return View{}, err
	}
	st, _ := json.Marshal(in.Settings)
	sealed, err := s.seal(sec)
	if err != nil {
		return View{}, err
	}
	var pos int64
	if !in.FromStart {
		if pos, err = s.o.Store.NewestEventID(ctx); err != nil {
			return View{}, err
		}
	}
	d, err := s.o.Store.CreateForwardDestination(ctx, store.ForwardDestination{Name: in.Name, Kind: in.Kind, Format: in.Format,
		Settings: st, Secrets: sealed, Position: pos, CreatedAt: s.o.Clock.Now().UTC(), CreatedBy: actor})
	if err != nil {
		return View{}, err
	}
	if err := s.schedule(ctx, d.ID); err != nil {
		return View{}, err
	}
	return s.view(ctx, d)
}

// Update changes a destination's name, format, settings and (when given) secrets at version.
func (s *Service) Update(ctx context.Context, id, version int64, in Input) (View, error) {
	cur, err := s.o.Store.GetForwardDestination(ctx, id)
	if err != nil {
		return View{}, err
	}
	if version != 0 && version != cur.Version {
		return View{}, fmt.Errorf("forward destination %d changed since version %d: %w", id, version, store.ErrConflict)
	}
	sec, err := s.secrets(cur)
	if err != nil {
		return View{}, err
	}
	if in.Secrets != nil {
		sec = *in.Secrets
	}
	if in.Name = strings.TrimSpace(in.Name); in.Name == "" {
		in.Name = cur.Name
	}
	if in.Format == "" {
		in.Format = cur.Format
	}
	in.Kind = cur.Kind
	if err := s.validate(ctx, &in, sec); err != nil {
		return View{}, err
	}
	cur.Name, cur.Format = in.Name, in.Format
	cur.Settings, _ = json.Marshal(in.Settings)
	if cur.Secrets, err = s.seal(sec); err != nil {
		return View{}, err
	}
	cur.UpdatedAt = s.o.Clock.Now().UTC()
	up, err := s.o.Store.UpdateForwardDestination(ctx, cur)
	if err != nil {
		return View{}, err
	}
	if err := s.schedule(ctx, id); err != nil {
		return View{}, err
	}
	return s.view(ctx, up)
}

// SetPaused pauses or resumes a destination. A paused destination keeps its position: events wait.
func (s *Service) SetPaused(ctx context.Context, id int64, paused bool) (View, error) {
	cur, err := s.o.Store.GetForwardDestination(ctx, id)
	if err != nil {
		return View{}, err
	}
	cur.Paused = paused
	cur.UpdatedAt = s.o.Clock.Now().UTC()
	up, err := s.o.Store.UpdateForwardDestination(ctx, cur)
	if err != nil {
		return View{}, err
	}
	if err := s.schedule(ctx, id); err != nil {
		return View{}, err
	}
	return s.view(ctx, up)
}

// Get returns one destination.
func (s *Service) Get(ctx context.Context, id int64) (View, error) {
	d, err := s.o.Store.GetForwardDestination(ctx, id)
	if err != nil {
		return View{}, err
	}
	return s.view(ctx, d)
}

// List returns every destination.
func (s *Service) List(ctx context.Context) ([]View, error) {
	ds, err := s.o.Store.ListForwardDestinations(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]View, 0, len(ds))
	for _, d := range ds {
		v, err := s.view(ctx, d)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// Delete removes a destination and its unit.
func (s *Service) Delete(ctx context.Context, id int64) error {
	if err := s.o.Store.DeleteForwardDestination(ctx, id); err != nil {
		return err
	}
	s.dropSink(id)
	if err := s.o.Store.DeleteWork(ctx, WorkForward, key(id)); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return nil
}

// Test checks that the destination answers and accepts the credentials, without sending an event.
func (s *Service) Test(ctx context.Context, id int64) error {
	d, err := s.o.Store.GetForwardDestination(ctx, id)
	if err != nil {
		return err
	}
	sink, err := s.newSink(d)
	if err != nil {
		return err
	}
	defer sink.Close()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	return sink.Check(ctx)
}

// ---- sending ----

func (s *Service) newSink(d store.ForwardDestination) (Sink, error) {
	var st Settings
	if len(d.Settings) > 0 {
		if err := json.Unmarshal(d.Settings, &st); err != nil {
			return nil, fmt.Errorf("forward destination %d: settings: %w", d.ID, err)
		}
	}
	sec, err := s.secrets(d)
	if err != nil {
		return nil, err
	}
	switch d.Kind {
	case KindHEC:
		return NewHEC(HECOptions{URL: st.URL, Token: sec.Token, Acks: st.Acks, Index: st.Index, Sourcetype: st.Sourcetype, Guard: s.o.Guard}), nil
	case KindSyslog:
		return NewSyslog(SyslogOptions{Address: st.Address, Transport: st.Transport, ServerName: st.ServerName, CA: []byte(st.CAPEM), Guard: s.o.Guard}), nil
	}
	return nil, fmt.Errorf("forward destination %d: unknown kind %q", d.ID, d.Kind)
}

// sink returns the destination's open sink, made anew when its configuration changed.
func (s *Service) sink(d store.ForwardDestination) (Sink, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.sinks[d.ID]; ok {
		if c.version == d.Version {
			return c.sink, nil
		}
		c.sink.Close()
		delete(s.sinks, d.ID)
	}
	sk, err := s.newSink(d)
	if err != nil {
		return nil, err
	}
	s.sinks[d.ID] = cachedSink{version: d.Version, sink: sk}
	return sk, nil
}

func (s *Service) dropSink(id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.sinks[id]; ok {
		c.sink.Close()
		delete(s.sinks, id)
	}
}

// Close closes the open connections.
func (s *Service) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, c := range s.sinks {
		c.sink.Close()
		delete(s.sinks, id)
	}
}

// Register adds the sending handler to the runner.
func (s *Service) Register(r *work.Runner) { r.Handle(WorkForward, s.Run) }

// EnsureUnits makes sure every destination has its unit (at start).
func (s *Service) EnsureUnits(ctx context.Context) error {
	ds, err := s.o.Store.ListForwardDestinations(ctx)
	if err != nil {
		return err
	}
	for _, d := range ds {
		if _, err := s.o.Store.EnsureWork(ctx, store.Work{Kind: WorkForward, Key: key(d.ID), NextRunAt: s.o.Clock.Now()}); err != nil {
			return err
		}
	}
	return nil
}

// batch is a batch read and formatted ahead of sending.
type batch struct {
	last     int64 // the largest event id read (the new position)
	recs     []Record
	inserted []time.Time
	err      error
}

// Run is the unit's handler: it sends batches until caught up (then polls for Linger), its
// Budget is spent, or a batch fails.
func (s *Service) Run(ctx context.Context, w store.Work) (time.Time, error) {
	id, err := strconv.ParseInt(w.Key, 10, 64)
	if err != nil {
		return time.Time{}, nil // not ours: drop the unit
	}
	d, err := s.o.Store.GetForwardDestination(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		s.dropSink(id)
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, err
	}
	if d.Paused {
		s.dropSink(id)
		return s.o.Clock.Now().Add(time.Hour), nil // resuming schedules the unit at once
	}
	sink, err := s.sink(d)
	if err != nil {
		return time.Time{}, err
	}
	var st Settings
	_ = json.Unmarshal(d.Settings, &st)
	var filter *search.Query
	if st.Query != "" {
		q, err := search.Parse(st.Query, s.o.Clock.Now())
		if err == nil {
			// actor: terms mean the person under every address, as in a search; an alias
			// added or removed applies from the destination's next run.
			q, err = search.ExpandActors(q, func(a string) ([]string, error) { return store.PersonAddresses(ctx, s.o.Store, a) })
		}
		var se *search.Error
		if errors.As(err, &se) {
			return s.failed(ctx, d, permanent("query: %v: change the destination's query", err))
		}
		if err != nil {
			return time.Time{}, err
		}
		filter = &q
	}
	name := d.Name
	// The alert and audit streams first, then whenever the file events are caught up.
	if err := s.sendStreams(ctx, d, st, filter, sink, d.Position); err != nil {
		return s.sideFailed(ctx, d, err)
	}
	if !slices.Contains(streamsOf(st), StreamEvents) {
		return s.o.Clock.Now().Add(s.o.Idle), nil
	}
	start := time.Now()
	caughtUp := time.Time{}
	pos := d.Position
	next := s.read(ctx, d.Format, pos, filter)
	for {
		b := <-next
		if b.err != nil {
			return time.Time{}, b.err
		}
		if b.last == pos { // nothing new
			if err := s.sendStreams(ctx, d, st, filter, sink, pos); err != nil {
				return s.sideFailed(ctx, d, err)
			}
			if s.o.Linger < 0 {
				return s.o.Clock.Now().Add(s.o.Idle), nil
			}
			if caughtUp.IsZero() {
				caughtUp = time.Now()
			}
			if time.Since(caughtUp) >= s.o.Linger || time.Since(start) >= s.o.Budget {
				return s.o.Clock.Now().Add(s.o.Idle), nil
			}
			t := time.NewTimer(s.o.Idle)
			select {
			case <-ctx.Done():
				t.Stop()
				return time.Time{}, ctx.Err()
			case <-t.C:
			}
			next = s.read(ctx, d.Format, pos, filter)
			continue
		}
		caughtUp = time.Time{}
		// Read and format the next batch while this one is sent: two batches in memory at most.
		ahead := s.read(ctx, d.Format, b.last, filter)
		if len(b.recs) > 0 {
			if err := sink.Send(ctx, b.recs); err != nil {
				<-ahead
				if ctx.Err() != nil {
					return time.Time{}, ctx.Err()
				}
				s.fails.Inc(name)
				return s.failed(ctx, d, err)
			}
		}
		if s.o.BeforeAdvance != nil {
			if err := s.o.BeforeAdvance(id); err != nil {
				<-ahead
				return time.Time{}, err
			}
		}
		now := s.o.Clock.Now()
		err := s.o.Store.AdvanceForwardPosition(ctx, id, pos, b.last, int64(len(b.recs)), now)
		if err != nil {
			<-ahead
			if errors.Is(err, store.ErrNotFound) {
				return time.Time{}, nil
			}
			if errors.Is(err, store.ErrConflict) {
				// Another node moved it (a lease lost while paused) or an admin deleted and re-added:
				// start again from what is stored.
				return now, nil
			}
			return time.Time{}, err
		}
		d.Failures, d.State, d.LastError = 0, store.ForwardOK, ""
		s.sent.Add(int64(len(b.recs)), name)
		at := time.Now()
		for _, ins := range b.inserted {
			if !ins.IsZero() {
				s.latency.Observe(max(0, at.Sub(ins).Seconds()), name)
			}
		}
		if s.o.OnAck != nil {
			s.o.OnAck(id, b.inserted, at)
		}
		pos = b.last
		next = ahead
		if time.Since(start) >= s.o.Budget {
			<-next
			return s.o.Clock.Now(), nil // more may be due: yield, run again at once
		}
	}
}

// read lists and formats the batch after pos in the background.
func (s *Service) read(ctx context.Context, format string, pos int64, filter *search.Query) <-chan batch {
	out := make(chan batch, 1)
	go func() {
		evs, err := s.o.Store.ListEvents(ctx, store.EventFilter{AfterID: pos, Limit: s.o.Batch})
		if err != nil {
			out <- batch{err: err}
			return
		}
		b := batch{last: pos}
		if len(evs) > 0 {
			b.last = evs[len(evs)-1].Event.ID
		}
		keep := evs[:0]
		for i := range evs {
			if filter == nil || search.Match(*filter, &evs[i]) {
				keep = append(keep, evs[i])
			}
		}
		// Format in two halves side by side (formatting is a third of the forwarder's CPU).
		b.recs, b.inserted = make([]Record, len(keep)), make([]time.Time, len(keep))
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for p := range 2 {
			lo, hi := p*len(keep)/2, (p+1)*len(keep)/2
			wg.Go(func() {
				for i := lo; i < hi; i++ {
					r, err := Format(format, s.o.Version, &keep[i])
					if err != nil {
						errs[p] = err
						return
					}
					b.recs[i], b.inserted[i] = r, keep[i].Event.Inserted
				}
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			out <- batch{err: err}
			return
		}
		out <- b
	}()
	return out
}

// sideFailed handles an error of sendStreams: a failed send is recorded as any failed batch;
// another error (the store) is the run's.
func (s *Service) sideFailed(ctx context.Context, d store.ForwardDestination, err error) (time.Time, error) {
	var se *streamError
	if !errors.As(err, &se) {
		return time.Time{}, err
	}
	if ctx.Err() != nil {
		return time.Time{}, ctx.Err()
	}
	s.fails.Inc(d.Name)
	return s.failed(ctx, d, err)
}

// failed records a failed batch and says when to try again.
func (s *Service) failed(ctx context.Context, d store.ForwardDestination, err error) (time.Time, error) {
	s.dropSink(d.ID) // a broken connection or channel is made anew
	failures := d.Failures + 1
	state := store.ForwardRetrying
	if isPermanent(err) || failures >= MaxFailures {
		state = store.ForwardFailed
	}
	wait := time.Second << min(failures-1, 20)
	wait = min(wait, s.o.MaxBackoff)
	if isPermanent(err) {
		wait = s.o.MaxBackoff
	}
	wait -= time.Duration(rand.Int64N(int64(wait)/5 + 1))
	var se *SendError
	if errors.As(err, &se) && se.RetryAfter > wait {
		wait = min(se.RetryAfter, time.Hour)
	}
	msg := err.Error()
	if len(msg) > 1000 {
		msg = msg[:1000] + "…"
	}
	now := s.o.Clock.Now()
	if e := s.o.Store.SetForwardFailure(ctx, d.ID, state, failures, msg, now); e != nil && !errors.Is(e, store.ErrNotFound) {
		return time.Time{}, e
	}
	s.o.Log.Warn("forward: a batch failed", "destination", d.ID, "state", state, "failures", failures, "retry_in", wait, "err", msg)
	return now.Add(wait), nil
}
