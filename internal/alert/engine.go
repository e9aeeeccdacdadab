package alert

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/store"
	"github.com/telltale-dev/telltale/internal/watchlist"
)

// State is what evaluation reads and writes: the store's alert queries inside the evaluator's
// transaction, or memory for a backtest.
type State interface {
	AddAlertMatches(ctx context.Context, ms []store.AlertMatch) error
	ListAlertMatches(ctx context.Context, ruleID int64, group string, since time.Time) ([]store.AlertMatch, error)
	DeleteAlertMatches(ctx context.Context, ruleID int64, group string, before time.Time) error
	MarkAlertTerms(ctx context.Context, ruleID int64, terms []string, at, since time.Time) ([]string, error)
	OpenAlertFor(ctx context.Context, ruleID int64, group string, at time.Time) (store.Alert, error)
	CreateAlert(ctx context.Context, a store.Alert, eventIDs []int64) (store.Alert, error)
	AddAlertEvents(ctx context.Context, alertID int64, eventIDs []int64, first, last time.Time) error
	CountAlertsRaised(ctx context.Context, ruleID int64, since time.Time) (int64, error)
}

// Lateness is how late (in observed time) an event may be stored and still add up with the
// matches of its window that arrived before it: vendor feeds deliver up to a day late (Microsoft's
// audit feed; Google's Reports up to 3 hours).
const Lateness = 24 * time.Hour

// Outcome counts what one evaluation did.
type Outcome struct {
	Raised     int             // alerts created
	Gathered   int             // events added to an open alert
	Suppressed map[int64]int64 // rule id -> alerts not raised because of the hourly cap
	New        []store.Alert   // the alerts created, as stored
	Grown      []int64         // the open alerts events were added to, each once, in order
}

// add adds o's counts and alerts to out's.
func (out *Outcome) add(o Outcome) {
	out.Raised += o.Raised
	out.Gathered += o.Gathered
	for id, n := range o.Suppressed {
		out.Suppressed[id] += n
	}
	out.New = append(out.New, o.New...)
	for _, id := range o.Grown {
		if !slices.Contains(out.Grown, id) {
			out.Grown = append(out.Grown, id)
		}
	}
}

// evaluate runs every rule on each event, in the order given (id order), writing to st. now is
// the evaluation time of an event (alert creation time, the hourly cap's clock): the clock for the
// evaluator, the event's own time for a backtest.
//
// set is who is on which watchlist, for rules scoped to watchlists.
func evaluate(ctx context.Context, st State, rules []*Compiled, evs []event.FileEvent, clock func(*event.FileEvent) time.Time, set watchlist.Set) (Outcome, error) {
	out := Outcome{Suppressed: map[int64]int64{}}
	for i := range evs {
		e := &evs[i]
		if e.Risk.Trusted { // trusted events never raise alerts (R6.5)
			continue
		}
		now := clock(e)
		for _, r := range rules {
			if !r.applies(e, set) {
				continue
			}
			var err error
			switch r.Kind {
			case Threshold:
				err = threshold(ctx, st, r, e, now, &out)
			case NewTerms:
				err = newTerms(ctx, st, r, e, now, &out)
			}
			if err != nil {
				return out, fmt.Errorf("alert: rule %d %q on event %d: %w", r.ID, r.Name, e.Event.ID, err)
			}
		}
	}
	return out, nil
}

// gather adds the event to the group's open alert of the rule when there is one.
func gather(ctx context.Context, st State, r *Compiled, group string, e *event.FileEvent, out *Outcome) (bool, error) {
	a, err := st.OpenAlertFor(ctx, r.ID, group, e.Timestamp)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := st.AddAlertEvents(ctx, a.ID, []int64{e.Event.ID}, e.Timestamp, e.Timestamp); err != nil {
		return false, err
	}
	out.Gathered++
	if !slices.Contains(out.Grown, a.ID) {
		out.Grown = append(out.Grown, a.ID)
	}
	return true, nil
}

// capped reports whether the rule already raised its hourly cap of alerts, counting one more
// suppressed alert if so.
func capped(ctx context.Context, st State, r *Compiled, now time.Time, out *Outcome) (bool, error) {
	n, err := st.CountAlertsRaised(ctx, r.ID, now.Add(-time.Hour))
	if err != nil {
		return false, err
	}
	if n >= int64(r.P.MaxAlertsPerHour) {
		out.Suppressed[r.ID]++
		return true, nil
	}
	return false, nil
}

func threshold(ctx context.Context, st State, r *Compiled, e *event.FileEvent, now time.Time, out *Outcome) error {
	for _, g := range r.combos(e) {
		ok, err := gather(ctx, st, r, g, e, out)
		if err != nil {
			return err
		}
		if ok {
			continue
		}
		if err := st.AddAlertMatches(ctx, []store.AlertMatch{{RuleID: r.ID, Group: g, EventID: e.Event.ID, At: e.Timestamp,
			File: e.File.ID, Size: e.File.Size}}); err != nil {
			return err
		}
		from := e.Timestamp.Add(-r.window)
		ms, err := st.ListAlertMatches(ctx, r.ID, g, from)
		if err != nil {
			return err
		}
		in, measured := reached(r, ms, e.Timestamp)
		if in == nil {
			// Forget what left the window, keeping what an event arriving up to Lateness late needs.
			if err := st.DeleteAlertMatches(ctx, r.ID, g, from.Add(-Lateness)); err != nil {
				return err
			}
			continue
		}
		c, err := capped(ctx, st, r, now, out)
		if err != nil {
			return err
		}
		if c {
			continue
		}
		ids := make([]int64, len(in))
		first, last := in[0].At, in[0].At
		for i, m := range in {
			ids[i] = m.EventID
			first, last = minTime(first, m.At), maxTime(last, m.At)
		}
		a := store.Alert{RuleID: r.ID, RuleName: r.Name, GroupKey: g, Person: person(r, g, e), State: store.AlertOpen,
			Severity: r.Severity, Summary: fmt.Sprintf("%s: %s within %v (threshold %s)", shown(g), measure(r.P.Measure, measured), r.window, measure(r.P.Measure, r.P.Value)),
			FirstEventAt: first, LastEventAt: last, WindowEnd: first.Add(r.window), CreatedAt: now}
		a, err = st.CreateAlert(ctx, a, ids)
		if err != nil {
			return err
		}
		out.New = append(out.New, a)
		if err := st.DeleteAlertMatches(ctx, r.ID, g, time.Time{}); err != nil {
			return err
		}
		out.Raised++
	}
	return nil
}

