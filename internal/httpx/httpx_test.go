package httpx

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fakeTime is a clock that moves only when the client sleeps on it, so waits of minutes take no time.
type fakeTime struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func newFakeTime() *fakeTime { return &fakeTime{now: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)} }

func (f *fakeTime) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeTime) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sleeps = append(f.sleeps, d)
	f.now = f.now.Add(d)
	return nil
}

func (f *fakeTime) Sleeps() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Duration(nil), f.sleeps...)
}

func (f *fakeTime) options() Options { return Options{Now: f.Now, Sleep: f.Sleep} }

// script serves the handlers in turn, repeating the last one, and counts hits.
type script struct {
	*httptest.Server
	hits atomic.Int64
}

func newScript(t *testing.T, hs ...http.HandlerFunc) *script {
	t.Helper()
	s := &script{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(s.hits.Add(1)) - 1
		hs[min(n, len(hs)-1)](w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func status(code int, header ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.WriteHeader(code)
		fmt.Fprintf(w, "answer %d", code)
	}
}

func ok(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body) }
}

func get(t *testing.T, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func TestRetryAfterHonoured(t *testing.T) {
	ft := newFakeTime()
	tests := []struct {
		name   string
		header func() string
		want   time.Duration
	}{
		{"seconds", func() string { return "7" }, 7 * time.Second},
		{"http-date", func() string { return ft.Now().Add(30 * time.Second).Format(http.TimeFormat) }, 30 * time.Second},
		{"absent means backoff", func() string { return "" }, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ft.mu.Lock()
			ft.sleeps = nil
			ft.mu.Unlock()
			srv := newScript(t, func(w http.ResponseWriter, r *http.Request) {
				if h := tt.header(); h != "" {
					w.Header().Set("Retry-After", h)
				}
				w.WriteHeader(http.StatusTooManyRequests)
			}, ok("done"))
			var throttles []string
			o := ft.options()
			o.OnThrottle = func(key string, until time.Time) { throttles = append(throttles, key) }
			c := New(o)
			_, body, err := c.Do(context.Background(), "box:user:1", get(t, srv.URL), 0)
			if err != nil {
				t.Fatal(err)
			}
			if string(body) != "done" {
				t.Errorf("body %q, want done", body)
			}
			sleeps := ft.Sleeps()
			if len(sleeps) != 1 {
				t.Fatalf("sleeps %v, want one wait", sleeps)
			}
			if tt.want > 0 && sleeps[0] != tt.want {
				t.Errorf("waited %v, want %v", sleeps[0], tt.want)
			}
			if tt.want == 0 && (sleeps[0] < backoffBase/2 || sleeps[0] > backoffBase) {
				t.Errorf("waited %v, want a first backoff in [%v, %v]", sleeps[0], backoffBase/2, backoffBase)
			}
			if diff := cmp.Diff([]string{"box:user:1"}, throttles); diff != "" {
				t.Errorf("OnThrottle calls (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(KeyStats{Requests: 2, Retries: 1, Throttled: 1}, c.Stats()["box:user:1"]); diff != "" {
				t.Errorf("stats (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRetryAfterFencesKeyNotOthers(t *testing.T) {
	ft := newFakeTime()
	srv := newScript(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/throttle" {
			w.Header().Set("Retry-After", "60")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		io.WriteString(w, "ok")
	})
	o := ft.options()
	o.MaxRetries = -1
	var gotKey string
	var gotUntil time.Time
	o.OnThrottle = func(key string, until time.Time) { gotKey, gotUntil = key, until }
	c := New(o)
	ctx := context.Background()
	start := ft.Now()

	_, _, err := c.Do(ctx, "box:user:1", get(t, srv.URL+"/throttle"), 0)
	var se *StatusError
	if !errors.As(err, &se) || se.Code != 429 || se.RetryAfter != time.Minute {
		t.Fatalf("err = %v, want a StatusError 429 with RetryAfter 1m", err)
	}
	fence := start.Add(time.Minute)
	if gotKey != "box:user:1" || !gotUntil.Equal(fence) {
		t.Errorf("OnThrottle(%q, %v), want (box:user:1, %v)", gotKey, gotUntil, fence)
	}
	for key, want := range map[string]time.Time{"box:user:1": fence, "box:user:*": fence, "box:*": fence, "box:user:2": {}, "gdrive:*": {}} {
		if got := c.ThrottledUntil(key); !got.Equal(want) {
			t.Errorf("ThrottledUntil(%q) = %v, want %v", key, got, want)
		}
	}

	// Another key goes at once.
	if _, _, err := c.Do(ctx, "box:user:2", get(t, srv.URL+"/ok"), 0); err != nil {
		t.Fatal(err)
	}
	if s := ft.Sleeps(); len(s) != 0 {
		t.Fatalf("another key waited %v", s)
	}
	// The same key waits for the fence, though its request is a different one.
	if _, _, err := c.Do(ctx, "box:user:1", get(t, srv.URL+"/ok"), 0); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]time.Duration{time.Minute}, ft.Sleeps()); diff != "" {
		t.Errorf("waits of the fenced key (-want +got):\n%s", diff)
	}
	if got := c.ThrottledUntil("box:user:1"); !got.IsZero() {
		t.Errorf("ThrottledUntil after the fence = %v, want zero", got)
	}
}

func TestRetryAfterLongerThanMaxWait(t *testing.T) {
	ft := newFakeTime()
	srv := newScript(t, status(http.StatusTooManyRequests, "Retry-After", "3600"), ok("late"))
	o := ft.options()
	o.MaxWait = 10 * time.Minute
	c := New(o)
	_, _, err := c.Do(context.Background(), "k", get(t, srv.URL), 0)
	var se *StatusError
	if !errors.As(err, &se) || se.RetryAfter != time.Hour {
		t.Fatalf("err = %v, want StatusError with RetryAfter 1h", err)
	}
	if n := srv.hits.Load(); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
	// The fence stands: the next request of the key fails at once instead of waiting an hour.
	_, _, err = c.Do(context.Background(), "k", get(t, srv.URL), 0)
	if !errors.Is(err, ErrThrottled) {
		t.Fatalf("second request err = %v, want ErrThrottled", err)
	}
	if n := srv.hits.Load(); n != 1 || len(ft.Sleeps()) != 0 {
		t.Errorf("%d requests and waits %v, want 1 request and no wait", n, ft.Sleeps())
	}
}

func TestServerErrorsRetriedThenSucceed(t *testing.T) {
	for _, code := range []int{500, 502, 503, 504, 509} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			ft := newFakeTime()
			srv := newScript(t, status(code), status(code), ok("fine"))
			c := New(ft.options())
			_, body, err := c.Do(context.Background(), "k", get(t, srv.URL), 0)
			if err != nil || string(body) != "fine" {
				t.Fatalf("Do = %q, %v; want fine", body, err)
			}
			if diff := cmp.Diff(KeyStats{Requests: 3, Retries: 2}, c.Stats()["k"]); diff != "" {
				t.Errorf("stats (-want +got):\n%s", diff)
			}
			s := ft.Sleeps()
			if len(s) != 2 || s[0] < 250*time.Millisecond || s[0] > 500*time.Millisecond || s[1] < 500*time.Millisecond || s[1] > time.Second {
				t.Errorf("backoffs %v, want [250ms..500ms, 500ms..1s]", s)
			}
		})
	}
}

