package api_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/telltale-dev/telltale/client"
)

// TestTrustedActivities: an admin sets trusted recipients, shared drives and partner tenants with their reasons
// through the settings; a bad entry is refused naming it and changes nothing; a PUT without them
// keeps them; the change is audited.
func TestTrustedActivities(t *testing.T) {
	f := newFixture(t)
	bad := client.Settings{TrustedDomains: []string{"corp.example"}, RetentionDays: 30, TrustedActivities: []client.TrustedActivity{
		{Kind: "recipient", Value: "ann@ally.example", Reason: "NDA"}, {Kind: "domain", Value: "x", Reason: "y"}, {Kind: "recipient", Value: "bob@ally.example"},
		{Kind: "tenant", Service: "dropbox", Value: "x", Reason: "y"}}}
	code, body := f.do(t, f.admin, "PUT", "/api/v1/settings", bad)
	p := problem(t, body)
	for _, want := range []string{`trusted_activities[1].kind "domain": use recipient, shared_drive or tenant`, "trusted_activities[2].reason: say why",
		`trusted_activities[3].service "dropbox": a tenant is at one of box, google, microsoft`} {
		if code != 400 || !strings.Contains(p.Detail, want) {
			t.Errorf("bad entries: %d %q lacks %q", code, p.Detail, want)
		}
	}
	var got client.Settings
	_, body = f.do(t, f.admin, "GET", "/api/v1/settings", nil)
	if json.Unmarshal(body, &got); got.TrustedActivities == nil || len(got.TrustedActivities) != 0 {
		t.Fatalf("a refused PUT changed the trusted activities: %s", body)
	}
	good := client.Settings{TrustedDomains: []string{"corp.example"}, RetentionDays: 30, TrustedActivities: []client.TrustedActivity{
		{Kind: "shared_drive", Value: "0AFdrive", Reason: "joint venture"}, {Kind: "recipient", Value: "Ann@Ally.Example", Reason: "NDA"},
		{Kind: "tenant", Service: "Google", Value: "JV.example", Reason: "contract JV-7"}}}
	code, body = f.do(t, f.admin, "PUT", "/api/v1/settings", good)
	json.Unmarshal(body, &got)
	if code != 200 || len(got.TrustedActivities) != 3 || got.TrustedActivities[0] != (client.TrustedActivity{Kind: "recipient", Value: "ann@ally.example", Reason: "NDA"}) ||
		got.TrustedActivities[2] != (client.TrustedActivity{Kind: "tenant", Service: "google", Value: "jv.example", Reason: "contract JV-7"}) {
		t.Fatalf("good entries: %d %s", code, body)
	}
	code, body = f.do(t, f.admin, "PUT", "/api/v1/settings", client.Settings{TrustedDomains: []string{"corp.example"}, RetentionDays: 60})
	json.Unmarshal(body, &got)
	if code != 200 || len(got.TrustedActivities) != 3 {
		t.Errorf("a PUT without trusted activities dropped them: %d %s", code, body)
	}
	_, body = f.do(t, f.admin, "GET", "/api/v1/audit?action=settings.update", nil)
	if !strings.Contains(string(body), "0AFdrive") {
		t.Errorf("the trusted activities are not in the audit log: %s", body)
	}
}