func newTerms(ctx context.Context, st State, r *Compiled, e *event.FileEvent, now time.Time, out *Outcome) error {
	terms := r.combos(e)
	if len(terms) == 0 {
		return nil
	}
	fresh, err := st.MarkAlertTerms(ctx, r.ID, terms, e.Timestamp, e.Timestamp.AddDate(0, 0, -r.P.HistoryDays))
	if err != nil || len(fresh) == 0 {
		return err
	}
	g := r.person(e.User.Email)
	if ok, err := gather(ctx, st, r, g, e, out); ok || err != nil {
		return err
	}
	if c, err := capped(ctx, st, r, now, out); err != nil || c {
		return err
	}
	a := store.Alert{RuleID: r.ID, RuleName: r.Name, GroupKey: g, Person: g, State: store.AlertOpen, Severity: r.Severity,
		Summary:      newTermsSummary(g, r.fields, fresh, r.P.HistoryDays),
		FirstEventAt: e.Timestamp, LastEventAt: e.Timestamp, WindowEnd: e.Timestamp.Add(r.window), CreatedAt: now}
	a, err = st.CreateAlert(ctx, a, []int64{e.Event.ID})
	if err != nil {
		return err
	}
	out.New = append(out.New, a)
	out.Raised++
	return nil
}

// reached looks for a window of the rule's length holding the event's time at whose matches reach
// the rule's value (events arrive in id order, not always in observed order) and returns them
// and what they measure, or nil.
func reached(r *Compiled, ms []store.AlertMatch, at time.Time) ([]store.AlertMatch, int64) {
	ms = slices.DeleteFunc(slices.Clone(ms), func(m store.AlertMatch) bool { return m.At.After(at.Add(r.window)) })
	slices.SortStableFunc(ms, func(a, b store.AlertMatch) int { return a.At.Compare(b.At) })
	for i := range ms {
		if ms[i].At.After(at) {
			break // windows starting after the event do not hold it
		}
		end := ms[i].At.Add(r.window)
		files := map[string]bool{}
		var n, bytes int64
		var in []store.AlertMatch
		for _, m := range ms[i:] {
			if m.At.After(end) {
				break
			}
			in = append(in, m)
			n++
			files[m.File] = true
			bytes += m.Size
		}
		if end.Before(at) {
			continue
		}
		measured := map[string]int64{MeasureCount: n, MeasureFiles: int64(len(files)), MeasureBytes: bytes}[r.P.Measure]
		if measured >= r.P.Value {
			return in, measured
		}
	}
	return nil, 0
}

// person is the person a threshold group is about: the group's actor value (a person), or the
// event's actor's person.
func person(r *Compiled, group string, e *event.FileEvent) string {
	parts := strings.Split(group, " | ")
	for i, f := range r.fields {
		if f == "actor" && i < len(parts) {
			return parts[i]
		}
	}
	return r.person(e.User.Email)
}

// notNamed stands in a summary for a value the event does not have, such as the actor of a
// share that the vendor's change feed reports without naming who shared (OneDrive's delta).
const notNamed = "(not named by the vendor)"

// shown is a group or term as a summary shows it: its " | "-separated values, an empty one
// replaced by notNamed.
func shown(g string) string {
	parts := strings.Split(g, " | ")
	for i, p := range parts {
		if p == "" {
			parts[i] = notNamed
		}
	}
	return strings.Join(parts, " | ")
}

// newTermsSummary says what is new for the person g: the fresh terms (values of fields joined
// with " | "), without the actor's part where the terms have others, since the summary names the
// person first ("alice@corp.example: first gmail.com (domain) in 30 days").
func newTermsSummary(g string, fields, fresh []string, days int) string {
	drop := -1
	if len(fields) > 1 {
		drop = slices.Index(fields, "actor")
	}
	if drop >= 0 {
		fields = slices.Delete(slices.Clone(fields), drop, drop+1)
		terms := make([]string, len(fresh))
		for i, t := range fresh {
			parts := strings.Split(t, " | ")
			if len(parts) > drop {
				parts = slices.Delete(parts, drop, drop+1)
			}
			terms[i] = strings.Join(parts, " | ")
		}
		fresh = terms
	}
	return fmt.Sprintf("%s: first %s (%s) in %d days", shown(g), shownAll(fresh), strings.Join(fields, " | "), days)
}

func shownAll(terms []string) string {
	out := make([]string, len(terms))
	for i, t := range terms {
		out[i] = shown(t)
	}
	return strings.Join(out, ", ")
}

func measure(m string, n int64) string {
	unit := "event"
	switch m {
	case MeasureFiles:
		unit = "file"
	case MeasureBytes:
		unit = "byte"
	}
	if n != 1 {
		unit += "s"
	}
	return fmt.Sprintf("%d %s", n, unit)
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
