package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/auth"
	"github.com/telltale-dev/telltale/internal/store"
)

// Route is one API endpoint. Every route declares the role it needs; Public routes (health probes)
// need none and say why.
type Route struct {
	Method  string
	Path    string    // ServeMux pattern path, e.g. /api/v1/connections/{id}
	Need    auth.Role // the least role allowed; "" only with Public
	Public  string    // why this route needs no credentials
	Summary string
	Tag     string
	Audit   string // audit action; every non-GET route has one
	// Reads marks a POST that changes nothing (a search, an export): its audit entry is written
	// after it runs, and the answer fails if that write does. Other audited routes write theirs
	// before they run, and do nothing when it cannot be written (R8.8).
	Reads bool
	In    any // request body: a value of the JSON type, or CSV for text/csv
	Out   any // response body: a value of the JSON type, CSV, or nil for 204
	Query []Param
	// MaxBody bounds the request body in bytes (0: DefaultMaxBody); a larger body is refused
	// with 413 when the handler reads past the limit.
	MaxBody int64
	Handle  func(r *http.Request, p auth.Principal) (any, error)
}

// DefaultMaxBody bounds the request body of a route that declares no MaxBody.
const DefaultMaxBody = 16 << 20

// Param documents a query parameter.
type Param struct{ Name, Help string }

// csvBody marks text/csv request or response bodies in the route table.
type csvBody struct{}

// CSV is the marker for text/csv bodies.
var CSV = csvBody{}

// created wraps a response body sent with 201 Created.
type created struct{ v any }

// noContent answers 204.
type noContent struct{}

// answer is a complete response a handler fixed itself (status, content type, body), written as is.
type answer struct {
	status      int
	contentType string
	body        []byte
}

// rawBody streams a non-JSON body.
type rawBody struct {
	contentType string
	filename    string
	write       func(w io.Writer) error
}

type ctxKey int

const auditKey ctxKey = 1

// auditNote lets a handler add details and the target to its audit entry. Never put a secret here.
type auditNote struct {
	target  string
	details map[string]any
}

func noteAudit(r *http.Request, target string, details map[string]any) {
	if n, ok := r.Context().Value(auditKey).(*auditNote); ok {
		if target != "" {
			n.target = target
		}
		for k, v := range details {
			if n.details == nil {
				n.details = map[string]any{}
			}
			n.details[k] = v
		}
	}
}

var pathParam = regexp.MustCompile(`\{([a-z_]+)\}`)

// register mounts every route on mux with authentication, authorization, audit, metrics and logging.
func (s *Server) register(mux *http.ServeMux) {
	for _, rt := range s.routes() {
		rt := rt
		if rt.Need == "" && rt.Public == "" {
			panic("api: route " + rt.Method + " " + rt.Path + " declares no role")
		}
		if rt.Method != "GET" && rt.Audit == "" && rt.Public == "" {
			panic("api: mutating route " + rt.Method + " " + rt.Path + " declares no audit action")
		}
		pattern := rt.Method + " " + rt.Path
		mux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s.serveRoute(w, r, rt, pattern)
		}))
	}
}

