package work

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/clock"
	"github.com/telltale-dev/telltale/internal/store"
	"github.com/telltale-dev/telltale/internal/store/postgres"
	"github.com/telltale-dev/telltale/internal/store/sqlite"
	"github.com/telltale-dev/telltale/internal/testutil/pgtest"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func openSQLite(t *testing.T) store.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "t.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func ensure(t *testing.T, st store.Store, kind, key string, at time.Time) {
	t.Helper()
	if _, err := st.EnsureWork(context.Background(), store.Work{Kind: kind, Key: key, NextRunAt: at}); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestDueAndNotDue(t *testing.T) {
	ctx := context.Background()
	st, clk := openSQLite(t), clock.NewFake(t0)
	r := NewRunner(Options{Store: st, Clock: clk, Owner: "a"})
	var ran []string
	var mu sync.Mutex
	r.Handle("k", func(_ context.Context, w store.Work) (time.Time, error) {
		mu.Lock()
		ran = append(ran, w.Key)
		mu.Unlock()
		return time.Time{}, nil
	})
	ensure(t, st, "k", "now", t0)
	ensure(t, st, "k", "later", t0.Add(time.Hour))
	ensure(t, st, "other-kind", "x", t0)
	if n, err := r.RunDue(ctx); n != 1 || err != nil {
		t.Fatalf("RunDue = %d, %v", n, err)
	}
	if _, err := st.GetWork(ctx, "k", "now"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("zero next did not delete the unit: %v", err)
	}
	if n, _ := r.RunDue(ctx); n != 0 {
		t.Fatalf("ran %d units not due", n)
	}
	clk.Advance(time.Hour)
	if n, _ := r.RunDue(ctx); n != 1 {
		t.Fatalf("RunDue = %d", n)
	}
	if fmt.Sprint(ran) != "[now later]" {
		t.Fatalf("ran %v", ran)
	}
	if _, err := st.GetWork(ctx, "other-kind", "x"); err != nil {
		t.Fatalf("unregistered kind touched: %v", err)
	}
}

func TestReschedule(t *testing.T) {
	ctx := context.Background()
	st, clk := openSQLite(t), clock.NewFake(t0)
	r := NewRunner(Options{Store: st, Clock: clk, Owner: "a"})
	var runs atomic.Int32
	r.Handle("k", func(_ context.Context, w store.Work) (time.Time, error) {
		runs.Add(1)
		return clk.Now().Add(5 * time.Minute), nil
	})
	ensure(t, st, "k", "1", t0)
	if n, _ := r.RunDue(ctx); n != 1 {
		t.Fatal(n)
	}
	w, err := st.GetWork(ctx, "k", "1")
	if err != nil || !w.NextRunAt.Equal(t0.Add(5*time.Minute)) || w.LeaseOwner != "" || w.Attempts != 0 {
		t.Fatalf("unit %+v %v", w, err)
	}
	if n, _ := r.RunDue(ctx); n != 0 {
		t.Fatal("ran before its time")
	}
	clk.Advance(5 * time.Minute)
	if n, _ := r.RunDue(ctx); n != 1 || runs.Load() != 2 {
		t.Fatal(n, runs.Load())
	}
}

func TestErrorBackoffAndPanic(t *testing.T) {
	ctx := context.Background()
	st, clk := openSQLite(t), clock.NewFake(t0)
	r := NewRunner(Options{Store: st, Clock: clk, Owner: "a", Backoff: func(n int) time.Duration { return time.Duration(n) * time.Minute }})
	var mode atomic.Value
	mode.Store("fail")
	r.Handle("k", func(_ context.Context, w store.Work) (time.Time, error) {
		switch mode.Load() {
		case "fail":
			return time.Time{}, errors.New("vendor said no")
		case "panic":
			panic("boom")
		}
		return clk.Now().Add(time.Hour), nil
	})
	ensure(t, st, "k", "1", t0)
	check := func(attempts int, next time.Time, errSub string) {
		t.Helper()
		w, err := st.GetWork(ctx, "k", "1")
		if err != nil || w.Attempts != attempts || !w.NextRunAt.Equal(next) || !strings.Contains(w.LastError, errSub) {
			t.Fatalf("unit %+v %v; want attempts %d next %v error ~%q", w, err, attempts, next, errSub)
		}
	}
	if n, _ := r.RunDue(ctx); n != 1 {
		t.Fatal(n)
	}
	check(1, t0.Add(time.Minute), "vendor said no")
	clk.Advance(time.Minute)
	mode.Store("panic")
	if n, _ := r.RunDue(ctx); n != 1 {
		t.Fatal(n)
	}
	check(2, clk.Now().Add(2*time.Minute), "panicked: boom")
	clk.Advance(2 * time.Minute)
	mode.Store("ok")
	if n, _ := r.RunDue(ctx); n != 1 {
		t.Fatal(n)
	}
	check(0, clk.Now().Add(time.Hour), "")
}

