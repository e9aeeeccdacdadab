package sqldb

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
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
// insertion time and held is rewritten from e (EventRow's values, so the row reads back as e), and
// the rewrite is appended to event_updates.
func (q *Queries) UpdateEvent(ctx context.Context, e *event.FileEvent) error {
	e.CleanText() // as InsertEvents stores it
	if err := checkHashes(e); err != nil {
		return fmt.Errorf("store: update event %d: %w", e.Event.ID, err)
	}
	return q.inTx(ctx, func(q *Queries) error {
		// The update is numbered in commit order, for the follower of event_updates (the alert
		// evaluator): updates run one at a time (their own lock; inserts run beside them).
		if q.d.UpdateLock != "" {
			if _, err := q.w.ExecContext(ctx, q.d.UpdateLock); err != nil {
				return q.wrap("update event: lock", err)
			}
		}
		ids, err := q.addressIDs(ctx, []*event.FileEvent{e})
		if err != nil {
			return err
		}
		row, err := q.eventRow(e, false, 0, ids)
		if err != nil {
			return fmt.Errorf("store: update event %d: %w", e.Event.ID, err)
		}
		// row: dedupe, held, observed, inserted, action, observer, connection_id, actor_id, file_id,
		// file_name, directory, size, category, owner_id, md5, sha256, exposure, link_scope, trusted,
		// severity, doc
		args := append([]any{row[2]}, row[4:]...)
		// The person risk moves from what the event scored to what it scores now.
		old, err := q.readEvent(ctx, q.w, q.selectEvents()+`WHERE e.id = ?`, e.Event.ID)
		if err != nil {
			return q.wrap(fmt.Sprintf("update event %d", e.Event.ID), err)
		}
		update := `UPDATE file_events SET observed = ?, action = ?, observer = ?, connection_id = ?, actor_id = ?,
file_id = ?, file_name = ?, directory = ?, size = ?, category = ?, owner_id = ?, md5 = ?, sha256 = ?, exposure = ?, link_scope = ?,
trusted = ?, severity = ?, doc = ? WHERE id = ?`
		if q.d.TextAddresses {
			update = strings.NewReplacer("actor_id", "actor", "owner_id", "owner").Replace(update)
		}
		res, err := q.w.ExecContext(ctx, q.d.q(update), append(args, e.Event.ID)...)
		if err := affected(res, err, fmt.Sprintf("update event %d", e.Event.ID), q, store.ErrNotFound); err != nil {
			return err
		}
		if _, err := q.w.ExecContext(ctx, q.d.q(`INSERT INTO event_updates (event_id, at) VALUES (?, ?)`), e.Event.ID, micros(nowUTC())); err != nil {
			return q.wrap(fmt.Sprintf("update event %d", e.Event.ID), err)
		}
		sums := riskSums{}
		sums.add(&old, -1)
		sums.add(e, 1)
		if err := q.writePersonRisk(ctx, sums); err != nil {
			return err
		}
		// The dashboards' counts move from the event's old buckets to its new ones.
		if q.dashboardsOff() {
			return nil
		}
		dash, err := q.newDashSums(ctx)
		if err != nil {
			return err
		}
		dash.Add(&old, -1)
		dash.Add(e, 1)
		return q.writeDashChanges(ctx, dash)
	})
}

// updatesPosition is the alert evaluator's position in event_updates (alert_position).
const updatesPosition = "updates"

// GetUpdatesPosition implements store.AlertQueries.
func (q *Queries) GetUpdatesPosition(ctx context.Context) (int64, error) {
	return q.getPosition(ctx, updatesPosition)
}

// InitUpdatesPosition implements store.AlertQueries: after the newest update stored.
func (q *Queries) InitUpdatesPosition(ctx context.Context) (int64, error) {
	return q.initPosition(ctx, updatesPosition, `INSERT INTO alert_position (name, after_id)
SELECT ?, COALESCE(MAX(seq), 0) FROM event_updates WHERE true ON CONFLICT (name) DO NOTHING`, updatesPosition)
}

// AdvanceUpdatesPosition implements store.AlertQueries; the updates every follower passed are deleted.
func (q *Queries) AdvanceUpdatesPosition(ctx context.Context, from, to int64) error {
	if err := q.advancePosition(ctx, updatesPosition, from, to); err != nil {
		return err
	}
	return q.pruneEventUpdates(ctx)
}

