package sqldb

import (
	"context"
	"fmt"
	"strings"

	"github.com/telltale-dev/telltale/internal/store"
)

const watchlistCols = `w.id, w.type, w.name, w.description, w.created_at, w.created_by`

func scanWatchlist(s scanner, withCount bool) (store.Watchlist, error) {
	var w store.Watchlist
	var c int64
	dest := []any{&w.ID, &w.Type, &w.Name, &w.Description, &c, &w.CreatedBy}
	if withCount {
		dest = append(dest, &w.Members)
	}
	err := s.Scan(dest...)
	w.CreatedAt = fromMicros(c)
	return w, err
}

// bumpWatchlists moves the revision that caches of the memberships compare with.
func (q *Queries) bumpWatchlists(ctx context.Context) error {
	_, err := q.w.ExecContext(ctx, q.d.q(`UPDATE watchlist_revision SET n = n + 1 WHERE name = 'all'`))
	return q.wrap("watchlist revision", err)
}

// CreateWatchlist implements store.WatchlistQueries.
func (q *Queries) CreateWatchlist(ctx context.Context, w store.Watchlist) (store.Watchlist, error) {
	if w.CreatedAt.IsZero() {
		w.CreatedAt = nowUTC()
	}
	var out store.Watchlist
	err := q.inTx(ctx, func(q *Queries) error {
		var err error
		out, err = scanWatchlist(q.w.QueryRowContext(ctx, q.d.q(`INSERT INTO watchlists (type, name, name_key, description, created_at, created_by)
VALUES (?, ?, ?, ?, ?, ?) RETURNING id, type, name, description, created_at, created_by`), w.Type, strings.TrimSpace(w.Name), nameKey(w.Name), w.Description, micros(w.CreatedAt), w.CreatedBy), false)
		if err != nil {
			return q.wrap("create watchlist", err)
		}
		return q.bumpWatchlists(ctx)
	})
	return out, err
}

const watchlistSelect = `SELECT ` + watchlistCols + `, (SELECT COUNT(*) FROM watchlist_members m WHERE m.watchlist_id = w.id) FROM watchlists w`

// GetWatchlist implements store.WatchlistQueries.
func (q *Queries) GetWatchlist(ctx context.Context, id int64) (store.Watchlist, error) {
	out, err := scanWatchlist(q.r.QueryRowContext(ctx, q.d.q(watchlistSelect+` WHERE w.id = ?`), id), true)
	return out, q.wrap(fmt.Sprintf("get watchlist %d", id), err)
}

// ListWatchlists implements store.WatchlistQueries.
func (q *Queries) ListWatchlists(ctx context.Context) ([]store.Watchlist, error) {
	rows, err := q.r.QueryContext(ctx, q.d.q(watchlistSelect+` ORDER BY w.id`))
	if err != nil {
		return nil, q.wrap("list watchlists", err)
	}
	defer rows.Close()
	var out []store.Watchlist
	for rows.Next() {
		w, err := scanWatchlist(rows, true)
		if err != nil {
			return nil, q.wrap("list watchlists", err)
		}
		out = append(out, w)
	}
	return out, q.wrap("list watchlists", rows.Err())
}

// PutWatchlistMembers implements store.WatchlistQueries.
func (q *Queries) PutWatchlistMembers(ctx context.Context, watchlistID int64, ms []store.WatchlistMember) (int64, error) {
	var added int64
	err := q.inTx(ctx, func(q *Queries) error {
		var one int64
		if err := q.w.QueryRowContext(ctx, q.d.q(`SELECT 1 FROM watchlists WHERE id = ?`), watchlistID).Scan(&one); err != nil {
			return q.wrap(fmt.Sprintf("add members to watchlist %d", watchlistID), err)
		}
		for _, m := range ms {
			if m.AddedAt.IsZero() {
				m.AddedAt = nowUTC()
			}
			email := strings.ToLower(strings.TrimSpace(m.Email))
			res, err := q.w.ExecContext(ctx, q.d.q(`UPDATE watchlist_members SET departure_date = ?, notes = ? WHERE watchlist_id = ? AND email = ?`),
				m.DepartureDate, m.Notes, watchlistID, email)
			if err != nil {
				return q.wrap("add watchlist members", err)
			}
			if n, err := res.RowsAffected(); err != nil {
				return q.wrap("add watchlist members", err)
			} else if n > 0 {
				continue
			}
			if _, err := q.w.ExecContext(ctx, q.d.q(`INSERT INTO watchlist_members (watchlist_id, email, departure_date, notes, added_by, added_at)
VALUES (?, ?, ?, ?, ?, ?)`), watchlistID, email, m.DepartureDate, m.Notes, m.AddedBy, micros(m.AddedAt)); err != nil {
				return q.wrap("add watchlist members", err)
			}
			added++
		}
		return q.bumpWatchlists(ctx)
	})
	return added, err
}

