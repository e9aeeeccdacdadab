package sqldb

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/internal/store"
)

const ruleCols = `id, name, description, query, kind, params, severity, enabled, template, warning, suppressed, seeded,
created_at, created_by, updated_at, updated_by, version`

func scanRule(s scanner) (store.AlertRule, error) {
	var r store.AlertRule
	var params string
	var enabled, seeded, c, u int64
	err := s.Scan(&r.ID, &r.Name, &r.Description, &r.Query, &r.Kind, &params, &r.Severity, &enabled, &r.Template, &r.Warning,
		&r.Suppressed, &seeded, &c, &r.CreatedBy, &u, &r.UpdatedBy, &r.Version)
	r.Params, r.Enabled, r.Seeded = []byte(params), enabled != 0, seeded != 0
	r.CreatedAt, r.UpdatedAt = fromMicros(c), fromMicros(u)
	return r, err
}

func paramsText(p []byte) string {
	if len(p) == 0 {
		return "{}"
	}
	return string(p)
}

// CreateAlertRule implements store.AlertQueries.
func (q *Queries) CreateAlertRule(ctx context.Context, r store.AlertRule) (store.AlertRule, error) {
	if r.CreatedAt.IsZero() {
		r.CreatedAt = nowUTC()
	}
	if r.UpdatedAt.IsZero() {
		r.UpdatedAt = r.CreatedAt
	}
	if r.UpdatedBy == "" {
		r.UpdatedBy = r.CreatedBy
	}
	out, err := scanRule(q.w.QueryRowContext(ctx, q.d.q(`INSERT INTO alert_rules (name, name_key, description, query, kind, params,
severity, enabled, template, warning, suppressed, seeded, created_at, created_by, updated_at, updated_by, version)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, '', 0, 0, ?, ?, ?, ?, 1) RETURNING `+ruleCols), strings.TrimSpace(r.Name), nameKey(r.Name),
		r.Description, r.Query, r.Kind, paramsText(r.Params), r.Severity, b2i(r.Enabled), r.Template,
		micros(r.CreatedAt), r.CreatedBy, micros(r.UpdatedAt), r.UpdatedBy))
	return out, q.wrap("create alert rule", err)
}

// GetAlertRule implements store.AlertQueries.
func (q *Queries) GetAlertRule(ctx context.Context, id int64) (store.AlertRule, error) {
	out, err := scanRule(q.r.QueryRowContext(ctx, q.d.q(`SELECT `+ruleCols+` FROM alert_rules WHERE id = ?`), id))
	return out, q.wrap(fmt.Sprintf("get alert rule %d", id), err)
}

// ListAlertRules implements store.AlertQueries.
func (q *Queries) ListAlertRules(ctx context.Context) ([]store.AlertRule, error) {
	rows, err := q.r.QueryContext(ctx, q.d.q(`SELECT `+ruleCols+` FROM alert_rules ORDER BY id`))
	if err != nil {
		return nil, q.wrap("list alert rules", err)
	}
	defer rows.Close()
	var out []store.AlertRule
	for rows.Next() {
		r, err := scanRule(rows)
		if err != nil {
			return nil, q.wrap("list alert rules", err)
		}
		out = append(out, r)
	}
	return out, q.wrap("list alert rules", rows.Err())
}

// UpdateAlertRule implements store.AlertQueries.
func (q *Queries) UpdateAlertRule(ctx context.Context, r store.AlertRule) (store.AlertRule, error) {
	var out store.AlertRule
	err := q.inTx(ctx, func(q *Queries) error {
		cur, err := q.GetAlertRule(ctx, r.ID)
		if err != nil {
			return err
		}
		if cur.Version != r.Version {
			return fmt.Errorf("store: update alert rule %d: version %d, stored %d: %w", r.ID, r.Version, cur.Version, store.ErrConflict)
		}
		if r.UpdatedAt.IsZero() {
			r.UpdatedAt = nowUTC()
		}
		reset := cur.Query != r.Query || cur.Kind != r.Kind || paramsText(cur.Params) != paramsText(r.Params)
		warning, suppressed, seeded := cur.Warning, cur.Suppressed, cur.Seeded
		if reset {
			warning, suppressed, seeded = "", 0, false
			for _, t := range []string{"alert_matches", "alert_terms"} {
				if _, err := q.w.ExecContext(ctx, q.d.q(`DELETE FROM `+t+` WHERE rule_id = ?`), r.ID); err != nil {
					return q.wrap("update alert rule", err)
				}
			}
		}
		out, err = scanRule(q.w.QueryRowContext(ctx, q.d.q(`UPDATE alert_rules SET name = ?, name_key = ?, description = ?, query = ?,
kind = ?, params = ?, severity = ?, enabled = ?, warning = ?, suppressed = ?, seeded = ?, updated_at = ?, updated_by = ?,
version = version + 1 WHERE id = ? AND version = ? RETURNING `+ruleCols), strings.TrimSpace(r.Name), nameKey(r.Name), r.Description,
			r.Query, r.Kind, paramsText(r.Params), r.Severity, b2i(r.Enabled), warning, suppressed, b2i(seeded), micros(r.UpdatedAt),
			r.UpdatedBy, r.ID, r.Version))
		return q.wrap("update alert rule", err)
	})
	return out, err
}

