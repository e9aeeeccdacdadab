package api_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/auth"
	"github.com/telltale-dev/telltale/internal/config"
	"github.com/telltale-dev/telltale/internal/emulator/bamboohr"
	"github.com/telltale-dev/telltale/internal/emulator/workday"
	"github.com/telltale-dev/telltale/internal/integration"
	"github.com/telltale-dev/telltale/internal/store"
)

// TestHRSourcesOverHTTP: an admin adds a Workday source as an integration (listed with the
// connections' service type, its password never returned), connects it (a wrong password is refused
// with what to fix), syncs it now: the departing person is on the watchlist and their page shows a
// line of history; the HR sources list shows the last sync. A generic webhook source accepts a
// signed request and refuses an unsigned or forged one with one 401, counted; a signed request with
// a bad change is a 422 naming it; a bad CSV is a 422 naming its rows and changes nothing. A
// read-only user cannot sync; an HR source cannot be a flow's destination.
func TestHRSourcesOverHTTP(t *testing.T) {
	f := newFixtureWith(t, func(c *config.Config) { c.AllowLoopback = true })
	emu := workday.New("acme", "ISU_Telltale", "Departures", "isu_telltale", "pw-0123456789")
	srv := httptest.NewServer(emu)
	defer srv.Close()
	emu.Put(workday.Worker{ID: "1", Email: "dana@corp.example", TerminationDate: time.Now().UTC().AddDate(0, 0, 20).Format(time.DateOnly)})

	code, body := f.do(t, f.admin, "POST", "/api/v1/integrations", client.IntegrationInput{Kind: "workday", Name: "Workday",
		Settings: client.IntegrationSettings{URL: srv.URL + emu.Path(), Username: "isu_telltale"}, Secrets: &client.IntegrationSecrets{Password: "wrong-password"}})
	wd := decodeAs[client.Integration](t, code, body, 201)
	if strings.Contains(string(body), "wrong-password") || wd.ServiceType != "integration" || wd.Settings.WindowDays != 30 {
		t.Errorf("created %s", body)
	}
	if code, body := f.do(t, f.admin, "POST", "/api/v1/integrations", client.IntegrationInput{Kind: "workday", Name: "x",
		Settings: client.IntegrationSettings{URL: srv.URL + "/somewhere", Username: "u"}, Secrets: &client.IntegrationSecrets{Password: "p"}}); code != 422 || !strings.Contains(string(body), "customreport2") {
		t.Errorf("a URL that is not a report's: %d %s", code, body)
	}
	code, body = f.do(t, f.admin, "POST", "/api/v1/integrations/"+wd.ID+"/connect", nil)
	if code != 422 || !strings.Contains(string(body), "refused the credentials") {
		t.Errorf("connect with a wrong password: %d %s", code, body)
	}
	code, body = f.do(t, f.admin, "GET", "/api/v1/hr-sources/"+wd.ID, nil)
	if got := decodeAs[client.HRSource](t, code, body, 200); got.Condition != "credentials_refused" || !strings.Contains(got.LastError, "integration system user") {
		t.Errorf("after a refused connect: %s", body)
	}
	code, body = f.do(t, f.admin, "PATCH", "/api/v1/integrations/"+wd.ID, client.IntegrationInput{Settings: client.IntegrationSettings{URL: srv.URL + emu.Path(), Username: "isu_telltale"},
		Secrets: &client.IntegrationSecrets{Password: "pw-0123456789"}})
	decodeAs[client.Integration](t, code, body, 200)
	code, body = f.do(t, f.admin, "POST", "/api/v1/integrations/"+wd.ID+"/connect", nil)
	decodeAs[client.Integration](t, code, body, 200)
	if code, body := f.do(t, f.userToken(t, auth.RoleReadOnly), "POST", "/api/v1/hr-sources/"+wd.ID+"/sync", nil); code != 403 {
		t.Errorf("a read-only user synced: %d %s", code, body)
	}
	code, body = f.do(t, f.admin, "POST", "/api/v1/hr-sources/"+wd.ID+"/sync", nil)
	if got := decodeAs[client.HRSyncResult](t, code, body, 200); got.Added != 1 {
		t.Errorf("sync: %s", body)
	}
	code, body = f.do(t, f.admin, "GET", "/api/v1/people/dana@corp.example", nil)
	p := decodeAs[client.Person](t, code, body, 200)
	if !p.Departing || len(p.History) != 1 || p.History[0].Action != "added" || p.History[0].Source != "Workday" || p.History[0].Watchlist != "departing_employee" {
		t.Errorf("person: %s", body)
	}
	code, body = f.do(t, f.admin, "GET", "/api/v1/hr-sources", nil)
	if l := decodeAs[client.HRSourceList](t, code, body, 200); len(l.Items) != 1 || l.Items[0].LastOKAt.IsZero() || !strings.Contains(l.Items[0].Summary, "1 added") {
		t.Errorf("hr sources: %s", body)
	}
	if code, body := f.do(t, f.admin, "POST", "/api/v1/flows", client.FlowInput{Name: "to HR", IntegrationIDs: []string{wd.ID}}); code != 422 || !strings.Contains(string(body), "HR source") {
		t.Errorf("a flow to an HR source: %d %s", code, body)
	}

	// The generic webhook.
	const secret = "hr-webhook-secret-0123456789"
	code, body = f.do(t, f.admin, "POST", "/api/v1/integrations", client.IntegrationInput{Kind: "hr_webhook", Name: "People system",
		Secrets: &client.IntegrationSecrets{SigningSecret: secret}})
	wh := decodeAs[client.Integration](t, code, body, 201)
	code, body = f.do(t, f.admin, "GET", "/api/v1/hr-sources/"+wh.ID, nil)
	path := decodeAs[client.HRSource](t, code, body, 200).WebhookPath
	if path != "/api/v1/hr-sources/"+wh.ID+"/webhook" {
		t.Fatalf("webhook path %q", path)
	}
	post := func(b []byte, header string) (int, []byte) {
		return f.send(t, "POST", path, b, func(r *http.Request) {
			if header != "" {
				r.Header.Set(integration.SignatureHeader, header)
			}
		})
	}
	good := []byte(`{"changes":[{"email":"eve@corp.example","departure_date":"2027-01-31"}]}`)
	code, body = post(good, integration.Sign(secret, time.Now(), good))
	if got := decodeAs[client.HRSyncResult](t, code, body, 200); got.Added != 1 {
		t.Errorf("signed webhook: %s", body)
	}
	c1, b1 := post(good, "")
	c2, b2 := post(good, integration.Sign("not-the-secret-0123456789", time.Now(), good))
	if c1 != 401 || c2 != 401 || string(b1) != string(b2) {
		t.Errorf("unsigned %d %s, forged %d %s", c1, b1, c2, b2)
	}
	refused := f.app.Metrics.Counter("telltale_hr_webhook_refused_total", "", "kind", "reason")
	if refused.Value("hr_webhook", "unsigned") != 1 || refused.Value("hr_webhook", "bad_signature") != 1 {
		t.Errorf("refusals counted %d unsigned, %d forged", refused.Value("hr_webhook", "unsigned"), refused.Value("hr_webhook", "bad_signature"))
	}
	huge := []byte(`{"changes":[{"email":"` + strings.Repeat("a", 2<<20) + `@corp.example"}]}`)
	if code, _ := post(huge, integration.Sign(secret, time.Now(), huge)); code != 413 || refused.Value("hr_webhook", "malformed") != 1 {
		t.Errorf("a body over 1 MiB: %d, counted %d", code, refused.Value("hr_webhook", "malformed"))
	}
	bad := []byte(`{"changes":[{"email":"fay@corp.example","action":"fire"}]}`)
	if code, body := post(bad, integration.Sign(secret, time.Now(), bad)); code != 422 || !strings.Contains(string(body), "changes[0].action") || refused.Value("hr_webhook", "malformed") != 2 {
		t.Errorf("a bad change: %d %s", code, body)
	}
	// The source's answer lists the refusals, newest first: when, why, from where; never the body.
	code, body = f.do(t, f.admin, "GET", "/api/v1/hr-sources/"+wh.ID, nil)
	var reasons []string
	for _, x := range decodeAs[client.HRSource](t, code, body, 200).Refusals {
		reasons = append(reasons, x.Reason)
		if x.At.IsZero() || x.RemoteAddr == "" {
			t.Errorf("refusal without time or address: %+v", x)
		}
	}
	if strings.Join(reasons, ",") != "malformed,malformed,bad_signature,unsigned" || strings.Contains(string(body), "fay@corp.example") ||
		strings.Contains(string(body), "aaaaaaaa") {
		t.Errorf("refusals: %v in %s", reasons, body)
	}
	// A request naming no source is not recorded anywhere; the Workday source has none.
	f.send(t, "POST", "/api/v1/hr-sources/"+wd.ID+"/webhook", good, func(*http.Request) {})
	code, body = f.do(t, f.admin, "GET", "/api/v1/hr-sources/"+wd.ID, nil)
	if got := decodeAs[client.HRSource](t, code, body, 200); len(got.Refusals) != 0 {
		t.Errorf("refusals recorded on the Workday source for its wrong route: %s", body)
	}

	// The CSV source.
	code, body = f.do(t, f.admin, "POST", "/api/v1/integrations", client.IntegrationInput{Kind: "hr_csv", Name: "HR export"})
	cs := decodeAs[client.Integration](t, code, body, 201)
	code, body = f.do(t, f.admin, "POST", "/api/v1/hr-sources/"+cs.ID+"/upload", "Email,Departure Date\ngus@corp.example,2027-02-01\nhal@corp.example,soon\n")
	if code != 422 || !strings.Contains(string(body), `"row":3`) || !strings.Contains(string(body), "nothing was changed") {
		t.Errorf("a bad CSV: %d %s", code, body)
	}
	code, body = f.do(t, f.admin, "GET", "/api/v1/people/gus@corp.example", nil)
	if p := decodeAs[client.Person](t, code, body, 200); p.Departing {
		t.Errorf("a bad CSV changed the list: %s", body)
	}
	code, body = f.do(t, f.admin, "POST", "/api/v1/hr-sources/"+cs.ID+"/upload", "Email,Departure Date\ngus@corp.example,2027-02-01\n")
	if got := decodeAs[client.HRSyncResult](t, code, body, 200); got.Added != 1 {
		t.Errorf("upload: %s", body)
	}
}

