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

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/connector/kit/oauth"
	"github.com/telltale-dev/telltale/internal/httpx"
)

// apiClient is a thin REST client for the Box API calls the connector makes: the client
// credentials grant (the kit's token source, re-minted before expiry on the injected clock; Box
// gives no refresh token for it), JSON GETs with the as-user header, and content downloads.
// Pacing, retries and Retry-After are httpx's.
type apiClient struct {
	http       *httpx.Client
	base       string // e.g. https://api.box.com
	enterprise string
	tokens     *oauth.Source
}

// newAPIClient is the client of one connection: its token requests go through hc like every other
// call, with Box's extras for an enterprise's service account.
func newAPIClient(hc *httpx.Client, base, enterprise, clientID, secret string, clk nower) *apiClient {
	cfg := clientcredentials.Config{
		ClientID: clientID, ClientSecret: secret, TokenURL: base + "/oauth2/token",
		AuthStyle:      oauth2.AuthStyleInParams,
		EndpointParams: url.Values{"box_subject_type": {"enterprise"}, "box_subject_id": {enterprise}},
	}
	return &apiClient{http: hc, base: base, enterprise: enterprise,
		tokens: oauth.ClientCredentials(cfg, oauth.Options{HTTP: hc, Key: "box:token", Limit: 1 << 20, Clock: clk})}
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

// accessToken is the enterprise's token; renew drops the cached one first (Verify checks the
// credentials as they are now).
func (c *apiClient) accessToken(ctx context.Context, renew bool) (string, error) {
	if renew {
		c.tokens.Invalidate("")
	}
	tok, err := c.tokens.Token(ctx)
	if err != nil {
		return "", tokenError(err, c.enterprise)
	}
	return tok, nil
}

// tokenError turns a failed token request into an error that says what the admin must fix.
func tokenError(err error, enterprise string) error {
	if errors.Is(err, connector.ErrMalformed) {
		return fmt.Errorf("%w: box token answer without access_token", connector.ErrMalformed)
	}
	var re *oauth.RefusedError
	if !errors.As(err, &re) {
		return fmt.Errorf("box: requesting an access token: %w", err)
	}
	desc := strings.ToLower(re.Description)
	switch {
	case re.Code == "invalid_client":
		return fmt.Errorf("%w: Box refused the client ID or client secret (%s): copy both again from the app's Configuration tab in the Box Developer Console", connector.ErrAuth, re.Description)
	case re.Code == "unauthorized_client" || strings.Contains(desc, "unauthorized") || strings.Contains(desc, "not authorized"):
		return fmt.Errorf("%w: the app is not authorized in this enterprise (%s): in the Box Admin Console open Integrations > Platform Apps Manager, add the app by its client ID and authorize it", connector.ErrAuth, re.Description)
	case re.Code == "invalid_grant" || strings.Contains(desc, "enterprise") || strings.Contains(desc, "subject"):
		return fmt.Errorf("%w: Box did not accept enterprise ID %s for this app (%s): check the enterprise ID (Admin Console > Account & Billing) and that the app uses the Client Credentials Grant", connector.ErrAuth, enterprise, re.Description)
	}
	return fmt.Errorf("%w: Box refused the token request: %s %s", connector.ErrAuth, re.Code, re.Description)
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
			c.tokens.Invalidate(tok)
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
