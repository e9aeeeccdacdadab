// Package scope reads and writes the scope CSV files of a connection (R2): the list of users (email
// addresses) or groups (vendor group names) that Telltale monitors, or all users.
//
// Parse is pure: it reads a whole upload, checks every rule and either returns the complete list or
// an *Error that says, in words an admin can act on, what is wrong and on which rows. Nothing is
// stored here; callers replace the stored list only when Parse succeeds (R2.3, R2.9).
//
// What Parse accepts, beyond the letter of R2:
//   - the value column is found by its header, trimmed and case-insensitively: `Email` or
//     `Email Address` for users, `Group Name` or `Groups` for groups; other columns are ignored, and
//     when several columns qualify the leftmost is used;
//   - a UTF-8 byte-order mark, CRLF, LF or (old Mac) CR line ends, quoted fields with commas, quotes
//     and line breaks inside, spaces after a comma, rows with fewer or more cells than the header,
//     and blank lines anywhere;
//   - semicolons instead of commas (what spreadsheets in many European locales save), when the file
//     has no usable header read with commas but has one read with semicolons;
//   - values are trimmed of surrounding spaces; group names otherwise keep their case and inner
//     spaces, since they must match the vendor's names exactly (R2.5);
//   - rows whose value cell is empty are skipped: wholly blank rows silently, rows with other cells
//     filled are listed in List.EmptyValueRows so that the console can mention them;
//   - a value repeated on a later row (emails compared case-insensitively, group names exactly) is
//     skipped and listed in List.Duplicates; the first row is kept;
//   - the 1,000 limit (R2.2) counts distinct values, after blanks and repeats are dropped;
//   - a value that starts with a single quote followed by = + - @, a tab or a carriage return loses
//     the quote: it is how Write (through internal/csvsafe) keeps such a value from running as a
//     formula in a spreadsheet, so a downloaded scope uploads again unchanged. Group names such as
//     "-Contractors" or "=Finance" (and addresses such as "-ops@example.com") survive the round
//     trip; a real name that starts with a quote and then one of those characters cannot be
//     uploaded as it is.
//
// Row numbers are those a spreadsheet shows: the header is row 1 (unless blank lines precede it),
// blank lines count as rows, and a quoted value that spans several lines is one row. Syntax errors
// name the line of the file instead, which is what a text editor shows.
package scope

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/telltale-dev/telltale/internal/csvsafe"
)

// Kind says what a connection's scope is made of.
type Kind string

// The kinds of scope (R2.1).
const (
	All    Kind = "all"
	Users  Kind = "users"
	Groups Kind = "groups"
)

// ParseKind reads a kind, trimmed and case-insensitively.
func ParseKind(s string) (Kind, error) {
	switch k := Kind(strings.ToLower(strings.TrimSpace(s))); k {
	case All, Users, Groups:
		return k, nil
	}
	if strings.TrimSpace(s) == "" {
		return "", errors.New(`scope kind is missing: use "all", "users" or "groups"`)
	}
	return "", fmt.Errorf(`unknown scope kind %q: use "all", "users" or "groups"`, s)
}

// singular names one entry of the kind: "user" or "group".
func (k Kind) singular() string {
	if k == Groups {
		return "group"
	}
	return "user"
}

// MaxEntries is the largest number of entries a scope CSV may hold (R2.2).
const MaxEntries = 1000

// MaxFileSize is the largest file Parse reads. A thousand rows of a wide spreadsheet export fit many
// times over; anything bigger is almost certainly the wrong file.
const MaxFileSize = 8 << 20

// Entry is one value of a scope list.
type Entry struct {
	Row   int    // the row of the CSV it came from (header = 1)
	Value string // an email address or a group name, trimmed, otherwise as uploaded
	// Extra holds the row's cells of the extra columns ParseUsers was asked for, trimmed, in the
	// order asked ("" for a column the file lacks or a cell left empty).
	Extra []string
}

// Duplicate is a row that repeats the value of an earlier row; it was skipped.
type Duplicate struct {
	Row      int
	Value    string
	FirstRow int // the row that was kept
}

