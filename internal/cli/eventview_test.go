package cli

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/store"
)

// seedViewEvents stores a file with three events, a mail attachment that has a name but no path,
// and a shared folder; it returns the ids of the file's events, oldest first.
func seedViewEvents(t *testing.T, a interface {
	CreateConnection(context.Context, store.Connection) (store.Connection, error)
	InsertEvents(context.Context, []*event.FileEvent, bool) (int, error)
}) []int64 {
	t.Helper()
	ctx := context.Background()
	conn, err := a.CreateConnection(ctx, store.Connection{Name: "Box", Service: "box", ServiceType: "cloud", Status: "monitoring", ScopeKind: "all"})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	file := event.File{ID: "4711", Name: "Q3 forecast.xlsx", Directory: "/Finance/Plans", Path: "/Finance/Plans/Q3 forecast.xlsx",
		Size: 48213, MimeType: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", Category: event.CategoryOf("Q3 forecast.xlsx", ""),
		Owner: "alice@corp.example", Hash: event.Hash{SHA1: "0123456789abcdef0123456789abcdef01234567"}}
	evs := []event.FileEvent{
		{Timestamp: t0, Event: event.Meta{Action: event.ActionCreated, Observer: event.ObserverBox, ConnectionID: conn.ID, VendorIDs: []string{"v1"}},
			User: event.User{Email: "alice@corp.example"}, File: file},
		{Timestamp: t0.Add(time.Hour), Event: event.Meta{Action: event.ActionShared, Observer: event.ObserverBox, ConnectionID: conn.ID, VendorIDs: []string{"v2"}},
			User: event.User{Email: "alice@corp.example", Name: "Alice Archer"}, File: file,
			Sharing: event.Sharing{LinkScope: event.LinkSpecific, SharedWith: []string{"bob@outside.example", "carol@outside.example"}, Exposure: []event.Exposure{event.ExposureOutsideTrustedDomain}},
			Source:  event.Source{IP: "10.1.2.3", UserAgent: "Box Web"}},
		{Timestamp: t0.Add(2 * time.Hour), Event: event.Meta{Action: event.ActionDownloaded, Observer: event.ObserverBox, ConnectionID: conn.ID, VendorIDs: []string{"v3"}},
			User: event.User{Email: "bob@corp.example"}, File: file},
		{Timestamp: t0.Add(3 * time.Hour), Event: event.Meta{Action: event.ActionEmailed, Observer: event.ObserverBox, ConnectionID: conn.ID, VendorIDs: []string{"v4"}},
			User: event.User{Email: "bob@corp.example"}, File: event.File{ID: "att-1", Name: "salaries.pdf", Size: 900},
			Email: event.Email{Sender: "bob@corp.example", Recipients: []string{"x@outside.example"}, Subject: "fyi"}},
		{Timestamp: t0.Add(4 * time.Hour), Event: event.Meta{Action: event.ActionShared, Observer: event.ObserverBox, ConnectionID: conn.ID, VendorIDs: []string{"v5"}},
			User: event.User{Email: "alice@corp.example"}, File: event.File{ID: "folder:77", Name: "Board", Directory: "/", Path: "/Board", MimeType: "inode/directory"},
			Sharing: event.Sharing{LinkScope: event.LinkAnyone, Exposure: []event.Exposure{event.ExposurePublicLink}}},
	}
	ptrs := make([]*event.FileEvent, len(evs))
	for i := range evs {
		ptrs[i] = &evs[i]
	}
	if _, err := a.InsertEvents(ctx, ptrs, false); err != nil {
		t.Fatal(err)
	}
	return []int64{evs[0].Event.ID, evs[1].Event.ID, evs[2].Event.ID}
}

// TestEventsGetShowsEveryFieldAndMarksItself (issue 12, item 7): in table mode `events get` lists
// every field that JSON mode shows, and its timeline holds the event itself, in its place, marked.
func TestEventsGetShowsEveryFieldAndMarksItself(t *testing.T) {
	a, url := startServer(t)
	ids := seedViewEvents(t, a.Store)
	id := fmt.Sprint(ids[1])

	js, errs, code := run(t, url, "", "events", "get", id, "-o", "json")
	if code != 0 {
		t.Fatalf("get json: %s", errs)
	}
	var d struct {
		Event map[string]any `json:"event"`
	}
	if err := json.Unmarshal([]byte(js), &d); err != nil {
		t.Fatal(err)
	}
	out, errs, code := run(t, url, "", "events", "get", id)
	if code != 0 {
		t.Fatalf("get: %s", errs)
	}
	lines := strings.Split(out, "\n")
	// Every field with a value in the JSON is a FIELD/VALUE line of the table.
	var check func(prefix string, v any)
	check = func(prefix string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if prefix != "" {
					k = prefix + "." + k
				}
				check(k, x)
			}
			return
		case []any:
			var s []string
			for _, x := range v {
				s = append(s, fmt.Sprint(x))
			}
			v2 := strings.Join(s, ",")
			check(prefix, v2)
			return
		case float64:
			check(prefix, fmt.Sprint(int64(v)))
			return
		case string:
			if v == "" {
				return
			}
			if !slices.ContainsFunc(lines, func(l string) bool {
				f := strings.Fields(l)
				return len(f) >= 2 && f[0] == prefix && strings.Join(f[1:], " ") == v
			}) {
				t.Errorf("field %s = %q is not in the table:\n%s", prefix, v, out)
			}
		default:
			check(prefix, fmt.Sprint(v))
		}
	}
	check("", d.Event)

	// The timeline: all three events of the file, oldest first, this one marked.
	rows := csvRows(t, url, "events", "get", id, "-o", "csv")
	if len(rows) != 4 {
		t.Fatalf("timeline csv: %d rows, want a header and 3: %v", len(rows)-1, rows)
	}
	for i, r := range rows[1:] {
		want := ""
		if i == 1 {
			want = "*"
		}
		if r[0] != want || r[1] != fmt.Sprint(ids[i]) {
			t.Errorf("timeline row %d: mark %q id %s, want mark %q id %d", i, r[0], r[1], want, ids[i])
		}
	}
	if !strings.Contains(out, "* ") || strings.Count(out, "\n*") != 1 {
		t.Errorf("table: the event's own timeline row is not marked once:\n%s", out)
	}
}

