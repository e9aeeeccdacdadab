// Package hr runs the HR sources (R7.2, issue 17): a Workday custom report (RaaS, JSON) polled over
// a rolling window of termination dates, BambooHR (employees changed since a cursor, and its signed
// webhook), a CSV an admin uploads and a generic signed webhook. Each turns what the HR system says
// into changes of the Departing employees watchlist: a person with a departure date is put on it
// (or their date updated), a person whose departure was withdrawn is taken off it.
//
// An HR source is an integration (internal/integration) of kind workday, bamboohr, hr_csv or
// hr_webhook: its settings, sealed secrets, Connected/Disconnected status and condition (credentials
// refused, rate limited) are the integration's, so it is listed with the other integrations and
// with the connections. Its sync state (cursor, last sync, outcome) is the store's HRSync.
//
// Every change is applied in one transaction with its audit entry (action hr.departing.*, target
// person/<email>) and a line of the person's history (store.PersonChange); the Changed hook runs in
// the same transaction, so a flow triggered by the change (internal/integration) commits with it.
//
// Removals: a change that says "not departing" removes a member only when an HR source put them on
// the list (added_by hr-source/<id>), so a departure entered by hand before HR knows of it is kept;
// an explicit removal (a CSV row or webhook change with action remove) removes any member.
package hr

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/telltale-dev/telltale/internal/clock"
	"github.com/telltale-dev/telltale/internal/httpx"
	"github.com/telltale-dev/telltale/internal/integration"
	"github.com/telltale-dev/telltale/internal/metrics"
	"github.com/telltale-dev/telltale/internal/store"
	"github.com/telltale-dev/telltale/internal/watchlist"
)

// Change is what an HR source says about one person.
type Change struct {
	Email         string // lower case
	Departing     bool   // true: on the Departing employees watchlist with DepartureDate
	DepartureDate string // YYYY-MM-DD, "" when unknown
	ExternalID    string // the HR system's employee id, when it has one
	Explicit      bool   // a removal asked for in so many words: removes a member whoever added them
}

// Result counts what a sync did.
type Result struct {
	Added     int `json:"added"`
	Updated   int `json:"updated"`
	Removed   int `json:"removed"`
	Unchanged int `json:"unchanged"`
	Skipped   int `json:"skipped"` // entries without a usable address
}

func (r Result) String() string {
	s := fmt.Sprintf("%d added, %d updated, %d removed, %d unchanged", r.Added, r.Updated, r.Removed, r.Unchanged)
	if r.Skipped > 0 {
		s += fmt.Sprintf(", %d skipped (no usable work email)", r.Skipped)
	}
	return s
}

// Actions of a membership change (store.PersonChange.Action).
const (
	ActionAdded   = "added"
	ActionUpdated = "updated"
	ActionRemoved = "removed"
)

// Options configure a Service.
type Options struct {
	Integrations *integration.Service
	Clock        clock.Clock  // default clock.Real
	Log          *slog.Logger // default discard
	Metrics      *metrics.Registry
	// Transport for tests; nil: the integrations' Guard's transport (checking every dial).
	Transport http.RoundTripper
	Timeout   time.Duration // per request; default 60s
	// Interval is how often Workday and BambooHR sources are polled; default 15 minutes.
	Interval time.Duration
	// Changed, when set, runs inside the transaction that applied changes: the flows' hook
	// (integration.Service.WatchlistChanged).
	Changed func(ctx context.Context, q store.Queries, changes []integration.WatchlistChange) error
}

// Service runs HR sources.
type Service struct {
	o       Options
	st      store.Store
	client  *httpx.Client
	refused metrics.Counter
	syncs   metrics.Counter
	changes metrics.Counter

	// noted limits the refusals recorded per source (NoteRefusal): refusals are unauthenticated
	// requests, so a flood must not become as many writes.
	mu    sync.Mutex
	noted map[int64]*refusalWindow
}

