package api_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/auth"
	boxemu "github.com/telltale-dev/telltale/internal/emulator/box"
	"github.com/telltale-dev/telltale/internal/store"
	"github.com/telltale-dev/telltale/internal/store/sqlite"
)

// Regression tests for issue 12 (hardening): each failed before its fix.

// TestJSONThatIsNotUTF8IsRefused: a string that is not UTF-8 is refused with its field named, and
// nothing changes. Before, encoding/json put U+FFFD in its place: a Latin-1 scope CSV was stored
// with "ann\uFFFDe@..." and monitoring resumed on a scope that never matches.
func TestJSONThatIsNotUTF8IsRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	body := []byte(`{"name":"Latin","service":"box","tenant_id":"1","scope":{"kind":"users","csv":"Email\nann` + "\xe9" + `e@example.com\n"},` +
		`"settings":{"enterprise_id":"1","client_id":"c","admin_email":"a@example.com"},"credentials":{"client_secret":"s"}}`)
	status, out := f.do(t, f.admin, "POST", "/api/v1/connections", body)
	p := problem(t, out)
	if status != http.StatusBadRequest || len(p.Errors) != 1 || p.Errors[0].Field != "scope.csv" || !strings.Contains(p.Detail, "not UTF-8") || !strings.Contains(p.Detail, "CSV UTF-8") {
		t.Errorf("Latin-1 scope in JSON: %d %s", status, out)
	}
	if status, out := f.do(t, f.admin, "GET", "/api/v1/connections", nil); status != 200 || strings.Contains(string(out), "Latin") {
		t.Errorf("a connection was stored: %s", out)
	}
	// Any string field, anywhere.
	status, out = f.do(t, f.admin, "POST", "/api/v1/saved-searches", []byte("{\"name\":\"caf\xe9\",\"query\":\"\"}"))
	if p := problem(t, out); status != http.StatusBadRequest || len(p.Errors) != 1 || p.Errors[0].Field != "name" {
		t.Errorf("saved search name: %d %s", status, out)
	}
	status, out = f.do(t, f.admin, "POST", "/api/v1/file-events/search", []byte("{\"query\":\"\",\"filter\":[{\"field\":\"name\",\"value\":\"ok\"},{\"field\":\"name\",\"value\":\"b\xffd\"}]}"))
	if p := problem(t, out); status != http.StatusBadRequest || len(p.Errors) != 1 || p.Errors[0].Field != "filter[1].value" {
		t.Errorf("filter value: %d %s", status, out)
	}
}

// TestErrorMessagesSayWhatAndWhere: the messages of issue 12's list, each as it should read.
func TestErrorMessagesSayWhatAndWhere(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	check := func(name string, status int, out []byte, wantStatus int, want ...string) {
		t.Helper()
		if status != wantStatus {
			t.Errorf("%s: status %d, want %d: %s", name, status, wantStatus, out)
		}
		for _, w := range want {
			if !strings.Contains(string(out), w) {
				t.Errorf("%s: %s lacks %q", name, out, w)
			}
		}
	}
	status, out := f.do(t, f.admin, "POST", "/api/v1/saved-searches", []byte(`["a"]`))
	check("array body", status, out, 400, "must be a JSON object, not a JSON array")
	status, out = f.do(t, f.admin, "POST", "/api/v1/saved-searches", []byte(`{"name":"x","query":"act`))
	check("truncated", status, out, 400, "truncated JSON", "byte 24")
	status, out = f.do(t, f.admin, "POST", "/api/v1/saved-searches", []byte(`{"name":"x","qurey":""}`))
	check("unknown field", status, out, 400, `unknown field \"qurey\"`, `"field":"qurey"`)
	status, out = f.do(t, f.admin, "POST", "/api/v1/saved-searches", []byte(`{"name":5}`))
	check("wrong type", status, out, 400, "want a JSON string, got a JSON number", `"field":"name"`)
	status, out = f.do(t, f.admin, "GET", "/api/v1/connections/abc", nil)
	check("bad id", status, out, 404, `no connection with id \"abc\"`)
	status, out = f.do(t, f.admin, "DELETE", "/api/v1/saved-searches/x", nil)
	check("bad id", status, out, 404, `no saved search with id \"x\"`)

	// A filter term's error is reported under that term, not under the query at a position past
	// its end.
	status, out = f.do(t, f.admin, "POST", "/api/v1/file-events/search", client.SearchRequest{Query: "budget",
		Filter: []client.FilterTerm{{Field: "action", Value: "file-shared"}, {Field: "actr", Value: "x"}}})
	p := problem(t, out)
	if status != 400 || len(p.Errors) != 1 || p.Errors[0].Field != "filter[1]" || p.Position != nil || strings.Contains(p.Detail, " at ") {
		t.Errorf("filter error: %d %s", status, out)
	}
	status, out = f.do(t, f.admin, "POST", "/api/v1/file-events/search", client.SearchRequest{Query: "actr:x",
		Filter: []client.FilterTerm{{Field: "action", Value: "file-shared"}}})
	p = problem(t, out)
	if status != 400 || len(p.Errors) != 1 || p.Errors[0].Field != "query" || p.Position == nil || *p.Position != 0 || !strings.Contains(p.Detail, "at 0") {
		t.Errorf("query error beside a filter: %d %s", status, out)
	}

	// The authorization scheme is case-insensitive (RFC 7235).
	for _, scheme := range []string{"bearer", "BEARER", "Bearer"} {
		req, _ := http.NewRequest("GET", f.srv.URL+"/api/v1/me", nil)
		req.Header.Set("Authorization", scheme+" "+f.admin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("scheme %q: %d", scheme, resp.StatusCode)
		}
	}
}

