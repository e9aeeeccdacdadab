package cli

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/eventgen"
	"github.com/telltale-dev/telltale/internal/store"
)

// How cutExports ends an export stream after its byte budget.
const (
	cutAbort = "abort" // the connection closes mid-response (a proxy or the node dies)
	cutClean = "clean" // the response ends properly, in the middle of a record (the server gave up)
	cutStall = "stall" // nothing more is sent (the CLI's idle timeout ends it)
)

var errCut = errors.New("test: export cut")

// cutWriter passes the first left bytes of a response, flushes them, and refuses the rest.
type cutWriter struct {
	http.ResponseWriter
	left int
	cut  bool
}

func (c *cutWriter) Write(p []byte) (int, error) {
	if c.cut {
		return 0, errCut
	}
	if len(p) <= c.left {
		c.left -= len(p)
		return c.ResponseWriter.Write(p)
	}
	n, _ := c.ResponseWriter.Write(p[:c.left])
	c.left, c.cut = 0, true
	http.NewResponseController(c.ResponseWriter).Flush()
	return n, errCut
}

func (c *cutWriter) Flush() { http.NewResponseController(c.ResponseWriter).Flush() }

func (c *cutWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// cutExports serves h, but ends every export response after budget bytes in the given way.
func cutExports(t *testing.T, h http.Handler, budget int, how string) string {
	end := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/file-events/export" {
			h.ServeHTTP(w, r)
			return
		}
		cw := &cutWriter{ResponseWriter: w, left: budget}
		func() {
			// The API aborts a stream whose writes fail (here: past the cut); this wrapper decides
			// how the cut looks to the client.
			defer func() {
				if v := recover(); v != nil && v != http.ErrAbortHandler {
					panic(v)
				}
			}()
			h.ServeHTTP(cw, r)
		}()
		if !cw.cut {
			t.Errorf("the export was shorter than %d bytes: nothing cut", budget)
		}
		switch how {
		case cutAbort:
			panic(http.ErrAbortHandler)
		case cutStall:
			select {
			case <-r.Context().Done():
			case <-end:
			}
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(end) })
	return srv.URL
}

// TestExportCutResumes (issue 12, item 8): an export whose stream is cut in the middle (the
// connection closes, the response ends inside a record, or the server stalls until the idle
// timeout) fails saying so, leaves whole records only, and acknowledges its checkpoint up to the
// last one written; the same command run again delivers the rest: together every event exactly
// once.
func TestExportCutResumes(t *testing.T) {
	a, direct := startServer(t)
	ctx := context.Background()
	conn, err := a.Store.CreateConnection(ctx, store.Connection{Name: "Box", Service: "box", ServiceType: "cloud", Status: "monitoring", ScopeKind: "all"})
	if err != nil {
		t.Fatal(err)
	}
	g := eventgen.New(eventgen.Options{Seed: 12, People: 30, Days: 10, Connections: []eventgen.Conn{{ID: conn.ID, Name: "Box", Observer: event.ObserverBox}}})
	evs := g.Batch(2000)
	ptrs := make([]*event.FileEvent, len(evs))
	for i := range evs {
		ptrs[i] = &evs[i]
	}
	if _, err := a.Store.InsertEvents(ctx, ptrs, false); err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"jsonl", "csv"} {
		full, errs, code := run(t, direct, "", "events", "export", "--format", format)
		if code != 0 {
			t.Fatalf("full %s export: %s", format, errs)
		}
		wantIDs, whole := exportRecords(t, format, full)
		if len(wantIDs) != len(evs) {
			t.Fatalf("full %s export: %d events, want %d", format, len(wantIDs), len(evs))
		}
		for _, how := range []string{cutAbort, cutClean, cutStall} {
			t.Run(format+"/"+how, func(t *testing.T) {
				name := "cut-" + format + "-" + how
				budget := len(full)*2/5 + 7 // lands inside a record
				cut := cutExports(t, a.Handler(), budget, how)
				// Only the stall needs the idle timeout; elsewhere a short one would fire first on a
				// loaded machine (the server's first bytes can take longer than 300 ms).
				idle := "30s"
				if how == cutStall {
					idle = "1s"
				}
				first, errs, code := run(t, cut, "", "events", "export", "--format", format, "--checkpoint", name, "--idle-timeout", idle)
				if code == 0 || !strings.Contains(errs, "interrupted") {
					t.Fatalf("cut export: status %d, stderr %q: want a failure that says it was interrupted", code, errs)
				}
				if how == cutStall && !strings.Contains(errs, "idle timeout") {
					t.Errorf("stalled export: %q does not name the idle timeout", errs)
				}
				got, recs := exportRecords(t, format, first)
				if len(got) == 0 || len(got) >= len(evs) {
					t.Fatalf("cut export wrote %d of %d events", len(got), len(evs))
				}
				if last := got[len(got)-1]; !strings.Contains(errs, "after event "+last) {
					t.Errorf("stderr %q does not name the last event written (%s)", errs, last)
				}
				second, errs, code := run(t, direct, "", "events", "export", "--format", format, "--checkpoint", name)
				if code != 0 {
					t.Fatalf("second run: %s", errs)
				}
				more, recs2 := exportRecords(t, format, second)
				seen := map[string]int{}
				for _, id := range append(got, more...) {
					seen[id]++
				}
				for _, rs := range []map[string]string{recs, recs2} {
					for id, r := range rs {
						if r != whole[id] {
							t.Fatalf("event %s reached the output as %q, not whole: %q", id, r, whole[id])
						}
					}
				}
				lost, doubled := 0, 0
				for _, id := range wantIDs {
					switch seen[id] {
					case 0:
						lost++
					case 1:
					default:
						doubled++
					}
				}
				if lost > 0 || doubled > 0 || len(seen) != len(wantIDs) {
					t.Errorf("two runs: %d events lost, %d delivered twice, %d distinct of %d", lost, doubled, len(seen), len(wantIDs))
				}
			})
		}
	}
}

