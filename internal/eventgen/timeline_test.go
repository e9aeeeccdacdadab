package eventgen

import (
	"testing"
	"time"
)

func TestTimelineInOrderWithLateEvents(t *testing.T) {
	tests := []struct {
		name  string
		total int
		days  int
	}{
		{"small", 5000, 10},
		{"uneven", 1237, 7},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tl := NewTimeline(Options{Seed: 3, Days: tc.days}, tc.total)
			n, backwards, late := 0, 0, 0
			var prev time.Time
			var latest time.Time
			for {
				e, ok := tl.Next()
				if !ok {
					break
				}
				n++
				if err := e.Validate(); err != nil {
					t.Fatalf("invalid event: %v", err)
				}
				if e.Timestamp.Before(tl.Start()) || !e.Timestamp.Before(tl.End()) {
					t.Fatalf("event at %s outside the window %s..%s", e.Timestamp, tl.Start(), tl.End())
				}
				if e.Timestamp.Before(prev) {
					backwards++
				}
				if e.Timestamp.Before(latest.Add(-time.Hour)) {
					late++
				}
				if e.Timestamp.After(latest) {
					latest = e.Timestamp
				}
				prev = e.Timestamp
			}
			if n != tc.total {
				t.Fatalf("got %d events, want %d", n, tc.total)
			}
			// Mostly in order: late events are about 2%, each making at most two inversions.
			if backwards > n/10 || late == 0 {
				t.Errorf("%d of %d events go backwards, %d late: want mostly ordered with some late", backwards, n, late)
			}
		})
	}
}
