// Command telltale-bench runs Telltale's benchmark programs and writes their tables into
// docs/BENCHMARKS.md. It is a separate binary so that benchmark and test-support code never ships
// in telltale itself.
//
//	go run ./cmd/telltale-bench store [-events 100000] [-batches 500,5000] [-rounds 3] [-drivers sqlite,postgres] [-write docs/BENCHMARKS.md]
//	go run ./cmd/telltale-bench box [-runs rate,cpu,latency] [-files 200000] [-users 5000,50000] [-write docs/BENCHMARKS.md]
//	go run ./cmd/telltale-bench google [-runs rate,cpu,latency,rss] [-rate-limit 60] [-cpu-files 20000,100000] [-rss-users 5000,50000] [-write docs/BENCHMARKS.md]
//	go run ./cmd/telltale-bench microsoft [-runs rate,cpu,latency,audit,rss] [-rate-limit 240] [-cpu-files 20000,100000] [-rss-drives 5000,50000] [-write docs/BENCHMARKS.md]
//	go run ./cmd/telltale-bench search [-events 10000000] [-drivers sqlite,postgres] [-dir DIR -reuse] [-dsn URL] [-write docs/BENCHMARKS.md]
//	go run ./cmd/telltale-bench forward [-events 500000] [-formats json,cef,ocsf] [-rate 2000 -lag-for 30s] [-backlog 1000000] [-write docs/BENCHMARKS.md]
//	go run ./cmd/telltale-bench agents [-agents 10000] [-every 1m] [-duration 2m] [-rounds 2] [-write docs/BENCHMARKS.md]
//	go run ./cmd/telltale-bench alerts [-runs ingest,latency,backtest] [-events 100000] [-rules 50] [-latency-for 1m] [-backtest-events 10000000] [-dir DIR -reuse] [-write docs/BENCHMARKS.md]
//	go run ./cmd/telltale-bench dashboards [-events 10000000] [-ingest 50000] [-rounds 3] [-drivers sqlite,postgres] [-dir DIR -reuse] [-write docs/BENCHMARKS.md]
//	go run ./cmd/telltale-bench nodes [-nodes 1,2,3] [-rounds 3] [-connections 6] [-backlog 10000] [-workers 8] [-dsn URL] [-write docs/BENCHMARKS.md]
//	go run ./cmd/telltale-bench pgwrites [-rounds 150] [-page 500] [-prefill 1000000] [-dsn URL]
//	go run ./cmd/telltale-bench writers [-writers 1,2,4] [-events 100000] [-batch 500] [-rounds 3] [-write docs/BENCHMARKS.md]
//	go run ./cmd/telltale-bench load [-duration 60s] [-rounds 2] [-activity 4000] [-searchers 2 -exporters 1 -pages 2] [-drivers sqlite,postgres] [-dsn URL] [-write docs/BENCHMARKS.md]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/internal/app"
	"github.com/telltale-dev/telltale/internal/bench"
	"github.com/telltale-dev/telltale/internal/config"
	"github.com/telltale-dev/telltale/internal/store"
)

