package api

import (
	"context"
	"net/http"

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/auth"
	"github.com/telltale-dev/telltale/internal/risk"
	"github.com/telltale-dev/telltale/internal/settings"
)

func (s *Server) settingRoutes() []Route {
	return []Route{
		{Method: "GET", Path: "/api/v1/settings", Need: auth.RoleReadOnly, Tag: "settings", Summary: "Trusted domains, retention and risk settings", Out: client.Settings{},
			Handle: func(r *http.Request, _ auth.Principal) (any, error) {
				return s.loadSettings(r.Context())
			}},
		{Method: "PUT", Path: "/api/v1/settings", Need: auth.RoleAdmin, Tag: "settings", Audit: "settings.update", Summary: "Replace trusted domains, retention and (when given) risk settings",
			In: client.Settings{}, Out: client.Settings{}, Handle: s.putSettings},
	}
}

func (s *Server) loadSettings(ctx context.Context) (client.Settings, error) {
	st, err := settings.Load(ctx, s.store, s.retentionDays)
	return wireSettings(st), err
}

func wireSettings(st settings.Settings) client.Settings {
	r := st.Risk
	return client.Settings{TrustedDomains: st.TrustedDomains, RetentionDays: st.RetentionDays, Risk: &client.RiskSettings{
		Weights: r.Weights, Bands: client.RiskBands(r.Bands), WorkingHours: client.WorkingHours(r.WorkingHours)}}
}

func (s *Server) putSettings(r *http.Request, _ auth.Principal) (any, error) {
	var in client.Settings
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	if in.TrustedDomains == nil {
		return nil, invalidField("trusted_domains", "is required (send [] for none)")
	}
	next := settings.Settings{TrustedDomains: in.TrustedDomains, RetentionDays: in.RetentionDays}
	if in.Risk != nil {
		next.Risk = risk.Config{Weights: in.Risk.Weights, Bands: risk.Bands(in.Risk.Bands), WorkingHours: risk.WorkingHours(in.Risk.WorkingHours)}
	} else {
		cur, err := settings.Load(r.Context(), s.store, s.retentionDays)
		if err != nil {
			return nil, err
		}
		next.Risk = cur.Risk // a PUT without risk keeps it
	}
	saved, err := settings.Save(r.Context(), s.store, next)
	if err != nil {
		return nil, invalid("%v", err)
	}
	out := wireSettings(saved)
	noteAudit(r, "settings", map[string]any{"trusted_domains": saved.TrustedDomains, "retention_days": saved.RetentionDays, "risk": out.Risk})
	return out, nil
}
