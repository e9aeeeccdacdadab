// Package hashing computes MD5 and SHA-256 of file content by streaming it (R3.10), with a size cap
// and bounded concurrency so that hashing never holds a file in memory nor starves collection.
package hashing

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
)

// Sum is the result of hashing one file.
type Sum struct {
	MD5, SHA256 string // lowercase hex
	Size        int64
}

// ErrTooLarge: the content is over the size cap; it is not hashed.
var ErrTooLarge = errors.New("hashing: content over the size cap")

// Hasher hashes content with bounded concurrency.
type Hasher struct {
	max int64
	sem chan struct{}
}

// New returns a Hasher that reads at most maxSize bytes per file (<= 0: 1 GiB) with at most
// concurrency files at once (<= 0: 4).
func New(maxSize int64, concurrency int) *Hasher {
	if maxSize <= 0 {
		maxSize = 1 << 30
	}
	if concurrency <= 0 {
		concurrency = 4
	}
	return &Hasher{max: maxSize, sem: make(chan struct{}, concurrency)}
}

// MaxSize is the size cap.
func (h *Hasher) MaxSize() int64 { return h.max }

// Hash reads r to its end (closing it) and returns its digests. Content over the cap gives
// ErrTooLarge; a cancelled ctx stops the read. Prefer Open when the content is a download: Hash
// is given content already open, which then waits for a slot.
func (h *Hasher) Hash(ctx context.Context, r io.ReadCloser) (Sum, error) {
	defer r.Close()
	release, err := h.acquire(ctx)
	if err != nil {
		return Sum{}, err
	}
	defer release()
	return h.sum(ctx, r)
}

// Open takes a hashing slot first, then opens the content with open and hashes it: a download is
// open only while it is being hashed, so at most the concurrency's worth are open at once.
func (h *Hasher) Open(ctx context.Context, open func(context.Context) (io.ReadCloser, error)) (Sum, error) {
	release, err := h.acquire(ctx)
	if err != nil {
		return Sum{}, err
	}
	defer release()
	r, err := open(ctx)
	if err != nil {
		return Sum{}, err
	}
	defer r.Close()
	return h.sum(ctx, r)
}

func (h *Hasher) acquire(ctx context.Context) (release func(), err error) {
	select {
	case h.sem <- struct{}{}:
		return func() { <-h.sem }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (h *Hasher) sum(ctx context.Context, r io.Reader) (Sum, error) {
	m, s := md5.New(), sha256.New()
	n, err := io.Copy(io.MultiWriter(m, s), &ctxReader{ctx: ctx, r: io.LimitReader(r, h.max+1)})
	if err != nil {
		return Sum{}, fmt.Errorf("hashing: reading content: %w", err)
	}
	if n > h.max {
		return Sum{}, fmt.Errorf("%w (%d bytes)", ErrTooLarge, h.max)
	}
	return Sum{MD5: hex.EncodeToString(m.Sum(nil)), SHA256: hex.EncodeToString(s.Sum(nil)), Size: n}, nil
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
