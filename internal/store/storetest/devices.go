package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/store"
)

// testDeploymentSecrets: a secret is found by its hash only, a hash is unique, expiry and revocation
// are written and cleared, and a secret counts the devices enrolled with it.
func testDeploymentSecrets(t *testing.T, s store.Store) {
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	a := ok(s.CreateDeploymentSecret(ctx, store.DeploymentSecret{Name: "laptops", Prefix: "tds_abcd", Hash: []byte("hash-a"), CreatedAt: t0, CreatedBy: "ann", ExpiresAt: t0.Add(24 * time.Hour)}))(t)
	if a.ID == 0 || a.Name != "laptops" || !a.ExpiresAt.Equal(t0.Add(24*time.Hour)) || !a.RevokedAt.IsZero() || !a.UpdatedAt.Equal(t0) || a.Devices != 0 {
		t.Fatalf("created %+v", a)
	}
	if _, err := s.CreateDeploymentSecret(ctx, store.DeploymentSecret{Name: "again", Prefix: "x", Hash: []byte("hash-a"), ExpiresAt: t0}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("same hash twice: %v", err)
	}
	b := ok(s.CreateDeploymentSecret(ctx, store.DeploymentSecret{Name: "servers", Prefix: "tds_efgh", Hash: []byte("hash-b"), CreatedAt: t0, ExpiresAt: t0}))(t)
	if got := ok(s.GetDeploymentSecretByHash(ctx, []byte("hash-b")))(t); got.ID != b.ID {
		t.Errorf("by hash: %+v", got)
	}
	if _, err := s.GetDeploymentSecretByHash(ctx, []byte("nope")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown hash: %v", err)
	}
	t1 := t0.Add(time.Hour)
	r := ok(s.UpdateDeploymentSecret(ctx, a.ID, t0.Add(48*time.Hour), t1, t1))(t)
	if !r.RevokedAt.Equal(t1) || !r.ExpiresAt.Equal(t0.Add(48*time.Hour)) || !r.UpdatedAt.Equal(t1) {
		t.Errorf("revoked and extended: %+v", r)
	}
	r = ok(s.UpdateDeploymentSecret(ctx, a.ID, r.ExpiresAt, time.Time{}, t1))(t)
	if !r.RevokedAt.IsZero() {
		t.Errorf("reactivated: %+v", r)
	}
	if _, err := s.UpdateDeploymentSecret(ctx, 999, t0, t0, t0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("update absent: %v", err)
	}
	ok(s.CreateDevice(ctx, store.Device{PublicKey: []byte("k1"), SecretID: a.ID, HostName: "h1", EnrolledAt: t0}))(t)
	l := ok(s.ListDeploymentSecrets(ctx))(t)
	if len(l) != 2 || l[0].ID != b.ID || l[1].ID != a.ID || l[1].Devices != 1 || l[0].Devices != 0 {
		t.Errorf("list (newest first, devices counted): %+v", l)
	}
}

