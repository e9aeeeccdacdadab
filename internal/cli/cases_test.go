package cli

import (
	"archive/zip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/store"
	"github.com/telltale-dev/telltale/internal/store/storetest"
)

// TestCasesCommands: create a case with a person and an event, add another event, list and show
// it, and export it to a zip whose manifest matches its files.
func TestCasesCommands(t *testing.T) {
	a, url := startServer(t)
	ctx := context.Background()
	c, err := a.Store.CreateConnection(ctx, store.Connection{Name: "Box", Service: "box", ServiceType: "cloud", Status: "monitoring", ScopeKind: "all"})
	if err != nil {
		t.Fatal(err)
	}
	evs := []*event.FileEvent{storetest.Event(c.ID, "1", time.Now()), storetest.Event(c.ID, "2", time.Now())}
	if _, err := a.Store.InsertEvents(ctx, evs, false); err != nil {
		t.Fatal(err)
	}
	e1, e2 := strconv.FormatInt(evs[0].Event.ID, 10), strconv.FormatInt(evs[1].Event.ID, 10)
	out, errs, code := run(t, url, "", "cases", "create", "Alice leaves", "--person", "alice@corp.example", "--event", e1, "--legal-hold")
	if code != 0 || !strings.Contains(out, "case 1: open, 1 people, 0 alerts, 1 events, legal hold yes") {
		t.Fatalf("create: %d %s %s", code, out, errs)
	}
	if out, errs, code = run(t, url, "", "cases", "add", "1", "--event", e1+","+e2); code != 0 || !strings.Contains(out, "added 0 people, 0 alerts, 1 events") {
		t.Fatalf("add: %d %s %s", code, out, errs)
	}
	if _, errs, code = run(t, url, "", "cases", "add", "1"); code == 0 || !strings.Contains(errs, "--person") {
		t.Fatalf("add nothing: %d %s", code, errs)
	}
	if out, errs, code = run(t, url, "", "cases", "list", "--state", "open"); code != 0 || !strings.Contains(out, "Alice leaves") {
		t.Fatalf("list: %d %s %s", code, out, errs)
	}
	if out, errs, code = run(t, url, "", "cases", "show", "1"); code != 0 || !strings.Contains(out, "alice@corp.example") || !strings.Contains(out, "plan.xlsx") {
		t.Fatalf("show: %d %s %s", code, out, errs)
	}
	file := filepath.Join(t.TempDir(), "c.zip")
	if _, errs, code = run(t, url, "", "cases", "export", "1", "--file", file); code != 0 {
		t.Fatalf("export: %d %s", code, errs)
	}
	zr, err := zip.OpenReader(file)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	files := map[string][]byte{}
	for _, f := range zr.File {
		rc, _ := f.Open()
		files[f.Name], _ = io.ReadAll(rc)
		rc.Close()
	}
	var m client.CaseManifest
	if err := json.Unmarshal(files["manifest.json"], &m); err != nil || m.Events != 2 || len(m.Files) != 3 {
		t.Fatalf("manifest %+v %v", m, err)
	}
	for _, f := range m.Files {
		if sum := sha256.Sum256(files[f.Name]); hex.EncodeToString(sum[:]) != f.SHA256 {
			t.Errorf("%s: manifest's SHA-256 does not match", f.Name)
		}
	}
	if _, errs, code = run(t, url, "", "cases", "export", "1", "--file", file); code == 0 || !strings.Contains(errs, "exists") {
		t.Errorf("export over an existing file: %d %s", code, errs)
	}
}
