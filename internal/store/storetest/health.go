package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/store"
)

// testHealthRecords: throttlings are listed from a time on and pruned; a stream's row keeps the
// newest event time (an older or empty page moves only the page time); feed counts add up per
// connection, hour, file and feed and are listed within a window; deleting the connection removes
// them all.
func testHealthRecords(t *testing.T, s store.Store) {
	c := mkConn(t, s, "c")
	other := mkConn(t, s, "other")
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	for i, at := range []time.Time{t0, t0.Add(time.Hour), t0.Add(2 * time.Hour)} {
		noErr(t, s.RecordThrottle(ctx, store.Throttle{ConnectionID: c.ID, At: at, Until: at.Add(time.Duration(i+1) * time.Minute)}))
	}
	got := ok(s.ListThrottles(ctx, t0.Add(time.Hour), 0))(t)
	if len(got) != 2 || !got[0].At.Equal(t0.Add(time.Hour)) || !got[1].Until.Equal(t0.Add(2*time.Hour+3*time.Minute)) || got[0].ConnectionID != c.ID {
		t.Errorf("throttles since the second: %+v", got)
	}
	if got := ok(s.ListThrottles(ctx, t0, 1))(t); len(got) != 1 {
		t.Errorf("limit 1: %+v", got)
	}

	page := func(stream string, at, newest time.Time) {
		t.Helper()
		p := store.StreamPage{ConnectionID: c.ID, Stream: stream, At: at, NewestEvent: newest}
		if !newest.IsZero() {
			p.Lag = at.Sub(newest)
		}
		noErr(t, s.RecordStreamPage(ctx, p))
	}
	page("events", t0, t0.Add(-5*time.Minute))
	page("events", t0.Add(time.Minute), time.Time{})          // empty page
	page("events", t0.Add(2*time.Minute), t0.Add(-time.Hour)) // an older event (a late record)
	page("drive:1", t0.Add(3*time.Minute), t0.Add(2*time.Minute))
	noErr(t, s.RecordStreamPage(ctx, store.StreamPage{ConnectionID: other.ID, Stream: "events", At: t0}))
	hs := ok(s.ListStreamHealth(ctx, c.ID, 0))(t)
	if len(hs) != 2 || hs[0].Stream != "events" || hs[1].Stream != "drive:1" {
		t.Fatalf("streams, most lagging first %+v", hs)
	}
	ev := hs[0]
	if !ev.PageAt.Equal(t0.Add(2*time.Minute)) || !ev.EventAt.Equal(t0.Add(-5*time.Minute)) || !ev.StoredAt.Equal(t0) || ev.Lag != 5*time.Minute {
		t.Errorf("events stream keeps its newest event, its commit and lag, and the last page time: %+v", ev)
	}
	if got := ok(s.ListStreamHealth(ctx, c.ID, 1))(t); len(got) != 1 || got[0].Stream != "events" {
		t.Errorf("limit 1: %+v", got)
	}
	n, fresh, err := s.StreamHealthSummary(ctx, c.ID)
	if err != nil || n != 2 || fresh.Stream != "drive:1" || fresh.Lag != time.Minute {
		t.Errorf("summary: %d streams, freshest %+v, %v", n, fresh, err)
	}
	n, fresh, err = s.StreamHealthSummary(ctx, other.ID)
	if err != nil || n != 1 || fresh.Stream != "" {
		t.Errorf("summary of a connection whose stream stored nothing: %d %+v %v", n, fresh, err)
	}

	h := t0.Truncate(time.Hour)
	noErr(t, s.AddFeedCounts(ctx, []store.FeedCount{{ConnectionID: c.ID, Hour: h.Add(10 * time.Minute), FileID: "f1", Feed: "changes", N: 2},
		{ConnectionID: c.ID, Hour: h, FileID: "f1", Feed: "reports", N: 1}, {ConnectionID: c.ID, Hour: h.Add(-48 * time.Hour), FileID: "f0", Feed: "changes", N: 1}}))
	noErr(t, s.AddFeedCounts(ctx, []store.FeedCount{{ConnectionID: c.ID, Hour: h, FileID: "f1", Feed: "changes", N: 2}, {ConnectionID: c.ID, Hour: h.Add(time.Minute), FileID: "f1", Feed: "changes", N: 1}}))
	// more rows than one statement takes, the same key among them twice
	many := make([]store.FeedCount, 0, 501)
	for i := range 500 {
		many = append(many, store.FeedCount{ConnectionID: other.ID, Hour: h, FileID: fmt.Sprint("m", i), Feed: "audit", N: 1})
	}
	many = append(many, store.FeedCount{ConnectionID: other.ID, Hour: h, FileID: "m7", Feed: "audit", N: 1})
	noErr(t, s.AddFeedCounts(ctx, many))
	if got := ok(s.ListFeedCounts(ctx, other.ID, h, h.Add(time.Hour), 0))(t); len(got) != 500 || got[slices.IndexFunc(got, func(c store.FeedCount) bool { return c.FileID == "m7" })].N != 2 {
		t.Errorf("500 keys in one call: %d rows", len(got))
	}
	fc := ok(s.ListFeedCounts(ctx, c.ID, h, h.Add(time.Hour), 0))(t)
	want := []store.FeedCount{{ConnectionID: c.ID, Hour: h, FileID: "f1", Feed: "changes", N: 5}, {ConnectionID: c.ID, Hour: h, FileID: "f1", Feed: "reports", N: 1}}
	if !slices.EqualFunc(fc, want, func(a, b store.FeedCount) bool {
		return a.Hour.Equal(b.Hour) && a.FileID == b.FileID && a.Feed == b.Feed && a.N == b.N && a.ConnectionID == b.ConnectionID
	}) {
		t.Errorf("feed counts %+v, want %+v", fc, want)
	}
	if n := ok(s.PruneHealth(ctx, t0.Add(-time.Hour)))(t); n != 1 {
		t.Errorf("pruned %d (the feed count of two days before)", n)
	}
	if n := ok(s.PruneHealth(ctx, t0.Add(90*time.Minute)))(t); n != 504 {
		t.Errorf("pruned %d (two throttlings, the 502 counts of the first hour)", n)
	}
	noErr(t, s.RecordThrottle(ctx, store.Throttle{ConnectionID: c.ID, At: t0, Until: t0}))
	noErr(t, s.DeleteConnection(ctx, c.ID))
	if got := ok(s.ListThrottles(ctx, time.Time{}, 0))(t); len(got) != 0 {
		t.Errorf("throttles after delete: %+v", got)
	}
	if got := ok(s.ListStreamHealth(ctx, c.ID, 0))(t); len(got) != 0 {
		t.Errorf("streams after delete: %+v", got)
	}
	if got := ok(s.ListStreamHealth(ctx, other.ID, 0))(t); len(got) != 1 {
		t.Errorf("the other connection's streams after delete: %+v", got)
	}
}

