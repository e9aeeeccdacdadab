// Package watchlist owns watchlists (issue 16, R6.3, docs/ALERTS.md): their types, the CSV of
// members (read with the scope CSV's rules, R2.9: the whole file or an error naming rows), and a
// cache of who is on which list that ingest (the watchlist risk indicators) and the alert evaluator
// (rules scoped to watchlists) read for every event without a query per event: it reloads only
// when the store's watchlist revision moved.
package watchlist

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/scope"
	"github.com/telltale-dev/telltale/internal/store"
)

// Custom is the type of the watchlists an admin names.
const Custom = event.WatchlistCustom

// DepartingEmployee is the type whose members have a departure date.
const DepartingEmployee = event.WatchlistDepartingEmployee

// Types lists the watchlist types: the built-in ones (one list each, created by the migration),
// then custom.
func Types() []string { return event.WatchlistTypes() }

// Limits.
const (
	MaxMembers = 100_000 // rows of one CSV upload
	MaxNotes   = 1000    // bytes of a member's notes
)

// CSV columns besides the address ("Email" or "Email Address", as for a scope).
var csvExtra = []string{"Departure Date", "Notes"}

// ParseCSV reads a CSV of members for a watchlist of type typ: an "Email" column, and optional
// "Departure Date" (YYYY-MM-DD; departing_employee only) and "Notes" columns. It returns every
// member or a *scope.Error that names the line or rows and the problem; never a partial list.
func ParseCSV(r io.Reader, typ string) ([]store.WatchlistMember, error) {
	l, err := scope.ParseUsers(r, scope.Options{Extra: csvExtra, Max: MaxMembers, Noun: "one upload"})
	if err != nil {
		return nil, err
	}
	var bad []scope.RowError
	badRows := 0
	out := make([]store.WatchlistMember, 0, len(l.Entries))
	for _, e := range l.Entries {
		m := store.WatchlistMember{Email: strings.ToLower(e.Value), DepartureDate: e.Extra[0], Notes: e.Extra[1]}
		if why := CheckMember(typ, m); why != "" {
			badRows++
			if len(bad) < scope.MaxRowErrors {
				v := m.DepartureDate
				if strings.HasPrefix(why, "notes") {
					v = ""
				}
				bad = append(bad, scope.RowError{Row: e.Row, Value: v, Reason: why})
			}
			continue
		}
		out = append(out, m)
	}
	if badRows > 0 {
		msg := fmt.Sprintf("%d rows are not usable members; nothing was changed", badRows)
		if badRows == 1 {
			msg = "1 row is not a usable member; nothing was changed"
		}
		if badRows > len(bad) {
			msg += fmt.Sprintf(" (the first %d are listed)", len(bad))
		}
		return nil, &scope.Error{Message: msg, Rows: bad}
	}
	return out, nil
}

// CheckMember returns why a member cannot be on a watchlist of type typ, or "".
func CheckMember(typ string, m store.WatchlistMember) string {
	if m.DepartureDate != "" {
		if typ != DepartingEmployee {
			return "departure date: only members of the departing_employee watchlist have one"
		}
		if _, err := time.Parse(time.DateOnly, m.DepartureDate); err != nil {
			return "departure date: is not a date such as 2026-12-31"
		}
	}
	if len(m.Notes) > MaxNotes {
		return fmt.Sprintf("notes: %d bytes long; at most %d", len(m.Notes), MaxNotes)
	}
	return ""
}

// Key is how rules name a watchlist: its name, trimmed and in lower case (a built-in list's name
// is its type).
func Key(name string) string { return strings.ToLower(strings.TrimSpace(name)) }

// Set is who is on which watchlist at one revision.
type Set struct {
	byPerson map[string][]store.WatchlistMembership
}

// NewSet indexes memberships by person.
func NewSet(ms []store.WatchlistMembership) Set {
	s := Set{byPerson: map[string][]store.WatchlistMembership{}}
	for _, m := range ms {
		p := strings.ToLower(m.Email)
		s.byPerson[p] = append(s.byPerson[p], m)
	}
	return s
}

// Types returns the distinct types of the watchlists person (lower case) is on, in Types order.
func (s Set) Types(person string) []string {
	ms := s.byPerson[person]
	if len(ms) == 0 {
		return nil
	}
	var out []string
	for _, t := range Types() {
		for _, m := range ms {
			if m.Type == t {
				out = append(out, t)
				break
			}
		}
	}
	return out
}

// OnAny reports whether person (lower case) is on one of the watchlists named by keys (Key).
func (s Set) OnAny(person string, keys []string) bool {
	for _, m := range s.byPerson[person] {
		if slices.Contains(keys, Key(m.Name)) {
			return true
		}
	}
	return false
}

// Source is what a Cache reads.
type Source interface {
	WatchlistRevision(ctx context.Context) (int64, error)
	ListWatchlistMemberships(ctx context.Context) ([]store.WatchlistMembership, error)
}

// Cache keeps the memberships in memory and reloads them when the store's revision moved (one
// small query per call: callers call it once per page or batch of events, not per event).
type Cache struct {
	src    Source
	mu     sync.Mutex
	rev    int64
	set    Set
	loaded bool
}

// NewCache returns a cache over src.
func NewCache(src Source) *Cache { return &Cache{src: src} }

// Get returns the current memberships.
func (c *Cache) Get(ctx context.Context) (Set, error) {
	rev, err := c.src.WatchlistRevision(ctx)
	if err != nil {
		return Set{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.loaded && rev == c.rev {
		return c.set, nil
	}
	ms, err := c.src.ListWatchlistMemberships(ctx)
	if err != nil {
		return Set{}, err
	}
	c.set, c.rev, c.loaded = NewSet(ms), rev, true
	return c.set, nil
}