func (s *Server) serveRoute(w http.ResponseWriter, r *http.Request, rt Route, pattern string) {
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w}
	note := &auditNote{}
	if rt.Audit != "" { // a route without an audit entry has nothing to note (the agents' hot path)
		note.target = defaultTarget(rt.Path, r)
		r = r.WithContext(context.WithValue(r.Context(), auditKey, note))
	}
	var p auth.Principal
	var auditID int64 // the started audit entry of a call that changes something
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				s.observe(pattern, sw.status, time.Since(start))
				panic(v) // net/http closes the connection without a log line
			}
			s.log.Error("api: handler panicked", "route", pattern, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			if sw.status == 0 {
				pr := problemFor(errors.New("panic"))
				if auditID > 0 {
					s.finishAudit(r, rt, auditID, note, pr.Status)
				} else {
					s.audit(r, rt, p, note, pr.Status)
				}
				writeProblem(sw, r, pr)
			}
		}
		s.observe(pattern, sw.status, time.Since(start))
		lvl := slog.LevelDebug
		switch {
		case sw.status == http.StatusInternalServerError:
			lvl = slog.LevelError
		case sw.status > 500:
			lvl = slog.LevelWarn
		}
		if s.log.Enabled(r.Context(), lvl) { // the arguments cost allocations even when the line is dropped
			s.log.Log(r.Context(), lvl, "api request", "method", r.Method, "route", pattern, "status", sw.status,
				"duration_ms", time.Since(start).Milliseconds(), "actor", p.Username, "client_ip", s.clientIP(r))
		}
	}()
	// The audit entry of a call that changes something is written before it runs (outcome
	// "started") and finished after; a call whose entry cannot be written is not carried out.
	// audited records the call's outcome; it fails when the audit log cannot be written.
	audited := func(status int) error {
		if auditID > 0 {
			return s.finishAudit(r, rt, auditID, note, status)
		}
		return s.audit(r, rt, p, note, status)
	}
	// fail answers with a problem document; the audit entry is committed before any response byte
	// leaves, so an acknowledged call is always in the audit log.
	fail := func(err error) {
		pr := problemFor(err)
		if pr.Status == http.StatusInternalServerError {
			s.log.Error("api: handler failed", "route", pattern, "err", err)
		} else if pr.Status > 500 {
			s.log.Warn("api: handler failed", "route", pattern, "status", pr.Status, "err", err)
		}
		audited(pr.Status)
		var ra interface{ RetryAfter() time.Duration }
		if errors.As(err, &ra) {
			sw.Header().Set("Retry-After", strconv.Itoa(int(ra.RetryAfter().Round(time.Second)/time.Second)))
		}
		writeProblem(sw, r, pr)
	}
	// succeed writes the outcome of a call that worked; if the audit log refuses it, the call
	// answers 500 instead of acknowledging.
	succeed := func(status int) bool {
		if err := audited(status); err != nil {
			msg := "the audit log could not be written, so the call is not acknowledged (the server logged the details)"
			if auditID > 0 {
				msg = fmt.Sprintf("the change was made but its outcome could not be written to the audit log: entry %d records it as started (the server logged the details)", auditID)
			}
			writeProblem(sw, r, client.Problem{Type: "about:blank", Status: http.StatusInternalServerError, Title: http.StatusText(http.StatusInternalServerError), Detail: msg})
			return false
		}
		return true
	}
	if rt.Public == "" {
		var err error
		p, err = s.authenticate(r)
		if err == nil && p.Via == "session" && p.MustChangePassword && !beforePasswordChange[rt.Method+" "+rt.Path] {
			err = fmt.Errorf("%w: your password was generated or reset: change it first (POST /api/v1/me/password, or the console's password page)", auth.ErrForbidden)
		}
		if err == nil && p.Via == "session" && p.MustEnrollTOTP && rt.Method+" "+rt.Path != "GET /api/v1/me" {
			err = fmt.Errorf("%w: two-factor sign-in is required of admins: set it up first (the console's Two-factor page)", auth.ErrForbidden)
		}
		if err == nil && !p.Role.Satisfies(rt.Need) {
			err = fmt.Errorf("%w: this needs the %s role and you are %s; ask an admin", auth.ErrForbidden, rt.Need, p.Role)
		}
		if write := rt.Method != "GET" && !rt.Reads; err == nil && !p.Allows(rt.Tag, write) && rt.Method+" "+rt.Path != "GET /api/v1/me" {
			err = fmt.Errorf("%w: this API token is limited to the scopes %s, and %s %s needs %s (or a token without scopes): create a token with it",
				auth.ErrForbidden, strings.Join(p.Scopes, " "), rt.Method, rt.Path, auth.Scope(rt.Tag, write))
		}
		if err == nil && p.Via == "session" && r.Method != "GET" && r.Method != "HEAD" {
			if got := r.Header.Get("X-CSRF-Token"); got == "" || got != p.SessionCSRF {
				err = withStatus(http.StatusForbidden, "missing or wrong X-CSRF-Token header for a session request: reload the page and try again")
			}
		}
		if err != nil {
			fail(err)
			return
		}
	}
	if err := requestText(r); err != nil {
		fail(err)
		return
	}
	if rt.Audit != "" && !rt.Reads {
		id, err := s.startAudit(r, rt, p, note)
		if err != nil {
			writeProblem(sw, r, client.Problem{Type: "about:blank", Status: http.StatusServiceUnavailable, Title: http.StatusText(http.StatusServiceUnavailable),
				Detail: "the audit log cannot be written, so nothing was done: try again later (the server logged the details)"})
			return
		}
		auditID = id
	}
	maxBody := rt.MaxBody
	if maxBody <= 0 {
		maxBody = DefaultMaxBody
	}
	r.Body = http.MaxBytesReader(sw, r.Body, maxBody)
	out, err := rt.Handle(r, p)
	if err != nil {
		fail(err)
		return
	}
	switch v := out.(type) {
	case nil, noContent:
		if succeed(http.StatusNoContent) {
			sw.WriteHeader(http.StatusNoContent)
		}
	case created:
		if succeed(http.StatusCreated) {
			writeJSON(sw, http.StatusCreated, v.v)
		}
	case answer:
		if succeed(v.status) {
			sw.Header().Set("Content-Type", v.contentType)
			sw.Header().Set("Cache-Control", "no-store")
			sw.WriteHeader(v.status)
			sw.Write(v.body)
		}
	case rawBody:
		if !succeed(http.StatusOK) {
			return
		}
		sw.Header().Set("Content-Type", v.contentType)
		sw.Header().Set("Cache-Control", "no-store")
		if v.filename != "" {
			sw.Header().Set("Content-Disposition", `attachment; filename="`+v.filename+`"`)
		}
		sw.WriteHeader(http.StatusOK)
		if err := v.write(sw); err != nil {
			s.log.Warn("api: streaming response failed", "route", pattern, "err", err)
			// The status line is gone: abort the connection, so that the client sees a broken
			// stream instead of a clean end it would take for the whole answer (an export that
			// stopped between two records would look complete).
			panic(http.ErrAbortHandler)
		}
	default:
		if succeed(http.StatusOK) {
			writeJSON(sw, http.StatusOK, v)
		}
	}
}

