package ingest_test

import (
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/connection"
)

// TestPushLifecycle (issue 13, defect 6): the webhooks a Box connection registers are removed at
// Box when it is deauthorized, made again when it resumes, and made again when Box dropped them.
// Before, they were never renewed nor removed.
func TestPushLifecycle(t *testing.T) {
	e := newEnv(t, nil, true)
	e.opts.PublicURL = "https://telltale.example"
	e.start()
	c := e.connect("Box hooks", "", nil)
	e.settle(300)
	if got := e.get(c.ID); got.Status != string(connection.Monitoring) {
		t.Fatalf("setup: status %q (%q)", got.Status, got.ErrorReason)
	}
	registered := e.emu.Webhooks()
	if registered == 0 {
		t.Fatal("indexing registered no webhooks")
	}

	// Box drops them (their folders deleted, deliveries failing): the daily check makes them again.
	e.emu.DropWebhooks()
	e.clock.Advance(25 * time.Hour)
	e.settle(300)
	if n := e.emu.Webhooks(); n != registered {
		t.Errorf("after Box dropped them and a day passed: %d webhooks, want %d", n, registered)
	}

	// Deauthorized: nothing stays registered at Box.
	if _, err := e.conns.Deauthorize(ctx, c.ID, "admin"); err != nil {
		t.Fatal(err)
	}
	e.settle(300) // collection stops, as the lifecycle's Reconcile does, then it is Deauthorized
	if _, err := e.conns.Apply(ctx, c.ID, connection.ActionDeauthorized, "system", "stopped"); err != nil {
		t.Fatal(err)
	}
	e.settle(300)
	if got := e.get(c.ID); got.Status != string(connection.Deauthorized) {
		t.Fatalf("after deauthorize: status %q", got.Status)
	}
	if n := e.emu.Webhooks(); n != 0 {
		t.Errorf("%d webhooks left at Box after deauthorize", n)
	}

	// Resumed: the drives are indexed already, so only the push keeper makes them again.
	if _, err := e.conns.Resume(ctx, c.ID, "admin", connection.Resume{}); err != nil {
		t.Fatal(err)
	}
	e.settle(300)
	e.clock.Advance(2 * time.Minute)
	e.settle(300)
	if n := e.emu.Webhooks(); n != registered {
		t.Errorf("after resume: %d webhooks, want %d", n, registered)
	}
}

// TestPushCheckedAfterRestart: a node that starts checks push subscriptions within minutes, not at
// the next daily round: while it was down the vendor may have dropped some (Box drops a webhook
// whose deliveries keep failing). Found running the demo: after a restart no webhook was re-made
// for a day.
func TestPushCheckedAfterRestart(t *testing.T) {
	e := newEnv(t, nil, true)
	e.opts.PublicURL = "https://telltale.example"
	e.start()
	e.connect("Box hooks", "", nil)
	e.settle(300)
	e.clock.Advance(2 * time.Minute)
	e.settle(300)
	registered := e.emu.Webhooks()
	if registered == 0 {
		t.Fatal("no webhooks registered")
	}
	e.emu.DropWebhooks() // while the node is down
	e.start()            // the node starts again
	e.settle(50)
	e.clock.Advance(2 * time.Minute)
	e.settle(50)
	if n := e.emu.Webhooks(); n != registered {
		t.Errorf("%d webhooks a few minutes after the restart, want %d", n, registered)
	}
}
