package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/config"
	googleemu "github.com/telltale-dev/telltale/internal/emulator/google"
	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/store"
	"slices"
)

// GoogleOptions configure the Google Drive collection benchmarks (issue 14, "Done when"). The
// method is the Box one (box.go): the real telltale binary as a subprocess against the emulator
// served on loopback by this process, side by side in one run; only (c) runs the node in-process,
// to read its store.
type GoogleOptions struct {
	Runs []string // of "rate", "cpu", "latency", "rss", "gmail"

	RateUsers int // (a) users crawled at once, the admin included (each has its own per-user limit)
	RateFiles int // (a) files in each user's My Drive
	RateLimit int // (a) the emulator's per-user limit, requests per minute
	RateBurst int // (a) the emulator's per-user burst (token bucket)

	CPUFiles []int // (b) files per run, side by side
	CPUUsers int   // (b) users the files of a run are spread over

	LatencyEvents int           // (c) uploads (>= 50)
	PollInterval  time.Duration // (c) TELLTALE_POLL_INTERVAL of the node

	RSSUsers []int // (d) users (drives) per run, side by side (5,000 and 50,000)
	RSSFiles int   // (d) files per user

	Workers int           // TELLTALE_WORKERS of the node in (a), (b), (d); 0 = Telltale's default
	MaxRun  time.Duration // cut an indexing run after this long and report what it did; 0 = no limit
	// ProfileDir, when set, receives profiles of the node taken through its TELLTALE_DEBUG_LISTEN:
	// cpu-b.pprof, 30 s from the start of the last (b) run; cpu-d.pprof, 30 s from when half the
	// drives of the last (d) run are indexed, and heap-d.pprof at its end.
	ProfileDir string

	TempDir string
	Binary  string   // a built telltale binary; "" = go build ./cmd/telltale into TempDir
	Launch  Launcher // (c) runs in-process; required for (c)
	Log     *slog.Logger
}

// GoogleUserRate is one user's share of measurement (a).
type GoogleUserRate struct {
	Email               string
	Files               int
	Requests, Throttled int           // as this user, counted by the emulator
	Window              time.Duration // from the user's first request seen to its last
	Allowed             float64       // limit x window: the allowed rate over the user's window
	Ratio               float64       // accepted / Allowed (the burst can take it a little over 1)
}

// GoogleRateResult is measurement (a).
type GoogleRateResult struct {
	Limit, Burst        int
	Files, Indexed      int
	Elapsed             time.Duration
	Users               []GoogleUserRate
	Requests, Throttled int // every user's
	Ratio               float64
	ThrottledShare      float64
	EarlyRetries        int // retries the emulator saw before Google's backoff allowed them
	Cut                 bool
}

// GoogleResults are the outcomes of the runs that were asked for.
type GoogleResults struct {
	Rate     *GoogleRateResult
	CPU      []CPURun
	Latency  *LatencyResult
	Gmail    *LatencyResult // (e) a sent attachment to searchable, through Gmail's Pub/Sub push
	RSS      []CPURun
	Workers  int
	Profiles []string // the profiles written
	// LoadBefore and LoadAfter are /proc/loadavg's 1-, 5- and 15-minute load averages when the
	// runs started and ended: how busy the shared machine was.
	LoadBefore, LoadAfter string
}

// loadAvg is the machine's load averages (1, 5, 15 minutes).
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// checkRuns refuses a run name not in binaryRuns or launchRuns (of vendor), and a launched run
// without a Launcher; when a run needs the telltale binary and none is given, it builds one into
// tempDir and sets *binary.
func checkRuns(ctx context.Context, vendor string, runs, binaryRuns, launchRuns []string, launch Launcher, binary *string, tempDir string, progress io.Writer) error {
	needBinary := false
	for _, r := range runs {
		switch {
		case slices.Contains(binaryRuns, r):
			needBinary = true
		case slices.Contains(launchRuns, r):
			if launch == nil {
				return fmt.Errorf("bench: the %s run needs a Launcher (run it through cmd/telltale-bench)", r)
			}
		default:
			return fmt.Errorf("bench: unknown %s run %q: choose from %s", vendor, r, strings.Join(append(slices.Clone(binaryRuns), launchRuns...), ", "))
		}
	}
	if needBinary && *binary == "" {
		b, err := buildTelltale(ctx, tempDir, progress)
		if err != nil {
			return err
		}
		*binary = b
	}
	return nil
}

