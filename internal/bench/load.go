package bench

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/config"
	boxemu "github.com/telltale-dev/telltale/internal/emulator/box"
	"github.com/telltale-dev/telltale/internal/testutil/pgtest"
)

// LoadOptions configure the standing load program (issue 12): a Telltale node collecting from the
// Box emulator under continuous activity, measured alone and while clients search, export and load
// console pages.
type LoadOptions struct {
	Duration time.Duration // each phase
	Rounds   int           // pairs of phases: ingest only, then ingest with load
	Warmup   time.Duration // ingest only before the first phase, not measured
	Drivers  []string      // sqlite, postgres
	DSN      string        // PostgreSQL database to use instead of a throwaway server

	Activity     int           // emulator activities generated per second
	Users        int           // emulator users
	PollInterval time.Duration // the node's TELLTALE_POLL_INTERVAL

	// Concurrent clients per kind. Each sends its next request as soon as it has read the answer
	// to the previous one.
	Searchers, Exporters, Pages int

	TempDir string // data dirs, logs, the built binary
	Binary  string // a built telltale binary; "" = go build ./cmd/telltale into TempDir
}

// Load kinds, in the order they are reported.
const (
	KindSearch = "search"
	KindExport = "export"
	KindPage   = "console page"
)

// maxErrorSamples is how many error messages a kind keeps.
const maxErrorSamples = 3

// KindResult is what one kind of client did in a load phase.
type KindResult struct {
	Kind          string
	Clients       int
	Requests      int // answered (2xx or not) or failed; requests cut by the end of the phase are left out
	Errors        int // non-2xx answers and transport errors
	FirstErrors   []string
	P50, P95, P99 float64 // latency, ms: until the whole answer was read
	Bytes         int64   // answer bytes read (2xx)
}

// PhaseResult is one measured phase.
type PhaseResult struct {
	Round   int
	Load    bool
	Seconds float64
	// Generated counts the events the emulator generated in the phase (its admin log, including
	// the DOWNLOAD events of the node's own content downloads for hashing, as Box records them);
	// FileActivities counts the generator's activities about files or folders (the rest, sign-ins
	// and group changes, make no file event).
	Generated, FileActivities int64
	Stored                    int64 // events the node stored in the phase (counted in its store)
	// Read counts the records the node read from the activity stream in the phase (its
	// telltale_connection_records_total); Backlog is what the emulator had generated since the
	// generator started and the node had not read yet, at the phase end.
	Read, Backlog        int64
	GenRate, FileRate    float64
	StoredRate, ReadRate float64
	CPUSeconds           float64 // the node's user+system CPU time in the phase
	BenchCPU             float64 // the benchmark process's (emulator, generator, clients) in the phase
	RSSPeak, RSSEnd      int64   // VmHWM (reset at the phase start when PeakReset), VmRSS at the end
	PeakReset            bool
	HeapPeak, HeapEnd    float64 // go_memstats_heap_alloc_bytes, sampled every second
	Kinds                []KindResult
}

// LoadResult is one driver's run.
type LoadResult struct {
	Driver string
	Phases []PhaseResult
	// Quiet and Loaded are the medians of the stored rates of the phases without and with load;
	// Ratio is Loaded / Quiet.
	Quiet, Loaded, Ratio float64
}

// RunLoad runs the load program on each driver.
func RunLoad(ctx context.Context, o LoadOptions, progress io.Writer) ([]LoadResult, error) {
	if o.Binary == "" {
		var err error
		if o.Binary, err = buildTelltale(ctx, o.TempDir, progress); err != nil {
			return nil, err
		}
	}
	return eachDriver(o.Drivers, func(d string) (LoadResult, error) { return loadDriver(ctx, o, d, progress) })
}

// loadNode is the node under load, reached through its API with the bootstrap token.
type loadNode struct {
	p   *subprocess
	api *client.Client
	tr  *http.Transport
}