func main() {
	if len(os.Args) >= 2 && os.Args[1] == "box" {
		runBox()
		return
	}
	if len(os.Args) >= 2 && os.Args[1] == "google" {
		runGoogle()
		return
	}
	if len(os.Args) >= 2 && os.Args[1] == "microsoft" {
		runMicrosoft()
		return
	}
	commands := map[string]func(ctx context.Context, args []string, stdout, stderr io.Writer) error{
		"search":     bench.SearchCommand,
		"load":       bench.LoadCommand,
		"forward":    bench.ForwardCommand,
		"agents":     bench.AgentsCommand,
		"alerts":     bench.AlertsCommand,
		"dashboards": bench.DashboardsCommand,
		"audit":      bench.AuditCommand,
		"nodes":      bench.NodesCommand,
		"pgwrites":   bench.PGWritesCommand,
		"writers":    bench.WritersCommand,
	}
	if len(os.Args) >= 2 && commands[os.Args[1]] != nil {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
		err := commands[os.Args[1]](ctx, os.Args[2:], os.Stdout, os.Stderr)
		stop()
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		if err != nil {
			fail(err)
		}
		return
	}
	if len(os.Args) < 2 || os.Args[1] != "store" {
		fmt.Fprintln(os.Stderr, "usage: telltale-bench store|box|google|microsoft|search|dashboards|load|forward|agents|alerts|audit|nodes|pgwrites|writers [flags]   (run with -h for the flags)")
		os.Exit(2)
	}
	fs := flag.NewFlagSet("store", flag.ExitOnError)
	o := bench.StoreOptions{}
	fs.IntVar(&o.Events, "events", 100000, "events per run")
	batches := fs.String("batches", "500,5000", "events per transaction, each measured (a page; a backlog)")
	fs.IntVar(&o.Rounds, "rounds", 3, "runs of each side")
	drivers := fs.String("drivers", "sqlite,postgres", "drivers to measure")
	write := fs.String("write", "", "write the result section into this markdown file")
	fs.BoolVar(&o.NoDashboards, "no-dashboards", false, "leave the dashboards' counts out of the store side (to measure their cost; refused with -write)")
	fs.StringVar(&o.ProfileDir, "cpuprofile", "", "write a CPU profile of each store-side run into this directory")
	fs.BoolVar(&o.Stream, "stream", false, "give the events in a vendor stream's time order (eventgen's Timeline) instead of at random times over 90 days (refused with -write)")
	fs.Parse(os.Args[2:])
	if o.NoDashboards && *write != "" {
		fail(errors.New("-no-dashboards measures the insert without the dashboards' counts, which is not the store's ingest path: run it without -write"))
	}
	if o.Stream && *write != "" {
		fail(errors.New("-stream measures events in time order, which the section's figures are not: run it without -write"))
	}
	o.Drivers = strings.Split(*drivers, ",")
	for _, b := range strings.Split(*batches, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(b))
		if err != nil || n < 1 {
			fail(fmt.Errorf("-batches: %q is not a positive number of events (write e.g. 500,5000)", b))
		}
		o.Batches = append(o.Batches, n)
	}
	load, _ := os.ReadFile("/proc/loadavg")
	dir, err := os.MkdirTemp("", "telltale-bench-")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(dir)
	o.TempDir = dir
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rs, err := bench.RunStore(ctx, o, os.Stderr)
	if err != nil {
		fail(err)
	}
	cmd := "go run ./cmd/telltale-bench " + strings.Join(os.Args[1:], " ")
	section := bench.FormatStore(rs, o, cmd, strings.Join(strings.Fields(string(load))[:min(3, len(strings.Fields(string(load))))], " "))
	fmt.Println(section)
	if *write != "" {
		if err := bench.WriteSection(*write, "store", section); err != nil {
			fail(err)
		}
	}
}

// runBox runs the Box collection benchmarks (issue 3).
func runBox() {
	fs := flag.NewFlagSet("box", flag.ExitOnError)
	o := bench.BoxOptions{}
	runs := fs.String("runs", "rate,cpu,latency", "which measurements: rate (a), cpu (b), latency (c)")
	fs.IntVar(&o.RateFiles, "files", 200000, "(a) files in the one user's drive")
	users := fs.String("users", "5000,50000", "(b) users of each run, side by side")
	fs.IntVar(&o.CPUFiles, "user-files", 20, "(b) files per user")
	fs.IntVar(&o.Workers, "workers", 0, "(b) TELLTALE_WORKERS of the node (0: Telltale's default)")
	fs.DurationVar(&o.CPUMax, "cpu-max", 10*time.Minute, "(b) cut a run after this long and report what it indexed (0: no limit)")
	fs.IntVar(&o.LatencyEvents, "events", 60, "(c) uploads per path")
	fs.DurationVar(&o.PollInterval, "poll", 10*time.Second, "(c) poll interval of the poll path")
	fs.StringVar(&o.Binary, "binary", "", "a built telltale binary (default: go build ./cmd/telltale)")
	write := fs.String("write", "", "write the result section into this markdown file")
	fs.Parse(os.Args[2:])
	o.Runs = strings.Split(*runs, ",")
	for _, u := range strings.Split(*users, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(u))
		if err != nil || n < 1 {
			fail(fmt.Errorf("-users: %q is not a number of users: write a comma-separated list like 5000,50000", u))
		}
		o.CPUUsers = append(o.CPUUsers, n)
	}
	dir, err := os.MkdirTemp("", "telltale-bench-box-")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(dir)
	o.TempDir = dir
	o.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	o.Launch = launch
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rs, err := bench.RunBox(ctx, o, os.Stderr)
	if err != nil {
		fail(err)
	}
	cmd := "go run ./cmd/telltale-bench " + strings.Join(os.Args[1:], " ")
	section := bench.FormatBox(rs, o, cmd)
	fmt.Println(section)
	if *write != "" {
		if err := bench.WriteSection(*write, "box", section); err != nil {
			fail(err)
		}
	}
}

