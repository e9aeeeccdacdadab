package onedrive

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/connector/kit/quickxor"
	memu "github.com/telltale-dev/telltale/internal/emulator/microsoft"
)

// itemPaths are the paths below the root of a drive's live files, by id, as the emulator holds them.
func itemPaths(items []memu.Item) map[string]string {
	by := map[string]memu.Item{}
	for _, it := range items {
		by[it.ID] = it
	}
	out := map[string]string{}
	for _, it := range items {
		if it.Folder || it.Deleted {
			continue
		}
		p := "/" + it.Name
		for x := by[it.ParentID]; !x.Root && x.ID != ""; x = by[x.ParentID] {
			p = "/" + x.Name + p
		}
		out[it.ID] = p
	}
	return out
}

// crawl runs a drive's crawl to its end, each page in a new session (the cursor alone resumes a
// crawl), and returns its files by id and the handed-over stream start.
func crawl(t *testing.T, f *fixture, d connector.Drive) (map[string]connector.File, string, int) {
	t.Helper()
	files := map[string]connector.File{}
	cursor := ""
	for pages := 1; ; pages++ {
		p, err := f.open(t).Index(context.Background(), d, cursor)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range p.Files {
			if _, dup := files[x.VendorID]; dup && !f.repeats {
				t.Errorf("page %d: file %s again", pages, x.VendorID)
			}
			if x.Drive != "" {
				t.Errorf("a crawl page's file names a drive: %+v", x)
			}
			files[x.VendorID] = x
		}
		if p.Done {
			return files, p.StreamStart[deltaKey], pages
		}
		if p.Next == "" || pages > 100 {
			t.Fatalf("page %d: no next cursor, not done", pages)
		}
		cursor = p.Next
	}
}

// TestCrawl: a drive's delta crawl page by page, resumed from the cursor alone by new sessions,
// indexes every live file once with its path (from folders, delta has no parentReference.path),
// size, quickXorHash and parent, and hands over the deltaLink as the delta stream's start; a file
// uploaded during the crawl is in the crawl's state, not news in the stream.
func TestCrawl(t *testing.T) {
	f := newFixture(t, memu.Options{Users: 4, FilesPerUser: 14, FoldersPerUser: 4, DeltaPageSize: 4})
	u := f.licensed()[1]
	d := f.drive(u)
	var during string
	f.emu.DuringIndex(func() {
		var err error
		if during, err = f.emu.Upload(u.UPN, "", "during.txt", []byte("made during the crawl")); err != nil {
			t.Error(err)
		}
	})
	files, start, pages := crawl(t, f, d)
	if pages < 4 || start == "" {
		t.Fatalf("%d pages, start %q: want several pages and a deltaLink", pages, start)
	}
	items := f.emu.Items(u.DriveID)
	paths := itemPaths(items)
	if len(files) != len(paths) || during == "" {
		t.Errorf("crawled %d files, the drive has %d (the one made during the crawl: %q)", len(files), len(paths), during)
	}
	deep := 0
	for _, it := range items {
		if it.Folder || it.Deleted {
			continue
		}
		x, ok := files[it.ID]
		if !ok {
			t.Errorf("file %s (%s) not crawled", it.ID, paths[it.ID])
			continue
		}
		st, _ := decodeState(x.State)
		if x.Name != it.Name || x.Path != paths[it.ID] || x.Size != it.Size || x.Hash.QuickXor != it.QuickXorHash || x.Hash.QuickXor == "" ||
			x.Owner != d.Owner || x.Modified.IsZero() || st.Parent != it.ParentID || x.MimeType == "" {
			t.Errorf("file %s: %+v, want %+v at %s", it.ID, x, it, paths[it.ID])
		}
		if st.Scope == "" && (len(st.Sharing) != 1 || st.Sharing[0] != "-") {
			t.Errorf("an unshared file's state says %+v, want shared with nobody", st)
		}
		if st.Scope != "" && st.Sharing != nil {
			t.Errorf("the crawl read permissions: %+v", st)
		}
		if strings.Count(x.Path, "/") > 1 {
			deep++
		}
	}
	if deep == 0 {
		t.Errorf("setup: no file in a folder")
	}
	// The stream starts where the crawl ended: nothing is news.
	s := f.open(t)
	p, err := s.Changes(context.Background(), s.DriveStreams(d)[0], start)
	if err != nil || len(p.Records) != 0 || len(p.Files) != 0 || p.More || p.Next == "" {
		t.Errorf("right after the crawl: %s, %d files, more %v, next %q, %v", describe(p.Records), len(p.Files), p.More, p.Next, err)
	}
}