func loadDriver(ctx context.Context, o LoadOptions, driver string, progress io.Writer) (LoadResult, error) {
	res := LoadResult{Driver: driver}
	env := map[string]string{"TELLTALE_POLL_INTERVAL": o.PollInterval.String()}
	switch driver {
	case "sqlite":
	case "postgres":
		dsn := o.DSN
		if dsn == "" {
			var err error
			if dsn, err = pgtest.NewDatabase(); err != nil {
				return res, fmt.Errorf("%w (install PostgreSQL 15 with postgresql-contrib, or pass -dsn)", err)
			}
		}
		key := make([]byte, 32)
		rand.Read(key)
		env["TELLTALE_DATABASE"] = dsn
		env["TELLTALE_SECRET_KEY"] = base64.StdEncoding.EncodeToString(key)
	default:
		return res, fmt.Errorf("unknown driver %q: use sqlite or postgres", driver)
	}
	fmt.Fprintf(progress, "%s: starting the Box emulator (%d users) and a telltale node\n", driver, o.Users)
	emu, err := startEmulator(boxemu.Options{Seed: 12, Users: o.Users, Groups: 4, FilesPerUser: 20, FoldersPerUser: 3, Depth: 2,
		MinFileSize: 256, MaxFileSize: 4096, RateLimitPerMinute: -1})
	if err != nil {
		return res, err
	}
	defer emu.stop()
	tag := "load-" + driver
	if err := os.RemoveAll(filepath.Join(o.TempDir, tag)); err != nil { // a data dir left by an earlier run of -dir
		return res, err
	}
	p, err := startNode(ctx, o.Binary, o.TempDir, tag, env)
	if err != nil {
		return res, err
	}
	defer p.stop()
	clients := o.Searchers + o.Exporters + o.Pages + 2
	n := &loadNode{p: p, tr: &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}}
	defer n.tr.CloseIdleConnections()
	n.api = client.New(p.URL, benchToken).WithHTTPClient(&http.Client{Transport: n.tr, Timeout: 5 * time.Minute})
	conn, err := n.api.CreateConnection(ctx, boxConnection(emu.URL, "0"))
	if err != nil {
		return res, err
	}
	if _, err := waitMonitoring(ctx, n.api, conn.ID, 200*time.Millisecond, progress); err != nil {
		return res, err
	}
	pages, err := n.consoleSessions(ctx, o.Pages)
	if err != nil {
		return res, fmt.Errorf("console sign-in: %w", err)
	}
	var logins []string
	for _, u := range emu.Users() {
		if u.Status == "active" {
			logins = append(logins, u.Login)
		}
	}

	_, read0, err := nodeMetrics(ctx, p.URL, n.tr)
	if err != nil {
		return res, err
	}
	gen := &generator{emu: emu.Emulator, base: int64(emu.EventCount()), readBase: int64(read0)}
	gctx, stopGen := context.WithCancel(ctx)
	genDone := make(chan struct{})
	go func() { gen.run(gctx, o.Activity); close(genDone) }()
	defer func() { stopGen(); <-genDone }()
	fmt.Fprintf(progress, "%s: %d activities a second; warming up for %s\n", driver, o.Activity, o.Warmup)
	select {
	case <-ctx.Done():
		return res, ctx.Err()
	case <-time.After(o.Warmup):
	}
	for round := 1; round <= o.Rounds; round++ {
		for _, withLoad := range []bool{false, true} {
			ph, err := n.phase(ctx, o, gen, round, withLoad, logins, pages)
			if err != nil {
				return res, fmt.Errorf("round %d: %w", round, err)
			}
			res.Phases = append(res.Phases, ph)
			fmt.Fprintf(progress, "%s: %s\n", driver, ph.summary())
		}
	}
	var quiet, loaded []float64
	for _, ph := range res.Phases {
		if ph.Load {
			loaded = append(loaded, ph.StoredRate)
		} else {
			quiet = append(quiet, ph.StoredRate)
		}
	}
	res.Quiet, res.Loaded = Median(quiet), Median(loaded)
	if res.Quiet > 0 {
		res.Ratio = res.Loaded / res.Quiet
	}
	return res, nil
}

func (ph PhaseResult) name() string {
	if ph.Load {
		return fmt.Sprintf("round %d, ingest + load", ph.Round)
	}
	return fmt.Sprintf("round %d, ingest only", ph.Round)
}

