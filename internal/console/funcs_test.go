package console

import (
	"strings"
	"testing"
)

// TestSparkline: a rule's alerts per day are bars scaled to the busiest day, with the numbers as
// text for screen readers; days without alerts draw nothing; no counts, no chart.
func TestSparkline(t *testing.T) {
	got := string(sparkline([]int64{0, 2, 4}))
	if strings.Count(got, "<rect") != 2 || !strings.Contains(got, `aria-label="6 alerts over the last 3 days, at most 4 on one day"`) ||
		!strings.Contains(got, `height="16"></rect>`) || !strings.Contains(got, `y="8" width="2" height="8"`) {
		t.Errorf("sparkline: %s", got)
	}
	if got := sparkline(nil); got != "" {
		t.Errorf("no counts: %q", got)
	}
}
