package client

import (
	"context"
	"time"
)

// ForwardDestination is a SIEM destination (R8.7): where every event is sent, in which format, how
// far it has acknowledged the event log and its last error. Its secrets are shown by name only.
type ForwardDestination struct {
	ID          string          `json:"id"`
	Name        string          `json:"name"`
	Kind        string          `json:"kind"`   // splunk_hec, syslog
	Format      string          `json:"format"` // json, cef, ocsf
	Settings    ForwardSettings `json:"settings"`
	SecretsSet  []string        `json:"secrets_set"`
	Paused      bool            `json:"paused"`
	State       string          `json:"state"` // ok, retrying, failed
	Failures    int             `json:"failures"`
	LastError   string          `json:"last_error,omitempty"` // what failed, with the destination's answer
	LastErrorAt time.Time       `json:"last_error_at,omitzero"`
	LastSentAt  time.Time       `json:"last_sent_at,omitzero"`
	// Position is the largest event id the destination acknowledged; Sent counts events acknowledged.
	Position string `json:"position"`
	Sent     int64  `json:"sent"`
	// LagEvents counts event ids after the position; LagSeconds is how long the oldest of them has waited.
	// Streams: the progress over the other streams it takes (alerts, audit, devices,
	// connections, and event_updates: events sent again after a rewrite), by stream.
	Streams    map[string]ForwardStream `json:"streams,omitempty"`
	LagEvents  int64                    `json:"lag_events"`
	LagSeconds float64                  `json:"lag_seconds"`
	CreatedAt  time.Time                `json:"created_at"`
	CreatedBy  string                   `json:"created_by,omitempty"`
	UpdatedAt  time.Time                `json:"updated_at"`
	Version    int64                    `json:"version"`
}

// ForwardSettings are a destination's non-secret settings.
type ForwardSettings struct {
	URL        string `json:"url,omitempty"`         // splunk_hec: the collector's base URL, e.g. https://splunk.example.com:8088
	Acks       bool   `json:"acks,omitempty"`        // splunk_hec: indexer acknowledgement (a batch counts once acked)
	Index      string `json:"index,omitempty"`       // splunk_hec: optional index
	Sourcetype string `json:"sourcetype,omitempty"`  // splunk_hec: default telltale:<record class>
	Address    string `json:"address,omitempty"`     // syslog: host:port
	Transport  string `json:"transport,omitempty"`   // syslog: tcp, tls (default) or udp
	ServerName string `json:"server_name,omitempty"` // syslog tls: the name to verify, default the address's host
	CAPEM      string `json:"ca_pem,omitempty"`      // syslog tls: extra CA certificates (PEM) to trust
	Query      string `json:"query,omitempty"`       // only events this search query matches (docs/SEARCH.md)
	// Streams: what the destination takes, of events, alerts, audit, devices (device health) and
	// connections (connection health); default: events only.
	Streams []string `json:"streams,omitempty"`
}

// ForwardStream is a destination's progress over a stream other than file events.
type ForwardStream struct {
	Position   string    `json:"position"` // the largest id of the stream acknowledged
	Sent       int64     `json:"sent"`
	LastSentAt time.Time `json:"last_sent_at,omitzero"`
}

// ForwardSecrets are write-only.
type ForwardSecrets struct {
	Token string `json:"token,omitempty"` // splunk_hec: the HEC token
}

// ForwardInput adds or changes a destination. On change, a missing secrets object keeps the stored secrets.
type ForwardInput struct {
	Name      string          `json:"name"`
	Kind      string          `json:"kind,omitempty"`   // splunk_hec or syslog (create only)
	Format    string          `json:"format,omitempty"` // json, cef or ocsf
	Settings  ForwardSettings `json:"settings"`
	Secrets   *ForwardSecrets `json:"secrets,omitempty"`
	FromStart bool            `json:"from_start,omitempty"` // create: forward the events already stored too (default: from now on)
	Version   int64           `json:"version,omitempty"`    // change: the version read (compare-and-set)
}

// ForwardList lists destinations.
type ForwardList struct {
	Items []ForwardDestination `json:"items"`
}

// ForwardTest is the result of a destination test.
type ForwardTest struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

// ForwardDestinations lists the SIEM destinations.
func (c *Client) ForwardDestinations(ctx context.Context) (ForwardList, error) {
	var out ForwardList
	return out, c.json(ctx, "GET", "/api/v1/forward-destinations", nil, &out)
}

// ForwardDestination returns one SIEM destination.
func (c *Client) ForwardDestination(ctx context.Context, destID string) (ForwardDestination, error) {
	var out ForwardDestination
	return out, c.json(ctx, "GET", "/api/v1/forward-destinations/"+id(destID), nil, &out)
}

// UpdateForwardDestination changes a destination (in.Version: the version read).
func (c *Client) UpdateForwardDestination(ctx context.Context, destID string, in ForwardInput) (ForwardDestination, error) {
	var out ForwardDestination
	return out, c.json(ctx, "PATCH", "/api/v1/forward-destinations/"+id(destID), in, &out)
}

// CreateForwardDestination adds a destination.
func (c *Client) CreateForwardDestination(ctx context.Context, in ForwardInput) (ForwardDestination, error) {
	var out ForwardDestination
	return out, c.json(ctx, "POST", "/api/v1/forward-destinations", in, &out)
}

// DeleteForwardDestination deletes a destination; events not yet sent to it are not sent.
func (c *Client) DeleteForwardDestination(ctx context.Context, destID string) error {
	return c.json(ctx, "DELETE", "/api/v1/forward-destinations/"+id(destID), nil, nil)
}

// PauseForwardDestination pauses a destination: events wait in the store from its position.
func (c *Client) PauseForwardDestination(ctx context.Context, destID string) (ForwardDestination, error) {
	var out ForwardDestination
	return out, c.json(ctx, "POST", "/api/v1/forward-destinations/"+id(destID)+"/pause", nil, &out)
}

// ResumeForwardDestination resumes a paused destination from its position.
func (c *Client) ResumeForwardDestination(ctx context.Context, destID string) (ForwardDestination, error) {
	var out ForwardDestination
	return out, c.json(ctx, "POST", "/api/v1/forward-destinations/"+id(destID)+"/resume", nil, &out)
}

// TestForwardDestination checks that the destination answers, without sending an event.
func (c *Client) TestForwardDestination(ctx context.Context, destID string) (ForwardTest, error) {
	var out ForwardTest
	return out, c.json(ctx, "POST", "/api/v1/forward-destinations/"+id(destID)+"/test", nil, &out)
}
