package health

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/store"
)

// RuleWindow is the time over which a rule's reach is measured: its alerts' distinct persons
// against the people monitored (owners of in-scope drives and mailboxes of collecting
// connections, and people with an active device).
const RuleWindow = 30 * 24 * time.Hour

// MinPeople: with fewer people monitored a share says little; the "too broad" check waits.
const MinPeople = 10

// rules flags enabled rules that never fired and rules that fire for too many people.
func (c *Checker) rules(ctx context.Context, h *client.Health, now time.Time) error {
	st := c.o.Store
	rules, err := st.ListAlertRules(ctx)
	if err != nil {
		return fmt.Errorf("health: alert rules: %w", err)
	}
	if len(rules) == 0 {
		return nil
	}
	total, err := st.CountAlertsByRule(ctx)
	if err != nil {
		return fmt.Errorf("health: alerts by rule: %w", err)
	}
	fired := map[int64]int64{}
	for _, t := range total {
		fired[t.RuleID] = t.Total
	}
	recent, err := st.CountAlertPeopleByRule(ctx, now.Add(-RuleWindow))
	if err != nil {
		return fmt.Errorf("health: alert people by rule: %w", err)
	}
	people := map[int64]int64{}
	for _, r := range recent {
		people[r.RuleID] = r.People
	}
	actors, err := st.CountMonitoredPeople(ctx, collecting)
	if err != nil {
		return fmt.Errorf("health: people: %w", err)
	}
	for _, r := range rules {
		if !r.Enabled {
			continue
		}
		since := r.UpdatedAt
		if since.IsZero() || r.CreatedAt.After(since) {
			since = r.CreatedAt
		}
		link := "/rules/" + id(r.ID)
		if fired[r.ID] == 0 && now.Sub(since) > c.o.RuleQuietAfter {
			h.Warnings = append(h.Warnings, client.HealthWarning{Kind: "rule_never_fired", Severity: "low", Subject: r.Name, Link: link,
				Message: fmt.Sprintf("enabled and unchanged for %d days, this rule has never raised an alert: check that its query matches the events collected (try it on the search page) or disable it.",
					int(now.Sub(since).Hours()/24))})
		}
		if n := people[r.ID]; actors >= MinPeople && float64(n) > c.o.RuleShare*float64(actors) {
			h.Warnings = append(h.Warnings, client.HealthWarning{Kind: "rule_too_broad", Severity: "medium", Subject: r.Name, Link: link,
				Message: fmt.Sprintf("over the last 30 days this rule raised alerts for %d of the %d people monitored (%.0f %%, more than %.0f %%): narrow its query or raise its threshold, or analysts will learn to ignore it.",
					n, actors, 100*float64(n)/float64(actors), 100*c.o.RuleShare)})
		}
	}
	return nil
}

