// Package records splits exported vendor activity records, as admins save them from a vendor's API
// or console, into one JSON object per record with the line it starts on: JSON lines (one record per
// line, blank lines ignored), API pages (an object holding the records under the format's page key:
// Box's "entries", Google's "items"), one per line or pretty-printed across lines, or a JSON array
// of records (or of pages). Each connector decodes the objects into its own records (`telltale
// normalize`, imports). It is part of the vendor kit (issue 13).
package records

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// Format says how one vendor's exported records look.
type Format struct {
	// Name names the vendor in messages: "box" makes "box record: ..." and "box page: ...".
	Name string
	// Page is the key under which a page holds its records: "entries" (Box), "items" (Google).
	Page string
	// IsRecord reports whether an object that has the page key is a record nonetheless (nil: an
	// object with the page key is always a page).
	IsRecord func(obj map[string]json.RawMessage) bool
}

// Split reads r and calls fn with each record object, the raw bytes of that object and the 1-based
// line where it starts, or with an error naming the line (malformed JSON, a value that is not an
// object); reading continues after a bad line. A UTF-8 byte order mark and CRLF line ends are
// accepted and lines have no length limit. It returns only I/O errors, or the first error fn returns.
//
// Values are split by bracket depth, line by line: a value that is still open at the end of a line
// continues on the next one (pretty-printed JSON), unless the open value is an object and that line
// starts at column 0 with '{' or '[' (a new JSON line: the open record was truncated and is reported
// as malformed), or a string is left open (JSON strings cannot hold a raw line break). Elements of
// an array may start at column 0.
func Split(r io.Reader, f Format, fn func(line int, obj map[string]json.RawMessage, raw []byte, err error) error) error {
	s := splitter{f: f, fn: fn}
	return s.run(r)
}

type splitter struct {
	f       Format
	fn      func(line int, obj map[string]json.RawMessage, raw []byte, err error) error
	stopErr error
}

func (s *splitter) emit(line int, obj map[string]json.RawMessage, raw []byte, err error) {
	if s.stopErr == nil {
		s.stopErr = s.fn(line, obj, raw, err)
	}
}

func (s *splitter) fail(line int, format string, a ...any) {
	s.emit(line, nil, nil, fmt.Errorf("line %d: %s record: %s", line, s.f.Name, fmt.Sprintf(format, a...)))
}

func (s *splitter) run(r io.Reader) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var (
		buf       []byte // the open value, lines joined with \n
		start     int    // line where buf starts
		depth     int
		inStr     bool
		esc       bool
		lineNo    int
		firstLine = true
	)
	reset := func() { buf, depth, inStr, esc = buf[:0], 0, false, false }
	for {
		raw, rerr := br.ReadBytes('\n')
		if len(raw) == 0 && rerr != nil {
			if !errors.Is(rerr, io.EOF) {
				return fmt.Errorf("%s records: read line %d: %w", s.f.Name, lineNo+1, rerr)
			}
			break
		}
		lineNo++
		line := bytes.TrimRight(raw, "\r\n")
		if firstLine {
			line = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf"))
			firstLine = false
		}
		if len(buf) > 0 && buf[0] == '{' && len(line) > 0 && (line[0] == '{' || line[0] == '[') {
			s.fail(start, "malformed JSON: the value is not complete before line %d starts a new one", lineNo)
			reset()
		}
		i := 0
		for i < len(line) {
			if len(buf) == 0 && depth == 0 {
				// Between values: skip blanks, then a value must open.
				for i < len(line) && isJSONSpace(line[i]) {
					i++
				}
				if i == len(line) {
					break
				}
				if c := line[i]; c != '{' && c != '[' {
					s.fail(lineNo, "malformed JSON: want a record object, a page or an array, got %q", clip(line[i:]))
					i = len(line)
					break
				}
				start = lineNo
			}
			j := i
			done := false
			for ; j < len(line); j++ {
				c := line[j]
				switch {
				case esc:
					esc = false
				case inStr:
					if c == '\\' {
						esc = true
					} else if c == '"' {
						inStr = false
					}
				case c == '"':
					inStr = true
				case c == '{' || c == '[':
					depth++
				case c == '}' || c == ']':
					depth--
				}
				if depth == 0 && !inStr {
					j++
					done = true
					break
				}
			}
			buf = append(buf, line[i:j]...)
			i = j
			if done {
				s.value(buf, start)
				reset()
			} else if depth < 0 {
				s.fail(start, "malformed JSON: unbalanced brackets")
				reset()
				i = len(line)
			}
		}
		if len(buf) > 0 {
			if inStr {
				s.fail(start, "malformed JSON: unterminated string")
				reset()
			} else {
				buf = append(buf, '\n')
			}
		}
		if s.stopErr != nil {
			return s.stopErr
		}
		if rerr != nil {
			if !errors.Is(rerr, io.EOF) {
				return fmt.Errorf("%s records: read line %d: %w", s.f.Name, lineNo+1, rerr)
			}
			break
		}
	}
	if len(bytes.TrimSpace(buf)) > 0 {
		s.fail(start, "malformed JSON: unexpected end of input")
	}
	return s.stopErr
}

