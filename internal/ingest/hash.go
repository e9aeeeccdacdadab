package ingest

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/telltale-dev/telltale/internal/connection"
	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/hashing"
	"github.com/telltale-dev/telltale/internal/httpx"
	"github.com/telltale-dev/telltale/internal/store"
	"github.com/telltale-dev/telltale/internal/work"
)

// Hashing runs off the activity stream (issue 13, defect 1): a page's transaction stores its
// events without Telltale's hashes and queues one hash job per event to fill (store.HashJob); the
// connection's collect.hash unit downloads each queued file once and fills the events, the file
// index and the queue in one transaction. A slow or hanging download therefore never delays the
// capture of activity; an event is searchable at once and gets its MD5 and SHA-256 when its
// download is done.

// DefaultHashQueueMax is the default bound of a connection's pending hash jobs (Options.HashQueueMax).
const DefaultHashQueueMax = 100_000

// hashBatchFiles is how many files one run of a connection's hash unit downloads before it
// commits and runs again.
const hashBatchFiles = 64

// needsHash reports whether e asks for a download: a created or modified file, or an attachment
// an email connection's user sent (R4.3), still missing Telltale's MD5 or SHA-256 (R3.10) that is
// not known to be over the size cap. The hashes the vendor gives itself (connector.Spec.Hashes) do
// not replace them.
func (s *Service) needsHash(sp connector.Spec, e *event.FileEvent) bool {
	act := e.Event.Action == event.ActionCreated || e.Event.Action == event.ActionModified ||
		(sp.ServiceType == connection.Email && e.Event.Action == event.ActionEmailed)
	return sp.HasContent(e.File.MimeType) && act && e.File.ID != "" &&
		!strings.HasPrefix(e.File.ID, "folder:") && (e.File.Hash.MD5 == "" || e.File.Hash.SHA256 == "") &&
		(e.File.Size == 0 || e.File.Size <= s.hasher.MaxSize())
}

// enqueueHashes queues the downloads the page's stored events need, in the page's transaction
// q, and has the connection's hash unit run now. Jobs over the connection's bound are left out
// and counted: those events keep no hash, like a file over the size cap.
func (s *Service) enqueueHashes(ctx context.Context, q store.Queries, c store.Connection, sp connector.Spec, evs []event.FileEvent) error {
	var jobs []store.HashJob
	for i := range evs {
		e := &evs[i]
		if e.Event.ID == 0 || !s.needsHash(sp, e) { // ID 0: a duplicate, stored (and queued) before
			continue
		}
		jobs = append(jobs, store.HashJob{ConnectionID: c.ID, Drive: e.File.DriveID, File: e.File.ID, EventID: e.Event.ID})
	}
	if len(jobs) == 0 {
		return nil
	}
	n, err := q.EnqueueHashJobs(ctx, jobs, s.o.HashQueueMax)
	if err != nil {
		return err
	}
	if left := len(jobs) - n; left > 0 {
		s.count(func(st *Stats) { st.HashLeftOut += int64(left) })
		s.log.Warn("hash queue full: events stored without hashes", "connection", c.ID, "left_out", left, "bound", s.o.HashQueueMax)
	}
	if n == 0 {
		return nil
	}
	return s.wakeHash(ctx, q, c.ID)
}

// wakeHash has the connection's hash unit run now: it is created when absent, asked to run
// again when it is running; a unit waiting (for a vendor's Retry-After) keeps its time.
func (s *Service) wakeHash(ctx context.Context, q store.Queries, conn int64) error {
	now := s.clock.Now()
	w := store.Work{Kind: WorkHash, Key: key(conn), ConnectionID: conn, NextRunAt: now}
	cur, err := q.GetWork(ctx, WorkHash, key(conn))
	switch {
	case errors.Is(err, store.ErrNotFound):
		_, err = q.EnsureWork(ctx, w)
	case err == nil && cur.LeaseOwner != "" && cur.LeaseUntil.After(now):
		_, err = q.ScheduleWork(ctx, w)
	}
	return err
}

