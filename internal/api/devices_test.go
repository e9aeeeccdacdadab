package api_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/api"
	"github.com/telltale-dev/telltale/internal/auth"
	"github.com/telltale-dev/telltale/internal/config"
	"github.com/telltale-dev/telltale/internal/device"
	"github.com/telltale-dev/telltale/internal/store"
	"github.com/telltale-dev/telltale/internal/testutil/pgtest"
)

// testAgent is an agent as the server sees it: a key pair and a counter.
type testAgent struct {
	pub     ed25519.PublicKey
	key     ed25519.PrivateKey
	id      string
	counter int64
}

func newTestAgent() *testAgent {
	pub, key, _ := ed25519.GenerateKey(nil)
	return &testAgent{pub: pub, key: key}
}

func (a *testAgent) enroll(t *testing.T, f *fixture, secret string, edit func(*client.EnrollRequest)) (int, []byte) {
	t.Helper()
	in := client.EnrollRequest{Secret: secret, PublicKey: b64(a.pub), AgentReport: client.AgentReport{HostName: "ann-laptop", OS: "linux", Arch: "amd64", AgentVersion: "1.4.0", UserName: "ann", UserEmail: "Ann@Corp.Example"}}
	if edit != nil {
		edit(&in)
	}
	body, _ := json.Marshal(in)
	code, out := f.send(t, "POST", "/api/v1/agent/enroll", body, func(r *http.Request) {
		r.Header.Set(device.HeaderSignature, device.Sign(a.key, device.ContextEnroll, body))
	})
	if code == http.StatusCreated {
		var er client.EnrollResponse
		json.Unmarshal(out, &er)
		a.id = er.DeviceID
	}
	return code, out
}

func (a *testAgent) checkInBody(edit func(*client.CheckInRequest)) []byte {
	a.counter++
	in := client.CheckInRequest{DeviceID: a.id, Counter: a.counter, SentAt: time.Now().UTC(), AgentReport: client.AgentReport{HostName: "ann-laptop", OS: "linux", Arch: "amd64", AgentVersion: "1.4.0", UserName: "ann"}}
	if edit != nil {
		edit(&in)
	}
	b, _ := json.Marshal(in)
	return b
}

func (a *testAgent) post(t *testing.T, f *fixture, body []byte, sig string) (int, []byte) {
	t.Helper()
	return f.send(t, "POST", "/api/v1/agent/checkin", body, func(r *http.Request) {
		r.Header.Set(device.HeaderDevice, a.id)
		r.Header.Set(device.HeaderSignature, sig)
	})
}

