package googledrive

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"
	googleoauth "golang.org/x/oauth2/google"
	"google.golang.org/api/drive/v3"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"

	"github.com/telltale-dev/telltale/internal/clock"
	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/connector/kit/googlekit"
	gemu "github.com/telltale-dev/telltale/internal/emulator/google"
	"github.com/telltale-dev/telltale/internal/httpx"
)

// fixture is the Google emulator over loopback and a connection to it.
type fixture struct {
	emu *gemu.Emulator
	srv *httptest.Server
	clk *clock.Fake
}

func newFixture(t *testing.T, o gemu.Options) *fixture {
	t.Helper()
	clk := clock.NewFake(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	o.Clock = clk
	if o.RateLimitPerMinute == 0 {
		o.RateLimitPerMinute = -1
	}
	if o.Users == 0 {
		o.Users = 10
	}
	if o.FilesPerUser == 0 {
		o.FilesPerUser = 6
	}
	emu := gemu.New(o)
	srv := httptest.NewServer(emu.Handler())
	t.Cleanup(func() { srv.Close(); emu.Close() })
	return &fixture{emu: emu, srv: srv, clk: clk}
}

func (f *fixture) tokenURL() string { return f.srv.URL + "/token" }

func (f *fixture) admin() string { return f.emu.Users()[0].Email }

// active are the active users but the admin.
func (f *fixture) active() []gemu.User {
	var out []gemu.User
	for _, u := range f.emu.Users()[1:] {
		if !u.Suspended && !u.Archived {
			out = append(out, u)
		}
	}
	return out
}

func (f *fixture) config(key []byte, adminEmail string) connector.Config {
	return connector.Config{
		Credentials: map[string]string{"service_account_key": string(key)},
		Settings: map[string]string{"admin_email": adminEmail,
			"drive_url": f.srv.URL + "/drive/v3/", "directory_url": f.srv.URL + "/"},
	}
}

func (f *fixture) open(t *testing.T) connector.Session {
	t.Helper()
	return f.openWith(t, f.emu.ServiceAccountKey(f.tokenURL()), f.admin())
}

func (f *fixture) openWith(t *testing.T, key []byte, adminEmail string) connector.Session {
	t.Helper()
	return f.openAs(t, key, adminEmail, connector.Deps{Clock: f.clk})
}

// openDeps opens a session with deps (AllowLoopback set).
func (f *fixture) openDeps(t *testing.T, deps connector.Deps) connector.Session {
	t.Helper()
	return f.openAs(t, f.emu.ServiceAccountKey(f.tokenURL()), f.admin(), deps)
}

func (f *fixture) openAs(t *testing.T, key []byte, adminEmail string, deps connector.Deps) connector.Session {
	t.Helper()
	deps.AllowLoopback = true
	s, err := New().Open(context.Background(), f.config(key, adminEmail), deps)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// driveAs is Google's own Drive client acting as email, to know what Drive holds.
func (f *fixture) driveAs(t *testing.T, email string) *drive.Service {
	t.Helper()
	cfg, err := googleoauth.JWTConfigFromJSON(f.emu.ServiceAccountKey(f.tokenURL()), gemu.ScopeDriveReadonly)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Subject = email
	hc := cfg.Client(context.WithValue(context.Background(), oauth2.HTTPClient, http.DefaultClient))
	s, err := drive.NewService(context.Background(), option.WithEndpoint(f.srv.URL+"/drive/v3/"), option.WithHTTPClient(hc))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// owned lists the files (not folders, not trashed) email owns, by id.
func (f *fixture) owned(t *testing.T, email string) map[string]*drive.File {
	t.Helper()
	out := map[string]*drive.File{}
	s := f.driveAs(t, email)
	tok := ""
	for {
		r, err := s.Files.List().PageSize(1000).PageToken(tok).Fields("nextPageToken,files(id,name,mimeType,owners,trashed,md5Checksum,sha256Checksum)").Do()
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range r.Files {
			if x.MimeType != mimeFolder && !x.Trashed && len(x.Owners) > 0 && x.Owners[0].EmailAddress == email {
				out[x.Id] = x
			}
		}
		if tok = r.NextPageToken; tok == "" {
			return out
		}
	}
}

func TestSpec(t *testing.T) {
	sp := New().Spec()
	if sp.Service != "google_drive" || sp.Title != "Google Drive" || sp.ServiceType != "cloud" || sp.DriveLimit != 55000 {
		t.Errorf("spec: %+v", sp)
	}
	if !slices.Equal(sp.Hashes, []string{"md5", "sha256"}) || sp.DedupeHorizon < 3*time.Hour {
		t.Errorf("hashes %v, dedupe horizon %s", sp.Hashes, sp.DedupeHorizon)
	}
	for _, name := range []string{"drive_url", "directory_url", "token_url"} {
		if fl, ok := sp.Field(name); !ok || !fl.URL || !fl.Advanced {
			t.Errorf("field %s: %+v (want an advanced URL field)", name, fl)
		}
	}
	if fl, _ := sp.Field("service_account_key"); !fl.Secret || !fl.Required {
		t.Errorf("the key must be a required secret: %+v", fl)
	}
	if fl, _ := sp.Field("customer"); !fl.Tenant {
		t.Errorf("customer must be the tenant field: %+v", fl)
	}
	var perms []string
	for _, p := range sp.Permissions {
		perms = append(perms, p.Name)
	}
	if !slices.Equal(perms, Scopes) {
		t.Errorf("permissions %v, want the scopes %v", perms, Scopes)
	}
	// The scopes are the emulator's (Google's) own scope URLs.
	for _, sc := range Scopes {
		if !slices.Contains(gemu.AllScopes, sc) {
			t.Errorf("scope %s unknown to the emulator", sc)
		}
	}
}

func TestVerify(t *testing.T) {
	f := newFixture(t, gemu.Options{})
	ctx := context.Background()
	tenant, err := f.open(t).Verify(ctx)
	if err != nil || tenant != "C01emu7x9" {
		t.Fatalf("Verify: %q, %v; want the customer id", tenant, err)
	}

	t.Run("scope not delegated", func(t *testing.T) {
		f.emu.SetDelegation([]string{gemu.ScopeDriveReadonly, gemu.ScopeDirectoryUserRO})
		defer f.emu.SetDelegation(nil)
		_, err := f.open(t).Verify(ctx)
		mustSay(t, err, connector.ErrPermission, "Domain Wide Delegation", "104857600000000000001", strings.Join(Scopes, ","))
	})
	t.Run("wrong key", func(t *testing.T) {
		key := gemu.NewServiceAccountKey("telltale-emu@telltale-emu.iam.gserviceaccount.com", "104857600000000000001", f.tokenURL())
		_, err := f.openWith(t, key, f.admin()).Verify(ctx)
		mustSay(t, err, connector.ErrAuth, "does not accept the key", "new JSON key")
	})
	t.Run("unknown service account", func(t *testing.T) {
		key := gemu.NewServiceAccountKey("someone@other-project.iam.gserviceaccount.com", "1", f.tokenURL())
		_, err := f.openWith(t, key, f.admin()).Verify(ctx)
		mustSay(t, err, connector.ErrAuth, "does not know service account someone@other-project")
	})
	t.Run("subject not an admin", func(t *testing.T) {
		_, err := f.openWith(t, f.emu.ServiceAccountKey(f.tokenURL()), f.active()[0].Email).Verify(ctx)
		mustSay(t, err, connector.ErrPermission, "super administrator", f.active()[0].Email)
	})
	t.Run("admin suspended", func(t *testing.T) {
		var sus string
		for _, u := range f.emu.Users() {
			if u.Suspended {
				sus = u.Email
			}
		}
		_, err := f.openWith(t, f.emu.ServiceAccountKey(f.tokenURL()), sus).Verify(ctx)
		mustSay(t, err, connector.ErrAuth, "cannot act as "+sus, "suspended")
	})
	t.Run("API not enabled", func(t *testing.T) {
		for _, api := range []string{"drive", "admin"} {
			f.emu.DisableAPI(api, true)
			_, err := f.open(t).Verify(ctx)
			mustSay(t, err, connector.ErrPermission, "not enabled in the service account's Cloud project", "has not been used in project", "APIs & Services > Library")
			f.emu.DisableAPI(api, false)
		}
	})
	t.Run("no Reports privilege", func(t *testing.T) {
		f.emu.SetDelegation([]string{gemu.ScopeDriveReadonly, gemu.ScopeDirectoryUserRO, gemu.ScopeDirectoryGroupRO})
		defer f.emu.SetDelegation(nil)
		_, err := f.open(t).Verify(ctx)
		mustSay(t, err, connector.ErrPermission, ScopeReportsAudit)
	})
	t.Run("key not JSON", func(t *testing.T) {
		_, err := New().Open(ctx, f.config([]byte("{"), f.admin()), connector.Deps{AllowLoopback: true})
		mustSay(t, err, nil, "service account key")
	})
	t.Run("loopback refused outside tests", func(t *testing.T) {
		_, err := New().Open(ctx, f.config(f.emu.ServiceAccountKey(f.tokenURL()), f.admin()), connector.Deps{})
		mustSay(t, err, nil, "drive_url")
	})
}

func mustSay(t *testing.T, err error, kind error, says ...string) {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	if kind != nil && !errors.Is(err, kind) {
		t.Errorf("error %v: want %v", err, kind)
	}
	for _, s := range says {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not say %q", err, s)
		}
	}
}

func discover(t *testing.T, s connector.Session, sc connector.Scope) ([]connector.Drive, connector.Discovery, int) {
	t.Helper()
	var out []connector.Drive
	emits := 0
	res, err := s.Discover(context.Background(), sc, func(ds []connector.Drive) error {
		emits++
		out = append(out, ds...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out, res, emits
}

func TestDiscover(t *testing.T) {
	f := newFixture(t, gemu.Options{Users: 1100, FilesPerUser: 1, FoldersPerUser: 1, SharedDrives: 3, FilesPerDrive: 2})
	s := f.open(t)
	inactive, active := 0, map[string]bool{}
	for _, u := range f.emu.Users() {
		if u.Suspended || u.Archived {
			inactive++
		} else {
			active[u.Email] = true
		}
	}
	shared := map[string]bool{}
	for _, d := range f.emu.SharedDrives() {
		shared[d.ID] = true
	}

	ds, res, emits := discover(t, s, connector.Scope{Kind: "all"})
	users := 0
	for _, d := range ds {
		switch d.Kind {
		case "user":
			users++
			if !active[d.VendorID] || d.Owner != d.VendorID {
				t.Errorf("user drive %+v: want an active user's primary email as id and owner", d)
			}
		case "shared":
			if !shared[d.VendorID] || d.Owner != "" {
				t.Errorf("shared drive %+v", d)
			}
			delete(shared, d.VendorID)
		}
	}
	if users != len(active) || res.SkippedInactive != inactive || inactive < 2 {
		t.Errorf("%d user drives, %d skipped; want %d and %d", users, res.SkippedInactive, len(active), inactive)
	}
	if len(shared) != 0 {
		t.Errorf("shared drives not discovered: %v", shared)
	}
	if emits < 4 { // 1100 users are three pages of 500, then the shared drives
		t.Errorf("%d emits: users.list did not page", emits)
	}

	t.Run("users scope", func(t *testing.T) {
		var sus string
		for _, u := range f.emu.Users() {
			if u.Suspended {
				sus = u.Email
				break
			}
		}
		a, b := f.active()[3].Email, f.active()[700].Email
		ds, res, _ := discover(t, s, connector.Scope{Kind: "users", Users: []string{strings.ToUpper(a), b, sus}})
		var got []string
		for _, d := range ds {
			if d.Kind == "user" {
				got = append(got, d.VendorID)
			}
		}
		sort.Strings(got)
		want := []string{a, b}
		sort.Strings(want)
		if !slices.Equal(got, want) || res.SkippedInactive != 1 || len(ds) != 2+len(f.emu.SharedDrives()) {
			t.Errorf("users scope: %v (skipped %d, %d drives), want %v, one skipped, and every shared drive", got, res.SkippedInactive, len(ds), want)
		}
	})

	t.Run("groups scope", func(t *testing.T) {
		gs := f.emu.Groups()
		byEmail := map[string]gemu.Group{}
		for _, g := range gs {
			byEmail[g.Email] = g
		}
		want := map[string]bool{}
		var walk func(g gemu.Group)
		walk = func(g gemu.Group) {
			for _, m := range g.Members {
				if sub, ok := byEmail[m]; ok {
					walk(sub) // the nested group's members (includeDerivedMembership)
				} else if active[m] {
					want[m] = true
				}
			}
		}
		walk(gs[0])
		walk(gs[2])
		ds, res, _ := discover(t, s, connector.Scope{Kind: "groups", Groups: []string{gs[0].Email, gs[2].Name, "nobody@example.com", "No Such Group"}})
		got := map[string]bool{}
		for _, d := range ds {
			if d.Kind == "user" {
				got[d.VendorID] = true
			}
		}
		if len(want) == 0 || len(got) != len(want) {
			t.Errorf("groups scope: %d drives, want %d", len(got), len(want))
		}
		for m := range want {
			if !got[m] {
				t.Errorf("member %s of a scope group not discovered", m)
			}
		}
		if !slices.Equal(res.MissingGroups, []string{"nobody@example.com", "No Such Group"}) {
			t.Errorf("missing groups %v", res.MissingGroups)
		}
	})
}

// crawlAll indexes a drive to the end, opening a new session after the first page (the cursor
// must be enough to resume).
func crawlAll(t *testing.T, f *fixture, d connector.Drive) ([]connector.File, int) {
	t.Helper()
	ctx := context.Background()
	var out []connector.File
	cursor := ""
	pages := 0
	s := f.open(t)
	for {
		p, err := s.Index(ctx, d, cursor)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		out = append(out, p.Files...)
		if p.Done {
			return out, pages
		}
		if pages > 100 {
			t.Fatal("the crawl never ends")
		}
		cursor = p.Next
		if pages == 1 {
			s = f.open(t) // resume in a new session from the cursor alone
		}
	}
}

func TestIndex(t *testing.T) {
	f := newFixture(t, gemu.Options{Users: 6, SuspendedUsers: 1, FilesPerUser: 1200, FoldersPerUser: 4, SharedDrives: 2, FilesPerDrive: 12})
	u := f.active()[0].Email
	a, err := f.emu.Upload(u, "", "Alpha", gemu.MimeFolder, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.emu.Upload(u, a, "Beta", gemu.MimeFolder, nil)
	if err != nil {
		t.Fatal(err)
	}
	content := []byte("the quarterly numbers\n")
	deep, err := f.emu.Upload(u, b, "numbers.csv", "text/csv", content)
	if err != nil {
		t.Fatal(err)
	}
	gone, _ := f.emu.Upload(u, "", "old.bin", "", nil)
	if err := f.emu.Trash(u, gone); err != nil {
		t.Fatal(err)
	}
	// A file another user shares with u stays out of u's drive.
	other := f.active()[1].Email
	theirs, _ := f.emu.Upload(other, "", "theirs.bin", "", nil)
	if _, err := f.emu.Share(other, theirs, gemu.Share{Type: "user", Email: u}); err != nil {
		t.Fatal(err)
	}

	files, pages := crawlAll(t, f, connector.Drive{VendorID: u, Kind: "user", Owner: u})
	if pages < 2 {
		t.Errorf("%d pages: files.list did not page", pages)
	}
	want := f.owned(t, u)
	got := map[string]connector.File{}
	for _, x := range files {
		if _, dup := got[x.VendorID]; dup {
			t.Errorf("file %s indexed twice", x.VendorID)
		}
		got[x.VendorID] = x
		w, ok := want[x.VendorID]
		switch {
		case !ok:
			t.Errorf("indexed %s (%s), not a file %s owns", x.VendorID, x.Name, u)
			continue
		case x.Owner != u || x.Drive != "" || x.MimeType == mimeFolder:
			t.Errorf("file %+v: owner, drive or kind wrong", x)
		case x.Hash.MD5 != w.Md5Checksum || x.Hash.SHA256 != w.Sha256Checksum:
			t.Errorf("file %s hashes %+v, Drive says md5 %s sha256 %s", x.VendorID, x.Hash, w.Md5Checksum, w.Sha256Checksum)
		case !strings.HasPrefix(x.Path, "/") || !strings.HasSuffix(x.Path, "/"+x.Name):
			t.Errorf("file %s path %q", x.VendorID, x.Path)
		}
	}
	if len(got) != len(want) || len(want) < 1000 {
		t.Errorf("indexed %d files, %s owns %d", len(got), u, len(want))
	}
	md5sum, shasum := md5.Sum(content), sha256.Sum256(content)
	if x := got[deep]; x.Path != "/Alpha/Beta/numbers.csv" || x.Hash.MD5 != hex.EncodeToString(md5sum[:]) || x.Hash.SHA256 != hex.EncodeToString(shasum[:]) || x.Size != int64(len(content)) || len(x.Hash.SHA1) != 40 {
		t.Errorf("the nested file: %+v", x)
	}
	if _, ok := got[gone]; ok {
		t.Error("a trashed file was indexed")
	}
	if _, ok := got[theirs]; ok {
		t.Error("a file shared with the user was indexed as theirs")
	}

	t.Run("shared drive", func(t *testing.T) {
		sd := f.emu.SharedDrives()[0]
		var org string
		for m, r := range sd.Members {
			if r == "organizer" {
				org = m
			}
		}
		sub, err := f.emu.Upload(org, sd.ID, "Team", gemu.MimeFolder, nil)
		if err != nil {
			t.Fatal(err)
		}
		in, err := f.emu.Upload(org, sub, "plan.pdf", "application/pdf", nil)
		if err != nil {
			t.Fatal(err)
		}
		files, _ := crawlAll(t, f, connector.Drive{VendorID: sd.ID, Kind: "shared", Name: sd.Name})
		var found bool
		for _, x := range files {
			if x.MimeType == mimeFolder || x.Drive != "" {
				t.Errorf("shared drive file %+v", x)
			}
			if x.VendorID == in {
				found = true
				if x.Path != "/Team/plan.pdf" || x.Hash.MD5 == "" {
					t.Errorf("shared drive file %+v", x)
				}
			}
		}
		if !found || len(files) < 2 {
			t.Errorf("shared drive crawl: %d files, the new one found %v", len(files), found)
		}
	})

	t.Run("inaccessible", func(t *testing.T) {
		var sus string
		for _, x := range f.emu.Users() {
			if x.Suspended {
				sus = x.Email
			}
		}
		if sus == "" {
			t.Fatal("no suspended user")
		}
		_, err := f.open(t).Index(context.Background(), connector.Drive{VendorID: sus, Kind: "user", Owner: sus}, "")
		mustSay(t, err, connector.ErrInaccessible, sus)
		_, err = f.open(t).Index(context.Background(), connector.Drive{VendorID: "0AgoneDriveUk9PVA", Kind: "shared"}, "")
		mustSay(t, err, connector.ErrInaccessible, "0AgoneDriveUk9PVA")
	})
}

// TestSharedDriveActorChosenOnce: the index and the stream of a shared drive ask for its actor at
// once; the session lists the drive's members once, not once per caller (two identical
// permissions.list calls spend the quota twice, and Google backs off from them as from one).
func TestSharedDriveActorChosenOnce(t *testing.T) {
	f := newFixture(t, gemu.Options{})
	var lists atomic.Int32
	emu := f.srv.Config.Handler
	f.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/permissions") {
			lists.Add(1)
			time.Sleep(50 * time.Millisecond) // the callers overlap
		}
		emu.ServeHTTP(w, r)
	})
	sd := f.emu.SharedDrives()[0]
	d := connector.Drive{VendorID: sd.ID, Kind: "shared", Name: sd.Name}
	s := f.open(t)
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = s.Index(context.Background(), d, "")
		}()
	}
	wg.Wait()
	for _, err := range errs {
		must(t, err)
	}
	if n := lists.Load(); n != 1 {
		t.Errorf("6 concurrent first pages of shared drive %s listed its members %d times, want 1", sd.ID, n)
	}
}

// TestSharedDriveActorOutlivesFirstCaller: a caller waiting on another's members lookup is not
// failed by that caller's context ending: it looks the members up itself.
func TestSharedDriveActorOutlivesFirstCaller(t *testing.T) {
	f := newFixture(t, gemu.Options{})
	emu := f.srv.Config.Handler
	f.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/permissions") {
			time.Sleep(100 * time.Millisecond)
		}
		emu.ServeHTTP(w, r)
	})
	sd := f.emu.SharedDrives()[0]
	d := connector.Drive{VendorID: sd.ID, Kind: "shared", Name: sd.Name}
	s := f.open(t)
	first, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := s.Index(first, d, ""); done <- err }()
	time.Sleep(20 * time.Millisecond) // the first caller's lookup is under way
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	if _, err := s.Index(context.Background(), d, ""); err != nil {
		t.Fatalf("the second caller failed with the first one's cancellation: %v", err)
	}
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("the first caller: %v, want its own cancellation", err)
	}
}

