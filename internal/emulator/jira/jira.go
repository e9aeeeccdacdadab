// Package jira emulates the parts of Jira Cloud's REST API v3 that Telltale's Jira integration
// uses, stateful and in memory, served over real HTTP by the tests.
//
// It follows Atlassian's documented requests and answers, from these pages:
//   - The Jira Cloud platform REST API v3, Issues: POST /rest/api/3/issue
//     (https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issues/#api-rest-api-3-issue-post),
//     fields project, issuetype, summary, description (Atlassian Document Format only in v3),
//     labels (no spaces), and properties; answering 201 {"id","key","self"} (the CreatedIssue model,
//     as in the published client models, e.g. docs.rs jira_v3_openapi CreatedIssue);
//   - Issue search: POST /rest/api/3/search/jql
//     (https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-search/), body jql,
//     fields, maxResults, nextPageToken; answering {"issues":[...],"isLast":...} with nextPageToken
//     only when there is a next page (JRACLOUD-92184);
//   - Issue comments: POST /rest/api/3/issue/{issueIdOrKey}/comment with an ADF body, 201 with the
//     comment; GET the same path (PageOfComments: startAt, maxResults, total, comments; orderBy
//     -created); 404 "Issue does not exist or you do not have permission to see it.";
//   - Myself (GET /rest/api/3/myself) and Projects (GET /rest/api/3/project/{projectIdOrKey});
//   - Basic auth with an email and API token
//     (https://developer.atlassian.com/cloud/jira/platform/basic-auth-for-rest-apis/);
//   - Error bodies {"errorMessages":[...],"errors":{field: message}} (the ErrorCollection model);
//   - Rate limiting (https://developer.atlassian.com/cloud/jira/platform/rate-limiting/): 429 with
//     Retry-After (seconds) and X-RateLimit-Reset (ISO 8601), and RateLimit-Reason.
//   - Atlassian Document Format (https://developer.atlassian.com/cloud/jira/platform/apis/document/structure/):
//     a doc node of version 1 whose content are block nodes; text nodes must not be empty.
//
// Options.IndexDelay makes new issues invisible to search for a while, as Jira's enhanced search is
// eventually consistent ("The search results may not include the most recent changes": the
// search/jql endpoint's reconcileIssues parameter exists for read-after-write); the issue itself
// exists at once.
//
// The JQL it understands is what Telltale sends: clauses `field = "value"` (project, labels, key)
// joined by AND; anything else answers 400 as Jira does for a query it cannot parse.
package jira

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Fault is an injected answer for the next call.
type Fault struct {
	Status    int           // this status with Jira's error body (500, 503, 403)
	RateLimit time.Duration // 429 with this Retry-After
	Garbage   bool          // 200 with an HTML body
}

// Issue is an emulated issue.
type Issue struct {
	ID, Key     string
	Project     string
	IssueType   string
	Summary     string
	Description map[string]any
	Labels      []string
	Properties  map[string]any
	Comments    []map[string]any // the ADF bodies
	Created     time.Time
	commentAt   []string // each comment's created time
}

// Options configure a Server.
type Options struct {
	Email, Token string   // the account and its API token
	Projects     []string // project keys
	IssueTypes   []string // default Task, Bug
	Now          func() time.Time
	// IndexDelay is how long a new issue stays out of search results, as Jira's enhanced search is
	// eventually consistent (the issue exists at once; the search index lags); default 0.
	IndexDelay time.Duration
}

// Server is the emulator.
type Server struct {
	o      Options
	mu     sync.Mutex
	issues []*Issue
	seq    map[string]int
	faults []Fault
	calls  map[string]int
	// Check, when set, sees every answer (tests).
	Check func(method, path string, status int, body []byte)
}

// New returns an emulator.
func New(o Options) *Server {
	if len(o.IssueTypes) == 0 {
		o.IssueTypes = []string{"Task", "Bug"}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Server{o: o, seq: map[string]int{}, calls: map[string]int{}}
}

// Fail queues faults for the next calls, one each.
func (s *Server) Fail(fs ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, fs...)
}

// SetToken changes the accepted API token (revokes the old one).
func (s *Server) SetToken(t string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.o.Token = t
}

// Issues returns copies of the issues in creation order.
func (s *Server) Issues() []Issue {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Issue, 0, len(s.issues))
	for _, i := range s.issues {
		c := *i
		c.Labels = slices.Clone(i.Labels)
		c.Comments = slices.Clone(i.Comments)
		out = append(out, c)
	}
	return out
}

