package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/store"
)

const rescoreCols = `id, from_at, to_at, settings, state, max_id, after_observed, after_id, total, scanned, changed, error,
created_by, created_at, updated_at, finished_at`

func scanRescore(s scanner) (store.RescoreJob, error) {
	var j store.RescoreJob
	var from, to, afterObs, created, updated, finished int64
	var settings string
	err := s.Scan(&j.ID, &from, &to, &settings, &j.State, &j.MaxID, &afterObs, &j.AfterID, &j.Total, &j.Scanned, &j.Changed, &j.Error,
		&j.CreatedBy, &created, &updated, &finished)
	j.From, j.To, j.AfterObserved = fromMicros(from), fromMicros(to), fromMicros(afterObs)
	j.CreatedAt, j.UpdatedAt, j.FinishedAt = fromMicros(created), fromMicros(updated), fromMicros(finished)
	j.Settings = []byte(settings)
	return j, err
}

// CreateRescoreJob implements store.RescoreQueries.
func (q *Queries) CreateRescoreJob(ctx context.Context, j store.RescoreJob) (store.RescoreJob, error) {
	if j.CreatedAt.IsZero() {
		j.CreatedAt = nowUTC()
	}
	var out store.RescoreJob
	err := q.inTx(ctx, func(q *Queries) error {
		var running int64
		if err := q.w.QueryRowContext(ctx, q.d.q(`SELECT COUNT(*) FROM rescore_jobs WHERE state = ?`), store.RescoreRunning).Scan(&running); err != nil {
			return q.wrap("create re-score job", err)
		}
		if running > 0 {
			return fmt.Errorf("store: create re-score job: another job is running: %w", store.ErrConflict)
		}
		var maxID, total int64
		if err := q.w.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM file_events`).Scan(&maxID); err != nil {
			return q.wrap("create re-score job", err)
		}
		if err := q.w.QueryRowContext(ctx, q.d.q(`SELECT COUNT(*) FROM file_events WHERE observed >= ? AND observed < ? AND id <= ?`),
			micros(j.From), micros(j.To), maxID).Scan(&total); err != nil {
			return q.wrap("create re-score job", err)
		}
		var id int64
		if err := q.w.QueryRowContext(ctx, q.d.q(`INSERT INTO rescore_jobs (from_at, to_at, settings, state, max_id, after_observed, after_id,
total, scanned, changed, error, created_by, created_at, updated_at, finished_at) VALUES (?, ?, ?, ?, ?, 0, 0, ?, 0, 0, '', ?, ?, ?, 0) RETURNING id`),
			micros(j.From), micros(j.To), string(j.Settings), store.RescoreRunning, maxID, total, j.CreatedBy, micros(j.CreatedAt), micros(j.CreatedAt)).Scan(&id); err != nil {
			return q.wrap("create re-score job", err)
		}
		var err error
		out, err = scanRescore(q.w.QueryRowContext(ctx, q.d.q(`SELECT `+rescoreCols+` FROM rescore_jobs WHERE id = ?`), id))
		return q.wrap("create re-score job", err)
	})
	return out, err
}

// GetRescoreJob implements store.RescoreQueries.
func (q *Queries) GetRescoreJob(ctx context.Context, id int64) (store.RescoreJob, error) {
	j, err := scanRescore(q.r.QueryRowContext(ctx, q.d.q(`SELECT `+rescoreCols+` FROM rescore_jobs WHERE id = ?`), id))
	return j, q.wrap(fmt.Sprintf("re-score job %d", id), err)
}

// ListRescoreJobs implements store.RescoreQueries.
func (q *Queries) ListRescoreJobs(ctx context.Context, limit int) ([]store.RescoreJob, error) {
	if limit <= 0 {
		limit = 20
	}
	rows, err := q.r.QueryContext(ctx, q.d.q(`SELECT `+rescoreCols+` FROM rescore_jobs ORDER BY id DESC LIMIT ?`), limit)
	if err != nil {
		return nil, q.wrap("list re-score jobs", err)
	}
	defer rows.Close()
	var out []store.RescoreJob
	for rows.Next() {
		j, err := scanRescore(rows)
		if err != nil {
			return nil, q.wrap("list re-score jobs", err)
		}
		out = append(out, j)
	}
	return out, q.wrap("list re-score jobs", rows.Err())
}

// RescorePage implements store.RescoreQueries: a keyset page of the observed index.
func (q *Queries) RescorePage(ctx context.Context, j store.RescoreJob, limit int) ([]event.FileEvent, error) {
	if limit <= 0 {
		limit = 500
	}
	from, after := micros(j.From), micros(j.AfterObserved)
	if j.AfterID == 0 || after < from {
		after, j.AfterID = from, 0
	}
	rows, err := q.r.QueryContext(ctx, q.d.q(`SELECT `+eventCols+eventFrom+`WHERE e.observed >= ? AND e.observed < ? AND e.id <= ?
AND (e.observed > ? OR (e.observed = ? AND e.id > ?)) ORDER BY e.observed, e.id LIMIT ?`), after, micros(j.To), j.MaxID, after, after, j.AfterID, limit)
	if err != nil {
		return nil, q.wrap("re-score page", err)
	}
	out, err := q.scanEvents(ctx, rows)
	return out, q.wrap("re-score page", err)
}

// AdvanceRescoreJob implements store.RescoreQueries.
func (q *Queries) AdvanceRescoreJob(ctx context.Context, j store.RescoreJob, observed time.Time, id, scanned, changed int64, now time.Time) error {
	res, err := q.w.ExecContext(ctx, q.d.q(`UPDATE rescore_jobs SET after_observed = ?, after_id = ?, scanned = scanned + ?, changed = changed + ?, updated_at = ?
WHERE id = ? AND state = ? AND after_observed = ? AND after_id = ?`), micros(observed), id, scanned, changed, micros(now),
		j.ID, store.RescoreRunning, micros(j.AfterObserved), j.AfterID)
	return affected(res, err, fmt.Sprintf("advance re-score job %d", j.ID), q, store.ErrConflict)
}

// FinishRescoreJob implements store.RescoreQueries.
func (q *Queries) FinishRescoreJob(ctx context.Context, id int64, state, errText string, now time.Time) error {
	return q.inTx(ctx, func(q *Queries) error {
		var cur string
		if err := q.w.QueryRowContext(ctx, q.d.q(`SELECT state FROM rescore_jobs WHERE id = ?`), id).Scan(&cur); err != nil {
			return q.wrap(fmt.Sprintf("finish re-score job %d", id), err)
		}
		if cur != store.RescoreRunning {
			return fmt.Errorf("store: finish re-score job %d: it is %s, not running: %w", id, cur, store.ErrConflict)
		}
		_, err := q.w.ExecContext(ctx, q.d.q(`UPDATE rescore_jobs SET state = ?, error = ?, updated_at = ?, finished_at = ? WHERE id = ?`),
			state, errText, micros(now), micros(now), id)
		return q.wrap(fmt.Sprintf("finish re-score job %d", id), err)
	})
}

// SetEventRisks implements store.RescoreQueries.
func (q *Queries) SetEventRisks(ctx context.Context, evs []*event.FileEvent) (int, error) {
	n := 0
	err := q.inTx(ctx, func(q *Queries) error {
		sums := riskSums{}
		for _, e := range evs {
			old, err := q.readEvent(ctx, q.w, `SELECT `+eventCols+eventFrom+`WHERE e.id = ?`, e.Event.ID)
			if errors.Is(err, sql.ErrNoRows) {
				continue // deleted with its connection, or by retention
			}
			if err != nil {
				return q.wrap(fmt.Sprintf("set risk of event %d", e.Event.ID), err)
			}
			now := old
			now.Risk = e.Risk
			js, err := encodeDoc(&now)
			if err != nil {
				return fmt.Errorf("store: set risk of event %d: %w", e.Event.ID, err)
			}
			if _, err := q.w.ExecContext(ctx, q.d.q(`UPDATE file_events SET trusted = ?, severity = ?, doc = ? WHERE id = ?`),
				b2i(now.Risk.Trusted), severityCodes.code(string(now.Risk.Severity)), js, e.Event.ID); err != nil {
				return q.wrap(fmt.Sprintf("set risk of event %d", e.Event.ID), err)
			}
			sums.add(&old, -1) // as InsertEvents counted it
			sums.add(&now, 1)
			n++
		}
		return q.writePersonRisk(ctx, sums)
	})
	return n, err
}
