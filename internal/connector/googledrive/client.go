package googledrive

import (
	"context"
	"fmt"

	admin "google.golang.org/api/admin/directory/v1"
	reports "google.golang.org/api/admin/reports/v1"
	"google.golang.org/api/drive/v3"
	"google.golang.org/api/option"
)

// services are Google's generated clients acting as one user. Their requests go through the
// session's httpx client (pacing per user, retries, Retry-After, the SSRF guard) with that user's
// token (googlekit: the service account with domain-wide delegation, shared with Gmail).
type services struct {
	drive   *drive.Service
	dir     *admin.Service
	reports *reports.Service
}

// as returns the clients acting as subject.
func (s *session) as(subject string) (*services, error) {
	s.mu.Lock()
	svc := s.svcs[subject]
	s.mu.Unlock()
	if svc != nil {
		return svc, nil
	}
	hc := s.g.HTTPClient(subject)
	ctx := context.Background()
	d, err := drive.NewService(ctx, option.WithHTTPClient(hc), option.WithEndpoint(s.driveURL))
	if err != nil {
		return nil, fmt.Errorf("google drive: drive client: %w", err)
	}
	a, err := admin.NewService(ctx, option.WithHTTPClient(hc), option.WithEndpoint(s.dirURL))
	if err != nil {
		return nil, fmt.Errorf("google drive: directory client: %w", err)
	}
	r, err := reports.NewService(ctx, option.WithHTTPClient(hc), option.WithEndpoint(s.dirURL))
	if err != nil {
		return nil, fmt.Errorf("google drive: reports client: %w", err)
	}
	svc = &services{drive: d, dir: a, reports: r}
	s.mu.Lock()
	s.svcs[subject] = svc
	s.mu.Unlock()
	return svc, nil
}
