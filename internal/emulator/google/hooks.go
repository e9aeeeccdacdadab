package google

import (
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
)

// testHooks let a conformance harness act at a given moment: during a baseline crawl, or while
// Google loses its push notifications.
type testHooks struct {
	mu          sync.Mutex
	duringIndex func()
	losePushes  atomic.Bool
}

// beforeRequest runs the crawl hook (once) before a files.list is answered, outside e.mu.
func (h *testHooks) beforeRequest(r *http.Request) {
	if r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, "/drive/v3/files") {
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

// DuringIndex makes the emulator call fn once, the next time it serves a files.list (a page of a
// baseline crawl), before answering it.
func (e *Emulator) DuringIndex(fn func()) {
	e.hooks.mu.Lock()
	e.hooks.duringIndex = fn
	e.hooks.mu.Unlock()
}

// LosePushes makes the emulator lose (true) or send (false) its push notifications; message
// numbers still advance, as for a notification Google sent that never arrived.
func (e *Emulator) LosePushes(lose bool) { e.hooks.losePushes.Store(lose) }
