package textcheck

import (
	"strings"
	"testing"
)

func TestLabel(t *testing.T) {
	for _, c := range []struct {
		in, want string // want: a part of the problem, or "" for none
	}{
		{"Box Prod", ""},
		{"Ärger – Zürich 東京", ""},
		{"Box\x00Prod", "control character"},
		{"Box\tProd", "control character"},
		{"Box\u0085Prod", "control character"},
		{"invoice\u202Etxt.exe", "direction"},
		{"a\u2066b", "direction"},
		{"a\u2028b", "line break"},
		{"a\u200bb", "invisible"},
		{"bad \xff byte", "not UTF-8"},
		{strings.Repeat("é", 201), "201 characters long; the maximum is 200"},
		{strings.Repeat("é", 200), ""},
	} {
		got := Label(c.in, 200)
		if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
			t.Errorf("Label(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func FuzzLabel(f *testing.F) {
	for _, s := range []string{"Box", "a\u202Eb", "\xff", "x\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p := Label(s, 50)
		if len(p) > 120 {
			t.Errorf("problem of %d bytes for a %d-byte input: %q", len(p), len(s), p)
		}
		if p == "" {
			for _, r := range s {
				if refused(r) != "" {
					t.Errorf("accepted %q holding U+%04X", s, r)
				}
			}
		}
	})
}
