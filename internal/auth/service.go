package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/telltale-dev/telltale/internal/clock"
	"github.com/telltale-dev/telltale/internal/secret"
	"github.com/telltale-dev/telltale/internal/store"
	"github.com/telltale-dev/telltale/internal/textcheck"
)

// Options configure a Service.
type Options struct {
	// SessionTTL is how long a console session lasts; 0 means 12 hours.
	SessionTTL time.Duration
	// Keyring seals the TOTP secrets of local accounts; nil: TOTP cannot be set up.
	Keyring *secret.Keyring
}

// touchEvery bounds how often a token's LastUsedAt is written.
const touchEvery = time.Minute

// MinBootstrapTokenLen is the shortest accepted TELLTALE_BOOTSTRAP_TOKEN.
const MinBootstrapTokenLen = 24

// Service authenticates principals and manages users, tokens and sessions.
type Service struct {
	st  store.Store
	clk clock.Clock
	log *slog.Logger
	ttl time.Duration

	keys *secret.Keyring

	mu       sync.Mutex
	touched  map[int64]time.Time   // token ID -> when LastUsedAt was last written by this node
	throttle throttle              // failed sign-ins (throttle.go)
	tickets  map[string]*mfaTicket // hash of ticket -> a password sign-in waiting for its code (mfa.go)
}

// NewService returns a Service on st.
func NewService(st store.Store, clk clock.Clock, log *slog.Logger, o Options) *Service {
	if clk == nil {
		clk = clock.Real{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if o.SessionTTL <= 0 {
		o.SessionTTL = 12 * time.Hour
	}
	return &Service{st: st, clk: clk, log: log, ttl: o.SessionTTL, keys: o.Keyring, touched: map[int64]time.Time{}, tickets: map[string]*mfaTicket{}}
}

// notFoundIsUnauth turns a missing row into ErrUnauthenticated (no oracle); other store errors
// are server errors.
func notFoundIsUnauth(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return ErrUnauthenticated
	}
	return fmt.Errorf("auth: authenticate: %w", err)
}

// AuthenticateToken resolves an API token. Unknown, revoked or expired tokens and disabled or
// missing users give ErrUnauthenticated.
func (s *Service) AuthenticateToken(ctx context.Context, plain string) (Principal, error) {
	if plain == "" {
		return Principal{}, ErrUnauthenticated
	}
	t, err := s.st.GetTokenByHash(ctx, HashToken(plain))
	if err != nil {
		return Principal{}, notFoundIsUnauth(err)
	}
	now := s.clk.Now()
	if !t.RevokedAt.IsZero() || (!t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt)) {
		return Principal{}, ErrUnauthenticated
	}
	u, err := s.st.GetUser(ctx, t.UserID)
	if err != nil {
		return Principal{}, notFoundIsUnauth(err)
	}
	if u.Disabled {
		return Principal{}, ErrUnauthenticated
	}
	s.touch(ctx, t.ID, now)
	return Principal{UserID: u.ID, Username: u.Username, Role: Role(u.Role), TokenID: t.ID, Via: "token", Scopes: t.Scopes}, nil
}

// touch writes the token's LastUsedAt at most once a minute per token.
func (s *Service) touch(ctx context.Context, id int64, now time.Time) {
	s.mu.Lock()
	last, ok := s.touched[id]
	due := !ok || now.Sub(last) >= touchEvery || now.Before(last)
	if due {
		s.touched[id] = now
	}
	s.mu.Unlock()
	if !due {
		return
	}
	if err := s.st.TouchToken(ctx, id, now); err != nil {
		s.log.Warn("auth: recording token use failed", "token_id", id, "err", err)
	}
}

