package microsoft

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// graphError is Graph's JSON error: {"error":{"code","message","innerError":{"date",
// "request-id","client-request-id"}}} (learn.microsoft.com/graph/errors: "the error resource is
// returned whenever an error occurs"; innerError carries the request's ids and date).
type graphError struct {
	status        int
	code, message string
	header        http.Header
}

func gerr(status int, code, format string, args ...any) *graphError {
	return &graphError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

func (g *graphError) with(k, v string) *graphError {
	if g.header == nil {
		g.header = http.Header{}
	}
	g.header.Set(k, v)
	return g
}

// Errors Graph answers. Codes and messages quoted from Microsoft's documentation or observed
// answers, each as noted; the rest modelled on those.
var (
	// 401 for a missing token, an unknown one, one for another resource and an expired one: Graph's
	// InvalidAuthenticationToken answers.
	errNoToken      = gerr(401, "InvalidAuthenticationToken", "Access token is empty.")
	errBadToken     = gerr(401, "InvalidAuthenticationToken", "Access token validation failure.")
	errBadAudience  = gerr(401, "InvalidAuthenticationToken", "Access token validation failure. Invalid audience.")
	errTokenExpired = gerr(401, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired.")
	// A token without any application permission (the admin never consented: Entra ID still
	// issues it, without a roles claim): 401 AccessDenied "Either scp or roles claim need to be
	// present in the token." (observed: TheNetworg/oauth2-azure#86, pnp/cli-microsoft365#2578
	// "when the admin consent is missing", and later reports; the status is modelled as 401).
	errNoRoles = gerr(401, "AccessDenied", "Either scp or roles claim need to be present in the token.")
	// A token with permissions, but not the one a directory call needs: 403
	// Authorization_RequestDenied (NOTES, Corrections 6).
	errDenied = gerr(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
	// ... a files call: OneDrive's accessDenied (learn.microsoft.com/graph/errors; message
	// modelled).
	errFilesDenied = gerr(403, "accessDenied", "Access denied")
)

// faultError is Graph's answer for an injected fault (learn.microsoft.com/graph/errors lists
// generalException, serviceNotAvailable and activityLimitReached; the 502 and 504 texts are
// modelled).
func faultError(status int) *graphError {
	switch status {
	case 429:
		return gerr(429, "activityLimitReached", "The request has been throttled.")
	case 502:
		return gerr(502, "BadGateway", "Bad Gateway.")
	case 503:
		return gerr(503, "serviceNotAvailable", "The service is not available. Try the request again after a delay. There may be a Retry-After header.")
	case 504:
		return gerr(504, "GatewayTimeout", "The operation has timed out.")
	}
	return gerr(500, "generalException", "An unspecified error has occurred.")
}

// call is one authenticated Graph request.
type call struct {
	r     *http.Request
	tok   *token
	base  string // "http://host"
	reqID string
}

type callKey struct{}

// Handler serves the token endpoint (POST /{tenant}/oauth2/v2.0/token), Graph under /v1.0/, the
// pre-authenticated download URLs under /download/ and the Office 365 Management Activity API
// under /api/v1.0/{tenant}/activity/feed/.
func (e *Emulator) Handler() http.Handler {
	api := http.NewServeMux()
	route := func(pattern string, roles []string, h func(*call) (int, any, *graphError)) {
		api.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			c := r.Context().Value(callKey{}).(*call)
			c.r = r
			if !hasAny(c.tok.roles, roles) {
				e.mu.Lock()
				e.stats.Denied++
				e.mu.Unlock()
				deny := errDenied
				switch {
				case len(c.tok.roles) == 0:
					deny = errNoRoles
				case strings.Contains(pattern, "drive"):
					deny = errFilesDenied
				case isMailPath(strings.TrimPrefix(pattern, "GET ")):
					deny = errMailDenied
				}
				e.respond(w, c, 0, nil, deny)
				return
			}
			status, body, gerr := h(c)
			e.respond(w, c, status, body, gerr)
		})
	}
	users := []string{RoleUserReadAll, RoleDirectoryReadAll}
	groups := []string{RoleGroupMemberReadAll, RoleGroupReadAll, RoleDirectoryReadAll}
	files := []string{RoleFilesReadAll, RoleSitesReadAll}
	route("GET /v1.0/users", users, e.usersList)
	route("GET /v1.0/users/{id}", users, e.usersGet)
	route("GET /v1.0/users/{id}/drive", files, e.userDrive)
	route("GET /v1.0/users/{id}/drive/root/delta", files, e.delta)
	mail := []string{RoleMailRead}
	route("GET /v1.0/users/{id}/mailFolders/{folder}/messages/delta", mail, e.mailDelta)
	route("GET /v1.0/users/{id}/mailFolders/{folder}/messages/{mid}", mail, e.messageGet)
	route("GET /v1.0/users/{id}/messages/{mid}", mail, e.messageGet)
	route("GET /v1.0/users/{id}/messages/{mid}/$value", mail, e.messageValue)
	route("GET /v1.0/users/{id}/messages/{mid}/attachments", mail, e.attachmentsList)
	route("GET /v1.0/users/{id}/messages/{mid}/attachments/{aid}", mail, e.attachmentGet)
	route("GET /v1.0/users/{id}/messages/{mid}/attachments/{aid}/$value", mail, e.attachmentValue)
	route("POST /v1.0/subscriptions", nil, e.subCreate)
	route("GET /v1.0/subscriptions", nil, e.subList)
	route("GET /v1.0/subscriptions/{sid}", nil, e.subGet)
	route("PATCH /v1.0/subscriptions/{sid}", nil, e.subPatch)
	route("DELETE /v1.0/subscriptions/{sid}", nil, e.subDelete)
	route("POST /v1.0/subscriptions/{sid}/reauthorize", nil, e.subReauthorize)
	route("GET /v1.0/groups", groups, e.groupsList)
	route("GET /v1.0/groups/{id}", groups, e.groupsGet)
	route("GET /v1.0/groups/{id}/members", groups, e.members)
	route("GET /v1.0/groups/{id}/transitiveMembers", groups, e.members)
	route("GET /v1.0/drives/{drive}", files, e.driveGet)
	route("GET /v1.0/drives/{drive}/root", files, e.itemGet)
	route("GET /v1.0/drives/{drive}/root/delta", files, e.delta)
	route("GET /v1.0/drives/{drive}/items/{item}", files, e.itemGet)
	route("GET /v1.0/drives/{drive}/items/{item}/permissions", files, e.permissionsList)
	route("GET /v1.0/drives/{drive}/items/{item}/content", files, e.content)
	route("/v1.0/", nil, func(c *call) (int, any, *graphError) {
		// Graph's answer to a path it does not know; the emulator also gives it for what it does not
		// emulate (see doc.go).
		seg := strings.Split(strings.TrimPrefix(c.r.URL.Path, "/v1.0/"), "/")
		return 0, nil, gerr(400, "BadRequest", "Resource not found for the segment '%s'.", seg[len(seg)-1])
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		switch {
		case strings.HasSuffix(p, "/oauth2/v2.0/token"):
			if r.Method != http.MethodPost {
				http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
				return
			}
			e.tokenEndpoint(w, r, strings.Trim(strings.TrimSuffix(p, "/oauth2/v2.0/token"), "/"))
		case strings.HasPrefix(p, "/v1.0/"):
			e.serveGraph(w, r, api)
		case strings.HasPrefix(p, "/download/"):
			e.download(w, r)
		case strings.HasPrefix(p, "/api/v1.0/"):
			e.serveManage(w, r)
		default:
			http.NotFound(w, r)
		}
	})
}

func hasAny(have map[string]bool, want []string) bool {
	if want == nil {
		return true
	}
	for _, s := range want {
		if have[s] {
			return true
		}
	}
	return false
}

// serveGraph authenticates, counts, rate limits and injects faults, then routes.
func (e *Emulator) serveGraph(w http.ResponseWriter, r *http.Request, api http.Handler) {
	arrived := time.Now() // before the lock: a request queued behind a 429 being written arrived before it
	if strings.HasSuffix(r.URL.Path, "/root/delta") {
		e.hooks.Fire() // outside e.mu: the hook may act on the emulator
	}
	e.mu.Lock()
	e.stats.Requests++
	c := &call{r: r, base: "http://" + r.Host, reqID: e.serveGUID()}
	tokStr, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	t := e.tokens[tokStr]
	var fail *graphError
	switch {
	case tokStr == "":
		fail = errNoToken
	case t == nil:
		fail = errBadToken
	case t.resource != ResourceGraph:
		fail = errBadAudience
	case !e.clk.Now().Before(t.expires):
		fail = errTokenExpired
	}
	if fail != nil {
		e.mu.Unlock()
		w.Header().Set("WWW-Authenticate", `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`)
		e.respond(w, c, 0, nil, fail)
		return
	}
	c.tok = t
	key := e.statsKey(r.URL.Path)
	us := e.stats.ByUser[key]
	us.Requests++
	// A request is its method, URI and the Prefer header, which changes what Graph answers: the
	// audit stream's resolver reads a drive's delta pages without the sharing preference while
	// the drive's own stream reads the same links with it, two requests, not a retry of one.
	sig := r.Method + " " + r.URL.RequestURI()
	if p := r.Header.Get("Prefer"); p != "" {
		sig += " Prefer: " + p
	}
	// A request answered 429 and sent again before the Retry-After it was given is early. One that
	// arrived before that answer was written was sent before its client could read it: another
	// worker's identical request in flight (two units reading one delta page), no retry; if it is
	// throttled too, its client is told a later Retry-After than the first one's, and the first
	// client's retry after its own, shorter wait is on time, so the first answer's time stands.
	early, inFlight := e.retries.Arrive(sig, sig, arrived, e.clk.Now())
	if early {
		e.stats.EarlyRetries++
	}
	if wait, ok := e.allow(); !ok {
		us.Throttled++
		e.stats.ByUser[key] = us
		e.stats.Throttled++
		_, ticket := e.retries.Throttled(sig, sig, inFlight, e.clk.Now(), func(int) time.Duration { return time.Duration(wait) * time.Second })
		e.mu.Unlock()
		e.respond(w, c, 0, nil, e.throttled(r.URL.Path).with("Retry-After", strconv.Itoa(wait)))
		e.mu.Lock()
		e.retries.Written(sig, ticket, time.Now()) // from now on the client can have read it
		e.mu.Unlock()
		return
	}
	e.stats.ByUser[key] = us
	if ge := e.lockedDrive(r.URL.Path); ge != nil {
		e.stats.Locked++
		e.mu.Unlock()
		e.respond(w, c, 0, nil, ge)
		return
	}
	if isMailPath(r.URL.Path) {
		release, ge := e.mailboxLimit(r.URL.Path)
		if ge != nil {
			e.stats.MailThrottled++
			e.mu.Unlock()
			e.respond(w, c, 0, nil, ge)
			return
		}
		defer release()
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
		ge := faultError(status)
		if status == 503 && retryAfter == 0 {
			retryAfter = e.inject.RetryAfter() // SharePoint's 503s carry Retry-After too (NOTES 3d)
		}
		if retryAfter > 0 {
			ge = ge.with("Retry-After", strconv.Itoa(int(math.Ceil(retryAfter.Seconds()))))
		}
		e.respond(w, c, 0, nil, ge)
	})
}

