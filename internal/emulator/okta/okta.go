// Package okta emulates the parts of Okta's management API that Telltale's Okta integration uses,
// stateful and in memory, served over real HTTP by the tests: retrieving a user by id or login
// (GET /api/v1/users/{id}), retrieving a group (GET /api/v1/groups/{groupId}) and assigning or
// unassigning a user (PUT and DELETE /api/v1/groups/{groupId}/users/{userId}, 204), with an SSWS
// API token.
//
// Answers follow Okta's management OpenAPI (../shared/vendor/okta/management-openapi.yaml); the
// tests validate every answer and Telltale's every request against it, strictly (a renamed field
// fails), with the documented differences in internal/testutil/openapi/oktaspec. Errors are Okta's
// Error object (errorCode, errorSummary, errorLink, errorId, errorCauses) with the codes of
// developer.okta.com/docs/reference/error-codes: E0000011 invalid token (401), E0000006 access
// denied (403), E0000007 not found (404), E0000047 rate limit (429, with X-Rate-Limit-Limit,
// X-Rate-Limit-Remaining and X-Rate-Limit-Reset in unix seconds, as described in
// developer.okta.com/docs/reference/rl-best-practices).
package okta

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Fault is an injected answer for the next call.
type Fault struct {
	RateLimit time.Duration // 429 E0000047 with X-Rate-Limit-Reset this far ahead
	Status    int           // 500 or 503 with an Error body, or 403 E0000006
	Garbage   bool          // 200 with an HTML body
}

// User is an emulated user.
type User struct {
	ID, Login, First, Last string
	Status                 string // ACTIVE unless set
}

// Group is an emulated group.
type Group struct {
	ID, Name, Description string
}

// Server is the emulator.
type Server struct {
	mu      sync.Mutex
	token   string
	users   map[string]*User
	groups  map[string]*Group
	members map[string]map[string]bool // group id -> user ids
	faults  []Fault
	calls   map[string]int
	created time.Time
	Now     func() time.Time
	// Check, when set, sees every request and answer (tests validate them against the spec).
	Check func(r *http.Request, status int, header http.Header, body []byte)
}

const ids = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// NewID returns an Okta-style id with prefix (00u users, 00g groups): 20 characters.
func NewID(prefix string) string {
	b := []byte(prefix)
	for len(b) < 20 {
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(ids))))
		b = append(b, ids[n.Int64()])
	}
	return string(b)
}

// New returns an emulator accepting token.
func New(token string, users []User, groups []Group) *Server {
	s := &Server{token: token, users: map[string]*User{}, groups: map[string]*Group{}, members: map[string]map[string]bool{}, calls: map[string]int{},
		created: time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC), Now: time.Now}
	for _, u := range users {
		u := u
		if u.Status == "" {
			u.Status = "ACTIVE"
		}
		s.users[u.ID] = &u
	}
	for _, g := range groups {
		g := g
		s.groups[g.ID] = &g
		s.members[g.ID] = map[string]bool{}
	}
	return s
}

// Fail queues faults for the next calls, one each.
func (s *Server) Fail(fs ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, fs...)
}

// SetToken changes the accepted token (revokes the old one).
func (s *Server) SetToken(t string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.token = t
}

// Members returns the logins in a group, sorted.
func (s *Server) Members(groupID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for id := range s.members[groupID] {
		out = append(out, s.users[id].Login)
	}
	sort.Strings(out)
	return out
}

// Calls counts the calls by kind (user, group, assign, unassign, 401, fault).
func (s *Server) Calls() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for k, v := range s.calls {
		out[k] = v
	}
	return out
}

func (s *Server) reply(w http.ResponseWriter, r *http.Request, status int, v any) {
	s.replyReset(w, r, status, v, time.Minute)
}

// replyReset answers with Okta's rate limit headers, the window resetting in reset.
func (s *Server) replyReset(w http.ResponseWriter, r *http.Request, status int, v any, reset time.Duration) {
	var b []byte
	if v != nil {
		b, _ = json.Marshal(v)
		w.Header().Set("Content-Type", "application/json")
	}
	w.Header().Set("X-Rate-Limit-Limit", "600")
	w.Header().Set("X-Rate-Limit-Remaining", "599")
	w.Header().Set("X-Rate-Limit-Reset", strconv.FormatInt(s.Now().Add(reset).Unix(), 10))
	if status == http.StatusTooManyRequests {
		w.Header().Set("X-Rate-Limit-Remaining", "0")
	}
	h := w.Header().Clone()
	w.WriteHeader(status)
	w.Write(b)
	if s.Check != nil {
		s.Check(r, status, h, b)
	}
}

// Error is Okta's error object.
type Error struct {
	ErrorCode    string       `json:"errorCode"`
	ErrorSummary string       `json:"errorSummary"`
	ErrorLink    string       `json:"errorLink"`
	ErrorID      string       `json:"errorId"`
	ErrorCauses  []ErrorCause `json:"errorCauses"`
}

