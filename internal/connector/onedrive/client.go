package onedrive

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/connector/kit/graphkit"
	"github.com/telltale-dev/telltale/internal/connector/kit/oauth"
	"github.com/telltale-dev/telltale/internal/httpx"
)

// Pacing keys: every Graph call of the connection shares one fence, so that a 429's Retry-After
// pauses them all (Graph throttles per app per tenant; Corso's "timed fence", NOTES 3d).
const (
	keyGraph = "graph"
	keyToken = "microsoft:token"
)

// graphClient is a thin REST client for the Graph calls the connector makes: JSON GETs with the
// connection's app-only token (the kit's client-credentials source, minted on the injected clock)
// and content downloads. Retries, pacing and Retry-After are httpx's.
type graphClient struct {
	http   *httpx.Client
	s      *session
	tokens *oauth.Source
}

func newGraphClient(hc *httpx.Client, s *session, secret string) *graphClient {
	cfg := clientcredentials.Config{
		ClientID: s.clientID, ClientSecret: secret,
		TokenURL:  s.login + "/" + url.PathEscape(s.tenant) + "/oauth2/v2.0/token",
		Scopes:    []string{graphScope},
		AuthStyle: oauth2.AuthStyleInParams,
	}
	return &graphClient{http: hc, s: s, tokens: oauth.ClientCredentials(cfg, oauth.Options{HTTP: hc, Key: keyToken, Clock: s.deps.Clock})}
}

// graphError is Graph's error answer (graphkit, shared with the other Microsoft 365 connector).
type graphError = graphkit.Error

var (
	asGraphError = graphkit.As
	isStatus     = graphkit.IsStatus
	refusedToken = graphkit.RefusedToken
)

// resolve is the URL of a Graph path ("/users") or of a link Graph gave (@odata.nextLink,
// @odata.deltaLink), which must lie under the configured Graph URL: the bearer token goes nowhere
// else.
func (c *graphClient) resolve(pathOrLink string) (string, error) {
	if strings.HasPrefix(pathOrLink, "/") {
		return c.s.graph + pathOrLink, nil
	}
	if !strings.HasPrefix(pathOrLink, c.s.graph+"/") {
		return "", fmt.Errorf("%w: onedrive: a Graph link outside %s: %.80q", connector.ErrMalformed, c.s.graph, pathOrLink)
	}
	return pathOrLink, nil
}

// get GETs a Graph path or link into out. need names the application permission the call needs,
// for the error that says what to grant. header adds request headers (Prefer).
func (c *graphClient) get(ctx context.Context, pathOrLink, need string, header http.Header, out any) error {
	return c.send(ctx, http.MethodGet, pathOrLink, need, header, nil, out)
}

// send is get for any method: body, when not nil, is sent as JSON (subscriptions).
func (c *graphClient) send(ctx context.Context, method, pathOrLink, need string, header http.Header, body, out any) error {
	return c.sendOpt(ctx, method, pathOrLink, need, header, body, out, false)
}

// create POSTs body once: no retry after a 5xx or a transport failure, which may have created
// what was asked for (POST /subscriptions); the caller settles what Graph holds
// (graphkit.Settle). A 401 for an expired token is still sent again (nothing was created).
func (c *graphClient) create(ctx context.Context, path, need string, body, out any) error {
	return c.sendOpt(ctx, http.MethodPost, path, need, nil, body, out, true)
}

