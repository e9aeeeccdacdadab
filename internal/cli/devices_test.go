package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/telltale-dev/telltale/client"
)

// TestAgentAndDevicesCommands: an admin creates a deployment secret from the CLI (printed once),
// `telltale agent enroll` enrols with it (the secret from the environment), the device is listed,
// deactivated and reactivated; a revoked secret makes enrolment fail saying so; bad input is
// refused with the reason.
func TestAgentAndDevicesCommands(t *testing.T) {
	_, url := startServer(t)
	out, errs, code := run(t, url, "", "deployment-secrets", "create", "Laptops", "--expires-in", "7d", "-o", "json")
	var s client.DeploymentSecret
	if code != 0 || json.Unmarshal([]byte(out), &s) != nil || !strings.HasPrefix(s.Secret, "tds_") {
		t.Fatalf("create: %d %q %q", code, out, errs)
	}
	out, _, _ = run(t, url, "", "deployment-secrets", "list")
	if !strings.Contains(out, "Laptops") || strings.Contains(out, s.Secret) {
		t.Errorf("list: %q", out)
	}
	_, errs, code = run(t, url, "", "deployment-secrets", "create", "Bad", "--expires-in", "2y")
	if code == 0 || !strings.Contains(errs, "expires_in") {
		t.Errorf("bad expiry: %d %q", code, errs)
	}

	dir := t.TempDir()
	out, errs, code = runEnv(t, url, map[string]string{"TELLTALE_AGENT_SECRET": s.Secret}, "agent", "enroll", "--state-dir", dir, "--user-email", "ann@corp.example")
	if code != 0 || !strings.Contains(out, "enrolled as device 1") {
		t.Fatalf("enroll: %d %q %q", code, out, errs)
	}
	out, errs, code = run(t, url, "", "agent", "queue", "--state-dir", dir)
	if code != 0 || out != "0 file events queued\n0 set aside (refused by the server or damaged; not sent)\n" {
		t.Errorf("agent queue: %d %q %q", code, out, errs)
	}
	_, errs, code = runEnv(t, url, map[string]string{"TELLTALE_AGENT_SECRET": s.Secret}, "agent", "enroll", "--state-dir", dir)
	if code == 0 || !strings.Contains(errs, "holds an enrolment already") {
		t.Errorf("second enroll: %d %q", code, errs)
	}
	out, _, code = run(t, url, "", "devices", "list")
	if code != 0 || !strings.Contains(out, "ann@corp.example") || !strings.HasPrefix(out, "ID") {
		t.Errorf("devices: %d %q", code, out)
	}
	out, errs, code = run(t, url, "", "devices", "deactivate", "1")
	if code != 0 || !strings.Contains(out, "inactive") {
		t.Errorf("deactivate: %d %q %q", code, out, errs)
	}
	out, _, _ = run(t, url, "", "devices", "list", "--state", "inactive", "-o", "csv")
	if !strings.Contains(out, "ann@corp.example") {
		t.Errorf("inactive: %q", out)
	}
	run(t, url, "", "devices", "reactivate", "1")
	if out, _, _ = run(t, url, "", "devices", "list", "--state", "inactive", "-o", "csv"); strings.Contains(out, "ann@corp.example") {
		t.Errorf("inactive after reactivation: %q", out)
	}
	_, errs, code = run(t, url, "", "devices", "list", "--sort", "color")
	if code == 0 || !strings.Contains(errs, "sort") {
		t.Errorf("bad sort: %d %q", code, errs)
	}

	if _, errs, code := run(t, url, "", "deployment-secrets", "revoke", s.ID); code != 0 {
		t.Fatalf("revoke: %q", errs)
	}
	_, errs, code = runEnv(t, url, map[string]string{"TELLTALE_AGENT_SECRET": s.Secret}, "agent", "enroll", "--state-dir", t.TempDir())
	if code == 0 || !strings.Contains(errs, "secret revoked") {
		t.Errorf("enroll with a revoked secret: %d %q", code, errs)
	}
	_, errs, code = run(t, url, "", "agent", "run", "--state-dir", t.TempDir())
	if code == 0 || !strings.Contains(errs, "telltale agent enroll") {
		t.Errorf("run without enrolment: %d %q", code, errs)
	}
}
