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
	"regexp"
	"slices"
	"strings"
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
	// Scopes limit an API token to parts of the API (R7.6); none: everything Role allows.
	Scopes []string
}

// Scope names a part of the API a token may be limited to: an API area (the OpenAPI tag of its
// routes, e.g. "file-events", "watchlists") and an access, "read" (GET, and POSTs that change
// nothing such as a search or an export) or "write" (which includes read).
func Scope(area string, write bool) string {
	if write {
		return area + ":write"
	}
	return area + ":read"
}

// Allows reports whether the principal's scopes admit a call to area (a principal without scopes:
// always). A write scope admits reads of its area too.
func (p Principal) Allows(area string, write bool) bool {
	if len(p.Scopes) == 0 {
		return true
	}
	for _, s := range p.Scopes {
		if s == Scope(area, true) || (!write && s == Scope(area, false)) {
			return true
		}
	}
	return false
}

// scopeSyntax is an area of lower-case letters and hyphens, a colon, and read or write.
var scopeSyntax = regexp.MustCompile(`^[a-z][a-z-]{0,40}:(read|write)$`)

// normalizeScopes checks the scopes' form and returns them sorted without repeats.
func normalizeScopes(in []string) ([]string, error) {
	if len(in) > 64 {
		return nil, fmt.Errorf("%w: a token takes at most 64 scopes, got %d", ErrInvalid, len(in))
	}
	out := make([]string, 0, len(in))
	for _, s := range in {
		s = strings.TrimSpace(s)
		if !scopeSyntax.MatchString(s) {
			return nil, fmt.Errorf("%w: scope %q is not of the form area:read or area:write (e.g. file-events:read)", ErrInvalid, s)
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}