// value emits the records of one complete JSON value that starts on line start: a record, a page,
// or an array of records or pages.
func (s *splitter) value(v []byte, start int) {
	v = bytes.TrimSpace(v)
	if !json.Valid(v) {
		var x any
		err := json.Unmarshal(v, &x)
		s.fail(start, "%s", Problem(err))
		return
	}
	if v[0] == '[' {
		eachElement(v, start, func(elem []byte, line int) { s.object(elem, line) })
		return
	}
	s.object(v, start)
}

// object emits a record, or the records of a page.
func (s *splitter) object(v []byte, line int) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(v, &top); err != nil || top == nil {
		s.fail(line, "want a JSON object, got %s", Kind(v))
		return
	}
	if entries, ok := top[s.f.Page]; ok && (s.f.IsRecord == nil || !s.f.IsRecord(top)) {
		if IsNull(entries) {
			return
		}
		entries = bytes.TrimSpace(entries)
		if entries[0] != '[' {
			s.emit(line, nil, nil, fmt.Errorf("line %d: %s page: %s: want an array, got %s", line, s.f.Name, s.f.Page, Kind(entries)))
			return
		}
		// Line of the array inside v, so each record gets its own line.
		base := line + bytes.Count(v[:valueOffset(v, s.f.Page)], []byte("\n"))
		eachElement(entries, base, func(elem []byte, l int) {
			var m map[string]json.RawMessage
			if err := json.Unmarshal(elem, &m); err != nil || m == nil {
				s.fail(l, "want a JSON object, got %s", Kind(elem))
				return
			}
			s.emit(l, m, elem, nil)
		})
		return
	}
	s.emit(line, top, v, nil)
}

// eachElement calls fn with each element of the valid JSON array arr and the line it starts on
// (arr starting on line first).
func eachElement(arr []byte, first int, fn func(elem []byte, line int)) {
	dec := json.NewDecoder(bytes.NewReader(arr))
	if _, err := dec.Token(); err != nil {
		return
	}
	line, counted := first, 0
	for dec.More() {
		off := int(dec.InputOffset())
		for off < len(arr) && (isJSONSpace(arr[off]) || arr[off] == ',') {
			off++
		}
		var elem json.RawMessage
		if err := dec.Decode(&elem); err != nil {
			return // arr is valid JSON: not reached
		}
		line += bytes.Count(arr[counted:off], []byte("\n"))
		counted = off
		fn(elem, line)
	}
}

// valueOffset is the offset in the valid JSON object obj where the (last) value of key starts, 0 when
// key is absent.
func valueOffset(obj []byte, key string) int {
	dec := json.NewDecoder(bytes.NewReader(obj))
	if _, err := dec.Token(); err != nil {
		return 0
	}
	found := 0
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return found
		}
		off := int(dec.InputOffset())
		for off < len(obj) && (isJSONSpace(obj[off]) || obj[off] == ':') {
			off++
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return found
		}
		if k == key {
			found = off
		}
	}
	return found
}

func isJSONSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// clip shortens b for an error message.
func clip(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "..."
	}
	return string(b)
}

// IsNull reports whether raw is absent or JSON null.
func IsNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

// Kind names the JSON type of raw for error messages.
func Kind(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "nothing"
	}
	switch c := raw[0]; {
	case c == '{':
		return "an object"
	case c == '[':
		return "an array"
	case c == '"':
		return "a string"
	case c == 't' || c == 'f':
		return "a boolean"
	case c == 'n':
		return "null"
	default:
		return "a number"
	}
}

// Problem turns an encoding/json error into a short explanation.
func Problem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("malformed JSON at byte %d: %v", se.Offset, se)
	case errors.As(err, &te):
		return fmt.Sprintf("want a JSON object, got %s", te.Value)
	}
	return "malformed JSON: " + err.Error()
}

// String decodes a JSON string field; absent or null is "". Any other type is an error saying what
// was there instead.
func String(raw json.RawMessage) (string, error) {
	if IsNull(raw) {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("want a string, got %s", Kind(raw))
	}
	return s, nil
}

// Scalar decodes a scalar leniently as text: a string, a number (as written: int64 fields arrive as
// strings or numbers), a boolean ("true"/"false"); absent, null, objects and arrays are "".
func Scalar(raw json.RawMessage) string {
	if IsNull(raw) {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	var b bool
	if json.Unmarshal(raw, &b) == nil {
		return strconv.FormatBool(b)
	}
	return ""
}
