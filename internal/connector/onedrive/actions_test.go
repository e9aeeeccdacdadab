package onedrive

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/clock"
	"github.com/telltale-dev/telltale/internal/connector"
	memu "github.com/telltale-dev/telltale/internal/emulator/microsoft"
	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/httpx"
)

// memIndex is the file index as ingest keeps it (ingest/stream.go fileStates, index.go): crawl
// pages and stream states upsert (an empty State keeps the stored one), a drive stream's removals
// of its own files mark them deleted.
type memIndex struct {
	mu      sync.Mutex
	files   map[string]connector.KnownFile
	before  map[string]connector.KnownFile // snapshot
	drives  []connector.Drive              // for DrivesOwnedLike
	cursors map[string]string              // drive -> delta stream position, for StreamCursor
}

var _ connector.IndexLookups = (*memIndex)(nil)

// LookupAlt finds files by GUID as ingest's index does (deleted ones included).
func (m *memIndex) LookupAlt(_ context.Context, drive string, alts []string) (map[string]connector.KnownFile, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]connector.KnownFile{}
	for _, a := range alts {
		for _, k := range m.files {
			if a != "" && k.AltID == a && k.DriveID == drive {
				out[a] = k
			}
		}
	}
	return out, nil
}

// DrivesOwnedLike matches owners as SQL LIKE does with only '_' (any one character).
func (m *memIndex) DrivesOwnedLike(_ context.Context, pattern string, limit int) ([]connector.Drive, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []connector.Drive
	for _, d := range m.drives {
		o, p := strings.ToLower(d.Owner), strings.ToLower(pattern)
		match := len(o) == len(p)
		for i := 0; match && i < len(p); i++ {
			match = p[i] == '_' || p[i] == o[i]
		}
		if match && len(out) < limit {
			out = append(out, d)
		}
	}
	return out, nil
}

