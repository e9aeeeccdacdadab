package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/alert"
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
		{Method: "GET", Path: "/api/v1/trust/recommendations", Need: auth.RoleAdmin, Tag: "settings", Audit: "trust.recommendations", Reads: true,
			Summary: "Destination domains many people use often and no alert was confirmed on, offered for trust with their counts (never applied by themselves)",
			Out:     client.TrustRecommendations{}, Handle: s.trustRecommendations, Query: []Param{
				{"min_people", "people who used the domain, at least (default 5)"}, {"min_events", "events toward it in the last 30 days, at least (default 20)"}}},
		{Method: "GET", Path: "/api/v1/settings/sign-in-policy", Need: auth.RoleAdmin, Tag: "settings", Summary: "The sign-in policy: TOTP required of local admins, password sign-in off but for the break-glass admin",
			Out: client.SignInPolicy{}, Handle: func(r *http.Request, _ auth.Principal) (any, error) {
				p, err := s.auth.Policy(r.Context())
				return client.SignInPolicy(p), err
			}},
		{Method: "PUT", Path: "/api/v1/settings/sign-in-policy", Need: auth.RoleAdmin, Tag: "settings", Audit: "settings.sign_in_policy",
			Summary: "Replace the sign-in policy (password sign-in can be turned off only once an admin has signed in through an identity provider, and needs a break-glass admin)",
			In:      client.SignInPolicy{}, Out: client.SignInPolicy{}, Handle: s.putPolicy},
	}
}

func (s *Server) trustRecommendations(r *http.Request, _ auth.Principal) (any, error) {
	var o alert.TrustOptions
	for _, p := range []struct {
		name string
		to   func(int)
	}{{"min_people", func(n int) { o.MinPeople = n }}, {"min_events", func(n int) { o.MinEvents = int64(n) }}} {
		if v := r.URL.Query().Get(p.name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 1_000_000 {
				return nil, invalidField(p.name, "%q is not a whole number between 1 and 1000000", v)
			}
			p.to(n)
		}
	}
	st, err := settings.Load(r.Context(), s.store, s.retentionDays)
	if err != nil {
		return nil, err
	}
	recs, err := alert.Recommend(r.Context(), s.store, st.TrustedDomains, o, s.clock.Now())
	if err != nil {
		return nil, err
	}
	out := client.TrustRecommendations{Items: []client.TrustRecommendation{}}
	for _, x := range recs {
		out.Items = append(out.Items, client.TrustRecommendation{Domain: x.Domain, People: x.People, Events: x.Events, Truncated: x.Truncated, FirstSeen: x.FirstSeen})
	}
	return out, nil
}

func (s *Server) putPolicy(r *http.Request, _ auth.Principal) (any, error) {
	var in client.SignInPolicy
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	old, saved, err := s.auth.SetPolicy(r.Context(), auth.SignInPolicy(in))
	var pe *auth.PolicyError
	if errors.As(err, &pe) {
		return nil, withStatusOf(http.StatusUnprocessableEntity, &badRequest{msg: pe.Message})
	}
	if err != nil {
		return nil, err
	}
	noteAudit(r, "settings/sign_in_policy", map[string]any{"from": client.SignInPolicy(old), "to": client.SignInPolicy(saved)})
	return client.SignInPolicy(saved), nil
}

func (s *Server) loadSettings(ctx context.Context) (client.Settings, error) {
	st, err := settings.Load(ctx, s.store, s.retentionDays)
	return wireSettings(st), err
}

func wireSettings(st settings.Settings) client.Settings {
	r := st.Risk
	out := client.Settings{TrustedDomains: st.TrustedDomains, RetentionDays: st.RetentionDays, Risk: &client.RiskSettings{
		Weights: r.Weights, Bands: client.RiskBands(r.Bands), WorkingHours: client.WorkingHours(r.WorkingHours)},
		TrustedActivities: []client.TrustedActivity{}}
	for _, t := range st.TrustedActivities {
		out.TrustedActivities = append(out.TrustedActivities, client.TrustedActivity(t))
	}
	return out
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
	cur, err := settings.Load(r.Context(), s.store, s.retentionDays)
	if err != nil {
		return nil, err
	}
	if in.Risk != nil {
		next.Risk = risk.Config{Weights: in.Risk.Weights, Bands: risk.Bands(in.Risk.Bands), WorkingHours: risk.WorkingHours(in.Risk.WorkingHours)}
	} else {
		next.Risk = cur.Risk // a PUT without risk keeps it
	}
	if in.TrustedActivities != nil {
		next.TrustedActivities = []risk.TrustEntry{}
		for _, t := range in.TrustedActivities {
			next.TrustedActivities = append(next.TrustedActivities, risk.TrustEntry(t))
		}
	} else {
		next.TrustedActivities = cur.TrustedActivities // a PUT without them keeps them
	}
	saved, err := settings.Save(r.Context(), s.store, next)
	if err != nil {
		return nil, invalid("%v", err)
	}
	out := wireSettings(saved)
	noteAudit(r, "settings", map[string]any{"trusted_domains": saved.TrustedDomains, "retention_days": saved.RetentionDays, "risk": out.Risk,
		"trusted_activities": out.TrustedActivities})
	return out, nil
}
