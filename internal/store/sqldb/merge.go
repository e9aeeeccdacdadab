package sqldb

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/store"
)

// AddMergeCandidates implements store.MergeQueries.
func (q *Queries) AddMergeCandidates(ctx context.Context, cs []store.MergeCandidate) error {
	if len(cs) == 0 {
		return nil
	}
	return q.inTx(ctx, func(q *Queries) error {
		st, err := q.w.PrepareContext(ctx, q.d.q(`INSERT INTO event_merge (connection_id, file_id, action, observed, actor, target, feed, event_id, joined)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`))
		if err != nil {
			return q.wrap("add merge candidates", err)
		}
		defer st.Close()
		for _, c := range cs {
			if _, err := st.ExecContext(ctx, c.ConnectionID, c.FileID, c.Action, micros(c.Observed), c.Actor, c.Target, c.Feed, c.EventID, b2i(c.Joined)); err != nil {
				return q.wrap("add merge candidates", err)
			}
		}
		return nil
	})
}

// FindMergeCandidates implements store.MergeQueries.
func (q *Queries) FindMergeCandidates(ctx context.Context, connectionID int64, fileIDs []string, from, to time.Time) ([]store.MergeCandidate, error) {
	var out []store.MergeCandidate
	err := chunks(fileIDs, func(part []string) error {
		ph, args := in(part)
		rows, err := q.r.QueryContext(ctx, q.d.q(`SELECT id, connection_id, file_id, action, observed, actor, target, feed, event_id, joined
FROM event_merge WHERE connection_id = ? AND file_id IN `+ph+` AND observed >= ? AND observed <= ?`),
			append(append([]any{connectionID}, args...), micros(from), micros(to))...)
		if err != nil {
			return q.wrap("find merge candidates", err)
		}
		defer rows.Close()
		for rows.Next() {
			var c store.MergeCandidate
			var at int64
			if err := rows.Scan(&c.ID, &c.ConnectionID, &c.FileID, &c.Action, &at, &c.Actor, &c.Target, &c.Feed, &c.EventID, &c.Joined); err != nil {
				return q.wrap("find merge candidates", err)
			}
			c.Observed = fromMicros(at)
			out = append(out, c)
		}
		return q.wrap("find merge candidates", rows.Err())
	})
	// by time then id, across chunks
	slices.SortFunc(out, func(a, b store.MergeCandidate) int {
		return cmp.Or(a.Observed.Compare(b.Observed), cmp.Compare(a.ID, b.ID))
	})
	return out, err
}

// JoinMergeCandidate implements store.MergeQueries.
func (q *Queries) JoinMergeCandidate(ctx context.Context, id int64) error {
	res, err := q.w.ExecContext(ctx, q.d.q(`UPDATE event_merge SET joined = 1 WHERE id = ?`), id)
	return affected(res, err, fmt.Sprintf("join merge candidate %d", id), q, store.ErrNotFound)
}

// PruneMergeCandidates implements store.MergeQueries.
func (q *Queries) PruneMergeCandidates(ctx context.Context, before time.Time) (int64, error) {
	res, err := q.w.ExecContext(ctx, q.d.q(`DELETE FROM event_merge WHERE observed < ?`), micros(before))
	if err != nil {
		return 0, q.wrap("prune merge candidates", err)
	}
	n, err := res.RowsAffected()
	return n, q.wrap("prune merge candidates", err)
}

// UpdateEvent implements store.MergeQueries: every column but the id, the dedupe key, the
// insertion time and held is rewritten from e (EventRow's values, so the row reads back as e).
func (q *Queries) UpdateEvent(ctx context.Context, e *event.FileEvent) error {
	row, err := EventRow(e, false, 0)
	if err != nil {
		return fmt.Errorf("store: update event %d: %w", e.Event.ID, err)
	}
	// row: dedupe, held, observed, inserted, action, observer, connection_id, actor, file_id, file_name,
	// directory, size, category, owner, md5, sha256, exposure, link_scope, trusted, severity, doc
	args := append([]any{row[2]}, row[4:]...)
	return q.inTx(ctx, func(q *Queries) error {
		// The person risk moves from what the event scored to what it scores now.
		old, err := scanEvent(q.w.QueryRowContext(ctx, q.d.q(`SELECT `+eventCols+eventFrom+`WHERE e.id = ?`), e.Event.ID))
		if err != nil {
			return q.wrap(fmt.Sprintf("update event %d", e.Event.ID), err)
		}
		res, err := q.w.ExecContext(ctx, q.d.q(`UPDATE file_events SET observed = ?, action = ?, observer = ?, connection_id = ?, actor = ?,
file_id = ?, file_name = ?, directory = ?, size = ?, category = ?, owner = ?, md5 = ?, sha256 = ?, exposure = ?, link_scope = ?,
trusted = ?, severity = ?, doc = ? WHERE id = ?`), append(args, e.Event.ID)...)
		if err := affected(res, err, fmt.Sprintf("update event %d", e.Event.ID), q, store.ErrNotFound); err != nil {
			return err
		}
		sums := riskSums{}
		sums.add(&old, -1)
		sums.add(e, 1)
		return q.writePersonRisk(ctx, sums)
	})
}
