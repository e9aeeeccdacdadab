package cli

import (
	"strings"
	"testing"
)

// TestRiskRescoreCommands: rescore refuses a missing or bad range saying how to write it, starts
// a job over a good one, refuses a second while it runs; jobs lists it; cancel stops it.
func TestRiskRescoreCommands(t *testing.T) {
	_, url := startServer(t)
	if _, errs, code := run(t, url, "", "risk", "rescore", "--from", "2026-11-01"); code == 0 || !strings.Contains(errs, "--to") {
		t.Errorf("no --to: %d %s", code, errs)
	}
	if _, errs, code := run(t, url, "", "risk", "rescore", "--from", "yesterday", "--to", "2026-12-01"); code == 0 || !strings.Contains(errs, "--from: want an RFC 3339 time") {
		t.Errorf("bad --from: %d %s", code, errs)
	}
	if _, errs, code := run(t, url, "", "risk", "rescore", "--from", "2026-12-01", "--to", "2026-11-01"); code == 0 || !strings.Contains(errs, "is not after from") {
		t.Errorf("empty range: %d %s", code, errs)
	}
	out, errs, code := run(t, url, "", "risk", "rescore", "--from", "2026-11-01", "--to", "2026-12-01")
	if code != 0 || !strings.Contains(out, "running") || !strings.Contains(out, "2026-11-01") {
		t.Fatalf("rescore: %d %s %s", code, out, errs)
	}
	if _, errs, code := run(t, url, "", "risk", "rescore", "--from", "2026-11-01", "--to", "2026-12-01"); code == 0 || !strings.Contains(errs, "running already") {
		t.Errorf("a second job: %d %s", code, errs)
	}
	out, errs, code = run(t, url, "", "risk", "jobs")
	if code != 0 || !strings.Contains(out, "running") {
		t.Fatalf("jobs: %d %s %s", code, out, errs)
	}
	out, errs, code = run(t, url, "", "risk", "cancel", "1")
	if code != 0 || !strings.Contains(out, "cancelled") {
		t.Fatalf("cancel: %d %s %s", code, out, errs)
	}
	out, errs, code = run(t, url, "", "risk", "jobs", "1", "-o", "json")
	if code != 0 || !strings.Contains(out, `"state": "cancelled"`) {
		t.Fatalf("jobs 1: %d %s %s", code, out, errs)
	}
}
