package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/telltale-dev/telltale/internal/connector"
)

// ImportResult reports an import.
type ImportResult struct {
	Records, Events, Duplicates, OutOfScope int64
	Skipped                                 map[string]int64
	// Malformed are the first MaxLineErrors unusable records; MalformedTotal counts all of them.
	Malformed      []LineError
	MalformedTotal int64
}

// LineError is an unusable record by its starting line.
type LineError struct {
	Line int
	Err  string // at most MaxLineErrorLen bytes
}

// Bounds of an import's report: it is bounded whatever the input (a 1 MiB file of bad lines once
// answered 152 MB of errors).
const (
	MaxLineErrors   = 100
	MaxLineErrorLen = 200
)

// ErrMalformed is returned (wrapped, with the result listing them) when records are malformed
// and the import was not asked to skip them: nothing was stored.
var ErrMalformed = errors.New("malformed records")

// ImportError is an import that stopped after storing part of the records (a database failure, a
// cancelled request): what was stored stays, and importing the same file again skips it.
type ImportError struct {
	Stored ImportResult // what was stored before the failure
	Err    error
}

func (e *ImportError) Error() string {
	return fmt.Sprintf("import stopped after storing %d events from %d records: %v", e.Stored.Events, e.Stored.Records, e.Err)
}

func (e *ImportError) Unwrap() error { return e.Err }

// ImportOptions change how Import treats malformed records.
type ImportOptions struct {
	// SkipMalformed imports the usable records of an input that has malformed ones; without it
	// such an input is refused whole.
	SkipMalformed bool
}

// importBatch is how many records one import transaction stores.
const importBatch = 500

// Import stores exported vendor records (for Box, an admin-events export or saved API pages) into a
// connection through the same path as live collection: records already stored are dropped by their
// vendor id, drives out of scope are skipped, and rapid repeats are coalesced. Importing the same
// file twice stores nothing new.
//
// It stores nothing until the whole input has been read and checked: r is copied to a spool file
// in Options.SpoolDir while every record is decoded, so an input that cannot be read to the end
// (too large: r's error, e.g. *http.MaxBytesError, is returned wrapped) or that has malformed records
// (ErrMalformed, unless opt.SkipMalformed) changes nothing. Then the spool is read again and stored
// in transactions of importBatch records; a failure there (the database, a cancelled request) is an
// *ImportError saying what was stored, which a re-run skips.
func (s *Service) Import(ctx context.Context, connID int64, r io.Reader, opt ImportOptions) (ImportResult, error) {
	res := ImportResult{Skipped: map[string]int64{}}
	c, err := s.st.GetConnection(ctx, connID)
	if err != nil {
		return res, err
	}
	con, ok := s.o.Registry.Get(c.Service)
	if !ok {
		return res, fmt.Errorf("ingest: no connector for service %q", c.Service)
	}
	rr, ok := con.(connector.RecordReader)
	if !ok {
		return res, fmt.Errorf("%s connections cannot import exported records", c.Service)
	}
	if s.o.SpoolDir != "" {
		if err := os.MkdirAll(s.o.SpoolDir, 0o700); err != nil {
			return res, fmt.Errorf("import: spool directory: %w", err)
		}
	}
	spool, err := os.CreateTemp(s.o.SpoolDir, "telltale-import-*.spool")
	if err != nil {
		return res, fmt.Errorf("import: spool file: %w", err)
	}
	defer func() { spool.Close(); os.Remove(spool.Name()) }()

	// Pass 1: read and check everything, store nothing.
	err = rr.ReadRecords(io.TeeReader(r, spool), func(line int, rec connector.Record, err error) error {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		res.Records++
		switch {
		case err != nil:
			res.MalformedTotal++
			if len(res.Malformed) < MaxLineErrors {
				res.Malformed = append(res.Malformed, LineError{Line: line, Err: clip(err.Error(), MaxLineErrorLen)})
			}
		case rec.Skip != "":
			res.Skipped[rec.Skip]++
		}
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("import: nothing was stored: %w", err)
	}
	if res.MalformedTotal > 0 && !opt.SkipMalformed {
		return res, fmt.Errorf("import: %w", ErrMalformed)
	}
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		return res, fmt.Errorf("import: nothing was stored: rewind spool file: %w", err)
	}

	// Pass 2: store the usable records in batches.
	done := ImportResult{Skipped: res.Skipped, Malformed: res.Malformed, MalformedTotal: res.MalformedTotal}
	var batch []connector.Record
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		pr, err := s.storePage(ctx, c, nil, connector.ChangesPage{Records: batch}, "")
		if err != nil {
			return err
		}
		done.Records += int64(len(batch))
		done.Events += pr.Inserted
		done.Duplicates += pr.Duplicates
		done.OutOfScope += pr.OutOfScope
		batch = batch[:0]
		return nil
	}
	err = rr.ReadRecords(spool, func(line int, rec connector.Record, err error) error {
		if err != nil || rec.Skip != "" {
			return nil
		}
		batch = append(batch, rec)
		if len(batch) >= importBatch {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return done, &ImportError{Stored: done, Err: err}
	}
	done.Records = res.Records
	return done, nil
}

// clip shortens s to at most n bytes (on a rune boundary), marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("...")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strings.ToValidUTF8(s[:cut], "") + "..."
}
