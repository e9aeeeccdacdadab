package api_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/api"
	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/search"
	"github.com/telltale-dev/telltale/internal/store"
)

// matchingIDs reads the ids of the events matching q above after, one page after another in id
// order: what an export must write, in that order.
func matchingIDs(t *testing.T, st store.EventQueries, q search.Query, after int64) []int64 {
	t.Helper()
	ids := []int64{}
	for {
		page, err := st.SearchEvents(context.Background(), q, store.SearchOptions{Sort: store.SortID, Limit: 10000, After: &store.SearchCursor{ID: after}})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page {
			ids = append(ids, e.Event.ID)
		}
		if len(page) < 10000 {
			return ids
		}
		after = page[len(page)-1].Event.ID
	}
}

// exportedIDs parses an export's body (CSV with its header, or JSON lines) into its event ids.
func exportedIDs(t *testing.T, format string, body []byte) []int64 {
	t.Helper()
	ids := []int64{}
	if format == "csv" {
		rows, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
		if err != nil || len(rows) == 0 || !slices.Equal(rows[0], api.CSVHeader) {
			t.Fatalf("csv: %v, %d rows", err, len(rows))
		}
		for _, r := range rows[1:] {
			id, err := strconv.ParseInt(r[0], 10, 64)
			if err != nil {
				t.Fatalf("csv id %q: %v", r[0], err)
			}
			ids = append(ids, id)
		}
		return ids
	}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e event.FileEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("jsonl: %v", err)
		}
		ids = append(ids, e.Event.ID)
	}
	return ids
}

func setExportReaders(t *testing.T, n int) {
	old := api.ExportReaders
	api.ExportReaders = n
	t.Cleanup(func() { api.ExportReaders = old })
}

// TestExportReadsRangesInOrder: the export reads id ranges side by side and must still write every
// matching event exactly once, in id order, whatever the number of readers, the query's density
// (every event, a common action, one person: ranges grow for sparse queries) and the starting id.
func TestExportReadsRangesInOrder(t *testing.T) {
	f := newFixture(t)
	evs := seedEvents(t, f, 23000, 7)
	st := f.app.Store
	ctx := context.Background()
	all := matchingIDs(t, st, search.Query{}, 0)
	if len(all) != len(evs) {
		t.Fatalf("stored %d of %d events", len(all), len(evs))
	}
	for _, text := range []string{"", "action:file-modified", "actor:" + evs[123].User.Email, "name:*.xlsx OR size>5MB", "action:file-downloaded AND actor:nobody@corp.example"} {
		q, err := search.Parse(text, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		for _, after := range []int64{0, all[len(all)/3]} {
			want := matchingIDs(t, st, q, after)
			for i, readers := range []int{1, 2, 3, 8} {
				format := []string{"csv", "jsonl"}[i%2]
				setExportReaders(t, readers)
				var buf bytes.Buffer
				if err := api.WriteExport(ctx, st, q, format, after, &buf); err != nil {
					t.Fatalf("%q after %d, %d readers, %s: %v", text, after, readers, format, err)
				}
				if got := exportedIDs(t, format, buf.Bytes()); !slices.Equal(got, want) {
					t.Errorf("%q after %d, %d readers, %s: exported %d events, want %d (first difference at %d)",
						text, after, readers, format, len(got), len(want), firstDiff(got, want))
				}
			}
		}
	}
}

func firstDiff(a, b []int64) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// faultyStore is the real store with a fault injected into its reads: SearchEvents fails from its
// failAt-th call on, and before its first call it can run a hook (to insert while exporting).
type faultyStore struct {
	store.EventQueries
	calls, failAt int
	before        func()
}

var errInjected = errors.New("injected read failure")

func (s *faultyStore) SearchEvents(ctx context.Context, q search.Query, o store.SearchOptions) ([]event.FileEvent, error) {
	s.calls++ // the export's readers run one call at a time only with one reader (the tests below)
	if s.calls == 2 && s.before != nil {
		s.before()
	}
	if s.failAt > 0 && s.calls >= s.failAt {
		return nil, errInjected
	}
	return s.EventQueries.SearchEvents(ctx, q, o)
}

// TestExportFailureAndSnapshot: a read that fails ends the export with its error after the pages
// before it, and leaves no reader running; events stored while an export runs are not in it but in
// the next export after its checkpoint, so none is lost or repeated.
func TestExportFailureAndSnapshot(t *testing.T) {
	f := newFixture(t)
	seedEvents(t, f, 12000, 8)
	ctx := context.Background()
	all := matchingIDs(t, f.app.Store, search.Query{}, 0)
	setExportReaders(t, 1)

	base := runtime.NumGoroutine()
	fs := &faultyStore{EventQueries: f.app.Store, failAt: 4} // the newest id, two pages, then the failure
	var buf bytes.Buffer
	err := api.WriteExport(ctx, fs, search.Query{}, "csv", 0, &buf)
	if !errors.Is(err, errInjected) {
		t.Fatalf("export with a failing read: err = %v", err)
	}
	if got := exportedIDs(t, "csv", buf.Bytes()); !slices.Equal(got, all[:10000]) {
		t.Errorf("before the failure: %d events written, want the first 10000 in order", len(got))
	}
	for i := 0; runtime.NumGoroutine() > base && i < 100; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > base {
		t.Errorf("%d goroutines after the failed export, %d before", n, base)
	}

	// A cancelled export stops with the context's error.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := api.WriteExport(cctx, f.app.Store, search.Query{}, "jsonl", 0, io.Discard); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled export: err = %v", err)
	}

	// Events stored during an export go to the next one.
	var late []event.FileEvent
	fs = &faultyStore{EventQueries: f.app.Store, before: func() { late = seedEvents(t, f, 500, 9) }}
	buf.Reset()
	if err := api.WriteExport(ctx, fs, search.Query{}, "jsonl", 0, &buf); err != nil {
		t.Fatal(err)
	}
	first := exportedIDs(t, "jsonl", buf.Bytes())
	if !slices.Equal(first, all) || len(late) != 500 {
		t.Fatalf("export during inserts: %d events, want the %d stored when it started (%d stored during it)", len(first), len(all), len(late))
	}
	buf.Reset()
	if err := api.WriteExport(ctx, f.app.Store, search.Query{}, "jsonl", first[len(first)-1], &buf); err != nil {
		t.Fatal(err)
	}
	second := exportedIDs(t, "jsonl", buf.Bytes())
	if want := matchingIDs(t, f.app.Store, search.Query{}, all[len(all)-1]); len(second) != 500 || !slices.Equal(second, want) {
		t.Errorf("next export: %d events, want the %d stored during the first", len(second), len(want))
	}
}
