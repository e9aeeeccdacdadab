package gmail

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"

	admin "google.golang.org/api/admin/directory/v1"
	gmailapi "google.golang.org/api/gmail/v1"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"

	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/connector/kit/oauth"
	"github.com/telltale-dev/telltale/internal/httpx"
)

// The auth, transport and error classification below follow the Google Drive connector's
// (internal/connector/googledrive/client.go) closely. They are kept here rather than shared:
// connectors may not import each other (archtest), and a kit/google package would have to carry
// each connector's own wording (which scopes to delegate, which API to enable).

// services are Google's generated clients acting as one user. Their requests go through the
// session's httpx client (pacing per user, retries, the SSRF guard) with that user's token from
// the kit's JWT source.
type services struct {
	gmail *gmailapi.Service
	dir   *admin.Service
}

// errBadSubject: Google refused to mint a token for the impersonated user (unknown, suspended or
// archived: 400 invalid_grant "Invalid email or User ID").
var errBadSubject = errors.New("google refused to act as this user")

// source is subject's token source, made once per session.
func (s *session) source(subject string) *oauth.Source {
	s.mu.Lock()
	defer s.mu.Unlock()
	src := s.sources[subject]
	if src == nil {
		cfg := s.jwt
		cfg.Subject = subject
		src = oauth.JWT(cfg, oauth.Options{HTTP: s.hc, Key: "google:token", Clock: s.deps.Clock})
		s.sources[subject] = src
	}
	return src
}

// as returns the clients acting as subject.
func (s *session) as(subject string) (*services, error) {
	s.mu.Lock()
	svc := s.svcs[subject]
	s.mu.Unlock()
	if svc != nil {
		return svc, nil
	}
	hc := &http.Client{Transport: &transport{s: s, subject: subject}, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse // httpx follows redirects itself
	}}
	ctx := context.Background()
	g, err := gmailapi.NewService(ctx, option.WithHTTPClient(hc), option.WithEndpoint(s.gmailURL))
	if err != nil {
		return nil, fmt.Errorf("gmail: gmail client: %w", err)
	}
	a, err := admin.NewService(ctx, option.WithHTTPClient(hc), option.WithEndpoint(s.dirURL))
	if err != nil {
		return nil, fmt.Errorf("gmail: directory client: %w", err)
	}
	svc = &services{gmail: g, dir: a}
	s.mu.Lock()
	s.svcs[subject] = svc
	s.mu.Unlock()
	return svc, nil
}

