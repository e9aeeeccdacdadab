package ingest

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/store"
	"github.com/telltale-dev/telltale/internal/store/sqlite"
)

// TestFileIndexLookups: what ingest's FileIndex answers a connector beyond Lookup
// (connector.IndexLookups, OneDrive's audit records): files by alternative id with their drive's
// vendor id, drives by owner pattern, a drive stream's stored position; all of the connection only.
func TestFileIndexLookups(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "t.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	mk := func(name string) store.Connection {
		c, err := st.CreateConnection(ctx, store.Connection{Name: name, Service: "onedrive", ServiceType: "cloud", Status: "searching", ScopeKind: "all", CreatedBy: "admin"})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c, other := mk("c"), mk("other")
	d, err := st.UpsertDrive(ctx, store.Drive{ConnectionID: c.ID, VendorID: "b!ada", Kind: "user", Owner: "ada.lopez@contoso.com", InScope: true})
	if err != nil {
		t.Fatal(err)
	}
	od, err := st.UpsertDrive(ctx, store.Drive{ConnectionID: other.ID, VendorID: "b!ada", Kind: "user", Owner: "ada.lopez@contoso.com", InScope: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.UpsertFiles(ctx, []store.File{indexFile(c.ID, d.ID, connector.File{VendorID: "01A", Name: "a.txt", Owner: "ada.lopez@contoso.com", AltID: "guid-a"}, time.Now()),
		indexFile(other.ID, od.ID, connector.File{VendorID: "01B", Name: "b.txt", AltID: "guid-b"}, time.Now())}); err != nil {
		t.Fatal(err)
	}
	if err := st.SaveCursor(ctx, c.ID, streamCursorName(driveStreamName(d.ID, "delta")), "https://graph/delta?token=1"); err != nil {
		t.Fatal(err)
	}
	var fi connector.FileIndex = fileIndex{st: st, conn: c.ID}
	l, ok := fi.(connector.IndexLookups)
	if !ok {
		t.Fatal("ingest's FileIndex does not answer IndexLookups")
	}
	got, err := l.LookupAlt(ctx, "b!ada", []string{"guid-a", "guid-b", "nope"})
	if err != nil {
		t.Fatal(err)
	}
	if k, ok := got["guid-a"]; len(got) != 1 || !ok || k.VendorID != "01A" || k.DriveID != "b!ada" || k.Owner != "ada.lopez@contoso.com" || k.AltID != "guid-a" {
		t.Errorf("LookupAlt: %+v", got)
	}
	ds, err := l.DrivesOwnedLike(ctx, "ada_lopez_contoso_com", 5)
	if err != nil || len(ds) != 1 || ds[0].VendorID != "b!ada" || ds[0].Owner != "ada.lopez@contoso.com" {
		t.Errorf("DrivesOwnedLike: %+v %v", ds, err)
	}
	if cur, err := l.StreamCursor(ctx, "b!ada", "delta"); err != nil || cur != "https://graph/delta?token=1" {
		t.Errorf("StreamCursor: %q %v", cur, err)
	}
	for _, q := range [][2]string{{"b!ada", "other"}, {"b!nobody", "delta"}} {
		if cur, err := l.StreamCursor(ctx, q[0], q[1]); err != nil || cur != "" {
			t.Errorf("StreamCursor %v: %q %v, want none", q, cur, err)
		}
	}
	if cur, err := (fileIndex{st: st, conn: other.ID}).StreamCursor(ctx, "b!ada", "delta"); err != nil || cur != "" {
		t.Errorf("another connection's StreamCursor: %q %v", cur, err)
	}
}
