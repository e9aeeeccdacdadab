// Package httpx is the only way Telltale talks HTTP to the outside (vendor APIs, integrations): a per-attempt
// timeout, pacing per principal ("key"), Retry-After honoured and turned into a fence over the whole key, backoff
// with jitter, retry classification that vendors can refine, whole-body reads that retry truncated answers, error
// strings free of credentials, and an SSRF guard for URLs an admin types in.
//
// The model is rclone's lib/rest and lib/pacer, rewritten around context.Context: every wait (fence, pacing,
// backoff) goes through Options.Sleep and ends as soon as the caller's context does.
package httpx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// Options configures a Client. The zero value is usable.
type Options struct {
	Timeout    time.Duration     // per attempt (Stream: until headers, then the longest stall between reads); default 60s
	MaxRetries int               // default 8; 0 means default, < 0 means no retry
	MaxWait    time.Duration     // longest single wait honoured from Retry-After, default 10 min (longer: return the error)
	UserAgent  string            // set on requests that have none
	Transport  http.RoundTripper // nil: a clone of http.DefaultTransport, or Guard.Transport() when Guard is set
	// Guard, when set, keeps requests away from internal addresses; use it for admin-typed URLs. With a custom
	// Transport the guard can only check URLs before each attempt and redirect (no dial-time check).
	Guard *Guard
	Log   *slog.Logger // nil: discard
	// OnThrottle is called when a throttle is seen (429, 503 with Retry-After, or a vendor's classified throttle),
	// with the key and the end of its fence. It runs on the requesting goroutine and must not block.
	OnThrottle func(key string, until time.Time)
	// Classify decides what to do with a non-2xx answer; nil: DefaultClassify. body is the whole body for Do,
	// its first 4 KiB for Stream.
	Classify func(resp *http.Response, body []byte) Decision
	// ThrottleWait is the wait after a throttle that carries no Retry-After, the request's n-th in
	// a row (1-based), where the vendor documents its own backoff (Google: 1, 2, 4, ... seconds
	// plus a random fraction); nil: the client's backoff. n counts across calls: a request given
	// up on (MaxWait, MaxRetries) and sent again later by the caller continues where it was,
	// until it succeeds or is not throttled for 10 minutes.
	ThrottleWait func(n int) time.Duration
	Sleep        func(ctx context.Context, d time.Duration) error // tests inject; default: a real timer honouring ctx
	Now          func() time.Time                                 // tests inject (with Sleep moving it); default time.Now
}

// Client sends requests with retries and pacing. It is safe for concurrent use.
type Client struct {
	o         Options
	hc        *http.Client
	log       *slog.Logger
	now       func() time.Time
	sleep     func(ctx context.Context, d time.Duration) error
	checkURLs bool // a Guard with a custom Transport: check URLs before each attempt and redirect

	mu       sync.Mutex
	keys     map[string]*keyState
	defRate  float64
	defBurst int
}

const defaultLimit = 64 << 20

