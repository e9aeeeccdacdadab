package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/config"
	boxemu "github.com/telltale-dev/telltale/internal/emulator/box"
	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/store"
)

// benchToken is the bootstrap API token of every node the Box benchmarks start.
const benchToken = "telltale-bench-bootstrap-token-0123456789"

// Launcher starts a Telltale node inside this process, serving on ln until ctx ends. It returns
// the node's store (read to see when an event becomes searchable) and a function that waits for
// the node to stop after ctx is cancelled. cmd/telltale-bench provides it (only commands and cli
// may import the composition root).
type Launcher func(ctx context.Context, cfg config.Config, ln net.Listener, log *slog.Logger) (store.Store, func() error, error)

// BoxOptions configure the Box collection benchmarks (issue 3, "Done when").
type BoxOptions struct {
	Runs []string // of "rate", "cpu", "latency"

	RateFiles int // (a) files in the one user's drive (200,000)

	CPUUsers []int // (b) active users per run, side by side (5,000 and 50,000)
	CPUFiles int   // (b) files per user (20)
	Workers  int   // (b) TELLTALE_WORKERS of the node; 0 = Telltale's default
	// CPUMax cuts a (b) run that has not finished: the run reports what was indexed by then.
	// 0 = no limit.
	CPUMax time.Duration

	LatencyEvents int           // (c) uploads per path (>= 50)
	PollInterval  time.Duration // (c) TELLTALE_POLL_INTERVAL of the poll path

	TempDir string   // scratch space (data dirs, the built binary)
	Binary  string   // a built telltale binary; "" = go build ./cmd/telltale into TempDir
	Launch  Launcher // (c) runs in-process; nil skips (c)
	Log     *slog.Logger
}

// RateResult is measurement (a).
type RateResult struct {
	Files, Indexed      int // files in the drive (ground truth), files Telltale indexed
	Folders             int
	Elapsed             time.Duration
	Requests, Throttled int     // as the user, counted by the emulator
	Ratio               float64 // accepted requests per minute / 1000
	ThrottledShare      float64 // Throttled / Requests
}

// CPURun is one run of measurement (b).
type CPURun struct {
	Users, Files, Indexed int
	DrivesIndexed         int
	Cut                   bool // stopped at BoxOptions.CPUMax before every drive was indexed
	Elapsed               time.Duration
	FilesPerSecond        float64
	PeakRSS               int64   // bytes, VmHWM of the telltale process
	CPUSeconds            float64 // user+system CPU time of the telltale process during the run
	Requests              int
}

// LatencyResult is one path of measurement (c).
type LatencyResult struct {
	Path          string // "webhook" or "poll"
	PollInterval  time.Duration
	Sent, Arrived int
	// P50, P95, Max: from the upload's return to the event's insert time, stamped by the store in
	// the transaction that makes it searchable (microseconds; event-driven, no sampling).
	P50, P95, Max time.Duration
	// SeenP50, SeenP95: to when the 50 ms poller of the benchmark saw it (an upper bound).
	SeenP50, SeenP95 time.Duration
	Target           time.Duration
	Deliveries       int // webhook deliveries the emulator made (2xx)
}

// BoxResults are the outcomes of the runs that were asked for.
type BoxResults struct {
	Rate    *RateResult
	CPU     []CPURun
	Workers int
	Latency []LatencyResult
}

