package api_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"io"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/auth"
	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/store"
	"github.com/telltale-dev/telltale/internal/store/storetest"
)

// caseEvents stores n events of bob (scored 3 each) on a new connection and returns them.
func caseEvents(t *testing.T, f *fixture, n int) []*event.FileEvent {
	t.Helper()
	ctx := context.Background()
	c, err := f.app.Store.CreateConnection(ctx, store.Connection{Name: "Box", Service: "box", ServiceType: "cloud", Status: "monitoring", ScopeKind: "all"})
	if err != nil {
		t.Fatal(err)
	}
	var evs []*event.FileEvent
	now := f.app.Clock.Now()
	for i := 0; i < n; i++ {
		e := storetest.Event(c.ID, "v"+strconv.Itoa(i), now.Add(-time.Duration(i)*time.Hour))
		e.User.Email, e.Risk.Score, e.Risk.Severity = "bob@corp.example", 3, event.SeverityLow
		evs = append(evs, e)
	}
	if _, err := f.app.Store.InsertEvents(ctx, evs, false); err != nil {
		t.Fatal(err)
	}
	return evs
}

// TestCasesOverHTTP: an analyst opens a case with a person, an alert and events; bad items are
// refused by field; the case lists and reads with its events (added and of its alert) and
// history; changes are recorded; only an admin lifts a legal hold; read-only users cannot change
// a case; every change is audited; the export is one zip whose manifest's SHA-256 match its files
// and whose CSV and JSON hold every event of the case.
func TestCasesOverHTTP(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	evs := caseEvents(t, f, 5)
	a, err := f.app.Store.CreateAlert(ctx, store.Alert{RuleID: 1, RuleName: "r", GroupKey: "bob@corp.example", Person: "bob@corp.example", State: "open", Severity: "high"},
		[]int64{evs[3].Event.ID, evs[4].Event.ID})
	if err != nil {
		t.Fatal(err)
	}
	id := func(i int) string { return strconv.FormatInt(evs[i].Event.ID, 10) }
	analyst := f.namedToken(t, "ann", auth.RoleAnalyst)
	reader := f.userToken(t, auth.RoleReadOnly)
	in := client.CaseInput{Title: "Bob leaves", LegalHold: true, CaseItemsInput: client.CaseItemsInput{People: []string{"Bob@Corp.Example"},
		AlertIDs: []string{strconv.FormatInt(a.ID, 10)}, EventIDs: []string{id(0), id(1)}}}
	if code, _ := f.do(t, reader, "POST", "/api/v1/cases", in); code != 403 {
		t.Errorf("read-only opens a case: %d", code)
	}
	for _, bad := range []struct {
		in    client.CaseInput
		field string
	}{
		{client.CaseInput{Title: ""}, "title"},
		{client.CaseInput{Title: "x", CaseItemsInput: client.CaseItemsInput{People: []string{"nobody"}}}, "people[0]"},
		{client.CaseInput{Title: "x", CaseItemsInput: client.CaseItemsInput{AlertIDs: []string{"999"}}}, "alert_ids[0]"},
		{client.CaseInput{Title: "x", CaseItemsInput: client.CaseItemsInput{EventIDs: []string{"abc"}}}, "event_ids[0]"},
		{client.CaseInput{Title: "x", CaseItemsInput: client.CaseItemsInput{EventIDs: make([]string, 1001)}}, "people"},
	} {
		code, body := f.do(t, analyst, "POST", "/api/v1/cases", bad.in)
		if p := problem(t, body); code != 400 || len(p.Errors) == 0 || p.Errors[0].Field != bad.field {
			t.Errorf("%+v: %d %s, want 400 on %s", bad.in, code, body, bad.field)
		}
	}
	code, body := f.do(t, analyst, "POST", "/api/v1/cases", in)
	k := decodeAs[client.Case](t, code, body, 201)
	if k.Title != "Bob leaves" || k.State != "open" || !k.LegalHold || k.People != 1 || k.Alerts != 1 || k.Events != 2 || k.CreatedBy != "ann" {
		t.Fatalf("created %+v", k)
	}
	path := "/api/v1/cases/" + k.ID
	code, body = f.do(t, analyst, "POST", path+"/items", client.CaseItemsInput{People: []string{"bob@corp.example", "carol@corp.example"}, EventIDs: []string{id(2)}})
	if ad := decodeAs[client.CaseItemsAdded](t, code, body, 200); !slices.Equal(ad.People, []string{"carol@corp.example"}) || !slices.Equal(ad.EventIDs, []string{id(2)}) {
		t.Errorf("added %+v", ad)
	}
	code, body = f.do(t, reader, "GET", path, nil)
	d := decodeAs[client.CaseDetails](t, code, body, 200)
	if len(d.People) != 2 || len(d.Alerts) != 1 || len(d.Events.Items) != 5 || len(d.History) != 6 {
		t.Fatalf("details: %d people, %d alerts, %d events, history %+v", len(d.People), len(d.Alerts), len(d.Events.Items), d.History)
	}
	code, body = f.do(t, reader, "GET", path+"/events?limit=2", nil)
	if pg := decodeAs[client.AlertEvents](t, code, body, 200); len(pg.Items) != 2 || pg.Next != id(1) {
		t.Errorf("events page %d next %q", len(pg.Items), pg.Next)
	}
	code, body = f.do(t, reader, "GET", "/api/v1/cases?person=bob@corp.example&state=open", nil)
	if l := decodeAs[client.CaseList](t, code, body, 200); len(l.Items) != 1 || l.Items[0].ID != k.ID {
		t.Errorf("bob's open cases %+v", l)
	}
	if code, body := f.do(t, reader, "GET", "/api/v1/cases?state=pending", nil); code != 400 || problem(t, body).Errors[0].Field != "state" {
		t.Errorf("bad state: %d %s", code, body)
	}

	closed, no := "closed", false
	code, body = f.do(t, analyst, "PATCH", path, client.CaseUpdate{State: &closed, Note: "handed to HR"})
	if u := decodeAs[client.Case](t, code, body, 200); u.State != "closed" {
		t.Errorf("closed %+v", u)
	}
	if code, body := f.do(t, analyst, "PATCH", path, client.CaseUpdate{LegalHold: &no}); code != 403 || problem(t, body).Errors[0].Field != "legal_hold" {
		t.Errorf("analyst lifts the hold: %d %s", code, body)
	}
	if code, _ := f.do(t, reader, "PATCH", path, client.CaseUpdate{State: &closed}); code != 403 {
		t.Errorf("read-only changes a case: %d", code)
	}
	if code, body := f.do(t, analyst, "PATCH", path, client.CaseUpdate{State: &closed, Version: 1}); code != 409 {
		t.Errorf("stale version: %d %s", code, body)
	}

	// The export: a zip whose manifest lists each file's SHA-256, and every event of the case.
	code, body = f.do(t, analyst, "POST", path+"/export", nil)
	if code != 200 {
		t.Fatalf("export: %d %s", code, body)
	}
	zr, err := zip.NewReader(bytes.NewReader(body), int64(len(body)))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, zf := range zr.File {
		rc, err := zf.Open()
		if err != nil {
			t.Fatal(err)
		}
		files[zf.Name], _ = io.ReadAll(rc)
		rc.Close()
	}
	var m client.CaseManifest
	if err := json.Unmarshal(files["manifest.json"], &m); err != nil {
		t.Fatalf("manifest: %v\n%s", err, files["manifest.json"])
	}
	if m.Case != k.ID || m.Events != 5 || m.ExportedBy != "ann" || len(m.Files) != 3 || len(files) != 4 {
		t.Fatalf("manifest %+v, files %d", m, len(files))
	}
	for _, mf := range m.Files {
		sum := sha256.Sum256(files[mf.Name])
		if hex.EncodeToString(sum[:]) != mf.SHA256 || int64(len(files[mf.Name])) != mf.Bytes {
			t.Errorf("%s: sha256 %x (%d bytes), manifest says %s (%d)", mf.Name, sum, len(files[mf.Name]), mf.SHA256, mf.Bytes)
		}
	}
	rows, err := csv.NewReader(bytes.NewReader(files["events.csv"])).ReadAll()
	if err != nil || len(rows) != 6 || rows[0][0] != "id" || rows[1][0] != id(0) || rows[5][0] != id(4) {
		t.Errorf("events.csv %v %v", rows, err)
	}
	var js []event.FileEvent
	if err := json.Unmarshal(files["events.json"], &js); err != nil || len(js) != 5 || js[4].Event.ID != evs[4].Event.ID {
		t.Errorf("events.json: %d events, %v", len(js), err)
	}
	var cj client.CaseDetails
	if err := json.Unmarshal(files["case.json"], &cj); err != nil || cj.Case.ID != k.ID || len(cj.History) != 8 {
		t.Errorf("case.json %+v %v", cj, err)
	}

	code, body = f.do(t, f.admin, "PATCH", path, client.CaseUpdate{LegalHold: &no})
	if u := decodeAs[client.Case](t, code, body, 200); u.LegalHold {
		t.Errorf("admin lifted the hold: %+v", u)
	}
	es, err := f.app.Store.ListAudit(ctx, store.AuditFilter{Action: "case.", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	for _, e := range es {
		if e.Outcome == "ok" {
			seen = append(seen, e.Action)
		}
	}
	for _, want := range []string{"case.create", "case.add", "case.update", "case.export"} {
		if !slices.Contains(seen, want) {
			t.Errorf("audit lacks %q: %v", want, seen)
		}
	}
}

// TestPersonOverHTTP: a person's page has their watchlists, the rolling risk score (the sum of
// their events' scores, moved by each new event), alerts, cases and recent events; departure
// exposure lists what they own that is shared now, as JSON pages and as CSV.
func TestPersonOverHTTP(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	evs := caseEvents(t, f, 4)
	ws, _ := f.app.Store.ListWatchlists(ctx)
	if _, err := f.app.Store.PutWatchlistMembers(ctx, ws[0].ID, []store.WatchlistMember{{Email: "bob@corp.example", DepartureDate: "2026-12-31"}}); err != nil {
		t.Fatal(err)
	}
	reader := f.userToken(t, auth.RoleReadOnly)
	code, body := f.do(t, reader, "GET", "/api/v1/people/Bob@corp.example", nil)
	p := decodeAs[client.Person](t, code, body, 200)
	if p.Email != "bob@corp.example" || !p.Departing || len(p.Watchlists) != 1 || p.Watchlists[0].DepartureDate != "2026-12-31" ||
		p.Risk.Score != 12 || p.Risk.Events != 4 || p.Risk.WindowDays != 30 || len(p.RecentEvents) != 4 || len(p.Risk.Trend) == 0 {
		t.Fatalf("person %+v", p)
	}
	// One more scored event moves the score at once.
	e := storetest.Event(evs[0].Event.ConnectionID, "more", f.app.Clock.Now())
	e.User.Email, e.Risk.Score = "bob@corp.example", 5
	if _, err := f.app.Store.InsertEvents(ctx, []*event.FileEvent{e}, false); err != nil {
		t.Fatal(err)
	}
	code, body = f.do(t, reader, "GET", "/api/v1/people/bob@corp.example", nil)
	if p := decodeAs[client.Person](t, code, body, 200); p.Risk.Score != 17 {
		t.Errorf("score after one more event %d, want 17", p.Risk.Score)
	}
	if code, body := f.do(t, reader, "GET", "/api/v1/people/not-an-address", nil); code != 400 {
		t.Errorf("bad address: %d %s", code, body)
	}

	// Exposure: one public file of bob's, one shared then unshared.
	cid := evs[0].Event.ConnectionID
	if err := f.app.Store.UpsertFiles(ctx, []store.File{{ConnectionID: cid, VendorID: "pub", Name: "pub.xlsx", Owner: "bob@corp.example"},
		{ConnectionID: cid, VendorID: "gone", Name: "gone.xlsx", Owner: "bob@corp.example"}}); err != nil {
		t.Fatal(err)
	}
	now := f.app.Clock.Now()
	share := func(v, file string, at time.Time, a event.Action, sh event.Sharing) *event.FileEvent {
		e := storetest.Event(cid, v, at)
		e.Event.Action, e.File.ID, e.Sharing = a, file, sh
		return e
	}
	if _, err := f.app.Store.InsertEvents(ctx, []*event.FileEvent{
		share("s1", "pub", now, event.ActionShared, event.Sharing{LinkScope: event.LinkAnyone, Exposure: []event.Exposure{event.ExposurePublicLink}}),
		share("s2", "gone", now, event.ActionShared, event.Sharing{SharedWith: []string{"x@gmail.com"}, Exposure: []event.Exposure{event.ExposureOutsideTrustedDomain}}),
		share("s3", "gone", now.Add(time.Minute), event.ActionUnshared, event.Sharing{LinkScope: event.LinkNone}),
	}, false); err != nil {
		t.Fatal(err)
	}
	code, body = f.do(t, reader, "GET", "/api/v1/people/bob@corp.example/exposure", nil)
	x := decodeAs[client.Exposure](t, code, body, 200)
	if !x.Departing || x.DepartureDate != "2026-12-31" || len(x.Items) != 1 || x.Items[0].Name != "pub.xlsx" || x.Items[0].LinkScope != "anyone" ||
		!slices.Equal(x.Items[0].Exposure, []string{"public_link"}) {
		t.Fatalf("exposure %+v", x)
	}
	code, body = f.do(t, reader, "GET", "/api/v1/people/bob@corp.example/exposure.csv", nil)
	rows, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if code != 200 || err != nil || len(rows) != 2 || rows[1][4] != "pub.xlsx" || rows[1][7] != "public_link" {
		t.Errorf("exposure CSV %d %v %v", code, rows, err)
	}
	if !strings.HasPrefix(string(body), "owner,") {
		t.Errorf("CSV header %q", body[:20])
	}
}