// TestCrawlExpired: a crawl whose next link expired (410) starts again from Graph's Location and
// still indexes every file.
func TestCrawlExpired(t *testing.T) {
	f := newFixture(t, memu.Options{Users: 3, FilesPerUser: 10, DeltaPageSize: 4})
	u := f.licensed()[1]
	d := f.drive(u)
	s := f.open(t)
	p, err := s.Index(context.Background(), d, "")
	if err != nil || p.Done || p.Next == "" {
		t.Fatalf("first page: %+v %v", p, err)
	}
	f.emu.ExpireDeltaTokens()
	p, err = s.Index(context.Background(), d, p.Next)
	if err != nil || p.Done || len(p.Files) != 0 || !strings.HasPrefix(p.Next, "/drives/") {
		t.Fatalf("an expired next link: %+v %v, want a restart from the Location", p, err)
	}
	files := map[string]bool{}
	for i := 0; !p.Done; i++ {
		if p, err = s.Index(context.Background(), d, p.Next); err != nil || i > 50 {
			t.Fatal(err)
		}
		for _, x := range p.Files {
			files[x.VendorID] = true
		}
	}
	if want := len(itemPaths(f.emu.Items(u.DriveID))); len(files) != want {
		t.Errorf("after the restart %d files, want %d", len(files), want)
	}
}

// TestContent: a download follows Graph's 302 to the pre-authenticated URL without the bearer
// token, and its bytes hash to the file's quickXorHash.
func TestContent(t *testing.T) {
	f := newFixture(t, memu.Options{Users: 3, FilesPerUser: 3})
	u := f.licensed()[1]
	body := []byte(strings.Repeat("OneDrive bytes ", 2000))
	id, err := f.emu.Upload(u.UPN, "", "blob.bin", body)
	if err != nil {
		t.Fatal(err)
	}
	s := f.open(t)
	rc, err := s.Content(context.Background(), connector.ContentRef{Drive: u.DriveID, File: id})
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	var want string
	for _, it := range f.emu.Items(u.DriveID) {
		if it.ID == id {
			want = it.QuickXorHash
		}
	}
	if got := quickxor.Base64(b); got != want || want == "" {
		t.Errorf("downloaded bytes hash to %s, Graph's quickXorHash is %s", got, want)
	}
	f.mu.Lock()
	dl := append([]string(nil), f.downloads...)
	f.mu.Unlock()
	if len(dl) != 1 || dl[0] != "" {
		t.Errorf("requests to the pre-authenticated URL carried Authorization %q, want one without", dl)
	}
	_, err = s.Content(context.Background(), connector.ContentRef{Drive: u.DriveID, File: "01NOSUCHITEM"})
	mustSay(t, err, nil, "gone")
	_, err = s.Content(context.Background(), connector.ContentRef{Drive: u.DriveID, File: id, Part: "x"})
	mustSay(t, err, nil, "no part")
}

// TestPacedBelowTheLimit (issue 15, benchmark (a)): with rate_limit set to Graph's limit for the
// app, a crawl of several drives is paced just below it, so Graph answers no 429; with no
// pace the same crawl is throttled. The pacing and the emulator's bucket share the fake clock
// (one drive after the other: the fake clock's sleeps are then the pace's own).
func TestPacedBelowTheLimit(t *testing.T) {
	for _, c := range []struct {
		rate      string
		throttled bool
	}{{"600", false}, {"0", true}} {
		f := newFixture(t, memu.Options{Users: 4, UnlicensedUsers: -1, DisabledUsers: -1, FilesPerUser: 600, DeltaPageSize: 50,
			RateLimitPerMinute: 600, RateBurst: 2})
		cfg := f.config()
		cfg.Settings["rate_limit"] = c.rate
		s := f.openWith(t, cfg, connector.Deps{Clock: f.clk, Sleep: f.clk.Sleep})
		for _, u := range f.licensed() {
			for cursor := ""; ; {
				p, err := s.Index(context.Background(), f.drive(u), cursor)
				if err != nil {
					t.Fatal(err)
				}
				if p.Done {
					break
				}
				cursor = p.Next
			}
		}
		st := f.emu.Stats()
		if (st.Throttled > 0) != c.throttled || st.Requests < 40 {
			t.Errorf("rate_limit %s: %d of %d Graph requests throttled", c.rate, st.Throttled, st.Requests)
		}
	}
}
