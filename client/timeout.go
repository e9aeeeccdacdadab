package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// Default timeouts of a client made by New.
const (
	// DefaultTimeout bounds an ordinary call (JSON in, JSON out) from start to the end of its answer.
	DefaultTimeout = 5 * time.Minute
	// DefaultIdleTimeout bounds how long a streaming call (an export, a scope download, an import
	// upload) may wait for the network without a byte moving. It equals DefaultTimeout, the total
	// timeout that used to cut streams too: nothing that succeeded then fails now.
	DefaultIdleTimeout = 5 * time.Minute
)

// TimeoutError is the error (or the cause of the error) of a call cut by one of the client's
// timeouts. errors.As finds it.
type TimeoutError struct {
	Idle  bool          // the idle timeout of a streaming call: no bytes moved for Limit
	Limit time.Duration // the timeout that expired
	What  string        // what did not come: "from the server", "taken by the server", "complete answer"
}

func (e *TimeoutError) Error() string {
	if e.Idle {
		return fmt.Sprintf("no bytes %s for %s (idle timeout)", e.What, e.Limit)
	}
	return fmt.Sprintf("no %s within %s (timeout)", e.What, e.Limit)
}

// Timeout reports true, as net.Error does for timeouts.
func (e *TimeoutError) Timeout() bool { return true }

// WithTimeouts sets the total timeout of ordinary calls and the idle timeout of streaming ones
// (export, scope upload and download, import); 0 leaves that one off. Streaming calls have no
// total timeout: an export of millions of events takes as long as it takes, and fails only when
// the server stops sending (or, for an upload, stops taking bytes) for idle. An upload's wait for
// the answer, once every byte is sent, is bounded by total (the server has all it needs then).
func (c *Client) WithTimeouts(total, idle time.Duration) *Client {
	c.total, c.idle = total, idle
	return c
}

// withTotal bounds an ordinary call by the total timeout.
func (c *Client) withTotal(ctx context.Context) (context.Context, context.CancelFunc) {
	if c.total <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeoutCause(ctx, c.total, &TimeoutError{Limit: c.total, What: "complete answer"})
}

// timeoutCause returns the TimeoutError that ended ctx, or err.
func timeoutCause(ctx context.Context, err error) error {
	var te *TimeoutError
	if err != nil && errors.As(context.Cause(ctx), &te) {
		return te
	}
	return err
}

// watchdog cancels a streaming call that waits on the network longer than a limit at a stretch.
// The call says when it starts and stops waiting: a download waits inside the body's Read (and for
// the response headers), an upload waits while the transport sends what it read from the body.
// Time spent elsewhere (the caller writing what it read to a slow disk or pipe, or reading the
// upload from a slow source) is not the server's idleness and does not count.
type watchdog struct {
	mu      sync.Mutex
	limit   time.Duration
	idle    bool // limit is the idle timeout (else: the wait for the answer after an upload)
	what    string
	waiting bool
	since   time.Time
	timer   *time.Timer
	cancel  context.CancelCauseFunc
}

// newWatchdog returns a context for the call, cancelled with a *TimeoutError when the call waits
// longer than idle; with idle 0 nothing is watched. Call stop when the call is over.
func newWatchdog(ctx context.Context, idle time.Duration, what string) (context.Context, *watchdog) {
	ctx, cancel := context.WithCancelCause(ctx)
	w := &watchdog{limit: idle, idle: true, what: what, cancel: cancel}
	if idle > 0 {
		w.timer = time.AfterFunc(idle, w.fire)
		w.timer.Stop()
	}
	return ctx, w
}

func (w *watchdog) fire() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.waiting {
		return
	}
	if left := w.limit - time.Since(w.since); left > 0 {
		w.timer.Reset(left)
		return
	}
	w.cancel(&TimeoutError{Idle: w.idle, Limit: w.limit, What: w.what})
}

// wait starts a wait on the network.
func (w *watchdog) wait() {
	if w.timer == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.waiting && w.limit > 0 {
		w.waiting, w.since = true, time.Now()
		w.timer.Reset(w.limit)
	}
}

// done ends a wait: bytes moved, or the caller has the turn.
func (w *watchdog) done() {
	if w.timer == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.waiting = false
	w.timer.Stop()
}

// answerWait switches from the idle timeout to the wait for the answer to a complete upload.
func (w *watchdog) answerWait(total time.Duration) {
	if w.timer == nil {
		return
	}
	w.mu.Lock()
	w.limit, w.idle, w.what = total, false, "answer after the upload"
	w.waiting = false
	w.mu.Unlock()
	if total <= 0 {
		w.done()
		return
	}
	w.wait()
}

// back restores the idle timeout (the answer's body is streamed).
func (w *watchdog) back(idle time.Duration) {
	if w.timer == nil {
		return
	}
	w.mu.Lock()
	w.limit, w.idle, w.what = idle, true, "from the server"
	w.mu.Unlock()
}

func (w *watchdog) stop() {
	if w.timer != nil {
		w.timer.Stop()
	}
	w.cancel(context.Canceled)
}

// watchedUpload is a request body whose reads end a network wait and start the next: the transport
// reads a chunk, then waits on the network to send it.
type watchedUpload struct {
	r     io.Reader
	w     *watchdog
	total time.Duration
}

func (u *watchedUpload) Read(p []byte) (int, error) {
	u.w.done() // reading the source is not waiting on the server
	n, err := u.r.Read(p)
	if err == io.EOF {
		u.w.answerWait(u.total)
	} else {
		u.w.wait()
	}
	return n, err
}

// watchedBody is a response body that waits on the network only inside Read.
type watchedBody struct {
	body io.ReadCloser
	ctx  context.Context
	w    *watchdog
}

func (b *watchedBody) Read(p []byte) (int, error) {
	b.w.wait()
	n, err := b.body.Read(p)
	b.w.done()
	if err != nil && err != io.EOF {
		err = timeoutCause(b.ctx, err)
	}
	return n, err
}

func (b *watchedBody) Close() error {
	err := b.body.Close()
	b.w.stop()
	return err
}
