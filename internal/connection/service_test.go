package connection

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/clock"
	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/store"
	"github.com/telltale-dev/telltale/internal/store/sqlite"
)

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

type fixture struct {
	st  store.Store
	clk *clock.Fake
	svc *Service
	ctx context.Context
}

func newFixture(t *testing.T, o Options) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "t.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := clock.NewFake(t0)
	o.Store, o.Clock, o.Log = st, clk, slog.New(slog.NewTextHandler(io.Discard, nil))
	if o.Services == nil {
		o.Services = testServices
	}
	return &fixture{st: st, clk: clk, svc: NewService(o), ctx: ctx}
}

// testServices are what the connectors of these tests declare (in production, their specs).
var testServices = map[string]ServiceInfo{
	"box": {Type: Cloud, DriveLimit: 500000}, "google_drive": {Type: Cloud, DriveLimit: 55000},
	"onedrive": {Type: Cloud, DriveLimit: 55000}, "gmail": {Type: Email},
}

func (f *fixture) create(t *testing.T, name, service, tenant string) store.Connection {
	t.Helper()
	c, err := f.svc.Create(f.ctx, NewConnection{Name: name, Service: service, TenantID: tenant, Credentials: []byte("sealed")}, "admin")
	if err != nil {
		t.Fatalf("create %q: %v", name, err)
	}
	return c
}

func (f *fixture) apply(t *testing.T, id int64, a Action) store.Connection {
	t.Helper()
	c, err := f.svc.Apply(f.ctx, id, a, SystemActor, "test "+string(a))
	if err != nil {
		t.Fatalf("apply %s: %v", a, err)
	}
	return c
}

// deauthorized brings a fresh cloud connection to Deauthorized.
func (f *fixture) deauthorized(t *testing.T, id int64) store.Connection {
	t.Helper()
	f.apply(t, id, ActionDiscovered)
	if _, err := f.svc.Deauthorize(f.ctx, id, "admin"); err != nil {
		t.Fatal(err)
	}
	return f.apply(t, id, ActionDeauthorized)
}

func mkEvent(conn int64, vendorID string) *event.FileEvent {
	return &event.FileEvent{Timestamp: t0,
		Event: event.Meta{Action: event.ActionModified, Observer: event.ObserverBox, ConnectionID: conn, VendorIDs: []string{vendorID}},
		User:  event.User{Email: "alice@corp.example"}, File: event.File{ID: "f-" + vendorID, Name: "plan.xlsx"}}
}

func TestCreateValidation(t *testing.T) {
	f := newFixture(t, Options{})
	c := f.create(t, " Box Prod ", "box", "")
	if c.Name != "Box Prod" || c.Status != string(Searching) || c.ServiceType != Cloud || c.ScopeKind != "all" || c.CreatedBy != "admin" {
		t.Fatalf("created %+v", c)
	}
	_, err := f.svc.Create(f.ctx, NewConnection{Name: "box prod", Service: "box"}, "admin")
	if !errors.Is(err, store.ErrConflict) || errors.Is(err, ErrInvalid) || err.Error() != `a connection named "box prod" already exists: choose another display name` {
		t.Fatalf("duplicate: %v", err)
	}
	for _, name := range []string{"", "   ", strings.Repeat("x", 101)} {
		if _, err := f.svc.Create(f.ctx, NewConnection{Name: name, Service: "box"}, "admin"); !errors.Is(err, ErrInvalid) {
			t.Errorf("name %q: %v", name, err)
		}
	}
	if _, err := f.svc.Create(f.ctx, NewConnection{Name: strings.Repeat("é", 100), Service: "gmail"}, "admin"); err != nil {
		t.Errorf("100 characters: %v", err)
	}
	_, err = f.svc.Create(f.ctx, NewConnection{Name: "x", Service: "dropbox"}, "admin")
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), `"dropbox"`) || !strings.Contains(err.Error(), "box, gmail, google_drive, onedrive") {
		t.Errorf("bad service: %v", err)
	}
	// Rename onto a taken name is a conflict too; renaming to itself with other case is fine.
	d := f.create(t, "Drive", "google_drive", "")
	if _, err := f.svc.Rename(f.ctx, d.ID, "BOX PROD", "admin"); !errors.Is(err, store.ErrConflict) || errors.Is(err, ErrInvalid) {
		t.Errorf("rename conflict: %v", err)
	}
	if r, err := f.svc.Rename(f.ctx, d.ID, " Drive 2 ", "admin"); err != nil || r.Name != "Drive 2" {
		t.Errorf("rename: %+v %v", r, err)
	}
}