// Login checks a user name and password and opens a console session for a person at clientAddr
// (ClientAddr). It returns the principal and the session cookie value. Unknown users, wrong
// passwords, disabled users and service accounts all give ErrUnauthenticated, after spending the
// same password hash; too many recent failures give a *ThrottledError (wrapping ErrThrottled and
// so ErrUnauthenticated) without checking the password. Every sign-in and every refusal (a
// throttled address once per window) is in the audit log as session.create.
func (s *Service) Login(ctx context.Context, username, password, clientAddr string) (Principal, string, error) {
	now := s.clk.Now()
	if wait, first := s.throttle.blocked(username, clientAddr, now); wait > 0 {
		if first {
			s.log.Warn("auth: sign-ins throttled", "client_ip", clientAddr, "for", wait.Round(time.Second).String())
			s.auditSignIn(ctx, store.User{}, clientAddr, http.StatusTooManyRequests, "too many failed sign-ins")
		}
		return Principal{}, "", &ThrottledError{RetryAfter: wait}
	}
	refuse := func(u store.User, reason string) (Principal, string, error) {
		s.throttle.failed(username, clientAddr, now)
		s.auditSignIn(ctx, u, clientAddr, http.StatusUnauthorized, reason)
		return Principal{}, "", ErrUnauthenticated
	}
	// Password sign-in turned off for people: only the break-glass admin keeps it. Checked before
	// the user name, so the answer tells nothing about who exists.
	if pol, err := s.Policy(ctx); err != nil {
		return Principal{}, "", err
	} else if pol.PasswordSignInOff && !strings.EqualFold(strings.TrimSpace(username), pol.BreakGlass) {
		s.auditSignIn(ctx, store.User{}, clientAddr, http.StatusUnauthorized, "password sign-in is turned off (sign-in policy)")
		return Principal{}, "", ErrPasswordSignInOff
	}
	u, err := s.st.GetUserByUsername(ctx, strings.TrimSpace(username))
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			return Principal{}, "", fmt.Errorf("auth: sign in: %w", err)
		}
		_, _ = VerifyPassword(dummyHash(), password)
		// The typed name is not logged: people type passwords into the user name field.
		s.log.Info("auth: sign-in refused", "reason", "unknown user name")
		return refuse(store.User{}, "unknown user name")
	}
	hash := u.PasswordHash
	if hash == "" {
		hash = dummyHash()
	}
	ok, err := VerifyPassword(hash, password)
	if err != nil {
		s.log.Error("auth: stored password hash is malformed", "user_id", u.ID)
		return refuse(u, "stored password hash is malformed")
	}
	if reason := refusal(ok, u); reason != "" {
		s.log.Info("auth: sign-in refused", "user_id", u.ID, "reason", reason)
		return refuse(u, reason)
	}
	if t, err := s.st.GetUserTOTP(ctx, u.ID); err == nil && !t.EnabledAt.IsZero() {
		// The failures are forgotten only once the code is right too (LoginMFA).
		return Principal{}, "", s.newTicket(u, username, clientAddr)
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		return Principal{}, "", fmt.Errorf("auth: sign in: %w", err)
	}
	s.throttle.succeeded(username, clientAddr)
	return s.openSession(ctx, u, clientAddr, "")
}

// openSession opens a console session for u after a password sign-in (how names the second
// factor, if any), audited as session.create.
func (s *Service) openSession(ctx context.Context, u store.User, clientAddr, how string) (Principal, string, error) {
	now := s.clk.Now()
	cookie := randomURL(32)
	// Sweep sessions that expired without being used again; sign-ins are rare enough.
	if _, err := s.st.DeleteExpiredSessions(ctx, now); err != nil {
		s.log.Warn("auth: deleting expired sessions failed", "err", err)
	}
	sess := store.Session{Hash: HashToken(cookie), UserID: u.ID, CSRF: randomURL(32), CreatedAt: now, ExpiresAt: now.Add(s.ttl)}
	if err := s.st.CreateSession(ctx, sess); err != nil {
		return Principal{}, "", fmt.Errorf("auth: sign in: %w", err)
	}
	var err error
	if how != "" {
		err = s.audit(ctx, "session.create", u, "session", clientAddr, http.StatusOK, map[string]any{"factors": how})
	} else {
		err = s.auditSignIn(ctx, u, clientAddr, http.StatusOK, "")
	}
	if err != nil {
		s.st.DeleteSession(ctx, sess.Hash) // a sign-in the audit log does not show does not happen
		return Principal{}, "", fmt.Errorf("auth: sign in: audit: %w", err)
	}
	if err := s.st.RecordSignIn(ctx, u.ID, now); err != nil {
		s.log.Warn("auth: recording the last sign-in failed", "user_id", u.ID, "err", err)
	}
	return Principal{UserID: u.ID, Username: u.Username, Role: Role(u.Role), SessionCSRF: sess.CSRF, Via: "session", MustChangePassword: u.MustChangePassword,
		MustEnrollTOTP: s.mustEnrollTOTP(ctx, u)}, cookie, nil
}

