package console_test

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"io"
	"io/fs"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/auth"
	"github.com/telltale-dev/telltale/internal/config"
	"github.com/telltale-dev/telltale/internal/console"
	"github.com/telltale-dev/telltale/internal/event"
)

// httpBrowser is a cookie-keeping HTTP client that does not follow redirects.
type httpBrowser struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newBrowser(t *testing.T, base string) *httpBrowser {
	jar, _ := cookiejar.New(nil)
	return &httpBrowser{t: t, base: base, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *httpBrowser) get(path string) (*http.Response, string) {
	b.t.Helper()
	resp, err := b.c.Get(b.base + path)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func (b *httpBrowser) post(path string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	resp, err := b.c.PostForm(b.base+path, form)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// postFile posts a multipart form of fields and one file, as a browser's upload form does.
func (b *httpBrowser) postFile(path string, fields map[string]string, field, name string, content []byte) (*http.Response, string) {
	b.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	fw, _ := mw.CreateFormFile(field, name)
	fw.Write(content)
	mw.Close()
	resp, err := b.c.Post(b.base+path, mw.FormDataContentType(), &body)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	page, _ := io.ReadAll(resp.Body)
	return resp, string(page)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrfOf returns the CSRF token of the first form on a page.
func csrfOf(t *testing.T, page string) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no csrf field on the page:\n%s", page)
	}
	return m[1]
}

func (b *httpBrowser) login(user, pw string) string {
	b.t.Helper()
	_, page := b.get("/login")
	resp, _ := b.post("/login", url.Values{"csrf": {csrfOf(b.t, page)}, "username": {user}, "password": {pw}, "next": {"/connections"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/connections" {
		b.t.Fatalf("login as %s: %d to %q", user, resp.StatusCode, resp.Header.Get("Location"))
	}
	_, page = b.get("/connections")
	return csrfOf(b.t, page)
}

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t, false)
	srv := ta.httpServer(t)
	b := newBrowser(t, srv.URL)
	for _, p := range []string{"/login", "/static/htmx.min.js", "/static/console.css", "/nope"} {
		resp, _ := b.get(p)
		if got := resp.Header.Get("Content-Security-Policy"); got != console.CSP {
			t.Errorf("%s: CSP %q", p, got)
		}
		if resp.Header.Get("X-Frame-Options") != "DENY" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: missing framing or sniffing protection: %v", p, resp.Header)
		}
	}
	// The API keeps its own answers: problem JSON, not console pages.
	resp, _ := b.get("/api/v1/connections")
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("Content-Type"), "problem+json") {
		t.Errorf("API without credentials: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if resp, _ := b.get("/healthz"); resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz: %d", resp.StatusCode)
	}
}

