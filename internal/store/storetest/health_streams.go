package storetest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/store"
)

// testDeviceHealth: enrolment, the first check-in, a check-in with other details or another
// outdated flag, silence (once however often it is looked for, again after the next check-in)
// and deactivation each write one health row, in id order; a check-in with nothing new none.
func testDeviceHealth(t *testing.T, s store.Store) {
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	sec := ok(s.CreateDeploymentSecret(ctx, store.DeploymentSecret{Name: "laptops", Prefix: "tds_h", Hash: []byte("hash-health"), CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}))(t)
	d := ok(s.CreateDevice(ctx, store.Device{PublicKey: []byte("pk-health-1"), SecretID: sec.ID, HostName: "mac-1", OS: "macOS", AgentVersion: "1.0.0", Person: "Ann@Corp.Example", EnrolledAt: t0}))(t)
	quiet := ok(s.CreateDevice(ctx, store.Device{PublicKey: []byte("pk-health-2"), SecretID: sec.ID, HostName: "win-2", OS: "Windows", EnrolledAt: t0}))(t)
	ci := func(n int64, at time.Time, version string, outdated bool) {
		t.Helper()
		ok(s.RecordCheckIn(ctx, d.ID, store.CheckIn{Counter: n, At: at, HostName: "mac-1", OS: "macOS", AgentVersion: version, Outdated: outdated}))(t)
	}
	ci(1, t0.Add(time.Minute), "1.0.0", false)   // the first check-in
	ci(2, t0.Add(2*time.Minute), "1.0.0", false) // nothing new
	ci(3, t0.Add(3*time.Minute), "1.0.0", true)  // the server moved on: outdated
	ci(4, t0.Add(4*time.Minute), "1.1.0", false) // upgraded
	if n := ok(s.MarkSilentDevices(ctx, t0.Add(30*time.Minute), t0.Add(time.Hour)))(t); n != 2 {
		t.Errorf("silent devices marked: %d, want 2", n)
	}
	if n := ok(s.MarkSilentDevices(ctx, t0.Add(30*time.Minute), t0.Add(2*time.Hour)))(t); n != 0 {
		t.Errorf("the same silences marked again: %d", n)
	}
	ci(5, t0.Add(3*time.Hour), "1.1.0", false) // back
	ok(s.SetDeviceActive(ctx, quiet.ID, false, "bob", t0.Add(4*time.Hour)))(t)
	if n := ok(s.MarkSilentDevices(ctx, t0.Add(5*time.Hour), t0.Add(6*time.Hour)))(t); n != 1 {
		t.Errorf("after the check-in, a new silence of the device (the deactivated one is not silent): %d", n)
	}
	all := ok(s.ListDeviceHealth(ctx, 0, 0))(t)
	var got []string
	for _, h := range all {
		got = append(got, fmt.Sprintf("%d:%s:%s:%v", map[int64]int{d.ID: 1, quiet.ID: 2}[h.DeviceID], h.Kind, h.AgentVersion, h.Outdated))
	}
	want := "1:enrolled:1.0.0:false 2:enrolled::false 1:checked_in:1.0.0:false 1:outdated:1.0.0:true 1:checked_in:1.1.0:false " +
		"1:silent:1.1.0:false 2:silent::false 1:checked_in:1.1.0:false 2:deactivated::false 1:silent:1.1.0:false"
	if g := strings.Join(got, " "); g != want {
		t.Errorf("health rows:\n got %s\nwant %s", g, want)
	}
	for i := 1; i < len(all); i++ {
		if all[i].ID <= all[i-1].ID {
			t.Errorf("not in id order: %+v", all)
		}
	}
	if len(all) == 10 {
		if all[0].Person != "ann@corp.example" || !all[5].Since.Equal(t0.Add(4*time.Minute)) || !all[5].At.Equal(t0.Add(time.Hour)) ||
			!all[6].Since.Equal(t0) || all[8].Actor != "bob" || !all[8].At.Equal(t0.Add(4*time.Hour)) {
			t.Errorf("rows' details: %+v", all)
		}
		if page := ok(s.ListDeviceHealth(ctx, all[2].ID, 2))(t); len(page) != 2 || page[0].ID != all[3].ID {
			t.Errorf("after %d, 2: %+v", all[2].ID, page)
		}
	}
	// Deactivated and reactivated, the device's next check-in writes a row again, then nothing
	// until something changes: here the person signed in (issue 18: what the last row says is kept
	// on the device, so a check-in that changes nothing reads no other table).
	ci(6, t0.Add(6*time.Hour+time.Minute), "1.1.0", false) // back from the silence
	ok(s.SetDeviceActive(ctx, d.ID, false, "bob", t0.Add(7*time.Hour)))(t)
	ok(s.SetDeviceActive(ctx, d.ID, true, "bob", t0.Add(8*time.Hour)))(t)
	ci(7, t0.Add(9*time.Hour), "1.1.0", false)  // back after the reactivation
	ci(8, t0.Add(10*time.Hour), "1.1.0", false) // nothing new
	who := func(n int64, person string) {
		t.Helper()
		ok(s.RecordCheckIn(ctx, d.ID, store.CheckIn{Counter: n, At: t0.Add(time.Duration(n) * time.Hour), HostName: "mac-1", OS: "macOS", AgentVersion: "1.1.0", Person: person}))(t)
	}
	who(11, "Cy@Corp.Example")                  // another person: a row
	who(12, "cy@corp.example")                  // the same
	who(13, "")                                 // no person named: the device keeps cy, nothing new
	ci(14, t0.Add(14*time.Hour), "1.1.0", true) // outdated now
	got = nil
	for _, h := range ok(s.ListDeviceHealth(ctx, all[len(all)-1].ID, 0))(t) {
		got = append(got, fmt.Sprintf("%d:%s:%s:%v", map[int64]int{d.ID: 1, quiet.ID: 2}[h.DeviceID], h.Kind, h.Person, h.Outdated))
	}
	want = "1:checked_in:ann@corp.example:false 1:deactivated:ann@corp.example:false 1:reactivated:ann@corp.example:false 1:checked_in:ann@corp.example:false " +
		"1:checked_in:cy@corp.example:false 1:outdated:cy@corp.example:true"
	if g := strings.Join(got, " "); g != want {
		t.Errorf("health rows after the reactivation:\n got %s\nwant %s", g, want)
	}
}