// watchlists flags watchlists with members that no monitored data source covers: no in-scope
// drive or mailbox of a collecting connection, and no active device.
func (c *Checker) watchlists(ctx context.Context, h *client.Health, now time.Time) error {
	st := c.o.Store
	wls, err := st.ListWatchlists(ctx)
	if err != nil {
		return fmt.Errorf("health: watchlists: %w", err)
	}
	for _, w := range wls {
		if w.Members == 0 {
			continue
		}
		ms, err := st.ListWatchlistMembers(ctx, w.ID, "", MaxMembers)
		if err != nil {
			return fmt.Errorf("health: members of watchlist %d: %w", w.ID, err)
		}
		emails := make([]string, len(ms))
		for i, m := range ms {
			emails[i] = strings.ToLower(m.Email)
		}
		// A person is covered under any of their addresses (aliases, R8.3).
		as, err := st.PersonAliases(ctx, slices.Clone(emails))
		if err != nil {
			return fmt.Errorf("health: aliases of watchlist %d: %w", w.ID, err)
		}
		person := map[string]string{}
		addrs := slices.Clone(emails)
		for _, a := range as {
			person[a.Alias] = a.Email
			addrs = append(addrs, a.Alias)
		}
		covered, err := st.PeopleWithSources(ctx, addrs, collecting)
		if err != nil {
			return fmt.Errorf("health: sources of watchlist %d: %w", w.ID, err)
		}
		has := map[string]bool{}
		for _, e := range covered {
			has[cmp.Or(person[e], e)] = true
		}
		if w.Type == "departing_employee" {
			c.departed(h, w, ms, has, now)
		}
		var missing []string
		for _, e := range emails {
			if !has[e] {
				missing = append(missing, e)
			}
		}
		if len(missing) == 0 {
			continue
		}
		sample := missing[:min(len(missing), 5)]
		more := ""
		if len(missing) > len(sample) {
			more = fmt.Sprintf(" and %d more", len(missing)-len(sample))
		}
		checked := ""
		if int64(len(ms)) < w.Members {
			checked = fmt.Sprintf(" (of the first %d members checked)", len(ms))
		}
		h.Warnings = append(h.Warnings, client.HealthWarning{Kind: "watchlist_unmonitored", Severity: "medium", Subject: w.Name, Link: "/watchlists/" + id(w.ID),
			Message: fmt.Sprintf("%d of its members%s have no monitored data source (no drive or mailbox in a monitored connection, no active device): %s%s. Widen a connection's scope or enrol their devices; until then their activity is not seen.",
				len(missing), checked, strings.Join(sample, ", "), more)})
	}
	return nil
}

// departed flags departing employees whose departure date has passed while a monitored source
// still sees them: a drive or mailbox a connection's directory lists as active (a directory's
// suspended and disabled users are not monitored), or an active device. An account left enabled
// after someone left is a way out for data that no peer points at.
func (c *Checker) departed(h *client.Health, w store.Watchlist, ms []store.WatchlistMember, active map[string]bool, now time.Time) {
	today := now.UTC().Format(time.DateOnly)
	var still []string
	for _, m := range ms {
		if m.DepartureDate != "" && m.DepartureDate < today && active[strings.ToLower(m.Email)] {
			still = append(still, strings.ToLower(m.Email)+" (left "+m.DepartureDate+")")
		}
	}
	if len(still) == 0 {
		return
	}
	sample := still[:min(len(still), 5)]
	more := ""
	if len(still) > len(sample) {
		more = fmt.Sprintf(" and %d more", len(still)-len(sample))
	}
	h.Warnings = append(h.Warnings, client.HealthWarning{Kind: "departed_still_active", Severity: "high", Subject: w.Name, Link: "/watchlists/" + id(w.ID),
		Message: fmt.Sprintf("%d people whose departure date has passed still have an account a connection's directory lists as active, or an active device: %s%s. Ask their administrators to suspend the accounts; until then they can still reach the organization's files.",
			len(still), strings.Join(sample, ", "), more)})
}

// hr flags HR sources that stopped delivering (Options.HRSources: the API lists the connected
// ones with their last successful sync).
func (c *Checker) hr(ctx context.Context, h *client.Health, now time.Time) error {
	if c.o.HRSources == nil {
		h.HRSources = "none configured"
		return nil
	}
	srcs, err := c.o.HRSources(ctx)
	if err != nil {
		return fmt.Errorf("health: HR sources: %w", err)
	}
	if len(srcs) == 0 {
		h.HRSources = "none configured"
		return nil
	}
	h.HRSources = fmt.Sprintf("%d checked", len(srcs))
	for _, s := range srcs {
		if now.Sub(s.LastSyncAt) > c.o.HRSilentAfter {
			last := "never"
			if !s.LastSyncAt.IsZero() {
				last = s.LastSyncAt.Format(time.RFC3339)
			}
			h.Warnings = append(h.Warnings, client.HealthWarning{Kind: "hr_source_silent", Severity: "medium", Subject: s.Name,
				Message: fmt.Sprintf("this HR source has not delivered for more than %d days (last: %s): departures and joiners are not seen. Check its credentials and schedule.",
					int(c.o.HRSilentAfter.Hours()/24), last)})
		}
	}
	return nil
}
