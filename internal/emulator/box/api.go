package box

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"github.com/telltale-dev/telltale/internal/connector/kit/faults"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// apiError is Box's ClientError: {"type":"error","status","code","message","context_info",
// "help_url","request_id"} (spec schema ClientError; the guide
// https://developer.box.com/guides/api-calls/permissions-and-errors/common-errors/).
type apiError struct {
	status  int
	code    string
	message string
	context any
	header  http.Header
	raw     any // non-ClientError body (OAuth2Error of /oauth2/token); nil body when status 401
}

const helpURL = "http://developers.box.com/docs/#errors"

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

// badParam is Box's 400 for an invalid query parameter; context_info.errors as Box sends for
// parameter validation (shape from Box answers quoted in SDK issues; unverified in the docs).
func badParam(name, value, why string) *apiError {
	return &apiError{status: 400, code: "bad_request", message: "Bad Request",
		context: map[string]any{"errors": []any{map[string]any{"reason": "invalid_parameter", "name": name,
			"message": fmt.Sprintf("Invalid value '%s'. '%s' %s", value, name, why)}}}}
}

func notFound(what, id string) *apiError {
	return &apiError{status: 404, code: "not_found", message: "Not Found",
		context: map[string]any{"errors": []any{map[string]any{"reason": "invalid_parameter", "name": what,
			"message": fmt.Sprintf("Invalid value '%s'. '%s' with value '%s' not found", id, what, id)}}}}
}

func oauthError(code, desc string) *apiError {
	return &apiError{status: 400, raw: map[string]any{"error": code, "error_description": desc}}
}

type token struct {
	subjectType, subjectID string // "enterprise" (the service account acts) | "user"
	userID                 string // the user the token acts as
	expires                time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

type dlTicket struct {
	fileID  string
	version version
	expires time.Time
}

// call is one authenticated /2.0 request.
type call struct {
	r       *http.Request
	tok     *token
	user    *user // the acting user: the as-user, or the token's user
	asUser  bool
	reqID   string
	baseURL string
	header  http.Header // extra response headers set by a handler
}

// Handler serves /oauth2/token, /2.0/... and the download URLs that /2.0/files/{id}/content
// redirects to.
func (e *Emulator) Handler() http.Handler {
	api := http.NewServeMux()
	route := func(pattern string, h func(*call) (int, any, *apiError)) {
		api.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			c := r.Context().Value(callKey{}).(*call)
			c.r = r // carries the path values
			status, body, aerr := h(c)
			e.respond(w, c, status, body, aerr)
		})
	}
	route("GET /2.0/users", e.listUsers)
	route("GET /2.0/users/me", e.getMe)
	route("GET /2.0/users/{id}", e.getUser)
	route("GET /2.0/groups", e.listGroups)
	route("GET /2.0/groups/{id}/memberships", e.listMemberships)
	route("GET /2.0/folders/{id}", e.getFolder)
	route("GET /2.0/folders/{id}/items", e.listItems)
	route("GET /2.0/folders/{id}/collaborations", e.listCollabs("folder"))
	route("GET /2.0/files/{id}", e.getFile)
	route("GET /2.0/files/{id}/content", e.getContent)
	route("GET /2.0/files/{id}/collaborations", e.listCollabs("file"))
	route("GET /2.0/events", func(c *call) (int, any, *apiError) {
		e.mu.Lock()
		admin := c.user.role == "admin" || c.user.serviceAccount
		e.mu.Unlock()
		if !admin { // the enterprise streams need an admin or the service account
			return 0, nil, errorf(403, "access_denied_insufficient_permissions", "Access denied - insufficient permission")
		}
		return e.events(c.r.URL.Query())
	})
	route("GET /2.0/webhooks", e.listWebhooks)
	route("POST /2.0/webhooks", e.createWebhook)
	route("GET /2.0/webhooks/{id}", e.getWebhook)
	route("DELETE /2.0/webhooks/{id}", e.deleteWebhook)
	route("/2.0/", func(c *call) (int, any, *apiError) {
		return 0, nil, errorf(404, "not_found", "The emulator does not serve %s %s; see internal/emulator/box/doc.go for what it emulates", c.r.Method, c.r.URL.Path)
	})

	mux := http.NewServeMux()
	mux.HandleFunc("POST /oauth2/token", e.tokenEndpoint)
	mux.HandleFunc("GET /dl/{ticket}", e.download)
	mux.HandleFunc("/2.0/", func(w http.ResponseWriter, r *http.Request) { e.serveAPI(w, r, api) })
	return mux
}

