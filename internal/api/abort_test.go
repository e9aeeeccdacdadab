package api

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/auth"
	"github.com/telltale-dev/telltale/internal/clock"
)

// TestFailedStreamIsAborted: a streamed answer that fails after its first bytes ends with a broken
// connection, not a clean end: an export cut between two records must not look complete.
func TestFailedStreamIsAborted(t *testing.T) {
	s := New(Deps{Clock: clock.Real{}, Log: slog.New(slog.DiscardHandler)})
	rt := Route{Method: "GET", Path: "/stream", Public: "a test stream", Handle: func(*http.Request, auth.Principal) (any, error) {
		return rawBody{contentType: "text/csv", write: func(w io.Writer) error {
			w.Write([]byte("id\n1\n2\n"))
			w.(http.Flusher).Flush()
			return errors.New("the store went away")
		}}, nil
	}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.serveRoute(w, r, rt, "GET /stream") }))
	defer srv.Close()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(srv.URL + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != "id\n1\n2\n" || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("got %d %q, read error %v; want the first records, then io.ErrUnexpectedEOF", resp.StatusCode, body, err)
	}
}