func TestCreateStoresScope(t *testing.T) {
	f := newFixture(t, Options{})
	c, err := f.svc.Create(f.ctx, NewConnection{Name: "m", Service: "gmail", ScopeKind: "users",
		Scope: []store.ScopeEntry{{Kind: "user", Value: "a@corp.example", Row: 2}, {Kind: "user", Value: "b@corp.example", Row: 3}}}, "admin")
	if err != nil {
		t.Fatal(err)
	}
	sc, err := f.st.ListScope(f.ctx, c.ID)
	if err != nil || len(sc) != 2 || sc[0].ConnectionID != c.ID || c.ScopeKind != "users" || c.ServiceType != Email {
		t.Fatalf("scope %+v %v, conn %+v", sc, err, c)
	}
}

func TestTenantAlreadyRegistered(t *testing.T) {
	f := newFixture(t, Options{})
	f.create(t, "Box A", "box", "E1")
	b := f.create(t, "Box B", "box", "E1")
	want := `this box tenant E1 is already registered in connection "Box A"`
	if b.Status != string(Error) || b.ErrorReason != want {
		t.Fatalf("second registration: %s %q", b.Status, b.ErrorReason)
	}
	hs, err := f.st.ListStatusChanges(f.ctx, b.ID)
	if err != nil || len(hs) != 2 || hs[1].From != "searching" || hs[1].To != "error" || hs[1].Reason != want {
		t.Fatalf("history %+v %v", hs, err)
	}
	// Another service or tenant is fine.
	if c := f.create(t, "Drive", "google_drive", "E1"); c.Status != string(Searching) {
		t.Errorf("other service: %s", c.Status)
	}
	if c := f.create(t, "Box C", "box", "E2"); c.Status != string(Searching) {
		t.Errorf("other tenant: %s", c.Status)
	}
}

func TestDeauthorizeResumeKeepsHistory(t *testing.T) {
	f := newFixture(t, Options{})
	c := f.create(t, "Box", "box", "")
	created := c.CreatedAt

	if _, err := f.svc.Deauthorize(f.ctx, c.ID, "alice"); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "searching for drives") {
		t.Fatalf("deauthorize while searching: %v", err)
	}
	f.clk.Advance(time.Hour)
	f.apply(t, c.ID, ActionDiscovered)
	f.apply(t, c.ID, ActionIndexed)
	f.clk.Advance(time.Hour)
	d, err := f.svc.Deauthorize(f.ctx, c.ID, "alice")
	if err != nil || d.Status != string(Deauthorizing) {
		t.Fatalf("deauthorize: %+v %v", d, err)
	}
	if _, err := f.svc.Resume(f.ctx, c.ID, "alice", Resume{}); !errors.Is(err, ErrRefused) {
		t.Fatalf("resume while deauthorizing: %v", err)
	}
	d = f.apply(t, c.ID, ActionDeauthorized)
	if !d.DeauthorizedAt.Equal(f.clk.Now()) {
		t.Errorf("DeauthorizedAt %v", d.DeauthorizedAt)
	}
	f.clk.Advance(time.Hour)
	r, err := f.svc.Resume(f.ctx, c.ID, "bob", Resume{})
	if err != nil || r.Status != string(Searching) || !r.DeauthorizedAt.IsZero() || string(r.Credentials) != "sealed" {
		t.Fatalf("resume: %+v %v", r, err)
	}
	if !r.CreatedAt.Equal(created) || r.CreatedBy != "admin" {
		t.Errorf("created changed: %v %s", r.CreatedAt, r.CreatedBy)
	}
	hs, err := f.st.ListStatusChanges(f.ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		" searching admin connection added",
		"searching indexing system test discovered",
		"indexing monitoring system test indexed",
		"monitoring deauthorizing alice deauthorized by an admin",
		"deauthorizing deauthorized system test deauthorized",
		"deauthorized searching bob resumed by an admin",
	}
	if len(hs) != len(want) {
		t.Fatalf("history has %d entries: %+v", len(hs), hs)
	}
	for i, h := range hs {
		if got := fmt.Sprintf("%s %s %s %s", h.From, h.To, h.Actor, h.Reason); got != want[i] {
			t.Errorf("history[%d] = %q, want %q", i, got, want[i])
		}
	}
	if !hs[0].At.Equal(t0) || !hs[5].At.Equal(t0.Add(3*time.Hour)) {
		t.Errorf("history times %v %v", hs[0].At, hs[5].At)
	}
}

