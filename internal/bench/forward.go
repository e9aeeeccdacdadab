package bench

import (
	"context"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/telltale-dev/telltale/internal/emulator/hec"
	"github.com/telltale-dev/telltale/internal/emulator/syslog"
	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/eventgen"
	"github.com/telltale-dev/telltale/internal/forward"
	"github.com/telltale-dev/telltale/internal/httpx"
	"github.com/telltale-dev/telltale/internal/secret"
	"github.com/telltale-dev/telltale/internal/store"
	"github.com/telltale-dev/telltale/internal/store/sqlite"
	"github.com/telltale-dev/telltale/internal/work"
)

// ForwardOptions configure the forwarding benchmark.
type ForwardOptions struct {
	Events   int           // events stored before the throughput run
	Formats  []string      // payload formats measured for throughput
	Batch    int           // events per send
	Rate     int           // events per second inserted during the lag run
	LagFor   time.Duration // how long the lag run inserts
	Backlog  int           // events inserted while the destination is down
	TempDir  string
	Progress io.Writer
}

// ForwardResult is one run.
type ForwardResult struct {
	Throughput []ForwardRate
	Lag        []ForwardLag
	Outages    []ForwardOutage
	Load       string
}

// ForwardRate is events per second to one destination in one format.
type ForwardRate struct {
	Dest, Format string
	Events       int64
	Seconds      float64
	CPUSeconds   float64 // user+system CPU of the whole process (forwarder, emulator, SQLite) during the run
	Repeats      int64
}

// ForwardLag is the delivery lag from commit to acknowledgement during steady ingest.
type ForwardLag struct {
	Dest          string
	Events        int
	P50, P95, Max float64
}

// ForwardOutage is the memory while a destination is down and then back.
type ForwardOutage struct {
	Backlog                      int
	DownSeconds, DrainSeconds    float64
	RSSBefore, RSSDown, RSSDrain int64 // peak VmRSS in each phase
	HeapDown, HeapDrain          uint64
	Delivered, Repeats           int64
	Failures                     int
}