// New returns a Client for o, filling in defaults.
func New(o Options) *Client {
	if o.Timeout <= 0 {
		o.Timeout = 60 * time.Second
	}
	switch {
	case o.MaxRetries == 0:
		o.MaxRetries = 8
	case o.MaxRetries < 0:
		o.MaxRetries = 0
	}
	if o.MaxWait <= 0 {
		o.MaxWait = 10 * time.Minute
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Sleep == nil {
		o.Sleep = sleepCtx
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Classify == nil {
		o.Classify = DefaultClassify
	}
	c := &Client{o: o, log: o.Log, now: o.Now, sleep: o.Sleep, keys: map[string]*keyState{}}
	t := o.Transport
	switch {
	case t == nil && o.Guard != nil:
		t = o.Guard.Transport()
	case t == nil:
		t = http.DefaultTransport.(*http.Transport).Clone()
	case o.Guard != nil:
		c.checkURLs = true
	}
	c.hc = &http.Client{Transport: t, CheckRedirect: c.checkRedirect}
	return c
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (c *Client) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	if c.o.Guard == nil {
		return nil
	}
	if err := checkURLShape(req.URL); err != nil {
		return fmt.Errorf("redirect refused: %w", err)
	}
	if c.checkURLs {
		if err := c.o.Guard.CheckURLContext(req.Context(), req.URL.String()); err != nil {
			return fmt.Errorf("redirect refused: %w", err)
		}
	}
	return nil
}

// Do sends req (rewinding its body with GetBody on retry) under the pacer of key (e.g. "box:enterprise" or
// "box:user:123"; empty: the URL's host), reads the whole body (up to limit bytes; limit <= 0 means 64 MiB) and
// returns it; resp.Body is a reader over the same bytes. A non-2xx final answer returns resp, body and a
// *StatusError. Bodies are read inside Do, so a truncated body is retried like a reset connection.
func (c *Client) Do(ctx context.Context, key string, req *http.Request, limit int64) (*http.Response, []byte, error) {
	if limit <= 0 {
		limit = defaultLimit
	}
	return c.run(ctx, key, req, func(ctx context.Context, r *http.Request) (*http.Response, []byte, error) {
		actx, cancel := context.WithTimeoutCause(ctx, c.o.Timeout, errAttemptTimeout)
		defer cancel()
		resp, err := c.hc.Do(r.WithContext(actx))
		if err != nil {
			return nil, nil, c.attemptErr(actx, err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
		if err != nil {
			return nil, nil, c.attemptErr(actx, fmt.Errorf("reading the answer's body: %w", err))
		}
		if int64(len(body)) > limit {
			return nil, nil, fmt.Errorf("the answer is larger than %d bytes: raise Do's limit or use Stream", limit)
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		return resp, body, nil
	})
}

// Stream is Do for large downloads: it retries only until response headers arrive and returns the open body,
// which the caller must close. Options.Timeout bounds the wait for headers and then each stall between reads.
// A non-2xx final answer returns a *StatusError (and resp with the first 4 KiB of its body).
func (c *Client) Stream(ctx context.Context, key string, req *http.Request) (*http.Response, error) {
	resp, _, err := c.run(ctx, key, req, func(ctx context.Context, r *http.Request) (*http.Response, []byte, error) {
		actx, cancel := context.WithCancelCause(ctx)
		timer := time.AfterFunc(c.o.Timeout, func() { cancel(errAttemptTimeout) })
		resp, err := c.hc.Do(r.WithContext(actx))
		timer.Stop()
		if err != nil {
			err = c.attemptErr(actx, err)
			cancel(context.Canceled)
			return nil, nil, err
		}
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			resp.Body = &streamBody{rc: resp.Body, timer: timer, timeout: c.o.Timeout, actx: actx, cancel: cancel}
			return resp, nil, nil
		}
		defer cancel(context.Canceled)
		defer resp.Body.Close()
		timer.Reset(c.o.Timeout)
		body, err := io.ReadAll(io.LimitReader(resp.Body, statusBodyMax))
		timer.Stop()
		if err != nil {
			return nil, nil, c.attemptErr(actx, fmt.Errorf("reading the answer's body: %w", err))
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		return resp, body, nil
	})
	return resp, err
}

// attemptErr names a failure caused by the per-attempt timeout (retriable) rather than by the transport's wording.
func (c *Client) attemptErr(actx context.Context, err error) error {
	if errors.Is(context.Cause(actx), errAttemptTimeout) {
		return fmt.Errorf("%w (%s)", errAttemptTimeout, c.o.Timeout)
	}
	return err
}

// streamBody is an open download: each Read must make progress within the timeout, Close releases the attempt.
type streamBody struct {
	rc      io.ReadCloser
	timer   *time.Timer
	timeout time.Duration
	actx    context.Context
	cancel  context.CancelCauseFunc
}

func (b *streamBody) Read(p []byte) (int, error) {
	b.timer.Reset(b.timeout)
	n, err := b.rc.Read(p)
	b.timer.Stop()
	if err != nil && err != io.EOF && errors.Is(context.Cause(b.actx), errAttemptTimeout) {
		err = fmt.Errorf("httpx: download stalled: no data for %s: %w", b.timeout, errAttemptTimeout)
	}
	return n, err
}

func (b *streamBody) Close() error {
	b.timer.Stop()
	err := b.rc.Close()
	b.cancel(context.Canceled)
	return err
}

type attemptFunc func(ctx context.Context, r *http.Request) (*http.Response, []byte, error)

// run is the retry loop shared by Do and Stream.
func (c *Client) run(ctx context.Context, key string, req *http.Request, once attemptFunc) (*http.Response, []byte, error) {
	if key == "" {
		key = req.URL.Host
	}
	sig := req.Method + " " + req.URL.String()
	maxRetries := c.o.MaxRetries
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		maxRetries = 0 // the body cannot be sent twice
	}
	for n := 0; ; n++ {
		if err := c.waitTurn(ctx, key); err != nil {
			if errors.Is(err, ErrThrottled) {
				return nil, nil, err
			}
			return nil, nil, wrapRequestError(req, err, "")
		}
		r, err := c.prepare(ctx, req, n)
		if err != nil {
			return nil, nil, err
		}
		c.count(key, func(s *KeyStats) {
			s.Requests++
			if n > 0 {
				s.Retries++
			}
		})
		resp, body, err := once(ctx, r)
		if ctx.Err() != nil {
			if resp != nil {
				resp.Body.Close()
			}
			return nil, nil, wrapRequestError(req, ctx.Err(), "")
		}
		var (
			dec   Decision
			final error
		)
		switch {
		case err != nil:
			final = wrapRequestError(req, err, "")
			if !retriable(err) {
				return nil, nil, final
			}
			dec = Retry
		case resp.StatusCode >= 200 && resp.StatusCode < 300:
			if c.o.ThrottleWait != nil {
				c.endStreak(key, sig)
			}
			return resp, body, nil
		default:
			dec = c.o.Classify(resp, body)
			final = newStatusError(req, resp, body, c.now())
		}
		wait := backoff(n + 1)
		if dec == RetryAfter {
			if ra, ok := ParseRetryAfter(resp.Header, c.now()); ok && ra > 0 {
				wait = ra
			} else if c.o.ThrottleWait != nil {
				wait = c.o.ThrottleWait(c.throttleStreak(key, sig))
			}
			until := c.setFence(key, c.now().Add(wait))
			c.count(key, func(s *KeyStats) { s.Throttled++ })
			c.log.Info("httpx: throttled", "key", key, "method", req.Method, "url", redactURL(req.URL),
				"status", resp.StatusCode, "wait", wait, "until", until)
			if c.o.OnThrottle != nil {
				c.o.OnThrottle(key, until)
			}
			if wait > c.o.MaxWait {
				return resp, body, final
			}
		}
		if dec == Fail || n >= maxRetries {
			if err != nil && n > 0 {
				final = wrapRequestError(req, err, fmt.Sprintf("giving up after %d attempts", n+1))
			}
			if resp == nil {
				return nil, nil, final
			}
			return resp, body, final
		}
		c.log.Debug("httpx: retrying", "key", key, "method", req.Method, "url", redactURL(req.URL),
			"attempt", n+1, "decision", dec.String(), "wait", wait, "error", final.Error())
		if dec != RetryAfter { // a throttle waits at the fence in waitTurn
			if err := c.sleep(ctx, wait); err != nil {
				return nil, nil, wrapRequestError(req, err, "")
			}
		}
	}
}

// prepare makes attempt n's copy of req: a fresh body from GetBody on retries, the User-Agent, and the guard's
// URL check when the transport cannot check dials itself.
func (c *Client) prepare(ctx context.Context, req *http.Request, n int) (*http.Request, error) {
	if c.checkURLs {
		if err := c.o.Guard.CheckURLContext(ctx, req.URL.String()); err != nil {
			return nil, err
		}
	}
	r := req.Clone(ctx)
	if n > 0 && req.GetBody != nil && req.Body != nil && req.Body != http.NoBody {
		b, err := req.GetBody()
		if err != nil {
			return nil, wrapRequestError(req, err, "rewinding the request body")
		}
		r.Body = b
	}
	if c.o.UserAgent != "" && r.Header.Get("User-Agent") == "" {
		r.Header.Set("User-Agent", c.o.UserAgent)
	}
	return r, nil
}
