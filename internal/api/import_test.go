package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/store"
)

// boxRecords returns n Box admin events as JSON lines, each padded to about size bytes (an unknown
// field the reader ignores), for distinct files so that none is coalesced.
func boxRecords(n, size int) string {
	var b strings.Builder
	pad := strings.Repeat("p", max(0, size-420))
	for i := range n {
		fmt.Fprintf(&b, `{"type":"event","event_id":"imp-%d","created_at":"2026-11-20T10:%02d:%02dZ","created_by":{"type":"user","id":"11","name":"Ann","login":"ann@example.com"},"event_type":"UPLOAD","ip_address":"203.0.113.9","source":{"item_type":"file","item_id":"f%d","item_name":"plan-%d.xlsx","parent":{"type":"folder","id":"7","name":"Finance"},"owned_by":{"type":"user","id":"11","name":"Ann","login":"ann@example.com"}},"padding":"%s"}`+"\n",
			i, (i/60)%60, i%60, i, i, pad)
	}
	return b.String()
}

// importConn creates a Box connection to import into and returns its id.
func importConn(t *testing.T, f *fixture) string {
	t.Helper()
	code, body := f.do(t, f.admin, "POST", "/api/v1/connections", client.NewConnection{Name: "Box import", Service: "box", TenantID: "e9",
		Settings: map[string]string{"admin_email": "a@corp.example", "client_id": "cid"}, Credentials: map[string]string{"client_secret": "s"}})
	var c client.Connection
	if err := json.Unmarshal(body, &c); code != 201 || err != nil {
		t.Fatalf("create: %d %s", code, body)
	}
	return c.ID
}

// postImport uploads body; chunked hides its length from the server (no Content-Length).
func postImport(t *testing.T, f *fixture, connID, query, body string, chunked bool) (int, []byte) {
	t.Helper()
	var rd io.Reader = strings.NewReader(body)
	if chunked {
		rd = io.MultiReader(rd) // not a type whose length net/http knows
	}
	return f.send(t, "POST", "/api/v1/connections/"+connID+"/import"+query, rd, func(req *http.Request) {
		req.Header.Set("Authorization", "Bearer "+f.admin)
		req.Header.Set("Content-Type", "application/x-ndjson")
	})
}

func storedEvents(t *testing.T, f *fixture) int {
	t.Helper()
	evs, err := f.app.Store.ListEvents(context.Background(), store.EventFilter{Limit: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	return len(evs)
}

// TestImportLargerThanRequestLimit (issue 12, defect 6): an import larger than the 16 MiB every
// other request is held to succeeds whole under the import's own limit (it answered 500 after
// storing 12,500 records).
func TestImportLargerThanRequestLimit(t *testing.T) {
	f := newFixture(t)
	id := importConn(t, f)
	body := boxRecords(2200, 8<<10)
	if len(body) <= 17<<20 {
		t.Fatalf("the upload is only %d bytes", len(body))
	}
	code, resp := postImport(t, f, id, "", body, true)
	var res client.ImportResult
	json.Unmarshal(resp, &res)
	if code != 200 || res.Records != 2200 || res.Events != 2200 || res.MalformedTotal != 0 {
		t.Fatalf("import of %d bytes: %d %s", len(body), code, resp)
	}
	if n := storedEvents(t, f); n != 2200 {
		t.Errorf("%d events stored, want 2200", n)
	}
}

// TestImportOverLimitStoresNothing (issue 12, defect 6): an upload over --import-max-size answers
// 413 naming the limit and the setting, and stores nothing, whether its length is announced or not.
func TestImportOverLimitStoresNothing(t *testing.T) {
	f := newFixtureWith(t, func(c *configT) { c.ImportMaxSize = 1 << 20 })
	id := importConn(t, f)
	body := boxRecords(600, 4<<10) // 2.4 MiB of valid records
	for _, chunked := range []bool{false, true} {
		code, resp := postImport(t, f, id, "", body, chunked)
		p := problem(t, resp)
		if code != 413 || !strings.Contains(p.Detail, "1MiB") || !strings.Contains(p.Detail, "--import-max-size") || !strings.Contains(p.Detail, "nothing was imported") {
			t.Errorf("chunked %v: %d %+v", chunked, code, p)
		}
	}
	if n := storedEvents(t, f); n != 0 {
		t.Errorf("%d events stored by refused imports", n)
	}
	// Within the limit it works.
	if code, resp := postImport(t, f, id, "", boxRecords(100, 4<<10), true); code != 200 {
		t.Errorf("import within the limit: %d %s", code, resp)
	}
}

// TestImportMalformedIsBounded (issue 12, defect 6): 1 MiB of malformed lines answers a bounded
// problem (it was 152 MB) with the first 100 errors by line and the exact total, and stores nothing;
// with skip_malformed the usable records are stored and the report is bounded the same way.
func TestImportMalformedIsBounded(t *testing.T) {
	f := newFixture(t)
	id := importConn(t, f)
	var jb strings.Builder
	jb.WriteString(strings.Repeat("x", 5000) + "\n") // one long broken line: its message is clipped
	for jb.Len() < 1<<20 {
		jb.WriteString("not json\n")
	}
	junk := jb.String()
	lines := strings.Count(junk, "\n")
	body := boxRecords(3, 500) + junk
	code, resp := postImport(t, f, id, "", body, false)
	p := problem(t, resp)
	if code != 422 || len(resp) > 64<<10 || len(p.Errors) != 100 || !strings.Contains(p.Detail, fmt.Sprintf("%d of %d records are malformed", lines, lines+3)) {
		t.Fatalf("malformed: %d, %d bytes, %d errors, %q", code, len(resp), len(p.Errors), p.Detail)
	}
	if p.Errors[0].Line != 4 || p.Errors[1].Line != 5 || p.Errors[99].Line != 103 {
		t.Errorf("errors by line: %+v ... %+v", p.Errors[0], p.Errors[99])
	}
	for _, e := range p.Errors {
		if len(e.Message) > 200 {
			t.Errorf("line %d: a %d-byte message", e.Line, len(e.Message))
		}
	}
	if n := storedEvents(t, f); n != 0 {
		t.Errorf("%d events stored by a refused import", n)
	}
	code, resp = postImport(t, f, id, "?skip_malformed=true", body, false)
	var res client.ImportResult
	json.Unmarshal(resp, &res)
	if code != 200 || len(resp) > 64<<10 || res.Events != 3 || len(res.Malformed) != 100 || res.MalformedTotal != int64(lines) {
		t.Errorf("skip_malformed: %d, %d bytes, %d events, %d listed of %d", code, len(resp), res.Events, len(res.Malformed), res.MalformedTotal)
	}
}