func TestMaxRetriesExhausted(t *testing.T) {
	tests := []struct {
		maxRetries int
		wantHits   int64
	}{
		{3, 4},
		{-1, 1},
		{0, 9}, // the default, 8 retries
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.maxRetries), func(t *testing.T) {
			ft := newFakeTime()
			srv := newScript(t, status(http.StatusServiceUnavailable))
			o := ft.options()
			o.MaxRetries = tt.maxRetries
			_, _, err := New(o).Do(context.Background(), "k", get(t, srv.URL+"/files/1?fields=name"), 0)
			var se *StatusError
			if !errors.As(err, &se) || se.Code != 503 {
				t.Fatalf("err = %v, want StatusError 503", err)
			}
			if got, want := err.Error(), "GET "+srv.URL+"/files/1: 503 Service Unavailable: answer 503"; got != want {
				t.Errorf("error %q, want %q", got, want)
			}
			if n := srv.hits.Load(); n != tt.wantHits {
				t.Errorf("%d requests, want %d", n, tt.wantHits)
			}
		})
	}
}

func TestBackoffCappedWithJitter(t *testing.T) {
	for n := 1; n <= 40; n++ {
		full := min(backoffCap, backoffBase<<min(n-1, 20))
		if d := backoff(n); d < full/2 || d > full {
			t.Errorf("backoff(%d) = %v, want in [%v, %v]", n, d, full/2, full)
		}
	}
	if d := backoff(30); d > backoffCap || d < backoffCap/2 {
		t.Errorf("backoff(30) = %v, want capped at %v", d, backoffCap)
	}
}

