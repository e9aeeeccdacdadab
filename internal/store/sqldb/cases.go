package sqldb

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/internal/store"
)

const caseCols = `k.id, k.title, k.description, k.state, k.assignee, k.legal_hold, k.created_at, k.created_by, k.updated_at, k.version,
(SELECT COUNT(*) FROM case_people p WHERE p.case_id = k.id), (SELECT COUNT(*) FROM case_alerts a WHERE a.case_id = k.id),
(SELECT COUNT(*) FROM case_events v WHERE v.case_id = k.id)`

func scanCase(s scanner) (store.Case, error) {
	var c store.Case
	var hold, at, up int64
	err := s.Scan(&c.ID, &c.Title, &c.Description, &c.State, &c.Assignee, &hold, &at, &c.CreatedBy, &up, &c.Version, &c.People, &c.Alerts, &c.Events)
	c.LegalHold, c.CreatedAt, c.UpdatedAt = hold != 0, fromMicros(at), fromMicros(up)
	return c, err
}

// heldEvent is true for a file_events row e that a case on legal hold keeps: added to the case or
// an event of one of its alerts.
const heldEvent = `(EXISTS (SELECT 1 FROM case_events ce JOIN cases k ON k.id = ce.case_id WHERE ce.event_id = file_events.id AND k.legal_hold <> 0)
 OR EXISTS (SELECT 1 FROM alert_events ae JOIN case_alerts ca ON ca.alert_id = ae.alert_id JOIN cases k ON k.id = ca.case_id
   WHERE ae.event_id = file_events.id AND k.legal_hold <> 0))`

// CreateCase implements store.CaseQueries.
func (q *Queries) CreateCase(ctx context.Context, c store.Case) (store.Case, error) {
	if c.CreatedAt.IsZero() {
		c.CreatedAt = nowUTC()
	}
	if c.UpdatedAt.IsZero() {
		c.UpdatedAt = c.CreatedAt
	}
	var out store.Case
	err := q.inTx(ctx, func(q *Queries) error {
		var id int64
		if err := q.w.QueryRowContext(ctx, q.d.q(`INSERT INTO cases (title, description, state, assignee, legal_hold, created_at, created_by, updated_at, version)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1) RETURNING id`), c.Title, c.Description, c.State, c.Assignee, b2i(c.LegalHold), micros(c.CreatedAt), c.CreatedBy,
			micros(c.UpdatedAt)).Scan(&id); err != nil {
			return q.wrap("create case", err)
		}
		if err := q.caseChange(ctx, store.CaseChange{CaseID: id, At: c.CreatedAt, Actor: c.CreatedBy, Field: "created", To: c.State, Note: c.Title}); err != nil {
			return err
		}
		var err error
		out, err = q.getCase(ctx, q.w, id)
		return err
	})
	return out, err
}

func (q *Queries) caseChange(ctx context.Context, c store.CaseChange) error {
	_, err := q.w.ExecContext(ctx, q.d.q(`INSERT INTO case_changes (case_id, at, actor, field, from_value, to_value, note) VALUES (?, ?, ?, ?, ?, ?, ?)`),
		c.CaseID, micros(c.At), c.Actor, c.Field, c.From, c.To, c.Note)
	return q.wrap("case history", err)
}

func (q *Queries) getCase(ctx context.Context, db querier, id int64) (store.Case, error) {
	c, err := scanCase(db.QueryRowContext(ctx, q.d.q(`SELECT `+caseCols+` FROM cases k WHERE k.id = ?`), id))
	return c, q.wrap(fmt.Sprintf("get case %d", id), err)
}

// GetCase implements store.CaseQueries.
func (q *Queries) GetCase(ctx context.Context, id int64) (store.Case, error) {
	return q.getCase(ctx, q.r, id)
}

