package alert

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/telltale-dev/telltale/internal/clock"
	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/metrics"
	"github.com/telltale-dev/telltale/internal/search"
	"github.com/telltale-dev/telltale/internal/store"
	"github.com/telltale-dev/telltale/internal/watchlist"
	"github.com/telltale-dev/telltale/internal/work"
)

// catchUp is how many times Options.Batch a batch takes when the evaluator is behind.
const catchUp = 4

// WorkEvaluate is the work kind of the evaluator: one unit (key "all"), so one node at a time
// evaluates, under the unit's lease; any node may hold it.
const WorkEvaluate = "alerts.evaluate"

// Store is what the evaluator uses: events in id order, rules, and one transaction per batch.
type Store interface {
	InTx(ctx context.Context, fn func(q store.Queries) error) error
	GetAlertPosition(ctx context.Context) (int64, error)
	InitAlertPosition(ctx context.Context, at int64) (int64, error)
	NewestEventID(ctx context.Context) (int64, error)
	ListEvents(ctx context.Context, f store.EventFilter) ([]event.FileEvent, error)
	SearchEvents(ctx context.Context, q search.Query, opt store.SearchOptions) ([]event.FileEvent, error)
	ListAlertRules(ctx context.Context) ([]store.AlertRule, error)
	SetAlertRuleWarning(ctx context.Context, id int64, warning string, suppressed int64) error
	MarkAlertRuleSeeded(ctx context.Context, id, version int64) error
	GetUpdatesPosition(ctx context.Context) (int64, error)
	InitUpdatesPosition(ctx context.Context) (int64, error)
	ListEventUpdates(ctx context.Context, after int64, limit int) (int64, []event.FileEvent, error)
	watchlist.Source
	store.AliasReader // actor: terms mean the person (search.ExpandActors)
}

// Options configure an Evaluator. Zero fields get the defaults noted.
type Options struct {
	Store Store
	Clock clock.Clock  // default clock.Real
	Log   *slog.Logger // default: discard
	// Batch is how many events one transaction evaluates; default 500. Behind (the last batch
	// was full), a batch takes up to catchUp times as many, so a backlog pays the per-batch costs
	// (the rules read, the commit) fewer times.
	Batch int
	// Budget is how long one run of the unit evaluates before yielding; default 10s.
	Budget time.Duration
	// Idle is how long the unit waits when it has caught up; default 2s.
	Idle time.Duration
	// SeedLimit bounds the stored events read to seed a new_terms rule's history; default 100,000.
	SeedLimit int
	// Metrics records alerts raised and how long events waited for evaluation; default: a private registry.
	Metrics *metrics.Registry
	// HeldRows bounds the rows of rule state (pending matches, open alerts, terms) the evaluator
	// keeps in memory across batches instead of reading them each batch; default DefaultHeldRows;
	// negative: nothing is kept (every batch reads its state).
	HeldRows int
	// Hook, when set, runs inside each batch's transaction after evaluation and before the commit
	// (tests make it fail to prove a failed batch leaves nothing behind).
	Hook func(q store.Queries) error
	// Raised, when set, runs inside each batch's transaction with the alerts the batch created,
	// before the commit: what it writes (the deliveries of flows, internal/integration) commits
	// with the alerts or not at all, so an alert is announced exactly once and never lost.
	Raised func(ctx context.Context, q store.Queries, alerts []store.Alert) error
	// Grown, when set, runs inside each batch's transaction with the ids of the open alerts the
	// batch added events to (internal/integration tells their tickets), before the commit.
	Grown func(ctx context.Context, q store.Queries, alertIDs []int64) error
}

// Evaluator follows committed events and raises alerts.
type Evaluator struct {
	o      Options
	mu     sync.Mutex
	cache  map[int64]*Compiled // rule id -> compiled at its version, in minute
	minute time.Time           // the minute cache's relative times were resolved in
	// perEvent (tests) evaluates with a store call per event and rule instead of batchState.
	perEvent bool
	watch    *watchlist.Cache
	who      resolver // the events' people (grouping by person)
	held     *held    // rule state kept across batches
	behind   bool     // the last batch was full: the next one may take more
	alerts   metrics.Counter
	latency  metrics.Histogram
}

