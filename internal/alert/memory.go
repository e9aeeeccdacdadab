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
	events  map[int64][]int64
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
	return &memState{matches: map[matchKey][]store.AlertMatch{}, terms: map[termKey]time.Time{}, events: map[int64][]int64{}}
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
	for i := len(m.alerts) - 1; i >= 0; i-- {
		a := m.alerts[i]
		if a.RuleID == rule && a.GroupKey == group && a.WindowEnd.After(at) {
			return a, nil
		}
	}
	return store.Alert{}, store.ErrNotFound
}

func (m *memState) CreateAlert(_ context.Context, a store.Alert, ids []int64) (store.Alert, error) {
	a.ID = int64(len(m.alerts) + 1)
	a.EventCount = int64(len(ids))
	m.alerts = append(m.alerts, a)
	m.events[a.ID] = slices.Clone(ids)
	return a, nil
}

func (m *memState) AddAlertEvents(_ context.Context, id int64, ids []int64, first, last time.Time) error {
	a := &m.alerts[id-1]
	for _, e := range ids {
		if !slices.Contains(m.events[id], e) {
			m.events[id] = append(m.events[id], e)
			a.EventCount++
		}
	}
	a.FirstEventAt, a.LastEventAt = minTime(a.FirstEventAt, first), maxTime(a.LastEventAt, last)
	return nil
}

func (m *memState) CountAlertsRaised(_ context.Context, rule int64, since time.Time) (int64, error) {
	var n int64
	for _, a := range m.alerts {
		if a.RuleID == rule && !a.CreatedAt.Before(since) {
			n++
		}
	}
	return n, nil
}
