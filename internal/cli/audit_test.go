package cli

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/store"
	"github.com/telltale-dev/telltale/internal/store/sqlite"
)

// TestAuditVerifyAndExport: `audit verify` passes on the log the server wrote, through the API and
// offline on the data dir, and after a record is changed around the store says which one and
// exits 1; `audit export` streams the entries.
func TestAuditVerifyAndExport(t *testing.T) {
	a, url := startServer(t)
	for range 3 {
		if _, errs, code := run(t, url, "", "rules", "list"); code != 0 {
			t.Fatal(errs)
		}
		if _, err := a.Store.AppendAudit(context.Background(), store.AuditEntry{Actor: "admin", Action: "rule.update", Target: "rule/1", Outcome: "ok"}); err != nil {
			t.Fatal(err)
		}
	}
	out, errs, code := run(t, url, "", "audit", "verify")
	if code != 0 || !strings.HasPrefix(out, "OK: 3 audit records verified") {
		t.Fatalf("verify: %d %q %s", code, out, errs)
	}
	dir := a.Config.DataDir
	out, errs, code = run(t, url, "", "audit", "verify", "--offline", "--data-dir", dir, "-o", "json")
	var v client.AuditVerification
	if code != 0 || json.Unmarshal([]byte(out), &v) != nil || !v.OK || v.Records != 4 { // the API's verification is audited
		t.Fatalf("verify offline: %d %q %s", code, out, errs)
	}
	if _, errs, code = run(t, url, "", "audit", "verify", "--offline", "--data-dir", filepath.Join(dir, "nothing")); code == 0 || !strings.Contains(errs, "no Telltale database in") {
		t.Errorf("verify offline of a directory without a database: %d %s", code, errs)
	}

	out, errs, code = run(t, url, "", "audit", "export", "--format", "jsonl", "--action", "rule.")
	sc, n := bufio.NewScanner(strings.NewReader(out)), 0
	for sc.Scan() {
		var e client.AuditEntry
		if json.Unmarshal(sc.Bytes(), &e) != nil || e.Action != "rule.update" {
			t.Errorf("line %q", sc.Text())
		}
		n++
	}
	if code != 0 || n != 3 {
		t.Fatalf("export: %d %d %q %s", code, n, out, errs)
	}
	if _, errs, code = run(t, url, "", "audit", "export", "--format", "xml"); code == 0 || !strings.Contains(errs, "want csv or jsonl") {
		t.Errorf("bad format: %d %s", code, errs)
	}

	db, err := sql.Open("sqlite", sqlite.DSN(filepath.Join(dir, "telltale.db"), false))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE audit_log SET target = 'rule/2' WHERE id = 2`); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"audit", "verify"}, {"audit", "verify", "--offline", "--data-dir", dir}} {
		out, errs, code = run(t, url, "", args...)
		if code != 1 || !strings.HasPrefix(out, "BROKEN at record 2 (position 2), after 1 records") || !strings.Contains(out, "changed after it was written") {
			t.Errorf("%v after tampering: %d %q %s", args, code, out, errs)
		}
	}
}

// TestPeopleAliasCommands: people alias add and remove, people list and show over the API.
func TestPeopleAliasCommands(t *testing.T) {
	_, url := startServer(t)
	out, errs, code := run(t, url, "", "people", "alias", "add", "alice@corp.example", "ASmith@corp.onmicrosoft.example")
	if code != 0 || !strings.Contains(out, "alice@corp.example now has the aliases: asmith@corp.onmicrosoft.example") {
		t.Fatalf("add: %d %q %s", code, out, errs)
	}
	if _, errs, code = run(t, url, "", "people", "alias", "add", "bob@corp.example", "asmith@corp.onmicrosoft.example"); code == 0 || !strings.Contains(errs, "already an alias of alice@corp.example") {
		t.Errorf("conflicting add: %d %s", code, errs)
	}
	out, errs, code = run(t, url, "", "people", "list", "-o", "csv")
	if code != 0 || !strings.Contains(out, "alice@corp.example,,,,asmith@corp.onmicrosoft.example") {
		t.Errorf("list: %d %q %s", code, out, errs)
	}
	out, errs, code = run(t, url, "", "people", "show", "asmith@corp.onmicrosoft.example")
	if code != 0 || !strings.Contains(out, "alice@corp.example") || !strings.Contains(out, "status") {
		t.Errorf("show by alias: %d %q %s", code, out, errs)
	}
	if out, errs, code = run(t, url, "", "people", "alias", "remove", "alice@corp.example", "asmith@corp.onmicrosoft.example"); code != 0 || !strings.Contains(out, "no longer an alias") {
		t.Errorf("remove: %d %q %s", code, out, errs)
	}
}
