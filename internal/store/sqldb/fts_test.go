package sqldb

import (
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/search"
)

// TestFTSMatch: the trigram prefilter of name terms (SQLite) takes the trigrams of each literal run,
// keeps escaped wildcards as characters, quotes FTS5 strings, and stays away when no run has 3
// characters.
func TestFTSMatch(t *testing.T) {
	tests := []struct {
		query, want string
		ok          bool
	}{
		{"name:*budget*", `"bud" AND "udg" AND "dge" AND "get"`, true},
		{"BUDGET", `"bud" AND "udg" AND "dge" AND "get"`, true},
		{"name:plan.xlsx", `"pla" AND "lan" AND "an." AND "n.x" AND ".xl" AND "xls" AND "lsx"`, true},
		{"name:*.xlsx", `".xl" AND "xls" AND "lsx"`, true},
		{`name:*100%_d*`, `"100" AND "00%" AND "0%_" AND "%_d"`, true},
		{`name:*a\\b*`, `"a\b"`, true},
		{`name:"*say \"hi*"`, `"say" AND "ay " AND "y """ AND " ""h" AND """hi"`, true},
		{"name:*ärger*", `"ärg" AND "rge" AND "ger"`, true},
		{"name:ab?de*", "", false},
		{"name:*pl*", "", false},
		{"name:q3", "", false},
		{"name:*", "", false},
		{"name:aaaa", `"aaa"`, true},
	}
	for _, tc := range tests {
		q, err := search.Parse(tc.query, time.Now())
		if err != nil {
			t.Fatalf("%s: %v", tc.query, err)
		}
		term, isTerm := q.Root.(*search.Term)
		if !isTerm {
			t.Fatalf("%s: root is %T", tc.query, q.Root)
		}
		got, ok := ftsMatch(term)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ftsMatch(%s) = %q, %v; want %q, %v", tc.query, got, ok, tc.want, tc.ok)
		}
	}
}
