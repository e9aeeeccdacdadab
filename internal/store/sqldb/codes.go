package sqldb

import (
	"fmt"
	"strings"
)

// The closed vocabularies of the event schema are stored as small integer codes (migration 0039):
// file_events.action, observer, category, link_scope and severity hold the position of the value in
// the lists below, from 1. The lists are the storage format: append, never reorder or remove (a
// stored code must keep naming the same value; migration 0039 writes the same mapping in SQL).
// An empty value is NULL (the nullable columns), as before. A value outside the list (the schema
// validates action, observer, link scope and severity, but a category is not checked, and an
// older or newer node may know more values) is stored as code 0 and its text kept in the doc
// (doc.K), so it still reads back and is still found by an equality search.
type vocab struct {
	field  string   // the doc.K key and the search field
	values []string // code i+1 is values[i]
	codes  map[string]int
}

func newVocab(field string, values ...string) *vocab {
	v := &vocab{field: field, values: values, codes: make(map[string]int, len(values))}
	for i, s := range values {
		v.codes[s] = i + 1
	}
	return v
}

var (
	actionCodes = newVocab("a", "file-created", "file-modified", "file-renamed", "file-moved", "file-deleted",
		"file-restored", "file-shared", "file-unshared", "file-downloaded", "file-viewed", "file-emailed")
	observerCodes = newVocab("o", "box", "google_drive", "onedrive", "gmail", "microsoft365_mail", "endpoint")
	categoryCodes = newVocab("c", "archive", "audio", "document", "executable", "image", "pdf", "presentation",
		"script", "source_code", "spreadsheet", "video", "virtual_disk", "email", "other")
	linkCodes     = newVocab("l", "anyone", "organization", "specific", "none")
	severityCodes = newVocab("s", "none", "low", "moderate", "high", "critical")
)

// code returns the column value of s: nil for "" (NULL), its code, or 0 (s outside the list).
func (v *vocab) code(s string) any {
	if s == "" {
		return nil
	}
	return int64(v.codes[s])
}

// other returns s if it is a value outside the list (kept in the doc), else "".
func (v *vocab) other(s string) string {
	if _, ok := v.codes[s]; ok {
		return ""
	}
	return s
}

// text returns the value of code c (from a column scanned as NULL-able), "" for NULL and for 0
// (its text is in the doc).
func (v *vocab) text(c int64, valid bool) string {
	if !valid || c < 1 || int(c) > len(v.values) {
		return ""
	}
	return v.values[c-1]
}

// label is the SQL expression giving the text of col (a code column of file_events aliased e),
// for grouping and bucketing: ” for NULL, the doc's text for 0. The list's strings are constants
// of this file (no quotes in them), so they are written into the SQL as literals.
func (v *vocab) label(s *sqlBuilder, col string) string {
	var b strings.Builder
	b.WriteString("(CASE " + col)
	for i, t := range v.values {
		fmt.Fprintf(&b, " WHEN %d THEN '%s'", i+1, t)
	}
	b.WriteString(" WHEN 0 THEN COALESCE(" + s.docText("k", v.field) + ", '') ELSE '' END)")
	return b.String()
}

// eq writes "col is value" for an equality search term: the code, NULL for "", or code 0 and the
// doc's text for a value outside the list. It is never NULL (COALESCE), so that NOT of it holds
// for the rows without a value, as search.Match says.
func (v *vocab) eq(s *sqlBuilder, col, value string) {
	if value == "" {
		s.w(col, " IS NULL")
		return
	}
	if c, ok := v.codes[value]; ok {
		s.w("COALESCE(", col, ", -1) = ")
		s.arg(int64(c))
		return
	}
	s.w("COALESCE(", col, ", -1) = 0 AND COALESCE(", s.docText("k", v.field), ", '') = ")
	s.arg(value)
}

// sqlList is the codes of values as a SQL list of literals, "(1, 2)", for fixed conditions.
func (v *vocab) sqlList(values ...string) string {
	out := make([]string, len(values))
	for i, s := range values {
		c, ok := v.codes[s]
		if !ok {
			panic("sqldb: " + s + " has no code")
		}
		out[i] = fmt.Sprint(c)
	}
	return "(" + strings.Join(out, ", ") + ")"
}
