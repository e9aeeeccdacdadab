// Package googlekit is what the Google Workspace connectors (googledrive, gmail) share: acting as
// any user of the domain through a service account with domain-wide delegation (a token per
// impersonated user, requests through the connection's httpx client), Google's error answers
// turned into errors that say what to fix, its throttles and backoff, and the Directory API's users
// and groups for a connection's scope. Each connector names itself and what the admin must set up
// (Product); the wording is shared, so the two connectors say the same thing the same way.
package googlekit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2/jwt"
	"google.golang.org/api/googleapi"

	"github.com/telltale-dev/telltale/internal/clock"
	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/connector/kit/oauth"
	"github.com/telltale-dev/telltale/internal/httpx"
)

// Product is the connector, as its errors name it.
type Product struct {
	Name   string   // the errors' prefix: "google drive", "gmail"
	Scopes []string // the scopes the admin delegates, in order
	// APIs are the Cloud APIs the project enables, as the console's Library lists them: "Google
	// Drive API and Admin SDK API".
	APIs string
}

// ErrBadSubject: Google refused to mint a token for the impersonated user (unknown, suspended or
// archived: 400 invalid_grant "Invalid email or User ID").
var ErrBadSubject = errors.New("google refused to act as this user")

// Client acts as users of one domain: a JWT token source per subject, cached, and an http.Client
// per subject whose requests go through HC.
type Client struct {
	Product  Product
	JWT      jwt.Config // Subject empty: each subject's source copies it
	HC       *httpx.Client
	Clock    clock.Clock
	ClientID string // the key's client_id: the id the Admin console's delegation asks for

	mu      sync.Mutex
	sources map[string]*oauth.Source
}

// Source is subject's token source, made once.
func (c *Client) Source(subject string) *oauth.Source {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sources == nil {
		c.sources = map[string]*oauth.Source{}
	}
	src := c.sources[subject]
	if src == nil {
		cfg := c.JWT
		cfg.Subject = subject
		src = oauth.JWT(cfg, oauth.Options{HTTP: c.HC, Key: "google:token", Clock: c.Clock})
		c.sources[subject] = src
	}
	return src
}

// subjectKey carries the user a request acts as (As).
type subjectKey struct{}

// As returns ctx carrying subject: the user the generated services' requests made with it act as.
// One set of generated services serves every user of a connection (HTTPClient), so what grows with
// the number of users is their token sources only, not a client each.
func As(ctx context.Context, subject string) context.Context {
	return context.WithValue(ctx, subjectKey{}, subject)
}

// subjectOf is the user ctx acts as ("" when As was not called).
func subjectOf(ctx context.Context) string {
	s, _ := ctx.Value(subjectKey{}).(string)
	return s
}

// ErrNoSubject: a request was made without As; a programming error, never an admin's.
var ErrNoSubject = errors.New("googlekit: request made without a subject (googlekit.As)")

// HTTPClient is the client of Google's generated services: each request authorized with the token
// of the user its context acts as (As) and sent through HC (pacing per user, retries, the SSRF
// guard); downloads (alt=media) streamed; redirects left to httpx.
func (c *Client) HTTPClient() *http.Client {
	return &http.Client{Transport: &transport{c: c}, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse // httpx follows redirects itself
	}}
}

// transport authorizes a request as its context's subject and sends it through httpx. A 401 mints
// a new token once.
type transport struct {
	c *Client
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	subject := subjectOf(ctx)
	if subject == "" {
		return nil, ErrNoSubject
	}
	src := t.c.Source(subject)
	key := "google:user:" + subject
	for renewed := false; ; renewed = true {
		tok, err := src.Token(ctx)
		if err != nil {
			return nil, t.c.TokenError(err, subject)
		}
		r := req.Clone(ctx)
		r.Header.Set("Authorization", "Bearer "+tok)
		var resp *http.Response
		if req.URL.Query().Get("alt") == "media" {
			resp, err = t.c.HC.Stream(ctx, key, r)
		} else {
			resp, _, err = t.c.HC.Do(ctx, key, r, 0)
		}
		var se *httpx.StatusError
		if err != nil && !errors.As(err, &se) {
			return nil, err // no answer: a transport failure, a fence, the guard
		}
		if resp.StatusCode == http.StatusUnauthorized && !renewed {
			src.Invalidate(tok) // expired or revoked: mint once more
			continue
		}
		return resp, nil // googleapi.CheckResponse turns a non-2xx answer into a *googleapi.Error
	}
}

