package alert

import (
	"context"
	"slices"
	"time"

	"github.com/telltale-dev/telltale/internal/store"
)

// memState is State in memory: a backtest's, which writes nothing.
type memState struct {
	matches map[matchKey][]store.AlertMatch
	terms   map[termKey]time.Time
	alerts  []store.Alert
	events  map[int64]map[int64]bool // alert id -> its events
	byGroup map[matchKey][]int       // rule and group -> indexes in alerts, oldest first
	created map[int64][]time.Time    // rule -> its alerts' creation times, ascending
}

type matchKey struct {
	rule  int64
	group string
}

type termKey struct {
	rule int64
	term string
}

func newMemState() *memState {
	return &memState{matches: map[matchKey][]store.AlertMatch{}, terms: map[termKey]time.Time{}, events: map[int64]map[int64]bool{},
		byGroup: map[matchKey][]int{}, created: map[int64][]time.Time{}}
}

func (m *memState) AddAlertMatches(_ context.Context, ms []store.AlertMatch) error {
	for _, x := range ms {
		k := matchKey{x.RuleID, x.Group}
		if !slices.ContainsFunc(m.matches[k], func(y store.AlertMatch) bool { return y.EventID == x.EventID }) {
			m.matches[k] = append(m.matches[k], x)
		}
	}
	return nil
}

func (m *memState) ListAlertMatches(_ context.Context, rule int64, group string, since time.Time) ([]store.AlertMatch, error) {
	var out []store.AlertMatch
	for _, x := range m.matches[matchKey{rule, group}] {
		if !x.At.Before(since) {
			out = append(out, x)
		}
	}
	return out, nil
}

func (m *memState) DeleteAlertMatches(_ context.Context, rule int64, group string, before time.Time) error {
	k := matchKey{rule, group}
	if before.IsZero() {
		delete(m.matches, k)
		return nil
	}
	m.matches[k] = slices.DeleteFunc(m.matches[k], func(x store.AlertMatch) bool { return x.At.Before(before) })
	return nil
}

func (m *memState) MarkAlertTerms(_ context.Context, rule int64, terms []string, at, since time.Time) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, t := range terms {
		if seen[t] {
			continue
		}
		seen[t] = true
		k := termKey{rule, t}
		last, ok := m.terms[k]
		if !ok || last.Before(since) {
			out = append(out, t)
		}
		if !ok || last.Before(at) {
			m.terms[k] = at
		}
	}
	return out, nil
}

func (m *memState) OpenAlertFor(_ context.Context, rule int64, group string, at time.Time) (store.Alert, error) {
	is := m.byGroup[matchKey{rule, group}]
	for i := len(is) - 1; i >= 0; i-- {
		if a := m.alerts[is[i]]; a.WindowEnd.After(at) {
			return a, nil
		}
	}
	return store.Alert{}, store.ErrNotFound
}

func (m *memState) CreateAlert(_ context.Context, a store.Alert, ids []int64) (store.Alert, error) {
	a.ID = int64(len(m.alerts) + 1)
	evs := make(map[int64]bool, len(ids))
	for _, id := range ids {
		evs[id] = true
	}
	a.EventCount = int64(len(evs))
	k := matchKey{a.RuleID, a.GroupKey}
	m.byGroup[k] = append(m.byGroup[k], len(m.alerts))
	m.alerts = append(m.alerts, a)
	m.events[a.ID] = evs
	ts := m.created[a.RuleID]
	i, _ := slices.BinarySearchFunc(ts, a.CreatedAt, func(x, y time.Time) int { return x.Compare(y) })
	m.created[a.RuleID] = slices.Insert(ts, i, a.CreatedAt)
	return a, nil
}

func (m *memState) AddAlertEvents(_ context.Context, id int64, ids []int64, first, last time.Time) error {
	a := &m.alerts[id-1]
	for _, e := range ids {
		if !m.events[id][e] {
			m.events[id][e] = true
			a.EventCount++
		}
	}
	a.FirstEventAt, a.LastEventAt = minTime(a.FirstEventAt, first), maxTime(a.LastEventAt, last)
	return nil
}

func (m *memState) CountAlertsRaised(_ context.Context, rule int64, since time.Time) (int64, error) {
	ts := m.created[rule]
	i, _ := slices.BinarySearchFunc(ts, since, func(x, y time.Time) int { return x.Compare(y) })
	for i > 0 && ts[i-1].Equal(since) {
		i--
	}
	return int64(len(ts) - i), nil
}