// RunGoogle runs the Google Drive benchmarks named in o.Runs, printing progress to progress.
func RunGoogle(ctx context.Context, o GoogleOptions, progress io.Writer) (GoogleResults, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	res := GoogleResults{Workers: o.Workers, LoadBefore: loadAvg()}
	if err := checkRuns(ctx, "google", o.Runs, []string{"rate", "cpu", "rss"}, []string{"latency", "gmail"}, o.Launch, &o.Binary, o.TempDir, progress); err != nil {
		return res, err
	}
	for _, r := range o.Runs {
		switch r {
		case "rate":
			rr, err := runGoogleRate(ctx, o, progress)
			if err != nil {
				return res, fmt.Errorf("rate-bound indexing: %w", err)
			}
			res.Rate = &rr
		case "cpu":
			for i, n := range o.CPUFiles {
				users := max(1, o.CPUUsers)
				var prof profiling
				if i == len(o.CPUFiles)-1 && o.ProfileDir != "" {
					prof = profiling{cpu: filepath.Join(o.ProfileDir, "cpu-b.pprof")}
				}
				fmt.Fprintf(progress, "(b) CPU-bound: %d files over %d users\n", n, users)
				cr, err := runGoogleIndex(ctx, o, fmt.Sprintf("cpu-%d", n), googleemu.Options{Seed: 5, Users: users, Groups: 2,
					FilesPerUser: max(1, n/users), FoldersPerUser: max(1, n/users/100), SharedDrives: 1, FilesPerDrive: 1,
					MinFileSize: 256, MaxFileSize: 1024, RateLimitPerMinute: -1}, prof, progress)
				if err != nil {
					return res, fmt.Errorf("CPU-bound indexing, %d files: %w", n, err)
				}
				res.Profiles = append(res.Profiles, prof.written...)
				res.CPU = append(res.CPU, cr)
			}
		case "latency":
			lr, err := runGoogleLatency(ctx, o, progress)
			if err != nil {
				return res, fmt.Errorf("latency: %w", err)
			}
			res.Latency = &lr
		case "gmail":
			lr, err := runGmailLatency(ctx, o, progress)
			if err != nil {
				return res, fmt.Errorf("gmail: %w", err)
			}
			res.Gmail = &lr
		case "rss":
			for i, n := range o.RSSUsers {
				var prof profiling
				if i == len(o.RSSUsers)-1 && o.ProfileDir != "" {
					prof = profiling{cpu: filepath.Join(o.ProfileDir, "cpu-d.pprof"), atHalf: true, heap: filepath.Join(o.ProfileDir, "heap-d.pprof")}
				}
				users := usersForDrives(n)
				fmt.Fprintf(progress, "(d) RSS: %d drives (%d users) x %d files\n", n, users, o.RSSFiles)
				cr, err := runGoogleIndex(ctx, o, fmt.Sprintf("rss-%d", n), googleemu.Options{Seed: 9, Users: users, Groups: 2,
					FilesPerUser: max(1, o.RSSFiles), FoldersPerUser: 1, SharedDrives: 1, FilesPerDrive: 1,
					MinFileSize: 256, MaxFileSize: 1024, RateLimitPerMinute: -1}, prof, progress)
				if err != nil {
					return res, fmt.Errorf("RSS, %d users: %w", n, err)
				}
				res.Profiles = append(res.Profiles, prof.written...)
				res.RSS = append(res.RSS, cr)
			}
		}
	}
	res.LoadAfter = loadAvg()
	return res, nil
}

// usersForDrives is how many users the emulator needs for n drives: it suspends a tenth of its
// users and archives one (neither is a drive), and the runs add one shared drive.
func usersForDrives(n int) int {
	u := n
	for u-u/10 < n {
		u++
	}
	return u
}

// googleEmulator is a Google emulator served on loopback.
type googleEmulator struct {
	*googleemu.Emulator
	URL  string
	stop func()
}

func startGoogleEmulator(o googleemu.Options) (*googleEmulator, error) {
	emu := googleemu.New(o)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: emu.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return &googleEmulator{Emulator: emu, URL: "http://" + ln.Addr().String(), stop: func() {
		c, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(c)
		emu.Close()
	}}, nil
}

// googleConnection is the Google Drive connection to the emulator (as internal/cli/demo.go's),
// paced at rateLimit requests per minute per user ("" the connector's default), as an admin sets it
// to the project's Drive quota.
func googleConnection(emu *googleEmulator, rateLimit string) client.NewConnection {
	settings := map[string]string{"admin_email": emu.Users()[0].Email, "customer": "C01emu7x9", "reports_overlap": "5m",
		"token_url": emu.URL + "/token", "drive_url": emu.URL + "/drive/v3/", "directory_url": emu.URL + "/"}
	if rateLimit != "" {
		settings["rate_limit"] = rateLimit
	}
	return client.NewConnection{Name: "Google Drive bench", Service: "google_drive", TenantID: "C01emu7x9",
		Settings:    settings,
		Credentials: map[string]string{"service_account_key": string(emu.ServiceAccountKey(emu.URL + "/token"))}}
}

// monitoredFiles is the ground truth of a crawl: the files of active users' My Drives and of the
// shared drives, and how many drives that is.
func monitoredFiles(emu *googleEmulator) (files, drives int) {
	counts := emu.FileCounts()
	for _, u := range emu.Users() {
		if !u.Suspended && !u.Archived {
			files += counts[u.Email]
			drives++
		}
	}
	for _, d := range emu.SharedDrives() {
		files += counts[d.ID]
		drives++
	}
	return files, drives
}

func (o GoogleOptions) nodeEnv() map[string]string {
	// The Reports API and the changes feeds are polled once in 5 minutes: indexing is measured.
	env := map[string]string{"TELLTALE_POLL_INTERVAL": "5m"}
	if o.Workers > 0 {
		env["TELLTALE_WORKERS"] = strconv.Itoa(o.Workers)
	}
	return env
}

