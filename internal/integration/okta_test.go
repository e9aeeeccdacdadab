package integration_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	oktaemu "github.com/telltale-dev/telltale/internal/emulator/okta"
	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/integration"
	"github.com/telltale-dev/telltale/internal/store"
	"github.com/telltale-dev/telltale/internal/testutil/openapi/oktaspec"
)

const (
	oktaToken = "00OktaApiToken0123456789abcdefghijklmnop"
	highRisk  = "00g1highrisk00000001"
)

// TestOkta: the flow action "add the alert's person to an Okta group" finds the person by login and
// assigns them (PUT, idempotent: a redelivery leaves one membership); a remove integration
// unassigns; every request Telltale sends and every answer it gets is valid against Okta's
// management OpenAPI; 401 fails for good with what to do, 429 waits until X-Rate-Limit-Reset.
func TestOkta(t *testing.T) {
	e := newEnv(t)
	spec := oktaspec.Load(t)
	emu := oktaemu.New(oktaToken, []oktaemu.User{{ID: "00u1alice00000000001", Login: "alice@corp.example", First: "Alice", Last: "Ng"}},
		[]oktaemu.Group{{ID: highRisk, Name: "High risk"}})
	emu.Now = e.clock.Now
	var mu sync.Mutex
	var problems []string
	emu.Check = func(r *http.Request, status int, h http.Header, body []byte) {
		if err := spec.ValidateResponse(r.Method, r.URL.Path, status, h, body); err != nil {
			mu.Lock()
			problems = append(problems, err.Error())
			mu.Unlock()
		}
	}
	srv := httptest.NewServer(spec.Requests(emu, func(r *http.Request, err error) {
		mu.Lock()
		problems = append(problems, "request: "+err.Error())
		mu.Unlock()
	}))
	defer srv.Close()
	add := e.integration(integration.Input{Kind: integration.KindOkta, Name: "high risk", Settings: integration.Settings{URL: srv.URL, GroupID: highRisk},
		Secrets: &integration.Secrets{Token: oktaToken}})
	if err := e.send.Verify(ctx, add, integration.Secrets{Token: oktaToken}); err != nil {
		t.Errorf("verify: %v", err)
	}
	if err := e.send.Verify(ctx, add, integration.Secrets{Token: "nope"}); err == nil || !strings.Contains(err.Error(), "E0000011") {
		t.Errorf("verify a bad token: %v", err)
	}
	e.rule("shared outside", "action:file-shared", "high")
	e.flow(integration.FlowInput{MinSeverity: "high", IntegrationIDs: []int64{add.ID}})
	e.raise("alice@corp.example", event.ActionShared)
	e.sendDue()
	ds := e.deliveries(add.ID)
	if len(ds) != 1 || ds[0].State != store.OutboxDone || strings.Join(emu.Members(highRisk), ",") != "alice@corp.example" {
		t.Fatalf("deliveries %+v, members %v", ds, emu.Members(highRisk))
	}
	if !strings.Contains(ds[0].Response, "added alice@corp.example") {
		t.Errorf("answer %q", ds[0].Response)
	}
	e.svc.Replay(ctx, ds[0].ID)
	e.sendDue()
	if m := emu.Members(highRisk); len(m) != 1 || emu.Calls()["assign"] != 2 {
		t.Errorf("after a redelivery: members %v, calls %v", m, emu.Calls())
	}
	// A person Okta does not know fails for good, saying so.
	e.raise("carol@corp.example", event.ActionShared)
	e.sendDue()
	for _, d := range e.deliveries(add.ID) {
		if strings.Contains(d.Subject, "alert/") && d.ID != ds[0].ID && (d.State != store.OutboxDead || !strings.Contains(d.LastError, "no user with login carol@corp.example")) {
			t.Errorf("unknown person: %+v", d)
		}
	}

	// 429: not retried before X-Rate-Limit-Reset; 401: failed for good, credentials refused.
	e.clock.Advance(time.Second)
	it, _ := e.svc.Test(ctx, add.ID, "ann")
	emu.Fail(oktaemu.Fault{RateLimit: 5 * time.Minute})
	e.sendDue()
	d, _ := e.st.GetOutbox(ctx, it.ID)
	i, _ := e.st.GetIntegration(ctx, add.ID)
	if d.State != store.OutboxPending || d.NextRunAt.Before(e.clock.Now().Add(5*time.Minute)) || !strings.Contains(d.LastError, "429 E0000047") ||
		integration.Condition(i) != integration.ConditionRateLimited {
		t.Errorf("rate limited: %+v (now %v), condition %s", d, e.clock.Now(), integration.Condition(i))
	}
	e.clock.Advance(4 * time.Minute)
	if e.sendDue() != 0 {
		t.Error("retried before X-Rate-Limit-Reset")
	}
	e.clock.Advance(2 * time.Minute)
	e.sendDue()
	if d, _ = e.st.GetOutbox(ctx, it.ID); d.State != store.OutboxDone {
		t.Errorf("after the reset: %+v", d)
	}
	emu.SetToken("rotated")
	e.clock.Advance(time.Second)
	it, _ = e.svc.Test(ctx, add.ID, "ann")
	e.sendDue()
	d, _ = e.st.GetOutbox(ctx, it.ID)
	i, _ = e.st.GetIntegration(ctx, add.ID)
	if d.State != store.OutboxDead || !strings.Contains(i.LastError, "Okta refused the API token (401 E0000011 Invalid token provided): create a token") ||
		integration.Condition(i) != integration.ConditionCredentialsRefused {
		t.Errorf("revoked token: %+v, integration %q %s", d, i.LastError, integration.Condition(i))
	}
	emu.SetToken(oktaToken)

	// Remove (the add integration disconnected: both on one alert would race).
	e.svc.SetStatus(ctx, add.ID, false, nil)
	rm := e.integration(integration.Input{Kind: integration.KindOkta, Name: "remove", Settings: integration.Settings{URL: srv.URL, GroupID: highRisk, Operation: integration.OktaRemove},
		Secrets: &integration.Secrets{Token: oktaToken}})
	e.flow(integration.FlowInput{Name: "rm", IntegrationIDs: []int64{rm.ID}})
	e.raise("alice@corp.example", event.ActionShared)
	e.sendDue()
	if m := emu.Members(highRisk); len(m) != 0 {
		t.Errorf("after remove: %v", m)
	}
	// A group that does not exist.
	gone := e.integration(integration.Input{Kind: integration.KindOkta, Name: "gone", Settings: integration.Settings{URL: srv.URL, GroupID: "00g0000000000000none"},
		Secrets: &integration.Secrets{Token: oktaToken}})
	if err := e.send.Verify(ctx, gone, integration.Secrets{Token: oktaToken}); err == nil || !strings.Contains(err.Error(), "check group_id") {
		t.Errorf("verify a missing group: %v", err)
	}
	if _, err := e.svc.Create(ctx, integration.Input{Kind: integration.KindOkta, Name: "bad", Settings: integration.Settings{URL: srv.URL, GroupID: "High risk"},
		Secrets: &integration.Secrets{Token: oktaToken}}, "ann"); err == nil || !strings.Contains(err.Error(), "group_id") {
		t.Errorf("a group name for an id: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, p := range problems {
		t.Errorf("against Okta's spec: %s", p)
	}
}
