package alert

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/store"
	"github.com/telltale-dev/telltale/internal/watchlist"
)

// batchQueries is what a batch's state reads and writes, in the evaluator's transaction.
type batchQueries interface {
	State
	ListAlertMatchesIn(ctx context.Context, ruleID int64, groups []string, since time.Time) ([]store.AlertMatch, error)
	PruneAlertMatches(ctx context.Context, ruleID int64, groups []string, before time.Time) error
	OpenAlertsIn(ctx context.Context, ruleID int64, groups []string, at time.Time) ([]store.Alert, error)
	AlertTermsIn(ctx context.Context, ruleID int64, terms []string) (map[string]time.Time, error)
	SetAlertTerms(ctx context.Context, ruleID int64, seen map[string]time.Time) error
	LoadAlertRuleState(ctx context.Context, ruleID int64, openAfter, termsSince time.Time, limit int) (store.AlertRuleState, bool, error)
}

// batchState is State for one batch of the evaluator, inside its transaction. Before evaluation
// (prepare) it reads, per rule, what the batch's events can touch: the pending matches and open
// alerts of their groups, the terms they carry; evaluation then reads and writes memory, and
// flush writes what changed (new matches, pruned and cleared groups, terms seen, events added to
// open alerts) in a few multi-row statements per rule. Alerts are created at once (their ids are
// needed). Everything commits with the batch's position or not at all, so exactly-once holds as
// when every call went to the store.
//
// One difference from the per-event calls: a group's matches older than the rule's window plus
// Lateness before the batch's earliest event are pruned at flush instead of by each event; no
// event within Lateness can see either of them.
type batchState struct {
	q batchQueries

	matches map[matchKey][]store.AlertMatch // every known match of a prepared group, by event id
	added   map[matchKey][]store.AlertMatch // the batch's new matches since the group was last cleared
	cleared map[matchKey]bool               // groups whose stored matches are all forgotten
	since   map[int64]time.Time             // per threshold rule: the earliest match time prepared
	groups  map[int64][]string              // per threshold rule: the groups prepared
	horizon map[int64]time.Time             // per threshold rule: matches before it are pruned

	open   map[matchKey][]store.Alert // open alerts of a prepared group, by id
	openAt map[int64]time.Time        // per rule: open alerts prepared are those whose window ends after it

	terms    map[termKey]time.Time // last seen of prepared terms that were ever seen
	termsIn  map[termKey]bool      // prepared terms
	termsSet map[int64]map[string]time.Time

	grown  map[int64]*grownAlert
	grownO []int64

	raised map[raisedKey]int64

	// Memory across batches (held; nil: none): the rules prepared from it, those loaded into it
	// by this batch (kept only once it commits), each rule's groups prepared, the batch's
	// earliest event.
	h        *held
	heldR    map[int64]*heldRule
	loaded   map[int64]*heldRule
	touched  map[int64][]string
	earliest time.Time
}

type grownAlert struct {
	ids         []int64
	first, last time.Time
}

type raisedKey struct {
	rule  int64
	since time.Time
}

func newBatchState(q batchQueries) *batchState {
	return &batchState{q: q, matches: map[matchKey][]store.AlertMatch{}, added: map[matchKey][]store.AlertMatch{},
		cleared: map[matchKey]bool{}, since: map[int64]time.Time{}, groups: map[int64][]string{}, horizon: map[int64]time.Time{},
		open: map[matchKey][]store.Alert{}, openAt: map[int64]time.Time{},
		terms: map[termKey]time.Time{}, termsIn: map[termKey]bool{}, termsSet: map[int64]map[string]time.Time{},
		grown: map[int64]*grownAlert{}, raised: map[raisedKey]int64{},
		heldR: map[int64]*heldRule{}, loaded: map[int64]*heldRule{}, touched: map[int64][]string{}}
}

// fromHeld prepares a rule's groups and terms from what memory holds of it: everything, so
// nothing is read.
func (b *batchState) fromHeld(r *Compiled, hr *heldRule, groups, terms []string, earliest time.Time) {
	b.heldR[r.ID], b.touched[r.ID] = hr, groups
	b.openAt[r.ID] = hr.from
	for _, g := range groups {
		b.open[matchKey{r.ID, g}] = slices.Clone(hr.open[g])
	}
	switch r.Kind {
	case Threshold:
		since := earliest.Add(-r.window)
		b.since[r.ID], b.groups[r.ID], b.horizon[r.ID] = time.Time{}, groups, since.Add(-Lateness)
		for _, g := range groups {
			b.matches[matchKey{r.ID, g}] = slices.Clone(hr.matches[g])
		}
	case NewTerms:
		for _, term := range terms {
			k := termKey{r.ID, term}
			b.termsIn[k] = true
			if at, ok := hr.terms[term]; ok {
				b.terms[k] = at
			}
		}
	}
}