func (ph PhaseResult) summary() string {
	s := fmt.Sprintf("%s: generated %.0f activities/s (%.0f about files), read %.0f records/s, stored %.0f events/s, backlog %d; node CPU %.0f s (bench %.0f s), RSS peak %s, heap peak %s",
		ph.name(), ph.GenRate, ph.FileRate, ph.ReadRate, ph.StoredRate, ph.Backlog, ph.CPUSeconds, ph.BenchCPU, mib(float64(ph.RSSPeak)), mib(ph.HeapPeak))
	for _, k := range ph.Kinds {
		s += fmt.Sprintf("; %s %d requests, %d errors, p95 %.0f ms", k.Kind, k.Requests, k.Errors, k.P95)
	}
	return s
}

// behind reports whether the node fell behind the emulator: more than 3 seconds of activity unread
// at the phase end (with a 1 s poll interval a node that keeps up lags by about one interval).
func (ph PhaseResult) behind() bool { return float64(ph.Backlog) > 3*ph.GenRate }

// selfCPU is this process's user+system CPU time so far, in seconds.
func selfCPU() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

func mib(b float64) string { return fmt.Sprintf("%.0f MiB", b/(1<<20)) }

// generator makes the emulator's enterprise act at a steady rate and counts what it generated.
type generator struct {
	emu   *boxemu.Emulator
	files atomic.Int64 // file and folder activities
	// base is the emulator's event count and readBase the node's records read when the generator
	// started: what was generated since is backlog until the node reads it.
	base, readBase int64
}

// events is how many events the emulator generated since the generator started (its admin log).
func (g *generator) events() int64 { return int64(g.emu.EventCount()) - g.base }

// run steps the emulator every 20 ms by what is due at perSecond, at most a second's worth at once
// (when stepping falls behind, the rate achieved is what is counted).
func (g *generator) run(ctx context.Context, perSecond int) {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	start, done := time.Now(), 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		due := int(time.Since(start).Seconds()*float64(perSecond)) - done
		if due > perSecond {
			done += due - perSecond
			due = perSecond
		}
		if due <= 0 {
			continue
		}
		done += due
		for _, a := range g.emu.Step(due) {
			if a.FileActivity {
				g.files.Add(1)
			}
		}
	}
}

// phase measures one phase: ingest alone, or ingest while the load clients run.
func (n *loadNode) phase(ctx context.Context, o LoadOptions, gen *generator, round int, withLoad bool, logins []string, pages []*http.Client) (PhaseResult, error) {
	ph := PhaseResult{Round: round, Load: withLoad}
	pid := n.p.cmd.Process.Pid
	ph.PeakReset = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0) == nil
	cpu0, err := n.p.cpuSeconds()
	if err != nil {
		return ph, err
	}
	self0 := selfCPU()
	id0, err := maxEventID(ctx, n.api)
	if err != nil {
		return ph, fmt.Errorf("newest event: %w", err)
	}
	_, rec0, err := nodeMetrics(ctx, n.p.URL, n.tr)
	if err != nil {
		return ph, err
	}
	all0, files0 := gen.events(), gen.files.Load()
	start := time.Now()
	pctx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	var heaps []float64
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			if h, _, err := nodeMetrics(pctx, n.p.URL, n.tr); err == nil {
				heaps = append(heaps, h)
			}
			select {
			case <-pctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	var kinds []*kindStats
	var wg sync.WaitGroup
	if withLoad {
		kinds = n.startLoad(pctx, &wg, o, logins, pages)
	}
	<-pctx.Done()
	wg.Wait()
	<-sampled
	if err := ctx.Err(); err != nil {
		return ph, err
	}
	ph.Seconds = time.Since(start).Seconds()
	all1 := gen.events()
	ph.Generated, ph.FileActivities = all1-all0, gen.files.Load()-files0
	heap, rec1, err := nodeMetrics(ctx, n.p.URL, n.tr)
	if err != nil {
		return ph, err
	}
	heaps = append(heaps, heap)
	ph.Read, ph.Backlog = int64(rec1-rec0), all1-(int64(rec1)-gen.readBase)
	if ph.Stored, err = countAfter(ctx, n.api, id0); err != nil {
		return ph, fmt.Errorf("counting stored events: %w", err)
	}
	cpu1, err := n.p.cpuSeconds()
	if err != nil {
		return ph, err
	}
	ph.CPUSeconds, ph.BenchCPU = cpu1-cpu0, selfCPU()-self0
	if ph.RSSPeak, err = procStatusOf(pid, "VmHWM"); err != nil {
		return ph, err
	}
	if ph.RSSEnd, err = procStatusOf(pid, "VmRSS"); err != nil {
		return ph, err
	}
	for _, h := range heaps {
		ph.HeapPeak = max(ph.HeapPeak, h)
	}
	ph.HeapEnd = heap
	ph.GenRate = float64(ph.Generated) / ph.Seconds
	ph.FileRate = float64(ph.FileActivities) / ph.Seconds
	ph.StoredRate = float64(ph.Stored) / ph.Seconds
	ph.ReadRate = float64(ph.Read) / ph.Seconds
	for _, k := range kinds {
		ph.Kinds = append(ph.Kinds, k.result())
	}
	return ph, nil
}