// TestTemplatesHaveNothingInline: the CSP forbids inline scripts, styles and event handlers, so
// the templates must not contain them (they would silently not work).
func TestTemplatesHaveNothingInline(t *testing.T) {
	t.Parallel()
	bad := regexp.MustCompile(`(?i)<script(?:\s[^>]*)?>\s*[^<\s]|<style|\sstyle=|\son[a-z]+=|javascript:|https?://`)
	err := filepath.WalkDir("templates", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range bad.FindAllString(string(b), -1) {
			t.Errorf("%s: %q is inline code or an external URL, which the CSP forbids", path, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestLogin(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t, false)
	srv := ta.httpServer(t)

	t.Run("pages need a session", func(t *testing.T) {
		b := newBrowser(t, srv.URL)
		resp, _ := b.get("/connections/1?x=1")
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login?next=%2Fconnections%2F1%3Fx%3D1" {
			t.Errorf("got %d to %q", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
	t.Run("login form needs its CSRF cookie", func(t *testing.T) {
		b := newBrowser(t, srv.URL)
		_, page := b.get("/login")
		tok := csrfOf(t, page)
		// Another browser (no cookie) posting the same token is refused.
		resp, body := newBrowser(t, srv.URL).post("/login", url.Values{"csrf": {tok}, "username": {"alice"}, "password": {adminPassword}})
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "CSRF") {
			t.Errorf("without the cookie: %d", resp.StatusCode)
		}
		resp, _ = b.post("/login", url.Values{"csrf": {"forged"}, "username": {"alice"}, "password": {adminPassword}})
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("wrong token: %d", resp.StatusCode)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		b := newBrowser(t, srv.URL)
		_, page := b.get("/login")
		resp, body := b.post("/login", url.Values{"csrf": {csrfOf(t, page)}, "username": {"alice"}, "password": {"nope nope nope nope"}})
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "Wrong user name or password") {
			t.Errorf("got %d", resp.StatusCode)
		}
		for _, c := range resp.Cookies() {
			if c.Name == console.SessionCookie {
				t.Errorf("a session cookie was set")
			}
		}
	})
	t.Run("session cookie flags, redirect target, logout", func(t *testing.T) {
		b := newBrowser(t, srv.URL)
		_, page := b.get("/login?next=//evil.example/")
		resp, _ := b.post("/login", url.Values{"csrf": {csrfOf(t, page)}, "username": {"alice"}, "password": {adminPassword}, "next": {"//evil.example/"}})
		if resp.Header.Get("Location") != "/" {
			t.Errorf("open redirect: %q", resp.Header.Get("Location"))
		}
		var sess *http.Cookie
		for _, c := range resp.Cookies() {
			if c.Name == console.SessionCookie {
				sess = c
			}
		}
		if sess == nil || !sess.HttpOnly || sess.SameSite != http.SameSiteLaxMode || sess.Secure {
			t.Fatalf("session cookie %+v", sess)
		}
		_, page = b.get("/connections")
		tok := csrfOf(t, page)
		if resp, _ := b.post("/logout", url.Values{"csrf": {"wrong"}}); resp.StatusCode != http.StatusForbidden {
			t.Errorf("logout without the CSRF token: %d", resp.StatusCode)
		}
		if resp, _ := b.post("/logout", url.Values{"csrf": {tok}}); resp.StatusCode != http.StatusSeeOther {
			t.Errorf("logout: %d", resp.StatusCode)
		}
		// The session is gone on the server, not only in this browser.
		req, _ := http.NewRequest("GET", srv.URL+"/connections", nil)
		req.AddCookie(&http.Cookie{Name: console.SessionCookie, Value: sess.Value})
		r2, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		r2.Body.Close()
		if r2.StatusCode != http.StatusSeeOther {
			t.Errorf("old session cookie after logout: %d", r2.StatusCode)
		}
	})
	t.Run("throttled after five failures", func(t *testing.T) {
		b := newBrowser(t, srv.URL)
		try := func(user, pw string) (*http.Response, string) {
			_, page := b.get("/login")
			return b.post("/login", url.Values{"csrf": {csrfOf(t, page)}, "username": {user}, "password": {pw}})
		}
		for i := 0; i < 5; i++ {
			if resp, _ := try("mallory", "guess number "+strconv.Itoa(i)); resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("failure %d: %d", i+1, resp.StatusCode)
			}
		}
		resp, body := try("mallory", "guess number 6")
		if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, "Too many failed sign-ins") {
			t.Errorf("sixth attempt: %d", resp.StatusCode)
		}
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || s <= 0 || s > 15*60+1 {
			t.Errorf("Retry-After %q", resp.Header.Get("Retry-After"))
		}
		// Another user name from the same address still signs in.
		if resp, _ := try("alice", adminPassword); resp.StatusCode != http.StatusSeeOther {
			t.Errorf("alice after mallory was throttled: %d", resp.StatusCode)
		}
	})
	t.Run("secure cookie behind a TLS proxy", func(t *testing.T) {
		behind := newTestApp(t, false, func(c *config.Config) { c.PublicURL = "https://telltale.example" })
		srv := httptest.NewServer(behind.App.Handler())
		defer srv.Close()
		b := newBrowser(t, srv.URL)
		_, page := b.get("/login")
		resp, _ := b.post("/login", url.Values{"csrf": {csrfOf(t, page)}, "username": {"alice"}, "password": {adminPassword}})
		found := false
		for _, c := range resp.Cookies() {
			if c.Name == console.SessionCookie {
				found = true
				if !c.Secure {
					t.Errorf("session cookie is not Secure with an https public URL")
				}
			}
		}
		if !found {
			t.Errorf("no session cookie")
		}
	})
	t.Run("secure cookie over TLS", func(t *testing.T) {
		tls := httptest.NewTLSServer(ta.App.Handler())
		defer tls.Close()
		b := newBrowser(t, tls.URL)
		b.c.Transport = tls.Client().Transport
		_, page := b.get("/login")
		resp, _ := b.post("/login", url.Values{"csrf": {csrfOf(t, page)}, "username": {"alice"}, "password": {adminPassword}})
		for _, c := range resp.Cookies() {
			if c.Name == console.SessionCookie && !c.Secure {
				t.Errorf("session cookie over TLS is not Secure")
			}
		}
	})
}

func TestFormsNeedCSRFAndRoles(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t, false)
	srv := ta.httpServer(t)
	api := client.New(srv.URL, bootstrapToken)
	c, err := api.CreateConnection(context.Background(), ta.boxConnection("Box A"))
	if err != nil {
		t.Fatal(err)
	}

	admin := newBrowser(t, srv.URL)
	tok := admin.login("alice", adminPassword)
	if resp, body := admin.post("/connections/"+c.ID+"/deauthorize", url.Values{}); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "CSRF") {
		t.Errorf("deauthorize without CSRF token: %d", resp.StatusCode)
	}
	// Searching refuses deauthorize (R1.6): the page shows the API's reason.
	resp, body := admin.post("/connections/"+c.ID+"/deauthorize", url.Values{"csrf": {tok}})
	if resp.StatusCode != http.StatusConflict || !strings.Contains(body, "wait until discovery finishes") {
		t.Errorf("deauthorize while searching: %d\n%s", resp.StatusCode, body)
	}
	_, page := admin.get("/connections")
	if !strings.Contains(page, "Add data connection") {
		t.Errorf("admin does not see Add data connection")
	}

	analyst := newBrowser(t, srv.URL)
	atok := analyst.login("ana", analystPassword)
	_, page = analyst.get("/connections/" + c.ID)
	if strings.Contains(page, "Deauthorize") || strings.Contains(page, "Resume monitoring") {
		t.Errorf("analyst sees admin actions")
	}
	_, page = analyst.get("/connections")
	if strings.Contains(page, "Add data connection") || strings.Contains(page, `href="/audit"`) {
		t.Errorf("analyst sees admin links")
	}
	for _, p := range []string{"/audit", "/connections/new", "/connectors/box"} {
		if resp, _ := analyst.get(p); resp.StatusCode != http.StatusForbidden {
			t.Errorf("analyst GET %s: %d", p, resp.StatusCode)
		}
	}
	if resp, _ := analyst.post("/connections/"+c.ID+"/deauthorize", url.Values{"csrf": {atok}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("analyst deauthorize: %d", resp.StatusCode)
	}
	if resp, _ := analyst.post("/search/export", url.Values{"csrf": {atok}, "format": {"csv"}}); resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
		t.Errorf("analyst export: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}

	reader := newBrowser(t, srv.URL)
	rtok := reader.login("rita", readerPassword)
	if resp, _ := reader.post("/search/export", url.Values{"csrf": {rtok}, "format": {"csv"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("read-only export: %d", resp.StatusCode)
	}
	_, page = reader.get("/search?q=")
	if strings.Contains(page, "Export CSV") || strings.Contains(page, "Save search") {
		t.Errorf("read-only sees export or save")
	}
	// A session's CSRF token is not valid for another session.
	if resp, _ := reader.post("/searches", url.Values{"csrf": {tok}, "name": {"x"}, "q": {"a"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("another session's token: %d", resp.StatusCode)
	}
}

// TestFieldMessagesComeFromTheAPI: a duplicate display name is refused by the API, and the wizard
// shows the API's words.
func TestFieldMessagesComeFromTheAPI(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t, false)
	srv := ta.httpServer(t)
	b := newBrowser(t, srv.URL)
	tok := b.login("alice", adminPassword)
	form := url.Values{"csrf": {tok}, "name": {"Box"}, "scope": {"all"}, "f_enterprise_id": {"900001"}, "f_client_id": {"emu-client-id"},
		"f_client_secret": {"emu-client-secret"}, "f_admin_email": {"admin@example.com"}, "f_api_url": {ta.VendorURL}, "f_rate_limit": {"0"}}
	resp, _ := b.post("/connectors/box", form)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("create: %d", resp.StatusCode)
	}
	form.Set("name", " box ")
	resp, body := b.post("/connectors/box", form)
	if resp.StatusCode < 400 || !strings.Contains(strings.ToLower(body), "already") {
		t.Errorf("duplicate name: %d\n%s", resp.StatusCode, body)
	}
	if strings.Contains(body, "emu-client-secret") {
		t.Errorf("the secret was sent back in the page")
	}
}

// TestSearchForm: a query the API cannot parse is shown beside the query box with the API's
// suggestion; chips, columns and the time range become API filter terms and stay in the links.
func TestSearchForm(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t, false)
	srv := ta.httpServer(t)
	b := newBrowser(t, srv.URL)
	b.login("rita", readerPassword)

	resp, page := b.get("/search?q=" + url.QueryEscape("actr:alice@example.com"))
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, `id="q-err"`) || !strings.Contains(page, "Did you mean <code>actor</code>") {
		t.Errorf("bad query: %d\n%s", resp.StatusCode, page)
	}
	q := url.Values{"q": {""}, "range": {"7d"}, "f": {"action:file-shared"}, "col": {"path", "actor"}}
	resp, page = b.get("/search?" + q.Encode())
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("search: %d\n%s", resp.StatusCode, page)
	}
	for _, want := range []string{
		`<code>observed&gt;=7d action:file-shared</code>`, // the canonical query the API ran
		`<span>action: file-shared</span>`,                // the chip
		`aria-label="Remove filter action file-shared"`,
		`value="path" checked`, `value="actor" checked`,
		`0 matching events.`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("search page lacks %s", want)
		}
	}
	if strings.Contains(page, `value="connection" checked`) {
		t.Errorf("an unchosen column is checked")
	}
}

