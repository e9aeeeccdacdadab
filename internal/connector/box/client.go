package box

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
	"sync"
	"time"

	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/httpx"
)

// apiClient is a thin REST client for the Box API calls the connector makes: the client
// credentials grant (re-minted before expiry; Box gives no refresh token for it), JSON GETs with the
// as-user header, and content downloads. Pacing, retries and Retry-After are httpx's.
type apiClient struct {
	http       *httpx.Client
	base       string // e.g. https://api.box.com
	enterprise string
	clientID   string
	secret     string
	clock      nower

	mu      sync.Mutex
	token   string
	expires time.Time
}

// boxError is a Box API error answer, classified. It unwraps to the HTTP answer, so that callers
// see its status and Retry-After (a throttle steers the scheduler; a 4xx on verify is the admin's).
type boxError struct {
	Status int
	Code   string
	Msg    string
	answer *httpx.StatusError
}

func (e *boxError) Unwrap() error { return e.answer }

func (e *boxError) Error() string {
	if e.Msg == "" {
		return fmt.Sprintf("box: %d %s", e.Status, e.Code)
	}
	return fmt.Sprintf("box: %d %s: %s", e.Status, e.Code, e.Msg)
}

func (c *apiClient) accessToken(ctx context.Context, renew bool) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !renew && c.token != "" && c.clock.Now().Before(c.expires) {
		return c.token, nil
	}
	form := url.Values{
		"grant_type":       {"client_credentials"},
		"client_id":        {c.clientID},
		"client_secret":    {c.secret},
		"box_subject_type": {"enterprise"},
		"box_subject_id":   {c.enterprise},
	}
	body := []byte(form.Encode())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/oauth2/token", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	_, b, err := c.http.Do(ctx, "box:token", req, 1<<20)
	if err != nil {
		return "", tokenError(err, c.enterprise)
	}
	var t apiToken
	if err := json.Unmarshal(b, &t); err != nil || t.AccessToken == "" {
		return "", fmt.Errorf("%w: box token answer without access_token", connector.ErrMalformed)
	}
	ttl := time.Duration(t.ExpiresIn) * time.Second
	if ttl <= 0 {
		ttl = time.Hour
	}
	c.token = t.AccessToken
	c.expires = c.clock.Now().Add(ttl - ttl/10) // renew before Box expires it
	return c.token, nil
}

// tokenError turns a refused token request into an error that says what the admin must fix.
func tokenError(err error, enterprise string) error {
	var se *httpx.StatusError
	if !errors.As(err, &se) {
		return fmt.Errorf("box: requesting an access token: %w", err)
	}
	var oe apiOAuthError
	_ = json.Unmarshal(se.Body, &oe)
	desc := strings.ToLower(oe.ErrorDescription)
	switch {
	case oe.Error == "invalid_client":
		return fmt.Errorf("%w: Box refused the client ID or client secret (%s): copy both again from the app's Configuration tab in the Box Developer Console", connector.ErrAuth, oe.ErrorDescription)
	case oe.Error == "unauthorized_client" || strings.Contains(desc, "unauthorized") || strings.Contains(desc, "not authorized"):
		return fmt.Errorf("%w: the app is not authorized in this enterprise (%s): in the Box Admin Console open Integrations > Platform Apps Manager, add the app by its client ID and authorize it", connector.ErrAuth, oe.ErrorDescription)
	case oe.Error == "invalid_grant" || strings.Contains(desc, "enterprise") || strings.Contains(desc, "subject"):
		return fmt.Errorf("%w: Box did not accept enterprise ID %s for this app (%s): check the enterprise ID (Admin Console > Account & Billing) and that the app uses the Client Credentials Grant", connector.ErrAuth, enterprise, oe.ErrorDescription)
	case se.Code == http.StatusUnauthorized || se.Code == http.StatusBadRequest || se.Code == http.StatusForbidden:
		return fmt.Errorf("%w: Box refused the token request: %s %s", connector.ErrAuth, oe.Error, oe.ErrorDescription)
	}
	return fmt.Errorf("box: requesting an access token: %w", err)
}

// getJSON GETs base+path with query q, as the given user when asUser is not empty, into out.
func (c *apiClient) getJSON(ctx context.Context, path string, q url.Values, asUser string, out any) error {
	b, err := c.call(ctx, path, q, asUser)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%w: box %s: %v", connector.ErrMalformed, path, err)
	}
	return nil
}

