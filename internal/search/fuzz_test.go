package search

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzParse: Parse never panics, and a query it accepts prints to a canonical form that parses
// back to the same tree, which prints the same again.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"actor:alice@corp.com action:file-shared exposure:public_link after:2026-11-01 name:*.xlsx",
		"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "recipient:*@gmail.com",
		"size>10MB", "NOT trusted:true", "(a OR b)", `name:"Q3 plan.xlsx"`, "path:/Finance/*", "domain:gmail.com",
		"before:2026-11-20T10:00Z", "observed:7d", "severity>=high", `connection:"Box Prod"`, `-(a "b c") OR d\*`,
		`name:"say \"hi\""`, "observed:2026-11-20T10:00:30.25+01:00", "size<=1.5KiB", "x:=y", `""`, "a\\", "((a)",
	} {
		f.Add(s)
	}
	// An unknown field's error lists the known fields: a constant the input does not control.
	fieldList := 0
	for _, fi := range Fields() {
		fieldList += len(fi.Name) + 2
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := Parse(s, now)
		if err != nil {
			e, ok := err.(*Error)
			if !ok {
				t.Fatalf("Parse(%q) returned %T, want *Error", s, err)
			}
			// Errors say where, within the query, and stay bounded whatever it holds.
			if e.Pos < 0 || e.Pos > len(s) {
				t.Fatalf("Parse(%q): error at %d, outside the query", s, e.Pos)
			}
			// A message quotes the offending text (%q): a control byte takes 4 bytes (\x02).
			if len(e.Msg) > 4*len(s)+300+fieldList || len(e.Msg) > 80<<10 {
				t.Fatalf("Parse: a %d-byte query got a %d-byte error", len(s), len(e.Msg))
			}
			return
		}
		c := q.String()
		back, err := Parse(c, now)
		if err != nil {
			t.Fatalf("Parse(%q) ok, but its canonical form %q fails: %v", s, c, err)
		}
		if diff := cmp.Diff(q, back); diff != "" {
			t.Fatalf("Parse(%q) -> %q parses differently (-first +second):\n%s", s, c, diff)
		}
		if back.String() != c {
			t.Fatalf("canonical form is not stable: %q -> %q", c, back.String())
		}
	})
}

func BenchmarkParse(b *testing.B) {
	for b.Loop() {
		if _, err := Parse("actor:alice@corp.com action:file-shared exposure:public_link after:2026-11-01 name:*.xlsx (size>10MB OR NOT trusted:true)", now); err != nil {
			b.Fatal(err)
		}
	}
}
