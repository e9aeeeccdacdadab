// Package paging keeps a connector's paging loop from running forever: a vendor that hands back a
// cursor or marker it gave before (a loop), or more pages than any real listing has, stops the
// loop with an error wrapping connector.ErrMalformed that names the listing. It is part of the
// vendor kit (issue 13).
package paging

import (
	"fmt"

	"github.com/telltale-dev/telltale/internal/connector"
)

// DefaultMaxPages is the cap when a Guard names none: far beyond any real listing (a million pages
// of even 100 entries), small enough to stop a runaway loop within hours, not never.
const DefaultMaxPages = 1_000_000

// Guard watches one paging loop. The zero value is not usable: use New.
type Guard struct {
	what  string
	max   int
	pages int
	seen  map[string]struct{}
}

// New returns a Guard for one listing, named in its errors (e.g. "box users"); maxPages <= 0 means
// DefaultMaxPages.
func New(what string, maxPages int) *Guard {
	if maxPages <= 0 {
		maxPages = DefaultMaxPages
	}
	return &Guard{what: what, max: maxPages, seen: map[string]struct{}{}}
}

// Next is called after each page with the cursor the next request will send (a marker, a page
// token, an offset as text). It returns an error when the vendor gave that cursor before, or when
// the listing has passed its page cap; the loop must stop then.
func (g *Guard) Next(cursor string) error {
	g.pages++
	if g.pages >= g.max {
		return fmt.Errorf("%w: %s: more than %d pages; stopped in case the vendor pages forever", connector.ErrMalformed, g.what, g.max)
	}
	if _, dup := g.seen[cursor]; dup {
		return fmt.Errorf("%w: %s: the vendor gave the cursor %q again after %d pages; stopped instead of paging forever", connector.ErrMalformed, g.what, clip(cursor), g.pages)
	}
	g.seen[cursor] = struct{}{}
	return nil
}

// Pages counts the pages seen so far.
func (g *Guard) Pages() int { return g.pages }

// clip keeps an error short when a vendor's cursor is long (Graph's deltaLink is a whole URL).
func clip(s string) string {
	if len(s) <= 64 {
		return s
	}
	return s[:61] + "..."
}
