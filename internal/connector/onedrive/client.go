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
	"regexp"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/telltale-dev/telltale/internal/connector"
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

// graphError is Graph's error answer, {"error":{"code","message"}}, classified by the caller. It
// unwraps to the HTTP answer.
type graphError struct {
	Status   int
	Code     string
	Message  string
	Location string // a 410's Location header: where a fresh delta enumeration starts
	answer   *httpx.StatusError
}

func (e *graphError) Unwrap() error { return e.answer }

func (e *graphError) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("graph answered %d", e.Status)
	}
	return fmt.Sprintf("graph answered %d %s: %s", e.Status, e.Code, e.Message)
}

// asGraphError is err's *graphError, if any.
func asGraphError(err error) (*graphError, bool) {
	var ge *graphError
	return ge, errors.As(err, &ge)
}

// isStatus reports whether err is Graph's answer with status code.
func isStatus(err error, code int) bool {
	ge, ok := asGraphError(err)
	return ok && ge.Status == code
}

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
	if resp != nil {
		ge.Location = resp.Header.Get("Location")
	}
	switch {
	case se.Code == http.StatusTooManyRequests || (se.Code == http.StatusServiceUnavailable && se.RetryAfter > 0):
		wait := se.RetryAfter
		if wait <= 0 {
			wait = time.Minute
		}
		return fmt.Errorf("onedrive: %w", httpx.Throttled(keyGraph, c.s.deps.Clock.Now().Add(wait), ge.Error()))
	case se.Code == http.StatusUnauthorized && strings.Contains(ge.Message, "scp or roles claim"):
		return fmt.Errorf("%w: Microsoft Graph refused the app's token: it carries no application permission (%s), so admin consent was not given in tenant %s: in the Entra admin center open App registrations > the app (client ID %s) > API permissions, add the Microsoft Graph application permissions %s and click 'Grant admin consent', or have a Global Administrator open %s",
			connector.ErrPermission, ge, c.s.tenant, c.s.clientID, strings.Join(Permissions, ", "), c.s.adminConsentURL())
	case se.Code == http.StatusUnauthorized:
		return ge // InvalidAuthenticationToken: get mints once more, then ErrAuth below
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

// denied says which permission is missing when Graph answers 403: the app has some permissions
// but not need (Authorization_RequestDenied for the directory, accessDenied for files).
func (s *session) denied(err error, need, what string) error {
	ge, ok := asGraphError(err)
	if !ok || ge.Status != http.StatusForbidden {
		return refusedToken(err)
	}
	return fmt.Errorf("%w: Microsoft Graph refused %s (403 %s: %s): grant the Microsoft Graph application permission %s to the app (client ID %s) in the Entra admin center (App registrations > API permissions > Add a permission), then click 'Grant admin consent' (or open %s); a permission added without admin consent is not in the token",
		connector.ErrPermission, what, ge.Code, ge.Message, need, s.clientID, s.adminConsentURL())
}

var aadsts = regexp.MustCompile(`AADSTS(\d+)`)

// tokenError says what the admin must fix when Entra ID refuses the token request (the AADSTS
// codes of NOTES Corrections 6).
func (s *session) tokenError(err error) error {
	var re *oauth.RefusedError
	if !errors.As(err, &re) {
		return fmt.Errorf("onedrive: requesting an access token from %s: %w", s.login, err)
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