func TestResumeWithNewScopeAndCredentials(t *testing.T) {
	f := newFixture(t, Options{})
	c := f.create(t, "Box", "box", "")
	if _, err := f.svc.ReplaceScope(f.ctx, c.ID, "admin", "users", nil); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "(R1.7)") {
		t.Fatalf("replace scope while searching: %v", err)
	}
	f.deauthorized(t, c.ID)
	entries := []store.ScopeEntry{{Kind: "group", Value: "Finance", Row: 2}}
	if u, err := f.svc.ReplaceScope(f.ctx, c.ID, "admin", "groups", entries); err != nil || u.ScopeKind != "groups" {
		t.Fatalf("replace scope: %+v %v", u, err)
	}
	r, err := f.svc.Resume(f.ctx, c.ID, "admin", Resume{ScopeKind: "users", Scope: []store.ScopeEntry{{Kind: "user", Value: "a@x.example", Row: 2}}, Credentials: []byte("new")})
	if err != nil || r.ScopeKind != "users" || string(r.Credentials) != "new" {
		t.Fatalf("resume: %+v %v", r, err)
	}
	sc, _ := f.st.ListScope(f.ctx, c.ID)
	if len(sc) != 1 || sc[0].Value != "a@x.example" {
		t.Errorf("scope %+v", sc)
	}
}

func TestFailRecover(t *testing.T) {
	f := newFixture(t, Options{})
	c := f.create(t, "Mail", "gmail", "")
	if m := f.apply(t, c.ID, ActionDiscovered); m.Status != string(Monitoring) {
		t.Fatalf("email discovered: %s", m.Status)
	}
	e, err := f.svc.Apply(f.ctx, c.ID, ActionFail, SystemActor, "6 of 10 mailboxes are inaccessible")
	if err != nil || e.Status != string(Error) || e.ErrorReason != "6 of 10 mailboxes are inaccessible" {
		t.Fatalf("fail: %+v %v", e, err)
	}
	// Maintenance from Error keeps the reason and returns to Error.
	m, err := f.svc.StartMaintenance(f.ctx, c.ID, "admin")
	if err != nil || m.PrevStatus != string(Error) || m.ErrorReason == "" {
		t.Fatalf("start maintenance: %+v %v", m, err)
	}
	if m, err = f.svc.EndMaintenance(f.ctx, c.ID, "admin"); err != nil || m.Status != string(Error) || m.ErrorReason == "" {
		t.Fatalf("end maintenance: %+v %v", m, err)
	}
	if r := f.apply(t, c.ID, ActionRecover); r.Status != string(Monitoring) || r.ErrorReason != "" {
		t.Fatalf("recover: %+v", r)
	}
}

