package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/auth"
	"github.com/telltale-dev/telltale/internal/connection"
	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/scope"
	"github.com/telltale-dev/telltale/internal/store"
)

// badRequest is an error in the request itself, with an optional list of field or row errors.
// Its status is 400 unless set (withStatusOf).
type badRequest struct {
	msg    string
	fields []client.FieldError
	status int // 0: 400 Bad Request; 422 when the request is well-formed but its values are refused
}

// withStatusOf gives a badRequest another 4xx status (422 for content that parsed but is unusable).
func withStatusOf(status int, br *badRequest) error {
	br.status = status
	return br
}

func (e *badRequest) Error() string { return e.msg }

func invalid(format string, a ...any) error { return &badRequest{msg: fmt.Sprintf(format, a...)} }

func invalidField(field, format string, a ...any) error {
	msg := fmt.Sprintf(format, a...)
	return &badRequest{msg: field + ": " + msg, fields: []client.FieldError{{Field: field, Message: msg}}}
}

// unprocessableField is a well-formed request whose field value is refused (422).
func unprocessableField(field, format string, a ...any) error {
	msg := fmt.Sprintf(format, a...)
	return &badRequest{msg: field + ": " + msg, fields: []client.FieldError{{Field: field, Message: msg}}, status: http.StatusUnprocessableEntity}
}

// statusError carries an explicit HTTP status and message, and the request field it is about.
type statusError struct {
	status int
	msg    string
	field  string
}

func (e *statusError) Error() string { return e.msg }

// Field names the request field the error is about, for the problem's errors list ("" for none).
func (e *statusError) Field() string { return e.field }

func withStatus(status int, format string, a ...any) error {
	return &statusError{status: status, msg: fmt.Sprintf(format, a...)}
}

// withField is withStatus about one request field; the detail starts with the field's name.
func withField(status int, field, format string, a ...any) error {
	return &statusError{status: status, msg: field + ": " + fmt.Sprintf(format, a...), field: field}
}

// problemFor is the one place that maps errors to HTTP statuses and problem documents.
func problemFor(err error) client.Problem {
	p := client.Problem{Status: http.StatusInternalServerError, Detail: "internal error: the server logged the details"}
	var br *badRequest
	var se *statusError
	var sc *scope.Error
	var qe *queryError
	var mb *http.MaxBytesError
	switch {
	case errors.As(err, &qe):
		p.Status, p.Detail, p.Suggestion = http.StatusBadRequest, qe.Error(), qe.e.Suggest
		if qe.field == "query" {
			pos := qe.e.Pos
			p.Position = &pos
		}
		p.Errors = []client.FieldError{{Field: qe.field, Message: qe.e.Error()}}
	case errors.As(err, &se):
		p.Status, p.Detail = se.status, se.msg
	case errors.As(err, &sc):
		p.Status, p.Detail = http.StatusUnprocessableEntity, sc.Message
		for _, r := range sc.Rows {
			p.Errors = append(p.Errors, client.FieldError{Row: r.Row, Value: r.Value, Message: r.Reason})
		}
	case errors.As(err, &br):
		p.Status, p.Detail, p.Errors = http.StatusBadRequest, br.msg, br.fields
		if br.status != 0 {
			p.Status = br.status
		}
	case errors.As(err, &mb):
		p.Status, p.Detail = http.StatusRequestEntityTooLarge, fmt.Sprintf("the request body is larger than this call accepts (%d bytes)", mb.Limit)
	case errors.Is(err, auth.ErrUnauthenticated):
		p.Status, p.Detail = http.StatusUnauthorized, "missing, unknown, expired or revoked credentials: send an API token as `Authorization: Bearer <token>` (create one with `telltale tokens create` or in the console)"
	case errors.Is(err, auth.ErrForbidden):
		p.Status, p.Detail = http.StatusForbidden, err.Error()
	case errors.Is(err, connection.ErrInvalid), errors.Is(err, auth.ErrInvalid):
		p.Status, p.Detail = http.StatusUnprocessableEntity, err.Error()
	case errors.Is(err, connection.ErrRefused):
		p.Status, p.Detail = http.StatusConflict, err.Error()
	case errors.Is(err, store.ErrNotFound):
		p.Status, p.Detail = http.StatusNotFound, err.Error()
	case errors.Is(err, store.ErrConflict):
		p.Status, p.Detail = http.StatusConflict, err.Error()
	}
	var fe interface{ Field() string }
	if len(p.Errors) == 0 && p.Status < 500 && errors.As(err, &fe) && fe.Field() != "" {
		p.Errors = []client.FieldError{{Field: fe.Field(), Message: p.Detail}}
	}
	p.Title = http.StatusText(p.Status)
	p.Type = "about:blank"
	var pt interface{ ProblemType() string }
	if errors.As(err, &pt) {
		p.Type = pt.ProblemType()
	}
	return p
}

