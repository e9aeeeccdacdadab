package forward

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/emulator/syslog"
	"github.com/telltale-dev/telltale/internal/store"
)

// sampleDeviceHealth covers every kind, with and without a person, OS and actor.
func sampleDeviceHealth() []store.DeviceHealth {
	return []store.DeviceHealth{
		{ID: 1, DeviceID: 4, At: t0, Kind: store.DeviceEnrolled, HostName: "mac-ann", OS: "macOS 15.1", AgentVersion: "1.2.0", Person: "ann@corp.example"},
		{ID: 2, DeviceID: 4, At: t0, Kind: store.DeviceCheckedIn, HostName: "mac-ann", OS: "macOS 15.1", AgentVersion: "1.2.0", Person: "ann@corp.example"},
		{ID: 3, DeviceID: 5, At: t0, Kind: store.DeviceOutdated, HostName: `win|=1\`, OS: "Windows 11", AgentVersion: "0.9.0", Outdated: true},
		{ID: 4, DeviceID: 6, At: t0, Kind: store.DeviceSilent, HostName: "ubuntu", OS: "Linux", Since: t0.Add(-30 * time.Hour)},
		{ID: 5, DeviceID: 7, At: t0, Kind: store.DeviceDeactivated, HostName: "x", OS: "FreeBSD", Actor: "bob"},
		{ID: 6, DeviceID: 7, At: t0, Kind: store.DeviceReactivated, Actor: "bob"},
	}
}

func sampleStatusChanges() []store.StatusChange {
	return []store.StatusChange{
		{ID: 1, ConnectionID: 3, At: t0, To: "Connected", Actor: "ann"},
		{ID: 2, ConnectionID: 3, At: t0, From: "Monitoring", To: "Error", Actor: "system", Reason: `Box said 401 | "invalid_grant": reconnect`},
		{ID: 3, ConnectionID: 9, At: t0, From: "Error", To: "Deauthorized"},
	}
}

// TestOCSFHealthMatchTheSchema: device lifecycle changes are Entity Management (3004), what a
// check-in tells Device Inventory Info (5001), connection status changes Entity Management, all
// valid against OCSF 1.8.0 with the strict validator.
func TestOCSFHealthMatchTheSchema(t *testing.T) {
	s := loadOCSF(t)
	check := func(what string, r Record, err error, class, activity int) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		if errs := s.validateRecord(t, r.Body); len(errs) > 0 {
			t.Errorf("%s: %d schema errors:\n  %s\nrecord: %s", what, len(errs), strings.Join(errs, "\n  "), r.Body)
		}
		var o struct {
			ClassUID   int `json:"class_uid"`
			ActivityID int `json:"activity_id"`
		}
		json.Unmarshal(r.Body, &o)
		if o.ClassUID != class || o.ActivityID != activity {
			t.Errorf("%s: class %d activity %d, want %d %d", what, o.ClassUID, o.ActivityID, class, activity)
		}
	}
	want := map[string][2]int{store.DeviceEnrolled: {3004, 6}, store.DeviceCheckedIn: {5001, 1}, store.DeviceOutdated: {5001, 1},
		store.DeviceSilent: {5001, 1}, store.DeviceDeactivated: {3004, 9}, store.DeviceReactivated: {3004, 8}}
	for _, h := range sampleDeviceHealth() {
		r, err := FormatDeviceHealth(FormatOCSF, "1.2.3", &h)
		check("device "+h.Kind, r, err, want[h.Kind][0], want[h.Kind][1])
		if r.IDName != "device_health_id" || r.ID != h.ID {
			t.Errorf("device %d: record id %s=%d", h.ID, r.IDName, r.ID)
		}
	}
	conn := &store.Connection{ID: 3, Name: "Box", Service: "box"}
	for i, sc := range sampleStatusChanges() {
		c := conn
		if sc.ConnectionID != 3 {
			c = nil // gone
		}
		r, err := FormatConnectionStatus(FormatOCSF, "1.2.3", &sc, c)
		check("status change "+sc.To, r, err, 3004, []int{1, 3, 3}[i])
	}
}

// TestHealthCEFAndJSON: the CEF lines parse with their escaping and carry the ids; JSON carries
// the kind, the statuses and the connection's name.
func TestHealthCEFAndJSON(t *testing.T) {
	hs := sampleDeviceHealth()
	r, err := FormatDeviceHealth(FormatCEF, "1.2.3", &hs[2])
	if err != nil {
		t.Fatal(err)
	}
	c, err := syslog.ParseCEF(string(r.Body))
	if err != nil || c.ClassID != "device:outdated" || c.Severity != "4" || c.Ext["dvchost"] != `win|=1\` || c.Ext["deviceExternalId"] != "5" ||
		c.Ext["cs1"] != "0.9.0" || c.Ext["cs3"] != "true" || c.Ext["externalId"] != "3" {
		t.Errorf("device CEF %s: %+v %v", r.Body, c, err)
	}
	r, _ = FormatDeviceHealth(FormatCEF, "1.2.3", &hs[3])
	if c, err := syslog.ParseCEF(string(r.Body)); err != nil || c.Ext["start"] != itoa(t0.Add(-30*time.Hour).UnixMilli()) || c.Severity != "5" {
		t.Errorf("silent device CEF %s: %+v %v", r.Body, c, err)
	}
	scs := sampleStatusChanges()
	r, _ = FormatConnectionStatus(FormatCEF, "1.2.3", &scs[1], &store.Connection{ID: 3, Name: "Box = main", Service: "box"})
	c, err = syslog.ParseCEF(string(r.Body))
	if err != nil || c.ClassID != "connection:Error" || c.Severity != "7" || c.Ext["cs1"] != "Box = main" || c.Ext["cs2"] != "Monitoring" ||
		c.Ext["reason"] != scs[1].Reason || c.Ext["cn1"] != "3" {
		t.Errorf("connection CEF %s: %+v %v", r.Body, c, err)
	}
	r, _ = FormatConnectionStatus(FormatJSON, "1.2.3", &scs[1], &store.Connection{ID: 3, Name: "Box", Service: "box"})
	var back ConnectionStatusRecord
	if err := json.Unmarshal(r.Body, &back); err != nil || back.Type != "connection_status" || back.Connection != "Box" || back.From != "Monitoring" ||
		back.To != "Error" || back.Service != "box" || r.IDName != "status_change_id" {
		t.Errorf("connection JSON %s %v", r.Body, err)
	}
	r, _ = FormatDeviceHealth(FormatJSON, "1.2.3", &hs[3])
	var dev DeviceHealthRecord
	if err := json.Unmarshal(r.Body, &dev); err != nil || dev.Health != "silent" || !dev.SilentSince.Equal(t0.Add(-30*time.Hour)) || dev.DeviceID != 6 {
		t.Errorf("device JSON %s %v", r.Body, err)
	}
}
