package onedrive

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/connector"
	memu "github.com/telltale-dev/telltale/internal/emulator/microsoft"
	"github.com/telltale-dev/telltale/internal/event"
)

func rec(fields map[string]any) []byte {
	base := map[string]any{"Id": "11111111-2222-3333-4444-555555555555", "RecordType": 6, "CreationTime": "2026-03-02T10:00:00",
		"Operation": "FileDownloaded", "Workload": "OneDrive", "UserId": "Ada@Example.com", "ClientIP": "203.0.113.9",
		"ItemType": "File", "ListItemUniqueId": "AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE",
		"SiteUrl": "https://example-my.sharepoint.com/personal/ada_example_com/", "SourceRelativeUrl": "Documents/Reports",
		"SourceFileName": "q1.xlsx", "ObjectId": "https://example-my.sharepoint.com/personal/ada_example_com/Documents/Reports/q1.xlsx"}
	for k, v := range fields {
		if v == nil {
			delete(base, k)
			continue
		}
		base[k] = v
	}
	b, _ := json.Marshal(base)
	return b
}

// TestAuditAdapt: each operation as its action, target and file; skips with their reasons.
func TestAuditAdapt(t *testing.T) {
	own := "99999999-0000-0000-0000-000000000000"
	cases := []struct {
		name   string
		fields map[string]any
		action event.Action
		skip   string
		check  func(t *testing.T, e event.FileEvent)
	}{
		{"download", nil, event.ActionDownloaded, "", func(t *testing.T, e event.FileEvent) {
			if e.User.Email != "ada@example.com" || e.Source.IP != "203.0.113.9" || e.File.Path != "/Reports/q1.xlsx" ||
				e.File.ID != "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee" || !e.Timestamp.Equal(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)) {
				t.Errorf("%+v", e)
			}
		}},
		{"view", map[string]any{"Operation": "FileAccessed"}, event.ActionViewed, "", nil},
		{"sync download", map[string]any{"Operation": "FileSyncDownloadedFull"}, event.ActionDownloaded, "", nil},
		{"upload", map[string]any{"Operation": "FileUploaded"}, event.ActionCreated, "", nil},
		{"modify", map[string]any{"Operation": "FileModified"}, event.ActionModified, "", nil},
		{"rename", map[string]any{"Operation": "FileRenamed", "DestinationFileName": "q2.xlsx", "DestinationRelativeUrl": "Documents/Reports"}, event.ActionRenamed, "", func(t *testing.T, e event.FileEvent) {
			if e.File.Name != "q2.xlsx" || e.File.OriginalName != "q1.xlsx" {
				t.Errorf("%+v", e.File)
			}
		}},
		{"move", map[string]any{"Operation": "FileMoved", "DestinationFileName": "q1.xlsx", "DestinationRelativeUrl": "Documents"}, event.ActionMoved, "", func(t *testing.T, e event.FileEvent) {
			if e.File.Directory != "/" || e.File.OriginalDirectory != "/Reports" || e.File.Path != "/q1.xlsx" {
				t.Errorf("%+v", e.File)
			}
		}},
		{"recycle", map[string]any{"Operation": "FileRecycled"}, event.ActionDeleted, "", nil},
		{"restore", map[string]any{"Operation": "FileRestored"}, event.ActionRestored, "", nil},
		{"anyone link", map[string]any{"Operation": "AnonymousLinkCreated", "RecordType": 14, "TargetUserOrGroupName": "SharingLinks.x.AnonymousView.y", "TargetUserOrGroupType": "Group"}, event.ActionShared, "", func(t *testing.T, e event.FileEvent) {
			if e.Sharing.LinkScope != event.LinkAnyone || len(e.Sharing.SharedWith) != 0 {
				t.Errorf("%+v", e.Sharing)
			}
		}},
		{"company link", map[string]any{"Operation": "CompanyLinkCreated"}, event.ActionShared, "", func(t *testing.T, e event.FileEvent) {
			if e.Sharing.LinkScope != event.LinkOrganization {
				t.Errorf("%+v", e.Sharing)
			}
		}},
		{"people link", map[string]any{"Operation": "SecureLinkCreated"}, event.ActionShared, "", func(t *testing.T, e event.FileEvent) {
			if e.Sharing.LinkScope != event.LinkSpecific {
				t.Errorf("%+v", e.Sharing)
			}
		}},
		{"added to people link", map[string]any{"Operation": "AddedToSecureLink", "TargetUserOrGroupName": "Sam@Partner.example", "TargetUserOrGroupType": "Guest"}, event.ActionShared, "", func(t *testing.T, e event.FileEvent) {
			if len(e.Sharing.SharedWith) != 1 || e.Sharing.SharedWith[0] != "sam@partner.example" || e.Sharing.LinkScope != "" {
				t.Errorf("%+v", e.Sharing)
			}
		}},
		{"guest UPN", map[string]any{"Operation": "SharingSet", "TargetUserOrGroupName": "sam_partner.example#EXT#@example.onmicrosoft.com"}, event.ActionShared, "", func(t *testing.T, e event.FileEvent) {
			// The sharing schema says Guest, Member, Group or Partner (TargetUserOrGroupType), never
			// the guest's home tenant id: left out, not guessed from the UPN's domain.
			if len(e.Sharing.SharedWith) != 1 || e.Sharing.SharedWith[0] != "sam@partner.example" || e.Sharing.Tenants != nil {
				t.Errorf("%+v", e.Sharing)
			}
		}},
		{"revoked", map[string]any{"Operation": "SharingRevoked"}, event.ActionUnshared, "", nil},
		{"link disabled", map[string]any{"Operation": "SharedLinkDisabled"}, event.ActionUnshared, "", nil},
		{"an app", map[string]any{"UserId": "app@sharepoint"}, event.ActionDownloaded, "", func(t *testing.T, e event.FileEvent) {
			if e.User.Email != "" {
				t.Errorf("user %q", e.User.Email)
			}
		}},
		{"Telltale's own download", map[string]any{"ApplicationId": own}, "", SkipOwnRead, nil},
		{"a SharePoint site", map[string]any{"Workload": "SharePoint"}, "", SkipNotOneDrive, nil},
		{"unknown", map[string]any{"Operation": "FileSensitivityLabelApplied"}, "", SkipUnknownOp, nil},
		{"second stage", map[string]any{"Operation": "FileDeletedSecondStageRecycleBin"}, "", SkipNotFileActivity, nil},
		{"folder", map[string]any{"Operation": "FolderRenamed", "ItemType": "Folder"}, "", SkipUnknownOp, nil},
		{"folder op", map[string]any{"Operation": "FileRenamed", "ItemType": "Folder"}, "", SkipFolder, nil},
		{"folder shared", map[string]any{"Operation": "CompanyLinkCreated", "ItemType": "Folder"}, event.ActionShared, "", nil},
	}
	for _, c := range cases {
		r, err := decodeAudit(rec(c.fields))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		got := adaptAuditRecord(r, auditOptions{ownApp: own})
		if got.VendorID != r.ID || got.Feed != auditKey || got.Skip != c.skip {
			t.Errorf("%s: %+v", c.name, got)
			continue
		}
		if c.skip != "" {
			if len(got.Events) != 0 {
				t.Errorf("%s: skipped with events", c.name)
			}
			continue
		}
		if len(got.Events) != 1 || got.Events[0].Event.Action != c.action {
			t.Errorf("%s: %+v, want %s", c.name, got.Events, c.action)
			continue
		}
		if err := got.Events[0].Validate(); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
		if c.check != nil {
			c.check(t, got.Events[0])
		}
	}
	for _, bad := range [][]byte{[]byte(`{"Id":"x"}`), rec(map[string]any{"CreationTime": "yesterday"}), rec(map[string]any{"RecordType": "six"})} {
		if _, err := decodeAudit(bad); err == nil {
			t.Errorf("decoded %s", bad)
		}
	}
}

