package box

import (
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
)

// testHooks let a conformance harness act at a given moment: during a baseline crawl, or while
// the vendor loses its push notifications.
type testHooks struct {
	mu           sync.Mutex
	duringIndex  func()
	dropWebhooks atomic.Bool
}

// beforeRequest runs the crawl hook (once) before a folder listing is answered, outside e.mu, so
// that the hook may act on the emulator.
func (h *testHooks) beforeRequest(r *http.Request) {
	if r.Method != http.MethodGet || !strings.HasPrefix(r.URL.Path, "/2.0/folders/") || !strings.HasSuffix(r.URL.Path, "/items") {
		return
	}
	h.mu.Lock()
	fn := h.duringIndex
	h.duringIndex = nil
	h.mu.Unlock()
	if fn != nil {
		fn()
	}
}

// DuringIndex makes the emulator call fn once, the next time it serves a folder listing (a page of
// a baseline crawl), before answering it.
func (e *Emulator) DuringIndex(fn func()) {
	e.hooks.mu.Lock()
	e.hooks.duringIndex = fn
	e.hooks.mu.Unlock()
}

// LoseDeliveries makes the emulator lose (true) or send (false) its webhook deliveries: Box's side of
// a notification that never arrives.
func (e *Emulator) LoseDeliveries(lose bool) { e.hooks.dropWebhooks.Store(lose) }