func TestScopeDownloadAndPaging(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t, false)
	srv := ta.httpServer(t)
	api := client.New(srv.URL, bootstrapToken)
	var first client.Connection
	for i := range 51 {
		c, err := api.CreateConnection(context.Background(), client.NewConnection{Name: fmt.Sprintf("Box %02d", i), Service: "box", TenantID: fmt.Sprint(900100 + i),
			Scope:       &client.ScopeInput{Kind: "users", CSV: "Email\nalice@example.com\nbob@example.com\n"},
			Settings:    map[string]string{"enterprise_id": fmt.Sprint(900100 + i), "client_id": "id", "admin_email": "admin@example.com", "api_url": ta.VendorURL, "rate_limit": "0"},
			Credentials: map[string]string{"client_secret": "s"}})
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = c
		}
	}
	b := newBrowser(t, srv.URL)
	b.login("rita", readerPassword)
	resp, body := b.get("/connections/" + first.ID + "/scope.csv")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") || !strings.Contains(body, "bob@example.com") {
		t.Errorf("scope download: %d %s\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	_, page := b.get("/connections")
	if !strings.Contains(page, "Page 1 of 2 (51 in all)") || !strings.Contains(page, `href="/connections?page=2"`) || strings.Count(page, `<tr>`) != 51 {
		t.Errorf("first page of 51 connections: %d rows\n%s", strings.Count(page, `<tr>`), page)
	}
	_, page = b.get("/connections?page=2")
	if !strings.Contains(page, "Page 2 of 2") || strings.Count(page, `<tr>`) != 2 || !strings.Contains(page, "Box 50") {
		t.Errorf("second page: %d rows", strings.Count(page, `<tr>`))
	}
}

