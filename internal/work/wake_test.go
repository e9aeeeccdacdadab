package work

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/store"
	"github.com/telltale-dev/telltale/internal/store/postgres"
	"github.com/telltale-dev/telltale/internal/testutil/pgtest"
)

// switchWaker is a PostgreSQL store's Waker whose sending can be turned off, so that the test can
// show what the runners do without the NOTIFY.
type switchWaker struct {
	*postgres.Store
	off atomic.Bool
}

func (w *switchWaker) NotifyWork(ctx context.Context, payload string) error {
	if w.off.Load() {
		return nil
	}
	return w.Store.NotifyWork(ctx, payload)
}

// TestWakePostgres: two runners on one PostgreSQL polling every 30 s share one unit; the unit is in
// the share of one of them (the holder). The other schedules it to run now and calls Wake, as a
// node does for a push notification that reached it: the holder runs it within a fraction of a
// second through LISTEN/NOTIFY, whether the unit was idle or running at the time (then it runs
// again right after); a Kick there (no unit named) wakes the holder too. Without the NOTIFY it does
// not run within 2 s. After PostgreSQL restarts,
// the listener reconnects and the wake-ups work again.
func TestWakePostgres(t *testing.T) {
	dsn := pgtest.DSN(t)
	ctx := context.Background()
	const (
		lease = 8 * time.Second // overdue units go to any node after a quarter of it: longer than the test waits
		poll  = 30 * time.Second
		fast  = time.Second // what "at once" must mean here, against a 30 s poll
	)
	seed, err := postgres.Open(ctx, dsn, postgres.Options{MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer seed.Close()
	ensure(t, seed, "stream", "s1", time.Now().Add(time.Hour))

	type run struct {
		node       string
		start, end time.Time
	}
	var mu sync.Mutex
	var runs []run
	block := make(chan struct{}) // closed: handlers return at once
	var blocking atomic.Bool
	handler := func(node string) Handler {
		return func(ctx context.Context, w store.Work) (time.Time, error) {
			r := run{node: node, start: time.Now()}
			if blocking.Load() {
				select {
				case <-block:
				case <-ctx.Done():
				}
			}
			r.end = time.Now()
			mu.Lock()
			runs = append(runs, r)
			mu.Unlock()
			return time.Now().Add(time.Hour).UTC(), nil
		}
	}
	type node struct {
		r     *Runner
		waker *switchWaker
	}
	start := func(name string) *node {
		st, err := postgres.Open(ctx, dsn, postgres.Options{MaxConns: 4})
		if err != nil {
			t.Fatal(err)
		}
		wk := &switchWaker{Store: st}
		r := NewRunner(Options{Store: st, Owner: name, Concurrency: 4, LeaseFor: lease, PollInterval: poll, Waker: wk})
		r.Handle("stream", handler(name))
		if err := r.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			sctx, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			r.Stop(sctx)
			st.Close()
		})
		return &node{r, wk}
	}
	a, b := start("node-a"), start("node-b")
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, na := a.r.Share("stream", 1)
		_, nb := b.r.Share("stream", 1)
		if na == 2 && nb == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the runners do not see each other: %d and %d nodes", na, nb)
		}
		time.Sleep(50 * time.Millisecond)
	}
	holder, other := a, b
	if s, _ := a.r.Share("stream", 1); s == 0 {
		holder, other = b, a
	}
	t.Logf("the unit is in %s's share; %s receives the wake-ups", holder.r.Owner(), other.r.Owner())
	time.Sleep(500 * time.Millisecond) // both listeners are up (they start with the runners)

	runsSince := func(at time.Time) []run {
		mu.Lock()
		defer mu.Unlock()
		var out []run
		for _, r := range runs {
			if !r.start.Before(at) {
				out = append(out, r)
			}
		}
		return out
	}
	// wake schedules the unit now on the other node and wakes; it returns how long until a run
	// began (0: none within wait).
	wake := func(wait time.Duration) (time.Duration, string) {
		at := time.Now()
		if _, err := seed.ScheduleWork(ctx, store.Work{Kind: "stream", Key: "s1", NextRunAt: time.Now().UTC()}); err != nil {
			t.Logf("scheduling: %v", err) // only just after PostgreSQL restarted
			time.Sleep(wait)
			return 0, ""
		}
		other.r.Wake(ctx, "stream", "s1")
		for time.Since(at) < wait {
			if rs := runsSince(at); len(rs) > 0 {
				return rs[0].start.Sub(at), rs[0].node
			}
			time.Sleep(5 * time.Millisecond)
		}
		return 0, ""
	}

	// Without the NOTIFY: only the holder's poll (30 s) or the overdue rule (2 s + the other's
	// poll) would run it.
	other.waker.off.Store(true)
	if d, by := wake(2 * time.Second); d != 0 {
		t.Fatalf("without the NOTIFY the unit ran %s after the wake-up, on %s: the test cannot tell the NOTIFY's effect", d, by)
	}
	t.Logf("without the NOTIFY: not run within 2 s (poll %s)", poll)
	// The unit is due now; let it run (wake the holder directly) before going on.
	holder.r.Kick()
	time.Sleep(300 * time.Millisecond)
	other.waker.off.Store(false)

	// Idle unit, woken from the other node: the holder runs it at once.
	for i := range 3 {
		d, by := wake(5 * time.Second)
		if d == 0 || d > fast {
			t.Fatalf("wake-up %d: the unit ran after %s (0: not within 5 s), want <= %s", i, d, fast)
		}
		if by != holder.r.Owner() {
			t.Errorf("wake-up %d: ran on %s, want the holder %s", i, by, holder.r.Owner())
		}
		t.Logf("with the NOTIFY, idle unit: ran on %s %s after the wake-up", by, d.Round(time.Millisecond))
	}

	// Kick (no unit named) on the other node after it scheduled work: the holder looks at once too.
	for i := range 2 {
		at := time.Now()
		if _, err := seed.ScheduleWork(ctx, store.Work{Kind: "stream", Key: "s1", NextRunAt: time.Now().UTC()}); err != nil {
			t.Fatal(err)
		}
		other.r.Kick()
		for len(runsSince(at)) == 0 {
			if time.Since(at) > 5*time.Second {
				t.Fatalf("kick %d: the unit did not run within 5 s", i)
			}
			time.Sleep(5 * time.Millisecond)
		}
		if rs := runsSince(at); rs[0].start.Sub(at) > fast {
			t.Fatalf("kick %d: the unit ran %s after the kick, want <= %s", i, rs[0].start.Sub(at), fast)
		} else {
			t.Logf("with the NOTIFY, a Kick on the other node: ran on %s %s after it", rs[0].node, rs[0].start.Sub(at).Round(time.Millisecond))
		}
		time.Sleep(100 * time.Millisecond) // one broadcast at a time
	}

	// Running unit, woken: it runs again right after the run in progress.
	blocking.Store(true)
	at := time.Now()
	if _, err := seed.ScheduleWork(ctx, store.Work{Kind: "stream", Key: "s1", NextRunAt: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	holder.r.Kick()
	for len(runsSince(at)) == 0 {
		if w, err := seed.GetWork(ctx, "stream", "s1"); err == nil && w.LeaseOwner != "" {
			break
		}
		if time.Since(at) > 5*time.Second {
			t.Fatal("the holder did not start the unit")
		}
		time.Sleep(5 * time.Millisecond)
	}
	blocking.Store(false)
	wakeAt := time.Now()
	if _, err := seed.ScheduleWork(ctx, store.Work{Kind: "stream", Key: "s1", NextRunAt: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	other.r.Wake(ctx, "stream", "s1")
	time.Sleep(100 * time.Millisecond) // the wake-up arrives while the unit runs
	close(block)
	ended := time.Now()
	for len(runsSince(wakeAt)) == 0 {
		if time.Since(ended) > 5*time.Second {
			t.Fatal("woken while running: not run again within 5 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	again := runsSince(wakeAt)[0]
	if d := again.start.Sub(ended); d > fast {
		t.Fatalf("woken while running: ran again %s after the run ended, want <= %s", d, fast)
	} else {
		t.Logf("with the NOTIFY, running unit: ran again on %s %s after the run ended", again.node, d.Round(time.Millisecond))
	}

	// PostgreSQL restarts: the listeners reconnect (within their backoff), and wake-ups work again.
	pgtest.Restart(t, time.Second)
	var d time.Duration
	for i := range 20 {
		if d, _ = wake(fast); d != 0 {
			t.Logf("after PostgreSQL restarted: wake-up %d ran the unit %s after it", i, d.Round(time.Millisecond))
			break
		}
	}
	if d == 0 {
		t.Fatal("after PostgreSQL restarted, no wake-up ran the unit within 20 tries")
	}
	time.Sleep(200 * time.Millisecond)
	if d, by := wake(5 * time.Second); d == 0 || d > fast {
		t.Fatalf("after PostgreSQL restarted: the unit ran %s after a wake-up (0: not within 5 s), want <= %s", d, fast)
	} else {
		t.Logf("after PostgreSQL restarted, the next wake-up: ran on %s %s after it", by, d.Round(time.Millisecond))
	}
}