// testStatusChangesAfter: every connection's status changes after an id, in id order, paged.
func testStatusChangesAfter(t *testing.T, s store.Store) {
	a := ok(s.CreateConnection(ctx, store.Connection{Name: "after-a", Service: "box", ServiceType: "cloud", Status: "Connected"}))(t)
	b := ok(s.CreateConnection(ctx, store.Connection{Name: "after-b", Service: "box", ServiceType: "cloud", Status: "Connected"}))(t)
	start := int64(0)
	if prev := ok(s.ListStatusChangesAfter(ctx, 0, 100000))(t); len(prev) > 0 {
		start = prev[len(prev)-1].ID
	}
	var ids []int64
	for i, c := range []int64{a.ID, b.ID, a.ID} {
		sc := ok(s.AppendStatusChange(ctx, store.StatusChange{ConnectionID: c, From: "Connected", To: "Error", Actor: "system", Reason: fmt.Sprint("r", i)}))(t)
		ids = append(ids, sc.ID)
	}
	got := ok(s.ListStatusChangesAfter(ctx, start, 0))(t)
	if len(got) != 3 || got[0].ID != ids[0] || got[1].ConnectionID != b.ID || got[2].Reason != "r2" || got[2].To != "Error" {
		t.Errorf("after %d: %+v", start, got)
	}
	if got := ok(s.ListStatusChangesAfter(ctx, ids[0], 1))(t); len(got) != 1 || got[0].ID != ids[1] {
		t.Errorf("after %d, 1: %+v", ids[0], got)
	}
}