func TestDefaultBackoff(t *testing.T) {
	for n, want := range map[int]time.Duration{1: 5 * time.Second, 2: 10 * time.Second, 4: 40 * time.Second, 20: time.Hour, 1000: time.Hour} {
		for range 20 {
			got := DefaultBackoff(n)
			if got > want || got < want*4/5 {
				t.Fatalf("DefaultBackoff(%d) = %v, want ~%v", n, got, want)
			}
		}
	}
}

func TestBoundedConcurrencyAndKick(t *testing.T) {
	st := openSQLite(t)
	r := NewRunner(Options{Store: st, Owner: "a", Concurrency: 3, PollInterval: time.Hour})
	var inFlight, maxInFlight, done atomic.Int32
	r.Handle("k", func(ctx context.Context, w store.Work) (time.Time, error) {
		n := inFlight.Add(1)
		for {
			m := maxInFlight.Load()
			if n <= m || maxInFlight.CompareAndSwap(m, n) {
				break
			}
		}
		time.Sleep(10 * time.Millisecond) // simulated work
		inFlight.Add(-1)
		done.Add(1)
		return time.Time{}, nil
	})
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Stop(context.Background()) })
	// With an hour's poll interval, units added after the first poll run only because of Kick.
	now := time.Now().UTC()
	for i := range 30 {
		ensure(t, st, "k", fmt.Sprint(i), now)
	}
	r.Kick()
	waitFor(t, "all units", 10*time.Second, func() bool { return done.Load() == 30 })
	if m := maxInFlight.Load(); m > 3 || m < 2 {
		t.Fatalf("max in flight %d, want 3", m)
	}
	waitFor(t, "units deleted", 5*time.Second, func() bool {
		ws, err := st.ListWork(context.Background(), 0)
		return err == nil && len(ws) == 0
	})
}

func TestStopWaitsThenCancels(t *testing.T) {
	ctx := context.Background()
	st := openSQLite(t)
	r := NewRunner(Options{Store: st, Owner: "a", PollInterval: 10 * time.Millisecond, Backoff: func(int) time.Duration { return time.Hour }})
	started := make(chan string, 2)
	release := make(chan struct{})
	var cancelled atomic.Bool
	r.Handle("k", func(ctx context.Context, w store.Work) (time.Time, error) {
		started <- w.Key
		if w.Key == "polite" {
			<-release
			return time.Time{}, nil
		}
		<-ctx.Done()
		cancelled.Store(true)
		return time.Time{}, ctx.Err()
	})
	ensure(t, st, "k", "polite", time.Now().UTC())
	ensure(t, st, "k", "stubborn", time.Now().UTC())
	runCtx, cancelRun := context.WithCancel(ctx)
	if err := r.Start(runCtx); err != nil {
		t.Fatal(err)
	}
	<-started
	<-started
	cancelRun() // as the app does: its context ends first, then it calls Stop
	stopCtx, cancel := context.WithCancel(ctx)
	stopped := make(chan error, 1)
	go func() { stopped <- r.Stop(stopCtx) }()
	close(release)
	waitFor(t, "polite unit finished", 5*time.Second, func() bool {
		_, err := st.GetWork(ctx, "k", "polite")
		return errors.Is(err, store.ErrNotFound)
	})
	select {
	case err := <-stopped:
		t.Fatalf("Stop returned %v while a handler still ran", err)
	default:
	}
	if cancelled.Load() {
		t.Fatal("handler cancelled before Stop's context ended")
	}
	cancel()
	select {
	case err := <-stopped:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Stop = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Stop did not return after its context ended")
	}
	if !cancelled.Load() {
		t.Fatal("handler not cancelled")
	}
	w, err := st.GetWork(ctx, "k", "stubborn")
	if err != nil || w.Attempts != 1 || w.LeaseOwner != "" {
		t.Fatalf("cancelled unit %+v %v", w, err)
	}
	if err := r.Start(ctx); err == nil {
		t.Fatal("restart after Stop accepted")
	}
}

