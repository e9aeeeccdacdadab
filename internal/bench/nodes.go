package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/telltale-dev/telltale/client"
	boxemu "github.com/telltale-dev/telltale/internal/emulator/box"
	"github.com/telltale-dev/telltale/internal/testutil/pgtest"
)

// NodesOptions configure the several-nodes ingest benchmark (issue 19): N `telltale serve` nodes
// on one PostgreSQL drain a backlog of Box activity from several Box enterprises (one emulator and
// one connection each, so there are as many activity streams for the nodes to share).
type NodesOptions struct {
	Nodes       []int    // node counts to compare, e.g. 1, 2, 3
	Rounds      int      // each round runs every node count once, alternating
	Connections int      // Box enterprises (emulators), one activity stream each
	Backlog     int      // activities generated per enterprise while no node runs
	Workers     int      // TELLTALE_WORKERS of every node
	Env         []string // more KEY=VALUE for every node (e.g. GOMAXPROCS for a control run)
	DSN         string
	TempDir     string
	Binary      string
}

// NodesRun is one run: Nodes nodes draining the backlog.
type NodesRun struct {
	Round, Nodes int
	Generated    int     // activities generated (all kinds)
	Stored       int64   // file events stored
	Seconds      float64 // from starting the nodes to the last event stored
	Rate         float64 // Stored / Seconds
	NodeCPU      float64 // the nodes' user+system CPU seconds in the run (sum)
	PGCPU        float64 // PostgreSQL's (server and backends)
	BenchCPU     float64 // this process's: the emulators
	Busy         float64 // the machine's busy share of all cores in the run (others' work included)
	Load         string  // /proc/loadavg at the end
	// LockWait and Active are the mean numbers of the database's backends waiting for the event
	// lock (the advisory lock every event transaction takes, so that ids commit in order) and
	// running a statement, sampled every 100 ms (the sampling query itself left out).
	LockWait, Active float64
}

// NodesResult is a node count's runs and their median.
type NodesResult struct {
	Nodes  int
	Runs   []NodesRun
	Median float64
}

// RunNodes runs the benchmark: for each round, each node count in turn.
func RunNodes(ctx context.Context, o NodesOptions, progress io.Writer) ([]NodesResult, error) {
	if o.Binary == "" {
		var err error
		if o.Binary, err = buildTelltale(ctx, o.TempDir, progress); err != nil {
			return nil, err
		}
	}
	res := make([]NodesResult, len(o.Nodes))
	for i, n := range o.Nodes {
		res[i].Nodes = n
	}
	for round := 1; round <= o.Rounds; round++ {
		for i, n := range o.Nodes {
			r, err := nodesRun(ctx, o, round, n, progress)
			if err != nil {
				return nil, fmt.Errorf("round %d, %d nodes: %w", round, n, err)
			}
			res[i].Runs = append(res[i].Runs, r)
			fmt.Fprintf(progress, "round %d, %d nodes: %d events in %.1fs = %.0f/s; CPU s: nodes %.1f, PostgreSQL %.1f, emulators %.1f; backends active %.2f, waiting for the event lock %.2f; machine busy %.0f%%; load %s\n",
				round, n, r.Stored, r.Seconds, r.Rate, r.NodeCPU, r.PGCPU, r.BenchCPU, r.Active, r.LockWait, 100*r.Busy, r.Load)
		}
	}
	for i := range res {
		var rates []float64
		for _, r := range res[i].Runs {
			rates = append(rates, r.Rate)
		}
		res[i].Median = Median(rates)
	}
	return res, nil
}

