package onedrive

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/clock"
	"github.com/telltale-dev/telltale/internal/connector"
	memu "github.com/telltale-dev/telltale/internal/emulator/microsoft"
	"github.com/telltale-dev/telltale/internal/httpx"
)

// fixture is the Microsoft emulator over loopback and connections to it.
type fixture struct {
	emu *memu.Emulator
	srv *httptest.Server
	clk *clock.Fake
	// repeats: the emulator sends items again later in a delta round (Options.DeltaRepeat)
	repeats bool

	mu        sync.Mutex
	downloads []string // the Authorization header of each request to a pre-authenticated URL
}

func newFixture(t *testing.T, o memu.Options) *fixture {
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
	if o.DeltaRepeat == 0 {
		o.DeltaRepeat = -1
	}
	f := &fixture{emu: memu.New(o), clk: clk, repeats: o.DeltaRepeat > 0}
	h := f.emu.Handler()
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/download/") {
			f.mu.Lock()
			f.downloads = append(f.downloads, r.Header.Get("Authorization"))
			f.mu.Unlock()
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { f.srv.Close(); f.emu.Close() })
	return f
}

func (f *fixture) config() connector.Config {
	return connector.Config{
		Credentials: map[string]string{"client_secret": f.emu.ClientSecret()},
		Settings: map[string]string{"tenant_id": f.emu.TenantID(), "client_id": f.emu.ClientID(),
			"login_url": f.srv.URL, "graph_url": f.srv.URL + "/v1.0", "manage_url": f.srv.URL, "rate_limit": "0"},
	}
}

func (f *fixture) open(t *testing.T) *session {
	t.Helper()
	return f.openWith(t, f.config(), connector.Deps{Clock: f.clk})
}

func (f *fixture) openWith(t *testing.T, cfg connector.Config, deps connector.Deps) *session {
	t.Helper()
	deps.AllowLoopback = true
	s, err := New().Open(context.Background(), cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s.(*session)
}

// licensed are the enabled users with a OneDrive, the admin included.
func (f *fixture) licensed() []memu.User {
	var out []memu.User
	for _, u := range f.emu.Users() {
		if u.Enabled && u.DriveID != "" {
			out = append(out, u)
		}
	}
	return out
}

func (f *fixture) drive(u memu.User) connector.Drive {
	return connector.Drive{VendorID: u.DriveID, Kind: "user", Owner: strings.ToLower(u.UPN), Name: u.Name}
}

// mustSay fails unless err matches kind (when set) and says every one of says.
func mustSay(t *testing.T, err error, kind error, says ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one saying %q", says)
	}
	if kind != nil && !errors.Is(err, kind) {
		t.Errorf("%v: not %v", err, kind)
	}
	for _, s := range says {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("%v\ndoes not say %q", err, s)
		}
	}
}

func TestSpec(t *testing.T) {
	sp := New().Spec()
	if sp.Service != "onedrive" || sp.ServiceType != "cloud" || sp.Title != "OneDrive for Business" || sp.StateFeed != deltaKey ||
		!slices.Equal(sp.Hashes, []string{"quick_xor"}) || sp.DriveLimit != 55000 || sp.DedupeHorizon < 7*24*time.Hour || sp.DiscoveryInterval > 8*time.Hour {
		t.Errorf("spec: %+v", sp)
	}
	var perms []string
	for _, p := range sp.Permissions {
		if p.Why == "" {
			t.Errorf("permission %s without a why", p.Name)
		}
		perms = append(perms, p.Name)
	}
	if want := append(slices.Clone(Permissions), PermActivityFeedRead); !slices.Equal(perms, want) {
		t.Errorf("permissions %v, want %v", perms, want)
	}
	for _, name := range []string{"login_url", "graph_url"} {
		if fl, ok := sp.Field(name); !ok || !fl.URL || !fl.Advanced || fl.Default == "" {
			t.Errorf("%s: %+v", name, fl)
		}
	}
	if fl, _ := sp.Field("tenant_id"); !fl.Tenant || !fl.Required {
		t.Errorf("tenant_id: %+v", fl)
	}
	if fl, _ := sp.Field("client_secret"); !fl.Secret {
		t.Errorf("client_secret: %+v", fl)
	}
}