// exportRecords returns the event ids of an export's output in order and each one's record,
// failing the test on a record that does not parse.
func exportRecords(t *testing.T, format, out string) ([]string, map[string]string) {
	t.Helper()
	var ids []string
	recs := map[string]string{}
	if format == "jsonl" {
		sc := bufio.NewScanner(strings.NewReader(out))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var e event.FileEvent
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.Event.ID == 0 {
				t.Fatalf("a partial record reached the output: %q: %v", sc.Text(), err)
			}
			id := fmt.Sprint(e.Event.ID)
			ids = append(ids, id)
			recs[id] = sc.Text()
		}
		if out != "" && !strings.HasSuffix(out, "\n") {
			t.Fatalf("the output ends inside a record: %q", out[max(0, len(out)-80):])
		}
		return ids, recs
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll() // every row as wide as the header
	if err != nil {
		t.Fatalf("a partial record reached the output: %v", err)
	}
	if len(rows) == 0 {
		return nil, recs
	}
	for _, r := range rows[1:] {
		ids = append(ids, r[0])
		recs[r[0]] = strings.Join(r, "\x00") // a row cut inside its last cell parses: compare it
	}
	return ids, recs
}

// TestExportIdleTimeout (issue 12, item 8): an export from a server that sends a few bytes and then
// nothing fails after --idle-timeout, saying so; one that is slow but steady runs past --timeout
// and completes.
func TestExportIdleTimeout(t *testing.T) {
	end := make(chan struct{})
	stall := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"event":{"id":"1"}}`+"\n"+`{"event":{"id":"2"`)
		http.NewResponseController(w).Flush()
		select {
		case <-r.Context().Done():
		case <-end:
		}
	}))
	t.Cleanup(stall.Close)
	t.Cleanup(func() { close(end) })
	start := time.Now()
	out, errs, code := run(t, stall.URL, "", "events", "export", "--format", "jsonl", "--idle-timeout", "200ms")
	if code == 0 || !strings.Contains(errs, "idle timeout") || out != `{"event":{"id":"1"}}`+"\n" {
		t.Errorf("stalled export: status %d, stdout %q, stderr %q", code, out, errs)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the stalled export failed after %s", d)
	}

	const lines = 16
	steady := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tick := time.NewTicker(50 * time.Millisecond) // 800 ms in all
		defer tick.Stop()
		for i := range lines {
			fmt.Fprintf(w, `{"event":{"id":"%d"}}`+"\n", i+1)
			http.NewResponseController(w).Flush()
			select {
			case <-tick.C:
			case <-r.Context().Done():
				return
			}
		}
	}))
	t.Cleanup(steady.Close)
	start = time.Now()
	out, errs, code = run(t, steady.URL, "", "events", "export", "--format", "jsonl", "--timeout", "300ms", "--idle-timeout", "300ms")
	if code != 0 || strings.Count(out, "\n") != lines {
		t.Errorf("steady export: status %d, %d lines, stderr %q", code, strings.Count(out, "\n"), errs)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("the steady export took %s: not longer than --timeout, the test proves nothing", d)
	}
}
