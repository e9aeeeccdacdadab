package app

import (
	"context"
	"log/slog"
	"sync"
	"testing"

	"github.com/telltale-dev/telltale/internal/config"
	"github.com/telltale-dev/telltale/internal/testutil/pgtest"
)

// TestNodesStartTogetherOnEmptyPostgres: three nodes starting at the same moment on an empty
// PostgreSQL all start; the migrations ran once (under their advisory lock), and what a first
// start creates - the first admin, the alert rule templates - exists once.
func TestNodesStartTogetherOnEmptyPostgres(t *testing.T) {
	dsn := pgtest.DSN(t)
	ctx := context.Background()
	const nodes = 3
	apps := make([]*App, nodes)
	errs := make([]error, nodes)
	var ready, wg sync.WaitGroup
	ready.Add(1)
	for i := range nodes {
		cfg := config.Default()
		cfg.DataDir = t.TempDir()
		cfg.Database = dsn
		cfg.SecretKey = "u2t8m6Q0n3vGfQh5cV1y7iXjZk9pL4bR8sD2wE6aT0o="
		cfg.BootstrapToken = "nodes-start-together-token-0123456789"
		wg.Add(1)
		go func() {
			defer wg.Done()
			ready.Wait()
			apps[i], errs[i] = New(ctx, cfg, slog.New(slog.DiscardHandler))
		}()
	}
	ready.Done()
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("node %d: %v", i, err)
		} else {
			defer apps[i].Close()
		}
	}
	if t.Failed() {
		return
	}
	st := apps[0].Store
	users, err := st.ListUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 1 {
		t.Errorf("%d users after three first starts, want the one admin: %+v", len(users), users)
	}
	rules, err := st.ListAlertRules(ctx)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]int{}
	for _, r := range rules {
		names[r.Name]++
	}
	for n, c := range names {
		if c != 1 {
			t.Errorf("alert rule template %q installed %d times", n, c)
		}
	}
	if len(rules) == 0 {
		t.Error("no alert rule templates installed")
	}
	t.Logf("three nodes started together: %d user, %d rules", len(users), len(rules))
}
