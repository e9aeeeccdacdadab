// Package workday emulates a Workday custom report exposed as a web service (Report-as-a-Service,
// RaaS), stateful and in memory, served over real HTTP by the tests: GET
// /ccx/service/customreport2/{tenant}/{owner}/{report}?format=json with HTTP basic auth of an
// integration system user, the report's prompts as query parameters, and the JSON answer
// {"Report_Entry": [{<column alias>: <value>, ...}, ...]} (every value a string, as Workday
// writes them).
//
// It follows the RaaS JSON shape documented for Workday's report web services (the
// ReportResponse schema: an object whose Report_Entry array holds one object per row keyed by the
// columns' aliases), and its errors: 401 with an empty body for bad credentials, 403 for a report
// not shared with the user, 404 for an unknown report, 400 for a malformed prompt value, and 429
// or 503 with Retry-After when throttled (injected with Fault).
//
// The report it serves is the one docs/OPERATIONS.md asks an admin to build: workers with a
// termination date between the prompts Termination_Date_On_or_After and
// Termination_Date_On_or_Before (dates with their UTC offset, 2026-12-06-00:00), with the
// columns Employee_ID, Email and Termination_Date. Rows whose date lies outside the prompts'
// range are not returned, as Workday's filter would not.
package workday

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Worker is an emulated worker with a pending or past termination.
type Worker struct {
	ID              string
	Email           string
	TerminationDate string // YYYY-MM-DD; "" for a worker who is not leaving (never in the report)
}

// Fault is an injected answer for the next call.
type Fault struct {
	Status     int           // 429, 500 or 503
	RetryAfter time.Duration // sent with Status
	Garbage    bool          // 200 with an HTML page
}

// Server is the emulator.
type Server struct {
	mu       sync.Mutex
	tenant   string
	owner    string
	report   string
	user     string
	password string
	shared   bool
	workers  map[string]Worker
	faults   []Fault
	calls    int
	// LastQuery is the query of the last report request.
	LastQuery url.Values
}

// New returns an emulator serving report {tenant}/{owner}/{report} to user with password.
func New(tenant, owner, report, user, password string) *Server {
	return &Server{tenant: tenant, owner: owner, report: report, user: user, password: password, shared: true, workers: map[string]Worker{}}
}

// Path is the report's path.
func (s *Server) Path() string {
	return "/ccx/service/customreport2/" + s.tenant + "/" + s.owner + "/" + s.report
}

// Put adds or changes a worker.
func (s *Server) Put(w Worker) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.workers[w.ID] = w
}

// Remove deletes a worker (a rescinded termination: the worker no longer matches the report).
func (s *Server) Remove(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.workers, id)
}

// SetShared shares or unshares the report with the user (403 when not).
func (s *Server) SetShared(v bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.shared = v
}

// Inject queues faults for the next calls.
func (s *Server) Inject(f ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, f...)
}

// Calls is how many report requests were served.
func (s *Server) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// parsePrompt reads a date prompt: YYYY-MM-DD with an optional UTC offset (-08:00, +01:00).
func parsePrompt(v string) (time.Time, bool) {
	if len(v) != 10 && len(v) != 16 {
		return time.Time{}, false
	}
	d, err := time.Parse(time.DateOnly, v[:10])
	if err != nil {
		return time.Time{}, false
	}
	if len(v) == 16 {
		if _, err := time.Parse("-07:00", v[10:]); err != nil {
			return time.Time{}, false
		}
	}
	return d, true
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.Method != http.MethodGet {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	u, p, ok := r.BasicAuth()
	if !ok || u != s.user || p != s.password {
		w.Header().Set("WWW-Authenticate", `Basic realm="Workday"`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if len(s.faults) > 0 {
		f := s.faults[0]
		s.faults = s.faults[1:]
		if f.Garbage {
			w.Header().Set("Content-Type", "text/html")
			_, _ = w.Write([]byte("<html><body>Workday is down for maintenance</body></html>"))
			return
		}
		if f.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(f.RetryAfter.Seconds())))
		}
		http.Error(w, "Too many requests", f.Status)
		return
	}
	if r.URL.Path != s.Path() {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"error":"Invalid report name or report not enabled as a web service"}`))
		return
	}
	if !s.shared {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte(`{"error":"The task submitted is not authorized."}`))
		return
	}
	q := r.URL.Query()
	s.LastQuery = q
	if f := q.Get("format"); f != "json" {
		http.Error(w, "this emulator serves format=json only", http.StatusBadRequest)
		return
	}
	from, okF := parsePrompt(q.Get("Termination_Date_On_or_After"))
	to, okT := parsePrompt(q.Get("Termination_Date_On_or_Before"))
	if !okF || !okT {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"error":"Validation error occurred. Invalid date for prompt"}`))
		return
	}
	s.calls++
	rows := []map[string]string{}
	for _, wk := range s.workers {
		d, err := time.Parse(time.DateOnly, wk.TerminationDate)
		if err != nil || d.Before(from) || d.After(to) {
			continue
		}
		row := map[string]string{"Employee_ID": wk.ID, "Termination_Date": wk.TerminationDate + "-08:00"}
		if wk.Email != "" {
			row["Email"] = wk.Email
		}
		rows = append(rows, row)
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	_ = json.NewEncoder(w).Encode(map[string]any{"Report_Entry": rows})
}

// Tenant is the report's tenant, for URLs.
func (s *Server) Tenant() string { return strings.Clone(s.tenant) }