// New returns an Evaluator.
func New(o Options) *Evaluator {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Batch <= 0 {
		o.Batch = 500
	}
	if o.Budget <= 0 {
		o.Budget = 10 * time.Second
	}
	if o.Idle <= 0 {
		o.Idle = 2 * time.Second
	}
	if o.SeedLimit <= 0 {
		o.SeedLimit = 100_000
	}
	if o.Metrics == nil {
		o.Metrics = metrics.New()
	}
	if o.HeldRows == 0 {
		o.HeldRows = DefaultHeldRows
	}
	return &Evaluator{o: o, watch: watchlist.NewCache(o.Store), held: newHeld(o.HeldRows),
		alerts: o.Metrics.Counter("telltale_alerts_total", "Alert rule outcomes on this node: raised (new alerts), gathered (events added to an open alert), suppressed (alerts a rule's hourly cap held back).", "outcome"),
		latency: o.Metrics.Histogram("telltale_alert_evaluation_delay_seconds", "Time from an event's commit to the commit of its evaluation (its alert raised or updated), per event.",
			[]float64{.1, .25, .5, 1, 2, 3, 5, 10, 30, 60, 300}),
	}
}

// Register adds the evaluation handler to the runner.
func (v *Evaluator) Register(r *work.Runner) { r.Handle(WorkEvaluate, v.run) }

// Unit is the evaluation unit, to EnsureWork at start.
func (v *Evaluator) Unit() store.Work {
	return store.Work{Kind: WorkEvaluate, Key: "all", NextRunAt: v.o.Clock.Now()}
}

func (v *Evaluator) run(ctx context.Context, _ store.Work) (time.Time, error) {
	start := v.o.Clock.Now()
	for {
		n, err := v.RunOnce(ctx)
		if err != nil {
			return time.Time{}, err
		}
		now := v.o.Clock.Now()
		if n == 0 {
			return now.Add(v.o.Idle), nil
		}
		if now.Sub(start) >= v.o.Budget {
			return now, nil // more to do: yield to other work, run again at once
		}
	}
}

// RunOnce evaluates the next batch of events after the position and returns how many events it
// passed (0 when caught up). The batch's alerts, their events, the rules' pending matches and
// terms and the new position commit together: a crash or a lost race (another node moved the
// position first) leaves nothing of the batch behind, so every event is evaluated once.
//
// Then it evaluates again the events a merge of two feeds rewrote after the main pass had
// evaluated them (runUpdates), so an event whose actor, target or risk was learned only from the
// second feed is judged on what is known now.
func (v *Evaluator) RunOnce(ctx context.Context) (int, error) {
	n, err := v.runEvents(ctx)
	if err != nil {
		return n, err
	}
	u, err := v.runUpdates(ctx)
	return n + u, err
}

// runEvents evaluates the next batch of new events.
func (v *Evaluator) runEvents(ctx context.Context) (int, error) {
	v.held.mu.Lock() // one batch at a time: it reads and moves memory (and behind)
	defer v.held.mu.Unlock()
	pos, err := v.position(ctx)
	if err != nil {
		return 0, err
	}
	limit := v.o.Batch
	if v.behind {
		limit *= catchUp
	}
	evs, err := v.o.Store.ListEvents(ctx, store.EventFilter{AfterID: pos, Limit: limit})
	if err != nil || len(evs) == 0 {
		v.behind = false
		return 0, err
	}
	v.behind = len(evs) == limit || (limit > v.o.Batch && len(evs) > v.o.Batch)
	now := v.o.Clock.Now()
	rules, err := v.rules(ctx, now)
	if err != nil {
		return 0, err
	}
	set, err := v.watch.Get(ctx)
	if err != nil {
		return 0, err
	}
	for _, r := range rules {
		if r.Kind == NewTerms && !r.Seeded {
			v.held.drop(r.ID) // seeding writes its terms outside the batches
			if err := v.seed(ctx, r, pos, now, set); err != nil {
				return 0, err
			}
		}
	}
	people, err := v.who.people(ctx, v.o.Store, now, actors(evs))
	if err != nil {
		return 0, err
	}
	rules = withPeople(rules, people)
	last := evs[len(evs)-1].Event.ID
	var out Outcome
	var st *batchState
	var marks store.EvaluatorMarks
	err = v.o.Store.InTx(ctx, func(q store.Queries) error {
		st = nil
		if err := q.AdvanceAlertPosition(ctx, pos, last); err != nil {
			return err
		}
		if v.perEvent { // tests: every call to the store, as before batchState, to compare with
			var err error
			if out, err = evaluate(ctx, q, rules, evs, func(*event.FileEvent) time.Time { return now }, set); err != nil {
				return err
			}
			return v.conclude(ctx, q, rules, out, now)
		}
		var err error
		if marks, err = q.EvaluatorMarks(ctx); err != nil {
			return err
		}
		v.held.check(pos, marks, rules) // in the transaction: what memory holds is the stored state
		st = newBatchState(q)
		st.h = v.held
		if err := st.prepare(ctx, rules, evs, set); err != nil {
			return err
		}
		if out, err = evaluate(ctx, st, rules, evs, func(*event.FileEvent) time.Time { return now }, set); err != nil {
			return err
		}
		if err := st.flush(ctx); err != nil {
			return err
		}
		return v.conclude(ctx, q, rules, out, now)
	})
	if errors.Is(err, store.ErrConflict) {
		v.o.Log.Info("alert: another run evaluated these events first", "after", pos)
		return len(evs), nil
	}
	if err != nil {
		return 0, err
	}
	if st != nil {
		v.held.apply(st, last, marks)
	}
	done := v.o.Clock.Now()
	for i := range evs {
		if !evs[i].Event.Inserted.IsZero() {
			v.latency.Observe(max(0, done.Sub(evs[i].Event.Inserted).Seconds()))
		}
	}
	v.count(out, "through_event", last)
	return len(evs), nil
}

