package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/connection"
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
	if p := problem(t, body); code != 422 || !strings.Contains(p.Detail, "loopback") || !strings.Contains(p.Detail, "--allow-loopback-vendors") {
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

// TestRefusedVendorURLs (issue 12, defect 7): an api_url the SSRF guard refuses, and a service
// without a connector, are refused when the connection is added or verified, with 422 naming the
// field, the rule and what to do, and nothing is stored. Before, such a connection was stored and
// sat in Searching forever while only the log knew why. Only literal addresses and localhost
// names are used: the checks need no network.
func TestRefusedVendorURLs(t *testing.T) {
	f := newFixture(t)
	newConn := func(apiURL string) client.NewConnection {
		return client.NewConnection{Name: "Box " + apiURL, Service: "box", TenantID: "900001",
			Settings:    map[string]string{"client_id": "cid", "admin_email": "admin@example.com", "api_url": apiURL},
			Credentials: map[string]string{"client_secret": "s3cret-value"}}
	}
	for _, c := range []struct {
		url  string
		want []string
	}{
		{"http://10.0.0.5", []string{"10.0.0.5", "private network", "public"}},
		{"http://169.254.169.254/latest/meta-data", []string{"169.254.169.254", "link-local"}},
		{"http://[::1]:8080", []string{"::1", "loopback", "--allow-loopback-vendors"}},
		{"http://127.0.0.1:9", []string{"127.0.0.1", "loopback", "--allow-loopback-vendors"}},
		{"http://localhost:9", []string{"loopback", "--allow-loopback-vendors"}},
		{"ftp://10.0.0.5/", []string{"scheme"}},
		{"http://user:pw@192.168.1.1/", []string{"user info"}},
	} {
		for _, path := range []string{"/api/v1/connections", "/api/v1/connectors/box/verify"} {
			var in any = newConn(c.url)
			if strings.HasSuffix(path, "verify") {
				nc := newConn(c.url)
				in = client.VerifyRequest{TenantID: nc.TenantID, Settings: nc.Settings, Credentials: nc.Credentials}
			}
			code, body := f.do(t, f.admin, "POST", path, in)
			p := problem(t, body)
			if code != 422 || len(p.Errors) != 1 || p.Errors[0].Field != "settings.api_url" {
				t.Errorf("%s %s: %d %+v, want 422 on settings.api_url", path, c.url, code, p)
				continue
			}
			for _, w := range c.want {
				if !strings.Contains(p.Detail, w) || !strings.Contains(p.Errors[0].Message, w) {
					t.Errorf("%s %s: %q does not say %q", path, c.url, p.Detail, w)
				}
			}
			if strings.Contains(string(body), "s3cret-value") {
				t.Errorf("%s %s: the answer holds the secret: %s", path, c.url, body)
			}
		}
	}
	// A service Telltale has no connector for: refused, naming the ones it has.
	nc := newConn("")
	nc.Service, nc.Settings = "dropbox", nil
	code, body := f.do(t, f.admin, "POST", "/api/v1/connections", nc)
	if p := problem(t, body); code != 422 || len(p.Errors) != 1 || p.Errors[0].Field != "service" ||
		!strings.Contains(p.Detail, `service "dropbox" is not supported; available: box, gmail, google_drive, microsoft365_mail, onedrive`) {
		t.Errorf("dropbox: %d %+v", code, p)
	}
	// Nothing was stored.
	code, body = f.do(t, f.admin, "GET", "/api/v1/connections", nil)
	var list struct{ Items []client.Connection }
	json.Unmarshal(body, &list)
	if code != 200 || len(list.Items) != 0 {
		t.Errorf("refused connections were stored: %d %s", code, body)
	}
	// The vendor's own URL is not checked (no lookup), and a connection without api_url is added.
	code, body = f.do(t, f.admin, "POST", "/api/v1/connections", newConn("https://api.box.com/"))
	if code != 201 {
		t.Errorf("default api_url: %d %s", code, body)
	}
}

// TestWebhookRefusalsLookAlike (issue 12, defect 8): the public webhook route answers every
// refusal with the same status, headers that matter and body, byte for byte: a forged signature, a
// stale one, an id that does not exist or is not a number, a deauthorized connection, the wrong
// service, a service without a connector. None names an id, a state or the check that failed. A
// genuine delivery and its replay both get 204, and only the first counts as accepted.
func TestWebhookRefusalsLookAlike(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	create := func(name string) string {
		code, body := f.do(t, f.admin, "POST", "/api/v1/connections", client.NewConnection{Name: name, Service: "box", TenantID: "9" + name[len(name)-1:],
			Settings:    map[string]string{"client_id": "cid", "admin_email": "admin@example.com"},
			Credentials: map[string]string{"client_secret": "s", "webhook_primary_key": "pk-1"}})
		var c client.Connection
		json.Unmarshal(body, &c)
		if code != 201 {
			t.Fatalf("create: %d %s", code, body)
		}
		return c.ID
	}
	live, gone := create("Box 1"), create("Box 2")
	goneID := mustInt(t, gone)
	for _, a := range []connection.Action{connection.ActionDiscovered, connection.ActionDeauthorize, connection.ActionDeauthorized} {
		if _, err := f.app.Connections.Apply(ctx, goneID, a, "system", "test"); err != nil {
			t.Fatal(err)
		}
	}
	body := []byte(`{"type":"webhook_event","id":"e-1","trigger":"FILE.UPLOADED"}`)
	signed := func(key string, at time.Time) func(*http.Request) {
		return func(r *http.Request) {
			ts := at.UTC().Format(time.RFC3339)
			r.Header.Set("BOX-DELIVERY-ID", "d-1")
			r.Header.Set("BOX-DELIVERY-TIMESTAMP", ts)
			r.Header.Set("BOX-SIGNATURE-VERSION", "1")
			r.Header.Set("BOX-SIGNATURE-ALGORITHM", "HmacSHA256")
			r.Header.Set("BOX-SIGNATURE-PRIMARY", boxemu.Sign(key, body, ts))
		}
	}
	post := func(path string, sign func(*http.Request)) (int, string, []byte) {
		req, _ := http.NewRequest("POST", f.srv.URL+path, bytes.NewReader(body))
		sign(req)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type"), b
	}
	now := time.Now()
	cases := []struct {
		name, path string
		sign       func(*http.Request)
	}{
		{"forged signature", "/api/v1/webhooks/box/" + live, signed("not-the-key", now)},
		{"stale signature", "/api/v1/webhooks/box/" + live, signed("pk-1", now.Add(-time.Hour))},
		{"unknown id", "/api/v1/webhooks/box/987654", signed("pk-1", now)},
		{"not an id", "/api/v1/webhooks/box/x1", signed("pk-1", now)},
		{"deauthorized connection", "/api/v1/webhooks/box/" + gone, signed("pk-1", now)},
		{"wrong service", "/api/v1/webhooks/endpoint/" + live, signed("pk-1", now)},
		{"no connector", "/api/v1/webhooks/dropbox/" + live, signed("pk-1", now)},
		{"unsigned", "/api/v1/webhooks/box/" + live, func(*http.Request) {}},
	}
	var first []byte
	for _, c := range cases {
		code, ct, b := post(c.path, c.sign)
		if code != 401 || ct != "application/problem+json" {
			t.Errorf("%s: %d %s %s", c.name, code, ct, b)
		}
		if first == nil {
			first = b
		} else if !bytes.Equal(b, first) {
			t.Errorf("%s: answer %q differs from %q", c.name, b, first)
		}
		for _, leak := range []string{"987654", "connection", "deauthorized", "signature", "stale", "service", "instance", "webhooks/"} {
			if bytes.Contains(b, []byte(leak)) {
				t.Errorf("%s: answer %q mentions %q", c.name, b, leak)
			}
		}
	}
	// A genuine delivery and its replay: both acknowledged, one acted on.
	for i := 0; i < 2; i++ {
		if code, _, b := post("/api/v1/webhooks/box/"+live, signed("pk-1", now)); code != 204 {
			t.Fatalf("genuine delivery %d: %d %s", i, code, b)
		}
	}
	if st := f.app.Ingest.Stats(); st.WebhooksAccepted != 1 || st.WebhookDuplicates != 1 || st.WebhooksRefused != int64(len(cases)) {
		t.Errorf("stats %+v", st)
	}
	var metrics bytes.Buffer
	f.app.Metrics.WriteText(&metrics)
	for _, want := range []string{
		`telltale_webhook_refused_total{reason="bad_signature",service="box"} 1`,
		`telltale_webhook_refused_total{reason="malformed",service="box"} 1`,
		`telltale_webhook_refused_total{reason="stale",service="box"} 1`,
		`telltale_webhook_refused_total{reason="unknown_connection",service="box"} 2`,
		`telltale_webhook_refused_total{reason="not_collecting",service="box"} 1`,
		`telltale_webhook_refused_total{reason="wrong_service",service="endpoint"} 0`,
		`telltale_webhook_refused_total{reason="wrong_service",service="unknown"} 2`,
		`telltale_webhook_deliveries_total{result="accepted",service="box"} 1`,
		`telltale_webhook_deliveries_total{result="duplicate",service="box"} 1`,
	} {
		if strings.HasSuffix(want, " 0") {
			if strings.Contains(metrics.String(), strings.TrimSuffix(want, " 0")) {
				t.Errorf("metrics label a service without a connector: %s", want)
			}
		} else if !strings.Contains(metrics.String(), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestConsentURL (issue 15, R1.11): a OneDrive or Microsoft 365 mail connection shows, from the
// moment it is added, the admin-consent URL of its tenant and application (Entra ID's authority
// the connection names, the default otherwise), so the admin can grant the permissions before
// Verify; a Box connection has none, and the answer never holds the secret.
func TestConsentURL(t *testing.T) {
	f := newFixture(t)
	const tenant = "6f1c2b3a-0000-4000-8000-00000000abcd"
	for _, c := range []struct {
		in   client.NewConnection
		want string
	}{
		{client.NewConnection{Name: "OneDrive", Service: "onedrive", TenantID: tenant,
			Settings: map[string]string{"client_id": "11112222-3333-4444-5555-666677778888"}, Credentials: map[string]string{"client_secret": "s3cret-value"}},
			"https://login.microsoftonline.com/" + tenant + "/adminconsent?client_id=11112222-3333-4444-5555-666677778888"},
		{client.NewConnection{Name: "Mail", Service: "microsoft365_mail", TenantID: tenant,
			Settings: map[string]string{"client_id": "app id&x=1", "login_url": "https://40.126.0.1/"}, Credentials: map[string]string{"client_secret": "s3cret-value"}},
			"https://40.126.0.1/" + tenant + "/adminconsent?client_id=app+id%26x%3D1"},
		{client.NewConnection{Name: "Box", Service: "box", TenantID: "900001",
			Settings: map[string]string{"client_id": "cid", "admin_email": "admin@example.com"}, Credentials: map[string]string{"client_secret": "s3cret-value"}}, ""},
	} {
		code, body := f.do(t, f.admin, "POST", "/api/v1/connections", c.in)
		var added client.Connection
		if err := json.Unmarshal(body, &added); code != 201 || err != nil {
			t.Fatalf("%s: %d %s", c.in.Service, code, body)
		}
		code, body = f.do(t, f.admin, "GET", "/api/v1/connections/"+added.ID, nil)
		var got client.Connection
		if err := json.Unmarshal(body, &got); code != 200 || err != nil {
			t.Fatalf("%s: %d %s", c.in.Service, code, body)
		}
		if added.ConsentURL != c.want || got.ConsentURL != c.want {
			t.Errorf("%s: consent URL %q when added, %q when read; want %q", c.in.Service, added.ConsentURL, got.ConsentURL, c.want)
		}
		if strings.Contains(string(body), "s3cret-value") {
			t.Errorf("%s: the answer holds the secret: %s", c.in.Service, body)
		}
	}
}
