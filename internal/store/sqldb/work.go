package sqldb

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/telltale-dev/telltale/internal/store"
)

const workCols = `id, kind, work_key, connection_id, payload, next_run_at, lease_owner, lease_until, attempts, last_error, created_at`

func scanWork(s scanner) (store.Work, error) {
	var w store.Work
	var next, until, created int64
	err := s.Scan(&w.ID, &w.Kind, &w.Key, &w.ConnectionID, &w.Payload, &next, &w.LeaseOwner, &until, &w.Attempts, &w.LastError, &created)
	w.NextRunAt, w.LeaseUntil, w.CreatedAt = fromMicros(next), fromMicros(until), fromMicros(created)
	return w, err
}

func (q *Queries) upsertWork(ctx context.Context, w store.Work, onConflict, op string) (store.Work, error) {
	created := micros(w.CreatedAt)
	if created == 0 {
		created = micros(nowUTC())
	}
	var out store.Work
	err := q.inTx(ctx, func(q *Queries) error {
		if _, err := q.w.ExecContext(ctx, q.d.q(`INSERT INTO work (kind, work_key, connection_id, payload, next_run_at, created_at)
VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (kind, work_key) `+onConflict), w.Kind, w.Key, w.ConnectionID, w.Payload, micros(w.NextRunAt), created); err != nil {
			return q.wrap(op, err)
		}
		var err error
		out, err = scanWork(q.w.QueryRowContext(ctx, q.d.q(`SELECT `+workCols+` FROM work WHERE kind = ? AND work_key = ?`), w.Kind, w.Key))
		return q.wrap(op, err)
	})
	return out, err
}

// EnsureWork implements store.WorkQueries.
func (q *Queries) EnsureWork(ctx context.Context, w store.Work) (store.Work, error) {
	return q.upsertWork(ctx, w, `DO NOTHING`, "ensure work")
}

// ScheduleWork implements store.WorkQueries.
func (q *Queries) ScheduleWork(ctx context.Context, w store.Work) (store.Work, error) {
	// A unit that is running (leased) keeps the earliest requested time in rerun_at too, so that
	// FinishWork, which sets next_run_at from the handler's result, does not lose the request.
	return q.upsertWork(ctx, w, `DO UPDATE SET next_run_at = excluded.next_run_at,
rerun_at = CASE WHEN work.lease_owner = '' THEN 0 WHEN work.rerun_at = 0 OR excluded.next_run_at < work.rerun_at THEN excluded.next_run_at ELSE work.rerun_at END`, "schedule work")
}

// GetWork implements store.WorkQueries.
func (q *Queries) GetWork(ctx context.Context, kind, key string) (store.Work, error) {
	w, err := scanWork(q.r.QueryRowContext(ctx, q.d.q(`SELECT `+workCols+` FROM work WHERE kind = ? AND work_key = ?`), kind, key))
	return w, q.wrap(fmt.Sprintf("get work %s/%s", kind, key), err)
}

// claimQuery builds the compare-and-set lease claim shared by work and the outbox: lease up to Limit
// due, unleased rows (of the given kinds), earliest first, skipping rows another node has locked.
func (q *Queries) claimQuery(table, cols, kindCol, extra string, r store.ClaimRequest) (string, []any) {
	now := micros(r.Now)
	kinds, kargs := "", []any(nil)
	if len(r.Kinds) > 0 {
		var ph string
		ph, kargs = in(r.Kinds)
		kinds = ` AND ` + kindCol + ` IN ` + ph
	}
	args := []any{r.Owner, micros(r.Now.Add(r.LeaseFor)), now, now}
	args = append(args, kargs...)
	args = append(args, r.Limit, now)
	from := table
	if table == "work" && q.d.Name == "sqlite" {
		// Without statistics SQLite serves "kind IN (...)" from work_kind_key and sorts every unit
		// of those kinds for each claim: quadratic once a connection has thousands of drives to
		// index (70% of the CPU in benchmark (b) at 15,000 drives). work_due reads due units in order.
		from = "work INDEXED BY work_due"
	}
	return q.d.q(`UPDATE ` + table + ` SET lease_owner = ?, lease_until = ? WHERE id IN (
SELECT id FROM ` + from + ` WHERE ` + extra + `next_run_at <= ? AND lease_until <= ?` + kinds + ` ORDER BY next_run_at, id LIMIT ?` + q.d.SkipLocked + `)
AND lease_until <= ? RETURNING ` + cols), args
}