// pruneEventUpdates deletes the event updates that every follower has passed: the alert
// evaluator (alert_position "updates") and each SIEM destination's updates stream
// (forward_streams store.ForwardUpdatesStream). A follower without a position yet starts after
// the newest update when it gets one, so it holds nothing back.
func (q *Queries) pruneEventUpdates(ctx context.Context) error {
	_, err := q.w.ExecContext(ctx, q.d.q(`DELETE FROM event_updates WHERE seq <= (SELECT MIN(p) FROM (
SELECT after_id AS p FROM alert_position WHERE name = ? UNION ALL SELECT position AS p FROM forward_streams WHERE stream = ?) AS followers)`),
		updatesPosition, store.ForwardUpdatesStream)
	return q.wrap("prune event updates", err)
}

// NewestEventUpdate implements store.MergeQueries.
func (q *Queries) NewestEventUpdate(ctx context.Context) (int64, error) {
	var n int64
	err := q.r.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM event_updates`).Scan(&n)
	return n, q.wrap("newest event update", err)
}

// ListEventUpdates implements store.AlertQueries.
func (q *Queries) ListEventUpdates(ctx context.Context, after int64, limit int) (int64, []event.FileEvent, error) {
	if limit <= 0 {
		limit = 1000
	}
	rows, err := q.r.QueryContext(ctx, q.d.q(`SELECT seq, event_id FROM event_updates WHERE seq > ? ORDER BY seq LIMIT ?`), after, limit)
	if err != nil {
		return after, nil, q.wrap("list event updates", err)
	}
	last := after
	var ids []any
	seen := map[int64]bool{}
	for rows.Next() {
		var seq, id int64
		if err := rows.Scan(&seq, &id); err != nil {
			rows.Close()
			return after, nil, q.wrap("list event updates", err)
		}
		last = seq
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return after, nil, q.wrap("list event updates", err)
	}
	if len(ids) == 0 {
		return last, nil, nil
	}
	marks := strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", ")
	er, err := q.r.QueryContext(ctx, q.d.q(`SELECT `+eventCols+eventFrom+`WHERE e.id IN (`+marks+`) AND e.held = 0 ORDER BY e.id`), ids...)
	if err != nil {
		return after, nil, q.wrap("list event updates", err)
	}
	out, err := q.scanEvents(ctx, er)
	if err != nil {
		return after, nil, q.wrap("list event updates", err)
	}
	return last, out, nil
}

// AlertsWithEvent implements store.AlertQueries.
func (q *Queries) AlertsWithEvent(ctx context.Context, eventID int64) ([]store.Alert, error) {
	rows, err := q.w.QueryContext(ctx, q.d.q(`SELECT a.id FROM alerts a JOIN alert_events ae ON ae.alert_id = a.id WHERE ae.event_id = ? ORDER BY a.id`), eventID)
	if err != nil {
		return nil, q.wrap("alerts with event", err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, q.wrap("alerts with event", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, q.wrap("alerts with event", err)
	}
	out := make([]store.Alert, 0, len(ids))
	for _, id := range ids {
		a, err := q.GetAlert(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// DeleteEventMatches implements store.AlertQueries.
func (q *Queries) DeleteEventMatches(ctx context.Context, eventID int64) error {
	_, err := q.w.ExecContext(ctx, q.d.q(`DELETE FROM alert_matches WHERE event_id = ?`), eventID)
	return q.wrap("delete event matches", err)
}

// SetAlertPerson implements store.AlertQueries: only an alert that names nobody gets a person, and
// the change is recorded (actor "system").
func (q *Queries) SetAlertPerson(ctx context.Context, alertID int64, person, note string) error {
	return q.inTx(ctx, func(q *Queries) error {
		now := nowUTC()
		res, err := q.w.ExecContext(ctx, q.d.q(`UPDATE alerts SET person = ?, updated_at = ?, version = version + 1 WHERE id = ? AND person = ''`),
			person, micros(now), alertID)
		if err != nil {
			return q.wrap("set alert person", err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return q.wrap("set alert person", err) // named already: nothing to do
		}
		_, err = q.w.ExecContext(ctx, q.d.q(`INSERT INTO alert_changes (alert_id, at, actor, field, from_value, to_value, note)
VALUES (?, ?, 'system', 'person', '', ?, ?)`), alertID, micros(now), person, note)
		return q.wrap("set alert person", err)
	})
}
