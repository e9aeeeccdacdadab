package m365mail

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

// This client is the OneDrive connector's (internal/connector/onedrive/client.go), copied and
// trimmed: connectors may not import each other. What differs: mailbox calls are paced per
// mailbox (Exchange limits each app to 4 concurrent and 10,000 requests per 10 minutes per
// mailbox, NOTES 3d and Corrections 9), so one mailbox's 429 ApplicationThrottled fences only it.

// Pacing keys: the directory's calls share one fence (Graph throttles it per app per tenant);
// each mailbox has its own (keyMailbox + user id).
const (
	keyGraph   = "graph"
	keyToken   = "microsoft:token"
	keyMailbox = "graph:mailbox:"
)

// mailboxConcurrency is how many requests one mailbox gets at once: Exchange's limit per app per
// mailbox (a fifth is answered 429 MailboxConcurrency).
const mailboxConcurrency = 4

// Each mailbox's requests are paced below Exchange's 10,000 per 10 minutes per app per mailbox
// (Corso's 16 a second, burst 100: at most 9,700 in any 10 minutes), so that a busy mailbox waits
// its turn instead of drawing 429s; variables for tests.
var (
	mailboxPerMinute = 960.0
	mailboxBurst     = 100
)

// graphClient is a thin REST client for the Graph calls the connector makes, with the
// connection's app-only token (the kit's client-credentials source, minted on the injected
// clock). Retries, pacing and Retry-After are httpx's.
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

// call is one Graph request: a path ("/users") or a link Graph gave (@odata.nextLink,
// @odata.deltaLink), for a mailbox (its user id: paced and limited as that mailbox) or the
// directory ("").
type call struct {
	method, path, mailbox string
	header                http.Header
	body                  any // JSON request body
	// once sends the call without retries after a 5xx or a transport failure, which may have
	// created what was asked for (POST /subscriptions: the caller settles, graphkit.Settle).
	once bool
}

// resolve is the URL of a Graph path or of a link Graph gave, which must lie under the configured
// Graph URL: the bearer token goes nowhere else.
func (c *graphClient) resolve(pathOrLink string) (string, error) {
	if strings.HasPrefix(pathOrLink, "/") {
		return c.s.graph + pathOrLink, nil
	}
	if !strings.HasPrefix(pathOrLink, c.s.graph+"/") {
		return "", fmt.Errorf("%w: microsoft365_mail: a Graph link outside %s: %.80q", connector.ErrMalformed, c.s.graph, pathOrLink)
	}
	return pathOrLink, nil
}