// Bounds on what a problem repeats of the request: whatever was sent, a refusal stays a few KB.
const (
	maxDetail      = 2000
	maxFieldText   = 500
	maxFieldErrors = 100
)

// clip shortens s to about max bytes by cutting its middle, so that the start (what is wrong)
// and the end (how to fix it) of a message that quotes a huge value both stay.
func clip(s string, max int) string {
	if len(s) <= max {
		return s
	}
	head, tail := max*2/3, max/3
	for head > 0 && !utf8.RuneStart(s[head]) {
		head--
	}
	cut := len(s) - tail
	for cut < len(s) && !utf8.RuneStart(s[cut]) {
		cut++
	}
	return fmt.Sprintf("%s…(%d bytes left out)…%s", s[:head], cut-head, s[cut:])
}

// bounded applies the bounds above to a problem document.
func bounded(p client.Problem) client.Problem {
	p.Detail = clip(p.Detail, maxDetail)
	p.Suggestion = clip(p.Suggestion, maxFieldText)
	if len(p.Errors) > maxFieldErrors {
		p.Errors = p.Errors[:maxFieldErrors]
	}
	for i := range p.Errors {
		e := &p.Errors[i]
		e.Field, e.Message, e.Value = clip(e.Field, maxFieldText), clip(e.Message, maxFieldText), clip(e.Value, maxFieldText)
	}
	return p
}

func writeProblem(w http.ResponseWriter, r *http.Request, p client.Problem) {
	p = bounded(p)
	p.Instance = clip(r.URL.Path, maxFieldText)
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	json.NewEncoder(w).Encode(p)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	encodeJSON(w, v)
}

func encodeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // a JSON answer, never HTML: "observed>=24h" stays readable
	return enc.Encode(v)
}

// jsonAnswer is a JSON answer encoded now, as writeJSON would, to be written as it is later.
func jsonAnswer(status int, v any) answer {
	var b bytes.Buffer
	if err := encodeJSON(&b, v); err != nil {
		panic("api: " + err.Error()) // a value of ours that does not encode
	}
	return answer{status: status, contentType: "application/json", body: b.Bytes()}
}

// maxJSONBody bounds a JSON request body.
const maxJSONBody = 4 << 20

// decode reads a JSON body strictly: unknown fields, trailing data and text that is not UTF-8 are
// errors that name the problem, the field and the byte offset. (encoding/json would replace bytes
// that are not UTF-8 with U+FFFD and go on: a Latin-1 scope CSV would be stored corrupted.)
func decode(r *http.Request, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxJSONBody))
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return withStatus(http.StatusRequestEntityTooLarge, "request body is larger than %d bytes", mb.Limit)
		}
		return invalid("request body could not be read: %v", err)
	}
	return decodeJSON(body, v)
}

// decodeJSON is decode on a body already read.
func decodeJSON(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return invalid("request body is empty: send a JSON object")
	}
	if !utf8.Valid(body) {
		off := firstInvalidUTF8(body)
		// The member's name may hold the bad bytes (each one grows to U+FFFD): clipped, so the
		// answer stays bounded by the body (FuzzDecodeJSON found a 3x answer).
		field := clip(strings.ToValidUTF8(jsonFieldAt(body, off), "?"), 100)
		msg := fmt.Sprintf("is not UTF-8 text (byte %d of the request body): JSON text must be UTF-8", off)
		if strings.HasSuffix(field, "csv") {
			msg += `; save the file as "CSV UTF-8 (comma delimited)" and upload it again`
		}
		if field == "" {
			return invalid("request body %s", msg)
		}
		return invalidField(field, "%s", msg)
	}
	if off := jsonNULEscape(body); off >= 0 {
		// PostgreSQL's text holds no NUL: stored, it would fail as a server error; SQLite would
		// keep a value that one store cannot. No value Telltale stores or searches has one.
		msg := fmt.Sprintf(`holds a NUL character (\u0000 at byte %d of the request body): remove it`, off)
		if field := clip(jsonFieldAt(body, off), 100); field != "" {
			return invalidField(field, "%s", msg)
		}
		return invalid("request body %s", msg)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return invalid("request body is not valid JSON (at byte %d): %v", se.Offset, err)
		case errors.As(err, &te) && te.Field == "":
			return invalid("request body must be a JSON object, not a JSON %s", te.Value)
		case errors.As(err, &te):
			return invalidField(te.Field, "want a JSON %s, got a JSON %s (at byte %d)", jsonKind(te.Type), te.Value, te.Offset)
		case errors.Is(err, io.ErrUnexpectedEOF):
			return invalid("request body is truncated JSON: it ends at byte %d inside a value", len(body))
		default:
			if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
				// A name of invalid UTF-8 grows when quoted (each byte a \ufffd): clipped, so the
				// answer stays bounded by the body (FuzzDecodeJSON found a 3x answer).
				f = clip(strings.ToValidUTF8(strings.Trim(f, `"`), "?"), 100)
				return invalidField(f, "unknown field %q (at byte %d): check its spelling against the API description (/api/v1/openapi.json)", f, dec.InputOffset())
			}
			return invalid("request body (at byte %d): %v", dec.InputOffset(), err)
		}
	}
	if dec.More() {
		return invalid("request body has data after the JSON object (at byte %d)", dec.InputOffset())
	}
	return nil
}

