package faults

import "testing"

// TestHooks: a hook set by Once runs at the next Fire only; LosePushes toggles Losing.
func TestHooks(t *testing.T) {
	var h Hooks
	h.Fire() // nothing set: nothing runs
	n := 0
	h.Once(func() { n++ })
	h.Fire()
	h.Fire()
	if n != 1 {
		t.Errorf("the hook ran %d times, want once", n)
	}
	if h.Losing() {
		t.Error("losing before LosePushes(true)")
	}
	h.LosePushes(true)
	if !h.Losing() {
		t.Error("not losing after LosePushes(true)")
	}
	h.LosePushes(false)
	if h.Losing() {
		t.Error("still losing after LosePushes(false)")
	}
}