// TestLabelsAreChecked: display names and saved-search names are bounded and hold no control or
// text-reordering characters. Before, a 3 MB display name and a connection name with NUL and
// U+202E were accepted.
func TestLabelsAreChecked(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	big := strings.Repeat("n", 3<<20)
	for _, c := range []struct {
		name, method, path string
		body               any
		field              string
	}{
		{"user display name of 3 MB", "POST", "/api/v1/users", client.NewUser{Username: "bigname", Name: big, Role: "analyst", Password: "correct horse battery staple"}, "name"},
		{"user display name with U+202E", "POST", "/api/v1/users", client.NewUser{Username: "rtl", Name: "ann\u202Egpj.exe", Role: "analyst", Password: "correct horse battery staple"}, "name"},
		{"connection name with NUL", "POST", "/api/v1/connections", client.NewConnection{Name: "Box\x00Prod", Service: "box", TenantID: "1",
			Settings: map[string]string{"enterprise_id": "1", "client_id": "c", "admin_email": "a@example.com"}, Credentials: map[string]string{"client_secret": "s"}}, "name"},
		{"connection name with U+202E", "POST", "/api/v1/connections", client.NewConnection{Name: "Box\u202EdorP", Service: "box", TenantID: "1",
			Settings: map[string]string{"enterprise_id": "1", "client_id": "c", "admin_email": "a@example.com"}, Credentials: map[string]string{"client_secret": "s"}}, "name"},
		{"saved search name with a newline", "POST", "/api/v1/saved-searches", client.SavedSearchInput{Name: "a\nb", Query: ""}, "name"},
	} {
		status, out := f.do(t, f.admin, c.method, c.path, c.body)
		p := problem(t, out)
		if status/100 != 4 || len(p.Errors) == 0 || p.Errors[0].Field != c.field {
			t.Errorf("%s: %d %.300s", c.name, status, out)
		}
		if len(out) > 2048 {
			t.Errorf("%s: a %d-byte answer echoes the input", c.name, len(out))
		}
	}
	var u client.User
	status, out := f.do(t, f.admin, "GET", "/api/v1/users", nil)
	if status != 200 || strings.Contains(string(out), "bigname") || strings.Contains(string(out), `"rtl"`) {
		t.Errorf("a refused user was stored: %s", out)
	}
	_ = u
}

