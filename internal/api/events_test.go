package api_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/eventgen"
	"github.com/telltale-dev/telltale/internal/store"
)

// seedEvents stores n generated events through a connection of the fixture and returns them.
func seedEvents(t *testing.T, f *fixture, n int, seed uint64) []event.FileEvent {
	t.Helper()
	ctx := context.Background()
	cs, _ := f.app.Store.ListConnections(ctx)
	var conn store.Connection
	if len(cs) > 0 {
		conn = cs[0]
	} else {
		var err error
		conn, err = f.app.Store.CreateConnection(ctx, store.Connection{Name: "Box seed", Service: "box", ServiceType: "cloud", Status: "monitoring", ScopeKind: "all"})
		if err != nil {
			t.Fatal(err)
		}
	}
	g := eventgen.New(eventgen.Options{Seed: seed, People: 40, Days: 30, Connections: []eventgen.Conn{{ID: conn.ID, Name: conn.Name, Observer: event.ObserverBox}}})
	evs := g.Batch(n)
	ptrs := make([]*event.FileEvent, len(evs))
	for i := range evs {
		ptrs[i] = &evs[i]
	}
	if _, err := f.app.Store.InsertEvents(ctx, ptrs, false); err != nil {
		t.Fatal(err)
	}
	return evs
}

func TestSearchAPI(t *testing.T) {
	f := newFixture(t)
	evs := seedEvents(t, f, 500, 1)
	actor := evs[10].User.Email

	// Page through one actor's events with the cursor: each exactly once, newest first.
	seen := map[string]bool{}
	cursor, pages, total := "", 0, int64(0)
	for {
		code, body := f.do(t, f.admin, "POST", "/api/v1/file-events/search", client.SearchRequest{Query: "actor:" + actor, Limit: 7, Cursor: cursor})
		if code != 200 {
			t.Fatalf("search: %d %s", code, body)
		}
		var res client.SearchResult
		json.Unmarshal(body, &res)
		total = res.Total
		for _, it := range res.Items {
			var e event.FileEvent
			json.Unmarshal(it, &e)
			id := string(rune(e.Event.ID))
			if seen[id] || e.User.Email != actor {
				t.Fatalf("event %d repeated or not %s's", e.Event.ID, actor)
			}
			seen[id] = true
		}
		pages++
		if res.NextCursor == "" {
			break
		}
		cursor = res.NextCursor
	}
	want := 0
	for _, e := range evs {
		if e.User.Email == actor {
			want++
		}
	}
	if len(seen) != want || total != int64(want) || pages < 2 {
		t.Errorf("paged %d events in %d pages, total %d; want %d", len(seen), pages, total, want)
	}

	// A typo: 400 with the position and the nearest field.
	code, body := f.do(t, f.admin, "POST", "/api/v1/file-events/search", client.SearchRequest{Query: "acter:bob@corp.example"})
	p := problem(t, body)
	if code != 400 || p.Position == nil || *p.Position != 0 || p.Suggestion != "actor" {
		t.Errorf("typo: %d %+v", code, p)
	}
	// A cursor from another search is refused.
	code, body = f.do(t, f.admin, "POST", "/api/v1/file-events/search", client.SearchRequest{Query: "action:file-shared", Cursor: cursor + "x"})
	if code != 400 {
		t.Errorf("foreign cursor: %d %s", code, body)
	}
	// A structured filter is the same as the query.
	code, body = f.do(t, f.admin, "POST", "/api/v1/file-events/search", client.SearchRequest{Filter: []client.FilterTerm{{Field: "actor", Value: actor}}, Limit: 1})
	var res client.SearchResult
	json.Unmarshal(body, &res)
	if code != 200 || res.Total != int64(want) {
		t.Errorf("filter: %d total %d", code, res.Total)
	}

	// The total is exact up to count_limit, then a lower bound; a limit out of range is refused.
	code, body = f.do(t, f.admin, "POST", "/api/v1/file-events/search", client.SearchRequest{Limit: 1, CountLimit: 120})
	res = client.SearchResult{}
	json.Unmarshal(body, &res)
	if code != 200 || res.Total != 120 || !res.TotalIsMin {
		t.Errorf("count_limit 120 of 500 events: %d total %d lower bound %v", code, res.Total, res.TotalIsMin)
	}
	code, body = f.do(t, f.admin, "POST", "/api/v1/file-events/search", client.SearchRequest{Limit: 1})
	res = client.SearchResult{}
	json.Unmarshal(body, &res)
	if code != 200 || res.Total != 500 || res.TotalIsMin {
		t.Errorf("default count limit with 500 events: %d total %d lower bound %v", code, res.Total, res.TotalIsMin)
	}
	code, body = f.do(t, f.admin, "POST", "/api/v1/file-events/search", client.SearchRequest{CountLimit: 2000000})
	if p := problem(t, body); code != 400 || !strings.Contains(p.Detail, "count_limit") {
		t.Errorf("count_limit too big: %d %+v", code, p)
	}

	// Details with the file's timeline.
	var withTimeline event.FileEvent
	counts := map[string]int{}
	for _, e := range evs {
		counts[e.File.ID]++
	}
	for _, e := range evs {
		if e.File.ID != "" && counts[e.File.ID] > 1 {
			withTimeline = e
			break
		}
	}
	code, body = f.do(t, f.admin, "GET", "/api/v1/file-events/"+itoa(withTimeline.Event.ID), nil)
	var det client.EventDetails
	json.Unmarshal(body, &det)
	if code != 200 || len(det.Timeline) != counts[withTimeline.File.ID]-1 {
		t.Errorf("details: %d, timeline %d want %d", code, len(det.Timeline), counts[withTimeline.File.ID]-1)
	}

	// Group by actor: the largest group first, counts add up.
	code, body = f.do(t, f.admin, "POST", "/api/v1/file-events/group", client.GroupRequest{By: "actor", Limit: 1000})
	var gr client.GroupResult
	json.Unmarshal(body, &gr)
	sum := int64(0)
	for _, g := range gr.Groups {
		sum += g.Count
	}
	if code != 200 || sum != 500 || gr.Groups[0].Count < gr.Groups[len(gr.Groups)-1].Count {
		t.Errorf("group: %d sum %d", code, sum)
	}
	code, _ = f.do(t, f.admin, "POST", "/api/v1/file-events/group", client.GroupRequest{By: "colour"})
	if code != 400 {
		t.Errorf("bad group dimension: %d", code)
	}
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestExportAndCheckpoints(t *testing.T) {
	f := newFixture(t)
	seedEvents(t, f, 300, 2)
	code, body := f.do(t, f.admin, "POST", "/api/v1/file-events/export", client.ExportRequest{Query: "action:file-shared OR action:file-modified"})
	if code != 200 {
		t.Fatalf("export: %d %s", code, body)
	}
	rows, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil || len(rows) < 2 || rows[0][0] != "id" {
		t.Fatalf("csv: %v %d rows", err, len(rows))
	}
	var res client.SearchResult
	_, sb := f.do(t, f.admin, "POST", "/api/v1/file-events/search", client.SearchRequest{Query: "action:file-shared OR action:file-modified", Limit: 1})
	json.Unmarshal(sb, &res)
	if int64(len(rows)-1) != res.Total {
		t.Errorf("csv has %d events, search counts %d", len(rows)-1, res.Total)
	}

	// Incremental: the first run gets everything, the acknowledged checkpoint makes the second run
	// get only what was stored since, in insertion order.
	export := func() []event.FileEvent {
		code, body := f.do(t, f.admin, "POST", "/api/v1/file-events/export", client.ExportRequest{Format: "jsonl", Checkpoint: "siem"})
		if code != 200 {
			t.Fatalf("export: %d %s", code, body)
		}
		var out []event.FileEvent
		sc := bufio.NewScanner(bytes.NewReader(body))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var e event.FileEvent
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				t.Fatal(err)
			}
			out = append(out, e)
		}
		return out
	}
	first := export()
	if len(first) != 300 {
		t.Fatalf("first run: %d events", len(first))
	}
	for i := 1; i < len(first); i++ {
		if first[i].Event.ID <= first[i-1].Event.ID {
			t.Fatalf("not in insertion order at %d", i)
		}
	}
	last := itoa(first[len(first)-1].Event.ID)
	code, body = f.do(t, f.admin, "PUT", "/api/v1/export-checkpoints/siem", client.Checkpoint{AfterID: strings.Trim(last, `"`)})
	if code != 200 {
		t.Fatalf("ack: %d %s", code, body)
	}
	seedEvents(t, f, 50, 3) // includes events observed long before the checkpoint
	second := export()
	if len(second) != 50 {
		t.Errorf("second run: %d events, want the 50 new ones", len(second))
	}
	// The checkpoint never moves backwards.
	f.do(t, f.admin, "PUT", "/api/v1/export-checkpoints/siem", client.Checkpoint{AfterID: "1"})
	code, body = f.do(t, f.admin, "GET", "/api/v1/export-checkpoints/siem", nil)
	if code != 200 || !strings.Contains(string(body), strings.Trim(last, `"`)) {
		t.Errorf("checkpoint moved back: %s", body)
	}
}

