package app

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/config"
	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/store"
	"github.com/telltale-dev/telltale/internal/store/storetest"
)

// TestEventRetention: the lifecycle unit removes the events older than --event-retention and
// keeps the newer ones; with it at 0 (the default) it removes nothing.
func TestEventRetention(t *testing.T) {
	ctx := context.Background()
	for _, keep := range []time.Duration{0, 40 * 24 * time.Hour} {
		cfg := config.Default()
		cfg.DataDir = t.TempDir()
		cfg.SecretKey = "u2t8m6Q0n3vGfQh5cV1y7iXjZk9pL4bR8sD2wE6aT0o="
		cfg.EventRetention = keep
		a, err := New(ctx, cfg, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		c, err := a.Store.CreateConnection(ctx, store.Connection{Name: "c", Service: "box", ServiceType: "cloud", Status: "deauthorized"})
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		evs := []*event.FileEvent{storetest.Event(c.ID, "old", now.AddDate(0, 0, -100)), storetest.Event(c.ID, "new", now.AddDate(0, 0, -1))}
		if _, err := a.Store.InsertEvents(ctx, evs, false); err != nil {
			t.Fatal(err)
		}
		if _, err := a.lifecycle(ctx, store.Work{}); err != nil {
			t.Fatal(err)
		}
		want := int64(2)
		if keep > 0 {
			want = 1
			if _, err := a.Store.GetEvent(ctx, evs[1].Event.ID); err != nil {
				t.Errorf("retention %s: the newer event: %v", keep, err)
			}
		}
		if n, err := a.Store.CountEvents(ctx, store.EventFilter{}); err != nil || n != want {
			t.Errorf("retention %s: %d events left (%v), want %d", keep, n, err, want)
		}
		a.Close()
	}
}
