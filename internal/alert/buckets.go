package alert

import (
	"context"
	"errors"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/search"
	"github.com/telltale-dev/telltale/internal/store"
	"github.com/telltale-dev/telltale/internal/watchlist"
)

// A threshold rule's backtest measures in the database first (store.AggregateBuckets: one GROUP
// BY over the rule's compiled query, per actor, the rule's single-valued group fields and bucket of
// the rule's window) and reads only the events that can take part in an alert.
//
// Why that raises the same alerts as reading every matching event: a threshold alert's events are
// the matches of one window [first, first+W] (W the rule's window) that reach the value, plus the
// events the alert gathers until first+W. With buckets of width W, all of them lie in the bucket b
// of first and the next one, b+1, so the group's measure in b and b+1 adds up to the value at
// least (a group's measure over some events is at most the sum of its buckets' measures: events and
// bytes add up, distinct files at most add up, an actor's rows are summed into their group, and a
// group of multi-valued fields is within the group of its other fields). So an event in a bucket
// that no such candidate pair holds is never in an alert nor in a window that reaches, and leaving
// it out changes no window that does: the events read are whole buckets of their group, both
// buckets of every candidate pair. The hourly cap then counts the same alerts at the same times.
// The events read are evaluated in observed order by the same code (evaluate) as the event-reading
// path; TestBacktestBucketsAgree compares the two on generated data, on both drivers.

// Bucket limits.
const (
	maxBucketRows = 1_000_000 // rows of the aggregate kept at most; past them the backtest reads every matching event
	maxReadActors = 50        // actors a read of a time range names at most; more: the range is read for everyone
)

var errTooManyRows = errors.New("alert: too many buckets")

type bucketRow struct {
	actor string // as stored
	keys  string // the single-valued group fields' values, joined
	b     int64
}

type cell struct {
	group string
	b     int64
}

// need is what a bucket's read must cover: everyone, or these actors (as stored).
type need struct {
	all    bool
	actors []string
}

func (n *need) add(o need) {
	if n.all || o.all {
		n.all, n.actors = true, nil
		return
	}
	for _, a := range o.actors {
		if !slices.Contains(n.actors, a) {
			n.actors = append(n.actors, a)
		}
	}
	if len(n.actors) > maxReadActors {
		n.all, n.actors = true, nil
	}
}

// joinKeys packs values into one comparable string, each prefixed with its length (any byte may
// be in a value); splitKeys unpacks it.
func joinKeys(vs []string) string {
	var b strings.Builder
	for _, v := range vs {
		b.WriteString(strconv.Itoa(len(v)))
		b.WriteByte(':')
		b.WriteString(v)
	}
	return b.String()
}

func splitKeys(s string) []string {
	var out []string
	for s != "" {
		n, rest, _ := strings.Cut(s, ":")
		l, _ := strconv.Atoi(n)
		out, s = append(out, rest[:l]), rest[l:]
	}
	return out
}

// sqlFields are the rule's group fields the store can group by (single-valued).
func (c *Compiled) sqlFields() []string {
	var out []string
	for _, f := range c.fields {
		if slices.Contains(store.AggregateFields(), f) {
			out = append(out, f)
		}
	}
	return out
}

// coarseKey is the key of the group of the rule's actor and single-valued fields, from a bucket
// row's values (vals in sqlFields order) or an event's.
func (c *Compiled) coarseKey(actor string, vals []string) string {
	var parts []string
	i := 0
	for _, f := range c.fields {
		switch {
		case f == "actor":
			parts = append(parts, c.person(actor))
		case slices.Contains(store.AggregateFields(), f):
			v := event.ClipKey(vals[i]) // as values does
			if f == "owner" {
				v = strings.ToLower(v)
			}
			parts = append(parts, v)
			i++
		}
	}
	return strings.Join(parts, " | ")
}

func (c *Compiled) eventCoarseKey(e *event.FileEvent) string {
	var vals []string
	for _, f := range c.sqlFields() {
		vals = append(vals, c.values(f, e)[0])
	}
	return c.coarseKey(e.User.Email, vals)
}