// TestSavedSearchesBelongToTheirOwner: anyone may run a saved search; only its owner or an admin
// may change or delete it. Before, any analyst could rename or delete anyone's.
func TestSavedSearchesBelongToTheirOwner(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	owner, other := f.namedToken(t, "owner", auth.RoleAnalyst), f.namedToken(t, "other", auth.RoleAnalyst)
	status, out := f.do(t, owner, "POST", "/api/v1/saved-searches", client.SavedSearchInput{Name: "mine", Query: "action:file-shared"})
	var s client.SavedSearch
	if status != 201 || json.Unmarshal(out, &s) != nil {
		t.Fatalf("create: %d %s", status, out)
	}
	path := "/api/v1/saved-searches/" + s.ID
	if status, _ := f.do(t, other, "GET", path, nil); status != 200 {
		t.Errorf("another analyst reading: %d", status)
	}
	if status, out := f.do(t, other, "PUT", path, client.SavedSearchInput{Name: "stolen", Query: ""}); status != 403 || !strings.Contains(string(out), "belongs to owner") {
		t.Errorf("another analyst renaming: %d %s", status, out)
	}
	if status, _ := f.do(t, other, "DELETE", path, nil); status != 403 {
		t.Errorf("another analyst deleting: %d", status)
	}
	if status, _ := f.do(t, owner, "PUT", path, client.SavedSearchInput{Name: "mine, renamed", Query: ""}); status != 200 {
		t.Errorf("the owner renaming: %d", status)
	}
	if status, _ := f.do(t, f.admin, "DELETE", path, nil); status != 204 {
		t.Errorf("an admin deleting: %d", status)
	}
}

// TestAdminChosenPasswordMustBeChanged: a person an admin adds must replace the password the
// admin chose at the first sign-in; service accounts have none.
func TestAdminChosenPasswordMustBeChanged(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var u client.User
	status, out := f.do(t, f.admin, "POST", "/api/v1/users", client.NewUser{Username: "newbie", Name: "New Bie", Role: "analyst", Password: "correct horse battery staple"})
	if status != 201 || json.Unmarshal(out, &u) != nil || !u.MustChangePassword {
		t.Errorf("created by an admin: %d %s", status, out)
	}
	status, out = f.do(t, f.admin, "POST", "/api/v1/users", client.NewUser{Username: "robot", Role: "integration", ServiceAccount: true})
	if status != 201 || json.Unmarshal(out, &u) != nil || u.MustChangePassword {
		t.Errorf("service account: %d %s", status, out)
	}
}

