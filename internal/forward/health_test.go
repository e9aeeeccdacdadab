package forward_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/emulator/syslog"
	"github.com/telltale-dev/telltale/internal/forward"
	"github.com/telltale-dev/telltale/internal/store"
)

// TestDeviceAndConnectionStreams (R8.7): a destination taking the devices and connections streams
// gets every device health change (enrolled, checked in, outdated, silent once the threshold
// passes, deactivated) and every connection status change once, in id order, each with its own id
// name and position; a crash between the acknowledgement and the commit sends that batch again
// (at least once, deduplicable on the id); a restarted service resends nothing; a destination
// taking only file events gets none of them.
func TestDeviceAndConnectionStreams(t *testing.T) {
	e := newEnv(t)
	r, err := syslog.Listen(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	s := e.service(forward.Options{Batch: 2, DeviceSilentAfter: time.Hour})
	v, err := s.Create(ctx, forward.Input{Name: "siem", Kind: forward.KindSyslog, Format: forward.FormatJSON,
		Settings: forward.Settings{Address: r.TCPAddr(), Transport: forward.SyslogTCP, Streams: []string{"Devices", "connections"}}, FromStart: true}, "ann")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(v.Config.Streams, ","); got != "devices,connections" {
		t.Errorf("streams stored %q", got)
	}
	other, err := s.Create(ctx, forward.Input{Name: "events-only", Kind: forward.KindSyslog, Format: forward.FormatJSON,
		Settings: forward.Settings{Address: r.TCPAddr(), Transport: forward.SyslogTCP}, FromStart: true}, "ann")
	if err != nil {
		t.Fatal(err)
	}

	past := e.clk.Now().Add(-10 * time.Minute)
	sec, err := e.st.CreateDeploymentSecret(ctx, store.DeploymentSecret{Name: "laptops", Prefix: "tds_x", Hash: []byte("h"), CreatedAt: past, ExpiresAt: past.Add(48 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	d, err := e.st.CreateDevice(ctx, store.Device{PublicKey: []byte("pk"), SecretID: sec.ID, HostName: "mac-ann", OS: "macOS", AgentVersion: "0.9.0", Person: "ann@corp.example", EnrolledAt: past})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.RecordCheckIn(ctx, d.ID, store.CheckIn{Counter: 1, At: past.Add(time.Minute), HostName: "mac-ann", OS: "macOS", AgentVersion: "0.9.0", Outdated: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.SetDeviceActive(ctx, d.ID, false, "bob", past.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []store.StatusChange{{From: "Monitoring", To: "Error", Reason: "401 from Box: reconnect"}, {From: "Error", To: "Monitoring", Actor: "ann"}} {
		c.ConnectionID, c.At = e.conn, past.Add(3*time.Minute)
		if c.Actor == "" {
			c.Actor = "system"
		}
		if _, err := e.st.AppendStatusChange(ctx, c); err != nil {
			t.Fatal(err)
		}
	}

	// A crash between the acknowledgement and the commit: that batch is sent again.
	crashed := false
	dying := e.service(forward.Options{Batch: 2, BeforeAdvance: func(int64) error {
		if !crashed {
			crashed = true
			return errors.New("killed")
		}
		return nil
	}})
	dying.Run(ctx, store.Work{Kind: forward.WorkForward, Key: itoa(v.ID)})
	if !crashed {
		t.Fatal("the dying node sent nothing")
	}
	drain(t, s, v.ID, 3)
	drain(t, s, other.ID, 2)
	ids := func() map[string][]string {
		out := map[string][]string{}
		for _, m := range r.Messages() {
			for k, val := range m.SD[forward.SDID] {
				out[m.MsgID+"/"+k] = append(out[m.MsgID+"/"+k], val)
			}
		}
		return out
	}
	waitFor(t, func() bool {
		n := ids()
		return len(n["device_health/device_health_id"])+len(n["connection_status/status_change_id"]) >= 5
	})
	time.Sleep(100 * time.Millisecond)
	got := ids()
	dev := slices.Compact(slices.Sorted(slices.Values(got["device_health/device_health_id"])))
	if len(got) != 2 || len(dev) != 3 || !slices.IsSorted(got["connection_status/status_change_id"]) {
		t.Errorf("sent: %v", got)
	}
	if len(got["device_health/device_health_id"])+len(got["connection_status/status_change_id"]) > 5+2 {
		t.Errorf("more than the batch that crashed was sent twice: %v", got)
	}
	var kinds []string
	seen := map[int64]bool{}
	for _, m := range r.Messages() {
		if m.MsgID == "device_health" {
			var rec forward.DeviceHealthRecord
			if err := json.Unmarshal([]byte(m.Msg), &rec); err != nil {
				t.Fatalf("%v: %s", err, m.Msg)
			}
			if !seen[rec.ID] { // the id deduplicates the batch sent again
				seen[rec.ID] = true
				kinds = append(kinds, rec.Health)
			}
			if rec.DeviceID != d.ID || rec.HostName != "mac-ann" {
				t.Errorf("device record %+v", rec)
			}
		}
		if m.MsgID == "connection_status" {
			var rec forward.ConnectionStatusRecord
			if err := json.Unmarshal([]byte(m.Msg), &rec); err != nil || rec.Connection != "box" || rec.ConnectionID != e.conn || rec.To == "" {
				t.Errorf("connection record %+v %v", rec, err)
			}
		}
	}
	if strings.Join(kinds, ",") != "enrolled,outdated,deactivated" {
		t.Errorf("device health sent: %v", kinds)
	}
	pos := get(t, s, v.ID).Streams
	if pos["devices"].Sent < 3 || pos["connections"].Sent < 2 {
		t.Errorf("positions: %+v", pos)
	}

	// A device silent beyond the threshold is sent once; a restarted service resends nothing else.
	before := len(r.Messages())
	d2, err := e.st.CreateDevice(ctx, store.Device{PublicKey: []byte("pk2"), SecretID: sec.ID, HostName: "win-bob", OS: "Windows 11", EnrolledAt: e.clk.Now().Add(-5 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	drain(t, s, v.ID, 1) // its enrolment
	e.clk.Advance(2 * time.Hour)
	for range 3 {
		s2 := e.service(forward.Options{Batch: 2, DeviceSilentAfter: time.Hour})
		drain(t, s2, v.ID, 2) // the silence is looked for; it is 2 s old on the next look
		e.clk.Advance(5 * time.Second)
	}
	waitFor(t, func() bool { return len(r.Messages()) >= before+2 })
	time.Sleep(100 * time.Millisecond)
	var after []string
	for _, m := range r.Messages()[before:] {
		var rec forward.DeviceHealthRecord
		json.Unmarshal([]byte(m.Msg), &rec)
		after = append(after, itoa(rec.DeviceID)+":"+rec.Health)
	}
	if strings.Join(after, " ") != itoa(d2.ID)+":enrolled "+itoa(d2.ID)+":silent" {
		t.Errorf("after the restarts: %v (the deactivated device is not silent; each silence once)", after)
	}
}
