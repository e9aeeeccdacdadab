package sqldb

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/internal/search"
	"github.com/telltale-dev/telltale/internal/store"
)

// where writes the WHERE clause of a search.
func (s *sqlBuilder) where(qr search.Query, includeHeld bool) error {
	s.w(` WHERE `)
	if !includeHeld {
		s.w(`e.held = 0 AND `)
	}
	if qr.Root == nil {
		s.w("1 = 1")
		return nil
	}
	return s.node(qr.Root)
}

// fromFor is the FROM clause of a count or grouping: the connections join only when the query
// names a connection, since SQLite does not drop the unused join and it keeps an index from
// covering the query (a count then reads every matching row).
func fromFor(qr search.Query) string {
	if usesConnection(qr.Root) {
		return ` FROM file_events e` + connectionJoin
	}
	return ` FROM file_events e `
}

func usesConnection(n search.Node) bool {
	switch n := n.(type) {
	case *search.And:
		return slices.ContainsFunc(n.Nodes, usesConnection)
	case *search.Or:
		return slices.ContainsFunc(n.Nodes, usesConnection)
	case *search.Not:
		return usesConnection(n.Node)
	case *search.Term:
		return n.Field == "connection"
	}
	return false
}

// countQuery builds "SELECT 1 ... LIMIT limit" for the events matching qr.
func (q *Queries) countQuery(ctx context.Context, qr search.Query, limit int64, includeHeld bool) (*sqlBuilder, error) {
	common, err := q.commonNames(ctx, qr)
	if err != nil {
		return nil, err
	}
	s := &sqlBuilder{d: q.d, common: common}
	if t := topName(qr, common); t != nil {
		// The candidates of a common name every match needs drive the count, in rowid order, so
		// that it stops at the limit (IN (...) would collect every candidate first).
		m, _ := ftsMatch(t)
		s.joined = t
		s.w(`SELECT 1 FROM file_events_name f JOIN file_events e ON e.id = f.rowid`)
		if usesConnection(qr.Root) {
			s.w(` LEFT JOIN connections c ON c.id = e.connection_id`)
		}
		s.w(` WHERE f.file_events_name MATCH `)
		s.arg(m)
		s.w(` AND `)
		if !includeHeld {
			s.w(`e.held = 0 AND `)
		}
		if err := s.node(qr.Root); err != nil {
			return nil, fmt.Errorf("store: count search: %w", err)
		}
	} else {
		s.w(`SELECT 1`, fromFor(qr))
		if err := s.where(qr, includeHeld); err != nil {
			return nil, fmt.Errorf("store: count search: %w", err)
		}
	}
	if limit > 0 {
		s.w(` LIMIT `)
		s.arg(limit)
	}
	return s, nil
}

