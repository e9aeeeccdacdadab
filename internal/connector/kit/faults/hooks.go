package faults

import (
	"sync"
	"sync/atomic"
)

// Hooks let a conformance harness act at a given moment of an emulator's work: once, when the
// emulator is about to answer a request of the kind the harness waits for (acting during a
// baseline crawl), and while the vendor loses its push notifications. The zero value is ready; it
// is safe for concurrent use. The emulator calls Fire outside its own lock, so the hook may act on
// the emulator.
type Hooks struct {
	mu   sync.Mutex
	once func()
	lose atomic.Bool
}

// Once makes fn run the next time Fire is called, and only then.
func (h *Hooks) Once(fn func()) {
	h.mu.Lock()
	h.once = fn
	h.mu.Unlock()
}

// Fire runs the hook set by Once, if any, and clears it.
func (h *Hooks) Fire() {
	h.mu.Lock()
	fn := h.once
	h.once = nil
	h.mu.Unlock()
	if fn != nil {
		fn()
	}
}

// LosePushes makes the emulator lose (true) or send (false) its push notifications.
func (h *Hooks) LosePushes(lose bool) { h.lose.Store(lose) }

// Losing reports whether push notifications are being lost.
func (h *Hooks) Losing() bool { return h.lose.Load() }