// launch runs a Telltale node in this process (benchmark (c) reads its store directly).
func launch(ctx context.Context, cfg config.Config, ln net.Listener, log *slog.Logger) (store.Store, func() error, error) {
	a, err := app.New(ctx, cfg, log)
	if err != nil {
		return nil, nil, err
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, ln) }()
	return a.Store, func() error { return <-done }, nil
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "telltale-bench:", err)
	os.Exit(1)
}

// runGoogle runs the Google Drive collection benchmarks (issue 14).
func runGoogle() {
	fs := flag.NewFlagSet("google", flag.ExitOnError)
	o := bench.GoogleOptions{}
	runs := fs.String("runs", "rate,cpu,latency,rss,gmail", "which measurements: rate (a), cpu (b), latency (c), rss (d), gmail (e: a sent attachment to searchable through Pub/Sub push)")
	fs.IntVar(&o.RateUsers, "rate-users", 3, "(a) users crawled at once, the admin included")
	fs.IntVar(&o.RateFiles, "rate-files", 40000, "(a) files in each user's My Drive")
	fs.IntVar(&o.RateLimit, "rate-limit", 60, "(a) the emulator's limit, requests per minute per user")
	fs.IntVar(&o.RateBurst, "rate-burst", 10, "(a) the emulator's burst per user")
	cpuFiles := fs.String("cpu-files", "20000,100000", "(b) files of each run, side by side")
	fs.IntVar(&o.CPUUsers, "cpu-users", 50, "(b) users the files of a run are spread over")
	fs.IntVar(&o.LatencyEvents, "events", 60, "(c) uploads")
	fs.DurationVar(&o.PollInterval, "poll", 10*time.Second, "(c) TELLTALE_POLL_INTERVAL of the node")
	rssUsers := fs.String("rss-users", "5000,50000", "(d) users (drives) of each run, side by side")
	fs.IntVar(&o.RSSFiles, "rss-files", 2, "(d) files per user")
	fs.IntVar(&o.Workers, "workers", 0, "TELLTALE_WORKERS of the node (0: Telltale's default)")
	fs.DurationVar(&o.MaxRun, "max", 10*time.Minute, "cut an indexing run after this long and report what it did (0: no limit)")
	fs.StringVar(&o.ProfileDir, "profile", "", "a directory for profiles of the node: 30 s of CPU from the start of the last (b) run (cpu-b.pprof), from half of the last (d) run (cpu-d.pprof), and its heap at the end (heap-d.pprof)")
	fs.StringVar(&o.Binary, "binary", "", "a built telltale binary (default: go build ./cmd/telltale)")
	write := fs.String("write", "", "write the result section into this markdown file")
	fs.Parse(os.Args[2:])
	o.Runs = strings.Split(*runs, ",")
	var err error
	if o.CPUFiles, err = numbers("-cpu-files", *cpuFiles); err != nil {
		fail(err)
	}
	if o.RSSUsers, err = numbers("-rss-users", *rssUsers); err != nil {
		fail(err)
	}
	dir, err := os.MkdirTemp("", "telltale-bench-google-")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(dir)
	o.TempDir = dir
	o.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	o.Launch = launch
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rs, err := bench.RunGoogle(ctx, o, os.Stderr)
	if err != nil {
		fail(err)
	}
	cmd := "go run ./cmd/telltale-bench " + strings.Join(os.Args[1:], " ")
	section := bench.FormatGoogle(rs, o, cmd)
	fmt.Println(section)
	if *write != "" {
		if err := bench.WriteSection(*write, "google", section); err != nil {
			fail(err)
		}
	}
}

