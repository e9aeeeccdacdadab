package m365mail

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/clock"
	"github.com/telltale-dev/telltale/internal/connector"
	memu "github.com/telltale-dev/telltale/internal/emulator/microsoft"
)

// fixture is the Microsoft emulator over loopback and connections to it. deny makes mailbox
// paths of the given user ids answer 403 ErrorAccessDenied, as Exchange does for a mailbox
// outside the app's application access policy (not emulated).
type fixture struct {
	emu *memu.Emulator
	srv *httptest.Server
	clk *clock.Fake

	mu     sync.Mutex
	deny   map[string]bool
	noMbox map[string]bool       // mailbox paths answer 404 MailboxNotEnabledForRESTAPI (a license without Exchange)
	slow   time.Duration         // attachment downloads take this long (requests overlap)
	before func(r *http.Request) // called before each request is served
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
		o.FilesPerUser = 3
	}
	if o.MinFileSize == 0 {
		o.MinFileSize, o.MaxFileSize = 64, 2048
	}
	f := &fixture{emu: memu.New(o), clk: clk, deny: map[string]bool{}, noMbox: map[string]bool{}}
	h := denying(f.emu.Handler(), f.denied, f.noMailbox)
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		slow, before := f.slow, f.before
		f.mu.Unlock()
		if before != nil {
			before(r)
		}
		if slow > 0 && strings.HasSuffix(r.URL.Path, "/$value") {
			w = slowWriter{w, slow} // the emulator counts the request in flight until it has written
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { f.srv.Close(); f.emu.Close() })
	return f
}

// slowWriter waits before the answer's body is written.
type slowWriter struct {
	http.ResponseWriter
	d time.Duration
}

func (w slowWriter) Write(b []byte) (int, error) {
	time.Sleep(w.d)
	return w.ResponseWriter.Write(b)
}

func (f *fixture) denied(uid string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.deny[uid]
}

func (f *fixture) noMailbox(uid string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.noMbox[uid]
}

func (f *fixture) setDenied(uid string, yes bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deny[uid] = yes
}

