// Package servicenow emulates the parts of a ServiceNow instance that Telltale's ServiceNow
// integration uses: the Table API on the incident table and the OAuth token endpoint. It is
// stateful and in memory, served over real HTTP by the tests.
//
// It follows ServiceNow's documented requests and answers, from these pages:
//   - Table API (https://www.servicenow.com/docs/r/api-reference/rest-apis/c_TableAPI.html, markdown
//     in github.com/ServiceNow/ServiceNowDocs, markdown/api-reference/rest-apis/c_TableAPI.md):
//     GET /api/now/table/{tableName} with sysparm_query (encoded query, field=value joined by ^),
//     sysparm_fields, sysparm_limit, answering {"result":[...]} with X-Total-Count;
//     POST answering 201 {"result":{...}} with a Location header; PATCH and PUT
//     /api/now/table/{tableName}/{sys_id} answering 200 {"result":{...}}; every field value a string;
//     a journal field (work_notes) empty as a value and the journal as a display value
//     (sysparm_display_value=true, Table API FAQs KB0534905).
//   - REST API error bodies ({"error":{"message":...,"detail":...},"status":"failure"}), as on the
//     REST API reference's status codes and the community examples of 401 "User Not Authenticated" /
//     "Required to provide Auth information" and 404 "No Record found".
//   - Create an incident record (https://www.servicenow.com/docs/r/yokohama/api-reference/rest-api-explorer/t_GetStartedCreateInt.html).
//   - OAuth API request parameters (https://www.servicenow.com/docs/r/yokohama/platform-security/authentication/r_OAuthAPIRequestParameters.html):
//     POST /oauth_token.do, form-encoded, grant_type password (client_id, client_secret, username,
//     password) or client_credentials; answering access_token, refresh_token, scope, token_type,
//     expires_in; refused credentials answer 401 {"error_description":"access_denied","error":"server_error"}.
//   - Inbound REST API rate limiting (https://www.servicenow.com/docs/r/api-reference/rest-api-explorer/inbound-REST-API-rate-limiting.html):
//     429 Too Many Requests with Retry-After (seconds), X-RateLimit-Limit, X-RateLimit-Reset (unix
//     seconds) and X-RateLimit-Rule.
//
// It records every incident and counts, per correlation_id, how many incidents carry it (a second
// one for one alert is the duplicate Telltale must never create).
package servicenow

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Fault is an injected answer for the next Table API call.
type Fault struct {
	Status     int           // an error status with ServiceNow's error body (500, 503, 403, 400)
	RateLimit  time.Duration // 429 with this Retry-After
	Garbage    bool          // 200 with an HTML body (a proxy's page)
	AuthFailed bool          // 401 as for a wrong password
}

// Incident is an emulated incident record.
type Incident struct {
	SysID  string
	Fields map[string]string
	Notes  []string // the work_notes journal, oldest first
}

// Options configure a Server.
type Options struct {
	Users   map[string]string // user name -> password (basic auth and the password grant)
	Clients map[string]string // OAuth client id -> secret
	// NoClientCredentials refuses grant_type client_credentials, as an instance does where the
	// client credentials grant is not enabled (it is an instance property since Washington DC).
	NoClientCredentials bool
	// TokenTTL is how long an access token lives; default 30 minutes (ServiceNow's default 1,800 s).
	TokenTTL time.Duration
	Now      func() time.Time
}

// Server is the emulator.
type Server struct {
	o      Options
	mu     sync.Mutex
	inc    map[string]*Incident
	order  []string
	tokens map[string]time.Time // access token -> expiry
	faults []Fault
	seq    int
	calls  map[string]int
	// Check, when set, sees every answer (tests).
	Check func(method, path string, status int, body []byte)
}

// New returns an emulator.
func New(o Options) *Server {
	if o.TokenTTL <= 0 {
		o.TokenTTL = 30 * time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Server{o: o, inc: map[string]*Incident{}, tokens: map[string]time.Time{}, calls: map[string]int{}}
}

// Fail queues faults for the next Table API calls, one each.
func (s *Server) Fail(fs ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, fs...)
}

// SetPassword changes a user's password (the old one stops working).
func (s *Server) SetPassword(user, pw string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.o.Users[user] = pw
}

// RevokeTokens forgets every access token (as when they expire).
func (s *Server) RevokeTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens = map[string]time.Time{}
}

