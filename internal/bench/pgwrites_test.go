package bench

import (
	"bytes"
	"context"
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/telltale-dev/telltale/internal/testutil/pgtest"
)

// TestPGWrites: the command measures both comparisons on a real server and says so in numbers;
// bad arguments are refused before anything runs, naming the flag.
func TestPGWrites(t *testing.T) {
	for _, args := range [][]string{{"-rounds", "0"}, {"-page", "1"}, {"-prefill", "-1"}, {"extra"}} {
		if err := PGWritesCommand(context.Background(), args, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "pgwrites:") {
			t.Errorf("PGWritesCommand(%q) = %v, want an error naming the problem", args, err)
		}
	}
	var out bytes.Buffer
	if err := PGWritesCommand(context.Background(), []string{"-dsn", pgtest.DSN(t), "-rounds", "3", "-page", "40", "-prefill", "1000"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, re := range []string{`claiming 40 new keys .* RETURNING [0-9]+, SAVEPOINT \+ COPY [0-9]+ \(-?[0-9.]+ µs`, `up to 20 rows.* 50-row statements [0-9]+, one statement of arrays [0-9]+ \(`, `upserting 160 dashboard count rows .*collation \([^)]+\) [0-9]+, in COLLATE "C" [0-9]+, as integer ids [0-9]+ \([0-9]+ %`} {
		if !regexp.MustCompile(re).MatchString(out.String()) {
			t.Errorf("no line matching %q in:\n%s", re, out.String())
		}
	}
}