// searchQueries are what an analyst types, a few with an actor of the enterprise; exportQueries
// are the sets an analyst exports.
func searchQueries(logins []string, i int) string {
	switch i % 5 {
	case 0:
		return "actor:" + logins[(i/5)%len(logins)] + " after:7d"
	case 1:
		return "name:*" + nameStems[(i/5)%len(nameStems)] + "*"
	case 2:
		return "exposure:public_link after:24h"
	case 3:
		return "action:shared recipient:*@gmail.com"
	}
	return "" // the most recent events, as the console's search page shows first
}

func exportQueries(logins []string, i int) string {
	switch i % 3 {
	case 0:
		return "actor:" + logins[(i/3)%len(logins)]
	case 1:
		return "exposure:public_link"
	}
	return "action:downloaded after:1h"
}

// consolePages are the pages a console client loads in turn.
var consolePages = []string{"/search", "/connections", "/health"}

// startLoad starts the clients of every kind; they stop when ctx ends.
func (n *loadNode) startLoad(ctx context.Context, wg *sync.WaitGroup, o LoadOptions, logins []string, pages []*http.Client) []*kindStats {
	search, export, page := &kindStats{kind: KindSearch, clients: o.Searchers}, &kindStats{kind: KindExport, clients: o.Exporters}, &kindStats{kind: KindPage, clients: o.Pages}
	run := func(st *kindStats, w int, do func(ctx context.Context, i int) (int64, error)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; ; i += st.clients {
				t0 := time.Now()
				b, err := do(ctx, i)
				if ctx.Err() != nil {
					return // cut by the end of the phase: neither a request nor an error
				}
				st.add(time.Since(t0), b, err)
			}
		}()
	}
	for w := 0; w < o.Searchers; w++ {
		run(search, w, func(ctx context.Context, i int) (int64, error) {
			_, err := n.api.SearchEvents(ctx, client.SearchRequest{Query: searchQueries(logins, i)})
			return 0, err
		})
	}
	for w := 0; w < o.Exporters; w++ {
		run(export, w, func(ctx context.Context, i int) (int64, error) {
			body, err := n.api.ExportEvents(ctx, client.ExportRequest{Query: exportQueries(logins, i), Format: "csv"})
			if err != nil {
				return 0, err
			}
			defer body.Close()
			return io.Copy(io.Discard, body)
		})
	}
	for w := 0; w < o.Pages; w++ {
		hc := pages[w]
		run(page, w, func(ctx context.Context, i int) (int64, error) {
			return getPage(ctx, hc, n.p.URL+consolePages[i%len(consolePages)], io.Discard)
		})
	}
	var out []*kindStats
	for _, k := range []*kindStats{search, export, page} {
		if k.clients > 0 {
			out = append(out, k)
		}
	}
	return out
}

// kindStats collects one kind's requests.
type kindStats struct {
	kind    string
	clients int
	mu      sync.Mutex
	ms      []float64
	errors  int
	first   []string
	bytes   int64
}

func (k *kindStats) add(d time.Duration, b int64, err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.ms = append(k.ms, ms(d))
	if err != nil {
		k.errors++
		if len(k.first) < maxErrorSamples {
			k.first = append(k.first, err.Error())
		}
		return
	}
	k.bytes += b
}

