package box

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// ReadRecords reads Box records from r: JSON lines (one record per line, blank lines ignored), or API
// pages ({"chunk_size":..,"next_stream_position":..,"entries":[...]}), one per line or pretty-printed
// across lines, or a JSON array of records (or of pages). fn gets the 1-based line number where each
// record starts and either a record or a decode error (malformed JSON, wrong types) naming the line;
// reading continues after a bad line. A UTF-8 byte order mark and CRLF line ends are accepted and
// lines have no length limit. Returns only I/O errors, or the first error fn returns.
//
// Values are split by bracket depth, line by line: a value that is still open at the end of a line
// continues on the next one (pretty-printed JSON), unless the open value is an object and that line
// starts at column 0 with '{' or '[' (a new JSON line: the open record was truncated and is reported
// as malformed), or a string is left open (JSON strings cannot hold a raw line break). Elements of
// an array may start at column 0.
func ReadRecords(r io.Reader, fn func(line int, rec Record, err error) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var (
		buf       []byte // the open value, lines joined with \n
		start     int    // line where buf starts
		depth     int
		inStr     bool
		esc       bool
		lineNo    int
		stopErr   error
		firstLine = true
	)
	emit := func(line int, rec Record, err error) {
		if stopErr == nil {
			stopErr = fn(line, rec, err)
		}
	}
	reset := func() { buf, depth, inStr, esc = buf[:0], 0, false, false }
	for {
		raw, rerr := br.ReadBytes('\n')
		if len(raw) == 0 && rerr != nil {
			if !errors.Is(rerr, io.EOF) {
				return fmt.Errorf("box records: read line %d: %w", lineNo+1, rerr)
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
			emit(start, Record{}, fmt.Errorf("line %d: box record: malformed JSON: the value is not complete before line %d starts a new one", start, lineNo))
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
					emit(lineNo, Record{}, fmt.Errorf("line %d: box record: malformed JSON: want a record object, a page or an array, got %q", lineNo, clip(line[i:])))
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
				handleValue(buf, start, emit)
				reset()
			} else if depth < 0 {
				emit(start, Record{}, fmt.Errorf("line %d: box record: malformed JSON: unbalanced brackets", start))
				reset()
				i = len(line)
			}
		}
		if len(buf) > 0 {
			if inStr {
				emit(start, Record{}, fmt.Errorf("line %d: box record: malformed JSON: unterminated string", start))
				reset()
			} else {
				buf = append(buf, '\n')
			}
		}
		if stopErr != nil {
			return stopErr
		}
		if rerr != nil {
			if !errors.Is(rerr, io.EOF) {
				return fmt.Errorf("box records: read line %d: %w", lineNo+1, rerr)
			}
			break
		}
	}
	if len(bytes.TrimSpace(buf)) > 0 {
		emit(start, Record{}, fmt.Errorf("line %d: box record: malformed JSON: unexpected end of input", start))
	}
	return stopErr
}

// handleValue emits the records of one complete JSON value that starts on line start: a record, a
// page, or an array of records or pages.
func handleValue(v []byte, start int, emit func(int, Record, error)) {
	v = bytes.TrimSpace(v)
	if !json.Valid(v) {
		var x any
		err := json.Unmarshal(v, &x)
		emit(start, Record{}, fmt.Errorf("line %d: box record: %s", start, jsonProblem(err)))
		return
	}
	if v[0] == '[' {
		eachElement(v, start, func(elem []byte, line int) { handleObject(elem, line, emit) })
		return
	}
	handleObject(v, start, emit)
}

// handleObject emits a record, or the entries of a page.
func handleObject(v []byte, line int, emit func(int, Record, error)) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(v, &top); err != nil || top == nil {
		emit(line, Record{}, fmt.Errorf("line %d: box record: want a JSON object, got %s", line, jsonKind(v)))
		return
	}
	if entries, ok := top["entries"]; ok && top["event_type"] == nil && top["event_id"] == nil {
		if isNull(entries) {
			return
		}
		entries = bytes.TrimSpace(entries)
		if entries[0] != '[' {
			emit(line, Record{}, fmt.Errorf("line %d: box page: entries: want an array, got %s", line, jsonKind(entries)))
			return
		}
		// Line of the entries array inside v, so each entry gets its own line.
		base := line + bytes.Count(v[:valueOffset(v, "entries")], []byte("\n"))
		eachElement(entries, base, func(elem []byte, l int) {
			var m map[string]json.RawMessage
			if err := json.Unmarshal(elem, &m); err != nil || m == nil {
				emit(l, Record{}, fmt.Errorf("line %d: box record: want a JSON object, got %s", l, jsonKind(elem)))
				return
			}
			rec, err := decodeRecordFields(m, elem)
			if err != nil {
				emit(l, Record{}, fmt.Errorf("line %d: %w", l, err))
				return
			}
			emit(l, rec, nil)
		})
		return
	}
	rec, err := decodeRecordFields(top, v)
	if err != nil {
		emit(line, Record{}, fmt.Errorf("line %d: %w", line, err))
		return
	}
	emit(line, rec, nil)
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
