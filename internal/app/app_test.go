package app

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/telltale-dev/telltale/internal/config"
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