// readChanges reads a drive stream from cursor to its end.
func readChanges(t *testing.T, s connector.Session, st connector.StreamSpec, cursor string) (files map[string]connector.File, removed []string, next string) {
	t.Helper()
	files = map[string]connector.File{}
	for i := 0; ; i++ {
		p, err := s.Changes(context.Background(), st, cursor)
		if err != nil {
			t.Fatal(err)
		}
		if p.Resync != nil {
			t.Fatalf("page %+v: a resync", p)
		}
		for _, x := range p.Files {
			files[x.VendorID] = x
		}
		removed = append(removed, p.Removed...)
		cursor = p.Next
		if !p.More {
			return files, removed, cursor
		}
		if i > 100 {
			t.Fatal("the changes never end")
		}
	}
}

func TestChanges(t *testing.T) {
	f := newFixture(t, gemu.Options{Users: 6, FilesPerUser: 8, SharedDrives: 2, FilesPerDrive: 6})
	ctx := context.Background()
	s := f.open(t)
	u, v := f.active()[0].Email, f.active()[1].Email
	d := connector.Drive{VendorID: u, Kind: "user", Owner: u}
	sts := s.DriveStreams(d)
	if len(sts) != 1 || sts[0].Key != "changes" || sts[0].FromCrawl || len(s.Streams()) != 1 || s.Streams()[0].Key != "reports" {
		t.Fatalf("streams: %+v, tenant %+v", sts, s.Streams())
	}
	st := sts[0]
	start, err := s.StreamStart(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	var mine []string
	for id := range f.owned(t, u) {
		mine = append(mine, id)
	}
	sort.Strings(mine)
	content := []byte("new content\n")
	up, err := f.emu.Upload(u, "", "upload.bin", "", content)
	if err != nil {
		t.Fatal(err)
	}
	edited, renamed, trashed, deleted := mine[0], mine[1], mine[2], mine[3]
	must(t, f.emu.Edit(u, edited, []byte("edited\n")))
	must(t, f.emu.Rename(u, renamed, "renamed.txt"))
	must(t, f.emu.Trash(u, trashed))
	must(t, f.emu.Delete(u, deleted))
	theirs, _ := f.emu.Upload(v, "", "theirs.bin", "", nil)
	if _, err := f.emu.Share(v, theirs, gemu.Share{Type: "user", Email: u}); err != nil {
		t.Fatal(err)
	}

	files, removed, next := readChanges(t, s, st, start)
	sum := md5.Sum(content)
	if x := files[up]; x.Name != "upload.bin" || x.Drive != u || x.Owner != u || x.Hash.MD5 != hex.EncodeToString(sum[:]) || x.Path != "/upload.bin" {
		t.Errorf("upload: %+v", x)
	}
	esum := md5.Sum([]byte("edited\n"))
	if x, ok := files[edited]; ok && x.Hash.MD5 != "" && x.Hash.MD5 != hex.EncodeToString(esum[:]) {
		t.Errorf("edit: %+v", x)
	} else if !ok {
		t.Errorf("the edited file is not in the changes")
	}
	if x := files[renamed]; x.Name != "renamed.txt" || !strings.HasSuffix(x.Path, "/renamed.txt") {
		t.Errorf("rename: %+v", x)
	}
	if x := files[theirs]; x.Drive != v || x.Owner != v {
		t.Errorf("a file shared with %s must stay %s's: %+v", u, v, x)
	}
	if !slices.Contains(removed, trashed) || !slices.Contains(removed, deleted) {
		t.Errorf("removed %v, want the trashed %s and the deleted %s", removed, trashed, deleted)
	}
	if _, ok := files[trashed]; ok {
		t.Error("a trashed file reported as a live state")
	}

	// Nothing new: the feed is at its end.
	files, removed, again := readChanges(t, s, st, next)
	if len(files)+len(removed) != 0 || again == "" {
		t.Errorf("after the end: %d files, %v removed, next %q", len(files), removed, again)
	}

	t.Run("shared drive", func(t *testing.T) {
		sd := f.emu.SharedDrives()[0]
		var org string
		for m, r := range sd.Members {
			if r == "organizer" {
				org = m
			}
		}
		sst := s.DriveStreams(connector.Drive{VendorID: sd.ID, Kind: "shared", Name: sd.Name})[0]
		start, err := s.StreamStart(ctx, sst)
		if err != nil {
			t.Fatal(err)
		}
		id, err := f.emu.Upload(org, sd.ID, "team.bin", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		files, _, _ := readChanges(t, s, sst, start)
		if x := files[id]; x.Drive != sd.ID || x.Path != "/team.bin" || x.Hash.SHA256 == "" {
			t.Errorf("shared drive change: %+v", x)
		}
	})

	t.Run("expired page token", func(t *testing.T) {
		f.emu.ExpireNextPageToken()
		p, err := s.Changes(ctx, st, again)
		if err != nil {
			t.Fatal(err)
		}
		if p.Resync == nil || p.Resync.Reason != connector.ResyncExpired || !p.Resync.Recrawl || !strings.Contains(p.Resync.Detail, "page token") {
			t.Errorf("an expired token: %+v", p)
		}
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestContent(t *testing.T) {
	f := newFixture(t, gemu.Options{Users: 4, FilesPerUser: 4})
	ctx := context.Background()
	s := f.open(t)
	u := f.active()[0].Email
	content := []byte(strings.Repeat("binary bytes ", 1000))
	id, err := f.emu.Upload(u, "", "blob.bin", "", content)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := s.Content(ctx, connector.ContentRef{Drive: u, File: id})
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	sum := md5.Sum(b)
	if want := f.owned(t, u)[id].Md5Checksum; hex.EncodeToString(sum[:]) != want || want == "" {
		t.Errorf("downloaded bytes hash to %x, Drive's md5Checksum is %s", sum, want)
	}

	doc, err := f.emu.Upload(u, "", "Notes", gemu.MimeDoc, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Content(ctx, connector.ContentRef{Drive: u, File: doc})
	if !errors.Is(err, ErrNotDownloadable) || isThrottle(err) {
		t.Errorf("a Google Doc: %v, want ErrNotDownloadable", err)
	}
	_, err = s.Content(ctx, connector.ContentRef{Drive: u, File: id, Part: "x"})
	mustSay(t, err, nil, "no part")
}

func isThrottle(err error) bool { return errors.Is(err, httpx.ErrThrottled) }

// TestThrottleClassified: Google's 403 rate limits and 429 are throttles for the scheduler (the
// generated clients retry neither), other 403s are not.
func TestThrottleClassified(t *testing.T) {
	s := &session{g: &googlekit.Client{Product: product, Clock: clock.NewFake(time.Unix(0, 0))}}
	for _, c := range []struct {
		err  *googleapi.Error
		want bool
	}{
		{&googleapi.Error{Code: 403, Errors: []googleapi.ErrorItem{{Reason: "userRateLimitExceeded"}}}, true},
		{&googleapi.Error{Code: 403, Errors: []googleapi.ErrorItem{{Reason: "rateLimitExceeded"}}}, true},
		{&googleapi.Error{Code: 429, Errors: []googleapi.ErrorItem{{Reason: "rateLimitExceeded"}}}, true},
		{&googleapi.Error{Code: 403, Errors: []googleapi.ErrorItem{{Reason: "forbidden"}}}, false},
	} {
		err := s.g.Classify(c.err, "listing")
		var te *httpx.ThrottledError
		if got := errors.As(err, &te); got != c.want || (got && te.Until.IsZero()) {
			t.Errorf("%d %s: throttle %v, want %v (%v)", c.err.Code, googlekit.Reason(c.err), got, c.want, err)
		}
	}
	body := []byte(`{"error":{"code":403,"errors":[{"reason":"userRateLimitExceeded"}]}}`)
	if d := googlekit.ClassifyAnswer(&http.Response{StatusCode: 403}, body); d != httpx.RetryAfter {
		t.Errorf("403 userRateLimitExceeded: %v", d)
	}
	if d := googlekit.ClassifyAnswer(&http.Response{StatusCode: 403}, []byte(`{"error":{"errors":[{"reason":"forbidden"}]}}`)); d != httpx.Fail {
		t.Errorf("403 forbidden: %v", d)
	}
}

// TestThrottledByEmulator: the emulator's 403 userRateLimitExceeded is retried by httpx after a
// wait on the injected clock (the generated clients would not retry it), and the throttle is
// reported; collection then goes on.
func TestThrottledByEmulator(t *testing.T) {
	f := newFixture(t, gemu.Options{Users: 4, FilesPerUser: 30, RateLimitPerMinute: 60, RateBurst: 2})
	throttled := 0
	deps := connector.Deps{AllowLoopback: true, Clock: f.clk,
		Sleep:      func(_ context.Context, d time.Duration) error { f.clk.Advance(d); return nil },
		OnThrottle: func(time.Time) { throttled++ }}
	s, err := New().Open(context.Background(), f.config(f.emu.ServiceAccountKey(f.tokenURL()), f.admin()), deps)
	if err != nil {
		t.Fatal(err)
	}
	u := f.active()[0].Email
	for i := 0; i < 4; i++ {
		if _, err := s.Index(context.Background(), connector.Drive{VendorID: u, Kind: "user", Owner: u}, ""); err != nil {
			t.Fatal(err)
		}
	}
	if f.emu.Stats().Throttled == 0 || throttled == 0 {
		t.Errorf("the emulator throttled %d times, the connector reported %d: want both", f.emu.Stats().Throttled, throttled)
	}
}

// TestOneClientActsAsEachUser: the session holds one set of Google's generated clients for every
// user (memory flat in the number of drives); each request acts as the user its context names, so
// two users listed at once through the same client each see their own files, and a request whose
// context names nobody is refused before it leaves.
func TestOneClientActsAsEachUser(t *testing.T) {
	f := newFixture(t, gemu.Options{Seed: 3, Users: 4, FilesPerUser: 5})
	s := f.open(t).(*session)
	users := f.active()
	if len(users) < 2 {
		t.Fatalf("fixture has %d active users", len(users))
	}
	a, b := users[0].Email, users[1].Email
	list := func(who string) (map[string]bool, error) {
		ctx, svc := s.as(context.Background(), who)
		out := map[string]bool{}
		r, err := svc.drive.Files.List().PageSize(1000).Fields("files(id,mimeType,owners,trashed)").Context(ctx).Do()
		if err != nil {
			return nil, err
		}
		for _, x := range r.Files {
			if x.MimeType != mimeFolder && !x.Trashed && len(x.Owners) > 0 && x.Owners[0].EmailAddress == who {
				out[x.Id] = true
			}
		}
		return out, nil
	}
	type res struct {
		got map[string]bool
		err error
	}
	ca, cb := make(chan res, 1), make(chan res, 1)
	go func() { g, err := list(a); ca <- res{g, err} }()
	go func() { g, err := list(b); cb <- res{g, err} }()
	for _, c := range []struct {
		who string
		ch  chan res
	}{{a, ca}, {b, cb}} {
		r := <-c.ch
		if r.err != nil {
			t.Fatalf("listing as %s: %v", c.who, r.err)
		}
		want := f.owned(t, c.who)
		if len(want) == 0 || len(r.got) != len(want) {
			t.Fatalf("as %s: %d files, Drive says %d", c.who, len(r.got), len(want))
		}
		for id := range want {
			if !r.got[id] {
				t.Errorf("as %s: file %s missing", c.who, id)
			}
		}
	}
	_, err := s.svcs.drive.Files.List().Context(context.Background()).Do()
	if !errors.Is(err, googlekit.ErrNoSubject) {
		t.Errorf("a request acting as nobody: %v, want ErrNoSubject", err)
	}
}
