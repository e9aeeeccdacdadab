package client

import (
	"context"
	"net/url"
)

// DashboardPoint is one bucket's count.
type DashboardPoint struct {
	At     string `json:"at"` // RFC 3339, the bucket's start (UTC)
	Events int64  `json:"events"`
}

// DashboardSeries is one line of a chart: a vector's (or the people's) count per bucket, every
// bucket of the range present (0 when nothing happened).
type DashboardSeries struct {
	Name   string           `json:"name"`
	Total  int64            `json:"total"`
	Points []DashboardPoint `json:"points"`
}

// DashboardCount is a value's total over the range, and of it the events with a risk score above 0.
type DashboardCount struct {
	Value  string `json:"value"`
	Events int64  `json:"events"`
	Risky  int64  `json:"risky"`
}

// DashboardAlerts counts the alerts created in the range with one severity and state.
type DashboardAlerts struct {
	Severity string `json:"severity"`
	State    string `json:"state"`
	Alerts   int64  `json:"alerts"`
}

// DashboardRange is the range a dashboard covers, snapped to its step: from included, to excluded.
type DashboardRange struct {
	From string `json:"from"`
	To   string `json:"to"`
	Step string `json:"step"` // hour or day
}

// RiskExposure is the Risk Exposure dashboard (R8.4): activity toward untrusted destinations over
// time by vector, and who, which device and which destination it came from. With a drill-down
// (person, device or destination) the series are that value's.
type RiskExposure struct {
	Range           DashboardRange    `json:"range"`
	Vector          string            `json:"vector,omitempty"`
	DrillKind       string            `json:"drill_kind,omitempty"` // person, device or destination
	DrillValue      string            `json:"drill_value,omitempty"`
	Series          []DashboardSeries `json:"series"` // one per vector
	TopPeople       []DashboardCount  `json:"top_people"`
	TopDevices      []DashboardCount  `json:"top_devices"`
	TopDestinations []DashboardCount  `json:"top_destinations"`
	BySeverity      []DashboardCount  `json:"by_severity"`
	TrustedExcluded int64             `json:"trusted_excluded"` // shares and e-mails to trusted domains only, left out
}

// InsiderRiskTrends is the Insider risk trends dashboard (R8.4).
type InsiderRiskTrends struct {
	Range          DashboardRange    `json:"range"`
	People         DashboardSeries   `json:"people"` // people with at least one risky event, per bucket
	TopDepartments []DashboardCount  `json:"top_departments"`
	Categories     []DashboardCount  `json:"categories"` // file categories of the events toward untrusted destinations
	Vectors        []DashboardCount  `json:"vectors"`
	Alerts         []DashboardAlerts `json:"alerts"`
}

// LandingPage is where the console sends a person after sign-in: risk_exposure (the default) or health.
type LandingPage struct {
	Page string `json:"page"`
}

// RiskExposure reads the Risk Exposure dashboard; q holds range, from, to, step, vector, person,
// device, destination and top (GET /api/v1/dashboards/risk-exposure).
func (c *Client) RiskExposure(ctx context.Context, q url.Values) (RiskExposure, error) {
	var out RiskExposure
	return out, c.json(ctx, "GET", "/api/v1/dashboards/risk-exposure?"+q.Encode(), nil, &out)
}

// InsiderRiskTrends reads the Insider risk trends dashboard (GET /api/v1/dashboards/insider-risk).
func (c *Client) InsiderRiskTrends(ctx context.Context, q url.Values) (InsiderRiskTrends, error) {
	var out InsiderRiskTrends
	return out, c.json(ctx, "GET", "/api/v1/dashboards/insider-risk?"+q.Encode(), nil, &out)
}