func (a *testAgent) checkIn(t *testing.T, f *fixture, edit func(*client.CheckInRequest)) (int, []byte) {
	t.Helper()
	b := a.checkInBody(edit)
	return a.post(t, f, b, device.Sign(a.key, device.ContextCheckIn, b))
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func newSecret(t *testing.T, f *fixture, name, expiresIn string) client.DeploymentSecret {
	t.Helper()
	code, b := f.do(t, f.admin, "POST", "/api/v1/deployment-secrets", client.DeploymentSecretInput{Name: name, ExpiresIn: expiresIn})
	if code != http.StatusCreated {
		t.Fatalf("create secret: %d %s", code, b)
	}
	var s client.DeploymentSecret
	json.Unmarshal(b, &s)
	return s
}

func wantProblem(t *testing.T, what string, code int, body []byte, wantCode int, wantText ...string) {
	t.Helper()
	if code != wantCode {
		t.Errorf("%s: status %d, want %d: %s", what, code, wantCode, body)
		return
	}
	for _, w := range wantText {
		if !strings.Contains(string(body), w) {
			t.Errorf("%s: %s does not say %q", what, body, w)
		}
	}
}

// TestDeploymentSecrets: an admin creates a secret with an expiry (shown once, stored hashed),
// extends, revokes and reactivates it; bad expiries are refused and change nothing; enrolment with
// an unknown, expired or revoked secret fails saying which; every change is audited.
func TestDeploymentSecrets(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	s := newSecret(t, f, "Finance laptops", "30d")
	if !strings.HasPrefix(s.Secret, device.SecretPrefix) || s.State != "active" || !strings.HasPrefix(s.Secret, s.Prefix) || s.CreatedBy != "admin" {
		t.Fatalf("created %+v", s)
	}
	if d := time.Until(s.ExpiresAt); d < 29*24*time.Hour || d > 30*24*time.Hour {
		t.Errorf("expires at %s", s.ExpiresAt)
	}
	// Shown once: the list has no secret, the store only its hash.
	code, b := f.do(t, f.admin, "GET", "/api/v1/deployment-secrets", nil)
	if code != 200 || strings.Contains(string(b), s.Secret) || !strings.Contains(string(b), s.Prefix) {
		t.Errorf("list: %d %s", code, b)
	}
	id, _ := strconv.ParseInt(s.ID, 10, 64)
	stored, err := f.app.Store.GetDeploymentSecret(ctx, id)
	if err != nil || string(stored.Hash) != string(device.HashSecret(s.Secret)) || strings.Contains(string(stored.Hash), s.Secret) {
		t.Errorf("stored %+v %v", stored, err)
	}
	// Only admins.
	if code, _ := f.do(t, f.userToken(t, auth.RoleAnalyst), "POST", "/api/v1/deployment-secrets", client.DeploymentSecretInput{Name: "x", ExpiresIn: "1d"}); code != http.StatusForbidden {
		t.Errorf("analyst creates: %d", code)
	}
	// Bad input says what is wrong and changes nothing.
	past := time.Now().Add(-time.Hour)
	for name, tc := range map[string]struct {
		in   client.DeploymentSecretInput
		code int
		text string
	}{
		"no name":      {client.DeploymentSecretInput{ExpiresIn: "1d"}, 400, "name: is required"},
		"no expiry":    {client.DeploymentSecretInput{Name: "x"}, 400, "needs an expiry"},
		"too long":     {client.DeploymentSecretInput{Name: "x", ExpiresIn: "400d"}, 422, "at most 366d"},
		"not duration": {client.DeploymentSecretInput{Name: "x", ExpiresIn: "soon"}, 400, "want a duration"},
		"past":         {client.DeploymentSecretInput{Name: "x", ExpiresAt: &past}, 422, "not in the future"},
		"control char": {client.DeploymentSecretInput{Name: "x\u202e", ExpiresIn: "1d"}, 400, "name"},
	} {
		code, b := f.do(t, f.admin, "POST", "/api/v1/deployment-secrets", tc.in)
		wantProblem(t, name, code, b, tc.code, tc.text)
	}
	if l, _ := f.app.Store.ListDeploymentSecrets(ctx); len(l) != 1 {
		t.Errorf("refused creations stored secrets: %d", len(l))
	}

	// Extend: later only.
	code, b = f.do(t, f.admin, "POST", "/api/v1/deployment-secrets/"+s.ID+"/extend", client.DeploymentSecretExpiry{ExpiresIn: "1d"})
	wantProblem(t, "extend earlier", code, b, 422, "not after the current expiry")
	code, b = f.do(t, f.admin, "POST", "/api/v1/deployment-secrets/"+s.ID+"/extend", client.DeploymentSecretExpiry{ExpiresIn: "60d"})
	var got client.DeploymentSecret
	json.Unmarshal(b, &got)
	if code != 200 || !got.ExpiresAt.After(s.ExpiresAt.Add(29*24*time.Hour)) || got.Secret != "" {
		t.Errorf("extend: %d %s", code, b)
	}

	a := newTestAgent()
	// Unknown secret.
	code, b = a.enroll(t, f, "tds_not-a-secret", nil)
	wantProblem(t, "unknown secret", code, b, 401, "unknown deployment secret")
	// Revoked.
	code, b = f.do(t, f.admin, "POST", "/api/v1/deployment-secrets/"+s.ID+"/revoke", nil)
	json.Unmarshal(b, &got)
	if code != 200 || got.State != "revoked" || got.RevokedAt == nil {
		t.Fatalf("revoke: %d %s", code, b)
	}
	code, b = a.enroll(t, f, s.Secret, nil)
	wantProblem(t, "revoked secret", code, b, 403, "was revoked at", "Finance laptops", "reactivate")
	code, b = f.do(t, f.admin, "POST", "/api/v1/deployment-secrets/"+s.ID+"/revoke", nil)
	wantProblem(t, "revoke twice", code, b, 409, "revoked already")
	// Reactivated: enrols.
	code, b = f.do(t, f.admin, "POST", "/api/v1/deployment-secrets/"+s.ID+"/reactivate", nil)
	got = client.DeploymentSecret{}
	json.Unmarshal(b, &got)
	if code != 200 || got.State != "active" || got.RevokedAt != nil {
		t.Fatalf("reactivate: %d %s", code, b)
	}
	code, b = a.enroll(t, f, " "+s.Secret+"\n", nil)
	if code != http.StatusCreated || a.id == "" {
		t.Fatalf("enrol: %d %s", code, b)
	}
	// Expired (set in the past through the store: the API only moves expiries forward).
	if _, err := f.app.Store.UpdateDeploymentSecret(ctx, id, time.Now().Add(-time.Minute), time.Time{}, time.Now()); err != nil {
		t.Fatal(err)
	}
	code, b = newTestAgent().enroll(t, f, s.Secret, nil)
	wantProblem(t, "expired secret", code, b, 403, "expired at", "extend")
	code, b = f.do(t, f.admin, "POST", "/api/v1/deployment-secrets/"+s.ID+"/reactivate", nil)
	wantProblem(t, "reactivate expired without expiry", code, b, 422, "give a new expiry")
	code, b = f.do(t, f.admin, "POST", "/api/v1/deployment-secrets/"+s.ID+"/reactivate", client.DeploymentSecretExpiry{ExpiresIn: "7d"})
	if code != 200 {
		t.Errorf("reactivate expired: %d %s", code, b)
	}
	code, b = f.do(t, f.admin, "POST", "/api/v1/deployment-secrets/"+s.ID+"/reactivate", nil)
	wantProblem(t, "reactivate active", code, b, 409, "is active")
	code, b = f.do(t, f.admin, "POST", "/api/v1/deployment-secrets/999/revoke", nil)
	wantProblem(t, "absent", code, b, 404, "no deployment secret with id 999")

	// Audited: every admin change, and enrolments with the outcome.
	audit, err := f.app.Store.ListAudit(ctx, store.AuditFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, e := range audit {
		count[e.Action+" "+e.Outcome]++
		if strings.Contains(string(e.Details), s.Secret) {
			t.Errorf("the secret is in the audit log: %+v", e)
		}
	}
	for k, n := range map[string]int{"deployment_secret.create ok": 1, "deployment_secret.extend ok": 1, "deployment_secret.revoke ok": 1,
		"deployment_secret.reactivate ok": 2, "device.enroll ok": 1, "device.enroll 401 Unauthorized": 1, "device.enroll 403 Forbidden": 2} {
		if count[k] != n {
			t.Errorf("audit %q: %d entries, want %d (all: %v)", k, count[k], n, count)
		}
	}
	if strings.Contains(f.logs.String(), s.Secret) {
		t.Error("the secret is in the log")
	}
}

// TestEnrolmentFlood: enrolments beyond the rate per source address are refused with 429 and
// Retry-After before anything is looked up, and counted.
func TestEnrolmentFlood(t *testing.T) {
	f := newFixtureWith(t, func(c *configT) { c.EnrollRate = 3 })
	s := newSecret(t, f, "flood", "1d")
	for i := 0; i < 3; i++ {
		if code, b := newTestAgent().enroll(t, f, s.Secret, nil); code != http.StatusCreated {
			t.Fatalf("enrolment %d: %d %s", i, code, b)
		}
	}
	req, _ := http.NewRequest("POST", f.srv.URL+"/api/v1/agent/enroll", strings.NewReader("{}"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Errorf("4th enrolment: %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if n := metric(t, f, `telltale_agent_refused_total{kind="enrolment",reason="rate_limited"}`); n != 1 {
		t.Errorf("rate_limited counted %v", n)
	}
	if l, _ := f.app.Store.ListDevices(context.Background(), store.DeviceFilter{}); len(l) != 3 {
		t.Errorf("devices %d", len(l))
	}
}

// metric reads one sample of /metrics.
func metric(t *testing.T, f *fixture, series string) float64 {
	t.Helper()
	_, b := f.do(t, f.admin, "GET", "/metrics", nil)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			n, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return n
		}
	}
	return 0
}

// TestCheckIns: a signed check-in updates the device; a replay, a bad signature, an unknown device,
// a malformed or oversized body are refused, counted by reason and change nothing; a deactivated
// device and one whose secret was revoked are refused with the reason.
func TestCheckIns(t *testing.T) {
	f := newFixtureWith(t, func(c *configT) { c.AgentVersion = "1.4.0" })
	ctx := context.Background()
	s := newSecret(t, f, "all", "1d")
	a := newTestAgent()
	if code, b := a.enroll(t, f, s.Secret, nil); code != http.StatusCreated {
		t.Fatalf("enrol: %d %s", code, b)
	}
	act := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	code, b := a.checkIn(t, f, func(c *client.CheckInRequest) {
		c.HostName, c.AgentVersion, c.LastActivityAt = "ann-new", "1.3.9", &act
	})
	var cr client.CheckInResponse
	json.Unmarshal(b, &cr)
	if code != 200 || !cr.Outdated || cr.CurrentVersion != "1.4.0" || cr.CheckInSeconds != 60 {
		t.Fatalf("check-in: %d %s", code, b)
	}
	id, _ := strconv.ParseInt(a.id, 10, 64)
	d, _ := f.app.Store.GetDevice(ctx, id)
	if d.HostName != "ann-new" || d.AgentVersion != "1.3.9" || d.LastCheckInAt.IsZero() || !d.LastActivityAt.Equal(act) || d.Person != "ann@corp.example" {
		t.Errorf("device after check-in: %+v", d)
	}

	// Replay: the same message again.
	b1 := a.checkInBody(nil)
	sig := device.Sign(a.key, device.ContextCheckIn, b1)
	if code, b := a.post(t, f, b1, sig); code != 200 {
		t.Fatalf("check-in: %d %s", code, b)
	}
	code, b = a.post(t, f, b1, sig)
	wantProblem(t, "replay", code, b, 409, "used already")

	// Tampered: signed, then changed.
	b2 := a.checkInBody(nil)
	sig = device.Sign(a.key, device.ContextCheckIn, b2)
	code, b = a.post(t, f, []byte(strings.Replace(string(b2), "ann-laptop", "evil-host", 1)), sig)
	wantProblem(t, "tampered", code, b, 401, "does not match")
	// Signed by another key.
	other := newTestAgent()
	b3 := a.checkInBody(nil)
	code, b = a.post(t, f, b3, device.Sign(other.key, device.ContextCheckIn, b3))
	wantProblem(t, "other key", code, b, 401, "does not match")
	// Unknown device.
	ghost := &testAgent{pub: other.pub, key: other.key, id: "9999"}
	code, b = ghost.checkIn(t, f, nil)
	wantProblem(t, "unknown device", code, b, 401, "not enrolled")
	// Malformed: signed but not JSON, an unknown field, a device id that disagrees, no counter.
	for name, body := range map[string]string{
		"not json":      `{"device_id":`,
		"unknown field": `{"device_id":"` + a.id + `","counter":999,"host_name":"h","agent_version":"1","extra":1}`,
		"other id":      `{"device_id":"1234","counter":999,"host_name":"h","agent_version":"1"}`,
		"no counter":    `{"device_id":"` + a.id + `","host_name":"h","agent_version":"1"}`,
		"control":       `{"device_id":"` + a.id + `","counter":999,"host_name":"h\u0007","agent_version":"1"}`,
	} {
		code, b := a.post(t, f, []byte(body), device.Sign(a.key, device.ContextCheckIn, []byte(body)))
		wantProblem(t, name, code, b, 400)
	}
	// Oversized.
	big := a.checkInBody(func(c *client.CheckInRequest) { c.UserName = strings.Repeat("x", device.MaxMessage) })
	code, b = a.post(t, f, big, device.Sign(a.key, device.ContextCheckIn, big))
	wantProblem(t, "oversized", code, b, 413)
	if d2, _ := f.app.Store.GetDevice(ctx, id); d2.HostName != "ann-laptop" || d2.Counter != d.Counter+1 {
		t.Errorf("refused check-ins changed the device: %+v (before %+v)", d2, d)
	}
	for reason, want := range map[string]float64{"replay": 1, "signature": 2, "unknown_device": 1, "malformed": 5, "oversized": 1} {
		if n := metric(t, f, `telltale_agent_refused_total{kind="check-in",reason="`+reason+`"}`); n != want {
			t.Errorf("refused %s: %v, want %v", reason, n, want)
		}
	}
	if n := metric(t, f, `telltale_agent_checkins_total`); n != 2 {
		t.Errorf("accepted: %v", n)
	}

	// Deactivated: refused with the reason; reactivated: accepted.
	code, b = f.do(t, f.admin, "POST", "/api/v1/devices/"+a.id+"/deactivate", nil)
	if code != 200 {
		t.Fatalf("deactivate: %d %s", code, b)
	}
	code, b = a.checkIn(t, f, nil)
	wantProblem(t, "deactivated", code, b, 403, "deactivated by admin", "reactivate")
	f.do(t, f.admin, "POST", "/api/v1/devices/"+a.id+"/reactivate", nil)
	if code, b := a.checkIn(t, f, nil); code != 200 {
		t.Errorf("reactivated: %d %s", code, b)
	}
	// Secret revoked: its devices are refused, saying so.
	f.do(t, f.admin, "POST", "/api/v1/deployment-secrets/"+s.ID+"/revoke", nil)
	code, b = a.checkIn(t, f, nil)
	wantProblem(t, "secret revoked", code, b, 403, "was revoked at", "all")
	// A device that may no longer speak is refused for that before a malformed body (as when the
	// device was read first), and a refused check-in changes nothing.
	bad := `{"device_id":"` + a.id + `","counter":999999,"host_name":"h","agent_version":"1","extra":1}`
	code, b = a.post(t, f, []byte(bad), device.Sign(a.key, device.ContextCheckIn, []byte(bad)))
	wantProblem(t, "secret revoked, malformed", code, b, 403, "was revoked at")
	f.do(t, f.admin, "POST", "/api/v1/devices/"+a.id+"/deactivate", nil)
	code, b = a.post(t, f, []byte(bad), device.Sign(a.key, device.ContextCheckIn, []byte(bad)))
	wantProblem(t, "deactivated, malformed", code, b, 403, "deactivated by admin")
	before, _ := f.app.Store.GetDevice(ctx, id)
	code, b = a.checkIn(t, f, func(c *client.CheckInRequest) { c.HostName = "after-revocation" })
	wantProblem(t, "deactivated and revoked", code, b, 403, "deactivated by admin")
	if d3, _ := f.app.Store.GetDevice(ctx, id); d3.HostName != before.HostName || d3.Counter != before.Counter || !d3.LastCheckInAt.Equal(before.LastCheckInAt) {
		t.Errorf("refused check-ins changed the device: %+v (before %+v)", d3, before)
	}
	for reason, want := range map[string]float64{"deactivated": 3, "secret_revoked": 2, "malformed": 5} {
		if n := metric(t, f, `telltale_agent_refused_total{kind="check-in",reason="`+reason+`"}`); n != want {
			t.Errorf("refused %s: %v, want %v", reason, n, want)
		}
	}
	// Both lifted: accepted again.
	f.do(t, f.admin, "POST", "/api/v1/devices/"+a.id+"/reactivate", nil)
	f.do(t, f.admin, "POST", "/api/v1/deployment-secrets/"+s.ID+"/reactivate", nil)
	if code, b := a.checkIn(t, f, nil); code != 200 {
		t.Errorf("device and secret reactivated: %d %s", code, b)
	}
}

// TestCheckInRemembersKeys: a node remembers a device's key from its enrolment, so an accepted
// check-in reads nothing first; a remembered key that is stale can neither refuse the device's
// own check-in (it is read again) nor let another key's check-in through (the write checks the
// key it was verified with), and a refusal forgets it.
func TestCheckInRemembersKeys(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	s := newSecret(t, f, "all", "1d")
	a, other := newTestAgent(), newTestAgent()
	for _, ag := range []*testAgent{a, other} {
		if code, b := ag.enroll(t, f, s.Secret, func(e *client.EnrollRequest) { e.HostName = "host-" + b64(ag.pub)[:6] }); code != http.StatusCreated {
			t.Fatalf("enrol: %d %s", code, b)
		}
	}
	id, _ := strconv.ParseInt(a.id, 10, 64)
	if k, ok := api.RemembersDeviceKey(f.app.API, id); !ok || string(k) != string(a.pub) {
		t.Fatalf("the enrolment's key is not remembered: %v", ok)
	}
	if code, b := a.checkIn(t, f, nil); code != 200 {
		t.Fatalf("check-in: %d %s", code, b)
	}
	// A stale key remembered: the device's own check-in is still accepted, and the key put right.
	api.RememberDeviceKey(f.app.API, id, other.pub)
	if code, b := a.checkIn(t, f, nil); code != 200 {
		t.Fatalf("check-in with a stale key remembered: %d %s", code, b)
	}
	if k, _ := api.RemembersDeviceKey(f.app.API, id); string(k) != string(a.pub) {
		t.Errorf("the stale key was kept")
	}
	// Another device's key remembered for this one, and a check-in signed with it: it verifies
	// against what the node remembers, but the write is for the device's own key only.
	api.RememberDeviceKey(f.app.API, id, other.pub)
	before, _ := f.app.Store.GetDevice(ctx, id)
	forged := &testAgent{pub: other.pub, key: other.key, id: a.id, counter: a.counter}
	code, b := forged.checkIn(t, f, func(c *client.CheckInRequest) { c.HostName = "forged" })
	wantProblem(t, "forged with a stale key remembered", code, b, 401, "does not match the device's key")
	if d, _ := f.app.Store.GetDevice(ctx, id); d.HostName != before.HostName || d.Counter != before.Counter {
		t.Errorf("the forged check-in changed the device: %+v (before %+v)", d, before)
	}
	if _, ok := api.RemembersDeviceKey(f.app.API, id); ok {
		t.Error("the refused key is still remembered")
	}
	if n := metric(t, f, `telltale_agent_refused_total{kind="check-in",reason="signature"}`); n != 1 {
		t.Errorf("refused signature: %v, want 1", n)
	}
	if code, b := a.checkIn(t, f, nil); code != 200 {
		t.Errorf("the device's own check-in after: %d %s", code, b)
	}
}

// TestDevicesList: filters, sorts and paging select what they say; outdated and silent devices
// are flagged (silent after the configured time); bad parameters are refused by name.
func TestDevicesList(t *testing.T) {
	f := newFixtureWith(t, func(c *configT) { c.AgentVersion = "1.4.0"; c.DeviceSilent = 2 * time.Hour })
	ctx := context.Background()
	sec, err := f.app.Store.CreateDeploymentSecret(ctx, store.DeploymentSecret{Name: "s", Prefix: "p", Hash: []byte("h"), ExpiresAt: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	mk := func(host, os, ver, person string, last time.Duration) string {
		d, err := f.app.Store.CreateDevice(ctx, store.Device{PublicKey: []byte(host), SecretID: sec.ID, HostName: host, OS: os, AgentVersion: ver, Person: person, EnrolledAt: now.Add(-48 * time.Hour), LastCheckInAt: now.Add(-last)})
		if err != nil {
			t.Fatal(err)
		}
		return strconv.FormatInt(d.ID, 10)
	}
	ann := mk("ann-mac", "darwin", "1.2.0", "ann@corp.example", time.Minute)
	bob := mk("bob-pc", "windows", "1.4.0", "bob@corp.example", 3*time.Hour)
	srv := mk("build-01", "linux", "1.10.0", "", 10*time.Minute)
	ids := func(l client.DeviceList) string {
		var out []string
		for _, d := range l.Items {
			out = append(out, d.ID)
		}
		return strings.Join(out, ",")
	}
	ro := f.userToken(t, auth.RoleReadOnly)
	get := func(q string) client.DeviceList {
		t.Helper()
		code, b := f.do(t, ro, "GET", "/api/v1/devices?"+q, nil)
		if code != 200 {
			t.Fatalf("%s: %d %s", q, code, b)
		}
		var l client.DeviceList
		json.Unmarshal(b, &l)
		return l
	}
	for q, want := range map[string]string{
		"":                        bob + "," + srv + "," + ann,
		"order=desc":              ann + "," + srv + "," + bob,
		"sort=os":                 ann + "," + srv + "," + bob,
		"sort=version&order=desc": bob + "," + ann + "," + srv, // text order, not numbers
		"sort=person":             srv + "," + ann + "," + bob,
		"sort=host&host=-":        ann + "," + bob + "," + srv,
		"os=Windows":              bob,
		"version=1.2.0":           ann,
		"person=ANN@corp.example": ann,
		"flag=silent":             bob,
		"flag=outdated":           ann,
		"limit=2":                 bob + "," + srv,
		"limit=2&offset=2":        ann,
		"state=inactive":          "",
	} {
		if got := ids(get(q)); got != want {
			t.Errorf("%q: got %s, want %s", q, got, want)
		}
	}
	l := get("")
	if l.Total != 3 || l.CurrentVersion != "1.4.0" || l.SilentAfter != config.FormatDuration(2*time.Hour) {
		t.Errorf("list: %+v", l)
	}
	for _, d := range l.Items {
		if d.Outdated != (d.ID == ann) || d.Silent != (d.ID == bob) {
			t.Errorf("flags of %s: outdated %v silent %v", d.HostName, d.Outdated, d.Silent)
		}
	}
	if p := get("limit=2"); p.Next != "2" || p.Total != 3 {
		t.Errorf("page: next %q total %d", p.Next, p.Total)
	}
	for q, field := range map[string]string{"sort=name": "sort", "state=gone": "state", "flag=old": "flag", "limit=0": "limit", "offset=-1": "offset", "order=up": "order", "host=%E2%80%AE": "host"} {
		code, b := f.do(t, ro, "GET", "/api/v1/devices?"+q, nil)
		wantProblem(t, q, code, b, 400, `"field":"`+field+`"`)
	}
}

// TestDeactivationRefusedUnderHoldOrOpenCase: a person's device cannot be deactivated while the
// person is in an open case or under legal hold (R6.4): the refusal names the case and what to do,
// is audited, and changes nothing; once the case is closed and the hold lifted it can.
func TestDeactivationRefusedUnderHoldOrOpenCase(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	s := newSecret(t, f, "all", "1d")
	a := newTestAgent()
	if code, b := a.enroll(t, f, s.Secret, nil); code != http.StatusCreated {
		t.Fatalf("enrol: %d %s", code, b)
	}
	c, err := f.app.Store.CreateCase(ctx, store.Case{Title: "Exfil", State: store.CaseOpen, CreatedAt: time.Now(), UpdatedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.app.Store.AddCaseItems(ctx, c.ID, store.CaseItems{People: []string{"ann@corp.example"}}, "ann", time.Now()); err != nil {
		t.Fatal(err)
	}
	code, b := f.do(t, f.admin, "POST", "/api/v1/devices/"+a.id+"/deactivate", nil)
	wantProblem(t, "open case", code, b, 409, "open case "+strconv.FormatInt(c.ID, 10), "Exfil", "close the case")
	// Closed but held.
	c, _ = f.app.Store.GetCase(ctx, c.ID)
	c.State, c.LegalHold = store.CaseClosed, true
	if c, err = f.app.Store.UpdateCase(ctx, c, nil); err != nil {
		t.Fatal(err)
	}
	code, b = f.do(t, f.admin, "POST", "/api/v1/devices/"+a.id+"/deactivate", nil)
	wantProblem(t, "legal hold", code, b, 409, "under legal hold", "lift the hold")
	id, _ := strconv.ParseInt(a.id, 10, 64)
	if d, _ := f.app.Store.GetDevice(ctx, id); !d.Active {
		t.Fatal("a refused deactivation deactivated")
	}
	c.LegalHold = false
	if _, err = f.app.Store.UpdateCase(ctx, c, nil); err != nil {
		t.Fatal(err)
	}
	code, b = f.do(t, f.admin, "POST", "/api/v1/devices/"+a.id+"/deactivate", nil)
	var d client.Device
	json.Unmarshal(b, &d)
	if code != 200 || d.State != "inactive" || d.DeactivatedBy != "admin" || d.DeactivatedAt == nil {
		t.Fatalf("deactivate: %d %s", code, b)
	}
	code, b = f.do(t, f.admin, "POST", "/api/v1/devices/"+a.id+"/deactivate", nil)
	wantProblem(t, "twice", code, b, 409, "inactive already")
	if code, _ := f.do(t, f.userToken(t, auth.RoleAnalyst), "POST", "/api/v1/devices/"+a.id+"/reactivate", nil); code != 403 {
		t.Errorf("analyst reactivates: %d", code)
	}
	code, b = f.do(t, f.admin, "POST", "/api/v1/devices/"+a.id+"/reactivate", nil)
	json.Unmarshal(b, &d)
	if code != 200 || d.State != "active" {
		t.Fatalf("reactivate: %d %s", code, b)
	}
	audit, _ := f.app.Store.ListAudit(ctx, store.AuditFilter{Action: "device.", Limit: 100})
	var got []string
	for _, e := range audit {
		got = append([]string{e.Action + " " + e.Target + " " + e.Outcome}, got...)
	}
	want := []string{"device.enroll device/" + a.id + " ok", "device.deactivate device/" + a.id + " 409 Conflict", "device.deactivate device/" + a.id + " 409 Conflict",
		"device.deactivate device/" + a.id + " ok", "device.deactivate device/" + a.id + " 409 Conflict", "device.reactivate device/" + a.id + " 403 Forbidden", "device.reactivate device/" + a.id + " ok"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("audit:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !strings.Contains(string(audit[len(audit)-2].Details), "legal hold") && !strings.Contains(string(audit[len(audit)-2].Details), "open case") {
		t.Errorf("the refusal's reason is not in the audit entry: %s", audit[len(audit)-2].Details)
	}
}

// TestAgentEventsRefused: a batch of file events is signed like a check-in; one with sequence
// numbers out of order, an unknown action, a bad hash or no events is refused by field, counted,
// and stores nothing; a batch sent again is acknowledged and stored once.
func TestAgentEventsRefused(t *testing.T) {
	f := newFixture(t)
	s := newSecret(t, f, "all", "1d")
	a := newTestAgent()
	if code, b := a.enroll(t, f, s.Secret, nil); code != http.StatusCreated {
		t.Fatalf("enrol: %d %s", code, b)
	}
	send := func(evs []client.AgentFileEvent, key ed25519.PrivateKey) (int, []byte) {
		body, _ := json.Marshal(client.AgentEventsRequest{DeviceID: a.id, Events: evs})
		return f.send(t, "POST", "/api/v1/agent/events", body, func(r *http.Request) {
			r.Header.Set(device.HeaderDevice, a.id)
			r.Header.Set(device.HeaderSignature, device.Sign(key, device.ContextEvents, body))
		})
	}
	at := time.Now().UTC()
	ev := func(seq int64, action, path string) client.AgentFileEvent {
		return client.AgentFileEvent{Seq: seq, Action: action, At: at, Path: path, Size: 3, SHA256: strings.Repeat("ab", 32)}
	}
	for name, tc := range map[string]struct {
		evs  []client.AgentFileEvent
		text string
	}{
		"none":       {nil, "send 1 to"},
		"descending": {[]client.AgentFileEvent{ev(2, "file-created", "/a"), ev(1, "file-created", "/b")}, "events[1].seq"},
		"action":     {[]client.AgentFileEvent{ev(1, "file-shared", "/a")}, "is not one of"},
		"bad hash":   {[]client.AgentFileEvent{{Seq: 1, Action: "file-created", At: at, Path: "/a", SHA256: "xyz"}}, "hex digests"},
		"no path":    {[]client.AgentFileEvent{ev(1, "file-created", "")}, "path must hold"},
		"zero seq":   {[]client.AgentFileEvent{ev(0, "file-created", "/a")}, "events[0].seq"},
	} {
		code, b := send(tc.evs, a.key)
		wantProblem(t, name, code, b, 400, tc.text)
	}
	code, b := send([]client.AgentFileEvent{ev(1, "file-created", "/a")}, newTestAgent().key)
	wantProblem(t, "other key", code, b, 401, "does not match")
	if n, _ := f.app.Store.CountEvents(context.Background(), store.EventFilter{}); n != 0 {
		t.Fatalf("refused batches stored %d events", n)
	}
	if n := metric(t, f, `telltale_agent_refused_total{kind="events",reason="malformed"}`); n != 6 {
		t.Errorf("malformed counted %v", n)
	}
	batch := []client.AgentFileEvent{ev(1, "file-created", `C:\Users\ann\plan.xlsx`), ev(2, "file-deleted", "/home/ann/b.txt")}
	for i := 0; i < 2; i++ {
		code, b := send(batch, a.key)
		var r client.AgentEventsResponse
		json.Unmarshal(b, &r)
		if code != 200 || r.AckedThrough != 2 || r.Inserted != 2-2*i {
			t.Errorf("batch %d: %d %s", i, code, b)
		}
	}
	evs, _ := f.app.Store.ListEvents(context.Background(), store.EventFilter{})
	if len(evs) != 2 || evs[0].File.Name != "plan.xlsx" || evs[0].File.Directory != `C:\Users\ann` || evs[0].User.Email != "ann@corp.example" || evs[0].Event.Observer != "endpoint" {
		t.Errorf("stored: %+v", evs)
	}
	// A deactivated device, then one whose secret is revoked: refused with the reason, counted,
	// nothing stored; an unknown device too.
	more := []client.AgentFileEvent{ev(3, "file-created", "/home/ann/c.txt")}
	f.do(t, f.admin, "POST", "/api/v1/devices/"+a.id+"/deactivate", nil)
	code, b = send(more, a.key)
	wantProblem(t, "deactivated", code, b, 403, "deactivated by admin")
	f.do(t, f.admin, "POST", "/api/v1/devices/"+a.id+"/reactivate", nil)
	f.do(t, f.admin, "POST", "/api/v1/deployment-secrets/"+s.ID+"/revoke", nil)
	code, b = send(more, a.key)
	wantProblem(t, "secret revoked", code, b, 403, "was revoked at")
	body, _ := json.Marshal(client.AgentEventsRequest{DeviceID: "9999", Events: more})
	code, b = f.send(t, "POST", "/api/v1/agent/events", body, func(r *http.Request) {
		r.Header.Set(device.HeaderDevice, "9999")
		r.Header.Set(device.HeaderSignature, device.Sign(a.key, device.ContextEvents, body))
	})
	wantProblem(t, "unknown device", code, b, 401, "not enrolled")
	if n, _ := f.app.Store.CountEvents(context.Background(), store.EventFilter{}); n != 2 {
		t.Errorf("refused batches stored events: %d", n)
	}
	for reason, want := range map[string]float64{"deactivated": 1, "secret_revoked": 1, "unknown_device": 1, "signature": 1} {
		if n := metric(t, f, `telltale_agent_refused_total{kind="events",reason="`+reason+`"}`); n != want {
			t.Errorf("events refused %s: %v, want %v", reason, n, want)
		}
	}
}

// TestCheckInReplayedConcurrently: the same signed check-in sent many times at once (check-ins
// are committed in groups) is accepted once and refused as a replay every other time.
func TestCheckInReplayedConcurrently(t *testing.T) {
	f := newFixture(t)
	s := newSecret(t, f, "all", "1d")
	a := newTestAgent()
	if code, b := a.enroll(t, f, s.Secret, nil); code != http.StatusCreated {
		t.Fatalf("enrol: %d %s", code, b)
	}
	body := a.checkInBody(nil)
	sig := device.Sign(a.key, device.ContextCheckIn, body)
	codes := make(chan int, 20)
	for i := 0; i < 20; i++ {
		go func() {
			code, _ := a.post(t, f, body, sig)
			codes <- code
		}()
	}
	got := map[int]int{}
	for i := 0; i < 20; i++ {
		got[<-codes]++
	}
	if got[200] != 1 || got[409] != 19 {
		t.Errorf("answers %v, want one 200 and 19 409", got)
	}
}

// TestCheckInTwoNodesPostgres: two nodes on one PostgreSQL. The node an agent checks in with
// remembers its key; a revocation or a deactivation made through the other node refuses its very
// next check-in there (the check-in's write checks them), and lifting it lets the next one in; a
// check-in accepted by one node is a replay on the other.
func TestCheckInTwoNodesPostgres(t *testing.T) {
	dsn := pgtest.DSN(t)
	key := make([]byte, 32)
	rand.Read(key)
	node := func() *fixture {
		return newFixtureWith(t, func(c *configT) { c.Database, c.SecretKey = dsn, base64.StdEncoding.EncodeToString(key) })
	}
	f1, f2 := node(), node()
	s := newSecret(t, f1, "all", "1d")
	a := newTestAgent()
	if code, b := a.enroll(t, f1, s.Secret, nil); code != http.StatusCreated {
		t.Fatalf("enrol: %d %s", code, b)
	}
	id, _ := strconv.ParseInt(a.id, 10, 64)
	for i := 0; i < 2; i++ {
		if code, b := a.checkIn(t, f2, nil); code != 200 {
			t.Fatalf("check-in %d on the other node: %d %s", i, code, b)
		}
	}
	if k, ok := api.RemembersDeviceKey(f2.app.API, id); !ok || string(k) != string(a.pub) {
		t.Fatal("the other node does not remember the device's key")
	}
	admin := func(f *fixture, path string) {
		t.Helper()
		if code, b := f.do(t, f.admin, "POST", path, nil); code != 200 {
			t.Fatalf("%s: %d %s", path, code, b)
		}
	}
	admin(f1, "/api/v1/deployment-secrets/"+s.ID+"/revoke")
	code, b := a.checkIn(t, f2, nil)
	wantProblem(t, "revoked on the other node", code, b, 403, "was revoked at")
	admin(f1, "/api/v1/deployment-secrets/"+s.ID+"/reactivate")
	if code, b := a.checkIn(t, f2, nil); code != 200 {
		t.Fatalf("secret reactivated on the other node: %d %s", code, b)
	}
	admin(f1, "/api/v1/devices/"+a.id+"/deactivate")
	code, b = a.checkIn(t, f2, nil)
	wantProblem(t, "deactivated on the other node", code, b, 403, "deactivated by admin")
	admin(f1, "/api/v1/devices/"+a.id+"/reactivate")
	body := a.checkInBody(nil)
	sig := device.Sign(a.key, device.ContextCheckIn, body)
	if code, b := a.post(t, f2, body, sig); code != 200 {
		t.Fatalf("reactivated on the other node: %d %s", code, b)
	}
	code, b = a.post(t, f1, body, sig)
	wantProblem(t, "replayed on the first node", code, b, 409, "used already")
	if d, err := f1.app.Store.GetDevice(context.Background(), id); err != nil || d.Counter != a.counter {
		t.Errorf("counter %d after, want %d: %v", d.Counter, a.counter, err)
	}
}

// TestCheckInKeepsConnection: an agent's check-ins, accepted or refused as a replay, are answered
// on one kept-alive connection (a new TCP and TLS connection a minute per agent would cost more
// than the check-in).
func TestCheckInKeepsConnection(t *testing.T) {
	f := newFixture(t)
	s := newSecret(t, f, "all", "1d")
	a := newTestAgent()
	if code, b := a.enroll(t, f, s.Secret, nil); code != http.StatusCreated {
		t.Fatalf("enrol: %d %s", code, b)
	}
	hc := &http.Client{Transport: &http.Transport{}}
	defer hc.CloseIdleConnections()
	var conns []bool // reused, per request
	send := func(body []byte) int {
		t.Helper()
		req, _ := http.NewRequest("POST", f.srv.URL+"/api/v1/agent/checkin", bytes.NewReader(body))
		req.Header.Set(device.HeaderDevice, a.id)
		req.Header.Set(device.HeaderSignature, device.Sign(a.key, device.ContextCheckIn, body))
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
			GotConn: func(i httptrace.GotConnInfo) { conns = append(conns, i.Reused) }}))
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	first := a.checkInBody(nil)
	codes := []int{send(first), send(a.checkInBody(nil)), send(first), send(a.checkInBody(nil))}
	if codes[0] != 200 || codes[1] != 200 || codes[2] != 409 || codes[3] != 200 {
		t.Fatalf("answers %v, want 200 200 409 200", codes)
	}
	for i, reused := range conns[1:] {
		if !reused {
			t.Errorf("request %d opened a new connection: %v", i+2, conns)
		}
	}
}
