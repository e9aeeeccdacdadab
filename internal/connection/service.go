package connection

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/internal/clock"
	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/store"
	"github.com/telltale-dev/telltale/internal/textcheck"
)

// MaxNameLength is the longest display name, in characters.
const MaxNameLength = 100

// DefaultRetention is the retention of deauthorized connections when Options.Retention is nil (R1.8).
const DefaultRetention = 90 * 24 * time.Hour

// SystemActor is the actor of transitions Telltale makes by itself.
const SystemActor = "system"

// maxRetries bounds the compare-and-set retries of one transition.
const maxRetries = 5

// purgeBatch is how many events one DeleteConnectionEvents call removes.
const purgeBatch = 5000

// Products are the services Telltale is built to connect (R1.2), in the order the product lists
// them. What a service is (cloud or email, its drive limit) is its connector's to declare, and
// reaches this package through Options.Services; this list only lets a message tell a service whose
// connector is not built yet from a misspelt one.
var Products = []string{"box", "google_drive", "onedrive", "gmail", "microsoft365_mail"}

// ServiceInfo is what the connection lifecycle needs to know of a service, from its connector's spec.
type ServiceInfo struct {
	Type       string // Cloud or Email: which statuses apply (R1.5)
	DriveLimit int    // default drive limit per connection (R1.9); 0: none
}

// ServicesOf is what connectors' specs declare, as Options.Services.
func ServicesOf(specs ...connector.Spec) map[string]ServiceInfo {
	out := make(map[string]ServiceInfo, len(specs))
	for _, sp := range specs {
		out[sp.Service] = ServiceInfo{Type: sp.ServiceType, DriveLimit: sp.DriveLimit}
	}
	return out
}

// Limits are the configurable limits of connections.
type Limits struct {
	// Drives overrides the drive limit of services (--drive-limit-*); a missing or non-positive
	// entry uses the service's own (ServiceInfo.DriveLimit).
	Drives map[string]int
}

// Options configure a Service.
type Options struct {
	Store store.Store
	Clock clock.Clock  // nil: clock.Real
	Log   *slog.Logger // nil: slog.Default
	// Retention returns how long a deauthorized connection is kept; nil: DefaultRetention.
	Retention func(ctx context.Context) time.Duration
	Limits    Limits
	// Services are the services connections may be made for, keyed by name: each connector's
	// spec declares its own (app builds this from the registry).
	Services map[string]ServiceInfo
}

// Service applies the connection rules to the store. It is safe for concurrent use: every
// transition is one transaction with a compare-and-set on the connection's Version.
type Service struct {
	st        store.Store
	clock     clock.Clock
	log       *slog.Logger
	retention func(ctx context.Context) time.Duration
	limits    Limits
	services  map[string]ServiceInfo
}

