package google

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// apiError is Google's JSON error ({"error":{"code","message","errors":[{"message","domain",
// "reason","location","locationType"}],"status"}}), the shape every Google API answers and
// google.golang.org/api/googleapi.Error decodes.
type apiError struct {
	code                           int
	message, reason, domain        string
	location, locationType, status string
}

var grpcStatus = map[int]string{400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
	429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 502: "UNAVAILABLE", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}

func gerr(code int, reason, format string, args ...any) *apiError {
	return &apiError{code: code, reason: reason, domain: "global", message: fmt.Sprintf(format, args...)}
}

func (a *apiError) at(location, locationType string) *apiError {
	a.location, a.locationType = location, locationType
	return a
}

func (a *apiError) body() map[string]any {
	item := map[string]any{"message": a.message, "domain": a.domain, "reason": a.reason}
	if a.location != "" {
		item["location"], item["locationType"] = a.location, a.locationType
	}
	st := a.status
	if st == "" {
		st = grpcStatus[a.code]
	}
	return map[string]any{"error": map[string]any{"code": a.code, "message": a.message, "errors": []any{item}, "status": st}}
}

// Errors Google answers in every API.
func notFoundFile(id string) *apiError {
	return gerr(404, "notFound", "File not found: %s.", id).at("fileId", "parameter")
}

func invalidParam(name, value string, lo, hi int) *apiError {
	return gerr(400, "invalid", "Invalid value '%s'. Values must be within the range: [%d, %d]", value, lo, hi).at(name, "parameter")
}

func invalidValue(name string) *apiError {
	return gerr(400, "invalid", "Invalid Value").at(name, "parameter")
}

// errAuth is the 401 of a missing, unknown or expired access token.
var errAuth = &apiError{code: 401, reason: "authError", domain: "global", location: "Authorization", locationType: "header",
	message: "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."}

// errScopes is the 403 of a token without a scope the method needs.
var errScopes = &apiError{code: 403, reason: "insufficientPermissions", domain: "global", message: "Request had insufficient authentication scopes."}

// errNotAdmin is the Directory API's answer to a caller that is not an administrator.
var errNotAdmin = gerr(403, "forbidden", "Not Authorized to access this resource/api")

// media is an answer that is content, not JSON.
type media struct {
	ctype string
	data  []byte
}

// call is one authenticated API request.
type call struct {
	r    *http.Request
	tok  *token
	user *user // the impersonated user; nil for the service account acting as itself
	base string
}

type callKey struct{}

