package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/internal/store"
)

// DefaultSSOSessionTTL is how long a session opened through an identity provider lasts: a person
// the provider no longer maps to a role loses the console within it.
const DefaultSSOSessionTTL = 8 * time.Hour

// External is a person an identity provider vouched for, with the role their groups map to.
type External struct {
	Provider     string // the provider's id, stored on the user
	ProviderName string // for messages
	Subject      string
	Username     string
	Email        string
	Name         string
	Groups       []string
	Role         Role   // "" when no group maps to a role
	RoleGroup    string // the group that gave Role
	// MappedGroups are the groups the provider's mapping knows, for the refusal message.
	MappedGroups []string
}

// RefusedError is a sign-in through an identity provider that Telltale refused; Message is for
// the person. It wraps ErrUnauthenticated.
type RefusedError struct{ Message string }

func (e *RefusedError) Error() string { return "refused: " + e.Message }
func (e *RefusedError) Unwrap() error { return ErrUnauthenticated }

// LoginExternal signs in a person an identity provider vouched for and opens a console session
// that lasts ttl (0: DefaultSSOSessionTTL). The role comes from the groups at every sign-in: the
// first sign-in creates the user (just in time) marked with the provider; later ones update the
// role, the display name and the last sign-in. No mapped group refuses the sign-in, ends the
// person's sessions and names the missing mapping; a disabled user is refused. Every sign-in,
// refusal and role change is in the audit log with the provider, the subject and the reason.
func (s *Service) LoginExternal(ctx context.Context, x External, clientAddr string, ttl time.Duration) (Principal, string, error) {
	if ttl <= 0 {
		ttl = DefaultSSOSessionTTL
	}
	now := s.clk.Now()
	details := map[string]any{"provider": x.Provider, "subject": x.Subject, "groups": x.Groups}
	refuse := func(u store.User, reason, msg string) (Principal, string, error) {
		details["reason"] = reason
		s.log.Info("auth: sign-in through an identity provider refused", "provider", x.Provider, "subject", x.Subject, "reason", reason)
		s.audit(ctx, "session.create", u, "session", clientAddr, http.StatusUnauthorized, details)
		return Principal{}, "", &RefusedError{Message: msg}
	}
	u, err := s.st.GetUserBySubject(ctx, x.Provider, x.Subject)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return Principal{}, "", fmt.Errorf("auth: sign in through %s: %w", x.Provider, err)
	}
	known := err == nil
	if x.Role == "" {
		reason := "no group maps to a role"
		if known {
			// Their groups changed: the person loses access now, everywhere.
			if err := s.st.DeleteUserSessions(ctx, u.ID); err != nil {
				return Principal{}, "", fmt.Errorf("auth: sign in through %s: %w", x.Provider, err)
			}
			reason += "; the user's sessions were ended"
		}
		groups := "no groups"
		if len(x.Groups) > 0 {
			groups = "the groups " + quoteList(x.Groups)
		}
		return refuse(u, reason, fmt.Sprintf("%s says you are in %s, and none of them is mapped to a Telltale role. An admin must map one of your groups to admin, analyst or read-only in the \"groups\" of provider %q (mapped now: %s).",
			x.ProviderName, groups, x.Provider, orNone(x.MappedGroups)))
	}
	source := "group:" + x.RoleGroup
	if !known {
		un, err := CheckUsername(x.Username)
		if err != nil {
			return refuse(u, "the user name claim is not a valid user name: "+err.Error(),
				fmt.Sprintf("%s sent the user name %q, which Telltale cannot use (%s). An admin can choose another claim for the user name.", x.ProviderName, x.Username, strings.TrimPrefix(err.Error(), ErrInvalid.Error()+": ")))
		}
		name, err := CheckDisplayName(x.Name)
		if err != nil {
			name = ""
		}
		u, err = s.st.CreateUser(ctx, store.User{Username: un, Name: name, Role: string(x.Role), Provider: x.Provider, Subject: x.Subject,
			RoleSource: source, LastSignInAt: now, CreatedAt: now, UpdatedAt: now})
		if errors.Is(err, store.ErrConflict) {
			// Never take over another account by its name: a local admin "alice" is not the
			// provider's "alice".
			return refuse(store.User{}, "the user name is taken by another account",
				fmt.Sprintf("The user name %q belongs to another Telltale account (a local one or another provider's); an admin must rename or remove it.", un))
		}
		if err != nil {
			return Principal{}, "", fmt.Errorf("auth: sign in through %s: %w", x.Provider, err)
		}
		s.audit(ctx, "user.create", u, "user/"+strconv.FormatInt(u.ID, 10), clientAddr, http.StatusOK,
			map[string]any{"provider": x.Provider, "subject": x.Subject, "role": u.Role, "role_source": source, "reason": "first sign-in (just in time)"})
	} else {
		if u.Disabled {
			return refuse(u, "user disabled", "An admin disabled your Telltale account.")
		}
		if Role(u.Role) != x.Role || u.RoleSource != source {
			s.audit(ctx, "user.role.change", u, "user/"+strconv.FormatInt(u.ID, 10), clientAddr, http.StatusOK,
				map[string]any{"provider": x.Provider, "subject": x.Subject, "from": u.Role, "to": x.Role, "from_source": u.RoleSource, "role_source": source,
					"reason": "groups at sign-in: " + strings.Join(x.Groups, ", ")})
		}
		u.Role, u.RoleSource, u.LastSignInAt = string(x.Role), source, now
		if name, err := CheckDisplayName(x.Name); err == nil && name != "" {
			u.Name = name
		}
		if u, err = s.st.UpdateUser(ctx, u); err != nil {
			return Principal{}, "", fmt.Errorf("auth: sign in through %s: %w", x.Provider, err)
		}
	}
	if _, err := s.st.DeleteExpiredSessions(ctx, now); err != nil {
		s.log.Warn("auth: deleting expired sessions failed", "err", err)
	}
	cookie := randomURL(32)
	sess := store.Session{Hash: HashToken(cookie), UserID: u.ID, CSRF: randomURL(32), CreatedAt: now, ExpiresAt: now.Add(ttl)}
	if err := s.st.CreateSession(ctx, sess); err != nil {
		return Principal{}, "", fmt.Errorf("auth: sign in: %w", err)
	}
	details["role"], details["role_source"] = u.Role, source
	if err := s.audit(ctx, "session.create", u, "session", clientAddr, http.StatusOK, details); err != nil {
		s.st.DeleteSession(ctx, sess.Hash)
		return Principal{}, "", fmt.Errorf("auth: sign in: audit: %w", err)
	}
	return Principal{UserID: u.ID, Username: u.Username, Role: Role(u.Role), SessionCSRF: sess.CSRF, Via: "session", Provider: u.Provider}, cookie, nil
}

