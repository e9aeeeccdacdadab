package api

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/auth"
	"github.com/telltale-dev/telltale/internal/store"
)

func (s *Server) userRoutes() []Route {
	const tag = "users"
	list := struct {
		Items []client.User `json:"items"`
	}{}
	tokens := struct {
		Items []client.Token `json:"items"`
	}{}
	return []Route{
		{Method: "GET", Path: "/api/v1/me", Need: auth.RoleReadOnly, Tag: tag, Summary: "Who am I", Out: client.Me{}, Handle: s.me},
		{Method: "POST", Path: "/api/v1/me/password", Need: auth.RoleReadOnly, Tag: tag, Audit: "user.password.change",
			Summary: "Change my password (signs out my other sessions)", In: client.PasswordChange{}, Handle: s.changeOwnPassword},
		{Method: "GET", Path: "/api/v1/users", Need: auth.RoleAdmin, Tag: tag, Summary: "List users and service accounts", Out: list, Handle: s.listUsers},
		{Method: "POST", Path: "/api/v1/users", Need: auth.RoleAdmin, Tag: tag, Audit: "user.create", Summary: "Add a user or service account",
			In: client.NewUser{}, Out: client.User{}, Handle: s.createUser},
		{Method: "GET", Path: "/api/v1/users/{id}", Need: auth.RoleAdmin, Tag: tag, Summary: "Get a user", Out: client.User{}, Handle: s.getUser},
		{Method: "PATCH", Path: "/api/v1/users/{id}", Need: auth.RoleAdmin, Tag: tag, Audit: "user.update", Summary: "Change a user's name, role or disabled flag",
			In: client.UserUpdate{}, Out: client.User{}, Handle: s.updateUser},
		{Method: "POST", Path: "/api/v1/users/{id}/password", Need: auth.RoleAdmin, Tag: tag, Audit: "user.password.reset",
			Summary: "Set a user's password; they must change it at next sign-in", In: client.PasswordChange{}, Handle: s.resetPassword},
		{Method: "GET", Path: "/api/v1/users/{id}/tokens", Need: auth.RoleAdmin, Tag: tag, Summary: "List a user's API tokens", Out: tokens, Handle: s.listUserTokens},
		{Method: "POST", Path: "/api/v1/users/{id}/tokens", Need: auth.RoleAdmin, Tag: tag, Audit: "token.create",
			Summary: "Create an API token for a user or service account; the token is shown once", In: client.NewToken{}, Out: client.CreatedToken{}, Handle: s.createUserToken},
		{Method: "GET", Path: "/api/v1/tokens", Need: auth.RoleReadOnly, Tag: tag, Summary: "List my API tokens", Out: tokens, Handle: s.listOwnTokens},
		{Method: "GET", Path: "/api/v1/token-scopes", Need: auth.RoleReadOnly, Tag: tag, Summary: "The scopes an API token can be limited to (R7.6)",
			Out: client.TokenScopes{}, Handle: func(*http.Request, auth.Principal) (any, error) {
				return client.TokenScopes{Items: s.tokenScopes()}, nil
			}},
		{Method: "POST", Path: "/api/v1/tokens", Need: auth.RoleReadOnly, Tag: tag, Audit: "token.create",
			Summary: "Create an API token for myself; the token is shown once", In: client.NewToken{}, Out: client.CreatedToken{}, Handle: s.createOwnToken},
		{Method: "DELETE", Path: "/api/v1/tokens/{id}", Need: auth.RoleReadOnly, Tag: tag, Audit: "token.revoke",
			Summary: "Revoke an API token (my own; admins: anyone's)", Handle: s.revokeToken},
	}
}

func userWire(u store.User) client.User {
	w := client.User{ID: strconv.FormatInt(u.ID, 10), Username: u.Username, Name: u.Name, Role: u.Role,
		ServiceAccount: u.ServiceAccount, Disabled: u.Disabled, MustChangePassword: u.MustChangePassword, CreatedAt: u.CreatedAt,
		Provider: u.Provider, Subject: u.Subject, RoleSource: u.RoleSource}
	if w.RoleSource == "" {
		w.RoleSource = "local"
	}
	if !u.LastSignInAt.IsZero() {
		t := u.LastSignInAt
		w.LastSignInAt = &t
	}
	return w
}

func tokenWire(t store.Token) client.Token {
	return client.Token{ID: strconv.FormatInt(t.ID, 10), UserID: strconv.FormatInt(t.UserID, 10), Name: t.Name, Prefix: t.Prefix,
		CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt, LastUsedAt: t.LastUsedAt, RevokedAt: t.RevokedAt, Scopes: t.Scopes}
}

