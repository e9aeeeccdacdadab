package integration

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/store"
)

// Payload is the JSON body of a delivery: what the generic webhook receives and what the Slack
// message is made from. It is built when the delivery is enqueued and stays the same on every
// attempt and replay.
type Payload struct {
	Event          string         `json:"event"` // alert.raised or test
	IdempotencyKey string         `json:"idempotency_key"`
	Test           bool           `json:"test,omitempty"`
	Alert          AlertBody      `json:"alert"`
	Events         []EventSummary `json:"events"`
	MoreEvents     int64          `json:"more_events,omitempty"` // the alert's events not listed
	// Ticket, on alert.updated, is the key of the alert.raised delivery whose ticket the update
	// goes to (the ServiceNow correlation_id, the Jira label's source).
	Ticket  string       `json:"ticket_key,omitempty"`
	Changes []ChangeBody `json:"changes,omitempty"` // alert.updated: what changed
	// Watchlist, on watchlist.changed and hr.departure, is the membership change; Alert.Person
	// names the person and Alert.Summary says what changed.
	Watchlist *WatchlistBody `json:"watchlist,omitempty"`
}

// ChangeBody is one change of an alert, on alert.updated.
type ChangeBody struct {
	Field string    `json:"field"` // state, resolution, assignee, note
	From  string    `json:"from,omitempty"`
	To    string    `json:"to,omitempty"`
	Note  string    `json:"note,omitempty"`
	Actor string    `json:"actor,omitempty"`
	At    time.Time `json:"at,omitzero"`
}

// AlertBody is the alert as delivered.
type AlertBody struct {
	ID           string    `json:"id,omitempty"`
	RuleID       string    `json:"rule_id,omitempty"`
	RuleName     string    `json:"rule_name"`
	Severity     string    `json:"severity"`
	State        string    `json:"state,omitempty"`
	Resolution   string    `json:"resolution,omitempty"`
	Person       string    `json:"person,omitempty"`
	GroupKey     string    `json:"group_key,omitempty"`
	Summary      string    `json:"summary"`
	EventCount   int64     `json:"event_count"`
	FirstEventAt time.Time `json:"first_event_at,omitzero"`
	LastEventAt  time.Time `json:"last_event_at,omitzero"`
	CreatedAt    time.Time `json:"created_at"`
}

// EventSummary is one of the alert's events in a delivery.
type EventSummary struct {
	ID           string    `json:"id"`
	ObservedAt   time.Time `json:"observed_at"`
	Action       string    `json:"action"`
	Actor        string    `json:"actor,omitempty"`
	File         string    `json:"file,omitempty"`
	Size         int64     `json:"size,omitempty"`
	Destinations []string  `json:"destinations,omitempty"` // recipients or shared-with addresses
	Connection   string    `json:"connection,omitempty"`
	Severity     string    `json:"severity,omitempty"`
}

// payloadEvents bounds the events listed in a payload.
const payloadEvents = 20

func newPayload(a store.Alert, evs []event.FileEvent) *Payload {
	p := &Payload{Event: TopicAlertRaised, Alert: AlertBody{ID: strconv.FormatInt(a.ID, 10), RuleID: strconv.FormatInt(a.RuleID, 10),
		RuleName: a.RuleName, Severity: a.Severity, State: a.State, Resolution: a.Resolution, Person: a.Person, GroupKey: a.GroupKey, Summary: a.Summary,
		EventCount: a.EventCount, FirstEventAt: a.FirstEventAt.UTC(), LastEventAt: a.LastEventAt.UTC(), CreatedAt: a.CreatedAt.UTC()}}
	p.Events = []EventSummary{}
	for i := range evs {
		if i == payloadEvents {
			break
		}
		e := &evs[i]
		dest := e.Email.Recipients
		if len(dest) == 0 {
			dest = e.Sharing.SharedWith
		}
		p.Events = append(p.Events, EventSummary{ID: strconv.FormatInt(e.Event.ID, 10), ObservedAt: e.Timestamp.UTC(), Action: string(e.Event.Action),
			Actor: e.User.Email, File: e.File.Name, Size: e.File.Size, Destinations: dest, Connection: e.Event.ConnectionName, Severity: string(e.Risk.Severity)})
	}
	p.MoreEvents = max(0, a.EventCount-int64(len(p.Events)))
	return p
}

// SignatureHeader carries the timestamp and the signature of a webhook delivery:
// "t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" keyed with the signing secret>".
const SignatureHeader = "Telltale-Signature"

// Sign returns the SignatureHeader value for body sent at t.
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + mac(secret, ts, body)
}

func mac(secret, ts string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Verify checks a SignatureHeader value as a receiver does: the signature must match and the
// timestamp be within tolerance of now (replays of old deliveries are refused).
func Verify(secret, header string, body []byte, now time.Time, tolerance time.Duration) bool {
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sig == "" {
		return false
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return false
	}
	return hmac.Equal([]byte(sig), []byte(mac(secret, ts, body)))
}