func (k *kindStats) result() KindResult {
	k.mu.Lock()
	defer k.mu.Unlock()
	return KindResult{Kind: k.kind, Clients: k.clients, Requests: len(k.ms), Errors: k.errors, FirstErrors: k.first, Bytes: k.bytes,
		P50: Percentile(k.ms, 50), P95: Percentile(k.ms, 95), P99: Percentile(k.ms, 99)}
}

// maxEventID is the id of the newest stored event (0 when there is none), through the API.
func maxEventID(ctx context.Context, c *client.Client) (int64, error) {
	r, err := c.SearchEvents(ctx, client.SearchRequest{Sort: "id", Limit: 1})
	if err != nil || len(r.Items) == 0 {
		return 0, err
	}
	var e struct {
		Event struct {
			ID int64 `json:"id,string"`
		} `json:"event"`
	}
	if err := json.Unmarshal(r.Items[0], &e); err != nil {
		return 0, err
	}
	return e.Event.ID, nil
}

// countAfter counts the stored events with an id above id, exactly, through the API.
func countAfter(ctx context.Context, c *client.Client, id int64) (int64, error) {
	const limit = 1000000
	r, err := c.SearchEvents(ctx, client.SearchRequest{Query: "id>" + strconv.FormatInt(id, 10), Limit: 1, CountLimit: limit})
	if err != nil {
		return 0, err
	}
	if r.TotalIsMin {
		return 0, fmt.Errorf("more than %d events stored in one phase: shorten -duration", limit)
	}
	return r.Total, nil
}

// nodeMetrics reads the node's /metrics and sums each series over its labels: the Go heap
// (go_memstats_heap_alloc_bytes) and the records read from the activity stream
// (telltale_connection_records_total).
func nodeMetrics(ctx context.Context, base string, tr http.RoundTripper) (heap, records float64, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+benchToken)
	resp, err := (&http.Client{Transport: tr, Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, 0, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	found := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, rest, _ := strings.Cut(sc.Text(), " ")
		name, _, _ = strings.Cut(name, "{")
		var p *float64
		switch name {
		case "go_memstats_heap_alloc_bytes":
			p = &heap
		case "telltale_connection_records_total":
			p = &records
		default:
			continue
		}
		if i := strings.LastIndexByte(rest, ' '); i >= 0 { // labels held a space
			rest = rest[i+1:]
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/metrics: %s: %w", name, err)
		}
		*p += v
		found++
	}
	if found == 0 {
		return 0, 0, errors.New("/metrics has no go_memstats_heap_alloc_bytes")
	}
	return heap, records, sc.Err()
}

// The console user of the page clients.
const (
	consoleUser     = "load-reader"
	consoleFirstPW  = "load reader first password 0123"
	consolePassword = "load reader horse battery staple"
)

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// consoleSessions creates a read-only console user through the API, signs it in through the /login
// form and replaces its admin-chosen password on the /password form, as a person does at the first
// sign-in; then signs in k browsers, each with its own session cookie.
func (n *loadNode) consoleSessions(ctx context.Context, k int) ([]*http.Client, error) {
	if _, err := n.api.CreateUser(ctx, client.NewUser{Username: consoleUser, Role: "read-only", Password: consoleFirstPW}); err != nil {
		return nil, err
	}
	hc, err := n.signIn(ctx, consoleFirstPW, "/password")
	if err != nil {
		return nil, err
	}
	csrf, err := formCSRF(ctx, hc, n.p.URL+"/password")
	if err != nil {
		return nil, err
	}
	if err := postForm(ctx, hc, n.p.URL+"/password", url.Values{"csrf": {csrf}, "current": {consoleFirstPW}, "new": {consolePassword}, "confirm": {consolePassword}}, "/"); err != nil {
		return nil, err
	}
	var out []*http.Client
	for i := 0; i < k; i++ {
		hc, err := n.signIn(ctx, consolePassword, "/") // the landing page
		if err != nil {
			return nil, err
		}
		out = append(out, hc)
	}
	return out, nil
}

