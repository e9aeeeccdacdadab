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

// GetCheckpoint implements store.SavedSearchQueries.
func (q *Queries) GetCheckpoint(ctx context.Context, name string) (int64, error) {
	var id int64
	err := q.r.QueryRowContext(ctx, q.d.q(`SELECT after_id FROM export_checkpoints WHERE name = ?`), name).Scan(&id)
	return id, q.wrap(fmt.Sprintf("get checkpoint %q", name), err)
}

// SaveCheckpoint implements store.SavedSearchQueries.
func (q *Queries) SaveCheckpoint(ctx context.Context, name string, afterID int64) error {
	_, err := q.w.ExecContext(ctx, q.d.q(`INSERT INTO export_checkpoints (name, after_id, updated_at) VALUES (?, ?, ?)
ON CONFLICT (name) DO UPDATE SET after_id = CASE WHEN excluded.after_id > export_checkpoints.after_id THEN excluded.after_id ELSE export_checkpoints.after_id END,
updated_at = excluded.updated_at`), name, afterID, micros(nowUTC()))
	return q.wrap(fmt.Sprintf("save checkpoint %q", name), err)
}