// List is a parsed scope.
type List struct {
	Kind    Kind
	Entries []Entry
	// Duplicates are rows skipped because they repeat an earlier value (nil when none).
	Duplicates []Duplicate
	// EmptyValueRows are rows skipped because their value cell is empty although other cells of the
	// row are filled (nil when none). Wholly blank rows are skipped without a mention.
	EmptyValueRows []int
}

// Summary describes the list in one sentence for the console, e.g.
// "3 users (1 repeated row and 2 rows without an email skipped)".
func (l List) Summary() string {
	if l.Kind == All {
		return "all users"
	}
	s := count(len(l.Entries), l.Kind.singular())
	var skipped []string
	if n := len(l.Duplicates); n > 0 {
		skipped = append(skipped, count(n, "repeated row"))
	}
	if n := len(l.EmptyValueRows); n > 0 {
		what := "email"
		if l.Kind == Groups {
			what = "group name"
		}
		skipped = append(skipped, count(n, "row")+" without "+article(what)+" "+what)
	}
	if len(skipped) > 0 {
		s += " (" + strings.Join(skipped, " and ") + " skipped)"
	}
	return s
}

// MaxRowErrors bounds the bad rows an Error lists (their total is in its message), and
// maxEcho the characters of a value an error repeats: a refusal stays small whatever was uploaded.
const (
	MaxRowErrors = 100
	maxEcho      = 80
)

// shorten returns s, or its first maxEcho characters and an ellipsis.
func shorten(s string) string {
	n := 0
	for i := range s {
		if n == maxEcho {
			return s[:i] + "…"
		}
		n++
	}
	return s
}

// RowError is one bad row of an upload.
type RowError struct {
	Row    int
	Value  string
	Reason string // reads after the quoted value: `is not an email address (it has no @)`
}

func (e RowError) String() string { return fmt.Sprintf("row %d: %q %s", e.Row, e.Value, e.Reason) }

// Error is why an upload was refused. Message stands alone (it is the summary shown to the admin);
// Rows, when the problem is in particular rows, names each of them.
type Error struct {
	Message string
	Rows    []RowError
}

// Error returns the message followed by one line per bad row.
func (e *Error) Error() string {
	if len(e.Rows) == 0 {
		return e.Message
	}
	var b strings.Builder
	b.WriteString(e.Message)
	b.WriteString(":")
	for _, r := range e.Rows {
		b.WriteString("\n")
		b.WriteString(r.String())
	}
	return b.String()
}

func refuse(format string, a ...any) *Error { return &Error{Message: fmt.Sprintf(format, a...)} }

// Parse reads a scope CSV listing users or groups. It reads r to the end (at most MaxFileSize
// bytes) and returns the list, or an *Error; it never returns a partial list.
func Parse(r io.Reader, kind Kind) (List, error) {
	switch kind {
	case Users, Groups:
	case All:
		return List{}, refuse(`scope kind "all" takes no CSV file; upload one only for kind "users" or "groups"`)
	default:
		return List{}, refuse(`unknown scope kind %q: use "users" or "groups" to upload a CSV file`, string(kind))
	}
	data, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err != nil {
		return List{}, refuse("the file could not be read: %v", err)
	}
	if len(data) > MaxFileSize {
		return List{}, refuse("the file is larger than %d MiB; a scope CSV of %s is far smaller, so this is probably not the right file", MaxFileSize>>20, count(MaxEntries, "row"))
	}
	data, e := decode(data)
	if e != nil {
		return List{}, e
	}
	return parseData(data, kind, Options{})
}

// Options widen Parse for other lists of people read with the same rules (watchlists).
type Options struct {
	// Extra names columns to read besides the address (matched by header, trimmed and
	// case-insensitively); their cells land in Entry.Extra.
	Extra []string
	// Max replaces MaxEntries, and Noun "a scope" in the message about it.
	Max  int
	Noun string
}

// ParseUsers reads a CSV of email addresses exactly as Parse does for kind users (R2.9: the whole
// list or an *Error naming the rows), with the extra columns and limit of o.
func ParseUsers(r io.Reader, o Options) (List, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err != nil {
		return List{}, refuse("the file could not be read: %v", err)
	}
	if len(data) > MaxFileSize {
		return List{}, refuse("the file is larger than %d MiB, so this is probably not the right file", MaxFileSize>>20)
	}
	data, e := decode(data)
	if e != nil {
		return List{}, e
	}
	return parseData(data, Users, o)
}

