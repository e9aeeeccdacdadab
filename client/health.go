package client

import (
	"context"
	"time"
)

// Health is the environment health view (GET /api/v1/health, R8.1): every connection's status
// with its history and collection progress, throttling, integrations and forwarders, device
// check-in coverage, and the warnings. Lists are bounded; Truncated says when one was cut.
type Health struct {
	At           time.Time            `json:"at"`
	Connections  []HealthConnection   `json:"connections"` // blind spots first
	BlindSpots   int                  `json:"blind_spots"`
	ByStatus     []HealthStatusCount  `json:"by_status"`
	ThrottledNow int                  `json:"throttled_now"` // connections throttled at At
	Throttles24h int                  `json:"throttles_24h"` // throttlings seen over the last day
	Integrations []HealthIntegration  `json:"integrations"`
	Forwarders   []HealthForwarder    `json:"forwarders"`
	Devices      HealthDevices        `json:"devices"`
	Warnings     []HealthWarning      `json:"warnings"`
	Completeness []HealthCompleteness `json:"completeness"` // connections with two feeds
	HRSources    string               `json:"hr_sources"`   // what the HR check looked at ("none configured" when there are none)
	Truncated    bool                 `json:"truncated,omitempty"`
}

// HealthStatusCount is how many connections are in a status.
type HealthStatusCount struct {
	Status      string `json:"status"`
	StatusLabel string `json:"status_label"`
	Count       int    `json:"count"`
}

// HealthConnection is one connection's health.
type HealthConnection struct {
	ID             string         `json:"id"`
	Name           string         `json:"name"`
	Service        string         `json:"service"`
	Status         string         `json:"status"`
	StatusLabel    string         `json:"status_label"`
	ErrorReason    string         `json:"error_reason,omitempty"`
	BlindSpot      bool           `json:"blind_spot"` // in Error: nothing is collected
	LastEventAt    time.Time      `json:"last_event_at,omitzero"`
	LastStoredAt   time.Time      `json:"last_stored_at,omitzero"` // when an event last arrived
	LagSeconds     float64        `json:"lag_seconds"`             // of the stream page that stored the newest event
	Throttled      bool           `json:"throttled"`
	ThrottledUntil time.Time      `json:"throttled_until,omitzero"`
	Throttles24h   int            `json:"throttles_24h"`
	ThrottledSecs  float64        `json:"throttled_seconds_24h"` // time spent throttled over the last day
	ExpectedGap    float64        `json:"expected_gap_seconds,omitempty"`
	SilentAfter    float64        `json:"silent_after_seconds,omitempty"` // 0: not enough history to judge
	History        []StatusChange `json:"history"`                        // newest first, at most 10
	HistoryTotal   int            `json:"history_total"`
	Streams        []HealthStream `json:"streams"` // most lagging first, at most 20
	StreamsTotal   int            `json:"streams_total"`
}

// HealthStream is one activity stream of a connection.
type HealthStream struct {
	Stream     string    `json:"stream"`
	PageAt     time.Time `json:"page_at"`
	EventAt    time.Time `json:"event_at,omitzero"`
	StoredAt   time.Time `json:"stored_at,omitzero"`
	LagSeconds float64   `json:"lag_seconds"`
}

// HealthIntegration is an integration's status.
type HealthIntegration struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Kind        string    `json:"kind"`
	Status      string    `json:"status"`
	LastError   string    `json:"last_error,omitempty"`
	ErrorKind   string    `json:"error_kind,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
}

// HealthForwarder is a SIEM destination's status.
type HealthForwarder struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	Kind       string    `json:"kind"`
	State      string    `json:"state"`
	Paused     bool      `json:"paused"`
	LastError  string    `json:"last_error,omitempty"`
	LastSentAt time.Time `json:"last_sent_at,omitzero"`
}

// HealthDevices is device check-in coverage: active devices heard from within the silence window.
type HealthDevices struct {
	Active        int64   `json:"active"`
	CheckedIn     int64   `json:"checked_in"`
	SilentSeconds float64 `json:"silent_after_seconds"`
	Coverage      float64 `json:"coverage"` // CheckedIn / Active; 1 when there are none
}

// HealthCompleteness compares the two feeds of one connection over one window, file by file.
type HealthCompleteness struct {
	ConnectionID string           `json:"connection_id"`
	Connection   string           `json:"connection"`
	From         time.Time        `json:"from"`
	To           time.Time        `json:"to"`
	Feeds        map[string]int64 `json:"feeds"` // actions per feed
	Files        int              `json:"files"`
	Disagreeing  int              `json:"disagreeing"`
	Examples     []string         `json:"examples,omitempty"` // file ids, at most 10
}

// HealthWarning is something an admin should look at.
type HealthWarning struct {
	Kind     string `json:"kind"` // connection_silent, feeds_disagree, rule_never_fired, rule_too_broad, watchlist_unmonitored, hr_source_silent
	Severity string `json:"severity"`
	Subject  string `json:"subject"` // the connection, rule, watchlist or HR source, by name
	Link     string `json:"link,omitempty"`
	Message  string `json:"message"`
}

// Health returns the environment health view.
func (c *Client) Health(ctx context.Context) (Health, error) {
	var out Health
	return out, c.json(ctx, "GET", "/api/v1/health", nil, &out)
}
