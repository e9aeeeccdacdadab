package console_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/auth"
	"github.com/telltale-dev/telltale/internal/config"
	"github.com/telltale-dev/telltale/internal/console"
)

// Regression tests for issue 12 (hardening): each failed before its fix.

// TestSearchPageSizeIsBounded: the search page's size is linear in its URL with a small
// constant, and limits are checked before any work. Before, every filter chip carried a
// "remove" link as long as the whole query: 3,000 terms made a 177 MB page.
func TestSearchPageSizeIsBounded(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t, false)
	srv := ta.httpServer(t)
	b := newBrowser(t, srv.URL)
	b.login("rita", readerPassword)

	terms := func(n, width int) string {
		q := url.Values{"q": {""}}
		for i := range n {
			q.Add("f", fmt.Sprintf("name:%0*d", width, i))
		}
		return q.Encode()
	}
	for _, c := range []struct {
		name       string
		query      string
		wantStatus int
	}{
		{"3,000 short terms: over the term limit", terms(3000, 6), http.StatusRequestURITooLong},
		{"300 short terms: over the term limit", terms(300, 6), http.StatusBadRequest},
		{"256 long terms: within both limits", terms(256, 50), http.StatusOK},
		{"URL over 32 KB", terms(200, 200), http.StatusRequestURITooLong},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, page := b.get("/search?" + c.query)
			if resp.StatusCode != c.wantStatus {
				t.Errorf("status %d, want %d", resp.StatusCode, c.wantStatus)
			}
			// The page's own markup (navigation, field list, help) is about 30 KB; what depends on
			// the input must stay within a few times its size.
			if limit := 60<<10 + 6*len(c.query); len(page) > limit {
				t.Errorf("a %d-byte query string gave a %d-byte page (limit %d)", len(c.query), len(page), limit)
			}
		})
	}
	// Removing a chip still works: the × submits the form with rm set, and the page redirects to
	// the search without that chip.
	q := url.Values{"q": {"budget"}, "f": {"action:file-shared", "actor:alice@example.com"}, "rm": {"0"}}
	resp, _ := b.get("/search?" + q.Encode())
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || loc == nil || fmt.Sprint(loc.Query()["f"]) != "[actor:alice@example.com]" || loc.Query().Get("q") != "budget" {
		t.Errorf("removing a chip: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// TestSignInRedirectStaysOnSite: next= may only name a path on this site as a browser reads it.
// Before, "/\t/evil.example" passed and browsers went to http://evil.example/.
func TestSignInRedirectStaysOnSite(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t, false)
	srv := ta.httpServer(t)
	for next, want := range map[string]string{
		"/\t/evil.example":      "/",
		"/\n/evil.example":      "/",
		"/\r\n/evil.example":    "/",
		"/\\evil.example":       "/",
		"\\/evil.example":       "/",
		"/%2F/evil.example":     "/",
		"/%2f%2fevil.example":   "/",
		"/%5C/evil.example":     "/",
		"//evil.example":        "/",
		" //evil.example":       "/",
		"https://evil.example/": "/",
		"/\x00/evil.example":    "/",
		"/login?next=/x":        "/",
		"/search?q=budget":      "/search?q=budget",
		"/connections/3":        "/connections/3",
	} {
		b := newBrowser(t, srv.URL)
		_, page := b.get("/login?next=" + url.QueryEscape(next))
		resp, _ := b.post("/login", url.Values{"csrf": {csrfOf(t, page)}, "username": {"alice"}, "password": {adminPassword}, "next": {next}})
		if got := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || got != want {
			t.Errorf("next=%q: %d to %q, want %q", next, resp.StatusCode, got, want)
		}
	}
}

// TestOversizedFormIs413: a URL-encoded form over the limit is refused as too large, not as a
// failed CSRF check (ParseMultipartForm dropped the error of reading it).
func TestOversizedFormIs413(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t, false)
	srv := ta.httpServer(t)
	b := newBrowser(t, srv.URL)
	tok := b.login("ana", analystPassword)
	form := url.Values{"csrf": {tok}, "name": {"big"}, "q": {strings.Repeat("a", 9<<20)}}
	resp, page := b.post("/searches", form)
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(page, "larger than 8 MB") {
		t.Errorf("oversized form: %d\n%.300s", resp.StatusCode, page)
	}
}

// TestStaticFilesOnly: /static/ serves its files and no listing of them.
func TestStaticFilesOnly(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t, false)
	srv := ta.httpServer(t)
	b := newBrowser(t, srv.URL)
	if resp, _ := b.get("/static/console.css"); resp.StatusCode != http.StatusOK {
		t.Errorf("console.css: %d", resp.StatusCode)
	}
	for _, p := range []string{"/static/", "/static", "/static/./", "/static/nope.js"} {
		resp, page := b.get(p)
		if resp.StatusCode != http.StatusNotFound && resp.StatusCode/100 != 3 {
			t.Errorf("%s: %d", p, resp.StatusCode)
		}
		if strings.Contains(page, `href="htmx.min.js"`) {
			t.Errorf("%s lists the folder:\n%s", p, page)
		}
	}
}

