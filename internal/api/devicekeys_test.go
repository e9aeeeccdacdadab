package api

import (
	"bytes"
	"testing"
)

// TestDeviceKeysBounded: the remembered keys stay under deviceKeysMax (an eighth is forgotten when
// it is reached, never the key being put), and only ed25519-sized keys are remembered.
func TestDeviceKeysBounded(t *testing.T) {
	var c deviceKeys
	key := bytes.Repeat([]byte{7}, 32)
	for id := int64(1); id <= deviceKeysMax; id++ {
		c.put(id, key)
	}
	if len(c.m) != deviceKeysMax {
		t.Fatalf("%d remembered, want %d", len(c.m), deviceKeysMax)
	}
	c.put(deviceKeysMax+1, key)
	if n := len(c.m); n > deviceKeysMax-deviceKeysMax/8+1 || n < deviceKeysMax/2 {
		t.Errorf("%d remembered after the bound was reached", n)
	}
	if k, ok := c.get(deviceKeysMax + 1); !ok || !bytes.Equal(k, key) {
		t.Error("the key put when the bound was reached is not remembered")
	}
	c.put(5, key) // known or forgotten, putting again keeps the bound
	if len(c.m) > deviceKeysMax {
		t.Errorf("%d remembered", len(c.m))
	}
	c.put(deviceKeysMax+2, []byte("short"))
	if _, ok := c.get(deviceKeysMax + 2); ok {
		t.Error("a key that is not an ed25519 key was remembered")
	}
	c.drop(deviceKeysMax + 1)
	if _, ok := c.get(deviceKeysMax + 1); ok {
		t.Error("a dropped key is still remembered")
	}
}