// RunBox runs the Box benchmarks named in o.Runs, printing progress to progress.
func RunBox(ctx context.Context, o BoxOptions, progress io.Writer) (BoxResults, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	var res BoxResults
	res.Workers = o.Workers
	if err := checkRuns(ctx, "box", o.Runs, []string{"rate", "cpu"}, []string{"latency"}, o.Launch, &o.Binary, o.TempDir, progress); err != nil {
		return res, err
	}
	for _, r := range o.Runs {
		switch r {
		case "rate":
			rr, err := runRate(ctx, o, progress)
			if err != nil {
				return res, fmt.Errorf("rate-bound indexing: %w", err)
			}
			res.Rate = &rr
		case "cpu":
			for _, n := range o.CPUUsers {
				cr, err := runCPU(ctx, o, n, progress)
				if err != nil {
					return res, fmt.Errorf("CPU-bound indexing, %d users: %w", n, err)
				}
				res.CPU = append(res.CPU, cr)
			}
		case "latency":
			for _, path := range []string{"poll", "webhook"} {
				lr, err := runLatency(ctx, o, path, progress)
				if err != nil {
					return res, fmt.Errorf("latency, %s path: %w", path, err)
				}
				res.Latency = append(res.Latency, lr)
			}
		}
	}
	return res, nil
}

// emulator is a Box emulator served on loopback.
type emulator struct {
	*boxemu.Emulator
	URL  string
	stop func()
}

func startEmulator(o boxemu.Options) (*emulator, error) {
	emu := boxemu.New(o)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: emu.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return &emulator{Emulator: emu, URL: "http://" + ln.Addr().String(), stop: func() {
		c, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(c)
		emu.Close()
	}}, nil
}

// buildTelltale builds cmd/telltale into dir and returns the binary's path.
func buildTelltale(ctx context.Context, dir string, progress io.Writer) (string, error) {
	bin := filepath.Join(dir, "telltale")
	fmt.Fprintf(progress, "building %s\n", bin)
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/telltale-dev/telltale/cmd/telltale").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("bench: go build ./cmd/telltale: %v\n%s", err, out)
	}
	return bin, nil
}

// subprocess is a telltale binary serving on loopback.
type subprocess struct {
	cmd  *exec.Cmd
	URL  string
	logf string
	done chan error
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// startNode runs the telltale binary's `serve` with a fresh data dir under tempDir and waits until
// it is ready.
func startNode(ctx context.Context, binary, tempDir, tag string, env map[string]string) (*subprocess, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(tempDir, tag)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	logf := filepath.Join(tempDir, tag+".log")
	lf, err := os.Create(logf)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(binary, "serve")
	cmd.Env = append(os.Environ(), "TELLTALE_DATA_DIR="+dir, "TELLTALE_LISTEN="+addr, "TELLTALE_BOOTSTRAP_TOKEN="+benchToken,
		"TELLTALE_ALLOW_LOOPBACK_VENDORS=true", "TELLTALE_LOG_LEVEL=warn")
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout, cmd.Stderr = lf, lf
	// A benchmark killed (or crashing) must not leave its nodes running, holding the CPU slot.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("starting %s: %w", binary, err)
	}
	p := &subprocess{cmd: cmd, URL: "http://" + addr, logf: logf, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait(); lf.Close() }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(p.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		select {
		case err := <-p.done:
			p.done <- err
			return nil, fmt.Errorf("telltale exited before serving (%v); its log:\n%s", err, p.logTail())
		case <-ctx.Done():
			p.stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("telltale not ready on %s after 60s; its log:\n%s", p.URL, p.logTail())
		}
	}
}

// cpuSeconds is the process's user+system CPU time so far (/proc/<pid>/stat fields 14 and 15).
func (p *subprocess) cpuSeconds() (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces; the fields after it start after the last ')'.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0, errors.New("short /proc/<pid>/stat")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return float64(ut+st) / clockTicks, nil
}

// clockTicks is USER_HZ, 100 on every Linux architecture Go supports.
const clockTicks = 100

// peakRSS is the process's VmHWM in bytes.
func (p *subprocess) peakRSS() (int64, error) {
	return procStatusOf(p.cmd.Process.Pid, "VmHWM")
}

