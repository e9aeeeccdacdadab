package forward

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/store"
)

var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

// sampleAlerts cover every state, with and without a person, resolution and times.
func sampleAlerts() []store.Alert {
	return []store.Alert{
		{ID: 7, RuleID: 3, RuleName: "Departing employee exfiltration", GroupKey: "ann@corp.example", Person: "ann@corp.example", State: store.AlertOpen,
			Severity: "high", Summary: `12 files | "public" \ link`, FirstEventAt: t0, LastEventAt: t0.Add(time.Hour), EventCount: 12, CreatedAt: t0.Add(2 * time.Hour)},
		{ID: 8, RuleID: 4, RuleName: "Off-hours bulk download", State: store.AlertInProgress, Severity: "critical", Assignee: "bob", CreatedAt: t0},
		{ID: 9, RuleID: 4, RuleName: "r", State: store.AlertResolved, Resolution: "true_positive", Severity: "low", CreatedAt: t0},
		{ID: 10, RuleID: 5, RuleName: "r", State: store.AlertDismissed, Resolution: "false_positive", Severity: "moderate", CreatedAt: t0},
	}
}

// sampleAudit cover the outcomes and verbs, with and without an address and details.
func sampleAudit() []store.AuditEntry {
	return []store.AuditEntry{
		{ID: 1, At: t0, Actor: "admin", ActorID: 1, Action: "connection.create", Target: "connection/7", Details: []byte(`{"name":"Box"}`), ClientIP: "192.0.2.10", Outcome: "ok"},
		{ID: 2, At: t0, Actor: "ann", ActorID: 2, Action: "file_events.search", ClientIP: "2001:db8::1", Outcome: "ok"},
		{ID: 3, At: t0, Actor: "ann", ActorID: 2, Action: "watchlist.remove", Outcome: "403 Forbidden"},
		{ID: 4, At: t0, Action: "settings.update", Outcome: store.AuditStarted, Details: []byte(`not json`)},
	}
}

// TestOCSFAlertAndAuditMatchTheSchema: alerts are Detection Findings (2004), audit entries API
// Activity (6003), valid against OCSF 1.8.0 with the same strict validator as file events.
func TestOCSFAlertAndAuditMatchTheSchema(t *testing.T) {
	s := loadOCSF(t)
	check := func(what string, r Record, err error, class int) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		if errs := s.validateRecord(t, r.Body); len(errs) > 0 {
			t.Errorf("%s: %d schema errors:\n  %s\nrecord: %s", what, len(errs), strings.Join(errs, "\n  "), r.Body)
		}
		var o struct {
			ClassUID int `json:"class_uid"`
		}
		json.Unmarshal(r.Body, &o)
		if o.ClassUID != class {
			t.Errorf("%s: class %d, want %d", what, o.ClassUID, class)
		}
	}
	for _, a := range sampleAlerts() {
		r, err := FormatAlert(FormatOCSF, "1.2.3", &a)
		check("alert "+itoa(a.ID), r, err, 2004)
		if r.IDName != "alert_id" || r.ID != a.ID {
			t.Errorf("alert %d: record id %s=%d", a.ID, r.IDName, r.ID)
		}
	}
	for _, e := range sampleAudit() {
		r, err := FormatAudit(FormatOCSF, "1.2.3", &e)
		check("audit "+itoa(e.ID), r, err, 6003)
	}
}

// TestAlertAndAuditCEFAndJSON: the CEF lines parse with their escaping, and JSON carries the ids.
func TestAlertAndAuditCEFAndJSON(t *testing.T) {
	a := sampleAlerts()[0]
	r, err := FormatAlert(FormatCEF, "1.2.3", &a)
	if err != nil {
		t.Fatal(err)
	}
	want := `CEF:0|Telltale|Telltale|1.2.3|alert|Departing employee exfiltration|8|externalId=7 `
	if !strings.HasPrefix(string(r.Body), want) || !strings.Contains(string(r.Body), `msg=12 files | "public" \\ link`) {
		t.Errorf("alert CEF:\n%s\nwant prefix %s", r.Body, want)
	}
	e := sampleAudit()[2]
	if r, _ = FormatAudit(FormatCEF, "1.2.3", &e); !strings.Contains(string(r.Body), "|audit:watchlist.remove|watchlist.remove|5|") ||
		!strings.Contains(string(r.Body), "outcome=failure reason=403 Forbidden") {
		t.Errorf("audit CEF: %s", r.Body)
	}
	e = sampleAudit()[3]
	r, _ = FormatAudit(FormatJSON, "1.2.3", &e)
	var back AuditRecord
	if err := json.Unmarshal(r.Body, &back); err != nil || back.ID != 4 || back.Type != "audit" || back.Outcome != "started" || back.Details != nil {
		t.Errorf("audit JSON (details that are not JSON are left out): %s %v", r.Body, err)
	}
}