// Handler serves the token endpoint (POST /token), Drive v3 under /drive/v3/, the Directory API
// under /admin/directory/v1/, the Reports API under /admin/reports/v1/, Gmail under /gmail/v1/
// and Google's signing keys (the Pub/Sub push tokens') at GET /oauth2/v3/certs.
func (e *Emulator) Handler() http.Handler {
	api := http.NewServeMux()
	route := func(pattern string, scopes []string, h func(*call) (int, any, *apiError)) {
		api.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			c := r.Context().Value(callKey{}).(*call)
			c.r = r
			if !hasAny(c.tok.scopes, scopes) {
				e.respond(w, r, 0, nil, errScopes)
				return
			}
			status, body, aerr := h(c)
			e.respond(w, r, status, body, aerr)
		})
	}
	driveRO := []string{ScopeDrive, ScopeDriveReadonly, ScopeDriveMetadataReadonly}
	driveContent := []string{ScopeDrive, ScopeDriveReadonly}
	route("GET /drive/v3/files", driveRO, e.filesList)
	route("GET /drive/v3/files/{id}", driveRO, func(c *call) (int, any, *apiError) {
		if c.r.URL.Query().Get("alt") == "media" {
			if !hasAny(c.tok.scopes, driveContent) {
				return 0, nil, errScopes
			}
			return e.filesDownload(c)
		}
		return e.filesGet(c)
	})
	route("GET /drive/v3/files/{id}/export", driveContent, e.filesExport)
	route("GET /drive/v3/files/{id}/permissions", driveRO, e.permissionsList)
	route("GET /drive/v3/drives", driveRO, e.drivesList)
	route("GET /drive/v3/changes/startPageToken", driveRO, e.changesStart)
	route("GET /drive/v3/changes", driveRO, e.changesList)
	route("POST /drive/v3/changes/watch", driveRO, e.changesWatch)
	route("POST /drive/v3/channels/stop", driveRO, e.channelsStop)
	dirUsers := []string{ScopeDirectoryUserRO}
	dirGroups := []string{ScopeDirectoryGroupRO, ScopeDirectoryMemberRO}
	route("GET /admin/directory/v1/users", dirUsers, e.usersList)
	route("GET /admin/directory/v1/users/{key}", dirUsers, e.usersGet)
	route("GET /admin/directory/v1/groups", dirGroups, e.groupsList)
	route("GET /admin/directory/v1/groups/{key}/members", []string{ScopeDirectoryMemberRO, ScopeDirectoryGroupRO}, e.membersList)
	route("GET /admin/reports/v1/activity/users/{userKey}/applications/{applicationName}", []string{ScopeReportsAudit}, e.activitiesList)
	notServed := func(c *call) (int, any, *apiError) {
		return 0, nil, gerr(404, "notFound", "The emulator does not serve %s %s; see internal/emulator/google/doc.go", c.r.Method, c.r.URL.Path)
	}
	gmail := "GET /gmail/v1/users/{userId}"
	route(gmail+"/profile", gmailRO, e.gmailProfile)
	route(gmail+"/messages", gmailRO, e.messagesList)
	route(gmail+"/messages/{id}", gmailRO, e.messagesGet)
	route(gmail+"/messages/{messageId}/attachments/{id}", []string{ScopeGmailReadonly}, e.attachmentsGet)
	route(gmail+"/history", gmailRO, e.historyList)
	route(gmail+"/drafts", []string{ScopeGmailReadonly}, e.draftsList)
	route(gmail+"/drafts/{id}", []string{ScopeGmailReadonly}, e.draftsGet)
	route("POST /gmail/v1/users/{userId}/watch", gmailRO, e.usersWatch)
	route("POST /gmail/v1/users/{userId}/stop", gmailRO, e.usersStop)
	route("/drive/v3/", driveRO, notServed)
	route("/admin/directory/v1/", dirUsers, notServed)
	route("/admin/reports/v1/", []string{ScopeReportsAudit}, notServed)
	route("/gmail/v1/", gmailRO, notServed)

	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", e.tokenEndpoint)
	serve := func(w http.ResponseWriter, r *http.Request) { e.serveAPI(w, r, api) }
	mux.HandleFunc("/drive/v3/", serve)
	mux.HandleFunc("/admin/directory/v1/", serve)
	mux.HandleFunc("/admin/reports/v1/", serve)
	mux.HandleFunc("/gmail/v1/", serve)
	mux.HandleFunc("GET /oauth2/v3/certs", e.certs)
	return mux
}

func hasAny(have map[string]bool, want []string) bool {
	for _, s := range want {
		if have[s] {
			return true
		}
	}
	return false
}

