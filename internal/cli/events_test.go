package cli

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"

	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/eventgen"
	"github.com/telltale-dev/telltale/internal/store"
)

func TestEventsCommands(t *testing.T) {
	a, url := startServer(t)
	ctx := context.Background()
	conn, err := a.Store.CreateConnection(ctx, store.Connection{Name: "Box", Service: "box", ServiceType: "cloud", Status: "monitoring", ScopeKind: "all"})
	if err != nil {
		t.Fatal(err)
	}
	seed := func(n int, s uint64) {
		g := eventgen.New(eventgen.Options{Seed: s, People: 20, Days: 10, Connections: []eventgen.Conn{{ID: conn.ID, Name: "Box", Observer: event.ObserverBox}}})
		evs := g.Batch(n)
		ptrs := make([]*event.FileEvent, len(evs))
		for i := range evs {
			ptrs[i] = &evs[i]
		}
		if _, err := a.Store.InsertEvents(ctx, ptrs, false); err != nil {
			t.Fatal(err)
		}
	}
	seed(400, 1)

	out, errs, code := run(t, url, "", "events", "search", "action:file-shared", "--limit", "250", "-o", "csv")
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if code != 0 || err != nil || len(rows) < 2 || rows[0][2] != "ACTION" {
		t.Fatalf("search csv: %d %v %q", code, errs, out[:min(200, len(out))])
	}
	for _, r := range rows[1:] {
		if r[2] != "file-shared" {
			t.Fatalf("row %v is not file-shared", r)
		}
	}
	_, errs, code = run(t, url, "", "events", "search", "acter:x@y.com")
	if code == 0 || !strings.Contains(errs, `did you mean "actor"`) || !strings.Contains(errs, "^") {
		t.Errorf("typo: %d %q", code, errs)
	}
	out, _, code = run(t, url, "", "events", "get", rows[1][0], "-o", "json")
	if code != 0 || !strings.Contains(out, `"timeline"`) {
		t.Errorf("get: %d %q", code, out)
	}
	out, _, code = run(t, url, "", "events", "group", "--by", "action", "-o", "csv")
	if code != 0 || !strings.Contains(out, "file-shared") {
		t.Errorf("group: %d %q", code, out)
	}

	// Incremental export: everything, then only what was stored since.
	count := func(s string) int {
		n := 0
		sc := bufio.NewScanner(strings.NewReader(s))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var e event.FileEvent
			if json.Unmarshal(sc.Bytes(), &e) == nil && e.Event.ID > 0 {
				n++
			}
		}
		return n
	}
	out, errs, code = run(t, url, "", "events", "export", "--format", "jsonl", "--checkpoint", "nightly")
	if code != 0 || count(out) != 400 {
		t.Fatalf("first export: %d, %d events, %q", code, count(out), errs)
	}
	seed(30, 2)
	out, _, _ = run(t, url, "", "events", "export", "--format", "jsonl", "--checkpoint", "nightly")
	if count(out) != 30 {
		t.Errorf("second export: %d events, want 30", count(out))
	}
	out, _, _ = run(t, url, "", "events", "export", "--format", "jsonl", "--checkpoint", "nightly")
	if count(out) != 0 {
		t.Errorf("third export: %d events, want 0", count(out))
	}
	// The checkpoint is the caller's: listed, reset (the next export starts over), deleted.
	out, errs, code = run(t, url, "", "events", "checkpoints", "list", "-o", "csv")
	if code != 0 || !strings.Contains(out, "nightly,") {
		t.Errorf("checkpoints list: %d %q %q", code, out, errs)
	}
	out, errs, code = run(t, url, "", "events", "checkpoints", "reset", "nightly")
	if code != 0 || !strings.Contains(out, "after event 0") {
		t.Errorf("checkpoints reset: %d %q %q", code, out, errs)
	}
	out, _, _ = run(t, url, "", "events", "export", "--format", "jsonl", "--checkpoint", "nightly")
	if count(out) != 430 {
		t.Errorf("export after a reset: %d events, want all 430", count(out))
	}
	out, errs, code = run(t, url, "", "events", "checkpoints", "delete", "nightly")
	if code != 0 || !strings.Contains(out, "deleted") {
		t.Errorf("checkpoints delete: %d %q %q", code, out, errs)
	}
	if _, errs, code = run(t, url, "", "events", "checkpoints", "delete", "nightly"); code == 0 || !strings.Contains(errs, "of yours") {
		t.Errorf("delete twice: %d %q", code, errs)
	}
	out, _, code = run(t, url, "", "events", "export", "action:file-shared", "--format", "csv")
	if rows2, err := csv.NewReader(strings.NewReader(out)).ReadAll(); code != 0 || err != nil || len(rows2) < len(rows) {
		t.Errorf("csv export: %d %v %d rows", code, err, len(rows2))
	}

	out, errs, code = run(t, url, "", "searches", "save", "Shared", "action:file-shared")
	if code != 0 || !strings.Contains(out, "saved") {
		t.Fatalf("save: %d %q %q", code, out, errs)
	}
	out, _, code = run(t, url, "", "searches", "run", "shared", "--limit", "5")
	if code != 0 || strings.Count(out, "file-shared") != 5 {
		t.Errorf("run: %d %q", code, out)
	}
	out, _, _ = run(t, url, "", "searches", "list", "-o", "csv")
	if !strings.Contains(out, "Shared,action:file-shared") {
		t.Errorf("list: %q", out)
	}
}

