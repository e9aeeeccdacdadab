package ingest_test

import (
	"context"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/connection"
	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/connector/box"
)

// openCounter wraps the Box connector and counts the content downloads open at once.
type openCounter struct {
	connector.Connector
	mu         sync.Mutex
	open, peak int
	opened     int
}

func (o *openCounter) Open(ctx context.Context, cfg connector.Config, deps connector.Deps) (connector.Session, error) {
	s, err := o.Connector.Open(ctx, cfg, deps)
	if err != nil {
		return nil, err
	}
	return &countingSession{Session: s, o: o}, nil
}

type countingSession struct {
	connector.Session
	o *openCounter
}

func (s *countingSession) Content(ctx context.Context, ref connector.ContentRef) (io.ReadCloser, error) {
	rc, err := s.Session.Content(ctx, ref)
	if err != nil {
		return nil, err
	}
	s.o.mu.Lock()
	s.o.open++
	s.o.opened++
	s.o.peak = max(s.o.peak, s.o.open)
	s.o.mu.Unlock()
	return &countedBody{ReadCloser: rc, o: s.o}, nil
}

type countedBody struct {
	io.ReadCloser
	o    *openCounter
	once sync.Once
}

func (b *countedBody) Close() error {
	b.once.Do(func() {
		b.o.mu.Lock()
		b.o.open--
		b.o.mu.Unlock()
	})
	return b.ReadCloser.Close()
}

// TestHashingOpensOnlyWhatItHashes (issue 13, defect 1): a page with many new files opens at most
// HashConcurrency downloads at once. Before, every job opened its download and then waited for a
// hashing slot: with a concurrency of 2, a 500-record page held 328 downloads open.
func TestHashingOpensOnlyWhatItHashes(t *testing.T) {
	o := &openCounter{Connector: box.New()}
	e := newEnv(t, o, true)
	e.opts.HashConcurrency = 2
	e.start()
	c := e.connect("Box hashing", "", nil)
	e.settle(200)
	if got := e.get(c.ID); got.Status != string(connection.Monitoring) {
		t.Fatalf("setup: status %q (%q)", got.Status, got.ErrorReason)
	}
	e.emu.Step(300)
	e.clock.Advance(6 * time.Minute)
	e.settle(200)
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.opened < 10 {
		t.Fatalf("only %d downloads: the test needs a page with many new files", o.opened)
	}
	if o.peak > 2 {
		t.Errorf("%d downloads open at once with a hashing concurrency of 2 (%d in all)", o.peak, o.opened)
	}
	if o.open != 0 {
		t.Errorf("%d downloads left open", o.open)
	}
}