// RemoveWatchlistMembers implements store.WatchlistQueries.
func (q *Queries) RemoveWatchlistMembers(ctx context.Context, watchlistID int64, emails []string) (int64, error) {
	var n int64
	err := q.inTx(ctx, func(q *Queries) error {
		for _, e := range emails {
			res, err := q.w.ExecContext(ctx, q.d.q(`DELETE FROM watchlist_members WHERE watchlist_id = ? AND email = ?`), watchlistID, strings.ToLower(strings.TrimSpace(e)))
			if err != nil {
				return q.wrap("remove watchlist members", err)
			}
			k, err := res.RowsAffected()
			if err != nil {
				return q.wrap("remove watchlist members", err)
			}
			n += k
		}
		return q.bumpWatchlists(ctx)
	})
	return n, err
}

// ListWatchlistMembers implements store.WatchlistQueries.
func (q *Queries) ListWatchlistMembers(ctx context.Context, watchlistID int64, afterEmail string, limit int) ([]store.WatchlistMember, error) {
	if limit <= 0 {
		limit = 1000
	}
	rows, err := q.r.QueryContext(ctx, q.d.q(`SELECT email, departure_date, notes, added_by, added_at FROM watchlist_members
WHERE watchlist_id = ? AND email > ? ORDER BY email LIMIT ?`), watchlistID, afterEmail, limit)
	if err != nil {
		return nil, q.wrap("list watchlist members", err)
	}
	defer rows.Close()
	var out []store.WatchlistMember
	for rows.Next() {
		m := store.WatchlistMember{WatchlistID: watchlistID}
		var at int64
		if err := rows.Scan(&m.Email, &m.DepartureDate, &m.Notes, &m.AddedBy, &at); err != nil {
			return nil, q.wrap("list watchlist members", err)
		}
		m.AddedAt = fromMicros(at)
		out = append(out, m)
	}
	return out, q.wrap("list watchlist members", rows.Err())
}

// ListWatchlistMemberships implements store.WatchlistQueries.
func (q *Queries) ListWatchlistMemberships(ctx context.Context) ([]store.WatchlistMembership, error) {
	rows, err := q.r.QueryContext(ctx, q.d.q(`SELECT m.email, w.id, w.type, w.name FROM watchlist_members m
JOIN watchlists w ON w.id = m.watchlist_id ORDER BY m.email, w.id`))
	if err != nil {
		return nil, q.wrap("list watchlist memberships", err)
	}
	defer rows.Close()
	var out []store.WatchlistMembership
	for rows.Next() {
		var m store.WatchlistMembership
		if err := rows.Scan(&m.Email, &m.WatchlistID, &m.Type, &m.Name); err != nil {
			return nil, q.wrap("list watchlist memberships", err)
		}
		out = append(out, m)
	}
	return out, q.wrap("list watchlist memberships", rows.Err())
}

// WatchlistRevision implements store.WatchlistQueries.
func (q *Queries) WatchlistRevision(ctx context.Context) (int64, error) {
	var n int64
	err := q.r.QueryRowContext(ctx, q.d.q(`SELECT n FROM watchlist_revision WHERE name = 'all'`)).Scan(&n)
	return n, q.wrap("watchlist revision", err)
}

// ListPersonMemberships implements store.WatchlistQueries.
func (q *Queries) ListPersonMemberships(ctx context.Context, email string) ([]store.WatchlistMember, error) {
	rows, err := q.r.QueryContext(ctx, q.d.q(`SELECT watchlist_id, email, departure_date, notes, added_by, added_at FROM watchlist_members
WHERE email = ? ORDER BY watchlist_id`), strings.ToLower(strings.TrimSpace(email)))
	if err != nil {
		return nil, q.wrap("list person memberships", err)
	}
	defer rows.Close()
	var out []store.WatchlistMember
	for rows.Next() {
		var m store.WatchlistMember
		var at int64
		if err := rows.Scan(&m.WatchlistID, &m.Email, &m.DepartureDate, &m.Notes, &m.AddedBy, &at); err != nil {
			return nil, q.wrap("list person memberships", err)
		}
		m.AddedAt = fromMicros(at)
		out = append(out, m)
	}
	return out, q.wrap("list person memberships", rows.Err())
}