// ListCases implements store.CaseQueries.
func (q *Queries) ListCases(ctx context.Context, f store.CaseFilter) ([]store.Case, error) {
	var where []string
	var args []any
	if len(f.States) > 0 {
		ph, a := in(f.States)
		where, args = append(where, "k.state IN "+ph), append(args, a...)
	}
	if f.Person != "" {
		where, args = append(where, "k.id IN (SELECT case_id FROM case_people WHERE email = ?)"), append(args, strings.ToLower(f.Person))
	}
	if f.AlertID != 0 {
		where, args = append(where, "k.id IN (SELECT case_id FROM case_alerts WHERE alert_id = ?)"), append(args, f.AlertID)
	}
	if f.Assignee != "" {
		where, args = append(where, "k.assignee = ?"), append(args, f.Assignee)
	}
	if f.BeforeID > 0 {
		where, args = append(where, "k.id < ?"), append(args, f.BeforeID)
	}
	if f.Limit <= 0 {
		f.Limit = 100
	}
	query := `SELECT ` + caseCols + ` FROM cases k`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	rows, err := q.r.QueryContext(ctx, q.d.q(query+" ORDER BY k.id DESC LIMIT ?"), append(args, f.Limit)...)
	if err != nil {
		return nil, q.wrap("list cases", err)
	}
	defer rows.Close()
	var out []store.Case
	for rows.Next() {
		c, err := scanCase(rows)
		if err != nil {
			return nil, q.wrap("list cases", err)
		}
		out = append(out, c)
	}
	return out, q.wrap("list cases", rows.Err())
}

// UpdateCase implements store.CaseQueries.
func (q *Queries) UpdateCase(ctx context.Context, c store.Case, changes []store.CaseChange) (store.Case, error) {
	if c.UpdatedAt.IsZero() {
		c.UpdatedAt = nowUTC()
	}
	var out store.Case
	err := q.inTx(ctx, func(q *Queries) error {
		before, err := q.getCase(ctx, q.w, c.ID)
		if err != nil {
			return err
		}
		if before.Version != c.Version {
			return fmt.Errorf("store: update case %d: version %d is not the stored one: %w", c.ID, c.Version, store.ErrConflict)
		}
		res, err := q.w.ExecContext(ctx, q.d.q(`UPDATE cases SET title = ?, description = ?, state = ?, assignee = ?, legal_hold = ?, updated_at = ?,
version = version + 1 WHERE id = ? AND version = ?`), c.Title, c.Description, c.State, c.Assignee, b2i(c.LegalHold), micros(c.UpdatedAt), c.ID, c.Version)
		if err := affected(res, err, "update case", q, store.ErrConflict); err != nil {
			return err
		}
		for _, ch := range changes {
			ch.CaseID = c.ID
			if ch.At.IsZero() {
				ch.At = c.UpdatedAt
			}
			if err := q.caseChange(ctx, ch); err != nil {
				return err
			}
		}
		if before.LegalHold && !c.LegalHold {
			if err := q.deleteReleased(ctx, c.ID); err != nil {
				return err
			}
		}
		out, err = q.getCase(ctx, q.w, c.ID)
		return err
	})
	return out, err
}

// deleteReleased deletes the events of the case whose connection is gone (purged while the case
// held them) and that no other case holds now.
func (q *Queries) deleteReleased(ctx context.Context, caseID int64) error {
	if err := q.keepIDFloor(ctx); err != nil {
		return q.wrap("release case events", err)
	}
	ids := `SELECT id FROM file_events WHERE id IN (
  SELECT event_id FROM case_events WHERE case_id = ?
  UNION SELECT ae.event_id FROM alert_events ae JOIN case_alerts ca ON ca.alert_id = ae.alert_id WHERE ca.case_id = ?)
AND NOT EXISTS (SELECT 1 FROM connections c WHERE c.id = file_events.connection_id) AND NOT ` + heldEvent
	if err := q.takeBackDashboards(ctx, ids, caseID, caseID); err != nil {
		return err
	}
	_, err := q.deleteEvents(ctx, `id IN (`+ids+`)`, caseID, caseID)
	return q.wrap("release case events", err)
}