func (m *memIndex) StreamCursor(_ context.Context, drive, _ string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cursors[drive], nil
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
		st := k.State
		if f.State != "" {
			st = f.State
		}
		drive := f.Drive
		if drive == "" {
			drive = d.VendorID
		}
		alt := k.AltID
		if f.AltID != "" {
			alt = f.AltID
		}
		m.files[f.VendorID] = connector.KnownFile{VendorID: f.VendorID, AltID: alt, Path: f.Path, Owner: f.Owner, DriveID: drive, Name: f.Name,
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

// TestDeltaActions: every scripted action on a user's OneDrive, read from the drive's delta stream
// against the index, is exactly the records of the action the emulator's ground truth names, one
// action at a time (delta folds several changes of one item into its latest state).
func TestDeltaActions(t *testing.T) {
	f := newFixture(t, memu.Options{Users: 5, FilesPerUser: 14, FoldersPerUser: 2})
	ctx := context.Background()
	idx := &memIndex{files: map[string]connector.KnownFile{}}
	u, v := f.licensed()[1], f.licensed()[2]
	d := f.drive(u)
	var files, folders []string
	for _, it := range f.emu.Items(u.DriveID) {
		switch {
		case it.Root || it.Deleted:
		case it.Folder:
			folders = append(folders, it.ID)
		case len(it.Permissions) == 1: // the owner's only: not shared
			files = append(files, it.ID)
		}
	}
	if len(files) < 8 || len(folders) < 1 {
		t.Fatalf("setup: %d unshared files, %d folders", len(files), len(folders))
	}
	// Shared before the crawl: the crawl keeps only the sharing summary (organization).
	if _, err := f.emu.ShareLink(u.UPN, files[7], memu.ScopeOrganization, memu.LinkView); err != nil {
		t.Fatal(err)
	}
	crawled, pos, _ := crawl(t, f, d)
	all := make([]connector.File, 0, len(crawled))
	for _, x := range crawled {
		all = append(all, x)
	}
	idx.put(d, all)
	s := f.openWith(t, f.config(), connector.Deps{Clock: f.clk, Files: idx})
	st := s.DriveStreams(d)[0]
	if st.Key != deltaKey || !st.FromCrawl || st.Drive.VendorID != d.VendorID {
		t.Fatalf("drive stream: %+v", st)
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
				t.Fatal("the delta never ends")
			}
		}
	}
	ext := "x@partner.example"
	var linkID, inFolder string
	steps := []struct {
		name string
		act  func() (string, error)
		want string // "action file" of every record, sorted; * is the id act returns
		also func(t *testing.T, r connector.Record)
	}{
		{"upload", func() (string, error) {
			return f.emu.Upload(u.UPN, "", "new.txt", []byte("fresh"))
		}, "file-created *", func(t *testing.T, r connector.Record) {
			e := r.Events[0]
			if e.User.Email != d.Owner || e.File.Path != "/new.txt" || e.File.Hash.QuickXor == "" || e.File.Size != 5 || r.Feed != deltaKey ||
				r.Drive != d.VendorID || e.File.DriveID != d.VendorID || e.File.Owner != d.Owner || e.Event.Observer != event.ObserverOneDrive || e.File.Created.IsZero() {
				t.Errorf("created: %+v (drive %q feed %q)", e, r.Drive, r.Feed)
			}
		}},
		{"edit", func() (string, error) { return files[0], f.emu.Edit(v.UPN, files[0], []byte("v2")) }, "", nil}, // v cannot: refused below
		{"edit by the owner", func() (string, error) { return files[0], f.emu.Edit(u.UPN, files[0], []byte("v2")) }, "file-modified *", func(t *testing.T, r connector.Record) {
			if e := r.Events[0]; e.User.Email != d.Owner || e.File.Hash.QuickXor == crawled[files[0]].Hash.QuickXor {
				t.Errorf("modified: %+v", e)
			}
		}},
		{"rename", func() (string, error) { return files[1], f.emu.Rename(u.UPN, files[1], "renamed.txt") }, "file-renamed *", func(t *testing.T, r connector.Record) {
			if e := r.Events[0]; e.File.Name != "renamed.txt" || e.File.OriginalName == "" || e.File.OriginalName == "renamed.txt" || !strings.HasSuffix(e.File.Path, "/renamed.txt") || e.User.Email != d.Owner {
				t.Errorf("renamed: %+v", e)
			}
		}},
		{"move", func() (string, error) {
			// The file renamed above: a unique name, so the move renames nothing (the emulator, like
			// conflictBehavior=rename, renames a name taken in the destination).
			to := folders[0]
			if strings.Count(idx.files[files[1]].Path, "/") > 1 {
				to = "" // in a folder already: to the root
			}
			return files[1], f.emu.Move(u.UPN, files[1], to)
		}, "file-moved *", func(t *testing.T, r connector.Record) {
			if e := r.Events[0]; e.File.OriginalDirectory == e.File.Directory || e.File.OriginalDirectory == "" {
				t.Errorf("moved: from %q to %q", e.File.OriginalDirectory, e.File.Directory)
			}
		}},
		{"rename and edit before a read", func() (string, error) {
			if err := f.emu.Rename(u.UPN, files[6], "both.txt"); err != nil {
				return "", err
			}
			return files[6], f.emu.Edit(u.UPN, files[6], []byte("both"))
		}, "file-modified *, file-renamed *", nil},
		{"anyone link", func() (string, error) {
			var err error
			linkID, err = f.emu.ShareLink(u.UPN, files[3], memu.ScopeAnonymous, memu.LinkView)
			return files[3], err
		}, "file-shared *", func(t *testing.T, r connector.Record) {
			if e := r.Events[0]; e.Sharing.LinkScope != event.LinkAnyone || !strings.HasPrefix(r.VendorID, "delta:"+files[3]+":shared:anyone:view:r") {
				t.Errorf("anyone link: %+v %s", e.Sharing, r.VendorID)
			}
		}},
		{"specific people link", func() (string, error) {
			_, err := f.emu.ShareLink(u.UPN, files[3], memu.ScopeUsers, memu.LinkEdit, v.UPN, ext)
			return files[3], err
			// No delta record: the audit feed's AddedToSecureLink names each person (targetsOf).
		}, "", nil},
		{"invite outside", func() (string, error) {
			_, err := f.emu.Invite(u.UPN, files[4], ext, "read")
			return files[4], err
		}, "file-shared *", func(t *testing.T, r connector.Record) {
			if w := r.Events[0].Sharing.SharedWith; len(w) != 1 || w[0] != ext {
				t.Errorf("invitation: shared with %v", w)
			}
		}},
		{"share inside", func() (string, error) {
			_, err := f.emu.Invite(u.UPN, files[4], v.UPN, "write")
			return files[4], err
		}, "file-shared *", func(t *testing.T, r connector.Record) {
			if w := r.Events[0].Sharing.SharedWith; len(w) != 1 || w[0] != strings.ToLower(v.UPN) {
				t.Errorf("direct grant: shared with %v", w)
			}
		}},
		{"remove the anyone link", func() (string, error) { return files[3], f.emu.Unshare(u.UPN, files[3], linkID) }, "file-unshared *", func(t *testing.T, r connector.Record) {
			if e := r.Events[0]; e.Sharing.LinkScope != event.LinkAnyone {
				t.Errorf("unshared: %+v", e.Sharing)
			}
		}},
		{"anyone link on a file shared before the crawl", func() (string, error) {
			_, err := f.emu.ShareLink(u.UPN, files[7], memu.ScopeAnonymous, memu.LinkEdit)
			return files[7], err
		}, "file-shared *", func(t *testing.T, r connector.Record) {
			if e := r.Events[0]; e.Sharing.LinkScope != event.LinkAnyone {
				t.Errorf("anyone link: %+v (the organization link predates the crawl: not news)", e.Sharing)
			}
		}},
		{"then the old organization link goes", func() (string, error) {
			for _, it := range f.emu.Items(u.DriveID) {
				if it.ID == files[7] {
					return files[7], f.emu.Unshare(u.UPN, files[7], it.Permissions[1])
				}
			}
			return "", fmt.Errorf("no file %s", files[7])
		}, "file-unshared *", func(t *testing.T, r connector.Record) {
			if e := r.Events[0]; e.Sharing.LinkScope != event.LinkOrganization {
				t.Errorf("unshared: %+v", e.Sharing)
			}
		}},
		{"delete", func() (string, error) { return files[5], f.emu.Delete(u.UPN, files[5]) }, "file-deleted *", func(t *testing.T, r connector.Record) {
			if e := r.Events[0]; e.File.Name == "" || e.File.Path == "" || e.File.DriveID != d.VendorID || e.File.Hash.QuickXor == "" {
				t.Errorf("a deletion's event names the file as indexed: %+v", e.File)
			}
		}},
		{"download (not in delta)", func() (string, error) { return files[0], f.emu.Download(u.UPN, files[0]) }, "", nil},
		{"a new folder with a file", func() (string, error) {
			dir, err := f.emu.CreateFolder(u.UPN, "", "Projects")
			if err != nil {
				return "", err
			}
			inFolder, err = f.emu.Upload(u.UPN, dir, "plan.txt", []byte("plan"))
			return inFolder, err
		}, "file-created *", func(t *testing.T, r connector.Record) {
			if p := r.Events[0].File.Path; p != "/Projects/plan.txt" {
				t.Errorf("path %q", p)
			}
		}},
		{"rename the folder", func() (string, error) {
			return inFolder, f.emu.Rename(u.UPN, idx.parentOf(t, inFolder), "Plans")
		}, "", nil},
		{"delete the folder", func() (string, error) {
			return inFolder, f.emu.Delete(u.UPN, idx.parentOf(t, inFolder))
		}, "file-deleted *", nil},
	}
	for _, step := range steps {
		f.clk.Advance(time.Minute)
		id, err := step.act()
		if step.name == "edit" {
			if err == nil {
				t.Fatalf("%s: a user without access edited", step.name)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		before := pos
		recs := read()
		var got []string
		for _, r := range recs {
			got = append(got, fmt.Sprintf("%s %s", r.Events[0].Event.Action, r.Events[0].File.ID))
		}
		slices.Sort(got)
		want := strings.ReplaceAll(step.want, "*", id)
		if strings.Join(got, ", ") != want {
			t.Errorf("%s: records %q, want %q", step.name, got, want)
			continue
		}
		for _, r := range recs {
			if !strings.HasPrefix(r.VendorID, "delta:"+id+":") || r.Feed != deltaKey || r.Drive != d.VendorID || len(r.Events) != 1 {
				t.Errorf("%s: record %s (feed %q, drive %q)", step.name, r.VendorID, r.Feed, r.Drive)
			}
			if err := r.Events[0].Validate(); err != nil {
				t.Errorf("%s: %v", step.name, err)
			}
			if step.also != nil {
				step.also(t, r)
			}
		}
		if len(recs) > 0 && step.name != "delete the folder" && step.name != "delete" {
			// The same page read again against the same index (a crash before ingest's commit): the
			// same record ids, so nothing is stored twice.
			f.clk.Advance(time.Second)
			again := f.openWith(t, f.config(), connector.Deps{Clock: f.clk, Files: &memIndex{files: idx.before}})
			p, err := again.Changes(ctx, st, before)
			if err != nil {
				t.Fatal(err)
			}
			var a, b []string
			for _, r := range p.Records {
				a = append(a, r.VendorID)
			}
			for _, r := range recs {
				b = append(b, r.VendorID)
			}
			if !slices.Equal(sorted(a), sorted(b)) {
				t.Errorf("%s: read again, ids %v, first %v", step.name, a, b)
			}
		}
		idx.snapshot()
	}
	if again := read(); len(again) != 0 {
		t.Errorf("at the end of the delta: %s", describe(again))
	}
}

// snapshot keeps the index as it is, for reading a page again against it.
func (m *memIndex) snapshot() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.before = make(map[string]connector.KnownFile, len(m.files))
	for k, v := range m.files {
		m.before[k] = v
	}
}

// parentOf is an indexed file's parent folder id.
func (m *memIndex) parentOf(t *testing.T, id string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	st, ok := decodeState(m.files[id].State)
	if !ok || st.Parent == "" {
		t.Fatalf("no parent of %s in %q", id, m.files[id].State)
	}
	return st.Parent
}

// TestDeltaResync: an expired delta link (410 resyncRequired) is a Resync that crawls the drive
// again, not an error.
func TestDeltaResync(t *testing.T) {
	f := newFixture(t, memu.Options{Users: 3, FilesPerUser: 3})
	d := f.drive(f.licensed()[1])
	s := f.open(t)
	st := s.DriveStreams(d)[0]
	start, err := s.StreamStart(context.Background(), st)
	if err != nil || start == "" {
		t.Fatalf("start %q %v", start, err)
	}
	f.emu.ExpireDeltaTokens()
	p, err := s.Changes(context.Background(), st, start)
	if err != nil {
		t.Fatal(err)
	}
	if p.Resync == nil || p.Resync.Reason != connector.ResyncExpired || !p.Resync.Recrawl || !strings.Contains(p.Resync.Detail, "410 resyncRequired") || len(p.Records) != 0 {
		t.Errorf("after a 410: %+v", p)
	}
}

// TestThrottledByEmulator: Graph's 429 with Retry-After is waited out by httpx on the injected
// clock and reported; the crawl goes on.
func TestThrottledByEmulator(t *testing.T) {
	f := newFixture(t, memu.Options{Users: 3, FilesPerUser: 20, DeltaPageSize: 3, RateLimitPerMinute: 30, RateBurst: 2})
	throttled := 0
	deps := connector.Deps{Clock: f.clk, Sleep: func(_ context.Context, d time.Duration) error { f.clk.Advance(d); return nil },
		OnThrottle: func(time.Time) { throttled++ }}
	s := f.openWith(t, f.config(), deps)
	d := f.drive(f.licensed()[1])
	cursor, files := "", 0
	for i := 0; ; i++ {
		p, err := s.Index(context.Background(), d, cursor)
		if err != nil {
			t.Fatal(err)
		}
		files += len(p.Files)
		if p.Done || i > 100 {
			break
		}
		cursor = p.Next
	}
	if f.emu.Stats().Throttled == 0 || throttled == 0 || files < 20 {
		t.Errorf("the emulator throttled %d times, the connector reported %d, %d files: want both and every file", f.emu.Stats().Throttled, throttled, files)
	}
}

// TestThrottleClassified: a 429, or a 503 with Retry-After, that httpx would not wait out is a
// throttle for the scheduler, until the Retry-After; other answers are not.
func TestThrottleClassified(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	c := &graphClient{s: &session{deps: connector.Deps{Clock: clk}}}
	for _, x := range []struct {
		code  int
		after time.Duration
		want  bool
	}{
		{429, time.Hour, true}, {429, 0, true}, {503, 20 * time.Minute, true}, {503, 0, false}, {500, 0, false}, {403, time.Hour, false},
	} {
		se := &httpx.StatusError{Code: x.code, RetryAfter: x.after, Body: []byte(`{"error":{"code":"activityLimitReached","message":"throttled"}}`)}
		err := c.classify(&http.Response{StatusCode: x.code, Header: http.Header{}}, se, PermFilesReadAll)
		var te *httpx.ThrottledError
		got := isThrottle(err)
		if got != x.want {
			t.Errorf("%d after %s: throttle %v, want %v (%v)", x.code, x.after, got, x.want, err)
		}
		if got && x.after > 0 && (!errors.As(err, &te) || !te.Until.Equal(clk.Now().Add(x.after))) {
			t.Errorf("%d after %s: until %v", x.code, x.after, te)
		}
	}
}

// TestDeltaRepeatsRecordedOnce: Graph may send an item again later in the same round; with the
// index updated page by page (as ingest does), every action is one record, whatever repeats.
func TestDeltaRepeatsRecordedOnce(t *testing.T) {
	f := newFixture(t, memu.Options{Users: 3, FilesPerUser: 6, DeltaPageSize: 2, DeltaRepeat: 1})
	ctx := context.Background()
	u := f.licensed()[1]
	d := f.drive(u)
	crawled, pos, _ := crawl(t, f, d)
	idx := &memIndex{files: map[string]connector.KnownFile{}}
	var old []string
	for id, x := range crawled {
		idx.put(d, []connector.File{x})
		old = append(old, id)
	}
	slices.Sort(old)
	s := f.openWith(t, f.config(), connector.Deps{Clock: f.clk, Files: idx})
	want := map[string]int{}
	for i := 0; i < 6; i++ {
		f.clk.Advance(time.Minute)
		id, err := f.emu.Upload(u.UPN, "", fmt.Sprintf("n%d.txt", i), []byte{byte(i)})
		if err != nil {
			t.Fatal(err)
		}
		want["file-created "+id]++
	}
	for _, id := range old[:3] {
		f.clk.Advance(time.Minute)
		if err := f.emu.Edit(u.UPN, id, []byte("edited "+id)); err != nil {
			t.Fatal(err)
		}
		want["file-modified "+id]++
	}
	got, ids, pages := map[string]int{}, map[string]bool{}, 0
	for more := true; more; pages++ {
		p, err := s.Changes(ctx, s.DriveStreams(d)[0], pos)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range p.Records {
			got[fmt.Sprintf("%s %s", r.Events[0].Event.Action, r.Events[0].File.ID)]++
			if ids[r.VendorID] {
				t.Errorf("record %s twice", r.VendorID)
			}
			ids[r.VendorID] = true
		}
		idx.put(d, p.Files)
		idx.remove(d, p.Removed)
		pos, more = p.Next, p.More
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("records %v, want %v", got, want)
	}
	if pages < 4 {
		t.Errorf("setup: %d pages, want several (with repeats)", pages)
	}
}