// heldRule returns memory's state of the rule for a batch whose earliest event is at earliest,
// loading it when memory has none and it fits; nil: read per batch.
func (b *batchState) heldRule(ctx context.Context, r *Compiled, earliest time.Time) (*heldRule, error) {
	h := b.h
	if h == nil || h.limit <= 0 {
		return nil, nil
	}
	if hr := h.rules[r.ID]; hr != nil {
		if !earliest.Before(hr.from) {
			return hr, nil
		}
		h.drop(r.ID) // an event older than memory covers: this batch reads, the next one loads again
		return nil, nil
	}
	if v, ok := h.tooBig[r.ID]; ok && v == r.Version {
		return nil, nil
	}
	room := h.limit - h.rows
	for _, hr := range b.loaded {
		room -= hr.rows
	}
	from := earliest.Add(-heldSlack)
	st, ok, err := b.q.LoadAlertRuleState(ctx, r.ID, from, from.AddDate(0, 0, -r.P.HistoryDays), max(room, 0))
	if err != nil || !ok {
		if err == nil {
			h.tooBig[r.ID] = r.Version
		}
		return nil, err
	}
	hr := newHeldRule(r.Version, from, st)
	b.loaded[r.ID] = hr
	return hr, nil
}

// prepare reads, for each rule, the state the batch's events can touch.
func (b *batchState) prepare(ctx context.Context, rules []*Compiled, evs []event.FileEvent, set watchlist.Set) error {
	type touched struct {
		groups, terms []string
		seenG, seenT  map[string]bool
	}
	var earliest time.Time
	seen := false
	by := map[int64]*touched{}
	for i := range evs {
		e := &evs[i]
		if e.Risk.Trusted {
			continue
		}
		for _, r := range rules {
			if !r.applies(e, set) {
				continue
			}
			if !seen || e.Timestamp.Before(earliest) {
				earliest, seen = e.Timestamp, true
			}
			t := by[r.ID]
			if t == nil {
				t = &touched{seenG: map[string]bool{}, seenT: map[string]bool{}}
				by[r.ID] = t
			}
			addG := func(g string) {
				if !t.seenG[g] {
					t.seenG[g] = true
					t.groups = append(t.groups, g)
				}
			}
			cs := r.combos(e)
			switch r.Kind {
			case Threshold:
				for _, g := range cs {
					addG(g)
				}
			case NewTerms:
				if len(cs) > 0 {
					addG(r.person(e.User.Email))
				}
				for _, c := range cs {
					if !t.seenT[c] {
						t.seenT[c] = true
						t.terms = append(t.terms, c)
					}
				}
			}
		}
	}
	b.earliest = earliest
	for _, r := range rules {
		t := by[r.ID]
		if t == nil {
			continue
		}
		hr, err := b.heldRule(ctx, r, earliest)
		if err != nil {
			return err
		}
		if hr != nil {
			b.fromHeld(r, hr, t.groups, t.terms, earliest)
			continue
		}
		open, err := b.q.OpenAlertsIn(ctx, r.ID, t.groups, earliest)
		if err != nil {
			return err
		}
		b.openAt[r.ID] = earliest
		for _, g := range t.groups {
			b.open[matchKey{r.ID, g}] = nil
		}
		for _, a := range open {
			k := matchKey{r.ID, a.GroupKey}
			b.open[k] = append(b.open[k], a)
		}
		switch r.Kind {
		case Threshold:
			since := earliest.Add(-r.window)
			ms, err := b.q.ListAlertMatchesIn(ctx, r.ID, t.groups, since)
			if err != nil {
				return err
			}
			b.since[r.ID], b.groups[r.ID], b.horizon[r.ID] = since, t.groups, since.Add(-Lateness)
			for _, g := range t.groups {
				b.matches[matchKey{r.ID, g}] = nil
			}
			for _, m := range ms {
				k := matchKey{r.ID, m.Group}
				b.matches[k] = append(b.matches[k], m)
			}
		case NewTerms:
			seen, err := b.q.AlertTermsIn(ctx, r.ID, t.terms)
			if err != nil {
				return err
			}
			for _, term := range t.terms {
				k := termKey{r.ID, term}
				b.termsIn[k] = true
				if at, ok := seen[term]; ok {
					b.terms[k] = at
				}
			}
		}
	}
	return nil
}

// errUnprepared is a bug: evaluation asked for state prepare did not read.
var errUnprepared = errors.New("alert: batch state asked for what it did not prepare")

func (b *batchState) AddAlertMatches(_ context.Context, ms []store.AlertMatch) error {
	for _, m := range ms {
		k := matchKey{m.RuleID, m.Group}
		have, ok := b.matches[k]
		if !ok {
			return errUnprepared
		}
		if slices.ContainsFunc(have, func(x store.AlertMatch) bool { return x.EventID == m.EventID }) {
			continue
		}
		b.matches[k] = append(have, m)
		b.added[k] = append(b.added[k], m)
	}
	return nil
}

func (b *batchState) ListAlertMatches(_ context.Context, rule int64, group string, since time.Time) ([]store.AlertMatch, error) {
	have, ok := b.matches[matchKey{rule, group}]
	if !ok || since.Before(b.since[rule]) {
		return nil, errUnprepared
	}
	var out []store.AlertMatch
	for _, m := range have {
		if !m.At.Before(since) {
			out = append(out, m)
		}
	}
	slices.SortStableFunc(out, func(x, y store.AlertMatch) int { return compareInt(x.EventID, y.EventID) })
	return out, nil
}