// transport authorizes a request as its subject and sends it through httpx. A 401 mints a new
// token once.
type transport struct {
	s       *session
	subject string
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	src := t.s.source(t.subject)
	key := "google:user:" + t.subject
	for renewed := false; ; renewed = true {
		tok, err := src.Token(ctx)
		if err != nil {
			return nil, t.s.tokenError(err, t.subject)
		}
		r := req.Clone(ctx)
		r.Header.Set("Authorization", "Bearer "+tok)
		resp, _, err := t.s.hc.Do(ctx, key, r, 0)
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

// rateLimitReasons are the reasons of Google's over-quota 403s.
var rateLimitReasons = map[string]bool{"rateLimitExceeded": true, "userRateLimitExceeded": true}

// classifyAnswer tells httpx that Google's 403 rateLimitExceeded and userRateLimitExceeded are
// throttles like a 429 (the generated clients retry neither).
func classifyAnswer(resp *http.Response, body []byte) httpx.Decision {
	if resp.StatusCode == http.StatusForbidden && rateLimitReasons[reasonOf(body)] {
		return httpx.RetryAfter
	}
	return httpx.DefaultClassify(resp, body)
}

// googleBackoff is Google's documented exponential backoff for its throttles, which carry no
// Retry-After: before retry n, 2^(n-1) seconds plus a random fraction of a second, at most 64 s.
func googleBackoff(n int) time.Duration {
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

// googleErr is err's *googleapi.Error, if any.
func googleErr(err error) (*googleapi.Error, bool) {
	var ge *googleapi.Error
	if errors.As(err, &ge) {
		return ge, true
	}
	return nil, false
}

// reason is the first error reason of a Google answer ("" when none).
func reason(ge *googleapi.Error) string {
	if len(ge.Errors) > 0 {
		return ge.Errors[0].Reason
	}
	return ""
}

// isCode reports whether err is Google's answer with code.
func isCode(err error, code int) bool {
	ge, ok := googleErr(err)
	return ok && ge.Code == code
}

// mailOff reports whether err is Gmail's answer for a user without the Gmail service
// (400 failedPrecondition "Mail service not enabled").
func mailOff(err error) bool {
	ge, ok := googleErr(err)
	return ok && ge.Code == http.StatusBadRequest && strings.Contains(strings.ToLower(ge.Message), "mail service not enabled")
}

// notEnabled reports whether err is Google's answer for an API not enabled in the project
// (403 accessNotConfigured / SERVICE_DISABLED).
func notEnabled(err error) bool {
	ge, ok := googleErr(err)
	return ok && ge.Code == http.StatusForbidden && (reason(ge) == "accessNotConfigured" || strings.Contains(ge.Message, "has not been used in project") || strings.Contains(ge.Message, "is disabled"))
}

// classify names what failed and turns Google's throttles into httpx.ThrottledError (the
// scheduler comes back later instead of counting a failure) and a refused token into ErrAuth.
func (s *session) classify(err error, format string, a ...any) error {
	err = plain(err)
	what := fmt.Sprintf(format, a...)
	ge, ok := googleErr(err)
	if !ok {
		return fmt.Errorf("gmail: %s: %w", what, err)
	}
	switch {
	case ge.Code == http.StatusTooManyRequests || (ge.Code == http.StatusForbidden && rateLimitReasons[reason(ge)]):
		until := s.deps.Clock.Now().Add(time.Minute) // Google sends no Retry-After: back off a minute
		return fmt.Errorf("gmail: %s: %w", what, httpx.Throttled("google", until, fmt.Sprintf("Google answered %d %s", ge.Code, reason(ge))))
	case ge.Code == http.StatusUnauthorized:
		return fmt.Errorf("%w: gmail: %s: Google refused the access token twice (%v)", connector.ErrAuth, what, ge)
	case notEnabled(err):
		return fmt.Errorf("%w: gmail: %s: the Gmail API is not enabled in the service account's project (%d %s: %s): enable it in the Cloud console (APIs & Services > Library > Gmail API)",
			connector.ErrPermission, what, ge.Code, reason(ge), ge.Message)
	}
	return fmt.Errorf("gmail: %s: %w", what, err)
}

// mailboxErr classifies a failure on one mailbox: a mailbox Telltale cannot read (Gmail off for
// the user, the user gone or suspended since discovery) is ErrInaccessible, which marks only it.
func (s *session) mailboxErr(err error, mailbox, what string) error {
	err = plain(err)
	switch {
	case mailOff(err):
		return fmt.Errorf("%w: gmail: %s of %s: Gmail is turned off for the user (%v): turn it on in the Admin console (Apps > Google Workspace > Gmail > Service status) for the user's organizational unit",
			connector.ErrInaccessible, what, mailbox, err)
	case errors.Is(err, errBadSubject):
		return fmt.Errorf("%w: gmail: %s of %s: %v", connector.ErrInaccessible, what, mailbox, err)
	}
	return s.classify(err, "%s of %s", what, mailbox)
}

// plain strips net/http's *url.Error from a failure the transport returned (a refused token):
// its text repeats the request's URL, which tells the admin nothing.
func plain(err error) error {
	var ue *url.Error
	for errors.As(err, &ue) && ue.Err != nil {
		err = ue.Err
	}
	return err
}

// tokenError says what the admin must fix when Google refuses to mint a token for subject.
func (s *session) tokenError(err error, subject string) error {
	var re *oauth.RefusedError
	if !errors.As(err, &re) {
		return err // an outage, a throttle, a malformed answer: the kit's own error
	}
	sa, id := s.jwt.Email, cmpOr(s.clientIDFromKey, "(the service account's Unique ID)")
	desc := re.Description
	switch {
	case re.Code == "unauthorized_client":
		return fmt.Errorf("%w: Google refused domain-wide delegation to service account %s acting as %s (%d %s: %s): in the Admin console open Security > Access and data control > API controls > Manage Domain Wide Delegation and give client ID %s exactly these scopes: %s",
			connector.ErrPermission, sa, subject, re.Status, re.Code, desc, id, strings.Join(Scopes, ","))
	case strings.Contains(desc, "Invalid JWT Signature"):
		return fmt.Errorf("%w: Google does not accept the key of service account %s (%s %q): the key was deleted or is not this account's; add a new JSON key under the service account's Keys in the Cloud console and paste it",
			connector.ErrAuth, sa, re.Code, desc)
	case strings.Contains(desc, "account not found"):
		return fmt.Errorf("%w: Google does not know service account %s (%s %q): it was deleted or disabled; create or enable it in the Cloud console, add a JSON key and paste it",
			connector.ErrAuth, sa, re.Code, desc)
	case strings.Contains(desc, "Invalid email or User ID"):
		return fmt.Errorf("%w: %w: Google cannot act as %s (%s %q): the user does not exist, or is suspended or archived", connector.ErrAuth, errBadSubject, subject, re.Code, desc)
	case strings.Contains(desc, "short-lived"):
		return fmt.Errorf("%w: Google refused the token request's times (%s %q): check this node's clock (NTP)", connector.ErrAuth, re.Code, desc)
	}
	return fmt.Errorf("%w: Google refused the token request for %s: %d %s %q", connector.ErrAuth, subject, re.Status, re.Code, desc)
}