// tokenScopes lists every scope a token can be limited to: read and write of each API area.
func (s *Server) tokenScopes() []string {
	seen := map[string]bool{}
	var out []string
	for _, rt := range s.routes() {
		if rt.Public != "" || rt.Tag == "" || seen[rt.Tag] {
			continue
		}
		seen[rt.Tag] = true
		out = append(out, auth.Scope(rt.Tag, false), auth.Scope(rt.Tag, true))
	}
	slices.Sort(out)
	return out
}

// checkScopes refuses a scope that names no API area, with the closest one.
func (s *Server) checkScopes(in []string) error {
	known := s.tokenScopes()
	for _, sc := range in {
		sc = strings.TrimSpace(sc)
		if slices.Contains(known, sc) {
			continue
		}
		best, bestD := "", 4
		for _, k := range known {
			if d := editDistance(sc, k); d < bestD {
				best, bestD = k, d
			}
		}
		hint := "GET /api/v1/token-scopes lists them"
		if best != "" {
			hint = fmt.Sprintf("did you mean %q? (GET /api/v1/token-scopes lists them)", best)
		}
		return invalidField("scopes", "%q is not a scope: want <area>:read or <area>:write for an API area; %s", sc, hint)
	}
	return nil
}

// editDistance is the Levenshtein distance of a and b (short strings: scope names).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

func (s *Server) me(r *http.Request, p auth.Principal) (any, error) {
	u, err := s.store.GetUser(r.Context(), p.UserID)
	if err != nil {
		return nil, err
	}
	return client.Me{User: userWire(u), Via: p.Via}, nil
}

func (s *Server) changeOwnPassword(r *http.Request, p auth.Principal) (any, error) {
	var in client.PasswordChange
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	return noContent{}, s.auth.ChangePassword(r.Context(), p.UserID, in.Current, in.New)
}

func (s *Server) listUsers(r *http.Request, _ auth.Principal) (any, error) {
	us, err := s.store.ListUsers(r.Context())
	if err != nil {
		return nil, err
	}
	items := make([]client.User, 0, len(us))
	for _, u := range us {
		items = append(items, userWire(u))
	}
	return struct {
		Items []client.User `json:"items"`
	}{items}, nil
}

func (s *Server) createUser(r *http.Request, _ auth.Principal) (any, error) {
	var in client.NewUser
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	role, err := auth.ParseRole(in.Role)
	if err != nil {
		return nil, invalidField("role", "%v", err)
	}
	if _, err := auth.CheckDisplayName(in.Name); err != nil {
		return nil, invalidField("name", "%v", strings.TrimPrefix(err.Error(), auth.ErrInvalid.Error()+": "))
	}
	u, err := s.auth.CreateUserByAdmin(r.Context(), in.Username, in.Name, role, in.Password, in.ServiceAccount)
	if err != nil {
		return nil, err
	}
	noteAudit(r, "user/"+strconv.FormatInt(u.ID, 10), map[string]any{"username": u.Username, "role": u.Role, "service_account": u.ServiceAccount})
	return created{userWire(u)}, nil
}

func (s *Server) userByPath(r *http.Request) (store.User, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return store.User{}, err
	}
	return s.store.GetUser(r.Context(), id)
}

func (s *Server) getUser(r *http.Request, _ auth.Principal) (any, error) {
	u, err := s.userByPath(r)
	if err != nil {
		return nil, err
	}
	return userWire(u), nil
}

func (s *Server) updateUser(r *http.Request, p auth.Principal) (any, error) {
	u, err := s.userByPath(r)
	if err != nil {
		return nil, err
	}
	var in client.UserUpdate
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	changes := map[string]any{}
	if in.Name != nil {
		n, err := auth.CheckDisplayName(*in.Name)
		if err != nil {
			return nil, invalidField("name", "%v", strings.TrimPrefix(err.Error(), auth.ErrInvalid.Error()+": "))
		}
		u.Name = n
		changes["name"] = u.Name
	}
	if in.Role != nil {
		role, err := auth.ParseRole(*in.Role)
		if err != nil {
			return nil, invalidField("role", "%v", err)
		}
		if u.ID == p.UserID && role != auth.RoleAdmin {
			return nil, invalidField("role", "you cannot lower your own role: ask another admin")
		}
		u.Role, u.RoleSource = string(role), "local"
		changes["role"] = u.Role
		if u.Provider != "" {
			changes["note"] = "the role of a person from identity provider " + u.Provider + " is mapped from their groups again at their next sign-in"
		}
	}
	if in.Disabled != nil {
		if u.ID == p.UserID && *in.Disabled {
			return nil, invalidField("disabled", "you cannot disable yourself: ask another admin")
		}
		u.Disabled = *in.Disabled
		changes["disabled"] = u.Disabled
	}
	noteAudit(r, "", changes)
	u, err = s.store.UpdateUser(r.Context(), u)
	if err != nil {
		return nil, err
	}
	if u.Disabled {
		if err := s.store.DeleteUserSessions(r.Context(), u.ID); err != nil {
			return nil, err
		}
	}
	return userWire(u), nil
}

