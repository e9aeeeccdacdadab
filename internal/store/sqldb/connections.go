package sqldb

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/telltale-dev/telltale/internal/store"
)

const connCols = `id, name, service, service_type, status, prev_status, error_reason, scope_kind, tenant_id, settings,
credentials, created_at, created_by, updated_at, deauthorized_at, throttled_until, last_event_at, version`

type scanner interface{ Scan(dest ...any) error }

func scanConn(s scanner) (store.Connection, error) {
	var c store.Connection
	var created, updated, deauth, throttled, last int64
	err := s.Scan(&c.ID, &c.Name, &c.Service, &c.ServiceType, &c.Status, &c.PrevStatus, &c.ErrorReason, &c.ScopeKind,
		&c.TenantID, &c.Settings, &c.Credentials, &created, &c.CreatedBy, &updated, &deauth, &throttled, &last, &c.Version)
	c.CreatedAt, c.UpdatedAt, c.DeauthorizedAt = fromMicros(created), fromMicros(updated), fromMicros(deauth)
	c.ThrottledUntil, c.LastEventAt = fromMicros(throttled), fromMicros(last)
	return c, err
}

func nameKey(name string) string { return strings.ToLower(strings.TrimSpace(name)) }

// CreateConnection implements store.ConnectionQueries.
func (q *Queries) CreateConnection(ctx context.Context, c store.Connection) (store.Connection, error) {
	now := micros(nowUTC())
	created, updated := micros(c.CreatedAt), micros(c.UpdatedAt)
	if created == 0 {
		created = now
	}
	if updated == 0 {
		updated = created
	}
	row := q.w.QueryRowContext(ctx, q.d.q(`INSERT INTO connections (name, name_key, service, service_type, status, prev_status,
error_reason, scope_kind, tenant_id, settings, credentials, created_at, created_by, updated_at, deauthorized_at, throttled_until,
last_event_at, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1) RETURNING `+connCols),
		c.Name, nameKey(c.Name), c.Service, c.ServiceType, c.Status, c.PrevStatus, c.ErrorReason, c.ScopeKind, c.TenantID,
		c.Settings, c.Credentials, created, c.CreatedBy, updated, micros(c.DeauthorizedAt), micros(c.ThrottledUntil), micros(c.LastEventAt))
	out, err := scanConn(row)
	return out, q.wrap("create connection", err)
}

// GetConnection implements store.ConnectionQueries.
func (q *Queries) GetConnection(ctx context.Context, id int64) (store.Connection, error) {
	c, err := scanConn(q.r.QueryRowContext(ctx, q.d.q(`SELECT `+connCols+` FROM connections WHERE id = ?`), id))
	return c, q.wrap(fmt.Sprintf("get connection %d", id), err)
}

// ListConnections implements store.ConnectionQueries.
func (q *Queries) ListConnections(ctx context.Context) ([]store.Connection, error) {
	rows, err := q.r.QueryContext(ctx, `SELECT `+connCols+` FROM connections ORDER BY id`)
	if err != nil {
		return nil, q.wrap("list connections", err)
	}
	defer rows.Close()
	var out []store.Connection
	for rows.Next() {
		c, err := scanConn(rows)
		if err != nil {
			return nil, q.wrap("list connections", err)
		}
		out = append(out, c)
	}
	return out, q.wrap("list connections", rows.Err())
}

// UpdateConnection implements store.ConnectionQueries (compare-and-set on Version).
func (q *Queries) UpdateConnection(ctx context.Context, c store.Connection) (store.Connection, error) {
	row := q.w.QueryRowContext(ctx, q.d.q(`UPDATE connections SET name = ?, name_key = ?, service = ?, service_type = ?, status = ?,
prev_status = ?, error_reason = ?, scope_kind = ?, tenant_id = ?, settings = ?, credentials = ?, created_by = ?, updated_at = ?,
deauthorized_at = ?, throttled_until = ?, last_event_at = ?, version = version + 1 WHERE id = ? AND version = ? RETURNING `+connCols),
		c.Name, nameKey(c.Name), c.Service, c.ServiceType, c.Status, c.PrevStatus, c.ErrorReason, c.ScopeKind, c.TenantID,
		c.Settings, c.Credentials, c.CreatedBy, micros(nowUTC()), micros(c.DeauthorizedAt), micros(c.ThrottledUntil),
		micros(c.LastEventAt), c.ID, c.Version)
	out, err := scanConn(row)
	if err == sql.ErrNoRows {
		if _, gerr := q.GetConnection(ctx, c.ID); gerr != nil {
			return out, gerr
		}
		return out, fmt.Errorf("store: update connection %d: version %d is stale: %w", c.ID, c.Version, store.ErrConflict)
	}
	return out, q.wrap(fmt.Sprintf("update connection %d", c.ID), err)
}

