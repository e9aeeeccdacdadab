// Command workcompare measures internal/work against github.com/riverqueue/river side by side, on
// SQLite and on a throwaway PostgreSQL, for issue 19: throughput, latency, database cost per job,
// and the behaviour of recurring work, uniqueness, retries and rescue after a killed node. It is a
// module of its own so that the main module never depends on River. See README.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type env struct {
	dir  string
	pg   *pgServer
	seq  atomic.Int64
	mu   sync.Mutex
	dsns map[backend]string
}

func (e *env) dsnOf(b backend) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.dsns[b]
}

func main() {
	var (
		n          = flag.Int("n", 10000, "units/jobs per throughput run")
		nDefault   = flag.Int("n-river-default", 1000, "jobs per throughput run of River with its default FetchCooldown (100 ms caps it at 4 jobs per 100 ms per client: 10,000 would take 4 minutes a run)")
		rounds     = flag.Int("rounds", 3, "alternating rounds for throughput and latency (medians reported)")
		stores     = flag.String("stores", "sqlite,postgres", "stores to measure")
		scenarios  = flag.String("scenarios", "throughput,latency,behaviour", "what to measure")
		latCount   = flag.Int("latency-count", 100, "jobs per latency run, one every 20 ms")
		lease      = flag.Duration("lease", 5*time.Second, "lease (work) and RescueStuckJobsAfter (river) in the rescue scenario")
		isChild    = flag.Bool("child", false, "internal: run one node for the rescue scenario")
		childSys   = flag.String("system", "", "internal: child's system")
		childStore = flag.String("store", "", "internal: child's store")
		childDSN   = flag.String("dsn", "", "internal: child's database")
	)
	flag.Parse()
	if *isChild {
		if err := child(*childSys, *childStore, *childDSN, *lease); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(*n, *nDefault, *rounds, *latCount, *lease, split(*stores), split(*scenarios)); err != nil {
		fmt.Fprintln(os.Stderr, "workcompare:", err)
		os.Exit(1)
	}
}

func split(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func has(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func run(n, nDefault, rounds, latCount int, lease time.Duration, stores, scenarios []string) error {
	for _, s := range stores {
		if s != "sqlite" && s != "postgres" {
			return fmt.Errorf("unknown store %q in -stores: use sqlite, postgres or both", s)
		}
	}
	for _, s := range scenarios {
		if s != "throughput" && s != "latency" && s != "behaviour" {
			return fmt.Errorf("unknown scenario %q in -scenarios: use throughput, latency, behaviour", s)
		}
	}
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "workcompare-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	e := &env{dir: dir, dsns: map[backend]string{}}
	if has(stores, "postgres") {
		if e.pg, err = startPG(); err != nil {
			return err
		}
		defer e.pg.stop()
		var v string
		db, _ := openRaw(e.pg.dsn("postgres"))
		_ = db.QueryRow("SHOW server_version").Scan(&v)
		db.Close()
		fmt.Printf("PostgreSQL %s (fsync=off, synchronous_commit=off, as the tests run it)\n", v)
	}
	la, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("start %s, %d CPUs, load average %s", time.Now().UTC().Format(time.RFC3339), runtime.NumCPU(), la)

	systems := []string{"work", "river"}
	if has(scenarios, "throughput") {
		type key struct {
			store, system string
			nodes         int
		}
		res := map[key][]throughputResult{}
		for round := range rounds {
			for _, st := range stores {
				for _, nodes := range []int{1, 3} {
					order := []string{"work", "river", "river-tuned"}
					if round%2 == 1 {
						order = []string{"river-tuned", "river", "work"}
					}
					for _, sys := range order {
						jobs := n
						if sys == "river" {
							jobs = nDefault
						}
						r, err := throughput(ctx, e, sys, st, jobs, nodes, 4)
						if err != nil {
							return fmt.Errorf("throughput %s/%s %d nodes: %w", sys, st, nodes, err)
						}
						fmt.Printf("round %d throughput %s/%s nodes=%d: %.0f jobs/s run, %.0f/s enqueue, %d handler calls, %d rows left, last handler at %v\n",
							round+1, sys, st, nodes, r.runPerSec, r.enqueuePerSec, r.runs, r.rowsLeft, r.handlersDone.Round(time.Millisecond))
						k := key{st, sys, nodes}
						res[k] = append(res[k], r)
					}
				}
			}
		}
		fmt.Printf("\n### Throughput: %d jobs (%d for River with defaults), concurrency 4 per node, medians of %d rounds\n\n", n, nDefault, rounds)
		fmt.Println("| store | nodes | internal/work jobs/s | river jobs/s (defaults) | river jobs/s (FetchCooldown 1 ms) | work / river | work / river tuned | enqueue work /s | enqueue river /s | most handler calls work / river / tuned | rows left work / river |")
		fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|")
		for _, st := range stores {
			for _, nodes := range []int{1, 3} {
				w, r, t := res[key{st, "work", nodes}], res[key{st, "river", nodes}], res[key{st, "river-tuned", nodes}]
				rate := func(x throughputResult) float64 { return x.runPerSec }
				wr, rr, tr := med(w, rate), med(r, rate), med(t, rate)
				fmt.Printf("| %s | %d | %.0f | %.0f | %.0f | %.2f | %.2f | %.0f | %.0f | %d / %d / %d | %d / %d |\n", st, nodes, wr, rr, tr, wr/rr, wr/tr,
					med(w, func(x throughputResult) float64 { return x.enqueuePerSec }), med(r, func(x throughputResult) float64 { return x.enqueuePerSec }),
					maxRuns(w), maxRuns(r), maxRuns(t), w[0].rowsLeft, r[0].rowsLeft)
			}
		}
		if has(stores, "postgres") {
			fmt.Printf("\n### PostgreSQL cost per job (medians; run = claim, run, complete; enqueue = the insert)\n\n")
			fmt.Println("| system | nodes | statements/job run | commits/job run | rows written/job run | WAL bytes/job run | statements/job enqueue | WAL bytes/job enqueue |")
			fmt.Println("|---|---|---|---|---|---|---|---|")
			for _, sys := range []string{"work", "river", "river-tuned"} {
				for _, nodes := range []int{1, 3} {
					rs := res[key{"postgres", sys, nodes}]
					jobs := n
					if sys == "river" {
						jobs = nDefault
					}
					per := func(f func(throughputResult) int64) float64 {
						return med(rs, func(x throughputResult) float64 { return float64(f(x)) / float64(jobs) })
					}
					fmt.Printf("| %s | %d | %.2f | %.2f | %.2f | %.0f | %.2f | %.0f |\n", sys, nodes,
						per(func(x throughputResult) int64 { return x.run.statements }), per(func(x throughputResult) int64 { return x.run.commits }),
						per(func(x throughputResult) int64 { return x.run.written }), per(func(x throughputResult) int64 { return x.run.wal }),
						per(func(x throughputResult) int64 { return x.enqueue.statements }), per(func(x throughputResult) int64 { return x.enqueue.wal }))
				}
			}
		}
	}

	if has(scenarios, "latency") {
		type key struct {
			store, system string
			mode          latencyMode
		}
		lat := map[key][]time.Duration{}
		modes := []latencyMode{modeNow, modeKick, modeDue}
		for round := range rounds {
			for _, st := range stores {
				for _, mode := range modes {
					order := systems
					if round%2 == 1 {
						order = []string{systems[1], systems[0]}
					}
					for _, sys := range order {
						if mode == modeKick && sys == "river" {
							continue // river has no in-process kick; its inserts notify (PostgreSQL)
						}
						ds, err := latency(ctx, e, sys, st, mode, latCount)
						if err != nil {
							return fmt.Errorf("latency %s/%s %s: %w", sys, st, mode, err)
						}
						fmt.Printf("round %d latency %s/%s %s: p50 %v p95 %v\n", round+1, sys, st, mode, pct(ds, 50), pct(ds, 95))
						k := key{st, sys, mode}
						lat[k] = append(lat[k], ds...)
					}
				}
			}
		}
		fmt.Printf("\n### Latency to start, %d jobs per run one every 20 ms, 1 node, %d rounds pooled\n\n", latCount, rounds)
		fmt.Println("| store | mode | internal/work p50 | p95 | river p50 | p95 |")
		fmt.Println("|---|---|---|---|---|---|")
		for _, st := range stores {
			for _, mode := range modes {
				w, r := lat[key{st, "work", mode}], lat[key{st, "river", mode}]
				rs := "-"
				rp := "-"
				if len(r) > 0 {
					rs, rp = ms(pct(r, 50)), ms(pct(r, 95))
				}
				fmt.Printf("| %s | %s | %s | %s | %s | %s |\n", st, mode, ms(pct(w, 50)), ms(pct(w, 95)), rs, rp)
			}
		}
	}

	if has(scenarios, "behaviour") {
		// Behaviour runs once per system and store, all at once: they mostly wait.
		type out struct {
			store, system string
			rec           recurringResult
			uni           uniqueResult
			ret           retryResult
			res           rescueResult
			err           error
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		var outs []out
		for _, st := range stores {
			for _, sys := range systems {
				wg.Add(1)
				go func() {
					defer wg.Done()
					o := out{store: st, system: sys}
					o.rec, o.err = recurring(ctx, e, sys, st, 12*time.Second)
					if o.err == nil {
						o.uni, o.err = uniqueness(ctx, e, sys, st)
					}
					if o.err == nil {
						o.ret, o.err = retries(ctx, e, sys, st)
					}
					if o.err == nil {
						o.res, o.err = rescue(ctx, e, sys, st, lease)
					}
					mu.Lock()
					outs = append(outs, o)
					mu.Unlock()
				}()
			}
		}
		wg.Wait()
		sort.Slice(outs, func(i, j int) bool { return outs[i].store+outs[i].system > outs[j].store+outs[j].system })
		fmt.Printf("\n### Behaviour (one run each; lease/RescueStuckJobsAfter %v)\n\n", lease)
		fmt.Println("| store | system | recurring 1 s, handler 1.5 s, 3 nodes, 12 s: runs / most at once / gap p50 | 300 inserts of one key: rows | 2nd request while running: runs / refused / most at once | fail once: next run after | Retry-After 2 s: next run after | kill -9 mid-job: runs elsewhere after | job of 3 leases + 5 s: runs / most at once / finished |")
		fmt.Println("|---|---|---|---|---|---|---|---|---|")
		failed := false
		for _, o := range outs {
			if o.err != nil {
				failed = true
				fmt.Printf("| %s | %s | error: %v |\n", o.store, o.system, o.err)
				continue
			}
			fmt.Printf("| %s | %s | %d / %d / %s | %d | %d / %v / %d | %s | %s | %s | %d / %d / %v |\n", o.store, o.system,
				o.rec.runs, o.rec.maxConcurrent, ms(o.rec.gapP50), o.uni.rowsAfterDuplicates,
				o.uni.runsAfterRerun, o.uni.rerunErr, o.uni.maxConcurrent, ms(o.ret.failDelay), ms(o.ret.snoozeDelay),
				ms(o.res.rescue), o.res.longRuns, o.res.longMaxConc, o.res.longDone)
		}
		if failed {
			defer fmt.Println("some behaviour runs failed: see their rows")
		}
	}
	la, _ = os.ReadFile("/proc/loadavg")
	fmt.Printf("\nend %s, load average %s", time.Now().UTC().Format(time.RFC3339), la)
	return nil
}

func med[T any](xs []T, f func(T) float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	v := make([]float64, len(xs))
	for i, x := range xs {
		v[i] = f(x)
	}
	sort.Float64s(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func maxRuns(rs []throughputResult) int64 {
	var m int64
	for _, r := range rs {
		m = max(m, r.runs)
	}
	return m
}

func ms(d time.Duration) string {
	switch {
	case d >= 10*time.Second:
		return fmt.Sprintf("%.1f s", d.Seconds())
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	}
	return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000)
}
