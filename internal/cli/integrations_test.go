package cli

import (
	"os"
	"strings"
	"testing"
)

// TestIntegrationsCommands: create a webhook integration with its secret from the environment
// (never on the command line), a flow to it, list both, queue test deliveries and list them,
// disconnect; a flow with an unknown integration is refused.
func TestIntegrationsCommands(t *testing.T) {
	_, url := startServer(t)
	out, errs, code := run(t, url, "", "integrations", "create", "SOAR", "--kind", "webhook", "--url", "https://93.184.215.14/hook", "--secret-env", "TT_HOOK_SECRET")
	if code == 0 || !strings.Contains(errs, "TT_HOOK_SECRET") {
		t.Fatalf("an unset variable: %d %s %s", code, out, errs)
	}
	_, errs, code = run(t, url, "", "integrations", "create", "SOAR", "--kind", "webhook", "--url", "https://93.184.215.14/hook")
	if code == 0 || !strings.Contains(errs, "signing_secret") {
		t.Fatalf("no secret: %d %s", code, errs)
	}
	out, errs, code = runEnv(t, url, map[string]string{"TT_HOOK_SECRET": "whsec-from-the-environment-01"},
		"integrations", "create", "SOAR", "--kind", "webhook", "--url", "https://93.184.215.14/hook", "--secret-env", "TT_HOOK_SECRET")
	if code != 0 || !strings.Contains(out, "SOAR") || !strings.Contains(out, "connected") {
		t.Fatalf("create: %d %s %s", code, out, errs)
	}
	if _, errs, code = run(t, url, "", "flows", "create", "x", "--integration", "99"); code == 0 || !strings.Contains(errs, "integration 99") {
		t.Fatalf("unknown integration: %d %s", code, errs)
	}
	out, errs, code = run(t, url, "", "flows", "create", "High to SOAR", "--integration", "1", "--min-severity", "high")
	if code != 0 || !strings.Contains(out, "High to SOAR") {
		t.Fatalf("flow: %d %s %s", code, out, errs)
	}
	if out, _, _ = run(t, url, "", "flows", "list"); !strings.Contains(out, "high") {
		t.Errorf("flows list: %s", out)
	}
	if out, errs, code = run(t, url, "", "flows", "test", "1"); code != 0 || !strings.Contains(out, "1 test deliveries") {
		t.Errorf("flow test: %d %s %s", code, out, errs)
	}
	if out, errs, code = run(t, url, "", "integrations", "test", "1"); code != 0 || !strings.Contains(out, "queued") {
		t.Errorf("test: %d %s %s", code, out, errs)
	}
	if out, _, _ = run(t, url, "", "integrations", "deliveries", "1"); strings.Count(out, "pending") != 2 {
		t.Errorf("deliveries: %s", out)
	}
	if out, _, code = run(t, url, "", "integrations", "disconnect", "1"); code != 0 || !strings.Contains(out, "disconnected") {
		t.Errorf("disconnect: %s", out)
	}
	if out, _, _ = run(t, url, "", "integrations", "list", "-o", "json"); strings.Contains(out, "whsec-") || !strings.Contains(out, "signing_secret") {
		t.Errorf("list shows %s", out)
	}
	// Jira and Okta: settings as flags, tokens from the environment; bad settings say what to fix.
	_, errs, code = runEnv(t, url, map[string]string{"TT_JIRA": "atl-token"}, "integrations", "create", "Jira", "--kind", "jira",
		"--url", "https://93.184.215.14", "--email", "bot@corp.example", "--project", "1X", "--token-env", "TT_JIRA")
	if code == 0 || !strings.Contains(errs, "project key") {
		t.Errorf("a bad project key: %d %s", code, errs)
	}
	out, errs, code = runEnv(t, url, map[string]string{"TT_JIRA": "atl-token"}, "integrations", "create", "Jira", "--kind", "jira",
		"--url", "https://93.184.215.14", "--email", "bot@corp.example", "--project", "SEC", "--token-env", "TT_JIRA")
	if code != 0 || !strings.Contains(out, "jira") {
		t.Errorf("jira: %d %s %s", code, out, errs)
	}
	out, errs, code = runEnv(t, url, map[string]string{"TT_SN_PW": "sn-password"}, "integrations", "create", "ServiceNow", "--kind", "servicenow",
		"--url", "https://93.184.215.14", "--username", "telltale.integration", "--password-env", "TT_SN_PW")
	if code != 0 || !strings.Contains(out, "servicenow") {
		t.Errorf("servicenow: %d %s %s", code, out, errs)
	}
	if out, _, _ = run(t, url, "", "integrations", "list", "-o", "json"); strings.Contains(out, "sn-password") || strings.Contains(out, "atl-token") || !strings.Contains(out, `"password"`) {
		t.Errorf("list shows %s", out)
	}
	if out, _, _ = run(t, url, "", "integrations", "list"); !strings.Contains(out, "CONDITION") || !strings.Contains(out, "ok") {
		t.Errorf("list: %s", out)
	}
}

// TestHRCommands: an hr_csv source made with `integrations create`, a CSV uploaded with `hr upload`
// (a bad file refused naming its row, changing nothing), listed by `hr list` with its outcome; a
// flow with the hr.departure trigger; `hr sync` of a CSV source says why not.
func TestHRCommands(t *testing.T) {
	_, url := startServer(t)
	out, errs, code := run(t, url, "", "integrations", "create", "HR export", "--kind", "hr_csv")
	if code != 0 || !strings.Contains(out, "hr_csv") {
		t.Fatalf("create: %d %s %s", code, out, errs)
	}
	dir := t.TempDir()
	bad, good := dir+"/bad.csv", dir+"/good.csv"
	writeFile(t, bad, "Email,Departure Date\nann@corp.example,2027-01-31\nbob@corp.example,soon\n")
	writeFile(t, good, "Email,Departure Date\nann@corp.example,2027-01-31\n")
	if _, errs, code = run(t, url, "", "hr", "upload", "1", bad); code == 0 || !strings.Contains(errs, "3") || !strings.Contains(errs, "nothing was changed") {
		t.Errorf("bad file: %d %s", code, errs)
	}
	if out, errs, code = run(t, url, "", "hr", "upload", "1", good); code != 0 || !strings.Contains(out, "1 added") {
		t.Errorf("upload: %d %s %s", code, out, errs)
	}
	if out, _, _ = run(t, url, "", "hr", "list"); !strings.Contains(out, "HR export") || !strings.Contains(out, "1 added") {
		t.Errorf("hr list: %s", out)
	}
	if _, errs, code = run(t, url, "", "hr", "sync", "1"); code == 0 || !strings.Contains(errs, "not polled") {
		t.Errorf("sync a CSV source: %d %s", code, errs)
	}
	out, errs, code = runEnv(t, url, map[string]string{"TT_HOOK_SECRET": "whsec-from-the-environment-01"},
		"integrations", "create", "SOAR", "--kind", "webhook", "--url", "https://93.184.215.14/hook", "--secret-env", "TT_HOOK_SECRET")
	if code != 0 {
		t.Fatalf("webhook: %d %s %s", code, out, errs)
	}
	if out, errs, code = run(t, url, "", "flows", "create", "Departures", "--trigger", "hr.departure", "--integration", "2"); code != 0 {
		t.Fatalf("flow: %d %s %s", code, out, errs)
	}
	if out, _, _ = run(t, url, "", "flows", "list"); !strings.Contains(out, "hr.departure") {
		t.Errorf("flows list: %s", out)
	}
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}