// auditSignIn records a sign-in (status 200) or its refusal as session.create. An unknown user
// name is recorded as anonymous: the typed name may be a password.
func (s *Service) auditSignIn(ctx context.Context, u store.User, clientAddr string, status int, reason string) error {
	return s.auditSession(ctx, "session.create", u, clientAddr, status, reason)
}

func (s *Service) auditSession(ctx context.Context, action string, u store.User, clientAddr string, status int, reason string) error {
	e := store.AuditEntry{At: s.clk.Now(), Actor: u.Username, ActorID: u.ID, Action: action, Target: "session", ClientIP: clientAddr, Outcome: "ok"}
	if e.Actor == "" {
		e.Actor = "anonymous"
	}
	if status >= 400 {
		e.Outcome = fmt.Sprintf("%d %s", status, http.StatusText(status))
	}
	if reason != "" {
		e.Details, _ = json.Marshal(map[string]string{"reason": reason})
	}
	_, err := s.st.AppendAudit(context.WithoutCancel(ctx), e)
	if err != nil {
		s.log.Error("auth: writing the audit entry failed", "action", action, "err", err)
	}
	return err
}

// refusal says why a sign-in with a password check result ok is refused, or "" when it is not.
func refusal(ok bool, u store.User) string {
	switch {
	case u.Provider != "":
		return "signs in through identity provider " + u.Provider
	case u.ServiceAccount || u.PasswordHash == "":
		return "service accounts sign in with API tokens only"
	case !ok:
		return "wrong password"
	case u.Disabled:
		return "user disabled"
	}
	return ""
}

// AuthenticateSession resolves a session cookie value. Expired sessions are deleted.
func (s *Service) AuthenticateSession(ctx context.Context, cookie string) (Principal, error) {
	if cookie == "" {
		return Principal{}, ErrUnauthenticated
	}
	h := HashToken(cookie)
	sess, err := s.st.GetSession(ctx, h)
	if err != nil {
		return Principal{}, notFoundIsUnauth(err)
	}
	if !s.clk.Now().Before(sess.ExpiresAt) {
		if err := s.st.DeleteSession(ctx, h); err != nil && !errors.Is(err, store.ErrNotFound) {
			s.log.Warn("auth: deleting an expired session failed", "err", err)
		}
		return Principal{}, ErrUnauthenticated
	}
	u, err := s.st.GetUser(ctx, sess.UserID)
	if err != nil {
		return Principal{}, notFoundIsUnauth(err)
	}
	if u.Disabled || u.ServiceAccount {
		return Principal{}, ErrUnauthenticated
	}
	return Principal{UserID: u.ID, Username: u.Username, Role: Role(u.Role), SessionCSRF: sess.CSRF, Via: "session", MustChangePassword: u.MustChangePassword,
		Provider: u.Provider, MustEnrollTOTP: s.mustEnrollTOTP(ctx, u)}, nil
}

