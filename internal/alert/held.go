package alert

import (
	"slices"
	"sync"
	"time"

	"github.com/telltale-dev/telltale/internal/store"
)

// DefaultHeldRows is how many rows of rule state (pending matches, open alerts, terms) the
// evaluator keeps in memory across batches unless Options.HeldRows says otherwise.
const DefaultHeldRows = 500_000

// heldSlack is how far before a batch's earliest event a rule's state is loaded: the open alerts
// whose window ends after it, the terms seen after it less the rule's history. Batches whose
// events are no older than that are served from memory; an older event (a feed more than two days
// late) makes the rule read per batch again, and reload at its next batch.
const heldSlack = 2 * Lateness

// held is the evaluation state the evaluator keeps in memory across batches on the node that
// holds the evaluation unit's lease: per rule, every pending match, the open alerts and the terms
// seen, loaded once (store.LoadAlertRuleState, in a batch's transaction) and then kept in step
// with what the evaluator's own batches write, applied only after their commit. The stored state
// stays the truth, written in the batch's transaction as before; memory only saves reading it.
//
// It is used only while it is provably the stored state: each batch reads, in its transaction,
// the position it moves by compare-and-set and the marks (store.EvaluatorMarks). A position
// other than the one this memory last committed (another node evaluated, the lease moved, a
// commit whose outcome was lost) or a moved updates position drops everything; a changed count of
// alert changes (an analyst closed or reopened an alert) drops every rule, as does a batch of
// merged events evaluated again (runUpdates); a rule at another version (edited, re-enabled), a
// rule seeded again or gone, is dropped. A rule whose state passes the limit is read per batch.
type held struct {
	mu     sync.Mutex
	limit  int // rows at most; < 0: nothing is held
	valid  bool
	pos    int64 // the evaluator position after the last batch applied
	marks  store.EvaluatorMarks
	rules  map[int64]*heldRule
	rows   int
	tooBig map[int64]int64 // rule id -> version whose state passed the limit
}

// heldRule is one rule's state at one version.
type heldRule struct {
	version int64
	from    time.Time                     // serves batches whose earliest event is at or after it
	matches map[string][]store.AlertMatch // every pending match, by group
	open    map[string][]store.Alert      // open alerts whose window ends after from, by group, by id
	terms   map[string]time.Time          // terms seen at or after from less the history, and since
	rows    int
}

func newHeld(limit int) *held {
	return &held{limit: limit, rules: map[int64]*heldRule{}, tooBig: map[int64]int64{}}
}

// reset forgets everything.
func (h *held) reset() {
	h.valid, h.rules, h.rows, h.tooBig = false, map[int64]*heldRule{}, 0, map[int64]int64{}
}

// drop forgets one rule.
func (h *held) drop(id int64) {
	if hr := h.rules[id]; hr != nil {
		h.rows -= hr.rows
		delete(h.rules, id)
	}
}

// check runs in a batch's transaction, before prepare, with the position the batch moves from
// and the marks read in the transaction: it forgets whatever is not the stored state any more.
func (h *held) check(pos int64, m store.EvaluatorMarks, rules []*Compiled) {
	if !h.valid || h.pos != pos || h.marks.Updates != m.Updates {
		h.reset()
		return
	}
	if h.marks.AlertChanges != m.AlertChanges {
		for id := range h.rules {
			h.drop(id)
		}
	}
	versions := make(map[int64]int64, len(rules))
	for _, r := range rules {
		versions[r.ID] = r.Version
	}
	for id, hr := range h.rules {
		if v, ok := versions[id]; !ok || v != hr.version {
			h.drop(id)
		}
	}
}

// newHeldRule keeps a rule's loaded state.
func newHeldRule(version int64, from time.Time, st store.AlertRuleState) *heldRule {
	hr := &heldRule{version: version, from: from, matches: map[string][]store.AlertMatch{}, open: map[string][]store.Alert{},
		terms: st.Terms, rows: len(st.Matches) + len(st.Open) + len(st.Terms)}
	if hr.terms == nil {
		hr.terms = map[string]time.Time{}
	}
	for _, m := range st.Matches {
		hr.matches[m.Group] = append(hr.matches[m.Group], m)
	}
	for _, a := range st.Open {
		hr.open[a.GroupKey] = append(hr.open[a.GroupKey], a)
	}
	return hr
}

// apply keeps memory in step with a batch just committed (last: the position it moved to).
func (h *held) apply(b *batchState, last int64, m store.EvaluatorMarks) {
	for id, hr := range b.loaded {
		h.rules[id] = hr
		h.rows += hr.rows
	}
	for id, hr := range b.heldR {
		if h.rules[id] != hr {
			continue // dropped meanwhile
		}
		before := hr.rows
		cut := b.earliest.Add(-heldSlack)
		for _, g := range b.touched[id] {
			k := matchKey{id, g}
			if ms, ok := b.matches[k]; ok {
				hr.rows -= len(hr.matches[g])
				ms = slices.DeleteFunc(slices.Clone(ms), func(x store.AlertMatch) bool { return x.At.Before(b.horizon[id]) })
				if len(ms) > 0 {
					hr.matches[g] = ms
				} else {
					delete(hr.matches, g)
				}
				hr.rows += len(ms)
			}
			hr.rows -= len(hr.open[g])
			as := slices.DeleteFunc(slices.Clone(b.open[k]), func(a store.Alert) bool { return !a.WindowEnd.After(cut) })
			if len(as) > 0 {
				hr.open[g] = as
			} else {
				delete(hr.open, g)
			}
			hr.rows += len(as)
		}
		if cut.After(hr.from) { // alerts whose window ended before cut are never asked for again
			hr.from = cut
		}
		for t, at := range b.termsSet[id] {
			if _, ok := hr.terms[t]; !ok {
				hr.rows++
			}
			hr.terms[t] = at
		}
		h.rows += hr.rows - before
	}
	for h.rows > h.limit && len(h.rules) > 0 { // over the limit: the largest rules are read per batch
		var big int64
		for id, hr := range h.rules {
			if h.rules[big] == nil || hr.rows > h.rules[big].rows {
				big = id
			}
		}
		h.tooBig[big] = h.rules[big].version
		h.drop(big)
	}
	h.valid, h.pos, h.marks = true, last, m
}
