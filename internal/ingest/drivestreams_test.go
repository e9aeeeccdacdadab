package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"sync"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/connection"
	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/connector/box"
	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/ingest"
	"github.com/telltale-dev/telltale/internal/store"
)

// perDrive wraps the Box connector into a vendor shaped like Google Drive or OneDrive: no tenant
// stream, one "feed" stream per drive (Box's enterprise stream read from the drive's own cursor,
// keeping the drive's records), and a crawl that hands over the feed's position on its last page
// (as Graph's deltaLink does). It records the calls ingest makes, in order.
type perDrive struct {
	connector.Connector
	mu       sync.Mutex
	calls    []string            // "start <drive>", "index <drive> <cursor>", "changes <drive>"
	handed   map[string]string   // drive -> position handed over by its crawl
	cursors  map[string][]string // drive -> cursors Changes was called with
	noHandOf map[string]bool     // drives whose crawl hands nothing over
}

func (p *perDrive) log(s string) {
	p.mu.Lock()
	p.calls = append(p.calls, s)
	p.mu.Unlock()
}

func (p *perDrive) Open(ctx context.Context, cfg connector.Config, deps connector.Deps) (connector.Session, error) {
	s, err := p.Connector.Open(ctx, cfg, deps)
	if err != nil {
		return nil, err
	}
	return &perDriveSession{Session: s, p: p}, nil
}

// handedPrefix marks the positions a crawl hands over.
const handedPrefix = "handed-over:"

type perDriveSession struct {
	connector.Session
	p *perDrive
}

func (s *perDriveSession) Streams() []connector.StreamSpec { return nil }

func (s *perDriveSession) DriveStreams(d connector.Drive) []connector.StreamSpec {
	return []connector.StreamSpec{{Key: "feed", Every: 2 * time.Minute}}
}

func (s *perDriveSession) boxStream() connector.StreamSpec { return s.Session.Streams()[0] }

func (s *perDriveSession) StreamStart(ctx context.Context, sp connector.StreamSpec) (string, error) {
	if sp.Key != "feed" || sp.Drive.VendorID == "" {
		return "", fmt.Errorf("StreamStart of %+v: not a drive's feed", sp)
	}
	s.p.log("start " + sp.Drive.VendorID)
	return s.Session.StreamStart(ctx, s.boxStream())
}

func (s *perDriveSession) Index(ctx context.Context, d connector.Drive, cursor string) (connector.IndexPage, error) {
	s.p.log("index " + d.VendorID + " " + cursor)
	page, err := s.Session.Index(ctx, d, cursor)
	if err != nil || !page.Done || s.p.noHandOf[d.VendorID] {
		return page, err
	}
	pos, err := s.Session.StreamStart(ctx, s.boxStream())
	if err != nil {
		return page, err
	}
	pos = handedPrefix + pos // marked, so the test sees which position a read started from
	s.p.mu.Lock()
	s.p.handed[d.VendorID] = pos
	s.p.mu.Unlock()
	page.StreamStart = map[string]string{"feed": pos}
	return page, nil
}

func (s *perDriveSession) Changes(ctx context.Context, sp connector.StreamSpec, cursor string) (connector.ChangesPage, error) {
	if sp.Key != "feed" || sp.Drive.VendorID == "" {
		return connector.ChangesPage{}, fmt.Errorf("Changes of %+v: not a drive's feed", sp)
	}
	s.p.log("changes " + sp.Drive.VendorID)
	// A drive's feed fails as the vendor does when the drive can no longer be read.
	if _, err := s.Session.Index(ctx, sp.Drive, ""); errors.Is(err, connector.ErrInaccessible) {
		return connector.ChangesPage{}, err
	}
	s.p.mu.Lock()
	s.p.cursors[sp.Drive.VendorID] = append(s.p.cursors[sp.Drive.VendorID], cursor)
	s.p.mu.Unlock()
	page, err := s.Session.Changes(ctx, s.boxStream(), strings.TrimPrefix(cursor, handedPrefix))
	if err != nil {
		return page, err
	}
	kept := page.Records[:0]
	for _, r := range page.Records {
		if r.Drive == sp.Drive.VendorID {
			kept = append(kept, r)
		}
	}
	page.Records = kept
	return page, nil
}