func TestMaintenanceHoldsEvents(t *testing.T) {
	f := newFixture(t, Options{})
	c := f.create(t, "Box", "box", "")
	f.apply(t, c.ID, ActionDiscovered) // Indexing
	if _, err := f.st.InsertEvents(f.ctx, []*event.FileEvent{mkEvent(c.ID, "before")}, false); err != nil {
		t.Fatal(err)
	}
	m, err := f.svc.StartMaintenance(f.ctx, c.ID, "admin")
	if err != nil || m.Status != string(Maintenance) || m.PrevStatus != string(Indexing) || !f.svc.Held(m) {
		t.Fatalf("start maintenance: %+v %v", m, err)
	}
	if _, err := f.svc.Deauthorize(f.ctx, c.ID, "admin"); !errors.Is(err, ErrRefused) {
		t.Fatalf("deauthorize in maintenance: %v", err)
	}
	if _, err := f.st.InsertEvents(f.ctx, []*event.FileEvent{mkEvent(c.ID, "m1"), mkEvent(c.ID, "m2")}, f.svc.Held(m)); err != nil {
		t.Fatal(err)
	}
	evs, err := f.st.ListEvents(f.ctx, store.EventFilter{ConnectionID: c.ID})
	if err != nil || len(evs) != 1 {
		t.Fatalf("during maintenance search sees %d events (%v), want 1", len(evs), err)
	}
	e, err := f.svc.EndMaintenance(f.ctx, c.ID, "admin")
	if err != nil || e.Status != string(Indexing) || e.PrevStatus != "" || f.svc.Held(e) {
		t.Fatalf("end maintenance: %+v %v", e, err)
	}
	if evs, _ = f.st.ListEvents(f.ctx, store.EventFilter{ConnectionID: c.ID}); len(evs) != 3 {
		t.Fatalf("after maintenance search sees %d events, want 3", len(evs))
	}
	if _, err := f.svc.EndMaintenance(f.ctx, c.ID, "admin"); !errors.Is(err, ErrRefused) {
		t.Errorf("end maintenance twice: %v", err)
	}
}

