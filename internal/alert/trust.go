package alert

import (
	"context"
	"errors"
	"sort"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/risk"
	"github.com/telltale-dev/telltale/internal/search"
	"github.com/telltale-dev/telltale/internal/store"
)

// Trust recommendations (issue 16, R6.5): the destination domains many people use often and on
// which no alert was ever confirmed, offered to an admin with their counts, never applied by
// themselves. Personal-mail domains are never offered (gmail.com says nothing about whose mailbox
// it is), nor domains already trusted.

// Recommendation defaults.
const (
	DefaultTrustMinPeople = 5
	DefaultTrustMinEvents = 20
	trustWindowDays       = 30
	trustCandidates       = 50 // domains looked at, most people first
	trustCountLimit       = 10_000
	trustAlertsRead       = 500 // confirmed alerts read at most
	trustEventsPerAlert   = 100 // of each, events read at most
)

// TrustStore is what Recommend reads.
type TrustStore interface {
	ListDestinationUse(ctx context.Context, minPeople, limit int) ([]store.DestinationUse, error)
	CountSearch(ctx context.Context, q search.Query, limit int64, includeHeld bool) (int64, bool, error)
	ListAlerts(ctx context.Context, f store.AlertFilter) ([]store.Alert, error)
	ListAlertEventIDs(ctx context.Context, alertID, afterID int64, limit int) ([]int64, error)
	GetEvent(ctx context.Context, id int64) (event.FileEvent, error)
}

// Recommendation is a destination domain offered for trust.
type Recommendation struct {
	Domain    string
	People    int       // people who have shared or sent files there
	Events    int64     // events toward it in the last 30 days (at least, when Truncated)
	Truncated bool      // counting stopped at its limit
	FirstSeen time.Time // its first use by anyone
}

// TrustOptions tune Recommend; zero fields get the defaults.
type TrustOptions struct {
	MinPeople int   // default DefaultTrustMinPeople
	MinEvents int64 // in the last 30 days; default DefaultTrustMinEvents
}

// Recommend lists the destination domains used by at least MinPeople people and toward which at
// least MinEvents events went in the last 30 days, leaving out those trusted (trusted: the
// settings' domains), personal-mail domains, and any domain an alert resolved as a true positive
// sent files to. Most people first.
func Recommend(ctx context.Context, st TrustStore, trusted []string, o TrustOptions, now time.Time) ([]Recommendation, error) {
	if o.MinPeople <= 0 {
		o.MinPeople = DefaultTrustMinPeople
	}
	if o.MinEvents <= 0 {
		o.MinEvents = DefaultTrustMinEvents
	}
	uses, err := st.ListDestinationUse(ctx, o.MinPeople, trustCandidates)
	if err != nil {
		return nil, err
	}
	confirmed, err := confirmedDomains(ctx, st)
	if err != nil {
		return nil, err
	}
	out := []Recommendation{}
	for _, u := range uses {
		d := strings.ToLower(u.Destination)
		if risk.PersonalMail(d) || risk.TrustedBy(trusted, "x@"+d) != "" || confirmed[d] {
			continue
		}
		q, err := search.Parse(`domain:"`+d+`" after:30d`, now)
		if err != nil {
			continue // not a domain the search language can name: never offered
		}
		n, more, err := st.CountSearch(ctx, q, trustCountLimit, false)
		if err != nil {
			return nil, err
		}
		if n < o.MinEvents {
			continue
		}
		out = append(out, Recommendation{Domain: d, People: u.People, Events: n, Truncated: more, FirstSeen: u.FirstSeen})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].People > out[j].People })
	return out, nil
}

// confirmedDomains are the destination domains of the events of alerts resolved as true
// positives (the most recent trustAlertsRead, trustEventsPerAlert events each).
func confirmedDomains(ctx context.Context, st TrustStore) (map[string]bool, error) {
	as, err := st.ListAlerts(ctx, store.AlertFilter{States: []string{store.AlertResolved}, Limit: trustAlertsRead})
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, a := range as {
		if a.Resolution != "true_positive" {
			continue
		}
		ids, err := st.ListAlertEventIDs(ctx, a.ID, 0, trustEventsPerAlert)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			e, err := st.GetEvent(ctx, id)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, err
			}
			for _, addr := range append(append([]string{}, e.Sharing.SharedWith...), e.Email.Recipients...) {
				if _, dom, ok := strings.Cut(strings.ToLower(addr), "@"); ok {
					out[dom] = true
				}
			}
		}
	}
	return out, nil
}
