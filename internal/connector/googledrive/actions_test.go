package googledrive

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/connector"
	gemu "github.com/telltale-dev/telltale/internal/emulator/google"
	"github.com/telltale-dev/telltale/internal/event"

	"google.golang.org/api/drive/v3"
)

// memIndex is the file index as ingest keeps it (ingest/stream.go fileStates, index.go): crawl
// pages and stream states upsert (an empty State keeps the stored one), a drive stream's removals
// of its own files mark them deleted.
type memIndex struct {
	mu    sync.Mutex
	files map[string]connector.KnownFile
}

func (m *memIndex) Lookup(_ context.Context, ids []string) (map[string]connector.KnownFile, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]connector.KnownFile{}
	for _, id := range ids {
		if k, ok := m.files[id]; ok {
			out[id] = k
		}
	}
	return out, nil
}

func (m *memIndex) put(d connector.Drive, fs []connector.File) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, f := range fs {
		k := m.files[f.VendorID]
		if f.Drive != "" && f.Drive != d.VendorID && k.DriveID != "" && k.DriveID != f.Drive {
			continue
		}
		st := k.State
		if f.State != "" {
			st = f.State
		}
		m.files[f.VendorID] = connector.KnownFile{Path: f.Path, Owner: f.Owner, DriveID: cmpOr(f.Drive, d.VendorID), Name: f.Name,
			MimeType: f.MimeType, Size: f.Size, Hash: f.Hash, Modified: f.Modified, State: st}
	}
}

func (m *memIndex) remove(d connector.Drive, ids []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, id := range ids {
		if k, ok := m.files[id]; ok && k.DriveID == d.VendorID {
			k.Deleted = true
			m.files[id] = k
		}
	}
}

