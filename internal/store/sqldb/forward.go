package sqldb

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/internal/store"
)

const forwardCols = `id, name, kind, format, settings, secrets, paused, position, sent, state, failures, last_error, last_error_at,
last_sent_at, created_at, created_by, updated_at, version`

func scanForward(s scanner) (store.ForwardDestination, error) {
	var d store.ForwardDestination
	var paused, errAt, sentAt, created, updated int64
	err := s.Scan(&d.ID, &d.Name, &d.Kind, &d.Format, &d.Settings, &d.Secrets, &paused, &d.Position, &d.Sent, &d.State, &d.Failures,
		&d.LastError, &errAt, &sentAt, &created, &d.CreatedBy, &updated, &d.Version)
	d.Paused = paused != 0
	d.LastErrorAt, d.LastSentAt, d.CreatedAt, d.UpdatedAt = fromMicros(errAt), fromMicros(sentAt), fromMicros(created), fromMicros(updated)
	return d, err
}

// CreateForwardDestination implements store.ForwardQueries.
func (q *Queries) CreateForwardDestination(ctx context.Context, d store.ForwardDestination) (store.ForwardDestination, error) {
	if d.CreatedAt.IsZero() {
		d.CreatedAt = nowUTC()
	}
	if d.UpdatedAt.IsZero() {
		d.UpdatedAt = d.CreatedAt
	}
	if d.State == "" {
		d.State = store.ForwardOK
	}
	out, err := scanForward(q.w.QueryRowContext(ctx, q.d.q(`INSERT INTO forward_destinations (name, name_key, kind, format, settings, secrets,
paused, position, sent, state, failures, last_error, last_error_at, last_sent_at, created_at, created_by, updated_at, version)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, 0, '', 0, 0, ?, ?, ?, 1) RETURNING `+forwardCols),
		strings.TrimSpace(d.Name), nameKey(d.Name), d.Kind, d.Format, d.Settings, d.Secrets, b2i(d.Paused), d.Position, d.State,
		micros(d.CreatedAt), d.CreatedBy, micros(d.UpdatedAt)))
	return out, q.wrap("create forward destination", err)
}

// GetForwardDestination implements store.ForwardQueries.
func (q *Queries) GetForwardDestination(ctx context.Context, id int64) (store.ForwardDestination, error) {
	out, err := scanForward(q.r.QueryRowContext(ctx, q.d.q(`SELECT `+forwardCols+` FROM forward_destinations WHERE id = ?`), id))
	return out, q.wrap(fmt.Sprintf("get forward destination %d", id), err)
}

// ListForwardDestinations implements store.ForwardQueries.
func (q *Queries) ListForwardDestinations(ctx context.Context) ([]store.ForwardDestination, error) {
	rows, err := q.r.QueryContext(ctx, `SELECT `+forwardCols+` FROM forward_destinations ORDER BY id`)
	if err != nil {
		return nil, q.wrap("list forward destinations", err)
	}
	defer rows.Close()
	var out []store.ForwardDestination
	for rows.Next() {
		d, err := scanForward(rows)
		if err != nil {
			return nil, q.wrap("list forward destinations", err)
		}
		out = append(out, d)
	}
	return out, q.wrap("list forward destinations", rows.Err())
}

// UpdateForwardDestination implements store.ForwardQueries.
func (q *Queries) UpdateForwardDestination(ctx context.Context, d store.ForwardDestination) (store.ForwardDestination, error) {
	var out store.ForwardDestination
	err := q.inTx(ctx, func(q *Queries) error {
		cur, err := q.GetForwardDestination(ctx, d.ID)
		if err != nil {
			return err
		}
		if cur.Version != d.Version {
			return fmt.Errorf("store: update forward destination %d: version %d, stored %d: %w", d.ID, d.Version, cur.Version, store.ErrConflict)
		}
		if d.UpdatedAt.IsZero() {
			d.UpdatedAt = nowUTC()
		}
		out, err = scanForward(q.w.QueryRowContext(ctx, q.d.q(`UPDATE forward_destinations SET name = ?, name_key = ?, format = ?, settings = ?,
secrets = ?, paused = ?, updated_at = ?, version = version + 1 WHERE id = ? AND version = ? RETURNING `+forwardCols),
			strings.TrimSpace(d.Name), nameKey(d.Name), d.Format, d.Settings, d.Secrets, b2i(d.Paused), micros(d.UpdatedAt), d.ID, d.Version))
		return q.wrap("update forward destination", err)
	})
	return out, err
}

