// Package bamboohr emulates the parts of BambooHR's API that Telltale's BambooHR source uses,
// stateful and in memory, served over real HTTP by the tests, and sends its webhook:
//
//   - GET /api/gateway.php/{company}/v1/employees/changed?since=<ISO 8601> (Accept:
//     application/json): {"latest": ..., "employees": {"<id>": {"id", "action": Inserted, Updated or
//     Deleted, "lastChanged"}}} as documented at
//     documentation.bamboohr.com/reference/get-changed-employee-ids; a since that is not one of the
//     documented ISO 8601 forms is a 400.
//   - GET /api/gateway.php/{company}/v1/employees/{id}?fields=a,b,c: the employee's requested
//     fields and "id", every value a string (documentation.bamboohr.com/reference/get-employee).
//   - HTTP basic auth with the API key as the user name and any password; a bad key is 401, an
//     unknown company 404; throttling is 503 with Retry-After (BambooHR's documented answer), and
//     429 may be injected.
//   - The webhook (documentation.bamboohr.com/docs/webhooks): a POST of {"employees": [{"id",
//     "action", "timestamp", "changedFields", "fields"}]} with X-BambooHR-Timestamp (unix seconds)
//     and X-BambooHR-Signature: hex HMAC-SHA256, keyed with the webhook's private key, of the raw
//     body followed by the timestamp.
package bamboohr

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Employee is an emulated employee.
type Employee struct {
	ID              string
	WorkEmail       string
	Status          string // Active or Inactive
	TerminationDate string // YYYY-MM-DD, "" for none (BambooHR answers "0000-00-00")
}

type change struct {
	action string
	at     time.Time
}

// Fault is an injected answer for the next call.
type Fault struct {
	Status     int           // 429, 500 or 503
	RetryAfter time.Duration // sent with Status
	Garbage    bool          // 200 with an HTML page
}

// Server is the emulator.
type Server struct {
	mu        sync.Mutex
	company   string
	key       string
	employees map[string]Employee
	changes   map[string]change
	faults    []Fault
	calls     map[string]int
	// Now is the emulator's clock (lastChanged); default time.Now.
	Now func() time.Time
}

// New returns an emulator for company accepting API key key.
func New(company, key string) *Server {
	return &Server{company: company, key: key, employees: map[string]Employee{}, changes: map[string]change{}, calls: map[string]int{}, Now: time.Now}
}

// Put inserts or updates an employee, recording the change.
func (s *Server) Put(e Employee) {
	s.mu.Lock()
	defer s.mu.Unlock()
	action := "Updated"
	if _, ok := s.employees[e.ID]; !ok {
		action = "Inserted"
	}
	if e.Status == "" {
		e.Status = "Active"
	}
	s.employees[e.ID] = e
	s.changes[e.ID] = change{action: action, at: s.Now().UTC().Truncate(time.Second)}
}

// Delete removes an employee, recording the change.
func (s *Server) Delete(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.employees, id)
	s.changes[id] = change{action: "Deleted", at: s.Now().UTC().Truncate(time.Second)}
}

// Inject queues faults for the next calls.
func (s *Server) Inject(f ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, f...)
}

// Calls is how many calls of path kind ("changed", "employee") were served.
func (s *Server) Calls(kind string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[kind]
}

// parseSince accepts the documented forms: yyyy-mm-ddThh:mm:ss followed by Z, ±hh:mm or ±hhmm.
func parseSince(v string) (time.Time, bool) {
	for _, layout := range []string{"2006-01-02T15:04:05Z07:00", "2006-01-02T15:04:05-0700"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	prefix := "/api/gateway.php/"
	rest, ok := strings.CutPrefix(r.URL.Path, prefix)
	if !ok || r.Method != http.MethodGet {
		http.NotFound(w, r)
		return
	}
	company, path, _ := strings.Cut(rest, "/v1/")
	if company != s.company {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	if u, _, ok := r.BasicAuth(); !ok || u != s.key {
		w.Header().Set("WWW-Authenticate", `Basic realm="BambooHR"`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if len(s.faults) > 0 {
		f := s.faults[0]
		s.faults = s.faults[1:]
		if f.Garbage {
			w.Header().Set("Content-Type", "text/html")
			_, _ = w.Write([]byte("<html><body>BambooHR maintenance</body></html>"))
			return
		}
		if f.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(f.RetryAfter.Seconds())))
		}
		w.WriteHeader(f.Status)
		return
	}
	if r.Header.Get("Accept") != "application/json" { // BambooHR answers XML otherwise
		w.Header().Set("Content-Type", "text/xml")
		_, _ = w.Write([]byte(`<?xml version="1.0"?><employees/>`))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	switch {
	case path == "employees/changed":
		since, ok := parseSince(r.URL.Query().Get("since"))
		if !ok {
			w.Header().Set("X-BambooHR-Error-Message", "Invalid since date")
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		s.calls["changed"]++
		out := map[string]map[string]string{}
		var latest time.Time
		for id, c := range s.changes {
			if c.at.Before(since) {
				continue
			}
			out[id] = map[string]string{"id": id, "action": c.action, "lastChanged": c.at.Format("2006-01-02T15:04:05-07:00")}
			if c.at.After(latest) {
				latest = c.at
			}
		}
		if latest.IsZero() {
			latest = s.Now().UTC().Truncate(time.Second)
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"latest": latest.Format("2006-01-02T15:04:05-07:00"), "employees": out})
	case strings.HasPrefix(path, "employees/"):
		id := strings.TrimPrefix(path, "employees/")
		e, ok := s.employees[id]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		s.calls["employee"]++
		out := map[string]string{"id": id}
		for _, f := range strings.Split(r.URL.Query().Get("fields"), ",") {
			switch f {
			case "workEmail":
				out[f] = e.WorkEmail
			case "status":
				out[f] = e.Status
			case "terminationDate":
				out[f] = e.TerminationDate
				if out[f] == "" {
					out[f] = "0000-00-00"
				}
			}
		}
		_ = json.NewEncoder(w).Encode(out)
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

// Sign is the X-BambooHR-Signature of body at timestamp ts.
func Sign(privateKey, ts string, body []byte) string {
	m := hmac.New(sha256.New, []byte(privateKey))
	m.Write(body)
	m.Write([]byte(ts))
	return hex.EncodeToString(m.Sum(nil))
}

// WebhookBody is the body BambooHR posts for the employees (the posted fields by their English names).
func WebhookBody(at time.Time, es ...Employee) []byte {
	type emp struct {
		ID            string            `json:"id"`
		Action        string            `json:"action"`
		Timestamp     string            `json:"timestamp"`
		ChangedFields []string          `json:"changedFields"`
		Fields        map[string]string `json:"fields"`
	}
	var out []emp
	for _, e := range es {
		f := map[string]string{"Work Email": e.WorkEmail, "Status": e.Status, "Termination Date": e.TerminationDate}
		out = append(out, emp{ID: e.ID, Action: "Updated", Timestamp: at.UTC().Format(time.RFC3339), ChangedFields: []string{"Status"}, Fields: f})
	}
	b, _ := json.Marshal(map[string]any{"employees": out})
	return b
}

// SendWebhook posts the webhook for es to url signed with privateKey at time at, as BambooHR does.
func SendWebhook(c *http.Client, url, privateKey string, at time.Time, es ...Employee) (*http.Response, error) {
	body := WebhookBody(at, es...)
	ts := strconv.FormatInt(at.Unix(), 10)
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-BambooHR-Timestamp", ts)
	req.Header.Set("X-BambooHR-Signature", Sign(privateKey, ts, body))
	return c.Do(req)
}
