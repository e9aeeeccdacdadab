package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/telltale-dev/telltale/internal/store"
)

// A second factor for local accounts: TOTP (RFC 6238: 6 digits, 30-second steps, HMAC-SHA1, as
// every authenticator app makes them) with ten one-time recovery codes, and the sign-in policy
// an admin sets: TOTP required of admins, password sign-in turned off for people once SSO works.

const (
	totpPeriod    = 30
	totpSkew      = 1 // steps either side of now, for clocks a little off
	recoveryCount = 10
	// mfaTicketTTL is how long a person has to type the code after the password.
	mfaTicketTTL = 5 * time.Minute
	// mfaTries is how many wrong codes a ticket takes before it is void.
	mfaTries = 5
)

// ErrPasswordSignInOff refuses a password sign-in while the sign-in policy turned it off. It
// wraps ErrUnauthenticated.
var ErrPasswordSignInOff = fmt.Errorf("%w: password sign-in is turned off: sign in through your identity provider", ErrUnauthenticated)

// ErrMFA is a wrong, used or expired second-factor code. It wraps ErrUnauthenticated.
var ErrMFA = fmt.Errorf("%w: wrong or used code", ErrUnauthenticated)

// MFARequiredError is a password sign-in that was right and now needs the second factor: the
// person types a code, given back with Ticket to LoginMFA.
type MFARequiredError struct{ Ticket string }

func (e *MFARequiredError) Error() string { return "auth: the second factor is required" }

// PolicyError is a change of the sign-in policy that was refused; Message says why and what to do.
type PolicyError struct{ Message string }

func (e *PolicyError) Error() string { return "auth: sign-in policy: " + e.Message }

type mfaTicket struct {
	userID  int64
	typed   string // the user name as typed, the throttle's key
	addr    string
	expires time.Time
	tries   int
}

// SignInPolicy is the organization's sign-in policy, kept in the settings.
type SignInPolicy struct {
	// AdminTOTPRequired makes every local admin set up TOTP: until they have, their console
	// session reaches only the set-up page.
	AdminTOTPRequired bool `json:"admin_totp_required"`
	// PasswordSignInOff refuses password sign-in to every local person but BreakGlass: people
	// sign in through the identity provider; service accounts keep their API tokens.
	PasswordSignInOff bool `json:"password_sign_in_off"`
	// BreakGlass is the one local admin who keeps a password when PasswordSignInOff is set.
	BreakGlass string `json:"break_glass,omitempty"`
}

const policyKey = "sign_in_policy"

// Policy returns the sign-in policy (the zero policy when none was set).
func (s *Service) Policy(ctx context.Context) (SignInPolicy, error) {
	var p SignInPolicy
	b, err := s.st.GetSetting(ctx, policyKey)
	if errors.Is(err, store.ErrNotFound) {
		return p, nil
	}
	if err != nil {
		return p, fmt.Errorf("auth: sign-in policy: %w", err)
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("auth: sign-in policy: %w", err)
	}
	return p, nil
}

// SetPolicy replaces the sign-in policy and returns the old one and the one saved. Turning
// password sign-in off needs a break-glass account that is a local, enabled admin with a
// password, and at least one admin who has signed in through an identity provider (so SSO is
// known to work); a refusal is a *PolicyError. The API audits the change.
func (s *Service) SetPolicy(ctx context.Context, p SignInPolicy) (old, saved SignInPolicy, err error) {
	p.BreakGlass = strings.TrimSpace(p.BreakGlass)
	if old, err = s.Policy(ctx); err != nil {
		return old, saved, err
	}
	if p.PasswordSignInOff {
		if p.BreakGlass == "" {
			return old, saved, &PolicyError{"name the break-glass admin who keeps a password, so that someone can sign in when the identity provider is down"}
		}
		bg, err := s.st.GetUserByUsername(ctx, p.BreakGlass)
		if errors.Is(err, store.ErrNotFound) {
			return old, saved, &PolicyError{fmt.Sprintf("there is no user %q to keep as the break-glass admin", p.BreakGlass)}
		}
		if err != nil {
			return old, saved, fmt.Errorf("auth: sign-in policy: %w", err)
		}
		if bg.Role != string(RoleAdmin) || bg.Provider != "" || bg.ServiceAccount || bg.Disabled || bg.PasswordHash == "" {
			return old, saved, &PolicyError{fmt.Sprintf("the break-glass account %q must be an enabled local admin with a password", bg.Username)}
		}
		p.BreakGlass = bg.Username
		users, err := s.st.ListUsers(ctx)
		if err != nil {
			return old, saved, fmt.Errorf("auth: sign-in policy: %w", err)
		}
		ssoWorks := false
		for _, u := range users {
			if u.Provider != "" && u.Role == string(RoleAdmin) && !u.Disabled && !u.LastSignInAt.IsZero() {
				ssoWorks = true
			}
		}
		if !ssoWorks {
			return old, saved, &PolicyError{"no admin has signed in through an identity provider yet: make sure single sign-on works (an admin's group mapped to admin) before turning password sign-in off"}
		}
	}
	b, _ := json.Marshal(p)
	if err := s.st.PutSetting(ctx, policyKey, b); err != nil {
		return old, saved, fmt.Errorf("auth: sign-in policy: %w", err)
	}
	return old, p, nil
}

