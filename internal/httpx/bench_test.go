package httpx

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkDo measures what httpx adds to a plain net/http GET of a 1 KiB answer on loopback.
func BenchmarkDo(b *testing.B) {
	body := strings.Repeat("x", 1024)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body) }))
	defer srv.Close()
	ctx := context.Background()
	b.Run("net/http", func(b *testing.B) {
		hc := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
		for b.Loop() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
			resp, err := hc.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
	for _, bc := range []struct {
		name string
		o    Options
		rate bool
	}{
		{"httpx", Options{}, false},
		{"httpx paced", Options{}, true},
		{"httpx guarded", Options{Guard: &Guard{AllowLoopback: true}}, false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c := New(bc.o)
			if bc.rate {
				c.SetRate("", 1e12, 1000) // paced but never waiting: measures the limiter's bookkeeping
			}
			for b.Loop() {
				req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
				if _, _, err := c.Do(ctx, "k", req, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
