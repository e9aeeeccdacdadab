package ingest_test

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/connection"
	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/connector/box"
	"github.com/telltale-dev/telltale/internal/httpx"
	"github.com/telltale-dev/telltale/internal/ingest"
)

// TestThrottlingSteersTheScheduler (issue 13: errors that mean "retry after" reach the scheduler as
// such): a stream the vendor throttles for an hour runs again in an hour, counts no failed attempt,
// and never moves the connection to Error however often it happens. Before, each throttle was a
// failure: backoff, an attempt counted, and Error after five.
func TestThrottlingSteersTheScheduler(t *testing.T) {
	// While on, the stream answers as a vendor that throttles for an hour: a 429 with a
	// Retry-After longer than the HTTP client waits.
	var on atomic.Bool
	var calls atomic.Int64
	th := streamWrap{Connector: box.New(), changes: func(ctx context.Context, inner connector.Session, sp connector.StreamSpec, cursor string) (connector.ChangesPage, error) {
		if on.Load() {
			calls.Add(1)
			return connector.ChangesPage{}, fmt.Errorf("box: reading admin_logs_streaming: %w",
				&httpx.StatusError{Code: http.StatusTooManyRequests, Status: "429 Too Many Requests", RetryAfter: time.Hour, Method: "GET", URL: "http://box.test/2.0/events"})
		}
		return inner.Changes(ctx, sp, cursor)
	}}
	e := newEnv(t, th, true)
	c := e.connect("Box throttled", "", nil)
	e.settle(200)
	if got := e.get(c.ID); got.Status != string(connection.Monitoring) {
		t.Fatalf("setup: status %q (%q)", got.Status, got.ErrorReason)
	}
	on.Store(true)
	for round := 1; round <= ingest.DefaultFailuresBeforeError+2; round++ {
		before := calls.Load()
		e.clock.Advance(time.Hour + time.Minute)
		for i := 0; calls.Load() == before; i++ {
			if i > 100 {
				t.Fatalf("round %d: the stream did not run", round)
			}
			e.step()
		}
		w, err := e.store.GetWork(ctx, ingest.WorkStream, fmt.Sprint(c.ID, ":admin_logs_streaming"))
		if err != nil {
			t.Fatal(err)
		}
		if w.Attempts != 0 || w.LastError != "" {
			t.Errorf("round %d: a throttle counted as a failure: attempts %d, last error %q", round, w.Attempts, w.LastError)
		}
		if d := w.NextRunAt.Sub(e.clock.Now()); d < 59*time.Minute || d > 61*time.Minute {
			t.Errorf("round %d: runs again in %s, want the vendor's hour", round, d)
		}
		if got := e.get(c.ID); got.Status != string(connection.Monitoring) {
			t.Fatalf("round %d: status %q (%q), want monitoring while throttled", round, got.Status, got.ErrorReason)
		}
	}
}
