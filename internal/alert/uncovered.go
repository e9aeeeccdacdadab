package alert

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/search"
	"github.com/telltale-dev/telltale/internal/store"
	"github.com/telltale-dev/telltale/internal/watchlist"
)

// "Risks not covered" (issue 16): the high and critical events of the last days that no enabled
// rule matches, grouped by risk indicator, each group with a rule draft an admin can backtest and
// save in one step. Trusted events score 0 and are never high, so they are never listed.

// Uncovered limits.
const (
	DefaultUncoveredDays  = 7
	MaxUncoveredDays      = 90
	DefaultUncoveredLimit = 50_000 // high and critical events read at most
	uncoveredSamples      = 5      // event ids shown per group
)

// UncoveredStore is what Uncovered reads: the rules, the watchlists they are scoped to, the events.
type UncoveredStore interface {
	Searcher
	ListAlertRules(ctx context.Context) ([]store.AlertRule, error)
}

// UncoveredGroup is one indicator's uncovered events.
type UncoveredGroup struct {
	Indicator string
	Events    int     // uncovered events carrying the indicator
	People    int     // distinct actors among them ("" counts as one)
	Critical  int     // of Events, how many are critical
	Sample    []int64 // newest first, at most uncoveredSamples
	// Draft is a rule that would have matched them: a threshold of one event per person per day
	// on the indicator at high severity and above. Not stored: the admin backtests it
	// (POST /api/v1/rules/test) and saves it, or changes it first.
	Draft store.AlertRule
}

// UncoveredResult is what Uncovered found.
type UncoveredResult struct {
	From, To  time.Time
	Scanned   int  // high and critical events read
	Uncovered int  // of them, matched by no enabled rule
	Truncated bool // the limit was reached: the newest events were read, the oldest were not
	Rules     int  // enabled rules asked
	Groups    []UncoveredGroup
}

// Uncovered reads the high and critical events observed in the last days (newest first, at most
// limit; <= 0: DefaultUncoveredLimit) and returns those no enabled rule matches (its query and its
// watchlist scope, with today's members), grouped by each indicator they carry, the group with the
// most events first. An event with several indicators is counted in each of its groups.
func Uncovered(ctx context.Context, st UncoveredStore, days int, now time.Time, limit int) (UncoveredResult, error) {
	if days < 1 || days > MaxUncoveredDays {
		return UncoveredResult{}, errf("days", "%d is not between 1 and %d", days, MaxUncoveredDays)
	}
	if limit <= 0 {
		limit = DefaultUncoveredLimit
	}
	res := UncoveredResult{From: now.AddDate(0, 0, -days), To: now}
	rs, err := st.ListAlertRules(ctx)
	if err != nil {
		return res, err
	}
	var rules []*Compiled
	for _, r := range rs {
		if !r.Enabled {
			continue
		}
		c, err := Compile(r, now)
		if err == nil {
			err = c.expandActors(ctx, st)
		}
		var se *search.Error
		if errors.As(err, &se) {
			continue
		}
		if err != nil {
			if _, ok := err.(*Error); ok {
				continue // a stored rule that no longer compiles covers nothing (the rule shows why)
			}
			return res, err
		}
		rules = append(rules, c)
	}
	res.Rules = len(rules)
	ms, err := st.ListWatchlistMemberships(ctx)
	if err != nil {
		return res, err
	}
	set := watchlist.NewSet(ms)
	q, err := search.Parse(fmt.Sprintf("severity>=high trusted:false after:%dd", days), now)
	if err != nil {
		return res, err
	}
	type acc struct {
		g      UncoveredGroup
		people map[string]bool
	}
	by := map[string]*acc{}
	var after *store.SearchCursor
	for res.Scanned < limit {
		page, err := st.SearchEvents(ctx, q, store.SearchOptions{Sort: store.SortObserved, Desc: true, Limit: min(1000, limit-res.Scanned), After: after})
		if err != nil {
			return res, err
		}
		if len(page) == 0 {
			break
		}
		res.Scanned += len(page)
		cur := store.CursorOf(&page[len(page)-1], store.SortObserved)
		after = &cur
		for i := range page {
			e := &page[i]
			if covered(rules, e, set) {
				continue
			}
			res.Uncovered++
			for _, ind := range e.Risk.Indicators {
				a := by[ind]
				if a == nil {
					a = &acc{g: UncoveredGroup{Indicator: ind}, people: map[string]bool{}}
					by[ind] = a
				}
				a.g.Events++
				if e.Risk.Severity == event.SeverityCritical {
					a.g.Critical++
				}
				a.people[strings.ToLower(e.User.Email)] = true
				if len(a.g.Sample) < uncoveredSamples {
					a.g.Sample = append(a.g.Sample, e.Event.ID)
				}
			}
		}
		if len(page) < 1000 {
			break
		}
	}
	res.Truncated = res.Scanned >= limit
	for ind, a := range by {
		a.g.People = len(a.people)
		a.g.Draft = draftFor(ind)
		res.Groups = append(res.Groups, a.g)
	}
	sort.Slice(res.Groups, func(i, j int) bool {
		a, b := res.Groups[i], res.Groups[j]
		if a.Events != b.Events {
			return a.Events > b.Events
		}
		return a.Indicator < b.Indicator
	})
	return res, nil
}

// covered reports whether an enabled rule matches e (its query and its watchlist scope).
func covered(rules []*Compiled, e *event.FileEvent, set watchlist.Set) bool {
	for _, r := range rules {
		if r.applies(e, set) {
			return true
		}
	}
	return false
}

// draftFor is the rule draft of an indicator's group: high and critical events carrying it, one
// alert per person per day gathering the rest.
func draftFor(indicator string) store.AlertRule {
	p, _ := json.Marshal(Params{Value: 1, Window: "24h"})
	return store.AlertRule{Name: "Uncovered: " + indicator, Kind: Threshold, Severity: "high", Params: p,
		Query:       "indicator:" + indicator + " severity>=high",
		Description: fmt.Sprintf("Drafted from the risks not covered: high and critical events with the %s indicator that no enabled rule matched.", indicator)}
}
