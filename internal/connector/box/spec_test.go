package box_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/clock"
	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/connector/box"
	boxemu "github.com/telltale-dev/telltale/internal/emulator/box"
	"github.com/telltale-dev/telltale/internal/testutil/openapi"
	"github.com/telltale-dev/telltale/internal/testutil/openapi/boxspec"
)

// Every request the connector sends in this package's tests goes through specServer, which
// validates it against Box's official spec (strictly: undeclared query parameters and headers,
// required ones, value schemas, JSON and form bodies) before the emulator answers it. Requests Box
// documents but its spec lacks (the as-user header, the download host) are boxspec.Exceptions.

var (
	specOnce sync.Once
	specDoc  *openapi.Doc
)

// boxSpec is Box's spec, loaded once for the package.
func boxSpec(t *testing.T) *openapi.Doc {
	t.Helper()
	specOnce.Do(func() { specDoc = boxspec.Load(t) })
	if specDoc == nil {
		t.Fatal("Box's spec did not load")
	}
	return specDoc
}

// sentRequest is one request the connector sent, as received.
type sentRequest struct {
	method string
	url    *url.URL
	header http.Header
	body   []byte
}

func (r sentRequest) request() *http.Request {
	req := httptest.NewRequest(r.method, r.url.String(), bytes.NewReader(r.body))
	req.Header = r.header.Clone()
	return req
}

// specRecorder keeps what the validating front saw.
type specRecorder struct {
	mu   sync.Mutex
	sent []sentRequest
	errs []error
}

// specServer serves h on loopback behind a front that validates every request against Box's spec;
// the test fails (at its end) for each invalid one.
func specServer(t *testing.T, h http.Handler) (*httptest.Server, *specRecorder) {
	t.Helper()
	spec := boxSpec(t)
	rec := &specRecorder{}
	record := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body) // spec.Requests has read it into memory already
		r.Body = io.NopCloser(bytes.NewReader(body))
		u := *r.URL
		rec.mu.Lock()
		rec.sent = append(rec.sent, sentRequest{method: r.Method, url: &u, header: r.Header.Clone(), body: body})
		rec.mu.Unlock()
		h.ServeHTTP(w, r)
	})
	front := spec.Requests(record, func(_ *http.Request, err error) {
		rec.mu.Lock()
		rec.errs = append(rec.errs, err)
		rec.mu.Unlock()
	})
	// Registered before the server's own cleanup, so it runs after the server is closed.
	t.Cleanup(func() {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		for _, err := range rec.errs {
			t.Errorf("the connector sent a request Box's spec does not allow: %v", err)
		}
	})
	srv := httptest.NewServer(front)
	t.Cleanup(srv.Close)
	return srv, rec
}

// operations counts the spec operations the recorded requests addressed.
func (rec *specRecorder) operations(spec *openapi.Doc) map[string]int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	out := map[string]int{}
	for _, r := range rec.sent {
		op := spec.Operation(r.method, r.url.Path)
		if op == "" {
			op = "(outside the spec) " + r.method + " " + r.url.Path[:min(len(r.url.Path), 4)] + "..."
		}
		out[op]++
	}
	return out
}

