package cli

import (
	"fmt"
	"time"
)

// parseTime accepts RFC 3339 or a plain date (midnight UTC).
func parseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("want an RFC 3339 time (2026-11-01T09:00:00Z) or a date (2026-11-01), got %q", s)
}
