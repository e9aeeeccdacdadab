package ingest

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/store"
)

const (
	indexFlushFiles = 1000
	indexFlushEvery = 2 * time.Second
)

// index runs one drive's baseline crawl (R3.2): pages of files are stored without hashing, each
// with the crawl cursor in the same transaction, so a restart resumes where the last page ended.
// The unit yields after PageBudget so other drives and the stream get their turn.
func (s *Service) index(ctx context.Context, w store.Work) (time.Time, error) {
	c, ok, err := s.load(ctx, w.Key)
	if err != nil || !ok {
		return time.Time{}, err
	}
	parts := strings.SplitN(w.Key, ":", 2)
	if len(parts) != 2 {
		return time.Time{}, nil
	}
	driveID, _ := strconv.ParseInt(parts[1], 10, 64)
	d, err := s.st.GetDrive(ctx, driveID)
	if errors.Is(err, store.ErrNotFound) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, err
	}
	if !d.InScope || d.State == store.DriveIndexed || d.State == store.DriveInaccessible {
		return time.Time{}, nil
	}
	unit := unitOf(WorkIndex, w.Key)
	ss, err := s.session(ctx, c)
	if err != nil {
		return time.Time{}, s.fail(ctx, c, unit, "opening the connection", err)
	}
	defer s.afterRun(ctx, c, ss, time.Time{})
	cursorName := indexCursor + strconv.FormatInt(d.ID, 10)
	cursor, err := s.st.GetCursor(ctx, c.ID, cursorName)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return time.Time{}, err
	}
	// When this crawl began: at its end, the drive's files it did not find are gone (a re-crawl
	// after a lost position must not leave deleted files live). A crawl that ends in the run it
	// began in keeps it in memory; one that goes on saves it with its first page (no commit of its
	// own per drive), and a later run reads it back.
	startName := indexStartCursor + strconv.FormatInt(d.ID, 10)
	var crawlStart time.Time
	saveStart := false
	if cursor == "" {
		crawlStart, saveStart = s.clock.Now(), true
	} else if began, err := s.st.GetCursor(ctx, c.ID, startName); err == nil && began != "" {
		if crawlStart, err = time.Parse(time.RFC3339Nano, began); err != nil {
			return time.Time{}, fmt.Errorf("ingest: crawl start of drive %d: %w", d.ID, err)
		}
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		return time.Time{}, err
	}
	startSaved := !saveStart && !crawlStart.IsZero()
	// The drive's own streams start before its crawl (a run resuming a crawl finds them started).
	if lost, err := s.startDriveStreams(ctx, c, ss, d, unit); err != nil || lost {
		return time.Time{}, err
	}
	cd := connectorDrive(d)
	deadline := time.Now().Add(s.o.PageBudget)
	count := d.FileCount
	// Pages are stored in batches (indexFlushFiles files, or indexFlushEvery), each batch in one
	// transaction with the crawl cursor after its last page: a crash redoes at most one batch, and
	// a drive of a few folders costs one commit instead of one per folder plus one for its state.
	var batch []store.File
	lastFlush := time.Now()
	flush := func(next string, done bool, starts map[string]string) error {
		now := s.clock.Now()
		err := s.st.InTx(ctx, func(q store.Queries) error {
			if err := q.UpsertFiles(ctx, batch); err != nil {
				return err
			}
			if err := q.SaveCursor(ctx, c.ID, cursorName, next); err != nil {
				return err
			}
			// The streams that start from the crawl start where it ended, their units made with
			// this last page: the stream goes on from the state the index now holds.
			for k, pos := range starts {
				sp, ok := findStream(ss.DriveStreams(connectorDrive(d)), k)
				if !ok || !sp.FromCrawl || pos == "" {
					s.log.Warn("a crawl handed over a start for a stream that does not take one from the crawl: ignored",
						"connection", c.ID, "drive", d.VendorID, "stream", k)
					continue
				}
				name := driveStreamName(d.ID, k)
				if err := q.SaveCursor(ctx, c.ID, streamCursorName(name), pos); err != nil {
					return err
				}
				if _, err := q.EnsureWork(ctx, store.Work{Kind: WorkStream, Key: streamUnitKey(c.ID, name), ConnectionID: c.ID, NextRunAt: now}); err != nil {
					return err
				}
			}
			if !done && saveStart {
				if err := q.SaveCursor(ctx, c.ID, startName, crawlStart.UTC().Format(time.RFC3339Nano)); err != nil {
					return err
				}
				saveStart, startSaved = false, true
			}
			if done {
				// A crawl whose start is unknown (begun by an older version) sweeps nothing.
				if !crawlStart.IsZero() {
					if _, err := q.MarkFilesGone(ctx, c.ID, d.ID, crawlStart); err != nil {
						return err
					}
				}
				if startSaved {
					if err := q.SaveCursor(ctx, c.ID, startName, ""); err != nil {
						return err
					}
				}
				n, err := q.CountFiles(ctx, c.ID, d.ID)
				if err != nil {
					return err
				}
				return q.UpdateDriveState(ctx, d.ID, store.DriveIndexed, "", n, now)
			}
			return q.UpdateDriveState(ctx, d.ID, store.DriveIndexing, "", count, time.Time{})
		})
		batch, lastFlush = batch[:0], time.Now()
		return err
	}
	for {
		page, err := ss.Index(ctx, cd, cursor)
		if errors.Is(err, connector.ErrInaccessible) {
			if err := s.succeeded(ctx, c, unit); err != nil { // the run worked: the drive is what fails
				return time.Time{}, err
			}
			if err := s.st.UpdateDriveState(ctx, d.ID, store.DriveInaccessible, err.Error(), count, time.Time{}); err != nil {
				return time.Time{}, err
			}
			return time.Time{}, s.settleStatus(ctx, c.ID, false)
		}
		if err != nil {
			return time.Time{}, s.fail(ctx, c, unit, "indexing drive "+d.VendorID, err)
		}
		now := s.clock.Now()
		for _, f := range page.Files {
			sf := indexFile(c.ID, d.ID, f, now)
			batch = append(batch, sf)
		}
		count += int64(len(page.Files))
		overBudget := time.Now().After(deadline) || ctx.Err() != nil
		if page.Done || overBudget || len(batch) >= indexFlushFiles || time.Since(lastFlush) >= indexFlushEvery {
			var starts map[string]string
			if page.Done {
				starts = page.StreamStart
			}
			if err := flush(page.Next, page.Done, starts); err != nil {
				return time.Time{}, err
			}
		}
		cursor = page.Next
		if err := s.succeeded(ctx, c, unit); err != nil {
			return time.Time{}, err
		}
		if page.Done {
			// Only the last drive to finish moves the status (Indexing -> Monitoring). Each drive
			// commits its state before asking, so of two finishing together the later one sees
			// the other done. Settling after every drive counted all drives each time: quadratic.
			left, err := s.st.AnyUnindexedDrive(ctx, c.ID)
			if err != nil || left {
				return time.Time{}, err
			}
			return time.Time{}, s.settleStatus(ctx, c.ID, false)
		}
		if overBudget {
			return s.clock.Now(), nil
		}
	}
}

// indexFile is a file state as the file index keeps it.
func indexFile(conn, drive int64, f connector.File, now time.Time) store.File {
	sf := store.File{ConnectionID: conn, DriveID: drive, VendorID: f.VendorID, Name: f.Name, Path: f.Path,
		Size: f.Size, MimeType: f.MimeType, Owner: f.Owner, MD5: f.Hash.MD5, SHA256: f.Hash.SHA256, SHA1: f.Hash.SHA1,
		QuickXor: f.Hash.QuickXor, Modified: f.Modified, IndexedAt: now, State: f.State, AltID: f.AltID}
	if sf.Name == "" {
		sf.Name = path.Base(f.Path)
	}
	return sf
}
