package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/auth"
	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/store"
)

// Dashboards (issue 18, R8.4): the Risk Exposure and Insider risk trends dashboards read the
// counts the store keeps per hour and day as events are committed (store.DashboardQueries), so a
// request reads at most a few hundred buckets per chart whatever the number of events.

// Bounds of a dashboard request: every answer is bounded by them.
const (
	maxDashDays     = 366 // the longest range
	maxHourlyDays   = 14  // the longest range drawn per hour (336 buckets)
	defaultDashTop  = 10
	maxDashTop      = 100
	landingPageKey  = "landing_page"
	landingExposure = "risk_exposure"
	landingHealth   = "health"
)

var dashRangeParams = []Param{
	{"range", "24h, 7d, 30d, 90d or 365d: the last so long until now (default 7d); or give from and to"},
	{"from", "the range's start, RFC 3339 or a date (2026-11-01)"},
	{"to", "the range's end, excluded, RFC 3339 or a date (default: now)"},
	{"step", "hour or day (default: hour for ranges up to 2 days, else day); hour for at most 14 days"},
	{"top", "1 to 100 values per top list (default 10)"},
}

func (s *Server) dashboardRoutes() []Route {
	const tag = "dashboards"
	return []Route{
		{Method: "GET", Path: "/api/v1/dashboards/risk-exposure", Need: auth.RoleReadOnly, Tag: tag,
			Summary: "Risk Exposure: events toward untrusted destinations per hour or day by vector (public link, external share, e-mail, endpoint), top people, devices and destinations; drill down by one of them",
			Out:     client.RiskExposure{}, Handle: s.riskExposure, Query: append(slices.Clone(dashRangeParams),
				Param{"vector", "public_link, external_share, email or endpoint: only this vector"},
				Param{"person", "drill down: this person's events (an address)"},
				Param{"device", "drill down: this device's events (device/ID)"},
				Param{"destination", "drill down: events toward this domain"})},
		{Method: "GET", Path: "/api/v1/dashboards/insider-risk", Need: auth.RoleReadOnly, Tag: tag,
			Summary: "Insider risk trends: people with risky events per hour or day, top departments, file categories and vectors of the events toward untrusted destinations, alerts by severity and state",
			Out:     client.InsiderRiskTrends{}, Handle: s.insiderRisk, Query: dashRangeParams},
		{Method: "GET", Path: "/api/v1/settings/landing-page", Need: auth.RoleReadOnly, Tag: "settings",
			Summary: "Where the console sends people after sign-in: risk_exposure (default) or health",
			Out:     client.LandingPage{}, Handle: func(r *http.Request, _ auth.Principal) (any, error) { return s.landingPage(r) }},
		{Method: "PUT", Path: "/api/v1/settings/landing-page", Need: auth.RoleAdmin, Tag: "settings", Audit: "settings.landing_page",
			Summary: "Choose the console's page after sign-in for everyone: risk_exposure or health",
			In:      client.LandingPage{}, Out: client.LandingPage{}, MaxBody: 1 << 10, Handle: s.putLandingPage},
	}
}

// parseDashQuery reads the range, step and top of a dashboard request.
func (s *Server) parseDashQuery(r *http.Request) (store.DashQuery, int, error) {
	in := r.URL.Query()
	now := s.clock.Now().UTC()
	q := store.DashQuery{To: now}
	parseTime := func(field, v string) (time.Time, error) {
		if t, err := time.Parse(time.RFC3339, v); err == nil {
			return t.UTC(), nil
		}
		if t, err := time.Parse(time.DateOnly, v); err == nil {
			return t, nil
		}
		return time.Time{}, invalidField(field, "%q is neither RFC 3339 (2026-11-01T09:00:00Z) nor a date (2026-11-01)", clip(v, 40))
	}
	from, to := in.Get("from"), in.Get("to")
	switch rg := in.Get("range"); {
	case rg != "" && (from != "" || to != ""):
		return q, 0, invalidField("range", "give either range or from and to, not both")
	case from != "":
		var err error
		if q.From, err = parseTime("from", from); err != nil {
			return q, 0, err
		}
		if to != "" {
			if q.To, err = parseTime("to", to); err != nil {
				return q, 0, err
			}
		}
	case to != "":
		return q, 0, invalidField("from", "is required with to")
	default:
		if rg == "" {
			rg = "7d"
		}
		var d time.Duration
		if n, err := strconv.Atoi(strings.TrimSuffix(rg, "d")); err == nil && strings.HasSuffix(rg, "d") && n > 0 {
			d = time.Duration(n) * 24 * time.Hour
		} else if n, err := strconv.Atoi(strings.TrimSuffix(rg, "h")); err == nil && strings.HasSuffix(rg, "h") && n > 0 {
			d = time.Duration(n) * time.Hour
		} else {
			return q, 0, invalidField("range", "%q is not a number of hours or days such as 24h, 7d or 90d", clip(rg, 20))
		}
		q.From = now.Add(-d)
	}
	if !q.From.Before(q.To) {
		return q, 0, invalidField("from", "must be before to")
	}
	span := q.To.Sub(q.From)
	if span > maxDashDays*24*time.Hour {
		return q, 0, invalidField("range", "covers %d days; a dashboard covers at most %d days", int(span.Hours()/24), maxDashDays)
	}
	switch st := in.Get("step"); st {
	case "":
		q.Step = 24 * time.Hour
		if span <= 48*time.Hour {
			q.Step = time.Hour
		}
	case "hour":
		if span > maxHourlyDays*24*time.Hour {
			return q, 0, invalidField("step", "hour draws at most %d days; use step=day or a shorter range", maxHourlyDays)
		}
		q.Step = time.Hour
	case "day":
		q.Step = 24 * time.Hour
	default:
		return q, 0, invalidField("step", "%q is not hour or day", clip(st, 20))
	}
	top := defaultDashTop
	if v := in.Get("top"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxDashTop {
			return q, 0, invalidField("top", "%q is not a number from 1 to %d", clip(v, 20), maxDashTop)
		}
		top = n
	}
	return q, top, nil
}