// New returns a Service.
func New(o Options) *Service {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Metrics == nil {
		o.Metrics = metrics.New()
	}
	if o.Timeout <= 0 {
		o.Timeout = 60 * time.Second
	}
	if o.Interval <= 0 {
		o.Interval = 15 * time.Minute
	}
	c := httpx.New(httpx.Options{Timeout: o.Timeout, MaxRetries: -1, MaxWait: time.Millisecond, Guard: o.Integrations.Guard(),
		Transport: o.Transport, UserAgent: "Telltale-HR/1", Now: o.Clock.Now})
	return &Service{o: o, st: o.Integrations.Store(), client: c, noted: map[int64]*refusalWindow{},
		refused: o.Metrics.Counter("telltale_hr_webhook_refused_total", "HR webhook requests refused, by source kind and reason (unsigned, bad_signature, stale, malformed, unknown_source, disconnected).", "kind", "reason"),
		syncs:   o.Metrics.Counter("telltale_hr_syncs_total", "HR source syncs (polls, uploads, webhooks) by source kind and outcome (ok, auth, rate_limited, error).", "kind", "outcome"),
		changes: o.Metrics.Counter("telltale_hr_changes_total", "Changes of the Departing employees watchlist made by HR sources, by action.", "action")}
}

// Actor is how an HR source is named as the actor of its changes (and in a member's added_by).
func Actor(i store.Integration) string { return "hr-source/" + strconv.FormatInt(i.ID, 10) }

// departingList returns the Departing employees watchlist (built in, created by its migration).
func departingList(ctx context.Context, q store.Queries) (store.Watchlist, error) {
	ws, err := q.ListWatchlists(ctx)
	if err != nil {
		return store.Watchlist{}, err
	}
	for _, w := range ws {
		if w.Type == watchlist.DepartingEmployee {
			return w, nil
		}
	}
	return store.Watchlist{}, errors.New("hr: the departing_employee watchlist is missing")
}

// bulkLookup is how many changes make reading the whole Departing employees list once cheaper
// than asking for each person.
const bulkLookup = 200

// memberLookup returns a function that finds a person's row on the watchlist (nil when not on it):
// for a few changes a query each, for many the whole list read once.
func memberLookup(ctx context.Context, q store.Queries, watchlistID int64, changes int) (func(email string) (*store.WatchlistMember, error), error) {
	if changes < bulkLookup {
		return func(email string) (*store.WatchlistMember, error) {
			ms, err := q.ListPersonMemberships(ctx, email)
			for j := range ms {
				if ms[j].WatchlistID == watchlistID {
					return &ms[j], err
				}
			}
			return nil, err
		}, nil
	}
	all := map[string]*store.WatchlistMember{}
	for after := ""; ; {
		page, err := q.ListWatchlistMembers(ctx, watchlistID, after, 1000)
		if err != nil {
			return nil, err
		}
		for j := range page {
			all[page[j].Email] = &page[j]
		}
		if len(page) < 1000 {
			break
		}
		after = page[len(page)-1].Email
	}
	return func(email string) (*store.WatchlistMember, error) { return all[email], nil }, nil
}