// serveAPI authenticates, counts, rate limits and injects faults, then routes.
func (e *Emulator) serveAPI(w http.ResponseWriter, r *http.Request, api http.Handler) {
	arrived := time.Now()
	c := &call{r: r, base: "http://" + r.Host}
	if isCrawlPage(r) {
		e.hooks.Fire() // outside e.mu: the hook may act on the emulator
	}
	e.mu.Lock()
	e.stats.Requests++
	tokStr, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	t := e.tokens[tokStr]
	if t == nil || !e.clk.Now().Before(t.expires) {
		e.mu.Unlock()
		w.Header().Set("WWW-Authenticate", `Bearer realm="https://accounts.google.com/", error="invalid_token"`)
		e.respond(w, r, 0, nil, errAuth)
		return
	}
	c.tok, c.user = t, t.subject
	key := e.o.ClientEmail
	if c.user != nil {
		key = c.user.email
	}
	us := e.stats.ByUser[key]
	us.Requests++
	sig := r.Method + " " + r.URL.RequestURI()
	// A request repeating the user's last throttled one before Google's exponential backoff
	// allows is early; an identical one that arrived before that 429 was written was sent before
	// its client could read it (another worker's request in flight): not a retry, and Google's
	// backoff does not double for it.
	early, inFlight := e.retries.Arrive(key, sig, arrived, e.clk.Now())
	if early {
		e.stats.EarlyRetries++
	}
	user := e.allow(key, e.o.RateLimitPerMinute)
	project := !user || e.o.ProjectRateLimitPerMinute <= 0 || e.allow(projectBucket, e.o.ProjectRateLimitPerMinute)
	if !user || !project {
		us.Throttled++
		e.stats.ByUser[key] = us
		e.stats.Throttled++
		answer := e.rateLimited()
		if !project {
			e.stats.ProjectThrottled++
			answer = e.projectRateLimited()
		}
		_, ticket := e.retries.Throttled(key, sig, inFlight, e.clk.Now(), minBackoff)
		e.mu.Unlock()
		e.respond(w, r, 0, nil, answer)
		e.mu.Lock()
		e.retries.Written(key, ticket, time.Now())
		e.mu.Unlock()
		return
	}
	e.retries.Served(key, sig)
	e.stats.ByUser[key] = us
	if aerr := e.apiOff(r.URL.Path); aerr != nil {
		e.mu.Unlock()
		e.respond(w, r, 0, nil, aerr)
		return
	}
	if c.user != nil && e.driveOff[c.user.email] && strings.HasPrefix(r.URL.Path, "/drive/v3/") {
		e.mu.Unlock()
		e.respond(w, r, 0, nil, errDriveOff)
		return
	}
	fault := e.inject.Pick()
	if fault != "" {
		e.stats.Faults++
	}
	e.mu.Unlock()
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		api.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), callKey{}, c)))
	})
	if fault == "" {
		next.ServeHTTP(w, r)
		return
	}
	e.inject.Serve(fault, w, r, next, func(w http.ResponseWriter, status int, retryAfter time.Duration) {
		if retryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(retryAfter.Seconds()))))
		}
		e.respond(w, r, 0, nil, faultError(status))
	})
}

// faultError is Google's answer for an injected fault.
func faultError(status int) *apiError {
	switch status {
	case 429:
		return &apiError{code: 429, reason: "rateLimitExceeded", domain: "usageLimits", message: "Rate Limit Exceeded", status: "RESOURCE_EXHAUSTED"}
	case 502:
		return gerr(502, "backendError", "Bad Gateway")
	case 503:
		return gerr(503, "backendError", "The service is currently unavailable.")
	case 504:
		return gerr(504, "deadlineExceeded", "Deadline exceeded")
	}
	return gerr(500, "internalError", "Internal Error")
}

type bucket struct {
	tokens float64
	last   time.Time
}

// projectBucket is the key of the project's bucket (users' buckets are keyed by their email).
const projectBucket = "project"

// allow takes a token from key's bucket, which refills at perMinute (< 0: no limit). Called with
// e.mu held.
func (e *Emulator) allow(key string, perMinute int) bool {
	if perMinute < 0 {
		return true
	}
	rate := float64(perMinute) / 60
	now := e.clk.Now()
	b := e.buckets[key]
	if b == nil {
		b = &bucket{tokens: float64(e.o.RateBurst), last: now}
		e.buckets[key] = b
	}
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = math.Min(float64(e.o.RateBurst), b.tokens+el*rate)
	}
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true
	}
	return false
}

// rateLimited is Drive's over-quota answer (https://developers.google.com/drive/api/guides/limits:
// 403 userRateLimitExceeded or rateLimitExceeded, or 429), as Options.RateLimitAnswer says.
func (e *Emulator) rateLimited() *apiError {
	switch e.o.RateLimitAnswer {
	case Answer429:
		return faultError(429)
	case AnswerRateLimit:
		return &apiError{code: 403, reason: "rateLimitExceeded", domain: "usageLimits", message: "Rate Limit Exceeded"}
	}
	return &apiError{code: 403, reason: "userRateLimitExceeded", domain: "usageLimits", message: "User rate limit exceeded."}
}

