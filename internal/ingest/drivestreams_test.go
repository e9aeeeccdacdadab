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
	mu      sync.Mutex
	calls   []string            // "start <drive>", "index <drive> <cursor>", "changes <drive>"
	handed  map[string]string   // drive -> position handed over by its crawl
	cursors map[string][]string // drive -> cursors Changes was called with
	// fromCrawl: the feed's start comes from the crawl's last page (Graph's deltaLink), not from
	// before the crawl (Drive's startPageToken).
	fromCrawl bool
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
	return []connector.StreamSpec{{Key: "feed", Every: 2 * time.Minute, FromCrawl: s.p.fromCrawl}}
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
	// The crawl hands a position over in both modes: a stream that does not start from the crawl
	// must ignore it (a start taken before the crawl is never overwritten).
	if err != nil || !page.Done {
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
// cursor per in-scope drive; a stream's start is taken before its drive's crawl (activity during
// the crawl is captured once), or, for a stream that starts from the crawl, the position the
// crawl's last page hands over is where it starts (and nothing is taken before); activity on each
// drive is captured once by its own stream, and a drive that leaves the scope or becomes
// inaccessible loses its stream and cursor while the others go on.
func TestDriveStreams(t *testing.T) {
	t.Run("start before the crawl", func(t *testing.T) { testDriveStreams(t, false) })
	t.Run("start from the crawl", func(t *testing.T) { testDriveStreams(t, true) })
}

func testDriveStreams(t *testing.T, fromCrawl bool) {
	p := &perDrive{Connector: box.New(), handed: map[string]string{}, cursors: map[string][]string{}, fromCrawl: fromCrawl}
	e := newEnv(t, p, true)
	roots := map[string]string{}
	for _, u := range e.emu.Users() {
		roots[u.ID] = u.RootFolderID
	}
	// Something happens on a drive while it is crawled (the review's case: the crawl's hand-over
	// used to overwrite a start taken before it, losing this).
	var during string
	e.emu.DuringIndex(func() {
		p.mu.Lock()
		var drive string
		for i := len(p.calls) - 1; i >= 0; i-- {
			if rest, ok := strings.CutPrefix(p.calls[i], "index "); ok {
				drive, _, _ = strings.Cut(rest, " ")
				break
			}
		}
		p.mu.Unlock()
		_, act := e.emu.Upload(drive, roots[drive], "during-crawl.txt", []byte("made while the drive is crawled"))
		during = act.EventID
	})
	c := e.connect("Per-drive streams", "", nil)
	e.settle(300)
	e.clock.Advance(3 * time.Minute)
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
	if during == "" {
		t.Fatal("no activity was made during a crawl")
	}
	if n := e.vendorIDs(c.ID)[during]; !fromCrawl && n != 1 {
		t.Errorf("activity %s made during a drive's crawl stored %d times, want once", during, n)
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
		start, index := -1, -1
		for i, call := range calls {
			if call == "start "+d.VendorID && start < 0 {
				start = i
			}
			if call == "index "+d.VendorID+" " && index < 0 {
				index = i
			}
		}
		p.mu.Lock()
		handed, used := p.handed[d.VendorID], p.cursors[d.VendorID]
		p.mu.Unlock()
		if !fromCrawl {
			// The start is taken before the first crawl page.
			if start < 0 || index < 0 || start > index {
				t.Errorf("drive %s: stream start at call %d, first crawl page at call %d: the start must come first", d.VendorID, start, index)
			}
			continue
		}
		// The start is the crawl's: nothing taken before, and the stream read from it.
		if start >= 0 {
			t.Errorf("drive %s: a start was taken (call %d) for a stream that starts from the crawl", d.VendorID, start)
		}
		if handed == "" || len(used) == 0 || used[0] != handed {
			t.Errorf("drive %s: the stream did not start from the position its crawl handed over (%q; read from %q)", d.VendorID, handed, used)
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
	f := &stateFeed{perDrive: &perDrive{Connector: box.New(), handed: map[string]string{}, cursors: map[string][]string{}}}
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
	// A file deleted at the vendor while the position was lost: nothing reports it; the re-crawl
	// does not find it, so it must leave the index.
	ghost := store.File{ConnectionID: c.ID, DriveID: a.ID, VendorID: "deleted-while-lost", Name: "gone.txt", IndexedAt: e.clock.Now().Add(-time.Hour)}
	if err := e.store.UpsertFiles(ctx, []store.File{ghost}); err != nil {
		t.Fatal(err)
	}
	f.recrawl.Store(a.VendorID, true)
	e.clock.Advance(3 * time.Minute)
	e.settle(300)
	if got, err := e.store.FindFiles(ctx, c.ID, []string{ghost.VendorID}); err != nil || len(got) != 1 || !got[0].Deleted {
		t.Errorf("a file the re-crawl did not find is still live: %+v %v", got, err)
	}
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

// startRefused refuses the stream start of one drive as inaccessible (Gmail's unlicensed mailbox,
// a suspended Drive user).
type startRefused struct {
	*perDrive
	mu  sync.Mutex
	bad string
}

func (r *startRefused) Open(ctx context.Context, cfg connector.Config, deps connector.Deps) (connector.Session, error) {
	s, err := r.perDrive.Open(ctx, cfg, deps)
	if err != nil {
		return nil, err
	}
	return &startRefusedSession{perDriveSession: s.(*perDriveSession), r: r}, nil
}

type startRefusedSession struct {
	*perDriveSession
	r *startRefused
}

func (s *startRefusedSession) StreamStart(ctx context.Context, sp connector.StreamSpec) (string, error) {
	s.r.mu.Lock()
	if s.r.bad == "" {
		s.r.bad = sp.Drive.VendorID
	}
	bad := s.r.bad
	s.r.mu.Unlock()
	if sp.Drive.VendorID == bad {
		return "", fmt.Errorf("%w: mail service not enabled for this user", connector.ErrInaccessible)
	}
	return s.perDriveSession.StreamStart(ctx, sp)
}

// TestStreamStartInaccessible (review of issue 13): a drive whose stream start the vendor refuses
// as inaccessible is marked inaccessible, and the connection monitors the others; before, the
// refusal went through the failure path, the connection went to Error and the drive stayed pending.
func TestStreamStartInaccessible(t *testing.T) {
	r := &startRefused{perDrive: &perDrive{Connector: box.New(), handed: map[string]string{}, cursors: map[string][]string{}}}
	e := newEnv(t, r, true)
	c := e.connect("Start refused", "", nil)
	for range 5 {
		e.settle(100)
		e.clock.Advance(time.Minute)
	}
	if got := e.get(c.ID); got.Status != string(connection.Monitoring) {
		t.Errorf("status %q (%q), want Monitoring with one drive inaccessible", got.Status, got.ErrorReason)
	}
	r.mu.Lock()
	bad := r.bad
	r.mu.Unlock()
	ds, _ := e.store.FindDrives(ctx, c.ID, []string{bad})
	if len(ds) != 1 || ds[0].State != store.DriveInaccessible || !strings.Contains(ds[0].Error, "mail service not enabled") {
		t.Errorf("drive %s whose stream start was refused as inaccessible: %+v", bad, ds)
	}
}

// otherDriveStates makes drive `by`'s feed report a file of another drive as its own state (no
// Drive named) and as removed: what Drive's per-user changes feed does for a file shared with that
// user and then unshared from them.
type otherDriveStates struct {
	*stateFeed
	mu         sync.Mutex
	victim, by string
}

func (o *otherDriveStates) Open(ctx context.Context, cfg connector.Config, deps connector.Deps) (connector.Session, error) {
	s, err := o.stateFeed.Open(ctx, cfg, deps)
	if err != nil {
		return nil, err
	}
	return &otherDriveSession{stateFeedSession: s.(*stateFeedSession), o: o}, nil
}

type otherDriveSession struct {
	*stateFeedSession
	o *otherDriveStates
}

func (s *otherDriveSession) Changes(ctx context.Context, sp connector.StreamSpec, cursor string) (connector.ChangesPage, error) {
	page, err := s.stateFeedSession.Changes(ctx, sp, cursor)
	s.o.mu.Lock()
	victim, by := s.o.victim, s.o.by
	s.o.mu.Unlock()
	if err == nil && victim != "" && sp.Drive.VendorID == by {
		page.Files = append(page.Files, connector.File{VendorID: victim, Name: "seen-by-another-user.pdf"})
		page.Removed = append(page.Removed, victim)
	}
	return page, err
}

// TestStatesOfAnotherDrivesFile (review of issue 13): a drive's feed that reports a file of another
// drive (shared with its user, then unshared) neither moves that file to its drive nor deletes it.
// Before, the state reassigned the file and the removal marked it deleted.
func TestStatesOfAnotherDrivesFile(t *testing.T) {
	o := &otherDriveStates{stateFeed: &stateFeed{perDrive: &perDrive{Connector: box.New(), handed: map[string]string{}, cursors: map[string][]string{}}}}
	e := newEnv(t, o, true)
	c := e.connect("Other drive's file", "", nil)
	e.settle(300)
	drives, err := e.store.ListDrives(ctx, store.DriveFilter{ConnectionID: c.ID, Limit: 100})
	if err != nil || len(drives) < 2 {
		t.Fatalf("drives: %d %v", len(drives), err)
	}
	owner, other := drives[0], drives[1]
	v, ok := o.crawled.Load(owner.VendorID)
	if !ok {
		t.Fatalf("the crawl of %s found no file", owner.VendorID)
	}
	before, err := e.store.FindFiles(ctx, c.ID, []string{v.(string)})
	if err != nil || len(before) != 1 {
		t.Fatal(before, err)
	}
	o.mu.Lock()
	o.victim, o.by = v.(string), other.VendorID
	o.mu.Unlock()
	e.clock.Advance(3 * time.Minute)
	e.settle(100)
	got, err := e.store.FindFiles(ctx, c.ID, []string{v.(string)})
	if err != nil || len(got) != 1 {
		t.Fatal(got, err)
	}
	if got[0].Deleted {
		t.Errorf("file %s of drive %s marked deleted because drive %s's stream reported it removed", v, owner.VendorID, other.VendorID)
	}
	if got[0].DriveID != owner.ID || got[0].Name != before[0].Name {
		t.Errorf("file %s moved to drive row %d / renamed %q by another drive's feed (was drive %d, %q)", v, got[0].DriveID, got[0].Name, owner.ID, before[0].Name)
	}
}

// filesSeen keeps the file index a session was given.
type filesSeen struct {
	*stateFeed
	mu    sync.Mutex
	files connector.FileIndex
}

func (f *filesSeen) Open(ctx context.Context, cfg connector.Config, deps connector.Deps) (connector.Session, error) {
	f.mu.Lock()
	f.files = deps.Files
	f.mu.Unlock()
	return f.stateFeed.Open(ctx, cfg, deps)
}

// TestKnownFilesCarryState (contract v2): what a connector learns of an indexed file is enough to
// tell which action a new state means: name, size, hashes, modification time, and whether it is
// gone (Drive's changes and OneDrive's delta report state, not actions).
func TestKnownFilesCarryState(t *testing.T) {
	f := &filesSeen{stateFeed: &stateFeed{perDrive: &perDrive{Connector: box.New(), handed: map[string]string{}, cursors: map[string][]string{}}}}
	e := newEnv(t, f, true)
	c := e.connect("Known files", "", nil)
	e.settle(300)
	drives, err := e.store.ListDrives(ctx, store.DriveFilter{ConnectionID: c.ID, Limit: 100})
	if err != nil || len(drives) == 0 {
		t.Fatalf("drives: %d %v", len(drives), err)
	}
	v, ok := f.crawled.Load(drives[0].VendorID)
	if !ok {
		t.Fatal("nothing crawled")
	}
	id := v.(string)
	stored, err := e.store.FindFiles(ctx, c.ID, []string{id})
	if err != nil || len(stored) != 1 {
		t.Fatal(stored, err)
	}
	f.mu.Lock()
	files := f.files
	f.mu.Unlock()
	known, err := files.Lookup(ctx, []string{id, "no-such-file"})
	if err != nil {
		t.Fatal(err)
	}
	k, ok := known[id]
	if !ok || len(known) != 1 {
		t.Fatalf("lookup: %+v", known)
	}
	want := stored[0]
	if k.Name != want.Name || k.Size != want.Size || k.Hash.SHA1 == "" || k.Hash.SHA1 != want.SHA1 || !k.Modified.Equal(want.Modified) || k.Deleted {
		t.Errorf("known file %+v, stored %+v", k, want)
	}
	// Trashed: the next state says so.
	e.emu.Trash(drives[0].VendorID, id)
	e.clock.Advance(3 * time.Minute)
	e.settle(100)
	if known, err = files.Lookup(ctx, []string{id}); err != nil || !known[id].Deleted {
		t.Errorf("after the file was removed: %+v %v", known[id], err)
	}
}