// fill gives a connection drives, files and events.
func (f *fixture) fill(t *testing.T, id int64, events int) {
	t.Helper()
	d, err := f.st.UpsertDrive(f.ctx, store.Drive{ConnectionID: id, VendorID: "d1", Kind: "user", Owner: "a@x.example", State: store.DriveIndexed, InScope: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.st.UpsertFiles(f.ctx, []store.File{{ConnectionID: id, DriveID: d.ID, VendorID: "f1", Name: "a.txt"}}); err != nil {
		t.Fatal(err)
	}
	var evs []*event.FileEvent
	for i := range events {
		evs = append(evs, mkEvent(id, fmt.Sprintf("v%d", i)))
	}
	if _, err := f.st.InsertEvents(f.ctx, evs, false); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) gone(t *testing.T, id int64) bool {
	t.Helper()
	_, err := f.st.GetConnection(f.ctx, id)
	if err == nil {
		return false
	}
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatal(err)
	}
	n, _ := f.st.CountEvents(f.ctx, store.EventFilter{ConnectionID: id, IncludeHeld: true})
	dc, _ := f.st.CountDrives(f.ctx, id)
	fc, _ := f.st.CountFiles(f.ctx, id, 0)
	if n != 0 || dc.Total != 0 || fc != 0 {
		t.Errorf("connection %d deleted but %d events, %d drives, %d files remain", id, n, dc.Total, fc)
	}
	return true
}

func TestRetention(t *testing.T) {
	f := newFixture(t, Options{})
	old := f.create(t, "Old", "box", "")
	keep := f.create(t, "Keep", "onedrive", "")
	f.fill(t, old.ID, 20)
	f.fill(t, keep.ID, 5)
	f.deauthorized(t, old.ID)
	f.apply(t, keep.ID, ActionDiscovered)

	f.clk.Advance(89 * 24 * time.Hour)
	if n, err := f.svc.RunRetention(f.ctx); err != nil || n != 0 {
		t.Fatalf("after 89 days: %d %v", n, err)
	}
	if f.gone(t, old.ID) {
		t.Fatal("deleted after 89 days")
	}
	f.clk.Advance(24*time.Hour + time.Second)
	if n, err := f.svc.RunRetention(f.ctx); err != nil || n != 1 {
		t.Fatalf("after 90 days: %d %v", n, err)
	}
	if !f.gone(t, old.ID) {
		t.Fatal("not deleted after 90 days")
	}
	if f.gone(t, keep.ID) {
		t.Fatal("the other connection was deleted")
	}
	if n, _ := f.st.CountEvents(f.ctx, store.EventFilter{ConnectionID: keep.ID}); n != 5 {
		t.Errorf("the other connection has %d events, want 5", n)
	}
}

func TestRetentionConfigurable(t *testing.T) {
	days := 7
	f := newFixture(t, Options{Retention: func(context.Context) time.Duration { return time.Duration(days) * 24 * time.Hour }})
	c := f.create(t, "Box", "box", "")
	f.deauthorized(t, c.ID)
	f.clk.Advance(6 * 24 * time.Hour)
	if n, _ := f.svc.RunRetention(f.ctx); n != 0 {
		t.Fatal("deleted after 6 of 7 days")
	}
	f.clk.Advance(24 * time.Hour)
	if n, err := f.svc.RunRetention(f.ctx); err != nil || n != 1 || !f.gone(t, c.ID) {
		t.Fatalf("after 7 days: %d %v", n, err)
	}
}

func TestRetentionFinishesCrashedDelete(t *testing.T) {
	f := newFixture(t, Options{})
	c := f.create(t, "Box", "box", "")
	f.fill(t, c.ID, 30)
	f.deauthorized(t, c.ID)
	f.clk.Advance(91 * 24 * time.Hour)
	// A run that moved it to Deleting and deleted some events, then crashed.
	f.apply(t, c.ID, ActionRetentionExpired)
	if _, err := f.st.DeleteConnectionEvents(f.ctx, c.ID, 10); err != nil {
		t.Fatal(err)
	}
	hs, _ := f.st.ListStatusChanges(f.ctx, c.ID)
	if last := hs[len(hs)-1]; last.To != string(Deleting) {
		t.Fatalf("last history %+v", last)
	}
	if n, err := f.svc.RunRetention(f.ctx); err != nil || n != 1 || !f.gone(t, c.ID) {
		t.Fatalf("next run: %d %v", n, err)
	}
}

// crashingStore fails every purge, like a process that dies after the Deleting transition.
type crashingStore struct{ store.Store }

func (crashingStore) DeleteConnectionEvents(context.Context, int64, int) (int64, error) {
	return 0, errors.New("crash")
}

func TestRetentionHistoryAndCrashedRun(t *testing.T) {
	f := newFixture(t, Options{})
	c := f.create(t, "Box", "box", "")
	f.fill(t, c.ID, 4)
	f.deauthorized(t, c.ID)
	f.clk.Advance(90 * 24 * time.Hour)
	crashing := NewService(Options{Store: crashingStore{f.st}, Clock: f.clk, Log: f.svc.log, Services: testServices})
	if _, err := crashing.RunRetention(f.ctx); err == nil {
		t.Fatal("the crashing run succeeded")
	}
	hs, _ := f.st.ListStatusChanges(f.ctx, c.ID)
	if last := hs[len(hs)-1]; last.From != string(Deauthorized) || last.To != string(Deleting) || last.Actor != SystemActor || last.Reason != "retention of 90 days expired" {
		t.Errorf("last history %+v", last)
	}
	if n, err := f.svc.RunRetention(f.ctx); err != nil || n != 1 || !f.gone(t, c.ID) {
		t.Fatalf("next run: %d %v", n, err)
	}
}

func TestAdminDelete(t *testing.T) {
	f := newFixture(t, Options{})
	c := f.create(t, "Box", "box", "")
	f.fill(t, c.ID, 3)
	if err := f.svc.Delete(f.ctx, c.ID, "admin"); !errors.Is(err, ErrRefused) {
		t.Fatalf("delete while searching: %v", err)
	}
	f.deauthorized(t, c.ID)
	if err := f.svc.Delete(f.ctx, c.ID, "admin"); err != nil || !f.gone(t, c.ID) {
		t.Fatalf("delete: %v", err)
	}
}

func TestDriveLimit(t *testing.T) {
	want := "The number of supported user drives (500000) for this connector has been exceeded. Deauthorize the connector and reauthorize with fewer than 500000 drives."
	if got := DriveLimitMessage(500000); got != want {
		t.Fatalf("message\n got %s\nwant %s", got, want)
	}
	f := newFixture(t, Options{Limits: Limits{Drives: map[string]int{"box": 2}}})
	if f.svc.DriveLimit("google_drive") != 55000 || f.svc.DriveLimit("onedrive") != 55000 || f.svc.DriveLimit("box") != 2 || f.svc.DriveLimit("gmail") != 0 {
		t.Fatal("limits")
	}
	c := f.create(t, "Box", "box", "")
	f.apply(t, c.ID, ActionDiscovered)
	for i := range 2 {
		if _, err := f.st.UpsertDrive(f.ctx, store.Drive{ConnectionID: c.ID, VendorID: fmt.Sprint(i), Kind: "user", State: store.DrivePending, InScope: true}); err != nil {
			t.Fatal(err)
		}
	}
	if ex, _, err := f.svc.CheckDriveLimit(f.ctx, c.ID); err != nil || ex {
		t.Fatalf("at the limit: %v %v", ex, err)
	}
	if _, err := f.st.UpsertDrive(f.ctx, store.Drive{ConnectionID: c.ID, VendorID: "3", Kind: "user", State: store.DrivePending, InScope: true}); err != nil {
		t.Fatal(err)
	}
	ex, msg, err := f.svc.CheckDriveLimit(f.ctx, c.ID)
	if err != nil || !ex || msg != DriveLimitMessage(2) {
		t.Fatalf("over the limit: %v %q %v", ex, msg, err)
	}
	got, _ := f.st.GetConnection(f.ctx, c.ID)
	if got.Status != string(Error) || got.ErrorReason != msg {
		t.Fatalf("connection %s %q", got.Status, got.ErrorReason)
	}
	// Still exceeded while in Error: no new transition, same reason.
	if ex, _, err := f.svc.CheckDriveLimit(f.ctx, c.ID); err != nil || !ex {
		t.Fatalf("again: %v %v", ex, err)
	}
	if hs, _ := f.st.ListStatusChanges(f.ctx, c.ID); len(hs) != 3 {
		t.Errorf("history has %d entries, want 3", len(hs))
	}
}

func TestConcurrentTransitions(t *testing.T) {
	f := newFixture(t, Options{})
	c := f.create(t, "Box", "box", "")
	f.apply(t, c.ID, ActionDiscovered)
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			_, err := f.svc.Deauthorize(f.ctx, c.ID, "admin")
			errs <- err
		}()
	}
	ok := 0
	for range 4 {
		err := <-errs
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, ErrRefused):
			t.Errorf("unexpected error: %v", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d deauthorizations succeeded, want 1", ok)
	}
}