// testDevices: a public key enrols once; check-ins move the counter by compare-and-set (a replay is
// ErrConflict and changes nothing), keep the newest last activity; filters, sorts and paging
// select what they say; deactivation records who and when, reactivation clears it.
func testDevices(t *testing.T, s store.Store) {
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	sec := ok(s.CreateDeploymentSecret(ctx, store.DeploymentSecret{Name: "all", Prefix: "p", Hash: []byte("h"), ExpiresAt: t0}))(t)
	mk := func(key, host, os, ver, person string, checkin time.Time) store.Device {
		t.Helper()
		d := ok(s.CreateDevice(ctx, store.Device{PublicKey: []byte(key), SecretID: sec.ID, HostName: host, OS: os, AgentVersion: ver, Person: person, EnrolledAt: t0, LastCheckInAt: checkin}))(t)
		if !d.Active || d.Counter != 0 || d.HostName != host || !d.EnrolledAt.Equal(t0) {
			t.Fatalf("created %+v", d)
		}
		return d
	}
	d1 := mk("k1", "Ann-Laptop", "darwin", "1.2.0", "Ann@Corp.Example", t0.Add(3*time.Hour))
	d2 := mk("k2", "build_01", "linux", "1.4.0", "bob@corp.example", t0.Add(1*time.Hour))
	d3 := mk("k3", "buildx01", "linux", "1.4.0", "", t0.Add(2*time.Hour))
	if _, err := s.CreateDevice(ctx, store.Device{PublicKey: []byte("k1"), SecretID: sec.ID, EnrolledAt: t0}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("same key twice: %v", err)
	}
	if d1.Person != "ann@corp.example" {
		t.Errorf("person stored lower case: %q", d1.Person)
	}

	at := t0.Add(4 * time.Hour)
	act := t0.Add(3*time.Hour + 30*time.Minute)
	c := store.CheckIn{Counter: 5, At: at, HostName: "ann-mbp", OS: "darwin", Arch: "arm64", AgentVersion: "1.3.0", UserName: "ann", Person: "ann@corp.example", LastActivityAt: act}
	got := ok(s.RecordCheckIn(ctx, d1.ID, c))(t)
	if got.Counter != 5 || !got.LastCheckInAt.Equal(at) || got.HostName != "ann-mbp" || got.AgentVersion != "1.3.0" || got.Arch != "arm64" || !got.LastActivityAt.Equal(act) {
		t.Errorf("check-in: %+v", got)
	}
	for _, n := range []int64{5, 4} {
		c2 := c
		c2.Counter, c2.HostName = n, "replayed"
		if _, err := s.RecordCheckIn(ctx, d1.ID, c2); !errors.Is(err, store.ErrConflict) {
			t.Errorf("counter %d again: %v", n, err)
		}
	}
	if g := ok(s.GetDevice(ctx, d1.ID))(t); g.HostName != "ann-mbp" || g.Counter != 5 {
		t.Errorf("a replay changed the device: %+v", g)
	}
	c.Counter, c.LastActivityAt, c.At = 6, t0, at.Add(time.Minute) // an older activity does not go back
	if g := ok(s.RecordCheckIn(ctx, d1.ID, c))(t); !g.LastActivityAt.Equal(act) || !g.LastCheckInAt.Equal(at.Add(time.Minute)) {
		t.Errorf("older activity: %+v", g)
	}
	c.Counter, c.Person = 7, ""
	if g := ok(s.RecordCheckIn(ctx, d1.ID, c))(t); g.Person != "ann@corp.example" {
		t.Errorf("a check-in without a person cleared it: %+v", g)
	}
	if _, err := s.RecordCheckIn(ctx, 999, c); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("absent device: %v", err)
	}

	ids := func(ds []store.Device) []int64 {
		var out []int64
		for _, d := range ds {
			out = append(out, d.ID)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		f    store.DeviceFilter
		want []int64
	}{
		{"default: by last check-in", store.DeviceFilter{}, []int64{d2.ID, d3.ID, d1.ID}},
		{"last check-in desc", store.DeviceFilter{Desc: true}, []int64{d1.ID, d3.ID, d2.ID}},
		{"os", store.DeviceFilter{OS: "LINUX"}, []int64{d2.ID, d3.ID}},
		{"version", store.DeviceFilter{AgentVersion: "1.4.0", Sort: store.DeviceSortHost}, []int64{d2.ID, d3.ID}},
		{"person", store.DeviceFilter{Person: "BOB@corp.example"}, []int64{d2.ID}},
		{"host substring, _ literal", store.DeviceFilter{Host: "D_0"}, []int64{d2.ID}},
		{"sort os then id", store.DeviceFilter{Sort: store.DeviceSortOS}, []int64{d1.ID, d2.ID, d3.ID}},
		{"sort version desc", store.DeviceFilter{Sort: store.DeviceSortVersion, Desc: true}, []int64{d3.ID, d2.ID, d1.ID}},
		{"sort person", store.DeviceFilter{Sort: store.DeviceSortPerson}, []int64{d3.ID, d1.ID, d2.ID}},
		{"silent", store.DeviceFilter{SilentBefore: t0.Add(150 * time.Minute)}, []int64{d2.ID, d3.ID}},
		{"paging", store.DeviceFilter{Offset: 1, Limit: 1}, []int64{d3.ID}},
	} {
		got := ids(ok(s.ListDevices(ctx, tc.f))(t))
		if len(got) != len(tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
				break
			}
		}
	}
	// Never checked in: silent by the time it enrolled.
	fresh := ok(s.CreateDevice(ctx, store.Device{PublicKey: []byte("k4"), SecretID: sec.ID, HostName: "new", EnrolledAt: t0.Add(10 * time.Hour)}))(t)
	old := ok(s.CreateDevice(ctx, store.Device{PublicKey: []byte("k5"), SecretID: sec.ID, HostName: "old", EnrolledAt: t0.Add(-time.Hour)}))(t)
	if got := ids(ok(s.ListDevices(ctx, store.DeviceFilter{SilentBefore: t0.Add(150 * time.Minute)}))(t)); len(got) != 3 || got[0] != old.ID {
		t.Errorf("silent with the never checked in: %v (fresh %d, old %d)", got, fresh.ID, old.ID)
	}
	if _, err := s.ListDevices(ctx, store.DeviceFilter{Sort: "name; DROP TABLE devices"}); err == nil {
		t.Error("an unknown sort was accepted")
	}
	if n := ok(s.CountDevices(ctx, store.DeviceFilter{OS: "linux", Limit: 1}))(t); n != 2 {
		t.Errorf("count linux: %d", n)
	}

	if g := ok(s.GetDevice(ctx, d2.ID))(t); !g.SecretRevokedAt.IsZero() {
		t.Errorf("secret not revoked: %+v", g)
	}
	ok(s.UpdateDeploymentSecret(ctx, sec.ID, sec.ExpiresAt, at, at))(t)
	if g := ok(s.GetDevice(ctx, d2.ID))(t); !g.SecretRevokedAt.Equal(at) {
		t.Errorf("secret revoked at %s: the device says %s", at, g.SecretRevokedAt)
	}
	off := ok(s.SetDeviceActive(ctx, d2.ID, false, "ann", at))(t)
	if off.Active || !off.DeactivatedAt.Equal(at) || off.DeactivatedBy != "ann" {
		t.Errorf("deactivated: %+v", off)
	}
	if got := ids(ok(s.ListDevices(ctx, store.DeviceFilter{State: "inactive"}))(t)); len(got) != 1 || got[0] != d2.ID {
		t.Errorf("inactive: %v", got)
	}
	if n := ok(s.CountDevices(ctx, store.DeviceFilter{State: "active"}))(t); n != 4 {
		t.Errorf("active: %d", n)
	}
	on := ok(s.SetDeviceActive(ctx, d2.ID, true, "bob", at))(t)
	if !on.Active || !on.DeactivatedAt.IsZero() || on.DeactivatedBy != "" {
		t.Errorf("reactivated: %+v", on)
	}
	if _, err := s.SetDeviceActive(ctx, 999, false, "ann", at); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("absent: %v", err)
	}

	// A check-in is written only for a device that may still speak, checked in the write itself
	// (issue 18: nodes remember devices' keys, so nothing read before the write decides): the
	// device's secret is revoked here, so nothing is written and the device says why.
	refused := func(what string, c store.CheckIn, check func(store.Device) bool) {
		t.Helper()
		before := ok(s.GetDevice(ctx, d2.ID))(t)
		g, err := s.RecordCheckIn(ctx, d2.ID, c)
		if !errors.Is(err, store.ErrConflict) || g.ID != d2.ID || !check(g) {
			t.Errorf("%s: %v, device %+v", what, err, g)
		}
		if after := ok(s.GetDevice(ctx, d2.ID))(t); after.Counter != before.Counter || !after.LastCheckInAt.Equal(before.LastCheckInAt) || after.HostName != before.HostName {
			t.Errorf("%s changed the device: %+v, before %+v", what, after, before)
		}
	}
	ci := store.CheckIn{Counter: 10, At: at.Add(time.Hour), HostName: "moved", OS: "linux", AgentVersion: "1.4.0", PublicKey: []byte("k2")}
	refused("secret revoked", ci, func(g store.Device) bool { return g.Active && g.SecretRevokedAt.Equal(at) })
	ok(s.UpdateDeploymentSecret(ctx, sec.ID, sec.ExpiresAt, time.Time{}, at))(t)
	ok(s.SetDeviceActive(ctx, d2.ID, false, "ann", at))(t)
	refused("deactivated", ci, func(g store.Device) bool { return !g.Active && g.DeactivatedBy == "ann" })
	ok(s.SetDeviceActive(ctx, d2.ID, true, "ann", at))(t)
	wrong := ci
	wrong.PublicKey = []byte("k1") // another device's key
	refused("another key", wrong, func(g store.Device) bool {
		return g.Active && g.SecretRevokedAt.IsZero() && string(g.PublicKey) == "k2"
	})
	if g := ok(s.RecordCheckIn(ctx, d2.ID, ci))(t); g.Counter != 10 || g.HostName != "moved" {
		t.Errorf("active, secret reactivated, its own key: %+v", g)
	}
	ci.Counter, ci.PublicKey = 11, nil // no key given: not compared
	if g := ok(s.RecordCheckIn(ctx, d2.ID, ci))(t); g.Counter != 11 {
		t.Errorf("no key: %+v", g)
	}
	ci.Counter = 11
	refused("replay", ci, func(g store.Device) bool { return g.Active && g.Counter == 11 })
}

