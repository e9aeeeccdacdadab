package app

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/config"
	"github.com/telltale-dev/telltale/internal/store"
)

func TestPostgresNeedsASharedKey(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Database = "postgres://127.0.0.1:1/none"
	_, err := New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if !errors.Is(err, errSharedKey) {
		t.Fatalf("got %v, want the shared-key error before any connection attempt", err)
	}
}

// TestDataDirIsOneNodes: a second node on the same SQLite data dir is refused with a message
// that says why, and a node starting on a data dir releases the leases a killed process left, so
// collection resumes at once instead of a minute later.
func TestDataDirIsOneNodes(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.SecretKey = "u2t8m6Q0n3vGfQh5cV1y7iXjZk9pL4bR8sD2wE6aT0o="
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	a, err := New(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(ctx, cfg, log); err == nil || !strings.Contains(err.Error(), "another Telltale process") {
		t.Errorf("second node on the same data dir: %v", err)
	}
	now := time.Now()
	if _, err := a.Store.EnsureWork(ctx, store.Work{Kind: "test", Key: "held", NextRunAt: now}); err != nil {
		t.Fatal(err)
	}
	if got, err := a.Store.ClaimWork(ctx, store.ClaimRequest{Owner: "killed-node", Now: now, LeaseFor: time.Hour, Kinds: []string{"test"}, Limit: 1}); err != nil || len(got) != 1 {
		t.Fatalf("claim: %v %v", got, err)
	}
	a.Close() // as if killed: the lease is still held in the database
	b, err := New(ctx, cfg, log)
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	defer b.Close()
	if w, err := b.Store.GetWork(ctx, "test", "held"); err != nil || w.LeaseOwner != "" {
		t.Errorf("after restart the killed node's lease is still held: %+v %v", w, err)
	}
}