// ForwardCommand runs `telltale-bench forward`.
func ForwardCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("forward", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := ForwardOptions{Progress: stderr}
	fs.IntVar(&o.Events, "events", 500_000, "events stored before the throughput runs")
	formats := fs.String("formats", "json,cef,ocsf", "payload formats of the throughput runs")
	fs.IntVar(&o.Batch, "batch", 2000, "events per send")
	fs.IntVar(&o.Rate, "rate", 2000, "events per second inserted during the lag run")
	fs.DurationVar(&o.LagFor, "lag-for", 30*time.Second, "length of the lag run")
	fs.IntVar(&o.Backlog, "backlog", 1_000_000, "events inserted while the destination is down")
	write := fs.String("write", "", "write the result section into this markdown file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o.Formats = strings.Split(*formats, ",")
	dir, err := os.MkdirTemp("", "telltale-bench-forward-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	o.TempDir = dir
	if p := os.Getenv("TELLTALE_BENCH_CPUPROFILE"); p != "" {
		f, err := os.Create(p)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	r, err := RunForward(ctx, o)
	if err != nil {
		return err
	}
	section := FormatForward(r, o, "go run ./cmd/telltale-bench forward "+strings.Join(args, " "))
	fmt.Fprintln(stdout, section)
	if *write != "" {
		return WriteSection(*write, "forward", section)
	}
	return nil
}

type fwdEnv struct {
	st    store.Store
	svc   *forward.Service
	gen   *eventgen.Gen
	conn  int64
	hec   *hec.Server
	hecU  string
	sys   *syslog.Receiver
	mu    sync.Mutex
	lags  map[int64][]float64
	names map[int64]string
	o     ForwardOptions
}

func (e *fwdEnv) insert(ctx context.Context, n int) error {
	const page = 5000
	for n > 0 {
		k := min(n, page)
		evs := make([]*event.FileEvent, k)
		for i := range evs {
			ev := e.gen.Next()
			ev.Event.ConnectionID = e.conn
			evs[i] = &ev
		}
		if _, err := e.st.InsertEvents(ctx, evs, false); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

// drain runs the destination's handler until its position reaches the newest event.
func (e *fwdEnv) drain(ctx context.Context, id int64) error {
	newest, err := e.st.NewestEventID(ctx)
	if err != nil {
		return err
	}
	for {
		if _, err := e.svc.Run(ctx, store.Work{Kind: forward.WorkForward, Key: strconv.FormatInt(id, 10)}); err != nil {
			return err
		}
		d, err := e.st.GetForwardDestination(ctx, id)
		if err != nil {
			return err
		}
		if d.Position >= newest {
			return nil
		}
		if d.LastError != "" {
			return fmt.Errorf("destination %s: %s", d.Name, d.LastError)
		}
	}
}

func rss() int64 {
	n, _ := procStatusOf(0, "VmRSS")
	return n
}

// RunForward measures forwarding: (a) throughput from a stored backlog to the HEC emulator with
// indexer acks and to the TCP syslog receiver, per format; (b) the delivery lag from commit to
// acknowledgement under steady ingest through the work runner; (c) memory while HEC answers 503
// for a backlog of events and while the backlog drains.
func RunForward(ctx context.Context, o ForwardOptions) (ForwardResult, error) {
	var res ForwardResult
	st, err := sqlite.Open(ctx, filepath.Join(o.TempDir, "telltale.db"), sqlite.Options{})
	if err != nil {
		return res, err
	}
	defer st.Close()
	kr, err := secret.LoadKeyring(secret.KeyConfig{Key: base64.StdEncoding.EncodeToString([]byte(strings.Repeat("b", 32)))})
	if err != nil {
		return res, err
	}
	c, err := st.CreateConnection(ctx, store.Connection{Name: "bench", Service: "box", ServiceType: "cloud", Status: "Monitoring", ScopeKind: "all"})
	if err != nil {
		return res, err
	}
	e := &fwdEnv{st: st, gen: eventgen.New(eventgen.Options{Seed: 7}), conn: c.ID, lags: map[int64][]float64{}, names: map[int64]string{}, o: o}
	e.hec = hec.New("bench-token", true)
	e.hec.SetKeep(0)
	hs := httptest.NewServer(e.hec.Handler())
	defer hs.Close()
	e.hecU = hs.URL
	if e.sys, err = syslog.Listen(nil); err != nil {
		return res, err
	}
	defer e.sys.Close()
	e.sys.SetKeep(0)
	e.svc = forward.New(forward.Options{Store: st, Keyring: kr, Guard: &httpx.Guard{AllowLoopback: true}, Version: "bench", Batch: o.Batch,
		Budget: time.Hour, Linger: -1, MaxBackoff: 2 * time.Second, Log: slog.New(slog.DiscardHandler),
		OnAck: func(id int64, ins []time.Time, at time.Time) {
			e.mu.Lock()
			defer e.mu.Unlock()
			if _, ok := e.lags[id]; !ok {
				return
			}
			for _, t := range ins {
				e.lags[id] = append(e.lags[id], at.Sub(t).Seconds())
			}
		}})
	fmt.Fprintf(o.Progress, "forward: storing %d events\n", o.Events)
	if err := e.insert(ctx, o.Events); err != nil {
		return res, err
	}
	hecIn := func(name, format string, fromStart bool) forward.Input {
		return forward.Input{Name: name, Kind: forward.KindHEC, Format: format, FromStart: fromStart,
			Settings: forward.Settings{URL: e.hecU, Acks: true}, Secrets: &forward.Secrets{Token: "bench-token"}}
	}
	sysIn := func(name, format string, fromStart bool) forward.Input {
		return forward.Input{Name: name, Kind: forward.KindSyslog, Format: format, FromStart: fromStart,
			Settings: forward.Settings{Address: e.sys.TCPAddr(), Transport: forward.SyslogTCP}}
	}
	// (a) throughput, one destination at a time so that each has the machine, each to a fresh
	// receiver (so that its repeats are this run's).
	for _, f := range o.Formats {
		for _, kind := range []string{forward.KindHEC, forward.KindSyslog} {
			var in forward.Input
			var got func() (int64, int64)
			var closeRx func()
			dest := "Splunk HEC, indexer acks"
			if kind == forward.KindHEC {
				h := hec.New("bench-token", true)
				h.SetKeep(0)
				srv := httptest.NewServer(h.Handler())
				closeRx = srv.Close
				in = forward.Input{Name: "hec-" + f, Kind: forward.KindHEC, Format: f, FromStart: true,
					Settings: forward.Settings{URL: srv.URL, Acks: true}, Secrets: &forward.Secrets{Token: "bench-token"}}
				got = func() (int64, int64) { s := h.Stats(); return s.Events, s.Repeats }
			} else {
				rx, err := syslog.Listen(nil)
				if err != nil {
					return res, err
				}
				rx.SetKeep(0)
				closeRx = func() { rx.Close() }
				dest = "syslog TCP (RFC 5424, octet counting)"
				in = forward.Input{Name: "syslog-" + f, Kind: forward.KindSyslog, Format: f, FromStart: true,
					Settings: forward.Settings{Address: rx.TCPAddr(), Transport: forward.SyslogTCP}}
				got = func() (int64, int64) { s := rx.Stats(); return s.Messages, s.Repeats }
			}
			v, err := e.svc.Create(ctx, in, "bench")
			if err != nil {
				closeRx()
				return res, err
			}
			start, cpu0 := time.Now(), cpuSeconds()
			if err := e.drain(ctx, v.ID); err != nil {
				closeRx()
				return res, err
			}
			el := time.Since(start).Seconds()
			cpu := cpuSeconds() - cpu0
			var n, rep int64
			for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				n, rep = got()
				if n >= int64(o.Events) || time.Now().After(deadline) {
					break
				}
			}
			closeRx()
			if n < int64(o.Events) {
				return res, fmt.Errorf("%s %s: the receiver got %d of %d events", dest, f, n, o.Events)
			}
			res.Throughput = append(res.Throughput, ForwardRate{Dest: dest, Format: f, Events: n, Seconds: el, CPUSeconds: cpu, Repeats: rep})
			fmt.Fprintf(o.Progress, "forward: %s %s: %d events in %.1f s = %.0f events/s (%.1f CPU s)\n", dest, f, n, el, float64(n)/el, cpu)
			if err := e.svc.Delete(ctx, v.ID); err != nil {
				return res, err
			}
		}
	}
	// (b) lag under steady ingest, both destinations side by side, through the work runner.
	runner := work.NewRunner(work.Options{Store: st, Concurrency: 4, PollInterval: time.Second})
	lagSvc := forward.New(forward.Options{Store: st, Keyring: kr, Guard: &httpx.Guard{AllowLoopback: true}, Version: "bench", Batch: o.Batch,
		Kick: runner.Kick, OnAck: func(id int64, ins []time.Time, at time.Time) {
			e.mu.Lock()
			defer e.mu.Unlock()
			for _, t := range ins {
				e.lags[id] = append(e.lags[id], at.Sub(t).Seconds())
			}
		}})
	lagSvc.Register(runner)
	var lagIDs []int64
	for _, in := range []forward.Input{hecIn("lag-hec", forward.FormatOCSF, false), sysIn("lag-syslog", forward.FormatCEF, false)} {
		v, err := lagSvc.Create(ctx, in, "bench")
		if err != nil {
			return res, err
		}
		e.names[v.ID] = map[string]string{forward.KindHEC: "Splunk HEC, acks, OCSF", forward.KindSyslog: "syslog TCP, CEF"}[v.Kind]
		lagIDs = append(lagIDs, v.ID)
	}
	rctx, cancelRunner := context.WithCancel(ctx)
	if err := runner.Start(rctx); err != nil {
		cancelRunner()
		return res, err
	}
	fmt.Fprintf(o.Progress, "forward: lag run, %d events/s for %v\n", o.Rate, o.LagFor)
	tick := time.NewTicker(100 * time.Millisecond)
	end := time.Now().Add(o.LagFor)
	for time.Now().Before(end) {
		<-tick.C
		if err := e.insert(ctx, o.Rate/10); err != nil {
			tick.Stop()
			cancelRunner()
			return res, err
		}
	}
	tick.Stop()
	newest, _ := st.NewestEventID(ctx)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		done := true
		for _, id := range lagIDs {
			d, _ := st.GetForwardDestination(ctx, id)
			done = done && d.Position >= newest
		}
		if done {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancelRunner()
	stopCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	_ = runner.Stop(stopCtx)
	cancel()
	lagSvc.Close()
	for _, id := range lagIDs {
		e.mu.Lock()
		xs := append([]float64(nil), e.lags[id]...)
		e.mu.Unlock()
		sort.Float64s(xs)
		l := ForwardLag{Dest: e.names[id], Events: len(xs)}
		if len(xs) > 0 {
			l.P50, l.P95, l.Max = xs[len(xs)/2], xs[len(xs)*95/100], xs[len(xs)-1]
		}
		res.Lag = append(res.Lag, l)
		fmt.Fprintf(o.Progress, "forward: lag %s: %d events, p50 %.3f s, p95 %.3f s, max %.3f s\n", l.Dest, l.Events, l.P50, l.P95, l.Max)
		_ = e.svc.Delete(ctx, id)
	}
	// (c) Splunk down (503 Server is busy) while a backlog is stored, then back: a tenth of the
	// backlog, then all of it, so that memory can be compared across backlog sizes.
	for _, n := range []int{o.Backlog / 10, o.Backlog} {
		out, err := e.outage(ctx, hecIn, n)
		if err != nil {
			return res, err
		}
		res.Outages = append(res.Outages, out)
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		res.Load = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	return res, nil
}

// FormatForward renders the BENCHMARKS.md section.
func FormatForward(r ForwardResult, o ForwardOptions, command string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## SIEM forwarding (issue 17, R8.7)\n\n")
	fmt.Fprintf(&b, "Machine: %s; shared with other engineers' builds and tests (load average %s at the end of the run). Command: `%s`. One run, everything side by side.\n\n", Machine(), r.Load, command)
	fmt.Fprintf(&b, "Telltale's forwarder (`internal/forward`), the emulators (`internal/emulator/hec` with indexer acknowledgement on, `internal/emulator/syslog` parsing every message with its RFC 5424 parser) and SQLite run in one process on loopback, so the emulators' CPU is counted against the forwarder. Events are `eventgen` events in batches of %d.\n\n", o.Batch)
	fmt.Fprintf(&b, "**(a) Throughput** from a stored backlog of %d events (target >= 50,000 events/s), each destination alone, from the first event read to the last acknowledged:\n\n", o.Events)
	b.WriteString("| destination | format | events | seconds | events/s | CPU seconds (process) | events per CPU-second | repeats |\n|---|---|---|---|---|---|---|---|\n")
	for _, t := range r.Throughput {
		fmt.Fprintf(&b, "| %s | %s | %d | %.1f | **%.0f** | %.1f | %.0f | %d |\n", t.Dest, t.Format, t.Events, t.Seconds, float64(t.Events)/t.Seconds,
			t.CPUSeconds, float64(t.Events)/t.CPUSeconds, t.Repeats)
	}
	b.WriteString("\nEvents per CPU-second counts the emulator's work too (it parses every event), so it is what forwarder and receiver together do per core; it does not depend on what else the shared machine runs.\n")
	fmt.Fprintf(&b, "\n**(b) Delivery lag** from commit (the event's insert time) to the destination's acknowledgement, while %d events/s are stored for %v, both destinations at once through the work runner (target p95 <= 2 s):\n\n", o.Rate, o.LagFor)
	b.WriteString("| destination | events | p50 s | p95 s | max s |\n|---|---|---|---|---|\n")
	for _, l := range r.Lag {
		fmt.Fprintf(&b, "| %s | %d | %.3f | %.3f | %.3f |\n", l.Dest, l.Events, l.P50, l.P95, l.Max)
	}
	fmt.Fprintf(&b, "\n**(c) Memory while Splunk is down, then back.** The hour is compressed into a backlog: Splunk answers 503 `Server is busy` while the events are stored, the forwarder retrying (its backoff capped at 2 s for the run instead of 5 minutes, so that the return is seen at once); then Splunk answers again and the backlog drains in order. Twice, with a tenth of the backlog and with all of it: an hour of activity at %.0f events/s is %d events. Peak RSS of the whole process (VmRSS sampled every 100 ms; it includes SQLite's page cache and the emulators) and the Go heap at the end of each phase:\n\n",
		float64(o.Backlog)/3600, o.Backlog)
	b.WriteString("| backlog | before: RSS MiB | down: seconds, failed batches in a row | down: peak RSS MiB, heap MiB | back: seconds to drain | back: peak RSS MiB, heap MiB | delivered (distinct) | repeats |\n|---|---|---|---|---|---|---|---|\n")
	for _, out := range r.Outages {
		fmt.Fprintf(&b, "| %d | %.0f | %.0f, %d | %.0f, %.0f | %.0f | %.0f, %.0f | %d | %d |\n", out.Backlog, fmib(out.RSSBefore), out.DownSeconds, out.Failures,
			fmib(out.RSSDown), float64(out.HeapDown)/(1<<20), out.DrainSeconds, fmib(out.RSSDrain), float64(out.HeapDrain)/(1<<20), out.Delivered, out.Repeats)
	}
	return b.String()
}

func fmib(n int64) float64 { return float64(n) / (1 << 20) }

type runtimeMem struct{}

func (runtimeMem) heap() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// cpuSeconds is the process's user+system CPU time.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// outage stores n events while Splunk answers 503, then lets the backlog drain, sampling RSS.
func (e *fwdEnv) outage(ctx context.Context, hecIn func(name, format string, fromStart bool) forward.Input, n int) (ForwardOutage, error) {
	out := ForwardOutage{Backlog: n}
	v, err := e.svc.Create(ctx, hecIn(fmt.Sprintf("outage-%d", n), forward.FormatJSON, false), "bench")
	if err != nil {
		return out, err
	}
	before := e.hec.Stats()
	runtime.GC()
	out.RSSBefore = rss()
	e.hec.SetBusy(true)
	stopSample := make(chan struct{})
	var peak int64
	var pmu sync.Mutex
	go func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stopSample:
				return
			case <-t.C:
				pmu.Lock()
				peak = max(peak, rss())
				pmu.Unlock()
			}
		}
	}()
	defer close(stopSample)
	resetPeak := func() int64 { pmu.Lock(); defer pmu.Unlock(); p := peak; peak = 0; return p }
	fmt.Fprintf(e.o.Progress, "forward: outage: %d events stored while Splunk answers 503\n", n)
	start := time.Now()
	insErr := make(chan error, 1)
	go func() { insErr <- e.insert(ctx, n) }()
	for waiting := true; waiting; {
		select {
		case err := <-insErr:
			if err != nil {
				return out, err
			}
			waiting = false
		default:
			if _, err := e.svc.Run(ctx, store.Work{Key: strconv.FormatInt(v.ID, 10)}); err != nil {
				return out, err
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	var ms runtimeMem
	out.HeapDown = ms.heap()
	out.DownSeconds = time.Since(start).Seconds()
	out.RSSDown = resetPeak()
	d, _ := e.st.GetForwardDestination(ctx, v.ID)
	out.Failures = d.Failures
	e.hec.SetBusy(false)
	fmt.Fprintf(e.o.Progress, "forward: Splunk back after %.0f s (%d failed batches, state %s); draining\n", out.DownSeconds, d.Failures, d.State)
	start = time.Now()
	if err := e.drain(ctx, v.ID); err != nil {
		return out, err
	}
	out.DrainSeconds = time.Since(start).Seconds()
	out.HeapDrain = ms.heap()
	out.RSSDrain = resetPeak()
	after := e.hec.Stats()
	out.Delivered, out.Repeats = after.Distinct-before.Distinct, after.Repeats-before.Repeats
	if out.Delivered != int64(n) {
		return out, fmt.Errorf("outage: %d of %d events delivered", out.Delivered, n)
	}
	return out, e.svc.Delete(ctx, v.ID)
}