// DeleteAlertMatches clears a group (zero before); a pruning before a time is left to flush's
// horizon (see batchState).
func (b *batchState) DeleteAlertMatches(_ context.Context, rule int64, group string, before time.Time) error {
	k := matchKey{rule, group}
	if _, ok := b.matches[k]; !ok {
		return errUnprepared
	}
	if before.IsZero() {
		b.matches[k], b.added[k], b.cleared[k] = nil, nil, true
	}
	return nil
}

func (b *batchState) MarkAlertTerms(_ context.Context, rule int64, terms []string, at, since time.Time) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, t := range terms {
		if seen[t] {
			continue
		}
		seen[t] = true
		k := termKey{rule, t}
		if !b.termsIn[k] {
			return nil, errUnprepared
		}
		last, ok := b.terms[k]
		if !ok || last.Before(since) {
			out = append(out, t)
		}
		if !ok || last.Before(at) {
			b.terms[k] = at
			if b.termsSet[rule] == nil {
				b.termsSet[rule] = map[string]time.Time{}
			}
			b.termsSet[rule][t] = at
		}
	}
	return out, nil
}

func (b *batchState) OpenAlertFor(ctx context.Context, rule int64, group string, at time.Time) (store.Alert, error) {
	as, ok := b.open[matchKey{rule, group}]
	if !ok || at.Before(b.openAt[rule]) {
		return store.Alert{}, errUnprepared
	}
	for i := len(as) - 1; i >= 0; i-- {
		if as[i].WindowEnd.After(at) {
			return as[i], nil
		}
	}
	return store.Alert{}, store.ErrNotFound
}

func (b *batchState) CreateAlert(ctx context.Context, a store.Alert, ids []int64) (store.Alert, error) {
	a, err := b.q.CreateAlert(ctx, a, ids)
	if err != nil {
		return a, err
	}
	k := matchKey{a.RuleID, a.GroupKey}
	if as, ok := b.open[k]; ok && (a.State == store.AlertOpen || a.State == store.AlertInProgress) {
		b.open[k] = append(as, a)
	}
	for rk := range b.raised {
		if rk.rule == a.RuleID && !a.CreatedAt.Before(rk.since) {
			b.raised[rk]++
		}
	}
	return a, nil
}

func (b *batchState) AddAlertEvents(_ context.Context, id int64, ids []int64, first, last time.Time) error {
	g := b.grown[id]
	if g == nil {
		g = &grownAlert{first: first, last: last}
		b.grown[id] = g
		b.grownO = append(b.grownO, id)
	}
	g.ids = append(g.ids, ids...)
	g.first, g.last = minTime(g.first, first), maxTime(g.last, last)
	return nil
}

func (b *batchState) CountAlertsRaised(ctx context.Context, rule int64, since time.Time) (int64, error) {
	k := raisedKey{rule, since}
	if n, ok := b.raised[k]; ok {
		return n, nil
	}
	n, err := b.q.CountAlertsRaised(ctx, rule, since)
	if err != nil {
		return 0, err
	}
	b.raised[k] = n
	return n, nil
}

// flush writes what the batch changed: pruned and cleared groups first, then the new matches, the
// terms seen and the events added to open alerts.
func (b *batchState) flush(ctx context.Context) error {
	rules := make([]int64, 0, len(b.groups))
	for r := range b.groups {
		rules = append(rules, r)
	}
	slices.Sort(rules)
	var add []store.AlertMatch
	for _, r := range rules {
		prune := b.groups[r]
		if b.heldR[r] != nil { // memory knows every match: prune only the groups holding old ones
			prune = nil
			for _, g := range b.groups[r] {
				if slices.ContainsFunc(b.matches[matchKey{r, g}], func(m store.AlertMatch) bool { return m.At.Before(b.horizon[r]) }) {
					prune = append(prune, g)
				}
			}
		}
		if len(prune) > 0 {
			if err := b.q.PruneAlertMatches(ctx, r, prune, b.horizon[r]); err != nil {
				return err
			}
		}
		var cleared []string
		for _, g := range b.groups[r] {
			k := matchKey{r, g}
			if b.cleared[k] {
				cleared = append(cleared, g)
			}
			add = append(add, b.added[k]...)
		}
		if len(cleared) > 0 {
			if err := b.q.PruneAlertMatches(ctx, r, cleared, time.Time{}); err != nil {
				return err
			}
		}
	}
	if len(add) > 0 {
		if err := b.q.AddAlertMatches(ctx, add); err != nil {
			return err
		}
	}
	trules := make([]int64, 0, len(b.termsSet))
	for r := range b.termsSet {
		trules = append(trules, r)
	}
	slices.Sort(trules)
	for _, r := range trules {
		if err := b.q.SetAlertTerms(ctx, r, b.termsSet[r]); err != nil {
			return err
		}
	}
	for _, id := range b.grownO {
		g := b.grown[id]
		if err := b.q.AddAlertEvents(ctx, id, g.ids, g.first, g.last); err != nil {
			return err
		}
	}
	return nil
}

func compareInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