// buckets lists the starts of the range's buckets, as the store snaps it.
func buckets(q store.DashQuery) []time.Time {
	step := q.Step
	start := q.From.UTC().Truncate(step)
	var out []time.Time
	for t := start; t.Before(q.To); t = t.Add(step) {
		out = append(out, t)
	}
	return out
}

func dashRangeWire(q store.DashQuery, bs []time.Time) client.DashboardRange {
	out := client.DashboardRange{Step: "day"}
	if q.Step == time.Hour {
		out.Step = "hour"
	}
	if len(bs) > 0 {
		out.From, out.To = bs[0].Format(time.RFC3339), bs[len(bs)-1].Add(q.Step).Format(time.RFC3339)
	}
	return out
}

// dense turns the store's points of one series into one point per bucket.
func dense(name string, bs []time.Time, ps []store.DashPoint) client.DashboardSeries {
	byAt := map[int64]int64{}
	for _, p := range ps {
		if p.Series == name {
			byAt[p.At.Unix()] += p.Events
		}
	}
	out := client.DashboardSeries{Name: name, Points: make([]client.DashboardPoint, len(bs))}
	for i, t := range bs {
		n := byAt[t.Unix()]
		out.Points[i] = client.DashboardPoint{At: t.Format(time.RFC3339), Events: n}
		out.Total += n
	}
	return out
}

func countsWire(cs []store.DashCount) []client.DashboardCount {
	out := make([]client.DashboardCount, 0, len(cs))
	for _, c := range cs {
		out = append(out, client.DashboardCount{Value: c.Value, Events: c.Events, Risky: c.Risky})
	}
	return out
}

func (s *Server) riskExposure(r *http.Request, _ auth.Principal) (any, error) {
	q, top, err := s.parseDashQuery(r)
	if err != nil {
		return nil, err
	}
	in := r.URL.Query()
	if v := in.Get("vector"); v != "" {
		if !slices.Contains(store.Vectors(), v) {
			return nil, invalidField("vector", "%q is not one of %s", clip(v, 30), strings.Join(store.Vectors(), ", "))
		}
		q.Vector = v
	}
	for _, dim := range []string{store.DimPerson, store.DimDevice, store.DimDestination} {
		v := strings.TrimSpace(in.Get(dim))
		if v == "" {
			continue
		}
		if q.Dim != "" {
			return nil, invalidField(dim, "drill down by one of person, device and destination at a time")
		}
		if len(v) > 320 {
			return nil, invalidField(dim, "is longer than 320 characters")
		}
		if dim != store.DimDevice {
			v = strings.ToLower(v)
		}
		q.Dim, q.Value = dim, v
	}
	return RiskExposureOf(r.Context(), s.store, q, top)
}