// backtestBuckets evaluates threshold rule c over its matching events q as described above. It
// reports false (having read nothing) when the aggregate has more than maxBucketRows rows: then
// the caller reads every matching event.
func backtestBuckets(ctx context.Context, st Searcher, c *Compiled, q search.Query, set watchlist.Set, mem *memState, res *BacktestResult, limit int, start time.Time) (bool, error) {
	q, err := bounded(q, "trusted:false", res.To) // trusted events never raise
	if err != nil {
		return false, err
	}
	width := c.window
	fields := c.sqlFields()
	rows := map[bucketRow]int64{}
	// The aggregate runs within the backtest's time budget too: one statement over a large window
	// can take longer than the budget, and the driver interrupts it at the deadline.
	actx, cancel := context.WithDeadline(ctx, start.Add(backtestBudget))
	defer cancel()
	err = st.AggregateBuckets(actx, q, store.BucketSpec{Fields: fields, Width: width, Measure: c.P.Measure}, func(r store.BucketRow) error {
		if len(c.watch) > 0 && !set.OnAny(strings.ToLower(r.Actor), c.watch) {
			return nil // a scoped rule looks at its watchlists' people only
		}
		k := bucketRow{r.Actor, joinKeys(r.Keys), r.Bucket}
		if _, ok := rows[k]; !ok && len(rows) >= maxBucketRows {
			return errTooManyRows
		}
		rows[k] += r.Value
		return nil
	})
	if errors.Is(err, errTooManyRows) || ctx.Err() == nil && actx.Err() != nil {
		// Too many groups to hold, or the budget ran out: read the events instead, as far as the
		// budget allows (the answer is then marked truncated).
		return false, nil
	}
	if err != nil {
		return false, err
	}
	// The people of the actors: a group of the actor is the person's, whichever address.
	seen := map[string]bool{}
	var addrs []string
	for r := range rows {
		if !seen[r.actor] {
			seen[r.actor] = true
			addrs = append(addrs, r.actor)
		}
	}
	var rv resolver
	if c.people, err = rv.people(ctx, st, time.Time{}, addrs); err != nil {
		return true, err
	}
	// The groups' measures per bucket, and who has events in each.
	sums := map[cell]int64{}
	who := map[cell]*need{}
	actorBuckets := map[cell]bool{} // (actor, bucket) with events
	for r, v := range rows {
		actorBuckets[cell{r.actor, r.b}] = true
		k := cell{c.coarseKey(r.actor, splitKeys(r.keys)), r.b}
		sums[k] += v
		if who[k] == nil {
			who[k] = &need{}
		}
		who[k].add(need{actors: []string{r.actor}})
	}
	// Candidate pairs: the cells whose events are read.
	keep := map[cell]bool{}
	for k, v := range sums {
		if v+sums[cell{k.group, k.b + 1}] >= c.P.Value {
			for d := int64(0); d <= 1; d++ {
				keep[cell{k.group, k.b + d}] = true
			}
		}
	}
	needs := map[int64]*need{}
	for k := range keep {
		w := who[k]
		if w == nil {
			continue // no events there
		}
		if needs[k.b] == nil {
			needs[k.b] = &need{}
		}
		needs[k.b].add(*w)
	}
	// A bucket where a quarter of its actors are needed is read for everyone: naming them costs
	// more than reading the others' events (a rule of value 1 needs everyone's).
	present := map[int64]int{}
	for a := range actorBuckets {
		present[a.b]++
	}
	buckets := make([]int64, 0, len(needs))
	for b, n := range needs {
		if !n.all && len(n.actors)*4 >= present[b] {
			n.all, n.actors = true, nil
		}
		buckets = append(buckets, b)
	}
	sort.Slice(buckets, func(i, j int) bool { return buckets[i] < buckets[j] })
	// Consecutive buckets read together while their actors stay few (or both are everyone's).
	type span struct {
		from, to int64 // buckets, inclusive
		need
	}
	var spans []span
	for _, b := range buckets {
		n := *needs[b]
		if l := len(spans) - 1; l >= 0 && spans[l].to == b-1 {
			m := spans[l].need
			m.actors = slices.Clone(m.actors)
			m.add(n)
			if m.all == (spans[l].all && n.all) {
				spans[l].to, spans[l].need = b, m
				continue
			}
		}
		spans = append(spans, span{from: b, to: b, need: n})
	}
	wus := width.Microseconds()
	var in []event.FileEvent
	for _, sp := range spans {
		and := &search.And{Nodes: []search.Node{q.Root}}
		if a, ok := q.Root.(*search.And); ok { // an And never holds another And directly
			and.Nodes = slices.Clone(a.Nodes)
		}
		and.Nodes = append(and.Nodes, &search.Term{Field: "observed", Op: search.OpEq, From: time.UnixMicro(sp.from * wus), To: time.UnixMicro((sp.to + 1) * wus)})
		if !sp.all {
			or := &search.Or{}
			for _, a := range sp.actors {
				or.Nodes = append(or.Nodes, search.ActorIs(a))
			}
			and.Nodes = append(and.Nodes, or)
		}
		rq := search.Query{Root: and}
		var after *store.SearchCursor
		for {
			page, err := st.SearchEvents(ctx, rq, store.SearchOptions{Sort: store.SortObserved, Limit: min(1000, limit-res.Events), After: after})
			if err != nil {
				return true, err
			}
			res.Events += len(page)
			for i := range page {
				e := &page[i]
				if !e.Timestamp.Before(res.From) && keep[cell{c.eventCoarseKey(e), e.Timestamp.UnixMicro() / wus}] {
					in = append(in, *e)
				}
			}
			if res.Events >= limit || time.Since(start) >= backtestBudget {
				res.Truncated = true
				break
			}
			if len(page) < 1000 {
				break
			}
			cur := store.CursorOf(&page[len(page)-1], store.SortObserved)
			after = &cur
		}
		if res.Truncated {
			break
		}
	}
	out, err := evaluate(ctx, mem, []*Compiled{c}, in, func(e *event.FileEvent) time.Time { return e.Timestamp }, set)
	if err != nil {
		return true, err
	}
	res.Suppressed += out.Suppressed[c.ID]
	return true, nil
}
