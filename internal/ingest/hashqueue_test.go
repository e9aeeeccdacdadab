package ingest_test

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/connection"
	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/connector/box"
	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/ingest"
	"github.com/telltale-dev/telltale/internal/search"
	"github.com/telltale-dev/telltale/internal/store"
)

// gatedContent wraps the Box connector so that content downloads wait until the test opens the
// gate; everything else talks to the emulator as usual.
type gatedContent struct {
	connector.Connector
	mu      sync.Mutex
	gate    chan struct{} // closed: downloads go through
	waiting int           // downloads waiting at the gate
	done    int           // downloads that went through
}

func newGatedContent() *gatedContent {
	g := &gatedContent{Connector: box.New(), gate: make(chan struct{})}
	close(g.gate)
	return g
}

// block makes downloads from now on wait; the returned function lets them go.
func (g *gatedContent) block() (release func()) {
	ch := make(chan struct{})
	g.mu.Lock()
	g.gate = ch
	g.mu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { close(ch) }) }
}

func (g *gatedContent) counts() (waiting, done int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.waiting, g.done
}

func (g *gatedContent) Open(ctx context.Context, cfg connector.Config, deps connector.Deps) (connector.Session, error) {
	s, err := g.Connector.Open(ctx, cfg, deps)
	if err != nil {
		return nil, err
	}
	return &gatedSession{Session: s, g: g}, nil
}

type gatedSession struct {
	connector.Session
	g *gatedContent
}

func (s *gatedSession) Content(ctx context.Context, ref connector.ContentRef) (io.ReadCloser, error) {
	s.g.mu.Lock()
	gate := s.g.gate
	s.g.waiting++
	s.g.mu.Unlock()
	defer func() {
		s.g.mu.Lock()
		s.g.waiting--
		s.g.mu.Unlock()
	}()
	select {
	case <-gate:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	rc, err := s.Session.Content(ctx, ref)
	s.g.mu.Lock()
	s.g.done++
	s.g.mu.Unlock()
	return rc, err
}

// stepper runs due work on its own goroutine (a handler blocked in a download blocks RunDue) until
// stopped, moving the fake clock a second per round. Stopping cancels what runs, as a process
// that is killed stops its handlers mid-download.
func (e *env) stepper() (stop func()) {
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	var errs []error
	go func() {
		defer close(done)
		for sctx.Err() == nil {
			if _, err := e.runner.RunDue(sctx); err != nil {
				if sctx.Err() == nil {
					errs = append(errs, err)
				}
				return
			}
			e.clock.Advance(time.Second)
			time.Sleep(time.Millisecond) // leave the CPU and the single writer to the test's reads
		}
	}()
	return func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			e.t.Fatal("the work runner did not stop within 30s")
		}
		for _, err := range errs {
			e.t.Error(err)
		}
	}
}

