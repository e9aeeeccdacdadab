package sqldb

import (
	"context"
	"fmt"
	"strings"

	"github.com/telltale-dev/telltale/internal/store"
)

const savedCols = `id, name, query, owner, created_at, updated_at`

func scanSaved(s scanner) (store.SavedSearch, error) {
	var x store.SavedSearch
	var c, u int64
	err := s.Scan(&x.ID, &x.Name, &x.Query, &x.Owner, &c, &u)
	x.CreatedAt, x.UpdatedAt = fromMicros(c), fromMicros(u)
	return x, err
}

// CreateSavedSearch implements store.SavedSearchQueries.
func (q *Queries) CreateSavedSearch(ctx context.Context, s store.SavedSearch) (store.SavedSearch, error) {
	now := nowUTC()
	out, err := scanSaved(q.w.QueryRowContext(ctx, q.d.q(`INSERT INTO saved_searches (name, name_key, query, owner, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?) RETURNING `+savedCols), strings.TrimSpace(s.Name), nameKey(s.Name), s.Query, s.Owner, micros(now), micros(now)))
	return out, q.wrap("create saved search", err)
}

// GetSavedSearch implements store.SavedSearchQueries.
func (q *Queries) GetSavedSearch(ctx context.Context, id int64) (store.SavedSearch, error) {
	out, err := scanSaved(q.r.QueryRowContext(ctx, q.d.q(`SELECT `+savedCols+` FROM saved_searches WHERE id = ?`), id))
	return out, q.wrap(fmt.Sprintf("get saved search %d", id), err)
}

// GetSavedSearchByName implements store.SavedSearchQueries.
func (q *Queries) GetSavedSearchByName(ctx context.Context, name string) (store.SavedSearch, error) {
	out, err := scanSaved(q.r.QueryRowContext(ctx, q.d.q(`SELECT `+savedCols+` FROM saved_searches WHERE name_key = ?`), nameKey(name)))
	return out, q.wrap(fmt.Sprintf("get saved search %q", name), err)
}

// ListSavedSearches implements store.SavedSearchQueries.
func (q *Queries) ListSavedSearches(ctx context.Context) ([]store.SavedSearch, error) {
	rows, err := q.r.QueryContext(ctx, q.d.q(`SELECT `+savedCols+` FROM saved_searches ORDER BY name_key`))
	if err != nil {
		return nil, q.wrap("list saved searches", err)
	}
	defer rows.Close()
	var out []store.SavedSearch
	for rows.Next() {
		s, err := scanSaved(rows)
		if err != nil {
			return nil, q.wrap("list saved searches", err)
		}
		out = append(out, s)
	}
	return out, q.wrap("list saved searches", rows.Err())
}

// UpdateSavedSearch implements store.SavedSearchQueries.
func (q *Queries) UpdateSavedSearch(ctx context.Context, s store.SavedSearch) (store.SavedSearch, error) {
	out, err := scanSaved(q.w.QueryRowContext(ctx, q.d.q(`UPDATE saved_searches SET name = ?, name_key = ?, query = ?, updated_at = ?
WHERE id = ? RETURNING `+savedCols), strings.TrimSpace(s.Name), nameKey(s.Name), s.Query, micros(nowUTC()), s.ID))
	return out, q.wrap(fmt.Sprintf("update saved search %d", s.ID), err)
}

// DeleteSavedSearch implements store.SavedSearchQueries.
func (q *Queries) DeleteSavedSearch(ctx context.Context, id int64) error {
	res, err := q.w.ExecContext(ctx, q.d.q(`DELETE FROM saved_searches WHERE id = ?`), id)
	return affected(res, err, fmt.Sprintf("delete saved search %d", id), q, store.ErrNotFound)
}

const checkpointCols = `name, after_id, owner_id, updated_at`

func scanCheckpoint(s scanner) (store.Checkpoint, error) {
	var c store.Checkpoint
	var u int64
	err := s.Scan(&c.Name, &c.AfterID, &c.OwnerID, &u)
	c.UpdatedAt = fromMicros(u)
	return c, err
}

