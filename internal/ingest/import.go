package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/telltale-dev/telltale/internal/connector"
)

// ImportResult reports an import.
type ImportResult struct {
	Records, Events, Duplicates, OutOfScope int64
	Skipped                                 map[string]int64
	Malformed                               []LineError
}

// LineError is an unusable record by its starting line.
type LineError struct {
	Line int
	Err  string
}

// importBatch is how many records one import transaction stores.
const importBatch = 500

// Import stores exported vendor records (for Box, an admin-events export or saved API pages) into a
// connection through the same path as live collection: records already stored are dropped by their
// vendor id, drives out of scope are skipped, and rapid repeats are coalesced. Malformed records are
// reported by line and the rest is imported. Importing the same file twice stores nothing new.
func (s *Service) Import(ctx context.Context, connID int64, r io.Reader) (ImportResult, error) {
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
	var batch []connector.Record
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		pr, err := s.storePage(ctx, c, nil, connector.ChangesPage{Records: batch}, false)
		if err != nil {
			return err
		}
		res.Events += pr.Inserted
		res.Duplicates += pr.Duplicates
		res.OutOfScope += pr.OutOfScope
		batch = batch[:0]
		return nil
	}
	err = rr.ReadRecords(r, func(line int, rec connector.Record, err error) error {
		res.Records++
		if err != nil {
			res.Malformed = append(res.Malformed, LineError{Line: line, Err: err.Error()})
			return nil
		}
		if rec.Skip != "" {
			res.Skipped[rec.Skip]++
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
	if err != nil && !errors.Is(err, context.Canceled) {
		return res, fmt.Errorf("import: %w", err)
	}
	return res, err
}