// AddCaseItems implements store.CaseQueries.
func (q *Queries) AddCaseItems(ctx context.Context, caseID int64, items store.CaseItems, actor string, at time.Time) (store.CaseItems, error) {
	if at.IsZero() {
		at = nowUTC()
	}
	var added store.CaseItems
	err := q.inTx(ctx, func(q *Queries) error {
		added = store.CaseItems{}
		res, err := q.w.ExecContext(ctx, q.d.q(`UPDATE cases SET version = version + 1, updated_at = ? WHERE id = ?`), micros(at), caseID)
		if err := affected(res, err, fmt.Sprintf("add to case %d", caseID), q, store.ErrNotFound); err != nil {
			return err
		}
		insert := func(table, col string, v any) (bool, error) {
			res, err := q.w.ExecContext(ctx, q.d.q(`INSERT INTO `+table+` (case_id, `+col+`) VALUES (?, ?) ON CONFLICT (case_id, `+col+`) DO NOTHING`), caseID, v)
			if err != nil {
				return false, q.wrap("add to case", err)
			}
			n, err := res.RowsAffected()
			return n > 0, q.wrap("add to case", err)
		}
		for _, p := range items.People {
			p = strings.ToLower(strings.TrimSpace(p))
			if ok, err := insert("case_people", "email", p); err != nil {
				return err
			} else if ok {
				added.People = append(added.People, p)
			}
		}
		for _, id := range items.AlertIDs {
			if ok, err := insert("case_alerts", "alert_id", id); err != nil {
				return err
			} else if ok {
				added.AlertIDs = append(added.AlertIDs, id)
			}
		}
		for _, id := range items.EventIDs {
			if ok, err := insert("case_events", "event_id", id); err != nil {
				return err
			} else if ok {
				added.EventIDs = append(added.EventIDs, id)
			}
		}
		line := func(field string, vs []string) error {
			if len(vs) == 0 {
				return nil
			}
			return q.caseChange(ctx, store.CaseChange{CaseID: caseID, At: at, Actor: actor, Field: field, To: clipList(vs)})
		}
		if err := line("people", added.People); err != nil {
			return err
		}
		if err := line("alerts", ids(added.AlertIDs)); err != nil {
			return err
		}
		return line("events", ids(added.EventIDs))
	})
	return added, err
}

func ids(xs []int64) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = strconv.FormatInt(x, 10)
	}
	return out
}

// clipList joins values for a history line, the first 100 and how many more.
func clipList(vs []string) string {
	if len(vs) <= 100 {
		return strings.Join(vs, ", ")
	}
	return strings.Join(vs[:100], ", ") + fmt.Sprintf(" and %d more", len(vs)-100)
}

// ListCasePeople implements store.CaseQueries.
func (q *Queries) ListCasePeople(ctx context.Context, caseID int64) ([]string, error) {
	rows, err := q.r.QueryContext(ctx, q.d.q(`SELECT email FROM case_people WHERE case_id = ? ORDER BY email`), caseID)
	if err != nil {
		return nil, q.wrap("list case people", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var e string
		if err := rows.Scan(&e); err != nil {
			return nil, q.wrap("list case people", err)
		}
		out = append(out, e)
	}
	return out, q.wrap("list case people", rows.Err())
}

func (q *Queries) int64s(ctx context.Context, op, query string, args ...any) ([]int64, error) {
	rows, err := q.r.QueryContext(ctx, q.d.q(query), args...)
	if err != nil {
		return nil, q.wrap(op, err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			return nil, q.wrap(op, err)
		}
		out = append(out, v)
	}
	return out, q.wrap(op, rows.Err())
}

// ListCaseAlertIDs implements store.CaseQueries.
func (q *Queries) ListCaseAlertIDs(ctx context.Context, caseID int64) ([]int64, error) {
	return q.int64s(ctx, "list case alerts", `SELECT alert_id FROM case_alerts WHERE case_id = ? ORDER BY alert_id`, caseID)
}

// ListCaseEventIDs implements store.CaseQueries.
func (q *Queries) ListCaseEventIDs(ctx context.Context, caseID, afterID int64, limit int) ([]int64, error) {
	if limit <= 0 {
		limit = 1000
	}
	return q.int64s(ctx, "list case events", `SELECT id FROM (
  SELECT event_id AS id FROM case_events WHERE case_id = ? AND event_id > ?
  UNION SELECT ae.event_id AS id FROM alert_events ae JOIN case_alerts ca ON ca.alert_id = ae.alert_id WHERE ca.case_id = ? AND ae.event_id > ?
) u ORDER BY id LIMIT ?`, caseID, afterID, caseID, afterID, limit)
}

// ListCaseChanges implements store.CaseQueries.
func (q *Queries) ListCaseChanges(ctx context.Context, caseID int64) ([]store.CaseChange, error) {
	rows, err := q.r.QueryContext(ctx, q.d.q(`SELECT id, case_id, at, actor, field, from_value, to_value, note FROM case_changes WHERE case_id = ? ORDER BY id`), caseID)
	if err != nil {
		return nil, q.wrap("list case changes", err)
	}
	defer rows.Close()
	var out []store.CaseChange
	for rows.Next() {
		var c store.CaseChange
		var at int64
		if err := rows.Scan(&c.ID, &c.CaseID, &at, &c.Actor, &c.Field, &c.From, &c.To, &c.Note); err != nil {
			return nil, q.wrap("list case changes", err)
		}
		c.At = fromMicros(at)
		out = append(out, c)
	}
	return out, q.wrap("list case changes", rows.Err())
}