// Incidents returns the incidents in creation order.
func (s *Server) Incidents() []Incident {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Incident, 0, len(s.order))
	for _, id := range s.order {
		i := s.inc[id]
		f := make(map[string]string, len(i.Fields))
		for k, v := range i.Fields {
			f[k] = v
		}
		out = append(out, Incident{SysID: i.SysID, Fields: f, Notes: append([]string(nil), i.Notes...)})
	}
	return out
}

// ByCorrelation counts the incidents of each correlation_id.
func (s *Server) ByCorrelation() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for _, i := range s.inc {
		out[i.Fields["correlation_id"]]++
	}
	return out
}

// Calls counts the calls by "METHOD /path-kind" (token, search, create, update).
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
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	w.Write(b)
	if s.Check != nil {
		s.Check(r.Method, r.URL.Path, status, b)
	}
}

// Failure is ServiceNow's error body.
type Failure struct {
	Error struct {
		Message string `json:"message"`
		Detail  string `json:"detail"`
	} `json:"error"`
	Status string `json:"status"`
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, status int, msg, detail string) {
	var f Failure
	f.Error.Message, f.Error.Detail, f.Status = msg, detail, "failure"
	s.reply(w, r, status, f)
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/oauth_token.do" {
		s.token(w, r)
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/api/now/table/")
	if !ok {
		rest, ok = strings.CutPrefix(r.URL.Path, "/api/now/v2/table/")
	}
	if !ok {
		s.fail(w, r, http.StatusBadRequest, "Requested URI does not represent any resource", "")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.authorized(r) {
		s.calls["401"]++
		s.fail(w, r, http.StatusUnauthorized, "User Not Authenticated", "Required to provide Auth information")
		return
	}
	if len(s.faults) > 0 {
		f := s.faults[0]
		s.faults = s.faults[1:]
		s.calls["fault"]++
		switch {
		case f.RateLimit > 0:
			sec := int(f.RateLimit.Seconds())
			w.Header().Set("Retry-After", strconv.Itoa(sec))
			w.Header().Set("X-RateLimit-Limit", "100")
			w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(s.o.Now().Add(f.RateLimit).Unix(), 10))
			w.Header().Set("X-RateLimit-Rule", "f2e0c3d1db6a2010a1b2c3d4e5f60718")
			s.fail(w, r, http.StatusTooManyRequests, "Rate limit exceeded", "The number of requests has exceeded the rate limit of 100 per hour for the rule Telltale integration user")
			return
		case f.AuthFailed:
			s.fail(w, r, http.StatusUnauthorized, "User Not Authenticated", "Required to provide Auth information")
			return
		case f.Garbage:
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusOK)
			io.WriteString(w, "<html><body>Instance Hibernating page</body></html>")
			return
		default:
			msg := map[int]string{403: "Operation Failed", 400: "Invalid request", 500: "Internal server error", 503: "Service Unavailable"}[f.Status]
			s.fail(w, r, f.Status, cmp(msg, "Error"), "Injected fault")
			return
		}
	}
	table, sysID, _ := strings.Cut(rest, "/")
	if table != "incident" {
		s.fail(w, r, http.StatusBadRequest, "Invalid table "+table, "")
		return
	}
	switch {
	case sysID == "" && r.Method == http.MethodGet:
		s.calls["search"]++
		s.list(w, r)
	case sysID == "" && r.Method == http.MethodPost:
		s.calls["create"]++
		s.create(w, r)
	case sysID != "" && r.Method == http.MethodGet:
		i, ok := s.inc[sysID]
		if !ok {
			s.fail(w, r, http.StatusNotFound, "No Record found", "Record doesn't exist or ACL restricts the record retrieval")
			return
		}
		var fields []string
		if f := r.URL.Query().Get("sysparm_fields"); f != "" {
			fields = strings.Split(f, ",")
		}
		rec := record(i, fields)
		if len(fields) == 0 || slices.Contains(fields, "work_notes") {
			// A journal field's value is empty; its display value is the journal, newest first.
			rec["work_notes"] = ""
			if r.URL.Query().Get("sysparm_display_value") == "true" {
				rec["work_notes"] = s.journal(i)
			}
		}
		s.reply(w, r, http.StatusOK, map[string]any{"result": rec})
	case sysID != "" && (r.Method == http.MethodPatch || r.Method == http.MethodPut):
		s.calls["update"]++
		s.update(w, r, sysID)
	default:
		s.fail(w, r, http.StatusMethodNotAllowed, "Method not Supported", "Method "+r.Method+" not supported for API")
	}
}

