package alert

import (
	"os"
	"strings"
	"testing"
)

// TestDocsListTemplates: docs/ALERTS.md publishes every shipped template with its query, and the
// limits this package enforces.
func TestDocsListTemplates(t *testing.T) {
	b, err := os.ReadFile("../../docs/ALERTS.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := strings.Join(strings.Fields(string(b)), " ")
	for _, tp := range Templates() {
		if row := "| " + tp.Name + " | " + tp.Kind + " | `" + tp.Query + "` |"; !strings.Contains(doc, row) {
			t.Errorf("docs/ALERTS.md lacks the template row starting %q", row)
		}
	}
	for _, f := range Fields() {
		if !strings.Contains(doc, "`"+f+"`") {
			t.Errorf("docs/ALERTS.md does not name the field %s", f)
		}
	}
	for _, want := range []string{"| `max_alerts_per_hour` | `100` |", "1 to 10,000", "`1m` to `168h`", "| `history_days` | (required) | 1 to 365 |",
		"at most 200,000 matching events", "at most 100,000 events"} {
		if !strings.Contains(doc, want) {
			t.Errorf("docs/ALERTS.md lacks %q", want)
		}
	}
	if DefaultCap != 100 || MaxCap != 10000 || MinWindow.String() != "1m0s" || MaxWindow.String() != "168h0m0s" || MaxHistoryDays != 365 ||
		DefaultBacktestLimit != 200_000 {
		t.Error("a limit changed: update docs/ALERTS.md and this test")
	}
}