// TOTPStatus says whether a user has TOTP enabled and how many recovery codes are left.
func (s *Service) TOTPStatus(ctx context.Context, userID int64) (enabled bool, recoveryLeft int, err error) {
	t, err := s.st.GetUserTOTP(ctx, userID)
	if errors.Is(err, store.ErrNotFound) {
		return false, 0, nil
	}
	if err != nil || t.EnabledAt.IsZero() {
		return false, 0, err
	}
	n, err := s.st.CountRecoveryCodes(ctx, userID)
	return true, n, err
}

// BeginTOTP gives a local person a new TOTP secret, not yet in force: it returns the secret (base
// 32, to type) and the otpauth:// URL (for a QR code). Any earlier secret and recovery codes
// are gone, so it is audited (user.totp.begin, saying whether TOTP was on). The secret is stored
// sealed with the server's key.
func (s *Service) BeginTOTP(ctx context.Context, userID int64, clientAddr string) (secret, url string, err error) {
	if s.keys == nil {
		return "", "", errors.New("auth: TOTP needs the server's key (Options.Keyring)")
	}
	u, err := s.st.GetUser(ctx, userID)
	if err != nil {
		return "", "", fmt.Errorf("auth: begin totp: %w", err)
	}
	if u.Provider != "" || u.ServiceAccount {
		return "", "", fmt.Errorf("%w: only local people sign in with a password and TOTP; people of an identity provider use its second factor", ErrInvalid)
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: "Telltale", AccountName: u.Username, Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return "", "", fmt.Errorf("auth: begin totp: %w", err)
	}
	sealed, err := s.keys.Seal([]byte(key.Secret()))
	if err != nil {
		return "", "", fmt.Errorf("auth: begin totp: %w", err)
	}
	wasOn, _, err := s.TOTPStatus(ctx, userID)
	if err != nil {
		return "", "", fmt.Errorf("auth: begin totp: %w", err)
	}
	if err := s.st.PutUserTOTP(ctx, store.UserTOTP{UserID: userID, Secret: sealed}); err != nil {
		return "", "", fmt.Errorf("auth: begin totp: %w", err)
	}
	s.audit(ctx, "user.totp.begin", u, "user/"+strconv.FormatInt(userID, 10), clientAddr, http.StatusOK, map[string]any{"was_on": wasOn})
	return key.Secret(), key.URL(), nil
}

// ConfirmTOTP puts a user's new TOTP secret in force once they typed a code it makes, and returns
// the recovery codes, shown once (only their hashes are kept). Audited as user.totp.enable.
func (s *Service) ConfirmTOTP(ctx context.Context, userID int64, code, clientAddr string) ([]string, error) {
	t, err := s.st.GetUserTOTP(ctx, userID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: start the TOTP set-up first", ErrInvalid)
	}
	if err != nil {
		return nil, fmt.Errorf("auth: confirm totp: %w", err)
	}
	if !t.EnabledAt.IsZero() {
		return nil, fmt.Errorf("%w: TOTP is already on; start the set-up again to change the authenticator", ErrInvalid)
	}
	step, err := s.matchTOTP(t, code)
	if err != nil {
		return nil, err
	}
	codes := make([]string, recoveryCount)
	hashes := make([][]byte, recoveryCount)
	for i := range codes {
		raw := strings.ToLower(randomPassword(10))
		codes[i] = raw[:5] + "-" + raw[5:]
		hashes[i] = recoveryHash(codes[i])
	}
	now := s.clk.Now()
	if err := s.st.EnableUserTOTP(ctx, userID, now, hashes); err != nil {
		return nil, fmt.Errorf("auth: confirm totp: %w", err)
	}
	_ = s.st.UseTOTPStep(ctx, userID, step)
	u, _ := s.st.GetUser(ctx, userID)
	s.audit(ctx, "user.totp.enable", u, "user/"+strconv.FormatInt(userID, 10), clientAddr, http.StatusOK, map[string]any{"recovery_codes": recoveryCount})
	return codes, nil
}

// DisableTOTP removes a user's TOTP and recovery codes: by themselves, or by an admin for someone
// who lost their authenticator and codes. Audited as user.totp.disable.
func (s *Service) DisableTOTP(ctx context.Context, by Principal, userID int64, clientAddr string) error {
	if by.UserID != userID && by.Role != RoleAdmin {
		return fmt.Errorf("%w: only an admin can turn off another person's TOTP", ErrForbidden)
	}
	u, err := s.st.GetUser(ctx, userID)
	if err != nil {
		return fmt.Errorf("auth: disable totp: %w", err)
	}
	if err := s.st.DeleteUserTOTP(ctx, userID); err != nil {
		return fmt.Errorf("auth: disable totp: %w", err)
	}
	return s.audit(ctx, "user.totp.disable", store.User{ID: by.UserID, Username: by.Username}, "user/"+strconv.FormatInt(userID, 10), clientAddr, http.StatusOK,
		map[string]any{"user": u.Username})
}