// ReleaseLeases implements store.WorkQueries.
func (q *Queries) ReleaseLeases(ctx context.Context) (int64, error) {
	res, err := q.w.ExecContext(ctx, `UPDATE work SET lease_owner = '', lease_until = 0,
next_run_at = CASE WHEN rerun_at > 0 AND rerun_at < next_run_at THEN rerun_at ELSE next_run_at END, rerun_at = 0
WHERE lease_owner <> ''`)
	if err != nil {
		return 0, q.wrap("release leases", err)
	}
	n, _ := res.RowsAffected()
	res, err = q.w.ExecContext(ctx, `UPDATE outbox SET lease_owner = '', lease_until = 0 WHERE lease_owner <> ''`)
	if err != nil {
		return 0, q.wrap("release outbox leases", err)
	}
	m, _ := res.RowsAffected()
	if _, err := q.w.ExecContext(ctx, `DELETE FROM nodes`); err != nil {
		return 0, q.wrap("release leases: forget the nodes", err)
	}
	return n + m, nil
}

// ClaimWork implements store.WorkQueries: a compare-and-set on the lease, with SKIP LOCKED on PostgreSQL.
func (q *Queries) ClaimWork(ctx context.Context, r store.ClaimRequest) ([]store.Work, error) {
	if r.Limit <= 0 {
		return nil, nil
	}
	query, args := q.claimQuery("work", workCols, "kind", "", r)
	rows, err := q.w.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, q.wrap("claim work", err)
	}
	defer rows.Close()
	var out []store.Work
	for rows.Next() {
		w, err := scanWork(rows)
		if err != nil {
			return nil, q.wrap("claim work", err)
		}
		out = append(out, w)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].NextRunAt.Equal(out[j].NextRunAt) {
			return out[i].NextRunAt.Before(out[j].NextRunAt)
		}
		return out[i].ID < out[j].ID
	})
	return out, q.wrap("claim work", rows.Err())
}

// ExtendLease implements store.WorkQueries.
func (q *Queries) ExtendLease(ctx context.Context, id int64, owner string, until time.Time) error {
	res, err := q.w.ExecContext(ctx, q.d.q(`UPDATE work SET lease_until = ? WHERE id = ? AND lease_owner = ?`), micros(until), id, owner)
	return affected(res, err, fmt.Sprintf("extend lease of work %d", id), q, store.ErrConflict)
}

// FinishWork implements store.WorkQueries. A run requested with ScheduleWork during the lease
// (rerun_at) wins over a later next, and keeps a unit the handler finished with a zero next.
func (q *Queries) FinishWork(ctx context.Context, id int64, owner string, next time.Time, errText string) error {
	op := fmt.Sprintf("finish work %d", id)
	if next.IsZero() {
		res, err := q.w.ExecContext(ctx, q.d.q(`DELETE FROM work WHERE id = ? AND lease_owner = ? AND rerun_at = 0`), id, owner)
		if err != nil {
			return q.wrap(op, err)
		}
		if n, err := res.RowsAffected(); err != nil || n > 0 {
			return q.wrap(op, err)
		}
		res, err = q.w.ExecContext(ctx, q.d.q(`UPDATE work SET next_run_at = rerun_at, rerun_at = 0, lease_owner = '', lease_until = 0,
last_error = '', attempts = 0 WHERE id = ? AND lease_owner = ?`), id, owner)
		return affected(res, err, op, q, store.ErrConflict)
	}
	res, err := q.w.ExecContext(ctx, q.d.q(`UPDATE work SET next_run_at = CASE WHEN rerun_at <> 0 AND rerun_at < ? THEN rerun_at ELSE ? END,
rerun_at = 0, lease_owner = '', lease_until = 0, last_error = ?,
attempts = CASE WHEN ? = '' THEN 0 ELSE attempts + 1 END WHERE id = ? AND lease_owner = ?`), micros(next), micros(next), errText, errText, id, owner)
	return affected(res, err, op, q, store.ErrConflict)
}

// DeleteWork implements store.WorkQueries.
func (q *Queries) DeleteWork(ctx context.Context, kind, key string) error {
	_, err := q.w.ExecContext(ctx, q.d.q(`DELETE FROM work WHERE kind = ? AND work_key = ?`), kind, key)
	return q.wrap("delete work", err)
}

