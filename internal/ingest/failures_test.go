package ingest_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/connection"
	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/connector/box"
	"github.com/telltale-dev/telltale/internal/ingest"
)

// TestGuardRefusedURLShowsError (issue 12, defect 7): a stored connection whose api_url the SSRF
// guard refuses moves to Error with the field, the rule and the fix as its reason, instead of
// sitting in Searching forever; once the node allows it (restarted with
// --allow-loopback-vendors) and work succeeds, it recovers by itself.
func TestGuardRefusedURLShowsError(t *testing.T) {
	e := newEnv(t, nil, false)
	c := e.connect("Box emulator", "", nil)
	private := e.connect("Box private", "http://10.0.0.5", nil)
	e.settle(20)
	got := e.get(c.ID)
	if got.Status != string(connection.Error) {
		t.Fatalf("loopback api_url refused by the guard: status %q (%q), want error", got.Status, got.ErrorReason)
	}
	for _, want := range []string{"settings.api_url", "loopback", "--allow-loopback-vendors"} {
		if !strings.Contains(got.ErrorReason, want) {
			t.Errorf("reason %q does not say %q", got.ErrorReason, want)
		}
	}
	p := e.get(private.ID)
	if p.Status != string(connection.Error) || !strings.Contains(p.ErrorReason, "settings.api_url") || !strings.Contains(p.ErrorReason, "10.0.0.5") ||
		!strings.Contains(p.ErrorReason, "private network") {
		t.Errorf("private api_url: status %q reason %q", p.Status, p.ErrorReason)
	}
	hs, err := e.store.ListStatusChanges(ctx, c.ID)
	if err != nil || len(hs) < 2 || hs[len(hs)-1].To != string(connection.Error) || hs[len(hs)-1].Reason != got.ErrorReason {
		t.Errorf("history does not record the error with its reason: %+v %v", hs, err)
	}

	// The operator restarts the node allowing loopback vendors: work succeeds, Error clears.
	e.opts.AllowLoopback = true
	e.start()
	e.settle(200)
	got = e.get(c.ID)
	if got.Status != string(connection.Monitoring) || got.ErrorReason != "" {
		t.Errorf("after the cause is gone: status %q reason %q, want monitoring without a reason", got.Status, got.ErrorReason)
	}
}

// TestRepeatedFailuresShowError (issue 12, defect 7): a connection whose stream keeps failing for
// one transient cause shows Error with that cause after FailuresBeforeError runs in a row (not
// before), stays in Error while it keeps failing although discovery succeeds meanwhile, and
// returns to Monitoring when the stream works again.
func TestRepeatedFailuresShowError(t *testing.T) {
	// The stream fails as if the vendor could not be reached while failing is set.
	var failing atomic.Bool
	var fails atomic.Int64
	f := streamWrap{Connector: box.New(), changes: func(ctx context.Context, inner connector.Session, sp connector.StreamSpec, cursor string) (connector.ChangesPage, error) {
		if failing.Load() {
			fails.Add(1)
			refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
			return connector.ChangesPage{}, fmt.Errorf("box: reading admin_logs_streaming: GET http://box.test/2.0/events: %w", refused)
		}
		return inner.Changes(ctx, sp, cursor)
	}}
	e := newEnv(t, f, true)
	c := e.connect("Box flaky", "", nil)
	e.settle(200)
	if got := e.get(c.ID); got.Status != string(connection.Monitoring) {
		t.Fatalf("setup: status %q (%q)", got.Status, got.ErrorReason)
	}
	failing.Store(true)
	e.clock.Advance(6 * time.Minute) // past the poll interval
	for i := 0; fails.Load() < ingest.DefaultFailuresBeforeError-1; i++ {
		if i > 100 {
			t.Fatalf("the stream ran %d times in 100 rounds", fails.Load())
		}
		e.step()
		if got := e.get(c.ID); got.Status != string(connection.Monitoring) {
			t.Fatalf("after %d failures: status %q (%q), want monitoring until %d", fails.Load(), got.Status, got.ErrorReason, ingest.DefaultFailuresBeforeError)
		}
	}
	for i := 0; fails.Load() < ingest.DefaultFailuresBeforeError; i++ {
		if i > 100 {
			t.Fatal("the stream stopped running")
		}
		e.step()
	}
	got := e.get(c.ID)
	if got.Status != string(connection.Error) || !strings.Contains(got.ErrorReason, "reading activity") ||
		!strings.Contains(got.ErrorReason, "connection refused") || !strings.Contains(got.ErrorReason, fmt.Sprint(ingest.DefaultFailuresBeforeError, " attempts in a row")) {
		t.Fatalf("after %d failures: status %q reason %q", fails.Load(), got.Status, got.ErrorReason)
	}
	// Discovery (every 5 minutes) succeeds while the stream still fails: the error stands.
	e.clock.Advance(6 * time.Minute)
	e.settle(50)
	if got := e.get(c.ID); got.Status != string(connection.Error) {
		t.Errorf("while the stream still fails: status %q, want error", got.Status)
	}
	// The vendor answers again: the next stream run clears the error.
	failing.Store(false)
	e.clock.Advance(2 * time.Hour)
	e.settle(200)
	if got := e.get(c.ID); got.Status != string(connection.Monitoring) || got.ErrorReason != "" {
		t.Errorf("after recovery: status %q reason %q", got.Status, got.ErrorReason)
	}
}

// TestBadCredentialsShowError: a 401 for the client secret is permanent: Error at once, with the
// vendor's reason saying what to fix.
func TestBadCredentialsShowError(t *testing.T) {
	e := newEnv(t, nil, true)
	c := e.connect("Box bad secret", "", map[string]string{"client_secret": "wrong-secret"})
	e.settle(3)
	got := e.get(c.ID)
	if got.Status != string(connection.Error) || !strings.Contains(got.ErrorReason, "client secret") {
		t.Errorf("status %q reason %q", got.Status, got.ErrorReason)
	}
}
