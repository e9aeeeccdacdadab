package googlekit

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/api/googleapi"

	"github.com/telltale-dev/telltale/internal/clock"
	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/connector/kit/oauth"
	"github.com/telltale-dev/telltale/internal/httpx"
)

// TestBackoff: Google's exponential backoff, 1, 2, 4, ... seconds plus under a second, at most
// 64 s plus under a second.
func TestBackoff(t *testing.T) {
	for n, base := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 6: 32 * time.Second, 7: 64 * time.Second, 30: 64 * time.Second} {
		for range 20 {
			if d := Backoff(n); d < base || d >= base+time.Second {
				t.Fatalf("Backoff(%d) = %v, want [%v, %v)", n, d, base, base+time.Second)
			}
		}
	}
}

// TestClassify: what each Google answer becomes, named with the product.
func TestClassify(t *testing.T) {
	c := &Client{Product: Product{Name: "gmail", Scopes: []string{"s1", "s2"}, APIs: "Gmail API and Admin SDK API"}, Clock: clock.NewFake(time.Unix(0, 0))}
	ge := func(code int, reason, msg string) error {
		return &googleapi.Error{Code: code, Message: msg, Errors: []googleapi.ErrorItem{{Reason: reason}}}
	}
	var te *httpx.ThrottledError
	if err := c.Classify(ge(403, "userRateLimitExceeded", ""), "listing"); !errors.As(err, &te) || !strings.HasPrefix(err.Error(), "gmail: listing:") {
		t.Errorf("rate limit: %v", err)
	}
	if err := c.Classify(ge(401, "authError", ""), "listing"); !errors.Is(err, connector.ErrAuth) {
		t.Errorf("401: %v", err)
	}
	if err := c.Classify(ge(403, "accessNotConfigured", "Gmail API has not been used in project 1 before or it is disabled."), "x"); !errors.Is(err, connector.ErrPermission) ||
		!strings.Contains(err.Error(), "enable the Gmail API and Admin SDK API") {
		t.Errorf("not enabled: %v", err)
	}
	if err := c.Classify(ge(500, "backendError", ""), "x"); errors.Is(err, connector.ErrPermission) || errors.As(err, &te) {
		t.Errorf("500: %v", err)
	}
	refused := &oauth.RefusedError{Status: http.StatusUnauthorized, Code: "unauthorized_client", Description: "Client is unauthorized"}
	if err := c.TokenError(refused, "ann@example.com"); !errors.Is(err, connector.ErrPermission) || !strings.Contains(err.Error(), "exactly these scopes: s1,s2") {
		t.Errorf("delegation: %v", err)
	}
	bad := &oauth.RefusedError{Status: 400, Code: "invalid_grant", Description: "Invalid email or User ID"}
	if err := c.TokenError(bad, "gone@example.com"); !errors.Is(err, ErrBadSubject) {
		t.Errorf("bad subject: %v", err)
	}
}