func cmp(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func (s *Server) authorized(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	if tok, ok := strings.CutPrefix(h, "Bearer "); ok {
		exp, ok := s.tokens[tok]
		return ok && s.o.Now().Before(exp)
	}
	u, p, ok := r.BasicAuth()
	if !ok {
		return false
	}
	want, ok := s.o.Users[u]
	return ok && want == p
}

// token is /oauth_token.do.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls["token"]++
	denied := func() {
		s.reply(w, r, http.StatusUnauthorized, map[string]string{"error_description": "access_denied", "error": "server_error"})
	}
	if r.Method != http.MethodPost || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		denied()
		return
	}
	if err := r.ParseForm(); err != nil {
		denied()
		return
	}
	id, secret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	if id == "" {
		if u, p, ok := r.BasicAuth(); ok {
			id, secret = u, p
		}
	}
	if want, ok := s.o.Clients[id]; !ok || want != secret {
		denied()
		return
	}
	out := map[string]any{"scope": "useraccount", "token_type": "Bearer", "expires_in": int(s.o.TokenTTL.Seconds())}
	switch r.PostForm.Get("grant_type") {
	case "password":
		u, p := r.PostForm.Get("username"), r.PostForm.Get("password")
		if want, ok := s.o.Users[u]; !ok || want != p {
			denied()
			return
		}
		out["refresh_token"] = randHex(20)
	case "client_credentials":
		if s.o.NoClientCredentials {
			s.reply(w, r, http.StatusBadRequest, map[string]string{"error_description": "unsupported_grant_type", "error": "server_error"})
			return
		}
	default:
		s.reply(w, r, http.StatusBadRequest, map[string]string{"error_description": "invalid_grant", "error": "server_error"})
		return
	}
	tok := base64.RawURLEncoding.EncodeToString([]byte(randHex(24)))
	s.tokens[tok] = s.o.Now().Add(s.o.TokenTTL)
	out["access_token"] = tok
	s.reply(w, r, http.StatusOK, out)
}

// journal is the display value of an incident's work_notes: each entry, newest first, under a
// header line "<time> - <user> (Work notes)".
func (s *Server) journal(i *Incident) string {
	var b strings.Builder
	for n := len(i.Notes) - 1; n >= 0; n-- {
		fmt.Fprintf(&b, "%s - telltale.integration (Work notes)\n%s\n\n", i.Fields["sys_updated_on"], i.Notes[n])
	}
	return b.String()
}

// record is an incident as the Table API shows it: every value a string, only fields if given.
func record(i *Incident, fields []string) map[string]string {
	out := map[string]string{}
	if len(fields) == 0 {
		for k, v := range i.Fields {
			out[k] = v
		}
		out["sys_id"] = i.SysID
		return out
	}
	for _, f := range fields {
		if f == "sys_id" {
			out[f] = i.SysID
		} else if v, ok := i.Fields[f]; ok {
			out[f] = v
		}
	}
	return out
}