// signIn signs the console user in through the /login form with its CSRF token and returns a
// browser holding the session cookie; the sign-in must redirect to want.
func (n *loadNode) signIn(ctx context.Context, password, want string) (*http.Client, error) {
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Transport: n.tr, Timeout: 5 * time.Minute,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	csrf, err := formCSRF(ctx, hc, n.p.URL+"/login")
	if err != nil {
		return nil, err
	}
	return hc, postForm(ctx, hc, n.p.URL+"/login", url.Values{"csrf": {csrf}, "username": {consoleUser}, "password": {password}, "next": {"/"}}, want)
}

// formCSRF loads a console page and returns the CSRF token of its first form.
func formCSRF(ctx context.Context, hc *http.Client, u string) (string, error) {
	var page strings.Builder
	if _, err := getPage(ctx, hc, u, &page); err != nil {
		return "", err
	}
	m := csrfField.FindStringSubmatch(page.String())
	if m == nil {
		return "", fmt.Errorf("GET %s: no csrf field", u)
	}
	return m[1], nil
}

// postForm posts a console form and expects a 303 to want.
func postForm(ctx context.Context, hc *http.Client, u string, form url.Values, want string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != want {
		return fmt.Errorf("POST %s: %s to %q, want 303 to %q", req.URL.Path, resp.Status, resp.Header.Get("Location"), want)
	}
	return nil
}

// getPage loads a console page into w; anything but 200 is an error (a lost session answers 303
// to /login).
func getPage(ctx context.Context, hc *http.Client, u string, w io.Writer) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, err
	}
	if resp.StatusCode != http.StatusOK {
		loc := ""
		if l := resp.Header.Get("Location"); l != "" {
			loc = " to " + l
		}
		return n, fmt.Errorf("GET %s: %s%s", req.URL.Path, resp.Status, loc)
	}
	return n, nil
}