// TokenError says what the admin must fix when Google refuses to mint a token for subject.
func (c *Client) TokenError(err error, subject string) error {
	var re *oauth.RefusedError
	if !errors.As(err, &re) {
		return err // an outage, a throttle, a malformed answer: the kit's own error
	}
	sa, id := c.JWT.Email, c.ClientID
	if id == "" {
		id = "(the service account's Unique ID)"
	}
	desc := re.Description
	switch {
	case re.Code == "unauthorized_client":
		return fmt.Errorf("%w: Google refused domain-wide delegation to service account %s acting as %s (%d %s: %s): in the Admin console open Security > Access and data control > API controls > Manage Domain Wide Delegation and give client ID %s exactly these scopes: %s",
			connector.ErrPermission, sa, subject, re.Status, re.Code, desc, id, strings.Join(c.Product.Scopes, ","))
	case strings.Contains(desc, "Invalid JWT Signature"):
		return fmt.Errorf("%w: Google does not accept the key of service account %s (%s %q): the key was deleted or is not this account's; add a new JSON key under the service account's Keys in the Cloud console and paste it",
			connector.ErrAuth, sa, re.Code, desc)
	case strings.Contains(desc, "account not found"):
		return fmt.Errorf("%w: Google does not know service account %s (%s %q): it was deleted or disabled; create or enable it in the Cloud console, add a JSON key and paste it",
			connector.ErrAuth, sa, re.Code, desc)
	case strings.Contains(desc, "Invalid email or User ID"):
		return fmt.Errorf("%w: %w: Google cannot act as %s (%s %q): the user does not exist, or is suspended or archived", connector.ErrAuth, ErrBadSubject, subject, re.Code, desc)
	case strings.Contains(desc, "short-lived"):
		return fmt.Errorf("%w: Google refused the token request's times (%s %q): check this node's clock (NTP)", connector.ErrAuth, re.Code, desc)
	}
	return fmt.Errorf("%w: Google refused the token request for %s: %d %s %q", connector.ErrAuth, subject, re.Status, re.Code, desc)
}

// Classify names what failed (what, with format's arguments) and turns Google's answers into the
// errors the scheduler and the admin act on: a throttle (Google sends no Retry-After: back off a
// minute), a token refused twice, an API not enabled in the project, a service turned off for the
// user; anything else is wrapped as it is.
func (c *Client) Classify(err error, format string, a ...any) error {
	err = Plain(err)
	what := fmt.Sprintf(format, a...)
	ge, ok := Err(err)
	if !ok {
		return fmt.Errorf("%s: %s: %w", c.Product.Name, what, err)
	}
	switch {
	case ge.Code == http.StatusTooManyRequests || (ge.Code == http.StatusForbidden && rateLimitReasons[Reason(ge)]):
		until := c.Clock.Now().Add(time.Minute)
		return fmt.Errorf("%s: %s: %w", c.Product.Name, what, httpx.Throttled("google", until, fmt.Sprintf("Google answered %d %s", ge.Code, Reason(ge))))
	case ge.Code == http.StatusUnauthorized:
		return fmt.Errorf("%w: %s: %s: Google refused the access token twice (%v)", connector.ErrAuth, c.Product.Name, what, ge)
	case NotEnabled(err):
		return fmt.Errorf("%w: %s: %s: an API Telltale uses is not enabled in the service account's Cloud project (%s): enable the %s in the Cloud console (APIs & Services > Library), wait a few minutes, then verify again",
			connector.ErrPermission, c.Product.Name, what, ge.Message, c.Product.APIs)
	case ge.Code == http.StatusForbidden && Reason(ge) == "domainPolicy":
		return fmt.Errorf("%w: %s: %s: the service is turned off for this user (%d domainPolicy: %s): turn it on in the Admin console (Apps > Google Workspace > the service > Service status) for the user's organizational unit",
			connector.ErrPermission, c.Product.Name, what, ge.Code, ge.Message)
	}
	return fmt.Errorf("%s: %s: %w", c.Product.Name, what, err)
}