// DeleteAlertRule implements store.AlertQueries.
func (q *Queries) DeleteAlertRule(ctx context.Context, id int64) error {
	return q.inTx(ctx, func(q *Queries) error {
		for _, t := range []string{"alert_matches", "alert_terms"} {
			if _, err := q.w.ExecContext(ctx, q.d.q(`DELETE FROM `+t+` WHERE rule_id = ?`), id); err != nil {
				return q.wrap("delete alert rule", err)
			}
		}
		res, err := q.w.ExecContext(ctx, q.d.q(`DELETE FROM alert_rules WHERE id = ?`), id)
		return affected(res, err, fmt.Sprintf("delete alert rule %d", id), q, store.ErrNotFound)
	})
}

// SetAlertRuleWarning implements store.AlertQueries.
func (q *Queries) SetAlertRuleWarning(ctx context.Context, id int64, warning string, suppressed int64) error {
	res, err := q.w.ExecContext(ctx, q.d.q(`UPDATE alert_rules SET warning = ?, suppressed = suppressed + ? WHERE id = ?`), warning, suppressed, id)
	return affected(res, err, fmt.Sprintf("set alert rule %d warning", id), q, store.ErrNotFound)
}

// MarkAlertRuleSeeded implements store.AlertQueries.
func (q *Queries) MarkAlertRuleSeeded(ctx context.Context, id, version int64) error {
	res, err := q.w.ExecContext(ctx, q.d.q(`UPDATE alert_rules SET seeded = 1 WHERE id = ? AND version = ?`), id, version)
	return affected(res, err, fmt.Sprintf("mark alert rule %d seeded", id), q, store.ErrConflict)
}

const positionName = "evaluator"

// alertChangesName is the row of alert_position that counts UpdateAlert calls
// (store.EvaluatorMarks.AlertChanges): not a position, a number that only grows.
const alertChangesName = "alert_changes"

// EvaluatorMarks implements store.AlertQueries.
func (q *Queries) EvaluatorMarks(ctx context.Context) (store.EvaluatorMarks, error) {
	var m store.EvaluatorMarks
	rows, err := q.w.QueryContext(ctx, q.d.q(`SELECT name, after_id FROM alert_position WHERE name IN (?, ?)`), updatesPosition, alertChangesName)
	if err != nil {
		return m, q.wrap("read evaluator marks", err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var n int64
		if err := rows.Scan(&name, &n); err != nil {
			return m, q.wrap("read evaluator marks", err)
		}
		if name == updatesPosition {
			m.Updates = n
		} else {
			m.AlertChanges = n
		}
	}
	return m, q.wrap("read evaluator marks", rows.Err())
}

func (q *Queries) isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }

// GetAlertPosition implements store.AlertQueries.
func (q *Queries) GetAlertPosition(ctx context.Context) (int64, error) {
	return q.getPosition(ctx, positionName)
}

// InitAlertPosition implements store.AlertQueries.
func (q *Queries) InitAlertPosition(ctx context.Context, at int64) (int64, error) {
	return q.initPosition(ctx, positionName, `INSERT INTO alert_position (name, after_id) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`, positionName, at)
}

// AdvanceAlertPosition implements store.AlertQueries.
func (q *Queries) AdvanceAlertPosition(ctx context.Context, from, to int64) error {
	return q.advancePosition(ctx, positionName, from, to)
}

// getPosition reads a named position of alert_position; ErrNotFound before it is set.
func (q *Queries) getPosition(ctx context.Context, name string) (int64, error) {
	var n int64
	err := q.r.QueryRowContext(ctx, q.d.q(`SELECT after_id FROM alert_position WHERE name = ?`), name).Scan(&n)
	return n, q.wrap("get position "+name, err)
}

