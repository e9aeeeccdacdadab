package hashing

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestHash(t *testing.T) {
	h := New(10, 1)
	// Known digests of "abc".
	got, err := h.Hash(context.Background(), io.NopCloser(strings.NewReader("abc")))
	if err != nil {
		t.Fatal(err)
	}
	if got.MD5 != "900150983cd24fb0d6963f7d28e17f72" || got.SHA256 != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" || got.Size != 3 {
		t.Errorf("got %+v", got)
	}
	if _, err := h.Hash(context.Background(), io.NopCloser(bytes.NewReader(make([]byte, 11)))); !errors.Is(err, ErrTooLarge) {
		t.Errorf("11 bytes over a 10-byte cap: %v", err)
	}
	if _, err := h.Hash(context.Background(), io.NopCloser(bytes.NewReader(make([]byte, 10)))); err != nil {
		t.Errorf("exactly the cap: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.Hash(ctx, io.NopCloser(strings.NewReader("abc"))); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}