// FormatLoad renders the results as the BENCHMARKS.md section.
func FormatLoad(rs []LoadResult, o LoadOptions, command string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## Standing load: ingest with searches, exports and console pages (issue 12)\n\n")
	fmt.Fprintf(&b, "- Date: %s. Machine: %s. The machine is shared: other builds and tests may have been running during the run.\n- Command: `%s`\n", Stamp(), Machine(), command)
	fmt.Fprintf(&b, "- Telltale runs as a subprocess (`telltale serve`, poll interval %s, webhooks off, one Box connection with `rate_limit` 0) on each driver (SQLite in its data dir; PostgreSQL: %s). The Box emulator (%d users, 20 files each, rate limits off) runs in the benchmark process, where a generator makes its enterprise act at %d activities a second (`Step`, every 20 ms); emulator, clients and node share the machine's %d cores.\n",
		config.FormatDuration(o.PollInterval), pgWhere(o), o.Users, o.Activity, runtime.NumCPU())
	fmt.Fprintf(&b, "- After the connection is Monitoring and %s of ingest to settle, %d rounds of two phases of %s each: **ingest only**, then **ingest + load**. Stored events are counted in the node's store through the API (events with an id above the newest one at the phase start, counted exactly); generated activities are counted at the emulator (\"about files\": file and folder activities; sign-ins and group changes make no file event). Node CPU is the process's user+system time; RSS its VmHWM (reset at each phase start) and VmRSS at the end; Go heap is `go_memstats_heap_alloc_bytes` from its `/metrics`, sampled every second.\n",
		config.FormatDuration(o.Warmup), o.Rounds, config.FormatDuration(o.Duration))
	fmt.Fprintf(&b, "- Load, closed loop (each client sends its next request as soon as it has read the previous answer, no think time): %d search clients (`POST /api/v1/file-events/search`, default page and count, in turn: `actor:<user> after:7d`, `name:*<word>*`, `exposure:public_link after:24h`, `action:shared recipient:*@gmail.com`, and no query: the newest events); %d export clients (`POST /api/v1/file-events/export`, CSV read to the end, in turn: `actor:<user>`, `exposure:public_link`, `action:downloaded after:1h`); %d console clients (`GET /search`, `/connections`, `/health` in turn, each signed in through the `/login` form with its CSRF token and holding its own session cookie). Latency is until the whole answer was read; an error is a non-2xx answer or a transport error; requests cut by the end of a phase are left out.\n\n",
		o.Searchers, o.Exporters, o.Pages)
	fmt.Fprintln(&b, "| driver | phase | generated activities/s (about files) | records read/s | stored events/s | backlog at the end (activities) | node CPU (share of the cores) | RSS peak / end | Go heap peak / end |")
	fmt.Fprintln(&b, "|---|---|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range rs {
		for _, ph := range r.Phases {
			peak := mib(float64(ph.RSSPeak))
			if !ph.PeakReset {
				peak += " (since start)"
			}
			fmt.Fprintf(&b, "| %s | %s | %.0f (%.0f) | %.0f | **%.0f** | %d | %.0f s (%.0f%%) | %s / %s | %s / %s |\n", r.Driver, ph.name(), ph.GenRate, ph.FileRate, ph.ReadRate, ph.StoredRate,
				ph.Backlog, ph.CPUSeconds, 100*ph.CPUSeconds/ph.Seconds/float64(runtime.NumCPU()), peak, mib(float64(ph.RSSEnd)), mib(ph.HeapPeak), mib(ph.HeapEnd))
		}
	}
	fmt.Fprintln(&b)
	fmt.Fprintln(&b, "| driver | stored events/s, ingest only (median) | stored events/s, ingest + load (median) | ratio |")
	fmt.Fprintln(&b, "|---|---:|---:|---:|")
	for _, r := range rs {
		fmt.Fprintf(&b, "| %s | %.0f | %.0f | **%.2f** |\n", r.Driver, r.Quiet, r.Loaded, r.Ratio)
	}
	fmt.Fprintln(&b)
	fmt.Fprintln(&b, "| driver | round | kind | clients | requests | errors | p50 / p95 / p99 ms | MB read |")
	fmt.Fprintln(&b, "|---|---:|---|---:|---:|---:|---:|---:|")
	var errs []string
	for _, r := range rs {
		for _, ph := range r.Phases {
			for _, k := range ph.Kinds {
				read := "–" // searches are decoded, not counted
				if k.Kind != KindSearch {
					read = fmt.Sprintf("%.1f", float64(k.Bytes)/1e6)
				}
				fmt.Fprintf(&b, "| %s | %d | %s | %d | %d | %d | %.0f / %.0f / %.0f | %s |\n", r.Driver, ph.Round, k.Kind, k.Clients, k.Requests, k.Errors, k.P50, k.P95, k.P99, read)
				for _, e := range k.FirstErrors {
					errs = append(errs, fmt.Sprintf("- %s, round %d, %s: %s", r.Driver, ph.Round, k.Kind, e))
				}
			}
		}
	}
	if len(errs) > 0 {
		fmt.Fprintf(&b, "\nFirst errors:\n\n%s\n", strings.Join(errs, "\n"))
	}
	fmt.Fprintf(&b, "\nWhat it shows:\n\n")
	for _, r := range rs {
		fmt.Fprintf(&b, "- %s: %s\n", r.Driver, r.reading())
	}
	return b.String()
}

// reading says what one driver's numbers mean: whether ingest kept up without load (if it did, the
// stored rate is the emulator's, and the ratio says only whether the node still keeps up under
// load), and the ratio.
func (r LoadResult) reading() string {
	var quietBehind, loadBehind, quiet, errs, reqs int
	for _, ph := range r.Phases {
		switch {
		case !ph.Load:
			quiet++
			if ph.behind() {
				quietBehind++
			}
		case ph.behind():
			loadBehind++
		}
		for _, k := range ph.Kinds {
			errs += k.Errors
			reqs += k.Requests
		}
	}
	var s string
	if quietBehind == quiet {
		s = fmt.Sprintf("without load the node fell behind the emulator in every phase (its backlog grew): ingest ran at its capacity, %.0f events/s stored. ", r.Quiet)
	} else {
		s = fmt.Sprintf("without load the node kept up with the emulator in %d of %d phases (%.0f events/s stored; fewer events than file activities because repeats within 10 s coalesce): there the rate is the emulator's, not the node's capacity. ", quiet-quietBehind, quiet, r.Quiet)
	}
	s += fmt.Sprintf("Under load it stored %.0f events/s, %.0f%% of the rate without load, and fell behind in %d of %d phases; %d of %d requests failed.", r.Loaded, 100*r.Ratio, loadBehind, len(r.Phases)-quiet, errs, reqs)
	return s
}