func (c *graphClient) sendOpt(ctx context.Context, method, pathOrLink, need string, header http.Header, body, out any, once bool) error {
	u, err := c.resolve(pathOrLink)
	if err != nil {
		return err
	}
	var payload []byte
	if body != nil {
		if payload, err = json.Marshal(body); err != nil {
			return err
		}
	}
	for renewed := false; ; renewed = true {
		tok, err := c.token(ctx)
		if err != nil {
			return err
		}
		var rd io.Reader
		if payload != nil {
			rd = bytes.NewReader(payload)
		}
		req, err := http.NewRequestWithContext(ctx, method, u, rd)
		if err != nil {
			return err
		}
		if payload != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if once {
			req.GetBody = nil // httpx sends a body it cannot rewind once
		}
		for k, v := range header {
			req.Header[k] = v
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Accept", "application/json")
		resp, answer, err := c.http.Do(ctx, keyGraph, req, 64<<20)
		if err != nil {
			gerr := c.classify(resp, err, need)
			if ge, ok := asGraphError(gerr); ok && ge.Status == http.StatusUnauthorized && ge.Code == "InvalidAuthenticationToken" && !renewed {
				c.tokens.Invalidate(tok) // expired or revoked: mint once more
				continue
			}
			return gerr
		}
		if out == nil || len(answer) == 0 {
			return nil
		}
		if err := json.Unmarshal(answer, out); err != nil {
			return fmt.Errorf("%w: onedrive: GET %s: %v", connector.ErrMalformed, req.URL.Path, err)
		}
		return nil
	}
}

// token is the app's Graph token, or an error that says what the admin must fix.
func (c *graphClient) token(ctx context.Context) (string, error) {
	tok, err := c.tokens.Token(ctx)
	if err != nil {
		return "", c.s.tokenError(err)
	}
	return tok, nil
}

// classify turns a failed Graph call into the connector's error kinds: a throttle httpx gave up
// waiting for is an httpx.ThrottledError (the scheduler comes back at its end), a token without
// any consented permission ErrPermission with the consent to give, a refused token ErrAuth; other
// answers are *graphError for the caller to read (404, 403, 410).
func (c *graphClient) classify(resp *http.Response, err error, need string) error {
	var se *httpx.StatusError
	if !errors.As(err, &se) {
		return fmt.Errorf("onedrive: %w", err) // no answer: httpx's own error (a fence, a transport failure, the guard)
	}
	ge := graphkit.ParseError(se, resp)
	if err, ok := c.s.app().NoConsent(ge); ok {
		return err // a token without any consented permission
	}
	switch {
	case se.Code == http.StatusTooManyRequests || (se.Code == http.StatusServiceUnavailable && se.RetryAfter > 0):
		wait := se.RetryAfter
		if wait <= 0 {
			wait = time.Minute
		}
		return fmt.Errorf("onedrive: %w", httpx.Throttled(keyGraph, c.s.deps.Clock.Now().Add(wait), ge.Error()))
	case se.Code == http.StatusUnauthorized:
		return ge // InvalidAuthenticationToken: get mints once more, then ErrAuth below
	}
	return ge
}

// app is the connection's Entra ID application, as graphkit words its errors.
func (s *session) app() graphkit.App {
	return graphkit.App{Product: "onedrive", Login: s.login, Tenant: s.tenant, ClientID: s.clientID, Permissions: Permissions}
}

// denied says which permission is missing when Graph answers 403.
func (s *session) denied(err error, need, what string) error {
	return s.app().Denied(err, need, what, "")
}

// tokenError says what the admin must fix when Entra ID refuses the token request.
func (s *session) tokenError(err error) error { return s.app().TokenError(err) }

// stream opens a Graph URL's body (content downloads): Graph answers 302 to a pre-authenticated
// URL, which httpx follows without the Authorization header (noAuthOnRedirect).
func (c *graphClient) stream(ctx context.Context, path, need string) (io.ReadCloser, error) {
	u, err := c.resolve(path)
	if err != nil {
		return nil, err
	}
	for renewed := false; ; renewed = true {
		tok, err := c.token(ctx)
		if err != nil {
			return nil, err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		// keyGraph: a 429 on any Graph call fences downloads too (Graph throttles per app per
		// tenant, content included).
		resp, err := c.http.Stream(ctx, keyGraph, req)
		if err != nil {
			gerr := c.classify(resp, err, need)
			if ge, ok := asGraphError(gerr); ok && ge.Status == http.StatusUnauthorized && !renewed {
				// An expired token, or a pre-authenticated URL that expired on the way: ask again.
				c.tokens.Invalidate(tok)
				continue
			}
			return nil, gerr
		}
		return resp.Body, nil
	}
}