func nodesRun(ctx context.Context, o NodesOptions, round, n int, progress io.Writer) (NodesRun, error) {
	r := NodesRun{Round: round, Nodes: n}
	dsn := o.DSN
	if dsn == "" {
		var err error
		if dsn, err = pgtest.NewDatabase(); err != nil {
			return r, fmt.Errorf("%w (install PostgreSQL 15, or pass -dsn)", err)
		}
	} else if err := resetDatabase(ctx, dsn); err != nil {
		return r, err
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return r, err
	}
	defer db.Close()
	key := make([]byte, 32)
	rand.Read(key)
	env := map[string]string{"TELLTALE_DATABASE": dsn, "TELLTALE_SECRET_KEY": base64.StdEncoding.EncodeToString(key),
		"TELLTALE_POLL_INTERVAL": "1s", "TELLTALE_DISCOVERY_INTERVAL": "1h", "TELLTALE_WORK_LEASE": "10s",
		"TELLTALE_WORKERS": strconv.Itoa(o.Workers), "TELLTALE_HASH_MAX_SIZE": "1"}
	for _, kv := range o.Env {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	emus := make([]*emulator, o.Connections)
	for i := range emus {
		if emus[i], err = startEmulator(boxemu.Options{Seed: int64(100 + i), EnterpriseID: strconv.Itoa(910000 + i), Users: 20, FilesPerUser: 10,
			FoldersPerUser: 2, Depth: 1, MinFileSize: 256, MaxFileSize: 1024, RateLimitPerMinute: -1}); err != nil {
			return r, err
		}
		defer emus[i].stop()
	}
	// One node makes the connections and lets them reach Monitoring (the streams start at "now"),
	// then stops; the backlog is generated with no node running.
	dir := filepath.Join(o.TempDir, fmt.Sprintf("r%d-n%d", round, n))
	setup, err := startNode(ctx, o.Binary, dir, "setup", env)
	if err != nil {
		return r, err
	}
	api := client.New(setup.URL, benchToken)
	for i, e := range emus {
		nc := boxConnection(e.URL, "0")
		nc.Name, nc.TenantID = fmt.Sprintf("Box %d", i), strconv.Itoa(910000+i)
		nc.Settings["enterprise_id"] = nc.TenantID
		c, err := api.CreateConnection(ctx, nc)
		if err != nil {
			setup.stop()
			return r, err
		}
		if _, err := waitMonitoring(ctx, api, c.ID, 200*time.Millisecond, io.Discard); err != nil {
			setup.stop()
			return r, err
		}
	}
	// Every stream has polled once, so its cursor is at "now": the backlog comes after it.
	for deadline := time.Now().Add(2 * time.Minute); ; {
		var streams int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(DISTINCT connection_id) FROM cursors WHERE stream = 'stream:admin_logs_streaming' AND value <> ''`).Scan(&streams); err != nil {
			setup.stop()
			return r, err
		}
		if streams >= len(emus) {
			break
		}
		if time.Now().After(deadline) {
			setup.stop()
			return r, fmt.Errorf("only %d of %d streams have a cursor after 2 min", streams, len(emus))
		}
		time.Sleep(100 * time.Millisecond)
	}
	setup.stop()
	before, err := countEvents(ctx, db)
	if err != nil {
		return r, err
	}
	for _, e := range emus {
		r.Generated += len(e.Step(o.Backlog))
	}
	fmt.Fprintf(progress, "round %d, %d nodes: %d activities waiting in %d enterprises\n", round, n, r.Generated, len(emus))

	pg0, pgErr := pgCPU(dsn)
	busy0, total0 := machineCPU()
	self0 := selfCPU()
	start := time.Now()
	nodes := make([]*subprocess, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nodes[i], errs[i] = startNode(ctx, o.Binary, dir, fmt.Sprintf("node%d", i), env)
		}()
	}
	wg.Wait()
	defer func() {
		for _, p := range nodes {
			if p != nil {
				p.stop()
			}
		}
	}()
	if err := errors.Join(errs...); err != nil {
		return r, err
	}
	// Drained: no new event for 5 s (every stream polls every second) after the first one. The
	// wait for the first counts (startup is included), but not toward those 5 s: nodes starting
	// beside each other on a busy machine took longer than that to store their first event, and
	// the run stopped with none stored.
	last, lastAt := before, time.Now()
	samples := 0
	for last == before || time.Since(lastAt) < 5*time.Second {
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		c, err := countEvents(ctx, db)
		if err != nil {
			return r, err
		}
		var waiting, active int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FILTER (WHERE wait_event_type = 'Lock' AND wait_event = 'advisory'),
COUNT(*) FILTER (WHERE state = 'active') - 1 FROM pg_stat_activity WHERE datname = current_database()`).Scan(&waiting, &active); err != nil {
			return r, err
		}
		if c != last || c == before {
			samples++
			r.LockWait += float64(waiting)
			r.Active += float64(active)
		}
		if c != last {
			last, lastAt = c, time.Now()
		}
		if time.Since(start) > 10*time.Minute {
			return r, fmt.Errorf("the backlog was not drained in 10 min: %d events stored from %d activities (none: the streams did not read it)", c-before, r.Generated)
		}
	}
	if samples > 0 {
		r.LockWait /= float64(samples)
		r.Active /= float64(samples)
	}
	for _, p := range nodes {
		c, err := p.cpuSeconds()
		if err != nil {
			return r, err
		}
		r.NodeCPU += c
	}
	if pg1, err := pgCPU(dsn); err == nil && pgErr == nil {
		r.PGCPU = pg1 - pg0
	}
	r.BenchCPU = selfCPU() - self0
	busy1, total1 := machineCPU()
	if total1 > total0 {
		r.Busy = float64(busy1-busy0) / float64(total1-total0)
	}
	la, _ := os.ReadFile("/proc/loadavg")
	r.Load = strings.Join(strings.Fields(string(la))[:min(3, len(strings.Fields(string(la))))], " ")
	r.Stored = last - before
	r.Seconds = lastAt.Sub(start).Seconds()
	if r.Seconds > 0 {
		r.Rate = float64(r.Stored) / r.Seconds
	}
	return r, nil
}

