package gmail

import (
	"context"

	"errors"
	"fmt"

	"net/http"

	"strings"

	admin "google.golang.org/api/admin/directory/v1"
	gmailapi "google.golang.org/api/gmail/v1"

	"google.golang.org/api/option"

	"github.com/telltale-dev/telltale/internal/connector"

	"github.com/telltale-dev/telltale/internal/connector/kit/googlekit"
)

// services are Google's generated clients, one set per session. Their requests go through the
// session's httpx client (pacing per user, retries, the SSRF guard) with the token of the user the
// request's context acts as (googlekit.As). One set for every mailbox keeps memory flat in their
// number.
type services struct {
	gmail *gmailapi.Service
	dir   *admin.Service
}

// newServices makes the session's clients.
func newServices(g *googlekit.Client, gmailURL, dirURL string) (*services, error) {
	hc := g.HTTPClient()
	ctx := context.Background()
	gm, err := gmailapi.NewService(ctx, option.WithHTTPClient(hc), option.WithEndpoint(gmailURL))
	if err != nil {
		return nil, fmt.Errorf("gmail: gmail client: %w", err)
	}
	a, err := admin.NewService(ctx, option.WithHTTPClient(hc), option.WithEndpoint(dirURL))
	if err != nil {
		return nil, fmt.Errorf("gmail: directory client: %w", err)
	}
	return &services{gmail: gm, dir: a}, nil
}

// as returns ctx acting as subject and the session's clients: every call made with them must
// pass that ctx (.Context(ctx)), or it is refused (googlekit.ErrNoSubject).
func (s *session) as(ctx context.Context, subject string) (context.Context, *services) {
	return googlekit.As(ctx, subject), s.svcs
}

// mailOff reports whether err is Gmail's answer for a user without the Gmail service
// (400 failedPrecondition "Mail service not enabled").
func mailOff(err error) bool {
	ge, ok := googlekit.Err(err)
	return ok && ge.Code == http.StatusBadRequest && strings.Contains(strings.ToLower(ge.Message), "mail service not enabled")
}

// mailboxErr classifies a failure on one mailbox: a mailbox Telltale cannot read (Gmail off for
// the user, the user gone or suspended since discovery) is ErrInaccessible, which marks only it.
func (s *session) mailboxErr(err error, mailbox, what string) error {
	err = googlekit.Plain(err)
	switch {
	case mailOff(err):
		return fmt.Errorf("%w: gmail: %s of %s: Gmail is turned off for the user (%v): turn it on in the Admin console (Apps > Google Workspace > Gmail > Service status) for the user's organizational unit",
			connector.ErrInaccessible, what, mailbox, err)
	case errors.Is(err, googlekit.ErrBadSubject):
		return fmt.Errorf("%w: gmail: %s of %s: %v", connector.ErrInaccessible, what, mailbox, err)
	}
	return s.g.Classify(err, "%s of %s", what, mailbox)
}