// TestBambooHRWebhookOverHTTP: BambooHR's webhook, signed with the private key as BambooHR signs
// it, reaches the source's path and puts the departing person on the list; a signature made with
// another key gets the one 401 and is counted; a source without a private key has no webhook.
func TestBambooHRWebhookOverHTTP(t *testing.T) {
	f := newFixtureWith(t, func(c *config.Config) { c.AllowLoopback = true })
	emu := bamboohr.New("acme", "bamboo-key-0123456789")
	bsrv := httptest.NewServer(emu)
	defer bsrv.Close()
	const key = "bamboo-private-key-0123456789"
	code, body := f.do(t, f.admin, "POST", "/api/v1/integrations", client.IntegrationInput{Kind: "bamboohr", Name: "BambooHR",
		Settings: client.IntegrationSettings{Company: "acme", APIBase: bsrv.URL}, Secrets: &client.IntegrationSecrets{Token: "bamboo-key-0123456789", SigningSecret: key}})
	src := decodeAs[client.Integration](t, code, body, 201)
	code, body = f.do(t, f.admin, "GET", "/api/v1/hr-sources/"+src.ID, nil)
	path := decodeAs[client.HRSource](t, code, body, 200).WebhookPath
	if path != "/api/v1/hr-sources/"+src.ID+"/bamboohr" {
		t.Fatalf("webhook path %q", path)
	}
	leaving := bamboohr.Employee{ID: "9", WorkEmail: "ivy@corp.example", Status: "Active", TerminationDate: time.Now().UTC().AddDate(0, 0, 14).Format(time.DateOnly)}
	resp, err := bamboohr.SendWebhook(http.DefaultClient, f.srv.URL+path, "another-private-key-0123", time.Now(), leaving)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	refused := f.app.Metrics.Counter("telltale_hr_webhook_refused_total", "", "kind", "reason")
	if resp.StatusCode != 401 || refused.Value("bamboohr", "bad_signature") != 1 {
		t.Errorf("forged: %d, counted %d", resp.StatusCode, refused.Value("bamboohr", "bad_signature"))
	}
	if resp, err = bamboohr.SendWebhook(http.DefaultClient, f.srv.URL+path, key, time.Now(), leaving); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	code, body = f.do(t, f.admin, "GET", "/api/v1/people/ivy@corp.example", nil)
	if p := decodeAs[client.Person](t, code, body, 200); resp.StatusCode != 200 || !p.Departing || len(p.History) != 1 || p.History[0].Source != "BambooHR" {
		t.Errorf("signed webhook: %d, person %s", resp.StatusCode, body)
	}
	code, body = f.do(t, f.admin, "POST", "/api/v1/integrations", client.IntegrationInput{Kind: "bamboohr", Name: "no hook",
		Settings: client.IntegrationSettings{Company: "acme", APIBase: bsrv.URL}, Secrets: &client.IntegrationSecrets{Token: "bamboo-key-0123456789"}})
	other := decodeAs[client.Integration](t, code, body, 201)
	resp, err = bamboohr.SendWebhook(http.DefaultClient, f.srv.URL+"/api/v1/hr-sources/"+other.ID+"/bamboohr", key, time.Now(), leaving)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || refused.Value("bamboohr", "unsigned") != 1 {
		t.Errorf("a source without a private key: %d, counted %d", resp.StatusCode, refused.Value("bamboohr", "unsigned"))
	}
}

