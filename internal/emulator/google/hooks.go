package google

import (
	"net/http"
	"strings"
)

// isCrawlPage reports whether r asks for a files.list: a page of a baseline crawl.
func isCrawlPage(r *http.Request) bool {
	return r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/drive/v3/files")
}

// DuringIndex makes the emulator call fn once, the next time it serves a files.list (a page of a
// baseline crawl), before answering it.
func (e *Emulator) DuringIndex(fn func()) { e.hooks.Once(fn) }

// LosePushes makes the emulator lose (true) or send (false) its push notifications; message
// numbers still advance, as for a notification Google sent that never arrived.
func (e *Emulator) LosePushes(lose bool) { e.hooks.LosePushes(lose) }
