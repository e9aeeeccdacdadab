package api

import (
	"context"
	"net/http"

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/auth"
	"github.com/telltale-dev/telltale/internal/health"
	"github.com/telltale-dev/telltale/internal/integration"
	"github.com/telltale-dev/telltale/internal/store"
)

// Environment health (issue 18, R8.1): internal/health builds the view; this is its route.

func (s *Server) healthRoutes() []Route {
	return []Route{
		{Method: "GET", Path: "/api/v1/health", Need: auth.RoleReadOnly, Tag: "health",
			Summary: "Environment health: every connection's status and history (blind spots first), last event and ingest lag per connection and stream, throttling now and over the last day, integrations and forwarders, device check-in coverage, and warnings (silent connections, feeds that disagree, rule health, unmonitored watchlist members). Bounded: at most 500 connections, 10 status changes and 20 streams each, 200 warnings; truncated says when a list was cut.",
			Out:     client.Health{}, Handle: s.getHealth},
	}
}

func (s *Server) getHealth(r *http.Request, p auth.Principal) (any, error) {
	h, err := health.New(health.Options{Store: s.store, Clock: s.clock, DeviceSilentAfter: s.devOpts.SilentAfter, HRSources: s.hrSources}).Report(r.Context())
	if err != nil {
		return nil, err
	}
	// SIEM destinations are an admin's (GET /api/v1/forward-destinations): others see their
	// state, not the destination's answers.
	if p.Role != auth.RoleAdmin {
		for i := range h.Forwarders {
			if h.Forwarders[i].LastError != "" {
				h.Forwarders[i].LastError = "(shown to admins)"
			}
		}
	}
	return h, nil
}

// hrSources are the connected HR sources with when each last synced successfully (a source never
// synced counts from when it was added), for the health check "HR source silent".
func (s *Server) hrSources(ctx context.Context) ([]health.HRSource, error) {
	is, err := s.store.ListIntegrations(ctx)
	if err != nil {
		return nil, err
	}
	var out []health.HRSource
	for _, i := range is {
		if !integration.IsHR(i.Kind) || i.Status != store.IntegrationConnected {
			continue
		}
		st, err := s.store.GetHRSync(ctx, i.ID)
		if err != nil {
			return nil, err
		}
		last := st.LastOKAt
		if last.IsZero() {
			last = i.CreatedAt
		}
		out = append(out, health.HRSource{Name: i.Name, LastSyncAt: last})
	}
	return out, nil
}