// audit appends an audit entry with details.
func (s *Service) audit(ctx context.Context, action string, u store.User, target, clientAddr string, status int, details map[string]any) error {
	e := store.AuditEntry{At: s.clk.Now(), Actor: u.Username, ActorID: u.ID, Action: action, Target: target, ClientIP: clientAddr, Outcome: "ok"}
	if e.Actor == "" {
		e.Actor = "anonymous"
	}
	if status >= 400 {
		e.Outcome = fmt.Sprintf("%d %s", status, http.StatusText(status))
	}
	e.Details, _ = json.Marshal(details)
	_, err := s.st.AppendAudit(context.WithoutCancel(ctx), e)
	if err != nil {
		s.log.Error("auth: writing the audit entry failed", "action", action, "err", err)
	}
	return err
}

// RefuseExternal records a sign-in through an identity provider that failed before Telltale knew
// who it was (a bad token, a replayed state, a provider that is down).
func (s *Service) RefuseExternal(ctx context.Context, provider, subject, clientAddr, reason string) {
	s.audit(ctx, "session.create", store.User{}, "session", clientAddr, http.StatusUnauthorized,
		map[string]any{"provider": provider, "subject": subject, "reason": reason})
}

func quoteList(a []string) string {
	q := make([]string, len(a))
	for i, s := range a {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}

func orNone(a []string) string {
	if len(a) == 0 {
		return "none"
	}
	return quoteList(slices.Sorted(slices.Values(a)))
}
