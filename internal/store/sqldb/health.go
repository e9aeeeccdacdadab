package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/internal/store"
)

// Environment health (issue 18, R8.1): throttling over time, stream progress, per-feed counts
// and the aggregates the health view reads.

// RecordThrottle implements store.HealthQueries.
func (q *Queries) RecordThrottle(ctx context.Context, t store.Throttle) error {
	_, err := q.w.ExecContext(ctx, q.d.q(`INSERT INTO health_throttles (connection_id, at, until_at) VALUES (?, ?, ?)`),
		t.ConnectionID, micros(t.At), micros(t.Until))
	return q.wrap("record throttle", err)
}

// ListThrottles implements store.HealthQueries.
func (q *Queries) ListThrottles(ctx context.Context, since time.Time, limit int) ([]store.Throttle, error) {
	if limit <= 0 {
		limit = 1000
	}
	rows, err := q.r.QueryContext(ctx, q.d.q(`SELECT connection_id, at, until_at FROM health_throttles WHERE at >= ? ORDER BY at, id LIMIT ?`), micros(since), limit)
	if err != nil {
		return nil, q.wrap("list throttles", err)
	}
	defer rows.Close()
	var out []store.Throttle
	for rows.Next() {
		var t store.Throttle
		var at, until int64
		if err := rows.Scan(&t.ConnectionID, &at, &until); err != nil {
			return nil, q.wrap("list throttles", err)
		}
		t.At, t.Until = fromMicros(at), fromMicros(until)
		out = append(out, t)
	}
	return out, q.wrap("list throttles", rows.Err())
}

// RecordStreamPage implements store.HealthQueries.
func (q *Queries) RecordStreamPage(ctx context.Context, p store.StreamPage) error {
	ev := micros(p.NewestEvent)
	stored, lag := int64(0), int64(0)
	if ev != 0 {
		stored, lag = micros(p.At), p.Lag.Microseconds()
	}
	_, err := q.w.ExecContext(ctx, q.d.q(`INSERT INTO health_streams (connection_id, stream, page_at, event_at, stored_at, lag) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (connection_id, stream) DO UPDATE SET page_at = excluded.page_at,
 stored_at = CASE WHEN excluded.event_at >= health_streams.event_at AND excluded.event_at <> 0 THEN excluded.stored_at ELSE health_streams.stored_at END,
 lag = CASE WHEN excluded.event_at >= health_streams.event_at AND excluded.event_at <> 0 THEN excluded.lag ELSE health_streams.lag END,
 event_at = CASE WHEN excluded.event_at >= health_streams.event_at THEN excluded.event_at ELSE health_streams.event_at END`),
		p.ConnectionID, p.Stream, micros(p.At), ev, stored, lag)
	return q.wrap("record stream page", err)
}

// ListStreamHealth implements store.HealthQueries.
func (q *Queries) ListStreamHealth(ctx context.Context, connectionID int64, limit int) ([]store.StreamHealth, error) {
	if limit <= 0 {
		limit = 1000
	}
	rows, err := q.r.QueryContext(ctx, q.d.q(streamHealthSelect+` WHERE connection_id = ? ORDER BY lag DESC, stream LIMIT ?`), connectionID, limit)
	if err != nil {
		return nil, q.wrap("list stream health", err)
	}
	defer rows.Close()
	var out []store.StreamHealth
	for rows.Next() {
		h, err := scanStreamHealth(rows)
		if err != nil {
			return nil, q.wrap("list stream health", err)
		}
		out = append(out, h)
	}
	return out, q.wrap("list stream health", rows.Err())
}

const streamHealthSelect = `SELECT connection_id, stream, page_at, event_at, stored_at, lag FROM health_streams`

func scanStreamHealth(s scanner) (store.StreamHealth, error) {
	var h store.StreamHealth
	var page, ev, stored, lag int64
	err := s.Scan(&h.ConnectionID, &h.Stream, &page, &ev, &stored, &lag)
	h.PageAt, h.EventAt, h.StoredAt, h.Lag = fromMicros(page), fromMicros(ev), fromMicros(stored), time.Duration(lag)*time.Microsecond
	return h, err
}

