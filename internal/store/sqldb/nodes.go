package sqldb

import (
	"context"
	"time"

	"github.com/telltale-dev/telltale/internal/store"
)

// WorkLoad implements store.WorkQueries: two grouped counts, the due units read through work_due
// (at most store.DueCountLimit of them) and the held ones through the partial index work_leased.
func (q *Queries) WorkLoad(ctx context.Context, now time.Time, kinds []string) (map[string]store.WorkLoad, error) {
	t := micros(now)
	kindSQL, kargs := "", []any(nil)
	if len(kinds) > 0 {
		var ph string
		ph, kargs = in(kinds)
		kindSQL = ` AND kind IN ` + ph
	}
	from := "work"
	if q.d.Name == "sqlite" {
		from = "work INDEXED BY work_due" // as in claimQuery: read due units in order, not by kind
	}
	out := map[string]store.WorkLoad{}
	count := func(query string, args []any, add func(l *store.WorkLoad, n int)) error {
		rows, err := q.r.QueryContext(ctx, q.d.q(query), args...)
		if err != nil {
			return q.wrap("work load", err)
		}
		defer rows.Close()
		for rows.Next() {
			var kind string
			var n int
			if err := rows.Scan(&kind, &n); err != nil {
				return q.wrap("work load", err)
			}
			l := out[kind]
			add(&l, n)
			out[kind] = l
		}
		return q.wrap("work load", rows.Err())
	}
	dueArgs := append(append([]any{t, t}, kargs...), store.DueCountLimit)
	if err := count(`SELECT kind, COUNT(*) FROM (SELECT kind FROM `+from+` WHERE next_run_at <= ? AND lease_until <= ?`+kindSQL+` LIMIT ?) due GROUP BY kind`,
		dueArgs, func(l *store.WorkLoad, n int) { l.Due = n }); err != nil {
		return nil, err
	}
	heldArgs := append([]any{t}, kargs...)
	if err := count(`SELECT kind, COUNT(*) FROM work WHERE lease_owner <> '' AND lease_until > ?`+kindSQL+` GROUP BY kind`,
		heldArgs, func(l *store.WorkLoad, n int) { l.Held = n }); err != nil {
		return nil, err
	}
	return out, nil
}

// BeatNode implements store.NodeQueries.
func (q *Queries) BeatNode(ctx context.Context, owner string, now time.Time, liveFor time.Duration) ([]store.Node, error) {
	t := micros(now)
	if _, err := q.w.ExecContext(ctx, q.d.q(`INSERT INTO nodes (owner, started_at, heartbeat_at) VALUES (?, ?, ?)
ON CONFLICT (owner) DO UPDATE SET heartbeat_at = excluded.heartbeat_at`), owner, t, t); err != nil {
		return nil, q.wrap("node heartbeat", err)
	}
	if _, err := q.w.ExecContext(ctx, q.d.q(`DELETE FROM nodes WHERE heartbeat_at < ?`), micros(now.Add(-store.NodeForgetAfter))); err != nil {
		return nil, q.wrap("node heartbeat: forget silent nodes", err)
	}
	rows, err := q.w.QueryContext(ctx, q.d.q(`SELECT owner, started_at, heartbeat_at FROM nodes WHERE heartbeat_at > ? ORDER BY owner`), micros(now.Add(-liveFor)))
	if err != nil {
		return nil, q.wrap("node heartbeat: live nodes", err)
	}
	defer rows.Close()
	var out []store.Node
	for rows.Next() {
		var n store.Node
		var started, beat int64
		if err := rows.Scan(&n.Owner, &started, &beat); err != nil {
			return nil, q.wrap("node heartbeat: live nodes", err)
		}
		n.StartedAt, n.HeartbeatAt = fromMicros(started), fromMicros(beat)
		out = append(out, n)
	}
	return out, q.wrap("node heartbeat: live nodes", rows.Err())
}

// LeaveNode implements store.NodeQueries.
func (q *Queries) LeaveNode(ctx context.Context, owner string) error {
	_, err := q.w.ExecContext(ctx, q.d.q(`DELETE FROM nodes WHERE owner = ?`), owner)
	return q.wrap("node leave", err)
}
