package alert

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/search"
	"github.com/telltale-dev/telltale/internal/store"
	"github.com/telltale-dev/telltale/internal/watchlist"
)

// Backtest limits.
const (
	MaxBacktestDays      = 365
	DefaultBacktestLimit = 200_000 // matching events read at most
	backtestPeople       = 50      // people listed at most
)

// backtestBudget bounds the time one backtest reads and evaluates: past it, the backtest answers
// with the pages it has evaluated (Truncated), as at the read limit, so an answer never waits on
// the size of the store (a rule whose query no index narrows reads every event of its days).
var backtestBudget = 20 * time.Second

// Searcher reads stored events for a backtest.
type Searcher interface {
	SearchEvents(ctx context.Context, q search.Query, opt store.SearchOptions) ([]event.FileEvent, error)
	// AggregateBuckets measures a threshold rule's matches in the database (backtestBuckets).
	AggregateBuckets(ctx context.Context, q search.Query, spec store.BucketSpec, fn func(store.BucketRow) error) error
	// ListWatchlistMemberships: a rule scoped to watchlists is tested with today's members.
	ListWatchlistMemberships(ctx context.Context) ([]store.WatchlistMembership, error)
	store.AliasReader // actor: terms mean the person, as in the evaluator
}

// BacktestResult is what a rule would have raised on the stored events.
type BacktestResult struct {
	From, To   time.Time
	Alerts     int
	Suppressed int64 // alerts the hourly cap would have held back
	Events     int   // matching events read (the history of a new_terms rule included)
	Truncated  bool  // the read limit or the time budget was reached: the counts cover the oldest events only
	People     []PersonAlerts
}

// PersonAlerts is one person's share of a backtest, most alerts first.
type PersonAlerts struct {
	Person string
	Alerts int
	Events int64
}

// Backtest evaluates rule r over the stored events observed in the last days before now, in
// observed order, in memory (nothing is written), reading at most limit matching events (<= 0:
// DefaultBacktestLimit) for at most backtestBudget (20 s). A new_terms rule also reads its history
// window before them.
//
// Observed order, not the evaluator's id (arrival) order: the pages then follow the observed-time
// indexes, so what a backtest reads is the rule's matches within its days, whatever the number of
// events stored before them (in id order the first page scanned every older event: 49 s for a
// public-link rule over 30 days of 10M events). A late-stored event the evaluator saw after its
// neighbours is seen among them here; threshold windows hold it either way.
// The hourly cap counts by the events' own times. The rule is validated first (Compile's errors).
func Backtest(ctx context.Context, st Searcher, r store.AlertRule, days int, now time.Time, limit int) (BacktestResult, error) {
	res, _, err := backtest(ctx, st, r, days, now, limit, false)
	return res, err
}

// backtest is Backtest; byEvents makes a threshold rule read every matching event instead of
// measuring buckets first (tests compare the two), and it returns the alerts too.
func backtest(ctx context.Context, st Searcher, r store.AlertRule, days int, now time.Time, limit int, byEvents bool) (BacktestResult, *memState, error) {
	if days < 1 || days > MaxBacktestDays {
		return BacktestResult{}, nil, errf("days", "%d is not between 1 and %d", days, MaxBacktestDays)
	}
	if limit <= 0 {
		limit = DefaultBacktestLimit
	}
	c, err := Compile(r, now)
	if err == nil {
		err = c.expandActors(ctx, st)
	}
	if err != nil {
		return BacktestResult{}, nil, err
	}
	c.ID = -1 // never a stored rule's state
	res := BacktestResult{From: now.AddDate(0, 0, -days), To: now}
	read := days
	if c.Kind == NewTerms {
		read += c.P.HistoryDays
	}
	q, err := bounded(c.Q, fmt.Sprintf("after:%dd", read), now)
	if err != nil {
		return res, nil, err
	}
	var set watchlist.Set
	if len(c.watch) > 0 {
		ms, err := st.ListWatchlistMemberships(ctx)
		if err != nil {
			return res, nil, err
		}
		set = watchlist.NewSet(ms)
	}
	mem := newMemState()
	start := time.Now()
	done := false
	if c.Kind == Threshold && !byEvents {
		if done, err = backtestBuckets(ctx, st, c, q, set, mem, &res, limit, start); err != nil {
			return res, nil, err
		}
	}
	if !done {
		if err := backtestEvents(ctx, st, c, q, set, mem, &res, limit, start); err != nil {
			return res, nil, err
		}
	}
	res.Truncated = res.Truncated || res.Events >= limit
	res.Alerts = len(mem.alerts)
	by := map[string]*PersonAlerts{}
	for _, a := range mem.alerts {
		p := by[a.Person]
		if p == nil {
			p = &PersonAlerts{Person: a.Person}
			by[a.Person] = p
		}
		p.Alerts++
		p.Events += a.EventCount
	}
	for _, p := range by {
		res.People = append(res.People, *p)
	}
	sort.Slice(res.People, func(i, j int) bool {
		a, b := res.People[i], res.People[j]
		if a.Alerts != b.Alerts {
			return a.Alerts > b.Alerts
		}
		return a.Person < b.Person
	})
	if len(res.People) > backtestPeople {
		res.People = res.People[:backtestPeople]
	}
	return res, mem, nil
}

// backtestEvents evaluates rule c over every event matching q, in observed order, page by page.
func backtestEvents(ctx context.Context, st Searcher, c *Compiled, q search.Query, set watchlist.Set, mem *memState, res *BacktestResult, limit int, start time.Time) error {
	var after *store.SearchCursor
	var who resolver
	for res.Events < limit {
		page, err := st.SearchEvents(ctx, q, store.SearchOptions{Sort: store.SortObserved, Limit: min(1000, limit-res.Events), After: after})
		if err != nil {
			return err
		}
		if len(page) == 0 {
			break
		}
		res.Events += len(page)
		cur := store.CursorOf(&page[len(page)-1], store.SortObserved)
		after = &cur
		if c.people, err = who.people(ctx, st, time.Time{}, actors(page)); err != nil {
			return err
		}
		var in []event.FileEvent
		for i := range page {
			e := &page[i]
			if e.Timestamp.Before(res.From) {
				if !e.Risk.Trusted && c.Kind == NewTerms && c.applies(e, set) { // history: terms seen, nothing raised
					if _, err := mem.MarkAlertTerms(ctx, c.ID, c.combos(e), e.Timestamp, time.Time{}); err != nil {
						return err
					}
				}
				continue
			}
			in = append(in, *e)
		}
		out, err := evaluate(ctx, mem, []*Compiled{c}, in, func(e *event.FileEvent) time.Time { return e.Timestamp }, set)
		if err != nil {
			return err
		}
		res.Suppressed += out.Suppressed[c.ID]
		if len(page) < 1000 {
			break
		}
		if time.Since(start) >= backtestBudget {
			res.Truncated = true
			break
		}
	}
	return nil
}