// TestActionFailsWhenItsAuditEntryCannotBeWritten: an action is carried out only when its audit
// entry is written (R8.8); a read that cannot be audited is not answered. Before, the failure was
// only logged and the call acknowledged.
func TestActionFailsWhenItsAuditEntryCannotBeWritten(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	db, err := sql.Open("sqlite", sqlite.DSN(filepath.Join(f.dir, "telltale.db"), false))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	exec := func(q string) {
		t.Helper()
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	exec(`CREATE TRIGGER audit_broken BEFORE INSERT ON audit_log BEGIN SELECT RAISE(FAIL, 'disk full (test)'); END`)

	status, out := f.do(t, f.admin, "POST", "/api/v1/saved-searches", client.SavedSearchInput{Name: "unaudited", Query: ""})
	if status != http.StatusServiceUnavailable || !strings.Contains(string(out), "nothing was done") {
		t.Errorf("create without an audit log: %d %s", status, out)
	}
	status, out = f.do(t, f.admin, "POST", "/api/v1/file-events/search", client.SearchRequest{})
	if status != http.StatusInternalServerError || strings.Contains(string(out), `"items"`) {
		t.Errorf("search without an audit log: %d %s", status, out)
	}
	exec(`DROP TRIGGER audit_broken`)
	if status, out := f.do(t, f.admin, "GET", "/api/v1/saved-searches", nil); status != 200 || strings.Contains(string(out), "unaudited") {
		t.Errorf("the unaudited saved search exists: %s", out)
	}

	// The entry is written before the action and finished after it.
	if status, out := f.do(t, f.admin, "POST", "/api/v1/saved-searches", client.SavedSearchInput{Name: "audited", Query: ""}); status != 201 {
		t.Fatalf("create: %d %s", status, out)
	}
	es, err := f.app.Store.ListAudit(context.Background(), store.AuditFilter{Action: "saved_search.create", Limit: 5})
	if err != nil || len(es) != 1 || es[0].Outcome != "ok" || !strings.HasPrefix(es[0].Target, "saved-search/") || !strings.Contains(string(es[0].Details), "audited") {
		t.Errorf("audit entries: %+v %v", es, err)
	}

	// The outcome (a record of its own: the audit chain never updates a record) cannot be
	// written: the change is made (its entry says started) but not acknowledged.
	exec(`CREATE TRIGGER audit_finish_broken BEFORE INSERT ON audit_log WHEN NEW.finishes > 0 BEGIN SELECT RAISE(FAIL, 'disk full (test)'); END`)
	status, out = f.do(t, f.admin, "POST", "/api/v1/saved-searches", client.SavedSearchInput{Name: "half", Query: ""})
	if status != http.StatusInternalServerError || !strings.Contains(string(out), "records it as started") {
		t.Errorf("outcome not written: %d %s", status, out)
	}
	es, _ = f.app.Store.ListAudit(context.Background(), store.AuditFilter{Action: "saved_search.create", Limit: 1})
	if len(es) != 1 || es[0].Outcome != store.AuditStarted {
		t.Errorf("the entry of the half-done call: %+v", es)
	}
}

// TestResponsesAreBoundedByInput: every endpoint that echoes its input answers an adversarial
// input of N bytes with at most a few KB of refusal, and the server's allocations for it stay
// within a small multiple of N. Before, a 7 MB scope CSV of bad rows made a 7 MB error listing
// every row in full.
func TestResponsesAreBoundedByInput(t *testing.T) {
	f := newFixture(t)
	status, out := f.do(t, f.admin, "POST", "/api/v1/connections", client.NewConnection{Name: "Bounded", Service: "box", TenantID: "1",
		Settings: map[string]string{"enterprise_id": "1", "client_id": "c", "admin_email": "a@example.com"}, Credentials: map[string]string{"client_secret": "s"}})
	var c client.Connection
	if status != 201 || json.Unmarshal(out, &c) != nil {
		t.Fatalf("create: %d %s", status, out)
	}
	long := strings.Repeat("x", 3<<20)
	manyBad := strings.Repeat("not an address "+strings.Repeat("y", 60)+"\n", 90_000) // 7 MB, every row bad
	filter := make([]client.FilterTerm, 20_000)
	for i := range filter {
		filter[i] = client.FilterTerm{Field: "name", Value: "v"}
	}
	for _, c := range []struct {
		name, method, path string
		body               any // string: text/csv
	}{
		{"scope CSV of 7 MB bad rows", "PUT", "/api/v1/connections/" + c.ID + "/scope?kind=users", "Email\n" + manyBad},
		{"scope CSV with a 3 MB bad value", "PUT", "/api/v1/connections/" + c.ID + "/scope?kind=users", "Email\n" + long + "\n"},
		{"scope CSV with a 3 MB header", "PUT", "/api/v1/connections/" + c.ID + "/scope?kind=users", long + "\na@example.com\n"},
		{"scope in JSON with 7 MB bad rows", "POST", "/api/v1/connections/" + c.ID + "/resume", client.ResumeRequest{Scope: &client.ScopeInput{Kind: "users", CSV: "Email\n" + manyBad[:3<<20]}}},
		{"query of 3 MB", "POST", "/api/v1/file-events/search", client.SearchRequest{Query: long}},
		{"query term of 3 MB", "POST", "/api/v1/file-events/search", client.SearchRequest{Query: "actr:" + long[:1<<20]}},
		{"20,000 filter terms", "POST", "/api/v1/file-events/search", client.SearchRequest{Filter: filter}},
		{"filter field of 1 MB", "POST", "/api/v1/file-events/search", client.SearchRequest{Filter: []client.FilterTerm{{Field: long[:1<<20], Value: "v"}}}},
		{"group by a 1 MB key", "POST", "/api/v1/file-events/group", client.GroupRequest{By: long[:1<<20]}},
		{"saved search name of 3 MB", "POST", "/api/v1/saved-searches", client.SavedSearchInput{Name: long, Query: ""}},
		{"display name of 3 MB", "POST", "/api/v1/users", client.NewUser{Username: "big", Name: long, Role: "analyst", Password: "correct horse battery staple"}},
		{"settings of 3 MB", "PUT", "/api/v1/settings", map[string]any{"trusted_domains": []string{long}}},
		{"export checkpoint name of 1 MB", "PUT", "/api/v1/export-checkpoints/" + long[:1<<20], client.Checkpoint{AfterID: "1"}},
		{"connection id of 1 MB", "GET", "/api/v1/connections/" + long[:1<<20], nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			var n int
			switch b := c.body.(type) {
			case nil:
				n = len(c.path)
			case string:
				n = len(b)
			default:
				j, _ := json.Marshal(b)
				n = len(j)
			}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			status, out := f.do(t, f.admin, c.method, c.path, c.body)
			runtime.ReadMemStats(&after)
			if status < 400 {
				t.Errorf("accepted: %d %.300s", status, out)
			}
			if len(out) > 16<<10 {
				t.Errorf("a %d-byte input got a %d-byte answer: %.500s", n, len(out), out)
			}
			// The test's own request and the server's handling of it share this process: 30 bytes
			// allocated per input byte is far above what a linear handler needs and far below what
			// echoing every row or chip in full took.
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > uint64(30*n+(32<<20)) {
				t.Errorf("a %d-byte input allocated %d MB", n, alloc>>20)
			}
		})
	}
}

