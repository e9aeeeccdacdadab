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

// TestPeopleCommands: show prints the rolling score and the watchlists; exposure prints the CSV of
// the files shared now.
func TestPeopleCommands(t *testing.T) {
	a, url := startServer(t)
	ctx := context.Background()
	c, err := a.Store.CreateConnection(ctx, store.Connection{Name: "Box", Service: "box", ServiceType: "cloud", Status: "monitoring", ScopeKind: "all"})
	if err != nil {
		t.Fatal(err)
	}
	e := storetest.Event(c.ID, "1", time.Now())
	e.Event.Action, e.File.ID, e.Risk.Score = event.ActionShared, "f1", 7
	e.Sharing = event.Sharing{LinkScope: event.LinkAnyone, Exposure: []event.Exposure{event.ExposurePublicLink}}
	if _, err := a.Store.InsertEvents(ctx, []*event.FileEvent{e}, false); err != nil {
		t.Fatal(err)
	}
	if err := a.Store.UpsertFiles(ctx, []store.File{{ConnectionID: c.ID, VendorID: "f1", Name: "plan.xlsx", Owner: "alice@corp.example"}}); err != nil {
		t.Fatal(err)
	}
	if out, errs, code := run(t, url, "", "watchlists", "add", "departing_employee", "alice@corp.example", "--departure-date", "2026-12-31"); code != 0 {
		t.Fatalf("watchlist: %d %s %s", code, out, errs)
	}
	out, errs, code := run(t, url, "", "people", "show", "alice@corp.example")
	if code != 0 || !strings.Contains(out, "7 (1 scored events in 30 days)") || !strings.Contains(out, "departing_employee, leaving 2026-12-31") {
		t.Fatalf("show: %d %s %s", code, out, errs)
	}
	out, errs, code = run(t, url, "", "people", "exposure", "alice@corp.example")
	if code != 0 || !strings.HasPrefix(out, "owner,") || !strings.Contains(out, "plan.xlsx") || !strings.Contains(out, "public_link") {
		t.Fatalf("exposure: %d %s %s", code, out, errs)
	}
}