// initPosition runs insert (which sets the position unless it is set) and returns it as stored.
func (q *Queries) initPosition(ctx context.Context, name, insert string, args ...any) (int64, error) {
	if _, err := q.w.ExecContext(ctx, q.d.q(insert), args...); err != nil {
		return 0, q.wrap("init position "+name, err)
	}
	var n int64
	err := q.w.QueryRowContext(ctx, q.d.q(`SELECT after_id FROM alert_position WHERE name = ?`), name).Scan(&n)
	return n, q.wrap("init position "+name, err)
}

// advancePosition moves a named position from from to to; ErrConflict when it is not at from.
func (q *Queries) advancePosition(ctx context.Context, name string, from, to int64) error {
	res, err := q.w.ExecContext(ctx, q.d.q(`UPDATE alert_position SET after_id = ? WHERE name = ? AND after_id = ?`), to, name, from)
	return affected(res, err, fmt.Sprintf("advance position %s from %d", name, from), q, store.ErrConflict)
}

// AddAlertMatches implements store.AlertQueries.
func (q *Queries) AddAlertMatches(ctx context.Context, ms []store.AlertMatch) error {
	for _, c := range alertChunks(ms, alertChunk) {
		var sb strings.Builder
		args := make([]any, 0, 6*len(c))
		for i, m := range c {
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString("(?, ?, ?, ?, ?, ?)")
			args = append(args, m.RuleID, m.Group, m.EventID, micros(m.At), m.File, m.Size)
		}
		if _, err := q.w.ExecContext(ctx, q.d.q(`INSERT INTO alert_matches (rule_id, group_key, event_id, at, file, size)
VALUES `+sb.String()+` ON CONFLICT (rule_id, group_key, event_id) DO NOTHING`), args...); err != nil {
			return q.wrap("add alert matches", err)
		}
	}
	return nil
}

// ListAlertMatches implements store.AlertQueries.
func (q *Queries) ListAlertMatches(ctx context.Context, ruleID int64, group string, since time.Time) ([]store.AlertMatch, error) {
	rows, err := q.r.QueryContext(ctx, q.d.q(`SELECT event_id, at, file, size FROM alert_matches
WHERE rule_id = ? AND group_key = ? AND at >= ? ORDER BY event_id`), ruleID, group, micros(since))
	if err != nil {
		return nil, q.wrap("list alert matches", err)
	}
	defer rows.Close()
	var out []store.AlertMatch
	for rows.Next() {
		m := store.AlertMatch{RuleID: ruleID, Group: group}
		var at int64
		if err := rows.Scan(&m.EventID, &at, &m.File, &m.Size); err != nil {
			return nil, q.wrap("list alert matches", err)
		}
		m.At = fromMicros(at)
		out = append(out, m)
	}
	return out, q.wrap("list alert matches", rows.Err())
}

// DeleteAlertMatches implements store.AlertQueries.
func (q *Queries) DeleteAlertMatches(ctx context.Context, ruleID int64, group string, before time.Time) error {
	var err error
	if before.IsZero() {
		_, err = q.w.ExecContext(ctx, q.d.q(`DELETE FROM alert_matches WHERE rule_id = ? AND group_key = ?`), ruleID, group)
	} else {
		_, err = q.w.ExecContext(ctx, q.d.q(`DELETE FROM alert_matches WHERE rule_id = ? AND group_key = ? AND at < ?`), ruleID, group, micros(before))
	}
	return q.wrap("delete alert matches", err)
}

// MarkAlertTerms implements store.AlertQueries.
func (q *Queries) MarkAlertTerms(ctx context.Context, ruleID int64, terms []string, at, since time.Time) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, t := range terms {
		if seen[t] {
			continue
		}
		seen[t] = true
		var last int64
		err := q.w.QueryRowContext(ctx, q.d.q(`SELECT last_seen FROM alert_terms WHERE rule_id = ? AND term = ?`), ruleID, t).Scan(&last)
		switch {
		case err == nil:
			if last < micros(since) {
				out = append(out, t)
			}
			if last < micros(at) {
				if _, err := q.w.ExecContext(ctx, q.d.q(`UPDATE alert_terms SET last_seen = ? WHERE rule_id = ? AND term = ?`), micros(at), ruleID, t); err != nil {
					return nil, q.wrap("mark alert terms", err)
				}
			}
		case q.isNoRows(err):
			out = append(out, t)
			if _, err := q.w.ExecContext(ctx, q.d.q(`INSERT INTO alert_terms (rule_id, term, last_seen) VALUES (?, ?, ?)`), ruleID, t, micros(at)); err != nil {
				return nil, q.wrap("mark alert terms", err)
			}
		default:
			return nil, q.wrap("mark alert terms", err)
		}
	}
	return out, nil
}