// TestOpenChecksURLsAndCallsNothing: Open refuses a URL the SSRF guard refuses (loopback only with
// Deps.AllowLoopback) and makes no request.
func TestOpenChecksURLsAndCallsNothing(t *testing.T) {
	f := newFixture(t, memu.Options{})
	cfg := f.config()
	_, err := New().Open(context.Background(), cfg, connector.Deps{Clock: f.clk})
	mustSay(t, err, nil, "login_url")
	cfg.Settings["login_url"] = ""
	_, err = New().Open(context.Background(), cfg, connector.Deps{Clock: f.clk})
	mustSay(t, err, nil, "graph_url")
	f.open(t)
	if n := f.emu.Stats().Requests; n != 0 {
		t.Errorf("Open made %d requests", n)
	}
	cfg = f.config()
	delete(cfg.Credentials, "client_secret")
	_, err = New().Open(context.Background(), cfg, connector.Deps{AllowLoopback: true})
	mustSay(t, err, nil, "client_secret")
}

// TestVerify: the tenant, and each way Entra ID and Graph refuse, said with the fix.
func TestVerify(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, memu.Options{})
	tenant, err := f.open(t).Verify(ctx)
	if err != nil || tenant != f.emu.TenantID() {
		t.Fatalf("verify: %q %v", tenant, err)
	}
	with := func(k, v string) *session {
		cfg := f.config()
		if k == "client_secret" {
			cfg.Credentials[k] = v
		} else {
			cfg.Settings[k] = v
		}
		return f.openWith(t, cfg, connector.Deps{Clock: f.clk})
	}
	_, err = with("client_secret", "wrong~secret").Verify(ctx)
	mustSay(t, err, connector.ErrAuth, "AADSTS7000215", "create a new client secret", "Value")
	_, err = with("client_id", "00000000-0000-0000-0000-000000000001").Verify(ctx)
	mustSay(t, err, connector.ErrAuth, "AADSTS700016", "client) ID", "/adminconsent?client_id=00000000-0000-0000-0000-000000000001")
	_, err = with("tenant_id", "11111111-2222-3333-4444-555555555555").Verify(ctx)
	mustSay(t, err, connector.ErrAuth, "AADSTS90002", "Directory (tenant) ID")
	for _, line := range strings.Split(err.Error(), "\n") {
		if strings.Contains(line, "Trace ID") {
			t.Errorf("the error repeats Entra ID's trace lines: %q", err)
		}
	}

	// No admin consent: a token without roles, refused by Graph with 401.
	f.emu.SetConsent([]string{})
	_, err = f.open(t).Verify(ctx)
	mustSay(t, err, connector.ErrPermission, "admin consent", "Files.Read.All, GroupMember.Read.All, User.Read.All", "/adminconsent?client_id="+f.emu.ClientID())
	// One permission missing: named, with admin consent.
	for _, missing := range []string{memu.RoleUserReadAll, memu.RoleGroupMemberReadAll, memu.RoleFilesReadAll} {
		var roles []string
		for _, r := range []string{memu.RoleUserReadAll, memu.RoleGroupMemberReadAll, memu.RoleFilesReadAll} {
			if r != missing {
				roles = append(roles, r)
			}
		}
		f.emu.SetConsent(roles)
		_, err = f.open(t).Verify(ctx)
		mustSay(t, err, connector.ErrPermission, "permission "+missing, "admin consent")
	}
	f.emu.SetConsent([]string{memu.RoleUserReadAll, memu.RoleGroupMemberReadAll, memu.RoleFilesReadAll})
	_, err = f.open(t).Verify(ctx)
	mustSay(t, err, connector.ErrPermission, PermActivityFeedRead, "Office 365 Management APIs", "admin consent")
	f.emu.SetConsent([]string{memu.RoleUserReadAll, memu.RoleGroupMemberReadAll, memu.RoleFilesReadAll, memu.RoleActivityFeedRead})
	if _, err := f.open(t).Verify(ctx); err != nil {
		t.Errorf("with exactly the permissions the spec lists: %v", err)
	}
	_, err = with("tenant_id", f.emu.Domain()).Verify(ctx)
	mustSay(t, err, connector.ErrAuth, "GUID")
}