// TestHSTSWithHTTPSPublicURL: behind TLS every answer tells browsers to stay on https.
func TestHSTSWithHTTPSPublicURL(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		public string
		want   bool
	}{{"https://telltale.example", true}, {"", false}} {
		ta := newTestApp(t, false, func(cfg *config.Config) { cfg.PublicURL = c.public })
		srv := ta.httpServer(t)
		for _, p := range []string{"/login", "/api/v1/me", "/static/console.css", "/healthz"} {
			resp, _ := newBrowser(t, srv.URL).get(p)
			if got := resp.Header.Get("Strict-Transport-Security"); (got != "") != c.want {
				t.Errorf("public URL %q, %s: Strict-Transport-Security %q", c.public, p, got)
			}
		}
	}
}

// TestPasswordResetEndsLockout: the lockout message says "ask an admin to reset your password";
// after that reset the person signs in. Before, the same address still got 429.
func TestPasswordResetEndsLockout(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t, false)
	srv := ta.httpServer(t)
	b := newBrowser(t, srv.URL)
	try := func(pw string) *http.Response {
		_, page := b.get("/login")
		resp, _ := b.post("/login", url.Values{"csrf": {csrfOf(t, page)}, "username": {"ana"}, "password": {pw}})
		return resp
	}
	for i := range 5 {
		try(fmt.Sprint("wrong guess ", i))
	}
	if resp := try(analystPassword); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("after five failures: %d", resp.StatusCode)
	}
	api := client.New(srv.URL, bootstrapToken)
	users, err := api.Users(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	id := ""
	for _, u := range users {
		if u.Username == "ana" {
			id = u.ID
		}
	}
	const fresh = "a brand new password for ana"
	if err := api.ResetPassword(context.Background(), id, fresh); err != nil {
		t.Fatal(err)
	}
	if resp := try(fresh); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/password" {
		t.Errorf("after the reset: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// TestConsoleRefusesScopeThatIsNotUTF8: a Latin-1 scope CSV uploaded in the console is refused
// with the same message as PUT /scope, and nothing is created. Before, it travelled inside JSON,
// came out with U+FFFD in place of é and was stored.
func TestConsoleRefusesScopeThatIsNotUTF8(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t, false)
	srv := ta.httpServer(t)
	b := newBrowser(t, srv.URL)
	tok := b.login("alice", adminPassword)
	resp, page := b.postFile("/connectors/box", map[string]string{"csrf": tok, "name": "Latin", "scope": "users", "f_enterprise_id": "900001",
		"f_client_id": "emu-client-id", "f_client_secret": "emu-client-secret", "f_admin_email": "admin@example.com", "f_api_url": ta.VendorURL,
		"f_rate_limit": "0"}, "scope_csv", "latin1.csv", []byte("Email\nann\xe9e@example.com\n"))
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, "not UTF-8") {
		t.Errorf("Latin-1 scope: %d\n%.2000s", resp.StatusCode, page)
	}
	conns, err := client.New(srv.URL, bootstrapToken).Connections(context.Background())
	if err != nil || len(conns) != 0 {
		t.Errorf("a connection was created: %v %v", conns, err)
	}
}