func (c *apiClient) call(ctx context.Context, path string, q url.Values, asUser string) ([]byte, error) {
	renewed := false
	for {
		tok, err := c.accessToken(ctx, false)
		if err != nil {
			return nil, err
		}
		u := c.base + "/2.0" + path
		if len(q) > 0 {
			u += "?" + q.Encode()
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, err
		}
		key := authorize(req, tok, asUser)
		_, b, err := c.http.Do(ctx, key, req, 64<<20)
		if err == nil {
			return b, nil
		}
		var se *httpx.StatusError
		if errors.As(err, &se) && se.Code == http.StatusUnauthorized && !renewed {
			// The token expired or was revoked: mint a new one once.
			c.mu.Lock()
			c.token = ""
			c.mu.Unlock()
			renewed = true
			continue
		}
		return nil, classify(err)
	}
}

// classify maps a Box error answer to the connector's error kinds.
func classify(err error) error {
	var se *httpx.StatusError
	if !errors.As(err, &se) {
		return err
	}
	var ae apiError
	_ = json.Unmarshal(se.Body, &ae)
	be := &boxError{Status: se.Code, Code: ae.Code, Msg: ae.Message, answer: se}
	switch {
	case se.Code == http.StatusUnauthorized:
		return fmt.Errorf("%w: %v", connector.ErrAuth, be)
	case se.Code == http.StatusForbidden && (ae.Code == "access_denied_insufficient_permissions" || ae.Code == "insufficient_scope"):
		return fmt.Errorf("%w: %v", connector.ErrPermission, be)
	}
	return be
}

// content opens a file's bytes as a user (Box answers with a redirect to its download host).
func (c *apiClient) content(ctx context.Context, asUser, fileID string) (io.ReadCloser, error) {
	tok, err := c.accessToken(ctx, false)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/2.0/files/"+url.PathEscape(fileID)+"/content", nil)
	if err != nil {
		return nil, err
	}
	key := authorize(req, tok, asUser)
	resp, err := c.http.Stream(ctx, key, req)
	if err != nil {
		return nil, classify(err)
	}
	return resp.Body, nil
}

func isStatus(err error, codes ...int) bool {
	var be *boxError
	if errors.As(err, &be) {
		for _, c := range codes {
			if be.Status == c {
				return true
			}
		}
	}
	var se *httpx.StatusError
	if errors.As(err, &se) {
		for _, c := range codes {
			if se.Code == c {
				return true
			}
		}
	}
	return false
}

// postJSON POSTs a JSON body as the given user. It is used only to register webhooks: Telltale never
// writes content (R1.12).
func (c *apiClient) postJSON(ctx context.Context, path string, in, out any, asUser string) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	tok, err := c.accessToken(ctx, false)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/2.0"+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	req.Header.Set("Content-Type", "application/json")
	key := authorize(req, tok, asUser)
	_, b, err := c.http.Do(ctx, key, req, 1<<20)
	if err != nil || out == nil {
		return classify(err)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%w: box: POST %s: %v", connector.ErrMalformed, path, err)
	}
	return nil
}

// deleteWebhook DELETEs one of this app's webhooks as the user who registered it; one that is gone
// already is not an error. Like postJSON it serves only Telltale's own webhooks (R1.12).
func (c *apiClient) deleteWebhook(ctx context.Context, id, asUser string) error {
	tok, err := c.accessToken(ctx, false)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, c.base+"/2.0/webhooks/"+url.PathEscape(id), nil)
	if err != nil {
		return err
	}
	key := authorize(req, tok, asUser)
	_, _, err = c.http.Do(ctx, key, req, 1<<20)
	if isStatus(err, http.StatusNotFound) {
		return nil
	}
	return classify(err)
}

// authorize sets the bearer token and, for calls made as a managed user, the as-user header, and
// returns the pacing key: Box limits requests per user, and as-user calls count against that user.
func authorize(req *http.Request, token, asUser string) string {
	req.Header.Set("Authorization", "Bearer "+token)
	if asUser == "" {
		return "box:enterprise"
	}
	req.Header.Set("As-User", asUser)
	return "box:user:" + asUser
}