func TestClientErrorsNotRetried(t *testing.T) {
	for _, code := range []int{400, 401, 403, 404, 409, 410} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			ft := newFakeTime()
			srv := newScript(t, status(code), ok("never"))
			resp, body, err := New(ft.options()).Do(context.Background(), "k", get(t, srv.URL), 0)
			var se *StatusError
			if !errors.As(err, &se) || se.Code != code {
				t.Fatalf("err = %v, want StatusError %d", err, code)
			}
			if resp == nil || resp.StatusCode != code || string(body) != fmt.Sprintf("answer %d", code) {
				t.Errorf("Do returned resp %v body %q, want the %d answer", resp, body, code)
			}
			if n := srv.hits.Load(); n != 1 || len(ft.Sleeps()) != 0 {
				t.Errorf("%d requests, waits %v; want 1 request, no wait", n, ft.Sleeps())
			}
		})
	}
}

func TestVendorClassify(t *testing.T) {
	ft := newFakeTime()
	// A Google-style throttle: 403 with a reason in the body and no Retry-After.
	srv := newScript(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, `{"error":{"errors":[{"reason":"userRateLimitExceeded"}]}}`)
	}, ok("fine"))
	o := ft.options()
	throttled := 0
	o.OnThrottle = func(string, time.Time) { throttled++ }
	o.Classify = func(resp *http.Response, body []byte) Decision {
		if resp.StatusCode == http.StatusForbidden && bytes.Contains(body, []byte("RateLimitExceeded")) {
			return RetryAfter
		}
		return DefaultClassify(resp, body)
	}
	c := New(o)
	if _, body, err := c.Do(context.Background(), "gdrive:user:a", get(t, srv.URL), 0); err != nil || string(body) != "fine" {
		t.Fatalf("Do = %q, %v", body, err)
	}
	if throttled != 1 || c.Stats()["gdrive:user:a"].Throttled != 1 {
		t.Errorf("throttle seen %d times, stats %+v; want 1", throttled, c.Stats())
	}
}

func TestTruncatedBodyRetried(t *testing.T) {
	ft := newFakeTime()
	srv := newScript(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "only ten b")
		w.(http.Flusher).Flush()
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	}, ok(strings.Repeat("x", 100)))
	c := New(ft.options())
	_, body, err := c.Do(context.Background(), "k", get(t, srv.URL), 0)
	if err != nil || len(body) != 100 {
		t.Fatalf("Do = %d bytes, %v; want the whole 100-byte body", len(body), err)
	}
	if n := srv.hits.Load(); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}

func TestBodyLargerThanLimit(t *testing.T) {
	srv := newScript(t, ok(strings.Repeat("x", 2000)))
	ft := newFakeTime()
	_, _, err := New(ft.options()).Do(context.Background(), "k", get(t, srv.URL), 1000)
	if err == nil || !strings.Contains(err.Error(), "larger than 1000 bytes") {
		t.Fatalf("err = %v, want a too-large error", err)
	}
	if n := srv.hits.Load(); n != 1 {
		t.Errorf("%d requests, want 1 (not retried)", n)
	}
}

func TestRequestBodyResentOnRetry(t *testing.T) {
	var mu sync.Mutex
	var got []string
	record := func(next http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			mu.Lock()
			got = append(got, string(b))
			mu.Unlock()
			next(w, r)
		}
	}
	tests := []struct {
		name     string
		body     func() io.Reader
		wantSent []string
		wantErr  bool
	}{
		{"rewindable", func() io.Reader { return strings.NewReader("payload") }, []string{"payload", "payload", "payload"}, false},
		// Without GetBody the body cannot be sent twice: the first answer is final.
		{"not rewindable", func() io.Reader { return io.MultiReader(strings.NewReader("payload")) }, []string{"payload"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got = nil
			srv := newScript(t, record(status(500)), record(status(502)), record(ok("stored")))
			req, err := http.NewRequest(http.MethodPost, srv.URL, tt.body())
			if err != nil {
				t.Fatal(err)
			}
			ft := newFakeTime()
			_, body, err := New(ft.options()).Do(context.Background(), "k", req, 0)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Do = %q, %v; want error %v", body, err, tt.wantErr)
			}
			mu.Lock()
			defer mu.Unlock()
			if diff := cmp.Diff(tt.wantSent, got); diff != "" {
				t.Errorf("bodies received (-want +got):\n%s", diff)
			}
		})
	}
}