// Logout ends the session of the cookie value, recorded in the audit log as session.delete. An
// unknown session is not an error.
func (s *Service) Logout(ctx context.Context, cookie, clientAddr string) error {
	if cookie == "" {
		return nil
	}
	h := HashToken(cookie)
	sess, err := s.st.GetSession(ctx, h)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := s.st.DeleteSession(ctx, h); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	u, err := s.st.GetUser(ctx, sess.UserID)
	if err != nil {
		u = store.User{ID: sess.UserID}
	}
	s.auditSession(ctx, "session.delete", u, clientAddr, http.StatusOK, "")
	return nil
}

// CheckUsername returns the trimmed user name, or an error wrapping ErrInvalid unless it has 3 to
// 254 characters, each an ASCII letter or digit or one of . _ @ - (an email address fits). Letters
// are ASCII only so that no two user names look alike (Cyrillic "а" and Latin "a").
func CheckUsername(username string) (string, error) {
	u := strings.TrimSpace(username)
	if n := utf8.RuneCountInString(u); n < 3 || n > 254 {
		return "", fmt.Errorf("%w: the user name %q has %d characters; use 3 to 254", ErrInvalid, u, n)
	}
	for _, r := range u {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune("._@-", r)) {
			return "", fmt.Errorf("%w: the user name may contain only letters a-z, digits and . _ @ - (found %q)", ErrInvalid, r)
		}
	}
	return u, nil
}

// MaxDisplayName is the longest display name of a user, in characters.
const MaxDisplayName = 200

// CheckDisplayName trims a user's display name and refuses control characters, text-reordering
// characters and names over MaxDisplayName characters.
func CheckDisplayName(name string) (string, error) {
	n := strings.TrimSpace(name)
	if p := textcheck.Label(n, MaxDisplayName); p != "" {
		return "", fmt.Errorf("%w: the display name %s", ErrInvalid, p)
	}
	return n, nil
}

// CreateUser adds a user. Service accounts have no password (password is ignored) and sign in only
// with API tokens; other users' passwords must pass CheckPasswordPolicy. A taken user name gives an
// error wrapping store.ErrConflict; invalid input gives an error wrapping ErrInvalid.
func (s *Service) CreateUser(ctx context.Context, username, name string, role Role, password string, serviceAccount bool) (store.User, error) {
	return s.createUser(ctx, username, name, role, password, serviceAccount, false)
}

// CreateUserByAdmin is CreateUser for a person an admin adds: the password the admin chose must be
// changed at the first sign-in (the admin knows it).
func (s *Service) CreateUserByAdmin(ctx context.Context, username, name string, role Role, password string, serviceAccount bool) (store.User, error) {
	return s.createUser(ctx, username, name, role, password, serviceAccount, !serviceAccount)
}

func (s *Service) createUser(ctx context.Context, username, name string, role Role, password string, serviceAccount, mustChange bool) (store.User, error) {
	un, err := CheckUsername(username)
	if err != nil {
		return store.User{}, err
	}
	if _, err := ParseRole(string(role)); err != nil {
		return store.User{}, err
	}
	dn, err := CheckDisplayName(name)
	if err != nil {
		return store.User{}, err
	}
	u := store.User{Username: un, Name: dn, Role: string(role), ServiceAccount: serviceAccount, MustChangePassword: mustChange}
	if !serviceAccount {
		if err := CheckPasswordPolicy(password); err != nil {
			return store.User{}, err
		}
		if u.PasswordHash, err = HashPassword(password); err != nil {
			return store.User{}, err
		}
	}
	now := s.clk.Now()
	u.CreatedAt, u.UpdatedAt = now, now
	out, err := s.st.CreateUser(ctx, u)
	if errors.Is(err, store.ErrConflict) {
		return store.User{}, fmt.Errorf("%w: user name %q is taken", store.ErrConflict, un)
	}
	return out, err
}