// waitFor polls cond (real time) until it holds or the deadline passes.
func waitFor(t *testing.T, within time.Duration, cond func() bool) bool {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

func searchEvents(t *testing.T, st store.Store, q string) []event.FileEvent {
	t.Helper()
	pq, err := search.Parse(q, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	evs, err := st.SearchEvents(ctx, pq, store.SearchOptions{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// TestSlowDownloadNeverDelaysCapture (issue 13, defect 1, second half): while every content
// download is blocked, a page's events are stored and searchable; once the downloads go through,
// their MD5 and SHA-256 arrive on those same events. Before, the stream downloaded every new file
// of a page before storing it, so one slow download held back the capture of the whole stream.
func TestSlowDownloadNeverDelaysCapture(t *testing.T) {
	g := newGatedContent()
	e := newEnv(t, g, true)
	c := e.connect("Box slow content", "", nil)
	e.settle(200)
	if got := e.get(c.ID); got.Status != string(connection.Monitoring) {
		t.Fatalf("setup: status %q (%q)", got.Status, got.ErrorReason)
	}
	release := g.block()
	defer release()
	u := e.emu.Users()[0]
	contents := map[string][]byte{}
	for i := range 3 {
		body := []byte(fmt.Sprintf("slow content %d of a file uploaded while downloads hang", i))
		id, _ := e.emu.Upload(u.ID, "0", fmt.Sprintf("slow-%d.txt", i), body)
		if id == "" {
			t.Fatal("setup: the emulator refused the upload")
		}
		contents[id] = body
	}
	e.clock.Advance(6 * time.Minute)
	stop := e.stepper()
	stopped := false
	defer func() {
		if !stopped {
			release()
			stop()
		}
	}()
	created := func() map[string]event.FileEvent {
		out := map[string]event.FileEvent{}
		for id := range contents {
			for _, ev := range searchEvents(t, e.store, "action:file-created file_id:"+id) {
				out[id] = ev
			}
		}
		return out
	}
	if !waitFor(t, 15*time.Second, func() bool { return len(created()) == len(contents) }) {
		waiting, done := g.counts()
		t.Errorf("with every download blocked (%d waiting, %d through), %d of %d new files' events were stored: a slow download delays capture",
			waiting, done, len(created()), len(contents))
	} else {
		if _, done := g.counts(); done != 0 {
			t.Fatalf("%d downloads went through the closed gate", done)
		}
		for id, ev := range created() {
			if ev.File.Hash.MD5 != "" || ev.File.Hash.SHA256 != "" {
				t.Errorf("file %s: hashes %+v before any download finished", id, ev.File.Hash)
			}
		}
	}
	release()
	ok := waitFor(t, 20*time.Second, func() bool {
		evs := created()
		for id := range contents {
			if evs[id].File.Hash.SHA256 == "" {
				return false
			}
		}
		return true
	})
	stop()
	stopped = true
	if !ok {
		t.Fatalf("the hashes did not arrive after the downloads were let through: %+v", created())
	}
	for id, ev := range created() {
		m, s := md5.Sum(contents[id]), sha256.Sum256(contents[id])
		if ev.File.Hash.MD5 != hex.EncodeToString(m[:]) || ev.File.Hash.SHA256 != hex.EncodeToString(s[:]) {
			t.Errorf("file %s: hashes %+v, want md5 %x sha256 %x", id, ev.File.Hash, m, s)
		}
		if got := searchEvents(t, e.store, "sha256:"+hex.EncodeToString(s[:])); len(got) == 0 {
			t.Errorf("file %s: not found by its sha256", id)
		}
		f, err := e.store.GetFile(ctx, c.ID, id)
		if err != nil {
			t.Fatal(err)
		}
		if f.SHA256 != hex.EncodeToString(s[:]) || f.MD5 != hex.EncodeToString(m[:]) {
			t.Errorf("file %s: the file index has md5 %q sha256 %q", id, f.MD5, f.SHA256)
		}
	}
}

// TestHashJobsSurviveARestart (issue 13, defect 1): the hash jobs of a page commit with its events,
// so a process killed while downloads hang loses none: after a restart on the same database the
// queue is drained and the hashes arrive, and no event is stored twice.
func TestHashJobsSurviveARestart(t *testing.T) {
	g := newGatedContent()
	e := newEnv(t, g, true)
	c := e.connect("Box restart", "", nil)
	e.settle(200)
	release := g.block()
	defer release()
	u := e.emu.Users()[0]
	body := []byte("content still to hash when the process dies")
	id, _ := e.emu.Upload(u.ID, "0", "restart.txt", body)
	e.clock.Advance(6 * time.Minute)
	stop := e.stepper()
	queued := waitFor(t, 15*time.Second, func() bool {
		waiting, _ := g.counts()
		return waiting > 0 && len(searchEvents(t, e.store, "file_id:"+id)) > 0
	})
	stop() // the download in progress is cancelled, as by a kill
	if !queued {
		t.Fatal("the upload's event was not stored, or its download did not start")
	}
	e.reopen()
	if n, err := e.store.CountHashJobs(ctx, c.ID); err != nil || n == 0 {
		t.Fatalf("after the restart %d hash jobs (%v), want the job of the interrupted download", n, err)
	}
	release()
	e.settle(200)
	evs := searchEvents(t, e.store, "action:file-created file_id:"+id)
	if len(evs) != 1 {
		t.Fatalf("%d file-created events of the upload, want 1", len(evs))
	}
	s := sha256.Sum256(body)
	if evs[0].File.Hash.SHA256 != hex.EncodeToString(s[:]) {
		t.Errorf("after the restart the event has hashes %+v, want sha256 %x", evs[0].File.Hash, s)
	}
	if n, err := e.store.CountHashJobs(ctx, c.ID); err != nil || n != 0 {
		t.Errorf("%d hash jobs left (%v)", n, err)
	}
}

// TestStoppedConnectionDropsItsHashJobs: deauthorizing a connection drops its pending hash jobs and
// its hash unit, so nothing is downloaded for it and no unit keeps failing.
func TestStoppedConnectionDropsItsHashJobs(t *testing.T) {
	g := newGatedContent()
	e := newEnv(t, g, true)
	c := e.connect("Box stopped", "", nil)
	e.settle(200)
	release := g.block()
	defer release()
	u := e.emu.Users()[0]
	e.emu.Upload(u.ID, "0", "stopped.txt", []byte("never hashed"))
	e.clock.Advance(6 * time.Minute)
	stop := e.stepper()
	queued := waitFor(t, 15*time.Second, func() bool {
		n, err := e.store.CountHashJobs(ctx, c.ID)
		return err == nil && n > 0
	})
	stop()
	if !queued {
		t.Fatal("no hash job was queued")
	}
	if _, err := e.conns.Deauthorize(ctx, c.ID, "admin"); err != nil {
		t.Fatal(err)
	}
	release()
	e.settle(50)
	if n, err := e.store.CountHashJobs(ctx, c.ID); err != nil || n != 0 {
		t.Errorf("a deauthorized connection keeps %d hash jobs (%v)", n, err)
	}
	if _, err := e.store.GetWork(ctx, ingest.WorkHash, fmt.Sprint(c.ID)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the hash unit of a deauthorized connection: %v, want none", err)
	}
}

// TestHashQueueIsBounded: beyond a connection's HashQueueMax pending jobs, new events are stored
// without a job (they keep no hash) and counted; the queue never grows past the bound.
func TestHashQueueIsBounded(t *testing.T) {
	g := newGatedContent()
	e := newEnv(t, g, true)
	e.opts.HashQueueMax = 1
	e.start()
	c := e.connect("Box bounded", "", nil)
	e.settle(200)
	release := g.block()
	defer release()
	u := e.emu.Users()[0]
	var ids []string
	for i := range 3 {
		id, _ := e.emu.Upload(u.ID, "0", fmt.Sprintf("bounded-%d.txt", i), []byte(fmt.Sprint("bounded ", i)))
		ids = append(ids, id)
	}
	before := e.ingest.Stats().HashLeftOut
	e.clock.Advance(6 * time.Minute)
	stop := e.stepper()
	stored := waitFor(t, 15*time.Second, func() bool {
		for _, id := range ids {
			if len(searchEvents(t, e.store, "action:file-created file_id:"+id)) == 0 {
				return false
			}
		}
		return true
	})
	n, err := e.store.CountHashJobs(ctx, c.ID)
	stop()
	if !stored {
		t.Fatal("the uploads' events were not stored")
	}
	if err != nil || n != 1 {
		t.Errorf("%d pending hash jobs (%v), want the bound 1", n, err)
	}
	if left := e.ingest.Stats().HashLeftOut - before; left != 2 {
		t.Errorf("%d jobs counted as left out, want 2", left)
	}
}
