package client

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// stalls answers with a few bytes of a stream, then sends nothing until the test ends. (A server
// does not notice that the client went away while a request body is unread.)
func stalls(t *testing.T) http.HandlerFunc {
	end := make(chan struct{})
	t.Cleanup(func() { close(end) })
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-ndjson")
		io.WriteString(w, `{"event":{"id":"1"}}`+"\n"+`{"event":`)
		http.NewResponseController(w).Flush()
		select {
		case <-r.Context().Done():
		case <-end:
		}
	}
}

// steady sends a line every tick, n lines in all.
func steady(n int, tick time.Duration) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		t := time.NewTicker(tick)
		defer t.Stop()
		for i := range n {
			io.WriteString(w, strings.Repeat("x", i%7)+"\n")
			http.NewResponseController(w).Flush()
			select {
			case <-t.C:
			case <-r.Context().Done():
				return
			}
		}
	}
}

func idleErr(t *testing.T, err error, what string) {
	t.Helper()
	var te *TimeoutError
	if !errors.As(err, &te) || !te.Idle || !strings.Contains(err.Error(), "idle timeout") || !strings.Contains(err.Error(), what) {
		t.Fatalf("err %v, want an idle timeout (no bytes %s)", err, what)
	}
}

// TestStreamIdleTimeout (issue 12, item 8): a stream that stalls fails after the idle timeout, with
// an error that says so, however long the total timeout is.
func TestStreamIdleTimeout(t *testing.T) {
	srv := httptest.NewServer(stalls(t))
	t.Cleanup(srv.Close)
	c := New(srv.URL, "t").WithTimeouts(time.Minute, 200*time.Millisecond)
	start := time.Now()
	body, err := c.ExportEvents(context.Background(), ExportRequest{Format: "jsonl"})
	if err != nil {
		t.Fatal(err)
	}
	defer body.Close()
	b, err := io.ReadAll(body)
	idleErr(t, err, "from the server")
	if !strings.HasPrefix(string(b), `{"event":{"id":"1"}}`) {
		t.Errorf("read %q before the stall", b)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("failed after %s, want about the idle timeout", d)
	}
	var sb strings.Builder
	idleErr(t, c.DownloadScope(context.Background(), "1", &sb), "from the server")
}

// TestStreamOutlivesTotalTimeout (issue 12, item 8): a slow but steady stream, longer than the
// total timeout, completes; so does one whose reader pauses longer than the idle timeout (a slow
// disk or pipe is not the server's idleness). An ordinary call keeps its total timeout.
func TestStreamOutlivesTotalTimeout(t *testing.T) {
	const lines, tick = 16, 50 * time.Millisecond // 800 ms in all
	srv := httptest.NewServer(steady(lines, tick))
	defer srv.Close()
	c := New(srv.URL, "t").WithTimeouts(300*time.Millisecond, 300*time.Millisecond)
	start := time.Now()
	body, err := c.ExportEvents(context.Background(), ExportRequest{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(body)
	body.Close()
	if err != nil || strings.Count(string(b), "\n") != lines {
		t.Fatalf("steady stream: %d lines, %v", strings.Count(string(b), "\n"), err)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Fatalf("the stream took %s: not longer than the total timeout, the test proves nothing", d)
	}

	fast := httptest.NewServer(steady(3, time.Millisecond))
	defer fast.Close()
	c = New(fast.URL, "t").WithTimeouts(time.Minute, 100*time.Millisecond)
	body, err = c.ExportEvents(context.Background(), ExportRequest{})
	if err != nil {
		t.Fatal(err)
	}
	rd := bufio.NewReader(body)
	for i := range 3 {
		if _, err := rd.ReadString('\n'); err != nil {
			t.Fatalf("line %d after a pause of the reader: %v", i, err)
		}
		time.Sleep(200 * time.Millisecond) // the consumer is slow, not the server
	}
	body.Close()

	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	_, err = New(slow.URL, "t").WithTimeouts(200*time.Millisecond, time.Minute).Me(context.Background())
	var te *TimeoutError
	if !errors.As(err, &te) || te.Idle || !strings.Contains(err.Error(), "(timeout)") {
		t.Errorf("ordinary call: %v, want the total timeout", err)
	}
}

// TestUploadIdleTimeout (issue 12, item 8): an upload the server stops taking fails after the idle
// timeout; an upload whose answer takes longer than the idle timeout (the server works on the
// whole file) succeeds within the total one.
func TestUploadIdleTimeout(t *testing.T) {
	end := make(chan struct{})
	stuck := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-end // never reads the body
	}))
	t.Cleanup(stuck.Close)
	t.Cleanup(func() { close(end) }) // cleanups run last first
	c := New(stuck.URL, "t").WithTimeouts(time.Minute, 200*time.Millisecond)
	_, err := c.ImportRecords(context.Background(), "1", zeros{})
	idleErr(t, err, "taken by the server")

	working := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		time.Sleep(400 * time.Millisecond) // stores the records
		io.WriteString(w, `{"records":3}`)
	}))
	defer working.Close()
	c = New(working.URL, "t").WithTimeouts(5*time.Second, 100*time.Millisecond)
	if _, err := c.ImportRecords(context.Background(), "1", strings.NewReader("{}\n{}\n{}\n")); err != nil {
		t.Errorf("import answered after its work: %v", err)
	}
}

// zeros is an endless upload.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