// runAll drives every call the connector makes against a fresh emulator behind the validating
// front: verify, discovery with a groups scope, indexing, the event stream, a backfill after an
// expired position, shared-link lookups, content, and keeping and removing webhooks.
func runAll(t *testing.T) *specRecorder {
	t.Helper()
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	emu := boxemu.New(boxemu.Options{Seed: 11, Clock: clk, Users: 4, InactiveUsers: 1, Groups: 2, FilesPerUser: 6,
		FoldersPerUser: 2, Depth: 1, RateLimitPerMinute: -1, MaxFileSize: 2048})
	t.Cleanup(emu.Close)
	srv, rec := specServer(t, emu.Handler())
	sess, err := box.New().Open(ctx, connector.Config{TenantID: "900001",
		Settings: map[string]string{"enterprise_id": "900001", "client_id": "emu-client-id", "admin_email": "admin@example.com",
			"api_url": srv.URL, "rate_limit": "0"},
		Credentials: map[string]string{"client_secret": "emu-client-secret", "webhook_primary_key": "emu-primary-key"}},
		connector.Deps{AllowLoopback: true, Clock: clk, PushURL: "https://telltale.example.com/hooks/box"})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	if _, err := sess.Verify(ctx); err != nil {
		t.Fatal(err)
	}
	var drives []connector.Drive
	if _, err := sess.Discover(ctx, connector.Scope{Kind: "all"}, func(ds []connector.Drive) error {
		drives = append(drives, ds...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := sess.Discover(ctx, connector.Scope{Kind: "groups", Groups: []string{emu.Groups()[0].Name, "No Such Group"}},
		func([]connector.Drive) error { return nil }); err != nil {
		t.Fatal(err)
	}
	start, err := sess.StreamStart(ctx, sess.Streams()[0])
	if err != nil {
		t.Fatal(err)
	}
	var someFile connector.File
	someDrive := ""
	for _, d := range drives {
		cur := ""
		for {
			page, err := sess.Index(ctx, d, cur)
			if err != nil {
				t.Fatalf("index %s: %v", d.Owner, err)
			}
			if len(page.Files) > 0 && someFile.VendorID == "" {
				someFile, someDrive = page.Files[0], d.VendorID
			}
			if page.Done {
				break
			}
			cur = page.Next
		}
	}
	emu.Step(120)
	changes := func(cur string) string {
		for range 50 {
			page, err := sess.Changes(ctx, sess.Streams()[0], cur)
			if err != nil {
				t.Fatalf("changes: %v", err)
			}
			cur = page.Next
			if !page.More {
				break
			}
		}
		return cur
	}
	cur := changes(start)
	// A position older than Box keeps the stream: the connector re-reads admin_logs (created_after,
	// created_before).
	clk.Advance(14 * 24 * time.Hour)
	emu.Step(20)
	changes(cur)
	rc, err := sess.Content(ctx, connector.ContentRef{Drive: someDrive, File: someFile.VendorID})
	if err != nil {
		t.Fatalf("content: %v", err)
	}
	io.Copy(io.Discard, rc)
	rc.Close()
	pusher, ok := sess.(connector.Pusher)
	if !ok {
		t.Fatal("the Box session has no push subscriptions")
	}
	for _, d := range drives {
		subs, err := pusher.Subscribe(ctx, d, "https://telltale.example.com/hooks/box", nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, sub := range subs {
			if _, err := pusher.Renew(ctx, sub); err != nil {
				t.Fatal(err)
			}
			if err := pusher.Unsubscribe(ctx, sub); err != nil {
				t.Fatal(err)
			}
		}
	}
	return rec
}

// TestRequestsMatchSpec: every request of every kind the connector sends is one Box's spec allows.
// (The conformance suite's vendor sends its traffic through the same front.)
func TestRequestsMatchSpec(t *testing.T) {
	begin := time.Now()
	spec := boxSpec(t)
	rec := runAll(t)
	ops := rec.operations(spec)
	for _, want := range []string{"POST /oauth2/token", "GET /users", "GET /groups", "GET /groups/{group_id}/memberships",
		"GET /folders/{folder_id}/items", "GET /events", "GET /files/{file_id}", "GET /files/{file_id}/content",
		"GET /webhooks", "POST /webhooks", "GET /webhooks/{webhook_id}", "DELETE /webhooks/{webhook_id}"} {
		if ops[want] == 0 {
			t.Errorf("the run never sent %s: %v", want, ops)
		}
	}
	for _, e := range spec.Unused() {
		if e.Rule == openapi.RuleHeader { // the answers' exceptions are the emulator's test's to check
			t.Errorf("the exception %v no longer applies to any request: remove it (%s)", e, e.Reason)
		}
	}
	var names []string
	for op, n := range ops {
		names = append(names, op+" ×"+strconv.Itoa(n))
	}
	sort.Strings(names)
	t.Logf("validated %d requests in %v: %s", len(rec.sent), time.Since(begin).Round(time.Millisecond), strings.Join(names, ", "))
}

// TestSpecCatchesBrokenRequests proves the request validation bites: each case takes a real request
// the connector sent, breaks one part, and the validator must refuse it naming the parameter,
// header or body path.
func TestSpecCatchesBrokenRequests(t *testing.T) {
	spec := boxSpec(t)
	rec := runAll(t)
	find := func(what string, ok func(r sentRequest) bool) sentRequest {
		t.Helper()
		rec.mu.Lock()
		defer rec.mu.Unlock()
		for _, r := range rec.sent {
			if ok(r) {
				return r
			}
		}
		t.Fatalf("the connector sent no %s", what)
		return sentRequest{}
	}
	is := func(method, op string, q ...string) func(sentRequest) bool {
		return func(r sentRequest) bool {
			if r.method != method || spec.Operation(r.method, r.url.Path) != op {
				return false
			}
			for i := 0; i+1 < len(q); i += 2 {
				if r.url.Query().Get(q[i]) != q[i+1] && !(q[i+1] == "*" && r.url.Query().Has(q[i])) {
					return false
				}
			}
			return true
		}
	}
	streaming := find("admin_logs_streaming poll", is("GET", "GET /events", "stream_type", "admin_logs_streaming", "limit", "*"))
	backfill := find("admin_logs backfill", is("GET", "GET /events", "stream_type", "admin_logs", "created_after", "*"))
	users := find("users page", is("GET", "GET /users", "user_type", "managed"))
	members := find("group memberships page", is("GET", "GET /groups/{group_id}/memberships"))
	items := find("folder listing as a user", func(r sentRequest) bool {
		return is("GET", "GET /folders/{folder_id}/items")(r) && r.header.Get("As-User") != ""
	})
	hook := find("webhook registration", is("POST", "POST /webhooks"))
	token := find("token request", is("POST", "POST /oauth2/token"))

	query := func(k, v string) func(*sentRequest) {
		return func(r *sentRequest) {
			q := r.url.Query()
			if v == "" {
				q.Del(k)
			} else {
				q.Set(k, v)
			}
			r.url.RawQuery = q.Encode()
		}
	}
	header := func(k, v string) func(*sentRequest) {
		return func(r *sentRequest) {
			if v == "" {
				r.header.Del(k)
			} else {
				r.header.Set(k, v)
			}
		}
	}
	body := func(from, to string) func(*sentRequest) {
		return func(r *sentRequest) {
			if !bytes.Contains(r.body, []byte(from)) {
				t.Fatalf("the body has no %q: %s", from, r.body)
			}
			r.body = bytes.Replace(r.body, []byte(from), []byte(to), 1)
		}
	}
	for _, c := range []struct {
		name   string
		req    sentRequest
		break_ func(*sentRequest)
		want   string
	}{
		{"unknown query parameter", streaming, query("streamPosition", "now"), `query.streamPosition: query parameter "streamPosition" is not declared`},
		{"limit above the maximum", streaming, query("limit", "5000"), "query.limit: 5000 is above the maximum 500"},
		{"limit not a number", streaming, query("limit", "all"), `query.limit: "all" is a string, not integer`},
		{"stream type outside the enum", streaming, query("stream_type", "admin_log"), "query.stream_type: \"admin_log\" is not one of"},
		{"created_after not a date-time", backfill, query("created_after", "yesterday"), "query.created_after: \"yesterday\" is not an RFC 3339 date-time"},
		{"usemarker not a boolean", users, query("usemarker", "yes"), `query.usemarker: "yes" is a string, not boolean`},
		{"user type outside the enum", users, query("user_type", "guest"), "query.user_type"},
		{"collaborations listing without its required status", users, func(r *sentRequest) { r.url.Path, r.url.RawQuery = "/2.0/collaborations", "limit=10" },
			`query.status: required query parameter "status" is missing`},
		{"marker paging on an offset-paged listing", members, query("usemarker", "true"), `query.usemarker: query parameter "usemarker" is not declared`},
		{"misspelt as-user header", items, func(r *sentRequest) { r.header["As-Usr"] = r.header["As-User"]; delete(r.header, "As-User") }, `header.As-Usr: header "As-Usr" is not declared`},
		{"no bearer token", items, header("Authorization", ""), "header.Authorization: no credentials for OAuth2Security"},
		{"webhook without its required address", hook, body(`"address":`, `"adress":`), `body.address: required property "address" is missing`},
		{"webhook trigger outside the enum", hook, body(`"FILE.UPLOADED"`, `"FILE.UPLOAD"`), "body.triggers[0]"},
		{"webhook target of a wrong type", hook, body(`"type":"folder"`, `"type":"user"`), "body.target.type"},
		{"webhook body of the wrong content type", hook, header("Content-Type", "text/plain"), `content type "text/plain" is not declared`},
		{"token request without grant_type", token, body("grant_type=client_credentials", "grant=client_credentials"), `body.grant_type: required property "grant_type" is missing`},
		{"token subject type outside the enum", token, body("box_subject_type=enterprise", "box_subject_type=group"), "body.box_subject_type"},
		{"token request with an undeclared field", token, body("grant_type=", "scope_hint=all&grant_type="), "body.scope_hint"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := spec.ValidateRequest(c.req.request(), c.req.body); err != nil {
				t.Fatalf("the unbroken request fails already: %v", err)
			}
			broken := c.req
			u := *c.req.url
			broken.url, broken.header, broken.body = &u, c.req.header.Clone(), bytes.Clone(c.req.body)
			c.break_(&broken)
			err := spec.ValidateRequest(broken.request(), broken.body)
			if err == nil {
				t.Fatalf("the broken request passed: %s %s %v %s", broken.method, broken.url, broken.header, broken.body)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("the error does not name %q:\n%v", c.want, err)
			}
			t.Log(err)
		})
	}
}