// statsKey is the UPN of the user a Graph path addresses: /users/{id}/..., or a drive's owner.
// Called with e.mu held.
func (e *Emulator) statsKey(path string) string {
	seg := strings.Split(strings.TrimPrefix(path, "/v1.0/"), "/")
	if len(seg) < 2 {
		return ""
	}
	switch seg[0] {
	case "users":
		if u := e.userByKey(seg[1]); u != nil {
			return u.upn
		}
	case "drives":
		if d := e.drives[seg[1]]; d != nil {
			return d.owner.upn
		}
	}
	return ""
}

type bucket struct {
	tokens float64
	last   time.Time
	init   bool
}

// allow takes a token from the app's bucket in the tenant (one app, one tenant here); when empty
// it returns the whole seconds until one is due. Called with e.mu held.
func (e *Emulator) allow() (int, bool) {
	if e.o.RateLimitPerMinute < 0 {
		return 0, true
	}
	rate := float64(e.o.RateLimitPerMinute) / 60
	now := e.clk.Now()
	b := &e.bucket
	if !b.init {
		b.tokens, b.last, b.init = float64(e.o.RateBurst), now, true
	}
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = math.Min(float64(e.o.RateBurst), b.tokens+el*rate)
	}
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return 0, true
	}
	return max(1, int(math.Ceil((1-b.tokens)/rate))), false
}

