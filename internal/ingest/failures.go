package ingest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/telltale-dev/telltale/internal/connection"
	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/httpx"
	"github.com/telltale-dev/telltale/internal/store"
	"github.com/telltale-dev/telltale/internal/work"
)

// DefaultFailuresBeforeError is how many runs in a row of one collection unit must fail for the
// same transient cause before the connection shows Error (Options.FailuresBeforeError).
const DefaultFailuresBeforeError = 5

// Failure classes. Permanent ones need an admin or operator to act, so the first failure moves the
// connection to Error; the others are counted.
const (
	failBlocked     = "blocked"     // the SSRF guard refuses the vendor URL (permanent)
	failConfig      = "config"      // the session cannot be opened from the stored settings (permanent)
	failAuth        = "auth"        // the vendor refuses the credentials (permanent)
	failPermission  = "permission"  // the app lacks a vendor permission (permanent)
	failUnreachable = "unreachable" // no answer: DNS, refused or reset connections, timeouts
	failMalformed   = "malformed"   // answers that cannot be understood
	failVendor      = "vendor"      // error answers the HTTP client gave up retrying
)

// openError marks a failure to open a connector session (settings, credentials, the URL guard).
type openError struct{ err error }

func (e *openError) Error() string { return e.err.Error() }
func (e *openError) Unwrap() error { return e.err }

// streak is one unit's run of failures of one class.
type streak struct {
	class string
	n     int
	since time.Time
}

func unitOf(kind, key string) string { return kind + " " + key }

func failureClass(err error) (class string, permanent bool) {
	var oe *openError
	var ne net.Error
	switch {
	case errors.Is(err, httpx.ErrBlocked):
		return failBlocked, true
	case errors.Is(err, connector.ErrAuth):
		return failAuth, true
	case errors.Is(err, connector.ErrPermission):
		return failPermission, true
	case errors.As(err, &oe):
		return failConfig, true
	case errors.Is(err, connector.ErrMalformed):
		return failMalformed, false
	case errors.As(err, &ne):
		return failUnreachable, false
	}
	return failVendor, false
}

// throttledFor says whether err is the vendor throttling collection and for how long: a request
// not sent because its principal is fenced (httpx.ThrottledError), or a throttling answer whose
// Retry-After was longer than the HTTP client waits (429, or 503 with Retry-After). A throttle
// without a Retry-After waits a minute.
func throttledFor(err error, now time.Time) (time.Duration, bool) {
	var te *httpx.ThrottledError
	if errors.As(err, &te) {
		return max(te.Until.Sub(now), time.Second), true
	}
	var se *httpx.StatusError
	if errors.As(err, &se) && (se.Code == http.StatusTooManyRequests || (se.Code == http.StatusServiceUnavailable && se.RetryAfter > 0)) {
		if se.RetryAfter > 0 {
			return se.RetryAfter, true
		}
		return time.Minute, true
	}
	return 0, false
}

// fail records that a collection unit of connection c failed doing what, and moves the connection
// to Error with a reason that says what is wrong and what to do (R1.5, R1.10): at once for
// permanent causes (a URL the SSRF guard refuses, settings that cannot be used, credentials or a
// permission the vendor refuses), after FailuresBeforeError runs in a row failing for the same
// transient cause otherwise. It returns the error for the work runner's backoff. Throttling and
// cancellation are not failures.
func (s *Service) fail(ctx context.Context, c store.Connection, unit, what string, err error) error {
	out := fmt.Errorf("%s: %w", what, err)
	if d, ok := throttledFor(err, s.clock.Now()); ok {
		// The vendor said when to come back: the unit runs again then, and it is not a failure
		// (no backoff, no attempt counted, the status stays).
		return work.RetryAfter(d)
	}
	if ctx.Err() != nil || errors.Is(err, context.Canceled) || errors.Is(err, httpx.ErrThrottled) {
		return out
	}
	class, permanent := failureClass(err)
	now := s.clock.Now()
	s.mu.Lock()
	units := s.streaks[c.ID]
	if units == nil {
		units = map[string]*streak{}
		s.streaks[c.ID] = units
	}
	st := units[unit]
	if st == nil || st.class != class {
		st = &streak{class: class, since: now}
		units[unit] = st
	}
	st.n++
	n, since := st.n, st.since
	s.mu.Unlock()
	limit := s.o.FailuresBeforeError
	if !permanent && n < limit {
		return out
	}
	reason := s.failureReason(ctx, c, class, what, err)
	if !permanent {
		reason = fmt.Sprintf("collection keeps failing (%d attempts in a row since %s): %s; it recovers by itself once the vendor answers again",
			limit, since.Format(time.RFC3339), reason)
	}
	if _, e := s.conns.SetError(context.WithoutCancel(ctx), c.ID, reason); e != nil && !errors.Is(e, store.ErrNotFound) {
		s.log.Warn("ingest: setting error", "connection", c.ID, "err", e)
	}
	return out
}

// failureReason says what is wrong for the connection's details and the connections page banner.
func (s *Service) failureReason(ctx context.Context, c store.Connection, class, what string, err error) string {
	switch class {
	case failAuth, failPermission:
		return err.Error()
	case failBlocked:
		// Name the field and the rule as adding the connection would have (the connection may
		// predate that check, or its host may resolve elsewhere since).
		if cfg, cerr := s.Config(c); cerr == nil {
			var ce connector.ConfigError
			if errors.As(s.CheckURLs(ctx, c.Service, cfg), &ce) && len(ce) > 0 {
				return "settings." + ce[0].Field + ": " + ce[0].Message
			}
		}
		return fmt.Sprintf("the vendor URL is refused by the SSRF guard: %v", err)
	case failConfig:
		return fmt.Sprintf("the connection's settings cannot be used: %v", err)
	}
	return fmt.Sprintf("%s: %v", what, err)
}

// succeeded ends the failure streak of a unit. When the connection is in Error and none of its
// units is failing any more, its status is settled again: it leaves Error unless a drive-count
// cause remains (R1.5: Error clears by itself when the cause is gone).
func (s *Service) succeeded(ctx context.Context, c store.Connection, unit string) error {
	s.mu.Lock()
	_, had := s.streaks[c.ID][unit]
	delete(s.streaks[c.ID], unit)
	if len(s.streaks[c.ID]) == 0 {
		delete(s.streaks, c.ID)
	}
	s.mu.Unlock()
	if !had {
		return nil
	}
	cur, err := s.st.GetConnection(ctx, c.ID)
	if err != nil || connection.Status(cur.Status) != connection.Error || s.failing(c.ID) {
		return err
	}
	return s.settleStatus(ctx, c.ID, false)
}

// failing reports whether a unit of the connection is in a failure streak.
func (s *Service) failing(id int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.streaks[id]) > 0
}