// TestReadRecords: a content blob (JSON array) with a broken record, and JSON lines: every good
// record adapted, the broken one an error on its line, reading goes on.
func TestReadRecords(t *testing.T) {
	blob := "[\n" + string(rec(nil)) + ",\n" + `{"Id":"broken","Operation":"FileDownloaded"}` + ",\n" +
		string(rec(map[string]any{"Id": "22222222-2222-3333-4444-555555555555", "Operation": "Foo"})) + "\n]\n"
	var got []string
	var errs []int
	err := New().ReadRecords(strings.NewReader(blob), func(line int, r connector.Record, err error) error {
		if err != nil {
			errs = append(errs, line)
			return nil
		}
		got = append(got, r.VendorID+" "+r.Skip)
		return nil
	})
	if err != nil || len(got) != 2 || len(errs) != 1 || errs[0] != 3 || got[1] != "22222222-2222-3333-4444-555555555555 "+SkipUnknownOp {
		t.Errorf("err %v, records %v, errors on lines %v", err, got, errs)
	}
	lines := string(rec(nil)) + "\n\n" + string(rec(map[string]any{"Id": "33333333-2222-3333-4444-555555555555", "Operation": "FileUploaded"})) + "\n"
	n := 0
	ReadRecords(strings.NewReader(lines), func(_ int, r connector.Record, err error) error {
		if err == nil && len(r.Events) == 1 {
			n++
		}
		return nil
	})
	if n != 2 {
		t.Errorf("%d JSON lines read, want 2", n)
	}
}

