package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/config"
	"github.com/telltale-dev/telltale/internal/emulator/webhook"
	"github.com/telltale-dev/telltale/internal/store"
)

// TestIntegrationsOverHTTP: an admin adds a signed webhook (its secret never returned), a flow to
// it, sends a test delivery that the sender delivers, sees it with the destination's answer,
// replays it, disconnects the integration; an unsafe URL and a bad flow are refused.
func TestIntegrationsOverHTTP(t *testing.T) {
	f := newFixtureWith(t, func(c *config.Config) { c.AllowLoopback = true })
	const secret = "whsec-very-secret-0123456789"
	rx := webhook.New(secret)
	srv := httptest.NewServer(rx)
	defer srv.Close()
	code, body := f.do(t, f.admin, "POST", "/api/v1/integrations", client.IntegrationInput{Kind: "webhook", Name: "SOAR",
		Settings: client.IntegrationSettings{URL: srv.URL + "/in"}, Secrets: &client.IntegrationSecrets{SigningSecret: secret}})
	if code != 201 {
		t.Fatalf("create: %d %s", code, body)
	}
	var in client.Integration
	json.Unmarshal(body, &in)
	if in.Status != "connected" || in.ServiceType != "integration" || strings.Join(in.SecretsSet, ",") != "signing_secret" {
		t.Errorf("created %+v", in)
	}
	if code, body := f.do(t, f.admin, "POST", "/api/v1/integrations", client.IntegrationInput{Kind: "webhook", Name: "meta",
		Settings: client.IntegrationSettings{URL: "http://169.254.169.254/latest"}, Secrets: &client.IntegrationSecrets{SigningSecret: secret}}); code != 422 || !strings.Contains(string(body), "url") {
		t.Errorf("metadata URL: %d %s", code, body)
	}
	if code, body := f.do(t, f.admin, "POST", "/api/v1/flows", client.FlowInput{Name: "x", MinSeverity: "huge", IntegrationIDs: []string{in.ID}}); code != 422 {
		t.Errorf("bad severity: %d %s", code, body)
	}
	if code, body := f.do(t, f.admin, "POST", "/api/v1/flows", client.FlowInput{Name: "x", Query: "action:(", IntegrationIDs: []string{in.ID}}); code != 422 {
		t.Errorf("bad query: %d %s", code, body)
	}
	code, body = f.do(t, f.admin, "POST", "/api/v1/flows", client.FlowInput{Name: "High alerts to SOAR", MinSeverity: "high", IntegrationIDs: []string{in.ID}})
	if code != 201 {
		t.Fatalf("flow: %d %s", code, body)
	}
	code, body = f.do(t, f.admin, "POST", "/api/v1/integrations/"+in.ID+"/test", nil)
	if code != 201 {
		t.Fatalf("test: %d %s", code, body)
	}
	var d client.Delivery
	json.Unmarshal(body, &d)
	ctx := context.Background()
	if _, err := f.app.Deliveries.RunOnce(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	if rx.Keys()[d.IdempotencyKey] != 1 {
		t.Fatalf("received %v", rx.Keys())
	}
	code, body = f.do(t, f.admin, "GET", "/api/v1/integrations/"+in.ID+"/deliveries", nil)
	var dl client.DeliveryList
	json.Unmarshal(body, &dl)
	if code != 200 || len(dl.Items) != 1 || dl.Items[0].State != store.OutboxDone || !strings.Contains(dl.Items[0].Response, "200 OK") {
		t.Fatalf("deliveries: %d %s", code, body)
	}
	if code, body := f.do(t, f.userToken(t, "analyst"), "POST", "/api/v1/deliveries/"+d.ID+"/replay", nil); code != 403 {
		t.Errorf("analyst replay: %d %s", code, body)
	}
	if code, body := f.do(t, f.admin, "POST", "/api/v1/deliveries/"+d.ID+"/replay", nil); code != 200 || !strings.Contains(string(body), `"pending"`) {
		t.Errorf("replay: %d %s", code, body)
	}
	if code, _ := f.do(t, f.admin, "POST", "/api/v1/deliveries/"+d.ID+"/replay", nil); code != 409 {
		t.Errorf("replay of a pending delivery: %d", code)
	}
	f.app.Deliveries.RunOnce(ctx, "t")
	if rx.Keys()[d.IdempotencyKey] != 2 || rx.Duplicates() != 1 {
		t.Errorf("the replay did not arrive with the same key: %v", rx.Keys())
	}
	if code, body := f.do(t, f.admin, "POST", "/api/v1/integrations/"+in.ID+"/disconnect", nil); code != 200 || !strings.Contains(string(body), `"disconnected"`) {
		t.Errorf("disconnect: %d %s", code, body)
	}
	if code, body := f.do(t, f.admin, "POST", "/api/v1/integrations/"+in.ID+"/connect", nil); code != 200 || !strings.Contains(string(body), `"connected"`) {
		t.Errorf("connect: %d %s", code, body)
	}
	// The secret never leaves: not in answers, not in the audit log, not in the database file.
	var all bytes.Buffer
	for _, p := range []string{"/api/v1/integrations", "/api/v1/integrations/" + in.ID, "/api/v1/audit", "/api/v1/flows", "/api/v1/integrations/" + in.ID + "/deliveries"} {
		_, b := f.do(t, f.admin, "GET", p, nil)
		all.Write(b)
	}
	if strings.Contains(all.String(), secret) || strings.Contains(f.logs.String(), secret) {
		t.Error("the signing secret left the server")
	}
	if !strings.Contains(all.String(), "integration.create") || !strings.Contains(all.String(), "delivery.replay") {
		t.Error("the audit log misses integration actions")
	}
}
