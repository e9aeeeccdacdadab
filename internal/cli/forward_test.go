package cli

import (
	"context"
	"strconv"
	"strings"
	"testing"

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