// ListWork implements store.WorkQueries.
func (q *Queries) ListWork(ctx context.Context, connectionID int64) ([]store.Work, error) {
	query, args := `SELECT `+workCols+` FROM work ORDER BY id`, []any(nil)
	if connectionID != 0 {
		query, args = `SELECT `+workCols+` FROM work WHERE connection_id = ? ORDER BY id`, []any{connectionID}
	}
	rows, err := q.r.QueryContext(ctx, q.d.q(query), args...)
	if err != nil {
		return nil, q.wrap("list work", err)
	}
	defer rows.Close()
	var out []store.Work
	for rows.Next() {
		w, err := scanWork(rows)
		if err != nil {
			return nil, q.wrap("list work", err)
		}
		out = append(out, w)
	}
	return out, q.wrap("list work", rows.Err())
}

// ---- outbox ----

const outboxCols = `id, connection_id, integration_id, subject, topic, idempotency_key, payload, state, attempts, last_error, response, next_run_at, lease_owner, lease_until, created_at, done_at`

func scanOutbox(s scanner) (store.OutboxItem, error) {
	var it store.OutboxItem
	var next, until, created, done int64
	err := s.Scan(&it.ID, &it.ConnectionID, &it.IntegrationID, &it.Subject, &it.Topic, &it.IdempotencyKey, &it.Payload, &it.State, &it.Attempts, &it.LastError, &it.Response,
		&next, &it.LeaseOwner, &until, &created, &done)
	it.NextRunAt, it.LeaseUntil, it.CreatedAt, it.DoneAt = fromMicros(next), fromMicros(until), fromMicros(created), fromMicros(done)
	return it, err
}

// EnqueueOutbox implements store.OutboxQueries.
func (q *Queries) EnqueueOutbox(ctx context.Context, it store.OutboxItem) (store.OutboxItem, error) {
	var out store.OutboxItem
	err := q.inTx(ctx, func(q *Queries) error {
		now := micros(nowUTC())
		next := micros(it.NextRunAt)
		if next == 0 {
			next = now
		}
		if _, err := q.w.ExecContext(ctx, q.d.q(`INSERT INTO outbox (connection_id, integration_id, subject, topic, idempotency_key, payload, state, next_run_at, created_at)
VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?) ON CONFLICT (idempotency_key) DO NOTHING`), it.ConnectionID, it.IntegrationID, it.Subject, it.Topic, it.IdempotencyKey, it.Payload, next, now); err != nil {
			return q.wrap("enqueue outbox", err)
		}
		var err error
		out, err = scanOutbox(q.w.QueryRowContext(ctx, q.d.q(`SELECT `+outboxCols+` FROM outbox WHERE idempotency_key = ?`), it.IdempotencyKey))
		return q.wrap("enqueue outbox", err)
	})
	return out, err
}

// ClaimOutbox implements store.OutboxQueries.
func (q *Queries) ClaimOutbox(ctx context.Context, r store.ClaimRequest) ([]store.OutboxItem, error) {
	if r.Limit <= 0 {
		return nil, nil
	}
	query, args := q.claimQuery("outbox", outboxCols, "topic", "state = 'pending' AND ", r)
	rows, err := q.w.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, q.wrap("claim outbox", err)
	}
	defer rows.Close()
	var out []store.OutboxItem
	for rows.Next() {
		it, err := scanOutbox(rows)
		if err != nil {
			return nil, q.wrap("claim outbox", err)
		}
		out = append(out, it)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, q.wrap("claim outbox", rows.Err())
}

// ReleaseOutbox implements store.OutboxQueries.
func (q *Queries) ReleaseOutbox(ctx context.Context, keep string) (int64, error) {
	res, err := q.w.ExecContext(ctx, q.d.q(`UPDATE outbox SET lease_owner = '', lease_until = 0 WHERE state = ? AND lease_owner <> '' AND lease_owner <> ?`), store.OutboxPending, keep)
	if err != nil {
		return 0, q.wrap("release outbox", err)
	}
	n, err := res.RowsAffected()
	return n, q.wrap("release outbox", err)
}

