package sqlite_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/eventgen"
	"github.com/telltale-dev/telltale/internal/search"
	"github.com/telltale-dev/telltale/internal/store"
	"github.com/telltale-dev/telltale/internal/store/sqlite"
)

// TestCursorPagingMillion pages through 1,000,000 events, newest first, while writers keep
// inserting events with both newer and older observed times: every event stored before paging
// began is returned exactly once, and no event is returned twice (R5.2). -short uses 100,000.
func TestCursorPagingMillion(t *testing.T) {
	n := 1_000_000
	if testing.Short() {
		n = 100_000
	}
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "p.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	conn, err := st.CreateConnection(ctx, store.Connection{Name: "c", Service: "box", ServiceType: "cloud", Status: "monitoring", ScopeKind: "all"})
	if err != nil {
		t.Fatal(err)
	}
	g := eventgen.New(eventgen.Options{Seed: 5, People: 500, Days: 90, Connections: []eventgen.Conn{{ID: conn.ID, Name: "c", Observer: event.ObserverBox}}})
	insert := func(k int) {
		evs := g.Batch(k)
		ptrs := make([]*event.FileEvent, len(evs))
		for i := range evs {
			ptrs[i] = &evs[i]
		}
		if _, err := st.InsertEvents(ctx, ptrs, false); err != nil {
			t.Error(err)
		}
	}
	start := time.Now()
	for done := 0; done < n; done += 5000 {
		insert(5000)
	}
	t.Logf("loaded %d events in %s", n, time.Since(start).Round(time.Millisecond))
	var mu sync.Mutex // eventgen is not safe for concurrent use
	stop := make(chan struct{})
	var writers sync.WaitGroup
	writers.Add(1)
	go func() {
		defer writers.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			mu.Lock()
			insert(200)
			mu.Unlock()
			time.Sleep(5 * time.Millisecond)
		}
	}()
	seen := make(map[int64]bool, n+100000)
	var after *store.SearchCursor
	pages := 0
	start = time.Now()
	for {
		page, err := st.SearchEvents(ctx, search.Query{}, store.SearchOptions{Sort: store.SortObserved, Desc: true, Limit: 10000, After: after})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for i := range page {
			id := page[i].Event.ID
			if seen[id] {
				t.Fatalf("event %d returned twice (page %d)", id, pages)
			}
			seen[id] = true
		}
		if len(page) < 10000 {
			break
		}
		c := store.CursorOf(&page[len(page)-1], store.SortObserved)
		after = &c
	}
	close(stop)
	writers.Wait()
	t.Logf("paged %d events in %d pages in %s", len(seen), pages, time.Since(start).Round(time.Millisecond))
	for id := int64(1); id <= int64(n); id++ {
		if !seen[id] {
			t.Fatalf("event %d, stored before paging began, was never returned", id)
		}
	}
}