// TestDriveStreams (issue 13, contract v2): a connector's per-drive streams get their own unit and
// cursor per in-scope drive; each starts before its drive's crawl, a position the crawl hands over
// replaces it, activity on each drive is captured once by its own stream, and a drive that leaves
// the scope loses its stream and cursor while the others go on.
func TestDriveStreams(t *testing.T) {
	p := &perDrive{Connector: box.New(), handed: map[string]string{}, cursors: map[string][]string{}, noHandOf: map[string]bool{}}
	e := newEnv(t, p, true)
	c := e.connect("Per-drive streams", "", nil)
	e.settle(300)
	if got := e.get(c.ID); got.Status != string(connection.Monitoring) {
		t.Fatalf("setup: status %q (%q)", got.Status, got.ErrorReason)
	}
	drives, err := e.store.ListDrives(ctx, store.DriveFilter{ConnectionID: c.ID, Limit: 100})
	if err != nil || len(drives) < 2 {
		t.Fatalf("drives: %d %v", len(drives), err)
	}
	unitOf := func(d store.Drive) string { return fmt.Sprintf("%d:drive:%d:feed", c.ID, d.ID) }
	cursorOf := func(d store.Drive) string {
		cur, err := e.store.GetCursor(ctx, c.ID, fmt.Sprintf("stream:drive:%d:feed", d.ID))
		if err != nil && err != store.ErrNotFound {
			t.Fatal(err)
		}
		return cur
	}
	p.mu.Lock()
	calls := append([]string(nil), p.calls...)
	p.mu.Unlock()
	for _, d := range drives {
		if _, err := e.store.GetWork(ctx, ingest.WorkStream, unitOf(d)); err != nil {
			t.Errorf("drive %s has no stream unit: %v", d.VendorID, err)
		}
		if cursorOf(d) == "" {
			t.Errorf("drive %s has no stream cursor", d.VendorID)
		}
		// The start is taken before the first crawl page.
		start, index := -1, -1
		for i, call := range calls {
			if call == "start "+d.VendorID && start < 0 {
				start = i
			}
			if call == "index "+d.VendorID+" " && index < 0 {
				index = i
			}
		}
		if start < 0 || index < 0 || start > index {
			t.Errorf("drive %s: stream start at call %d, first crawl page at call %d: the start must come first", d.VendorID, start, index)
		}
		// The position the crawl handed over is where the stream went on from.
		p.mu.Lock()
		handed, used := p.handed[d.VendorID], p.cursors[d.VendorID]
		p.mu.Unlock()
		if handed == "" || !contains(used, handed) {
			t.Errorf("drive %s: the stream never read from the position its crawl handed over (%q; read from %q)", d.VendorID, handed, used)
		}
	}
	if _, err := e.store.GetWork(ctx, ingest.WorkStream, fmt.Sprint(c.ID, ":admin_logs_streaming")); err == nil {
		t.Errorf("a tenant stream unit exists for a connector that declares none")
	}

	// Activity on every drive is captured once, by the drive's own stream.
	owners := map[string]bool{}
	for _, d := range drives {
		owners[d.VendorID] = true
	}
	acts := e.emu.Step(60)
	e.clock.Advance(3 * time.Minute)
	e.settle(300)
	got := e.vendorIDs(c.ID)
	want := 0
	for _, a := range acts {
		if a.FileActivity && a.ItemType == "file" && owners[a.OwnerID] && a.ActorID != "" {
			want++
			if n := got[a.EventID]; n != 1 {
				t.Errorf("activity %s (%s on %s's file) stored %d times, want once", a.EventID, a.EventType, a.OwnerLogin, n)
			}
		}
	}
	if want == 0 {
		t.Fatal("the emulator made no file activity on the drives")
	}

	// While the connection collects, one user is deactivated (out of scope, R3.9) and another's
	// drive becomes unreadable: their streams end and their cursors go; the third's goes on.
	keep, gone, locked := drives[0], drives[1], drives[2]
	e.emu.SetUserStatus(gone.VendorID, "inactive")
	e.emu.SetUserAccessible(locked.VendorID, false)
	if _, err := e.store.ScheduleWork(ctx, store.Work{Kind: ingest.WorkDiscover, Key: fmt.Sprint(c.ID), ConnectionID: c.ID, NextRunAt: e.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	e.settle(100)
	e.clock.Advance(3 * time.Minute)
	e.settle(100)
	for _, d := range []store.Drive{keep, gone, locked} {
		_, werr := e.store.GetWork(ctx, ingest.WorkStream, unitOf(d))
		if d.ID == keep.ID {
			if werr != nil || cursorOf(d) == "" {
				t.Errorf("the drive still followed lost its stream: %v, cursor %q", werr, cursorOf(d))
			}
			continue
		}
		if werr == nil {
			t.Errorf("drive %s is no longer followed but its stream unit remains", d.VendorID)
		}
		if cur := cursorOf(d); cur != "" {
			t.Errorf("drive %s is no longer followed but its stream cursor remains: %q", d.VendorID, cur)
		}
	}
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// stateFeed is perDrive whose feed reports file states instead of records, as Drive changes and
// OneDrive delta do (often without an actor), and can be made to ask for a drive's re-crawl once
// (Graph's 410 resyncRequired on a delta).
type stateFeed struct {
	*perDrive
	recrawl sync.Map // drive vendor id -> true: the next read asks for a re-crawl
	crawled sync.Map // drive vendor id -> a file id its crawl found
}

func (f *stateFeed) Open(ctx context.Context, cfg connector.Config, deps connector.Deps) (connector.Session, error) {
	s, err := f.perDrive.Open(ctx, cfg, deps)
	if err != nil {
		return nil, err
	}
	return &stateFeedSession{perDriveSession: s.(*perDriveSession), f: f}, nil
}

type stateFeedSession struct {
	*perDriveSession
	f *stateFeed
}

func (s *stateFeedSession) Index(ctx context.Context, d connector.Drive, cursor string) (connector.IndexPage, error) {
	page, err := s.perDriveSession.Index(ctx, d, cursor)
	if err == nil && len(page.Files) > 0 {
		s.f.crawled.LoadOrStore(d.VendorID, page.Files[0].VendorID)
	}
	return page, err
}

func (s *stateFeedSession) Changes(ctx context.Context, sp connector.StreamSpec, cursor string) (connector.ChangesPage, error) {
	if _, ok := s.f.recrawl.LoadAndDelete(sp.Drive.VendorID); ok {
		s.p.log("resync " + sp.Drive.VendorID)
		return connector.ChangesPage{Next: cursor, Resync: &connector.Resync{Reason: connector.ResyncRefused, Recrawl: true,
			Detail: "410 resyncRequired"}}, nil
	}
	page, err := s.perDriveSession.Changes(ctx, sp, cursor)
	if err != nil {
		return page, err
	}
	out := connector.ChangesPage{Next: page.Next, More: page.More}
	for _, r := range page.Records {
		for _, e := range r.Events {
			if e.File.ID == "" || strings.HasPrefix(e.File.ID, "folder:") {
				continue
			}
			switch e.Event.Action {
			case event.ActionDeleted:
				out.Removed = append(out.Removed, e.File.ID)
			case event.ActionCreated, event.ActionModified, event.ActionRenamed, event.ActionMoved:
				out.Files = append(out.Files, connector.File{VendorID: e.File.ID, Name: e.File.Name, Path: e.File.Path, Size: e.File.Size,
					Owner: e.File.Owner, Hash: event.Hash{QuickXor: "aGVsbG8gd29ybGQgcXVpY2t4b3I="}})
			}
		}
	}
	return out, nil
}

// TestStreamFileStatesAndRecrawl (issue 13, contract v2): a stream page's file states update the
// file index (new and changed files, removed ones marked deleted) with no event made of them, and a
// resync that asks for a re-crawl indexes the drive again, its stream starting anew before that
// crawl, with the reason in the connection's history.
func TestStreamFileStatesAndRecrawl(t *testing.T) {
	f := &stateFeed{perDrive: &perDrive{Connector: box.New(), handed: map[string]string{}, cursors: map[string][]string{}, noHandOf: map[string]bool{}}}
	e := newEnv(t, f, true)
	c := e.connect("State feed", "", nil)
	e.settle(300)
	if got := e.get(c.ID); got.Status != string(connection.Monitoring) {
		t.Fatalf("setup: status %q (%q)", got.Status, got.ErrorReason)
	}
	drives, err := e.store.ListDrives(ctx, store.DriveFilter{ConnectionID: c.ID, Limit: 100})
	if err != nil || len(drives) == 0 {
		t.Fatalf("drives: %d %v", len(drives), err)
	}
	a := drives[0]
	var root string
	for _, u := range e.emu.Users() {
		if u.ID == a.VendorID {
			root = u.RootFolderID
		}
	}
	newID, _ := e.emu.Upload(a.VendorID, root, "state-only.txt", []byte("reported as state"))
	v, ok := f.crawled.Load(a.VendorID)
	if !ok {
		t.Fatalf("the crawl of drive %s found no file", a.VendorID)
	}
	gone := v.(string)
	e.emu.Trash(a.VendorID, gone)
	e.clock.Advance(3 * time.Minute)
	e.settle(200)
	got, err := e.store.FindFiles(ctx, c.ID, []string{newID, gone})
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]store.File{}
	for _, sf := range got {
		byID[sf.VendorID] = sf
	}
	if nf, ok := byID[newID]; !ok || nf.Name != "state-only.txt" || nf.DriveID != a.ID || nf.Deleted || nf.QuickXor == "" {
		t.Errorf("the new file's state is not in the file index: %+v (found %v)", nf, ok)
	}
	if gf := byID[gone]; !gf.Deleted {
		t.Errorf("the removed file is not marked deleted: %+v", gf)
	}
	if n := len(e.vendorIDs(c.ID)); n != 0 {
		t.Errorf("%d events stored from states alone, want none", n)
	}

	// The vendor asks for a re-crawl of drive A.
	p := f.perDrive
	p.mu.Lock()
	before := len(p.calls)
	p.mu.Unlock()
	f.recrawl.Store(a.VendorID, true)
	e.clock.Advance(3 * time.Minute)
	e.settle(300)
	p.mu.Lock()
	calls := append([]string(nil), p.calls[before:]...)
	p.mu.Unlock()
	resync, start, crawl := -1, -1, -1
	for i, call := range calls {
		switch {
		case call == "resync "+a.VendorID && resync < 0:
			resync = i
		case call == "start "+a.VendorID && resync >= 0 && start < 0:
			start = i
		case call == "index "+a.VendorID+" " && resync >= 0 && crawl < 0:
			crawl = i
		}
	}
	if resync < 0 || start < 0 || crawl < 0 || !(resync < start && start < crawl) {
		t.Errorf("after the resync: resync at %d, new start at %d, new crawl at %d: want resync, then start, then crawl (%v)", resync, start, crawl, calls)
	}
	if d, err := e.store.GetDrive(ctx, a.ID); err != nil || d.State != store.DriveIndexed {
		t.Errorf("drive %s after the re-crawl: %+v %v", a.VendorID, d, err)
	}
	if got := e.get(c.ID); got.Status != string(connection.Monitoring) {
		t.Errorf("status after the re-crawl %q, want Monitoring", got.Status)
	}
	hist, _ := e.store.ListStatusChanges(ctx, c.ID)
	found := false
	for _, h := range hist {
		if strings.Contains(h.Reason, "the drive is indexed again") && strings.Contains(h.Reason, "410 resyncRequired") {
			found = true
		}
	}
	if !found {
		t.Errorf("no history line for the re-crawl: %+v", hist)
	}
}
