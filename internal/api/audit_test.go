package api_test

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/auth"
	"github.com/telltale-dev/telltale/internal/store"
	"github.com/telltale-dev/telltale/internal/store/sqlite"
)

// TestAuditExport: the export streams the entries the list's filters select, newest first, as
// CSV (cells made safe for spreadsheets) or JSON lines; it is audited itself; bad input is refused.
func TestAuditExport(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for _, name := range []string{"=HYPERLINK(\"http://evil.example\")", "plain", "third"} {
		if st, out := f.do(t, f.admin, "POST", "/api/v1/saved-searches", client.SavedSearchInput{Name: name, Query: ""}); st != 201 {
			t.Fatalf("create: %d %s", st, out)
		}
	}
	// An actor or target someone else chose (a user name from the identity provider) that a
	// spreadsheet would run as a formula.
	if _, err := f.app.Store.AppendAudit(ctx, store.AuditEntry{Actor: "=HYPERLINK(\"http://evil.example\")", Action: "user.sign_in", Target: "-2+3", Outcome: "ok"}); err != nil {
		t.Fatal(err)
	}
	st, out := f.do(t, f.admin, "GET", "/api/v1/audit/export?action=user.sign_in", nil)
	if rows, err := csv.NewReader(bytes.NewReader(out)).ReadAll(); st != 200 || err != nil || len(rows) != 2 || rows[1][2] != `'=HYPERLINK("http://evil.example")` || rows[1][4] != "'-2+3" {
		t.Fatalf("risky cells: %d %v %s", st, err, out)
	}
	st, out = f.do(t, f.admin, "GET", "/api/v1/audit/export?action=saved_search.", nil)
	if st != 200 {
		t.Fatalf("export: %d %s", st, out)
	}
	rows, err := csv.NewReader(bytes.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatalf("csv: %v\n%s", err, out)
	}
	if len(rows) != 4 || strings.Join(rows[0], ",") != "id,at,actor,action,target,outcome,client_ip,details,finished_at,hash" {
		t.Fatalf("want a header and 3 rows:\n%s", out)
	}
	if rows[1][3] != "saved_search.create" || rows[1][5] != "ok" || !strings.Contains(rows[1][7], "third") || len(rows[1][9]) != 64 || rows[1][8] == "" {
		t.Errorf("newest first, with outcome, details, finish time and hash: %q", rows[1])
	}
	if !strings.HasPrefix(rows[3][7], "{") || !strings.Contains(rows[3][7], `=HYPERLINK`) {
		t.Errorf("details: %q", rows[3][7])
	}

	st, out = f.do(t, f.admin, "GET", "/api/v1/audit/export?format=jsonl&action=saved_search.create&until=2999-01-01T00:00:00Z", nil)
	if st != 200 {
		t.Fatalf("jsonl: %d %s", st, out)
	}
	var lines []client.AuditEntry
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var e client.AuditEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		lines = append(lines, e)
	}
	if len(lines) != 3 || lines[0].Outcome != "ok" || lines[0].FinishedAt == nil || lines[0].Hash == "" || lines[2].ID >= lines[0].ID && len(lines[2].ID) >= len(lines[0].ID) {
		t.Errorf("jsonl: %+v", lines)
	}

	// Exports are audited, with their filters.
	es, err := f.app.Store.ListAudit(ctx, store.AuditFilter{Action: "audit.export"})
	if err != nil || len(es) != 3 || !strings.Contains(string(es[0].Details), `"format":"jsonl"`) || !strings.Contains(string(es[1].Details), `"action":"saved_search."`) {
		t.Errorf("export audit entries: %+v %v", es, err)
	}

	for _, bad := range []string{"format=xml", "since=yesterday"} {
		if st, out := f.do(t, f.admin, "GET", "/api/v1/audit/export?"+bad, nil); st != http.StatusBadRequest {
			t.Errorf("%s: %d %s", bad, st, out)
		}
	}
	if st, _ := f.do(t, f.userToken(t, auth.RoleAnalyst), "GET", "/api/v1/audit/export", nil); st != http.StatusForbidden {
		t.Errorf("an analyst exported the audit log: %d", st)
	}
}

// TestAuditVerify: the API's verification passes on the log the API wrote, and names the record
// changed around the store.
func TestAuditVerify(t *testing.T) {
	f := newFixture(t)
	for _, name := range []string{"one", "two"} {
		if st, out := f.do(t, f.admin, "POST", "/api/v1/saved-searches", client.SavedSearchInput{Name: name, Query: ""}); st != 201 {
			t.Fatalf("create: %d %s", st, out)
		}
	}
	var v client.AuditVerification
	st, out := f.do(t, f.admin, "GET", "/api/v1/audit/verify", nil)
	if st != 200 || json.Unmarshal(out, &v) != nil || !v.OK || v.Records < 4 || v.Break != nil || len(v.HeadHash) != 64 {
		t.Fatalf("verify: %d %s", st, out)
	}
	es, _ := f.app.Store.ListAudit(context.Background(), store.AuditFilter{Action: "saved_search.create"})
	db, err := sql.Open("sqlite", sqlite.DSN(filepath.Join(f.dir, "telltale.db"), false))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE audit_log SET actor = 'nobody' WHERE id = ?`, es[1].ID); err != nil {
		t.Fatal(err)
	}
	st, out = f.do(t, f.admin, "GET", "/api/v1/audit/verify", nil)
	v = client.AuditVerification{}
	if st != 200 || json.Unmarshal(out, &v) != nil || v.OK || v.Break == nil || v.Break.ID != strconv.FormatInt(es[1].ID, 10) || !strings.Contains(v.Break.Reason, "changed after it was written") {
		t.Fatalf("verify after tampering: %d %s", st, out)
	}
	vs, _ := f.app.Store.ListAudit(context.Background(), store.AuditFilter{Action: "audit.verify"})
	if len(vs) != 2 || !strings.Contains(string(vs[0].Details), `"ok":false`) {
		t.Errorf("verifications are audited: %+v", vs)
	}
}
