package api_test

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/telltale-dev/telltale/client"
	boxemu "github.com/telltale-dev/telltale/internal/emulator/box"
)

func TestConnectorRoutes(t *testing.T) {
	f := newFixture(t)
	code, body := f.do(t, f.admin, "GET", "/api/v1/connectors", nil)
	var specs struct{ Items []client.ConnectorSpec }
	json.Unmarshal(body, &specs)
	if code != 200 || len(specs.Items) == 0 || specs.Items[0].Service != "box" || len(specs.Items[0].Permissions) < 4 || len(specs.Items[0].Steps) == 0 {
		t.Fatalf("connectors: %d %s", code, body)
	}
	for _, fl := range specs.Items[0].Fields {
		if fl.Name == "client_secret" && !fl.Secret {
			t.Errorf("client_secret is not marked secret")
		}
	}
	// Settings are checked against the spec, naming every problem, before anything is stored.
	code, body = f.do(t, f.admin, "POST", "/api/v1/connections", client.NewConnection{Name: "Box x", Service: "box", TenantID: "1",
		Settings: map[string]string{"colour": "red", "client_secret": "in-clear"}})
	p := problem(t, body)
	if code != 400 || !strings.Contains(p.Detail, "colour") || !strings.Contains(p.Detail, "client_secret") || !strings.Contains(p.Detail, "admin_email") {
		t.Errorf("bad settings: %d %+v", code, p)
	}
	// ... and each problem names its field, so the console shows it beside that field.
	fields := map[string]bool{}
	for _, e := range p.Errors {
		fields[e.Field] = e.Message != ""
	}
	for _, want := range []string{"settings.colour", "settings.client_secret", "settings.admin_email", "credentials.client_secret"} {
		if !fields[want] {
			t.Errorf("bad settings: no message for field %s in %+v", want, p.Errors)
		}
	}

	// Verify reaches the vendor (the emulator on loopback is refused unless the node allows it).
	emu := boxemu.New(boxemu.Options{RateLimitPerMinute: -1})
	srv := httptest.NewServer(emu.Handler())
	defer srv.Close()
	req := client.VerifyRequest{TenantID: "900001",
		Settings:    map[string]string{"client_id": "emu-client-id", "admin_email": "admin@example.com", "api_url": srv.URL, "rate_limit": "0"},
		Credentials: map[string]string{"client_secret": "wrong-secret"}}
	code, body = f.do(t, f.admin, "POST", "/api/v1/connectors/box/verify", req)
	if p := problem(t, body); code != 502 || !strings.Contains(p.Detail, "loopback") {
		t.Errorf("verify against loopback without permission: %d %+v", code, p)
	}
	code, body = f.do(t, f.admin, "POST", "/api/v1/connectors/dropbox/verify", req)
	if code != 404 {
		t.Errorf("verify unknown service: %d %s", code, body)
	}

	// A forged push notification is refused and does nothing.
	code, body = f.do(t, "", "POST", "/api/v1/webhooks/box/1", map[string]any{"type": "webhook_event", "id": "x"})
	if code != 401 {
		t.Errorf("forged webhook: %d %s", code, body)
	}
}

func TestVerifyWithEmulator(t *testing.T) {
	f := newFixtureWith(t, func(c *configT) { c.AllowLoopback = true })
	emu := boxemu.New(boxemu.Options{RateLimitPerMinute: -1})
	srv := httptest.NewServer(emu.Handler())
	defer srv.Close()
	req := client.VerifyRequest{TenantID: "900001",
		Settings:    map[string]string{"client_id": "emu-client-id", "admin_email": "admin@example.com", "api_url": srv.URL, "rate_limit": "0"},
		Credentials: map[string]string{"client_secret": "wrong-secret"}}
	code, body := f.do(t, f.admin, "POST", "/api/v1/connectors/box/verify", req)
	if p := problem(t, body); code != 422 || !strings.Contains(p.Detail, "client secret") || strings.Contains(string(body), "wrong-secret") {
		t.Errorf("verify with a bad secret: %d %+v", code, p)
	}
	req.Credentials["client_secret"] = "emu-client-secret"
	code, body = f.do(t, f.admin, "POST", "/api/v1/connectors/box/verify", req)
	if code != 200 || !strings.Contains(string(body), "900001") {
		t.Errorf("verify: %d %s", code, body)
	}
	code, body = f.do(t, f.admin, "GET", "/api/v1/audit?action=connector.verify", nil)
	if code != 200 || strings.Count(string(body), "connector.verify") < 2 || strings.Contains(string(body), "emu-client-secret") {
		t.Errorf("verify audit: %d %s", code, body)
	}
}