type callKey struct{}

func contextWith(r *http.Request, c *call) context.Context {
	return context.WithValue(r.Context(), callKey{}, c)
}

func (e *Emulator) requestID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// serveAPI authenticates, applies as-user, rate limits and faults, then routes.
func (e *Emulator) serveAPI(w http.ResponseWriter, r *http.Request, api http.Handler) {
	arrived := time.Now() // before the lock: a request queued behind a 429 being written arrived before it
	c := &call{r: r, reqID: e.requestID(), baseURL: "http://" + r.Host, header: http.Header{}}
	if isCrawlPage(r) {
		e.hooks.Fire() // outside e.mu: the hook may act on the emulator
	}
	e.mu.Lock()
	e.stats.Requests++
	aerr := e.authenticate(c)
	if aerr != nil {
		e.mu.Unlock()
		e.respond(w, c, 0, nil, aerr)
		return
	}
	key := c.user.id
	us := e.stats.ByUser[key]
	us.Requests++
	sig := r.Method + " " + r.URL.RequestURI()
	early, inFlight := e.retries.Arrive(key, sig, arrived, e.clk.Now())
	if early {
		// The throttled request sent again before its Retry-After passed: the client did not
		// wait it out. (An identical request sent before that 429 was written is not a retry.)
		e.stats.EarlyRetries++
	}
	if wait, ok := e.allow(key); !ok {
		us.Throttled++
		e.stats.ByUser[key] = us
		e.stats.Throttled++
		ra := rateLimited(wait)
		_, ticket := e.retries.Throttled(key, sig, inFlight, e.clk.Now(), func(int) time.Duration { return retryAfterOf(ra) })
		e.mu.Unlock()
		e.respond(w, c, 0, nil, ra)
		e.throttleWritten(key, ticket)
		return
	}
	e.stats.ByUser[key] = us
	fault := e.inject.Pick()
	var ticket uint64
	if fault != "" {
		e.stats.Faults++
		if fault == faults.Throttle {
			_, ticket = e.retries.Throttled(key, sig, inFlight, e.clk.Now(), func(int) time.Duration { return e.inject.RetryAfter() })
		}
	}
	e.mu.Unlock()
	if ticket != 0 {
		defer e.throttleWritten(key, ticket)
	}

	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { api.ServeHTTP(w, r.WithContext(contextWith(r, c))) })
	if fault == "" {
		next.ServeHTTP(w, r)
		return
	}
	e.inject.Serve(fault, w, r, next, func(w http.ResponseWriter, status int, retryAfter time.Duration) {
		e.respond(w, c, 0, nil, faultError(status, retryAfter))
	})
}

// faultError is Box's answer for an injected fault.
func faultError(status int, retryAfter time.Duration) *apiError {
	switch status {
	case http.StatusTooManyRequests:
		return rateLimited(retryAfter)
	case http.StatusGatewayTimeout:
		return errorf(504, "gateway_timeout", "Gateway Timeout (injected by the emulator's Faults)")
	}
	code := map[int]string{500: "internal_server_error", 502: "bad_gateway", 503: "unavailable"}[status]
	return errorf(status, code, "%s (injected by the emulator's Faults)", http.StatusText(status))
}