const alertCols = `id, rule_id, rule_name, group_key, person, state, resolution, assignee, severity, summary,
first_event_at, last_event_at, window_end, event_count, created_at, updated_at, version`

func scanAlert(s scanner) (store.Alert, error) {
	var a store.Alert
	var first, last, end, c, u int64
	err := s.Scan(&a.ID, &a.RuleID, &a.RuleName, &a.GroupKey, &a.Person, &a.State, &a.Resolution, &a.Assignee, &a.Severity, &a.Summary,
		&first, &last, &end, &a.EventCount, &c, &u, &a.Version)
	a.FirstEventAt, a.LastEventAt, a.WindowEnd, a.CreatedAt, a.UpdatedAt = fromMicros(first), fromMicros(last), fromMicros(end), fromMicros(c), fromMicros(u)
	return a, err
}

// OpenAlertFor implements store.AlertQueries.
func (q *Queries) OpenAlertFor(ctx context.Context, ruleID int64, group string, at time.Time) (store.Alert, error) {
	out, err := scanAlert(q.w.QueryRowContext(ctx, q.d.q(`SELECT `+alertCols+` FROM alerts WHERE rule_id = ? AND group_key = ?
AND window_end > ? AND state IN ('open', 'in_progress') ORDER BY id DESC LIMIT 1`), ruleID, group, micros(at)))
	return out, q.wrap("find open alert", err)
}

// CreateAlert implements store.AlertQueries.
func (q *Queries) CreateAlert(ctx context.Context, a store.Alert, eventIDs []int64) (store.Alert, error) {
	var out store.Alert
	err := q.inTx(ctx, func(q *Queries) error {
		if a.CreatedAt.IsZero() {
			a.CreatedAt = nowUTC()
		}
		if a.UpdatedAt.IsZero() {
			a.UpdatedAt = a.CreatedAt
		}
		var err error
		out, err = scanAlert(q.w.QueryRowContext(ctx, q.d.q(`INSERT INTO alerts (rule_id, rule_name, group_key, person, state, resolution,
assignee, severity, summary, first_event_at, last_event_at, window_end, event_count, created_at, updated_at, version)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, 1) RETURNING `+alertCols), a.RuleID, a.RuleName, a.GroupKey, a.Person, a.State,
			a.Resolution, a.Assignee, a.Severity, a.Summary, micros(a.FirstEventAt), micros(a.LastEventAt), micros(a.WindowEnd),
			micros(a.CreatedAt), micros(a.UpdatedAt)))
		if err != nil {
			return q.wrap("create alert", err)
		}
		n, err := q.insertAlertEvents(ctx, out.ID, eventIDs)
		if err != nil {
			return err
		}
		if _, err := q.w.ExecContext(ctx, q.d.q(`UPDATE alerts SET event_count = ? WHERE id = ?`), n, out.ID); err != nil {
			return q.wrap("create alert", err)
		}
		out.EventCount = n
		_, err = q.w.ExecContext(ctx, q.d.q(`INSERT INTO alert_changes (alert_id, at, actor, field, from_value, to_value, note)
VALUES (?, ?, 'system', 'raised', '', ?, ?)`), out.ID, micros(a.CreatedAt), a.State, a.Summary)
		return q.wrap("create alert", err)
	})
	return out, err
}

func (q *Queries) insertAlertEvents(ctx context.Context, alertID int64, ids []int64) (int64, error) {
	var n int64
	for _, c := range alertChunks(ids, alertChunk) {
		var sb strings.Builder
		args := make([]any, 0, 2*len(c))
		for i, id := range c {
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString("(?, ?)")
			args = append(args, alertID, id)
		}
		res, err := q.w.ExecContext(ctx, q.d.q(`INSERT INTO alert_events (alert_id, event_id) VALUES `+sb.String()+`
ON CONFLICT (alert_id, event_id) DO NOTHING`), args...)
		if err != nil {
			return 0, q.wrap("add alert events", err)
		}
		k, err := res.RowsAffected()
		if err != nil {
			return 0, q.wrap("add alert events", err)
		}
		n += k
	}
	return n, nil
}

