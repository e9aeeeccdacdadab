package sqldb

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/telltale-dev/telltale/internal/store"
)

// ReplacePersonStates implements store.PeopleQueries.
func (q *Queries) ReplacePersonStates(ctx context.Context, connectionID int64, states []store.PersonState) error {
	if len(states) > store.MaxPersonStates {
		return fmt.Errorf("store: %d person states for connection %d; the most is %d", len(states), connectionID, store.MaxPersonStates)
	}
	return q.wrap("replace person states", q.inTx(ctx, func(q *Queries) error {
		touched := map[string]bool{}
		old, err := q.strings(ctx, `SELECT email FROM person_states WHERE connection_id = ?`, connectionID)
		if err != nil {
			return err
		}
		for _, e := range old {
			touched[e] = true
		}
		if _, err := q.w.ExecContext(ctx, q.d.q(`DELETE FROM person_states WHERE connection_id = ?`), connectionID); err != nil {
			return err
		}
		now := micros(nowUTC())
		seen := map[string]bool{}
		for chunk := range slices.Chunk(states, 200) {
			var ph string
			var args []any
			for _, st := range chunk {
				e := lowerAddr(st.Email)
				if e == "" || seen[e] {
					continue
				}
				seen[e], touched[e] = true, true
				if ph != "" {
					ph += ", "
				}
				ph += "(?, ?, ?, ?, ?)"
				args = append(args, connectionID, e, st.Status, st.Reason, now)
			}
			if ph == "" {
				continue
			}
			if _, err := q.w.ExecContext(ctx, q.d.q(`INSERT INTO person_states (connection_id, email, status, reason, updated_at) VALUES `+ph), args...); err != nil {
				return err
			}
		}
		emails := make([]string, 0, len(touched))
		for e := range touched {
			emails = append(emails, e)
		}
		slices.Sort(emails)
		for chunk := range slices.Chunk(emails, 500) {
			if err := q.refreshPersonStatus(ctx, chunk, now); err != nil {
				return err
			}
		}
		return nil
	}))
}

// refreshPersonStatus sets people.status of emails from the drives and the directories' states
// (store.PeopleQueries.ReplacePersonStates), creating missing people rows.
func (q *Queries) refreshPersonStatus(ctx context.Context, emails []string, now int64) error {
	ph, args := in(emails)
	status := map[string]string{}
	// Directories' states first, blocked over inactive; an in-scope drive of any connection wins.
	rows, err := q.w.QueryContext(ctx, q.d.q(`SELECT email, status FROM person_states WHERE email IN `+ph), args...)
	if err != nil {
		return err
	}
	for rows.Next() {
		var e, st string
		if err := rows.Scan(&e, &st); err != nil {
			rows.Close()
			return err
		}
		if status[e] != store.PersonBlocked {
			status[e] = st
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	owners, err := q.strings(ctx, `SELECT DISTINCT owner FROM drives WHERE owner IN `+ph+` AND in_scope = 1 AND kind IN ('user', 'mailbox')`, args...)
	if err != nil {
		return err
	}
	for _, e := range owners {
		status[e] = store.PersonActive
	}
	for _, e := range emails {
		st := status[e]
		if st == "" {
			st = store.PersonActive // no directory names them any more
		}
		if _, err := q.w.ExecContext(ctx, q.d.q(`INSERT INTO people (email, status, updated_at) VALUES (?, ?, ?)
ON CONFLICT (email) DO UPDATE SET status = excluded.status, updated_at = excluded.updated_at WHERE people.status <> excluded.status`), e, st, now); err != nil {
			return err
		}
	}
	return nil
}

// PersonStates implements store.PeopleQueries.
func (q *Queries) PersonStates(ctx context.Context, emails []string) ([]store.PersonState, error) {
	if len(emails) == 0 {
		return nil, nil
	}
	low := make([]string, len(emails))
	for i, e := range emails {
		low[i] = lowerAddr(e)
	}
	ph, args := in(low)
	rows, err := q.r.QueryContext(ctx, q.d.q(`SELECT connection_id, email, status, reason, updated_at FROM person_states WHERE email IN `+ph+` ORDER BY email, connection_id`), args...)
	if err != nil {
		return nil, q.wrap("person states", err)
	}
	defer rows.Close()
	var out []store.PersonState
	for rows.Next() {
		var s store.PersonState
		var at int64
		if err := rows.Scan(&s.ConnectionID, &s.Email, &s.Status, &s.Reason, &at); err != nil {
			return nil, q.wrap("person states", err)
		}
		s.UpdatedAt = fromMicros(at)
		out = append(out, s)
	}
	return out, q.wrap("person states", rows.Err())
}

// EnsurePeople implements store.PeopleQueries.
func (q *Queries) EnsurePeople(ctx context.Context, emails []string) error {
	now := micros(nowUTC())
	for chunk := range slices.Chunk(emails, 300) {
		ph := make([]string, 0, len(chunk))
		args := make([]any, 0, 2*len(chunk))
		seen := map[string]bool{}
		for _, e := range chunk {
			if e = lowerAddr(e); e == "" || seen[e] {
				continue
			}
			seen[e] = true
			ph = append(ph, "(?, 'active', ?)")
			args = append(args, e, now)
		}
		if len(ph) == 0 {
			continue
		}
		if _, err := q.w.ExecContext(ctx, q.d.q(`INSERT INTO people (email, status, updated_at) VALUES `+strings.Join(ph, ", ")+` ON CONFLICT (email) DO NOTHING`), args...); err != nil {
			return q.wrap("ensure people", err)
		}
	}
	return nil
}

// strings runs a query of one text column on the writer (in the transaction) and returns its rows.
func (q *Queries) strings(ctx context.Context, query string, args ...any) ([]string, error) {
	rows, err := q.w.QueryContext(ctx, q.d.q(query), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
