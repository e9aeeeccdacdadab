package googledrive

import (
	"context"
	"fmt"

	admin "google.golang.org/api/admin/directory/v1"
	reports "google.golang.org/api/admin/reports/v1"
	"google.golang.org/api/drive/v3"
	"google.golang.org/api/option"

	"github.com/telltale-dev/telltale/internal/connector/kit/googlekit"
)

// services are Google's generated clients, one set per session. Their requests go through the
// session's httpx client (pacing per user, retries, Retry-After, the SSRF guard) with the token of
// the user the request's context acts as (googlekit.As: the service account with domain-wide
// delegation, shared with Gmail). One set for every user keeps memory flat in the number of drives.
type services struct {
	drive   *drive.Service
	dir     *admin.Service
	reports *reports.Service
}

// newServices makes the session's clients.
func newServices(g *googlekit.Client, driveURL, dirURL string) (*services, error) {
	hc := g.HTTPClient()
	ctx := context.Background()
	d, err := drive.NewService(ctx, option.WithHTTPClient(hc), option.WithEndpoint(driveURL))
	if err != nil {
		return nil, fmt.Errorf("google drive: drive client: %w", err)
	}
	a, err := admin.NewService(ctx, option.WithHTTPClient(hc), option.WithEndpoint(dirURL))
	if err != nil {
		return nil, fmt.Errorf("google drive: directory client: %w", err)
	}
	r, err := reports.NewService(ctx, option.WithHTTPClient(hc), option.WithEndpoint(dirURL))
	if err != nil {
		return nil, fmt.Errorf("google drive: reports client: %w", err)
	}
	return &services{drive: d, dir: a, reports: r}, nil
}

// as returns ctx acting as subject and the session's clients: every call made with them must
// pass that ctx (.Context(ctx)), or it is refused (googlekit.ErrNoSubject).
func (s *session) as(ctx context.Context, subject string) (context.Context, *services) {
	return googlekit.As(ctx, subject), s.svcs
}