// ByLabel counts the issues carrying each label.
func (s *Server) ByLabel() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for _, i := range s.issues {
		for _, l := range i.Labels {
			out[l]++
		}
	}
	return out
}

// Calls counts the calls by kind (search, create, comment, 401, fault).
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

// fail answers Jira's ErrorCollection.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, status int, msgs []string, errs map[string]string) {
	if msgs == nil {
		msgs = []string{}
	}
	if errs == nil {
		errs = map[string]string{}
	}
	s.reply(w, r, status, map[string]any{"errorMessages": msgs, "errors": errs})
}

var (
	commentPath = regexp.MustCompile(`^/rest/api/3/issue/([A-Z][A-Z0-9_]*-[0-9]+|[0-9]+)/comment$`)
	projectPath = regexp.MustCompile(`^/rest/api/3/project/([^/]+)$`)
)

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u, p, ok := r.BasicAuth(); !ok || u != s.o.Email || p != s.o.Token {
		s.calls["401"]++
		s.fail(w, r, http.StatusUnauthorized, []string{"Client must be authenticated to access this resource."}, nil)
		return
	}
	if len(s.faults) > 0 {
		f := s.faults[0]
		s.faults = s.faults[1:]
		s.calls["fault"]++
		switch {
		case f.RateLimit > 0:
			w.Header().Set("Retry-After", strconv.Itoa(int(f.RateLimit.Seconds())))
			w.Header().Set("X-RateLimit-Reset", s.o.Now().Add(f.RateLimit).UTC().Format("2006-01-02T15:04Z"))
			w.Header().Set("RateLimit-Reason", "jira-burst-based")
			s.fail(w, r, http.StatusTooManyRequests, []string{"Rate limit exceeded."}, nil)
		case f.Garbage:
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusOK)
			io.WriteString(w, "<html><body>Atlassian is down for maintenance</body></html>")
		default:
			s.fail(w, r, f.Status, []string{http.StatusText(f.Status)}, nil)
		}
		return
	}
	p := r.URL.Path
	switch {
	case p == "/rest/api/3/myself" && r.Method == http.MethodGet:
		s.reply(w, r, http.StatusOK, map[string]any{"self": "https://" + r.Host + "/rest/api/3/user?accountId=5b10a2844c20165700ede21g",
			"accountId": "5b10a2844c20165700ede21g", "accountType": "atlassian", "emailAddress": s.o.Email, "displayName": "Telltale integration",
			"active": true, "timeZone": "UTC", "locale": "en_US"})
	case projectPath.MatchString(p) && r.Method == http.MethodGet:
		key := projectPath.FindStringSubmatch(p)[1]
		if !slices.Contains(s.o.Projects, key) {
			s.fail(w, r, http.StatusNotFound, []string{"No project could be found with key '" + key + "'."}, nil)
			return
		}
		s.reply(w, r, http.StatusOK, map[string]any{"self": "https://" + r.Host + "/rest/api/3/project/" + key, "id": strconv.Itoa(10000 + slices.Index(s.o.Projects, key)),
			"key": key, "name": key, "projectTypeKey": "software", "simplified": false, "style": "classic", "isPrivate": false})
	case p == "/rest/api/3/search/jql" && (r.Method == http.MethodPost || r.Method == http.MethodGet):
		s.calls["search"]++
		s.search(w, r)
	case p == "/rest/api/3/issue" && r.Method == http.MethodPost:
		s.calls["create"]++
		s.create(w, r)
	case commentPath.MatchString(p) && r.Method == http.MethodPost:
		s.calls["comment"]++
		s.comment(w, r, commentPath.FindStringSubmatch(p)[1])
	case commentPath.MatchString(p) && r.Method == http.MethodGet:
		s.calls["comments"]++
		s.comments(w, r, commentPath.FindStringSubmatch(p)[1])
	default:
		s.fail(w, r, http.StatusNotFound, []string{"null for uri: " + r.URL.String()}, nil)
	}
}

func (s *Server) read(w http.ResponseWriter, r *http.Request, v any) bool {
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err == nil {
		err = json.Unmarshal(b, v)
	}
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, []string{"Unexpected character in the request body: the body is not valid JSON."}, nil)
		return false
	}
	return true
}

var clause = regexp.MustCompile(`^\s*(project|labels|key)\s*=\s*"([^"]*)"\s*$`)