// testHRRefusals: a source keeps its newest refusals only, newest first, apart from other sources'.
func testHRRefusals(t *testing.T, s store.Store) {
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	for i := range 5 {
		noErr(t, s.AppendHRRefusal(ctx, store.HRRefusal{IntegrationID: 41, At: t0.Add(time.Duration(i) * time.Minute), Reason: fmt.Sprint("r", i),
			Detail: "bad signature", RemoteAddr: "192.0.2.7"}, 3))
	}
	noErr(t, s.AppendHRRefusal(ctx, store.HRRefusal{IntegrationID: 42, Reason: "malformed"}, 3))
	got := ok(s.ListHRRefusals(ctx, 41, 0))(t)
	if len(got) != 3 || got[0].Reason != "r4" || got[2].Reason != "r2" || !got[0].At.Equal(t0.Add(4*time.Minute)) || got[0].RemoteAddr != "192.0.2.7" ||
		got[0].Detail != "bad signature" || got[0].IntegrationID != 41 {
		t.Errorf("refusals of 41: %+v", got)
	}
	if got := ok(s.ListHRRefusals(ctx, 42, 0))(t); len(got) != 1 || got[0].At.IsZero() {
		t.Errorf("refusals of 42: %+v", got)
	}
	if got := ok(s.ListHRRefusals(ctx, 41, 1))(t); len(got) != 1 || got[0].Reason != "r4" {
		t.Errorf("limit 1: %+v", got)
	}
	// Deleting the source deletes its refusals.
	i := ok(s.CreateIntegration(ctx, store.Integration{Kind: "hr_webhook", Name: "refusing", Status: store.IntegrationConnected}))(t)
	noErr(t, s.AppendHRRefusal(ctx, store.HRRefusal{IntegrationID: i.ID, Reason: "stale"}, 0))
	noErr(t, s.DeleteIntegration(ctx, i.ID))
	if got := ok(s.ListHRRefusals(ctx, i.ID, 0))(t); len(got) != 0 {
		t.Errorf("refusals of a deleted source: %+v", got)
	}
}

// DeviceHealthLastMigration checks migration 0038's devices.health_last, taken from each
// device's last health row: s is a store with every migration; its devices check in (one last
// with a check-in row, one silent, one never), then the columns are dropped and the schema
// version set back to before version, and reopen opens it again (the migration runs). A check-in
// that changes nothing then writes no row, one after a silence or without a check-in does.
func DeviceHealthLastMigration(t *testing.T, s store.Store, version int, reopen func(t *testing.T) store.Store) {
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	sec := ok(s.CreateDeploymentSecret(ctx, store.DeploymentSecret{Name: "upgrade", Prefix: "tds_u", Hash: []byte("hash-upgrade"), CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}))(t)
	var ds []store.Device
	for i, host := range []string{"kept", "silent", "new"} {
		ds = append(ds, ok(s.CreateDevice(ctx, store.Device{PublicKey: []byte("pk-upgrade-" + host), SecretID: sec.ID, HostName: host, OS: "linux",
			AgentVersion: "1.0.0", Person: fmt.Sprintf("p%d@corp.example", i), EnrolledAt: t0}))(t))
	}
	ci := func(s store.Store, i int, n int64, at time.Time) {
		t.Helper()
		ok(s.RecordCheckIn(ctx, ds[i].ID, store.CheckIn{Counter: n, At: at, HostName: ds[i].HostName, OS: "linux", AgentVersion: "1.0.0", Outdated: i == 0}))(t)
	}
	ci(s, 0, 1, t0.Add(time.Minute))
	ci(s, 1, 1, t0.Add(time.Minute))
	ci(s, 1, 2, t0.Add(2*time.Hour))
	ok(s.MarkSilentDevices(ctx, t0.Add(150*time.Minute), t0.Add(3*time.Hour)))(t) // the first two silent
	ci(s, 0, 2, t0.Add(4*time.Hour))                                              // back: the last row is a check-in
	last := ok(s.ListDeviceHealth(ctx, 0, 1000))(t)
	for _, q := range []string{`ALTER TABLE devices DROP COLUMN health_last`, `ALTER TABLE devices DROP COLUMN health_moved`,
		fmt.Sprintf(`DELETE FROM schema_migrations WHERE version >= %d`, version),
		// The later migrations run again too: the table migration 0043 dropped is back as it was
		// before (SQLite's 0042 rewrites it).
		`CREATE TABLE IF NOT EXISTS dash_person_risky (span INTEGER NOT NULL, at BIGINT NOT NULL, value TEXT NOT NULL, risky BIGINT NOT NULL, PRIMARY KEY (span, at, value))`} {
		rawExec(t, s, q)
	}
	restoreEventAddressText(t, s) // and migration 0044's actor and owner
	noErr(t, s.Close())
	s = reopen(t)
	t.Cleanup(func() { s.Close() })
	ci(s, 0, 3, t0.Add(5*time.Hour)) // nothing new
	ci(s, 1, 3, t0.Add(5*time.Hour)) // back from the silence
	ci(s, 2, 1, t0.Add(5*time.Hour)) // the first check-in
	var got []string
	for _, h := range ok(s.ListDeviceHealth(ctx, last[len(last)-1].ID, 0))(t) {
		got = append(got, h.HostName+":"+h.Kind)
	}
	if g := strings.Join(got, " "); g != "silent:checked_in new:checked_in" {
		t.Errorf("health rows after the migration: %s, want silent:checked_in new:checked_in", g)
	}
}