// conclude ends a batch's transaction: the rules' cap warnings, the deliveries of the alerts raised
// (Options.Raised) and grown (Options.Grown), and the test hook, all committed with the batch or not at all.
func (v *Evaluator) conclude(ctx context.Context, q store.Queries, rules []*Compiled, out Outcome, now time.Time) error {
	for _, r := range rules {
		if n := out.Suppressed[r.ID]; n > 0 {
			w := fmt.Sprintf("reached its cap of %d alerts per hour at %s and did not raise %d more; narrow the query or raise params.max_alerts_per_hour",
				r.P.MaxAlertsPerHour, now.UTC().Format(time.RFC3339), n)
			if err := q.SetAlertRuleWarning(ctx, r.ID, w, n); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
	}
	if v.o.Raised != nil && len(out.New) > 0 {
		if err := v.o.Raised(ctx, q, out.New); err != nil {
			return err
		}
	}
	if v.o.Grown != nil && len(out.Grown) > 0 {
		if err := v.o.Grown(ctx, q, out.Grown); err != nil {
			return err
		}
	}
	if v.o.Hook != nil {
		return v.o.Hook(q)
	}
	return nil
}

// count records an evaluation's outcome in the metrics and the log.
func (v *Evaluator) count(out Outcome, where string, last int64) {
	var suppressed int64
	for _, n := range out.Suppressed {
		suppressed += n
	}
	v.alerts.Add(int64(out.Raised), "raised")
	v.alerts.Add(int64(out.Gathered), "gathered")
	v.alerts.Add(suppressed, "suppressed")
	if out.Raised > 0 || out.Gathered > 0 {
		v.o.Log.Info("alerts raised", "raised", out.Raised, "events_gathered", out.Gathered, where, last)
	}
}

// runUpdates evaluates the next batch of event updates (store.MergeQueries.UpdateEvent: a
// second feed's report of an action enriched the event stored from the first). An updated event
// the main pass has not reached yet is left to it (it reads the event as stored now). For one it
// has evaluated, every rule is asked again, as for a new event, except a rule whose alert already
// holds the event (an alert raised stays raised, and the event is not counted twice): there the
// alert only learns its person when it named nobody and its events now agree on one. The event's
// pending threshold matches are dropped first, so it counts under the group it belongs to now
// (the person learned), or under none if the rule no longer matches it. The position, the alerts
// and the deliveries of flows commit together, so each update is evaluated exactly once.
func (v *Evaluator) runUpdates(ctx context.Context) (int, error) {
	upos, err := v.o.Store.GetUpdatesPosition(ctx)
	if errors.Is(err, store.ErrNotFound) {
		upos, err = v.o.Store.InitUpdatesPosition(ctx)
	}
	if err != nil {
		return 0, err
	}
	last, evs, err := v.o.Store.ListEventUpdates(ctx, upos, v.o.Batch)
	if err != nil || last == upos {
		return 0, err
	}
	now := v.o.Clock.Now()
	rules, err := v.rules(ctx, now)
	if err != nil {
		return 0, err
	}
	set, err := v.watch.Get(ctx)
	if err != nil {
		return 0, err
	}
	people, err := v.who.people(ctx, v.o.Store, now, actors(evs))
	if err != nil {
		return 0, err
	}
	rules = withPeople(rules, people)
	out := Outcome{Suppressed: map[int64]int64{}}
	again := false // some event was evaluated again
	err = v.o.Store.InTx(ctx, func(q store.Queries) error {
		again = false
		if err := q.AdvanceUpdatesPosition(ctx, upos, last); err != nil {
			return err
		}
		pos, err := q.GetAlertPosition(ctx) // in the transaction: where the main pass is now
		if err != nil {
			return err
		}
		out = Outcome{Suppressed: map[int64]int64{}}
		for i := range evs {
			e := &evs[i]
			if e.Event.ID > pos {
				continue // the main pass has not evaluated it: it will, as it is now
			}
			again = true
			rs, err := v.reevaluate(ctx, q, rules, e)
			if err != nil {
				return err
			}
			o, err := evaluate(ctx, q, rs, evs[i:i+1], func(*event.FileEvent) time.Time { return now }, set)
			if err != nil {
				return err
			}
			out.add(o)
		}
		return v.conclude(ctx, q, rules, out, now)
	})
	if errors.Is(err, store.ErrConflict) {
		v.o.Log.Info("alert: another run evaluated these updates first", "after", upos)
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	v.held.mu.Lock()
	if again || v.held.marks.Updates != upos {
		v.held.reset() // the events evaluated again wrote past memory: the next batch loads afresh
	} else {
		v.held.marks.Updates = last
	}
	v.held.mu.Unlock()
	v.count(out, "through_update", last)
	return len(evs), nil
}

// reevaluate prepares an updated event for evaluation: its pending matches dropped, the alerts
// holding it given their person where they lacked one; it returns the rules to ask again (those
// with no alert holding the event).
func (v *Evaluator) reevaluate(ctx context.Context, q store.Queries, rules []*Compiled, e *event.FileEvent) ([]*Compiled, error) {
	if err := q.DeleteEventMatches(ctx, e.Event.ID); err != nil {
		return nil, err
	}
	held, err := q.AlertsWithEvent(ctx, e.Event.ID)
	if err != nil {
		return nil, err
	}
	in := map[int64]bool{}
	for _, a := range held {
		in[a.RuleID] = true
		if a.Person != "" {
			continue
		}
		p, err := alertPerson(ctx, q, a.ID)
		if err != nil {
			return nil, err
		}
		if p != "" {
			note := fmt.Sprintf("learned from event %d, enriched by a second feed", e.Event.ID)
			if err := q.SetAlertPerson(ctx, a.ID, p, note); err != nil {
				return nil, err
			}
		}
	}
	var out []*Compiled
	for _, r := range rules {
		if !in[r.ID] {
			out = append(out, r)
		}
	}
	return out, nil
}

// alertPersonLimit bounds the events read to name an alert's person.
const alertPersonLimit = 100

// alertPerson is the one person every event of the alert names now, under any of their addresses
// ("" when they name none, or several, or the alert holds more than alertPersonLimit events).
func alertPerson(ctx context.Context, q store.Queries, alertID int64) (string, error) {
	ids, err := q.ListAlertEventIDs(ctx, alertID, 0, alertPersonLimit+1)
	if err != nil || len(ids) > alertPersonLimit {
		return "", err
	}
	who := ""
	for _, id := range ids {
		e, err := q.GetEvent(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			continue // deleted with its connection
		}
		if err != nil {
			return "", err
		}
		p := strings.ToLower(e.User.Email)
		if p != "" { // the person, as rules group by (an alias's events name its person)
			if p, err = q.ResolvePerson(ctx, p); err != nil {
				return "", err
			}
		}
		if p == "" || (who != "" && p != who) {
			return "", nil
		}
		who = p
	}
	return who, nil
}

// position returns the evaluator's position. The first run ever starts after the newest event
// stored: rules raise alerts from then on (a backtest shows what they would have raised before),
// so an upgraded node with years of events does not raise a flood of old alerts.
func (v *Evaluator) position(ctx context.Context) (int64, error) {
	pos, err := v.o.Store.GetAlertPosition(ctx)
	if !errors.Is(err, store.ErrNotFound) {
		return pos, err
	}
	newest, err := v.o.Store.NewestEventID(ctx)
	if err != nil {
		return 0, err
	}
	return v.o.Store.InitAlertPosition(ctx, newest)
}

// Start sets the position when it has none (the first start of a node with alerts).
func (v *Evaluator) Start(ctx context.Context) error {
	_, err := v.position(ctx)
	return err
}

// rules compiles the enabled rules, each once per version (and per minute, for the relative times
// a query may hold: after:7d). A stored rule that no longer compiles (a field a later
// version renamed) is skipped with a warning on the rule.
func (v *Evaluator) rules(ctx context.Context, now time.Time) ([]*Compiled, error) {
	all, err := v.o.Store.ListAlertRules(ctx)
	if err != nil {
		return nil, err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if m := now.Truncate(time.Minute); !m.Equal(v.minute) || v.cache == nil {
		v.cache, v.minute = map[int64]*Compiled{}, m // relative times in queries move on each minute
	}
	var out []*Compiled
	for _, r := range all {
		if !r.Enabled {
			continue
		}
		if c := v.cache[r.ID]; c != nil && c.Version == r.Version {
			cc := *c
			cc.AlertRule = r // warning, suppressed and seeded change without a new version
			out = append(out, &cc)
			continue
		}
		c, err := Compile(r, now)
		if err == nil {
			if err = c.expandActors(ctx, v.o.Store); err != nil {
				var se *search.Error
				if !errors.As(err, &se) {
					return nil, err // the store failed: the batch is tried again
				}
			}
		}
		if err == nil {
			v.cache[r.ID] = c
		}
		if err != nil {
			w := "not evaluated: " + err.Error()
			if r.Warning != w {
				if err := v.o.Store.SetAlertRuleWarning(ctx, r.ID, w, 0); err != nil && !errors.Is(err, store.ErrNotFound) {
					return nil, err
				}
			}
			continue
		}
		out = append(out, c)
	}
	return out, nil
}

// seed records the terms of a new_terms rule's stored history (events up to the position, within
// its history window, at most SeedLimit), so that the rule's first days do not find every term
// new. Seeding is idempotent; a rule changed meanwhile is seeded again for its new version.
func (v *Evaluator) seed(ctx context.Context, r *Compiled, pos int64, now time.Time, set watchlist.Set) error {
	q, err := bounded(r.Q, fmt.Sprintf("after:%dd id<=%d", r.P.HistoryDays, pos), now)
	if err != nil {
		return err
	}
	var after *store.SearchCursor
	for read := 0; read < v.o.SeedLimit; {
		page, err := v.o.Store.SearchEvents(ctx, q, store.SearchOptions{Sort: store.SortID, Limit: 1000, After: after})
		if err != nil {
			return err
		}
		if len(page) == 0 {
			break
		}
		read += len(page)
		c := store.CursorOf(&page[len(page)-1], store.SortID)
		after = &c
		people, err := v.who.people(ctx, v.o.Store, now, actors(page))
		if err != nil {
			return err
		}
		r := withPeople([]*Compiled{r}, people)[0] // its terms name people
		if err := v.o.Store.InTx(ctx, func(tx store.Queries) error {
			for i := range page {
				e := &page[i]
				if e.Risk.Trusted || !r.applies(e, set) {
					continue
				}
				if _, err := tx.MarkAlertTerms(ctx, r.ID, r.combos(e), e.Timestamp, time.Time{}); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return err
		}
	}
	if err := v.o.Store.MarkAlertRuleSeeded(ctx, r.ID, r.Version); err != nil && !errors.Is(err, store.ErrConflict) {
		return err
	}
	return nil
}

// bounded parses a rule's query ANDed with extra terms.
func bounded(q search.Query, extra string, now time.Time) (search.Query, error) {
	x, err := search.Parse(extra, now)
	if err != nil || q.Root == nil {
		return x, err
	}
	if x.Root == nil {
		return q, nil
	}
	and := &search.And{}
	for _, n := range []search.Node{q.Root, x.Root} {
		if a, ok := n.(*search.And); ok { // an And never holds another And directly
			and.Nodes = append(and.Nodes, a.Nodes...)
		} else {
			and.Nodes = append(and.Nodes, n)
		}
	}
	return search.Query{Root: and}, nil
}