// slot takes one of the mailbox's request slots; release gives it back.
func (s *session) slot(ctx context.Context, mailbox string) (release func(), err error) {
	if mailbox == "" {
		return func() {}, nil
	}
	s.mu.Lock()
	ch := s.slots[mailbox]
	if ch == nil {
		ch = make(chan struct{}, mailboxConcurrency)
		s.slots[mailbox] = ch
		s.api.http.SetRate(keyMailbox+mailbox, mailboxPerMinute, mailboxBurst)
	}
	s.mu.Unlock()
	select {
	case ch <- struct{}{}:
		return func() { <-ch }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// do sends a call and decodes its JSON answer into out (nil: the answer is dropped). A 401
// InvalidAuthenticationToken mints a new token once.
func (c *graphClient) do(ctx context.Context, k call, out any) error {
	u, err := c.resolve(k.path)
	if err != nil {
		return err
	}
	var payload []byte
	if k.body != nil {
		if payload, err = json.Marshal(k.body); err != nil {
			return err
		}
	}
	key := keyGraph
	if k.mailbox != "" {
		key = keyMailbox + k.mailbox
	}
	for renewed := false; ; renewed = true {
		tok, err := c.token(ctx)
		if err != nil {
			return err
		}
		var body io.Reader
		if payload != nil {
			body = bytes.NewReader(payload)
		}
		req, err := http.NewRequestWithContext(ctx, k.method, u, body)
		if err != nil {
			return err
		}
		if k.once {
			req.GetBody = nil // httpx sends a body it cannot rewind once
		}
		for h, v := range k.header {
			req.Header[h] = v
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Accept", "application/json")
		if payload != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		release, err := c.s.slot(ctx, k.mailbox)
		if err != nil {
			return err
		}
		_, answer, err := c.http.Do(ctx, key, req, 64<<20)
		release()
		if err != nil {
			gerr := c.classify(err, key)
			if ge, ok := asGraphError(gerr); ok && ge.Status == http.StatusUnauthorized && ge.Code == "InvalidAuthenticationToken" && !renewed {
				c.tokens.Invalidate(tok)
				continue
			}
			return gerr
		}
		if out == nil || len(answer) == 0 {
			return nil
		}
		if err := json.Unmarshal(answer, out); err != nil {
			return fmt.Errorf("%w: microsoft365_mail: %s %s: %v", connector.ErrMalformed, k.method, req.URL.Path, err)
		}
		return nil
	}
}

// get GETs a Graph path or link into out.
func (c *graphClient) get(ctx context.Context, pathOrLink, mailbox string, header http.Header, out any) error {
	return c.do(ctx, call{method: http.MethodGet, path: pathOrLink, mailbox: mailbox, header: header}, out)
}

// stream opens a Graph URL's body (an attachment's $value), holding one of the mailbox's slots
// until the body is closed.
func (c *graphClient) stream(ctx context.Context, path, mailbox string) (io.ReadCloser, error) {
	u, err := c.resolve(path)
	if err != nil {
		return nil, err
	}
	key := keyMailbox + mailbox
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
		release, err := c.s.slot(ctx, mailbox)
		if err != nil {
			return nil, err
		}
		resp, err := c.http.Stream(ctx, key, req)
		if err != nil {
			release()
			gerr := c.classify(err, key)
			if ge, ok := asGraphError(gerr); ok && ge.Status == http.StatusUnauthorized && !renewed {
				c.tokens.Invalidate(tok)
				continue
			}
			return nil, gerr
		}
		return &releasing{ReadCloser: resp.Body, release: release}, nil
	}
}

// releasing gives the mailbox slot back when the body is closed.
type releasing struct {
	io.ReadCloser
	release func()
	done    bool
}

func (r *releasing) Close() error {
	err := r.ReadCloser.Close()
	if !r.done {
		r.done = true
		r.release()
	}
	return err
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
// waiting for (429 ApplicationThrottled or TooManyRequests, 503 with Retry-After) is an
// httpx.ThrottledError (the scheduler comes back at its end), a token without any consented
// permission ErrPermission with the consent to give; other answers are *graphError for the caller
// to read (404, 403, 410).
func (c *graphClient) classify(err error, key string) error {
	var se *httpx.StatusError
	if !errors.As(err, &se) {
		return fmt.Errorf("microsoft365_mail: %w", err) // no answer: httpx's own error (a fence, a transport failure, the guard)
	}
	ge := graphkit.ParseError(se, nil)
	if err, ok := c.s.app().NoConsent(ge); ok {
		return err // a token without any consented permission
	}
	switch {
	case se.Code == http.StatusTooManyRequests || (se.Code == http.StatusServiceUnavailable && se.RetryAfter > 0):
		wait := se.RetryAfter
		if wait <= 0 {
			wait = time.Minute
		}
		return fmt.Errorf("microsoft365_mail: %w", httpx.Throttled(key, c.s.deps.Clock.Now().Add(wait), ge.Error()))
	}
	return ge
}

// app is the connection's Entra ID application, as graphkit words its errors.
func (s *session) app() graphkit.App {
	return graphkit.App{Product: "microsoft365_mail", Login: s.login, Tenant: s.tenant, ClientID: s.clientID, Permissions: Permissions}
}

// denied says which permission is missing when Graph answers 403.
func (s *session) denied(err error, need, what string) error {
	return s.app().Denied(err, need, what, accessPolicyHint(need))
}

// tokenError says what the admin must fix when Entra ID refuses the token request.
func (s *session) tokenError(err error) error { return s.app().TokenError(err) }

// accessPolicyHint is the denied error's hint for mail: an Exchange application access policy
// limits which mailboxes the app reads.
func accessPolicyHint(need string) string {
	if need == PermMailRead {
		return "; if an Exchange application access policy limits the app, the mailbox must be in its scope group"
	}
	return ""
}
