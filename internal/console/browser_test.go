package console_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/config"
)

// browserRequired: under CI the browser tests must run, so a missing Chromium fails them.
func browserRequired() bool {
	return os.Getenv("CI") == "true" || os.Getenv("TELLTALE_TEST_BROWSER") == "require"
}

func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if browserRequired() {
		t.Fatal("the browser tests need Chromium (CI=true or TELLTALE_TEST_BROWSER=require): install it, on Debian with `apt-get install chromium`")
	}
	t.Skip("no Chromium on PATH; install it (Debian: apt-get install chromium) to run the browser tests")
	return ""
}

// ui drives one headless Chromium tab against a test node.
type ui struct {
	t        *testing.T
	ctx      context.Context
	base     *url.URL
	axe      string
	shotsDir string // where page screenshots go on success ("" none)
	failDir  string

	mu       sync.Mutex
	external []string // requests that left the test server
	errors   []string // script exceptions and console errors other than HTTP statuses (CSP violations...)
	step     string
}

func newUI(t *testing.T, path, base string) *ui {
	axe, err := os.ReadFile("testdata/axe.min.js")
	if err != nil {
		t.Fatal(err)
	}
	u := &ui{t: t, axe: string(axe), failDir: t.TempDir()}
	u.base, _ = url.Parse(base)
	if dir := os.Getenv("TELLTALE_SCREENSHOTS"); dir != "" {
		if !filepath.IsAbs(dir) {
			dir = filepath.Join("..", "..", dir) // relative to the repository root
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		u.shotsDir = dir
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("no-pings", true),
		chromedp.WindowSize(1280, 900))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelC(); cancelA() })
	u.ctx = ctx
	if err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
			return err
		}
		_, err := chromedp.Call(ctx, cdplog.Enable, struct{}{})
		return err
	})); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	if err := chromedp.Listen(ctx, func(ev any) {
		u.mu.Lock()
		defer u.mu.Unlock()
		switch e := ev.(type) {
		case *network.EventRequestWillBeSent:
			r, err := url.Parse(e.Request.URL)
			if err != nil || (r.Scheme != "data" && r.Host != u.base.Host) {
				u.external = append(u.external, e.Request.URL)
			}
		case *cdplog.EventEntryAdded:
			// 4xx answers are expected (a refused action is a 409 page); anything else is not.
			if e.Entry.Level == cdplog.EntryLevelError && e.Entry.Source != cdplog.EntrySourceNetwork {
				u.errors = append(u.errors, fmt.Sprintf("%s: %s (%s)", e.Entry.Source, e.Entry.Text, e.Entry.URL))
			}
		case *runtime.EventExceptionThrown:
			u.errors = append(u.errors, "exception: "+e.ExceptionDetails.Text)
		}
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			u.screenshot(filepath.Join(u.failDir, "last.png"))
			t.Logf("screenshots of the failure are in %s", u.failDir)
		}
	})
	return u
}

// checkClean fails the test on requests off the test server and on script or CSP errors.
func (u *ui) checkClean() {
	u.t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.external) > 0 {
		u.t.Errorf("the console made requests off the test server: %q", u.external)
	}
	if len(u.errors) > 0 {
		u.t.Errorf("the browser reported errors:\n%s", strings.Join(u.errors, "\n"))
	}
}

// fatal fails the test with a screenshot of the current page.
func (u *ui) fatal(format string, a ...any) {
	u.t.Helper()
	name := fmt.Sprintf("fail-%s.png", strings.ReplaceAll(u.step, " ", "-"))
	u.screenshot(filepath.Join(u.failDir, name))
	u.t.Fatalf("step %q: %s (screenshot %s)", u.step, fmt.Sprintf(format, a...), filepath.Join(u.failDir, name))
}