func defaultTarget(path string, r *http.Request) string {
	// /api/v1/connections/{id}/... -> connection/<id>
	parts := strings.Split(strings.TrimPrefix(path, "/api/v1/"), "/")
	if len(parts) >= 2 && strings.HasPrefix(parts[1], "{") {
		return strings.TrimSuffix(parts[0], "s") + "/" + r.PathValue(strings.Trim(parts[1], "{}"))
	}
	return parts[0]
}

func (s *Server) authenticate(r *http.Request) (auth.Principal, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		// The scheme is case-insensitive (RFC 7235 section 2.1).
		scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return auth.Principal{}, fmt.Errorf("%w: Authorization header is not `Bearer <token>`", auth.ErrUnauthenticated)
		}
		return s.auth.AuthenticateToken(r.Context(), strings.TrimSpace(tok))
	}
	if c, err := r.Cookie(SessionCookie); err == nil && c.Value != "" {
		return s.auth.AuthenticateSession(r.Context(), c.Value)
	}
	return auth.Principal{}, auth.ErrUnauthenticated
}

// SessionCookie is the console session cookie's name.
const SessionCookie = "telltale_session"

func (s *Server) clientIP(r *http.Request) string { return auth.ClientAddr(r, s.trustProxy) }

// beforePasswordChange is what a session that must change its password may still call.
var beforePasswordChange = map[string]bool{"GET /api/v1/me": true, "POST /api/v1/me/password": true}

// auditOutcome is an audit entry's outcome for an HTTP status.
func auditOutcome(status int) string {
	if status >= 400 {
		return fmt.Sprintf("%d %s", status, http.StatusText(status))
	}
	return "ok"
}

func (n *auditNote) json() []byte {
	if len(n.details) == 0 {
		return nil
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // details are read by people: observed>=24h, not observed\u003e=24h
	if enc.Encode(n.details) != nil {
		return nil
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

func actorName(p auth.Principal) string {
	if p.Username == "" {
		return "anonymous"
	}
	return p.Username
}

// audit appends the entry of a call that has run.
func (s *Server) audit(r *http.Request, rt Route, p auth.Principal, n *auditNote, status int) error {
	if rt.Audit == "" {
		return nil
	}
	// The audit entry outlives a cancelled request: it records that the call was made.
	ctx := context.WithoutCancel(r.Context())
	_, err := s.store.AppendAudit(ctx, store.AuditEntry{
		At: s.clock.Now(), Actor: actorName(p), ActorID: p.UserID, Action: rt.Audit, Target: n.target,
		Details: n.json(), ClientIP: s.clientIP(r), Outcome: auditOutcome(status),
	})
	if err != nil {
		s.log.Error("api: audit log append failed", "action", rt.Audit, "err", err)
	}
	return err
}

// startAudit appends the entry of a call about to run, outcome started.
func (s *Server) startAudit(r *http.Request, rt Route, p auth.Principal, n *auditNote) (int64, error) {
	e, err := s.store.AppendAudit(context.WithoutCancel(r.Context()), store.AuditEntry{
		At: s.clock.Now(), Actor: actorName(p), ActorID: p.UserID, Action: rt.Audit, Target: n.target,
		ClientIP: s.clientIP(r), Outcome: store.AuditStarted,
	})
	if err != nil {
		s.log.Error("api: audit log append failed: refusing the call", "action", rt.Audit, "err", err)
	}
	return e.ID, err
}

// finishAudit records the outcome of a started entry.
func (s *Server) finishAudit(r *http.Request, rt Route, id int64, n *auditNote, status int) error {
	err := s.store.FinishAudit(context.WithoutCancel(r.Context()), id, n.target, n.json(), auditOutcome(status))
	if err != nil {
		s.log.Error("api: audit log outcome failed", "action", rt.Audit, "audit_id", id, "err", err)
	}
	return err
}

func (s *Server) observe(pattern string, status int, d time.Duration) {
	code := strconv.Itoa(status)
	s.requests.Inc(pattern, code)
	s.seconds.Observe(d.Seconds(), pattern)
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
