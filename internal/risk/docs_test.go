package risk

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/telltale-dev/telltale/internal/event"
)

// TestDocsListDefaults: docs/RISK.md publishes every indicator with its default weight, the
// default bands and working hours, and the personal-mail list, as this package has them.
func TestDocsListDefaults(t *testing.T) {
	b, err := os.ReadFile("../../docs/RISK.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, i := range event.Indicators() {
		if row := fmt.Sprintf("| `%s` | %d |", i, DefaultWeight(i)); !strings.Contains(doc, row) {
			t.Errorf("docs/RISK.md lacks the row %q", row)
		}
	}
	bands := DefaultBands
	for _, want := range []string{
		fmt.Sprintf("`low` starts at %d", bands.Low), fmt.Sprintf("`moderate` starts at %d", bands.Moderate),
		fmt.Sprintf("`high` starts at %d", bands.High), fmt.Sprintf("`critical` starts at %d", bands.Critical),
		"**08:00 to 18:00, Monday to Friday, UTC**",
		strings.Join(PersonalMailDomains(), ", ") + ".",
	} {
		if !strings.Contains(strings.Join(strings.Fields(doc), " "), want) {
			t.Errorf("docs/RISK.md lacks %q", want)
		}
	}
	if d := DefaultWorkingHours(); d.Start != "08:00" || d.End != "18:00" || d.TimeZone != "UTC" || strings.Join(d.Days, " ") != "mon tue wed thu fri" {
		t.Errorf("the default working hours changed (%+v): update docs/RISK.md and this test", d)
	}
}
