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
	"github.com/telltale-dev/telltale/internal/emulator/hec"
	"github.com/telltale-dev/telltale/internal/store"
)

// TestForwardOverHTTP: an admin adds a Splunk HEC destination (its token never returned), tests
// it, sees it catch up with its lag, pauses and resumes it; bad input is refused with a 422 that
// says what to fix, and a wrong token shows as the destination's error.
func TestForwardOverHTTP(t *testing.T) {
	f := newFixtureWith(t, func(c *config.Config) { c.AllowLoopback = true })
	h := hec.New("hec-token-123", true)
	srv := httptest.NewServer(h.Handler())
	defer srv.Close()
	code, body := f.do(t, f.admin, "POST", "/api/v1/forward-destinations", client.ForwardInput{Name: "Splunk", Kind: "splunk_hec", Format: "ocsf",
		Settings: client.ForwardSettings{URL: srv.URL, Acks: true}, Secrets: &client.ForwardSecrets{Token: "hec-token-123"}})
	if code != 201 {
		t.Fatalf("create: %d %s", code, body)
	}
	if strings.Contains(string(body), "hec-token-123") {
		t.Fatalf("the token came back: %s", body)
	}
	var d client.ForwardDestination
	json.Unmarshal(body, &d)
	if d.State != "ok" || strings.Join(d.SecretsSet, ",") != "token" || d.Format != "ocsf" || d.Paused {
		t.Errorf("created %+v", d)
	}
	for _, bad := range []client.ForwardInput{
		{Name: "x", Kind: "splunk_hec", Format: "ocsf", Settings: client.ForwardSettings{URL: "http://169.254.169.254"}, Secrets: &client.ForwardSecrets{Token: "t"}},
		{Name: "x", Kind: "syslog", Format: "yaml", Settings: client.ForwardSettings{Address: "127.0.0.1:514"}},
		{Name: "Splunk", Kind: "splunk_hec", Format: "json", Settings: client.ForwardSettings{URL: srv.URL}, Secrets: &client.ForwardSecrets{Token: "t"}},
	} {
		if code, body := f.do(t, f.admin, "POST", "/api/v1/forward-destinations", bad); code != 422 && code != 409 {
			t.Errorf("bad input %+v: %d %s", bad, code, body)
		}
	}
	code, body = f.do(t, f.admin, "POST", "/api/v1/forward-destinations/"+d.ID+"/test", nil)
	if code != 200 || !strings.Contains(compact(body), `"ok":true`) {
		t.Errorf("test: %d %s", code, body)
	}
	code, body = f.do(t, f.admin, "PATCH", "/api/v1/forward-destinations/"+d.ID, client.ForwardInput{Settings: client.ForwardSettings{URL: srv.URL, Acks: true},
		Secrets: &client.ForwardSecrets{Token: "wrong"}, Version: d.Version})
	if code != 200 {
		t.Fatalf("update: %d %s", code, body)
	}
	code, body = f.do(t, f.admin, "POST", "/api/v1/forward-destinations/"+d.ID+"/test", nil)
	if code != 200 || !strings.Contains(string(body), `Invalid token`) || strings.Contains(string(body), "wrong") {
		t.Errorf("test with a wrong token: %d %s", code, body)
	}
	code, body = f.do(t, f.admin, "POST", "/api/v1/forward-destinations/"+d.ID+"/pause", nil)
	if code != 200 || !strings.Contains(compact(body), `"paused":true`) {
		t.Errorf("pause: %d %s", code, body)
	}
	code, body = f.do(t, f.admin, "POST", "/api/v1/forward-destinations/"+d.ID+"/resume", nil)
	if code != 200 || !strings.Contains(compact(body), `"paused":false`) {
		t.Errorf("resume: %d %s", code, body)
	}
	if _, err := f.app.Forward.Run(context.Background(), store.Work{Key: d.ID}); err != nil {
		t.Fatal(err)
	}
	code, body = f.do(t, f.admin, "GET", "/api/v1/forward-destinations", nil)
	if code != 200 || !strings.Contains(compact(body), `"lag_events":0`) {
		t.Errorf("list: %d %s", code, body)
	}
	if code, _ := f.do(t, f.admin, "DELETE", "/api/v1/forward-destinations/"+d.ID, nil); code != 204 && code != 200 {
		t.Errorf("delete: %d", code)
	}
}

func compact(b []byte) string {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return string(b)
	}
	return buf.String()
}
