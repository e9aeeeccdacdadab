package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/auth"
	"github.com/telltale-dev/telltale/internal/connection"
	"github.com/telltale-dev/telltale/internal/scope"
	"github.com/telltale-dev/telltale/internal/store"
)

// badRequest is an error in the request itself, with an optional list of field or row errors.
// Its status is 400 unless set (withStatusOf).
type badRequest struct {
	msg    string
	fields []client.FieldError
	status int
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
		pos := qe.e.Pos
		p.Status, p.Detail, p.Position, p.Suggestion = http.StatusBadRequest, qe.Error(), &pos, qe.e.Suggest
		p.Errors = []client.FieldError{{Field: "query", Message: qe.e.Error()}}
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
	return p
}

func writeProblem(w http.ResponseWriter, r *http.Request, p client.Problem) {
	p.Instance = r.URL.Path
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	json.NewEncoder(w).Encode(p)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// decode reads a JSON body strictly: unknown fields and trailing data are errors that name the problem.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 4<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		var mb *http.MaxBytesError
		switch {
		case errors.As(err, &se):
			return invalid("request body is not valid JSON (at byte %d): %v", se.Offset, err)
		case errors.As(err, &te):
			return invalidField(te.Field, "want a JSON %s, got %s", te.Type.String(), te.Value)
		case errors.As(err, &mb):
			return withStatus(http.StatusRequestEntityTooLarge, "request body is larger than %d bytes", mb.Limit)
		case err.Error() == "EOF":
			return invalid("request body is empty: send a JSON object")
		default:
			return invalid("request body: %v", err)
		}
	}
	if dec.More() {
		return invalid("request body has data after the JSON object")
	}
	return nil
}