// TestEveryPageIsAuthorized is generated from the console's page table: every page and form
// action, with no session, an ended session, and each role. A page without a role fails at start.
func TestEveryPageIsAuthorized(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t, false)
	srv := ta.httpServer(t)
	pages := ta.App.Console.Pages()
	if len(pages) < 20 {
		t.Fatalf("only %d pages", len(pages))
	}
	browsers := map[auth.Role]*httpBrowser{}
	for role, u := range map[auth.Role][2]string{auth.RoleReadOnly: {"rita", readerPassword}, auth.RoleAnalyst: {"ana", analystPassword}, auth.RoleAdmin: {"alice", adminPassword}} {
		browsers[role] = newBrowser(t, srv.URL)
		browsers[role].login(u[0], u[1])
	}
	ended := newBrowser(t, srv.URL)
	tok := ended.login("alice", adminPassword)
	// The ended session's cookie, sent again after sign-out as a stolen cookie would be.
	var stale *http.Cookie
	for _, c := range ended.c.Jar.Cookies(mustURL(t, srv.URL)) {
		if c.Name == console.SessionCookie {
			stale = c
		}
	}
	if resp, _ := ended.post("/logout", url.Values{"csrf": {tok}}); resp.StatusCode != http.StatusSeeOther || stale == nil {
		t.Fatalf("logout: %d, cookie %v", resp.StatusCode, stale)
	}
	for _, p := range pages {
		method, path, _ := strings.Cut(p.Pattern, " ")
		path = strings.NewReplacer("{id}", "1", "{service}", "box", "{$}", "").Replace(path)
		t.Run(p.Pattern, func(t *testing.T) {
			send := func(b *httpBrowser, cookie *http.Cookie) (*http.Response, string) {
				req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(""))
				if method == "POST" {
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				}
				if cookie != nil {
					req.AddCookie(cookie)
				}
				resp, err := b.c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				body, _ := io.ReadAll(resp.Body)
				return resp, string(body)
			}
			for name, c := range map[string]*http.Cookie{"no session": nil, "ended session": {Name: console.SessionCookie, Value: stale.Value}, "forged session": {Name: console.SessionCookie, Value: "forged"}} {
				resp, _ := send(newBrowser(t, srv.URL), c)
				if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
					t.Errorf("%s: %d to %q, want the sign-in page", name, resp.StatusCode, resp.Header.Get("Location"))
				}
			}
			for role, b := range browsers {
				resp, body := send(b, nil)
				refused := resp.StatusCode == http.StatusForbidden && strings.Contains(body, "needs the")
				if role.Satisfies(p.Need) == refused {
					t.Errorf("%s on a %s page: %d refused=%v", role, p.Need, resp.StatusCode, refused)
				}
				if resp.StatusCode == http.StatusSeeOther && strings.HasPrefix(resp.Header.Get("Location"), "/login") {
					t.Errorf("%s: sent to sign in", role)
				}
			}
		})
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestAuditPageReadsAsTyped: details show "observed>=24h", not the JSON escape observed\u003e=24h.
func TestAuditPageReadsAsTyped(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t, false)
	srv := ta.httpServer(t)
	b := newBrowser(t, srv.URL)
	b.login("alice", adminPassword)
	b.get("/search?q=&range=24h")
	_, page := b.get("/audit?action=file_events.search")
	if !strings.Contains(page, "observed&gt;=24h") || strings.Contains(page, `\u003e`) {
		t.Errorf("audit page:\n%s", page)
	}
}

// TestSearchPageForNewUsers (issue 12, new user 4): the page shows the newest events before any
// query, a query error once (beside the box), links the search language's reference, and is a
// centred column like every other page.
func TestSearchPageForNewUsers(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t, true)
	api := client.New(ta.URL, bootstrapToken)
	c, err := api.CreateConnection(context.Background(), ta.boxConnection("Box"))
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, ta.URL)
	b.login("rita", readerPassword)
	// Activity before collection took its start position is the baseline's: act once monitoring.
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := api.Connection(context.Background(), c.ID)
		if err == nil && got.Status == "monitoring" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the connection did not reach monitoring: %+v %v", got, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	ta.Emu.Step(30)
	deadline = time.Now().Add(30 * time.Second)
	var page string
	for {
		_, page = b.get("/search")
		if strings.Contains(page, `href="/events/`) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(page, `href="/events/`) {
		t.Errorf("without a query the page lists no events (connection %s):\n%.2000s", c.ID, page)
	}
	if !strings.Contains(page, `href="/search/help"`) || strings.Contains(page, `class="wide"`) {
		t.Errorf("no link to the language reference, or a wide page")
	}
	resp, page := b.get("/search?q=" + url.QueryEscape("actr:alice@example.com"))
	if resp.StatusCode != http.StatusBadRequest || strings.Count(page, "unknown field") != 1 {
		t.Errorf("a query error shown %d times (status %d)", strings.Count(page, "unknown field"), resp.StatusCode)
	}
	if resp, help := b.get("/search/help"); resp.StatusCode != http.StatusOK || !strings.Contains(help, "<code>actor</code>") {
		t.Errorf("the reference: %d", resp.StatusCode)
	}
}

// TestPasswordChangeLeadsWhereYouWereGoing: a person sent to change a reset password from a link
// to a page arrives on that page afterwards, not on the connections list.
func TestPasswordChangeLeadsWhereYouWereGoing(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t, false)
	srv := ta.httpServer(t)
	ta.userWithResetPassword(t, "dave", "reset password, long enough")
	b := newBrowser(t, srv.URL)
	_, page := b.get("/login?next=" + url.QueryEscape("/search?q=budget"))
	resp, _ := b.post("/login", url.Values{"csrf": {csrfOf(t, page)}, "username": {"dave"}, "password": {"reset password, long enough"}, "next": {"/search?q=budget"}})
	to := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || to != "/password?next="+url.QueryEscape("/search?q=budget") {
		t.Fatalf("sign-in with a reset password: %d to %q", resp.StatusCode, to)
	}
	_, page = b.get(to)
	resp, _ = b.post("/password", url.Values{"csrf": {csrfOf(t, page)}, "current": {"reset password, long enough"},
		"new": {"dave's own password, long"}, "confirm": {"dave's own password, long"}, "next": {"/search?q=budget"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/search?q=budget" {
		t.Errorf("after the change: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if !strings.Contains(page, `name="next" value="/search?q=budget"`) {
		t.Errorf("the password form does not carry where the person was going")
	}
}