// rateLimitReasons are the reasons of Google's over-quota 403s.
var rateLimitReasons = map[string]bool{"rateLimitExceeded": true, "userRateLimitExceeded": true}

// RateLimited reports whether ge is one of Google's over-quota answers.
func RateLimited(ge *googleapi.Error) bool {
	return ge.Code == http.StatusTooManyRequests || (ge.Code == http.StatusForbidden && rateLimitReasons[Reason(ge)])
}

// ClassifyAnswer tells httpx that Google's 403 rateLimitExceeded and userRateLimitExceeded are
// throttles like a 429 (the generated clients retry neither): httpx backs off, fences the user
// and reports the throttle.
func ClassifyAnswer(resp *http.Response, body []byte) httpx.Decision {
	if resp.StatusCode == http.StatusForbidden && rateLimitReasons[reasonOf(body)] {
		return httpx.RetryAfter
	}
	return httpx.DefaultClassify(resp, body)
}

// Backoff is Google's documented exponential backoff for its throttles, which carry no
// Retry-After (httpx.Options.ThrottleWait): before retry n, 2^(n-1) seconds plus a random
// fraction of a second, at most 64 seconds.
func Backoff(n int) time.Duration {
	d := 64 * time.Second
	if n >= 1 && n <= 6 {
		d = time.Duration(1<<(n-1)) * time.Second
	}
	return d + time.Duration(rand.Int64N(int64(time.Second)))
}

func reasonOf(body []byte) string {
	var e struct {
		Error struct {
			Errors []struct {
				Reason string `json:"reason"`
			} `json:"errors"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil || len(e.Error.Errors) == 0 {
		return ""
	}
	return e.Error.Errors[0].Reason
}

// Err is err's *googleapi.Error, if any.
func Err(err error) (*googleapi.Error, bool) {
	var ge *googleapi.Error
	if errors.As(err, &ge) {
		return ge, true
	}
	return nil, false
}

// Reason is the first error reason of a Google answer ("" when none).
func Reason(ge *googleapi.Error) string {
	if len(ge.Errors) > 0 {
		return ge.Errors[0].Reason
	}
	return ""
}

// IsCode reports whether err is Google's answer with one of codes.
func IsCode(err error, codes ...int) bool {
	ge, ok := Err(err)
	if !ok {
		return false
	}
	for _, c := range codes {
		if ge.Code == c {
			return true
		}
	}
	return false
}

// NotEnabled reports whether err is Google's answer for an API not enabled in the project (403
// accessNotConfigured, SERVICE_DISABLED).
func NotEnabled(err error) bool {
	ge, ok := Err(err)
	return ok && ge.Code == http.StatusForbidden && (Reason(ge) == "accessNotConfigured" || strings.Contains(ge.Message, "has not been used in project") || strings.Contains(ge.Message, "is disabled"))
}

// Plain strips net/http's *url.Error from a failure the transport returned (a refused token): its
// text repeats the request's URL, which tells the admin nothing.
func Plain(err error) error {
	var ue *url.Error
	for errors.As(err, &ue) && ue.Err != nil {
		err = ue.Err
	}
	return err
}
