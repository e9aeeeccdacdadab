package work

import (
	"context"
	"errors"
	"fmt"
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

// TestTwoNodesNeverOverlap runs two runners on two connections to one PostgreSQL database with
// short leases: no unit ever runs on both at once, and every unit runs.
func TestTwoNodesNeverOverlap(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	const units = 200
	var mu sync.Mutex
	running := map[string]string{} // key -> owner
	ranCount := map[string]int{}
	var overlaps []string
	handler := func(owner string) Handler {
		return func(ctx context.Context, w store.Work) (time.Time, error) {
			mu.Lock()
			if o, ok := running[w.Key]; ok {
				overlaps = append(overlaps, fmt.Sprintf("%s on %s and %s", w.Key, o, owner))
			}
			running[w.Key] = owner
			mu.Unlock()
			time.Sleep(time.Duration(len(w.Key)%4) * time.Millisecond) // simulated work
			mu.Lock()
			delete(running, w.Key)
			ranCount[w.Key]++
			mu.Unlock()
			return time.Time{}, nil
		}
	}
	var runners []*Runner
	for _, owner := range []string{"node-a", "node-b"} {
		st, err := postgres.Open(ctx, dsn, postgres.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		r := NewRunner(Options{Store: st, Owner: owner, Concurrency: 8, LeaseFor: 300 * time.Millisecond, PollInterval: 5 * time.Millisecond})
		r.Handle("k", handler(owner))
		runners = append(runners, r)
		if owner == "node-a" {
			now := time.Now().UTC()
			for i := range units {
				ensure(t, st, "k", fmt.Sprintf("unit-%03d", i), now)
			}
		}
	}
	for _, r := range runners {
		if err := r.Start(ctx); err != nil {
			t.Fatal(err)
		}
	}
	defer func() {
		for _, r := range runners {
			r.Stop(ctx)
		}
	}()
	waitFor(t, "every unit to run", 60*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(ranCount) == units && len(running) == 0
	})
	for _, r := range runners {
		r.Stop(ctx)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(overlaps) > 0 {
		t.Fatalf("units ran on both nodes at once: %v", overlaps)
	}
	for k, n := range ranCount {
		if n != 1 {
			t.Errorf("%s ran %d times", k, n)
		}
	}
}