func TestOversizedUpload(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t, false)
	srv := ta.httpServer(t)
	b := newBrowser(t, srv.URL)
	tok := b.login("alice", adminPassword)
	resp, page := b.postFile("/connectors/box", map[string]string{"csrf": tok, "scope": "users"}, "scope_csv", "big.csv",
		[]byte("Email\n"+strings.Repeat("someone@example.com\n", 500_000)))
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(page, "larger than 8 MB") {
		t.Errorf("oversized upload: %d\n%s", resp.StatusCode, page)
	}
}

func TestAuditFilters(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t, false)
	srv := ta.httpServer(t)
	b := newBrowser(t, srv.URL)
	tok := b.login("alice", adminPassword)
	b.post("/searches", url.Values{"csrf": {tok}, "name": {"big files"}, "q": {"size>10MB"}})
	today := time.Now().UTC().Format(time.DateOnly)
	_, page := b.get("/audit?" + url.Values{"action": {"saved_search."}, "from": {today}, "to": {today}}.Encode())
	if !strings.Contains(page, "saved_search.create") || strings.Contains(page, "file_events.search") {
		t.Errorf("filtered audit log:\n%s", page)
	}
	// The downloads take the page's filter: the whole of it, as CSV or JSON lines, audited.
	m := regexp.MustCompile(`href="(/audit/export\?[^"]*format=csv[^"]*)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSV download on the audit page:\n%s", page)
	}
	resp, csvText := b.get(html.UnescapeString(m[1]))
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") || !strings.HasPrefix(csvText, "id,at,actor,action") ||
		!strings.Contains(csvText, "saved_search.create") || strings.Contains(csvText, "file_events.search") {
		t.Errorf("CSV download: %d %s\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), csvText)
	}
	m = regexp.MustCompile(`href="(/audit/export\?[^"]*format=jsonl[^"]*)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no JSON download on the audit page")
	}
	resp, jsonText := b.get(html.UnescapeString(m[1]))
	if resp.StatusCode != 200 || strings.Count(jsonText, "\n") != 1 || !strings.Contains(jsonText, `"action":"saved_search.create"`) {
		t.Errorf("JSON download: %d\n%s", resp.StatusCode, jsonText)
	}
	_, page = b.get("/audit?action=audit.export")
	if strings.Count(page, "<td>audit.export</td>") != 2 {
		t.Errorf("the downloads are not in the audit log:\n%s", page)
	}
	_, page = b.get("/audit?" + url.Values{"action": {"saved_search."}, "to": {"2000-01-01"}}.Encode())
	if !strings.Contains(page, "No entries match") {
		t.Errorf("audit log before 2000 is not empty")
	}
	if _, page = b.get("/audit?from=yesterday"); strings.Contains(page, "/audit/export") {
		t.Errorf("a download offered for a filter the page refused")
	}
}