// TestHealthFlagsSilentHRSource: the health check "HR source silent" reads the connected HR
// sources and their last successful sync: one not synced for more than 3 days is a warning, and
// the warning goes once it syncs.
func TestHealthFlagsSilentHRSource(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	code, body := f.do(t, f.admin, "POST", "/api/v1/integrations", client.IntegrationInput{Kind: "hr_csv", Name: "HR export"})
	cs := decodeAs[client.Integration](t, code, body, 201)
	id, _ := strconv.ParseInt(cs.ID, 10, 64)
	silent := func() bool {
		t.Helper()
		code, body := f.do(t, f.admin, "GET", "/api/v1/health", nil)
		h := decodeAs[client.Health](t, code, body, 200)
		for _, w := range h.Warnings {
			if w.Kind == "hr_source_silent" && w.Subject == "HR export" {
				return true
			}
		}
		return false
	}
	if silent() {
		t.Errorf("a source added just now is flagged silent")
	}
	if err := f.app.Store.PutHRSync(ctx, store.HRSync{IntegrationID: id, LastSyncAt: time.Now(), LastOKAt: time.Now().Add(-4 * 24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if !silent() {
		t.Errorf("a source whose last good sync is 4 days old is not flagged")
	}
	if err := f.app.Store.PutHRSync(ctx, store.HRSync{IntegrationID: id, LastSyncAt: time.Now(), LastOKAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if silent() {
		t.Errorf("the warning stays after a good sync")
	}
}
