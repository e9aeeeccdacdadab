// Package faults injects the failures a real vendor API shows into an emulator's answers: server
// errors, throttles with Retry-After, hangs that end in a gateway timeout, bodies cut short, and
// connections dropped without an answer (Injector); and, in an activity stream, records delivered
// again, out of order, and cursors that expire (Stream). It is part of the vendor kit (issue 13):
// every emulator draws a fault per request with the same classes and the same rate, and writes the
// error bodies in its vendor's own format, so every connector's fault tests mean the same thing.
package faults

import (
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Kind is a class of fault.
type Kind string

// The kinds of faults.
const (
	Status500 Kind = "500"      // 500 Internal Server Error
	Status502 Kind = "502"      // 502 Bad Gateway
	Status503 Kind = "503"      // 503 Service Unavailable
	Throttle  Kind = "429"      // 429 Too Many Requests with Retry-After
	Hang      Kind = "timeout"  // no answer for HangFor, then 504 Gateway Timeout
	Truncate  Kind = "truncate" // the real answer, its body cut in half, the connection closed
	Drop      Kind = "drop"     // the connection closed without an answer
)

// Kinds lists every kind, the default draw.
var Kinds = []Kind{Status500, Status502, Status503, Throttle, Hang, Truncate, Drop}

// Answer writes the vendor's error answer for status (a 5xx, 429 or 504) to w; retryAfter is set
// for a throttle and goes in the answer's Retry-After header.
type Answer func(w http.ResponseWriter, status int, retryAfter time.Duration)

// Injector draws and serves faults. It is safe for concurrent use.
type Injector struct {
	mu         sync.Mutex
	rng        *rand.Rand
	rate       float64
	kinds      []Kind
	hangFor    time.Duration
	retryAfter time.Duration
	injected   int
}

// New returns an injector that injects nothing until Set; seed makes its draws repeatable.
func New(seed uint64) *Injector {
	return &Injector{rng: rand.New(rand.NewPCG(seed, 0xfa017)), hangFor: 3 * time.Second, retryAfter: time.Second}
}

// Set makes a fraction rate (0..1) of requests fail with one of kinds (empty: all of Kinds).
// hangFor (default 3 s) is how long a Hang waits; retryAfter (default 1 s) what a Throttle asks.
func (in *Injector) Set(rate float64, kinds []Kind, hangFor, retryAfter time.Duration) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.rate, in.kinds = rate, append([]Kind(nil), kinds...)
	in.hangFor, in.retryAfter = 3*time.Second, time.Second
	if hangFor > 0 {
		in.hangFor = hangFor
	}
	if retryAfter > 0 {
		in.retryAfter = retryAfter
	}
}

// Pick draws the fault of one request: "" for none.
func (in *Injector) Pick() Kind {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.rate <= 0 || in.rng.Float64() >= in.rate {
		return ""
	}
	kinds := in.kinds
	if len(kinds) == 0 {
		kinds = Kinds
	}
	in.injected++
	return kinds[in.rng.IntN(len(kinds))]
}

// Injected counts the faults drawn.
func (in *Injector) Injected() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.injected
}

// RetryAfter is what a Throttle asks for.
func (in *Injector) RetryAfter() time.Duration {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.retryAfter
}

// Serve answers r with fault k: an error answer through answer, or, for Truncate, next's own
// answer cut short. It must not be called with "".
func (in *Injector) Serve(k Kind, w http.ResponseWriter, r *http.Request, next http.Handler, answer Answer) {
	in.mu.Lock()
	hang, ra := in.hangFor, in.retryAfter
	in.mu.Unlock()
	switch k {
	case Status500, Status502, Status503:
		st, _ := strconv.Atoi(string(k))
		answer(w, st, 0)
	case Throttle:
		answer(w, http.StatusTooManyRequests, ra)
	case Hang:
		t := time.NewTimer(hang)
		select {
		case <-r.Context().Done():
		case <-t.C:
		}
		t.Stop()
		answer(w, http.StatusGatewayTimeout, 0)
	case Truncate:
		tw := &truncWriter{ResponseWriter: w}
		next.ServeHTTP(tw, r)
		tw.finish()
	case Drop:
		panic(http.ErrAbortHandler) // net/http closes the connection without an answer or a log line
	default:
		answer(w, http.StatusInternalServerError, 0)
	}
}

// Middleware draws a fault for each request and serves it, or passes the request on.
func (in *Injector) Middleware(next http.Handler, answer Answer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if k := in.Pick(); k != "" {
			in.Serve(k, w, r, next, answer)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// truncWriter holds the answer, then declares its full length, writes half of the body and drops
// the connection.
type truncWriter struct {
	http.ResponseWriter
	status int
	buf    []byte
}

func (t *truncWriter) WriteHeader(s int)           { t.status = s }
func (t *truncWriter) Write(p []byte) (int, error) { t.buf = append(t.buf, p...); return len(p), nil }

func (t *truncWriter) finish() {
	if t.status == 0 {
		t.status = http.StatusOK
	}
	t.ResponseWriter.Header().Set("Content-Length", strconv.Itoa(len(t.buf)+1))
	t.ResponseWriter.WriteHeader(t.status)
	t.ResponseWriter.Write(t.buf[:len(t.buf)/2])
	http.NewResponseController(t.ResponseWriter).Flush()
	panic(http.ErrAbortHandler) // closes the connection without logging
}