// ErrorCause is one cause of an Error.
type ErrorCause struct {
	ErrorSummary string `json:"errorSummary"`
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, status int, code, summary string) {
	s.reply(w, r, status, Error{ErrorCode: code, ErrorSummary: summary, ErrorLink: code, ErrorID: "oae" + NewID("")[:19], ErrorCauses: []ErrorCause{}})
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "SSWS ")
	if !ok || tok != s.token {
		s.calls["401"]++
		s.fail(w, r, http.StatusUnauthorized, "E0000011", "Invalid token provided")
		return
	}
	if len(s.faults) > 0 {
		f := s.faults[0]
		s.faults = s.faults[1:]
		s.calls["fault"]++
		switch {
		case f.RateLimit > 0:
			s.replyReset(w, r, http.StatusTooManyRequests, Error{ErrorCode: "E0000047", ErrorSummary: "API call exceeded rate limit due to too many requests.",
				ErrorLink: "E0000047", ErrorID: "oae" + NewID("")[:19], ErrorCauses: []ErrorCause{}}, f.RateLimit)
		case f.Garbage:
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusOK)
			io.WriteString(w, "<html><body>Okta is down for maintenance</body></html>")
		case f.Status == http.StatusForbidden:
			s.fail(w, r, http.StatusForbidden, "E0000006", "You do not have permission to perform the requested action")
		default:
			s.fail(w, r, f.Status, "E0000009", "Internal Server Error")
		}
		return
	}
	// The escaped path: a login's "@" may come escaped.
	parts := strings.Split(strings.Trim(r.URL.EscapedPath(), "/"), "/")
	for i, p := range parts {
		if u, err := url.PathUnescape(p); err == nil {
			parts[i] = u
		}
	}
	switch {
	case len(parts) == 4 && parts[0] == "api" && parts[1] == "v1" && parts[2] == "users" && r.Method == http.MethodGet:
		s.calls["user"]++
		u := s.findUser(parts[3])
		if u == nil {
			s.fail(w, r, http.StatusNotFound, "E0000007", "Not found: Resource not found: "+parts[3]+" (User)")
			return
		}
		s.reply(w, r, http.StatusOK, s.userJSON(r, u))
	case len(parts) == 4 && parts[0] == "api" && parts[1] == "v1" && parts[2] == "groups" && r.Method == http.MethodGet:
		s.calls["group"]++
		g := s.groups[parts[3]]
		if g == nil {
			s.fail(w, r, http.StatusNotFound, "E0000007", "Not found: Resource not found: "+parts[3]+" (UserGroup)")
			return
		}
		s.reply(w, r, http.StatusOK, s.groupJSON(r, g))
	case len(parts) == 6 && parts[0] == "api" && parts[1] == "v1" && parts[2] == "groups" && parts[4] == "users" &&
		(r.Method == http.MethodPut || r.Method == http.MethodDelete):
		g, u := s.groups[parts[3]], s.users[parts[5]]
		if g == nil {
			s.fail(w, r, http.StatusNotFound, "E0000007", "Not found: Resource not found: "+parts[3]+" (UserGroup)")
			return
		}
		if u == nil {
			s.fail(w, r, http.StatusNotFound, "E0000007", "Not found: Resource not found: "+parts[5]+" (User)")
			return
		}
		if r.Method == http.MethodPut {
			s.calls["assign"]++
			s.members[g.ID][u.ID] = true
		} else {
			s.calls["unassign"]++
			delete(s.members[g.ID], u.ID)
		}
		s.reply(w, r, http.StatusNoContent, nil)
	default:
		s.fail(w, r, http.StatusNotFound, "E0000022", "The endpoint does not support the provided HTTP method")
	}
}

// findUser finds a user by id, login or login shortname (the part before "@"), as GET
// /api/v1/users/{id} does.
func (s *Server) findUser(key string) *User {
	if u, ok := s.users[key]; ok {
		return u
	}
	var short *User
	for _, u := range s.users {
		if strings.EqualFold(u.Login, key) {
			return u
		}
		if name, _, _ := strings.Cut(u.Login, "@"); strings.EqualFold(name, key) {
			short = u
		}
	}
	return short
}

func (s *Server) ts(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func (s *Server) userJSON(r *http.Request, u *User) map[string]any {
	base := "https://" + r.Host + "/api/v1/users/" + u.ID
	return map[string]any{
		"id": u.ID, "status": u.Status, "created": s.ts(s.created), "activated": s.ts(s.created.Add(time.Minute)), "statusChanged": s.ts(s.created.Add(time.Minute)),
		"lastLogin": s.ts(s.created.Add(48 * time.Hour)), "lastUpdated": s.ts(s.created.Add(time.Hour)), "passwordChanged": s.ts(s.created.Add(time.Hour)),
		"type":        map[string]any{"id": "oty1a2b3c4d5e6f7g8h9"},
		"profile":     map[string]any{"firstName": u.First, "lastName": u.Last, "mobilePhone": nil, "secondEmail": nil, "login": u.Login, "email": u.Login},
		"credentials": map[string]any{"password": map[string]any{}, "provider": map[string]any{"type": "OKTA", "name": "OKTA"}},
		"_links":      map[string]any{"self": map[string]any{"href": base}, "deactivate": map[string]any{"href": base + "/lifecycle/deactivate", "method": "POST"}},
	}
}

func (s *Server) groupJSON(r *http.Request, g *Group) map[string]any {
	base := "https://" + r.Host + "/api/v1/groups/" + g.ID
	return map[string]any{
		"id": g.ID, "created": s.ts(s.created), "lastUpdated": s.ts(s.created.Add(time.Hour)), "lastMembershipUpdated": s.ts(s.Now()),
		"objectClass": []string{"okta:user_group"}, "type": "OKTA_GROUP",
		"profile": map[string]any{"name": g.Name, "description": g.Description},
		"_links":  map[string]any{"self": map[string]any{"href": base}, "users": map[string]any{"href": base + "/users"}, "apps": map[string]any{"href": base + "/apps"}},
	}
}

// String describes the emulator's state, for test failures.
func (s *Server) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprintf("okta: %d users, %d groups", len(s.users), len(s.groups))
}