// FinishOutbox implements store.OutboxQueries.
func (q *Queries) FinishOutbox(ctx context.Context, id int64, owner, state string, next time.Time, errText, response string) error {
	switch state {
	case store.OutboxPending, store.OutboxDone, store.OutboxDead:
	default:
		return fmt.Errorf("store: finish outbox %d: unknown state %q", id, state)
	}
	done := int64(0)
	if state != store.OutboxPending {
		done = micros(nowUTC())
	}
	res, err := q.w.ExecContext(ctx, q.d.q(`UPDATE outbox SET state = ?, next_run_at = ?, last_error = ?, response = ?, attempts = attempts + 1,
lease_owner = '', lease_until = 0, done_at = ? WHERE id = ? AND lease_owner = ?`), state, micros(next), errText, response, done, id, owner)
	return affected(res, err, fmt.Sprintf("finish outbox %d", id), q, store.ErrConflict)
}

// ListOutbox implements store.OutboxQueries.
func (q *Queries) ListOutbox(ctx context.Context, state string, limit int) ([]store.OutboxItem, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := q.r.QueryContext(ctx, q.d.q(`SELECT `+outboxCols+` FROM outbox WHERE state = ? ORDER BY id LIMIT ?`), state, limit)
	if err != nil {
		return nil, q.wrap("list outbox", err)
	}
	defer rows.Close()
	var out []store.OutboxItem
	for rows.Next() {
		it, err := scanOutbox(rows)
		if err != nil {
			return nil, q.wrap("list outbox", err)
		}
		out = append(out, it)
	}
	return out, q.wrap("list outbox", rows.Err())
}

func (q *Queries) listOutbox(ctx context.Context, op, where string, args ...any) ([]store.OutboxItem, error) {
	rows, err := q.r.QueryContext(ctx, q.d.q(`SELECT `+outboxCols+` FROM outbox `+where), args...)
	if err != nil {
		return nil, q.wrap(op, err)
	}
	defer rows.Close()
	var out []store.OutboxItem
	for rows.Next() {
		it, err := scanOutbox(rows)
		if err != nil {
			return nil, q.wrap(op, err)
		}
		out = append(out, it)
	}
	return out, q.wrap(op, rows.Err())
}

// GetOutbox implements store.OutboxQueries.
func (q *Queries) GetOutbox(ctx context.Context, id int64) (store.OutboxItem, error) {
	it, err := scanOutbox(q.r.QueryRowContext(ctx, q.d.q(`SELECT `+outboxCols+` FROM outbox WHERE id = ?`), id))
	return it, q.wrap(fmt.Sprintf("get outbox %d", id), err)
}

// ListDeliveries implements store.OutboxQueries.
func (q *Queries) ListDeliveries(ctx context.Context, f store.DeliveryFilter) ([]store.OutboxItem, error) {
	where, args := `WHERE 1 = 1`, []any{}
	if f.IntegrationID != 0 {
		where += ` AND integration_id = ?`
		args = append(args, f.IntegrationID)
	}
	if f.State != "" {
		where += ` AND state = ?`
		args = append(args, f.State)
	}
	if f.BeforeID > 0 {
		where += ` AND id < ?`
		args = append(args, f.BeforeID)
	}
	if f.Limit <= 0 {
		f.Limit = 100
	}
	args = append(args, f.Limit)
	return q.listOutbox(ctx, "list deliveries", where+` ORDER BY id DESC LIMIT ?`, args...)
}

// NoteOutbox implements store.OutboxQueries.
func (q *Queries) NoteOutbox(ctx context.Context, id int64, owner, response string) error {
	res, err := q.w.ExecContext(ctx, q.d.q(`UPDATE outbox SET response = ? WHERE id = ? AND lease_owner = ? AND state = ?`), response, id, owner, store.OutboxPending)
	return affected(res, err, fmt.Sprintf("note outbox %d", id), q, store.ErrConflict)
}

// ReplayOutbox implements store.OutboxQueries.
func (q *Queries) ReplayOutbox(ctx context.Context, id int64, at time.Time) (store.OutboxItem, error) {
	var out store.OutboxItem
	err := q.inTx(ctx, func(q *Queries) error {
		res, err := q.w.ExecContext(ctx, q.d.q(`UPDATE outbox SET state = 'pending', next_run_at = ?, attempts = 0, done_at = 0,
lease_owner = '', lease_until = 0 WHERE id = ? AND state <> 'pending'`), micros(at), id)
		if err := affected(res, err, fmt.Sprintf("replay outbox %d", id), q, store.ErrConflict); err != nil {
			if _, gerr := q.GetOutbox(ctx, id); errors.Is(gerr, store.ErrNotFound) {
				return gerr
			}
			return err
		}
		out, err = q.GetOutbox(ctx, id)
		return err
	})
	return out, err
}