// runMicrosoft runs the OneDrive for Business collection benchmarks (issue 15).
func runMicrosoft() {
	fs := flag.NewFlagSet("microsoft", flag.ExitOnError)
	o := bench.MicrosoftOptions{}
	runs := fs.String("runs", "rate,cpu,latency,audit,rss", "which measurements: rate (a), cpu (b), latency (c: change notification to searchable), audit (d: Management Activity API record to searchable), rss (e)")
	fs.IntVar(&o.RateDrives, "rate-drives", 3, "(a) OneDrives crawled at once")
	fs.IntVar(&o.RateFiles, "rate-files", 20000, "(a) files in each OneDrive")
	fs.IntVar(&o.RateLimit, "rate-limit", 240, "(a) the emulator's Graph limit for the app in the tenant, requests per minute")
	fs.IntVar(&o.RateBurst, "rate-burst", 20, "(a) the emulator's burst")
	cpuFiles := fs.String("cpu-files", "20000,100000", "(b) files of each run, side by side")
	fs.IntVar(&o.CPUUsers, "cpu-users", 50, "(b) OneDrives the files of a run are spread over")
	fs.IntVar(&o.LatencyEvents, "events", 60, "(c) uploads")
	fs.DurationVar(&o.PollInterval, "poll", 10*time.Second, "(c) TELLTALE_POLL_INTERVAL of the node")
	fs.IntVar(&o.AuditEvents, "audit-events", 60, "(d) downloads")
	fs.DurationVar(&o.AuditPoll, "audit-poll", 10*time.Second, "(d) TELLTALE_POLL_INTERVAL of the node: one poll of the audit stream")
	fs.DurationVar(&o.AuditLagMin, "audit-lag-min", 5*time.Second, "(d) the emulator's least audit lag (Microsoft: typically 60 minutes)")
	fs.DurationVar(&o.AuditLagMax, "audit-lag-max", 20*time.Second, "(d) the emulator's greatest audit lag (Microsoft: typically 90 minutes)")
	fs.DurationVar(&o.AuditBlobInterval, "audit-blobs", 2*time.Second, "(d) how often the emulator gathers records into content blobs")
	rssDrives := fs.String("rss-drives", "5000,50000", "(e) OneDrives of each run, side by side")
	fs.IntVar(&o.RSSFiles, "rss-files", 2, "(e) files per OneDrive")
	fs.IntVar(&o.Workers, "workers", 0, "TELLTALE_WORKERS of the node (0: Telltale's default)")
	fs.DurationVar(&o.MaxRun, "max", 10*time.Minute, "cut an indexing run after this long and report what it did (0: no limit)")
	fs.StringVar(&o.ProfileDir, "profile", "", "a directory for profiles of the node: 30 s of CPU from the start of the last (b) run (cpu-b.pprof), from half of the last (e) run (cpu-e.pprof), and its heap at the end (heap-e.pprof)")
	fs.StringVar(&o.Binary, "binary", "", "a built telltale binary (default: go build ./cmd/telltale)")
	write := fs.String("write", "", "write the result section into this markdown file")
	fs.Parse(os.Args[2:])
	o.Runs = strings.Split(*runs, ",")
	var err error
	if o.CPUFiles, err = numbers("-cpu-files", *cpuFiles); err != nil {
		fail(err)
	}
	if o.RSSDrives, err = numbers("-rss-drives", *rssDrives); err != nil {
		fail(err)
	}
	dir, err := os.MkdirTemp("", "telltale-bench-microsoft-")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(dir)
	o.TempDir = dir
	o.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	o.Launch = launch
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rs, err := bench.RunMicrosoft(ctx, o, os.Stderr)
	if err != nil {
		fail(err)
	}
	cmd := "go run ./cmd/telltale-bench " + strings.Join(os.Args[1:], " ")
	section := bench.FormatMicrosoft(rs, o, cmd)
	fmt.Println(section)
	if *write != "" {
		if err := bench.WriteSection(*write, "microsoft", section); err != nil {
			fail(err)
		}
	}
}

// numbers reads a comma-separated list of positive numbers.
func numbers(flagName, s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%s: %q is not a positive number: write a comma-separated list like 5000,50000", flagName, f)
		}
		out = append(out, n)
	}
	return out, nil
}
