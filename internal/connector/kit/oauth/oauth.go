// Package oauth gives connectors OAuth 2.0 access tokens: the client credentials grant (Box,
// Microsoft Graph and the Office 365 Management API) and the JWT bearer grant (Google service
// accounts with domain-wide delegation), minted by golang.org/x/oauth2 but sent through Telltale's
// own HTTP client (httpx: SSRF guard, size limits, pacing, redaction) and cached on the injected
// clock. It is part of the vendor kit (issue 13).
//
// x/oauth2 keeps a token's expiry in wall time and caches behind its own clock; a Source instead
// asks x/oauth2 for a fresh token only when its cached one is due (a tenth of its lifetime before
// it expires, on connector.Deps.Clock), mints once for any number of concurrent callers, and mints
// again after Invalidate (a 401). A token request the vendor refuses becomes a *RefusedError,
// which wraps connector.ErrAuth and carries the vendor's `error` and `error_description`, so the
// connector can say what the admin must fix.
package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"golang.org/x/oauth2/jwt"

	"github.com/telltale-dev/telltale/internal/clock"
	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/httpx"
)

// Options says how a Source sends its token requests and keeps its token.
type Options struct {
	HTTP  *httpx.Client // required: every token request goes through it
	Key   string        // httpx pacing key of the token requests, e.g. "box:token"; "": the host
	Limit int64         // largest token answer read; default 1 MiB
	Clock clock.Clock   // when a token is due; nil: the wall clock
	// DefaultTTL is how long a token without expires_in is kept; default 1 h.
	DefaultTTL time.Duration
}

// Fetch asks the vendor for a new token. Its context carries the *http.Client a Source provides
// under oauth2.HTTPClient: x/oauth2's configs' Token methods are Fetch functions as they are.
type Fetch func(ctx context.Context) (*oauth2.Token, error)

// Source hands out an access token, minting a new one when the cached one is due. It is safe for
// concurrent use.
type Source struct {
	fetch Fetch
	o     Options

	mu     sync.Mutex
	token  string
	until  time.Time // re-mint from then on (Clock)
	flight *mint     // the mint under way, shared by every caller waiting for it
}

type mint struct {
	done  chan struct{}
	token string
	err   error
}

// ClientCredentials is a Source for the client credentials grant. Vendors' extras go in
// cfg.EndpointParams (Box: box_subject_type and box_subject_id; Graph: scope through cfg.Scopes);
// set cfg.AuthStyle (oauth2.AuthStyleInParams for Box and Microsoft) so that x/oauth2 does not
// probe with a second request.
func ClientCredentials(cfg clientcredentials.Config, o Options) *Source {
	return New(cfg.Token, o)
}

// JWT is a Source for the JWT bearer grant (RFC 7523): a Google service account, with cfg.Subject
// the user it acts as under domain-wide delegation and cfg.TokenURL Google's token endpoint or an
// emulator's. The assertion's iat and exp are x/oauth2's (wall time): the vendor checks them.
func JWT(cfg jwt.Config, o Options) *Source {
	return New(func(ctx context.Context) (*oauth2.Token, error) {
		// x/oauth2/jwt sends its request without ctx; the Source's client carries it instead.
		return cfg.TokenSource(ctx).Token()
	}, o)
}

