// Package auth authenticates API tokens and console sessions, hashes passwords with argon2id, and
// decides which role may do what.
//
// Roles are ranked; a route names the least role it needs and Role.Satisfies answers whether a
// principal's role is enough:
//
//	role         rank  satisfies
//	read-only    1     read-only
//	analyst      2     read-only, analyst
//	integration  2     read-only, analyst (a service account acting as an analyst)
//	admin        3     read-only, analyst, admin
//
// Needing integration is needing rank 2 (analyst, integration and admin satisfy it). Unknown roles
// satisfy nothing and are satisfied by nothing. Passwords, tokens and their hashes are never logged.
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
}