// AddAlertEvents implements store.AlertQueries.
func (q *Queries) AddAlertEvents(ctx context.Context, alertID int64, eventIDs []int64, first, last time.Time) error {
	return q.inTx(ctx, func(q *Queries) error {
		n, err := q.insertAlertEvents(ctx, alertID, eventIDs)
		if err != nil {
			return err
		}
		res, err := q.w.ExecContext(ctx, q.d.q(`UPDATE alerts SET event_count = event_count + ?,
first_event_at = CASE WHEN first_event_at > ? THEN ? ELSE first_event_at END,
last_event_at = CASE WHEN last_event_at < ? THEN ? ELSE last_event_at END WHERE id = ?`),
			n, micros(first), micros(first), micros(last), micros(last), alertID)
		return affected(res, err, fmt.Sprintf("add events to alert %d", alertID), q, store.ErrNotFound)
	})
}

// CountAlertsRaised implements store.AlertQueries.
func (q *Queries) CountAlertsRaised(ctx context.Context, ruleID int64, since time.Time) (int64, error) {
	var n int64
	err := q.w.QueryRowContext(ctx, q.d.q(`SELECT COUNT(*) FROM alerts WHERE rule_id = ? AND created_at >= ?`), ruleID, micros(since)).Scan(&n)
	return n, q.wrap("count alerts raised", err)
}

// GetAlert implements store.AlertQueries.
func (q *Queries) GetAlert(ctx context.Context, id int64) (store.Alert, error) {
	out, err := scanAlert(q.r.QueryRowContext(ctx, q.d.q(`SELECT `+alertCols+` FROM alerts WHERE id = ?`), id))
	return out, q.wrap(fmt.Sprintf("get alert %d", id), err)
}

// ListAlerts implements store.AlertQueries.
func (q *Queries) ListAlerts(ctx context.Context, f store.AlertFilter) ([]store.Alert, error) {
	var where []string
	var args []any
	if len(f.States) > 0 {
		ph, a := in(f.States)
		where, args = append(where, "state IN "+ph), append(args, a...)
	}
	if len(f.Severities) > 0 {
		ph, a := in(f.Severities)
		where, args = append(where, "severity IN "+ph), append(args, a...)
	}
	if f.RuleID != 0 {
		where, args = append(where, "rule_id = ?"), append(args, f.RuleID)
	}
	if f.Person != "" {
		where, args = append(where, "person = ?"), append(args, f.Person)
	}
	if f.Assignee != "" {
		where, args = append(where, "assignee = ?"), append(args, f.Assignee)
	}
	if f.BeforeID > 0 {
		where, args = append(where, "id < ?"), append(args, f.BeforeID)
	}
	order := " ORDER BY id DESC LIMIT ?"
	if f.Oldest {
		where, args, order = append(where, "id > ?"), append(args, f.AfterID), " ORDER BY id LIMIT ?"
	}
	if f.Text != "" {
		pat := "%" + likeEscaper.Replace(strings.ToLower(f.Text)) + "%"
		where = append(where, `(LOWER(rule_name) LIKE ? ESCAPE '\' OR LOWER(summary) LIKE ? ESCAPE '\' OR LOWER(person) LIKE ? ESCAPE '\' OR LOWER(group_key) LIKE ? ESCAPE '\')`)
		args = append(args, pat, pat, pat, pat)
	}
	if !f.From.IsZero() {
		where, args = append(where, "created_at >= ?"), append(args, micros(f.From))
	}
	if !f.To.IsZero() {
		where, args = append(where, "created_at < ?"), append(args, micros(f.To))
	}
	if f.Limit <= 0 {
		f.Limit = 100
	}
	query := `SELECT ` + alertCols + ` FROM alerts`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += order
	args = append(args, f.Limit)
	rows, err := q.r.QueryContext(ctx, q.d.q(query), args...)
	if err != nil {
		return nil, q.wrap("list alerts", err)
	}
	defer rows.Close()
	var out []store.Alert
	for rows.Next() {
		a, err := scanAlert(rows)
		if err != nil {
			return nil, q.wrap("list alerts", err)
		}
		out = append(out, a)
	}
	return out, q.wrap("list alerts", rows.Err())
}

