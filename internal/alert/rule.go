// Package alert turns stored events into alerts (issue 16, R6.1-R6.2, docs/ALERTS.md). A rule is
// a query in the search language plus a kind: threshold (matching events, distinct files or total
// bytes of a group within a window) or new_terms (a value or combination of up to 3 fields not
// seen in a history window). The Evaluator follows committed events in id order from a durable
// position and writes alerts, their events, its state and the new position in one transaction, so
// each event is evaluated exactly once, on whichever node holds the evaluation unit's lease.
package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/search"
	"github.com/telltale-dev/telltale/internal/store"
	"github.com/telltale-dev/telltale/internal/watchlist"
)

// Rule kinds.
const (
	Threshold = "threshold"
	NewTerms  = "new_terms"
)

// Threshold measures.
const (
	MeasureCount = "count" // matching events
	MeasureFiles = "files" // distinct files (file.id)
	MeasureBytes = "bytes" // total file size
)

// Limits of a rule's parameters.
const (
	MaxGroupFields  = 3
	MinWindow       = time.Minute
	MaxWindow       = 7 * 24 * time.Hour
	MinHistoryDays  = 1
	MaxHistoryDays  = 365
	DefaultCap      = 100 // alerts a rule raises per hour at most
	MaxCap          = 10000
	maxCombinations = 16 // group or term combinations of one event (multi-valued fields multiply)
)

// Params are a rule's kind parameters, stored as JSON in store.AlertRule.Params.
type Params struct {
	// Threshold: Measure (count, files, bytes) reaching Value within Window, per group of GroupBy
	// (default actor).
	Measure string   `json:"measure,omitempty"`
	Value   int64    `json:"value,omitempty"`
	GroupBy []string `json:"group_by,omitempty"`
	// NewTerms: the combination of Fields not seen in HistoryDays.
	Fields      []string `json:"fields,omitempty"`
	HistoryDays int      `json:"history_days,omitempty"`
	// Window: a threshold's window, and for both kinds how long one alert gathers a group's
	// further events (default 1h for threshold, 24h for new_terms). A Go duration ("1h", "30m").
	Window string `json:"window,omitempty"`
	// MaxAlertsPerHour caps the alerts the rule raises per hour (default 100); the rest are counted
	// as suppressed and the rule shows a warning.
	MaxAlertsPerHour int `json:"max_alerts_per_hour,omitempty"`
	// Watchlists limits the rule to events whose actor is on one of these watchlists (by name; a
	// built-in list's name is its type). Empty: everyone.
	Watchlists []string `json:"watchlists,omitempty"`
}

// MaxWatchlists bounds the watchlists one rule is scoped to.
const MaxWatchlists = 20

// Error is a refused rule: the field it is about (name, query, kind, severity, params.window, ...)
// and why. A query that does not parse is a *search.Error instead (position and suggestion).
type Error struct {
	Field string
	Msg   string
}

func (e *Error) Error() string { return e.Field + ": " + e.Msg }

func errf(field, format string, a ...any) error {
	return &Error{Field: field, Msg: fmt.Sprintf(format, a...)}
}

// Compiled is a rule ready to evaluate.
type Compiled struct {
	store.AlertRule
	Q      search.Query
	P      Params
	window time.Duration
	fields []string // canonical group (threshold) or term (new_terms) fields
	watch  []string // watchlist.Key of each watchlist the rule is scoped to; nil: everyone
	// people maps the addresses of the events being evaluated (lower case) to their person's
	// primary address (resolver.people); an address it lacks is its own person.
	people map[string]string
}

// expandActors widens the query's actor: terms to every address of their person
// (search.ExpandActors), as a search of the same query does. Rules are compiled again each minute
// (Evaluator.rules), so an alias added or removed applies within a minute.
func (c *Compiled) expandActors(ctx context.Context, ar store.AliasReader) error {
	q, err := search.ExpandActors(c.Q, func(a string) ([]string, error) { return store.PersonAddresses(ctx, ar, a) })
	if err != nil {
		return err
	}
	c.Q = q
	return nil
}

// person is the person an address belongs to: the primary address of whom it is an alias of
// (R8.3: the same person's Box login, Google address and Microsoft UPN), else itself; lower case.
func (c *Compiled) person(address string) string {
	a := strings.ToLower(address)
	if p, ok := c.people[a]; ok {
		return p
	}
	return a
}

