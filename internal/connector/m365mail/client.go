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
	"regexp"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/telltale-dev/telltale/internal/connector"
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

// graphError is Graph's error answer, {"error":{"code","message"}}, classified by the caller.
type graphError struct {
	Status  int
	Code    string
	Message string
	answer  *httpx.StatusError
}

func (e *graphError) Unwrap() error { return e.answer }

func (e *graphError) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("graph answered %d", e.Status)
	}
	return fmt.Sprintf("graph answered %d %s: %s", e.Status, e.Code, e.Message)
}

func asGraphError(err error) (*graphError, bool) {
	var ge *graphError
	return ge, errors.As(err, &ge)
}

// isStatus reports whether err is Graph's answer with status code.
func isStatus(err error, code int) bool {
	ge, ok := asGraphError(err)
	return ok && ge.Status == code
}

// call is one Graph request: a path ("/users") or a link Graph gave (@odata.nextLink,
// @odata.deltaLink), for a mailbox (its user id: paced and limited as that mailbox) or the
// directory ("").
type call struct {
	method, path, mailbox string
	header                http.Header
	body                  any // JSON request body
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
	ge := &graphError{Status: se.Code, answer: se}
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(se.Body, &body) == nil {
		ge.Code, ge.Message = body.Error.Code, body.Error.Message
	}
	switch {
	case se.Code == http.StatusTooManyRequests || (se.Code == http.StatusServiceUnavailable && se.RetryAfter > 0):
		wait := se.RetryAfter
		if wait <= 0 {
			wait = time.Minute
		}
		return fmt.Errorf("microsoft365_mail: %w", httpx.Throttled(key, c.s.deps.Clock.Now().Add(wait), ge.Error()))
	case se.Code == http.StatusUnauthorized && strings.Contains(ge.Message, "scp or roles claim"):
		return fmt.Errorf("%w: Microsoft Graph refused the app's token: it carries no application permission (%s), so admin consent was not given in tenant %s: in the Entra admin center open App registrations > the app (client ID %s) > API permissions, add the Microsoft Graph application permissions %s and click 'Grant admin consent', or have a Global Administrator open %s",
			connector.ErrPermission, ge, c.s.tenant, c.s.clientID, strings.Join(Permissions, ", "), c.s.adminConsentURL())
	}
	return ge
}

// refusedToken is a Graph token refused twice: ErrAuth.
func refusedToken(err error) error {
	if ge, ok := asGraphError(err); ok && ge.Status == http.StatusUnauthorized {
		return fmt.Errorf("%w: Microsoft Graph refused a fresh access token (%v): check that the app's client secret is current and the app is enabled in the tenant", connector.ErrAuth, ge)
	}
	return err
}

// denied says which permission is missing when Graph answers 403 (Authorization_RequestDenied
// for the directory, ErrorAccessDenied for mail).
func (s *session) denied(err error, need, what string) error {
	ge, ok := asGraphError(err)
	if !ok || ge.Status != http.StatusForbidden {
		return refusedToken(err)
	}
	hint := ""
	if need == PermMailRead {
		hint = "; if an Exchange application access policy limits the app, the mailbox must be in its scope group"
	}
	return fmt.Errorf("%w: Microsoft Graph refused %s (403 %s: %s): grant the Microsoft Graph application permission %s to the app (client ID %s) in the Entra admin center (App registrations > API permissions > Add a permission), then click 'Grant admin consent' (or open %s); a permission added without admin consent is not in the token%s",
		connector.ErrPermission, what, ge.Code, ge.Message, need, s.clientID, s.adminConsentURL(), hint)
}

var aadsts = regexp.MustCompile(`AADSTS(\d+)`)

// tokenError says what the admin must fix when Entra ID refuses the token request (the AADSTS
// codes of NOTES Corrections 6).
func (s *session) tokenError(err error) error {
	var re *oauth.RefusedError
	if !errors.As(err, &re) {
		return fmt.Errorf("microsoft365_mail: requesting an access token from %s: %w", s.login, err)
	}
	code := ""
	if m := aadsts.FindStringSubmatch(re.Description); m != nil {
		code = m[1]
	}
	desc, _, _ := strings.Cut(re.Description, "\r\n") // drop the Trace ID, Correlation ID and Timestamp lines
	desc = strings.TrimSpace(strings.SplitN(desc, "\n", 2)[0])
	switch code {
	case "7000215", "7000222", "7000216":
		return fmt.Errorf("%w: Entra ID refused the client secret (%s): it is wrong or expired, or the Secret ID was pasted instead of its Value; in the Entra admin center open App registrations > the app (client ID %s) > Certificates & secrets, create a new client secret and paste its Value",
			connector.ErrAuth, desc, s.clientID)
	case "700016":
		return fmt.Errorf("%w: Entra ID does not know application %s in tenant %s (%s): check the Application (client) ID and the Directory (tenant) ID; a multi-tenant app must be consented in this tenant by a Global Administrator: open %s",
			connector.ErrAuth, s.clientID, s.tenant, desc, s.adminConsentURL())
	case "90002", "900023":
		return fmt.Errorf("%w: Entra ID does not know tenant %q (%s): enter the Directory (tenant) ID from the Entra admin center > Identity > Overview (or a verified domain of the tenant)",
			connector.ErrAuth, s.tenant, desc)
	case "700023", "7000112", "7000229":
		return fmt.Errorf("%w: Entra ID refused application %s (%s): the app is disabled or has no service principal in tenant %s; grant admin consent: open %s",
			connector.ErrAuth, s.clientID, desc, s.tenant, s.adminConsentURL())
	}
	return fmt.Errorf("%w: Entra ID refused the token request for application %s in tenant %s: %d %s: %s", connector.ErrAuth, s.clientID, s.tenant, re.Status, re.Code, desc)
}