// UpdateAlert implements store.AlertQueries.
func (q *Queries) UpdateAlert(ctx context.Context, a store.Alert, changes []store.AlertChange) (store.Alert, error) {
	var out store.Alert
	err := q.inTx(ctx, func(q *Queries) error {
		if a.UpdatedAt.IsZero() {
			a.UpdatedAt = nowUTC()
		}
		// Counted first, so that this row is always locked before the alert's (PostgreSQL).
		if _, err := q.w.ExecContext(ctx, q.d.q(`INSERT INTO alert_position (name, after_id) VALUES (?, 1)
ON CONFLICT (name) DO UPDATE SET after_id = alert_position.after_id + 1`), alertChangesName); err != nil {
			return q.wrap("update alert", err)
		}
		var err error
		out, err = scanAlert(q.w.QueryRowContext(ctx, q.d.q(`UPDATE alerts SET state = ?, resolution = ?, assignee = ?, updated_at = ?,
version = version + 1 WHERE id = ? AND version = ? RETURNING `+alertCols), a.State, a.Resolution, a.Assignee, micros(a.UpdatedAt), a.ID, a.Version))
		if q.isNoRows(err) {
			if _, gerr := q.GetAlert(ctx, a.ID); gerr != nil {
				return gerr
			}
			return fmt.Errorf("store: update alert %d: version %d is not the stored one: %w", a.ID, a.Version, store.ErrConflict)
		}
		if err != nil {
			return q.wrap("update alert", err)
		}
		for _, c := range changes {
			if c.At.IsZero() {
				c.At = a.UpdatedAt
			}
			if _, err := q.w.ExecContext(ctx, q.d.q(`INSERT INTO alert_changes (alert_id, at, actor, field, from_value, to_value, note)
VALUES (?, ?, ?, ?, ?, ?, ?)`), a.ID, micros(c.At), c.Actor, c.Field, c.From, c.To, c.Note); err != nil {
				return q.wrap("update alert", err)
			}
		}
		return nil
	})
	return out, err
}

// ListAlertChanges implements store.AlertQueries.
func (q *Queries) ListAlertChanges(ctx context.Context, alertID int64) ([]store.AlertChange, error) {
	rows, err := q.r.QueryContext(ctx, q.d.q(`SELECT id, alert_id, at, actor, field, from_value, to_value, note FROM alert_changes
WHERE alert_id = ? ORDER BY id`), alertID)
	if err != nil {
		return nil, q.wrap("list alert changes", err)
	}
	defer rows.Close()
	var out []store.AlertChange
	for rows.Next() {
		var c store.AlertChange
		var at int64
		if err := rows.Scan(&c.ID, &c.AlertID, &at, &c.Actor, &c.Field, &c.From, &c.To, &c.Note); err != nil {
			return nil, q.wrap("list alert changes", err)
		}
		c.At = fromMicros(at)
		out = append(out, c)
	}
	return out, q.wrap("list alert changes", rows.Err())
}

// ListAlertEventIDs implements store.AlertQueries.
func (q *Queries) ListAlertEventIDs(ctx context.Context, alertID, afterID int64, limit int) ([]int64, error) {
	if limit <= 0 {
		limit = 1000
	}
	rows, err := q.r.QueryContext(ctx, q.d.q(`SELECT event_id FROM alert_events WHERE alert_id = ? AND event_id > ? ORDER BY event_id LIMIT ?`), alertID, afterID, limit)
	if err != nil {
		return nil, q.wrap("list alert events", err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, q.wrap("list alert events", err)
		}
		out = append(out, id)
	}
	return out, q.wrap("list alert events", rows.Err())
}

// CountAlertsByRule implements store.AlertQueries.
func (q *Queries) CountAlertsByRule(ctx context.Context) ([]store.AlertRuleCounts, error) {
	rows, err := q.r.QueryContext(ctx, `SELECT rule_id, COUNT(*),
SUM(CASE WHEN state IN ('open', 'in_progress') THEN 1 ELSE 0 END),
SUM(CASE WHEN state NOT IN ('open', 'in_progress') AND resolution IN ('true_positive', 'benign_true_positive') THEN 1 ELSE 0 END),
SUM(CASE WHEN state = 'dismissed' OR (state = 'resolved' AND resolution = 'false_positive') THEN 1 ELSE 0 END)
FROM alerts GROUP BY rule_id ORDER BY rule_id`)
	if err != nil {
		return nil, q.wrap("count alerts by rule", err)
	}
	defer rows.Close()
	var out []store.AlertRuleCounts
	for rows.Next() {
		var c store.AlertRuleCounts
		if err := rows.Scan(&c.RuleID, &c.Total, &c.Open, &c.Confirmed, &c.Dismissed); err != nil {
			return nil, q.wrap("count alerts by rule", err)
		}
		out = append(out, c)
	}
	return out, q.wrap("count alerts by rule", rows.Err())
}

