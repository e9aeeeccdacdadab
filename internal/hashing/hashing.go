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
// ErrTooLarge; a cancelled ctx stops the read.
func (h *Hasher) Hash(ctx context.Context, r io.ReadCloser) (Sum, error) {
	defer r.Close()
	select {
	case h.sem <- struct{}{}:
	case <-ctx.Done():
		return Sum{}, ctx.Err()
	}
	defer func() { <-h.sem }()
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