func runGoogleRate(ctx context.Context, o GoogleOptions, progress io.Writer) (GoogleRateResult, error) {
	r := GoogleRateResult{Limit: o.RateLimit, Burst: o.RateBurst}
	// One more user than crawled: the emulator always archives one (not crawled).
	fmt.Fprintf(progress, "(a) rate-bound: %d users x %d files, %d requests/minute per user (burst %d)\n", o.RateUsers, o.RateFiles, o.RateLimit, o.RateBurst)
	emu, err := startGoogleEmulator(googleemu.Options{Seed: 3, Users: o.RateUsers + 1, SuspendedUsers: -1, ArchivedUsers: 1, Groups: 1,
		FilesPerUser: o.RateFiles, FoldersPerUser: max(1, o.RateFiles/500), SharedDrives: 1, FilesPerDrive: 1,
		MinFileSize: 256, MaxFileSize: 1024, RateLimitPerMinute: o.RateLimit, RateBurst: o.RateBurst})
	if err != nil {
		return r, err
	}
	defer emu.stop()
	r.Files, _ = monitoredFiles(emu)
	node, err := startNode(ctx, o.Binary, o.TempDir, "google-rate", o.nodeEnv())
	if err != nil {
		return r, err
	}
	defer node.stop()
	c := client.New(node.URL, benchToken)
	emu.ResetStats()

	// Each user's first and last request, as seen by sampling the emulator's counters.
	stopSampling := sampleWindows(ctx, func() map[string]int {
		out := map[string]int{}
		for k, v := range emu.Stats().ByUser {
			out[k] = v.Requests
		}
		return out
	})
	start := time.Now()
	conn, err := c.CreateConnection(ctx, googleConnection(emu, strconv.Itoa(o.RateLimit)))
	if err != nil {
		stopSampling()
		return r, err
	}
	wctx, cancel := ctx, context.CancelFunc(func() {})
	if o.MaxRun > 0 {
		wctx, cancel = context.WithTimeout(ctx, o.MaxRun)
	}
	_, err = waitMonitoring(wctx, c, conn.ID, 100*time.Millisecond, progress)
	cancel()
	r.Elapsed = time.Since(start)
	users := stopSampling()
	switch {
	case err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded):
		r.Cut = true
	case err != nil:
		return r, err
	}
	st := emu.Stats()
	r.EarlyRetries = st.EarlyRetries
	counts := emu.FileCounts()
	var accepted, allowed float64
	for email, v := range st.ByUser {
		u := GoogleUserRate{Email: email, Files: counts[email], Requests: v.Requests, Throttled: v.Throttled, Window: users[email]}
		u.Allowed = float64(o.RateLimit) * u.Window.Minutes()
		if u.Allowed > 0 {
			u.Ratio = float64(v.Requests-v.Throttled) / u.Allowed
		}
		r.Users = append(r.Users, u)
		r.Requests += v.Requests
		r.Throttled += v.Throttled
		accepted += float64(v.Requests - v.Throttled)
		allowed += u.Allowed
	}
	sort.Slice(r.Users, func(i, j int) bool { return r.Users[i].Email < r.Users[j].Email })
	if allowed > 0 {
		r.Ratio = accepted / allowed
	}
	if r.Requests > 0 {
		r.ThrottledShare = float64(r.Throttled) / float64(r.Requests)
	}
	if r.Indexed, err = indexedFiles(ctx, c, conn.ID); err != nil {
		return r, err
	}
	fmt.Fprintf(progress, "  %d of %d files indexed in %s: %d requests (%d throttled, %.2f%%), achieved/allowed %.3f, %d early retries\n",
		r.Indexed, r.Files, r.Elapsed.Round(time.Second), r.Requests, r.Throttled, 100*r.ThrottledShare, r.Ratio, r.EarlyRetries)
	for _, u := range r.Users {
		fmt.Fprintf(progress, "    %s: %d files, %d requests, %d throttled, window %s, allowed %.0f, ratio %.3f\n", u.Email, u.Files, u.Requests, u.Throttled,
			u.Window.Round(100*time.Millisecond), u.Allowed, u.Ratio)
	}
	return r, nil
}