// cancelAfter cancels the export's context once n lines have reached the output.
type cancelAfter struct {
	buf    strings.Builder
	n      int
	cancel context.CancelFunc
}

func (c *cancelAfter) Write(p []byte) (int, error) {
	c.buf.Write(p)
	if strings.Count(c.buf.String(), "\n") >= c.n {
		c.cancel()
	}
	return len(p), nil
}

// TestExportInterruptedResumes: an export stopped part-way (Ctrl-C) acknowledges exactly what it
// wrote; the next run with the same checkpoint delivers the rest: together every event once.
func TestExportInterruptedResumes(t *testing.T) {
	a, url := startServer(t)
	ctx := context.Background()
	conn, _ := a.Store.CreateConnection(ctx, store.Connection{Name: "Box", Service: "box", ServiceType: "cloud", Status: "monitoring", ScopeKind: "all"})
	g := eventgen.New(eventgen.Options{Seed: 9, People: 30, Days: 10, Connections: []eventgen.Conn{{ID: conn.ID, Name: "Box", Observer: event.ObserverBox}}})
	evs := g.Batch(12000)
	ptrs := make([]*event.FileEvent, len(evs))
	for i := range evs {
		ptrs[i] = &evs[i]
	}
	if _, err := a.Store.InsertEvents(ctx, ptrs, false); err != nil {
		t.Fatal(err)
	}
	seen := map[int64]int{}
	collect := func(s string) {
		sc := bufio.NewScanner(strings.NewReader(s))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var e event.FileEvent
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				t.Fatalf("a partial record reached the output: %v", err)
			}
			seen[e.Event.ID]++
		}
	}
	for _, format := range []string{"jsonl", "csv"} {
		clear(seen)
		name := "resume-" + format
		rounds := 0
		for round := 0; round < 10; round++ {
			rounds++
			cctx, cancel := context.WithCancel(ctx)
			w := &cancelAfter{n: 3000, cancel: cancel}
			e := &env{getenv: func(k string) string {
				return map[string]string{"TELLTALE_SERVER": url, "TELLTALE_TOKEN": token}[k]
			}, stdin: strings.NewReader(""), stdout: w, stderr: &strings.Builder{}}
			root := e.root()
			root.SetArgs([]string{"events", "export", "--format", format, "--checkpoint", name})
			if err := root.ExecuteContext(cctx); err != nil {
				t.Fatalf("%s round %d: %v", format, round, err)
			}
			cancel()
			if format == "jsonl" {
				collect(w.buf.String())
			} else {
				rows, err := csv.NewReader(strings.NewReader(w.buf.String())).ReadAll()
				if err != nil {
					t.Fatalf("csv round %d: a partial record reached the output: %v", round, err)
				}
				for _, r := range rows[1:] {
					var id int64
					json.Unmarshal([]byte(r[0]), &id)
					seen[id]++
				}
			}
			if len(seen) == len(evs) {
				break
			}
		}
		dup := 0
		for _, n := range seen {
			if n > 1 {
				dup++
			}
		}
		if len(seen) != len(evs) || dup > 0 || rounds < 3 {
			t.Errorf("%s: %d of %d events delivered across %d interrupted runs, %d more than once", format, len(seen), len(evs), rounds, dup)
		}
	}
}