// CountAlertsByRuleDay implements store.AlertQueries.
func (q *Queries) CountAlertsByRuleDay(ctx context.Context, since time.Time) ([]store.AlertDayCount, error) {
	rows, err := q.r.QueryContext(ctx, q.d.q(`SELECT rule_id, day, COUNT(*) FROM (SELECT rule_id, created_at / ? AS day FROM alerts
WHERE created_at >= ?) x GROUP BY rule_id, day ORDER BY rule_id, day`), microsPerDay, micros(since))
	if err != nil {
		return nil, q.wrap("count alerts by rule and day", err)
	}
	defer rows.Close()
	var out []store.AlertDayCount
	for rows.Next() {
		var c store.AlertDayCount
		var day int64
		if err := rows.Scan(&c.RuleID, &day, &c.Alerts); err != nil {
			return nil, q.wrap("count alerts by rule and day", err)
		}
		c.Day = fromMicros(day * microsPerDay)
		out = append(out, c)
	}
	return out, q.wrap("count alerts by rule and day", rows.Err())
}

// likeEscaper escapes LIKE's wildcards and its escape character (a backslash).
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// alertChunk bounds the values of one IN list or multi-row INSERT (SQLite's older builds allow
// 999 parameters a statement).
const alertChunk = 150

// alertChunks splits xs into slices of at most n.
func alertChunks[T any](xs []T, n int) [][]T {
	var out [][]T
	for len(xs) > n {
		out, xs = append(out, xs[:n]), xs[n:]
	}
	if len(xs) > 0 {
		out = append(out, xs)
	}
	return out
}

// ListAlertMatchesIn implements store.AlertQueries.
func (q *Queries) ListAlertMatchesIn(ctx context.Context, ruleID int64, groups []string, since time.Time) ([]store.AlertMatch, error) {
	var out []store.AlertMatch
	for _, gs := range alertChunks(groups, alertChunk) {
		ph, args := in(gs)
		rows, err := q.w.QueryContext(ctx, q.d.q(`SELECT group_key, event_id, at, file, size FROM alert_matches
WHERE rule_id = ? AND group_key IN `+ph+` AND at >= ? ORDER BY group_key, event_id`), append(append([]any{ruleID}, args...), micros(since))...)
		if err != nil {
			return nil, q.wrap("list alert matches", err)
		}
		for rows.Next() {
			m := store.AlertMatch{RuleID: ruleID}
			var at int64
			if err := rows.Scan(&m.Group, &m.EventID, &at, &m.File, &m.Size); err != nil {
				rows.Close()
				return nil, q.wrap("list alert matches", err)
			}
			m.At = fromMicros(at)
			out = append(out, m)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, q.wrap("list alert matches", err)
		}
	}
	return out, nil
}

// PruneAlertMatches implements store.AlertQueries.
func (q *Queries) PruneAlertMatches(ctx context.Context, ruleID int64, groups []string, before time.Time) error {
	for _, gs := range alertChunks(groups, alertChunk) {
		ph, args := in(gs)
		query, args := `DELETE FROM alert_matches WHERE rule_id = ? AND group_key IN `+ph, append([]any{ruleID}, args...)
		if !before.IsZero() {
			query, args = query+` AND at < ?`, append(args, micros(before))
		}
		if _, err := q.w.ExecContext(ctx, q.d.q(query), args...); err != nil {
			return q.wrap("prune alert matches", err)
		}
	}
	return nil
}

