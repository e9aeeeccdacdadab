package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/config"
	"github.com/telltale-dev/telltale/internal/emulator/servicenow"
	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/store"
)

// TestServiceNowOverHTTP: an admin adds a ServiceNow integration (its password never returned),
// connects it (verified against the emulator: a wrong password is refused with what to fix and
// the condition credentials_refused), a flow delivers an alert as an incident, and an analyst's
// change of the alert through the API reaches the incident.
func TestServiceNowOverHTTP(t *testing.T) {
	f := newFixtureWith(t, func(c *config.Config) { c.AllowLoopback = true })
	ctx := context.Background()
	emu := servicenow.New(servicenow.Options{Users: map[string]string{"telltale.integration": "sn-password-1"}})
	srv := httptest.NewServer(emu)
	defer srv.Close()
	code, body := f.do(t, f.admin, "POST", "/api/v1/integrations", client.IntegrationInput{Kind: "servicenow", Name: "ServiceNow",
		Settings: client.IntegrationSettings{URL: srv.URL, Username: "telltale.integration"}, Secrets: &client.IntegrationSecrets{Password: "wrong-password"}})
	in := decodeAs[client.Integration](t, code, body, 201)
	if strings.Contains(string(body), "wrong-password") || strings.Join(in.SecretsSet, ",") != "password" || in.Condition != "ok" || in.Settings.Auth != "basic" {
		t.Errorf("created %s", body)
	}
	if code, body := f.do(t, f.admin, "POST", "/api/v1/integrations", client.IntegrationInput{Kind: "servicenow", Name: "x",
		Settings: client.IntegrationSettings{URL: srv.URL, Auth: "oauth_password", Username: "u"}, Secrets: &client.IntegrationSecrets{Password: "p"}}); code != 422 || !strings.Contains(string(body), "client_id") {
		t.Errorf("oauth without a client: %d %s", code, body)
	}
	code, body = f.do(t, f.admin, "GET", "/api/v1/openapi.json", nil)
	for _, want := range []string{`"condition"`, `"group_id"`, `"client_secret"`, `"issue_type"`, "ServiceNow, Jira or Okta"} {
		if code != 200 || !strings.Contains(string(body), want) {
			t.Errorf("the OpenAPI description lacks %s", want)
		}
	}
	code, body = f.do(t, f.admin, "POST", "/api/v1/integrations/"+in.ID+"/connect", nil)
	if code < 400 || !strings.Contains(string(body), "refused the credentials") {
		t.Errorf("connect with a wrong password: %d %s", code, body)
	}
	code, body = f.do(t, f.admin, "GET", "/api/v1/integrations/"+in.ID, nil)
	if got := decodeAs[client.Integration](t, code, body, 200); got.Condition != "credentials_refused" || !strings.Contains(got.LastError, "check the username and password") {
		t.Errorf("after a refused connect: %s", body)
	}
	code, body = f.do(t, f.admin, "PATCH", "/api/v1/integrations/"+in.ID, client.IntegrationInput{Settings: client.IntegrationSettings{URL: srv.URL, Username: "telltale.integration"},
		Secrets: &client.IntegrationSecrets{Password: "sn-password-1"}})
	decodeAs[client.Integration](t, code, body, 200)
	code, body = f.do(t, f.admin, "POST", "/api/v1/integrations/"+in.ID+"/connect", nil)
	if got := decodeAs[client.Integration](t, code, body, 200); got.Status != "connected" || got.Condition != "ok" {
		t.Errorf("connect: %s", body)
	}
	code, body = f.do(t, f.admin, "POST", "/api/v1/rules", client.AlertRuleInput{Name: "Shared", Query: "action:shared", Kind: "threshold",
		Params: json.RawMessage(`{"value":1}`), Severity: "high"})
	decodeAs[client.AlertRule](t, code, body, 201)
	code, body = f.do(t, f.admin, "POST", "/api/v1/flows", client.FlowInput{Name: "to ServiceNow", IntegrationIDs: []string{in.ID}})
	decodeAs[client.Flow](t, code, body, 201)

	if err := f.app.Alerts.Start(ctx); err != nil {
		t.Fatal(err)
	}
	c, err := f.app.Store.CreateConnection(ctx, store.Connection{Name: "box", Service: "box", ServiceType: "cloud", Status: "Monitoring", ScopeKind: "all"})
	if err != nil {
		t.Fatal(err)
	}
	ev := &event.FileEvent{Timestamp: time.Now().UTC().Truncate(time.Second), Event: event.Meta{Action: event.ActionShared, Observer: event.ObserverBox,
		ConnectionID: c.ID, VendorIDs: []string{"v1"}}, User: event.User{Email: "alice@corp.example"}, File: event.File{ID: "f1", Name: "plan.xlsx"}}
	if _, err := f.app.Store.InsertEvents(ctx, []*event.FileEvent{ev}, false); err != nil {
		t.Fatal(err)
	}
	for {
		n, err := f.app.Alerts.RunOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	send := func() {
		for {
			n, err := f.app.Deliveries.RunOnce(ctx, "t")
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				return
			}
		}
	}
	send()
	incs := emu.Incidents()
	if len(incs) != 1 || !strings.Contains(incs[0].Fields["description"], "plan.xlsx") {
		t.Fatalf("incidents %+v", incs)
	}
	as, _ := f.app.Store.ListAlerts(ctx, store.AlertFilter{})
	state := "resolved"
	code, body = f.do(t, f.userToken(t, "analyst"), "PATCH", fmt.Sprintf("/api/v1/alerts/%d", as[0].ID), client.AlertUpdate{State: &state,
		Resolution: strPtr("true_positive"), Note: "HR confirmed"})
	if code != 200 {
		t.Fatalf("resolve: %d %s", code, body)
	}
	send()
	inc := emu.Incidents()[0]
	if inc.Fields["state"] != "6" || len(inc.Notes) != 1 || !strings.Contains(inc.Notes[0], "HR confirmed") || len(emu.Incidents()) != 1 {
		t.Errorf("after resolving the alert: %+v", inc)
	}
	code, body = f.do(t, f.admin, "GET", "/api/v1/integrations/"+in.ID+"/deliveries", nil)
	dl := decodeAs[client.DeliveryList](t, code, body, 200)
	if len(dl.Items) != 2 || dl.Items[0].Event != "alert.updated" || dl.Items[0].State != "done" || !strings.Contains(dl.Items[0].Response, "updated "+inc.Fields["number"]) {
		t.Errorf("deliveries %s", body)
	}
}

func strPtr(s string) *string { return &s }