// list answers a GET on the table: sysparm_query conditions field=value joined by ^ (other
// operators are not emulated and answer 400), sysparm_fields, sysparm_limit.
func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var conds [][2]string
	if raw := q.Get("sysparm_query"); raw != "" {
		for _, c := range strings.Split(raw, "^") {
			k, v, ok := strings.Cut(c, "=")
			if !ok || strings.ContainsAny(k, "!<>") || strings.HasPrefix(c, "ORDERBY") {
				s.fail(w, r, http.StatusBadRequest, "The emulator supports field=value conditions only", c)
				return
			}
			conds = append(conds, [2]string{k, v})
		}
	}
	limit := 10000
	if l := q.Get("sysparm_limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 0 {
			s.fail(w, r, http.StatusBadRequest, "sysparm_limit is "+l, "Invalid limit")
			return
		}
		limit = n
	}
	var fields []string
	if f := q.Get("sysparm_fields"); f != "" {
		fields = strings.Split(f, ",")
	}
	res := []map[string]string{}
	total := 0
	for _, id := range s.order {
		i := s.inc[id]
		ok := true
		for _, c := range conds {
			v := i.Fields[c[0]]
			if c[0] == "sys_id" {
				v = i.SysID
			}
			if v != c[1] {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		total++
		if len(res) < limit {
			res = append(res, record(i, fields))
		}
	}
	w.Header().Set("X-Total-Count", strconv.Itoa(total))
	s.reply(w, r, http.StatusOK, map[string]any{"result": res})
}

// writable are the incident fields the emulator accepts; others are ignored, as ServiceNow
// ignores fields a table does not have.
var writable = map[string]bool{"short_description": true, "description": true, "correlation_id": true, "correlation_display": true,
	"urgency": true, "impact": true, "category": true, "subcategory": true, "caller_id": true, "assignment_group": true, "state": true,
	"close_code": true, "close_notes": true, "work_notes": true, "comments": true, "contact_type": true}

func (s *Server) body(w http.ResponseWriter, r *http.Request) (map[string]string, bool) {
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, "Exception while reading request", err.Error())
		return nil, false
	}
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		s.fail(w, r, http.StatusBadRequest, "Exception while reading request", "The payload is not valid JSON.")
		return nil, false
	}
	out := map[string]string{}
	for k, v := range raw {
		if !writable[k] {
			continue
		}
		switch x := v.(type) {
		case string:
			out[k] = x
		case float64:
			out[k] = strconv.FormatFloat(x, 'f', -1, 64)
		case bool:
			out[k] = strconv.FormatBool(x)
		}
	}
	return out, true
}

func (s *Server) create(w http.ResponseWriter, r *http.Request) {
	f, ok := s.body(w, r)
	if !ok {
		return
	}
	s.seq++
	now := s.o.Now().UTC().Format("2006-01-02 15:04:05")
	i := &Incident{SysID: randHex(16), Fields: map[string]string{"number": fmt.Sprintf("INC%07d", 10000+s.seq), "state": "1", "urgency": "3", "impact": "3",
		"priority": "5", "active": "true", "opened_at": now, "sys_created_on": now, "sys_updated_on": now, "sys_created_by": "telltale.integration",
		"correlation_id": "", "short_description": "", "description": "", "close_code": "", "close_notes": ""}}
	note := f["work_notes"]
	delete(f, "work_notes")
	for k, v := range f {
		i.Fields[k] = v
	}
	if note != "" {
		i.Notes = append(i.Notes, note)
	}
	priority(i)
	s.inc[i.SysID] = i
	s.order = append(s.order, i.SysID)
	w.Header().Set("Location", "https://"+r.Host+"/api/now/table/incident/"+i.SysID)
	s.reply(w, r, http.StatusCreated, map[string]any{"result": record(i, nil)})
}

// priority derives priority from impact and urgency as the default priority lookup does.
func priority(i *Incident) {
	im, _ := strconv.Atoi(i.Fields["impact"])
	ur, _ := strconv.Atoi(i.Fields["urgency"])
	if im < 1 || im > 3 || ur < 1 || ur > 3 {
		return
	}
	i.Fields["priority"] = strconv.Itoa(min(5, im+ur-1))
}

func (s *Server) update(w http.ResponseWriter, r *http.Request, id string) {
	i, ok := s.inc[id]
	if !ok {
		s.fail(w, r, http.StatusNotFound, "No Record found", "Record doesn't exist or ACL restricts the record retrieval")
		return
	}
	f, ok := s.body(w, r)
	if !ok {
		return
	}
	if st := f["state"]; st == "6" || st == "7" {
		if f["close_code"] == "" && i.Fields["close_code"] == "" {
			s.fail(w, r, http.StatusForbidden, "Operation Failed", "Data Policy Exception: \n\tResolution code is mandatory\n")
			return
		}
	}
	if note := f["work_notes"]; note != "" {
		i.Notes = append(i.Notes, note)
	}
	delete(f, "work_notes")
	for k, v := range f {
		i.Fields[k] = v
	}
	if f["state"] == "6" || f["state"] == "7" {
		i.Fields["active"] = "false"
	} else if f["state"] != "" {
		i.Fields["active"] = "true"
	}
	i.Fields["sys_updated_on"] = s.o.Now().UTC().Format("2006-01-02 15:04:05")
	priority(i)
	s.reply(w, r, http.StatusOK, map[string]any{"result": record(i, nil)})
}