// projectRateLimited is the answer of the project's limit: 403 rateLimitExceeded (Drive's
// "project rate limit"), or 429 when Options.RateLimitAnswer says so.
func (e *Emulator) projectRateLimited() *apiError {
	if e.o.RateLimitAnswer == Answer429 {
		return faultError(429)
	}
	return &apiError{code: 403, reason: "rateLimitExceeded", domain: "usageLimits", message: "Rate Limit Exceeded"}
}

func (e *Emulator) respond(w http.ResponseWriter, r *http.Request, status int, body any, aerr *apiError) {
	if aerr != nil {
		writeJSON(w, aerr.code, aerr.body())
		return
	}
	switch b := body.(type) {
	case nil:
		w.WriteHeader(status)
	case media:
		w.Header().Set("Content-Type", b.ctype)
		w.Header().Set("Content-Length", strconv.Itoa(len(b.data)))
		w.WriteHeader(status)
		w.Write(b.data)
	default:
		if f := r.URL.Query().Get("fields"); f != "" {
			sel, err := parseFields(f)
			if err != nil {
				writeJSON(w, 400, gerr(400, "invalidParameter", "Invalid field selection %s", f).at("fields", "parameter").body())
				return
			}
			body = selectFields(toGeneric(body), sel)
		}
		writeJSON(w, status, body)
	}
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	b, err := json.Marshal(body)
	if err != nil {
		http.Error(w, "emulator: "+err.Error(), 500)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

func toGeneric(v any) any {
	if m, ok := v.(map[string]any); ok {
		return m
	}
	b, _ := json.Marshal(v)
	var out any
	json.Unmarshal(b, &out)
	return out
}

// fieldSel is a parsed partial-response selection (the fields parameter,
// https://developers.google.com/drive/api/guides/fields-parameter): a name maps to the selection
// of its value, nil for all of it.
type fieldSel map[string]fieldSel

// parseFields parses "a,b/c,d(e,f/g)".
func parseFields(s string) (fieldSel, error) {
	sel, rest, err := parseFieldList(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		return nil, err
	}
	if rest != "" {
		return nil, fmt.Errorf("unexpected %q", rest)
	}
	return sel, nil
}

func parseFieldList(s string) (fieldSel, string, error) {
	sel := fieldSel{}
	for {
		i := strings.IndexAny(s, ",()")
		name := s
		if i >= 0 {
			name = s[:i]
		}
		if name == "" {
			return nil, s, fmt.Errorf("empty field name")
		}
		s = s[len(name):]
		var sub fieldSel
		if strings.HasPrefix(s, "(") {
			var err error
			sub, s, err = parseFieldList(s[1:])
			if err != nil {
				return nil, s, err
			}
			if !strings.HasPrefix(s, ")") {
				return nil, s, fmt.Errorf("missing )")
			}
			s = s[1:]
		}
		path := strings.Split(name, "/")
		cur := sel
		for j, p := range path {
			if j == len(path)-1 {
				if old, ok := cur[p]; ok && old == nil {
					break // already all of it
				}
				if sub == nil {
					cur[p] = nil
				} else {
					if cur[p] == nil {
						cur[p] = fieldSel{}
					}
					for k, v := range sub {
						cur[p][k] = v
					}
				}
				break
			}
			next, ok := cur[p]
			if ok && next == nil {
				break
			}
			if next == nil {
				next = fieldSel{}
				cur[p] = next
			}
			cur = next
		}
		if !strings.HasPrefix(s, ",") {
			return sel, s, nil
		}
		s = s[1:]
	}
}

func selectFields(v any, sel fieldSel) any {
	if sel == nil {
		return v
	}
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, val := range x {
			if sub, ok := sel[k]; ok {
				out[k] = selectFields(val, sub)
			} else if sub, ok := sel["*"]; ok {
				out[k] = selectFields(val, sub)
			}
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, el := range x {
			out[i] = selectFields(el, sel)
		}
		return out
	}
	return v
}
