package bench

import (
	"context"
	"io"
	"strings"
	"testing"
)

// TestRunWritersSmoke runs the writers benchmark small: every run stores every event in both lock
// modes (writersRun checks each page's count), with several writers at once, and the section has a
// row per writer count.
func TestRunWritersSmoke(t *testing.T) {
	o := WritersOptions{Events: 1500, Batch: 200, Writers: []int{1, 3}, Rounds: 1, TempDir: t.TempDir()}
	rs, err := RunWriters(context.Background(), o, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 {
		t.Fatalf("%d results, want 2", len(rs))
	}
	for _, r := range rs {
		if r.SharedRate <= 0 || r.ExclusiveRate <= 0 || len(r.Shared) != 1 || len(r.Exclusive) != 1 {
			t.Errorf("%d writers: %+v", r.Writers, r)
		}
	}
	section := WritersSection(o, rs, "cmd")
	for _, want := range []string{"## Event writers side by side", "| 1 | ", "| 3 | ", "x"} {
		if !strings.Contains(section, want) {
			t.Errorf("section lacks %q:\n%s", want, section)
		}
	}
}
