package hr_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/clock"
	bamboo "github.com/telltale-dev/telltale/internal/emulator/bamboohr"
	"github.com/telltale-dev/telltale/internal/emulator/workday"
	"github.com/telltale-dev/telltale/internal/hr"
	"github.com/telltale-dev/telltale/internal/httpx"
	"github.com/telltale-dev/telltale/internal/integration"
	"github.com/telltale-dev/telltale/internal/metrics"
	"github.com/telltale-dev/telltale/internal/scope"
	"github.com/telltale-dev/telltale/internal/secret"
	"github.com/telltale-dev/telltale/internal/store"
	"github.com/telltale-dev/telltale/internal/store/postgres"
	"github.com/telltale-dev/telltale/internal/store/sqlite"
	"github.com/telltale-dev/telltale/internal/testutil/pgtest"
)

var (
	ctx = context.Background()
	t0  = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
)

var openStore = func(t *testing.T) store.Store {
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "t.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestOnPostgres runs the HR tests on PostgreSQL (skipped without one, unless
// TELLTALE_TEST_POSTGRES=require).
func TestOnPostgres(t *testing.T) {
	pgtest.DSN(t)
	defer func(o func(t *testing.T) store.Store) { openStore = o }(openStore)
	openStore = func(t *testing.T) store.Store {
		st, err := postgres.Open(ctx, pgtest.DSN(t), postgres.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	for name, fn := range map[string]func(*testing.T){"Workday": TestWorkday, "BambooHR": TestBambooHR, "CSV": TestCSV, "Webhook": TestGenericWebhook,
		"PollDue": TestPollDue, "DepartureFlowToOkta": TestDepartureFlowToOkta} {
		t.Run(name, fn)
	}
}

type env struct {
	t     *testing.T
	st    store.Store
	clock *clock.Fake
	integ *integration.Service
	hr    *hr.Service
	reg   *metrics.Registry
	dep   int64
}

func newEnv(t *testing.T) *env {
	t.Helper()
	st := openStore(t)
	t.Cleanup(func() { st.Close() })
	kr, err := secret.LoadKeyring(secret.KeyConfig{Key: base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 32)))})
	if err != nil {
		t.Fatal(err)
	}
	fc := clock.NewFake(t0)
	integ := integration.New(integration.Options{Store: st, Keyring: kr, Clock: fc, Guard: &httpx.Guard{AllowLoopback: true}})
	reg := metrics.New()
	e := &env{t: t, st: st, clock: fc, integ: integ, reg: reg, hr: hr.New(hr.Options{Integrations: integ, Clock: fc, Metrics: reg})}
	ws, err := st.ListWatchlists(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e.dep = ws[0].ID
	return e
}

func (e *env) source(in integration.Input) store.Integration {
	e.t.Helper()
	v, err := e.integ.Create(ctx, in, "ann")
	if err != nil {
		e.t.Fatal(err)
	}
	return v.Integration
}

// members returns the Departing employees list as "email=date" joined by spaces.
func (e *env) members() string {
	e.t.Helper()
	ms, err := e.st.ListWatchlistMembers(ctx, e.dep, "", 0)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, m := range ms {
		out = append(out, m.Email+"="+m.DepartureDate)
	}
	return strings.Join(out, " ")
}

func (e *env) history(email string) string {
	e.t.Helper()
	h, err := e.st.ListPersonChanges(ctx, email, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, c := range h {
		out = append(out, c.Action+":"+c.DepartureDate+":"+c.Source)
	}
	return strings.Join(out, " ")
}

func (e *env) audits(email string) int {
	e.t.Helper()
	as, err := e.st.ListAudit(ctx, store.AuditFilter{Target: "person/" + email})
	if err != nil {
		e.t.Fatal(err)
	}
	return len(as)
}

func (e *env) condition(id int64) (string, string) {
	e.t.Helper()
	i, err := e.st.GetIntegration(ctx, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return integration.Condition(i), i.LastError
}

// TestWorkday: the report is asked for with the rolling window's prompts and basic auth; its rows
// put people on the Departing employees list with their dates (audited, in their history); a
// second sync changes nothing; a changed date updates; a rescinded termination (the row gone)
// removes only members the source added; bad credentials, an unshared report, a throttle and a
// garbage answer are each shown on the source as what to do, and change nothing.
func TestWorkday(t *testing.T) {
	e := newEnv(t)
	emu := workday.New("acme", "ISU_Telltale", "Departures", "isu_telltale", "pw-0123456789")
	srv := httptest.NewServer(emu)
	defer srv.Close()
	emu.Put(workday.Worker{ID: "21001", Email: "Dana@Corp.Example", TerminationDate: "2026-12-31"})
	emu.Put(workday.Worker{ID: "21002", Email: "eli@corp.example", TerminationDate: "2026-11-20"})
	emu.Put(workday.Worker{ID: "21003", Email: "old@corp.example", TerminationDate: "2024-01-31"}) // outside the window
	emu.Put(workday.Worker{ID: "21004", TerminationDate: "2026-12-15"})                            // no email: skipped
	src := e.source(integration.Input{Kind: integration.KindWorkday, Name: "Workday", Settings: integration.Settings{URL: srv.URL + emu.Path(), Username: "isu_telltale"},
		Secrets: &integration.Secrets{Password: "pw-0123456789"}})
	// Someone put on the list by hand, whom Workday does not list, stays.
	if _, err := e.st.PutWatchlistMembers(ctx, e.dep, []store.WatchlistMember{{Email: "hand@corp.example", DepartureDate: "2026-12-20", AddedBy: "ann"}}); err != nil {
		t.Fatal(err)
	}
	if err := e.hr.Verify(ctx, src, e.secrets(src)); err != nil {
		t.Fatalf("verify: %v", err)
	}
	res, err := e.hr.Sync(ctx, src.ID)
	if err != nil {
		t.Fatal(err)
	}
	if res.Added != 2 || res.Skipped != 1 || e.members() != "dana@corp.example=2026-12-31 eli@corp.example=2026-11-20 hand@corp.example=2026-12-20" {
		t.Fatalf("first sync %+v, members %s", res, e.members())
	}
	if q := emu.LastQuery; q.Get("Termination_Date_On_or_After") != "2026-11-01-00:00" || q.Get("Termination_Date_On_or_Before") != "2027-12-01-00:00" {
		t.Errorf("prompts %v", q)
	}
	if h := e.history("dana@corp.example"); h != "added:2026-12-31:Workday" || e.audits("dana@corp.example") != 1 {
		t.Errorf("history %q, audits %d", h, e.audits("dana@corp.example"))
	}
	if st, _ := e.st.GetHRSync(ctx, src.ID); !st.LastOKAt.Equal(t0) || !strings.Contains(st.Summary, "2 added") {
		t.Errorf("sync state %+v", st)
	}
	if res, _ := e.hr.Sync(ctx, src.ID); res.Added+res.Updated+res.Removed != 0 || res.Unchanged != 2 {
		t.Errorf("second sync %+v", res)
	}
	emu.Put(workday.Worker{ID: "21001", Email: "dana@corp.example", TerminationDate: "2027-01-15"})
	emu.Remove("21002")
	res, err = e.hr.Sync(ctx, src.ID)
	if err != nil || res.Updated != 1 || res.Removed != 1 || e.members() != "dana@corp.example=2027-01-15 hand@corp.example=2026-12-20" {
		t.Fatalf("after a date change and a rescinded termination: %+v %v, members %s", res, err, e.members())
	}
	if h := e.history("eli@corp.example"); h != "removed:2026-11-20:Workday added:2026-11-20:Workday" {
		t.Errorf("eli's history %q", h)
	}

	before := e.members()
	for _, c := range []struct {
		name      string
		break_    func()
		condition string
		msg       string
	}{
		{"bad password", func() { e.setSecret(src, integration.Secrets{Password: "wrong"}) }, integration.ConditionCredentialsRefused, "refused the credentials (401"},
		{"unshared", func() { e.setSecret(src, integration.Secrets{Password: "pw-0123456789"}); emu.SetShared(false) }, integration.ConditionCredentialsRefused, "share the report with the integration system user"},
		{"throttled", func() { emu.SetShared(true); emu.Inject(workday.Fault{Status: 429, RetryAfter: 30 * time.Second}) }, integration.ConditionRateLimited, "rate limiting"},
		{"garbage", func() { e.clock.Advance(time.Minute); emu.Inject(workday.Fault{Garbage: true}) }, integration.ConditionFailing, "not a RaaS JSON report"},
	} {
		c.break_()
		_, err := e.hr.Sync(ctx, src.ID)
		cond, msg := e.condition(src.ID)
		if err == nil || cond != c.condition || !strings.Contains(msg, c.msg) || e.members() != before {
			t.Errorf("%s: err %v, condition %s, error %q, members %s", c.name, err, cond, msg, e.members())
		}
	}
	if err := e.hr.Verify(ctx, src, e.secrets(src)); err != nil {
		t.Errorf("verify after the faults: %v", err)
	}
	if _, err := e.hr.Sync(ctx, src.ID); err != nil {
		t.Fatal(err)
	}
	if cond, msg := e.condition(src.ID); cond != integration.ConditionOK || msg != "" {
		t.Errorf("a good sync clears the error: %s %q", cond, msg)
	}
}

func (e *env) secrets(i store.Integration) integration.Secrets {
	e.t.Helper()
	i, err := e.st.GetIntegration(ctx, i.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	sec, err := e.integ.Secrets(i)
	if err != nil {
		e.t.Fatal(err)
	}
	return sec
}

func (e *env) setSecret(i store.Integration, sec integration.Secrets) {
	e.t.Helper()
	v, err := e.integ.Get(ctx, i.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.integ.Update(ctx, i.ID, v.Version, integration.Input{Settings: v.Config, Secrets: &sec}); err != nil {
		e.t.Fatal(err)
	}
}

// TestBambooHR: employees changed since the cursor are fetched; an announced or recent termination
// puts them on the list, a withdrawn one or a deleted employee takes them off; the cursor moves
// with BambooHR's latest; the signed webhook applies changes from its posted fields; unsigned,
// forged and stale webhooks are refused, counted and change nothing; a bad key and a throttle are
// shown on the source.
func TestBambooHR(t *testing.T) {
	e := newEnv(t)
	emu := bamboo.New("acme", "bamboo-key-0123456789")
	emu.Now = e.clock.Now
	srv := httptest.NewServer(emu)
	defer srv.Close()
	const key = "bamboo-private-key-0123456789"
	src := e.source(integration.Input{Kind: integration.KindBambooHR, Name: "BambooHR", Settings: integration.Settings{Company: "acme", APIBase: srv.URL},
		Secrets: &integration.Secrets{Token: "bamboo-key-0123456789", SigningSecret: key}})
	e.clock.Advance(time.Minute)
	emu.Put(bamboo.Employee{ID: "4", WorkEmail: "fay@corp.example", Status: "Active", TerminationDate: "2027-01-10"})
	emu.Put(bamboo.Employee{ID: "5", WorkEmail: "gus@corp.example", Status: "Inactive", TerminationDate: "2026-11-28"})
	emu.Put(bamboo.Employee{ID: "6", WorkEmail: "hal@corp.example", Status: "Active"})
	emu.Put(bamboo.Employee{ID: "7", WorkEmail: "ivy@corp.example", Status: "Inactive", TerminationDate: "2023-05-01"}) // left long ago
	e.clock.Advance(time.Minute)
	res, err := e.hr.Sync(ctx, src.ID)
	if err != nil || res.Added != 2 || e.members() != "fay@corp.example=2027-01-10 gus@corp.example=2026-11-28" {
		t.Fatalf("first sync %+v %v, members %s", res, err, e.members())
	}
	st, _ := e.st.GetHRSync(ctx, src.ID)
	if st.Cursor != "2026-12-01T09:01:00+00:00" {
		t.Errorf("cursor %q, want BambooHR's latest", st.Cursor)
	}
	e.clock.Advance(time.Minute)
	emu.Put(bamboo.Employee{ID: "4", WorkEmail: "fay@corp.example", Status: "Active"}) // the resignation was withdrawn
	emu.Delete("5")
	res, err = e.hr.Sync(ctx, src.ID)
	if err != nil || res.Removed != 2 || e.members() != "" {
		t.Fatalf("withdrawn and deleted: %+v %v, members %q", res, err, e.members())
	}
	if h := e.history("gus@corp.example"); h != "removed:2026-11-28:BambooHR added:2026-11-28:BambooHR" {
		t.Errorf("gus's history %q", h)
	}

	// The webhook, signed with the private key, posting the fields.
	body := bamboo.WebhookBody(e.clock.Now(), bamboo.Employee{ID: "6", WorkEmail: "hal@corp.example", Status: "Active", TerminationDate: "2027-02-01"})
	now := itoa(e.clock.Now().Unix())
	res, err = e.hr.BambooWebhook(ctx, src.ID, now, bamboo.Sign(key, now, body), body)
	if err != nil || res.Added != 1 || e.members() != "hal@corp.example=2027-02-01" {
		t.Fatalf("webhook: %+v %v, members %s", res, err, e.members())
	}
	old := itoa(e.clock.Now().Add(-10 * time.Minute).Unix())
	for _, c := range []struct{ name, ts, sig, reason string }{
		{"unsigned", "", "", "unsigned"},
		{"forged", now, bamboo.Sign("another-key-0123456789", now, body), "bad_signature"},
		{"stale", old, bamboo.Sign(key, old, body), "stale"},
		{"not json", now, bamboo.Sign(key, now, []byte("{")), "malformed"},
	} {
		b := body
		if c.reason == "malformed" {
			b = []byte("{")
		}
		_, err := e.hr.BambooWebhook(ctx, src.ID, c.ts, c.sig, b)
		r, ok := hr.IsRefusal(err)
		if !ok || r.Reason != c.reason {
			t.Errorf("%s: %v, want a refusal %s", c.name, err, c.reason)
		}
		if n := e.refused("bamboohr", c.reason); n != 1 {
			t.Errorf("%s: counted %d", c.name, n)
		}
	}
	if e.members() != "hal@corp.example=2027-02-01" {
		t.Errorf("refused webhooks changed the list: %s", e.members())
	}

	// Bad key, throttling.
	e.setSecret(src, integration.Secrets{Token: "wrong-key"})
	if _, err := e.hr.Sync(ctx, src.ID); err == nil {
		t.Error("a bad key synced")
	}
	if cond, msg := e.condition(src.ID); cond != integration.ConditionCredentialsRefused || !strings.Contains(msg, "API key") {
		t.Errorf("bad key: %s %q", cond, msg)
	}
	if err := e.hr.Verify(ctx, src, e.secrets(src)); err == nil {
		t.Error("verify with a bad key passed")
	}
	e.setSecret(src, integration.Secrets{Token: "bamboo-key-0123456789"})
	emu.Inject(bamboo.Fault{Status: 503, RetryAfter: time.Minute})
	if _, err := e.hr.Sync(ctx, src.ID); err == nil {
		t.Error("a throttled sync succeeded")
	}
	if cond, msg := e.condition(src.ID); cond != integration.ConditionRateLimited || !strings.Contains(msg, "rate limiting") {
		t.Errorf("throttled: %s %q", cond, msg)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func (e *env) refused(kind, reason string) int64 {
	return e.reg.Counter("telltale_hr_webhook_refused_total", "", "kind", "reason").Value(kind, reason)
}

// TestCSV: an upload applies its rows (add with a date, remove explicitly, whoever added the
// member); a file with bad rows is refused naming each row's line and changes nothing (R2.9); a
// byte-order mark, CRLF and headers in another case are accepted.
func TestCSV(t *testing.T) {
	e := newEnv(t)
	src := e.source(integration.Input{Kind: integration.KindHRCSV, Name: "HR export"})
	if _, err := e.st.PutWatchlistMembers(ctx, e.dep, []store.WatchlistMember{{Email: "hand@corp.example", AddedBy: "ann"}}); err != nil {
		t.Fatal(err)
	}
	bad := "Email,Departure Date,Action\nkim@corp.example,2026-12-31,\nlee@corp.example,31/12/2026,add\nnn@corp.example,,\nmo@corp.example,,delete\n"
	_, err := e.hr.Upload(ctx, src.ID, strings.NewReader(bad), "ann")
	var se *scope.Error
	if !errors.As(err, &se) || len(se.Rows) != 2 || se.Rows[0].Row != 3 || se.Rows[1].Row != 5 || !strings.Contains(se.Error(), "nothing was changed") ||
		!strings.Contains(se.Error(), "departure date: is not a date") || !strings.Contains(se.Error(), `action: must be "add"`) {
		t.Fatalf("bad file: %v", err)
	}
	_, err = e.hr.Upload(ctx, src.ID, strings.NewReader("Email\nkim@corp.example\nnot-an-address\n"), "ann")
	if !errors.As(err, &se) || len(se.Rows) != 1 || se.Rows[0].Row != 3 {
		t.Fatalf("a bad address: %v", err)
	}
	if e.members() != "hand@corp.example=" {
		t.Fatalf("a bad file changed the list: %s", e.members())
	}
	good := "\ufeffemail , DEPARTURE DATE,action\r\nkim@corp.example,2026-12-31,\r\n\"lee@corp.example\",2027-01-02,add\r\nhand@corp.example,,remove\r\n"
	res, err := e.hr.Upload(ctx, src.ID, strings.NewReader(good), "ann")
	if err != nil || res.Added != 2 || res.Removed != 1 || e.members() != "kim@corp.example=2026-12-31 lee@corp.example=2027-01-02" {
		t.Fatalf("good file: %+v %v, members %s", res, err, e.members())
	}
	if h, _ := e.st.ListPersonChanges(ctx, "hand@corp.example", 0); len(h) != 1 || h[0].Actor != "ann" || h[0].Source != "HR export" {
		t.Errorf("hand's history %+v", h)
	}
	// A large file (the list is read once): 300 people, then again with 100 dates changed and kim removed.
	var big, again strings.Builder
	big.WriteString("Email,Departure Date\n")
	again.WriteString("Email,Departure Date,Action\nkim@corp.example,,remove\n")
	for i := range 300 {
		fmt.Fprintf(&big, "p%03d@corp.example,2027-03-01\n", i)
		d := "2027-03-01"
		if i < 100 {
			d = "2027-04-01"
		}
		fmt.Fprintf(&again, "p%03d@corp.example,%s\n", i, d)
	}
	if res, err := e.hr.Upload(ctx, src.ID, strings.NewReader(big.String()), "ann"); err != nil || res.Added != 300 {
		t.Fatalf("300 rows: %+v %v", res, err)
	}
	res, err = e.hr.Upload(ctx, src.ID, strings.NewReader(again.String()), "ann")
	if err != nil || res.Updated != 100 || res.Unchanged != 200 || res.Removed != 1 || res.Added != 0 {
		t.Fatalf("300 rows again: %+v %v", res, err)
	}
	if m := e.members(); strings.Count(m, "=2027-04-01") != 100 || strings.Contains(m, "kim@") || !strings.Contains(m, "lee@corp.example=2027-01-02") {
		t.Errorf("members after the large files: %d chars", len(m))
	}
}

// TestGenericWebhook: the docs' test vector verifies; a signed body applies all its changes; an
// unsigned, forged or stale request, or a body with one bad change, is refused, counted and
// changes nothing.
func TestGenericWebhook(t *testing.T) {
	e := newEnv(t)
	const secret = "hrsec-docs-example-0123456789"
	src := e.source(integration.Input{Kind: integration.KindHRWebhook, Name: "People system", Secrets: &integration.Secrets{SigningSecret: secret}})
	body := []byte(`{"changes":[{"email":"Nia@Corp.Example","action":"add","departure_date":"2026-12-31","employee_id":"E1"},{"email":"oz@corp.example"}]}`)
	sign := func(t time.Time, b []byte) string { return integration.Sign(secret, t, b) }
	res, err := e.hr.Webhook(ctx, src.ID, sign(e.clock.Now(), body), body)
	if err != nil || res.Added != 2 || e.members() != "nia@corp.example=2026-12-31 oz@corp.example=" {
		t.Fatalf("signed: %+v %v, members %s", res, err, e.members())
	}
	bad := []byte(`{"changes":[{"email":"pat@corp.example"},{"email":"quin@corp.example","departure_date":"next week"}]}`)
	for _, c := range []struct {
		name, header, reason string
		body                 []byte
	}{
		{"unsigned", "", "unsigned", body},
		{"forged", integration.Sign("another-secret-0123456789", e.clock.Now(), body), "bad_signature", body},
		{"stale", sign(e.clock.Now().Add(-time.Hour), body), "stale", body},
		{"one bad change", sign(e.clock.Now(), bad), "malformed", bad},
	} {
		_, err := e.hr.Webhook(ctx, src.ID, c.header, c.body)
		r, ok := hr.IsRefusal(err)
		if !ok || r.Reason != c.reason || e.refused("hr_webhook", c.reason) != 1 {
			t.Errorf("%s: %v, counted %d", c.name, err, e.refused("hr_webhook", c.reason))
		}
		if c.reason == "malformed" && !strings.Contains(err.Error(), "changes[1].departure_date") {
			t.Errorf("malformed: %v does not name the change", err)
		}
	}
	if e.members() != "nia@corp.example=2026-12-31 oz@corp.example=" {
		t.Errorf("refused requests changed the list: %s", e.members())
	}
	if _, err := e.hr.Webhook(ctx, 999, sign(e.clock.Now(), body), body); err == nil || e.refused("hr_webhook", "unknown_source") != 1 {
		t.Errorf("unknown source: %v", err)
	}
}

// TestDocTestVector: the signature example in docs/OPERATIONS.md.
func TestDocTestVector(t *testing.T) {
	const want = "t=1796115600,v1=9d64e2b5c3b42b979697aa6cbeda916acd4e3489b7bd3dcd0ef5d3262ab77fc0"
	body := []byte(`{"changes":[{"email":"dana@corp.example","action":"add","departure_date":"2026-12-31"}]}`)
	if got := integration.Sign("hrsec-docs-example-0123456789", time.Unix(1796115600, 0), body); got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	if !integration.Verify("hrsec-docs-example-0123456789", want, body, time.Unix(1796115600, 0), hr.Tolerance) {
		t.Fatal("the documented header does not verify")
	}
}

// TestPollDue: the poller syncs each connected Workday and BambooHR source when its last sync is
// an interval old (the first time at once), skips disconnected, CSV and webhook sources, and
// says when to look again; a source's failure does not stop the others.
func TestPollDue(t *testing.T) {
	e := newEnv(t)
	e.hr = hr.New(hr.Options{Integrations: e.integ, Clock: e.clock, Metrics: e.reg, Interval: 10 * time.Minute})
	emu := workday.New("acme", "ISU", "Departures", "isu", "pw-0123456789")
	srv := httptest.NewServer(emu)
	defer srv.Close()
	emu.Put(workday.Worker{ID: "1", Email: "dana@corp.example", TerminationDate: "2026-12-31"})
	bad := e.source(integration.Input{Kind: integration.KindWorkday, Name: "wrong password", Settings: integration.Settings{URL: srv.URL + emu.Path(), Username: "isu"},
		Secrets: &integration.Secrets{Password: "wrong"}})
	good := e.source(integration.Input{Kind: integration.KindWorkday, Name: "Workday", Settings: integration.Settings{URL: srv.URL + emu.Path(), Username: "isu"},
		Secrets: &integration.Secrets{Password: "pw-0123456789"}})
	off := e.source(integration.Input{Kind: integration.KindWorkday, Name: "off", Settings: integration.Settings{URL: srv.URL + emu.Path(), Username: "isu"},
		Secrets: &integration.Secrets{Password: "pw-0123456789"}})
	if _, err := e.integ.SetStatus(ctx, off.ID, false, nil); err != nil {
		t.Fatal(err)
	}
	e.source(integration.Input{Kind: integration.KindHRCSV, Name: "csv"})
	next, err := e.hr.PollDue(ctx)
	if err != nil || emu.Calls() != 1 || e.members() != "dana@corp.example=2026-12-31" {
		t.Fatalf("first poll: %v, report calls %d, members %s", err, emu.Calls(), e.members())
	}
	if !next.After(e.clock.Now()) || next.After(e.clock.Now().Add(time.Minute)) {
		t.Errorf("next %v", next)
	}
	if cond, _ := e.condition(bad.ID); cond != integration.ConditionCredentialsRefused {
		t.Errorf("the failing source's condition %s", cond)
	}
	if st, _ := e.st.GetHRSync(ctx, off.ID); !st.LastSyncAt.IsZero() {
		t.Errorf("a disconnected source was synced: %+v", st)
	}
	e.clock.Advance(5 * time.Minute)
	if _, err := e.hr.PollDue(ctx); err != nil || emu.Calls() != 1 {
		t.Errorf("polled again before the interval: %v, calls %d", err, emu.Calls())
	}
	e.clock.Advance(6 * time.Minute)
	if _, err := e.hr.PollDue(ctx); err != nil || emu.Calls() != 2 {
		t.Errorf("not polled after the interval: %v, calls %d", err, emu.Calls())
	}
	if st, _ := e.st.GetHRSync(ctx, good.ID); !st.LastSyncAt.Equal(e.clock.Now()) {
		t.Errorf("last sync %v", st.LastSyncAt)
	}
}

// TestNoteRefusal: a source keeps its newest refusals; a flood records at most 20 a minute per
// source (the rest are only counted); a request naming no source is not recorded.
func TestNoteRefusal(t *testing.T) {
	e := newEnv(t)
	src := e.source(integration.Input{Kind: integration.KindHRWebhook, Name: "People", Secrets: &integration.Secrets{SigningSecret: "hr-webhook-secret-0123456789"}})
	for i := range 25 {
		if err := e.hr.NoteRefusal(ctx, src.ID, &hr.Refusal{Reason: "bad_signature", Msg: "the signature does not match"}, "192.0.2."+itoa(int64(i))); err != nil {
			t.Fatal(err)
		}
	}
	rs, err := e.st.ListHRRefusals(ctx, src.ID, 0)
	if err != nil || len(rs) != 20 || rs[0].RemoteAddr != "192.0.2.19" || rs[19].RemoteAddr != "192.0.2.0" {
		t.Fatalf("after a flood of 25: %d %+v %v", len(rs), rs, err)
	}
	e.clock.Advance(time.Minute)
	if err := e.hr.NoteRefusal(ctx, src.ID, &hr.Refusal{Reason: "stale", Msg: strings.Repeat("x", 500)}, "198.51.100.1"); err != nil {
		t.Fatal(err)
	}
	if rs, _ := e.st.ListHRRefusals(ctx, src.ID, 0); len(rs) != 20 || rs[0].Reason != "stale" || len([]rune(rs[0].Detail)) > 201 || rs[19].RemoteAddr != "192.0.2.1" {
		t.Errorf("a minute later: %+v", rs[0])
	}
	if err := e.hr.NoteRefusal(ctx, 999, &hr.Refusal{Reason: "unknown_source"}, "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	if rs, _ := e.st.ListHRRefusals(ctx, 999, 0); len(rs) != 0 {
		t.Errorf("a request naming no source was recorded: %+v", rs)
	}
}