// resetDatabase empties a database given with -dsn (every run starts from our migrations).
func resetDatabase(ctx context.Context, dsn string) error {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, `DROP SCHEMA public CASCADE; CREATE SCHEMA public`)
	return err
}

func countEvents(ctx context.Context, db *sql.DB) (int64, error) {
	var n int64
	err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM file_events`).Scan(&n)
	return n, err
}

// machineCPU is the machine's busy and total CPU time (/proc/stat, all cores, in ticks).
func machineCPU() (busy, total int64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	for i, s := range f[1:] {
		v, _ := strconv.ParseInt(s, 10, 64)
		if i >= 8 { // guest time is counted in user already
			break
		}
		total += v
		if i != 3 && i != 4 { // idle, iowait
			busy += v
		}
	}
	return busy, total
}

// pgCPU is the CPU time, in seconds, of the PostgreSQL server listening on dsn's port when it runs
// on this machine: the postmaster's, its live children's (the backends), and its reaped
// children's (cutime, cstime).
func pgCPU(dsn string) (float64, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return 0, err
	}
	port := u.Port()
	if port == "" {
		port = "5432"
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	type proc struct {
		ppid             int
		self, reapedKids int64
	}
	procs := map[int]proc{}
	master := 0
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) < 15 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		cut, _ := strconv.ParseInt(f[13], 10, 64)
		cst, _ := strconv.ParseInt(f[14], 10, 64)
		procs[pid] = proc{ppid: ppid, self: ut + st, reapedKids: cut + cst}
		if master == 0 && strings.Contains(string(b), "(postgres)") {
			cmd, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
			args := strings.Split(string(cmd), "\x00")
			for i := 0; i+1 < len(args); i++ {
				if args[i] == "-p" && args[i+1] == port {
					master = pid
				}
			}
		}
	}
	if master == 0 {
		return 0, fmt.Errorf("no PostgreSQL server on port %s on this machine", port)
	}
	ticks := procs[master].self + procs[master].reapedKids
	for _, p := range procs {
		if p.ppid == master {
			ticks += p.self
		}
	}
	return float64(ticks) / clockTicks, nil
}

// FormatNodes renders the results as the BENCHMARKS.md section.
func FormatNodes(rs []NodesResult, o NodesOptions, command string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## Several nodes on one PostgreSQL: ingest rate (issue 19)\n\n")
	fmt.Fprintf(&b, "- Date: %s. Machine: %s.\n- Command: `%s`\n", Stamp(), Machine(), command)
	fmt.Fprintf(&b, "- %d Box enterprises (one emulator and one connection each: %d activity streams for the nodes to share), %d activities generated in each while no node runs (the streams start at \"now\", so one node first makes the connections, lets them reach Monitoring and stops); then N `telltale serve` nodes (`TELLTALE_WORKERS` %d, poll 1 s, content hashing off) start together on the fresh database and drain the backlog. Rate: file events stored / time from starting the nodes to the last one stored (startup included). Rounds alternate the node counts; medians over %d rounds. A throwaway PostgreSQL 15 on the same machine (fsync off) unless `-dsn`; the emulators run in the benchmark process. CPU is each party's during the run (PostgreSQL: server and backends), per event stored; *cores used* is the three parties' CPU over the run's time; *busy* is the machine's, every process included, the other engineers' too: when it is near 100 %% the run is CPU-bound and the rate is what the run's share of two contended cores allows (the scheduler shares the CPU by runnable threads, so more node processes also win a larger share from the other work on the machine).\n\n",
		o.Connections, o.Connections, o.Backlog, o.Workers, o.Rounds)
	if len(o.Env) > 0 {
		fmt.Fprintf(&b, "Every node also had %s in its environment.\n\n", strings.Join(o.Env, " "))
	}
	fmt.Fprintln(&b, "| nodes | events/s per round | median | vs 1 node | CPU ms per event: nodes / PostgreSQL / emulators (median round) | cores used by the run (of "+strconv.Itoa(runtime.NumCPU())+") | PostgreSQL backends active / waiting for the event lock (mean) | machine busy | load average at the end |")
	fmt.Fprintln(&b, "|---:|---|---:|---:|---|---:|---|---:|---|")
	base := 0.0
	for _, r := range rs {
		if r.Nodes == 1 {
			base = r.Median
		}
	}
	for _, r := range rs {
		var per []string
		for _, x := range r.Runs {
			per = append(per, fmt.Sprintf("%.0f", x.Rate))
		}
		m := medianRun(r)
		ratio := "-"
		if base > 0 {
			ratio = fmt.Sprintf("x%.2f", r.Median/base)
		}
		perEvent := func(cpu float64) float64 { return 1000 * cpu / float64(max(m.Stored, 1)) }
		used := 0.0
		if m.Seconds > 0 {
			used = (m.NodeCPU + m.PGCPU + m.BenchCPU) / m.Seconds
		}
		fmt.Fprintf(&b, "| %d | %s | %.0f | %s | %.3f / %.3f / %.3f | %.2f | %.2f / %.2f | %.0f%% | %s |\n", r.Nodes, strings.Join(per, ", "), r.Median, ratio,
			perEvent(m.NodeCPU), perEvent(m.PGCPU), perEvent(m.BenchCPU), used, m.Active, m.LockWait, 100*m.Busy, m.Load)
	}
	return b.String()
}

// medianRun is the run whose rate is the median (the lower middle one for an even count).
func medianRun(r NodesResult) NodesRun {
	if len(r.Runs) == 0 {
		return NodesRun{}
	}
	rs := append([]NodesRun(nil), r.Runs...)
	for i := range rs {
		for j := i + 1; j < len(rs); j++ {
			if rs[j].Rate < rs[i].Rate {
				rs[i], rs[j] = rs[j], rs[i]
			}
		}
	}
	return rs[(len(rs)-1)/2]
}

// counts parses a flag's list of counts from 1 to most, separated by commas ("1,2,3"), for the
// command cmd: what is counted is what.
func counts(cmd, flagName, what, list string, most int) ([]int, error) {
	var out []int
	for _, s := range strings.Split(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > most {
			return nil, fmt.Errorf("%s: %s: want %s counts from 1 to %d separated by commas, got %q", cmd, flagName, what, most, s)
		}
		out = append(out, n)
	}
	return out, nil
}

// NodesCommand is `telltale-bench nodes`.
func NodesCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("nodes", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := NodesOptions{}
	nodes := fs.String("nodes", "1,2,3", "node counts to compare")
	fs.IntVar(&o.Rounds, "rounds", 3, "rounds; each runs every node count once, alternating; medians reported")
	fs.IntVar(&o.Connections, "connections", 6, "Box enterprises (one emulator, connection and activity stream each)")
	fs.IntVar(&o.Backlog, "backlog", 10000, "activities generated per enterprise before the nodes start")
	fs.IntVar(&o.Workers, "workers", 8, "TELLTALE_WORKERS of every node (enough for one node to run every stream at once)")
	fs.StringVar(&o.DSN, "dsn", "", "a PostgreSQL database to use (emptied before each run) instead of a throwaway server")
	fs.StringVar(&o.TempDir, "dir", "", "directory for data dirs and logs (default: a new temporary directory)")
	fs.StringVar(&o.Binary, "binary", "", "a built telltale binary (default: go build ./cmd/telltale)")
	write := fs.String("write", "", "write the result section into this markdown file")
	fs.Func("env", "KEY=VALUE added to every node's environment (repeatable), e.g. GOMAXPROCS=6", func(kv string) error {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return fmt.Errorf("want KEY=VALUE, got %q", kv)
		}
		o.Env = append(o.Env, kv)
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("nodes: %w", err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("nodes: unexpected argument %q", fs.Arg(0))
	}
	var err error
	if o.Nodes, err = counts("nodes", "-nodes", "node", *nodes, 16); err != nil {
		return err
	}
	if o.Rounds < 1 || o.Connections < 1 || o.Backlog < 1 || o.Workers < 1 {
		return errors.New("nodes: -rounds, -connections, -backlog and -workers must be at least 1")
	}
	done, err := scratchDir(&o.TempDir, "telltale-bench-nodes-")
	if err != nil {
		return err
	}
	defer done()
	rs, err := RunNodes(ctx, o, stderr)
	if err != nil {
		return err
	}
	return publish(stdout, *write, "nodes", FormatNodes(rs, o, "go run ./cmd/telltale-bench nodes "+strings.Join(args, " ")))
}