// New is a Source over any Fetch.
func New(fetch Fetch, o Options) *Source {
	if o.Limit <= 0 {
		o.Limit = 1 << 20
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.DefaultTTL <= 0 {
		o.DefaultTTL = time.Hour
	}
	return &Source{fetch: fetch, o: o}
}

// Token returns the cached access token, or mints one when none is cached or it is due. Concurrent
// callers share one mint.
func (s *Source) Token(ctx context.Context) (string, error) {
	for {
		s.mu.Lock()
		if s.token != "" && s.o.Clock.Now().Before(s.until) {
			tok := s.token
			s.mu.Unlock()
			return tok, nil
		}
		m := s.flight
		leader := m == nil
		if leader {
			m = &mint{done: make(chan struct{})}
			s.flight = m
		}
		s.mu.Unlock()
		if leader {
			s.mint(ctx, m)
			return m.token, m.err
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-m.done:
		}
		if m.err != nil && (errors.Is(m.err, context.Canceled) || errors.Is(m.err, context.DeadlineExceeded)) && ctx.Err() == nil {
			continue // the minting caller gave up; this one has not
		}
		return m.token, m.err
	}
}

// Invalidate drops the cached token if it is still stale (the token a vendor answered 401 to), so
// that the next Token mints a new one; "" drops whatever is cached. A token minted since is kept:
// callers that saw the same 401 at once cause one mint, not one each.
func (s *Source) Invalidate(stale string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if stale == "" || stale == s.token {
		s.token, s.until = "", time.Time{}
	}
}

func (s *Source) mint(ctx context.Context, m *mint) {
	defer close(m.done)
	tok, ttl, err := s.fetchOnce(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flight = nil
	if err != nil {
		m.err = err
		return
	}
	m.token = tok
	s.token = tok
	s.until = s.o.Clock.Now().Add(ttl - ttl/10) // re-mint before the vendor expires it
}

// fetchOnce runs the Fetch with the httpx adapter and turns its failure into the kit's errors.
func (s *Source) fetchOnce(ctx context.Context) (string, time.Duration, error) {
	tr := &transport{ctx: ctx, http: s.o.HTTP, key: s.o.Key, limit: s.o.Limit}
	tok, err := s.fetch(context.WithValue(ctx, oauth2.HTTPClient, tr.client()))
	if err != nil {
		return "", 0, tr.failure(ctx, err)
	}
	if tok == nil || tok.AccessToken == "" {
		return "", 0, fmt.Errorf("%w: token answer without access_token", connector.ErrMalformed)
	}
	return tok.AccessToken, s.ttl(tok), nil
}

// ttl is the token's lifetime from expires_in; x/oauth2 turns that into a wall-clock Expiry (and
// clientcredentials drops ExpiresIn), so it is read back from the answer.
func (s *Source) ttl(tok *oauth2.Token) time.Duration {
	secs := tok.ExpiresIn
	switch v := tok.Extra("expires_in").(type) {
	case float64:
		secs = int64(v)
	case string:
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			secs = n
		}
	}
	if secs > 0 {
		return time.Duration(secs) * time.Second
	}
	if !tok.Expiry.IsZero() {
		if d := time.Until(tok.Expiry); d > 0 {
			return d
		}
	}
	return s.o.DefaultTTL
}

// RefusedError is a token request the vendor refused: a 400, 401 or 403 answer, or any other
// answer but a 429 or 5xx that carries an OAuth error code. It wraps connector.ErrAuth and the
// *oauth2.RetrieveError (and through it the *httpx.StatusError of a non-2xx answer).
type RefusedError struct {
	Status      int    // the HTTP status of the answer
	Code        string // the OAuth `error`, e.g. invalid_client
	Description string // the OAuth `error_description`, e.g. AADSTS7000215: Invalid client secret
	retrieve    *oauth2.RetrieveError
	answer      error
}

func (e *RefusedError) Error() string {
	s := fmt.Sprintf("token request refused: %d", e.Status)
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Description != "" {
		s += ": " + e.Description
	}
	return s
}

// Unwrap gives connector.ErrAuth, the *oauth2.RetrieveError and the httpx answer.
func (e *RefusedError) Unwrap() []error {
	out := []error{connector.ErrAuth, e.retrieve}
	if e.answer != nil {
		out = append(out, e.answer)
	}
	return out
}

// transport sends x/oauth2's token request with httpx and remembers what came of it. A non-2xx
// answer httpx gave up on is handed to x/oauth2 as an answer, so that it reads the OAuth error.
type transport struct {
	ctx   context.Context // the caller's: x/oauth2/jwt sends without one
	http  *httpx.Client
	key   string
	limit int64

	mu     sync.Mutex
	sent   bool  // an answer came back
	status int   // its status
	err    error // httpx's error: a transport failure or the *httpx.StatusError of a non-2xx answer
}

func (t *transport) client() *http.Client {
	return &http.Client{Transport: t, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse // httpx follows redirects itself
	}}
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	if ctx.Done() == nil {
		ctx = t.ctx
	}
	resp, _, err := t.http.Do(ctx, t.key, req, t.limit)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.err = err
	var se *httpx.StatusError
	if err != nil && (resp == nil || !errors.As(err, &se)) {
		return nil, err
	}
	t.sent, t.status = true, resp.StatusCode
	return resp, nil
}

// failure is what a failed Fetch means: refused credentials, a malformed answer, or httpx's error.
func (t *transport) failure(ctx context.Context, err error) error {
	t.mu.Lock()
	sent, status, herr := t.sent, t.status, t.err
	t.mu.Unlock()
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("token request: %w", cerr)
	}
	if !sent {
		if herr != nil {
			return herr // no answer: httpx's own error (connection, timeout, throttle fence, guard)
		}
		// Never sent: the configuration itself is wrong (an unreadable private key, say).
		return fmt.Errorf("%w: the token request could not be made: %v", connector.ErrAuth, err)
	}
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		if status >= 200 && status < 300 {
			return fmt.Errorf("%w: token answer: %v", connector.ErrMalformed, err)
		}
		if herr != nil {
			return herr
		}
		return err
	}
	code, desc := re.ErrorCode, re.ErrorDescription
	if code == "" {
		// x/oauth2/jwt does not read the OAuth error of a refusal.
		var oe struct {
			Error            string `json:"error"`
			ErrorDescription string `json:"error_description"`
		}
		if json.Unmarshal(re.Body, &oe) == nil {
			code, desc = oe.Error, oe.ErrorDescription
		}
	}
	refused := status == http.StatusBadRequest || status == http.StatusUnauthorized || status == http.StatusForbidden ||
		(code != "" && status != http.StatusTooManyRequests && status < 500)
	if !refused {
		if herr != nil {
			return herr // a 5xx or 429 httpx gave up on: the vendor's trouble, not the admin's
		}
		return re
	}
	return &RefusedError{Status: status, Code: code, Description: desc, retrieve: re, answer: herr}
}
