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

// storeWithConnection opens a fresh PostgreSQL store (closed at the test's end) with one Box
// connection.
func storeWithConnection(t *testing.T) (*postgres.Store, store.Connection) {
	t.Helper()
	st, err := postgres.Open(context.Background(), pgtest.DSN(t), postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c, err := st.CreateConnection(context.Background(), store.Connection{Name: "c", Service: "box", ServiceType: "cloud", Status: "monitoring", ScopeKind: "all"})
	if err != nil {
		t.Fatal(err)
	}
	return st, c
}

// TestIncrementalReadMissesNothing: writers insert events in concurrent transactions that stay open
// a while after inserting, side by side (they commit out of id order); followers that only ever
// ask for ids above the largest they have seen (what the alert evaluator, forwarding and an
// incremental export's checkpoint do), one by ListEvents and one by SearchEvents in id order,
// must still see every event. Without the event horizon (migration 0045) a later id committed
// first would be read and the earlier one skipped.
func TestIncrementalReadMissesNothing(t *testing.T) {
	ctx := context.Background()
	st, c := storeWithConnection(t)
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
	seen, listed := map[int64]bool{}, map[int64]bool{}
	var last, lastListed int64
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
				break
			}
		}
		for {
			page, err := st.ListEvents(ctx, store.EventFilter{AfterID: lastListed, Limit: 50})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range page {
				listed[e.Event.ID] = true
				lastListed = e.Event.ID
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
	missed, missedListed := 0, 0
	for _, e := range all {
		if !seen[e.Event.ID] {
			missed++
		}
		if !listed[e.Event.ID] {
			missedListed++
		}
	}
	if len(all) != writers*perWriter || missed > 0 || missedListed > 0 {
		t.Errorf("%d events stored, the incremental reader by SearchEvents missed %d, by ListEvents %d", len(all), missed, missedListed)
	}
}

// TestEventWritersSideBySide: an event transaction that has drawn its ids and not committed does
// not hold up another writer (the event lock is shared: several nodes write events at once), and
// the followers' reads stop below its ids until it commits: the event horizon is below the open
// transaction's first id, ListEvents and a SearchEvents page in id order after a cursor return
// nothing above it although a later id is committed, and both return the two events in id order
// once it commits.
func TestEventWritersSideBySide(t *testing.T) {
	ctx := context.Background()
	st, c := storeWithConnection(t)
	ev := func(id string) *event.FileEvent {
		return &event.FileEvent{Timestamp: time.Now().UTC(), Event: event.Meta{Action: event.ActionModified, Observer: event.ObserverBox,
			ConnectionID: c.ID, VendorIDs: []string{id}}}
	}
	first := ev("first")
	drawn, release, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		done <- st.InTx(ctx, func(q store.Queries) error {
			if _, err := q.InsertEvents(ctx, []*event.FileEvent{first}, false); err != nil {
				close(drawn)
				return err
			}
			close(drawn)
			<-release
			return nil
		})
	}()
	<-drawn
	released := false
	defer func() {
		if !released {
			close(release)
		}
	}()
	if first.Event.ID == 0 {
		t.Fatalf("the open transaction stored nothing: %v", <-done)
	}
	// The second writer commits while the first is open: it must not wait for it.
	second := ev("second")
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if n, err := st.InsertEvents(wctx, []*event.FileEvent{second}, false); err != nil || n != 1 {
		t.Fatalf("a second writer beside an open event transaction: inserted %d, %v (it must not wait for the first)", n, err)
	}
	if second.Event.ID <= first.Event.ID {
		t.Fatalf("ids %d then %d: the second writer drew after the first", first.Event.ID, second.Event.ID)
	}
	h, err := st.EventHorizon(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if h >= first.Event.ID {
		t.Errorf("horizon %d with event %d uncommitted: a follower would pass it", h, first.Event.ID)
	}
	if got, err := st.ListEvents(ctx, store.EventFilter{}); err != nil || len(got) != 0 {
		t.Errorf("ListEvents with event %d uncommitted and %d committed: %d events (%v), want none above the horizon", first.Event.ID, second.Event.ID, len(got), err)
	}
	if got, err := st.SearchEvents(ctx, search.Query{}, store.SearchOptions{Sort: store.SortID, After: &store.SearchCursor{}}); err != nil || len(got) != 0 {
		t.Errorf("a page in id order with event %d uncommitted: %d events (%v), want none", first.Event.ID, len(got), err)
	}
	// A search that does not follow ids (newest first) sees the committed event as before.
	if got, err := st.SearchEvents(ctx, search.Query{}, store.SearchOptions{}); err != nil || len(got) != 1 || got[0].Event.ID != second.Event.ID {
		t.Errorf("a search by time with event %d committed: %d events (%v), want it", second.Event.ID, len(got), err)
	}
	close(release)
	released = true
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if h, err := st.EventHorizon(ctx); err != nil || h < second.Event.ID {
		t.Errorf("horizon %d (%v) once both committed, want >= %d", h, err, second.Event.ID)
	}
	for name, read := range map[string]func() ([]event.FileEvent, error){
		"ListEvents": func() ([]event.FileEvent, error) { return st.ListEvents(ctx, store.EventFilter{}) },
		"SearchEvents": func() ([]event.FileEvent, error) {
			return st.SearchEvents(ctx, search.Query{}, store.SearchOptions{Sort: store.SortID, After: &store.SearchCursor{}})
		},
	} {
		got, err := read()
		if err != nil || len(got) != 2 || got[0].Event.ID != first.Event.ID || got[1].Event.ID != second.Event.ID {
			t.Errorf("%s once both committed: %d events (%v), want %d and %d", name, len(got), err, first.Event.ID, second.Event.ID)
		}
	}
}
