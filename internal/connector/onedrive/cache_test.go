package onedrive

import (
	"strconv"
	"testing"
)

// TestCacheBounded: the session's caches hold at most two generations however much is put, keep
// the latest entries and an entry read from the old generation.
func TestCacheBounded(t *testing.T) {
	c := newCache[string, int](100)
	for i := range 1000 {
		c.put(strconv.Itoa(i), i)
		if i == 150 {
			if v, ok := c.get("120"); !ok || v != 120 { // in the old generation: moved to the current one
				t.Fatalf("get 120 = %d %v", v, ok)
			}
		}
	}
	if n := c.len(); n > 200 {
		t.Errorf("%d entries held, want at most 200", n)
	}
	if v, ok := c.get("999"); !ok || v != 999 {
		t.Errorf("the latest entry: %d %v", v, ok)
	}
	if _, ok := c.get("5"); ok {
		t.Error("an entry of long ago is still held")
	}
	if !c.del("999") || c.del("999") {
		t.Error("del")
	}
}