// jsonKind names a Go type as the JSON value it reads.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8,
		reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Map, reflect.Struct:
		return "object"
	case reflect.Pointer:
		return jsonKind(t.Elem())
	}
	return t.String()
}

// jsonNULEscape is the offset of the first \u0000 escape inside a string of the JSON text b, or
// -1 (an escaped backslash followed by "u0000" is text, not one).
func jsonNULEscape(b []byte) int {
	in := false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case !in:
			in = c == '"'
		case c == '"':
			in = false
		case c == '\\':
			if i+5 < len(b) && b[i+1] == 'u' && string(b[i+2:i+6]) == "0000" {
				return i
			}
			i++ // the escaped character
		}
	}
	return -1
}

// requestText refuses a request whose path or query holds a NUL character or bytes that are not
// UTF-8 (%00, %ff), naming the parameter: no value Telltale stores or searches has one, and
// PostgreSQL would refuse it as a server error (SQLSTATE 22021) after the request was taken.
func requestText(r *http.Request) error {
	bad := func(s string) string {
		switch {
		case event.Storable(s):
			return ""
		case !utf8.ValidString(s):
			return "is not UTF-8 text (a percent-escape such as %ff that is not part of a UTF-8 character): send UTF-8"
		}
		return "holds a NUL character (%00): remove it"
	}
	if why := bad(r.URL.Path); why != "" {
		return invalid("the request path %s", why)
	}
	for k, vs := range r.URL.Query() {
		if why := bad(k); why != "" {
			return invalid("a query parameter's name %s", why)
		}
		for _, v := range vs {
			if why := bad(v); why != "" {
				return invalidField(clip(k, 100), "%s", why)
			}
		}
	}
	return nil
}

// firstInvalidUTF8 is the offset of the first byte of b that does not start a valid UTF-8
// sequence, or len(b).
func firstInvalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return len(b)
}

// jsonFieldAt names the value of a JSON document that holds byte offset off, as the path a problem
// reports (scope.csv, filter[2].value), or "" when off is outside any member.
func jsonFieldAt(body []byte, off int) string {
	type frame struct {
		key      string
		idx      int
		array    bool
		wantsKey bool
	}
	var stack []frame
	path := func() string {
		var b strings.Builder
		for _, f := range stack {
			switch {
			case f.array:
				fmt.Fprintf(&b, "[%d]", f.idx)
			case f.key != "":
				if b.Len() > 0 {
					b.WriteByte('.')
				}
				b.WriteString(f.key)
			}
		}
		return b.String()
	}
	// valueDone moves the enclosing container past one value.
	valueDone := func() {
		if n := len(stack); n > 0 {
			if stack[n-1].array {
				stack[n-1].idx++
			} else {
				stack[n-1].wantsKey = true
			}
		}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	for {
		tok, err := dec.Token()
		if err != nil {
			return path()
		}
		end := int(dec.InputOffset())
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{':
				stack = append(stack, frame{wantsKey: true})
			case '[':
				stack = append(stack, frame{array: true})
			default:
				stack = stack[:len(stack)-1]
				valueDone()
			}
		case string:
			if n := len(stack); n > 0 && !stack[n-1].array && stack[n-1].wantsKey {
				stack[n-1].key, stack[n-1].wantsKey = t, false
				if end > off {
					return path()
				}
				continue
			}
			if end > off {
				return path()
			}
			valueDone()
		default:
			valueDone()
		}
	}
}