// sampleWindows samples counters (read, by key) every 50 ms until the returned stop is called,
// which gives each key's window: from when it was first seen to its last change. A rate-bound run
// divides what was accepted by the limit over that window.
func sampleWindows(ctx context.Context, read func() map[string]int) (stop func() map[string]time.Duration) {
	type seen struct {
		first, last time.Time
		n           int
	}
	keys := map[string]*seen{}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			now := time.Now()
			for k, n := range read() {
				s := keys[k]
				if s == nil {
					s = &seen{first: now}
					keys[k] = s
				}
				if n != s.n {
					s.n, s.last = n, now
				}
			}
			select {
			case <-sctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() map[string]time.Duration {
		cancel()
		<-done
		out := map[string]time.Duration{}
		for k, s := range keys {
			if !s.last.IsZero() {
				out[k] = s.last.Sub(s.first)
			}
		}
		return out
	}
}

// profiling says which profiles of the node an indexing run takes.
type profiling struct {
	cpu    string // a 30 s CPU profile to this file
	atHalf bool   // from when half the drives are indexed (else from the connection's creation)
	heap   string // a heap profile at the end to this file

	written []string
}

// runGoogleIndex indexes the emulator's organization with rate limits off and measures the node:
// files/s, its CPU time and its peak RSS.
func runGoogleIndex(ctx context.Context, o GoogleOptions, tag string, eo googleemu.Options, prof profiling, progress io.Writer) (CPURun, error) {
	t0 := time.Now()
	emu, err := startGoogleEmulator(eo)
	if err != nil {
		return CPURun{}, err
	}
	defer emu.stop()
	files, drives := monitoredFiles(emu)
	fmt.Fprintf(progress, "  emulator ready in %s: %d drives, %d files to index\n", time.Since(t0).Round(time.Millisecond), drives, files)
	return indexRun(ctx, indexSpec{binary: o.Binary, tempDir: o.TempDir, tag: "google-" + tag, env: o.nodeEnv(), maxRun: o.MaxRun,
		// The emulator's rate limits are off in these runs, and so is Telltale's pacing ("0"):
		// -rate-limit is (a)'s. Paced at 60 a minute per user, a run measured the pacing.
		files: files, drives: drives, conn: googleConnection(emu, "0"),
		resetStats: emu.ResetStats, requests: func() int { return emu.Stats().Requests }}, prof, progress)
}

// indexSpec is one indexing run of a vendor's emulator (already serving): the node's binary and
// environment, the ground truth (files and drives to index), the connection to make, and the
// emulator's request counter.
type indexSpec struct {
	binary, tempDir, tag string
	env                  map[string]string
	maxRun               time.Duration // cut the run after this long (0: no limit)
	files, drives        int
	conn                 client.NewConnection
	resetStats           func()
	requests             func() int
}

// indexRun starts the telltale binary, makes the connection and measures the node from then to
// Monitoring with every drive indexed: files/s, its CPU time and its peak RSS, with the profiles
// prof asks for.
func indexRun(ctx context.Context, sp indexSpec, prof profiling, progress io.Writer) (CPURun, error) {
	var err error
	r := CPURun{Files: sp.files, Users: sp.drives}
	env := map[string]string{}
	for k, v := range sp.env {
		env[k] = v
	}
	debug := ""
	if prof.cpu != "" || prof.heap != "" {
		if debug, err = freeAddr(); err != nil {
			return r, err
		}
		env["TELLTALE_DEBUG_LISTEN"] = debug
	}
	node, err := startNode(ctx, sp.binary, sp.tempDir, sp.tag, env)
	if err != nil {
		return r, err
	}
	defer node.stop()
	c := client.New(node.URL, benchToken)
	sp.resetStats()
	cpu0, err := node.cpuSeconds()
	if err != nil {
		return r, err
	}
	start := time.Now()
	conn, err := c.CreateConnection(ctx, sp.conn)
	if err != nil {
		return r, err
	}
	profiled := make(chan error, 1)
	pctx, stopProfile := context.WithCancel(ctx)
	defer stopProfile()
	if prof.cpu != "" {
		go func() {
			for prof.atHalf {
				cur, err := c.Connection(pctx, conn.ID)
				if err != nil {
					profiled <- err
					return
				}
				if d := cur.Drives; d != nil && d.Total > 0 && d.Indexed*2 >= d.Total {
					break
				}
				select {
				case <-pctx.Done():
					profiled <- errors.New("the run ended before half the drives were indexed")
					return
				case <-time.After(2 * time.Second):
				}
			}
			profiled <- pprofTo(ctx, "http://"+debug+"/debug/pprof/profile?seconds=30", prof.cpu)
		}()
	} else {
		profiled <- nil
	}
	wctx, cancel := ctx, context.CancelFunc(func() {})
	if sp.maxRun > 0 {
		wctx, cancel = context.WithTimeout(ctx, sp.maxRun)
	}
	last, err := waitMonitoring(wctx, c, conn.ID, time.Second, progress)
	cancel()
	r.Elapsed = time.Since(start)
	switch {
	case err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded):
		r.Cut = true
		if last, err = c.Connection(ctx, conn.ID); err != nil {
			return r, err
		}
		fmt.Fprintf(progress, "  cut after %s\n", r.Elapsed.Round(time.Second))
	case err != nil:
		return r, err
	}
	if last.Drives != nil {
		r.DrivesIndexed = int(last.Drives.Indexed)
	}
	if r.PeakRSS, err = node.peakRSS(); err != nil {
		return r, err
	}
	cpu1, err := node.cpuSeconds()
	if err != nil {
		return r, err
	}
	r.CPUSeconds = cpu1 - cpu0
	r.Requests = sp.requests()
	if r.Indexed, err = indexedFiles(ctx, c, conn.ID); err != nil {
		return r, err
	}
	r.FilesPerSecond = float64(r.Indexed) / r.Elapsed.Seconds()
	if prof.heap != "" {
		if err := pprofTo(ctx, "http://"+debug+"/debug/pprof/heap", prof.heap); err != nil {
			fmt.Fprintf(progress, "  heap profile: %v\n", err)
		} else {
			prof.written = append(prof.written, prof.heap)
		}
	}
	stopProfile()
	if err := <-profiled; err != nil {
		fmt.Fprintf(progress, "  CPU profile: %v\n", err)
	} else if prof.cpu != "" {
		prof.written = append(prof.written, prof.cpu)
	}
	fmt.Fprintf(progress, "  %d of %d files, %d of %d drives indexed in %s: %.0f files/s, Telltale CPU %.1fs (%.0f files per CPU-second), peak RSS %.0f MiB, %d emulator requests\n",
		r.Indexed, r.Files, r.DrivesIndexed, r.Users, r.Elapsed.Round(time.Second), r.FilesPerSecond, r.CPUSeconds, r.filesPerCPUSecond(), float64(r.PeakRSS)/(1<<20), r.Requests)
	return r, nil
}