// StreamHealthSummary implements store.HealthQueries.
func (q *Queries) StreamHealthSummary(ctx context.Context, connectionID int64) (int64, store.StreamHealth, error) {
	var n int64
	if err := q.r.QueryRowContext(ctx, q.d.q(`SELECT COUNT(*) FROM health_streams WHERE connection_id = ?`), connectionID).Scan(&n); err != nil {
		return 0, store.StreamHealth{}, q.wrap("stream health summary", err)
	}
	h, err := scanStreamHealth(q.r.QueryRowContext(ctx, q.d.q(streamHealthSelect+` WHERE connection_id = ? AND stored_at > 0 ORDER BY stored_at DESC, stream LIMIT 1`), connectionID))
	if errors.Is(err, sql.ErrNoRows) {
		return n, store.StreamHealth{}, nil
	}
	return n, h, q.wrap("stream health summary", err)
}

// AddFeedCounts implements store.HealthQueries: the counts of one key are summed first (one
// statement cannot update a row twice), then written feedCountChunk rows a statement.
func (q *Queries) AddFeedCounts(ctx context.Context, cs []store.FeedCount) error {
	type key struct {
		conn, hour int64
		file, feed string
	}
	sums := map[key]int64{}
	var keys []key
	for _, c := range cs {
		k := key{c.ConnectionID, micros(c.Hour.UTC().Truncate(time.Hour)), c.FileID, c.Feed}
		if _, ok := sums[k]; !ok {
			keys = append(keys, k)
		}
		sums[k] += c.N
	}
	for start := 0; start < len(keys); start += feedCountChunk {
		part := keys[start:min(start+feedCountChunk, len(keys))]
		args := make([]any, 0, 5*len(part))
		for _, k := range part {
			args = append(args, k.conn, k.hour, k.file, k.feed, sums[k])
		}
		rows := strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?), ", len(part)), ", ")
		if _, err := q.w.ExecContext(ctx, q.d.q(`INSERT INTO health_feed_counts (connection_id, hour, file_id, feed, n) VALUES `+rows+`
ON CONFLICT (connection_id, hour, file_id, feed) DO UPDATE SET n = health_feed_counts.n + excluded.n`), args...); err != nil {
			return q.wrap("add feed counts", err)
		}
	}
	return nil
}

// feedCountChunk bounds the rows of one statement (5 parameters each: SQLite allows 32,766).
const feedCountChunk = 200

// ListFeedCounts implements store.HealthQueries.
func (q *Queries) ListFeedCounts(ctx context.Context, connectionID int64, from, to time.Time, limit int) ([]store.FeedCount, error) {
	if limit <= 0 {
		limit = 10000
	}
	rows, err := q.r.QueryContext(ctx, q.d.q(`SELECT hour, file_id, feed, n FROM health_feed_counts
WHERE connection_id = ? AND hour >= ? AND hour < ? ORDER BY hour, file_id, feed LIMIT ?`), connectionID, micros(from), micros(to), limit)
	if err != nil {
		return nil, q.wrap("list feed counts", err)
	}
	defer rows.Close()
	var out []store.FeedCount
	for rows.Next() {
		c := store.FeedCount{ConnectionID: connectionID}
		var hour int64
		if err := rows.Scan(&hour, &c.FileID, &c.Feed, &c.N); err != nil {
			return nil, q.wrap("list feed counts", err)
		}
		c.Hour = fromMicros(hour)
		out = append(out, c)
	}
	return out, q.wrap("list feed counts", rows.Err())
}

// PruneHealth implements store.HealthQueries.
func (q *Queries) PruneHealth(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	for _, del := range []string{`DELETE FROM health_throttles WHERE at < ?`, `DELETE FROM health_feed_counts WHERE hour < ?`} {
		res, err := q.w.ExecContext(ctx, q.d.q(del), micros(before))
		if err != nil {
			return n, q.wrap("prune health", err)
		}
		k, _ := res.RowsAffected()
		n += k
	}
	return n, nil
}