// ChangePassword changes a user's own password: it checks the current one (a wrong one gives an
// error wrapping ErrInvalid), applies the policy and clears MustChangePassword. It ends all of the
// user's console sessions, the current one included (the store cannot tell them apart); the console
// signs the person in again with the new password. API tokens are left alone.
func (s *Service) ChangePassword(ctx context.Context, userID int64, oldPassword, newPassword string) error {
	u, err := s.st.GetUser(ctx, userID)
	if err != nil {
		return err
	}
	if u.Provider != "" {
		return fmt.Errorf("%w: you sign in through identity provider %s and have no password here", ErrInvalid, u.Provider)
	}
	if u.ServiceAccount || u.PasswordHash == "" {
		return fmt.Errorf("%w: service accounts have no password", ErrInvalid)
	}
	ok, err := VerifyPassword(u.PasswordHash, oldPassword)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: the current password is wrong", ErrInvalid)
	}
	if oldPassword == newPassword {
		return fmt.Errorf("%w: the new password must differ from the current one", ErrInvalid)
	}
	return s.setPassword(ctx, u, newPassword, false)
}

// SetPassword is an admin's reset of a user's password: the policy applies, the user must change it
// at the next sign-in, and the user's sessions end.
func (s *Service) SetPassword(ctx context.Context, userID int64, newPassword string) error {
	u, err := s.st.GetUser(ctx, userID)
	if err != nil {
		return err
	}
	if u.ServiceAccount {
		return fmt.Errorf("%w: service accounts have no password", ErrInvalid)
	}
	if u.Provider != "" {
		return fmt.Errorf("%w: this user signs in through identity provider %s and has no password here", ErrInvalid, u.Provider)
	}
	return s.setPassword(ctx, u, newPassword, true)
}

func (s *Service) setPassword(ctx context.Context, u store.User, pw string, mustChange bool) error {
	if err := CheckPasswordPolicy(pw); err != nil {
		return err
	}
	h, err := HashPassword(pw)
	if err != nil {
		return err
	}
	u.PasswordHash, u.MustChangePassword, u.UpdatedAt = h, mustChange, s.clk.Now()
	err = s.st.InTx(ctx, func(q store.Queries) error {
		if _, err := q.UpdateUser(ctx, u); err != nil {
			return err
		}
		return q.DeleteUserSessions(ctx, u.ID)
	})
	if err != nil {
		return fmt.Errorf("auth: set password of user %d: %w", u.ID, err)
	}
	s.throttle.clearUser(u.Username)
	return nil
}

// Unlock ends a user's sign-in lockout (failures counted by this node) without changing the
// password.
func (s *Service) Unlock(username string) { s.throttle.clearUser(username) }

// CreateToken creates an API token for the user and returns the stored row and the token, which is
// shown once and never stored. ttl 0 means the token never expires. The name is trimmed; "" means "token".
// Scopes, when given, limit the token to those parts of the API (see Scope); they never widen what
// the user's role allows.
func (s *Service) CreateToken(ctx context.Context, userID int64, name string, ttl time.Duration, scopes ...string) (store.Token, string, error) {
	if ttl < 0 {
		return store.Token{}, "", fmt.Errorf("%w: a token's lifetime cannot be negative", ErrInvalid)
	}
	scopes, err := normalizeScopes(scopes)
	if err != nil {
		return store.Token{}, "", err
	}
	if _, err := s.st.GetUser(ctx, userID); err != nil {
		return store.Token{}, "", err
	}
	plain, prefix, hash := NewToken()
	t, err := s.createToken(ctx, userID, name, ttl, prefix, hash, scopes)
	if err != nil {
		return store.Token{}, "", err
	}
	return t, plain, nil
}

func (s *Service) createToken(ctx context.Context, userID int64, name string, ttl time.Duration, prefix string, hash []byte, scopes []string) (store.Token, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		name = "token"
	}
	if utf8.RuneCountInString(name) > 200 {
		return store.Token{}, fmt.Errorf("%w: a token name has at most 200 characters", ErrInvalid)
	}
	now := s.clk.Now()
	t := store.Token{UserID: userID, Name: name, Prefix: prefix, Hash: hash, CreatedAt: now, Scopes: scopes}
	if ttl > 0 {
		t.ExpiresAt = now.Add(ttl)
	}
	return s.st.CreateToken(ctx, t)
}