func parseData(data []byte, kind Kind, o Options) (List, error) {
	if o.Max <= 0 {
		o.Max, o.Noun = MaxEntries, "a scope"
	}
	l, e, found := parseWith(data, kind, ',', o)
	if !found && bytes.ContainsRune(firstLine(data), ';') {
		if l2, e2, found2 := parseWith(data, kind, ';', o); found2 {
			l, e = l2, e2
		}
	}
	if e != nil {
		return List{}, e
	}
	return l, nil
}

// CheckText refuses data that Parse would refuse for its encoding (not UTF-8, UTF-16, a
// workbook, empty) with the same *Error. Callers that carry a file inside JSON, where text that is
// not UTF-8 cannot travel unchanged, check it before they encode it.
func CheckText(data []byte) error {
	if _, e := decode(data); e != nil {
		return e
	}
	return nil
}

// decode checks that data is UTF-8 text and returns it without a byte-order mark, with line ends
// that encoding/csv understands.
func decode(data []byte) ([]byte, *Error) {
	switch {
	case len(bytes.TrimSpace(data)) == 0:
		return nil, refuse("the file is empty")
	case bytes.HasPrefix(data, []byte{0xFF, 0xFE}), bytes.HasPrefix(data, []byte{0xFE, 0xFF}):
		return nil, refuse(`the file is UTF-16 text; save it as "CSV UTF-8 (comma delimited)" and upload it again`)
	case bytes.HasPrefix(data, []byte("PK\x03\x04")):
		return nil, refuse(`the file is a spreadsheet workbook (such as .xlsx), not CSV; save it as "CSV UTF-8 (comma delimited)" and upload it again`)
	}
	data = bytes.TrimPrefix(data, []byte("\xEF\xBB\xBF"))
	if !utf8.Valid(data) {
		bad := 0
		for bad < len(data) {
			r, size := utf8.DecodeRune(data[bad:])
			if r == utf8.RuneError && size <= 1 {
				break
			}
			bad += size
		}
		line := 1 + bytes.Count(data[:bad], []byte("\n"))
		return nil, refuse(`the file is not UTF-8 text (line %d has a byte that is not UTF-8); save it as "CSV UTF-8 (comma delimited)" and upload it again`, line)
	}
	if bytes.IndexByte(data, '\n') < 0 && bytes.IndexByte(data, '\r') >= 0 {
		data = bytes.ReplaceAll(data, []byte("\r"), []byte("\n"))
	}
	return data, nil
}

func firstLine(data []byte) []byte {
	data = bytes.TrimLeft(data, "\r\n")
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		return data[:i]
	}
	return data
}

// headers lists the accepted headers of the kind's column, in the words of the rules.
func headers(kind Kind) []string {
	if kind == Groups {
		return []string{"Group Name", "Groups"}
	}
	return []string{"Email", "Email Address"}
}

