package sqldb

import (
	"context"
	"fmt"
	"strings"

	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/store"
)

// GetHRSync implements store.HRQueries.
func (q *Queries) GetHRSync(ctx context.Context, integrationID int64) (store.HRSync, error) {
	out := store.HRSync{IntegrationID: integrationID}
	var last, ok int64
	err := q.r.QueryRowContext(ctx, q.d.q(`SELECT sync_cursor, last_sync_at, last_ok_at, summary FROM hr_sync WHERE integration_id = ?`), integrationID).
		Scan(&out.Cursor, &last, &ok, &out.Summary)
	if q.isNoRows(err) {
		return out, nil
	}
	if err != nil {
		return out, q.wrap(fmt.Sprintf("get hr sync %d", integrationID), err)
	}
	out.LastSyncAt, out.LastOKAt = fromMicros(last), fromMicros(ok)
	return out, nil
}

// PutHRSync implements store.HRQueries.
func (q *Queries) PutHRSync(ctx context.Context, s store.HRSync) error {
	_, err := q.w.ExecContext(ctx, q.d.q(`INSERT INTO hr_sync (integration_id, sync_cursor, last_sync_at, last_ok_at, summary) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (integration_id) DO UPDATE SET sync_cursor = excluded.sync_cursor, last_sync_at = excluded.last_sync_at, last_ok_at = excluded.last_ok_at,
summary = excluded.summary`), s.IntegrationID, s.Cursor, micros(s.LastSyncAt), micros(s.LastOKAt), s.Summary)
	return q.wrap("put hr sync", err)
}

// PutHRPerson implements store.HRQueries.
func (q *Queries) PutHRPerson(ctx context.Context, integrationID int64, externalID, email string) error {
	externalID = event.CleanKey(externalID) // an HR system's id kept as event keys are
	_, err := q.w.ExecContext(ctx, q.d.q(`INSERT INTO hr_people (integration_id, external_id, email) VALUES (?, ?, ?)
ON CONFLICT (integration_id, external_id) DO UPDATE SET email = excluded.email`), integrationID, externalID, strings.ToLower(strings.TrimSpace(email)))
	return q.wrap("put hr person", err)
}

// GetHRPerson implements store.HRQueries.
func (q *Queries) GetHRPerson(ctx context.Context, integrationID int64, externalID string) (string, error) {
	externalID = event.CleanKey(externalID)
	var email string
	err := q.r.QueryRowContext(ctx, q.d.q(`SELECT email FROM hr_people WHERE integration_id = ? AND external_id = ?`), integrationID, externalID).Scan(&email)
	return email, q.wrap(fmt.Sprintf("get hr person %d/%s", integrationID, externalID), err)
}

const personChangeCols = `id, email, at, watchlist_id, action, departure_date, source, actor`

func scanPersonChange(s scanner) (store.PersonChange, error) {
	var c store.PersonChange
	var at int64
	err := s.Scan(&c.ID, &c.Email, &at, &c.WatchlistID, &c.Action, &c.DepartureDate, &c.Source, &c.Actor)
	c.At = fromMicros(at)
	return c, err
}

// AppendPersonChange implements store.HRQueries.
func (q *Queries) AppendPersonChange(ctx context.Context, c store.PersonChange) (store.PersonChange, error) {
	if c.At.IsZero() {
		c.At = nowUTC()
	}
	out, err := scanPersonChange(q.w.QueryRowContext(ctx, q.d.q(`INSERT INTO person_history (email, at, watchlist_id, action, departure_date, source, actor)
VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING `+personChangeCols), strings.ToLower(strings.TrimSpace(c.Email)), micros(c.At), c.WatchlistID, c.Action,
		c.DepartureDate, c.Source, c.Actor))
	return out, q.wrap("append person change", err)
}

// ListPersonChanges implements store.HRQueries.
func (q *Queries) ListPersonChanges(ctx context.Context, email string, limit int) ([]store.PersonChange, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := q.r.QueryContext(ctx, q.d.q(`SELECT `+personChangeCols+` FROM person_history WHERE email = ? ORDER BY id DESC LIMIT ?`),
		strings.ToLower(strings.TrimSpace(email)), limit)
	if err != nil {
		return nil, q.wrap("list person changes", err)
	}
	defer rows.Close()
	var out []store.PersonChange
	for rows.Next() {
		c, err := scanPersonChange(rows)
		if err != nil {
			return nil, q.wrap("list person changes", err)
		}
		out = append(out, c)
	}
	return out, q.wrap("list person changes", rows.Err())
}

// AppendHRRefusal implements store.HRQueries.
func (q *Queries) AppendHRRefusal(ctx context.Context, r store.HRRefusal, keep int) error {
	if keep <= 0 {
		keep = 20
	}
	if r.At.IsZero() {
		r.At = nowUTC()
	}
	return q.inTx(ctx, func(q *Queries) error {
		if _, err := q.w.ExecContext(ctx, q.d.q(`INSERT INTO hr_refusals (integration_id, at, reason, detail, remote_addr) VALUES (?, ?, ?, ?, ?)`),
			r.IntegrationID, micros(r.At), r.Reason, r.Detail, r.RemoteAddr); err != nil {
			return q.wrap("append hr refusal", err)
		}
		_, err := q.w.ExecContext(ctx, q.d.q(`DELETE FROM hr_refusals WHERE integration_id = ? AND id NOT IN
 (SELECT id FROM hr_refusals WHERE integration_id = ? ORDER BY id DESC LIMIT ?)`), r.IntegrationID, r.IntegrationID, keep)
		return q.wrap("prune hr refusals", err)
	})
}

// ListHRRefusals implements store.HRQueries.
func (q *Queries) ListHRRefusals(ctx context.Context, integrationID int64, limit int) ([]store.HRRefusal, error) {
	if limit <= 0 {
		limit = 20
	}
	rows, err := q.r.QueryContext(ctx, q.d.q(`SELECT id, integration_id, at, reason, detail, remote_addr FROM hr_refusals
WHERE integration_id = ? ORDER BY id DESC LIMIT ?`), integrationID, limit)
	if err != nil {
		return nil, q.wrap("list hr refusals", err)
	}
	defer rows.Close()
	var out []store.HRRefusal
	for rows.Next() {
		var r store.HRRefusal
		var at int64
		if err := rows.Scan(&r.ID, &r.IntegrationID, &at, &r.Reason, &r.Detail, &r.RemoteAddr); err != nil {
			return nil, q.wrap("list hr refusals", err)
		}
		r.At = fromMicros(at)
		out = append(out, r)
	}
	return out, q.wrap("list hr refusals", rows.Err())
}