// logCounter is a slog handler that counts records whose message contains one of its substrings.
type logCounter struct {
	subs []string
	mu   *sync.Mutex
	msgs *[]string
}

func newLogCounter(subs ...string) (*slog.Logger, func() []string) {
	c := logCounter{subs: subs, mu: &sync.Mutex{}, msgs: new([]string)}
	return slog.New(c), func() []string {
		c.mu.Lock()
		defer c.mu.Unlock()
		return append([]string(nil), *c.msgs...)
	}
}

func (c logCounter) Enabled(context.Context, slog.Level) bool { return true }
func (c logCounter) WithAttrs([]slog.Attr) slog.Handler       { return c }
func (c logCounter) WithGroup(string) slog.Handler            { return c }
func (c logCounter) Handle(_ context.Context, r slog.Record) error {
	for _, s := range c.subs {
		if strings.Contains(r.Message, s) {
			c.mu.Lock()
			*c.msgs = append(*c.msgs, r.Message)
			c.mu.Unlock()
		}
	}
	return nil
}

func TestRetryAfterIsNotAFailure(t *testing.T) {
	ctx := context.Background()
	st, clk := openSQLite(t), clock.NewFake(t0)
	r := NewRunner(Options{Store: st, Clock: clk, Owner: "a", Backoff: func(n int) time.Duration { return time.Minute }})
	var runs atomic.Int32
	r.Handle("k", func(_ context.Context, w store.Work) (time.Time, error) {
		if runs.Add(1) == 1 {
			return time.Time{}, errors.New("first run fails")
		}
		return time.Time{}, fmt.Errorf("vendor busy: %w", RetryAfter(10*time.Minute))
	})
	ensure(t, st, "k", "1", t0)
	if n, err := r.RunDue(ctx); n != 1 || err != nil {
		t.Fatal(n, err)
	}
	clk.Advance(time.Minute)
	if n, err := r.RunDue(ctx); n != 1 || err != nil {
		t.Fatal(n, err)
	}
	w, err := st.GetWork(ctx, "k", "1")
	if err != nil || w.Attempts != 0 || w.LastError != "" || !w.NextRunAt.Equal(clk.Now().Add(10*time.Minute)) || w.LeaseOwner != "" {
		t.Fatalf("after RetryAfter: %+v %v", w, err)
	}
}