// discover runs Discover and returns the drives by owner.
func discover(t *testing.T, s *session, scope connector.Scope) (map[string]connector.Drive, connector.Discovery) {
	t.Helper()
	got := map[string]connector.Drive{}
	res, err := s.Discover(context.Background(), scope, func(ds []connector.Drive) error {
		for _, d := range ds {
			if _, dup := got[d.Owner]; dup {
				t.Errorf("drive of %s emitted twice", d.Owner)
			}
			got[d.Owner] = d
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got, res
}

func owners(m map[string]connector.Drive) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestDiscover(t *testing.T) {
	defer func(n int) { usersPage = n }(usersPage)
	usersPage = 3 // several pages of users
	f := newFixture(t, memu.Options{Users: 12, UnlicensedUsers: 2, DisabledUsers: 2, Groups: 3})
	s := f.open(t)
	got, res := discover(t, s, connector.Scope{Kind: "all"})
	var want []string
	for _, u := range f.licensed() {
		want = append(want, strings.ToLower(u.UPN))
		if d := got[strings.ToLower(u.UPN)]; d.VendorID != u.DriveID || d.Kind != "user" || d.Name != u.Name || d.Inaccessible != "" {
			t.Errorf("drive of %s: %+v, want %s", u.UPN, d, u.DriveID)
		}
	}
	sort.Strings(want)
	if !slices.Equal(owners(got), want) {
		t.Errorf("drives of %v, want %v", owners(got), want)
	}
	if res.SkippedInactive != 2 {
		t.Errorf("skipped inactive %d, want the 2 disabled users", res.SkippedInactive)
	}

	// Users scope: by address, case-insensitively; a disabled user in scope is counted.
	users := f.emu.Users()
	var disabled memu.User
	for _, u := range users {
		if !u.Enabled {
			disabled = u
		}
	}
	lic := f.licensed()
	got, res = discover(t, s, connector.Scope{Kind: "users", Users: []string{strings.ToUpper(lic[1].UPN), " " + lic[2].UPN, disabled.UPN, "nobody@example.com"}})
	if w := []string{strings.ToLower(lic[1].UPN), strings.ToLower(lic[2].UPN)}; !slices.Equal(owners(got), sorted(w)) || res.SkippedInactive != 1 {
		t.Errorf("users scope: %v (skipped %d), want %v and 1 skipped", owners(got), res.SkippedInactive, w)
	}

	// Groups scope: transitive members of the first group (the second is nested in it); a group
	// the tenant lacks is missing.
	groups := f.emu.Groups()
	got, res = discover(t, s, connector.Scope{Kind: "groups", Groups: []string{groups[0].Name, "No such team"}})
	members := map[string]bool{}
	var walk func(id string)
	walk = func(id string) {
		for _, g := range groups {
			if g.ID == id {
				for _, m := range g.Members {
					walk(m)
				}
				return
			}
		}
		members[id] = true
	}
	walk(groups[0].ID)
	want = nil
	nested := false
	for _, u := range f.licensed() {
		if members[u.ID] {
			want = append(want, strings.ToLower(u.UPN))
		}
	}
	for _, m := range groups[1].Members {
		if !slices.Contains(groups[0].Members, m) {
			nested = true
		}
	}
	if !nested {
		t.Fatalf("setup: the nested group adds nobody")
	}
	if !slices.Equal(owners(got), sorted(want)) || !slices.Equal(res.MissingGroups, []string{"No such team"}) {
		t.Errorf("groups scope: %v missing %v, want %v missing [No such team]", owners(got), res.MissingGroups, sorted(want))
	}

	// A user licensed later gets a OneDrive: found by the next discovery.
	id := f.emu.AddUser("Nia", "Late", false)
	got, _ = discover(t, s, connector.Scope{Kind: "all"})
	for _, d := range got {
		if strings.HasPrefix(d.Owner, "nia.late") {
			t.Errorf("an unlicensed user's drive: %+v", d)
		}
	}
	if err := f.emu.SetLicensed("nia.late@example.com", true); err != nil {
		t.Fatal(err)
	}
	got, _ = discover(t, s, connector.Scope{Kind: "all"})
	if d, ok := got["nia.late@example.com"]; !ok || d.VendorID == "" {
		t.Errorf("the newly licensed user %s: no drive in %v", id, owners(got))
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	sort.Strings(s)
	return s
}

func isThrottle(err error) bool { return errors.Is(err, httpx.ErrThrottled) }

// TestDocumented: docs/connectors/onedrive.md names every permission, action and AADSTS code the
// connector handles, and says it is a connection type.
func TestDocumented(t *testing.T) {
	b, err := os.ReadFile("../../../docs/connectors/onedrive.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, s := range append(slices.Clone(Permissions), "file-created", "file-modified", "file-renamed", "file-moved", "file-deleted",
		"file-restored", "file-shared", "file-unshared", "AADSTS7000215", "AADSTS700016", "AADSTS90002", "a connection type") {
		if !strings.Contains(doc, s) {
			t.Errorf("docs/connectors/onedrive.md does not mention %s", s)
		}
	}
}

// TestLinksStayOnGraph: a link from a page is followed only under the configured Graph URL, so
// the bearer token goes nowhere else. A stored cursor holding a link of another Graph URL (taken
// before the connection's Graph URL changed: a proxy put in front, an emulator restarted on
// another port) is not followed either, nor is it an error for ever: the crawl starts over, the
// delta stream resyncs with a new crawl; and the cursors handed out are relative to the Graph URL,
// so that they follow the connection to its next one.
func TestLinksStayOnGraph(t *testing.T) {
	f := newFixture(t, memu.Options{Users: 4})
	s := f.open(t)
	var elsewhere atomic.Int64
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { elsewhere.Add(1) }))
	defer other.Close()
	for _, l := range []string{"https://evil.example/v1.0/drives", f.srv.URL + "/v1.0.evil/x", other.URL + "/v1.0/x"} {
		if _, err := s.api.resolve(l); !errors.Is(err, connector.ErrMalformed) {
			t.Errorf("%s: %v", l, err)
		}
	}
	ctx := context.Background()
	d := f.drive(f.licensed()[1])
	p, err := s.Index(ctx, d, other.URL+"/v1.0/drives/x/root/delta?token=old")
	if err != nil || p.Next != "" || p.Done || len(p.Files) != 0 {
		t.Errorf("a crawl cursor of another Graph URL: %+v %v, want the crawl started over", p, err)
	}
	c, err := s.Changes(ctx, connector.StreamSpec{Key: deltaKey, Drive: d}, other.URL+"/v1.0/drives/x/root/delta?token=old")
	if err != nil || c.Resync == nil || c.Resync.Reason != connector.ResyncExpired || !c.Resync.Recrawl || !strings.Contains(c.Resync.Detail, "another Graph URL") {
		t.Errorf("a delta cursor of another Graph URL: %+v %v, want a resync that crawls again", c, err)
	}
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("%d requests went to the other Graph URL", n)
	}
	// A crawl to its end: every cursor handed out is relative, and the stream goes on from it.
	cursor := ""
	for i := 0; ; i++ {
		p, err := s.Index(ctx, d, cursor)
		if err != nil || i > 100 {
			t.Fatalf("crawl page %d: %v", i, err)
		}
		if p.Done {
			cursor = p.StreamStart[deltaKey]
			break
		}
		if !strings.HasPrefix(p.Next, "/") {
			t.Fatalf("crawl cursor %q is not relative to the Graph URL", p.Next)
		}
		cursor = p.Next
	}
	start, err := s.StreamStart(ctx, connector.StreamSpec{Key: deltaKey, Drive: d})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{cursor, start} {
		if !strings.HasPrefix(l, "/") {
			t.Fatalf("stream cursor %q is not relative to the Graph URL", l)
		}
	}
	c, err = s.Changes(ctx, connector.StreamSpec{Key: deltaKey, Drive: d}, cursor)
	if err != nil || c.Resync != nil || !strings.HasPrefix(c.Next, "/") {
		t.Errorf("the delta stream from the crawl's relative link: next %q, resync %+v, %v", c.Next, c.Resync, err)
	}
}

// TestDrivesRefused: without Files.Read.All every user's drive is inaccessible with the reason,
// and reading it says so.
func TestDrivesRefused(t *testing.T) {
	f := newFixture(t, memu.Options{Users: 4, UnlicensedUsers: 1})
	f.emu.SetConsent([]string{memu.RoleUserReadAll, memu.RoleGroupMemberReadAll})
	s := f.open(t)
	got, _ := discover(t, s, connector.Scope{Kind: "all"})
	enabled := 0 // licensed or not: a refused call cannot tell which users have a OneDrive
	for _, u := range f.emu.Users() {
		if u.Enabled {
			enabled++
		}
	}
	if len(got) != enabled {
		t.Errorf("%d drives, want %d", len(got), enabled)
	}
	for _, d := range got {
		if !strings.Contains(d.Inaccessible, PermFilesReadAll) {
			t.Errorf("drive %+v: want inaccessible naming %s", d, PermFilesReadAll)
		}
		_, err := s.Index(context.Background(), d, "")
		mustSay(t, err, connector.ErrInaccessible, PermFilesReadAll)
	}
}

// TestLinksOutsideGraphRefusedAtOnce: Graph reached through a proxy that leaves Graph's own host
// in the links it hands back: those links lie outside the configured Graph URL, so the crawl's
// page and the delta stream's page that carry one fail as malformed when Graph hands it over, and
// no cursor holds it (a stored one would be taken for a position of another Graph URL and start
// the drive over at every read, never saying why).
func TestLinksOutsideGraphRefusedAtOnce(t *testing.T) {
	f := newFixture(t, memu.Options{Users: 4, FilesPerUser: 10, DeltaPageSize: 4})
	target, _ := url.Parse(f.srv.URL)
	proxy := httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(target) // the emulator sees its own host and writes its links with it
	}})
	defer proxy.Close()
	cfg := f.config()
	cfg.Settings["graph_url"] = proxy.URL + "/v1.0"
	s := f.openWith(t, cfg, connector.Deps{Clock: f.clk})
	ctx := context.Background()
	d := f.drive(f.licensed()[1])
	p, err := s.Index(ctx, d, "")
	if !errors.Is(err, connector.ErrMalformed) || !strings.Contains(err.Error(), "a link outside "+proxy.URL) || p.Next != "" {
		t.Errorf("a crawl page whose nextLink is outside the Graph URL: next %q, %v", p.Next, err)
	}
	start, err := s.StreamStart(ctx, connector.StreamSpec{Key: deltaKey, Drive: d})
	if !errors.Is(err, connector.ErrMalformed) || start != "" {
		t.Errorf("a stream start whose deltaLink is outside the Graph URL: %q, %v", start, err)
	}
	c, err := s.Changes(ctx, connector.StreamSpec{Key: deltaKey, Drive: d}, deltaPath(d)+"&token=latest")
	if !errors.Is(err, connector.ErrMalformed) || c.Next != "" || c.Resync != nil {
		t.Errorf("a delta page whose link is outside the Graph URL: next %q, resync %+v, %v", c.Next, c.Resync, err)
	}
}
