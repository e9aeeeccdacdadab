package integration_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/alert"
	"github.com/telltale-dev/telltale/internal/clock"
	"github.com/telltale-dev/telltale/internal/emulator/webhook"
	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/httpx"
	"github.com/telltale-dev/telltale/internal/integration"
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

const signing = "whsec-0123456789abcdef"

var openStore = func(t *testing.T) store.Store {
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "t.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestOnPostgres runs the delivery tests on PostgreSQL (skipped without one, unless
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
	for name, fn := range map[string]func(*testing.T){
		"AlertToWebhook": TestAlertToWebhook, "FailedBatchLeavesNoDelivery": TestFailedBatchLeavesNoDelivery,
		"RetriesHonourRetryAfter": TestRetriesHonourRetryAfter, "GarbageFailsForGoodThenReplay": TestGarbageFailsForGoodThenReplay,
		"Slack": TestSlack, "ServiceNow": TestServiceNow, "Jira": TestJira, "Okta": TestOkta,
	} {
		t.Run(name, fn)
	}
}

type env struct {
	t     *testing.T
	st    store.Store
	clock *clock.Fake
	svc   *integration.Service
	send  *integration.Sender
	eval  *alert.Evaluator
	conn  int64
	n     int
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
	svc := integration.New(integration.Options{Store: st, Keyring: kr, Clock: fc, Guard: &httpx.Guard{AllowLoopback: true}})
	send := integration.NewSender(integration.SenderOptions{Service: svc, Clock: fc, MaxAttempts: 3, Backoff: func(n int) time.Duration { return time.Duration(n) * time.Minute }})
	c, err := st.CreateConnection(ctx, store.Connection{Name: "box", Service: "box", ServiceType: "cloud", Status: "Monitoring", ScopeKind: "all"})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, st: st, clock: fc, svc: svc, send: send, conn: c.ID}
	e.eval = alert.New(alert.Options{Store: st, Clock: fc, Raised: svc.Raised, Grown: svc.Grown})
	if err := e.eval.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) rule(name, query, sev string) store.AlertRule {
	e.t.Helper()
	b, _ := json.Marshal(alert.Params{Value: 1, Window: "1h", GroupBy: []string{"file.name"}})
	r, err := e.st.CreateAlertRule(ctx, store.AlertRule{Name: name, Query: query, Kind: alert.Threshold, Params: b, Severity: sev, Enabled: true})
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// raise stores an event of action by actor and evaluates it.
func (e *env) raise(actor string, action event.Action) {
	e.t.Helper()
	e.raiseFile(actor, action, fmt.Sprint("plan", e.n+1, ".xlsx"))
}

// raiseFile stores an event of action by actor on the file named and evaluates it (rules group by
// file name: an event on the file of an open alert joins it).
func (e *env) raiseFile(actor string, action event.Action, file string) {
	e.t.Helper()
	e.n++
	ev := &event.FileEvent{Timestamp: t0.Add(time.Duration(e.n) * time.Second),
		Event: event.Meta{Action: action, Observer: event.ObserverBox, ConnectionID: e.conn, VendorIDs: []string{fmt.Sprint("v", e.n)}},
		User:  event.User{Email: actor}, File: event.File{ID: fmt.Sprint("f", e.n), Name: file, Size: 1 << 20},
		Sharing: event.Sharing{SharedWith: []string{"rival@other.example"}}}
	if _, err := e.st.InsertEvents(ctx, []*event.FileEvent{ev}, false); err != nil {
		e.t.Fatal(err)
	}
	for {
		n, err := e.eval.RunOnce(ctx)
		if err != nil {
			e.t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
}

func (e *env) webhook(url string) store.Integration {
	e.t.Helper()
	v, err := e.svc.Create(ctx, integration.Input{Kind: integration.KindWebhook, Name: "hook", Settings: integration.Settings{URL: url},
		Secrets: &integration.Secrets{SigningSecret: signing}}, "ann")
	if err != nil {
		e.t.Fatal(err)
	}
	return v.Integration
}

func (e *env) flow(f integration.FlowInput) {
	e.t.Helper()
	f.Enabled = true
	if f.Name == "" {
		f.Name = "flow"
	}
	if _, err := e.svc.CreateFlow(ctx, f, "ann"); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) deliveries(integ int64) []store.OutboxItem {
	e.t.Helper()
	l, err := e.st.ListDeliveries(ctx, store.DeliveryFilter{IntegrationID: integ})
	if err != nil {
		e.t.Fatal(err)
	}
	return l
}

func (e *env) sendDue() int {
	e.t.Helper()
	n, err := e.send.RunOnce(ctx, "node")
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// TestAlertToWebhook: an alert raised by a rule a flow selects is delivered once, signed, with its
// idempotency key and its events; an alert the flow's filter refuses is not delivered; secrets are
// sealed at rest and never shown.
func TestAlertToWebhook(t *testing.T) {
	e := newEnv(t)
	rx := webhook.New(signing)
	rx.Now = e.clock.Now
	srv := httptest.NewServer(rx)
	defer srv.Close()
	hook := e.webhook(srv.URL + "/hook")
	if strings.Contains(string(hook.Secrets), signing) {
		t.Fatal("the signing secret is stored in clear")
	}
	if v, _ := e.svc.Get(ctx, hook.ID); v.Secrets != nil || strings.Join(v.SecretsSet, ",") != "signing_secret" {
		t.Errorf("view shows %+v", v)
	}
	high := e.rule("shared outside", "action:file-shared", "high")
	e.rule("downloads", "action:file-downloaded", "low")
	e.flow(integration.FlowInput{MinSeverity: "high", Query: `user.email:"alice@corp.example"`, IntegrationIDs: []int64{hook.ID}})

	e.raise("alice@corp.example", event.ActionShared)     // high, alice: delivered
	e.raise("alice@corp.example", event.ActionDownloaded) // low: filtered by severity
	e.raise("bob@corp.example", event.ActionShared)       // high but bob: filtered by query
	ds := e.deliveries(hook.ID)
	if len(ds) != 1 || ds[0].State != store.OutboxPending || ds[0].Topic != integration.TopicAlertRaised {
		t.Fatalf("deliveries %+v", ds)
	}
	alerts, _ := e.st.ListAlerts(ctx, store.AlertFilter{RuleID: high.ID})
	key := integration.Key(alerts[len(alerts)-1].ID, hook.ID, integration.TopicAlertRaised)
	if ds[0].IdempotencyKey != key {
		t.Errorf("key %q, want %q", ds[0].IdempotencyKey, key)
	}
	if e.sendDue() != 1 {
		t.Fatal("nothing sent")
	}
	got := rx.Keys()
	if len(got) != 1 || got[key] != 1 || rx.Refused() != 0 {
		t.Fatalf("received %v (refused %d)", got, rx.Refused())
	}
	p, _ := rx.Payload(key)
	if p.Alert.Severity != "high" || p.Alert.Person != "alice@corp.example" || len(p.Events) != 1 || p.Events[0].Destinations[0] != "rival@other.example" {
		t.Errorf("payload %+v", p)
	}
	d, _ := e.st.GetOutbox(ctx, ds[0].ID)
	if d.State != store.OutboxDone || !strings.Contains(d.Response, "200 OK") || !strings.Contains(d.Response, "received") {
		t.Errorf("after sending %+v", d)
	}
	if e.sendDue() != 0 {
		t.Error("a sent delivery was claimed again")
	}
	// A disconnected integration gets no deliveries.
	if _, err := e.svc.SetStatus(ctx, hook.ID, false, nil); err != nil {
		t.Fatal(err)
	}
	e.raise("alice@corp.example", event.ActionShared)
	if len(e.deliveries(hook.ID)) != 1 {
		t.Error("a disconnected integration got a delivery")
	}
}

// TestFlowQueryMeansThePerson (R8.3): a flow's actor: term selects the person under every address,
// as a search does: an alert raised on the person's Microsoft UPN, an alias, is delivered by a
// flow that names their primary address; another person's alert is not.
func TestFlowQueryMeansThePerson(t *testing.T) {
	e := newEnv(t)
	hook := e.webhook("http://127.0.0.1:1/hook")
	e.rule("shared outside", "action:file-shared", "high")
	e.flow(integration.FlowInput{Query: `actor:"alice@corp.example"`, IntegrationIDs: []int64{hook.ID}})
	if err := e.st.AddPersonAlias(ctx, "alice@corp.example", "asmith@corp.onmicrosoft.example", "ann"); err != nil {
		t.Fatal(err)
	}
	e.raise("ASmith@corp.onmicrosoft.example", event.ActionShared)
	e.raise("bob@corp.example", event.ActionShared)
	ds := e.deliveries(hook.ID)
	if len(ds) != 1 {
		t.Fatalf("%d deliveries, want 1 (alice's, raised under her alias)", len(ds))
	}
	// The alert names the person (rules group by the person, issue 16), the event its address.
	if p := strings.ToLower(string(ds[0].Payload)); !strings.Contains(p, `"person":"alice@corp.example"`) || !strings.Contains(p, `"actor":"asmith@corp.onmicrosoft.example"`) {
		t.Errorf("delivered %s", ds[0].Payload)
	}
}

// TestFailedBatchLeavesNoDelivery: when the evaluator's transaction fails after the hook wrote the
// deliveries, neither the alert nor its delivery remain; the next run writes both, once.
func TestFailedBatchLeavesNoDelivery(t *testing.T) {
	e := newEnv(t)
	hook := e.webhook("http://127.0.0.1:1/hook")
	e.rule("shared", "action:file-shared", "high")
	e.flow(integration.FlowInput{IntegrationIDs: []int64{hook.ID}})
	fail := true
	e.eval = alert.New(alert.Options{Store: e.st, Clock: e.clock, Raised: e.svc.Raised, Hook: func(store.Queries) error {
		if fail {
			return fmt.Errorf("crash before commit")
		}
		return nil
	}})
	e.n++
	ev := &event.FileEvent{Timestamp: t0, Event: event.Meta{Action: event.ActionShared, Observer: event.ObserverBox, ConnectionID: e.conn, VendorIDs: []string{"x"}},
		User: event.User{Email: "a@corp.example"}, File: event.File{ID: "f", Name: "f.txt"}}
	if _, err := e.st.InsertEvents(ctx, []*event.FileEvent{ev}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := e.eval.RunOnce(ctx); err == nil {
		t.Fatal("the failing batch committed")
	}
	if a, _ := e.st.ListAlerts(ctx, store.AlertFilter{}); len(a) != 0 || len(e.deliveries(hook.ID)) != 0 {
		t.Fatalf("a failed batch left %d alerts and %d deliveries", len(a), len(e.deliveries(hook.ID)))
	}
	fail = false
	for range 3 {
		if _, err := e.eval.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if a, _ := e.st.ListAlerts(ctx, store.AlertFilter{}); len(a) != 1 || len(e.deliveries(hook.ID)) != 1 {
		t.Fatalf("after the retry: %d alerts, %d deliveries", len(a), len(e.deliveries(hook.ID)))
	}
}

// TestRetriesHonourRetryAfter: a 503 is retried after the backoff, a 429 not before its
// Retry-After; then the delivery arrives once.
func TestRetriesHonourRetryAfter(t *testing.T) {
	e := newEnv(t)
	rx := webhook.New(signing)
	rx.Now = e.clock.Now
	srv := httptest.NewServer(rx)
	defer srv.Close()
	hook := e.webhook(srv.URL)
	it, err := e.svc.Test(ctx, hook.ID, "ann")
	if err != nil {
		t.Fatal(err)
	}
	rx.Fail(webhook.Fault{Status: 503}, webhook.Fault{Status: 429, RetryAfter: 7 * time.Minute})
	e.sendDue()
	d, _ := e.st.GetOutbox(ctx, it.ID)
	if d.State != store.OutboxPending || d.Attempts != 1 || !d.NextRunAt.Equal(t0.Add(time.Minute)) || !strings.Contains(d.LastError, "503") {
		t.Fatalf("after a 503: %+v", d)
	}
	if e.sendDue() != 0 {
		t.Fatal("retried before its backoff")
	}
	e.clock.Advance(time.Minute)
	e.sendDue()
	d, _ = e.st.GetOutbox(ctx, it.ID)
	if d.State != store.OutboxPending || d.NextRunAt.Before(e.clock.Now().Add(7*time.Minute)) {
		t.Fatalf("after a 429 with Retry-After 7m: next %v (now %v)", d.NextRunAt, e.clock.Now())
	}
	e.clock.Advance(6 * time.Minute)
	if e.sendDue() != 0 {
		t.Fatal("retried before Retry-After")
	}
	e.clock.Advance(2 * time.Minute)
	e.sendDue()
	d, _ = e.st.GetOutbox(ctx, it.ID)
	if d.State != store.OutboxDone || rx.Keys()[d.IdempotencyKey] != 1 {
		t.Fatalf("finally %+v, received %v", d, rx.Keys())
	}
	if i, _ := e.st.GetIntegration(ctx, hook.ID); i.LastError != "" {
		t.Errorf("the error stayed after a success: %q", i.LastError)
	}
}

// TestGarbageFailsForGoodThenReplay: a destination answering garbage is retried MaxAttempts times,
// then the delivery fails for good with the answer shown and the integration says why; an admin's
// replay sends it once the destination recovers.
func TestGarbageFailsForGoodThenReplay(t *testing.T) {
	e := newEnv(t)
	rx := webhook.New(signing)
	rx.Now = e.clock.Now
	srv := httptest.NewServer(rx)
	defer srv.Close()
	hook := e.webhook(srv.URL)
	it, _ := e.svc.Test(ctx, hook.ID, "ann")
	rx.Fail(webhook.Fault{Status: 500}, webhook.Fault{Status: 500}, webhook.Fault{Status: 500})
	for range 3 {
		e.sendDue()
		e.clock.Advance(time.Hour)
	}
	d, _ := e.st.GetOutbox(ctx, it.ID)
	if d.State != store.OutboxDead || d.Attempts != 3 || !strings.Contains(d.LastError, "failed 3 times") || !strings.Contains(d.Response, "Bad Gateway") {
		t.Fatalf("after 3 garbage answers %+v", d)
	}
	if i, _ := e.st.GetIntegration(ctx, hook.ID); !strings.Contains(i.LastError, "500") {
		t.Errorf("integration error %q", i.LastError)
	}
	if e.sendDue() != 0 {
		t.Fatal("a dead delivery was claimed")
	}
	if _, err := e.svc.Replay(ctx, it.ID); err != nil {
		t.Fatal(err)
	}
	e.sendDue()
	if d, _ = e.st.GetOutbox(ctx, it.ID); d.State != store.OutboxDone || rx.Keys()[d.IdempotencyKey] != 1 {
		t.Fatalf("after replay %+v", d)
	}
	// A 4xx other than 408/429 is not retried.
	it2, _ := e.svc.Test(ctx, hook.ID, "ann")
	rx.Fail(webhook.Fault{Status: 404})
	e.sendDue()
	if d, _ = e.st.GetOutbox(ctx, it2.ID); d.State != store.OutboxDead || d.Attempts != 1 {
		t.Fatalf("after a 404 %+v", d)
	}
}

// TestGuard: a webhook URL toward the machine itself is refused unless loopback is allowed.
func TestGuard(t *testing.T) {
	st := openStore(t)
	defer st.Close()
	kr, _ := secret.LoadKeyring(secret.KeyConfig{Key: base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 32)))})
	svc := integration.New(integration.Options{Store: st, Keyring: kr})
	for _, u := range []string{"http://127.0.0.1/x", "http://169.254.169.254/latest/meta-data", "http://10.0.0.1/", "file:///etc/passwd"} {
		if _, err := svc.Create(ctx, integration.Input{Kind: integration.KindWebhook, Name: "h", Settings: integration.Settings{URL: u},
			Secrets: &integration.Secrets{SigningSecret: signing}}, "ann"); err == nil {
			t.Errorf("%s accepted", u)
		}
	}
}

// TestLostLeaseChangesNothing: a delivery whose lease passed to another run while its answer was
// on the way records nothing, neither its outcome nor the integration's error: both are written in
// one transaction, so the integration never says "credentials refused" for a delivery that
// another run owns (or, when the lease holds, while the delivery still reads Pending).
func TestLostLeaseChangesNothing(t *testing.T) {
	e := newEnv(t)
	arrived, answer := make(chan struct{}), make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-answer
		http.Error(w, "bad signature", http.StatusUnauthorized)
	}))
	defer srv.Close()
	hook := e.webhook(srv.URL)
	it, err := e.svc.Test(ctx, hook.ID, "ann")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := e.send.RunOnce(ctx, "node"); done <- err }()
	<-arrived
	e.clock.Advance(24 * time.Hour) // the lease ran out while the destination thought
	if got, err := e.st.ClaimOutbox(ctx, store.ClaimRequest{Owner: "other", Now: e.clock.Now(), LeaseFor: time.Hour, Limit: 10}); err != nil || len(got) != 1 {
		t.Fatalf("another run claimed %d deliveries (%v), want the one whose lease ran out", len(got), err)
	}
	close(answer)
	if err := <-done; err != nil {
		t.Fatalf("the run that lost its lease: %v", err)
	}
	if i, _ := e.st.GetIntegration(ctx, hook.ID); i.LastError != "" || i.ErrorKind != "" {
		t.Errorf("a run without the lease set the integration's error: %q (%s)", i.LastError, i.ErrorKind)
	}
	if d, _ := e.st.GetOutbox(ctx, it.ID); d.State != store.OutboxPending || d.Attempts != 0 || d.LastError != "" {
		t.Errorf("a run without the lease recorded its outcome: %+v", d)
	}
}