// Apply applies changes from source i in one transaction: membership, the person's history, the
// audit entry and the Changed hook of each change, or nothing. actor is who made them (an admin
// uploading a CSV, or the source itself).
func (s *Service) Apply(ctx context.Context, i store.Integration, changes []Change, actor string) (Result, error) {
	var res Result
	now := s.o.Clock.Now().UTC()
	var done []integration.WatchlistChange
	err := s.st.InTx(ctx, func(q store.Queries) error {
		res, done = Result{}, nil
		dep, err := departingList(ctx, q)
		if err != nil {
			return err
		}
		seen := map[string]int{}
		for k, c := range changes { // the last word on a person wins
			seen[c.Email] = k
		}
		lookup, err := memberLookup(ctx, q, dep.ID, len(changes))
		if err != nil {
			return err
		}
		var puts []store.WatchlistMember
		var removes []string
		for k, c := range changes {
			if seen[c.Email] != k {
				continue
			}
			if c.ExternalID != "" {
				if err := q.PutHRPerson(ctx, i.ID, c.ExternalID, c.Email); err != nil {
					return err
				}
			}
			cur, err := lookup(c.Email)
			if err != nil {
				return err
			}
			action := ""
			switch {
			case c.Departing && cur == nil:
				action = ActionAdded
				puts = append(puts, store.WatchlistMember{Email: c.Email, DepartureDate: c.DepartureDate, Notes: "from HR source " + i.Name,
					AddedBy: Actor(i), AddedAt: now})
			case c.Departing && c.DepartureDate != "" && cur.DepartureDate != c.DepartureDate:
				action = ActionUpdated
				puts = append(puts, store.WatchlistMember{Email: c.Email, DepartureDate: c.DepartureDate, Notes: cur.Notes})
			case !c.Departing && cur != nil && (c.Explicit || strings.HasPrefix(cur.AddedBy, "hr-source/")):
				action = ActionRemoved
				c.DepartureDate = cur.DepartureDate
				removes = append(removes, c.Email)
			}
			if action == "" {
				res.Unchanged++
				continue
			}
			switch action {
			case ActionAdded:
				res.Added++
			case ActionUpdated:
				res.Updated++
			case ActionRemoved:
				res.Removed++
			}
			line, err := q.AppendPersonChange(ctx, store.PersonChange{Email: c.Email, At: now, WatchlistID: dep.ID, Action: action,
				DepartureDate: c.DepartureDate, Source: i.Name, Actor: actor})
			if err != nil {
				return err
			}
			details, _ := json.Marshal(map[string]any{"source": i.Name, "source_id": i.ID, "kind": i.Kind, "watchlist": dep.Name,
				"departure_date": c.DepartureDate, "employee_id": c.ExternalID})
			if _, err := q.AppendAudit(ctx, store.AuditEntry{At: now, Actor: actor, Action: "hr.departing." + action, Target: "person/" + c.Email,
				Details: details, Outcome: "ok"}); err != nil {
				return err
			}
			done = append(done, integration.WatchlistChange{ChangeID: line.ID, Email: c.Email, Action: action, DepartureDate: c.DepartureDate,
				WatchlistID: dep.ID, Watchlist: dep.Name, Source: i.Name})
		}
		if len(puts) > 0 {
			if _, err := q.PutWatchlistMembers(ctx, dep.ID, puts); err != nil {
				return err
			}
		}
		if len(removes) > 0 {
			if _, err := q.RemoveWatchlistMembers(ctx, dep.ID, removes); err != nil {
				return err
			}
		}
		if s.o.Changed != nil && len(done) > 0 {
			return s.o.Changed(ctx, q, done)
		}
		return nil
	})
	if err != nil {
		return Result{}, err
	}
	for _, d := range done {
		s.changes.Add(1, d.Action)
	}
	return res, nil
}

// record keeps a sync's outcome: on the source's state (last sync, cursor, summary) and, for a
// failure, as the integration's error with its kind; a success clears the error.
func (s *Service) record(ctx context.Context, i store.Integration, cursor string, res Result, f *Failure) {
	now := s.o.Clock.Now().UTC()
	st, err := s.st.GetHRSync(ctx, i.ID)
	if err != nil {
		s.o.Log.Warn("hr: reading a source's sync state", "source", i.ID, "err", err)
		return
	}
	st.LastSyncAt = now
	outcome := "ok"
	if f == nil {
		st.LastOKAt, st.Summary = now, res.String()
		if cursor != "" {
			st.Cursor = cursor
		}
	} else {
		st.Summary = f.Msg
		outcome = cmpStr(f.Kind, "error")
	}
	s.syncs.Add(1, i.Kind, outcome)
	if err := s.st.PutHRSync(ctx, st); err != nil {
		s.o.Log.Warn("hr: writing a source's sync state", "source", i.ID, "err", err)
	}
	msg, kind := "", ""
	if f != nil {
		msg, kind = f.Msg, cmpStr(f.Kind, store.IntegrationErrOther)
	}
	if f != nil || i.LastError != "" {
		if err := s.st.SetIntegrationError(ctx, i.ID, msg, kind, now); err != nil && !errors.Is(err, store.ErrNotFound) {
			s.o.Log.Warn("hr: recording a source's error", "source", i.ID, "err", err)
		}
	}
}

