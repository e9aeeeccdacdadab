package api

import (
	"context"
	"net/http"

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/auth"
	"github.com/telltale-dev/telltale/internal/settings"
)

func (s *Server) settingRoutes() []Route {
	return []Route{
		{Method: "GET", Path: "/api/v1/settings", Need: auth.RoleReadOnly, Tag: "settings", Summary: "Trusted domains and retention", Out: client.Settings{},
			Handle: func(r *http.Request, _ auth.Principal) (any, error) {
				return s.loadSettings(r.Context())
			}},
		{Method: "PUT", Path: "/api/v1/settings", Need: auth.RoleAdmin, Tag: "settings", Audit: "settings.update", Summary: "Replace trusted domains and retention",
			In: client.Settings{}, Out: client.Settings{}, Handle: s.putSettings},
	}
}

func (s *Server) loadSettings(ctx context.Context) (client.Settings, error) {
	st, err := settings.Load(ctx, s.store, s.retentionDays)
	return client.Settings{TrustedDomains: st.TrustedDomains, RetentionDays: st.RetentionDays}, err
}

func (s *Server) putSettings(r *http.Request, _ auth.Principal) (any, error) {
	var in client.Settings
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	if in.TrustedDomains == nil {
		return nil, invalidField("trusted_domains", "is required (send [] for none)")
	}
	saved, err := settings.Save(r.Context(), s.store, settings.Settings{TrustedDomains: in.TrustedDomains, RetentionDays: in.RetentionDays})
	if err != nil {
		return nil, invalid("%v", err)
	}
	noteAudit(r, "settings", map[string]any{"trusted_domains": saved.TrustedDomains, "retention_days": saved.RetentionDays})
	return client.Settings{TrustedDomains: saved.TrustedDomains, RetentionDays: saved.RetentionDays}, nil
}