func (p *subprocess) logTail() string {
	b, _ := os.ReadFile(p.logf)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

func (p *subprocess) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		p.done <- err
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

func boxConnection(emuURL, rateLimit string) client.NewConnection {
	return client.NewConnection{Name: "Box bench", Service: "box", TenantID: "900001",
		Settings: map[string]string{"enterprise_id": "900001", "client_id": "emu-client-id", "admin_email": "admin@example.com",
			"api_url": emuURL, "rate_limit": rateLimit},
		Credentials: map[string]string{"client_secret": "emu-client-secret", "webhook_primary_key": "emu-primary-key"}}
}

// waitMonitoring polls the connection until every drive is indexed and it is Monitoring.
func waitMonitoring(ctx context.Context, c *client.Client, id string, every time.Duration, progress io.Writer) (client.Connection, error) {
	last := time.Now()
	for {
		conn, err := c.Connection(ctx, id)
		if err != nil {
			return conn, err
		}
		d := conn.Drives
		if conn.Status == "error" || conn.Status == "deauthorized" {
			return conn, fmt.Errorf("connection went to %s: %s", conn.Status, conn.ErrorReason)
		}
		if conn.Status == "monitoring" && d != nil && d.Total > 0 && d.Pending == 0 && d.Indexing == 0 {
			return conn, nil
		}
		if time.Since(last) > 10*time.Second && d != nil {
			fmt.Fprintf(progress, "  %s: %d drives, %d indexed, %d indexing, %d pending\n", conn.Status, d.Total, d.Indexed, d.Indexing, d.Pending)
			last = time.Now()
		}
		select {
		case <-ctx.Done():
			return conn, ctx.Err()
		case <-time.After(every):
		}
	}
}

// indexedFiles sums the file counts of the connection's drives.
func indexedFiles(ctx context.Context, c *client.Client, id string) (int, error) {
	n, after := 0, ""
	for {
		l, err := c.Drives(ctx, id, "drives", after, 500)
		if err != nil {
			return 0, err
		}
		for _, d := range l.Items {
			n += int(d.FileCount)
		}
		if l.Next == "" || len(l.Items) == 0 {
			return n, nil
		}
		after = l.Next
	}
}

func runRate(ctx context.Context, o BoxOptions, progress io.Writer) (RateResult, error) {
	// Folders of about 100 files: FoldersPerUser top-level folders, Depth 2 (the emulator caps the
	// folders of a drive at FoldersPerUser*Depth).
	folders := max(1, o.RateFiles/200)
	fmt.Fprintf(progress, "(a) rate-bound: generating one drive of %d files in about %d folders\n", o.RateFiles, 2*folders)
	emu, err := startEmulator(boxemu.Options{Seed: 3, Users: 1, Groups: 1, FilesPerUser: o.RateFiles, FoldersPerUser: folders, Depth: 2,
		MinFileSize: 512, MaxFileSize: 1024, RateLimitPerMinute: 1000, RateBurst: 10})
	if err != nil {
		return RateResult{}, err
	}
	defer emu.stop()
	uid := emu.Users()[0].ID
	r := RateResult{Files: emu.OwnedFiles(uid)}
	node, err := startNode(ctx, o.Binary, o.TempDir, "rate", map[string]string{"TELLTALE_POLL_INTERVAL": "5m"})
	if err != nil {
		return r, err
	}
	defer node.stop()
	c := client.New(node.URL, benchToken)
	emu.ResetStats()
	start := time.Now()
	conn, err := c.CreateConnection(ctx, boxConnection(emu.URL, "1000"))
	if err != nil {
		return r, err
	}
	if _, err := waitMonitoring(ctx, c, conn.ID, 100*time.Millisecond, progress); err != nil {
		return r, err
	}
	r.Elapsed = time.Since(start)
	st := emu.Stats().ByUser[uid]
	r.Requests, r.Throttled = st.Requests, st.Throttled
	r.Ratio = float64(st.Requests-st.Throttled) / r.Elapsed.Minutes() / 1000
	if st.Requests > 0 {
		r.ThrottledShare = float64(st.Throttled) / float64(st.Requests)
	}
	if r.Indexed, err = indexedFiles(ctx, c, conn.ID); err != nil {
		return r, err
	}
	r.Folders = 2 * folders
	fmt.Fprintf(progress, "  %d files indexed in %s: %d requests as the user (%d answered 429), ratio %.3f\n", r.Indexed, r.Elapsed.Round(time.Second), r.Requests, r.Throttled, r.Ratio)
	return r, nil
}

func (r CPURun) filesPerCPUSecond() float64 {
	if r.CPUSeconds <= 0 {
		return 0
	}
	return float64(r.Indexed) / r.CPUSeconds
}

func runCPU(ctx context.Context, o BoxOptions, users int, progress io.Writer) (CPURun, error) {
	fmt.Fprintf(progress, "(b) CPU-bound: generating %d users x %d files\n", users, o.CPUFiles)
	// One inactive user (the emulator always has at least one); users+1 in all, so `users` drives.
	emu, err := startEmulator(boxemu.Options{Seed: 5, Users: users + 1, InactiveUsers: 1, Groups: 1, FilesPerUser: o.CPUFiles,
		FoldersPerUser: 2, Depth: 1, MinFileSize: 256, MaxFileSize: 1024, RateLimitPerMinute: -1})
	if err != nil {
		return CPURun{}, err
	}
	defer emu.stop()
	r := CPURun{Users: users, Files: users * o.CPUFiles}
	env := map[string]string{"TELLTALE_POLL_INTERVAL": "5m"}
	if o.Workers > 0 {
		env["TELLTALE_WORKERS"] = strconv.Itoa(o.Workers)
	}
	node, err := startNode(ctx, o.Binary, o.TempDir, fmt.Sprintf("cpu-%d", users), env)
	if err != nil {
		return r, err
	}
	defer node.stop()
	c := client.New(node.URL, benchToken)
	emu.ResetStats()
	cpu0, err := node.cpuSeconds()
	if err != nil {
		return r, err
	}
	start := time.Now()
	conn, err := c.CreateConnection(ctx, boxConnection(emu.URL, "0"))
	if err != nil {
		return r, err
	}
	wctx, cancel := ctx, context.CancelFunc(func() {})
	if o.CPUMax > 0 {
		wctx, cancel = context.WithTimeout(ctx, o.CPUMax)
	}
	// Poll once a second: the connection's drive counts cost the node a scan of its drives.
	last, err := waitMonitoring(wctx, c, conn.ID, time.Second, progress)
	cancel()
	r.Elapsed = time.Since(start)
	switch {
	case err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded):
		r.Cut = true
		if last, err = c.Connection(ctx, conn.ID); err != nil {
			return r, err
		}
		fmt.Fprintf(progress, "  cut after %s: %d of %d drives indexed\n", r.Elapsed.Round(time.Second), last.Drives.Indexed, users)
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
	r.Requests = emu.Stats().Requests
	if r.Indexed, err = indexedFiles(ctx, c, conn.ID); err != nil {
		return r, err
	}
	r.FilesPerSecond = float64(r.Indexed) / r.Elapsed.Seconds()
	fmt.Fprintf(progress, "  %d files indexed in %s: %.0f files/s, Telltale CPU %.1fs (%.0f files per CPU-second), peak RSS %.0f MiB, %d emulator requests\n",
		r.Indexed, r.Elapsed.Round(time.Second), r.FilesPerSecond, r.CPUSeconds, r.filesPerCPUSecond(), float64(r.PeakRSS)/(1<<20), r.Requests)
	return r, nil
}

// BoxTopFolders lists each user's top-level folders through the emulator's API, as that user.
func BoxTopFolders(ctx context.Context, emuURL string, users []boxemu.User) (map[string][]string, error) {
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"emu-client-id"}, "client_secret": {"emu-client-secret"},
		"box_subject_type": {"enterprise"}, "box_subject_id": {"900001"}}
	resp, err := http.PostForm(emuURL+"/oauth2/token", form)
	if err != nil {
		return nil, err
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	err = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if err != nil || tok.AccessToken == "" {
		return nil, fmt.Errorf("emulator token: %v (status %d)", err, resp.StatusCode)
	}
	out := map[string][]string{}
	for _, u := range users {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, emuURL+"/2.0/folders/0/items?limit=1000&fields=type,id", nil)
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		req.Header.Set("As-User", u.ID)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		var page struct {
			Entries []struct{ Type, ID string } `json:"entries"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("listing %s's root: %v", u.ID, err)
		}
		for _, e := range page.Entries {
			if e.Type == "folder" {
				out[u.ID] = append(out[u.ID], e.ID)
			}
		}
	}
	return out, nil
}

func runLatency(ctx context.Context, o BoxOptions, path string, progress io.Writer) (LatencyResult, error) {
	lr := LatencyResult{Path: path, PollInterval: o.PollInterval}
	cfg := config.Default()
	cfg.DataDir = filepath.Join(o.TempDir, "latency-"+path)
	cfg.BootstrapToken = benchToken
	cfg.AllowLoopback = true
	cfg.PollInterval = o.PollInterval
	lr.Target = o.PollInterval + 5*time.Second
	if path == "webhook" {
		cfg.PollInterval = 5 * time.Minute
		lr.PollInterval = cfg.PollInterval
		lr.Target = 5 * time.Second
	}
	fmt.Fprintf(progress, "(c) latency, %s path (poll interval %s)\n", path, cfg.PollInterval)
	emu, err := startEmulator(boxemu.Options{Seed: 7, Users: 11, InactiveUsers: 1, Groups: 1, FilesPerUser: 20, FoldersPerUser: 3, Depth: 1,
		MinFileSize: 256, MaxFileSize: 1024})
	if err != nil {
		return lr, err
	}
	defer emu.stop()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return lr, err
	}
	cfg.Listen = ln.Addr().String()
	if path == "webhook" {
		cfg.PublicURL = "http://" + ln.Addr().String()
	}
	nctx, stopNode := context.WithCancel(ctx)
	st, wait, err := o.Launch(nctx, cfg, ln, o.Log)
	if err != nil {
		stopNode()
		ln.Close()
		return lr, err
	}
	defer func() { stopNode(); wait() }()
	c := client.New("http://"+ln.Addr().String(), benchToken)
	conn, err := c.CreateConnection(ctx, boxConnection(emu.URL, "1000"))
	if err != nil {
		return lr, err
	}
	if _, err := waitMonitoring(ctx, c, conn.ID, 100*time.Millisecond, progress); err != nil {
		return lr, err
	}
	connID, _ := strconv.ParseInt(conn.ID, 10, 64)
	var active []boxemu.User
	for _, u := range emu.Users() {
		if u.Status == "active" {
			active = append(active, u)
		}
	}
	folders, err := BoxTopFolders(ctx, emu.URL, active)
	if err != nil {
		return lr, err
	}
	// Start reading the store after everything indexing stored.
	var after int64
	for {
		page, err := st.ListEvents(ctx, store.EventFilter{ConnectionID: connID, AfterID: after, Limit: 1000})
		if err != nil {
			return lr, err
		}
		if len(page) == 0 {
			break
		}
		after = page[len(page)-1].Event.ID
	}
	before := emu.Stats().WebhookDeliveries

	var mu sync.Mutex
	sent := map[string]time.Time{} // Box event_id -> when the upload returned
	var lat, seen []time.Duration
	found := map[string]bool{}
	wctx, stopWatch := context.WithCancel(ctx)
	watchDone := watchEvents(wctx, st, connID, after, func(e event.FileEvent, now time.Time) {
		mu.Lock()
		defer mu.Unlock()
		for _, v := range e.Event.VendorIDs {
			if at, ok := sent[v]; ok && !found[v] {
				found[v] = true
				// The event's own insert time, not this poller's tick, ends the latency.
				lat = append(lat, e.Event.Inserted.Sub(at))
				seen = append(seen, now.Sub(at))
			}
		}
	})
	// One upload a second, into a top-level folder of a rotating user.
	tick := time.NewTicker(time.Second)
	for i := 0; i < o.LatencyEvents; i++ {
		u := active[i%len(active)]
		fs := folders[u.ID]
		if len(fs) == 0 {
			tick.Stop()
			stopWatch()
			return lr, fmt.Errorf("user %s has no top-level folder to upload into", u.ID)
		}
		_, a := emu.Upload(u.ID, fs[i%len(fs)], fmt.Sprintf("bench-%s-%03d.txt", path, i), []byte(fmt.Sprintf("latency probe %d", i)))
		if a.EventID == "" {
			tick.Stop()
			stopWatch()
			return lr, fmt.Errorf("the emulator refused upload %d", i)
		}
		mu.Lock()
		sent[a.EventID] = time.Now()
		mu.Unlock()
		<-tick.C
	}
	tick.Stop()
	lr.Sent = o.LatencyEvents
	// Stragglers: wait up to the target plus a margin (poll path: the next poll must come).
	deadline := time.Now().Add(lr.Target + 30*time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		n := len(found)
		mu.Unlock()
		if n == lr.Sent {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	stopWatch()
	if err := <-watchDone; err != nil {
		return lr, err
	}
	lr.Deliveries = emu.Stats().WebhookDeliveries - before
	mu.Lock()
	defer mu.Unlock()
	lr.Arrived = len(lat)
	lr.P50, lr.P95, lr.Max = quantile(lat, 0.50), quantile(lat, 0.95), quantile(lat, 1)
	lr.SeenP50, lr.SeenP95 = quantile(seen, 0.50), quantile(seen, 0.95)
	fmt.Fprintf(progress, "  %d of %d arrived: stored p50 %s, p95 %s, max %s; seen by the 50 ms poller p50 %s, p95 %s (%d webhook deliveries)\n", lr.Arrived, lr.Sent,
		lr.P50.Round(time.Millisecond), lr.P95.Round(time.Millisecond), lr.Max.Round(time.Millisecond), lr.SeenP50.Round(time.Millisecond), lr.SeenP95.Round(time.Millisecond), lr.Deliveries)
	return lr, nil
}

// quantile is the nearest-rank q-quantile.
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}

// FormatBox renders the results as the BENCHMARKS.md section.
func FormatBox(r BoxResults, o BoxOptions, command string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## Box collection (issue 3)\n\n")
	fmt.Fprintf(&b, "- Date: %s. Machine: %s.\n- Command: `%s`\n", Stamp(), Machine(), command)
	fmt.Fprintf(&b, "- Telltale runs on SQLite against the Box emulator (`internal/emulator/box`) served on loopback by the benchmark process; both share the machine's cores.\n")
	if a := r.Rate; a != nil {
		fmt.Fprintf(&b, "\n### (a) Rate-bound indexing\n\n")
		fmt.Fprintf(&b, "One user whose drive holds %d files in about %d nested folders (about %d files a folder); the emulator limits each user to 1,000 requests a minute (token bucket, burst 10) and the connection's `rate_limit` is 1000. Telltale runs as a subprocess. Measured from connection creation to the drive indexed (connection Monitoring); requests counted by the emulator as that user. The achieved rate counts accepted requests only (429s excluded).\n\n", a.Files, a.Folders, a.Files/max(1, a.Folders))
		fmt.Fprintln(&b, "| files in drive | files indexed | elapsed | requests as the user | answered 429 | achieved / allowed rate (target >= 0.9) | 429 share (target < 1%) |")
		fmt.Fprintln(&b, "|---:|---:|---:|---:|---:|---:|---:|")
		fmt.Fprintf(&b, "| %d | %d | %s | %d | %d | %.3f (%s) | %.2f%% (%s) |\n", a.Files, a.Indexed, a.Elapsed.Round(time.Second), a.Requests, a.Throttled,
			a.Ratio, met(a.Ratio >= 0.9), 100*a.ThrottledShare, met(a.ThrottledShare < 0.01))
	}
	if len(r.CPU) > 0 {
		workers := "Telltale's default (4)"
		if r.Workers > 0 {
			workers = strconv.Itoa(r.Workers)
		}
		fmt.Fprintf(&b, "\n### (b) CPU-bound indexing\n\n")
		fmt.Fprintf(&b, "Users x %d files (0.25-1 KiB each), two folders a user at depth 1 (3 folder listings a drive), rate limits off in the emulator and the connection (`rate_limit` 0). Telltale runs as a subprocess (`TELLTALE_WORKERS` = %s); files indexed per second from connection creation to Monitoring with every drive indexed, Telltale's own CPU time (user+system of its process, so the emulator's share of the two cores is left out: files per CPU-second x 2 is what Telltale alone could do on two dedicated cores), and the process's peak RSS (VmHWM). Runs side by side in one invocation; a run not finished after %s is cut and reports what it had indexed by then (files/s over that time; the peak RSS is then the peak of the unfinished run, with every drive discovered).\n\n", o.CPUFiles, workers, o.CPUMax)
		fmt.Fprintln(&b, "| users (drives) | drives indexed | files indexed | elapsed | files/s (target >= 5,000) | Telltale CPU | files per Telltale CPU-second | peak RSS | emulator requests |")
		fmt.Fprintln(&b, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
		for _, c := range r.CPU {
			el := c.Elapsed.Round(time.Second).String()
			if c.Cut {
				el += " (cut: not finished)"
			}
			fmt.Fprintf(&b, "| %d | %d | %d | %s | %.0f (%s) | %.0fs | %.0f | %.0f MiB | %d |\n", c.Users, c.DrivesIndexed, c.Indexed, el, c.FilesPerSecond,
				met(c.FilesPerSecond >= 5000 && !c.Cut), c.CPUSeconds, c.filesPerCPUSecond(), float64(c.PeakRSS)/(1<<20), c.Requests)
		}
		if len(r.CPU) >= 2 {
			lo, hi := r.CPU[0], r.CPU[len(r.CPU)-1]
			g := float64(hi.PeakRSS) / float64(lo.PeakRSS)
			fmt.Fprintf(&b, "\nPeak RSS at %d vs %d users: x%.2f for x%.0f the drives (target: memory does not grow with the number of drives; %s at a 1.5x tolerance).\n",
				hi.Users, lo.Users, g, float64(hi.Users)/float64(lo.Users), met(g <= 1.5))
		}
	}
	if len(r.Latency) > 0 {
		fmt.Fprintf(&b, "\n### (c) Vendor event to searchable\n\n")
		fmt.Fprintf(&b, "10 active users; one upload a second into a top-level folder (covered by a webhook) of a rotating user. Start: when the emulator's `Upload` returns. End: the event's insert time, which the store stamps (to the microsecond) in the transaction that makes it searchable, so the figure is event-driven, not a sampling tick; the commit that follows in that transaction is not included. For comparison, *seen* is when the benchmark's reader, polling the store every 50 ms, found it (an upper bound). Webhook path: `TELLTALE_PUBLIC_URL` is the node's own loopback URL, poll interval 5m.\n\n")
		fmt.Fprintln(&b, "| path | poll interval | arrived / sent | p50 | p95 | max | seen p50 / p95 | target (p95) | webhook deliveries |")
		fmt.Fprintln(&b, "|---|---:|---:|---:|---:|---:|---:|---:|---:|")
		for _, l := range r.Latency {
			ok := l.P95 <= l.Target && l.Arrived == l.Sent
			fmt.Fprintf(&b, "| %s | %s | %d / %d | %s | %s | %s | %s / %s | <= %s (%s) | %d |\n", l.Path, config.FormatDuration(l.PollInterval), l.Arrived, l.Sent,
				l.P50.Round(time.Millisecond), l.P95.Round(time.Millisecond), l.Max.Round(time.Millisecond), l.SeenP50.Round(time.Millisecond), l.SeenP95.Round(time.Millisecond),
				config.FormatDuration(l.Target), met(ok), l.Deliveries)
		}
	}
	return b.String()
}