// RevokeToken revokes an API token now.
func (s *Service) RevokeToken(ctx context.Context, id int64) error {
	if err := s.st.RevokeToken(ctx, id, s.clk.Now()); err != nil {
		return err
	}
	s.mu.Lock()
	delete(s.touched, id)
	s.mu.Unlock()
	return nil
}

// Bootstrap is what the first start created. The caller prints Password and Token once.
type Bootstrap struct {
	Created  bool   // false when users already existed: nothing was created, nothing to print
	Username string // the first admin
	Password string // the first admin's generated console password (must be changed at first sign-in)
	Token    string // the generated API token; "" when it is TELLTALE_BOOTSTRAP_TOKEN (not echoed)
}

// Bootstrap creates the first admin when there are no users yet: user "admin" with a generated
// 20-character password that must be changed at the first sign-in, and an API token, stored
// hashed: bootstrapToken (TELLTALE_BOOTSTRAP_TOKEN) when set, else a generated one.
//
// bootstrapToken, when set, must have at least MinBootstrapTokenLen characters, on every start.
// With users present Bootstrap creates nothing, so restarting with the same bootstrapToken
// succeeds; if bootstrapToken is not a stored token then, it is ignored with a warning. Two nodes
// bootstrapping one database at once create one admin.
func (s *Service) Bootstrap(ctx context.Context, bootstrapToken string) (Bootstrap, error) {
	bootstrapToken = strings.TrimSpace(bootstrapToken)
	if bootstrapToken != "" && utf8.RuneCountInString(bootstrapToken) < MinBootstrapTokenLen {
		return Bootstrap{}, fmt.Errorf("%w: TELLTALE_BOOTSTRAP_TOKEN has %d characters; it must have at least %d (for example the output of `openssl rand -hex 32`)",
			ErrInvalid, utf8.RuneCountInString(bootstrapToken), MinBootstrapTokenLen)
	}
	n, err := s.st.CountUsers(ctx)
	if err != nil {
		return Bootstrap{}, fmt.Errorf("auth: bootstrap: %w", err)
	}
	if n > 0 {
		if bootstrapToken != "" {
			if _, err := s.st.GetTokenByHash(ctx, HashToken(bootstrapToken)); errors.Is(err, store.ErrNotFound) {
				s.log.Warn("auth: TELLTALE_BOOTSTRAP_TOKEN is set but users exist and it is not one of their tokens; it is ignored (unset it, or create tokens with `telltale tokens create`)")
			} else if err != nil {
				return Bootstrap{}, fmt.Errorf("auth: bootstrap: %w", err)
			}
		}
		return Bootstrap{}, nil
	}
	pw := randomPassword(20)
	h, err := HashPassword(pw)
	if err != nil {
		return Bootstrap{}, err
	}
	b := Bootstrap{Created: true, Username: "admin", Password: pw}
	err = s.st.InTx(ctx, func(q store.Queries) error {
		now := s.clk.Now()
		u, err := q.CreateUser(ctx, store.User{Username: b.Username, Name: "Administrator", Role: string(RoleAdmin),
			PasswordHash: h, MustChangePassword: true, CreatedAt: now, UpdatedAt: now})
		if err != nil {
			return err
		}
		plain, prefix, hash := bootstrapToken, tokenPrefix(bootstrapToken), HashToken(bootstrapToken)
		if plain == "" {
			plain, prefix, hash = NewToken()
			b.Token = plain
		}
		_, err = q.CreateToken(ctx, store.Token{UserID: u.ID, Name: "bootstrap", Prefix: prefix, Hash: hash, CreatedAt: now})
		return err
	})
	if errors.Is(err, store.ErrConflict) {
		// Another node bootstrapped at the same moment.
		return Bootstrap{}, nil
	}
	if err != nil {
		return Bootstrap{}, fmt.Errorf("auth: bootstrap: %w", err)
	}
	s.log.Info("auth: created the first admin user", "username", b.Username, "token_from_env", bootstrapToken != "")
	return b, nil
}