// applies reports whether the rule looks at e at all: its query matches and, for a rule scoped to
// watchlists, e's actor is on one of them. A scoped rule neither raises, gathers, counts nor
// learns terms from anyone else's events.
func (c *Compiled) applies(e *event.FileEvent, set watchlist.Set) bool {
	if len(c.watch) > 0 && !set.OnAny(strings.ToLower(e.User.Email), c.watch) {
		return false
	}
	return search.Match(c.Q, e)
}

// Window is how long an alert of the rule gathers its group's events (and a threshold's window).
func (c *Compiled) Window() time.Duration { return c.window }

// Fields lists the fields a rule may group by or look for new terms in, canonical names.
func Fields() []string {
	return []string{"actor", "owner", "file_id", "name", "directory", "connection", "service", "action", "category",
		"domain", "recipient", "exposure", "link", "severity"}
}

// canonicalField resolves a field name or alias of the search language to one of Fields.
func canonicalField(f string) (string, bool) {
	norm := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(f)), "-", "_")
	for _, fi := range search.Fields() {
		if fi.Name == norm || slices.Contains(fi.Aliases, norm) {
			if slices.Contains(Fields(), fi.Name) {
				return fi.Name, true
			}
			return "", false
		}
	}
	return "", false
}

// values returns the event's values of a canonical field (several for multi-valued fields). The
// actor is the person (their primary address), whichever of their addresses the event names.
func (c *Compiled) values(field string, e *event.FileEvent) []string {
	lower := func(xs []string) []string {
		out := make([]string, 0, len(xs))
		for _, x := range xs {
			out = append(out, strings.ToLower(x))
		}
		return out
	}
	switch field {
	case "actor":
		return []string{c.person(e.User.Email)}
	case "owner":
		return []string{strings.ToLower(e.File.Owner)}
	case "file_id":
		return []string{e.File.ID}
	case "name": // names and folders are stored whole; as keys they are clipped as addresses are
		return []string{event.ClipKey(e.File.Name)}
	case "directory":
		return []string{event.ClipKey(e.File.Directory)}
	case "connection":
		return []string{fmt.Sprint(e.Event.ConnectionID)}
	case "service":
		return []string{string(e.Event.Observer)}
	case "action":
		return []string{string(e.Event.Action)}
	case "category":
		return []string{string(e.File.Category)}
	case "severity":
		return []string{string(e.Risk.Severity)}
	case "link":
		return []string{string(e.Sharing.LinkScope)}
	case "exposure":
		var out []string
		for _, x := range e.Sharing.Exposure {
			out = append(out, string(x))
		}
		return out
	case "recipient":
		return unique(lower(append(slices.Clone(e.Email.Recipients), e.Sharing.SharedWith...)))
	case "domain":
		var out []string
		for _, a := range append(slices.Clone(e.Email.Recipients), e.Sharing.SharedWith...) {
			if i := strings.LastIndexByte(a, '@'); i >= 0 {
				out = append(out, strings.ToLower(a[i+1:]))
			}
		}
		return unique(out)
	}
	return nil
}

func unique(xs []string) []string {
	slices.Sort(xs)
	return slices.Compact(xs)
}

// combos returns the event's value combinations of fields, joined with " | ", at most
// maxCombinations. A multi-valued field with no value gives no combination.
func (c *Compiled) combos(e *event.FileEvent) []string {
	out := []string{""}
	for i, f := range c.fields {
		vs := c.values(f, e)
		var next []string
		for _, prefix := range out {
			for _, v := range vs {
				if i > 0 {
					v = prefix + " | " + v
				}
				if len(next) < maxCombinations {
					next = append(next, v)
				}
			}
		}
		out = next
	}
	return out
}