// NewService returns a Service.
func NewService(o Options) *Service {
	s := &Service{st: o.Store, clock: o.Clock, log: o.Log, retention: o.Retention, limits: o.Limits, services: o.Services}
	if s.clock == nil {
		s.clock = clock.Real{}
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.retention == nil {
		s.retention = func(context.Context) time.Duration { return DefaultRetention }
	}
	return s
}

// NewConnection is what an admin enters to add a connection.
type NewConnection struct {
	Name        string
	Service     string
	TenantID    string
	ScopeKind   string // all (default), users, groups
	Scope       []store.ScopeEntry
	Settings    []byte
	Credentials []byte // sealed
}

// Resume is what may change when a deauthorized connection resumes (R1.7).
type Resume struct {
	// ScopeKind, when not empty, replaces the scope kind and the scope entries with Scope.
	ScopeKind string
	Scope     []store.ScopeEntry
	// Credentials, when not nil, replace the stored (sealed) credentials; nil keeps them.
	Credentials []byte
}

func checkName(name string) (string, error) {
	n := strings.TrimSpace(name)
	if n == "" {
		return "", invalidField("name", "the display name is required: enter a name that tells this connection apart")
	}
	if p := textcheck.Label(n, MaxNameLength); p != "" {
		return "", invalidField("name", "the display name %s", p)
	}
	return n, nil
}

func nameTaken(name string) error {
	return &kindError{msg: fmt.Sprintf("a connection named %q already exists: choose another display name", name), kind: store.ErrConflict, field: "name"}
}

func (s *Service) validServices() string {
	names := make([]string, 0, len(s.services))
	for k := range s.services {
		names = append(names, k)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// Create adds a connection in status Searching, records who added it as the first history entry and
// stores its scope. A duplicate display name gives an error matching store.ErrConflict. When another
// live connection already registers the same vendor tenant, the connection is created and moved to
// Error saying which connection holds the tenant (R1.5).
func (s *Service) Create(ctx context.Context, nc NewConnection, actor string) (store.Connection, error) {
	name, err := checkName(nc.Name)
	if err != nil {
		return store.Connection{}, err
	}
	info, ok := s.services[nc.Service]
	if !ok {
		return store.Connection{}, invalidField("service", "service %q has no connector: choose one of %s", nc.Service, s.validServices())
	}
	stype := info.Type
	kind := nc.ScopeKind
	if kind == "" {
		kind = "all"
	}
	switch kind {
	case "all", "users", "groups":
	default:
		return store.Connection{}, invalidField("scope.kind", "scope kind %q is not valid: choose all, users or groups", kind)
	}
	tenant := strings.TrimSpace(nc.TenantID)
	var out store.Connection
	err = s.st.InTx(ctx, func(q store.Queries) error {
		now := s.clock.Now()
		c, err := q.CreateConnection(ctx, store.Connection{
			Name: name, Service: nc.Service, ServiceType: stype, Status: string(Searching), ScopeKind: kind,
			TenantID: tenant, Settings: nc.Settings, Credentials: nc.Credentials, CreatedAt: now, CreatedBy: actor, UpdatedAt: now,
		})
		if errors.Is(err, store.ErrConflict) {
			return nameTaken(name)
		}
		if err != nil {
			return err
		}
		if _, err := q.AppendStatusChange(ctx, store.StatusChange{ConnectionID: c.ID, At: now, To: string(Searching), Actor: actor, Reason: "connection added"}); err != nil {
			return err
		}
		if err := q.ReplaceScope(ctx, c.ID, withConnection(c.ID, nc.Scope)); err != nil {
			return err
		}
		if tenant != "" {
			all, err := q.ListConnections(ctx)
			if err != nil {
				return err
			}
			for _, o := range all {
				st := Status(o.Status)
				if o.ID == c.ID || o.Service != c.Service || o.TenantID != tenant || st == Deauthorized || st == Deleting {
					continue
				}
				reason := fmt.Sprintf("this %s tenant %s is already registered in connection %q", c.Service, tenant, o.Name)
				c.Status, c.ErrorReason = string(Error), reason
				if c, err = q.UpdateConnection(ctx, c); err != nil {
					return err
				}
				if _, err := q.AppendStatusChange(ctx, store.StatusChange{ConnectionID: c.ID, At: now, From: string(Searching), To: string(Error), Actor: SystemActor, Reason: reason}); err != nil {
					return err
				}
				break
			}
		}
		out = c
		return nil
	})
	if err != nil {
		return store.Connection{}, err
	}
	s.log.Info("connection added", "id", out.ID, "name", out.Name, "service", out.Service, "status", out.Status, "actor", actor)
	return out, nil
}

func withConnection(id int64, entries []store.ScopeEntry) []store.ScopeEntry {
	out := make([]store.ScopeEntry, len(entries))
	for i, e := range entries {
		e.ConnectionID = id
		out[i] = e
	}
	return out
}

// errNoChange tells mutate that fn left the connection as it was: nothing is written.
var errNoChange = errors.New("no change")

// mutate runs one transaction that reads the connection, lets fn change it (and write other rows
// through q), writes it with a compare-and-set and, when the status changed, appends a history entry
// with actor and the reason fn returns. A lost compare-and-set is retried with the re-read row.
func (s *Service) mutate(ctx context.Context, id int64, actor string, fn func(q store.Queries, c *store.Connection) (reason string, err error)) (store.Connection, error) {
	var out store.Connection
	for attempt := 1; ; attempt++ {
		var used int64
		raced := false
		err := s.st.InTx(ctx, func(q store.Queries) error {
			c, err := q.GetConnection(ctx, id)
			if err != nil {
				return fmt.Errorf("connection %d: %w", id, err)
			}
			used = c.Version
			from := c.Status
			next := c
			reason, err := fn(q, &next)
			if errors.Is(err, errNoChange) {
				out = c
				return nil
			}
			if err != nil {
				return err
			}
			u, err := q.UpdateConnection(ctx, next)
			if err != nil {
				if errors.Is(err, store.ErrConflict) {
					raced = true
				}
				return err
			}
			if u.Status != from {
				if _, err := q.AppendStatusChange(ctx, store.StatusChange{ConnectionID: id, At: s.clock.Now(), From: from, To: u.Status, Actor: actor, Reason: reason}); err != nil {
					return err
				}
			}
			out = u
			return nil
		})
		if err == nil {
			return out, nil
		}
		if !raced || attempt >= maxRetries {
			return store.Connection{}, err
		}
		// A compare-and-set conflict retries only when another writer changed the row meanwhile;
		// otherwise the conflict is a constraint (a taken name) and is returned.
		cur, gerr := s.st.GetConnection(ctx, id)
		if gerr != nil || cur.Version == used {
			return store.Connection{}, err
		}
	}
}

// Rename changes the display name (trimmed, required, unique).
func (s *Service) Rename(ctx context.Context, id int64, name, actor string) (store.Connection, error) {
	n, err := checkName(name)
	if err != nil {
		return store.Connection{}, err
	}
	c, err := s.mutate(ctx, id, actor, func(_ store.Queries, c *store.Connection) (string, error) {
		c.Name = n
		return "", nil
	})
	if errors.Is(err, store.ErrConflict) {
		return c, nameTaken(n)
	}
	return c, err
}

// Deauthorize stops collection: the connection moves to Deauthorizing (R1.6 refusals apply).
func (s *Service) Deauthorize(ctx context.Context, id int64, actor string) (store.Connection, error) {
	return s.Apply(ctx, id, ActionDeauthorize, actor, "deauthorized by an admin")
}

// Resume re-runs setup of a deauthorized connection: it moves to Searching, optionally with a new
// scope and credentials (nil credentials keep the old ones), and its error and deauthorization time
// are cleared. The creation time and first history entry are kept (R1.4, R1.7).
func (s *Service) Resume(ctx context.Context, id int64, actor string, r Resume) (store.Connection, error) {
	if r.ScopeKind != "" {
		switch r.ScopeKind {
		case "all", "users", "groups":
		default:
			return store.Connection{}, invalidField("scope.kind", "scope kind %q is not valid: choose all, users or groups", r.ScopeKind)
		}
	}
	return s.mutate(ctx, id, actor, func(q store.Queries, c *store.Connection) (string, error) {
		to, err := Check(Status(c.Status), ActionResume, c.ServiceType)
		if err != nil {
			return "", err
		}
		reason := "resumed by an admin"
		if r.ScopeKind != "" {
			if err := q.ReplaceScope(ctx, c.ID, withConnection(c.ID, r.Scope)); err != nil {
				return "", err
			}
			c.ScopeKind = r.ScopeKind
			reason += fmt.Sprintf(" with scope %s (%d entries)", r.ScopeKind, len(r.Scope))
		}
		if r.Credentials != nil {
			c.Credentials = r.Credentials
			reason += ", credentials replaced"
		}
		c.Status, c.ErrorReason, c.DeauthorizedAt, c.PrevStatus = string(to), "", time.Time{}, ""
		return reason, nil
	})
}

// ReplaceScope replaces the scope kind and entries. It is allowed only while the connection is
// deauthorized (R1.7, R2): scope changes are done by deauthorize, upload, resume.
func (s *Service) ReplaceScope(ctx context.Context, id int64, actor, kind string, entries []store.ScopeEntry) (store.Connection, error) {
	switch kind {
	case "all", "users", "groups":
	default:
		return store.Connection{}, invalidField("scope.kind", "scope kind %q is not valid: choose all, users or groups", kind)
	}
	return s.mutate(ctx, id, actor, func(q store.Queries, c *store.Connection) (string, error) {
		if _, err := Check(Status(c.Status), ActionResume, c.ServiceType); err != nil {
			return "", refused("the scope can change only while the connection is deauthorized: deauthorize it, upload the new scope, then resume (R1.7)")
		}
		if err := q.ReplaceScope(ctx, c.ID, withConnection(c.ID, entries)); err != nil {
			return "", err
		}
		c.ScopeKind = kind
		return "", nil
	})
}

// StartMaintenance moves the connection to Maintenance, remembering its status to return to. Events
// collected meanwhile are stored held (see Held) and appear when maintenance ends.
func (s *Service) StartMaintenance(ctx context.Context, id int64, actor string) (store.Connection, error) {
	return s.Apply(ctx, id, ActionStartMaintenance, actor, "maintenance started by an admin")
}

// EndMaintenance returns the connection to its status before maintenance and releases the events
// held meanwhile, in one transaction.
func (s *Service) EndMaintenance(ctx context.Context, id int64, actor string) (store.Connection, error) {
	return s.Apply(ctx, id, ActionEndMaintenance, actor, "maintenance ended by an admin")
}

// Held reports whether events collected through c now must be stored held (withheld from search).
func (s *Service) Held(c store.Connection) bool {
	return Status(c.Status) == Maintenance
}

// unpushGrace is how long a deleted connection waits for its push subscriptions to be removed at
// the vendor before it is purged anyway.
const unpushGrace = 7 * 24 * time.Hour

// deletingSince is when the connection's deletion began (its last move to Deleting).
func (s *Service) deletingSince(ctx context.Context, id int64) (time.Time, error) {
	hist, err := s.st.ListStatusChanges(ctx, id)
	if err != nil {
		return time.Time{}, err
	}
	for i := len(hist) - 1; i >= 0; i-- {
		if Status(hist[i].To) == Deleting {
			return hist[i].At, nil
		}
	}
	return s.clock.Now(), nil
}

// Delete deletes a deauthorized connection and everything collected through it before retention
// would: it moves to Deleting, then is purged. A purge cut short is finished by RunRetention.
// While ingest still removes its push subscriptions at the vendor, the purge waits (RunRetention
// finishes it).
func (s *Service) Delete(ctx context.Context, id int64, actor string) error {
	if _, err := s.Apply(ctx, id, ActionDelete, actor, "deleted by an admin"); err != nil {
		return err
	}
	return s.purge(ctx, id)
}

// Apply performs action a on the connection with a history entry by actor with reason. It serves
// system transitions (discovered, indexed, new_drives, fail, recover, deauthorized,
// retention_expired) as well as the admin ones. Reaching Deauthorized records DeauthorizedAt; fail
// records reason as the ErrorReason; leaving Error clears it; ending maintenance returns to the
// previous status and releases held events.
func (s *Service) Apply(ctx context.Context, id int64, a Action, actor, reason string) (store.Connection, error) {
	if a == ActionResume {
		return s.Resume(ctx, id, actor, Resume{})
	}
	if reason == "" {
		reason = verb(a)
	}
	c, err := s.mutate(ctx, id, actor, func(q store.Queries, c *store.Connection) (string, error) {
		from := Status(c.Status)
		to, err := Check(from, a, c.ServiceType)
		if err != nil {
			return "", err
		}
		switch a {
		case ActionStartMaintenance:
			c.PrevStatus = string(from)
		case ActionEndMaintenance:
			if c.PrevStatus != "" {
				to = Status(c.PrevStatus)
			}
			c.PrevStatus = ""
			if _, err := q.ReleaseHeld(ctx, c.ID); err != nil {
				return "", err
			}
		case ActionDeauthorized:
			c.DeauthorizedAt = s.clock.Now()
		case ActionFail:
			c.ErrorReason = reason
		}
		switch to {
		case Searching, Indexing, Monitoring:
			c.ErrorReason = "" // the cause is gone; Maintenance and deauthorization keep the reason
		}
		c.Status = string(to)
		return reason, nil
	})
	if err != nil {
		return c, err
	}
	s.log.Info("connection status changed", "id", c.ID, "action", string(a), "status", c.Status, "actor", actor, "reason", reason)
	return c, nil
}

// DriveLimit returns the drive limit of a service, 0 when it has none.
func (s *Service) DriveLimit(service string) int {
	if n := s.limits.Drives[service]; n > 0 {
		return n
	}
	return s.services[service].DriveLimit
}

// DriveLimitMessage is the message shown when a connection has more drives than max (R1.9).
func DriveLimitMessage(max int) string {
	return fmt.Sprintf("The number of supported user drives (%d) for this connector has been exceeded. Deauthorize the connector and reauthorize with fewer than %d drives.", max, max)
}

// CheckDriveLimit counts the connection's in-scope drives against its service's limit. When the
// limit is exceeded it sets ErrorReason to DriveLimitMessage and moves the connection to Error
// (when its status allows a failure; a connection already in Error gets the message as its
// reason), and returns exceeded true with the message.
func (s *Service) CheckDriveLimit(ctx context.Context, id int64) (exceeded bool, msg string, err error) {
	c, err := s.st.GetConnection(ctx, id)
	if err != nil {
		return false, "", fmt.Errorf("connection %d: %w", id, err)
	}
	limit := s.DriveLimit(c.Service)
	if limit <= 0 {
		return false, "", nil
	}
	n, err := s.st.CountDrives(ctx, id)
	if err != nil {
		return false, "", err
	}
	if n.Total <= int64(limit) {
		return false, "", nil
	}
	msg = DriveLimitMessage(limit)
	_, err = s.mutate(ctx, id, SystemActor, func(_ store.Queries, c *store.Connection) (string, error) {
		from := Status(c.Status)
		if to, cerr := Check(from, ActionFail, c.ServiceType); cerr == nil {
			c.Status = string(to)
		} else if from != Error {
			return "", errNoChange // e.g. Maintenance or Deauthorizing: leave it; the next check sees it again
		}
		if from == Error && c.ErrorReason == msg {
			return "", errNoChange
		}
		c.ErrorReason = msg
		return msg, nil
	})
	return true, msg, err
}

// RunRetention moves each Deauthorized connection whose retention is over to Deleting, then purges
// every connection in Deleting (also ones left there by an earlier, interrupted run). It returns how
// many connections it purged.
func (s *Service) RunRetention(ctx context.Context) (int, error) {
	keep := s.retention(ctx)
	now := s.clock.Now()
	cs, err := s.st.ListConnections(ctx)
	if err != nil {
		return 0, err
	}
	days := int(keep / (24 * time.Hour))
	for _, c := range cs {
		if Status(c.Status) != Deauthorized || c.DeauthorizedAt.IsZero() || c.DeauthorizedAt.Add(keep).After(now) {
			continue
		}
		reason := fmt.Sprintf("retention of %d days expired", days)
		if _, err := s.Apply(ctx, c.ID, ActionRetentionExpired, SystemActor, reason); err != nil {
			if errors.Is(err, ErrRefused) { // changed meanwhile (resumed, deleted)
				continue
			}
			return 0, err
		}
	}
	if cs, err = s.st.ListConnections(ctx); err != nil {
		return 0, err
	}
	purged := 0
	for _, c := range cs {
		if Status(c.Status) != Deleting {
			continue
		}
		if err := s.purge(ctx, c.ID); err != nil {
			return purged, err
		}
		purged++
	}
	return purged, nil
}

// purge removes a connection in Deleting and everything collected through it, events in batches.
func (s *Service) purge(ctx context.Context, id int64) error {
	// Push subscriptions the connection still holds at the vendor are removed by ingest's unpush
	// unit, which needs the connection (its credentials, its rows): the purge waits for it, up to
	// unpushGrace after the deletion began, then goes on and says what may remain at the vendor.
	if n, err := s.st.CountSubscriptions(ctx, id); err != nil {
		return fmt.Errorf("connection %d: counting push subscriptions: %w", id, err)
	} else if n > 0 {
		since, err := s.deletingSince(ctx, id)
		if err != nil {
			return err
		}
		if s.clock.Now().Sub(since) < unpushGrace {
			s.log.Info("connection deletion waits for its push subscriptions to be removed at the vendor", "id", id, "subscriptions", n)
			return nil
		}
		s.log.Warn("connection deleted although its push subscriptions could not all be removed at the vendor: remove them in the vendor's console",
			"id", id, "subscriptions", n, "waited", unpushGrace)
	}
	var total int64
	for {
		n, err := s.st.DeleteConnectionEvents(ctx, id, purgeBatch)
		if err != nil {
			return fmt.Errorf("connection %d: deleting events: %w", id, err)
		}
		total += n
		if n == 0 {
			break
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	if err := s.st.DeleteConnection(ctx, id); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("connection %d: deleting: %w", id, err)
	}
	s.log.Info("connection deleted", "id", id, "events", total)
	return nil
}

// Note records an event in the connection's history without changing its status (a stream resync,
// a group not found), so that nothing that affects collection happens silently.
func (s *Service) Note(ctx context.Context, id int64, actor, reason string) error {
	c, err := s.st.GetConnection(ctx, id)
	if err != nil {
		return fmt.Errorf("connection %d: %w", id, err)
	}
	_, err = s.st.AppendStatusChange(ctx, store.StatusChange{ConnectionID: id, At: s.clock.Now(), From: c.Status, To: c.Status, Actor: actor, Reason: reason})
	return err
}

// RecordCollection stores when the vendor last throttled collection and the newest event time, each
// only when later than the stored value (R3.7, R8.1); a later throttling is also kept in the
// throttle log (store.HealthQueries) for the health view.
func (s *Service) RecordCollection(ctx context.Context, id int64, throttledUntil, lastEventAt time.Time) error {
	_, err := s.mutate(ctx, id, SystemActor, func(q store.Queries, c *store.Connection) (string, error) {
		changed := false
		if throttledUntil.After(c.ThrottledUntil) {
			c.ThrottledUntil, changed = throttledUntil, true
			// kept a week for the health view's "throttling over the last day"
			if err := q.RecordThrottle(ctx, store.Throttle{ConnectionID: id, At: s.clock.Now(), Until: throttledUntil}); err != nil {
				return "", err
			}
		}
		if lastEventAt.After(c.LastEventAt) {
			c.LastEventAt, changed = lastEventAt, true
		}
		if !changed {
			return "", errNoChange
		}
		return "", nil
	})
	return err
}

// SetError moves a collecting connection to Error with reason, or updates the reason of one already
// in Error. Statuses that cannot fail (Maintenance, Deauthorizing, ...) are left alone.
func (s *Service) SetError(ctx context.Context, id int64, reason string) (store.Connection, error) {
	return s.mutate(ctx, id, SystemActor, func(_ store.Queries, c *store.Connection) (string, error) {
		from := Status(c.Status)
		if to, err := Check(from, ActionFail, c.ServiceType); err == nil {
			c.Status, c.ErrorReason = string(to), reason
			return reason, nil
		}
		if from != Error || c.ErrorReason == reason {
			return "", errNoChange
		}
		c.ErrorReason = reason
		return "", nil
	})
}

// TenantTaken returns the name of another live connection of the same service registering the
// same vendor tenant, or "" (R1.5).
func (s *Service) TenantTaken(ctx context.Context, c store.Connection) (string, error) {
	if c.TenantID == "" {
		return "", nil
	}
	all, err := s.st.ListConnections(ctx)
	if err != nil {
		return "", err
	}
	for _, o := range all {
		st := Status(o.Status)
		if o.ID == c.ID || o.Service != c.Service || o.TenantID != c.TenantID || st == Deauthorized || st == Deleting {
			continue
		}
		if o.ID < c.ID { // the older connection keeps the tenant
			return o.Name, nil
		}
	}
	return "", nil
}