// parseWith parses data with the given separator. found reports whether the header row has the
// column the kind needs, so that Parse can try another separator.
func parseWith(data []byte, kind Kind, comma rune, o Options) (l List, e *Error, found bool) {
	cr := csv.NewReader(bytes.NewReader(data))
	cr.Comma = comma
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	cr.ReuseRecord = true

	// Row numbering: blank lines are skipped by encoding/csv but are rows in a spreadsheet.
	row, consumed, prevOffset := 0, 0, int64(0)
	next := func() ([]string, error) {
		rec, err := cr.Read()
		if err != nil {
			return nil, err
		}
		line, _ := cr.FieldPos(0)
		row += 1 + max(0, line-1-consumed)
		off := cr.InputOffset()
		consumed += bytes.Count(data[prevOffset:off], []byte("\n"))
		prevOffset = off
		return rec, nil
	}

	header, err := next()
	if err == io.EOF {
		return List{}, refuse("the file is empty"), false
	}
	if err != nil {
		return List{}, syntaxError(err), false
	}
	col := -1
	for i, h := range header {
		for _, want := range headers(kind) {
			if strings.EqualFold(strings.TrimSpace(h), want) {
				col = i
				break
			}
		}
		if col >= 0 {
			break
		}
	}
	if col < 0 {
		return List{}, missingHeader(kind, header), false
	}
	extra := make([]int, len(o.Extra)) // column of each extra, -1 when absent
	for i, name := range o.Extra {
		extra[i] = -1
		for j, h := range header {
			if strings.EqualFold(strings.TrimSpace(h), name) {
				extra[i] = j
				break
			}
		}
	}

	l = List{Kind: kind}
	var bad []RowError // the first MaxRowErrors of badRows
	badRows := 0
	first := map[string]int{} // comparison key -> row kept
	for {
		rec, err := next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return List{}, syntaxError(err), true
		}
		value := ""
		if col < len(rec) {
			value = strings.TrimSpace(csvsafe.Unneutralize(strings.TrimSpace(rec[col])))
		}
		if value == "" {
			for _, f := range rec {
				if strings.TrimSpace(f) != "" {
					l.EmptyValueRows = append(l.EmptyValueRows, row)
					break
				}
			}
			continue
		}
		if reason := check(kind, value); reason != "" {
			badRows++
			if len(bad) < MaxRowErrors {
				bad = append(bad, RowError{Row: row, Value: shorten(value), Reason: reason})
			}
			continue
		}
		key := value
		if kind == Users {
			key = strings.ToLower(value)
		}
		if r, ok := first[key]; ok {
			l.Duplicates = append(l.Duplicates, Duplicate{Row: row, Value: value, FirstRow: r})
			continue
		}
		first[key] = row
		en := Entry{Row: row, Value: value}
		for _, j := range extra {
			v := ""
			if j >= 0 && j < len(rec) {
				v = strings.TrimSpace(csvsafe.Unneutralize(strings.TrimSpace(rec[j])))
			}
			if len(o.Extra) > 0 {
				en.Extra = append(en.Extra, v)
			}
		}
		l.Entries = append(l.Entries, en)
	}

	var problems []string
	if n := len(l.Entries); n > o.Max {
		advice := "; split the list or monitor all users"
		if o.Noun != "a scope" {
			advice = "; split the list"
		}
		problems = append(problems, fmt.Sprintf("the file lists %s but %s holds at most %s%s",
			count(n, "different "+kind.singular()), o.Noun, thousands(o.Max), advice))
	}
	if badRows > 0 {
		if kind == Users {
			problems = append(problems, plural(badRows, "1 row is not an email address", "%s rows are not email addresses"))
		} else {
			problems = append(problems, plural(badRows, "1 row is not a usable group name", "%s rows are not usable group names"))
		}
		if badRows > len(bad) {
			problems[len(problems)-1] += fmt.Sprintf(" (the first %d are listed)", len(bad))
		}
	}
	if len(problems) > 0 {
		return List{}, &Error{Message: strings.Join(problems, "; "), Rows: bad}, true
	}
	if len(l.Entries) == 0 {
		if kind == Users {
			return List{}, refuse("the file has no user rows: put one email address per row under the %q header", strings.TrimSpace(header[col])), true
		}
		return List{}, refuse("the file has no group rows: put one group name per row under the %q header", strings.TrimSpace(header[col])), true
	}
	return l, nil, true
}

func missingHeader(kind Kind, header []string) *Error {
	want := headers(kind)
	var found []string
	for _, h := range header {
		if len(found) == 20 {
			found = append(found, fmt.Sprintf("and %d more", len(header)-20))
			break
		}
		found = append(found, strconv.Quote(shorten(strings.TrimSpace(h))))
	}
	msg := fmt.Sprintf("the file has no %q or %q column; the headers in its first row are %s",
		want[0], want[1], strings.Join(found, ", "))
	if kind == Users {
		for _, h := range header {
			if checkEmail(strings.TrimSpace(h)) == "" {
				msg = fmt.Sprintf("the file has no %q or %q column: its first row holds an address, not headers; add a first row with the header %q above the addresses",
					want[0], want[1], want[0])
				break
			}
		}
	}
	return &Error{Message: msg}
}