func TestContextCancelStopsWaitsAtOnce(t *testing.T) {
	tests := []struct {
		name  string
		setup func(c *Client)
		first http.HandlerFunc
	}{
		{"retry-after", func(*Client) {}, status(http.StatusTooManyRequests, "Retry-After", "300")},
		{"pacing", func(c *Client) { c.SetRate("k", 1, 1) }, ok("first")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newScript(t, tt.first, ok("never"))
			waiting := make(chan time.Duration, 10)
			c := New(Options{Sleep: func(ctx context.Context, d time.Duration) error {
				waiting <- d
				return sleepCtx(ctx, d) // the real timer: the wait would be minutes
			}})
			tt.setup(c)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.name == "pacing" {
				if _, _, err := c.Do(ctx, "k", get(t, srv.URL), 0); err != nil {
					t.Fatal(err)
				}
			}
			done := make(chan error, 1)
			go func() {
				_, _, err := c.Do(ctx, "k", get(t, srv.URL), 0)
				done <- err
			}()
			if d := <-waiting; d < 30*time.Second {
				t.Fatalf("Do waits only %v; the test needs a long wait", d)
			}
			start := time.Now()
			cancel()
			select {
			case err := <-done:
				if !errors.Is(err, context.Canceled) {
					t.Errorf("err = %v, want context.Canceled", err)
				}
				if d := time.Since(start); d > 5*time.Second {
					t.Errorf("Do returned %v after cancel", d)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Do still waiting 10s after its context was cancelled")
			}
			if n := srv.hits.Load(); n != 1 {
				t.Errorf("%d requests, want 1", n)
			}
		})
	}
}

func TestCancelledContextNotRetried(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	srv := newScript(t, func(w http.ResponseWriter, r *http.Request) {
		cancel()
		<-r.Context().Done()
	})
	ft := newFakeTime()
	_, _, err := New(ft.options()).Do(ctx, "k", get(t, srv.URL), 0)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if n := srv.hits.Load(); n != 1 || len(ft.Sleeps()) != 0 {
		t.Errorf("%d requests, waits %v; want 1 and none", n, ft.Sleeps())
	}
}

func TestAttemptTimeoutRetried(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	srv := newScript(t, func(w http.ResponseWriter, r *http.Request) {
		select { // hang until the client gives up on this attempt
		case <-r.Context().Done():
		case <-release:
		}
	}, ok("second try"))
	ft := newFakeTime()
	o := ft.options()
	o.Timeout = 100 * time.Millisecond
	_, body, err := New(o).Do(context.Background(), "k", get(t, srv.URL), 0)
	if err != nil || string(body) != "second try" {
		t.Fatalf("Do = %q, %v; want the second try", body, err)
	}
}