// Compile validates a rule and prepares it for evaluation. now resolves relative times in the
// query. Refusals are *Error, or *search.Error for the query.
func Compile(r store.AlertRule, now time.Time) (*Compiled, error) {
	if strings.TrimSpace(r.Name) == "" {
		return nil, errf("name", "a rule needs a name")
	}
	if len(r.Name) > 200 {
		return nil, errf("name", "%d bytes long; keep it under 200", len(r.Name))
	}
	q, err := search.Parse(r.Query, now)
	if err != nil {
		return nil, err
	}
	if sv := event.Severity(r.Severity); sv == event.SeverityNone || !sv.Valid() {
		return nil, errf("severity", "%q is not one of low, moderate, high, critical", r.Severity)
	}
	var p Params
	if len(bytes.TrimSpace(r.Params)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(r.Params))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&p); err != nil {
			return nil, errf("params", "not valid parameters: %v", err)
		}
	}
	c := &Compiled{AlertRule: r, Q: q, P: p}
	if p.MaxAlertsPerHour == 0 {
		c.P.MaxAlertsPerHour = DefaultCap
	}
	if c.P.MaxAlertsPerHour < 1 || c.P.MaxAlertsPerHour > MaxCap {
		return nil, errf("params.max_alerts_per_hour", "%d is not between 1 and %d", p.MaxAlertsPerHour, MaxCap)
	}
	fieldList := func(name string, fs []string) ([]string, error) {
		if len(fs) > MaxGroupFields {
			return nil, errf(name, "%d fields; at most %d", len(fs), MaxGroupFields)
		}
		var out []string
		for _, f := range fs {
			cf, ok := canonicalField(f)
			if !ok {
				return nil, errf(name, "%q cannot be grouped on; use one of %s", f, strings.Join(Fields(), ", "))
			}
			if slices.Contains(out, cf) {
				return nil, errf(name, "%q is listed twice", f)
			}
			out = append(out, cf)
		}
		return out, nil
	}
	if len(p.Watchlists) > MaxWatchlists {
		return nil, errf("params.watchlists", "%d watchlists; at most %d", len(p.Watchlists), MaxWatchlists)
	}
	for i, w := range p.Watchlists {
		k := watchlist.Key(w)
		if k == "" || len(k) > 200 {
			return nil, errf("params.watchlists", "entry %d is not a watchlist name", i)
		}
		if slices.Contains(c.watch, k) {
			return nil, errf("params.watchlists", "%q is listed twice", w)
		}
		c.watch = append(c.watch, k)
	}
	switch r.Kind {
	case Threshold:
		if p.Fields != nil || p.HistoryDays != 0 {
			return nil, errf("params", "fields and history_days are new_terms parameters; a threshold rule takes measure, value, window, group_by")
		}
		switch p.Measure {
		case "":
			c.P.Measure = MeasureCount
		case MeasureCount, MeasureFiles, MeasureBytes:
		default:
			return nil, errf("params.measure", "%q is not one of count, files, bytes", p.Measure)
		}
		if p.Value < 1 {
			return nil, errf("params.value", "the threshold must be 1 or more (got %d)", p.Value)
		}
		if c.fields, err = fieldList("params.group_by", p.GroupBy); err != nil {
			return nil, err
		}
		if len(c.fields) == 0 {
			c.fields = []string{"actor"}
		}
		if c.window, err = window(p.Window, time.Hour); err != nil {
			return nil, err
		}
	case NewTerms:
		if p.Measure != "" || p.Value != 0 || p.GroupBy != nil {
			return nil, errf("params", "measure, value and group_by are threshold parameters; a new_terms rule takes fields, history_days, window")
		}
		if len(p.Fields) == 0 {
			return nil, errf("params.fields", "name 1 to %d fields whose combination must be new, e.g. [\"actor\", \"domain\"]", MaxGroupFields)
		}
		if c.fields, err = fieldList("params.fields", p.Fields); err != nil {
			return nil, err
		}
		if p.HistoryDays < MinHistoryDays || p.HistoryDays > MaxHistoryDays {
			return nil, errf("params.history_days", "%d is not between %d and %d", p.HistoryDays, MinHistoryDays, MaxHistoryDays)
		}
		if c.window, err = window(p.Window, 24*time.Hour); err != nil {
			return nil, err
		}
	default:
		return nil, errf("kind", "%q is not one of threshold, new_terms", r.Kind)
	}
	return c, nil
}

func window(s string, def time.Duration) (time.Duration, error) {
	if s == "" {
		return def, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, errf("params.window", "%q is not a duration such as 30m, 1h or 24h", s)
	}
	if d < MinWindow || d > MaxWindow {
		return 0, errf("params.window", "%v is not between %v and %v", d, MinWindow, MaxWindow)
	}
	return d, nil
}

// IsRuleError reports whether err is a refused rule (an *Error or a *search.Error).
func IsRuleError(err error) bool {
	var e *Error
	var se *search.Error
	return errors.As(err, &e) || errors.As(err, &se)
}