func (s *Server) search(w http.ResponseWriter, r *http.Request) {
	var in struct {
		JQL           string   `json:"jql"`
		Fields        []string `json:"fields"`
		MaxResults    *int     `json:"maxResults"`
		NextPageToken string   `json:"nextPageToken"`
	}
	if r.Method == http.MethodGet {
		in.JQL = r.URL.Query().Get("jql")
		if f := r.URL.Query().Get("fields"); f != "" {
			in.Fields = strings.Split(f, ",")
		}
		if m, err := strconv.Atoi(r.URL.Query().Get("maxResults")); err == nil {
			in.MaxResults = &m
		}
		in.NextPageToken = r.URL.Query().Get("nextPageToken")
	} else if !s.read(w, r, &in) {
		return
	}
	var conds [][2]string
	for _, c := range strings.Split(in.JQL, " AND ") {
		m := clause.FindStringSubmatch(c)
		if m == nil {
			s.fail(w, r, http.StatusBadRequest, []string{fmt.Sprintf("Error in the JQL Query: the emulator understands field = \"value\" clauses joined by AND, not %q.", strings.TrimSpace(c))}, nil)
			return
		}
		if m[1] == "project" && !slices.Contains(s.o.Projects, m[2]) {
			s.fail(w, r, http.StatusBadRequest, []string{"The value '" + m[2] + "' does not exist for the field 'project'."}, nil)
			return
		}
		conds = append(conds, [2]string{m[1], m[2]})
	}
	max := 50
	if in.MaxResults != nil && *in.MaxResults > 0 {
		max = min(*in.MaxResults, 5000)
	}
	start, _ := strconv.Atoi(in.NextPageToken)
	var hits []*Issue
	now := s.o.Now()
	for _, iss := range s.issues {
		ok := !iss.Created.Add(s.o.IndexDelay).After(now) // not indexed yet
		for _, c := range conds {
			switch c[0] {
			case "project":
				ok = ok && iss.Project == c[1]
			case "labels":
				ok = ok && slices.Contains(iss.Labels, c[1])
			case "key":
				ok = ok && iss.Key == c[1]
			}
		}
		if ok {
			hits = append(hits, iss)
		}
	}
	out := map[string]any{}
	list := []map[string]any{}
	for i := start; i < len(hits) && i < start+max; i++ {
		iss := hits[i]
		item := map[string]any{"id": iss.ID, "key": iss.Key, "self": "https://" + r.Host + "/rest/api/3/issue/" + iss.ID, "expand": ""}
		fields := map[string]any{}
		for _, f := range in.Fields {
			switch f {
			case "summary":
				fields["summary"] = iss.Summary
			case "labels":
				fields["labels"] = iss.Labels
			}
		}
		if len(fields) > 0 {
			item["fields"] = fields
		}
		list = append(list, item)
	}
	out["issues"] = list
	if start+max < len(hits) {
		out["nextPageToken"] = strconv.Itoa(start + max)
		out["isLast"] = false
	} else {
		out["isLast"] = true
	}
	s.reply(w, r, http.StatusOK, out)
}

// validADF checks the outline of an Atlassian Document Format document: a doc of version 1 whose
// content are nodes with a type, text nodes with non-empty text.
func validADF(v any) bool {
	d, ok := v.(map[string]any)
	if !ok || d["type"] != "doc" || d["version"] != float64(1) {
		return false
	}
	var node func(n any) bool
	node = func(n any) bool {
		m, ok := n.(map[string]any)
		if !ok {
			return false
		}
		t, _ := m["type"].(string)
		if t == "" {
			return false
		}
		if t == "text" {
			s, _ := m["text"].(string)
			return s != ""
		}
		c, has := m["content"]
		if !has {
			return true
		}
		list, ok := c.([]any)
		if !ok {
			return false
		}
		for _, x := range list {
			if !node(x) {
				return false
			}
		}
		return true
	}
	c, ok := d["content"].([]any)
	if !ok {
		return false
	}
	for _, x := range c {
		if !node(x) {
			return false
		}
	}
	return true
}