// TestDeleteWaitsForPushRemoval: a deleted connection that still holds push subscriptions (ingest
// removes them at the vendor) stays in Deleting, and is purged by RunRetention once they are gone,
// or after unpushGrace at the latest (the vendor may refuse for good: the app was revoked).
func TestDeleteWaitsForPushRemoval(t *testing.T) {
	f := newFixture(t, Options{})
	for _, gone := range []bool{true, false} {
		c := f.create(t, fmt.Sprintf("Box %v", gone), "box", fmt.Sprint(gone))
		f.deauthorized(t, c.ID)
		if _, err := f.st.SaveSubscription(f.ctx, store.Subscription{ConnectionID: c.ID, DriveID: 1, VendorID: "wh-1", Stream: "s", CheckedAt: t0}); err != nil {
			t.Fatal(err)
		}
		if err := f.svc.Delete(f.ctx, c.ID, "admin"); err != nil {
			t.Fatal(err)
		}
		if got, err := f.st.GetConnection(f.ctx, c.ID); err != nil || Status(got.Status) != Deleting {
			t.Fatalf("with a subscription left: %+v %v, want it kept in Deleting", got.Status, err)
		}
		if gone {
			// Ingest removed it at the vendor: the next run purges.
			if err := f.st.DeleteSubscription(f.ctx, c.ID, "wh-1"); err != nil {
				t.Fatal(err)
			}
			if _, err := f.svc.RunRetention(f.ctx); err != nil || !f.gone(t, c.ID) {
				t.Fatalf("after the subscription was removed: %v, gone %v", err, f.gone(t, c.ID))
			}
			continue
		}
		// The vendor keeps refusing: within the grace the connection stays, after it it goes.
		f.clk.Advance(unpushGrace - time.Hour)
		if _, err := f.svc.RunRetention(f.ctx); err != nil || f.gone(t, c.ID) {
			t.Fatalf("purged before the grace ended: %v", err)
		}
		f.clk.Advance(2 * time.Hour)
		if _, err := f.svc.RunRetention(f.ctx); err != nil || !f.gone(t, c.ID) {
			t.Fatalf("not purged after the grace: %v", err)
		}
	}
}

