// Package textcheck checks the short texts people type and Telltale shows to others (display
// names, saved-search names) before they are stored: valid UTF-8, no control characters, no
// characters that reorder or hide text (bidirectional overrides such as U+202E, which make
// "exe.txt" display as "txt.exe"), and a bounded length.
package textcheck

import (
	"fmt"
	"unicode/utf8"
)

// Label returns "" when s is acceptable as a one-line label of at most max characters, and
// otherwise what is wrong and how to fix it.
func Label(s string, max int) string {
	if !utf8.ValidString(s) {
		return "is not UTF-8 text"
	}
	if n := utf8.RuneCountInString(s); n > max {
		return fmt.Sprintf("is %d characters long; the maximum is %d", n, max)
	}
	for i, r := range s {
		if what := refused(r); what != "" {
			return fmt.Sprintf("holds %s (U+%04X at byte %d): remove it", what, r, i)
		}
	}
	return ""
}

// refused names a character class a label may not hold, or "".
func refused(r rune) string {
	switch {
	case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
		return "a control character"
	case r == 0x2028 || r == 0x2029:
		return "a line break"
	case r == 0x061c || r == 0x200e || r == 0x200f || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069):
		return "a character that changes the direction of text"
	case r == 0x200b || r == 0xfeff:
		return "an invisible character"
	}
	return ""
}
