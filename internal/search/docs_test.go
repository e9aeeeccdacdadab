package search

import (
	"os"
	"strings"
	"testing"
)

// TestDocs: docs/SEARCH.md lists every field and its canonical examples are what String prints.
func TestDocs(t *testing.T) {
	b, err := os.ReadFile("../../docs/SEARCH.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, f := range Fields() {
		if !strings.Contains(doc, "| `"+f.Name+"` |") {
			t.Errorf("docs/SEARCH.md has no row for field %s", f.Name)
		}
	}
	for typed, canonical := range map[string]string{
		"user:Bob after:2026-11-01 plan":            "actor:Bob observed>=2026-11-01 name:*plan*",
		"(a OR b) -trusted:yes":                     "(name:*a* OR name:*b*) NOT trusted:true",
		"action:shared exposure:public size:>=10mb": "action:file-shared exposure:public_link size>=10MB",
	} {
		if !strings.Contains(doc, "| `"+typed+"` | `"+canonical+"` |") {
			t.Errorf("docs/SEARCH.md lacks the example %q -> %q", typed, canonical)
		}
		q, err := Parse(typed, now)
		if err != nil || q.String() != canonical {
			t.Errorf("Parse(%q).String() = %q (err %v), the docs say %q", typed, q.String(), err, canonical)
		}
	}
	for _, line := range strings.Split(doc, "\n") {
		// the error examples: every one is what Parse says for the query it quotes
		for _, ex := range []struct{ q, prefix string }{
			{"acter:x", `unknown field "acter" at 0`}, {"action:file-share", `unknown action "file-share" at 7`},
			{"service:dropbox", `unknown service "dropbox" at 8`}, {"after:2026-13-01", `"2026-13-01" is not a time at 6`},
			{"size>ten", `"ten" is not a size at 5`}, {"actor>bob", `actor takes ":" only`},
			{`name:"abc`, "unterminated quoted value at 5"}, {"a OR", "OR at the end of the query at 4"}, {"(a", `unclosed "(" at 0`},
		} {
			if strings.HasPrefix(line, ex.prefix) {
				_, err := Parse(ex.q, now)
				if err == nil || (!strings.HasSuffix(line, "...") && err.Error() != line) {
					t.Errorf("docs say %q, Parse(%q) says %v", line, ex.q, err)
				}
			}
		}
	}
}
