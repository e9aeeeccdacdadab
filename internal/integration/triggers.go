package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/telltale-dev/telltale/internal/store"
)

// Flow triggers besides an alert raised (R7.3).
const (
	// TriggerWatchlistChanged fires on every change of a watchlist membership made by an HR source
	// (a person added, their departure date updated, or removed).
	TriggerWatchlistChanged = "watchlist.changed"
	// TriggerHRDeparture fires when an HR source reports a departure: a person put on the Departing
	// employees watchlist, or their departure date changed.
	TriggerHRDeparture = "hr.departure"
)

// Triggers lists a flow's possible triggers.
func Triggers() []string {
	return []string{TopicAlertRaised, TriggerWatchlistChanged, TriggerHRDeparture}
}

// WatchlistChange is one membership change, what the watchlist triggers see.
type WatchlistChange struct {
	ChangeID      int64 // the person's history line (store.PersonChange): unique, the delivery's key
	Email         string
	Action        string // added, updated, removed
	DepartureDate string
	WatchlistID   int64
	Watchlist     string // its name
	Source        string // the HR source's name
}

// WatchlistBody is the membership change a watchlist.changed or hr.departure delivery carries.
type WatchlistBody struct {
	Person        string `json:"person"`
	Action        string `json:"action"`
	Watchlist     string `json:"watchlist"`
	DepartureDate string `json:"departure_date,omitempty"`
	Source        string `json:"source,omitempty"`
}

// departure reports whether a change is a departure (hr.departure).
func departure(c WatchlistChange) bool { return c.Action == "added" || c.Action == "updated" }

// WatchlistChanged is the HR sources' hook (hr.Options.Changed): inside the transaction that
// changed the memberships, it enqueues one delivery per connected integration of each enabled flow
// whose trigger the change fires, keyed by the history line and the integration, so that a change
// is delivered once. The delivery's alert body names the person (an Okta action adds them to its
// group) and says what changed.
func (s *Service) WatchlistChanged(ctx context.Context, q store.Queries, cs []WatchlistChange) error {
	flows, err := q.ListFlows(ctx)
	if err != nil || len(flows) == 0 {
		return err
	}
	now := s.o.Clock.Now().UTC()
	integ := map[int64]store.Integration{}
	for _, c := range cs {
		sent := map[int64]bool{}
		for _, f := range flows {
			if !f.Enabled || (f.Trigger != TriggerWatchlistChanged && f.Trigger != TriggerHRDeparture) {
				continue
			}
			if f.Trigger == TriggerHRDeparture && !departure(c) {
				continue
			}
			for _, iid := range f.IntegrationIDs {
				if sent[iid] {
					continue
				}
				_, ok, err := deliverable(ctx, q, integ, iid)
				if err != nil {
					return err
				}
				if !ok {
					continue
				}
				sent[iid] = true
				topic := f.Trigger
				key := "person-change/" + strconv.FormatInt(c.ChangeID, 10) + "/integration/" + strconv.FormatInt(iid, 10) + "/" + topic
				summary := fmt.Sprintf("%s %s the %s watchlist", c.Email, map[string]string{"added": "was added to", "updated": "had their departure date changed on",
					"removed": "was removed from"}[c.Action], c.Watchlist)
				if c.DepartureDate != "" && c.Action != "removed" {
					summary += " (departure " + c.DepartureDate + ")"
				}
				if c.Source != "" {
					summary += " by HR source " + c.Source
				}
				p := Payload{Event: topic, IdempotencyKey: key, Alert: AlertBody{RuleName: f.Name, Severity: "none", Person: c.Email, GroupKey: c.Email,
					Summary: summary, CreatedAt: now}, Events: []EventSummary{},
					Watchlist: &WatchlistBody{Person: c.Email, Action: c.Action, Watchlist: c.Watchlist, DepartureDate: c.DepartureDate, Source: c.Source}}
				b, err := json.Marshal(p)
				if err != nil {
					return err
				}
				if _, err := q.EnqueueOutbox(ctx, store.OutboxItem{IntegrationID: iid, Subject: "person/" + c.Email, Topic: topic, IdempotencyKey: key,
					Payload: b, NextRunAt: now}); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