// TestMaintenanceAndDelete: maintenance refuses deauthorize with the API's reason (R1.6); a
// deauthorized connection is deleted only when the admin confirms.
func TestMaintenanceAndDelete(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t, true)
	api := client.New(ta.URL, bootstrapToken)
	ctx := context.Background()
	c, err := api.CreateConnection(ctx, ta.boxConnection("Box M"))
	if err != nil {
		t.Fatal(err)
	}
	waitStatus := func(want string) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			got, err := api.Connection(ctx, c.ID)
			if err == nil && got.Status == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("status %q, want %q (%v)", got.Status, want, err)
			}
		}
	}
	waitStatus("monitoring")
	b := newBrowser(t, ta.URL)
	tok := b.login("alice", adminPassword)
	path := "/connections/" + c.ID
	if resp, _ := b.post(path+"/maintenance", url.Values{"csrf": {tok}, "enabled": {"true"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("start maintenance: %d", resp.StatusCode)
	}
	_, page := b.get(path)
	if !strings.Contains(page, "Maintenance started") || !strings.Contains(page, "End maintenance") || !strings.Contains(page, "end maintenance first, then deauthorize") {
		t.Errorf("details in maintenance:\n%s", page)
	}
	if resp, page := b.post(path+"/deauthorize", url.Values{"csrf": {tok}}); resp.StatusCode != http.StatusConflict || !strings.Contains(page, "end maintenance first") {
		t.Errorf("deauthorize in maintenance: %d", resp.StatusCode)
	}
	b.post(path+"/maintenance", url.Values{"csrf": {tok}, "enabled": {"false"}})
	waitStatus("monitoring")
	b.post(path+"/deauthorize", url.Values{"csrf": {tok}})
	waitStatus("deauthorized")
	if resp, page := b.post(path+"/delete", url.Values{"csrf": {tok}}); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, "Type delete") {
		t.Errorf("unconfirmed delete: %d", resp.StatusCode)
	}
	if resp, _ := b.post(path+"/delete", url.Values{"csrf": {tok}, "confirm": {"delete"}}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("delete: %d", resp.StatusCode)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, err := api.Connection(ctx, c.ID); err != nil {
			break // gone
		}
		if time.Now().After(deadline) {
			t.Fatal("the connection was not deleted")
		}
	}
}