// TestRetentionKeepsLegalHold: retention deletes a connection and its events except those a case on
// legal hold gathered, which stay readable after their connection is gone.
func TestRetentionKeepsLegalHold(t *testing.T) {
	f := newFixture(t, Options{})
	c := f.create(t, "Box", "box", "")
	f.fill(t, c.ID, 12)
	evs, err := f.st.ListEvents(f.ctx, store.EventFilter{ConnectionID: c.ID})
	if err != nil || len(evs) != 12 {
		t.Fatalf("events %d %v", len(evs), err)
	}
	k, err := f.st.CreateCase(f.ctx, store.Case{Title: "hold", State: store.CaseOpen, LegalHold: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.AddCaseItems(f.ctx, k.ID, store.CaseItems{EventIDs: []int64{evs[3].Event.ID, evs[7].Event.ID}}, "ann", time.Time{}); err != nil {
		t.Fatal(err)
	}
	f.deauthorized(t, c.ID)
	f.clk.Advance(91 * 24 * time.Hour)
	if n, err := f.svc.RunRetention(f.ctx); err != nil || n != 1 {
		t.Fatalf("retention: %d %v", n, err)
	}
	if _, err := f.st.GetConnection(f.ctx, c.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the connection is still there: %v", err)
	}
	left, err := f.st.ListEvents(f.ctx, store.EventFilter{})
	if err != nil || len(left) != 2 || left[0].Event.ID != evs[3].Event.ID || left[1].Event.ID != evs[7].Event.ID {
		t.Fatalf("after retention %d events (%v), want the 2 held ones", len(left), err)
	}
}

// TestRecordCollectionKeepsThrottles: each later throttling is kept in the throttle log (the
// health view's "throttling over the last day"); one not later than the stored one is not.
func TestRecordCollectionKeepsThrottles(t *testing.T) {
	f := newFixture(t, Options{})
	c := f.create(t, "Box", "box", "1")
	for _, until := range []time.Time{t0.Add(time.Minute), t0.Add(30 * time.Second), t0.Add(5 * time.Minute)} {
		if err := f.svc.RecordCollection(f.ctx, c.ID, until, time.Time{}); err != nil {
			t.Fatal(err)
		}
		f.clk.Advance(time.Second)
	}
	ts, err := f.st.ListThrottles(f.ctx, t0.Add(-time.Hour), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 2 || !ts[0].Until.Equal(t0.Add(time.Minute)) || !ts[1].Until.Equal(t0.Add(5*time.Minute)) || !ts[1].At.Equal(t0.Add(2*time.Second)) || ts[0].ConnectionID != c.ID {
		t.Errorf("throttle log %+v", ts)
	}
	if got, _ := f.st.GetConnection(f.ctx, c.ID); !got.ThrottledUntil.Equal(t0.Add(5 * time.Minute)) {
		t.Errorf("throttled until %v", got.ThrottledUntil)
	}
}