// throttled is Graph's 429: files answer OneDrive's activityLimitReached, the directory
// TooManyRequests (learn.microsoft.com/graph/throttling: 429 with Retry-After in seconds; the
// directory's code is modelled on the codes Graph documents).
func (e *Emulator) throttled(path string) *graphError {
	if strings.Contains(path, "/drive") {
		return faultError(429)
	}
	return gerr(429, "TooManyRequests", "Too many requests.")
}

// respond writes a JSON answer (or a bodiless one with status and headers set by the handler) or
// Graph's error, with Graph's request-id and client-request-id headers.
func (e *Emulator) respond(w http.ResponseWriter, c *call, status int, body any, ge *graphError) {
	crid := c.r.Header.Get("client-request-id")
	if crid == "" {
		crid = c.reqID
	}
	w.Header().Set("request-id", c.reqID)
	w.Header().Set("client-request-id", crid)
	if ge != nil {
		for k, v := range ge.header {
			w.Header()[k] = v
		}
		writeJSON(w, ge.status, map[string]any{"error": map[string]any{"code": ge.code, "message": ge.message,
			"innerError": map[string]any{"date": e.clk.Now().UTC().Format("2006-01-02T15:04:05"), "request-id": c.reqID, "client-request-id": crid}}})
		return
	}
	if h, ok := body.(withHeader); ok {
		w.Header().Set(h.k, h.v)
		body = h.body
	}
	if raw, ok := body.(rawBody); ok {
		w.Header().Set("Content-Type", raw.ctype)
		w.Header().Set("Content-Length", strconv.Itoa(len(raw.data)))
		w.WriteHeader(status)
		w.Write(raw.data)
		return
	}
	if loc, ok := body.(locationBody); ok {
		w.Header().Set("Location", string(loc))
		w.WriteHeader(status)
		return
	}
	if body == nil {
		w.WriteHeader(status)
		return
	}
	writeJSON(w, status, body)
}