// OpenAlertsIn implements store.AlertQueries.
func (q *Queries) OpenAlertsIn(ctx context.Context, ruleID int64, groups []string, at time.Time) ([]store.Alert, error) {
	var out []store.Alert
	for _, gs := range alertChunks(groups, alertChunk) {
		ph, args := in(gs)
		rows, err := q.w.QueryContext(ctx, q.d.q(`SELECT `+alertCols+` FROM alerts WHERE rule_id = ? AND group_key IN `+ph+`
AND window_end > ? AND state IN ('open', 'in_progress') ORDER BY id`), append(append([]any{ruleID}, args...), micros(at))...)
		if err != nil {
			return nil, q.wrap("list open alerts", err)
		}
		for rows.Next() {
			a, err := scanAlert(rows)
			if err != nil {
				rows.Close()
				return nil, q.wrap("list open alerts", err)
			}
			out = append(out, a)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, q.wrap("list open alerts", err)
		}
	}
	slices.SortFunc(out, func(a, b store.Alert) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// AlertTermsIn implements store.AlertQueries.
func (q *Queries) AlertTermsIn(ctx context.Context, ruleID int64, terms []string) (map[string]time.Time, error) {
	out := map[string]time.Time{}
	for _, ts := range alertChunks(terms, alertChunk) {
		ph, args := in(ts)
		rows, err := q.w.QueryContext(ctx, q.d.q(`SELECT term, last_seen FROM alert_terms WHERE rule_id = ? AND term IN `+ph),
			append([]any{ruleID}, args...)...)
		if err != nil {
			return nil, q.wrap("list alert terms", err)
		}
		for rows.Next() {
			var t string
			var last int64
			if err := rows.Scan(&t, &last); err != nil {
				rows.Close()
				return nil, q.wrap("list alert terms", err)
			}
			out[t] = fromMicros(last)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, q.wrap("list alert terms", err)
		}
	}
	return out, nil
}

// SetAlertTerms implements store.AlertQueries.
func (q *Queries) SetAlertTerms(ctx context.Context, ruleID int64, seen map[string]time.Time) error {
	terms := make([]string, 0, len(seen))
	for t := range seen {
		terms = append(terms, t)
	}
	slices.Sort(terms) // a stable order of writes
	for _, ts := range alertChunks(terms, alertChunk) {
		var sb strings.Builder
		args := make([]any, 0, 3*len(ts))
		for i, t := range ts {
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString("(?, ?, ?)")
			args = append(args, ruleID, t, micros(seen[t]))
		}
		if _, err := q.w.ExecContext(ctx, q.d.q(`INSERT INTO alert_terms (rule_id, term, last_seen) VALUES `+sb.String()+`
ON CONFLICT (rule_id, term) DO UPDATE SET last_seen = CASE WHEN excluded.last_seen > alert_terms.last_seen
THEN excluded.last_seen ELSE alert_terms.last_seen END`), args...); err != nil {
			return q.wrap("set alert terms", err)
		}
	}
	return nil
}

// LoadAlertRuleState implements store.AlertQueries.
func (q *Queries) LoadAlertRuleState(ctx context.Context, ruleID int64, openAfter, termsSince time.Time, limit int) (store.AlertRuleState, bool, error) {
	var st store.AlertRuleState
	left := limit + 1
	rows, err := q.w.QueryContext(ctx, q.d.q(`SELECT group_key, event_id, at, file, size FROM alert_matches
WHERE rule_id = ? ORDER BY group_key, event_id LIMIT ?`), ruleID, left)
	if err != nil {
		return st, false, q.wrap("load alert rule state", err)
	}
	for rows.Next() {
		m := store.AlertMatch{RuleID: ruleID}
		var at int64
		if err := rows.Scan(&m.Group, &m.EventID, &at, &m.File, &m.Size); err != nil {
			rows.Close()
			return st, false, q.wrap("load alert rule state", err)
		}
		m.At = fromMicros(at)
		st.Matches = append(st.Matches, m)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return st, false, q.wrap("load alert rule state", err)
	}
	if left -= len(st.Matches); left <= 0 {
		return store.AlertRuleState{}, false, nil
	}
	rows, err = q.w.QueryContext(ctx, q.d.q(`SELECT `+alertCols+` FROM alerts WHERE rule_id = ? AND window_end > ?
AND state IN ('open', 'in_progress') ORDER BY id LIMIT ?`), ruleID, micros(openAfter), left)
	if err != nil {
		return st, false, q.wrap("load alert rule state", err)
	}
	for rows.Next() {
		a, err := scanAlert(rows)
		if err != nil {
			rows.Close()
			return st, false, q.wrap("load alert rule state", err)
		}
		st.Open = append(st.Open, a)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return st, false, q.wrap("load alert rule state", err)
	}
	if left -= len(st.Open); left <= 0 {
		return store.AlertRuleState{}, false, nil
	}
	rows, err = q.w.QueryContext(ctx, q.d.q(`SELECT term, last_seen FROM alert_terms WHERE rule_id = ? AND last_seen >= ? LIMIT ?`),
		ruleID, micros(termsSince), left)
	if err != nil {
		return st, false, q.wrap("load alert rule state", err)
	}
	defer rows.Close()
	st.Terms = map[string]time.Time{}
	for rows.Next() {
		var t string
		var last int64
		if err := rows.Scan(&t, &last); err != nil {
			return st, false, q.wrap("load alert rule state", err)
		}
		st.Terms[t] = fromMicros(last)
	}
	if err := rows.Err(); err != nil {
		return st, false, q.wrap("load alert rule state", err)
	}
	if len(st.Terms) >= left {
		return store.AlertRuleState{}, false, nil
	}
	return st, true, nil
}