func pgWhere(o LoadOptions) string {
	if o.DSN != "" {
		return "the database given with -dsn"
	}
	return "a throwaway PostgreSQL 15 server on loopback (`internal/testutil/pgtest`, fsync off)"
}

// LoadCommand is `telltale-bench load`: it parses args, runs the program, prints the section and
// writes it into -write's file.
func LoadCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, write, err := parseLoadArgs(args, stderr)
	if err != nil {
		return err
	}
	done, err := scratchDir(&o.TempDir, "telltale-bench-load-")
	if err != nil {
		return err
	}
	defer done()
	rs, err := RunLoad(ctx, o, stderr)
	if err != nil {
		return err
	}
	return publish(stdout, write, "load", FormatLoad(rs, o, "go run ./cmd/telltale-bench load "+strings.Join(args, " ")))
}

// parseLoadArgs reads the flags of `telltale-bench load`. A -dsn adds postgres to the drivers.
func parseLoadArgs(args []string, stderr io.Writer) (LoadOptions, string, error) {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := LoadOptions{}
	fs.DurationVar(&o.Duration, "duration", 60*time.Second, "length of each phase (ingest only, then ingest + load)")
	fs.IntVar(&o.Rounds, "rounds", 2, "rounds of the two phases, alternated; medians reported")
	fs.DurationVar(&o.Warmup, "warmup", 15*time.Second, "ingest before the first phase, not measured")
	drivers := fs.String("drivers", "sqlite", "drivers to measure: sqlite, postgres (a throwaway server unless -dsn)")
	fs.StringVar(&o.DSN, "dsn", "", "a PostgreSQL database to measure too")
	fs.IntVar(&o.Activity, "activity", 4000, "emulator activities generated per second (enough to saturate ingest on a 2-core machine)")
	fs.IntVar(&o.Users, "users", 1000, "emulator users (more users keep the emulator's cost per activity low as their drives grow)")
	fs.DurationVar(&o.PollInterval, "poll", time.Second, "the node's poll interval")
	fs.IntVar(&o.Searchers, "searchers", 2, "concurrent search clients")
	fs.IntVar(&o.Exporters, "exporters", 1, "concurrent export clients")
	fs.IntVar(&o.Pages, "pages", 2, "concurrent console clients")
	fs.StringVar(&o.TempDir, "dir", "", "directory for data dirs and logs (default: a new temporary directory)")
	fs.StringVar(&o.Binary, "binary", "", "a built telltale binary (default: go build ./cmd/telltale)")
	write := fs.String("write", "", "write the result section into this markdown file")
	if err := fs.Parse(args); err != nil {
		return o, "", err
	}
	if fs.NArg() > 0 {
		return o, "", fmt.Errorf("load: unexpected argument %q", fs.Arg(0))
	}
	for _, d := range strings.Split(*drivers, ",") {
		switch d = strings.TrimSpace(d); d {
		case "sqlite", "postgres":
			o.Drivers = append(o.Drivers, d)
		default:
			return o, "", fmt.Errorf("load: -drivers: unknown driver %q: use sqlite, postgres or both", d)
		}
	}
	if o.DSN != "" && !slices.Contains(o.Drivers, "postgres") {
		o.Drivers = append(o.Drivers, "postgres")
	}
	switch {
	case o.Duration < time.Second || o.Rounds < 1:
		return o, "", errors.New("load: -duration must be at least 1s and -rounds at least 1")
	case o.Activity < 1 || o.Users < 2:
		return o, "", errors.New("load: -activity must be at least 1 and -users at least 2")
	case o.Searchers < 0 || o.Exporters < 0 || o.Pages < 0 || o.Searchers+o.Exporters+o.Pages == 0:
		return o, "", errors.New("load: -searchers, -exporters and -pages must not be negative, and at least one client must run")
	case o.PollInterval <= 0 || o.Warmup < 0:
		return o, "", errors.New("load: -poll must be positive and -warmup not negative")
	}
	return o, *write, nil
}