func TestSavedSearchesAPI(t *testing.T) {
	f := newFixture(t)
	code, body := f.do(t, f.admin, "POST", "/api/v1/saved-searches", client.SavedSearchInput{Name: "Public links", Query: "exposure:public_link after:7d"})
	var s client.SavedSearch
	json.Unmarshal(body, &s)
	if code != 201 || s.ID == "" || s.Owner != "admin" {
		t.Fatalf("create: %d %s", code, body)
	}
	code, _ = f.do(t, f.admin, "POST", "/api/v1/saved-searches", client.SavedSearchInput{Name: "public LINKS", Query: "x"})
	if code != 409 {
		t.Errorf("duplicate name: %d", code)
	}
	code, body = f.do(t, f.admin, "POST", "/api/v1/saved-searches", client.SavedSearchInput{Name: "Bad", Query: "sizee>10MB"})
	if p := problem(t, body); code != 400 || p.Suggestion != "size" {
		t.Errorf("bad query saved: %d %+v", code, p)
	}
	code, _ = f.do(t, f.admin, "PUT", "/api/v1/saved-searches/"+s.ID, client.SavedSearchInput{Name: "Public links", Query: "exposure:public_link"})
	if code != 200 {
		t.Errorf("update: %d", code)
	}
	code, body = f.do(t, f.admin, "GET", "/api/v1/saved-searches", nil)
	if code != 200 || !strings.Contains(string(body), `"exposure:public_link"`) {
		t.Errorf("list: %d %s", code, body)
	}
	if code, _ = f.do(t, f.admin, "DELETE", "/api/v1/saved-searches/"+s.ID, nil); code != 204 {
		t.Errorf("delete: %d", code)
	}
}