// pprofTo saves a profile from the node's pprof endpoint.
func pprofTo(ctx context.Context, url, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("pprof answered %s", resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func runGoogleLatency(ctx context.Context, o GoogleOptions, progress io.Writer) (LatencyResult, error) {
	lr := LatencyResult{Path: "poll", PollInterval: o.PollInterval, Target: o.PollInterval + 5*time.Second}
	fmt.Fprintf(progress, "(c) latency: node with a public URL, poll interval %s\n", o.PollInterval)
	// The Reports API lags 30 minutes to 3 hours (its default, as Google's): within the run only
	// the changes feed (its push channel, or its poll) can make an upload searchable.
	emu, err := startGoogleEmulator(googleemu.Options{Seed: 7, Users: 11, Groups: 2, FilesPerUser: 20, FoldersPerUser: 3, SharedDrives: 1,
		FilesPerDrive: 5, MinFileSize: 256, MaxFileSize: 1024})
	if err != nil {
		return lr, err
	}
	defer emu.stop()
	node, err := startInProcess(ctx, o.Launch, filepath.Join(o.TempDir, "google-latency"), o.PollInterval, o.Log)
	if err != nil {
		return lr, err
	}
	defer node.stop()
	st, c := node.st, node.c
	conn, err := c.CreateConnection(ctx, googleConnection(emu, ""))
	if err != nil {
		return lr, err
	}
	if _, err := waitMonitoring(ctx, c, conn.ID, 100*time.Millisecond, progress); err != nil {
		return lr, err
	}
	connID, _ := strconv.ParseInt(conn.ID, 10, 64)
	var active []googleemu.User
	for _, u := range emu.Users() {
		if !u.Suspended && !u.Archived && !u.Admin {
			active = append(active, u)
		}
	}
	send := func(i int) (string, error) {
		u := active[i%len(active)]
		return emu.Upload(u.Email, "", fmt.Sprintf("bench-latency-%03d.bin", i), "application/octet-stream", []byte(fmt.Sprintf("latency probe %d", i)))
	}
	byFile := func(e event.FileEvent) []string { return []string{e.File.ID} }
	return probeLatency(ctx, o.LatencyEvents, lr, st, connID, send, byFile, func() int { return emu.Stats().PushDeliveries }, progress)
}

// FormatGoogle renders the results as the BENCHMARKS.md section.
func FormatGoogle(r GoogleResults, o GoogleOptions, command string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## Google Drive collection (issue 14)\n\n")
	fmt.Fprintf(&b, "- Date: %s. Machine: %s.\n- Command: `%s`\n", Stamp(), Machine(), command)
	fmt.Fprintf(&b, "- Load average (1, 5, 15 min) of the shared machine: %s at the start, %s at the end.\n", r.LoadBefore, r.LoadAfter)
	workers := "Telltale's default"
	if r.Workers > 0 {
		workers = strconv.Itoa(r.Workers)
	}
	fmt.Fprintf(&b, "- Telltale runs on SQLite against the Google emulator (`internal/emulator/google`) served on loopback by the benchmark process; both share the machine's cores. (a), (b) and (d) run the telltale binary as a subprocess (`TELLTALE_WORKERS` = %s, poll interval 5m); (c) runs the node in-process to read its store.\n", workers)
	if a := r.Rate; a != nil {
		fmt.Fprintf(&b, "\n### (a) Rate-bound indexing\n\n")
		fmt.Fprintf(&b, "%d users (the admin included) with %d files each in My Drive, crawled at once; the emulator limits each user to %d requests a minute (token bucket, burst %d) and answers over-quota requests 403 `userRateLimitExceeded`, as Drive does. Google documents 12,000 queries a minute per user (Drive API usage limits page; its newer version counts 325,000 quota units a minute per user): the limit is scaled down so that a crawl of 1,000-file pages is bound by it on this machine and not by CPU. The connection's `rate_limit` is set to the emulator's limit, as an admin sets it to the project's quota: the connector paces each user at 0.97 of it (burst 1) and, when throttled anyway, waits Google's documented backoff (1, 2, 4 ... s plus a random fraction). Each user's allowed requests are the limit x that user's window (its first to its last request, sampled every 50 ms), as Box's ratio is the achieved rate over the allowed one; achieved / allowed counts accepted requests only, summed over the users, so the initial burst can take it a little over 1 (by at most burst / allowed).\n\n",
			len(a.Users), o.RateFiles, a.Limit, a.Burst)
		fmt.Fprintln(&b, "| user | files | requests | throttled | window | allowed | achieved / allowed |")
		fmt.Fprintln(&b, "|---|---:|---:|---:|---:|---:|---:|")
		for _, u := range a.Users {
			fmt.Fprintf(&b, "| %s | %d | %d | %d | %s | %.0f | %.3f |\n", u.Email, u.Files, u.Requests, u.Throttled, u.Window.Round(100*time.Millisecond), u.Allowed, u.Ratio)
		}
		el := a.Elapsed.Round(time.Second).String()
		if a.Cut {
			el += " (cut: not finished)"
		}
		fmt.Fprintf(&b, "\n| files monitored | files indexed | elapsed | requests | throttled | early retries | achieved / allowed (target >= 0.9) | throttled share (target < 1%%) |\n|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		fmt.Fprintf(&b, "| %d | %d | %s | %d | %d | %d | %.3f (%s) | %.2f%% (%s) |\n", a.Files, a.Indexed, el, a.Requests, a.Throttled, a.EarlyRetries,
			a.Ratio, met(a.Ratio >= 0.9 && !a.Cut), 100*a.ThrottledShare, met(a.ThrottledShare < 0.01))
	}
	if len(r.CPU) > 0 {
		fmt.Fprintf(&b, "\n### (b) CPU-bound indexing\n\n")
		fmt.Fprintf(&b, "The files of each run spread over %d users (0.25-1 KiB each, about 100 files a folder), rate limits off in the emulator. Files per second from connection creation to Monitoring with every drive indexed; Telltale's own CPU time (user+system of its process: the emulator's share of the cores is left out) and its peak RSS (VmHWM). Runs side by side in one invocation%s.\n\n",
			max(1, o.CPUUsers), cutNote(o.MaxRun))
		indexTable(&b, r.CPU, true)
	}
	if l := r.Latency; l != nil {
		fmt.Fprintf(&b, "\n### (c) Drive change to searchable\n\n")
		fmt.Fprintf(&b, "One upload a second into the My Drive of a rotating user (9 active users). Start: when the emulator's `Upload` returns. End: the event's insert time, stamped by the store in the transaction that makes it searchable; *seen* is when the benchmark's 50 ms reader of the store found it (an upper bound). The node has a public URL (`TELLTALE_PUBLIC_URL`, its own loopback address), so push channels are used if the connector makes them; the Reports API lags 30 min to 3 h, so only the changes feed can deliver within the run.")
		if l.Path == "poll" {
			fmt.Fprintf(&b, " **The connector made no push channel (the emulator delivered %d pushes): this is the polled path**, at `TELLTALE_POLL_INTERVAL` = %s; its target is the interval + 5 s, as Box's poll path. The issue's 5 s target is for push and is not measured here.", l.Deliveries, config.FormatDuration(l.PollInterval))
		}
		b.WriteString("\n\n")
		latencyTable(&b, l)
	}
	if l := r.Gmail; l != nil {
		fmt.Fprintf(&b, "\n### (e) Gmail: a sent attachment to searchable\n\n")
		fmt.Fprintf(&b, "One message a second with one attachment, from a rotating user (9 active users), through a Gmail connection with a Pub/Sub topic: the emulator publishes each mailbox change to the node's webhook with a signed OIDC token, as Pub/Sub push does. Start: when the emulator's `SendMail` returns. End: the event's insert time; *seen* as in (c).")
		if l.Path == "poll" {
			fmt.Fprintf(&b, " **No push arrived (%d deliveries): this is the polled path** at %s.", l.Deliveries, config.FormatDuration(l.PollInterval))
		}
		b.WriteString("\n\n")
		latencyTable(&b, l)
	}
	if len(r.RSS) > 0 {
		fmt.Fprintf(&b, "\n### (d) Memory from %d to %d drives\n\n", r.RSS[0].Users, r.RSS[len(r.RSS)-1].Users)
		fmt.Fprintf(&b, "Users with %d files each, one shared drive; the emulator suspends a tenth of its users and archives one (neither is a drive), so it has a ninth more users than drives, rate limits off: discovery and indexing of every drive, then the node's peak RSS (VmHWM). Runs side by side in one invocation%s.\n\n", o.RSSFiles, cutNote(o.MaxRun))
		indexTable(&b, r.RSS, false)
		if len(r.RSS) >= 2 {
			lo, hi := r.RSS[0], r.RSS[len(r.RSS)-1]
			g := float64(hi.PeakRSS) / float64(lo.PeakRSS)
			fmt.Fprintf(&b, "\nPeak RSS at %d vs %d drives: x%.2f for x%.1f the drives (target: flat; %s at a 1.5x tolerance).\n",
				hi.Users, lo.Users, g, float64(hi.Users)/float64(max(1, lo.Users)), met(g <= 1.5 && !hi.Cut))
		}
	}
	if len(r.Profiles) > 0 {
		fmt.Fprintf(&b, "\nProfiles of the node taken in this run (read with `go tool pprof -top FILE`): %s.\n", "`"+strings.Join(r.Profiles, "`, `")+"`")
	}
	return b.String()
}

// latencyTable is the table of a latency run: quantiles of the insert time, the reader's, the
// target and whether it is met.
func latencyTable(b *strings.Builder, l *LatencyResult) {
	fmt.Fprintf(b, "| path | poll interval | arrived / sent | p50 | p95 | max | seen p50 / p95 | target (p95) | push deliveries |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	ok := l.P95 <= l.Target && l.Arrived == l.Sent
	fmt.Fprintf(b, "| %s | %s | %d / %d | %s | %s | %s | %s / %s | <= %s (%s) | %d |\n", l.Path, config.FormatDuration(l.PollInterval), l.Arrived, l.Sent,
		l.P50.Round(time.Millisecond), l.P95.Round(time.Millisecond), l.Max.Round(time.Millisecond), l.SeenP50.Round(time.Millisecond), l.SeenP95.Round(time.Millisecond),
		config.FormatDuration(l.Target), met(ok), l.Deliveries)
}

func cutNote(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	return fmt.Sprintf("; a run not finished after %s is cut and reports what it had indexed by then", d)
}

func indexTable(b *strings.Builder, runs []CPURun, target bool) {
	goal := ""
	if target {
		goal = " (target >= 5,000)"
	}
	fmt.Fprintf(b, "| drives | files | drives indexed | files indexed | elapsed | files/s%s | Telltale CPU | files per Telltale CPU-second | peak RSS | emulator requests |\n", goal)
	fmt.Fprintln(b, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, c := range runs {
		el := c.Elapsed.Round(time.Second).String()
		if c.Cut {
			el += " (cut: not finished)"
		}
		fps := fmt.Sprintf("%.0f", c.FilesPerSecond)
		if target {
			fps += " (" + met(c.FilesPerSecond >= 5000 && !c.Cut) + ")"
		}
		fmt.Fprintf(b, "| %d | %d | %d | %d | %s | %s | %.1fs | %.0f | %.0f MiB | %d |\n", c.Users, c.Files, c.DrivesIndexed, c.Indexed, el, fps,
			c.CPUSeconds, c.filesPerCPUSecond(), float64(c.PeakRSS)/(1<<20), c.Requests)
	}
}

// gmailTopic is the Pub/Sub topic of the Gmail latency run (in the emulator's project).
const gmailTopic = "projects/telltale-emu/topics/gmail-bench"

// runGmailLatency measures (e): a message with an attachment sent in the emulator to its
// file-emailed event stored, with the Gmail connection's Pub/Sub push (the emulator publishes to
// the node's webhook URL with a signed OIDC token).
func runGmailLatency(ctx context.Context, o GoogleOptions, progress io.Writer) (LatencyResult, error) {
	lr := LatencyResult{Path: "poll", PollInterval: o.PollInterval, Target: o.PollInterval + 5*time.Second}
	fmt.Fprintf(progress, "(e) gmail latency: node with a public URL, poll interval %s\n", o.PollInterval)
	emu, err := startGoogleEmulator(googleemu.Options{Seed: 8, Users: 11, Groups: 2, FilesPerUser: 1, MinFileSize: 256, MaxFileSize: 1024})
	if err != nil {
		return lr, err
	}
	defer emu.stop()
	node, err := startInProcess(ctx, o.Launch, filepath.Join(o.TempDir, "gmail-latency"), o.PollInterval, o.Log)
	if err != nil {
		return lr, err
	}
	defer node.stop()
	st, c := node.st, node.c
	emu.SetPushEndpoint(gmailTopic, "", "") // the topic exists; its push subscription follows the connection
	conn, err := c.CreateConnection(ctx, client.NewConnection{Name: "Gmail bench", Service: "gmail", TenantID: "C01emu7x9",
		Settings: map[string]string{"admin_email": emu.Users()[0].Email, "customer": "C01emu7x9", "token_url": emu.URL + "/token",
			"gmail_url": emu.URL + "/", "directory_url": emu.URL + "/", "jwks_url": emu.URL + "/oauth2/v3/certs",
			"pubsub_topic": gmailTopic, "push_service_account": "gmail-push@telltale-emu.iam.gserviceaccount.com"},
		Credentials: map[string]string{"service_account_key": string(emu.ServiceAccountKey(emu.URL + "/token"))}})
	if err != nil {
		return lr, err
	}
	emu.SetPushEndpoint(gmailTopic, node.url+"/api/v1/webhooks/gmail/"+conn.ID, "")
	// An email connection monitors once its mailboxes are found (no baseline).
	for deadline := time.Now().Add(2 * time.Minute); ; {
		got, err := c.Connection(ctx, conn.ID)
		if err != nil {
			return lr, err
		}
		if got.Status == "monitoring" {
			break
		}
		if got.Status == "error" || time.Now().After(deadline) {
			return lr, fmt.Errorf("the Gmail connection is %s (%s), want monitoring", got.Status, got.ErrorReason)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The push round makes the mailboxes' users.watch within a minute of the node's start.
	watchUntil := time.Now().Add(90 * time.Second)
	for emu.Stats().PushDeliveries == 0 && time.Now().Before(watchUntil) {
		var probe string
		for _, u := range emu.Users() {
			if !u.Suspended && !u.Archived && !u.Admin {
				probe = u.Email
				break
			}
		}
		if _, err := emu.SendMail(probe, []string{"x@partner.example"}, nil, nil, "warm-up", nil); err != nil {
			return lr, err
		}
		time.Sleep(2 * time.Second)
	}
	connID, _ := strconv.ParseInt(conn.ID, 10, 64)
	var active []googleemu.User
	for _, u := range emu.Users() {
		if !u.Suspended && !u.Archived && !u.Admin {
			active = append(active, u)
		}
	}
	send := func(i int) (string, error) {
		u := active[i%len(active)]
		return emu.SendMail(u.Email, []string{"x@partner.example"}, nil, nil, fmt.Sprintf("latency probe %d", i),
			[]googleemu.MailAttachment{{Name: fmt.Sprintf("probe-%03d.pdf", i), MimeType: "application/pdf", Content: []byte(fmt.Sprintf("%%PDF-1.4 probe %d", i))}})
	}
	byMessage := func(e event.FileEvent) []string { // record ids are "<message id>/<part id>"
		var out []string
		for _, v := range e.Event.VendorIDs {
			msg, _, _ := strings.Cut(v, "/")
			out = append(out, msg)
		}
		return out
	}
	return probeLatency(ctx, o.LatencyEvents, lr, st, connID, send, byMessage, func() int { return emu.Stats().PushDeliveries }, progress)
}

// inProcess is a node run in this process (its store read directly) with a public URL, its own
// loopback address, so that vendors push to it.
type inProcess struct {
	st   store.Store
	url  string
	c    *client.Client
	stop func()
}

// startInProcess runs a node through launch with its data in dir and the poll interval poll.
func startInProcess(ctx context.Context, launch Launcher, dir string, poll time.Duration, log *slog.Logger) (*inProcess, error) {
	cfg := config.Default()
	cfg.DataDir = dir
	cfg.BootstrapToken = benchToken
	cfg.AllowLoopback = true
	cfg.PollInterval = poll
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	cfg.Listen = ln.Addr().String()
	cfg.PublicURL = "http://" + ln.Addr().String()
	nctx, stopNode := context.WithCancel(ctx)
	st, wait, err := launch(nctx, cfg, ln, log)
	if err != nil {
		stopNode()
		ln.Close()
		return nil, err
	}
	return &inProcess{st: st, url: cfg.PublicURL, c: client.New(cfg.PublicURL, benchToken), stop: func() { stopNode(); wait() }}, nil
}

// lastEventID is the id of the connection's newest event (0: none).
func lastEventID(ctx context.Context, st store.Store, connID int64) (int64, error) {
	var after int64
	for {
		page, err := st.ListEvents(ctx, store.EventFilter{ConnectionID: connID, AfterID: after, Limit: 1000})
		if err != nil {
			return 0, err
		}
		if len(page) == 0 {
			return after, nil
		}
		after = page[len(page)-1].Event.ID
	}
}

// watchEvents reads the connection's events after the id after every 50 ms, handing each to fn
// with when it was read, until ctx ends; the returned channel gives the reader's error (nil when
// ctx ended it).
func watchEvents(ctx context.Context, st store.Store, connID, after int64, fn func(e event.FileEvent, seen time.Time)) <-chan error {
	done := make(chan error, 1)
	go func() {
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				done <- nil
				return
			case <-t.C:
			}
			for {
				page, err := st.ListEvents(ctx, store.EventFilter{ConnectionID: connID, AfterID: after, Limit: 1000})
				if err != nil {
					if ctx.Err() != nil {
						done <- nil
					} else {
						done <- err
					}
					return
				}
				now := time.Now()
				for _, e := range page {
					fn(e, now)
				}
				if len(page) == 0 {
					break
				}
				after = page[len(page)-1].Event.ID
			}
		}
	}()
	return done
}

// probeLatency sends n probes one a second (send returns each probe's key) and measures, for
// each, the time to the first event of connID whose keys (keysOf) name it: its insert time
// (stamped in the transaction that makes it searchable) and when a 50 ms reader of the store saw
// it. A run whose vendor delivered pushes is the push path, with its 5 s target.
func probeLatency(ctx context.Context, n int, lr LatencyResult, st store.Store, connID int64, send func(i int) (string, error),
	keysOf func(event.FileEvent) []string, pushes func() int, progress io.Writer) (LatencyResult, error) {
	after, err := lastEventID(ctx, st, connID)
	if err != nil {
		return lr, err
	}
	before := pushes()
	var mu sync.Mutex
	sent := map[string]time.Time{} // probe key -> when send returned
	var lat, seenLat []time.Duration
	found := map[string]bool{}
	wctx, stopWatch := context.WithCancel(ctx)
	watchDone := watchEvents(wctx, st, connID, after, func(e event.FileEvent, now time.Time) {
		mu.Lock()
		defer mu.Unlock()
		for _, k := range keysOf(e) {
			if at, ok := sent[k]; ok && !found[k] {
				found[k] = true
				lat = append(lat, e.Event.Inserted.Sub(at))
				seenLat = append(seenLat, now.Sub(at))
			}
		}
	})
	tick := time.NewTicker(time.Second)
	for i := 0; i < n; i++ {
		key, err := send(i)
		if err != nil {
			tick.Stop()
			stopWatch()
			return lr, fmt.Errorf("the emulator refused probe %d: %w", i, err)
		}
		mu.Lock()
		sent[key] = time.Now()
		mu.Unlock()
		<-tick.C
	}
	tick.Stop()
	lr.Sent = n
	deadline := time.Now().Add(lr.Target + 30*time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		got := len(found)
		mu.Unlock()
		if got == lr.Sent {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	stopWatch()
	if err := <-watchDone; err != nil {
		return lr, err
	}
	lr.Deliveries = pushes() - before
	if lr.Deliveries > 0 {
		lr.Path, lr.Target = "push", 5*time.Second
	}
	mu.Lock()
	defer mu.Unlock()
	lr.Arrived = len(lat)
	lr.P50, lr.P95, lr.Max = quantile(lat, 0.50), quantile(lat, 0.95), quantile(lat, 1)
	lr.SeenP50, lr.SeenP95 = quantile(seenLat, 0.50), quantile(seenLat, 0.95)
	fmt.Fprintf(progress, "  %s path: %d of %d arrived: stored p50 %s, p95 %s, max %s; seen p50 %s, p95 %s (%d push deliveries)\n", lr.Path, lr.Arrived, lr.Sent,
		lr.P50.Round(time.Millisecond), lr.P95.Round(time.Millisecond), lr.Max.Round(time.Millisecond), lr.SeenP50.Round(time.Millisecond), lr.SeenP95.Round(time.Millisecond), lr.Deliveries)
	return lr, nil
}