// denying answers 403 ErrorAccessDenied for the mailbox paths (/v1.0/users/{id}/messages...,
// /mailFolders...) and subscriptions of users denied says, as Exchange answers for a mailbox an
// application access policy leaves out.
func denying(h http.Handler, denied, noMailbox func(uid string) bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seg := strings.Split(strings.TrimPrefix(r.URL.Path, "/v1.0/"), "/")
		mail := len(seg) >= 3 && seg[0] == "users" && (seg[2] == "messages" || seg[2] == "mailFolders")
		if mail && noMailbox != nil && noMailbox(seg[1]) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"error":{"code":"MailboxNotEnabledForRESTAPI","message":"The mailbox is either inactive, soft-deleted, or is hosted on-premise."}}`))
			return
		}
		if mail && denied(seg[1]) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			w.Write([]byte(`{"error":{"code":"ErrorAccessDenied","message":"Access to OData is disabled: [RAOP] : Blocked by tenant configured AppOnly AccessPolicy settings."}}`))
			return
		}
		h.ServeHTTP(w, r)
	})
}

func (f *fixture) config() connector.Config {
	return connector.Config{
		ConnectionID: 7,
		Credentials:  map[string]string{"client_secret": f.emu.ClientSecret()},
		Settings: map[string]string{"tenant_id": f.emu.TenantID(), "client_id": f.emu.ClientID(),
			"login_url": f.srv.URL, "graph_url": f.srv.URL + "/v1.0"},
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

// mailboxes are the enabled licensed users (with a mailbox), the admin included.
func (f *fixture) mailboxes() []memu.User {
	var out []memu.User
	for _, u := range f.emu.Users() {
		if u.Enabled && u.Licensed {
			out = append(out, u)
		}
	}
	return out
}

func (f *fixture) drive(u memu.User) connector.Drive {
	return connector.Drive{VendorID: u.ID, Kind: "mailbox", Owner: strings.ToLower(u.UPN), Name: u.Name}
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
	if sp.Service != "microsoft365_mail" || sp.ServiceType != "email" || sp.Title != "Microsoft 365 mail" || len(sp.Hashes) != 0 ||
		sp.DedupeHorizon < 7*24*time.Hour || sp.DiscoveryInterval > 24*time.Hour || sp.PollInterval > 30*time.Minute {
		t.Errorf("spec: %+v", sp)
	}
	var perms []string
	for _, p := range sp.Permissions {
		if p.Why == "" {
			t.Errorf("permission %s without a why", p.Name)
		}
		perms = append(perms, p.Name)
	}
	sort.Strings(perms)
	if !slices.Equal(perms, Permissions) {
		t.Errorf("permissions %v, want %v", perms, Permissions)
	}
	for _, name := range []string{"login_url", "graph_url"} {
		if fl, ok := sp.Field(name); !ok || !fl.URL || !fl.Advanced || fl.Default == "" {
			t.Errorf("%s: %+v", name, fl)
		}
	}
	if fl, _ := sp.Field("tenant_id"); !fl.Tenant || !fl.Required {
		t.Errorf("tenant_id: %+v", fl)
	}
	if fl, _ := sp.Field("client_secret"); !fl.Secret || !fl.Required {
		t.Errorf("client_secret: %+v", fl)
	}
	if !slices.ContainsFunc(sp.Steps, func(s string) bool { return strings.Contains(s, "New-ApplicationAccessPolicy") }) {
		t.Errorf("no step says how to limit the app's mailboxes: %q", sp.Steps)
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
	if strings.Contains(err.Error(), "Trace ID") {
		t.Errorf("the error repeats Entra ID's trace lines: %q", err)
	}

	// No admin consent: a token without roles, refused by Graph with 401.
	f.emu.SetConsent([]string{})
	_, err = f.open(t).Verify(ctx)
	mustSay(t, err, connector.ErrPermission, "admin consent", "GroupMember.Read.All, Mail.Read, User.Read.All", "/adminconsent?client_id="+f.emu.ClientID())
	// One permission missing: named, with admin consent.
	all := []string{memu.RoleUserReadAll, memu.RoleGroupMemberReadAll, memu.RoleMailRead}
	for _, missing := range all {
		var roles []string
		for _, r := range all {
			if r != missing {
				roles = append(roles, r)
			}
		}
		f.emu.SetConsent(roles)
		_, err = f.open(t).Verify(ctx)
		mustSay(t, err, connector.ErrPermission, "permission "+missing, "admin consent")
	}
	f.emu.SetConsent(all)
	if _, err := f.open(t).Verify(ctx); err != nil {
		t.Errorf("with exactly the permissions the spec lists: %v", err)
	}
	// An application access policy that leaves out the first mailboxes is not an error while one
	// mailbox answers; when none does, the error says the policy may be why.
	ms := f.mailboxes()
	for _, u := range ms[:len(ms)-1] {
		f.setDenied(u.ID, true)
	}
	if _, err := f.open(t).Verify(ctx); err != nil {
		t.Errorf("with a policy leaving out all but one mailbox: %v", err)
	}
	f.setDenied(ms[len(ms)-1].ID, true)
	_, err = f.open(t).Verify(ctx)
	mustSay(t, err, connector.ErrPermission, "application access policy", "Mail.Read")
}

// discover runs Discover and returns the mailboxes by owner.
func discover(t *testing.T, s *session, scope connector.Scope) (map[string]connector.Drive, connector.Discovery) {
	t.Helper()
	got := map[string]connector.Drive{}
	res, err := s.Discover(context.Background(), scope, func(ds []connector.Drive) error {
		for _, d := range ds {
			if _, dup := got[d.Owner]; dup {
				t.Errorf("mailbox of %s emitted twice", d.Owner)
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
	for _, u := range f.mailboxes() {
		want = append(want, strings.ToLower(u.UPN))
		if d := got[strings.ToLower(u.UPN)]; d != f.drive(u) {
			t.Errorf("mailbox of %s: %+v, want %+v", u.UPN, d, f.drive(u))
		}
	}
	sort.Strings(want)
	if !slices.Equal(owners(got), want) {
		t.Errorf("mailboxes %v\nwant %v (unlicensed and disabled users skipped)", owners(got), want)
	}
	if res.SkippedInactive != 2 {
		t.Errorf("skipped inactive %d, want the 2 disabled users", res.SkippedInactive)
	}

	// A licensed user without an Exchange mailbox (404 MailboxNotEnabledForRESTAPI) is skipped,
	// found once it has one. The probe is remembered a day.
	u := f.mailboxes()[1]
	before := f.emu.Stats().Requests
	discover(t, s, connector.Scope{Kind: "all"})
	if n := f.emu.Stats().Requests - before; n > 6 {
		t.Errorf("a second discovery within a day made %d requests: mailboxes are probed again", n)
	}
	f.clk.Advance(probeTTL)
	f.mu.Lock()
	f.noMbox[u.ID] = true
	f.mu.Unlock()
	got, _ = discover(t, s, connector.Scope{Kind: "all"})
	if _, ok := got[strings.ToLower(u.UPN)]; ok {
		t.Errorf("%s without a mailbox still discovered", u.UPN)
	}
	f.mu.Lock()
	f.noMbox[u.ID] = false
	f.mu.Unlock()
	if got, _ = discover(t, s, connector.Scope{Kind: "all"}); len(got) != len(want)-1 {
		t.Errorf("the probe's 404 is not remembered for a day: %d mailboxes", len(got))
	}
	f.clk.Advance(probeTTL)
	if got, _ = discover(t, s, connector.Scope{Kind: "all"}); len(got) != len(want) {
		t.Errorf("a mailbox that appeared is not found a day later: %d mailboxes", len(got))
	}

	// A mailbox Exchange refuses (an application access policy) is inaccessible, with why.
	f.setDenied(u.ID, true)
	got, _ = discover(t, f.open(t), connector.Scope{Kind: "all"})
	if d := got[strings.ToLower(u.UPN)]; !strings.Contains(d.Inaccessible, "application access policy") || !strings.Contains(d.Inaccessible, "403 ErrorAccessDenied") {
		t.Errorf("refused mailbox: %+v", d)
	}
	f.setDenied(u.ID, false)

	// Scope by users (UPN, any case) and by groups (nested members, unknown groups missing).
	users := f.mailboxes()
	got, _ = discover(t, f.open(t), connector.Scope{Kind: "users", Users: []string{strings.ToUpper(users[1].UPN), users[2].UPN}})
	w := []string{strings.ToLower(users[1].UPN), strings.ToLower(users[2].UPN)}
	sort.Strings(w)
	if !slices.Equal(owners(got), w) {
		t.Errorf("users scope: %v, want %v", owners(got), w)
	}
	g := f.emu.Groups()[0]
	got, res = discover(t, f.open(t), connector.Scope{Kind: "groups", Groups: []string{g.Name, "No Such Group"}})
	if !slices.Equal(res.MissingGroups, []string{"No Such Group"}) {
		t.Errorf("missing groups %v", res.MissingGroups)
	}
	for _, d := range got {
		if !memberOf(f, g, d.VendorID) {
			t.Errorf("%s is not a member of %s", d.Owner, g.Name)
		}
	}
}

// memberOf reports whether user id is in group g, through nested groups too.
func memberOf(f *fixture, g memu.Group, id string) bool {
	byID := map[string]memu.Group{}
	for _, x := range f.emu.Groups() {
		byID[x.ID] = x
	}
	var walk func(g memu.Group, seen map[string]bool) bool
	walk = func(g memu.Group, seen map[string]bool) bool {
		for _, m := range g.Members {
			if m == id {
				return true
			}
			if sub, ok := byID[m]; ok && !seen[m] {
				seen[m] = true
				if walk(sub, seen) {
					return true
				}
			}
		}
		return false
	}
	return walk(g, map[string]bool{g.ID: true})
}
