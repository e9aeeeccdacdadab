package postgres_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/search"
	"github.com/telltale-dev/telltale/internal/store"
	"github.com/telltale-dev/telltale/internal/store/postgres"
	"github.com/telltale-dev/telltale/internal/testutil/pgtest"
)

// TestIncrementalReadMissesNothing: writers insert events in concurrent transactions that stay open
// a while after inserting; a reader that only ever asks for ids above the largest it has seen (what
// an incremental export's checkpoint does) must still see every event. Without ordered id
// visibility PostgreSQL would let a later id commit first and the reader would skip the earlier one.
func TestIncrementalReadMissesNothing(t *testing.T) {
	ctx := context.Background()
	st, err := postgres.Open(ctx, pgtest.DSN(t), postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c, err := st.CreateConnection(ctx, store.Connection{Name: "c", Service: "box", ServiceType: "cloud", Status: "monitoring", ScopeKind: "all"})
	if err != nil {
		t.Fatal(err)
	}
	const writers, perWriter = 6, 25
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				err := st.InTx(ctx, func(q store.Queries) error {
					e := &event.FileEvent{Timestamp: time.Now().UTC(), Event: event.Meta{Action: event.ActionModified, Observer: event.ObserverBox,
						ConnectionID: c.ID, VendorIDs: []string{fmt.Sprintf("w%d-%d", w, i)}}}
					if _, err := q.InsertEvents(ctx, []*event.FileEvent{e}, false); err != nil {
						return err
					}
					time.Sleep(time.Duration(rand.IntN(4)) * time.Millisecond) // the commit comes a while after the id
					return nil
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	seen := map[int64]bool{}
	var last int64
	read := func() {
		for {
			page, err := st.SearchEvents(ctx, search.Query{}, store.SearchOptions{Sort: store.SortID, After: &store.SearchCursor{ID: last}, Limit: 50})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range page {
				seen[e.Event.ID] = true
				last = e.Event.ID
			}
			if len(page) < 50 {
				return
			}
		}
	}
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		read()
	}
	read()
	all, err := st.SearchEvents(ctx, search.Query{}, store.SearchOptions{Sort: store.SortID, Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	missed := 0
	for _, e := range all {
		if !seen[e.Event.ID] {
			missed++
		}
	}
	if len(all) != writers*perWriter || missed > 0 {
		t.Errorf("%d events stored, the incremental reader missed %d", len(all), missed)
	}
}