// RiskExposureOf builds the Risk Exposure dashboard's answer from the store's counts (q checked,
// top 1 to 100): what GET /api/v1/dashboards/risk-exposure answers, and what the benchmark times.
func RiskExposureOf(ctx context.Context, st store.DashboardQueries, q store.DashQuery, top int) (client.RiskExposure, error) {
	bs := buckets(q)
	out := client.RiskExposure{Range: dashRangeWire(q, bs), Vector: q.Vector, DrillKind: q.Dim, DrillValue: q.Value}
	whole := store.DashQuery{From: q.From, To: q.To, Step: q.Step, Vector: q.Vector} // the top lists ignore the drill-down
	var ps []store.DashPoint
	var tops [3][]store.DashCount
	var b store.DashBreakdown
	// The reads are independent: they run side by side on the store's reader connections.
	err := parallel(
		func() (err error) { ps, err = st.DashboardSeries(ctx, q); return },
		func() (err error) { tops[0], err = st.DashboardTop(ctx, whole, store.DimPerson, top); return },
		func() (err error) { tops[1], err = st.DashboardTop(ctx, whole, store.DimDevice, top); return },
		func() (err error) { tops[2], err = st.DashboardTop(ctx, whole, store.DimDestination, top); return },
		func() (err error) { b, err = st.DashboardBreakdown(ctx, whole); return },
	)
	if err != nil {
		return out, err
	}
	for _, v := range store.Vectors() {
		if q.Vector == "" || q.Vector == v {
			out.Series = append(out.Series, dense(v, bs, ps))
		}
	}
	out.TopPeople, out.TopDevices, out.TopDestinations = countsWire(tops[0]), countsWire(tops[1]), countsWire(tops[2])
	// most severe first; unscored events (stored before risk scoring) last
	slices.SortStableFunc(b.BySeverity, func(x, y store.DashCount) int {
		return event.Severity(y.Value).Rank() - event.Severity(x.Value).Rank()
	})
	out.BySeverity, out.TrustedExcluded = countsWire(b.BySeverity), b.Trusted
	return out, nil
}

// parallel runs fns side by side and returns their errors joined.
func parallel(fns ...func() error) error {
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Go(func() { errs[i] = fn() })
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (s *Server) insiderRisk(r *http.Request, _ auth.Principal) (any, error) {
	q, top, err := s.parseDashQuery(r)
	if err != nil {
		return nil, err
	}
	return InsiderRiskOf(r.Context(), s.store, q, top)
}

// InsiderRiskOf builds the Insider risk trends dashboard's answer (GET /api/v1/dashboards/insider-risk).
func InsiderRiskOf(ctx context.Context, st store.DashboardQueries, q store.DashQuery, top int) (client.InsiderRiskTrends, error) {
	bs := buckets(q)
	out := client.InsiderRiskTrends{Range: dashRangeWire(q, bs), Alerts: []client.DashboardAlerts{}}
	var ps []store.DashPoint
	var deps []store.DashCount
	var b store.DashBreakdown
	var as []store.DashAlertCount
	err := parallel(
		func() (err error) { ps, err = st.DashboardPeople(ctx, q); return },
		func() (err error) { deps, err = st.DashboardDepartments(ctx, q, top); return },
		func() (err error) { b, err = st.DashboardBreakdown(ctx, q); return },
		func() (err error) { as, err = st.DashboardAlerts(ctx, q); return },
	)
	if err != nil {
		return out, err
	}
	out.People = dense("people", bs, ps)
	out.People.Total = 0 // a sum of distinct counts per bucket means nothing
	out.TopDepartments = countsWire(deps)
	out.Categories, out.Vectors = countsWire(b.ByCategory), countsWire(b.ByVector)
	if len(out.Categories) > top {
		out.Categories = out.Categories[:top]
	}
	for _, a := range as {
		out.Alerts = append(out.Alerts, client.DashboardAlerts{Severity: a.Severity, State: a.State, Alerts: a.Alerts})
	}
	return out, nil
}

func (s *Server) landingPage(r *http.Request) (client.LandingPage, error) {
	out := client.LandingPage{Page: landingExposure}
	b, err := s.store.GetSetting(r.Context(), landingPageKey)
	if errors.Is(err, store.ErrNotFound) {
		return out, nil
	}
	if err != nil {
		return out, err
	}
	if err := json.Unmarshal(b, &out); err != nil || (out.Page != landingExposure && out.Page != landingHealth) {
		return client.LandingPage{Page: landingExposure}, nil
	}
	return out, nil
}

func (s *Server) putLandingPage(r *http.Request, _ auth.Principal) (any, error) {
	var in client.LandingPage
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	if in.Page != landingExposure && in.Page != landingHealth {
		return nil, invalidField("page", "%q is not risk_exposure or health", clip(in.Page, 30))
	}
	old, err := s.landingPage(r)
	if err != nil {
		return nil, err
	}
	b, _ := json.Marshal(in)
	if err := s.store.PutSetting(r.Context(), landingPageKey, b); err != nil {
		return nil, err
	}
	noteAudit(r, "settings/landing_page", map[string]any{"from": old.Page, "to": in.Page})
	return in, nil
}