func (s *Server) resetPassword(r *http.Request, _ auth.Principal) (any, error) {
	u, err := s.userByPath(r)
	if err != nil {
		return nil, err
	}
	var in client.PasswordChange
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	return noContent{}, s.auth.SetPassword(r.Context(), u.ID, in.New)
}

func (s *Server) tokenList(r *http.Request, userID int64) (any, error) {
	ts, err := s.store.ListTokens(r.Context(), userID)
	if err != nil {
		return nil, err
	}
	items := make([]client.Token, 0, len(ts))
	for _, t := range ts {
		items = append(items, tokenWire(t))
	}
	return struct {
		Items []client.Token `json:"items"`
	}{items}, nil
}

func (s *Server) listOwnTokens(r *http.Request, p auth.Principal) (any, error) {
	return s.tokenList(r, p.UserID)
}

func (s *Server) listUserTokens(r *http.Request, _ auth.Principal) (any, error) {
	u, err := s.userByPath(r)
	if err != nil {
		return nil, err
	}
	return s.tokenList(r, u.ID)
}

func (s *Server) newToken(r *http.Request, p auth.Principal, userID int64) (any, error) {
	var in client.NewToken
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	if in.ExpiresInDays < 0 || in.ExpiresInDays > 3650 {
		return nil, invalidField("expires_in_days", "want 0 (never) to 3650 days, got %d", in.ExpiresInDays)
	}
	if err := s.checkScopes(in.Scopes); err != nil {
		return nil, err
	}
	// A token limited to scopes makes only tokens within them: never a wider one.
	if len(p.Scopes) > 0 {
		if len(in.Scopes) == 0 {
			return nil, withStatus(http.StatusForbidden, "this API token is limited to the scopes %s: the tokens it creates must name scopes within them",
				strings.Join(p.Scopes, " "))
		}
		for _, sc := range in.Scopes {
			area, access, _ := strings.Cut(strings.TrimSpace(sc), ":")
			if !p.Allows(area, access == "write") {
				return nil, withStatus(http.StatusForbidden, "this API token is limited to the scopes %s and cannot create a token with %q",
					strings.Join(p.Scopes, " "), sc)
			}
		}
	}
	t, plain, err := s.auth.CreateToken(r.Context(), userID, in.Name, time.Duration(in.ExpiresInDays)*24*time.Hour, in.Scopes...)
	if err != nil {
		return nil, err
	}
	noteAudit(r, "token/"+strconv.FormatInt(t.ID, 10), map[string]any{"user_id": userID, "name": t.Name, "prefix": t.Prefix, "scopes": t.Scopes})
	return created{client.CreatedToken{Token: tokenWire(t), Secret: plain}}, nil
}

func (s *Server) createOwnToken(r *http.Request, p auth.Principal) (any, error) {
	return s.newToken(r, p, p.UserID)
}

func (s *Server) createUserToken(r *http.Request, p auth.Principal) (any, error) {
	u, err := s.userByPath(r)
	if err != nil {
		return nil, err
	}
	return s.newToken(r, p, u.ID)
}

func (s *Server) revokeToken(r *http.Request, p auth.Principal) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	owner := p.UserID // others' tokens are invisible: answered as if they did not exist
	if p.Role.Satisfies(auth.RoleAdmin) {
		owner = 0
	}
	ts, err := s.store.ListTokens(r.Context(), owner)
	if err != nil {
		return nil, err
	}
	for _, t := range ts {
		if t.ID == id {
			return noContent{}, s.auth.RevokeToken(r.Context(), id)
		}
	}
	return nil, withStatus(http.StatusNotFound, "no token with id %d among the tokens you can manage", id)
}