// TestVerifyRefusedByTheVendorIs422 (issue 12, defect 12): a vendor that answers and refuses
// (here Box's 404 on listing users) is a mistake in what was entered: 422 with the vendor's words,
// and no ERROR in the log (the server did nothing wrong). Before: 502, logged at ERROR.
func TestVerifyRefusedByTheVendorIs422(t *testing.T) {
	emu := boxemu.New(boxemu.Options{Seed: 3, Users: 2, FilesPerUser: 1, RateLimitPerMinute: -1})
	h := emu.Handler()
	vendor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/2.0/users" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"type":"error","status":404,"code":"not_found","message":"Not Found"}`))
			return
		}
		h.ServeHTTP(w, r)
	}))
	defer vendor.Close()
	defer emu.Close()
	f := newFixtureWith(t, func(c *configT) { c.AllowLoopback = true })
	status, out := f.do(t, f.admin, "POST", "/api/v1/connectors/box/verify", client.VerifyRequest{TenantID: "900001",
		Settings:    map[string]string{"enterprise_id": "900001", "client_id": "emu-client-id", "admin_email": "admin@example.com", "api_url": vendor.URL, "rate_limit": "0"},
		Credentials: map[string]string{"client_secret": "emu-client-secret"}})
	if status != http.StatusUnprocessableEntity || !strings.Contains(string(out), "404") {
		t.Errorf("verify refused by the vendor: %d %s", status, out)
	}
	if strings.Contains(f.logs.String(), "level=ERROR") {
		t.Errorf("a vendor's refusal was logged as an error:\n%s", f.logs.String())
	}
}

// TestNULAndNonUTF8TextRefused: a NUL character or bytes that are not UTF-8 in a request's path,
// query or JSON text are refused with 400 naming where, before the store sees them (PostgreSQL
// refuses such text as a server error, SQLSTATE 22021: these answered 500 on a PostgreSQL store),
// and nothing is saved; a JSON string holding the text \u0000 (an escaped backslash) is not one.
func TestNULAndNonUTF8TextRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, tc := range []struct{ method, path, body, field, want string }{
		{"GET", "/api/v1/dashboards/risk-exposure?range=7d&person=a%00b@corp.example", "", "person", "NUL"},
		{"GET", "/api/v1/dashboards/risk-exposure?destination=%ff.example", "", "destination", "not UTF-8"},
		{"GET", "/api/v1/people/a%00b@corp.example", "", "", "request path holds a NUL"},
		{"GET", "/api/v1/audit?a%ff=1", "", "", "query parameter's name is not UTF-8"},
		{"POST", "/api/v1/file-events/search", `{"query":"actor:a\u0000b@corp.example"}`, "query", `NUL character (\u0000 at byte 17`},
		{"POST", "/api/v1/saved-searches", `{"name":"x","query":"name:a\u0000"}`, "query", "NUL"},
	} {
		var body any
		if tc.body != "" {
			body = []byte(tc.body)
		}
		status, out := f.do(t, f.admin, tc.method, tc.path, body)
		var p client.Problem
		json.Unmarshal(out, &p) // a 200 is no problem document: the status below says so
		if status != http.StatusBadRequest || !strings.Contains(p.Detail, tc.want) || (tc.field != "" && (len(p.Errors) != 1 || p.Errors[0].Field != tc.field)) {
			t.Errorf("%s %s %s: %d %s, want 400 naming %q (field %q)", tc.method, tc.path, tc.body, status, out, tc.want, tc.field)
		}
	}
	if status, out := f.do(t, f.admin, "GET", "/api/v1/saved-searches", nil); status != 200 || strings.Contains(string(out), `"x"`) {
		t.Errorf("a saved search was stored: %d %s", status, out)
	}
	if status, out := f.do(t, f.admin, "POST", "/api/v1/file-events/search", []byte(`{"query":"name:\"a\\\\u0000\""}`)); status != http.StatusOK {
		t.Errorf("the text \\u0000 (an escaped backslash) was refused: %d %s", status, out)
	}
}
