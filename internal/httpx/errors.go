package httpx

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
)

// ErrThrottled is wrapped by the error of a request that was not sent because its key is fenced by a
// Retry-After longer than Options.MaxWait. ThrottledUntil tells until when.
var ErrThrottled = errors.New("httpx: throttled")

// ThrottledError is the error of a request not sent because its key is fenced; it matches
// ErrThrottled and says until when, so that a scheduler can come back then instead of counting a
// failure.
type ThrottledError struct {
	Key   string
	Until time.Time
	msg   string
}

func (e *ThrottledError) Error() string { return e.msg }

// Throttled is the ThrottledError of a throttle a vendor's client classified itself (Google's 403
// rateLimitExceeded, which carries no Retry-After): the scheduler comes back at until, as after a
// fence.
func Throttled(key string, until time.Time, why string) *ThrottledError {
	return &ThrottledError{Key: key, Until: until, msg: fmt.Sprintf("%v: %s until %s: %s", ErrThrottled, key, until.UTC().Format(time.RFC3339), why)}
}
func (e *ThrottledError) Unwrap() error { return ErrThrottled }

// errAttemptTimeout is the cause of an attempt's context when Options.Timeout runs out.
var errAttemptTimeout = errors.New("no answer within the per-attempt timeout (httpx Options.Timeout)")

// StatusError is a final non-2xx answer.
type StatusError struct {
	Code       int
	Status     string        // e.g. "404 Not Found"
	Body       []byte        // first 4 KiB of the answer's body, as the server sent it
	RetryAfter time.Duration // the answer's Retry-After, 0 when absent
	URL        string        // scheme://host/path: no user info, no query, no fragment
	Method     string

	short string // a one-line, secret-scrubbed excerpt of Body for Error
}

const statusBodyMax = 4 << 10

// Error says "GET https://host/path: 404 Not Found: <short body>". It never holds the query string, the
// Authorization header or other credentials of the request.
func (e *StatusError) Error() string {
	var b strings.Builder
	if e.Method != "" {
		b.WriteString(e.Method)
		b.WriteByte(' ')
	}
	b.WriteString(e.URL)
	b.WriteString(": ")
	b.WriteString(e.Status)
	if e.short != "" {
		b.WriteString(": ")
		b.WriteString(e.short)
	}
	return b.String()
}

func newStatusError(req *http.Request, resp *http.Response, body []byte, now time.Time) *StatusError {
	if len(body) > statusBodyMax {
		body = body[:statusBodyMax]
	}
	status := resp.Status
	if status == "" {
		status = fmt.Sprintf("%d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	e := &StatusError{
		Code:   resp.StatusCode,
		Status: status,
		Body:   append([]byte(nil), body...),
		URL:    redactURL(req.URL),
		Method: req.Method,
		short:  shortBody([]byte(scrub(string(body), secretsOf(req)))),
	}
	if d, ok := ParseRetryAfter(resp.Header, now); ok {
		e.RetryAfter = d
	}
	return e
}

// requestError is a failure without an answer (transport, body read, guard), named by method and redacted URL.
type requestError struct {
	method, url string
	note        string
	err         error
}

func (e *requestError) Error() string {
	s := e.method + " " + e.url + ": "
	if e.note != "" {
		s += e.note + ": "
	}
	return s + e.err.Error()
}

func (e *requestError) Unwrap() error { return e.err }

// wrapRequestError strips net/http's *url.Error (whose text holds the full URL with its query) and names the
// request by its redacted URL instead.
func wrapRequestError(req *http.Request, err error, note string) error {
	var ue *url.Error
	for errors.As(err, &ue) {
		err = ue.Err
	}
	return &requestError{method: req.Method, url: redactURL(req.URL), note: note, err: err}
}

// redactURL keeps scheme, host and path.
func redactURL(u *url.URL) string {
	if u == nil {
		return ""
	}
	r := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}
	return r.String()
}

// shortBody makes a one-line excerpt of an error body.
func shortBody(b []byte) string {
	const max = 200
	s := strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(string(b), "?"))
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > max {
		cut := max
		for cut > 0 && !utfStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

func utfStart(b byte) bool { return b&0xC0 != 0x80 }

// secretsOf lists the credentials a request carries, so that an echo of them in an error body can be scrubbed:
// Authorization-like headers (whole value and the part after the scheme), headers named like a key or token, and
// query values of 8 characters or more.
func secretsOf(req *http.Request) []string {
	var out []string
	add := func(v string) {
		v = strings.TrimSpace(v)
		if len(v) >= 8 {
			out = append(out, v)
		}
	}
	for name, vs := range req.Header {
		n := strings.ToLower(name)
		if n == "authorization" || n == "proxy-authorization" || n == "cookie" ||
			strings.Contains(n, "token") || strings.Contains(n, "key") || strings.Contains(n, "secret") {
			for _, v := range vs {
				add(v)
				if _, cred, ok := strings.Cut(v, " "); ok {
					add(cred)
				}
			}
		}
	}
	if req.URL != nil {
		for _, vs := range req.URL.Query() {
			for _, v := range vs {
				add(v)
			}
		}
		if p, ok := req.URL.User.Password(); ok {
			add(p)
		}
	}
	return out
}

func scrub(s string, secrets []string) string {
	for _, sec := range secrets {
		s = strings.ReplaceAll(s, sec, "[redacted]")
	}
	return s
}