// CountSearch implements store.EventQueries.
func (q *Queries) CountSearch(ctx context.Context, qr search.Query, limit int64, includeHeld bool) (int64, bool, error) {
	s, err := q.countQuery(ctx, qr, limit, includeHeld)
	if err != nil {
		return 0, false, err
	}
	var n int64
	if err := q.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM (`+s.b.String()+`) x`, s.args...).Scan(&n); err != nil {
		return 0, false, q.wrap("count search", err)
	}
	return n, limit > 0 && n >= limit, nil
}

// CountSearchWithin implements store.EventQueries: the matching rows are counted as they stream
// in, and counting stops at limit or when budget runs out, whichever comes first.
func (q *Queries) CountSearchWithin(ctx context.Context, qr search.Query, limit int64, budget time.Duration) (int64, bool, error) {
	s, err := q.countQuery(ctx, qr, limit, false)
	if err != nil {
		return 0, false, err
	}
	cctx, cancel := context.WithTimeoutCause(ctx, budget, errBudget)
	defer cancel()
	rows, err := q.r.QueryContext(cctx, s.b.String(), s.args...)
	var n int64
	if err == nil {
		for rows.Next() {
			n++
		}
		err = rows.Err()
		rows.Close()
	}
	if err != nil && ctx.Err() == nil && errors.Is(context.Cause(cctx), errBudget) {
		return n, true, nil // out of time: n is what was counted by then, a lower bound
	}
	if err != nil {
		return 0, false, q.wrap("count search", err)
	}
	return n, limit > 0 && n >= limit, nil
}

var errBudget = errors.New("count budget spent")

// GroupEvents implements store.EventQueries. Actor, file, action and day group in SQL; destination
// domains live in each event's recipient and shared-with lists, so they are counted while streaming
// the matching events.
func (q *Queries) GroupEvents(ctx context.Context, qr search.Query, by store.GroupBy, limit int) ([]store.GroupCount, error) {
	if limit <= 0 {
		limit = 100
	}
	var key, label string
	s := &sqlBuilder{d: q.d}
	switch by {
	case store.GroupActor:
		// by the actor's id (an integer, in file_events_observed for a time range), the groups
		// named after: an id is one address, so the groups are the addresses' as before
		// migration 0044, ordered by count, then address. On SQLite the unary + keeps the
		// planner from reading a time range by a skip-scan of file_events_actor for its
		// grouping order (one seek per person: 11-14 ms against 6-8 for a day of a 1 M database
		// read from file_events_observed and grouped in a temporary B-tree).
		key = "e.actor_id"
		if !s.pg() {
			key = "+e.actor_id"
		}
	case store.GroupFile:
		key, label = "COALESCE(e.file_id, '')", "MAX(COALESCE(e.file_name, ''))"
	case store.GroupAction:
		key, label = actionCodes.label(s, "e.action"), "''"
	case store.GroupDay:
		key, label = "(e.observed / 86400000000)", "''"
	case store.GroupDestination:
		return q.groupDestinations(ctx, qr, limit)
	default:
		return nil, fmt.Errorf("store: group events: unknown dimension %q: use actor, file, destination, action or day", by)
	}
	if by == store.GroupActor {
		s.w(`SELECT COALESCE(ga.address, ''), '', g.n FROM (SELECT `, key, ` AS k, COUNT(*) AS n`, fromFor(qr))
	} else {
		s.w(`SELECT `, key, `, `, label, `, COUNT(*)`, fromFor(qr))
	}
	if err := s.where(qr, false); err != nil {
		return nil, fmt.Errorf("store: group events: %w", err)
	}
	if by == store.GroupActor {
		s.w(` GROUP BY `, key, `) g LEFT JOIN addresses ga ON ga.id = g.k ORDER BY g.n DESC, 1 LIMIT `)
	} else {
		s.w(` GROUP BY `, key, ` ORDER BY COUNT(*) DESC, `, key, ` LIMIT `)
	}
	s.arg(int64(limit))
	rows, err := q.r.QueryContext(ctx, s.b.String(), s.args...)
	if err != nil {
		return nil, q.wrap("group events", err)
	}
	defer rows.Close()
	var out []store.GroupCount
	for rows.Next() {
		var g store.GroupCount
		if by == store.GroupDay {
			var day int64
			if err := rows.Scan(&day, &g.Label, &g.Count); err != nil {
				return nil, q.wrap("group events", err)
			}
			g.Key = time.Unix(day*86400, 0).UTC().Format("2006-01-02")
		} else if err := rows.Scan(&g.Key, &g.Label, &g.Count); err != nil {
			return nil, q.wrap("group events", err)
		}
		out = append(out, g)
	}
	return out, q.wrap("group events", rows.Err())
}

func (q *Queries) groupDestinations(ctx context.Context, qr search.Query, limit int) ([]store.GroupCount, error) {
	counts := map[string]int64{}
	var after *store.SearchCursor
	for {
		page, err := q.SearchEvents(ctx, qr, store.SearchOptions{Sort: store.SortID, Limit: 2000, After: after})
		if err != nil {
			return nil, err
		}
		for i := range page {
			e := &page[i]
			seen := map[string]bool{}
			for _, a := range append(append([]string(nil), e.Email.Recipients...), e.Sharing.SharedWith...) {
				d := strings.ToLower(a)
				if at := strings.LastIndexByte(d, '@'); at >= 0 {
					d = d[at+1:]
				}
				if d != "" && !seen[d] {
					seen[d] = true
					counts[d]++
				}
			}
		}
		if len(page) < 2000 {
			break
		}
		c := store.CursorOf(&page[len(page)-1], store.SortID)
		after = &c
	}
	out := make([]store.GroupCount, 0, len(counts))
	for k, n := range counts {
		out = append(out, store.GroupCount{Key: k, Count: n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Key < out[j].Key
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// bucketColumns are the SQL of store.AggregateFields (as stored: search.Match's and the rules'
// folding is left to the caller); the closed vocabularies' codes as their text (codes.go).
func bucketColumns(s *sqlBuilder) map[string]string {
	return map[string]string{
		"owner": "COALESCE(ao.address, '')", "file_id": "COALESCE(e.file_id, '')", "name": "COALESCE(e.file_name, '')",
		"directory": "COALESCE(e.directory, '')", "connection": "CAST(e.connection_id AS TEXT)",
		"service": observerCodes.label(s, "e.observer"), "action": actionCodes.label(s, "e.action"),
		"category": categoryCodes.label(s, "e.category"), "link": linkCodes.label(s, "e.link_scope"),
		"severity": severityCodes.label(s, "e.severity"),
	}
}

// AggregateBuckets implements store.EventQueries: one GROUP BY over the events the query's
// compiled WHERE clause (the search's own) selects.
func (q *Queries) AggregateBuckets(ctx context.Context, qr search.Query, spec store.BucketSpec, fn func(store.BucketRow) error) error {
	if len(spec.Fields) > 3 {
		return fmt.Errorf("store: aggregate buckets: %d fields; at most 3", len(spec.Fields))
	}
	if spec.Width < time.Second {
		return fmt.Errorf("store: aggregate buckets: a bucket of %v; at least 1s", spec.Width)
	}
	var measure string
	switch spec.Measure {
	case "count":
		measure = "COUNT(*)"
	case "files":
		measure = "COUNT(DISTINCT COALESCE(e.file_id, ''))"
	case "bytes":
		measure = "CAST(COALESCE(SUM(CASE WHEN e.size > 0 THEN e.size ELSE 0 END), 0) AS BIGINT)"
	default:
		return fmt.Errorf("store: aggregate buckets: measure %q is not one of count, files, bytes", spec.Measure)
	}
	s := &sqlBuilder{d: q.d}
	keys := []string{"COALESCE(aa.address, '')"}
	cols := bucketColumns(s)
	for _, f := range spec.Fields {
		c, ok := cols[f]
		if !ok {
			return fmt.Errorf("store: aggregate buckets: %q is not one of %s", f, strings.Join(store.AggregateFields(), ", "))
		}
		keys = append(keys, c)
	}
	s.w(`SELECT `, strings.Join(keys, ", "), `, e.observed / `)
	s.arg(spec.Width.Microseconds())
	s.w(`, `, measure, fromFor(qr), addressJoins)
	if err := s.where(qr, false); err != nil {
		return fmt.Errorf("store: aggregate buckets: %w", err)
	}
	s.w(` GROUP BY `)
	for i := range keys {
		s.w(fmt.Sprint(i+1), `, `)
	}
	s.w(fmt.Sprint(len(keys) + 1))
	rows, err := q.r.QueryContext(ctx, s.b.String(), s.args...)
	if err != nil {
		return q.wrap("aggregate buckets", err)
	}
	defer rows.Close()
	vals := make([]string, len(keys))
	dest := make([]any, 0, len(keys)+2)
	for i := range vals {
		dest = append(dest, &vals[i])
	}
	var row store.BucketRow
	dest = append(dest, &row.Bucket, &row.Value)
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return q.wrap("aggregate buckets", err)
		}
		row.Actor, row.Keys = vals[0], slices.Clone(vals[1:])
		if err := fn(row); err != nil {
			return err
		}
	}
	return q.wrap("aggregate buckets", rows.Err())
}