func (s *Server) create(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Fields     map[string]any `json:"fields"`
		Properties []struct {
			Key   string `json:"key"`
			Value any    `json:"value"`
		} `json:"properties"`
	}
	if !s.read(w, r, &in) {
		return
	}
	errs := map[string]string{}
	f := in.Fields
	proj, _ := f["project"].(map[string]any)
	pkey, _ := proj["key"].(string)
	if !slices.Contains(s.o.Projects, pkey) {
		errs["project"] = "valid project is required"
	}
	it, _ := f["issuetype"].(map[string]any)
	tname, _ := it["name"].(string)
	if !slices.Contains(s.o.IssueTypes, tname) {
		errs["issuetype"] = "Specify an issue type"
		if tname != "" {
			errs["issuetype"] = "Specify a valid issue type"
		}
	}
	summary, _ := f["summary"].(string)
	switch {
	case strings.TrimSpace(summary) == "":
		errs["summary"] = "You must specify a summary of the issue."
	case len(summary) > 255 || strings.Contains(summary, "\n"):
		errs["summary"] = "Summary must be less than 255 characters and on one line."
	}
	var desc map[string]any
	if d, ok := f["description"]; ok && d != nil {
		if !validADF(d) {
			errs["description"] = "Operation value must be an Atlassian Document (see the Atlassian Document Format)"
		} else {
			desc = d.(map[string]any)
		}
	}
	var labels []string
	if l, ok := f["labels"]; ok {
		list, _ := l.([]any)
		for _, x := range list {
			s, _ := x.(string)
			if s == "" || strings.ContainsAny(s, " \t") || len(s) > 255 {
				errs["labels"] = fmt.Sprintf("The label '%s' contains spaces which is invalid.", s)
				break
			}
			labels = append(labels, s)
		}
	}
	if len(errs) > 0 {
		s.fail(w, r, http.StatusBadRequest, nil, errs)
		return
	}
	s.seq[pkey]++
	iss := &Issue{ID: strconv.Itoa(10000 + len(s.issues)), Key: fmt.Sprintf("%s-%d", pkey, s.seq[pkey]), Project: pkey, IssueType: tname,
		Summary: summary, Description: desc, Labels: labels, Properties: map[string]any{}, Created: s.o.Now()}
	for _, p := range in.Properties {
		iss.Properties[p.Key] = p.Value
	}
	s.issues = append(s.issues, iss)
	s.reply(w, r, http.StatusCreated, map[string]any{"id": iss.ID, "key": iss.Key, "self": "https://" + r.Host + "/rest/api/3/issue/" + iss.ID})
}

func (s *Server) comment(w http.ResponseWriter, r *http.Request, key string) {
	var iss *Issue
	for _, i := range s.issues {
		if i.Key == key || i.ID == key {
			iss = i
		}
	}
	if iss == nil {
		s.fail(w, r, http.StatusNotFound, []string{"Issue does not exist or you do not have permission to see it."}, nil)
		return
	}
	var in struct {
		Body any `json:"body"`
	}
	if !s.read(w, r, &in) {
		return
	}
	if !validADF(in.Body) {
		s.fail(w, r, http.StatusBadRequest, nil, map[string]string{"comment": "Comment body must be an Atlassian Document (see the Atlassian Document Format)"})
		return
	}
	body := in.Body.(map[string]any)
	iss.Comments = append(iss.Comments, body)
	iss.commentAt = append(iss.commentAt, s.o.Now().UTC().Format("2006-01-02T15:04:05.000-0700"))
	s.reply(w, r, http.StatusCreated, commentJSON(r, iss, len(iss.Comments)-1))
}

var author = map[string]any{"accountId": "5b10a2844c20165700ede21g", "displayName": "Telltale integration", "active": true}

func commentJSON(r *http.Request, iss *Issue, i int) map[string]any {
	id := strconv.Itoa(20000 + i + 1)
	return map[string]any{"self": "https://" + r.Host + "/rest/api/3/issue/" + iss.ID + "/comment/" + id, "id": id,
		"author": author, "updateAuthor": author, "body": iss.Comments[i], "created": iss.commentAt[i], "updated": iss.commentAt[i], "jsdPublic": true}
}

// comments answers GET /rest/api/3/issue/{key}/comment (PageOfComments): startAt, maxResults
// (default and at most 5000 here), orderBy created or -created.
func (s *Server) comments(w http.ResponseWriter, r *http.Request, key string) {
	var iss *Issue
	for _, i := range s.issues {
		if i.Key == key || i.ID == key {
			iss = i
		}
	}
	if iss == nil {
		s.fail(w, r, http.StatusNotFound, []string{"Issue does not exist or you do not have permission to see it."}, nil)
		return
	}
	q := r.URL.Query()
	start, _ := strconv.Atoi(q.Get("startAt"))
	max := 5000
	if m, err := strconv.Atoi(q.Get("maxResults")); err == nil && m >= 0 {
		max = min(m, 5000)
	}
	idx := make([]int, len(iss.Comments))
	for i := range idx {
		idx[i] = i
	}
	if q.Get("orderBy") == "-created" {
		slices.Reverse(idx)
	}
	list := []map[string]any{}
	for n := start; n < len(idx) && len(list) < max; n++ {
		list = append(list, commentJSON(r, iss, idx[n]))
	}
	s.reply(w, r, http.StatusOK, map[string]any{"startAt": start, "maxResults": max, "total": len(iss.Comments), "comments": list})
}