// userWithResetPassword adds an analyst whose password an admin then reset to pw: the next sign-in
// must change it.
func (ta *testApp) userWithResetPassword(t *testing.T, name, pw string) {
	t.Helper()
	ctx := context.Background()
	u, err := ta.App.Auth.CreateUser(ctx, name, name, auth.RoleAnalyst, "first password, long enough", false)
	if err != nil {
		t.Fatal(err)
	}
	if err := ta.App.Auth.SetPassword(ctx, u.ID, pw); err != nil {
		t.Fatal(err)
	}
}

// TestPasswordChangeKeepsYouSignedIn: a user whose password an admin reset is sent to the password
// page, and after choosing one carries on signed in (the change ends every old session, and the
// API refused the old one everything else until then).
func TestPasswordChangeKeepsYouSignedIn(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t, false)
	srv := ta.httpServer(t)
	ta.userWithResetPassword(t, "carol", "reset password, long enough")
	b := newBrowser(t, srv.URL)
	_, page := b.get("/login")
	resp, _ := b.post("/login", url.Values{"csrf": {csrfOf(t, page)}, "username": {"carol"}, "password": {"reset password, long enough"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/password" {
		t.Fatalf("sign-in with a reset password: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, page = b.get("/password")
	resp, _ = b.post("/password", url.Values{"csrf": {csrfOf(t, page)}, "current": {"reset password, long enough"},
		"new": {"carol's own password, long"}, "confirm": {"carol's own password, long"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("password change: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, page = b.get("/connections")
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "Your password was changed.") || !strings.Contains(page, "Data connections") {
		t.Errorf("after the change: %d\n%s", resp.StatusCode, page)
	}
}

// TestEventPageExplainsRisk (issue 16): the event page shows the severity and score, each
// indicator with its weight and why, or the trust that made the event score 0.
func TestEventPageExplainsRisk(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t, false)
	srv := ta.httpServer(t)
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	risky := &event.FileEvent{Timestamp: at, Event: event.Meta{Action: event.ActionShared, Observer: event.ObserverBox, VendorIDs: []string{"r1"}},
		User: event.User{Email: "ann@example.com"}, File: event.File{ID: "f1", Name: "tool.py"},
		Risk: event.Risk{Score: 8, Severity: event.SeverityHigh, Indicators: []string{"public_link", "off_hours", "category_source_code"},
			Reasons: []event.Reason{{Indicator: "public_link", Weight: 4, Why: "a link anyone who has it can open"},
				{Indicator: "off_hours", Weight: 1, Why: "tue 02:00 in America/Denver; working hours are 08:00-18:00 mon tue wed thu fri"},
				{Indicator: "category_source_code", Weight: 3, Why: "a source code file"}}}}
	trusted := &event.FileEvent{Timestamp: at, Event: event.Meta{Action: event.ActionShared, Observer: event.ObserverBox, VendorIDs: []string{"t1"}},
		User: event.User{Email: "ann@example.com"}, File: event.File{ID: "f2", Name: "memo.txt"},
		Risk: event.Risk{Severity: event.SeverityNone, Trusted: true, TrustReason: "every destination is in a trusted domain (example.com)"}}
	if _, err := ta.App.Store.InsertEvents(context.Background(), []*event.FileEvent{risky, trusted}, false); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, srv.URL)
	b.login("rita", readerPassword)
	_, page := b.get(fmt.Sprint("/events/", risky.Event.ID))
	for _, want := range []string{`<strong>high</strong>, score 8`, `<span class="tag">public_link</span> +4: a link anyone who has it can open`,
		`<span class="tag">off_hours</span> +1: tue 02:00 in America/Denver`, `<span class="tag">category_source_code</span> +3: a source code file`} {
		if !strings.Contains(page, want) {
			t.Errorf("the event page lacks %s", want)
		}
	}
	if _, page = b.get(fmt.Sprint("/events/", trusted.Event.ID)); !strings.Contains(page, "trusted: every destination is in a trusted domain (example.com)") {
		t.Errorf("the trusted event's page does not say why it is trusted")
	}
}

// TestEventPageShowsFeeds (issue 14): an event two feeds reported says which, in order, and which
// fields the second filled in.
func TestEventPageShowsFeeds(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t, false)
	srv := ta.httpServer(t)
	merged := &event.FileEvent{Timestamp: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC),
		Event: event.Meta{Action: event.ActionRenamed, Observer: event.ObserverGoogleDrive, VendorIDs: []string{"change:f1:renamed:x", "r1"},
			Feeds: []string{"changes", "reports"}, Enriched: []event.Provenance{{Field: "user.email", Feed: "reports"}, {Field: "source.ip", Feed: "reports"}}},
		User: event.User{Email: "ann@example.com"}, Source: event.Source{IP: "198.18.0.9"}, File: event.File{ID: "f1", Name: "plan.pdf"}}
	if _, err := ta.App.Store.InsertEvents(context.Background(), []*event.FileEvent{merged}, false); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, srv.URL)
	b.login("rita", readerPassword)
	_, page := b.get(fmt.Sprint("/events/", merged.Event.ID))
	for _, want := range []string{`the changes feed, then the reports feed`, `<span class="tag">user.email</span> from reports`,
		`<span class="tag">source.ip</span> from reports`} {
		if !strings.Contains(page, want) {
			t.Errorf("the event page lacks %s", want)
		}
	}
}

// TestConnectionPageShowsConsentURL (issue 15, R1.11): adding a OneDrive connection leads to its
// page, which links to the admin-consent URL of the tenant and application just typed, before
// Verify can pass; a Box connection's page has no such link.
func TestConnectionPageShowsConsentURL(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t, false)
	srv := ta.httpServer(t)
	b := newBrowser(t, srv.URL)
	tok := b.login("alice", adminPassword)
	const tenant, app = "6f1c2b3a-0000-4000-8000-00000000abcd", "11112222-3333-4444-5555-666677778888"
	resp, _ := b.post("/connectors/onedrive", url.Values{"csrf": {tok}, "name": {"OneDrive"}, "scope": {"all"},
		"f_tenant_id": {tenant}, "f_client_id": {app}, "f_client_secret": {"s3cret-value"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("create: %d", resp.StatusCode)
	}
	_, page := b.get(resp.Header.Get("Location"))
	want := `<a id="consent-url" href="https://login.microsoftonline.com/` + tenant + `/adminconsent?client_id=` + app + `"`
	if !strings.Contains(page, want) || strings.Contains(page, "s3cret-value") {
		t.Errorf("the OneDrive connection's page has no %s (or holds the secret):\n%s", want, page)
	}
	form := url.Values{"csrf": {csrfOf(t, page)}, "name": {"Box"}, "scope": {"all"}, "f_enterprise_id": {"900001"}, "f_client_id": {"emu-client-id"},
		"f_client_secret": {"emu-client-secret"}, "f_admin_email": {"admin@example.com"}, "f_api_url": {ta.VendorURL}, "f_rate_limit": {"0"}}
	if resp, _ = b.post("/connectors/box", form); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("create Box: %d", resp.StatusCode)
	}
	if _, page = b.get(resp.Header.Get("Location")); strings.Contains(page, "consent-url") {
		t.Errorf("a Box connection's page links to an admin consent:\n%s", page)
	}
}
