package httpx

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Decision is what to do with a non-2xx answer.
type Decision int

const (
	// Fail returns the answer to the caller as a *StatusError, without retrying.
	Fail Decision = iota
	// Retry waits an exponential backoff with jitter, then sends again.
	Retry
	// RetryAfter is a throttle: the client waits the answer's Retry-After header (seconds or HTTP-date; absent:
	// a backoff), fences the whole key until then, calls Options.OnThrottle, and sends again.
	RetryAfter
)

// String names the decision.
func (d Decision) String() string {
	switch d {
	case Fail:
		return "fail"
	case Retry:
		return "retry"
	case RetryAfter:
		return "retry_after"
	}
	return "decision(" + strconv.Itoa(int(d)) + ")"
}

// DefaultClassify holds the rules used when Options.Classify is nil; vendor hooks call it for the answers they do
// not treat specially: 429 is a throttle; 503 with a Retry-After header is a throttle; 500, 502, 503, 504 and 509
// are retried with backoff; everything else fails.
func DefaultClassify(resp *http.Response, _ []byte) Decision {
	switch resp.StatusCode {
	case http.StatusTooManyRequests:
		return RetryAfter
	case http.StatusServiceUnavailable:
		if resp.Header.Get("Retry-After") != "" {
			return RetryAfter
		}
		return Retry
	case http.StatusInternalServerError, http.StatusBadGateway, http.StatusGatewayTimeout, 509:
		return Retry
	}
	return Fail
}

// ParseRetryAfter reads a Retry-After header, either delay-seconds or an HTTP-date (taken relative to now).
// ok is false when the header is absent or unreadable. A date in the past gives 0.
func ParseRetryAfter(h http.Header, now time.Time) (d time.Duration, ok bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		if secs > int64(365*24*time.Hour/time.Second) {
			secs = int64(365 * 24 * time.Hour / time.Second)
		}
		return time.Duration(secs) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		d := t.Sub(now)
		if d < 0 {
			d = 0
		}
		return d, true
	}
	return 0, false
}

const (
	backoffBase = 500 * time.Millisecond
	backoffCap  = 60 * time.Second
)

// backoff is the wait before retry n (1-based): min(cap, base·2^(n-1)), jittered uniformly into [d/2, d].
func backoff(n int) time.Duration {
	d := backoffCap
	if n < 1 {
		n = 1
	}
	if n <= 20 {
		d = min(backoffCap, backoffBase<<(n-1))
	}
	half := d / 2
	return half + rand.N(half+1)
}

// retriableErrorStrings are transport failures that carry no better type (the same idea as rclone's list).
var retriableErrorStrings = []string{
	"use of closed network connection",
	"connection reset",
	"broken pipe",
	"server sent goaway",
	"client connection lost",
	"server closed idle connection",
	"transport connection broken",
	"unexpected eof",
	"connection refused",
}

// retriable reports whether a transport or body-read error (not the caller's context) is worth another attempt.
func retriable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrBlocked) || errors.Is(err, context.Canceled) {
		return false
	}
	var certErr *tls.CertificateVerificationError
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	if errors.As(err, &certErr) || errors.As(err, &unknownAuth) || errors.As(err, &hostErr) {
		return false
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return dnsErr.IsTimeout || dnsErr.IsTemporary
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNABORTED) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, errAttemptTimeout) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	s := strings.ToLower(err.Error())
	for _, r := range retriableErrorStrings {
		if strings.Contains(s, r) {
			return true
		}
	}
	return false
}
