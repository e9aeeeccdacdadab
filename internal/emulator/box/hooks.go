package box

import (
	"net/http"
	"strings"
)

// isCrawlPage reports whether r asks for a folder listing: a page of a baseline crawl.
func isCrawlPage(r *http.Request) bool {
	return r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/2.0/folders/") && strings.HasSuffix(r.URL.Path, "/items")
}

// DuringIndex makes the emulator call fn once, the next time it serves a folder listing (a page of
// a baseline crawl), before answering it.
func (e *Emulator) DuringIndex(fn func()) { e.hooks.Once(fn) }

// LoseDeliveries makes the emulator lose (true) or send (false) its webhook deliveries: Box's side of
// a notification that never arrives.
func (e *Emulator) LoseDeliveries(lose bool) { e.hooks.LosePushes(lose) }