// testHealthAggregates: arrivals come newest first from a time on; a rule's alerts count their
// distinct persons; people with sources are those owning an in-scope drive of a connection in a
// given status, or an active device; monitored people are those, counted once.
func testHealthAggregates(t *testing.T, s store.Store) {
	c := mkConn(t, s, "c")
	t0 := time.Now().UTC().Add(-time.Hour).Truncate(time.Microsecond)
	before := time.Now().UTC().Add(-time.Second)
	mk := func(v, who string) *event.FileEvent {
		e := Event(c.ID, v, t0)
		e.User.Email = who
		return e
	}
	ok(s.InsertEvents(ctx, []*event.FileEvent{mk("1", "Ann@x.com"), mk("2", "ann@x.com"), mk("3", "bob@x.com"), mk("4", "")}, false))(t)
	ok(s.InsertEvents(ctx, []*event.FileEvent{mk("5", "carl@x.com")}, true))(t)
	arr := ok(s.ListArrivals(ctx, c.ID, before, 0))(t)
	if len(arr) != 5 || arr[0].Before(arr[4]) || arr[4].Before(before) {
		t.Errorf("arrivals %v", arr)
	}
	if got := ok(s.ListArrivals(ctx, c.ID, before, 2))(t); len(got) != 2 {
		t.Errorf("limited arrivals %v", got)
	}
	if got := ok(s.ListArrivals(ctx, c.ID, time.Now().Add(time.Hour), 0))(t); len(got) != 0 {
		t.Errorf("arrivals after now %v", got)
	}

	for i, who := range []string{"ann", "ANN", "bob", ""} {
		ok(s.CreateAlert(ctx, store.Alert{RuleID: 7, RuleName: "r", GroupKey: who + string(rune('a'+i)), Person: who, State: store.AlertOpen, Severity: "low",
			FirstEventAt: t0, LastEventAt: t0, WindowEnd: t0, CreatedAt: t0}, nil))(t)
	}
	ok(s.CreateAlert(ctx, store.Alert{RuleID: 8, RuleName: "old", GroupKey: "dan", Person: "dan", State: store.AlertOpen, Severity: "low",
		FirstEventAt: t0, LastEventAt: t0, WindowEnd: t0, CreatedAt: t0.Add(-48 * time.Hour)}, nil))(t)
	rp := ok(s.CountAlertPeopleByRule(ctx, t0.Add(-time.Hour)))(t)
	if len(rp) != 1 || rp[0] != (store.RulePeople{RuleID: 7, Alerts: 4, People: 2}) {
		t.Errorf("rule people %+v", rp)
	}

	ok(s.UpsertDrive(ctx, store.Drive{ConnectionID: c.ID, VendorID: "d1", Kind: "user", Owner: "ann@x.com", State: store.DriveIndexed, InScope: true, DiscoveredAt: t0}))(t)
	ok(s.UpsertDrive(ctx, store.Drive{ConnectionID: c.ID, VendorID: "d2", Kind: "user", Owner: "bob@x.com", State: store.DriveIndexed, InScope: false, DiscoveredAt: t0}))(t)
	sec := ok(s.CreateDeploymentSecret(ctx, store.DeploymentSecret{Name: "s", Prefix: "p", Hash: []byte("h"), ExpiresAt: t0}))(t)
	ok(s.CreateDevice(ctx, store.Device{PublicKey: []byte("k1"), SecretID: sec.ID, Person: "carl@x.com", EnrolledAt: t0}))(t)
	dev := ok(s.CreateDevice(ctx, store.Device{PublicKey: []byte("k2"), SecretID: sec.ID, Person: "dan@x.com", EnrolledAt: t0}))(t)
	ok(s.SetDeviceActive(ctx, dev.ID, false, "admin", t0))(t)
	emails := []string{"ANN@x.com", "bob@x.com", "carl@x.com", "dan@x.com", "eve@x.com"}
	got := ok(s.PeopleWithSources(ctx, emails, []string{"searching"}))(t)
	slices.Sort(got)
	if !slices.Equal(got, []string{"ann@x.com", "carl@x.com"}) {
		t.Errorf("with sources %v, want ann (in-scope drive) and carl (active device)", got)
	}
	got = ok(s.PeopleWithSources(ctx, emails, []string{"monitoring"}))(t)
	if !slices.Equal(got, []string{"carl@x.com"}) {
		t.Errorf("with sources in monitoring connections %v, want carl only", got)
	}
	// A second drive of ann's (another case) and a device of hers count her once.
	ok(s.UpsertDrive(ctx, store.Drive{ConnectionID: c.ID, VendorID: "d3", Kind: "user", Owner: "ann@x.com", State: store.DriveIndexed, InScope: true, DiscoveredAt: t0}))(t)
	ok(s.CreateDevice(ctx, store.Device{PublicKey: []byte("k3"), SecretID: sec.ID, Person: "ann@x.com", EnrolledAt: t0}))(t)
	if n := ok(s.CountMonitoredPeople(ctx, []string{"searching"}))(t); n != 2 {
		t.Errorf("monitored people %d, want 2 (ann, carl; bob's drive is out of scope, dan's device inactive)", n)
	}
	if n := ok(s.CountMonitoredPeople(ctx, []string{"monitoring"}))(t); n != 2 {
		t.Errorf("monitored people of monitoring connections %d, want 2 (ann and carl by their devices)", n)
	}
}