func csvRows(t *testing.T, url string, args ...string) [][]string {
	t.Helper()
	out, errs, code := run(t, url, "", args...)
	if code != 0 {
		t.Fatalf("%v: %s", args, errs)
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatalf("%v: %v\n%s", args, err, out)
	}
	return rows
}

// TestEventRowsFileAndPath (issue 12, item 7): FILE is always the name and PATH the full path, in
// search results and in the timeline alike, and a folder shows as one (trailing "/").
func TestEventRowsFileAndPath(t *testing.T) {
	a, url := startServer(t)
	ids := seedViewEvents(t, a.Store)
	type file struct{ name, path, size string }
	want := map[string]file{
		"file-created":    {"Q3 forecast.xlsx", "/Finance/Plans/Q3 forecast.xlsx", "48213"},
		"file-downloaded": {"Q3 forecast.xlsx", "/Finance/Plans/Q3 forecast.xlsx", "48213"},
		"file-emailed":    {"salaries.pdf", "", "900"},
		"file-shared":     {"", "", ""}, // two: checked by name below
	}
	checkRows := func(what string, rows [][]string, off int) {
		h := rows[0][off:]
		if !slices.Equal(h[:7], []string{"ID", "OBSERVED", "ACTION", "ACTOR", "FILE", "PATH", "SIZE"}) {
			t.Fatalf("%s: headers %v", what, h)
		}
		for _, r := range rows[1:] {
			r = r[off:]
			got := file{r[4], r[5], r[6]}
			w := want[r[2]]
			if r[2] == "file-shared" {
				if r[4] == "Board/" {
					w = file{"Board/", "/Board/", ""}
				} else {
					w = want["file-created"]
				}
			}
			if got != w {
				t.Errorf("%s: %s row FILE, PATH, SIZE = %q, want %q", what, r[2], got, w)
			}
		}
	}
	rows := csvRows(t, url, "events", "search", "-o", "csv")
	if len(rows) != 6 {
		t.Fatalf("search: %d rows", len(rows)-1)
	}
	checkRows("search", rows, 0)
	checkRows("timeline", csvRows(t, url, "events", "get", fmt.Sprint(ids[0]), "-o", "csv"), 1)
	out, _, _ := run(t, url, "", "events", "search", "action:file-shared")
	if !strings.Contains(out, " Board/ ") || !strings.Contains(out, " /Board/ ") {
		t.Errorf("table: the folder does not show as one:\n%s", out)
	}
}

// TestEventsGroupLabelOnlyWhenSomeGroupHasOne (issue 12, item 7): grouping by action printed an
// always-empty LABEL column; files keep theirs (the latest name).
func TestEventsGroupLabelOnlyWhenSomeGroupHasOne(t *testing.T) {
	a, url := startServer(t)
	seedViewEvents(t, a.Store)
	for _, by := range []string{"action", "actor", "day", "destination"} {
		rows := csvRows(t, url, "events", "group", "--by", by, "-o", "csv")
		if !slices.Equal(rows[0], []string{strings.ToUpper(by), "COUNT"}) {
			t.Errorf("--by %s: headers %v, want no LABEL", by, rows[0])
		}
		out, _, _ := run(t, url, "", "events", "group", "--by", by)
		if strings.Contains(out, "LABEL") {
			t.Errorf("--by %s table has a LABEL column:\n%s", by, out)
		}
	}
	rows := csvRows(t, url, "events", "group", "--by", "file", "-o", "csv")
	if !slices.Equal(rows[0], []string{"FILE", "COUNT", "NAME"}) || rows[1][0] != "4711" || rows[1][2] != "Q3 forecast.xlsx" || !slices.ContainsFunc(rows[1:], func(r []string) bool { return slices.Equal(r, []string{"folder:77", "1", "Board/"}) }) {
		t.Errorf("--by file: %v", rows)
	}
}
