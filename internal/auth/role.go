// Package auth authenticates API tokens and console sessions, hashes passwords with argon2id,
// manages local users (people and service accounts, R7.6, R9.2), and decides which role may do what.
//
// Every route declares the least role it needs: read-only, analyst or admin. Role.Satisfies
// answers whether a principal's role is enough; integration (service accounts used by scripts and
// integrations) counts as analyst, never as admin:
//
//	role \ need    read-only  analyst  admin
//	read-only      yes        no       no
//	analyst        yes        yes      no
//	integration    yes        yes      no
//	admin          yes        yes      yes
//
// Unknown roles satisfy nothing and are satisfied by nothing. Passwords, tokens, session cookies
// and their hashes are never logged.
package auth

import (
	"errors"
	"fmt"
)

// Role is a user's role.
type Role string

// The roles.
const (
	RoleAdmin       Role = "admin"
	RoleAnalyst     Role = "analyst"
	RoleReadOnly    Role = "read-only"
	RoleIntegration Role = "integration"
)

// Sentinel errors. Callers branch with errors.Is.
var (
	// ErrUnauthenticated: missing, unknown, expired or revoked credentials.
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrForbidden: authenticated, but the role is not enough.
	ErrForbidden = errors.New("forbidden")
	// ErrInvalid: an input failed validation (user name, password policy, token name, role).
	ErrInvalid = errors.New("invalid")
)

var roles = []Role{RoleAdmin, RoleAnalyst, RoleReadOnly, RoleIntegration}

// ParseRole returns the role named s, or an error wrapping ErrInvalid that lists the valid roles.
func ParseRole(s string) (Role, error) {
	for _, r := range roles {
		if string(r) == s {
			return r, nil
		}
	}
	return "", fmt.Errorf("%w: unknown role %q; valid roles are admin, analyst, read-only, integration", ErrInvalid, s)
}

func (r Role) rank() int {
	switch r {
	case RoleReadOnly:
		return 1
	case RoleAnalyst, RoleIntegration:
		return 2
	case RoleAdmin:
		return 3
	}
	return 0
}

// Satisfies reports whether a principal with role r may use something that needs the role need.
// See the package documentation for the table.
func (r Role) Satisfies(need Role) bool {
	have, want := r.rank(), need.rank()
	return have > 0 && want > 0 && have >= want
}

// Principal is who made a request.
type Principal struct {
	UserID      int64
	Username    string
	Role        Role
	TokenID     int64  // the API token used; 0 for sessions
	SessionCSRF string // the session's CSRF token; "" for API tokens
	Via         string // "token" or "session"
	Provider    string // the identity provider the person signed in through; "" for local users
	// MustChangePassword: a session of a user whose password was generated or reset; the API
	// refuses it everything but reading who it is and changing the password.
	MustChangePassword bool
	// MustEnrollTOTP: a session of a local admin without TOTP while the sign-in policy requires
	// it; the console sends it to the TOTP set-up and the API refuses it everything else.
	MustEnrollTOTP bool
}