// authenticate resolves the bearer token and as-user header. Called with e.mu held.
func (e *Emulator) authenticate(c *call) *apiError {
	h := c.r.Header.Get("Authorization")
	tokStr, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || tokStr == "" {
		return &apiError{status: 401, header: http.Header{"Www-Authenticate": {`Bearer realm="Service"`}}}
	}
	t := e.tokens[tokStr]
	if t == nil {
		return &apiError{status: 401, header: http.Header{"Www-Authenticate": {`Bearer realm="Service", error="invalid_token", error_description="The access token provided is invalid."`}}}
	}
	if !e.clk.Now().Before(t.expires) {
		return &apiError{status: 401, header: http.Header{"Www-Authenticate": {`Bearer realm="Service", error="invalid_token", error_description="The access token provided has expired."`}}}
	}
	c.tok = t
	c.user = e.byID[t.userID]
	as := c.r.Header.Get("As-User")
	if as == "" {
		return nil
	}
	// as-user (https://developer.box.com/guides/authentication/jwt/as-user/): needs the app's
	// "Perform actions as users", an admin or service-account token, a managed user that is not
	// the caller; otherwise 403 access_denied_insufficient_permissions. An unknown id: 400.
	denied := errorf(403, "access_denied_insufficient_permissions", "Access denied - insufficient permission")
	if e.o.DenyAsUser || t.subjectType != "enterprise" {
		return denied
	}
	u := e.byID[as]
	if u == nil {
		return badParam("as-user", as, "must be the id of a managed user of the enterprise")
	}
	if u.external || u.serviceAccount || !u.accessible {
		return denied
	}
	c.user, c.asUser = u, true
	return nil
}

// allow takes a token from key's bucket; when empty it says how long until one is available.
// Called with e.mu held.
func (e *Emulator) allow(key string) (time.Duration, bool) {
	if e.o.RateLimitPerMinute < 0 {
		return 0, true
	}
	rate := float64(e.o.RateLimitPerMinute) / 60
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
		return 0, true
	}
	return time.Duration((1 - b.tokens) / rate * float64(time.Second)), false
}

// throttle is the request a user was last answered 429 for and until when it was asked to wait.
// throttleWritten records that the 429 of ticket has been written: an identical request
// arriving from now on could have read it.
func (e *Emulator) throttleWritten(key string, ticket uint64) {
	e.mu.Lock()
	e.retries.Written(key, ticket, time.Now())
	e.mu.Unlock()
}

// retryAfterOf is the wait an answer's Retry-After header asks for.
func retryAfterOf(a *apiError) time.Duration {
	secs, _ := strconv.Atoi(a.header.Get("Retry-After"))
	return time.Duration(secs) * time.Second
}

// rateLimited is Box's 429 (https://developer.box.com/guides/api-calls/permissions-and-errors/rate-limits/):
// code rate_limit_exceeded and a retry-after header in whole seconds.
func rateLimited(wait time.Duration) *apiError {
	secs := int(math.Ceil(wait.Seconds()))
	if secs < 1 {
		secs = 1
	}
	return &apiError{status: 429, code: "rate_limit_exceeded", message: "Request rate limit exceeded, please try again later",
		header: http.Header{"Retry-After": {strconv.Itoa(secs)}}}
}