// TestAuditMappingDocumented: every operation of the table and every skip reason is in the doc.
func TestAuditMappingDocumented(t *testing.T) {
	b, err := os.ReadFile("../../../docs/connectors/onedrive.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, r := range AuditMapping {
		want := "| `" + r.name + "` | " + string(r.action)
		if r.action == "" {
			want = "| `" + r.name + "` | skipped"
		}
		if !strings.Contains(doc, want) {
			t.Errorf("docs/connectors/onedrive.md does not map `%s` (%q)", r.name, want)
		}
	}
	for _, s := range []string{SkipUndecodable, SkipNotOneDrive, SkipUnknownOp, SkipNotFileActivity, SkipFolder, SkipOwnRead, SkipBeforeStart} {
		if !strings.Contains(doc, "| `"+s+"` |") {
			t.Errorf("docs/connectors/onedrive.md does not explain the skip reason %s", s)
		}
	}
}

// auditFixture is an emulator whose records are available 2 to 10 minutes late.
func auditFixture(t *testing.T) (*fixture, *session) {
	f := newFixture(t, memu.Options{AuditLagMin: 2 * time.Minute, AuditLagMax: 10 * time.Minute, AuditDuplicate: 0.3})
	return f, f.open(t)
}

// readAudit pages the audit stream to its end from pos.
func readAudit(t *testing.T, s *session, pos string) ([]connector.Record, string) {
	t.Helper()
	var out []connector.Record
	for range 50 {
		p, err := s.Changes(context.Background(), connector.StreamSpec{Key: auditKey}, pos)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p.Records...)
		pos = p.Next
		if !p.More {
			return out, pos
		}
	}
	t.Fatal("the audit stream never ended")
	return nil, ""
}