// testDeviceEvents: a device's events are stored once by sequence number: a batch sent again
// inserts nothing and acknowledges the same number; an overlapping batch inserts only what is new;
// the device's last activity follows the newest event; an unknown device changes nothing.
func testDeviceEvents(t *testing.T, s store.Store) {
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	sec := ok(s.CreateDeploymentSecret(ctx, store.DeploymentSecret{Name: "all", Prefix: "p", Hash: []byte("h"), ExpiresAt: t0}))(t)
	d := ok(s.CreateDevice(ctx, store.Device{PublicKey: []byte("k"), SecretID: sec.ID, HostName: "h", EnrolledAt: t0}))(t)
	mk := func(seqs ...int64) []*event.FileEvent {
		var out []*event.FileEvent
		for _, n := range seqs {
			e := Event(0, fmt.Sprintf("device/%d/%d", d.ID, n), t0.Add(time.Duration(n)*time.Minute))
			e.Event.Observer = event.ObserverEndpoint
			out = append(out, e)
		}
		return out
	}
	acked, n := ok2(s.AcceptDeviceEvents(ctx, d.ID, mk(1, 2, 3), []int64{1, 2, 3}))(t)
	if acked != 3 || n != 3 {
		t.Fatalf("first batch: acked %d inserted %d", acked, n)
	}
	if acked, n = ok2(s.AcceptDeviceEvents(ctx, d.ID, mk(1, 2, 3), []int64{1, 2, 3}))(t); acked != 3 || n != 0 {
		t.Errorf("the same batch again: acked %d inserted %d", acked, n)
	}
	if acked, n = ok2(s.AcceptDeviceEvents(ctx, d.ID, mk(2, 3, 4, 5), []int64{2, 3, 4, 5}))(t); acked != 5 || n != 2 {
		t.Errorf("overlapping batch: acked %d inserted %d", acked, n)
	}
	if c := ok(s.CountEvents(ctx, store.EventFilter{}))(t); c != 5 {
		t.Errorf("%d events stored", c)
	}
	got := ok(s.GetDevice(ctx, d.ID))(t)
	if got.EventSeq != 5 || !got.LastActivityAt.Equal(t0.Add(5*time.Minute)) {
		t.Errorf("device after: %+v", got)
	}
	if _, _, err := s.AcceptDeviceEvents(ctx, 999, mk(6), []int64{6}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown device: %v", err)
	}
	if c := ok(s.CountEvents(ctx, store.EventFilter{}))(t); c != 5 {
		t.Errorf("an unknown device's event was stored: %d", c)
	}
}
