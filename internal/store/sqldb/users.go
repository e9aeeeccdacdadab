package sqldb

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/internal/store"
)

const userCols = `id, username, name, role, password_hash, service_account, disabled, must_change_password, provider, subject,
role_source, last_sign_in_at, created_at, updated_at`

func scanUser(s scanner) (store.User, error) {
	var u store.User
	var created, updated, last int64
	err := s.Scan(&u.ID, &u.Username, &u.Name, &u.Role, &u.PasswordHash, &u.ServiceAccount, &u.Disabled, &u.MustChangePassword,
		&u.Provider, &u.Subject, &u.RoleSource, &last, &created, &updated)
	u.CreatedAt, u.UpdatedAt, u.LastSignInAt = fromMicros(created), fromMicros(updated), fromMicros(last)
	return u, err
}

// CreateUser implements store.UserQueries.
func (q *Queries) CreateUser(ctx context.Context, u store.User) (store.User, error) {
	now := micros(nowUTC())
	out, err := scanUser(q.w.QueryRowContext(ctx, q.d.q(`INSERT INTO users (username, username_key, name, role, password_hash,
service_account, disabled, must_change_password, provider, subject, role_source, last_sign_in_at, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING `+userCols),
		u.Username, strings.ToLower(u.Username), u.Name, u.Role, u.PasswordHash, b2i(u.ServiceAccount), b2i(u.Disabled), b2i(u.MustChangePassword),
		u.Provider, u.Subject, u.RoleSource, micros(u.LastSignInAt), now, now))
	return out, q.wrap("create user "+u.Username, err)
}

// GetUser implements store.UserQueries.
func (q *Queries) GetUser(ctx context.Context, id int64) (store.User, error) {
	u, err := scanUser(q.r.QueryRowContext(ctx, q.d.q(`SELECT `+userCols+` FROM users WHERE id = ?`), id))
	return u, q.wrap(fmt.Sprintf("get user %d", id), err)
}

// GetUserByUsername implements store.UserQueries.
func (q *Queries) GetUserByUsername(ctx context.Context, username string) (store.User, error) {
	u, err := scanUser(q.r.QueryRowContext(ctx, q.d.q(`SELECT `+userCols+` FROM users WHERE username_key = ?`), strings.ToLower(username)))
	return u, q.wrap("get user "+username, err)
}

// RecordSignIn implements store.UserQueries.
func (q *Queries) RecordSignIn(ctx context.Context, id int64, at time.Time) error {
	res, err := q.w.ExecContext(ctx, q.d.q(`UPDATE users SET last_sign_in_at = ? WHERE id = ?`), micros(at), id)
	return affected(res, err, fmt.Sprintf("record sign-in of user %d", id), q, store.ErrNotFound)
}

// GetUserBySubject implements store.UserQueries. Local users (provider "") have no subject.
func (q *Queries) GetUserBySubject(ctx context.Context, provider, subject string) (store.User, error) {
	u, err := scanUser(q.r.QueryRowContext(ctx, q.d.q(`SELECT `+userCols+` FROM users WHERE provider = ? AND subject = ? AND provider <> ''`), provider, subject))
	return u, q.wrap("get user of "+provider+" subject", err)
}

// ListUsers implements store.UserQueries.
func (q *Queries) ListUsers(ctx context.Context) ([]store.User, error) {
	rows, err := q.r.QueryContext(ctx, `SELECT `+userCols+` FROM users ORDER BY id`)
	if err != nil {
		return nil, q.wrap("list users", err)
	}
	defer rows.Close()
	var out []store.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, q.wrap("list users", err)
		}
		out = append(out, u)
	}
	return out, q.wrap("list users", rows.Err())
}