// TestLostLeaseResultRefused: a handler outlives its lease (the clock jumps), another owner claims
// the unit, runs it and records its result; the first owner's result is refused with ErrConflict,
// logged, and the runner moves on.
func TestLostLeaseResultRefused(t *testing.T) {
	ctx := context.Background()
	st, clk := openSQLite(t), clock.NewFake(t0)
	logA, lost := newLogCounter("lease lost")
	a := NewRunner(Options{Store: st, Clock: clk, Owner: "a", Log: logA, LeaseFor: time.Minute})
	b := NewRunner(Options{Store: st, Clock: clk, Owner: "b", LeaseFor: time.Minute})
	entered, release := make(chan struct{}), make(chan struct{})
	a.Handle("k", func(context.Context, store.Work) (time.Time, error) {
		close(entered)
		<-release
		return time.Time{}, nil // would delete the unit, if the result were accepted
	})
	b.Handle("k", func(context.Context, store.Work) (time.Time, error) { return clk.Now().Add(time.Hour), nil })
	ensure(t, st, "k", "1", t0)
	type result struct {
		n   int
		err error
	}
	resA := make(chan result, 1)
	go func() { n, err := a.RunDue(ctx); resA <- result{n, err} }()
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("handler of a never started")
	}
	if n, _ := b.RunDue(ctx); n != 0 {
		t.Fatal("b claimed a unit under a live lease")
	}
	clk.Advance(2 * time.Minute) // a's lease has expired (a renews only every 20s of real time)
	if n, err := b.RunDue(ctx); n != 1 || err != nil {
		t.Fatalf("b.RunDue = %d, %v", n, err)
	}
	close(release)
	select {
	case res := <-resA:
		if res.n != 1 || res.err != nil {
			t.Fatalf("a.RunDue = %d, %v", res.n, res.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a.RunDue did not return")
	}
	w, err := st.GetWork(ctx, "k", "1")
	if err != nil || !w.NextRunAt.Equal(clk.Now().Add(time.Hour)) || w.LeaseOwner != "" {
		t.Fatalf("unit %+v %v: b's result should stand", w, err)
	}
	if got := lost(); len(got) != 1 {
		t.Fatalf("a logged %q, want one lost-lease warning", got)
	}
	// a moves on: it runs the unit again when due.
	clk.Advance(time.Hour)
	release = make(chan struct{})
	close(release)
	entered = make(chan struct{})
	if n, err := a.RunDue(ctx); n != 1 || err != nil {
		t.Fatalf("a.RunDue after the conflict = %d, %v", n, err)
	}
}

// TestLeaseRenewedThenLost: while a handler runs its lease is renewed from the injected clock; when
// another owner takes the unit, the next renewal fails and the handler's context is cancelled.
func TestLeaseRenewedThenLost(t *testing.T) {
	ctx := context.Background()
	st, clk := openSQLite(t), clock.NewFake(t0)
	const lease = 60 * time.Millisecond // renewed every 20ms of real time
	r := NewRunner(Options{Store: st, Clock: clk, Owner: "a", LeaseFor: lease})
	entered := make(chan struct{})
	var cause atomic.Value
	r.Handle("k", func(ctx context.Context, w store.Work) (time.Time, error) {
		close(entered)
		<-ctx.Done()
		cause.Store(context.Cause(ctx))
		return time.Time{}, ctx.Err()
	})
	ensure(t, st, "k", "1", t0)
	done := make(chan struct{})
	go func() { r.RunDue(ctx); close(done) }()
	<-entered
	clk.Advance(time.Hour)
	waitFor(t, "lease renewed from the clock", 10*time.Second, func() bool {
		w, err := st.GetWork(ctx, "k", "1")
		return err == nil && w.LeaseOwner == "a" && w.LeaseUntil.Equal(t0.Add(time.Hour+lease))
	})
	// Another node, whose clock says the lease has expired, takes the unit.
	got, err := st.ClaimWork(ctx, store.ClaimRequest{Owner: "b", Now: t0.Add(10 * time.Hour), LeaseFor: time.Hour, Limit: 1})
	if err != nil || len(got) != 1 {
		t.Fatalf("b's claim: %v %v", got, err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("handler not cancelled after its lease was lost")
	}
	if c, _ := cause.Load().(error); !errors.Is(c, errLeaseLost) {
		t.Fatalf("cancel cause %v", c)
	}
	if w, err := st.GetWork(ctx, "k", "1"); err != nil || w.LeaseOwner != "b" || w.Attempts != 0 {
		t.Fatalf("unit %+v %v: b still holds it, a's failure not recorded", w, err)
	}
}

// twoNodes runs two runners ("nodes"), each on its own store connection to one database, over 200
// units with short leases. Each unit runs three times (it reschedules itself twice); every 25th
// unit's first run outlives its first lease, so only renewal keeps the other node off it. No unit
// may ever run on both nodes at once, and every unit must complete.
func twoNodes(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()
	const units, runsEach, lease = 200, 3, 2 * time.Second
	var mu sync.Mutex
	running := map[string]string{} // key -> node running it now
	runs := map[string]int{}
	perNode := map[string]int{}
	var overlaps []string
	handler := func(node string) Handler {
		return func(ctx context.Context, w store.Work) (time.Time, error) {
			mu.Lock()
			if other, ok := running[w.Key]; ok {
				overlaps = append(overlaps, fmt.Sprintf("%s on %s and %s", w.Key, other, node))
			}
			running[w.Key] = node
			n := runs[w.Key]
			mu.Unlock()
			var i int
			fmt.Sscanf(w.Key, "unit-%d", &i)
			work := time.Duration(i%3) * time.Millisecond // simulated work
			if i%25 == 0 && n == 0 {
				work = lease * 3 / 2
			}
			select {
			case <-time.After(work):
			case <-ctx.Done():
			}
			mu.Lock()
			delete(running, w.Key)
			runs[w.Key]++
			perNode[node]++
			n = runs[w.Key]
			mu.Unlock()
			if n < runsEach {
				return time.Now().UTC(), nil
			}
			return time.Time{}, nil
		}
	}
	log, lost := newLogCounter("lease lost", "lease expired")
	var runners []*Runner
	var stores []store.Store
	for _, node := range []string{"node-a", "node-b"} {
		st := open(t)
		stores = append(stores, st)
		r := NewRunner(Options{Store: st, Owner: node, Log: log, Concurrency: 6, LeaseFor: lease, PollInterval: 10 * time.Millisecond})
		r.Handle("k", handler(node))
		runners = append(runners, r)
	}
	now := time.Now().UTC()
	for i := range units {
		ensure(t, stores[i%2], "k", fmt.Sprintf("unit-%03d", i), now)
	}
	for _, r := range runners {
		if err := r.Start(ctx); err != nil {
			t.Fatal(err)
		}
	}
	stopAll := func() {
		for _, r := range runners {
			if err := r.Stop(ctx); err != nil {
				t.Error(err)
			}
		}
	}
	defer stopAll()
	waitFor(t, "every unit to complete", 2*time.Minute, func() bool {
		ws, err := stores[0].ListWork(ctx, 0)
		return err == nil && len(ws) == 0
	})
	stopAll()
	mu.Lock()
	defer mu.Unlock()
	if len(overlaps) > 0 {
		t.Fatalf("units ran on both nodes at once: %v", overlaps)
	}
	extra := 0
	for i := range units {
		k := fmt.Sprintf("unit-%03d", i)
		if runs[k] < runsEach {
			t.Errorf("%s ran %d times, want %d", k, runs[k], runsEach)
		}
		extra += runs[k] - runsEach
	}
	// A run repeats only after a lost lease (a node paused longer than the lease), which the
	// runner logs.
	if l := len(lost()); extra > l {
		t.Errorf("%d runs repeated but only %d lost leases logged", extra, l)
	}
	if perNode["node-a"] == 0 || perNode["node-b"] == 0 {
		t.Errorf("work did not spread across the nodes: %v", perNode)
	}
	t.Logf("runs per node %v; repeated runs %d; lost leases logged %d", perNode, extra, len(lost()))
}

// TestTwoNodesNeverOverlap is the scale-out guarantee: two nodes sharing one PostgreSQL.
func TestTwoNodesNeverOverlap(t *testing.T) {
	dsn := pgtest.DSN(t)
	twoNodes(t, func(t *testing.T) store.Store {
		st, err := postgres.Open(context.Background(), dsn, postgres.Options{MaxConns: 20})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	})
}

// unreachable is a store whose lease renewals fail the way an unreachable database's do (not a
// conflict: nobody said the lease is gone), once cut is set.
type unreachable struct {
	store.Store
	cut atomic.Bool
}

func (u *unreachable) ExtendLease(ctx context.Context, id int64, owner string, until time.Time) error {
	if u.cut.Load() {
		return errors.New("dial tcp 127.0.0.1:5432: connect: connection refused")
	}
	return u.Store.ExtendLease(ctx, id, owner, until)
}

// TestUnreachableStoreStopsBeforeLeaseEnds: a node that cannot renew its lease (the database
// unreachable) cancels the handler before the lease ends, when another node may take the unit,
// not at the first renewal after it (up to a third of a lease late, beside the other node).
func TestUnreachableStoreStopsBeforeLeaseEnds(t *testing.T) {
	ctx := context.Background()
	st := &unreachable{Store: openSQLite(t)}
	const lease = 600 * time.Millisecond // renewed every 200ms
	r := NewRunner(Options{Store: st, Clock: clock.Real{}, Owner: "a", LeaseFor: lease})
	entered := make(chan time.Time, 1)
	stopped := make(chan time.Time, 1)
	r.Handle("k", func(ctx context.Context, w store.Work) (time.Time, error) {
		st.cut.Store(true) // the network goes as the handler starts
		entered <- w.LeaseUntil
		<-ctx.Done()
		stopped <- time.Now()
		return time.Time{}, ctx.Err()
	})
	ensure(t, st, "k", "1", time.Now().Add(-time.Second))
	go r.RunDue(ctx)
	until := <-entered
	select {
	case at := <-stopped:
		if !at.Before(until) {
			t.Fatalf("the handler stopped %v after its lease ended", at.Sub(until))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the handler was never stopped")
	}
}