// TestAuditStream: the stream starts the subscription, reads every record once (duplicates
// across blobs and the overlap dropped by id here as ingest does), names files by their
// driveItem id and drive (the delta feed's), and reads nothing from before its start.
func TestAuditStream(t *testing.T) {
	f := newFixture(t, memu.Options{AuditLagMin: 2 * time.Minute, AuditLagMax: 10 * time.Minute, AuditDuplicate: 0.3})
	idx := &memIndex{files: map[string]connector.KnownFile{}}
	s := f.openWith(t, f.config(), connector.Deps{Clock: f.clk, Files: idx})
	ctx := context.Background()
	u := f.licensed()[1]
	early, err := f.emu.Upload(u.UPN, "", "before.txt", []byte("before the stream"))
	if err != nil {
		t.Fatal(err)
	}
	sp := s.Streams()
	if len(sp) != 1 || sp[0].Key != auditKey {
		t.Fatalf("streams %+v", sp)
	}
	for _, lu := range f.licensed() { // the baseline crawl, as ingest runs it first
		idx.drives = append(idx.drives, f.drive(lu))
		for cur, done := "", false; !done; {
			p, err := s.Index(ctx, f.drive(lu), cur)
			if err != nil {
				t.Fatal(err)
			}
			idx.put(f.drive(lu), p.Files) // as ingest indexes it: files with their GUIDs
			cur, done = p.Next, p.Done
		}
	}
	f.clk.Advance(time.Second)
	pos, err := s.StreamStart(ctx, sp[0])
	if err != nil {
		t.Fatal(err)
	}
	id, err := f.emu.Upload(u.UPN, "", "after.txt", []byte("after the stream started"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.emu.Download(u.UPN, id); err != nil {
		t.Fatal(err)
	}
	if err := f.emu.Rename(u.UPN, id, "renamed.txt"); err != nil {
		t.Fatal(err)
	}
	f.emu.Step(30)
	seen := map[string]connector.Record{}
	for range 8 {
		f.clk.Advance(5 * time.Minute)
		var recs []connector.Record
		recs, pos = readAudit(t, s, pos)
		for _, r := range recs {
			if _, ok := seen[r.VendorID]; !ok {
				seen[r.VendorID] = r
			}
		}
	}
	drive := f.drive(u).VendorID
	acts := f.emu.Activities()
	for _, a := range acts {
		r, ok := seen[a.ID]
		switch {
		case a.ItemID == early:
			if ok && len(r.Events) > 0 {
				t.Errorf("%s on a file made before the stream: %+v", a.Operation, r)
			}
		case !ok:
			t.Errorf("%s %s (%s): no record", a.Operation, a.ItemID, a.At)
		case auditRules[a.Operation].action != "" && !strings.HasPrefix(a.Operation, "Folder"):
			e := r.Events[0]
			if e.File.ID != a.ItemID || r.Drive != a.DriveID || e.File.Owner != strings.ToLower(a.Owner) || r.Feed != auditKey {
				t.Errorf("%s: file %s drive %s owner %s, want %s %s %s", a.Operation, e.File.ID, r.Drive, e.File.Owner, a.ItemID, a.DriveID, a.Owner)
			}
		}
	}
	if r := seen[acts[2].ID]; acts[2].ItemID != id || r.Drive != drive || r.Events[0].Event.Action != event.ActionDownloaded {
		t.Errorf("the download: %+v", r)
	}
	if f.emu.Stats().AuditNoPublisher != 0 {
		t.Errorf("%d requests without PublisherIdentifier", f.emu.Stats().AuditNoPublisher)
	}
	// A second start is AF20024 (already enabled): success.
	if _, err := s.StreamStart(ctx, sp[0]); err != nil {
		t.Errorf("a second start: %v", err)
	}
}

// TestAuditWindows: a stream two days behind reads in 24-hour windows (More between them); one
// eight days behind is a resync from the 7 days the API keeps.
func TestAuditWindows(t *testing.T) {
	f, s := auditFixture(t)
	ctx := context.Background()
	pos, err := s.StreamStart(ctx, connector.StreamSpec{Key: auditKey})
	if err != nil {
		t.Fatal(err)
	}
	f.clk.Advance(50 * time.Hour)
	windows := 0
	for {
		p, err := s.Changes(ctx, connector.StreamSpec{Key: auditKey}, pos)
		if err != nil {
			t.Fatal(err)
		}
		windows++
		var c auditCursor
		json.Unmarshal([]byte(p.Next), &c)
		pos = p.Next
		if !p.More {
			break
		}
	}
	if windows != 3 {
		t.Errorf("%d windows for 50 hours, want 3", windows)
	}
	f.clk.Advance(8 * 24 * time.Hour)
	p, err := s.Changes(ctx, connector.StreamSpec{Key: auditKey}, pos)
	if err != nil {
		t.Fatal(err)
	}
	if p.Resync == nil || p.Resync.Reason != connector.ResyncExpired || p.Resync.Recrawl {
		t.Errorf("8 days behind: resync %+v", p.Resync)
	}
	if _, err := s.Changes(ctx, connector.StreamSpec{Key: auditKey}, "not a cursor"); !errors.Is(err, connector.ErrMalformed) {
		t.Errorf("a foreign cursor: %v", err)
	}
}

// TestAuditRefusals: without ActivityFeed.Read the stream says which permission to grant; a
// tenant given by domain says to use the GUID.
func TestAuditRefusals(t *testing.T) {
	f, s := auditFixture(t)
	ctx := context.Background()
	f.emu.SetConsent([]string{memu.RoleFilesReadAll, memu.RoleUserReadAll, memu.RoleGroupMemberReadAll})
	_, err := s.StreamStart(ctx, connector.StreamSpec{Key: auditKey})
	mustSay(t, err, connector.ErrPermission, PermActivityFeedRead, "Office 365 Management APIs")
	cfg := f.config()
	cfg.Settings["tenant_id"] = f.emu.Domain()
	s2 := f.openWith(t, cfg, connector.Deps{Clock: f.clk})
	_, err = s2.StreamStart(ctx, connector.StreamSpec{Key: auditKey})
	mustSay(t, err, connector.ErrAuth, "GUID")
}

// TestAuditBrokenRecords: a blob's broken records are skipped and counted (undecodable), its good
// ones kept.
func TestAuditBrokenRecords(t *testing.T) {
	_, s := auditFixture(t)
	raws := []rawAudit{{raw: []byte(`{"Id":"x"}`)}, {raw: []byte(`[1]`)}, {raw: rec(map[string]any{"ListItemUniqueId": nil})}}
	recs, err := s.adaptAudit(context.Background(), raws)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 || recs[0].Skip != SkipUndecodable || recs[1].Skip != SkipUndecodable || recs[0].VendorID == recs[1].VendorID ||
		recs[2].Skip != "" || len(recs[2].Events) != 1 {
		t.Errorf("%+v", recs)
	}
}

// TestAuditAfterRestart: a session that has never seen a drive (a restarted node) names the files
// of audit records by their driveItem id from the file index alone (their GUIDs are indexed with
// them), a deleted file included, without reading the drive again; a file the index lacks yet is
// caught up from the drive stream's stored position.
func TestAuditAfterRestart(t *testing.T) {
	f := newFixture(t, memu.Options{AuditLagMin: 2 * time.Minute, AuditLagMax: 5 * time.Minute, DeltaPageSize: 3})
	ctx := context.Background()
	idx := &memIndex{files: map[string]connector.KnownFile{}, cursors: map[string]string{}}
	first := f.openWith(t, f.config(), connector.Deps{Clock: f.clk, Files: idx})
	for _, lu := range f.licensed() {
		d := f.drive(lu)
		idx.drives = append(idx.drives, d)
		for cur, done := "", false; !done; {
			p, err := first.Index(ctx, d, cur)
			if err != nil {
				t.Fatal(err)
			}
			idx.put(d, p.Files)
			cur, done = p.Next, p.Done
			if done {
				idx.cursors[d.VendorID] = p.StreamStart[deltaKey]
			}
		}
	}
	u := f.licensed()[1]
	d := f.drive(u)
	var files []string
	for _, it := range f.emu.Items(u.DriveID) {
		if !it.Folder && !it.Root && !it.Deleted {
			files = append(files, it.ID)
		}
	}
	if len(files) < 2 {
		t.Fatalf("%d files in the drive", len(files))
	}
	f.clk.Advance(time.Second)
	sp := first.Streams()[0]
	pos, err := first.StreamStart(ctx, sp)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.emu.Download(u.UPN, files[0]); err != nil {
		t.Fatal(err)
	}
	if err := f.emu.Delete(u.UPN, files[1]); err != nil {
		t.Fatal(err)
	}
	// The drive's stream reads the deletion (as ingest: the file stays indexed, deleted).
	for more := true; more; {
		p, err := first.Changes(ctx, connector.StreamSpec{Key: deltaKey, Drive: d}, idx.cursors[d.VendorID])
		if err != nil {
			t.Fatal(err)
		}
		idx.put(d, p.Files)
		idx.remove(d, p.Removed)
		idx.cursors[d.VendorID], more = p.Next, p.More
	}
	if k := idx.files[files[1]]; !k.Deleted || k.AltID == "" {
		t.Fatalf("the deleted file as indexed: %+v", k)
	}
	// A file made now is not indexed: its record is caught up from the stream's position.
	late, err := f.emu.Upload(u.UPN, "", "late.txt", []byte("made after the stream read"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.emu.Download(u.UPN, late); err != nil {
		t.Fatal(err)
	}

	again := f.openWith(t, f.config(), connector.Deps{Clock: f.clk, Files: idx}) // the restart
	f.clk.Advance(10 * time.Minute)
	f.emu.ResetStats()
	recs, _ := readAudit(t, again, pos)
	got := map[string]connector.Record{}
	for _, r := range recs {
		if len(r.Events) > 0 {
			got[string(r.Events[0].Event.Action)+" "+r.Events[0].File.ID] = r
		}
	}
	for _, want := range []string{"file-downloaded " + files[0], "file-deleted " + files[1], "file-downloaded " + late, "file-created " + late} {
		r, ok := got[want]
		if !ok {
			t.Errorf("no %s record; got %v", want, keys(got))
			continue
		}
		if r.Drive != d.VendorID || r.Events[0].File.Owner != d.Owner {
			t.Errorf("%s: drive %s owner %s, want %s %s", want, r.Drive, r.Events[0].File.Owner, d.VendorID, d.Owner)
		}
	}
	// Only the late file's catch-up read the drive: one delta page from the stream's position, not
	// a whole enumeration per drive.
	// The personal site's drive is found among the stored drives, not by listing the directory.
	if n := f.emu.Stats().ByUser[""].Requests; n != 0 {
		t.Errorf("%d directory requests after the restart, want none (the site's drive is in the index)", n)
	}
	if n := f.emu.Stats().ByUser[u.UPN].Requests; n > 2 {
		t.Errorf("%d Graph requests on the drive after the restart, want at most 2 (one delta read from the stream's position)", n)
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestAuditPageLinkOfAnotherURL: a window's content listing paged by NextPageUri keeps the page
// link relative to the Management Activity API's URL, so it follows a connection whose
// manage_url changes; a stored page link of another URL is not followed (no request there): the
// window is listed again from its start, and no record is missed.
func TestAuditPageLinkOfAnotherURL(t *testing.T) {
	f := newFixture(t, memu.Options{AuditLagMin: 2 * time.Minute, AuditLagMax: 5 * time.Minute, AuditPageSize: 1})
	s := f.open(t)
	ctx := context.Background()
	var elsewhere atomic.Int64
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { elsewhere.Add(1) }))
	defer other.Close()
	st := connector.StreamSpec{Key: auditKey}
	pos, err := s.StreamStart(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	u := f.licensed()[1]
	for i := range 4 {
		f.clk.Advance(20 * time.Minute) // blobs of their own
		if _, err := f.emu.Upload(u.UPN, "", fmt.Sprintf("f%d.txt", i), []byte("x")); err != nil {
			t.Fatal(err)
		}
		f.emu.Step(10)
	}
	f.clk.Advance(30 * time.Minute)
	want, _ := readAudit(t, s, pos)
	p, err := s.Changes(ctx, st, pos)
	if err != nil || !p.More {
		t.Fatalf("first page of %d records' window: more %v, %v (the test needs a paged listing)", len(want), p.More, err)
	}
	var cur auditCursor
	if err := json.Unmarshal([]byte(p.Next), &cur); err != nil || !strings.HasPrefix(cur.Page, "/") {
		t.Fatalf("cursor %s (%v): the page link is not relative to the API's URL", p.Next, err)
	}
	cur.Page = other.URL + "/api/v1.0/x/activity/feed" + cur.Page
	got, _ := readAudit(t, s, cur.String())
	have := map[string]bool{}
	for _, r := range append(p.Records, got...) {
		have[r.VendorID] = true
	}
	for _, r := range want {
		if !have[r.VendorID] {
			t.Errorf("record %s missed after a page link of another URL", r.VendorID)
		}
	}
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("%d requests went to the other URL", n)
	}
}