// AdvanceForwardPosition implements store.ForwardQueries.
func (q *Queries) AdvanceForwardPosition(ctx context.Context, id, from, to, n int64, at time.Time) error {
	return q.inTx(ctx, func(q *Queries) error {
		res, err := q.w.ExecContext(ctx, q.d.q(`UPDATE forward_destinations SET position = ?, sent = sent + ?, last_sent_at = ?, state = ?,
failures = 0, last_error = '', last_error_at = 0 WHERE id = ? AND position = ?`), to, n, micros(at), store.ForwardOK, id, from)
		if err != nil {
			return q.wrap("advance forward position", err)
		}
		if k, err := res.RowsAffected(); err != nil || k > 0 {
			return q.wrap("advance forward position", err)
		}
		cur, err := q.GetForwardDestination(ctx, id)
		if err != nil {
			return err
		}
		return fmt.Errorf("store: advance forward destination %d from %d: stored position is %d: %w", id, from, cur.Position, store.ErrConflict)
	})
}

// SetForwardFailure implements store.ForwardQueries.
func (q *Queries) SetForwardFailure(ctx context.Context, id int64, state string, failures int, errText string, at time.Time) error {
	res, err := q.w.ExecContext(ctx, q.d.q(`UPDATE forward_destinations SET state = ?, failures = ?, last_error = ?, last_error_at = ? WHERE id = ?`),
		state, failures, errText, micros(at), id)
	return affected(res, err, fmt.Sprintf("set forward destination %d failure", id), q, store.ErrNotFound)
}

// DeleteForwardDestination implements store.ForwardQueries.
func (q *Queries) DeleteForwardDestination(ctx context.Context, id int64) error {
	res, err := q.w.ExecContext(ctx, q.d.q(`DELETE FROM forward_destinations WHERE id = ?`), id)
	return affected(res, err, fmt.Sprintf("delete forward destination %d", id), q, store.ErrNotFound)
}

// ListForwardStreams implements store.ForwardQueries.
func (q *Queries) ListForwardStreams(ctx context.Context, id int64) (map[string]store.ForwardStream, error) {
	rows, err := q.r.QueryContext(ctx, q.d.q(`SELECT stream, position, sent, last_sent_at FROM forward_streams WHERE destination_id = ?`), id)
	if err != nil {
		return nil, q.wrap("list forward streams", err)
	}
	defer rows.Close()
	out := map[string]store.ForwardStream{}
	for rows.Next() {
		var name string
		var s store.ForwardStream
		var at int64
		if err := rows.Scan(&name, &s.Position, &s.Sent, &at); err != nil {
			return nil, q.wrap("list forward streams", err)
		}
		s.LastSentAt = fromMicros(at)
		out[name] = s
	}
	return out, q.wrap("list forward streams", rows.Err())
}

// AdvanceForwardStream implements store.ForwardQueries. The stream's row appears with its first
// batch (from 0); after that the update is a compare-and-set on its position.
func (q *Queries) AdvanceForwardStream(ctx context.Context, id int64, stream string, from, to, n int64, at time.Time) error {
	err := q.inTx(ctx, func(q *Queries) error {
		res, err := q.w.ExecContext(ctx, q.d.q(`UPDATE forward_destinations SET last_sent_at = ?, state = ?, failures = 0, last_error = '',
last_error_at = 0 WHERE id = ?`), micros(at), store.ForwardOK, id)
		if err := affected(res, err, fmt.Sprintf("advance forward destination %d stream %s", id, stream), q, store.ErrNotFound); err != nil {
			return err
		}
		res, err = q.w.ExecContext(ctx, q.d.q(`UPDATE forward_streams SET position = ?, sent = sent + ?, last_sent_at = ?
WHERE destination_id = ? AND stream = ? AND position = ?`), to, n, micros(at), id, stream, from)
		if err != nil {
			return q.wrap("advance forward stream", err)
		}
		if k, err := res.RowsAffected(); err != nil || k > 0 {
			return q.wrap("advance forward stream", err)
		}
		cur, err := q.ListForwardStreams(ctx, id)
		if err != nil {
			return err
		}
		if s, ok := cur[stream]; ok || from != 0 {
			return fmt.Errorf("store: advance forward destination %d stream %s from %d: stored position is %d: %w", id, stream, from, s.Position, store.ErrConflict)
		}
		_, err = q.w.ExecContext(ctx, q.d.q(`INSERT INTO forward_streams (destination_id, stream, position, sent, last_sent_at) VALUES (?, ?, ?, ?, ?)`),
			id, stream, to, n, micros(at))
		return q.wrap("advance forward stream", err)
	})
	if err == nil && stream == store.ForwardUpdatesStream {
		err = q.pruneEventUpdates(ctx)
	}
	return err
}