// TestChangeActions: every scripted action on a user's files, read from the drive's changes feed
// against the index, is exactly the records of the action the emulator's ground truth names, one
// action at a time (the feed folds several changes of one file into its latest state).
func TestChangeActions(t *testing.T) {
	f := newFixture(t, gemu.Options{Users: 5, FilesPerUser: 8, FoldersPerUser: 2})
	ctx := context.Background()
	idx := &memIndex{files: map[string]connector.KnownFile{}}
	s := f.openDeps(t, connector.Deps{Clock: f.clk, Files: idx})
	u, v := f.active()[0].Email, f.active()[1].Email
	d := connector.Drive{VendorID: u, Kind: "user", Owner: u}
	st := s.DriveStreams(d)[0]
	pos, err := s.StreamStart(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if c := parseCursor(pos); c.token == "" || !c.since.Equal(f.clk.Now().UTC().Truncate(time.Second)) {
		t.Fatalf("start %q: want the token and the start time", pos)
	}
	f.clk.Advance(time.Minute)
	crawled, _ := crawlAll(t, f, d)
	idx.put(d, crawled)
	f.clk.Advance(time.Minute)

	owned := f.owned(t, u)
	var files, folders, docs []string
	fl, err := f.driveAs(t, u).Files.List().Q("mimeType = '" + gemu.MimeFolder + "' and 'me' in owners").Fields("files(id)").Do()
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range fl.Files {
		folders = append(folders, x.Id)
	}
	for id, x := range owned {
		switch {
		case strings.HasPrefix(x.MimeType, "application/vnd.google-apps."):
			docs = append(docs, id)
		case !x.Trashed:
			files = append(files, id)
		}
	}
	sort.Strings(files)
	sort.Strings(docs)
	sort.Strings(folders)
	if len(files) < 6 || len(docs) < 1 || len(folders) < 1 {
		t.Fatalf("setup: %d binary files, %d docs, %d folders", len(files), len(docs), len(folders))
	}
	read := func() []connector.Record {
		t.Helper()
		var recs []connector.Record
		for i := 0; ; i++ {
			p, err := s.Changes(ctx, st, pos)
			if err != nil {
				t.Fatal(err)
			}
			if p.Resync != nil {
				t.Fatalf("resync: %+v", p.Resync)
			}
			recs = append(recs, p.Records...)
			idx.put(d, p.Files)
			idx.remove(d, p.Removed)
			pos = p.Next
			if !p.More {
				return recs
			}
			if i > 50 {
				t.Fatal("the changes never end")
			}
		}
	}
	var permID, uploaded string
	steps := []struct {
		name string
		act  func() (string, error)
		want string // "action file" of every record, sorted
		also func(t *testing.T, r connector.Record)
	}{
		{"upload", func() (string, error) {
			var err error
			uploaded, err = f.emu.Upload(u, "", "new.bin", "", []byte("fresh"))
			return uploaded, err
		}, "file-created *", func(t *testing.T, r connector.Record) {
			if e := r.Events[0]; e.User.Email != u || e.File.Hash.MD5 == "" || e.File.Path != "/new.bin" || r.Feed != feedChanges || r.Drive != u {
				t.Errorf("created: %+v (drive %q feed %q)", e, r.Drive, r.Feed)
			}
		}},
		{"edit", func() (string, error) { return files[0], f.emu.Edit(u, files[0], []byte("v2")) }, "file-modified " + files[0], func(t *testing.T, r connector.Record) {
			if e := r.Events[0]; e.User.Email != u {
				t.Errorf("modified: actor %q, want the last modifying user %s", e.User.Email, u)
			}
		}},
		{"edit a doc", func() (string, error) { return docs[0], f.emu.Edit(u, docs[0], nil) }, "file-modified " + docs[0], nil},
		{"rename", func() (string, error) { return files[1], f.emu.Rename(u, files[1], "renamed.bin") }, "file-renamed " + files[1], func(t *testing.T, r connector.Record) {
			if e := r.Events[0]; e.File.Name != "renamed.bin" || e.File.OriginalName == "" || e.File.OriginalName == "renamed.bin" {
				t.Errorf("renamed: %+v", e.File)
			}
		}},
		{"move", func() (string, error) {
			cur, err := f.driveAs(t, u).Files.Get(files[2]).Fields("parents").Do()
			if err != nil {
				return "", err
			}
			to := folders[0]
			if len(cur.Parents) > 0 && cur.Parents[0] == to {
				to = "" // already there: to My Drive's root
			}
			return files[2], f.emu.Move(u, files[2], to)
		}, "file-moved " + files[2], func(t *testing.T, r connector.Record) {
			if e := r.Events[0]; e.File.OriginalDirectory == e.File.Directory {
				t.Errorf("moved: from %q to %q", e.File.OriginalDirectory, e.File.Directory)
			}
		}},
		{"share by link", func() (string, error) {
			_, err := f.emu.Share(u, files[3], gemu.Share{Type: "anyone"})
			return files[3], err
		}, "file-shared " + files[3], func(t *testing.T, r connector.Record) {
			if e := r.Events[0]; e.Sharing.LinkScope != event.LinkAnyone {
				t.Errorf("link share: %+v", e.Sharing)
			}
		}},
		{"share outside", func() (string, error) {
			var err error
			permID, err = f.emu.Share(u, files[3], gemu.Share{Type: "user", Email: "x@partner.example"})
			return files[3], err
		}, "file-shared " + files[3], func(t *testing.T, r connector.Record) {
			if e := r.Events[0]; len(e.Sharing.SharedWith) != 1 || e.Sharing.SharedWith[0] != "x@partner.example" {
				t.Errorf("share: %+v", e.Sharing)
			}
		}},
		{"unshare", func() (string, error) { return files[3], f.emu.Unshare(u, files[3], permID) }, "file-unshared " + files[3], nil},
		{"trash", func() (string, error) { return files[4], f.emu.Trash(u, files[4]) }, "file-deleted " + files[4], nil},
		{"untrash", func() (string, error) { return files[4], f.emu.Untrash(u, files[4]) }, "file-restored " + files[4], nil},
		{"delete", func() (string, error) { return files[5], f.emu.Delete(u, files[5]) }, "file-deleted " + files[5], func(t *testing.T, r connector.Record) {
			if e := r.Events[0]; e.File.Name == "" || e.File.DriveID != u {
				t.Errorf("a removal's event names the file as indexed: %+v", e.File)
			}
		}},
		{"rename the upload a week later", func() (string, error) {
			f.clk.Advance(8 * 24 * time.Hour)
			return uploaded, f.emu.Rename(u, uploaded, "renamed-later.bin")
		}, "file-renamed *", nil},
		{"download (Reports only)", func() (string, error) { return files[0], f.emu.Download(u, files[0]) }, "", nil},
		{"another user's file", func() (string, error) {
			id, err := f.emu.Upload(v, "", "theirs.bin", "", nil)
			if err == nil {
				_, err = f.emu.Share(v, id, gemu.Share{Type: "user", Email: u})
			}
			return id, err
		}, "file-created *", func(t *testing.T, r connector.Record) {
			if r.Drive != v {
				t.Errorf("a file shared with %s is %s's: record drive %q", u, v, r.Drive)
			}
		}},
	}
	for _, step := range steps {
		f.clk.Advance(time.Minute)
		id, err := step.act()
		if err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		recs := read()
		var got []string
		for _, r := range recs {
			got = append(got, fmt.Sprintf("%s %s", r.Events[0].Event.Action, r.Events[0].File.ID))
		}
		want := strings.ReplaceAll(step.want, "*", id)
		if strings.Join(got, ", ") != want {
			t.Errorf("%s: records %q, want %q", step.name, got, want)
			continue
		}
		for _, r := range recs {
			if !strings.HasPrefix(r.VendorID, "change:"+id+":") {
				t.Errorf("%s: record id %q", step.name, r.VendorID)
			}
			if step.also != nil {
				step.also(t, r)
			}
		}
	}
	// Read again from the start: the same records (ids) as before, nothing new.
	if again := read(); len(again) != 0 {
		t.Errorf("at the end of the feed: %s", describe(again))
	}
}

// TestCreatedActorIsTheCreator: a shared drive file (no owner) is created by its last modifying
// user only if nobody modified it since; edited by another writer before the feed is read, its
// creation names no actor (the Reports record says who), never the editor.
func TestCreatedActorIsTheCreator(t *testing.T) {
	f := newFixture(t, gemu.Options{Users: 6, SharedDrives: 1, FilesPerDrive: 2})
	ctx := context.Background()
	s := f.openDeps(t, connector.Deps{Clock: f.clk, Files: &memIndex{files: map[string]connector.KnownFile{}}})
	sd := f.emu.SharedDrives()[0]
	var writers []string
	for m, r := range sd.Members {
		if (r == "organizer" || r == "writer") && strings.Contains(m, "@") {
			writers = append(writers, m)
		}
	}
	sort.Strings(writers)
	if len(writers) < 2 {
		t.Fatalf("shared drive %s has %d writers, want 2", sd.Name, len(writers))
	}
	st := s.DriveStreams(connector.Drive{VendorID: sd.ID, Kind: "shared", Name: sd.Name})[0]
	for _, c := range []struct {
		name   string
		editor string
		want   string
	}{{"not modified since", "", writers[0]}, {"edited by another", writers[1], ""}} {
		pos, err := s.StreamStart(ctx, st)
		must(t, err)
		f.clk.Advance(time.Minute)
		id, err := f.emu.Upload(writers[0], sd.ID, "team-"+strings.ReplaceAll(c.name, " ", "-")+".bin", "", []byte(c.name))
		must(t, err)
		if c.editor != "" {
			f.clk.Advance(time.Minute)
			must(t, f.emu.Edit(c.editor, id, []byte("v2")))
		}
		p, err := s.Changes(ctx, st, pos)
		must(t, err)
		var got []string
		for _, r := range p.Records {
			if e := r.Events[0]; e.File.ID == id && e.Event.Action == event.ActionCreated {
				got = append(got, e.User.Email)
			}
		}
		if len(got) != 1 || got[0] != c.want {
			t.Errorf("%s: created by %q, want %q", c.name, got, c.want)
		}
	}
}

// TestTrashedSharedDriveItem: a shared drive item's change names when it was trashed and by whom
// (trashedTime, trashingUser): the deletion has that time and actor, not the change's time and
// nobody; a My Drive item (no such fields) keeps the change's time.
func TestTrashedSharedDriveItem(t *testing.T) {
	changed := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	known := connector.KnownFile{Name: "plan.pdf", Path: "/Finance/plan.pdf", Size: 10}
	sd := connector.Drive{VendorID: "0ASD", Kind: "shared", Name: "Finance"}
	raw := &drive.File{Id: "f1", Name: "plan.pdf", Trashed: true, DriveId: "0ASD", MimeType: "application/pdf",
		TrashedTime: "2026-03-02T09:41:07.120Z", TrashingUser: &drive.User{EmailAddress: "Bob@Corp.example"}}
	f := connector.File{VendorID: "f1", Name: "plan.pdf", Drive: "0ASD", MimeType: "application/pdf"}
	recs := changeRecords(sd, changed, raw, f, known, true, changed.Add(-time.Hour))
	if len(recs) != 1 || len(recs[0].Events) != 1 {
		t.Fatalf("records: %+v", recs)
	}
	e := recs[0].Events[0]
	if e.Event.Action != event.ActionDeleted || !e.Timestamp.Equal(time.Date(2026, 3, 2, 9, 41, 7, 120e6, time.UTC)) || e.User.Email != "bob@corp.example" {
		t.Errorf("deleted: %s at %s by %q", e.Event.Action, e.Timestamp, e.User.Email)
	}
	my := connector.Drive{VendorID: "ann@corp.example", Kind: "user", Owner: "ann@corp.example"}
	raw2 := &drive.File{Id: "f2", Name: "a.txt", Trashed: true, Owners: []*drive.User{{EmailAddress: "ann@corp.example"}}}
	f2 := connector.File{VendorID: "f2", Name: "a.txt", Drive: "ann@corp.example", Owner: "ann@corp.example"}
	recs = changeRecords(my, changed, raw2, f2, connector.KnownFile{Name: "a.txt", Owner: "ann@corp.example"}, true, changed.Add(-time.Hour))
	if len(recs) != 1 || !recs[0].Events[0].Timestamp.Equal(changed) || recs[0].Events[0].User.Email != "" {
		t.Errorf("My Drive trash: %+v", recs)
	}
}
