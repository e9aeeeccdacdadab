package alert

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/clock"
	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/search"
	"github.com/telltale-dev/telltale/internal/store"
	"github.com/telltale-dev/telltale/internal/store/postgres"
	"github.com/telltale-dev/telltale/internal/store/sqlite"
	"github.com/telltale-dev/telltale/internal/testutil/pgtest"
)

var ctx = context.Background()

var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

type env struct {
	t     *testing.T
	st    store.Store
	clock *clock.Fake
	v     *Evaluator
	conn  int64
	n     int
}

// openStore opens the store the tests run on: SQLite, or PostgreSQL in TestOnPostgres.
var openStore = func(t *testing.T) store.Store {
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "t.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestOnPostgres runs the evaluator's tests on PostgreSQL (skipped without one, unless
// TELLTALE_TEST_POSTGRES=require).
func TestOnPostgres(t *testing.T) {
	pgtest.DSN(t) // skips (or fails when required) without a server
	defer func(o func(t *testing.T) store.Store) { openStore = o }(openStore)
	openStore = func(t *testing.T) store.Store {
		st, err := postgres.Open(ctx, pgtest.DSN(t), postgres.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	for name, fn := range map[string]func(*testing.T){
		"ThresholdGroupsByPerson": TestThresholdGroupsByPerson, "ThresholdOutOfOrder": TestThresholdOutOfOrder,
		"ThresholdFilesAndBytes": TestThresholdFilesAndBytes, "ThresholdGroupByFields": TestThresholdGroupByFields,
		"NewTerms": TestNewTerms, "TrustedEventsNeverAlert": TestTrustedEventsNeverAlert, "CapGroupsAFlood": TestCapGroupsAFlood,
		"ExactlyOnce": TestExactlyOnce, "Backtest": TestBacktest, "Templates": TestTemplates, "ConcurrentEvaluators": TestConcurrentEvaluators,
		"WatchlistScoping": TestWatchlistScoping, "DepartingTemplate": TestDepartingTemplate, "MergedEventEvaluatedAgain": TestMergedEventEvaluatedAgain, "Uncovered": TestUncovered, "TrustRecommendations": TestTrustRecommendations,
		"BatchStateAgreesWithPerEventCalls": TestBatchStateAgreesWithPerEventCalls, "BacktestBucketsAgree": TestBacktestBucketsAgree,
		"GroupsByPersonAcrossAliases": TestGroupsByPersonAcrossAliases, "TrustedTenantSuppresses": TestTrustedTenantSuppresses,
		"HeldAcrossLeaseHandover": TestHeldAcrossLeaseHandover, "HeldRuleEdited": TestHeldRuleEdited, "HeldLimit": TestHeldLimit,
		"HeldSavesReads": TestHeldSavesReads, "LongValues": TestLongValues,
	} {
		t.Run(name, fn)
	}
}

func newEnv(t *testing.T) *env {
	t.Helper()
	st := openStore(t)
	t.Cleanup(func() { st.Close() })
	c, err := st.CreateConnection(ctx, store.Connection{Name: "box", Service: "box", ServiceType: "cloud", Status: "Monitoring", ScopeKind: "all"})
	if err != nil {
		t.Fatal(err)
	}
	fc := clock.NewFake(t0.Add(24 * time.Hour))
	e := &env{t: t, st: st, clock: fc, conn: c.ID, v: New(Options{Store: st, Clock: fc, Batch: 7})}
	if err := e.v.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) rule(name, query, kind string, p Params, sev string) store.AlertRule {
	e.t.Helper()
	b, _ := json.Marshal(p)
	r := store.AlertRule{Name: name, Query: query, Kind: kind, Params: b, Severity: sev, Enabled: true, CreatedBy: "test"}
	if _, err := Compile(r, e.clock.Now()); err != nil {
		e.t.Fatalf("rule %s: %v", name, err)
	}
	r, err := e.st.CreateAlertRule(ctx, r)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// ev makes an event by actor at t0+at; mod changes it.
func (e *env) ev(actor string, at time.Duration, action event.Action, mod ...func(*event.FileEvent)) *event.FileEvent {
	e.n++
	x := &event.FileEvent{Timestamp: t0.Add(at),
		Event: event.Meta{Action: action, Observer: event.ObserverBox, ConnectionID: e.conn, VendorIDs: []string{fmt.Sprint("v", e.n)}},
		User:  event.User{Email: actor}, File: event.File{ID: fmt.Sprint("f", e.n), Name: fmt.Sprint("file", e.n, ".xlsx"), Size: 1 << 20}}
	for _, m := range mod {
		m(x)
	}
	return x
}

func (e *env) insert(evs ...*event.FileEvent) {
	e.t.Helper()
	if _, err := e.st.InsertEvents(ctx, evs, false); err != nil {
		e.t.Fatal(err)
	}
}

// drain evaluates until caught up.
func (e *env) drain() {
	e.t.Helper()
	for range 1000 {
		n, err := e.v.RunOnce(ctx)
		if err != nil {
			e.t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
	e.t.Fatal("never caught up")
}

func (e *env) alerts(rule int64) []store.Alert {
	e.t.Helper()
	as, err := e.st.ListAlerts(ctx, store.AlertFilter{RuleID: rule, Limit: 1000})
	if err != nil {
		e.t.Fatal(err)
	}
	// oldest first reads better in tests
	for i, j := 0, len(as)-1; i < j; i, j = i+1, j-1 {
		as[i], as[j] = as[j], as[i]
	}
	return as
}

func (e *env) eventIDs(a store.Alert) []int64 {
	e.t.Helper()
	ids, err := e.st.ListAlertEventIDs(ctx, a.ID, 0, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	return ids
}

func summary(as []store.Alert) string {
	var b []string
	for _, a := range as {
		b = append(b, fmt.Sprintf("%s:%d", a.GroupKey, a.EventCount))
	}
	return strings.Join(b, " ")
}

// TestThresholdGroupsByPerson: a threshold alert is raised when a person's matching events reach
// the value within the window, holding them all; further events of that person within the
// window join it (one alert per person per rule per window); another person's events count apart;
// after the window a new alert needs the threshold again.
func TestThresholdGroupsByPerson(t *testing.T) {
	e := newEnv(t)
	r := e.rule("downloads", "action:downloaded", Threshold, Params{Value: 3, Window: "1h"}, "high")
	e.insert(e.ev("alice@corp.example", 0, event.ActionDownloaded), e.ev("alice@corp.example", 5*time.Minute, event.ActionDownloaded),
		e.ev("bob@corp.example", 6*time.Minute, event.ActionDownloaded), e.ev("alice@corp.example", 7*time.Minute, event.ActionModified))
	e.drain()
	if as := e.alerts(r.ID); len(as) != 0 {
		t.Fatalf("below the threshold: %s", summary(as))
	}
	e.insert(e.ev("alice@corp.example", 10*time.Minute, event.ActionDownloaded))
	e.drain()
	as := e.alerts(r.ID)
	if len(as) != 1 || as[0].GroupKey != "alice@corp.example" || as[0].Person != "alice@corp.example" || as[0].EventCount != 3 ||
		as[0].Severity != "high" || !as[0].FirstEventAt.Equal(t0) || !as[0].WindowEnd.Equal(t0.Add(time.Hour)) {
		t.Fatalf("at the threshold: %+v", as)
	}
	// Within the window: gathered into the same alert, whatever their number.
	e.insert(e.ev("alice@corp.example", 20*time.Minute, event.ActionDownloaded), e.ev("alice@corp.example", 59*time.Minute, event.ActionDownloaded),
		e.ev("bob@corp.example", 30*time.Minute, event.ActionDownloaded))
	e.drain()
	as = e.alerts(r.ID)
	if len(as) != 1 || as[0].EventCount != 5 || !as[0].LastEventAt.Equal(t0.Add(59*time.Minute)) {
		t.Fatalf("gathered: %s", summary(as))
	}
	// After the window: two more are not enough (the old ones left the window), three are.
	e.insert(e.ev("alice@corp.example", 2*time.Hour, event.ActionDownloaded), e.ev("alice@corp.example", 2*time.Hour+time.Minute, event.ActionDownloaded))
	e.drain()
	if as := e.alerts(r.ID); len(as) != 1 {
		t.Fatalf("after the window, below the threshold: %s", summary(as))
	}
	e.insert(e.ev("alice@corp.example", 2*time.Hour+2*time.Minute, event.ActionDownloaded))
	e.drain()
	as = e.alerts(r.ID)
	if len(as) != 2 || as[1].EventCount != 3 || !as[1].FirstEventAt.Equal(t0.Add(2*time.Hour)) {
		t.Fatalf("second window: %s", summary(as))
	}
	h, err := e.st.ListAlertChanges(ctx, as[0].ID)
	if err != nil || len(h) != 1 || h[0].Field != "raised" || !strings.Contains(h[0].Note, "3 events within 1h0m0s") {
		t.Errorf("history %+v %v", h, err)
	}
}

// TestThresholdSlidingWindow: events spread wider than the window never add up.
func TestThresholdSlidingWindow(t *testing.T) {
	e := newEnv(t)
	r := e.rule("downloads", "", Threshold, Params{Value: 3, Window: "1h"}, "low")
	for i := range 6 {
		e.insert(e.ev("alice@corp.example", time.Duration(i)*31*time.Minute, event.ActionDownloaded))
	}
	e.drain()
	if as := e.alerts(r.ID); len(as) != 0 {
		t.Fatalf("2 per hour at most, threshold 3: %s", summary(as))
	}
	e.insert(e.ev("alice@corp.example", 5*31*time.Minute+time.Minute, event.ActionDownloaded))
	e.drain()
	if as := e.alerts(r.ID); len(as) != 1 || as[0].EventCount != 3 {
		t.Fatalf("three within the hour: %s", summary(as))
	}
}

// TestThresholdFilesAndBytes: distinct files count a file once; bytes add sizes.
func TestThresholdFilesAndBytes(t *testing.T) {
	e := newEnv(t)
	files := e.rule("files", "", Threshold, Params{Measure: MeasureFiles, Value: 3}, "moderate")
	bytes := e.rule("bytes", "", Threshold, Params{Measure: MeasureBytes, Value: 100 << 20}, "high")
	same := func(x *event.FileEvent) { x.File.ID, x.File.Size = "same", 40<<20 }
	e.insert(e.ev("alice@corp.example", 0, event.ActionDownloaded, same), e.ev("alice@corp.example", time.Minute, event.ActionDownloaded, same),
		e.ev("alice@corp.example", 2*time.Minute, event.ActionDownloaded))
	e.drain()
	if as := e.alerts(files.ID); len(as) != 0 {
		t.Fatalf("two distinct files of three events: %s", summary(as))
	}
	if as := e.alerts(bytes.ID); len(as) != 0 {
		t.Fatalf("81 MiB: %s", summary(as))
	}
	e.insert(e.ev("alice@corp.example", 3*time.Minute, event.ActionDownloaded, func(x *event.FileEvent) { x.File.Size = 20 << 20 }))
	e.drain()
	if as := e.alerts(files.ID); len(as) != 1 || as[0].EventCount != 4 {
		t.Fatalf("three distinct files: %s", summary(as))
	}
	if as := e.alerts(bytes.ID); len(as) != 1 || as[0].EventCount != 4 || !strings.Contains(as[0].Summary, "105906176 bytes") {
		t.Fatalf("101 MiB: %+v", as)
	}
}

// TestThresholdGroupByFields: grouped by actor and destination domain, an event to two domains
// counts in both groups.
func TestThresholdGroupByFields(t *testing.T) {
	e := newEnv(t)
	r := e.rule("external", "action:shared", Threshold, Params{Value: 2, GroupBy: []string{"user", "destination_domain"}}, "moderate")
	to := func(addrs ...string) func(*event.FileEvent) {
		return func(x *event.FileEvent) { x.Sharing.SharedWith = addrs }
	}
	e.insert(e.ev("alice@corp.example", 0, event.ActionShared, to("x@gmail.com", "y@partner.example")),
		e.ev("alice@corp.example", time.Minute, event.ActionShared, to("z@GMAIL.com")),
		e.ev("bob@corp.example", time.Minute, event.ActionShared, to("x@gmail.com")))
	e.drain()
	as := e.alerts(r.ID)
	if len(as) != 1 || as[0].GroupKey != "alice@corp.example | gmail.com" || as[0].Person != "alice@corp.example" || as[0].EventCount != 2 {
		t.Fatalf("alerts %s", summary(as))
	}
}

// TestNewTerms: a combination not seen within the history raises an alert; seen again it does
// not; another new one within the window joins the person's alert; after the history it is new
// again. Terms already in the stored history before the rule was evaluated are not new.
func TestNewTerms(t *testing.T) {
	e := newEnv(t)
	to := func(addr string) func(*event.FileEvent) {
		return func(x *event.FileEvent) { x.Email.Recipients = []string{addr} }
	}
	// History from before the rule: alice already mails partner.example.
	e.insert(e.ev("alice@corp.example", -48*time.Hour, event.ActionEmailed, to("a@partner.example")))
	e.drain()
	r := e.rule("first destination", "action:emailed", NewTerms, Params{Fields: []string{"actor", "domain"}, HistoryDays: 30}, "moderate")
	e.insert(e.ev("alice@corp.example", 0, event.ActionEmailed, to("b@partner.example")))
	e.drain()
	if as := e.alerts(r.ID); len(as) != 0 {
		t.Fatalf("a domain of the stored history: %s", summary(as))
	}
	e.insert(e.ev("alice@corp.example", time.Hour, event.ActionEmailed, to("me@gmail.com")),
		e.ev("alice@corp.example", 2*time.Hour, event.ActionEmailed, to("me@gmail.com")),
		e.ev("bob@corp.example", 2*time.Hour, event.ActionEmailed, to("a@partner.example")),
		e.ev("alice@corp.example", 3*time.Hour, event.ActionEmailed, to("x@proton.me")))
	e.drain()
	as := e.alerts(r.ID)
	if len(as) != 2 || summary(as) != "alice@corp.example:2 bob@corp.example:1" {
		t.Fatalf("new terms: %s %+v", summary(as), as)
	}
	// The summary names the person once, then what is new for them (the demo showed "alice: first
	// alice | gmail.com (actor | domain)").
	if want := "alice@corp.example: first gmail.com (domain) in 30 days"; as[0].Summary != want {
		t.Errorf("summary %q, want %q", as[0].Summary, want)
	}
	// 40 days later gmail.com is new again for alice (history 30 days): a new alert (the window of
	// the first one is long over).
	e.insert(e.ev("alice@corp.example", 40*24*time.Hour, event.ActionEmailed, to("me@gmail.com")))
	e.drain()
	if as := e.alerts(r.ID); len(as) != 3 || as[2].GroupKey != "alice@corp.example" {
		t.Fatalf("after the history: %s", summary(as))
	}
}

// TestLongValues: rules grouped by, or looking for new, values far longer than a vendor writes (a
// directory of kilobytes from an endpoint's deep path) raise their alerts like any other.
// PostgreSQL refuses an index entry over about 2.7 kB: a group key or term that long failed the
// batch, and evaluation stopped behind it.
func TestLongValues(t *testing.T) {
	e := newEnv(t)
	// Letters that do not compress: PostgreSQL compresses a long index entry before it measures it.
	noise := func(n int, x uint32) string {
		b := make([]byte, n)
		for i := range b {
			x ^= x << 13
			x ^= x >> 17
			x ^= x << 5
			b[i] = "abcdefghijklmnopqrstuvwxyz0123456789"[x%36]
		}
		return string(b)
	}
	deep := "/" + noise(3990, 7)
	long := noise(3000, 11) + ".xlsx"
	th := e.rule("deep", "action:modified", Threshold, Params{Value: 2, GroupBy: []string{"directory", "actor"}}, "moderate")
	nt := e.rule("first name", "action:modified", NewTerms, Params{Fields: []string{"actor", "name"}, HistoryDays: 30}, "moderate")
	in := func(x *event.FileEvent) { x.File.Directory, x.File.Name = deep, long }
	e.insert(e.ev("alice@corp.example", time.Minute, event.ActionModified, in), e.ev("alice@corp.example", 2*time.Minute, event.ActionModified, in))
	e.drain()
	as := e.alerts(th.ID)
	if len(as) != 1 || as[0].Person != "alice@corp.example" || as[0].EventCount != 2 || len(as[0].GroupKey) > 2*event.MaxKeyBytes {
		t.Fatalf("threshold alerts %d: %.80s", len(as), summary(as))
	}
	if !strings.HasSuffix(as[0].GroupKey, " | alice@corp.example") {
		t.Errorf("group key ends %q", as[0].GroupKey[len(as[0].GroupKey)-40:])
	}
	if as := e.alerts(nt.ID); len(as) != 1 || as[0].Person != "alice@corp.example" {
		t.Fatalf("new-terms alerts %d: %.80s", len(as), summary(as))
	}
}

// TestTrustedEventsNeverAlert: an event covered by trust raises nothing and counts toward nothing.
func TestTrustedEventsNeverAlert(t *testing.T) {
	e := newEnv(t)
	th := e.rule("any share", "action:shared", Threshold, Params{Value: 1}, "high")
	nt := e.rule("new domain", "action:shared", NewTerms, Params{Fields: []string{"domain"}, HistoryDays: 7}, "high")
	trusted := func(x *event.FileEvent) {
		x.Risk.Trusted, x.Risk.TrustReason = true, "partner.example"
		x.Sharing.SharedWith = []string{"a@partner.example"}
	}
	e.insert(e.ev("alice@corp.example", 0, event.ActionShared, trusted), e.ev("alice@corp.example", time.Minute, event.ActionShared, trusted))
	e.drain()
	if as := append(e.alerts(th.ID), e.alerts(nt.ID)...); len(as) != 0 {
		t.Fatalf("trusted events raised %s", summary(as))
	}
	e.insert(e.ev("alice@corp.example", 2*time.Minute, event.ActionShared, func(x *event.FileEvent) { x.Sharing.SharedWith = []string{"a@partner.example"} }))
	e.drain()
	if a, b := e.alerts(th.ID), e.alerts(nt.ID); len(a) != 1 || a[0].EventCount != 1 || len(b) != 1 {
		t.Fatalf("the same share untrusted: %s / %s", summary(a), summary(b))
	}
}

// TestCapGroupsAFlood: a rule matching everything raises at most its cap of alerts per hour, one
// per person, gathering each person's events, and says so in a warning.
func TestCapGroupsAFlood(t *testing.T) {
	e := newEnv(t)
	r := e.rule("everything", "", Threshold, Params{Value: 1, MaxAlertsPerHour: 3}, "low")
	var evs []*event.FileEvent
	for i := range 200 {
		evs = append(evs, e.ev(fmt.Sprintf("p%d@corp.example", i%10), time.Duration(i)*time.Second, event.ActionModified))
	}
	e.insert(evs...)
	e.drain()
	as := e.alerts(r.ID)
	if len(as) != 3 {
		t.Fatalf("%d alerts, want the cap of 3: %s", len(as), summary(as))
	}
	for _, a := range as {
		if a.EventCount != 20 {
			t.Errorf("alert %s holds %d events, want each of the person's 20", a.GroupKey, a.EventCount)
		}
	}
	if r, g, s := e.v.alerts.Value("raised"), e.v.alerts.Value("gathered"), e.v.alerts.Value("suppressed"); r != 3 || g != 57 || s != 140 || e.v.latency.Count() != 200 {
		t.Errorf("metrics: raised %d, gathered %d, suppressed %d, delays %d", r, g, s, e.v.latency.Count())
	}
	got, err := e.st.GetAlertRule(ctx, r.ID)
	if err != nil || !strings.Contains(got.Warning, "cap of 3 alerts per hour") || got.Suppressed != 7*20 {
		t.Errorf("rule warning %q, suppressed %d (%v)", got.Warning, got.Suppressed, err)
	}
	// An hour later (evaluation time), the rule raises again.
	e.clock.Advance(time.Hour + time.Second)
	e.insert(e.ev("p9@corp.example", 10*time.Hour, event.ActionModified))
	e.drain()
	if as := e.alerts(r.ID); len(as) != 4 {
		t.Errorf("after the hour: %d alerts", len(as))
	}
}

// TestExactlyOnce: a batch that fails after evaluating (a crash before the commit) leaves no alert,
// no event of an alert, no pending match and no position behind, and the run after it raises each
// alert once; a run that lost the race to another (its position is stale) writes nothing.
func TestExactlyOnce(t *testing.T) {
	e := newEnv(t)
	th := e.rule("downloads", "", Threshold, Params{Value: 2}, "high")
	nt := e.rule("new file", "", NewTerms, Params{Fields: []string{"file_id"}, HistoryDays: 1}, "low")
	for i := range 10 {
		e.insert(e.ev(fmt.Sprintf("p%d@corp.example", i%3), time.Duration(i)*time.Minute, event.ActionDownloaded))
	}
	crash := errors.New("killed before commit")
	failing := New(Options{Store: e.st, Clock: e.clock, Batch: 4, Hook: func(q store.Queries) error { return crash }})
	if _, err := failing.RunOnce(ctx); !errors.Is(err, crash) {
		t.Fatalf("failing run: %v", err)
	}
	if pos, _ := e.st.GetAlertPosition(ctx); pos != 0 {
		t.Fatalf("position %d after a failed batch", pos)
	}
	if as := append(e.alerts(th.ID), e.alerts(nt.ID)...); len(as) != 0 {
		t.Fatalf("a failed batch left %s", summary(as))
	}
	if ms, _ := e.st.ListAlertMatches(ctx, th.ID, "p0@corp.example", time.Time{}); len(ms) != 0 {
		t.Fatalf("a failed batch left matches %+v", ms)
	}
	// A stale run: it read position 0 after another run moved it.
	e.drain()
	want := summary(e.alerts(th.ID)) + " / " + summary(e.alerts(nt.ID))
	if want != "p0@corp.example:4 p1@corp.example:3 p2@corp.example:3 / p0@corp.example:4 p1@corp.example:3 p2@corp.example:3" {
		t.Fatalf("after the rerun: %s", want)
	}
	// A rule made since would raise alerts on those events if the stale run evaluated them.
	late := e.rule("late", "", Threshold, Params{Value: 1}, "low")
	stale := New(Options{Store: staleStore{e.st}, Clock: e.clock})
	if n, err := stale.RunOnce(ctx); err != nil || n == 0 {
		t.Fatalf("stale run: %d %v", n, err)
	}
	if as := e.alerts(late.ID); len(as) != 0 {
		t.Fatalf("a stale run evaluated events again: %s", summary(as))
	}
	if got := summary(e.alerts(th.ID)) + " / " + summary(e.alerts(nt.ID)); got != want {
		t.Fatalf("a stale run changed the alerts: %s, want %s", got, want)
	}
}

type staleStore struct{ store.Store }

func (staleStore) GetAlertPosition(context.Context) (int64, error) { return 0, nil }

// TestRulesRefused: a query that does not parse is refused with the parser's message, position
// and suggestion; bad parameters name the field.
func TestRulesRefused(t *testing.T) {
	now := t0
	_, err := Compile(store.AlertRule{Name: "x", Query: "action:shared actr:bob", Kind: Threshold, Params: []byte(`{"value":1}`), Severity: "high"}, now)
	var se *search.Error
	if !errors.As(err, &se) || se.Pos != 14 || se.Suggest != "actor" || !IsRuleError(err) {
		t.Fatalf("syntax error: %#v", err)
	}
	for _, c := range []struct{ kind, params, sev, field string }{
		{Threshold, `{"value":0}`, "high", "params.value"},
		{Threshold, `{"value":1,"measure":"pages"}`, "high", "params.measure"},
		{Threshold, `{"value":1,"window":"10s"}`, "high", "params.window"},
		{Threshold, `{"value":1,"window":"8d"}`, "high", "params.window"},
		{Threshold, `{"value":1,"group_by":["actor","domain","action","category"]}`, "high", "params.group_by"},
		{Threshold, `{"value":1,"group_by":["size"]}`, "high", "params.group_by"},
		{Threshold, `{"value":1,"max_alerts_per_hour":-1}`, "high", "params.max_alerts_per_hour"},
		{Threshold, `{"value":1,"fields":["actor"]}`, "high", "params"},
		{Threshold, `{"value":1,"bogus":1}`, "high", "params"},
		{Threshold, `{"value":1}`, "none", "severity"},
		{Threshold, `{"value":1}`, "urgent", "severity"},
		{NewTerms, `{"fields":["actor"],"history_days":0}`, "low", "params.history_days"},
		{NewTerms, `{"fields":["actor"],"history_days":366}`, "low", "params.history_days"},
		{NewTerms, `{"history_days":3}`, "low", "params.fields"},
		{NewTerms, `{"fields":["actor"],"history_days":3,"value":2}`, "low", "params"},
		{"sessions", `{}`, "low", "kind"},
	} {
		_, err := Compile(store.AlertRule{Name: "x", Kind: c.kind, Params: []byte(c.params), Severity: c.sev}, now)
		var re *Error
		if !errors.As(err, &re) || re.Field != c.field {
			t.Errorf("%s %s %s: %v, want an error about %s", c.kind, c.params, c.sev, err, c.field)
		}
	}
	if _, err := Compile(store.AlertRule{Name: " ", Kind: Threshold, Params: []byte(`{"value":1}`), Severity: "low"}, now); err == nil {
		t.Error("a rule without a name compiled")
	}
}

// TestFirstStartSkipsStoredEvents: the evaluator's first start begins after the newest stored
// event, so a node upgraded with a long history raises no old alerts; events after it count.
func TestFirstStartSkipsStoredEvents(t *testing.T) {
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "t.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c, err := st.CreateConnection(ctx, store.Connection{Name: "box", Service: "box", ServiceType: "cloud", Status: "Monitoring", ScopeKind: "all"})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, st: st, clock: clock.NewFake(t0), conn: c.ID}
	e.v = New(Options{Store: st, Clock: e.clock})
	r := e.rule("any", "", Threshold, Params{Value: 1}, "low")
	e.insert(e.ev("old@corp.example", 0, event.ActionDownloaded), e.ev("old@corp.example", time.Minute, event.ActionDownloaded))
	e.drain()
	e.insert(e.ev("new@corp.example", 2*time.Minute, event.ActionDownloaded))
	e.drain()
	if got := summary(e.alerts(r.ID)); got != "new@corp.example:1" {
		t.Fatalf("alerts %s, want only the event after the first start", got)
	}
}

// TestThresholdOutOfOrder: events stored in another order than observed (a late vendor feed)
// still add up within their window, and never beyond it.
func TestThresholdOutOfOrder(t *testing.T) {
	e := newEnv(t)
	r := e.rule("downloads", "", Threshold, Params{Value: 3, Window: "1h"}, "low")
	e.insert(e.ev("alice@corp.example", 50*time.Minute, event.ActionDownloaded), e.ev("alice@corp.example", 2*time.Hour, event.ActionDownloaded))
	e.insert(e.ev("alice@corp.example", 0, event.ActionDownloaded))
	e.drain()
	if as := e.alerts(r.ID); len(as) != 0 {
		t.Fatalf("three events over two hours: %s", summary(as))
	}
	e.insert(e.ev("alice@corp.example", 30*time.Minute, event.ActionDownloaded))
	e.drain()
	as := e.alerts(r.ID)
	if len(as) != 1 || as[0].EventCount != 3 || !as[0].FirstEventAt.Equal(t0) || !as[0].LastEventAt.Equal(t0.Add(50*time.Minute)) {
		t.Fatalf("0, 30 and 50 minutes, stored last first: %+v", as)
	}
}

// TestConcurrentEvaluators: evaluators running at once on one database (nodes whose leases
// overlapped) still give every event exactly one alert: the position's compare-and-set lets one
// batch through and rolls the others back.
func TestConcurrentEvaluators(t *testing.T) {
	e := newEnv(t)
	r := e.rule("every file", "", Threshold, Params{Value: 1, GroupBy: []string{"file_id"}, MaxAlertsPerHour: MaxCap}, "low")
	const total = 300
	done := make(chan error, 4)
	for w := range 4 {
		v := New(Options{Store: e.st, Clock: e.clock, Batch: 10 + w})
		go func() {
			idle := 0
			for idle < 20 {
				n, err := v.RunOnce(ctx)
				if err != nil {
					done <- err
					return
				}
				if n == 0 {
					idle++
					time.Sleep(5 * time.Millisecond)
				}
			}
			done <- nil
		}()
	}
	for i := range total / 10 {
		var evs []*event.FileEvent
		for range 10 {
			evs = append(evs, e.ev(fmt.Sprint("p", i%5, "@corp.example"), time.Duration(i)*time.Second, event.ActionModified))
		}
		e.insert(evs...)
	}
	for range 4 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	e.drain()
	per := map[int64]int{}
	as := e.alerts(r.ID)
	for _, a := range as {
		for _, id := range e.eventIDs(a) {
			per[id]++
		}
	}
	if len(as) != total || len(per) != total {
		t.Fatalf("%d alerts over %d events, want %d each", len(as), len(per), total)
	}
	for id, n := range per {
		if n != 1 {
			t.Errorf("event %d in %d alerts", id, n)
		}
	}
}

// TestMergedEventEvaluatedAgain: an event stored from one feed without its actor (a Drive change)
// and enriched later by the other feed's report (ingest merge, store.UpdateEvent) is evaluated
// again as it is now: an alert it raised learns its person, a rule that matches only the enriched
// event raises, its pending threshold matches move to the person's group, and nothing is counted
// or raised twice however often the evaluator runs.
func TestMergedEventEvaluatedAgain(t *testing.T) {
	e := newEnv(t)
	any := e.rule("every share", "action:shared", Threshold, Params{Value: 1, Window: "1h"}, "low")
	carol := e.rule("carol shares", "action:shared AND actor:carol@corp.example", Threshold, Params{Value: 1, Window: "1h"}, "high")
	three := e.rule("three downloads", "action:downloaded", Threshold, Params{Value: 3, Window: "1h"}, "moderate")
	shared := e.ev("", 0, event.ActionShared)
	d1, d2 := e.ev("", time.Minute, event.ActionDownloaded), e.ev("", 2*time.Minute, event.ActionDownloaded)
	e.insert(shared, d1, d2)
	e.drain()
	if as := e.alerts(any.ID); len(as) != 1 || as[0].Person != "" {
		t.Fatalf("before the merge: %s", summary(as))
	}
	if as := e.alerts(carol.ID); len(as) != 0 {
		t.Fatalf("before the merge, carol's rule: %s", summary(as))
	}
	// An event stored after the evaluator's position and updated before it gets there is
	// evaluated once, as it is then.
	later := e.ev("", 3*time.Minute, event.ActionShared)
	e.insert(later)
	for _, x := range []*event.FileEvent{shared, d1, d2, later} {
		x.User.Email = "carol@corp.example"
		if err := e.st.UpdateEvent(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	e.drain()
	e.drain()
	as := e.alerts(any.ID)
	if len(as) != 2 || as[0].Person != "carol@corp.example" || as[0].EventCount != 1 || as[1].EventCount != 1 {
		t.Fatalf("after the merge, the first alert names carol and the later event has its own: %s", summary(as))
	}
	h, err := e.st.ListAlertChanges(ctx, as[0].ID)
	if err != nil || len(h) != 2 || h[1].Field != "person" || h[1].To != "carol@corp.example" || !strings.Contains(h[1].Note, "second feed") {
		t.Errorf("history %+v %v", h, err)
	}
	// The share evaluated again raises carol's alert; the later share, in its window, joins it.
	if as := e.alerts(carol.ID); len(as) != 1 || as[0].EventCount != 2 {
		t.Fatalf("carol's rule after the merge: %s", summary(as))
	}
	// The two downloads now count for carol: a third one of hers reaches the threshold.
	if as := e.alerts(three.ID); len(as) != 0 {
		t.Fatalf("two downloads: %s", summary(as))
	}
	// And they no longer count for nobody: one more download without an actor is one, not three.
	e.insert(e.ev("carol@corp.example", 4*time.Minute, event.ActionDownloaded), e.ev("", 5*time.Minute, event.ActionDownloaded))
	e.drain()
	if as := e.alerts(three.ID); len(as) != 1 || as[0].Person != "carol@corp.example" || as[0].EventCount != 3 {
		t.Fatalf("three downloads by carol: %s", summary(as))
	}
	// Updated again (the same fields): evaluated again, nothing new.
	if err := e.st.UpdateEvent(ctx, shared); err != nil {
		t.Fatal(err)
	}
	e.drain()
	if n := len(e.alerts(any.ID)) + len(e.alerts(carol.ID)) + len(e.alerts(three.ID)); n != 4 {
		t.Errorf("after a second update: %d alerts, want 4", n)
	}
	if as := e.alerts(carol.ID); len(as) != 1 || as[0].EventCount != 2 {
		t.Errorf("after a second update, carol's rule: %s", summary(as))
	}
}

// TestRuleActorMeansThePerson (R8.3): a rule on actor:one address matches the person's events
// under every address (their aliases), as a search of the same query finds them; its backtest
// agrees; another person is not counted; an alias added later applies when the rules are next
// compiled (within a minute). (The rules group by action here: TestGroupsByPersonAcrossAliases
// groups by the person.)
func TestRuleActorMeansThePerson(t *testing.T) {
	e := newEnv(t)
	if err := e.st.AddPersonAlias(ctx, "alice@corp.example", "asmith@corp.onmicrosoft.example", "admin"); err != nil {
		t.Fatal(err)
	}
	r := e.rule("alice downloads", "actor:alice@corp.example action:downloaded", Threshold, Params{Value: 3, Window: "1h", GroupBy: []string{"action"}}, "high")
	e.insert(e.ev("alice@corp.example", 0, event.ActionDownloaded), e.ev("ASmith@corp.onmicrosoft.example", time.Minute, event.ActionDownloaded),
		e.ev("bob@corp.example", 2*time.Minute, event.ActionDownloaded), e.ev("asmith@corp.onmicrosoft.example", 3*time.Minute, event.ActionDownloaded))
	e.drain()
	as := e.alerts(r.ID)
	if len(as) != 1 || as[0].EventCount != 3 {
		t.Fatalf("alerts %s, want one of alice's 3 downloads under both addresses", summary(as))
	}
	res, err := Backtest(ctx, e.st, r, 2, t0.Add(24*time.Hour), 0)
	if err != nil || res.Alerts != 1 || res.Events != 3 {
		t.Fatalf("backtest %+v %v, want the same alert of 3 events", res, err)
	}
	// bob's second address, added now, counts from the next minute's compile on.
	if err := e.st.AddPersonAlias(ctx, "bob@corp.example", "robert@corp.example", "admin"); err != nil {
		t.Fatal(err)
	}
	rb := e.rule("bob downloads", "actor:bob@corp.example action:downloaded", Threshold, Params{Value: 2, Window: "1h", GroupBy: []string{"action"}}, "high")
	e.clock.Advance(time.Minute)
	e.insert(e.ev("robert@corp.example", 4*time.Minute, event.ActionDownloaded), e.ev("bob@corp.example", 5*time.Minute, event.ActionDownloaded))
	e.drain()
	if as := e.alerts(rb.ID); len(as) != 1 || as[0].EventCount != 2 {
		t.Fatalf("bob's alerts %s, want one of 2 under both addresses", summary(as))
	}
}

// TestGroupsByPersonAcrossAliases (R8.3): a rule grouped by person counts the person's events
// under every address (Box login, Google address, Microsoft UPN): two addresses' events that only
// together reach the threshold raise one alert for the person, live, in both backtests, and a
// new_terms rule on the person learns its history (the seed) and raises under the person too; an
// alias added later applies from the next minute.
func TestGroupsByPersonAcrossAliases(t *testing.T) {
	e := newEnv(t)
	if err := e.st.AddPersonAlias(ctx, "alice@corp.example", "asmith@corp.onmicrosoft.example", "admin"); err != nil {
		t.Fatal(err)
	}
	mail := func(to string) func(*event.FileEvent) {
		return func(x *event.FileEvent) { x.Email.Recipients = []string{to} }
	}
	// History: alice mailed gmail.com from her Microsoft address before the rules existed.
	e.insert(e.ev("asmith@corp.onmicrosoft.example", -5*24*time.Hour, event.ActionEmailed, mail("me@gmail.com")))
	e.drain()
	r := e.rule("downloads", "action:downloaded", Threshold, Params{Value: 4, Window: "1h"}, "high")
	nt := e.rule("first domain", "action:emailed", NewTerms, Params{Fields: []string{"actor", "domain"}, HistoryDays: 30}, "low")
	e.insert(e.ev("alice@corp.example", 0, event.ActionDownloaded), e.ev("ASmith@corp.onmicrosoft.example", time.Minute, event.ActionDownloaded),
		e.ev("alice@corp.example", 2*time.Minute, event.ActionDownloaded), e.ev("asmith@corp.onmicrosoft.example", 3*time.Minute, event.ActionDownloaded),
		e.ev("bob@corp.example", 4*time.Minute, event.ActionDownloaded),
		e.ev("asmith@corp.onmicrosoft.example", 5*time.Minute, event.ActionEmailed, mail("me2@gmail.com")),     // alice's domain already
		e.ev("asmith@corp.onmicrosoft.example", 6*time.Minute, event.ActionEmailed, mail("x@dropbox.example"))) // new for alice
	e.drain()
	as := e.alerts(r.ID)
	if len(as) != 1 || as[0].GroupKey != "alice@corp.example" || as[0].Person != "alice@corp.example" || as[0].EventCount != 4 {
		t.Fatalf("threshold alerts %s, want one of alice's 4 downloads under both addresses", summary(as))
	}
	if as := e.alerts(nt.ID); len(as) != 1 || as[0].Person != "alice@corp.example" || as[0].EventCount != 1 || as[0].Summary != "alice@corp.example: first dropbox.example (domain) in 30 days" {
		t.Fatalf("new terms alerts %+v, want one for alice's first dropbox.example (gmail.com is known from her other address)", as)
	}
	for _, byEvents := range []bool{false, true} {
		res, _, err := backtest(ctx, e.st, r, 2, t0.Add(24*time.Hour), 0, byEvents)
		if err != nil || res.Alerts != 1 || len(res.People) != 1 || res.People[0].Person != "alice@corp.example" || res.People[0].Events != 4 {
			t.Fatalf("backtest (by events %v): %+v %v, want alice's one alert of 4", byEvents, res, err)
		}
	}
	if res, err := Backtest(ctx, e.st, nt, 2, t0.Add(24*time.Hour), 0); err != nil || res.Alerts != 1 || res.People[0].Person != "alice@corp.example" {
		t.Fatalf("new terms backtest: %+v %v", res, err)
	}
	// bob's Microsoft address, added now, is bob from the next minute on.
	if err := e.st.AddPersonAlias(ctx, "bob@corp.example", "rsmith@corp.onmicrosoft.example", "admin"); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Minute)
	e.insert(e.ev("rsmith@corp.onmicrosoft.example", 7*time.Minute, event.ActionDownloaded), e.ev("rsmith@corp.onmicrosoft.example", 8*time.Minute, event.ActionDownloaded),
		e.ev("bob@corp.example", 9*time.Minute, event.ActionDownloaded))
	e.drain()
	if as := e.alerts(r.ID); len(as) != 2 || as[1].Person != "bob@corp.example" || as[1].EventCount != 4 {
		t.Fatalf("alerts %s, want bob's 4 downloads under both addresses", summary(as))
	}
}

// TestAlertPersonAcrossAliases: an alert that learns its person from its events (a second feed
// named the actor later) names the person when its events name them under different addresses,
// and nobody when they name two people.
func TestAlertPersonAcrossAliases(t *testing.T) {
	e := newEnv(t)
	if err := e.st.AddPersonAlias(ctx, "alice@corp.example", "asmith@corp.onmicrosoft.example", "admin"); err != nil {
		t.Fatal(err)
	}
	a1, a2, b := e.ev("alice@corp.example", 0, event.ActionDownloaded), e.ev("ASmith@corp.onmicrosoft.example", time.Minute, event.ActionDownloaded),
		e.ev("bob@corp.example", 2*time.Minute, event.ActionDownloaded)
	e.insert(a1, a2, b)
	r := e.rule("downloads", "action:downloaded", Threshold, Params{Value: 1}, "high")
	for _, tc := range []struct {
		ids  []int64
		want string
	}{{[]int64{a1.Event.ID, a2.Event.ID}, "alice@corp.example"}, {[]int64{a2.Event.ID, b.Event.ID}, ""}} {
		a, err := e.st.CreateAlert(ctx, store.Alert{RuleID: r.ID, RuleName: r.Name, GroupKey: "g", State: store.AlertOpen, Severity: "high",
			FirstEventAt: t0, LastEventAt: t0, WindowEnd: t0.Add(time.Hour), CreatedAt: t0}, tc.ids)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := alertPerson(ctx, e.st, a.ID); err != nil || got != tc.want {
			t.Errorf("events %v: person %q (%v), want %q", tc.ids, got, err, tc.want)
		}
	}
}

// TestSummaryNamesMissingValues: an alert's summary shows a value the event lacks (the actor of a
// share reported without who shared) as not named, not as an empty string.
func TestSummaryNamesMissingValues(t *testing.T) {
	for in, want := range map[string]string{
		"":                       notNamed,
		"ann@corp.example":       "ann@corp.example",
		" | gmail.com":           notNamed + " | gmail.com",
		"ann@corp.example | ":    "ann@corp.example | " + notNamed,
		"a@corp.example | x.com": "a@corp.example | x.com",
	} {
		if got := shown(in); got != want {
			t.Errorf("shown(%q) = %q, want %q", in, got, want)
		}
	}
	if got := shownAll([]string{" | gmail.com", "b | c"}); got != notNamed+" | gmail.com, b | c" {
		t.Errorf("shownAll = %q", got)
	}
}

// TestMeasureWords: an alert's summary counts in words that agree with the number ("1 event",
// "2 files", "1 byte"), whatever the rule measures.
func TestMeasureWords(t *testing.T) {
	for _, c := range []struct {
		m    string
		n    int64
		want string
	}{{MeasureCount, 1, "1 event"}, {MeasureCount, 0, "0 events"}, {MeasureCount, 3, "3 events"},
		{MeasureFiles, 1, "1 file"}, {MeasureFiles, 2, "2 files"}, {MeasureBytes, 1, "1 byte"}, {MeasureBytes, 4096, "4096 bytes"}} {
		if got := measure(c.m, c.n); got != c.want {
			t.Errorf("measure(%q, %d) = %q, want %q", c.m, c.n, got, c.want)
		}
	}
}