// UpdateUser implements store.UserQueries.
func (q *Queries) UpdateUser(ctx context.Context, u store.User) (store.User, error) {
	out, err := scanUser(q.w.QueryRowContext(ctx, q.d.q(`UPDATE users SET username = ?, username_key = ?, name = ?, role = ?,
password_hash = ?, service_account = ?, disabled = ?, must_change_password = ?, provider = ?, subject = ?, role_source = ?,
last_sign_in_at = ?, updated_at = ? WHERE id = ? RETURNING `+userCols),
		u.Username, strings.ToLower(u.Username), u.Name, u.Role, u.PasswordHash, b2i(u.ServiceAccount), b2i(u.Disabled),
		b2i(u.MustChangePassword), u.Provider, u.Subject, u.RoleSource, micros(u.LastSignInAt), micros(nowUTC()), u.ID))
	return out, q.wrap(fmt.Sprintf("update user %d", u.ID), err)
}

// CountUsers implements store.UserQueries.
func (q *Queries) CountUsers(ctx context.Context) (int64, error) {
	var n int64
	err := q.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM users`).Scan(&n)
	return n, q.wrap("count users", err)
}

const tokenCols = `id, user_id, name, prefix, hash, created_at, expires_at, last_used_at, revoked_at, scopes`

func scanToken(s scanner) (store.Token, error) {
	var t store.Token
	var c, e, l, r int64
	var scopes string
	err := s.Scan(&t.ID, &t.UserID, &t.Name, &t.Prefix, &t.Hash, &c, &e, &l, &r, &scopes)
	t.CreatedAt, t.ExpiresAt, t.LastUsedAt, t.RevokedAt = fromMicros(c), fromMicros(e), fromMicros(l), fromMicros(r)
	t.Scopes = strings.Fields(scopes)
	return t, err
}

// CreateToken implements store.UserQueries.
func (q *Queries) CreateToken(ctx context.Context, t store.Token) (store.Token, error) {
	created := micros(t.CreatedAt)
	if created == 0 {
		created = micros(nowUTC())
	}
	out, err := scanToken(q.w.QueryRowContext(ctx, q.d.q(`INSERT INTO api_tokens (user_id, name, prefix, hash, created_at, expires_at, scopes)
VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING `+tokenCols), t.UserID, t.Name, t.Prefix, t.Hash, created, micros(t.ExpiresAt), strings.Join(t.Scopes, " ")))
	return out, q.wrap("create token", err)
}

// GetTokenByHash implements store.UserQueries.
func (q *Queries) GetTokenByHash(ctx context.Context, hash []byte) (store.Token, error) {
	t, err := scanToken(q.r.QueryRowContext(ctx, q.d.q(`SELECT `+tokenCols+` FROM api_tokens WHERE hash = ?`), hash))
	return t, q.wrap("get token", err)
}

// ListTokens implements store.UserQueries.
func (q *Queries) ListTokens(ctx context.Context, userID int64) ([]store.Token, error) {
	query, args := `SELECT `+tokenCols+` FROM api_tokens ORDER BY id`, []any(nil)
	if userID != 0 {
		query, args = `SELECT `+tokenCols+` FROM api_tokens WHERE user_id = ? ORDER BY id`, []any{userID}
	}
	rows, err := q.r.QueryContext(ctx, q.d.q(query), args...)
	if err != nil {
		return nil, q.wrap("list tokens", err)
	}
	defer rows.Close()
	var out []store.Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, q.wrap("list tokens", err)
		}
		out = append(out, t)
	}
	return out, q.wrap("list tokens", rows.Err())
}

// RevokeToken implements store.UserQueries.
func (q *Queries) RevokeToken(ctx context.Context, id int64, at time.Time) error {
	res, err := q.w.ExecContext(ctx, q.d.q(`UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at = 0`), micros(at), id)
	return affected(res, err, fmt.Sprintf("revoke token %d", id), q, store.ErrNotFound)
}

// TouchToken implements store.UserQueries.
func (q *Queries) TouchToken(ctx context.Context, id int64, at time.Time) error {
	_, err := q.w.ExecContext(ctx, q.d.q(`UPDATE api_tokens SET last_used_at = ? WHERE id = ?`), micros(at), id)
	return q.wrap("touch token", err)
}

// CreateSession implements store.UserQueries.
func (q *Queries) CreateSession(ctx context.Context, s store.Session) error {
	created := micros(s.CreatedAt)
	if created == 0 {
		created = micros(nowUTC())
	}
	_, err := q.w.ExecContext(ctx, q.d.q(`INSERT INTO sessions (hash, user_id, csrf, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`),
		s.Hash, s.UserID, s.CSRF, created, micros(s.ExpiresAt))
	return q.wrap("create session", err)
}

// GetSession implements store.UserQueries.
func (q *Queries) GetSession(ctx context.Context, hash []byte) (store.Session, error) {
	var s store.Session
	var c, e int64
	err := q.r.QueryRowContext(ctx, q.d.q(`SELECT hash, user_id, csrf, created_at, expires_at FROM sessions WHERE hash = ?`), hash).Scan(&s.Hash, &s.UserID, &s.CSRF, &c, &e)
	s.CreatedAt, s.ExpiresAt = fromMicros(c), fromMicros(e)
	return s, q.wrap("get session", err)
}

// DeleteSession implements store.UserQueries.
func (q *Queries) DeleteSession(ctx context.Context, hash []byte) error {
	_, err := q.w.ExecContext(ctx, q.d.q(`DELETE FROM sessions WHERE hash = ?`), hash)
	return q.wrap("delete session", err)
}

// DeleteUserSessions implements store.UserQueries.
func (q *Queries) DeleteUserSessions(ctx context.Context, userID int64) error {
	_, err := q.w.ExecContext(ctx, q.d.q(`DELETE FROM sessions WHERE user_id = ?`), userID)
	return q.wrap("delete user sessions", err)
}

// DeleteExpiredSessions implements store.UserQueries.
func (q *Queries) DeleteExpiredSessions(ctx context.Context, now time.Time) (int64, error) {
	res, err := q.w.ExecContext(ctx, q.d.q(`DELETE FROM sessions WHERE expires_at <= ?`), micros(now))
	if err != nil {
		return 0, q.wrap("delete expired sessions", err)
	}
	n, err := res.RowsAffected()
	return n, q.wrap("delete expired sessions", err)
}

// CreateSSOState implements store.UserQueries.
func (q *Queries) CreateSSOState(ctx context.Context, st store.SSOState) error {
	_, err := q.w.ExecContext(ctx, q.d.q(`INSERT INTO sso_states (hash, provider, browser, nonce, verifier, next, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)`),
		st.Hash, st.Provider, st.Browser, st.Nonce, st.Verifier, st.Next, micros(st.ExpiresAt))
	return q.wrap("create sso state", err)
}

// TakeSSOState implements store.UserQueries.
func (q *Queries) TakeSSOState(ctx context.Context, hash []byte, now time.Time) (store.SSOState, error) {
	if _, err := q.w.ExecContext(ctx, q.d.q(`DELETE FROM sso_states WHERE expires_at <= ?`), micros(now)); err != nil {
		return store.SSOState{}, q.wrap("take sso state", err)
	}
	var st store.SSOState
	var e int64
	err := q.w.QueryRowContext(ctx, q.d.q(`DELETE FROM sso_states WHERE hash = ? RETURNING hash, provider, browser, nonce, verifier, next, expires_at`), hash).
		Scan(&st.Hash, &st.Provider, &st.Browser, &st.Nonce, &st.Verifier, &st.Next, &e)
	st.ExpiresAt = fromMicros(e)
	return st, q.wrap("take sso state", err)
}

// ConsumeSSOAssertion implements store.UserQueries.
func (q *Queries) ConsumeSSOAssertion(ctx context.Context, id string, expiresAt, now time.Time) error {
	if _, err := q.w.ExecContext(ctx, q.d.q(`DELETE FROM sso_assertions WHERE expires_at <= ?`), micros(now)); err != nil {
		return q.wrap("consume sso assertion", err)
	}
	_, err := q.w.ExecContext(ctx, q.d.q(`INSERT INTO sso_assertions (id, expires_at) VALUES (?, ?)`), id, micros(expiresAt))
	return q.wrap("consume sso assertion", err)
}

// PutUserTOTP implements store.UserQueries.
func (q *Queries) PutUserTOTP(ctx context.Context, t store.UserTOTP) error {
	return q.inTx(ctx, func(q *Queries) error {
		if _, err := q.w.ExecContext(ctx, q.d.q(`DELETE FROM recovery_codes WHERE user_id = ?`), t.UserID); err != nil {
			return q.wrap("put user totp", err)
		}
		_, err := q.w.ExecContext(ctx, q.d.q(`INSERT INTO user_totp (user_id, secret, enabled_at, last_step) VALUES (?, ?, 0, 0)
ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, enabled_at = 0, last_step = 0`), t.UserID, t.Secret)
		return q.wrap("put user totp", err)
	})
}

// GetUserTOTP implements store.UserQueries.
func (q *Queries) GetUserTOTP(ctx context.Context, userID int64) (store.UserTOTP, error) {
	t := store.UserTOTP{UserID: userID}
	var e int64
	err := q.r.QueryRowContext(ctx, q.d.q(`SELECT secret, enabled_at, last_step FROM user_totp WHERE user_id = ?`), userID).Scan(&t.Secret, &e, &t.LastStep)
	t.EnabledAt = fromMicros(e)
	return t, q.wrap("get user totp", err)
}

// EnableUserTOTP implements store.UserQueries.
func (q *Queries) EnableUserTOTP(ctx context.Context, userID int64, at time.Time, codeHashes [][]byte) error {
	return q.inTx(ctx, func(q *Queries) error {
		res, err := q.w.ExecContext(ctx, q.d.q(`UPDATE user_totp SET enabled_at = ? WHERE user_id = ?`), micros(at), userID)
		if err != nil {
			return q.wrap("enable user totp", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return q.wrap("enable user totp", sql.ErrNoRows)
		}
		if _, err := q.w.ExecContext(ctx, q.d.q(`DELETE FROM recovery_codes WHERE user_id = ?`), userID); err != nil {
			return q.wrap("enable user totp", err)
		}
		for _, h := range codeHashes {
			if _, err := q.w.ExecContext(ctx, q.d.q(`INSERT INTO recovery_codes (user_id, hash) VALUES (?, ?)`), userID, h); err != nil {
				return q.wrap("enable user totp", err)
			}
		}
		return nil
	})
}

// UseTOTPStep implements store.UserQueries.
func (q *Queries) UseTOTPStep(ctx context.Context, userID, step int64) error {
	res, err := q.w.ExecContext(ctx, q.d.q(`UPDATE user_totp SET last_step = ? WHERE user_id = ? AND last_step < ?`), step, userID, step)
	if err != nil {
		return q.wrap("use totp step", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fmt.Errorf("store: use totp step: %w", store.ErrConflict)
	}
	return nil
}

// UseRecoveryCode implements store.UserQueries.
func (q *Queries) UseRecoveryCode(ctx context.Context, userID int64, hash []byte, at time.Time) error {
	res, err := q.w.ExecContext(ctx, q.d.q(`UPDATE recovery_codes SET used_at = ? WHERE user_id = ? AND hash = ? AND used_at = 0`), micros(at), userID, hash)
	if err != nil {
		return q.wrap("use recovery code", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return q.wrap("use recovery code", sql.ErrNoRows)
	}
	return nil
}

// CountRecoveryCodes implements store.UserQueries.
func (q *Queries) CountRecoveryCodes(ctx context.Context, userID int64) (int, error) {
	var n int
	err := q.r.QueryRowContext(ctx, q.d.q(`SELECT COUNT(*) FROM recovery_codes WHERE user_id = ? AND used_at = 0`), userID).Scan(&n)
	return n, q.wrap("count recovery codes", err)
}

// DeleteUserTOTP implements store.UserQueries.
func (q *Queries) DeleteUserTOTP(ctx context.Context, userID int64) error {
	return q.inTx(ctx, func(q *Queries) error {
		if _, err := q.w.ExecContext(ctx, q.d.q(`DELETE FROM recovery_codes WHERE user_id = ?`), userID); err != nil {
			return q.wrap("delete user totp", err)
		}
		_, err := q.w.ExecContext(ctx, q.d.q(`DELETE FROM user_totp WHERE user_id = ?`), userID)
		return q.wrap("delete user totp", err)
	})
}
