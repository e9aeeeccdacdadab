package sqldb

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/internal/store"
)

const integrationCols = `id, kind, name, settings, secrets, status, last_error, last_error_at, error_kind, created_at, created_by, updated_at, version`

func scanIntegration(s scanner) (store.Integration, error) {
	var i store.Integration
	var errAt, created, updated int64
	err := s.Scan(&i.ID, &i.Kind, &i.Name, &i.Settings, &i.Secrets, &i.Status, &i.LastError, &errAt, &i.ErrorKind, &created, &i.CreatedBy, &updated, &i.Version)
	i.LastErrorAt, i.CreatedAt, i.UpdatedAt = fromMicros(errAt), fromMicros(created), fromMicros(updated)
	return i, err
}

// CreateIntegration implements store.IntegrationQueries.
func (q *Queries) CreateIntegration(ctx context.Context, i store.Integration) (store.Integration, error) {
	if i.CreatedAt.IsZero() {
		i.CreatedAt = nowUTC()
	}
	if i.UpdatedAt.IsZero() {
		i.UpdatedAt = i.CreatedAt
	}
	out, err := scanIntegration(q.w.QueryRowContext(ctx, q.d.q(`INSERT INTO integrations (kind, name, name_key, settings, secrets, status,
last_error, last_error_at, error_kind, created_at, created_by, updated_at, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1) RETURNING `+integrationCols),
		i.Kind, strings.TrimSpace(i.Name), nameKey(i.Name), i.Settings, i.Secrets, i.Status, i.LastError, micros(i.LastErrorAt), errKind(i.LastError, i.ErrorKind),
		micros(i.CreatedAt), i.CreatedBy, micros(i.UpdatedAt)))
	return out, q.wrap("create integration", err)
}

// GetIntegration implements store.IntegrationQueries.
func (q *Queries) GetIntegration(ctx context.Context, id int64) (store.Integration, error) {
	out, err := scanIntegration(q.r.QueryRowContext(ctx, q.d.q(`SELECT `+integrationCols+` FROM integrations WHERE id = ?`), id))
	return out, q.wrap(fmt.Sprintf("get integration %d", id), err)
}

// ListIntegrations implements store.IntegrationQueries.
func (q *Queries) ListIntegrations(ctx context.Context) ([]store.Integration, error) {
	rows, err := q.r.QueryContext(ctx, `SELECT `+integrationCols+` FROM integrations ORDER BY id`)
	if err != nil {
		return nil, q.wrap("list integrations", err)
	}
	defer rows.Close()
	var out []store.Integration
	for rows.Next() {
		i, err := scanIntegration(rows)
		if err != nil {
			return nil, q.wrap("list integrations", err)
		}
		out = append(out, i)
	}
	return out, q.wrap("list integrations", rows.Err())
}

// UpdateIntegration implements store.IntegrationQueries.
func (q *Queries) UpdateIntegration(ctx context.Context, i store.Integration) (store.Integration, error) {
	var out store.Integration
	err := q.inTx(ctx, func(q *Queries) error {
		cur, err := q.GetIntegration(ctx, i.ID)
		if err != nil {
			return err
		}
		if cur.Version != i.Version {
			return fmt.Errorf("store: update integration %d: version %d, stored %d: %w", i.ID, i.Version, cur.Version, store.ErrConflict)
		}
		if i.UpdatedAt.IsZero() {
			i.UpdatedAt = nowUTC()
		}
		out, err = scanIntegration(q.w.QueryRowContext(ctx, q.d.q(`UPDATE integrations SET name = ?, name_key = ?, settings = ?, secrets = ?,
status = ?, last_error = ?, last_error_at = ?, error_kind = ?, updated_at = ?, version = version + 1 WHERE id = ? AND version = ? RETURNING `+integrationCols),
			strings.TrimSpace(i.Name), nameKey(i.Name), i.Settings, i.Secrets, i.Status, i.LastError, micros(i.LastErrorAt), errKind(i.LastError, i.ErrorKind), micros(i.UpdatedAt),
			i.ID, i.Version))
		return q.wrap("update integration", err)
	})
	return out, err
}

// SetIntegrationError implements store.IntegrationQueries.
func (q *Queries) SetIntegrationError(ctx context.Context, id int64, errText, kind string, at time.Time) error {
	if errText == "" {
		at = time.Time{}
	}
	res, err := q.w.ExecContext(ctx, q.d.q(`UPDATE integrations SET last_error = ?, last_error_at = ?, error_kind = ? WHERE id = ?`), errText, micros(at), errKind(errText, kind), id)
	return affected(res, err, fmt.Sprintf("set integration %d error", id), q, store.ErrNotFound)
}