// DeleteConnection implements store.ConnectionQueries.
func (q *Queries) DeleteConnection(ctx context.Context, id int64) error {
	return q.inTx(ctx, func(q *Queries) error {
		if err := q.keepIDFloor(ctx); err != nil {
			return q.wrap("delete connection", err)
		}
		for _, t := range []string{"status_changes", "scope_entries", "files", "drives", "file_events", "cursors", "push_subscriptions", "work", "hash_jobs", "outbox", "vendor_records", "event_merge", "health_throttles", "health_streams", "health_feed_counts"} {
			where := ` WHERE connection_id = ?`
			if t == "file_events" {
				// A case on legal hold keeps them (cases.go).
				if _, err := q.deleteEvents(ctx, `connection_id = ? AND NOT `+heldEvent, id); err != nil {
					return q.wrap("delete connection: "+t, err)
				}
				continue
			}
			if _, err := q.w.ExecContext(ctx, q.d.q(`DELETE FROM `+t+where), id); err != nil {
				return q.wrap("delete connection: "+t, err)
			}
		}
		res, err := q.w.ExecContext(ctx, q.d.q(`DELETE FROM connections WHERE id = ?`), id)
		return affected(res, err, fmt.Sprintf("delete connection %d", id), q, store.ErrNotFound)
	})
}

// AppendStatusChange implements store.ConnectionQueries.
func (q *Queries) AppendStatusChange(ctx context.Context, s store.StatusChange) (store.StatusChange, error) {
	if s.At.IsZero() {
		s.At = nowUTC()
	}
	err := q.w.QueryRowContext(ctx, q.d.q(`INSERT INTO status_changes (connection_id, at, from_status, to_status, actor, reason)
VALUES (?, ?, ?, ?, ?, ?) RETURNING id`), s.ConnectionID, micros(s.At), s.From, s.To, s.Actor, s.Reason).Scan(&s.ID)
	s.At = fromMicros(micros(s.At))
	return s, q.wrap("append status change", err)
}

// ListStatusChanges implements store.ConnectionQueries.
func (q *Queries) ListStatusChanges(ctx context.Context, connectionID int64) ([]store.StatusChange, error) {
	return q.statusChanges(ctx, `WHERE connection_id = ? ORDER BY id`, connectionID)
}

// ListStatusChangesAfter implements store.ConnectionQueries.
func (q *Queries) ListStatusChangesAfter(ctx context.Context, afterID int64, limit int) ([]store.StatusChange, error) {
	if limit <= 0 {
		limit = 100
	}
	return q.statusChanges(ctx, `WHERE id > ? ORDER BY id LIMIT ?`, afterID, limit)
}

// statusChanges reads the status changes the WHERE ... ORDER BY clause selects.
func (q *Queries) statusChanges(ctx context.Context, where string, args ...any) ([]store.StatusChange, error) {
	rows, err := q.r.QueryContext(ctx, q.d.q(`SELECT id, connection_id, at, from_status, to_status, actor, reason FROM status_changes `+where), args...)
	if err != nil {
		return nil, q.wrap("list status changes", err)
	}
	defer rows.Close()
	var out []store.StatusChange
	for rows.Next() {
		var s store.StatusChange
		var at int64
		if err := rows.Scan(&s.ID, &s.ConnectionID, &at, &s.From, &s.To, &s.Actor, &s.Reason); err != nil {
			return nil, q.wrap("list status changes", err)
		}
		s.At = fromMicros(at)
		out = append(out, s)
	}
	return out, q.wrap("list status changes", rows.Err())
}
