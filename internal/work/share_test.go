package work

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/store"
	"github.com/telltale-dev/telltale/internal/store/postgres"
	"github.com/telltale-dev/telltale/internal/store/sqlite"
	"github.com/telltale-dev/telltale/internal/testutil/pgtest"
)

// TestFairSharePostgres: three runners (nodes) on one PostgreSQL, each on its own connection pool,
// share long-running units of three kinds fairly; a node killed (its connections gone) loses its
// units to the others, and a node joining gets its share, each within about one lease.
func TestFairSharePostgres(t *testing.T) {
	dsn := pgtest.DSN(t)
	fairShare(t, func(t *testing.T) store.Store {
		st, err := postgres.Open(context.Background(), dsn, postgres.Options{MaxConns: 8})
		if err != nil {
			t.Fatal(err)
		}
		return st
	})
}

// TestFairShareSQLite: the same on one SQLite file (one node in production, but nothing in the
// runner depends on the driver).
func TestFairShareSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.db")
	fairShare(t, func(t *testing.T) store.Store {
		st, err := sqlite.Open(context.Background(), path, sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return st
	})
}

func fairShare(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()
	const lease = 3 * time.Second
	// Long-running units: a handler holds its unit until its context ends (lease lost, given back,
	// runner stopped), like a stream that is kept open.
	kinds := map[string]int{"crawl": 30, "stream": 12, "single": 1}
	var kindNames []string
	for k := range kinds {
		kindNames = append(kindNames, k)
	}
	sort.Strings(kindNames)

	var mu sync.Mutex
	holding := map[string]map[string]string{} // kind -> key -> node running it
	overlaps := []string{}
	dead := map[string]bool{} // killed nodes: their handlers no longer count
	handler := func(node string) Handler {
		return func(ctx context.Context, w store.Work) (time.Time, error) {
			mu.Lock()
			if dead[node] {
				mu.Unlock()
				return time.Time{}, ctx.Err()
			}
			if other, ok := holding[w.Kind][w.Key]; ok {
				overlaps = append(overlaps, fmt.Sprintf("%s/%s on %s and %s", w.Kind, w.Key, other, node))
			}
			if holding[w.Kind] == nil {
				holding[w.Kind] = map[string]string{}
			}
			holding[w.Kind][w.Key] = node
			mu.Unlock()
			<-ctx.Done()
			mu.Lock()
			if holding[w.Kind][w.Key] == node {
				delete(holding[w.Kind], w.Key)
			}
			mu.Unlock()
			return time.Now().UTC(), nil
		}
	}
	seed := open(t)
	t.Cleanup(func() { seed.Close() })
	now := time.Now().UTC()
	for k, n := range kinds {
		for i := range n {
			ensure(t, seed, k, fmt.Sprintf("%s-%02d", k, i), now)
		}
	}

	type node struct {
		name string
		st   store.Store
		r    *Runner
	}
	start := func(name string) *node {
		st := open(t)
		r := NewRunner(Options{Store: st, Owner: name, Concurrency: 100, LeaseFor: lease, PollInterval: 50 * time.Millisecond})
		for _, k := range kindNames {
			r.Handle(k, handler(name))
		}
		if err := r.Start(ctx); err != nil {
			t.Fatal(err)
		}
		n := &node{name, st, r}
		t.Cleanup(func() {
			sctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
			defer cancel()
			n.r.Stop(sctx)
			n.st.Close()
		})
		return n
	}
	// fair reports whether every live node holds, of every kind, within 1 of total/len(live) units,
	// and every unit is held; else a description of the shares.
	fair := func(live []string) (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		ok := true
		var b strings.Builder
		for _, k := range kindNames {
			per := map[string]int{}
			for _, n := range holding[k] {
				per[n]++
			}
			if len(holding[k]) != kinds[k] {
				ok = false
			}
			want := float64(kinds[k]) / float64(len(live))
			for _, n := range live {
				if d := float64(per[n]) - want; d > 1 || d < -1 {
					ok = false
				}
			}
			fmt.Fprintf(&b, "%s (%d units, %.1f each): %v held %d; ", k, kinds[k], want, per, len(holding[k]))
		}
		return ok, b.String()
	}
	waitFair := func(what string, live []string, within time.Duration) time.Duration {
		t.Helper()
		begin := time.Now()
		var shares string
		for time.Since(begin) < within {
			var ok bool
			if ok, shares = fair(live); ok {
				// Stable, not passing through: still fair a quarter lease later.
				time.Sleep(lease / 4)
				if ok, shares = fair(live); ok {
					took := time.Since(begin) - lease/4
					t.Logf("%s: fair after %v: %s", what, took.Round(10*time.Millisecond), shares)
					return took
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("%s: not fair within %v: %s", what, within, shares)
		return 0
	}

	a, b, c := start("node-a"), start("node-b"), start("node-c")
	// The first node started alone takes everything; the others join and the shares even out.
	waitFair("three nodes started", []string{a.name, b.name, c.name}, 3*lease)

	// node-b is killed: its connections are gone, it can neither renew nor release. Its leases
	// run out within one lease of its last renewal, by when its heartbeat is stale too.
	// In a killed process nothing runs: its handlers stop counting now (here they run on until
	// the runner sees its lease lost).
	mu.Lock()
	dead[b.name] = true
	for _, held := range holding {
		for k, n := range held {
			if n == b.name {
				delete(held, k)
			}
		}
	}
	mu.Unlock()
	b.st.Close()
	took := waitFair("node-b killed", []string{a.name, c.name}, 2*lease)
	if took > lease+lease/2 {
		t.Errorf("node-b's units moved %v after it was killed, want about one lease (%v) after its last renewal", took, lease)
	}

	// node-d joins: the others give back their surplus at their next renewal.
	d := start("node-d")
	took = waitFair("node-d joined", []string{a.name, c.name, d.name}, 2*lease)
	if took > lease {
		t.Errorf("node-d got its share %v after joining, want within one lease (%v)", took, lease)
	}

	// node-c stops cleanly: it leaves the nodes at once and its units are released.
	sctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	c.r.Stop(sctx)
	cancel()
	took = waitFair("node-c stopped", []string{a.name, d.name}, 2*lease)
	if took > lease {
		t.Errorf("node-c's units moved %v after it stopped, want within one lease (%v)", took, lease)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(overlaps) > 0 {
		t.Errorf("units ran on two nodes at once: %v", overlaps)
	}
}

// TestShareNeverStrands: a node that beat once and died still counts as live for a while; the
// live runner claims its own share at once and the dead node's share once it is overdue by a
// quarter lease, rather than waiting for the dead node's heartbeat to age out.
func TestShareNeverStrands(t *testing.T) {
	ctx := context.Background()
	st := openSQLite(t)
	const lease = 4 * time.Second
	var mu sync.Mutex
	running := 0
	r := NewRunner(Options{Store: st, Owner: "live", Concurrency: 100, LeaseFor: lease, PollInterval: 20 * time.Millisecond})
	r.Handle("k", func(ctx context.Context, w store.Work) (time.Time, error) {
		mu.Lock()
		running++
		mu.Unlock()
		<-ctx.Done()
		return time.Now().UTC(), nil
	})
	now := time.Now().UTC()
	if _, err := st.BeatNode(ctx, "ghost", now, time.Hour); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		ensure(t, st, "k", fmt.Sprint(i), now)
	}
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		r.Stop(sctx)
	}()
	count := func() int { mu.Lock(); defer mu.Unlock(); return running }
	if share, nodes := r.Share("k", 10); share != 5 || nodes != 2 {
		t.Fatalf("share %d of 10 among %d nodes, want 5 among 2 (the ghost counts)", share, nodes)
	}
	waitFor(t, "the live node's share", lease/8, func() bool { return count() == 5 })
	time.Sleep(lease / 8)
	if n := count(); n != 5 {
		t.Fatalf("%d units running before the ghost's share was overdue, want 5", n)
	}
	// Overdue by a quarter lease (1 s after they came due): the ghost's share runs here.
	waitFor(t, "the ghost's share, overdue", lease/2, func() bool { return count() == 10 })
}
