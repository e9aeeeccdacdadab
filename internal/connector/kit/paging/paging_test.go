package paging

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/telltale-dev/telltale/internal/connector"
)

// TestGuard: distinct cursors pass; a repeated one (at once or after a cycle) and passing the page
// cap stop the loop with ErrMalformed naming the listing.
func TestGuard(t *testing.T) {
	for _, c := range []struct {
		name    string
		max     int
		cursors []string
		stopAt  int // index of the cursor that must stop the loop; -1: none
		mention string
	}{
		{name: "distinct", cursors: []string{"a", "b", "c", "d"}, stopAt: -1},
		{name: "same marker again", cursors: []string{"a", "b", "b"}, stopAt: 2, mention: `"b" again after 3 pages`},
		{name: "cycle", cursors: []string{"a", "b", "c", "a"}, stopAt: 3, mention: `"a" again`},
		{name: "page cap", max: 3, cursors: []string{"1", "2", "3", "4"}, stopAt: 2, mention: "more than 3 pages"},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := New("test users", c.max)
			for i, cur := range c.cursors {
				err := g.Next(cur)
				if i != c.stopAt {
					if err != nil {
						t.Fatalf("cursor %d %q: %v", i, cur, err)
					}
					continue
				}
				if !errors.Is(err, connector.ErrMalformed) || !strings.Contains(err.Error(), "test users") || !strings.Contains(err.Error(), c.mention) {
					t.Fatalf("cursor %d %q: %v, want ErrMalformed naming the listing and %q", i, cur, err, c.mention)
				}
				return
			}
			if c.stopAt >= 0 {
				t.Fatalf("never stopped")
			}
		})
	}
}

// TestGuardDefaultCap: without a cap the guard lets a long listing through and still ends one.
func TestGuardDefaultCap(t *testing.T) {
	g := New("long", 0)
	for i := range DefaultMaxPages - 1 {
		if err := g.Next(strconv.Itoa(i)); err != nil {
			t.Fatalf("page %d: %v", i, err)
		}
	}
	if err := g.Next("last"); !errors.Is(err, connector.ErrMalformed) {
		t.Fatalf("page %d passed the default cap: %v", g.Pages(), err)
	}
}

// TestLongCursorClipped: an error quotes a long cursor only in part.
func TestLongCursorClipped(t *testing.T) {
	g := New("graph delta", 0)
	long := "https://graph.microsoft.com/v1.0/users/u/drive/root/delta?token=" + strings.Repeat("x", 500)
	g.Next(long)
	if err := g.Next(long); err == nil || len(err.Error()) > 250 {
		t.Fatalf("error %q", err)
	}
}