func (u *ui) screenshot(path string) {
	ctx, cancel := context.WithTimeout(u.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err == nil {
		err = os.WriteFile(path, png, 0o644)
	}
	if err != nil {
		u.t.Logf("screenshot %s: %v", path, err)
	}
}

// do runs browser actions for the current step.
func (u *ui) do(steps ...chromedp.Action[chromedp.Void]) {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(u.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		u.fatal("%v", err)
	}
}

func (u *ui) tryEval(js string) (string, error) {
	ctx, cancel := context.WithTimeout(u.ctx, 10*time.Second)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[string](js))
}

func (u *ui) eval(js string) string {
	u.t.Helper()
	s, err := u.tryEval(js)
	if err != nil {
		u.fatal("evaluate %s: %v", js, err)
	}
	return s
}

func textJS(sel string) string {
	return fmt.Sprintf(`(() => { const e = document.querySelector(%q); return e ? e.innerText : "" })()`, sel)
}

// text is the visible text of the first element matching the CSS selector, "" if none.
func (u *ui) text(sel string) string {
	u.t.Helper()
	return u.eval(textJS(sel))
}

// waitText waits until the element's visible text contains want, and returns the text. A page
// that is navigating (a form just submitted) is waited for too.
func (u *ui) waitText(sel, want string, d time.Duration) string {
	u.t.Helper()
	deadline := time.Now().Add(d)
	for {
		got, err := u.tryEval(textJS(sel))
		if err == nil && strings.Contains(got, want) {
			return got
		}
		if err != nil {
			got = err.Error()
		}
		if time.Now().After(deadline) {
			u.fatal("%s shows %q, want it to contain %q", sel, got, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitPath waits until the page's path and query contain want: the page a submitted form
// navigates to has replaced the one it was submitted from.
func (u *ui) waitPath(want string, d time.Duration) {
	u.t.Helper()
	deadline := time.Now().Add(d)
	for {
		got, err := u.tryEval(`location.pathname + location.search`)
		if err == nil && strings.Contains(got, want) {
			return
		}
		if time.Now().After(deadline) {
			u.fatal("the page is %q (%v), want it to contain %q", got, err, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (u *ui) open(path string) {
	u.t.Helper()
	u.do(chromedp.Navigate(u.base.String() + path))
}

type axeViolation struct {
	ID     string   `json:"id"`
	Impact string   `json:"impact"`
	Help   string   `json:"help"`
	Nodes  []string `json:"nodes"`
}

// runAxe injects axe-core and returns the violations on the page.
func (u *ui) runAxe() []axeViolation {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(u.ctx, 30*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](u.axe)); err != nil {
		u.fatal("injecting axe-core: %v", err)
	}
	vs, err := chromedp.Run(ctx, chromedp.Evaluate[[]axeViolation](`axe.run(document, {resultTypes: ["violations"]}).then(r => r.violations.map(v => ({
		id: v.id, impact: v.impact || "", help: v.help, nodes: v.nodes.map(n => n.target.join(" ") + " " + n.html.slice(0, 200))})))`, chromedp.EvalAwaitPromise))
	if err != nil {
		u.fatal("running axe-core: %v", err)
	}
	return vs
}

// checkPage runs axe-core on the page and fails on any violation, checks that the page fits 800
// px without a horizontal scroll bar, and saves screenshots when asked.
func (u *ui) checkPage(name string) {
	u.t.Helper()
	for _, v := range u.runAxe() {
		u.t.Errorf("page %s: accessibility violation %s (%s): %s\n  %s", name, v.ID, v.Impact, v.Help, strings.Join(v.Nodes, "\n  "))
	}
	if u.shotsDir != "" {
		u.screenshot(filepath.Join(u.shotsDir, name+".png"))
	}
	u.do(chromedp.EmulateViewport(800, 900))
	fits := u.eval(`String(document.documentElement.scrollWidth <= window.innerWidth)`)
	wide := u.eval(`[...document.querySelectorAll("body *")].filter(e => !(e.parentElement && e.parentElement.closest(".table-wrap")) && e.getBoundingClientRect().right > window.innerWidth + 1).slice(0, 5).map(e => e.tagName + "#" + e.id + "." + e.className + " right " + e.getBoundingClientRect().right + " scroll " + e.scrollWidth).join(", ") + " document " + document.documentElement.scrollWidth`)
	if u.shotsDir != "" && (name == "connections" || name == "search" || name == "connection-details") {
		u.screenshot(filepath.Join(u.shotsDir, name+"-800px.png"))
	}
	u.do(chromedp.EmulateViewport(1280, 900))
	if fits != "true" {
		u.t.Errorf("page %s: wider than an 800 px window (horizontal scrolling): %s", name, wide)
	}
}

// TestBrowserWalkthrough drives the console in headless Chromium through the walk: sign
// in, add a Box connection to the emulator through the wizard (with a bad scope CSV first), watch
// the status settle, search for an emulator event and open it, export CSV, deauthorize, and try to
// deauthorize again. Every page passes axe-core and makes no request off the test server.
func TestBrowserWalkthrough(t *testing.T) {
	t.Parallel()
	if testing.Short() && !browserRequired() {
		t.Skip("browser test skipped in -short mode")
	}
	start := time.Now()
	chromium := findChromium(t)
	ta := newTestApp(t, true)
	u := newUI(t, chromium, ta.URL)

	u.step = "sign in"
	u.open("/connections")
	u.waitText("h1", "Sign in", 10*time.Second)
	// Keyboard: the skip link, the home link, then the user name, the password and the button.
	if u.eval(`document.activeElement.id`) != "username" {
		u.fatal("the user name field does not have the focus")
	}
	// Start from the top of the document, as a person arriving with the keyboard does.
	u.eval(`document.body.tabIndex = -1, document.body.focus(), document.body.removeAttribute("tabindex"), ""`)
	var order []string
	for range 5 {
		u.do(chromedp.KeyEvent("\t"))
		order = append(order, u.eval(`document.activeElement.id || document.activeElement.innerText`))
	}
	if strings.Join(order, ",") != "Skip to content,Telltale,username,password,Sign in" {
		u.fatal("focus order %q", order)
	}
	// The checker bites: an input without a label is a violation.
	u.eval(`document.querySelector("main").insertAdjacentHTML("beforeend", '<input id="axe-probe">'), ""`)
	if vs := u.runAxe(); len(vs) == 0 || vs[0].ID != "label" {
		u.fatal("axe-core did not report the unlabelled probe input: %+v", vs)
	}
	u.eval(`document.getElementById("axe-probe").remove(), ""`)
	u.checkPage("login")
	u.do(chromedp.SendKeys(chromedp.CSS("#username"), "alice"), chromedp.SendKeys(chromedp.CSS("#password"), adminPassword),
		chromedp.Click(chromedp.CSS("form button[type=submit]")))
	u.waitText("h1", "Data connections", 10*time.Second)
	u.waitText("main", "No data connections yet", time.Second)

	u.step = "wizard"
	u.do(chromedp.Click(chromedp.CSS(`a[href="/connections/new"]`)))
	u.waitText("main", "Box", 10*time.Second)
	u.checkPage("add-connection")
	u.do(chromedp.Click(chromedp.CSS(`a[href="/connectors/box"]`)))
	u.waitText("#sec1", "Permissions Telltale asks for", 10*time.Second)
	u.waitText("#sec1", "Why", time.Second)
	u.checkPage("add-box")
	fill := func(secret string) {
		u.do(chromedp.SetValue(chromedp.CSS("#f_client_secret"), secret))
	}
	u.do(chromedp.SetValue(chromedp.CSS("#name"), "Box emulator"),
		chromedp.SetValue(chromedp.CSS("#f_enterprise_id"), "900001"),
		chromedp.SetValue(chromedp.CSS("#f_client_id"), "emu-client-id"),
		chromedp.SetValue(chromedp.CSS("#f_admin_email"), "admin@example.com"),
		chromedp.Click(chromedp.CSS("details summary")),
		chromedp.SetValue(chromedp.CSS("#f_api_url"), ta.VendorURL),
		chromedp.SetValue(chromedp.CSS("#f_rate_limit"), "0"))
	fill("not-the-secret")
	u.do(chromedp.Click(chromedp.CSS(`button[formaction$="/verify"]`)))
	u.waitText("#verify-result", "Verification failed", 10*time.Second)
	fill("emu-client-secret")
	u.do(chromedp.Click(chromedp.CSS(`button[formaction$="/verify"]`)))
	u.waitText("#verify-result", "Verified: the credentials reach Box tenant 900001", 10*time.Second)

	u.step = "bad scope CSV"
	csvPath := filepath.Join(t.TempDir(), "scope.csv")
	if err := os.WriteFile(csvPath, []byte("Email,Name\nadmin@example.com,Alex\nnot-an-email,Bad One\ncarol at example.com,Bad Two\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	u.do(chromedp.Click(chromedp.CSS(`input[name=scope][value=users]`)), chromedp.SetUploadFiles(chromedp.CSS("#scope_csv"), []string{csvPath}),
		chromedp.Click(chromedp.CSS("#sec4 button.primary")))
	errText := u.waitText("#page-error", "not-an-email", 10*time.Second)
	if !strings.Contains(errText, "Row 3") || !strings.Contains(errText, "carol at example.com") || !strings.Contains(errText, "Row 4") {
		u.fatal("the error does not name both bad rows: %q", errText)
	}
	u.checkPage("add-box-bad-csv")

	u.step = "authorize"
	fill("emu-client-secret")
	u.do(chromedp.Click(chromedp.CSS(`input[name=scope][value=all]`)), chromedp.Click(chromedp.CSS("#sec4 button.primary")))
	u.waitText("h1", "Box emulator", 10*time.Second)
	u.waitText(".flash", "added", time.Second)
	connURL := u.eval(`location.pathname`)

	u.step = "status settles"
	seen := []string{}
	deadline := time.Now().Add(60 * time.Second)
	for {
		s, _ := u.tryEval(textJS("#conn-status"))
		s = strings.TrimSpace(s)
		if s != "" && (len(seen) == 0 || seen[len(seen)-1] != s) {
			seen = append(seen, s)
		}
		if s == "Monitoring" {
			break
		}
		if time.Now().After(deadline) {
			u.fatal("status never reached Monitoring; saw %q", seen)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("statuses seen live: %q", seen)
	// The history (newest first) shows the whole walk, whatever the page caught live.
	u.waitText("#history", "Monitoring, indexing in progress", 10*time.Second)
	if got := u.eval(`[...document.querySelectorAll("#history tbody tr")].map(r => r.cells[2].innerText).join(" <- ")`); got != "Monitoring <- Monitoring, indexing in progress <- Searching for drives" {
		u.fatal("history (newest first) reads %q", got)
	}
	u.waitText("#history", "alice", time.Second)
	u.checkPage("connection-details")

	u.step = "search"
	users := ta.Emu.Users()
	const fileName = "console-evidence-Q4.xlsx"
	ta.Emu.Step(20) // background activity, before the file exists so that none of it touches the file
	fileID, a := ta.Emu.Upload(users[1].ID, users[1].RootFolderID, fileName, []byte("quarterly numbers"))
	if a.EventID == "" {
		t.Fatal("the emulator refused the upload")
	}
	if a := ta.Emu.ShareLink(users[1].ID, fileID, "open"); a.EventID == "" {
		t.Fatal("the emulator refused the shared link")
	}
	found := false
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && !found; {
		u.open("/search")
		u.do(chromedp.SetValue(chromedp.CSS("#q"), `name:"`+fileName+`"`), chromedp.Click(chromedp.CSS(".search-form button[type=submit]")))
		u.waitText("h1", "Forensic search", 10*time.Second)
		got, _ := u.tryEval(textJS("#result-count"))
		found = strings.Contains(got, "2 matching events")
		if !found {
			time.Sleep(500 * time.Millisecond)
		}
	}
	if !found {
		u.fatal("the uploaded and shared file never appeared twice in search")
	}
	u.waitText("table.results", "file-shared", time.Second)
	u.waitText("table.results", "public_link", time.Second)

	u.step = "saved search"
	u.do(chromedp.SetValue(chromedp.CSS("#save-name"), "Q4 evidence"), chromedp.Click(chromedp.CSS(`form[action="/searches"] button`)))
	u.waitText(".flash", "Saved the search Q4 evidence", 10*time.Second)
	u.open("/search")
	// The saved search's link, followed as a navigation that has ended before the page is
	// checked: after a click, the old page (whose results hold the same file) could satisfy
	// the wait and be checked while the new one replaced it (seen once in CI: no main, no h1).
	saved := u.eval(`(() => { const a = document.querySelector("ul.saved a"); return a ? a.getAttribute("href") : "" })()`)
	if !strings.HasPrefix(saved, "/search") {
		u.fatal("the saved search's link is %q, not a search", saved)
	}
	u.open(saved)
	u.waitText("table.results", fileName, 10*time.Second)
	u.checkPage("search")

	u.step = "event details"
	u.do(chromedp.Click(chromedp.CSS(`table.results a[href^="/events/"]`)))
	u.waitText("#ev-file", fileName, 10*time.Second)
	u.waitText("#ev-action", "file-shared", time.Second) // newest first
	u.waitText("#timeline", "file-created", time.Second)
	u.waitText("#ev-risk", "public_link", time.Second) // the risk, explained (issue 16)
	u.waitText("#ev-risk", "a link anyone who has it can open", time.Second)
	u.checkPage("event")

	u.step = "export CSV"
	u.open("/search?" + url.Values{"q": {`name:"` + fileName + `"`}}.Encode())
	u.waitText("table.results", fileName, 10*time.Second)
	dl := t.TempDir()
	progress := chromedp.BrowserEvents(u.ctx, browser.DownloadProgress)
	if _, err := chromedp.CallBrowser(u.ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dl, EventsEnabled: new(true)}); err != nil {
		u.fatal("download behaviour: %v", err)
	}
	u.do(chromedp.Click(chromedp.CSS(`button[name=format][value=csv]`)))
	done := make(chan string, 1)
	go func() {
		for ev, err := range progress {
			if err != nil {
				break
			}
			if ev.State == browser.DownloadProgressStateCompleted {
				done <- ev.GUID
				return
			}
		}
		close(done)
	}()
	select {
	case guid, ok := <-done:
		if !ok {
			u.fatal("the download did not complete")
		}
		b, err := os.ReadFile(filepath.Join(dl, guid))
		if err != nil {
			u.fatal("reading the export: %v", err)
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(lines) != 3 || !strings.Contains(lines[1], fileName) || !strings.Contains(lines[2], fileName) {
			u.fatal("export CSV: want a header and two events, got:\n%s", b)
		}
	case <-time.After(20 * time.Second):
		u.fatal("no download within 20s")
	}

	u.step = "deauthorize"
	u.open(connURL)
	u.do(chromedp.Click(chromedp.CSS(`form[action$="/deauthorize"] button`)))
	u.waitText(".flash", "Deauthorization started", 10*time.Second)
	u.waitText("#conn-status", "Deauthorized", 30*time.Second)
	u.waitText("#history", "Deauthorized", 10*time.Second)
	u.checkPage("connection-deauthorized")

	u.step = "deauthorize refused"
	why := u.waitText("#why-deauthorize", "Deauthorize is not available now", time.Second)
	u.do(chromedp.Click(chromedp.CSS(`form[action$="/deauthorize"] button`)))
	refusal := u.waitText("#page-error", "already deauthorized", 10*time.Second)
	if !strings.Contains(why, "already deauthorized") {
		u.fatal("the page explained %q before the attempt; the API said %q", why, refusal)
	}
	u.checkPage("deauthorize-refused")

	u.step = "health"
	u.open("/health")
	u.waitText("#blind-spots", "1 blind spot", 10*time.Second)
	u.checkPage("health")

	u.step = "audit"
	u.open("/audit")
	u.waitText("#audit", "connection.deauthorize", 10*time.Second)
	u.waitText("#audit-downloads", "JSON lines", time.Second)
	u.checkPage("audit")

	u.step = "resume"
	u.open(connURL)
	u.do(chromedp.Click(chromedp.CSS(`input[name=scope][value=keep]`)), chromedp.Click(chromedp.CSS(`form.resume button[type=submit]`)))
	u.waitText(".flash", "Monitoring resumed", 10*time.Second)
	u.waitText("#conn-status", "Monitoring", 30*time.Second)
	u.waitText("#history", "resumed", 10*time.Second)
	if got := u.eval(`[...document.querySelectorAll("#history tbody tr")].slice(-1)[0].innerText`); !strings.Contains(got, "alice") || !strings.Contains(got, "connection added") {
		u.fatal("the first history entry changed after resume: %q", got)
	}

	u.step = "connections list"
	u.open("/connections")
	u.waitText("table", "Monitoring", 10*time.Second)
	u.checkPage("connections")

	u.step = "change password and sign out"
	u.open("/password")
	u.waitText("h1", "Change password", 10*time.Second)
	u.checkPage("password")
	u.do(chromedp.Click(chromedp.CSS("header button.link")))
	u.waitText("h1", "Sign in", 10*time.Second)

	u.checkClean()
	t.Logf("browser walkthrough took %s", time.Since(start).Round(time.Millisecond))
}

// TestBrowserErrorBanner: a connection over the drive limit is in Error, and the connections page
// shows the exact R1.9 message as a banner; health counts it as a blind spot.
func TestBrowserErrorBanner(t *testing.T) {
	t.Parallel()
	if testing.Short() && !browserRequired() {
		t.Skip("browser test skipped in -short mode")
	}
	chromium := findChromium(t)
	ta := newTestApp(t, true, func(c *config.Config) { c.DriveLimitBox = 2 })
	api := client.New(ta.URL, bootstrapToken)
	ctx := context.Background()
	c, err := api.CreateConnection(ctx, ta.boxConnection("Box too big"))
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		got, err := api.Connection(ctx, c.ID)
		if err == nil && got.Status == "error" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the connection never went to Error: %+v %v", got, err)
		}
	}
	const want = "The number of supported user drives (2) for this connector has been exceeded. Deauthorize the connector and reauthorize with fewer than 2 drives."

	u := newUI(t, chromium, ta.URL)
	u.step = "sign in"
	u.open("/login?next=/connections")
	u.do(chromedp.SendKeys(chromedp.CSS("#username"), "rita"), chromedp.SendKeys(chromedp.CSS("#password"), readerPassword),
		chromedp.Click(chromedp.CSS("form button[type=submit]")))
	u.step = "banner"
	u.waitText(".banner.bad", want, 10*time.Second)
	if strings.Contains(u.text("main"), "Add data connection") {
		u.fatal("a read-only user sees Add data connection")
	}
	u.checkPage("connections-error")
	u.open("/connections/" + c.ID)
	u.waitText("#summary", want, 10*time.Second)
	if u.text("button.danger") != "" {
		u.fatal("a read-only user sees Deauthorize")
	}
	u.step = "health"
	u.open("/health")
	u.waitText("#blind-spots", "1 blind spot", 10*time.Second)
	u.waitText("table", want, time.Second)
	u.checkPage("health-error")
	u.checkClean()
}
