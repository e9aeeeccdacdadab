package health

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/clock"
	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/store"
	"github.com/telltale-dev/telltale/internal/store/sqlite"
)

var ctx = context.Background()

// env is a real SQLite store, a raw handle on the same file (to date events' arrival in the
// past, which the store stamps with the wall clock), and a checker on a fake clock.
type env struct {
	st  store.Store
	raw *sql.DB
	clk *clock.Fake
	chk *Checker
}

func newEnv(t testing.TB, edit func(*Options)) *env {
	t.Helper()
	path := filepath.Join(t.TempDir(), "t.db")
	st, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite", sqlite.DSN(path, false))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close(); st.Close() })
	e := &env{st: st, raw: raw, clk: clock.NewFake(time.Now())}
	o := Options{Store: st, Clock: e.clk}
	if edit != nil {
		edit(&o)
	}
	e.chk = New(o)
	return e
}

func (e *env) conn(t *testing.T, name, service, status string) store.Connection {
	t.Helper()
	c, err := e.st.CreateConnection(ctx, store.Connection{Name: name, Service: service, ServiceType: "cloud", Status: status, ScopeKind: "all"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// arrive stores one event of the connection and dates its arrival at.
func (e *env) arrive(t *testing.T, c store.Connection, vendorID, actor string, at time.Time) {
	t.Helper()
	ev := &event.FileEvent{Timestamp: at.UTC(), Event: event.Meta{Action: event.ActionModified, Observer: event.ObserverBox, ConnectionID: c.ID, VendorIDs: []string{vendorID}},
		User: event.User{Email: actor}, File: event.File{ID: "f-" + vendorID, Name: "plan.xlsx"}}
	if _, err := e.st.InsertEvents(ctx, []*event.FileEvent{ev}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := e.raw.ExecContext(ctx, `UPDATE file_events SET inserted = ? WHERE id = ?`, at.UnixMicro(), ev.Event.ID); err != nil {
		t.Fatal(err)
	}
}

func (e *env) report(t *testing.T) client.Health {
	t.Helper()
	h, err := e.chk.Report(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func warnings(h client.Health, kind string) []client.HealthWarning {
	var out []client.HealthWarning
	for _, w := range h.Warnings {
		if w.Kind == kind {
			out = append(out, w)
		}
	}
	return out
}

func TestRhythmOf(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	every := func(n int, gap time.Duration) []time.Time {
		out := make([]time.Time, n)
		for i := range out {
			out[i] = t0.Add(-time.Duration(i) * gap)
		}
		return out
	}
	for _, tc := range []struct {
		name       string
		in         []time.Time
		gap, after time.Duration
	}{
		{"busy: a page a minute, silent after the floor", every(50, time.Minute), time.Minute, MinSilence},
		{"every 10 minutes: three gaps", every(50, 10*time.Minute), 10 * time.Minute, 30 * time.Minute},
		{"every 40 minutes: its gap plus an hour", every(50, 40*time.Minute), 40 * time.Minute, 100 * time.Minute},
		{"every 3 hours: its gap plus an hour", every(20, 3*time.Hour), 3 * time.Hour, 4 * time.Hour},
		{"too few arrivals to judge", every(MinArrivals-1, time.Minute), 0, 0},
		{"events of one page are one arrival", append(every(MinArrivals-1, time.Minute), t0.Add(-6*time.Minute-time.Second)), 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := RhythmOf(tc.in)
			if r.ExpectedGap != tc.gap || r.SilentAfter != tc.after {
				t.Errorf("gap %v silent after %v, want %v and %v", r.ExpectedGap, r.SilentAfter, tc.gap, tc.after)
			}
		})
	}
	// The 90th percentile: one long gap among many short ones does not make the rhythm slow.
	in := every(30, time.Minute)
	in = append(in, in[len(in)-1].Add(-5*time.Hour))
	if r := RhythmOf(in); r.ExpectedGap != time.Minute {
		t.Errorf("one outlier: gap %v", r.ExpectedGap)
	}
}

// TestSilentConnection: a connection that brought a page every five minutes for hours is flagged
// once 15 minutes pass without one, not before; a new arrival clears it. A connection in Error is
// a blind spot instead (listed first), never "silent".
func TestSilentConnection(t *testing.T) {
	e := newEnv(t, nil)
	box := e.conn(t, "Box", "box", "monitoring")
	broken := e.conn(t, "Broken", "box", "error")
	now := time.Now().UTC()
	last := now.Add(-20 * time.Minute)
	for i := 29; i >= 0; i-- { // oldest first, as the store assigns ids
		at := last.Add(-time.Duration(i) * 5 * time.Minute)
		e.arrive(t, box, "b"+string(rune('a'+i)), "ann@x.com", at)
		e.arrive(t, broken, "x"+string(rune('a'+i)), "ann@x.com", at)
	}
	e.clk.Set(last.Add(14 * time.Minute))
	h := e.report(t)
	if w := warnings(h, "connection_silent"); len(w) != 0 {
		t.Fatalf("14 minutes into a 5-minute rhythm: %+v", w)
	}
	if h.Connections[0].Name != "Broken" || !h.Connections[0].BlindSpot || h.BlindSpots != 1 {
		t.Errorf("blind spot first: %+v", h.Connections)
	}
	bc := h.Connections[1]
	if bc.ExpectedGap != 300 || bc.SilentAfter != 900 || !bc.LastStoredAt.Equal(last.Truncate(time.Microsecond)) {
		t.Errorf("box's rhythm: %+v", bc)
	}
	e.clk.Set(now)
	w := warnings(e.report(t), "connection_silent")
	if len(w) != 1 || w[0].Subject != "Box" || !strings.Contains(w[0].Message, "no event has arrived for 20m0s") {
		t.Fatalf("20 minutes into a 5-minute rhythm: %+v", w)
	}
	e.arrive(t, box, "new", "ann@x.com", now)
	if w := warnings(e.report(t), "connection_silent"); len(w) != 0 {
		t.Errorf("after a new arrival: %+v", w)
	}
}

// TestFeedsDisagree: Google Drive's two feeds counted the same for every file: no warning; the
// audit feed missing two of ten files in the settled window: flagged, naming them; the late
// records arriving: cleared. Counts in the unsettled hours are not compared.
func TestFeedsDisagree(t *testing.T) {
	e := newEnv(t, nil)
	g := e.conn(t, "Google", "google_drive", "monitoring")
	e.conn(t, "Box", "box", "monitoring")
	now := time.Date(2026, 12, 2, 12, 30, 0, 0, time.UTC)
	e.clk.Set(now)
	hour := now.Add(-CompareSettle - 3*time.Hour).Truncate(time.Hour)
	var cs []store.FeedCount
	for i := range 10 {
		f := "file" + string(rune('0'+i))
		cs = append(cs, store.FeedCount{ConnectionID: g.ID, Hour: hour, FileID: f, Feed: "changes", N: 2})
		if i >= 2 {
			cs = append(cs, store.FeedCount{ConnectionID: g.ID, Hour: hour, FileID: f, Feed: "reports", N: 2})
		}
	}
	// an hour still settling: reports have not come yet, and that is normal
	cs = append(cs, store.FeedCount{ConnectionID: g.ID, Hour: now.Add(-time.Hour), FileID: "fresh", Feed: "changes", N: 1})
	if err := e.st.AddFeedCounts(ctx, cs); err != nil {
		t.Fatal(err)
	}
	h := e.report(t)
	w := warnings(h, "feeds_disagree")
	if len(w) != 1 || w[0].Subject != "Google" || !strings.Contains(w[0].Message, "2 of 10 files") {
		t.Fatalf("two files missing from the audit feed: %+v", w)
	}
	if len(h.Completeness) != 1 || h.Completeness[0].Disagreeing != 2 || h.Completeness[0].Examples[0] != "file0" || h.Completeness[0].Feeds["reports"] != 16 {
		t.Errorf("completeness %+v", h.Completeness)
	}
	late := []store.FeedCount{{ConnectionID: g.ID, Hour: hour, FileID: "file0", Feed: "reports", N: 2}, {ConnectionID: g.ID, Hour: hour, FileID: "file1", Feed: "reports", N: 1}}
	if err := e.st.AddFeedCounts(ctx, late); err != nil {
		t.Fatal(err)
	}
	h = e.report(t)
	if w := warnings(h, "feeds_disagree"); len(w) != 0 {
		t.Errorf("after the late records: %+v", w)
	}
	if h.Completeness[0].Disagreeing != 0 {
		t.Errorf("completeness after the late records %+v", h.Completeness)
	}
	// Far apart counts disagree too: 1 against 9.
	if err := e.st.AddFeedCounts(ctx, []store.FeedCount{{ConnectionID: g.ID, Hour: hour, FileID: "file5", Feed: "changes", N: 7}}); err != nil {
		t.Fatal(err)
	}
	if got := e.report(t).Completeness[0]; got.Disagreeing != 1 || got.Examples[0] != "file5" {
		t.Errorf("counts 9 and 2: %+v", got)
	}
}

// TestRuleHealth: an enabled rule unchanged for 20 days without an alert is flagged until it
// raises one; a rule whose alerts name 2 of the 10 people monitored (owners of in-scope drives:
// 20 %) is flagged until the people monitored grow to 20 (10 %). A disabled rule is not judged.
func TestRuleHealth(t *testing.T) {
	e := newEnv(t, nil)
	c := e.conn(t, "Box", "box", "monitoring")
	now := time.Now().UTC()
	e.clk.Set(now)
	old := now.Add(-20 * 24 * time.Hour)
	mk := func(name string, enabled bool) store.AlertRule {
		r, err := e.st.CreateAlertRule(ctx, store.AlertRule{Name: name, Query: "action:shared", Kind: "threshold", Params: []byte(`{}`), Severity: "low", Enabled: enabled, CreatedAt: old, UpdatedAt: old})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	quiet, broad := mk("Quiet", true), mk("Broad", true)
	mk("Off", false)
	alert := func(r store.AlertRule, person string) {
		t.Helper()
		if _, err := e.st.CreateAlert(ctx, store.Alert{RuleID: r.ID, RuleName: r.Name, GroupKey: person, Person: person, State: store.AlertOpen, Severity: "low",
			FirstEventAt: now, LastEventAt: now, WindowEnd: now, CreatedAt: now.Add(-time.Hour)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	people := func(prefix string) {
		t.Helper()
		for i := range 10 {
			who := prefix + string(rune('a'+i)) + "@x.com"
			if _, err := e.st.UpsertDrive(ctx, store.Drive{ConnectionID: c.ID, VendorID: who, Kind: "user", Owner: who, State: store.DriveIndexed, InScope: true, DiscoveredAt: now}); err != nil {
				t.Fatal(err)
			}
		}
	}
	people("p")
	alert(broad, "pa@x.com")
	alert(broad, "pb@x.com")
	h := e.report(t)
	never := warnings(h, "rule_never_fired")
	if len(never) != 1 || never[0].Subject != "Quiet" || !strings.Contains(never[0].Message, "20 days") {
		t.Errorf("never fired: %+v", never)
	}
	tooBroad := warnings(h, "rule_too_broad")
	if len(tooBroad) != 1 || tooBroad[0].Subject != "Broad" || !strings.Contains(tooBroad[0].Message, "2 of the 10 people monitored") {
		t.Errorf("too broad: %+v", tooBroad)
	}
	alert(quiet, "pc@x.com")
	people("q")
	h = e.report(t)
	if w := warnings(h, "rule_never_fired"); len(w) != 0 {
		t.Errorf("after Quiet fired: %+v", w)
	}
	if w := warnings(h, "rule_too_broad"); len(w) != 0 {
		t.Errorf("2 of 20 people: %+v", w)
	}
}

// TestWatchlistUnmonitored: a watchlist member without a drive in a monitored connection or an
// active device is named; a drive in scope of a monitoring connection covers them; a device
// covers another; an empty watchlist says nothing.
func TestWatchlistUnmonitored(t *testing.T) {
	e := newEnv(t, nil)
	mon := e.conn(t, "Box", "box", "monitoring")
	dead := e.conn(t, "Old", "box", "deauthorized")
	lists, err := e.st.ListWatchlists(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dep := lists[0]
	if _, err := e.st.PutWatchlistMembers(ctx, dep.ID, []store.WatchlistMember{{WatchlistID: dep.ID, Email: "ann@x.com"}, {WatchlistID: dep.ID, Email: "bob@x.com"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.UpsertDrive(ctx, store.Drive{ConnectionID: dead.ID, VendorID: "d0", Kind: "user", Owner: "ann@x.com", State: store.DriveIndexed, InScope: true, DiscoveredAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	w := warnings(e.report(t), "watchlist_unmonitored")
	if len(w) != 1 || w[0].Subject != dep.Name || !strings.Contains(w[0].Message, "2 of its members") || !strings.Contains(w[0].Message, "ann@x.com, bob@x.com") {
		t.Fatalf("no member monitored (ann's drive is in a deauthorized connection): %+v", w)
	}
	if _, err := e.st.UpsertDrive(ctx, store.Drive{ConnectionID: mon.ID, VendorID: "d1", Kind: "user", Owner: "ann@x.com", State: store.DriveIndexed, InScope: true, DiscoveredAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	w = warnings(e.report(t), "watchlist_unmonitored")
	if len(w) != 1 || !strings.Contains(w[0].Message, "1 of its members") || strings.Contains(w[0].Message, "ann@") {
		t.Fatalf("ann monitored: %+v", w)
	}
	sec, err := e.st.CreateDeploymentSecret(ctx, store.DeploymentSecret{Name: "s", Prefix: "p", Hash: []byte("h"), ExpiresAt: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.CreateDevice(ctx, store.Device{PublicKey: []byte("k"), SecretID: sec.ID, Person: "bob@x.com"}); err != nil {
		t.Fatal(err)
	}
	if w := warnings(e.report(t), "watchlist_unmonitored"); len(w) != 0 {
		t.Errorf("everyone monitored: %+v", w)
	}
}

// TestDepartedStillActive: departing employees past their departure date whom a monitored source
// still sees as active (a drive a directory lists, under any of their addresses) are flagged;
// one leaving later, one no source sees, and one whose account is suspended (its drive out of
// scope) are not.
func TestDepartedStillActive(t *testing.T) {
	e := newEnv(t, nil)
	mon := e.conn(t, "Box", "box", "monitoring")
	lists, err := e.st.ListWatchlists(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dep := lists[0]
	if dep.Type != "departing_employee" {
		t.Fatalf("the first watchlist is %s", dep.Type)
	}
	day := func(d int) string { return e.clk.Now().AddDate(0, 0, d).UTC().Format(time.DateOnly) }
	if _, err := e.st.PutWatchlistMembers(ctx, dep.ID, []store.WatchlistMember{{WatchlistID: dep.ID, Email: "ann@x.com", DepartureDate: day(-10)},
		{WatchlistID: dep.ID, Email: "bob@x.com", DepartureDate: day(5)}, {WatchlistID: dep.ID, Email: "carol@x.com", DepartureDate: day(-3)},
		{WatchlistID: dep.ID, Email: "dave@x.com", DepartureDate: day(-1)}}); err != nil {
		t.Fatal(err)
	}
	if err := e.st.AddPersonAlias(ctx, "dave@x.com", "dsmith@x.onmicrosoft.com", "admin"); err != nil {
		t.Fatal(err)
	}
	for _, o := range []string{"ann@x.com", "bob@x.com", "dsmith@x.onmicrosoft.com"} {
		if _, err := e.st.UpsertDrive(ctx, store.Drive{ConnectionID: mon.ID, VendorID: o, Kind: "user", Owner: o, State: store.DriveIndexed, InScope: true, SeenAt: e.clk.Now(), DiscoveredAt: e.clk.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	w := warnings(e.report(t), "departed_still_active")
	if len(w) != 1 || w[0].Severity != "high" || !strings.Contains(w[0].Message, "2 people") || !strings.Contains(w[0].Message, "ann@x.com (left "+day(-10)+")") ||
		!strings.Contains(w[0].Message, "dave@x.com") || strings.Contains(w[0].Message, "bob@") || strings.Contains(w[0].Message, "carol@") {
		t.Fatalf("ann and dave (under his alias) left and are active: %+v", w)
	}
	// The directory suspends ann and dave: discovery takes their drives out of scope.
	if _, err := e.st.MarkDrivesOutOfScope(ctx, mon.ID, e.clk.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if w := warnings(e.report(t), "departed_still_active"); len(w) != 0 {
		t.Errorf("no one active any more: %+v", w)
	}
}

// TestHRSources: without HR sources the report says none are configured; a source silent for 4
// days is flagged, one that delivered yesterday is not.
func TestHRSources(t *testing.T) {
	if h := newEnv(t, nil).report(t); h.HRSources != "none configured" || len(warnings(h, "hr_source_silent")) != 0 {
		t.Errorf("no HR sources: %q %+v", h.HRSources, h.Warnings)
	}
	var last time.Time
	e := newEnv(t, func(o *Options) {
		o.HRSources = func(context.Context) ([]HRSource, error) { return []HRSource{{Name: "Workday", LastSyncAt: last}}, nil }
	})
	last = e.clk.Now().Add(-4 * 24 * time.Hour)
	w := warnings(e.report(t), "hr_source_silent")
	if len(w) != 1 || w[0].Subject != "Workday" {
		t.Errorf("silent 4 days: %+v", w)
	}
	last = e.clk.Now().Add(-24 * time.Hour)
	if w := warnings(e.report(t), "hr_source_silent"); len(w) != 0 {
		t.Errorf("delivered yesterday: %+v", w)
	}
}

// TestThrottlingAndCoverage: throttlings of the last day are counted per connection with the time
// spent throttled (overlaps once); a connection throttled now says so; device coverage counts the
// active devices heard from within the silence window; streams list their lag, most lagging first.
func TestThrottlingAndCoverage(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.DeviceSilentAfter = time.Hour })
	c := e.conn(t, "Box", "box", "monitoring")
	now := time.Now().UTC().Truncate(time.Second)
	e.clk.Set(now)
	for _, th := range []store.Throttle{
		{ConnectionID: c.ID, At: now.Add(-30 * time.Hour), Until: now.Add(-29 * time.Hour)}, // before the last day
		{ConnectionID: c.ID, At: now.Add(-2 * time.Hour), Until: now.Add(-2*time.Hour + 10*time.Minute)},
		{ConnectionID: c.ID, At: now.Add(-2*time.Hour + 5*time.Minute), Until: now.Add(-2*time.Hour + 20*time.Minute)},
		{ConnectionID: c.ID, At: now.Add(-time.Minute), Until: now.Add(10 * time.Minute)}, // counted up to now
	} {
		if err := e.st.RecordThrottle(ctx, th); err != nil {
			t.Fatal(err)
		}
	}
	c.ThrottledUntil = now.Add(time.Minute)
	if _, err := e.st.UpdateConnection(ctx, c); err != nil {
		t.Fatal(err)
	}
	for _, p := range []store.StreamPage{
		{ConnectionID: c.ID, Stream: "events", At: now.Add(-time.Minute), NewestEvent: now.Add(-3 * time.Minute), Lag: 2 * time.Minute},
		{ConnectionID: c.ID, Stream: "admin_logs", At: now.Add(-2 * time.Minute), NewestEvent: now.Add(-time.Hour), Lag: 58 * time.Minute},
	} {
		if err := e.st.RecordStreamPage(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	sec, err := e.st.CreateDeploymentSecret(ctx, store.DeploymentSecret{Name: "s", Prefix: "p", Hash: []byte("h"), ExpiresAt: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	for i, seen := range []time.Time{now.Add(-time.Minute), now.Add(-2 * time.Hour), now.Add(-3 * time.Minute)} {
		d, err := e.st.CreateDevice(ctx, store.Device{PublicKey: []byte{byte(i)}, SecretID: sec.ID, EnrolledAt: seen, LastCheckInAt: seen})
		if err != nil {
			t.Fatal(err)
		}
		if i == 2 {
			if _, err := e.st.SetDeviceActive(ctx, d.ID, false, "admin", now); err != nil {
				t.Fatal(err)
			}
		}
	}
	h := e.report(t)
	bc := h.Connections[0]
	if h.Throttles24h != 3 || h.ThrottledNow != 1 || bc.Throttles24h != 3 || bc.ThrottledSecs != 1260 || !bc.Throttled {
		t.Errorf("throttling: report %d now %d, connection %+v", h.Throttles24h, h.ThrottledNow, bc)
	}
	if len(bc.Streams) != 2 || bc.Streams[0].Stream != "admin_logs" || bc.LagSeconds != 120 {
		t.Errorf("streams (most lagging first; the connection's lag is its freshest page's): %+v lag %v", bc.Streams, bc.LagSeconds)
	}
	if h.Devices != (client.HealthDevices{Active: 2, CheckedIn: 1, SilentSeconds: 3600, Coverage: 0.5}) {
		t.Errorf("devices %+v", h.Devices)
	}
}