func cmpStr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Failure is why a sync failed: Msg is actionable (shown on the source), Kind is
// store.IntegrationErrAuth or store.IntegrationErrRateLimited or "".
type Failure struct {
	Msg  string
	Kind string
}

func (f *Failure) Error() string { return f.Msg }

// ErrNotPolled is returned by Sync for a source that is not polled (a CSV or webhook source).
var ErrNotPolled = errors.New("hr: this source is not polled: its changes arrive by upload or webhook")

// ErrDisconnected is returned by Sync for a disconnected source.
var ErrDisconnected = errors.New("hr: the source is disconnected: connect it to sync")

// Sync polls a Workday or BambooHR source now, applies what it says and records the outcome.
func (s *Service) Sync(ctx context.Context, id int64) (Result, error) {
	i, err := s.st.GetIntegration(ctx, id)
	if err != nil {
		return Result{}, err
	}
	if i.Kind != integration.KindWorkday && i.Kind != integration.KindBambooHR {
		if integration.IsHR(i.Kind) {
			return Result{}, ErrNotPolled
		}
		return Result{}, fmt.Errorf("integration %d is not an HR source: %w", id, store.ErrNotFound)
	}
	if i.Status != store.IntegrationConnected {
		return Result{}, ErrDisconnected
	}
	v, err := s.o.Integrations.Get(ctx, id)
	if err != nil {
		return Result{}, err
	}
	sec, err := s.o.Integrations.Secrets(i)
	if err != nil {
		return Result{}, err
	}
	st, err := s.st.GetHRSync(ctx, id)
	if err != nil {
		return Result{}, err
	}
	var changes []Change
	var cursor string
	var skipped int
	var f *Failure
	switch i.Kind {
	case integration.KindWorkday:
		changes, skipped, f = s.workday(ctx, i, v.Config, sec)
	case integration.KindBambooHR:
		changes, cursor, skipped, f = s.bamboo(ctx, i, v.Config, sec, st.Cursor)
	}
	if f != nil {
		s.record(ctx, i, "", Result{}, f)
		return Result{}, f
	}
	res, err := s.Apply(ctx, i, changes, Actor(i))
	if err != nil {
		s.record(ctx, i, "", Result{}, &Failure{Msg: "applying the changes: " + err.Error()})
		return Result{}, err
	}
	res.Skipped = skipped
	s.record(ctx, i, cursor, res, nil)
	return res, nil
}

// Verify checks an HR source's credentials (the console's and API's Connect): Workday and BambooHR
// are called; CSV and webhook sources have nothing to check.
func (s *Service) Verify(ctx context.Context, i store.Integration, sec integration.Secrets) error {
	v, err := s.o.Integrations.Get(ctx, i.ID)
	if err != nil {
		return err
	}
	var f *Failure
	switch i.Kind {
	case integration.KindWorkday:
		_, _, f = s.workdayReport(ctx, i, v.Config, sec)
	case integration.KindBambooHR:
		_, f = s.bambooChanged(ctx, i, v.Config, sec, s.o.Clock.Now().UTC().Add(-time.Hour).Format(time.RFC3339))
	}
	if f != nil {
		return &integration.Failure{Msg: f.Msg, Kind: f.Kind, Permanent: true}
	}
	return nil
}