func TestSetRatePacing(t *testing.T) {
	tests := []struct {
		name  string
		setup func(c *Client)
		key   string
		n     int
		want  []time.Duration
	}{
		{"own rate", func(c *Client) { c.SetRate("box:enterprise", 60, 1) }, "box:enterprise", 5,
			[]time.Duration{time.Second, time.Second, time.Second, time.Second}},
		{"own rate burst", func(c *Client) { c.SetRate("k", 30, 3) }, "k", 5,
			[]time.Duration{2 * time.Second, 2 * time.Second}},
		{"default for every key", func(c *Client) { c.SetRate("", 120, 1) }, "box:user:9", 3,
			[]time.Duration{500 * time.Millisecond, 500 * time.Millisecond}},
		{"own rate wins over default", func(c *Client) { c.SetRate("", 1, 1); c.SetRate("k", 600, 1) }, "k", 3,
			[]time.Duration{100 * time.Millisecond, 100 * time.Millisecond}},
		{"removing own rate falls back to default", func(c *Client) { c.SetRate("", 120, 1); c.SetRate("k", 1, 1); c.SetRate("k", 0, 0) }, "k", 2,
			[]time.Duration{500 * time.Millisecond}},
		{"no rate", func(c *Client) { c.SetRate("", 60, 1); c.SetRate("", 0, 0) }, "k", 4, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newScript(t, ok("x"))
			ft := newFakeTime()
			c := New(ft.options())
			tt.setup(c)
			for range tt.n {
				if _, _, err := c.Do(context.Background(), tt.key, get(t, srv.URL), 0); err != nil {
					t.Fatal(err)
				}
			}
			if diff := cmp.Diff(tt.want, ft.Sleeps()); diff != "" {
				t.Errorf("pacing waits (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPacingIsPerKey(t *testing.T) {
	srv := newScript(t, ok("x"))
	ft := newFakeTime()
	c := New(ft.options())
	c.SetRate("", 60, 1)
	for _, key := range []string{"box:user:1", "box:user:2", "box:user:3"} {
		if _, _, err := c.Do(context.Background(), key, get(t, srv.URL), 0); err != nil {
			t.Fatal(err)
		}
	}
	if s := ft.Sleeps(); len(s) != 0 {
		t.Errorf("first requests of three keys waited %v, want no wait", s)
	}
}

func TestStream(t *testing.T) {
	big := strings.Repeat("0123456789", 100_000)
	t.Run("retries until headers", func(t *testing.T) {
		srv := newScript(t, status(502), status(429, "Retry-After", "2"), ok(big))
		ft := newFakeTime()
		c := New(ft.options())
		resp, err := c.Stream(context.Background(), "k", get(t, srv.URL))
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || len(b) != len(big) {
			t.Fatalf("read %d bytes, %v; want %d", len(b), err, len(big))
		}
		if diff := cmp.Diff(KeyStats{Requests: 3, Retries: 2, Throttled: 1}, c.Stats()["k"]); diff != "" {
			t.Errorf("stats (-want +got):\n%s", diff)
		}
	})
	t.Run("final error", func(t *testing.T) {
		srv := newScript(t, status(404))
		ft := newFakeTime()
		_, err := New(ft.options()).Stream(context.Background(), "k", get(t, srv.URL))
		var se *StatusError
		if !errors.As(err, &se) || se.Code != 404 || string(se.Body) != "answer 404" {
			t.Fatalf("err = %v, want StatusError 404 with its body", err)
		}
	})
	t.Run("stalled download", func(t *testing.T) {
		release := make(chan struct{})
		t.Cleanup(func() { close(release) })
		srv := newScript(t, func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "start")
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-release:
			}
		})
		ft := newFakeTime()
		o := ft.options()
		o.Timeout = 100 * time.Millisecond
		resp, err := New(o).Stream(context.Background(), "k", get(t, srv.URL))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if string(b) != "start" || !errors.Is(err, errAttemptTimeout) {
			t.Errorf("read %q, %v; want \"start\" then a stall error", b, err)
		}
	})
}

func TestSecretsNeverInErrorsOrLogs(t *testing.T) {
	const token, queryToken = "SECRET-bearer-4711abcdef", "SECRET-query-0815abcdef"
	// The server echoes what it received, as some vendors do in their error bodies.
	echo := func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintf(w, "bad request auth=%q token=%q", r.Header.Get("Authorization"), r.URL.Query().Get("access_token"))
	}
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()
	tests := []struct {
		name string
		url  func(srv *script) string
	}{
		{"status error", func(srv *script) string { return srv.URL + "/2.0/events" }},
		{"transport error", func(*script) string { return closedURL + "/2.0/events" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newScript(t, echo)
			var logs bytes.Buffer
			ft := newFakeTime()
			o := ft.options()
			o.MaxRetries = 2
			o.Log = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			req := get(t, tt.url(srv)+"?stream_position=now&access_token="+queryToken)
			req.Header.Set("Authorization", "Bearer "+token)
			_, _, err := New(o).Do(context.Background(), "box:enterprise", req, 0)
			if err == nil {
				t.Fatal("Do succeeded, want an error")
			}
			t.Logf("error: %v", err)
			if tt.name == "status error" && !strings.Contains(err.Error(), `auth="[redacted]" token="[redacted]"`) {
				t.Errorf("echoed credentials were not scrubbed: %v", err)
			}
			if logs.Len() == 0 {
				t.Fatal("no retry was logged; the test would prove nothing about logs")
			}
			for what, text := range map[string]string{"error": err.Error(), "log": logs.String()} {
				for _, secret := range []string{token, queryToken, "events?"} {
					if strings.Contains(text, secret) {
						t.Errorf("%s holds %q: %s", what, secret, text)
					}
				}
				if !strings.Contains(text, "/2.0/events") {
					t.Errorf("%s does not name the request's path: %s", what, text)
				}
			}
		})
	}
}

