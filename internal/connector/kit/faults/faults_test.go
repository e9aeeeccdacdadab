package faults

import (
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

func answer(w http.ResponseWriter, status int, ra time.Duration) {
	if ra > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(ra.Seconds()))))
	}
	w.WriteHeader(status)
	w.Write([]byte(`{"error":"injected"}`))
}

// TestEachKind: every kind does to a client what its name says, over real HTTP.
func TestEachKind(t *testing.T) {
	body := []byte(`{"entries":[1,2,3,4,5,6,7,8,9,10]}`)
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(body) })
	for _, c := range []struct {
		kind   Kind
		status int
		check  func(t *testing.T, resp *http.Response, b []byte, err error)
	}{
		{Status500, 500, nil}, {Status502, 502, nil}, {Status503, 503, nil},
		{Throttle, 429, func(t *testing.T, resp *http.Response, _ []byte, _ error) {
			if resp.Header.Get("Retry-After") != "2" {
				t.Errorf("Retry-After %q, want 2", resp.Header.Get("Retry-After"))
			}
		}},
		{Hang, 504, nil},
		{Truncate, 200, func(t *testing.T, _ *http.Response, b []byte, err error) {
			if !errors.Is(err, io.ErrUnexpectedEOF) || len(b) != len(body)/2 {
				t.Errorf("read %d of %d bytes, err %v: want half, then an unexpected EOF", len(b), len(body), err)
			}
		}},
	} {
		t.Run(string(c.kind), func(t *testing.T) {
			in := New(1)
			in.Set(1, []Kind{c.kind}, 5*time.Millisecond, 2*time.Second)
			srv := httptest.NewServer(in.Middleware(next, answer))
			defer srv.Close()
			resp, err := http.Get(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			b, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.status {
				t.Errorf("status %d, want %d", resp.StatusCode, c.status)
			}
			if c.check != nil {
				c.check(t, resp, b, rerr)
			}
			if in.Injected() != 1 {
				t.Errorf("injected %d", in.Injected())
			}
		})
	}
	t.Run("drop", func(t *testing.T) {
		in := New(1)
		in.Set(1, []Kind{Drop}, 0, 0)
		srv := httptest.NewServer(in.Middleware(next, answer))
		defer srv.Close()
		if resp, err := http.Get(srv.URL); err == nil {
			resp.Body.Close()
			t.Errorf("a dropped connection answered %d", resp.StatusCode)
		}
	})
}

// TestRate: about the asked share of requests fail, repeatably for a seed, and none at rate 0.
func TestRate(t *testing.T) {
	draw := func(seed uint64, rate float64) (n int, seq string) {
		in := New(seed)
		in.Set(rate, nil, 0, 0)
		for range 10000 {
			k := in.Pick()
			if k != "" {
				n++
			}
			if len(seq) < 40 {
				seq += string(k) + ","
			}
		}
		return n, seq
	}
	if n, _ := draw(1, 0); n != 0 {
		t.Errorf("rate 0 injected %d", n)
	}
	n, a := draw(7, 0.2)
	if n < 1800 || n > 2200 {
		t.Errorf("rate 0.2 injected %d of 10000", n)
	}
	if _, b := draw(7, 0.2); a != b {
		t.Errorf("the same seed drew %q then %q", a, b)
	}
}