// LoginMFA finishes a password sign-in that answered *MFARequiredError: code is a TOTP code or
// an unused recovery code. A ticket is good for five minutes, from the same address, and five
// tries; each TOTP code and each recovery code is accepted once; a wrong code counts as a failed
// sign-in for the throttle, so that new tickets do not buy more guesses. The session and every
// refusal are audited as session.create.
func (s *Service) LoginMFA(ctx context.Context, ticket, code, clientAddr string) (Principal, string, error) {
	now := s.clk.Now()
	key := string(HashToken(ticket))
	s.mu.Lock()
	tk := s.tickets[key]
	if tk != nil && (now.After(tk.expires) || tk.addr != clientAddr || tk.tries >= mfaTries) {
		delete(s.tickets, key)
		tk = nil
	}
	if tk != nil {
		tk.tries++
	}
	s.mu.Unlock()
	if tk == nil {
		s.auditSignIn(ctx, store.User{}, clientAddr, http.StatusUnauthorized, "second factor: unknown, expired or spent sign-in ticket")
		return Principal{}, "", fmt.Errorf("%w: the sign-in took too long or had too many wrong codes: start again", ErrUnauthenticated)
	}
	u, err := s.st.GetUser(ctx, tk.userID)
	if err != nil {
		return Principal{}, "", notFoundIsUnauth(err)
	}
	if reason := refusal(true, u); reason != "" { // disabled since the password step
		s.auditSignIn(ctx, u, clientAddr, http.StatusUnauthorized, reason)
		return Principal{}, "", ErrUnauthenticated
	}
	t, err := s.st.GetUserTOTP(ctx, u.ID)
	if err != nil {
		return Principal{}, "", notFoundIsUnauth(err)
	}
	if t.EnabledAt.IsZero() { // reset or being set up anew since the password step
		return Principal{}, "", fmt.Errorf("%w: two-factor sign-in changed meanwhile: start again", ErrUnauthenticated)
	}
	how := "totp"
	if step, err := s.matchTOTP(t, code); err == nil {
		if err := s.st.UseTOTPStep(ctx, u.ID, step); err != nil {
			s.throttle.failed(tk.typed, clientAddr, now)
			s.auditSignIn(ctx, u, clientAddr, http.StatusUnauthorized, "second factor: TOTP code already used")
			return Principal{}, "", ErrMFA
		}
	} else {
		how = "recovery code"
		if err := s.st.UseRecoveryCode(ctx, u.ID, recoveryHash(code), now); err != nil {
			s.throttle.failed(tk.typed, clientAddr, now)
			s.auditSignIn(ctx, u, clientAddr, http.StatusUnauthorized, "second factor: wrong or used code")
			return Principal{}, "", ErrMFA
		}
	}
	s.mu.Lock()
	delete(s.tickets, key)
	s.mu.Unlock()
	s.throttle.succeeded(tk.typed, clientAddr)
	return s.openSession(ctx, u, clientAddr, "password and "+how)
}

// matchTOTP checks code against t's secret at now ± the skew and returns the step it is of.
func (s *Service) matchTOTP(t store.UserTOTP, code string) (int64, error) {
	code = strings.ReplaceAll(strings.TrimSpace(code), " ", "")
	if len(code) != 6 {
		return 0, ErrMFA
	}
	plain, err := s.keys.Open(t.Secret)
	if err != nil {
		return 0, fmt.Errorf("auth: totp secret: %w", err)
	}
	now := s.clk.Now()
	for d := -totpSkew; d <= totpSkew; d++ {
		at := now.Add(time.Duration(d*totpPeriod) * time.Second)
		want, err := totp.GenerateCodeCustom(string(plain), at, totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err == nil && subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return at.Unix() / totpPeriod, nil
		}
	}
	return 0, ErrMFA
}

func recoveryHash(code string) []byte {
	h := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(code))))
	return h[:]
}

// newTicket starts the second step of a sign-in.
func (s *Service) newTicket(u store.User, typed, clientAddr string) *MFARequiredError {
	t := randomURL(32)
	now := s.clk.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, v := range s.tickets {
		if now.After(v.expires) {
			delete(s.tickets, k)
		}
	}
	s.tickets[string(HashToken(t))] = &mfaTicket{userID: u.ID, typed: typed, addr: clientAddr, expires: now.Add(mfaTicketTTL)}
	return &MFARequiredError{Ticket: t}
}

// mustEnrollTOTP says whether a session of u reaches only the TOTP set-up: a local admin
// without TOTP while the policy requires it.
func (s *Service) mustEnrollTOTP(ctx context.Context, u store.User) bool {
	if u.Provider != "" || u.Role != string(RoleAdmin) {
		return false
	}
	p, err := s.Policy(ctx)
	if err != nil || !p.AdminTOTPRequired {
		return false
	}
	on, _, err := s.TOTPStatus(ctx, u.ID)
	return err == nil && !on
}