func TestStatusErrorMessage(t *testing.T) {
	req := get(t, "https://api.box.com/2.0/files/1?fields=name#frag")
	resp := &http.Response{StatusCode: 404, Status: "404 Not Found", Header: http.Header{}}
	body := []byte("{\n  \"type\": \"error\",\n  \"code\": \"not_found\"\n}" + strings.Repeat(" pad", 100))
	e := newStatusError(req, resp, body, time.Now())
	want := `GET https://api.box.com/2.0/files/1: 404 Not Found: { "type": "error", "code": "not_found" }` + strings.Repeat(" pad", 40) + "…"
	if diff := cmp.Diff(want, e.Error()); diff != "" {
		t.Errorf("Error() (-want +got):\n%s", diff)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		value  string
		want   time.Duration
		wantOK bool
	}{
		{"", 0, false},
		{"120", 2 * time.Minute, true},
		{" 0 ", 0, true},
		{"-5", 0, false},
		{"soon", 0, false},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{"Sunday, 01-Nov-26 12:00:30 GMT", 30 * time.Second, true}, // RFC 850, still allowed
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			h := http.Header{}
			if tt.value != "" {
				h.Set("Retry-After", tt.value)
			}
			d, ok := ParseRetryAfter(h, now)
			if d != tt.want || ok != tt.wantOK {
				t.Errorf("ParseRetryAfter(%q) = %v, %v; want %v, %v", tt.value, d, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestDefaultClassify(t *testing.T) {
	tests := []struct {
		code   int
		header string
		want   Decision
	}{
		{429, "", RetryAfter},
		{429, "5", RetryAfter},
		{503, "5", RetryAfter},
		{503, "", Retry},
		{500, "", Retry},
		{502, "", Retry},
		{504, "", Retry},
		{509, "", Retry},
		{501, "", Fail},
		{400, "", Fail},
		{401, "", Fail},
		{404, "", Fail},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d-%s", tt.code, tt.header), func(t *testing.T) {
			resp := &http.Response{StatusCode: tt.code, Header: http.Header{}}
			if tt.header != "" {
				resp.Header.Set("Retry-After", tt.header)
			}
			if got := DefaultClassify(resp, nil); got != tt.want {
				t.Errorf("DefaultClassify(%d, Retry-After %q) = %v, want %v", tt.code, tt.header, got, tt.want)
			}
		})
	}
}

func TestUserAgent(t *testing.T) {
	var got atomic.Value
	srv := newScript(t, func(w http.ResponseWriter, r *http.Request) { got.Store(r.UserAgent()) })
	ft := newFakeTime()
	o := ft.options()
	o.UserAgent = "telltale-test/1"
	if _, _, err := New(o).Do(context.Background(), "k", get(t, srv.URL), 0); err != nil {
		t.Fatal(err)
	}
	if got.Load() != "telltale-test/1" {
		t.Errorf("User-Agent %q, want telltale-test/1", got.Load())
	}
}

// TestOneThrottlePausesAllWorkers runs concurrent requests of one key (under -race): a single 429 fences them all,
// and every request still succeeds.
func TestOneThrottlePausesAllWorkers(t *testing.T) {
	var first atomic.Bool
	srv := newScript(t, func(w http.ResponseWriter, r *http.Request) {
		if first.CompareAndSwap(false, true) {
			w.Header().Set("Retry-After", "30")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		io.WriteString(w, "ok")
	})
	ft := newFakeTime()
	c := New(ft.options())
	const workers = 8
	errs := make(chan error, workers)
	for range workers {
		go func() {
			_, _, err := c.Do(context.Background(), "box:enterprise", get(t, srv.URL), 0)
			errs <- err
		}()
	}
	for range workers {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if diff := cmp.Diff(KeyStats{Requests: workers + 1, Retries: 1, Throttled: 1}, c.Stats()["box:enterprise"]); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}
}

func TestRetriableErrors(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"EOF", fmt.Errorf("read: %w", io.EOF), true},
		{"unexpected EOF", io.ErrUnexpectedEOF, true},
		{"connection reset", &net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, true},
		{"connection refused", &net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, true},
		{"broken pipe", syscall.EPIPE, true},
		{"attempt timeout", fmt.Errorf("%w (60s)", errAttemptTimeout), true},
		{"net timeout", &net.DNSError{Err: "i/o timeout", IsTimeout: true}, true},
		{"dns temporary", &net.DNSError{Err: "server misbehaving", IsTemporary: true}, true},
		{"dns not found", &net.DNSError{Err: "no such host", IsNotFound: true}, false},
		{"http2 goaway", errors.New("http2: server sent GOAWAY and closed the connection"), true},
		{"closed connection", errors.New("use of closed network connection"), true},
		{"guard refusal", fmt.Errorf("dial: %w", ErrBlocked), false},
		{"cancelled", context.Canceled, false},
		{"unknown authority", x509.UnknownAuthorityError{}, false},
		{"other", errors.New("unsupported protocol scheme"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := retriable(tt.err); got != tt.want {
				t.Errorf("retriable(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

// TestThrottled: a throttle a connector classified itself matches ErrThrottled and says until when.
func TestThrottled(t *testing.T) {
	until := time.Date(2026, 3, 2, 9, 1, 0, 0, time.UTC)
	var err error = fmt.Errorf("listing: %w", Throttled("google", until, "403 userRateLimitExceeded"))
	var te *ThrottledError
	if !errors.Is(err, ErrThrottled) || !errors.As(err, &te) || !te.Until.Equal(until) || te.Key != "google" {
		t.Fatalf("%v: not a ThrottledError until %s", err, until)
	}
	if !strings.Contains(err.Error(), "2026-03-02T09:01:00Z") || !strings.Contains(err.Error(), "userRateLimitExceeded") {
		t.Errorf("%q does not say until when and why", err)
	}
}

// TestThrottleWaitWithoutRetryAfter: a vendor's own backoff (Options.ThrottleWait) is the wait
// after a throttle without Retry-After, retry by retry; a Retry-After still wins.
func TestThrottleWaitWithoutRetryAfter(t *testing.T) {
	ft := newFakeTime()
	throttle := func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTooManyRequests) }
	srv := newScript(t, throttle, throttle, throttle, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "9")
		w.WriteHeader(http.StatusTooManyRequests)
	}, ok("done"))
	o := ft.options()
	var asked []int
	o.ThrottleWait = func(n int) time.Duration { asked = append(asked, n); return time.Duration(n) * 10 * time.Second }
	c := New(o)
	if _, body, err := c.Do(context.Background(), "google:user:a", get(t, srv.URL), 0); err != nil || string(body) != "done" {
		t.Fatalf("%q %v", body, err)
	}
	want := []time.Duration{10 * time.Second, 20 * time.Second, 30 * time.Second, 9 * time.Second}
	if got := ft.Sleeps(); !slices.Equal(got, want) || !slices.Equal(asked, []int{1, 2, 3}) {
		t.Errorf("waits %v (asked for retries %v), want %v", got, asked, want)
	}
}

// TestThrottleStreakAcrossCalls: a request given up on while throttled and sent again by a later
// call continues the vendor's exponential backoff (Google's emulator counts a restart at 1 s as a
// retry before its backoff); a success ends the streak, and another request has its own.
func TestThrottleStreakAcrossCalls(t *testing.T) {
	ft := newFakeTime()
	throttle := func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTooManyRequests) }
	srv := newScript(t, throttle, throttle, throttle, ok("a"), throttle, ok("b"), throttle, ok("a"))
	o := ft.options()
	o.MaxRetries = 1
	var asked []int
	o.ThrottleWait = func(n int) time.Duration { asked = append(asked, n); return time.Second }
	c := New(o)
	call := func(path string) error {
		_, _, err := c.Do(context.Background(), "google:user:a", get(t, srv.URL+path), 0)
		return err
	}
	if err := call("/a"); err == nil {
		t.Fatal("two throttles with MaxRetries 1: no error")
	}
	for _, p := range []string{"/a", "/b", "/a"} {
		if err := call(p); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
	}
	// /a: 1, 2 (given up), 3 (continued), success; /b: 1; /a again after its success: 1.
	if !slices.Equal(asked, []int{1, 2, 3, 1, 1}) {
		t.Errorf("ThrottleWait asked for %v, want [1 2 3 1 1]", asked)
	}
}