func (e *Emulator) respond(w http.ResponseWriter, c *call, status int, body any, aerr *apiError) {
	reqID := e.requestID()
	if c != nil {
		reqID = c.reqID
		for k, v := range c.header {
			w.Header()[k] = v
		}
	}
	if aerr != nil {
		for k, v := range aerr.header {
			w.Header()[k] = v
		}
		switch {
		case aerr.raw != nil:
			writeJSON(w, aerr.status, aerr.raw)
		case aerr.status == 401:
			w.WriteHeader(401) // Box answers an invalid or expired token with an empty body
		default:
			m := map[string]any{"type": "error", "status": aerr.status, "code": aerr.code, "message": aerr.message,
				"help_url": helpURL, "request_id": reqID}
			if aerr.context != nil {
				m["context_info"] = aerr.context
			}
			writeJSON(w, aerr.status, m)
		}
		return
	}
	if body == nil {
		w.WriteHeader(status)
		return
	}
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	b, err := json.Marshal(body)
	if err != nil {
		http.Error(w, "emulator: "+err.Error(), 500)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

// tokenEndpoint is POST /oauth2/token, client credentials grant only
// (https://developer.box.com/guides/authentication/client-credentials/). Error bodies and texts
// from Box's common-errors guide: invalid_request "Invalid grant_type parameter or parameter
// missing", invalid_request "The grant type is unauthorized for this client_id", invalid_client
// "The client credentials are invalid", unauthorized_client "This app is not authorized by the
// enterprise admin", and invalid_grant "Grant credentials are invalid" for a wrong subject (quoted
// from a real CCG answer in box/box-python-sdk-gen#220). All with status 400.
func (e *Emulator) tokenEndpoint(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	e.stats.Requests++
	e.mu.Unlock()
	if err := r.ParseForm(); err != nil {
		e.respond(w, nil, 0, nil, oauthError("invalid_request", "Invalid grant_type parameter or parameter missing"))
		return
	}
	f := r.PostForm
	switch f.Get("grant_type") {
	case "client_credentials":
	case "":
		e.respond(w, nil, 0, nil, oauthError("invalid_request", "Invalid grant_type parameter or parameter missing"))
		return
	default:
		e.respond(w, nil, 0, nil, oauthError("invalid_request", "The grant type is unauthorized for this client_id"))
		return
	}
	if f.Get("client_id") != e.o.ClientID || f.Get("client_secret") != e.o.ClientSecret {
		e.respond(w, nil, 0, nil, oauthError("invalid_client", "The client credentials are invalid"))
		return
	}
	if e.o.DenyApp {
		e.respond(w, nil, 0, nil, oauthError("unauthorized_client", "This app is not authorized by the enterprise admin"))
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	t := &token{subjectType: f.Get("box_subject_type"), subjectID: f.Get("box_subject_id"), expires: e.clk.Now().Add(e.o.TokenTTL)}
	switch t.subjectType {
	case "enterprise":
		if t.subjectID != e.o.EnterpriseID {
			e.respond(w, nil, 0, nil, oauthError("invalid_grant", "Grant credentials are invalid"))
			return
		}
		t.userID = e.service.id
	case "user":
		u := e.byID[t.subjectID]
		if u == nil || u.external || u.status != "active" {
			e.respond(w, nil, 0, nil, oauthError("invalid_grant", "Grant credentials are invalid"))
			return
		}
		t.userID = u.id
	default:
		e.respond(w, nil, 0, nil, oauthError("invalid_grant", "Grant credentials are invalid"))
		return
	}
	if len(e.tokens) > 1000 {
		now := e.clk.Now()
		for k, old := range e.tokens {
			if !now.Before(old.expires) {
				delete(e.tokens, k)
			}
		}
	}
	var b [24]byte
	rand.Read(b[:])
	s := base64.RawURLEncoding.EncodeToString(b[:])
	e.tokens[s] = t
	writeJSON(w, 200, map[string]any{"access_token": s, "expires_in": int64(e.o.TokenTTL / time.Second), "token_type": "bearer",
		"restricted_to": []any{}, "issued_token_type": "urn:ietf:params:oauth:token-type:access_token"})
}

// download serves the bytes behind a /2.0/files/{id}/content redirect.
func (e *Emulator) download(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	e.stats.Requests++
	t, ok := e.dl[r.PathValue("ticket")]
	expired := ok && !e.clk.Now().Before(t.expires)
	e.mu.Unlock()
	if !ok || expired {
		http.Error(w, "download link expired or unknown: ask /2.0/files/{id}/content again", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(t.version.size))
	w.WriteHeader(200)
	io.Copy(w, e.open(t.version))
}
