package forward

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/event"
)

// sampleEvents covers every action, the optional fields set and unset, and values that need
// escaping or do not fit OCSF's patterns.
func sampleEvents() []event.FileEvent {
	t0 := time.Date(2026, 12, 1, 10, 4, 5, 123_000_000, time.UTC)
	full := event.FileEvent{Timestamp: t0,
		Event:   event.Meta{ID: 901, Action: event.ActionShared, Observer: event.ObserverBox, ConnectionID: 3, ConnectionName: "Box | prod", Inserted: t0.Add(2 * time.Second), Count: 2},
		User:    event.User{Email: "alice@corp.example", VendorID: "u-17", Name: "Alice Liddell"},
		File:    event.File{ID: "f-1", Name: `plan=Q4|final\v2.xlsx`, Directory: "/Finance", Path: "/Finance/plan.xlsx", Size: 1048576, MimeType: "application/vnd.ms-excel", Category: event.CategorySpreadsheet, Owner: "alice@corp.example", Created: t0.Add(-time.Hour), Modified: t0.Add(-time.Minute), URL: "https://app.box.com/file/1", Hash: event.Hash{MD5: "d41d8cd98f00b204e9800998ecf8427e", SHA256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", SHA1: "da39a3ee5e6b4b0d3255bfef95601890afd80709", QuickXor: "AAAAAAAAAAAAAAAAAAAAAAAAAAA="}},
		Sharing: event.Sharing{LinkScope: event.LinkAnyone, SharedWith: []string{"rival@other.example"}, Exposure: []event.Exposure{event.ExposurePublicLink, event.ExposureOutsideTrustedDomain}},
		Source:  event.Source{IP: "203.0.113.9", UserAgent: "Mozilla/5.0\nInjected: header"},
		Risk:    event.Risk{Score: 7, Severity: event.SeverityHigh, Indicators: []string{"public_link", "outside_trusted_domains"}},
	}
	var out []event.FileEvent
	for i, a := range event.Actions() {
		e := full
		e.Event.ID = int64(900 + i)
		e.Event.Action = a
		if a == event.ActionEmailed {
			e.Event.Observer = event.ObserverGmail
			e.Email = event.Email{Sender: "alice@corp.example", From: "Alice <alice@corp.example>", Recipients: []string{"bob@other.example", "not an address"}, Subject: "Q4 = done\r\nBcc: x", MessageID: "<m1@corp.example>"}
		}
		out = append(out, e)
	}
	bare := event.FileEvent{Timestamp: t0, Event: event.Meta{ID: 1, Action: event.ActionDownloaded, Observer: event.ObserverOneDrive}}
	out = append(out, bare)
	mail := bare
	mail.Event.ID, mail.Event.Action, mail.Event.Observer = 2, event.ActionEmailed, event.ObserverMicrosoft365Mail
	mail.User.Email = "not-an-email"
	out = append(out, mail)
	odd := bare
	odd.Event.ID, odd.User = 3, event.User{VendorID: "S-1-5-21"}
	odd.Risk.Severity = event.SeverityCritical
	out = append(out, odd)
	for _, s := range []event.Severity{event.SeverityNone, event.SeverityLow, event.SeverityModerate} {
		e := full
		e.Event.ID = 4 + int64(len(out))
		e.Risk.Severity = s
		out = append(out, e)
	}
	return out
}

// TestOCSFRecordsMatchTheSchema: every OCSF record Telltale emits, for every action and with
// optional fields set and unset, passes the vendored OCSF 1.8.0 schema (required attributes,
// declared attributes only, types, enums, profiles, ids consistent).
func TestOCSFRecordsMatchTheSchema(t *testing.T) {
	s := loadOCSF(t)
	classes := map[int]int{}
	for _, e := range sampleEvents() {
		r, err := Format(FormatOCSF, "1.2.3", &e)
		if err != nil {
			t.Fatal(err)
		}
		if errs := s.validateRecord(t, r.Body); len(errs) > 0 {
			t.Errorf("event %d (%s): %d schema errors:\n  %s\nrecord: %s", e.Event.ID, e.Event.Action, len(errs), strings.Join(errs, "\n  "), r.Body)
		}
		var o OCSFEvent
		if err := json.Unmarshal(r.Body, &o); err != nil {
			t.Fatal(err)
		}
		classes[o.ClassUID]++
		if o.Metadata.UID == "" || o.Metadata.UID != itoa(e.Event.ID) {
			t.Errorf("event %d: metadata.uid %q: the stable id a SIEM dedupes on", e.Event.ID, o.Metadata.UID)
		}
		wantClass := 6006
		if e.Event.Action == event.ActionEmailed {
			wantClass = 4009
		}
		if o.ClassUID != wantClass {
			t.Errorf("event %d (%s): class %d, want %d", e.Event.ID, e.Event.Action, o.ClassUID, wantClass)
		}
	}
	if classes[6006] == 0 || classes[4009] == 0 {
		t.Errorf("classes emitted: %v", classes)
	}
}

// TestOCSFValidatorIsStrict: the validator catches a renamed attribute, a missing required one,
// a wrong type, a bad enum value, an inconsistent type_uid, a profile attribute without its
// profile and a deprecated class, so that the test above cannot pass by accident.
func TestOCSFValidatorIsStrict(t *testing.T) {
	s := loadOCSF(t)
	e := sampleEvents()[0]
	r, err := Format(FormatOCSF, "1.2.3", &e)
	if err != nil {
		t.Fatal(err)
	}
	if errs := s.validateRecord(t, r.Body); len(errs) != 0 {
		t.Fatalf("the base record is invalid: %v", errs)
	}
	mutations := map[string]func(m map[string]any){
		"file renamed":         func(m map[string]any) { m["files"] = m["file"]; delete(m, "file") },
		"metadata.uid renamed": func(m map[string]any) { md := m["metadata"].(map[string]any); md["id"] = md["uid"]; delete(md, "uid") },
		"file.name renamed":    func(m map[string]any) { f := m["file"].(map[string]any); f["filename"] = f["name"]; delete(f, "name") },
		"hash value renamed": func(m map[string]any) {
			h := m["file"].(map[string]any)["hashes"].([]any)[0].(map[string]any)
			h["hash"] = h["value"]
			delete(h, "value")
		},
		"actor missing":             func(m map[string]any) { delete(m, "actor") },
		"time as a string":          func(m map[string]any) { m["time"] = "2026-12-01T10:04:05Z" },
		"severity_id out of enum":   func(m map[string]any) { m["severity_id"] = 7 },
		"activity_id out of enum":   func(m map[string]any) { m["activity_id"] = 42; m["type_uid"] = 600642 },
		"type_uid inconsistent":     func(m map[string]any) { m["type_uid"] = 600609 },
		"category_uid wrong":        func(m map[string]any) { m["category_uid"] = 1 },
		"profile not declared":      func(m map[string]any) { delete(m["metadata"].(map[string]any), "profiles") },
		"email_addr not an address": func(m map[string]any) { m["actor"].(map[string]any)["user"].(map[string]any)["email_addr"] = "alice" },
		"deprecated class 4011":     func(m map[string]any) { m["class_uid"] = 4011; m["category_uid"] = 4; m["type_uid"] = 401112 },
	}
	for name, mutate := range mutations {
		var m map[string]any
		if err := json.Unmarshal(r.Body, &m); err != nil {
			t.Fatal(err)
		}
		mutate(m)
		b, _ := json.Marshal(m)
		if errs := s.validateRecord(t, b); len(errs) == 0 {
			t.Errorf("%s: the validator accepted it", name)
		}
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }
