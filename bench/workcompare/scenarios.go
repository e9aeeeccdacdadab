package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// tracker records when each key's runs start and end, and how many run at once.
type tracker struct {
	mu      sync.Mutex
	starts  map[string][]time.Time
	ends    map[string][]time.Time
	running map[string]int
	maxPer  int // most runs of one key at once
	total   atomic.Int64
}

func newTracker() *tracker {
	return &tracker{starts: map[string][]time.Time{}, ends: map[string][]time.Time{}, running: map[string]int{}}
}

func (t *tracker) begin(key string) int {
	t.total.Add(1)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.starts[key] = append(t.starts[key], time.Now())
	t.running[key]++
	t.maxPer = max(t.maxPer, t.running[key])
	return len(t.starts[key])
}

func (t *tracker) end(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.ends[key] = append(t.ends[key], time.Now())
	t.running[key]--
}

func (t *tracker) runs(key string) []time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]time.Time(nil), t.starts[key]...)
}

func waitFor(ctx context.Context, limit time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(limit)
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not done within %v", limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// ---- throughput and database cost ----

type throughputResult struct {
	enqueuePerSec, runPerSec float64
	runs                     int64 // handler calls (n when nothing ran twice)
	enqueue, run             pgCost
	rowsLeft                 int           // rows left in the table after the run (river keeps completed jobs)
	handlersDone             time.Duration // from the nodes' start to the last handler call
}

func throughput(ctx context.Context, e *env, system, storeKind string, n, nodes, conc int) (throughputResult, error) {
	var r throughputResult
	b, err := newBackend(ctx, e, system, storeKind)
	if err != nil {
		return r, err
	}
	defer b.close()
	keys := make([]string, n)
	for i := range keys {
		keys[i] = strconv.Itoa(i)
	}
	pg := storeKind == "postgres"
	c0, err := cost(ctx, b, pg)
	if err != nil {
		return r, err
	}
	t0 := time.Now()
	if err := b.insert(ctx, keys, time.Now()); err != nil {
		return r, fmt.Errorf("insert: %w", err)
	}
	r.enqueuePerSec = float64(n) / time.Since(t0).Seconds()
	c1, err := cost(ctx, b, pg)
	if err != nil {
		return r, err
	}
	var runs atomic.Int64
	h := func(ctx context.Context, key string) result { runs.Add(1); return result{} }
	t1 := time.Now()
	var ns []node
	for range nodes {
		nd, err := b.startNode(ctx, nodeOpts{concurrency: conc}, h)
		if err != nil {
			return r, err
		}
		ns = append(ns, nd)
	}
	err = waitFor(ctx, 10*time.Minute, func() (bool, error) {
		if runs.Load() < int64(n) {
			return false, nil
		}
		if r.handlersDone == 0 {
			r.handlersDone = time.Since(t1)
		}
		p, err := b.pending(ctx)
		return p == 0, err
	})
	r.runPerSec = float64(n) / time.Since(t1).Seconds()
	for _, nd := range ns {
		nd.stop()
	}
	if err != nil {
		return r, err
	}
	r.runs = runs.Load()
	c2, err := cost(ctx, b, pg)
	if err != nil {
		return r, err
	}
	r.enqueue, r.run = c1.sub(c0), c2.sub(c1)
	r.rowsLeft, err = b.rows(ctx)
	return r, err
}

func cost(ctx context.Context, b backend, pg bool) (pgCost, error) {
	if !pg {
		return pgCost{}, nil
	}
	time.Sleep(1200 * time.Millisecond) // backends flush their table counters at most once a second
	return readCost(ctx, b.raw())
}

// ---- latency ----

type latencyMode string

const (
	modeNow    latencyMode = "enqueued now"   // from the insert's commit to the handler's start
	modeDue    latencyMode = "due in 1 s"     // from the due time to the handler's start
	modeKick   latencyMode = "now, same node" // work: Runner.Kick after the insert (the app does)
	latencyGap             = 20 * time.Millisecond
)

func latency(ctx context.Context, e *env, system, storeKind string, mode latencyMode, count int) ([]time.Duration, error) {
	b, err := newBackend(ctx, e, system, storeKind)
	if err != nil {
		return nil, err
	}
	defer b.close()
	tr := newTracker()
	nd, err := b.startNode(ctx, nodeOpts{concurrency: 4}, func(ctx context.Context, key string) result {
		tr.begin(key)
		return result{}
	})
	if err != nil {
		return nil, err
	}
	time.Sleep(2 * time.Second) // leader election, first fetches
	from := make([]time.Time, count)
	for i := range count {
		key := "l" + strconv.Itoa(i)
		due := time.Now()
		if mode == modeDue {
			due = due.Add(time.Second)
		}
		if err := b.insertOne(ctx, key, due); err != nil {
			return nil, err
		}
		from[i] = due
		if mode != modeDue {
			from[i] = time.Now()
		}
		if mode == modeKick {
			nd.kick()
		}
		time.Sleep(latencyGap)
	}
	err = waitFor(ctx, 2*time.Minute, func() (bool, error) { return tr.total.Load() >= int64(count), nil })
	if err != nil {
		return nil, err
	}
	out := make([]time.Duration, count)
	for i := range count {
		rs := tr.runs("l" + strconv.Itoa(i))
		out[i] = max(rs[0].Sub(from[i]), 0)
	}
	return out, nil
}

// ---- behaviour: recurring work, uniqueness, retries, rescue ----

type recurringResult struct {
	runs, maxConcurrent int
	gapP50              time.Duration // between successive starts
}

// recurring runs one recurring job of interval 1 s for window on 3 nodes whose handler takes
// 1.5 s (longer than the interval): work's unit reschedules itself, river uses a periodic job.
func recurring(ctx context.Context, e *env, system, storeKind string, window time.Duration) (recurringResult, error) {
	var r recurringResult
	b, err := newBackend(ctx, e, system, storeKind)
	if err != nil {
		return r, err
	}
	defer b.close()
	tr := newTracker()
	h := func(ctx context.Context, key string) result {
		tr.begin(key)
		defer tr.end(key)
		time.Sleep(1500 * time.Millisecond)
		if system == "work" {
			return result{again: time.Second} // the unit says when it runs next
		}
		return result{} // River's periodic enqueuer makes the next job
	}
	o := nodeOpts{concurrency: 4}
	if system == "river" {
		o.periodic = time.Second
	} else if err := b.insert(ctx, []string{"periodic"}, time.Now()); err != nil {
		return r, err
	}
	for range 3 {
		if _, err := b.startNode(ctx, o, h); err != nil {
			return r, err
		}
	}
	time.Sleep(window)
	rs := tr.runs("periodic")
	r.runs = len(rs)
	tr.mu.Lock()
	r.maxConcurrent = tr.maxPer
	tr.mu.Unlock()
	var gaps []time.Duration
	for i := 1; i < len(rs); i++ {
		gaps = append(gaps, rs[i].Sub(rs[i-1]))
	}
	r.gapP50 = pct(gaps, 50)
	return r, nil
}

type uniqueResult struct {
	rowsAfterDuplicates int  // rows after 300 concurrent inserts of one key
	runsAfterRerun      int  // runs after a second request arrived while the first run was running
	maxConcurrent       int  // most runs of one key at once
	rerunErr            bool // the second request was refused with an error
}

func uniqueness(ctx context.Context, e *env, system, storeKind string) (uniqueResult, error) {
	var r uniqueResult
	b, err := newBackend(ctx, e, system, storeKind)
	if err != nil {
		return r, err
	}
	defer b.close()
	var wg sync.WaitGroup
	errs := make(chan error, 300)
	for g := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				if err := b.insertOne(ctx, "dup", time.Now().Add(time.Hour)); err != nil {
					errs <- fmt.Errorf("goroutine %d: %w", g, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		return r, err
	}
	if r.rowsAfterDuplicates, err = b.rows(ctx); err != nil {
		return r, err
	}
	// A request to run again while running (new data arrived for a stream being polled).
	tr := newTracker()
	first := make(chan struct{}, 1)
	if _, err := b.startNode(ctx, nodeOpts{concurrency: 4}, func(ctx context.Context, key string) result {
		if key != "rerun" {
			return result{again: time.Hour}
		}
		tr.begin(key)
		defer tr.end(key)
		select {
		case first <- struct{}{}:
		default:
		}
		time.Sleep(time.Second)
		return result{}
	}); err != nil {
		return r, err
	}
	if err := b.insertOne(ctx, "rerun", time.Now()); err != nil {
		return r, err
	}
	select {
	case <-first:
	case <-time.After(30 * time.Second):
		return r, errors.New("the first run did not start within 30 s")
	}
	time.Sleep(300 * time.Millisecond)
	if err := b.insertOne(ctx, "rerun", time.Now()); err != nil {
		r.rerunErr = true
	}
	time.Sleep(8 * time.Second)
	r.runsAfterRerun = len(tr.runs("rerun"))
	tr.mu.Lock()
	r.maxConcurrent = tr.maxPer
	tr.mu.Unlock()
	return r, nil
}

type retryResult struct {
	failDelay, snoozeDelay time.Duration // from the end of the failed or throttled run to the next start
}

// retries: key "flaky" fails once; key "throttled" is told to come back in 2 s once.
func retries(ctx context.Context, e *env, system, storeKind string) (retryResult, error) {
	var r retryResult
	b, err := newBackend(ctx, e, system, storeKind)
	if err != nil {
		return r, err
	}
	defer b.close()
	tr := newTracker()
	if _, err := b.startNode(ctx, nodeOpts{concurrency: 4}, func(ctx context.Context, key string) result {
		n := tr.begin(key)
		defer tr.end(key)
		switch {
		case n > 1:
			return result{}
		case key == "flaky":
			return result{err: errors.New("vendor answered 500")}
		default:
			return result{retryAfter: 2 * time.Second}
		}
	}); err != nil {
		return r, err
	}
	if err := b.insert(ctx, []string{"flaky", "throttled"}, time.Now()); err != nil {
		return r, err
	}
	err = waitFor(ctx, 3*time.Minute, func() (bool, error) {
		return len(tr.runs("flaky")) >= 2 && len(tr.runs("throttled")) >= 2, nil
	})
	if err != nil {
		return r, err
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	r.failDelay = tr.starts["flaky"][1].Sub(tr.ends["flaky"][0])
	r.snoozeDelay = tr.starts["throttled"][1].Sub(tr.ends["throttled"][0])
	return r, nil
}

type rescueResult struct {
	rescue      time.Duration // from kill -9 of the node running the job to the job starting elsewhere
	longRuns    int           // runs of a job that needs 3 lease periods + 5 s on a live node
	longMaxConc int
	longDone    bool // it ran to its end once
}

// rescue kills a child process mid-job and times how long the job takes to run elsewhere, with a
// lease of lease (work LeaseFor; river RescueStuckJobsAfter, JobTimeout 4/5 of it). Then a job
// longer than the lease runs on a live node.
func rescue(ctx context.Context, e *env, system, storeKind string, lease time.Duration) (rescueResult, error) {
	var r rescueResult
	b, err := newBackend(ctx, e, system, storeKind)
	if err != nil {
		return r, err
	}
	defer b.close()
	if err := b.insert(ctx, []string{"victim"}, time.Now()); err != nil {
		return r, err
	}
	dsn := e.dsnOf(b)
	cmd := exec.CommandContext(ctx, os.Args[0], "-child", "-system", system, "-store", storeKind, "-dsn", dsn, "-lease", lease.String())
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return r, err
	}
	if err := cmd.Start(); err != nil {
		return r, err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "started\n" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return r, fmt.Errorf("child: %q %v", line, err)
	}
	time.Sleep(200 * time.Millisecond)
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	killed := time.Now()
	tr := newTracker()
	long := 3*lease + 5*time.Second
	var done atomic.Bool
	if _, err := b.startNode(ctx, nodeOpts{concurrency: 4, lease: lease}, func(ctx context.Context, key string) result {
		tr.begin(key)
		defer tr.end(key)
		if key == "long" {
			select {
			case <-time.After(long):
				done.Store(true)
			case <-ctx.Done():
				return result{err: ctx.Err()}
			}
		}
		return result{}
	}); err != nil {
		return r, err
	}
	if err := waitFor(ctx, 3*time.Minute, func() (bool, error) { return len(tr.runs("victim")) > 0, nil }); err != nil {
		return r, fmt.Errorf("the killed node's job did not run elsewhere: %w", err)
	}
	r.rescue = tr.runs("victim")[0].Sub(killed)
	if err := b.insert(ctx, []string{"long"}, time.Now()); err != nil {
		return r, err
	}
	_ = waitFor(ctx, long+20*time.Second, func() (bool, error) { return done.Load(), nil })
	r.longRuns = len(tr.runs("long"))
	r.longDone = done.Load()
	tr.mu.Lock()
	r.longMaxConc = tr.maxPer
	tr.mu.Unlock()
	return r, nil
}

// child runs one node whose handler never returns, says "started" when it runs, and waits to be killed.
func child(system, storeKind, dsn string, lease time.Duration) error {
	ctx := context.Background()
	var b backend
	var err error
	if system == "work" {
		b, err = newWork(ctx, storeKind, dsn)
	} else {
		b, err = newRiver(ctx, storeKind, dsn)
	}
	if err != nil {
		return err
	}
	_, err = b.startNode(ctx, nodeOpts{concurrency: 4, lease: lease}, func(ctx context.Context, key string) result {
		fmt.Println("started")
		<-ctx.Done()
		return result{}
	})
	if err != nil {
		return err
	}
	for {
		time.Sleep(time.Hour) // until killed
	}
}

func pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := (len(s)*p + 99) / 100
	return s[max(min(i, len(s))-1, 0)]
}
