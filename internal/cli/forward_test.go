package cli

import (
	"context"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/telltale-dev/telltale/internal/config"
	"github.com/telltale-dev/telltale/internal/emulator/hec"
	"github.com/telltale-dev/telltale/internal/forward"
)

// TestForwardCommands: list shows a destination's streams; streams sets them (devices and
// connections included); an unknown stream is refused naming the streams there are and changes
// nothing.
func TestForwardCommands(t *testing.T) {
	a, url := startServer(t)
	v, err := a.Forward.Create(context.Background(), forward.Input{Name: "SIEM", Kind: forward.KindSyslog, Format: forward.FormatCEF,
		Settings: forward.Settings{Address: "203.0.113.5:6514"}}, "admin")
	if err != nil {
		t.Fatal(err)
	}
	id := strconv.FormatInt(v.ID, 10)
	out, errs, code := run(t, url, "", "forward", "list")
	if code != 0 || !strings.Contains(out, "SIEM") || !strings.Contains(out, " events ") {
		t.Fatalf("list: %d %s %s", code, out, errs)
	}
	out, errs, code = run(t, url, "", "forward", "streams", id, "events,alerts", "devices", "connections")
	if code != 0 || !strings.Contains(out, "takes: events, alerts, devices, connections") {
		t.Fatalf("streams: %d %s %s", code, out, errs)
	}
	_, errs, code = run(t, url, "", "forward", "streams", id, "devices", "health")
	if code == 0 || !strings.Contains(errs, `"health" is not a stream`) || !strings.Contains(errs, "devices or connections") {
		t.Fatalf("an unknown stream: %d %s", code, errs)
	}
	out, errs, code = run(t, url, "", "forward", "list", "-o", "json")
	if code != 0 || !strings.Contains(out, `"devices"`) || !strings.Contains(out, `"connections"`) || !strings.Contains(out, `"alerts"`) {
		t.Fatalf("after a refused change: %d %s %s", code, out, errs)
	}
}

// TestForwardAddTestPauseDelete: a Splunk HEC destination added from the command line with its
// token from the environment (never echoed), tested against a real HEC emulator, paused, resumed and
// deleted; bad input is refused with what is wrong and adds nothing.
func TestForwardAddTestPauseDelete(t *testing.T) {
	_, url := startServerWith(t, func(c *config.Config) { c.AllowLoopback = true })
	h := hec.New("tok-1", true)
	srv := httptest.NewServer(h.Handler())
	defer srv.Close()
	env := map[string]string{"HEC_TOKEN": "tok-1", "WRONG_TOKEN": "tok-2"}

	_, errs, code := runEnv(t, url, env, "forward", "add", "Splunk", "--kind", "splunk_hec", "--url", srv.URL, "--token-env", "NOT_SET")
	if code == 0 || !strings.Contains(errs, "NOT_SET") {
		t.Fatalf("an unset token variable: %d %s", code, errs)
	}
	_, errs, code = runEnv(t, url, env, "forward", "add", "SIEM", "--address", "no-port-here")
	if code == 0 || !strings.Contains(errs, "host:port") {
		t.Fatalf("a syslog address without a port: %d %s", code, errs)
	}
	out, errs, code := runEnv(t, url, env, "forward", "list", "-o", "json")
	if code != 0 || strings.Contains(out, `"id"`) {
		t.Fatalf("refused adds left a destination: %d %s %s", code, out, errs)
	}

	out, errs, code = runEnv(t, url, env, "forward", "add", "Splunk", "--kind", "splunk_hec", "--format", "ocsf", "--url", srv.URL,
		"--token-env", "HEC_TOKEN", "--acks", "--streams", "events,alerts")
	if code != 0 || !strings.Contains(out, "added: splunk_hec, ocsf") {
		t.Fatalf("add: %d %s %s", code, out, errs)
	}
	id := strings.Fields(strings.TrimPrefix(out, "destination "))[0]
	out, _, _ = runEnv(t, url, env, "forward", "list", "-o", "json")
	if strings.Contains(out, "tok-1") || !strings.Contains(out, `"alerts"`) || !strings.Contains(out, `"token"`) {
		t.Fatalf("list after add (the token must show by name only): %s", out)
	}
	if out, errs, code = runEnv(t, url, env, "forward", "test", id); code != 0 || !strings.Contains(out, "answers") {
		t.Fatalf("test: %d %s %s", code, out, errs)
	}
	out, errs, code = runEnv(t, url, env, "forward", "add", "Wrong", "--kind", "splunk_hec", "--url", srv.URL, "--token-env", "WRONG_TOKEN")
	if code != 0 {
		t.Fatalf("add with a wrong token: %d %s %s", code, out, errs)
	}
	wrong := strings.Fields(strings.TrimPrefix(out, "destination "))[0]
	if _, errs, code = runEnv(t, url, env, "forward", "test", wrong); code == 0 || !strings.Contains(errs, "failed its test") || !strings.Contains(errs, "Invalid token") {
		t.Fatalf("test with a wrong token: %d %s", code, errs)
	}
	if out, errs, code = runEnv(t, url, env, "forward", "pause", id); code != 0 || !strings.Contains(out, "paused") {
		t.Fatalf("pause: %d %s %s", code, out, errs)
	}
	if out, _, _ = runEnv(t, url, env, "forward", "list", "-o", "json"); !strings.Contains(out, `"paused": true`) {
		t.Fatalf("list after pause: %s", out)
	}
	if out, errs, code = runEnv(t, url, env, "forward", "resume", id); code != 0 || !strings.Contains(out, "resumed") {
		t.Fatalf("resume: %d %s %s", code, out, errs)
	}
	for _, d := range []string{id, wrong} {
		if out, errs, code = runEnv(t, url, env, "forward", "delete", d); code != 0 || !strings.Contains(out, "deleted") {
			t.Fatalf("delete: %d %s %s", code, out, errs)
		}
	}
	if out, _, _ = runEnv(t, url, env, "forward", "list", "-o", "json"); strings.Contains(out, `"id"`) {
		t.Fatalf("list after delete: %s", out)
	}
	if _, errs, code = runEnv(t, url, env, "forward", "delete", id); code == 0 || errs == "" {
		t.Fatalf("deleting a deleted destination: %d %s", code, errs)
	}
}
