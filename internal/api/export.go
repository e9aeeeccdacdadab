package api

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/telltale-dev/telltale/internal/csvsafe"
	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/search"
	"github.com/telltale-dev/telltale/internal/store"
)

// ExportReaders is how many id ranges an export reads at once: reading rows is one core's work per
// query (the SQLite driver runs in the reading goroutine), so a large export reads ranges side by
// side. It leaves at least one of SQLite's four read connections to other requests.
var ExportReaders = min(runtime.GOMAXPROCS(0), 3)

// exportPage is how many events an export reads per query, and the id span a range starts with.
const exportPage = 5000

// WriteExport streams every event matching q with an id above afterID, in id order, to w as CSV
// (with CSVHeader) or JSON lines. It is the body of POST /api/v1/file-events/export; the search
// benchmark measures it.
//
// The export is of the events stored when it starts: those with ids up to the newest one then
// (events stored later are the next incremental export's). That id range is cut into ranges read
// by ExportReaders goroutines at once and written in order (readExport), a page of at most 5,000
// events at a time, each flushed (and w's http.Flusher called) before the next is written, so
// memory stays constant whatever the size of the result.
func WriteExport(ctx context.Context, st store.EventQueries, q search.Query, format string, afterID int64, w io.Writer) error {
	bw := bufio.NewWriterSize(w, 256<<10)
	csvOut := format == "csv"
	if csvOut {
		cw := csvsafe.NewWriter(bw)
		if err := cw.Write(CSVHeader); err != nil {
			return err
		}
		cw.Flush()
	}
	newest, err := st.SearchEvents(ctx, search.Query{}, store.SearchOptions{Sort: store.SortID, Desc: true, Limit: 1, IncludeHeld: true})
	if err != nil {
		return err
	}
	if len(newest) == 0 {
		return bw.Flush()
	}
	// Up to the newest id, and no further than the horizon: an id below the newest one may still
	// commit (PostgreSQL's writers run side by side), and the next incremental export resumes
	// after the last id this one wrote.
	upTo := newest[0].Event.ID
	if h, err := st.EventHorizon(ctx); err != nil {
		return err
	} else if h < upTo {
		upTo = h
	}
	if upTo <= afterID {
		return bw.Flush()
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait() // after cancel: no reader outlives the export
	defer cancel()
	enc := json.NewEncoder(bw)
	var row []byte
	for r := range readExport(ctx, &wg, st, q, afterID, upTo, ExportReaders) {
		if r.err != nil {
			return r.err
		}
		for i := range r.page {
			if csvOut {
				row = appendCSVRow(row[:0], &r.page[i])
				if _, err := bw.Write(row); err != nil {
					return err
				}
			} else if err := enc.Encode(&r.page[i]); err != nil {
				return err
			}
		}
		if err := bw.Flush(); err != nil {
			return err
		}
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return bw.Flush()
}

// exportResult is one page of an export, or the error that ends it.
type exportResult struct {
	page []event.FileEvent
	err  error
}

// exportRange is the events of ids (lo, hi], read by one reader into pages.
type exportRange struct {
	lo, hi int64
	pages  chan exportResult
}

// maxExportSpan bounds how far the id span of a range grows for a sparse query.
const maxExportSpan = 1 << 40

// readExport returns the pages of the events matching q with ids in (after, upTo], in id order,
// read by `readers` goroutines (counted in wg) side by side. A dispatcher cuts the ids into
// consecutive ranges; each reader takes the next range and reads it a page at a time; the pages
// are passed on range by range in order. A range starts at exportPage ids, so when every event
// matches one query reads it whole; it doubles after a range that matched less than half a page
// (a selective query) and halves after one that matched more than two pages. Memory stays bounded:
// at most `readers` ranges wait to be passed on, and each holds at most one page read ahead.
// Cancelling ctx stops every goroutine; an error is the last page sent.
func readExport(ctx context.Context, wg *sync.WaitGroup, st store.EventQueries, q search.Query, after, upTo int64, readers int) <-chan exportResult {
	readers = max(readers, 1)
	out := make(chan exportResult, 1)
	order := make(chan *exportRange, readers) // ranges in id order, for the sequencer
	work := make(chan *exportRange)           // ranges for the readers
	var span atomic.Int64
	span.Store(exportPage)
	send := func(ch chan<- exportResult, r exportResult) bool {
		select {
		case ch <- r:
			return true
		case <-ctx.Done():
			return false
		}
	}
	wg.Go(func() { // dispatcher
		defer close(work)
		defer close(order)
		for lo := after; lo < upTo; {
			hi := upTo
			if s := span.Load(); upTo-lo > s {
				hi = lo + s
			}
			r := &exportRange{lo: lo, hi: hi, pages: make(chan exportResult, 1)}
			select {
			case order <- r:
			case <-ctx.Done():
				return
			}
			select {
			case work <- r:
			case <-ctx.Done():
				return
			}
			lo = hi
		}
	})
	for range readers {
		wg.Go(func() {
			for r := range work {
				n, ok := readRange(ctx, st, q, r, send)
				if !ok {
					return
				}
				switch s := span.Load(); {
				case n < exportPage/2 && s < maxExportSpan:
					span.Store(s * 2)
				case n > 2*exportPage && s > exportPage:
					span.Store(max(s/2, exportPage))
				}
			}
		})
	}
	wg.Go(func() { // sequencer
		defer close(out)
		for r := range order {
			for p := range r.pages {
				if !send(out, p) || p.err != nil {
					return
				}
			}
		}
	})
	return out
}

// readRange reads the range's events into its pages and closes them; it returns how many events
// it read, and false when the export ends (an error, sent as the last page, or ctx cancelled).
func readRange(ctx context.Context, st store.EventQueries, q search.Query, r *exportRange, send func(chan<- exportResult, exportResult) bool) (int, bool) {
	defer close(r.pages)
	n, cur := 0, r.lo
	for {
		page, err := st.SearchEvents(ctx, q, store.SearchOptions{Sort: store.SortID, Limit: exportPage, After: &store.SearchCursor{ID: cur}, UpToID: r.hi})
		if err != nil {
			send(r.pages, exportResult{err: err})
			return n, false
		}
		if len(page) > 0 && !send(r.pages, exportResult{page: page}) {
			return n, false
		}
		n += len(page)
		if len(page) < exportPage || page[len(page)-1].Event.ID >= r.hi {
			return n, true
		}
		cur = page[len(page)-1].Event.ID
	}
}