// GetCheckpoint implements store.SavedSearchQueries.
func (q *Queries) GetCheckpoint(ctx context.Context, name string) (store.Checkpoint, error) {
	c, err := scanCheckpoint(q.r.QueryRowContext(ctx, q.d.q(`SELECT `+checkpointCols+` FROM export_checkpoints WHERE name = ?`), name))
	return c, q.wrap(fmt.Sprintf("get checkpoint %q", name), err)
}

// ListCheckpoints implements store.SavedSearchQueries.
func (q *Queries) ListCheckpoints(ctx context.Context) ([]store.Checkpoint, error) {
	rows, err := q.r.QueryContext(ctx, q.d.q(`SELECT `+checkpointCols+` FROM export_checkpoints ORDER BY name`))
	if err != nil {
		return nil, q.wrap("list checkpoints", err)
	}
	defer rows.Close()
	var out []store.Checkpoint
	for rows.Next() {
		c, err := scanCheckpoint(rows)
		if err != nil {
			return nil, q.wrap("list checkpoints", err)
		}
		out = append(out, c)
	}
	return out, q.wrap("list checkpoints", rows.Err())
}

// CreateCheckpoint implements store.SavedSearchQueries.
func (q *Queries) CreateCheckpoint(ctx context.Context, c store.Checkpoint) (store.Checkpoint, error) {
	out, err := scanCheckpoint(q.w.QueryRowContext(ctx, q.d.q(`INSERT INTO export_checkpoints (name, after_id, owner_id, updated_at) VALUES (?, ?, ?, ?)
RETURNING `+checkpointCols), c.Name, c.AfterID, c.OwnerID, micros(nowUTC())))
	return out, q.wrap(fmt.Sprintf("create checkpoint %q", c.Name), err)
}

// UpdateCheckpoint implements store.SavedSearchQueries.
func (q *Queries) UpdateCheckpoint(ctx context.Context, c store.Checkpoint, ownedBy int64, forward bool) (store.Checkpoint, error) {
	set := `after_id = ?`
	if forward {
		set = `after_id = CASE WHEN after_id > ? THEN after_id ELSE ? END`
	}
	args := []any{c.AfterID}
	if forward {
		args = append(args, c.AfterID)
	}
	args = append(args, c.OwnerID, micros(nowUTC()), c.Name, ownedBy)
	out, err := scanCheckpoint(q.w.QueryRowContext(ctx, q.d.q(`UPDATE export_checkpoints SET `+set+`, owner_id = ?, updated_at = ?
WHERE name = ? AND owner_id = ? RETURNING `+checkpointCols), args...))
	return out, q.wrap(fmt.Sprintf("update checkpoint %q", c.Name), err)
}

// DeleteCheckpoint implements store.SavedSearchQueries.
func (q *Queries) DeleteCheckpoint(ctx context.Context, name string) error {
	res, err := q.w.ExecContext(ctx, q.d.q(`DELETE FROM export_checkpoints WHERE name = ?`), name)
	return affected(res, err, fmt.Sprintf("delete checkpoint %q", name), q, store.ErrNotFound)
}

// NewestEventID implements store.SavedSearchQueries. SQLite remembers the largest id before events
// are deleted (event_id_floor, migration 0006); PostgreSQL's sequence never goes back.
func (q *Queries) NewestEventID(ctx context.Context) (int64, error) {
	query := `SELECT MAX(COALESCE((SELECT MAX(id) FROM file_events), 0), COALESCE((SELECT id FROM event_id_floor WHERE k = 1), 0))`
	if q.d.Name != "sqlite" {
		query = `SELECT COALESCE(pg_sequence_last_value(pg_get_serial_sequence('file_events', 'id')::regclass), 0)`
	}
	var id int64
	err := q.r.QueryRowContext(ctx, query).Scan(&id)
	return id, q.wrap("newest event id", err)
}