// errKind is the kind stored with an error: none without one, "error" when unnamed.
func errKind(errText, kind string) string {
	switch {
	case errText == "":
		return ""
	case kind == "":
		return store.IntegrationErrOther
	}
	return kind
}

// DeleteIntegration implements store.IntegrationQueries.
func (q *Queries) DeleteIntegration(ctx context.Context, id int64) error {
	return q.inTx(ctx, func(q *Queries) error {
		res, err := q.w.ExecContext(ctx, q.d.q(`DELETE FROM integrations WHERE id = ?`), id)
		if err := affected(res, err, fmt.Sprintf("delete integration %d", id), q, store.ErrNotFound); err != nil {
			return err
		}
		if _, err = q.w.ExecContext(ctx, q.d.q(`DELETE FROM outbox WHERE integration_id = ?`), id); err != nil {
			return q.wrap("delete integration deliveries", err)
		}
		_, err = q.w.ExecContext(ctx, q.d.q(`DELETE FROM hr_refusals WHERE integration_id = ?`), id)
		return q.wrap("delete integration refusals", err)
	})
}

const flowCols = `id, name, trigger_kind, enabled, min_severity, rule_ids, query, integration_ids, created_at, created_by`

func idsText(ids []int64) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.FormatInt(id, 10)
	}
	return strings.Join(s, ",")
}

func parseIDs(s string) []int64 {
	var out []int64
	for _, f := range strings.Split(s, ",") {
		if n, err := strconv.ParseInt(f, 10, 64); err == nil {
			out = append(out, n)
		}
	}
	return out
}

func scanFlow(s scanner) (store.Flow, error) {
	var f store.Flow
	var enabled, created int64
	var rules, integ string
	err := s.Scan(&f.ID, &f.Name, &f.Trigger, &enabled, &f.MinSeverity, &rules, &f.Query, &integ, &created, &f.CreatedBy)
	f.Enabled, f.RuleIDs, f.IntegrationIDs, f.CreatedAt = enabled != 0, parseIDs(rules), parseIDs(integ), fromMicros(created)
	return f, err
}

// CreateFlow implements store.IntegrationQueries.
func (q *Queries) CreateFlow(ctx context.Context, f store.Flow) (store.Flow, error) {
	if f.CreatedAt.IsZero() {
		f.CreatedAt = nowUTC()
	}
	if f.Trigger == "" {
		f.Trigger = "alert.raised"
	}
	out, err := scanFlow(q.w.QueryRowContext(ctx, q.d.q(`INSERT INTO flows (name, name_key, trigger_kind, enabled, min_severity, rule_ids, query, integration_ids,
created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING `+flowCols), strings.TrimSpace(f.Name), nameKey(f.Name), f.Trigger, b2i(f.Enabled),
		f.MinSeverity, idsText(f.RuleIDs), f.Query, idsText(f.IntegrationIDs), micros(f.CreatedAt), f.CreatedBy))
	return out, q.wrap("create flow", err)
}

// GetFlow implements store.IntegrationQueries.
func (q *Queries) GetFlow(ctx context.Context, id int64) (store.Flow, error) {
	out, err := scanFlow(q.r.QueryRowContext(ctx, q.d.q(`SELECT `+flowCols+` FROM flows WHERE id = ?`), id))
	return out, q.wrap(fmt.Sprintf("get flow %d", id), err)
}

// ListFlows implements store.IntegrationQueries.
func (q *Queries) ListFlows(ctx context.Context) ([]store.Flow, error) {
	rows, err := q.r.QueryContext(ctx, `SELECT `+flowCols+` FROM flows ORDER BY id`)
	if err != nil {
		return nil, q.wrap("list flows", err)
	}
	defer rows.Close()
	var out []store.Flow
	for rows.Next() {
		f, err := scanFlow(rows)
		if err != nil {
			return nil, q.wrap("list flows", err)
		}
		out = append(out, f)
	}
	return out, q.wrap("list flows", rows.Err())
}

// DeleteFlow implements store.IntegrationQueries.
func (q *Queries) DeleteFlow(ctx context.Context, id int64) error {
	res, err := q.w.ExecContext(ctx, q.d.q(`DELETE FROM flows WHERE id = ?`), id)
	return affected(res, err, fmt.Sprintf("delete flow %d", id), q, store.ErrNotFound)
}