// hash drains a bounded batch of a connection's hash queue (WorkHash): each file is downloaded
// once (a hashing slot is taken before the download is opened), then its events and its file
// index row get the digests and its jobs go, all in one transaction. A file that cannot be read
// (gone, over the size cap, an error) loses its jobs and is counted; a throttled download keeps
// them and the unit runs again when the vendor says.
func (s *Service) hash(ctx context.Context, w store.Work) (time.Time, error) {
	c, ok, err := s.load(ctx, w.Key)
	if err != nil || !ok {
		return time.Time{}, err // a deleted or stopped connection: the unit ends (stop drops its jobs)
	}
	unit := unitOf(WorkHash, w.Key)
	jobs, err := s.st.ClaimHashJobs(ctx, c.ID, hashBatchFiles)
	if err != nil || len(jobs) == 0 {
		return time.Time{}, err
	}
	ss, err := s.session(ctx, c)
	if err != nil {
		return time.Time{}, s.fail(ctx, c, unit, "opening the connection", err)
	}
	defer s.afterRun(context.WithoutCancel(ctx), c, ss, time.Time{})
	type file struct{ drive, id, part string }
	groups := map[file][]store.HashJob{}
	var order []file
	for _, j := range jobs {
		f := file{j.Drive, j.File, j.Part}
		if _, ok := groups[f]; !ok {
			order = append(order, f)
		}
		groups[f] = append(groups[f], j)
	}
	type result struct {
		sum hashing.Sum
		err error
	}
	results := make([]result, len(order))
	var wg sync.WaitGroup
	for i, f := range order {
		wg.Go(func() {
			// The slot is taken before the download is opened (a waiting job holds no connection).
			results[i].sum, results[i].err = s.hasher.Open(ctx, func(ctx context.Context) (io.ReadCloser, error) {
				return ss.Content(ctx, connector.ContentRef{Drive: f.drive, File: f.id, Part: f.part})
			})
		})
	}
	wg.Wait()
	var throttle error
	hashed, failed := 0, 0
	err = s.st.InTx(ctx, func(q store.Queries) error {
		hashed, failed = 0, 0
		for i, f := range order {
			r := results[i]
			switch {
			case r.err == nil:
				sum := store.HashSum{MD5: r.sum.MD5, SHA256: r.sum.SHA256, Size: r.sum.Size}
				if err := q.CompleteHashJobs(ctx, groups[f], &sum); err != nil {
					return err
				}
				hashed++
			case isThrottle(r.err):
				throttle = r.err // the jobs stay for the next run
			case ctx.Err() != nil:
				// Stopping: the jobs stay for the next run.
			default:
				if err := q.CompleteHashJobs(ctx, groups[f], nil); err != nil {
					return err
				}
				failed++
				s.log.Debug("hashing skipped", "connection", c.ID, "file", f.id, "err", r.err)
			}
		}
		return nil
	})
	if err != nil {
		return time.Time{}, err
	}
	s.count(func(st *Stats) { st.Hashed += int64(hashed); st.HashErrors += int64(failed) })
	if ctx.Err() != nil {
		return time.Time{}, ctx.Err()
	}
	if throttle != nil {
		if d, ok := throttledFor(throttle, s.clock.Now()); ok {
			return time.Time{}, work.RetryAfter(d)
		}
		return time.Time{}, work.RetryAfter(time.Minute) // refused by the client's own fence
	}
	if err := s.succeeded(ctx, c, unit); err != nil {
		return time.Time{}, err
	}
	left, err := s.st.CountHashJobs(ctx, c.ID)
	if err != nil || left == 0 {
		return time.Time{}, err // done: the unit ends until a page queues more
	}
	return s.clock.Now(), nil
}

// isThrottle reports whether a download was refused for throttling: it is tried again, not dropped.
func isThrottle(err error) bool {
	if _, ok := throttledFor(err, time.Time{}); ok {
		return true
	}
	return errors.Is(err, httpx.ErrThrottled)
}
