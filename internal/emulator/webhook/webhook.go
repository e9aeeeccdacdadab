// Package webhook is a receiver of Telltale's generic webhook deliveries, as an integrator would
// write one following docs/INTEGRATIONS.md: it verifies the Telltale-Signature header (HMAC-SHA256
// over "timestamp.body", five minutes' tolerance), refuses unsigned or tampered deliveries with 401,
// and acts once per Idempotency-Key, answering a repeated key 200 without acting again and counting
// it. Faults can be injected (a 500 with an HTML body, a 429 with Retry-After, a 400).
package webhook

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/telltale-dev/telltale/internal/integration"
)

// Fault is an injected answer for the next delivery.
type Fault struct {
	Status     int           // answer with this status and an HTML body
	RetryAfter time.Duration // with a Retry-After header
}

// Receiver is the emulator.
type Receiver struct {
	secret string
	// Now is the receiver's clock for the signature's tolerance; default time.Now.
	Now func() time.Time

	mu       sync.Mutex
	keys     map[string]int
	order    []string
	bodies   map[string]integration.Payload
	refused  int
	faults   []Fault
	requests int
}

// New returns a receiver verifying with secret.
func New(secret string) *Receiver {
	return &Receiver{secret: secret, Now: time.Now, keys: map[string]int{}, bodies: map[string]integration.Payload{}}
}

// Fail queues faults for the next deliveries.
func (r *Receiver) Fail(fs ...Fault) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.faults = append(r.faults, fs...)
}

func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil || req.Method != http.MethodPost {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests++
	if len(r.faults) > 0 {
		f := r.faults[0]
		r.faults = r.faults[1:]
		if f.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(f.RetryAfter/time.Second)))
		}
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(f.Status)
		io.WriteString(w, "<html><h1>Bad Gateway</h1></html>")
		return
	}
	if !integration.Verify(r.secret, req.Header.Get(integration.SignatureHeader), body, r.Now(), 5*time.Minute) {
		r.refused++
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	key := req.Header.Get(integration.IdempotencyHeader)
	var p integration.Payload
	if key == "" || json.Unmarshal(body, &p) != nil || p.IdempotencyKey != key {
		r.refused++
		http.Error(w, "no idempotency key, or not the body's", http.StatusBadRequest)
		return
	}
	if r.keys[key] == 0 {
		r.order = append(r.order, key)
		r.bodies[key] = p
	}
	r.keys[key]++
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"received":true}`)
}

// Keys returns how many times each key arrived.
func (r *Receiver) Keys() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int, len(r.keys))
	for k, v := range r.keys {
		out[k] = v
	}
	return out
}

// Payload returns the body first received with key.
func (r *Receiver) Payload(key string) (integration.Payload, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, ok := r.bodies[key]
	return p, ok
}

// Duplicates counts arrivals of a key already acted on.
func (r *Receiver) Duplicates() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.keys {
		n += c - 1
	}
	return n
}

// Refused counts deliveries refused for their signature or key.
func (r *Receiver) Refused() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.refused
}

// Requests counts every request.
func (r *Receiver) Requests() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests
}