// Content types: Graph's OData JSON and the token endpoint's plain JSON.
const (
	ctGraph = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"
	ctToken = "application/json; charset=utf-8"
)

func writeJSON(w http.ResponseWriter, status int, body any) { writeJSONAs(w, status, ctGraph, body) }

func writeJSONAs(w http.ResponseWriter, status int, ct string, body any) {
	b, err := json.Marshal(body)
	if err != nil {
		http.Error(w, "emulator: "+err.Error(), 500)
		return
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

// selectProps applies $select (sel, comma separated) or, without it, the default properties def
// (nil: all) to an entity.
func selectProps(m map[string]any, sel string, def []string) map[string]any {
	var keep []string
	switch {
	case sel != "":
		keep = strings.Split(sel, ",")
	case def != nil:
		keep = def
	default:
		return m
	}
	out := map[string]any{}
	for k, v := range m {
		if strings.HasPrefix(k, "@") {
			out[k] = v
		}
	}
	for _, k := range keep {
		if v, ok := m[strings.TrimSpace(k)]; ok {
			out[strings.TrimSpace(k)] = v
		}
	}
	return out
}

// pageOf answers one page of a directory collection: $top (1..999, default def), $skiptoken
// (opaque here: the offset), @odata.nextLink keeping the request's other parameters.
func (e *Emulator) pageOf(c *call, context string, all []map[string]any, def int) (int, any, *graphError) {
	q := c.r.URL.Query()
	top := def
	if s := q.Get("$top"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 999 {
			// Modelled on the directory's answer to a page size out of range.
			return 0, nil, gerr(400, "Request_UnsupportedQuery", "Invalid page size specified: '%s'. Must be between 1 and 999 inclusive.", s)
		}
		top = n
	}
	off := 0
	if s := q.Get("$skiptoken"); s != "" {
		b, err := base64.RawURLEncoding.DecodeString(s)
		n, err2 := strconv.Atoi(strings.TrimPrefix(string(b), "emu:"))
		if err != nil || err2 != nil || n < 0 || !strings.HasPrefix(string(b), "emu:") {
			return 0, nil, gerr(400, "Directory_ExpiredPageToken", "The specified page token value has expired and can no longer be included in your request.")
		}
		off = n
	}
	end := min(off+top, len(all))
	page := []map[string]any{}
	if off < len(all) {
		page = all[off:end]
	}
	body := map[string]any{"@odata.context": c.base + "/v1.0/$metadata#" + context, "value": page}
	if end < len(all) {
		q.Set("$skiptoken", base64.RawURLEncoding.EncodeToString([]byte("emu:"+strconv.Itoa(end))))
		body["@odata.nextLink"] = c.base + c.r.URL.Path + "?" + encodeQuery(q)
	}
	return 200, body, nil
}

// encodeQuery is url.Values.Encode keeping "$" as Graph writes it.
func encodeQuery(q url.Values) string {
	return strings.ReplaceAll(q.Encode(), "%24", "$")
}
