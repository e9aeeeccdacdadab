package m365mail

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/connector/connectortest"
	"github.com/telltale-dev/telltale/internal/ingest"
)

// TestBadInputRefusedCountedNothingLost (issue 15, "Done when"): while users send mail and Graph
// pushes its genuine notifications, the webhook also gets forged clientStates, another mailbox's,
// subscription ids that are not Graph's, another tenant's and malformed bodies: each is refused
// by ingest with its reason and counted, and every attachment sent is still stored exactly once.
func TestBadInputRefusedCountedNothingLost(t *testing.T) {
	e := connectortest.NewEnv(t, connectortest.Harness{Connector: New(), NewVendor: newMailVendor}, "all", nil)
	truths, first := e.FirstPush(30, func(p connectortest.Push) bool { return bytes.Contains(p.Body, []byte(`"resourceData"`)) })
	genuine := first.Body
	var n struct {
		Value []map[string]any `json:"value"`
	}
	err := json.Unmarshal(genuine, &n)
	if err != nil || len(n.Value) == 0 {
		t.Fatalf("the genuine notification %s: %v", genuine, err)
	}
	note := n.Value[0]
	with := func(changes map[string]any) []byte {
		m := map[string]any{}
		for k, v := range note {
			m[k] = v
		}
		for k, v := range changes {
			if v == nil {
				delete(m, k)
				continue
			}
			m[k] = v
		}
		b, _ := json.Marshal(map[string]any{"value": []any{m}})
		return b
	}
	// Another mailbox's genuine clientState.
	res, _ := note["resource"].(string)
	var otherState string
	for _, u := range e.V.(*mailVendor).emu.Users() {
		if u.Licensed && u.Enabled && !strings.Contains(strings.ToLower(res), strings.ToLower(u.ID)) {
			otherState = openSession(t, e).clientState(u.ID)
			break
		}
	}
	if otherState == "" {
		t.Fatal("setup: no other mailbox")
	}
	state, _ := note["clientState"].(string)
	before := e.Ingest.Stats()
	cases := []struct {
		name, reason string
		body         []byte
	}{
		{"forged clientState", connector.WebhookBadSignature, with(map[string]any{"clientState": state[:len(state)-4] + "AAAA"})},
		{"no clientState", connector.WebhookBadSignature, with(map[string]any{"clientState": nil})},
		{"another mailbox's clientState", connector.WebhookBadSignature, with(map[string]any{"clientState": otherState})},
		{"another tenant's", connector.WebhookUnknownSubscription, with(map[string]any{"tenantId": "11111111-2222-3333-4444-555555555555"})},
		{"not JSON", connector.WebhookMalformed, []byte(`{"value":[`)},
		{"no notifications", connector.WebhookMalformed, []byte(`{"value":[]}`)},
		{"no subscription id", connector.WebhookMalformed, with(map[string]any{"subscriptionId": nil})},
		{"an unknown lifecycle event", connector.WebhookMalformed, with(map[string]any{"lifecycleEvent": "selfDestruct"})},
	}
	for _, c := range cases {
		_, err := e.Ingest.Webhook(context.Background(), "microsoft365_mail", fmt.Sprint(e.Conn.ID), http.Header{}, url.Values{}, bytes.NewReader(c.body))
		if got := ingest.WebhookRefusalReason(err); got != c.reason {
			t.Errorf("%s: refused as %q (%v), want %q", c.name, got, err, c.reason)
		}
	}
	if got := e.Ingest.Stats().WebhooksRefused - before.WebhooksRefused; got != int64(len(cases)) {
		t.Errorf("%d refusals counted, want %d", got, len(cases))
	}
	// Graph's retry of the genuine notification is acknowledged (a duplicate, acted on once).
	if _, err := e.Ingest.Webhook(context.Background(), "microsoft365_mail", fmt.Sprint(e.Conn.ID), http.Header{}, url.Values{}, bytes.NewReader(genuine)); err != nil {
		t.Errorf("the genuine notification after the forgeries: %v", err)
	}
	e.Ingest.WaitWebhooks()

	active, _ := e.V.Owners()
	expected := 0
	for _, tr := range truths {
		if tr.File && connectortest.Monitored(active)(tr) {
			expected++
		}
	}
	if expected < 10 {
		t.Fatalf("only %d attachments sent: the case proves little", expected)
	}
	connectortest.CollectAll(t, e, truths, connectortest.Monitored(active))
	t.Logf("%d forged or malformed notifications sent; %d attachments expected; stats %+v", len(cases), expected, e.Ingest.Stats())
}

// openSession opens a session of the env's connection (its settings and secret), to sign a
// clientState as the connector does.
func openSession(t *testing.T, e *connectortest.Env) *session {
	t.Helper()
	tenant, settings, creds := e.V.Connection()
	s, err := New().Open(context.Background(), connector.Config{ConnectionID: e.Conn.ID, TenantID: tenant, Settings: settings, Credentials: creds},
		connector.Deps{Clock: e.Clock, AllowLoopback: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s.(*session)
}
