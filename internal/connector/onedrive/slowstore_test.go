package onedrive

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/connector/connectortest"
	"github.com/telltale-dev/telltale/internal/store"
)

// TestNotificationsAnsweredWhileStoreIsSlow (issue 15): Graph drops a change notification that is
// not answered within 3 seconds; Telltale answers each at once and wakes the drive's stream after
// (queue, then work), so a store busy for longer (here: a write transaction held 8 s) does not
// delay the answers, and the activity is still collected once the store is free.
func TestNotificationsAnsweredWhileStoreIsSlow(t *testing.T) {
	e := connectortest.NewEnv(t, connectortest.Harness{Connector: New(), NewVendor: newMSVendor}, "all", nil)
	v := e.V.(*msVendor)
	var mu sync.Mutex
	var answers []time.Duration // time to answer each notification while the store was held
	var holding bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/api/v1/webhooks/"), "/")
		if len(parts) != 2 {
			http.NotFound(w, r)
			return
		}
		start := time.Now()
		reply, err := e.Ingest.Webhook(r.Context(), parts[0], parts[1], r.Header, r.URL.Query(), r.Body)
		mu.Lock()
		if holding && r.URL.Query().Get("validationToken") == "" {
			answers = append(answers, time.Since(start))
		}
		mu.Unlock()
		switch {
		case err != nil:
			http.Error(w, "refused", http.StatusUnauthorized)
		case reply != nil:
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Write(reply.Body)
		default:
			w.WriteHeader(http.StatusAccepted)
		}
	}))
	t.Cleanup(srv.Close)
	e.SetPublicURL(srv.URL)
	e.Settle(400)
	e.Clock.Advance(2 * time.Minute) // the push round after start makes the subscriptions
	e.Settle(400)
	before := v.emu.Stats().PushDeliveries

	// Hold a write transaction for 8 s while the tenant acts: every notification arrives then.
	held := make(chan struct{})
	released := make(chan error, 1)
	go func() {
		released <- e.Store.InTx(context.Background(), func(q store.Queries) error {
			if err := q.SaveCursor(context.Background(), e.Conn.ID, "slow-store-test", "x"); err != nil {
				return err
			}
			mu.Lock()
			holding = true
			mu.Unlock()
			close(held)
			time.Sleep(8 * time.Second)
			mu.Lock()
			holding = false
			mu.Unlock()
			return nil
		})
	}()
	<-held
	truths := e.V.Act(20)
	if err := <-released; err != nil {
		t.Fatal(err)
	}
	e.Ingest.WaitWebhooks()
	mu.Lock()
	got := append([]time.Duration(nil), answers...)
	mu.Unlock()
	if v.emu.Stats().PushDeliveries == before || len(got) == 0 {
		t.Fatalf("no notification arrived while the store was held (deliveries %d, answered %d)", v.emu.Stats().PushDeliveries-before, len(got))
	}
	for _, d := range got {
		if d > 3*time.Second {
			t.Errorf("a notification was answered after %v while the store was busy: Graph drops it after 3 s", d)
		}
	}
	// The activity is collected: the woken streams and the polls after.
	var want []connectortest.Truth
	for _, tr := range truths {
		if tr.File {
			want = append(want, tr)
		}
	}
	for range 10 {
		e.Poll()
	}
	ids := e.VendorIDs()
	for _, tr := range want {
		if ids[tr.VendorID] != 1 {
			t.Errorf("%s (%s) stored %d times, want once", tr.VendorID, tr.Kind, ids[tr.VendorID])
		}
	}
	t.Logf("%d notifications answered while the store was held 8 s, slowest %v", len(got), slowest(got))
}

func slowest(ds []time.Duration) time.Duration {
	var m time.Duration
	for _, d := range ds {
		m = max(m, d)
	}
	return m
}