func syntaxError(err error) *Error {
	var pe *csv.ParseError
	if !errors.As(err, &pe) {
		return refuse("the file is not valid CSV: %v", err)
	}
	switch {
	case errors.Is(pe.Err, csv.ErrBareQuote):
		return refuse(`line %d is not valid CSV: a " appears inside a value that does not start with one; put the whole value in double quotes and write each " inside it as ""`, pe.Line)
	case errors.Is(pe.Err, csv.ErrQuote) && pe.StartLine != pe.Line:
		return refuse(`line %d is not valid CSV: a quoted value that starts on line %d is not closed properly (a " is missing, or text follows the closing ")`, pe.Line, pe.StartLine)
	case errors.Is(pe.Err, csv.ErrQuote):
		return refuse(`line %d is not valid CSV: a quoted value is not closed properly (a " is missing, or text follows the closing ")`, pe.Line)
	}
	return refuse("line %d is not valid CSV: %v", pe.Line, pe.Err)
}

// check returns why value is not acceptable for the kind, or "".
func check(kind Kind, value string) string {
	if strings.IndexFunc(value, unicode.IsControl) >= 0 {
		if kind == Users {
			return "is not an email address (it contains a line break or another control character)"
		}
		return "contains a line break or another control character, which no group name has"
	}
	if kind == Users {
		return checkEmail(value)
	}
	return ""
}

// maxEmail is the longest address there is (RFC 5321's path of 256 less its angle brackets).
// Longer ones are refused where people type them, so they never reach an index key.
const maxEmail = 254

// checkEmail returns why v is not a bare email address, or "".
func checkEmail(v string) string {
	const not = "is not an email address"
	if strings.IndexFunc(v, unicode.IsControl) >= 0 {
		return not + " (it contains a line break or another control character)"
	}
	switch strings.Count(v, "@") {
	case 0:
		return not + " (it has no @)"
	case 1:
	default:
		return not + " (it has more than one @)"
	}
	if strings.ContainsAny(v, "<>\"()") || strings.IndexFunc(v, unicode.IsSpace) >= 0 {
		return not + " (write the address alone, without a name, spaces, quotes or < >)"
	}
	local, domain, _ := strings.Cut(v, "@")
	switch {
	case len(v) > maxEmail:
		return fmt.Sprintf("%s (it is %d bytes long; an address has at most %d)", not, len(v), maxEmail)
	case local == "":
		return not + " (nothing comes before the @)"
	case domain == "":
		return not + " (nothing comes after the @)"
	case strings.ContainsAny(domain, "[]"):
		return not + " (the part after the @ must be a domain name such as example.com)"
	case !strings.Contains(domain, "."):
		return fmt.Sprintf("%s (the domain %q has no dot)", not, domain)
	}
	a, err := mail.ParseAddress(v)
	if err != nil || a.Name != "" || a.Address != v {
		return not
	}
	return ""
}

// Write writes the list as a CSV file (R2.10): the header `Email` or `Group Name`, then one value
// per row, with CRLF line ends. A value a spreadsheet would run as a formula (it starts with = + -
// or @) gets a single quote in front (internal/csvsafe); Parse drops it, so it reads the file back
// to the same values.
func Write(w io.Writer, l List) error {
	var header string
	switch l.Kind {
	case Users:
		header = "Email"
	case Groups:
		header = "Group Name"
	case All:
		return errors.New(`scope: write: scope kind "all" has no list to write`)
	default:
		return fmt.Errorf("scope: write: unknown scope kind %q", string(l.Kind))
	}
	cw := csvsafe.NewWriter(w)
	cw.UseCRLF = true
	if err := cw.Write([]string{header}); err != nil {
		return fmt.Errorf("scope: write: %w", err)
	}
	for _, e := range l.Entries {
		if err := cw.Write([]string{e.Value}); err != nil {
			return fmt.Errorf("scope: write: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("scope: write: %w", err)
	}
	return nil
}

// count says "1 user", "2 users", "1,000 users".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return thousands(n) + " " + noun + "s"
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return fmt.Sprintf(many, thousands(n))
}

func article(noun string) string {
	if noun != "" && strings.ContainsRune("aeiou", rune(noun[0])) {
		return "an"
	}
	return "a"
}

// thousands formats n >= 0 with comma separators: 1234 -> "1,234".
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// CheckEmail returns why v is not a bare email address (as a scope CSV checks it), or "".
func CheckEmail(v string) string { return checkEmail(v) }