// ListArrivals implements store.HealthQueries. It walks the connection's newest limit events by
// id (file_events_connection; ids follow insertion order) and drops those inserted before since
// here: a filter on inserted in SQL would walk a quiet connection's whole history backwards.
func (q *Queries) ListArrivals(ctx context.Context, connectionID int64, since time.Time, limit int) ([]time.Time, error) {
	if limit <= 0 {
		limit = 1000
	}
	rows, err := q.r.QueryContext(ctx, q.d.q(`SELECT inserted FROM file_events WHERE connection_id = ? ORDER BY id DESC LIMIT ?`), connectionID, limit)
	if err != nil {
		return nil, q.wrap("list arrivals", err)
	}
	defer rows.Close()
	var out []time.Time
	for rows.Next() {
		var at int64
		if err := rows.Scan(&at); err != nil {
			return nil, q.wrap("list arrivals", err)
		}
		if at < micros(since) {
			break
		}
		out = append(out, fromMicros(at))
	}
	return out, q.wrap("list arrivals", rows.Err())
}

// CountMonitoredPeople implements store.HealthQueries. It reads drives and devices, never events:
// the health view stays fast whatever the event count.
func (q *Queries) CountMonitoredPeople(ctx context.Context, statuses []string) (int64, error) {
	if len(statuses) == 0 {
		statuses = []string{""}
	}
	args := make([]any, len(statuses))
	for i, s := range statuses {
		args[i] = s
	}
	var n int64
	err := q.r.QueryRowContext(ctx, q.d.q(`SELECT COUNT(*) FROM (SELECT lower(d.owner) AS p FROM drives d JOIN connections c ON c.id = d.connection_id
WHERE d.owner <> '' AND d.in_scope = 1 AND c.status IN `+placeholders(len(statuses))+`
UNION SELECT person FROM devices WHERE person <> '' AND active = 1) x`), args...).Scan(&n)
	return n, q.wrap("count monitored people", err)
}

// CountAlertPeopleByRule implements store.HealthQueries.
func (q *Queries) CountAlertPeopleByRule(ctx context.Context, since time.Time) ([]store.RulePeople, error) {
	rows, err := q.r.QueryContext(ctx, q.d.q(`SELECT rule_id, COUNT(*), COUNT(DISTINCT CASE WHEN person <> '' THEN lower(person) END)
FROM alerts WHERE created_at >= ? GROUP BY rule_id ORDER BY rule_id`), micros(since))
	if err != nil {
		return nil, q.wrap("count alert people by rule", err)
	}
	defer rows.Close()
	var out []store.RulePeople
	for rows.Next() {
		var r store.RulePeople
		if err := rows.Scan(&r.RuleID, &r.Alerts, &r.People); err != nil {
			return nil, q.wrap("count alert people by rule", err)
		}
		out = append(out, r)
	}
	return out, q.wrap("count alert people by rule", rows.Err())
}

// PeopleWithSources implements store.HealthQueries.
func (q *Queries) PeopleWithSources(ctx context.Context, emails []string, statuses []string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	if len(statuses) == 0 {
		statuses = []string{""}
	}
	for start := 0; start < len(emails); start += 500 {
		part := emails[start:min(start+500, len(emails))]
		args := make([]any, 0, 2*len(part)+len(statuses))
		for _, e := range part {
			args = append(args, strings.ToLower(e))
		}
		for _, s := range statuses {
			args = append(args, s)
		}
		for _, e := range part {
			args = append(args, strings.ToLower(e))
		}
		rows, err := q.r.QueryContext(ctx, q.d.q(`SELECT DISTINCT d.owner FROM drives d JOIN connections c ON c.id = d.connection_id
WHERE d.owner IN `+placeholders(len(part))+` AND d.in_scope = 1 AND c.status IN `+placeholders(len(statuses))+`
UNION SELECT DISTINCT person FROM devices WHERE person IN `+placeholders(len(part))+` AND active = 1`), args...)
		if err != nil {
			return nil, q.wrap("people with sources", err)
		}
		for rows.Next() {
			var e string
			if err := rows.Scan(&e); err != nil {
				rows.Close()
				return nil, q.wrap("people with sources", err)
			}
			if !seen[e] {
				seen[e] = true
				out = append(out, e)
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, q.wrap("people with sources", err)
		}
	}
	return out, nil
}
