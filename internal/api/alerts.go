package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/alert"
	"github.com/telltale-dev/telltale/internal/auth"
	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/search"
	"github.com/telltale-dev/telltale/internal/store"
	"github.com/telltale-dev/telltale/internal/textcheck"
	"github.com/telltale-dev/telltale/internal/watchlist"
	"time"
)

// Alert limits.
const (
	alertPage        = 100  // alerts per page by default
	maxAlertPage     = 1000 // at most
	alertEventsShown = 100  // events of an alert shown with it
	maxNote          = 4000 // characters of a note
	defaultTestDays  = 7
)

var (
	alertStates      = []string{store.AlertOpen, store.AlertInProgress, store.AlertResolved, store.AlertDismissed}
	alertResolutions = []string{"", "true_positive", "benign_true_positive", "false_positive"}
)

func (s *Server) alertRoutes() []Route {
	const rules, alerts = "alert-rules", "alerts"
	return []Route{
		{Method: "GET", Path: "/api/v1/rules", Need: auth.RoleReadOnly, Tag: rules, Summary: "List alert rules with their warnings",
			Out: client.AlertRuleList{}, Handle: s.listRules},
		{Method: "POST", Path: "/api/v1/rules", Need: auth.RoleAdmin, Tag: rules, Audit: "rule.create",
			Summary: "Create an alert rule; a query that does not parse is refused with the parser's message, position and suggestion",
			In:      client.AlertRuleInput{}, Out: client.AlertRule{}, MaxBody: 64 << 10, Handle: s.createRule},
		{Method: "POST", Path: "/api/v1/rules/test", Need: auth.RoleAnalyst, Tag: rules, Audit: "rule.test", Reads: true,
			Summary: "Backtest a rule: how many alerts it would have raised on the stored events of the last N days, and for whom",
			In:      client.RuleTestRequest{}, Out: client.RuleTestResult{}, MaxBody: 64 << 10, Handle: s.testRule},
		{Method: "GET", Path: "/api/v1/rules/uncovered", Need: auth.RoleAnalyst, Tag: rules, Audit: "rule.uncovered", Reads: true,
			Summary: "Risks not covered: the high and critical events of the last days that no enabled rule matches, by indicator, each with a rule draft and its backtest",
			Out:     client.UncoveredRisks{}, Handle: s.uncoveredRisks, Query: []Param{{"days", "1 to 90, default 7"}}},
		{Method: "GET", Path: "/api/v1/rules/{id}", Need: auth.RoleReadOnly, Tag: rules, Summary: "Get an alert rule",
			Out: client.AlertRule{}, Handle: s.getRule},
		{Method: "PUT", Path: "/api/v1/rules/{id}", Need: auth.RoleAdmin, Tag: rules, Audit: "rule.update",
			Summary: "Replace an alert rule (a changed query, kind or parameters starts its evaluation state afresh)",
			In:      client.AlertRuleInput{}, Out: client.AlertRule{}, MaxBody: 64 << 10, Handle: s.updateRule},
		{Method: "DELETE", Path: "/api/v1/rules/{id}", Need: auth.RoleAdmin, Tag: rules, Audit: "rule.delete",
			Summary: "Delete an alert rule; its alerts stay", Handle: s.deleteRule},
		{Method: "GET", Path: "/api/v1/alerts", Need: auth.RoleReadOnly, Tag: alerts, Summary: "List alerts, newest first",
			Out: client.AlertList{}, Handle: s.listAlerts, Query: append(alertQueryParams(), Param{"limit", "1 to 1000, default 100"})},
		{Method: "GET", Path: "/api/v1/alerts/export", Need: auth.RoleAnalyst, Tag: alerts, Audit: "alert.export", Reads: true,
			Summary: "Every alert matching the list's filters, newest first, as CSV or JSON lines (streamed)", Out: CSV,
			Handle: s.exportAlerts, Query: append(alertQueryParams(), Param{"format", "csv (default) or jsonl"})},
		{Method: "GET", Path: "/api/v1/alerts/{id}", Need: auth.RoleReadOnly, Tag: alerts,
			Summary: "An alert with its first 100 events and its history", Out: client.AlertDetails{}, Handle: s.getAlert},
		{Method: "GET", Path: "/api/v1/alerts/{id}/events", Need: auth.RoleReadOnly, Tag: alerts, Summary: "An alert's events in id order",
			Out: client.AlertEvents{}, Handle: s.alertEvents, Query: []Param{{"after", "the next value of the previous page"}, {"limit", "1 to 1000, default 100"}}},
		{Method: "GET", Path: "/api/v1/alerts/{id}/history", Need: auth.RoleReadOnly, Tag: alerts, Summary: "Every change of an alert, oldest first",
			Out: client.AlertHistory{}, Handle: s.alertHistory},
		{Method: "PATCH", Path: "/api/v1/alerts/{id}", Need: auth.RoleAnalyst, Tag: alerts, Audit: "alert.update",
			Summary: "Change an alert's state, resolution or assignee, or add a note", In: client.AlertUpdate{}, Out: client.Alert{},
			MaxBody: 64 << 10, Handle: s.updateAlert},
		{Method: "POST", Path: "/api/v1/alerts/bulk", Need: auth.RoleAnalyst, Tag: alerts, Audit: "alert.bulk_update",
			Summary: "Change the state of many alerts at once (no cap on their number)", In: client.AlertBulkUpdate{}, Out: client.AlertBulkResult{},
			Handle: s.bulkUpdateAlerts},
	}
}

func ruleWire(r store.AlertRule) client.AlertRule {
	return client.AlertRule{ID: strconv.FormatInt(r.ID, 10), Name: r.Name, Description: r.Description, Query: r.Query, Kind: r.Kind,
		Params: json.RawMessage(r.Params), Severity: r.Severity, Enabled: r.Enabled, Template: r.Template, Warning: r.Warning,
		Suppressed: r.Suppressed, CreatedAt: r.CreatedAt, CreatedBy: r.CreatedBy, UpdatedAt: r.UpdatedAt, UpdatedBy: r.UpdatedBy, Version: r.Version}
}

func alertWire(a store.Alert) client.Alert {
	return client.Alert{ID: strconv.FormatInt(a.ID, 10), RuleID: strconv.FormatInt(a.RuleID, 10), RuleName: a.RuleName, Group: a.GroupKey,
		Person: a.Person, State: a.State, Resolution: a.Resolution, Assignee: a.Assignee, Severity: a.Severity, Summary: a.Summary,
		FirstEventAt: a.FirstEventAt, LastEventAt: a.LastEventAt, WindowEnd: a.WindowEnd, EventCount: a.EventCount,
		CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt, Version: a.Version}
}

// ruleError turns a refused rule into the API's problem: the parser's own for the query (field
// "query", position and suggestion), a field error otherwise.
func ruleError(err error, prefix string) error {
	var se *search.Error
	if errors.As(err, &se) {
		e := *se
		return &queryError{e: &e, field: prefix + "query"}
	}
	var re *alert.Error
	if errors.As(err, &re) {
		return invalidField(prefix+re.Field, "%s", re.Msg)
	}
	return err
}

// ruleInput decodes and validates a rule body into a stored rule.
func (s *Server) ruleInput(ctx context.Context, in client.AlertRuleInput, prefix string) (store.AlertRule, error) {
	r := store.AlertRule{Name: strings.TrimSpace(in.Name), Description: in.Description, Query: in.Query, Kind: in.Kind,
		Params: []byte(in.Params), Severity: in.Severity, Enabled: in.Enabled == nil || *in.Enabled, Version: in.Version}
	if len(r.Params) == 0 || string(r.Params) == "null" {
		r.Params = []byte("{}")
	}
	if msg := textcheck.Label(r.Name, 200); msg != "" {
		return r, invalidField(prefix+"name", "%s", msg)
	}
	if len(r.Description) > maxNote || !isText(r.Description) {
		return r, invalidField(prefix+"description", "must be text of at most %d bytes", maxNote)
	}
	c, err := alert.Compile(r, s.clock.Now())
	if err != nil {
		return r, ruleError(err, prefix)
	}
	if len(c.P.Watchlists) > 0 {
		ws, err := s.store.ListWatchlists(ctx)
		if err != nil {
			return r, err
		}
		var names []string
		for _, w := range ws {
			names = append(names, watchlist.Key(w.Name))
		}
		for _, n := range c.P.Watchlists {
			if !slices.Contains(names, watchlist.Key(n)) {
				return r, invalidField(prefix+"params.watchlists", "no watchlist is named %q; the watchlists are %s", clip(n, 200), strings.Join(names, ", "))
			}
		}
	}
	// Stored in one spelling, with the defaults written out, so that a rule shows what it does
	// and an edit that changes nothing keeps the rule's evaluation state.
	if r.Params, err = json.Marshal(c.P); err != nil {
		return r, err
	}
	return r, nil
}

func isText(s string) bool {
	return textcheck.Label(strings.NewReplacer("\n", " ", "\t", " ").Replace(s), 1<<20) == ""
}

func (s *Server) listRules(r *http.Request, _ auth.Principal) (any, error) {
	rs, err := s.store.ListAlertRules(r.Context())
	if err != nil {
		return nil, err
	}
	counts, err := s.ruleCounts(r)
	if err != nil {
		return nil, err
	}
	out := client.AlertRuleList{Items: []client.AlertRule{}}
	for _, x := range rs {
		w := ruleWire(x)
		w.Alerts = counts[x.ID]
		out.Items = append(out.Items, w)
	}
	return out, nil
}

// ruleDays is how many days of alert counts a rule shows (AlertRuleCounts.Daily).
const ruleDays = 30

// ruleCounts are every rule's alerts by outcome, with its effectiveness and its alerts per day
// over the last ruleDays days, so a noisy rule shows.
func (s *Server) ruleCounts(r *http.Request) (map[int64]*client.AlertRuleCounts, error) {
	cs, err := s.store.CountAlertsByRule(r.Context())
	if err != nil {
		return nil, err
	}
	out := map[int64]*client.AlertRuleCounts{}
	for _, c := range cs {
		w := &client.AlertRuleCounts{Total: c.Total, Open: c.Open, Confirmed: c.Confirmed, Dismissed: c.Dismissed, Daily: make([]int64, ruleDays)}
		if c.Confirmed+c.Dismissed > 0 {
			e := float64(c.Confirmed) / float64(c.Confirmed+c.Dismissed)
			w.Effectiveness = &e
		}
		out[c.RuleID] = w
	}
	today := s.clock.Now().UTC().Truncate(24 * time.Hour)
	first := today.AddDate(0, 0, -(ruleDays - 1))
	days, err := s.store.CountAlertsByRuleDay(r.Context(), first)
	if err != nil {
		return nil, err
	}
	for _, d := range days {
		i := int(d.Day.Sub(first) / (24 * time.Hour))
		if w := out[d.RuleID]; w != nil && i >= 0 && i < ruleDays {
			w.Daily[i] += d.Alerts
		}
	}
	return out, nil
}

func (s *Server) createRule(r *http.Request, p auth.Principal) (any, error) {
	var in client.AlertRuleInput
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	x, err := s.ruleInput(r.Context(), in, "")
	if err != nil {
		return nil, err
	}
	x.CreatedBy, x.CreatedAt = p.Username, s.clock.Now()
	saved, err := s.store.CreateAlertRule(r.Context(), x)
	if errors.Is(err, store.ErrConflict) {
		return nil, withField(http.StatusConflict, "name", "a rule named %q exists: choose another name", x.Name)
	}
	if err != nil {
		return nil, err
	}
	noteAudit(r, "rule/"+strconv.FormatInt(saved.ID, 10), ruleAudit(saved))
	return created{ruleWire(saved)}, nil
}

func ruleAudit(r store.AlertRule) map[string]any {
	return map[string]any{"name": r.Name, "query": r.Query, "kind": r.Kind, "params": json.RawMessage(r.Params), "severity": r.Severity, "enabled": r.Enabled}
}

func (s *Server) getRule(r *http.Request, _ auth.Principal) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	x, err := s.store.GetAlertRule(r.Context(), id)
	if err != nil {
		return nil, err
	}
	counts, err := s.ruleCounts(r)
	if err != nil {
		return nil, err
	}
	w := ruleWire(x)
	w.Alerts = counts[x.ID]
	return w, nil
}

func (s *Server) updateRule(r *http.Request, p auth.Principal) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	var in client.AlertRuleInput
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	x, err := s.ruleInput(r.Context(), in, "")
	if err != nil {
		return nil, err
	}
	cur, err := s.store.GetAlertRule(r.Context(), id)
	if err != nil {
		return nil, err
	}
	if x.Version != 0 && x.Version != cur.Version {
		return nil, withField(http.StatusConflict, "version", "the rule changed since you read it (version %d, now %d): read it again and reapply your change", x.Version, cur.Version)
	}
	x.ID, x.Version, x.UpdatedBy, x.UpdatedAt = id, cur.Version, p.Username, s.clock.Now()
	saved, err := s.store.UpdateAlertRule(r.Context(), x)
	if errors.Is(err, store.ErrConflict) {
		if strings.Contains(err.Error(), "version") {
			return nil, withField(http.StatusConflict, "version", "the rule changed while you saved it: read it again and reapply your change")
		}
		return nil, withField(http.StatusConflict, "name", "a rule named %q exists: choose another name", x.Name)
	}
	if err != nil {
		return nil, err
	}
	d := ruleAudit(saved)
	d["before"] = ruleAudit(cur)
	noteAudit(r, "rule/"+strconv.FormatInt(id, 10), d)
	return ruleWire(saved), nil
}

func (s *Server) deleteRule(r *http.Request, _ auth.Principal) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	cur, err := s.store.GetAlertRule(r.Context(), id)
	if err != nil {
		return nil, err
	}
	if err := s.store.DeleteAlertRule(r.Context(), id); err != nil {
		return nil, err
	}
	noteAudit(r, "rule/"+strconv.FormatInt(id, 10), ruleAudit(cur))
	return nil, nil
}

func (s *Server) testRule(r *http.Request, _ auth.Principal) (any, error) {
	var in client.RuleTestRequest
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	if in.Days == 0 {
		in.Days = defaultTestDays
	}
	if in.Days < 1 || in.Days > alert.MaxBacktestDays {
		return nil, invalidField("days", "%d is not between 1 and %d", in.Days, alert.MaxBacktestDays)
	}
	x, err := s.ruleInput(r.Context(), in.Rule, "rule.")
	if err != nil {
		return nil, err
	}
	res, err := alert.Backtest(r.Context(), s.store, x, in.Days, s.clock.Now(), 0)
	if err != nil {
		return nil, ruleError(err, "rule.")
	}
	noteAudit(r, "", map[string]any{"query": x.Query, "kind": x.Kind, "days": in.Days, "alerts": res.Alerts})
	return ruleTestWire(res), nil
}

func ruleTestWire(res alert.BacktestResult) client.RuleTestResult {
	out := client.RuleTestResult{From: res.From, To: res.To, Alerts: res.Alerts, Suppressed: res.Suppressed, Events: res.Events,
		Truncated: res.Truncated, People: []client.RuleTestPerson{}}
	for _, p := range res.People {
		out.People = append(out.People, client.RuleTestPerson(p))
	}
	return out
}

// uncoveredBacktests is how many groups of the risks not covered get their draft backtested, and
// uncoveredBacktestLimit the events each backtest reads at most: the answer stays bounded.
const (
	uncoveredBacktests     = 10
	uncoveredBacktestLimit = 20_000
)

func (s *Server) uncoveredRisks(r *http.Request, _ auth.Principal) (any, error) {
	days := alert.DefaultUncoveredDays
	if v := r.URL.Query().Get("days"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > alert.MaxUncoveredDays {
			return nil, invalidField("days", "%q is not a whole number of days between 1 and %d", v, alert.MaxUncoveredDays)
		}
		days = n
	}
	now := s.clock.Now()
	res, err := alert.Uncovered(r.Context(), s.store, days, now, 0)
	if err != nil {
		return nil, err
	}
	out := client.UncoveredRisks{From: res.From, To: res.To, Scanned: res.Scanned, Uncovered: res.Uncovered, Truncated: res.Truncated,
		Rules: res.Rules, Groups: []client.UncoveredGroup{}}
	for i, g := range res.Groups {
		cg := client.UncoveredGroup{Indicator: g.Indicator, Events: g.Events, People: g.People, Critical: g.Critical, Sample: []string{},
			Draft: client.AlertRuleInput{Name: g.Draft.Name, Description: g.Draft.Description, Query: g.Draft.Query, Kind: g.Draft.Kind,
				Params: json.RawMessage(g.Draft.Params), Severity: g.Draft.Severity}}
		for _, id := range g.Sample {
			cg.Sample = append(cg.Sample, strconv.FormatInt(id, 10))
		}
		if i < uncoveredBacktests {
			bt, err := alert.Backtest(r.Context(), s.store, g.Draft, days, now, uncoveredBacktestLimit)
			if err != nil {
				return nil, err
			}
			t := ruleTestWire(bt)
			cg.Backtest = &t
		}
		out.Groups = append(out.Groups, cg)
	}
	noteAudit(r, "", map[string]any{"days": days, "uncovered": res.Uncovered})
	return out, nil
}

func limitParam(r *http.Request, def int) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxAlertPage {
		return 0, invalidField("limit", "want a whole number from 1 to %d, got %q", maxAlertPage, v)
	}
	return n, nil
}

func (s *Server) listAlerts(r *http.Request, _ auth.Principal) (any, error) {
	f, err := alertFilter(r)
	if err != nil {
		return nil, err
	}
	if f.Limit, err = limitParam(r, alertPage); err != nil {
		return nil, err
	}
	as, err := s.store.ListAlerts(r.Context(), f)
	if err != nil {
		return nil, err
	}
	out := client.AlertList{Items: []client.Alert{}}
	for _, a := range as {
		out.Items = append(out.Items, alertWire(a))
	}
	if len(as) == f.Limit {
		out.Next = strconv.FormatInt(as[len(as)-1].ID, 10)
	}
	return out, nil
}

// alertQueryParams are the filters of the alert list and export.
func alertQueryParams() []Param {
	return []Param{
		{"state", "open, in_progress, resolved or dismissed; repeat or separate with commas"},
		{"severity", "low, moderate, high or critical; repeat or separate with commas"}, {"rule", "a rule id"},
		{"person", "the person's address"}, {"assignee", "user name"},
		{"q", "text in the rule name, summary, person or group (case-insensitive, at most 200 bytes)"},
		{"from", "created at or after (2026-12-06 or RFC 3339)"}, {"to", "created before"},
		{"before", "the next value of the previous page"}}
}

// maxAlertText bounds the text an alert search looks for.
const maxAlertText = 200

// alertFilter reads the filters of the alert list and export from the URL.
func alertFilter(r *http.Request) (store.AlertFilter, error) {
	q := r.URL.Query()
	f := store.AlertFilter{Person: strings.ToLower(q.Get("person")), Assignee: q.Get("assignee"), Text: strings.TrimSpace(q.Get("q"))}
	if len(f.Text) > maxAlertText {
		return f, invalidField("q", "%d bytes long; search for at most %d", len(f.Text), maxAlertText)
	}
	for _, b := range []struct {
		name string
		to   *time.Time
	}{{"from", &f.From}, {"to", &f.To}} {
		v := q.Get(b.name)
		if v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			if t, err = time.Parse("2006-01-02", v); err != nil {
				return f, invalidField(b.name, "%q is not a time: use 2026-12-06 or 2026-12-06T09:00:00Z", v)
			}
		}
		*b.to = t
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		return f, invalidField("to", "must be after from")
	}
	for _, v := range q["state"] {
		for _, st := range strings.Split(v, ",") {
			st = strings.TrimSpace(st)
			if !slices.Contains(alertStates, st) {
				return f, invalidField("state", "%q is not one of %s", st, strings.Join(alertStates, ", "))
			}
			f.States = append(f.States, st)
		}
	}
	for _, v := range q["severity"] {
		for _, sv := range strings.Split(v, ",") {
			sv = strings.TrimSpace(sv)
			if sev := event.Severity(sv); sev == event.SeverityNone || !sev.Valid() {
				return f, invalidField("severity", "%q is not one of low, moderate, high, critical", sv)
			}
			f.Severities = append(f.Severities, sv)
		}
	}
	var err error
	if v := q.Get("rule"); v != "" {
		if f.RuleID, err = strconv.ParseInt(v, 10, 64); err != nil {
			return f, invalidField("rule", "want a rule id, got %q", v)
		}
	}
	if v := q.Get("before"); v != "" {
		if f.BeforeID, err = strconv.ParseInt(v, 10, 64); err != nil {
			return f, invalidField("before", "want the next value of the previous page, got %q", v)
		}
	}
	return f, nil
}

// exportAlerts streams every alert matching the list's filters, newest first, as CSV or JSON
// lines, a page at a time.
func (s *Server) exportAlerts(r *http.Request, _ auth.Principal) (any, error) {
	f, err := alertFilter(r)
	if err != nil {
		return nil, err
	}
	format, err := exportFormat(r)
	if err != nil {
		return nil, err
	}
	noteAudit(r, "alerts", map[string]any{"format": format, "q": f.Text, "states": f.States, "severities": f.Severities, "person": f.Person})
	return pagedExport[store.Alert]{format: format, name: "alerts", header: alertCSVHeader,
		next: func(ctx context.Context, before int64, limit int) ([]store.Alert, error) {
			f.BeforeID, f.Limit = before, limit
			return s.store.ListAlerts(ctx, f)
		},
		id:   func(a store.Alert) int64 { return a.ID },
		row:  alertCSVRow,
		wire: func(a store.Alert) any { return alertWire(a) },
	}.body(r.Context()), nil
}

var alertCSVHeader = []string{"id", "created_at", "rule_id", "rule", "severity", "state", "resolution", "assignee", "person", "group",
	"events", "first_event_at", "last_event_at", "summary"}

func alertCSVRow(a store.Alert) []string {
	t := func(x time.Time) string { return x.UTC().Format(time.RFC3339) }
	return []string{strconv.FormatInt(a.ID, 10), t(a.CreatedAt), strconv.FormatInt(a.RuleID, 10), a.RuleName, a.Severity, a.State,
		a.Resolution, a.Assignee, a.Person, a.GroupKey, strconv.FormatInt(a.EventCount, 10), t(a.FirstEventAt), t(a.LastEventAt), a.Summary}
}

// events returns one page of an alert's events (those still stored: retention may have removed some).
func (s *Server) alertEventPage(r *http.Request, id, after int64, limit int) (client.AlertEvents, error) {
	out := client.AlertEvents{Items: []json.RawMessage{}}
	ids, err := s.store.ListAlertEventIDs(r.Context(), id, after, limit)
	if err != nil {
		return out, err
	}
	for _, eid := range ids {
		e, err := s.store.GetEvent(r.Context(), eid)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return out, err
		}
		b, err := json.Marshal(&e)
		if err != nil {
			return out, err
		}
		out.Items = append(out.Items, b)
	}
	if len(ids) == limit {
		out.Next = strconv.FormatInt(ids[len(ids)-1], 10)
	}
	return out, nil
}

func (s *Server) alertChanges(r *http.Request, id int64) ([]client.AlertChange, error) {
	cs, err := s.store.ListAlertChanges(r.Context(), id)
	out := []client.AlertChange{}
	for _, c := range cs {
		out = append(out, client.AlertChange{At: c.At, Actor: c.Actor, Field: c.Field, From: c.From, To: c.To, Note: c.Note})
	}
	return out, err
}

func (s *Server) getAlert(r *http.Request, _ auth.Principal) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	a, err := s.store.GetAlert(r.Context(), id)
	if err != nil {
		return nil, err
	}
	out := client.AlertDetails{Alert: alertWire(a)}
	if out.Events, err = s.alertEventPage(r, id, 0, alertEventsShown); err != nil {
		return nil, err
	}
	if out.History, err = s.alertChanges(r, id); err != nil {
		return nil, err
	}
	return out, nil
}

func (s *Server) alertEvents(r *http.Request, _ auth.Principal) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	if _, err := s.store.GetAlert(r.Context(), id); err != nil {
		return nil, err
	}
	var after int64
	if v := r.URL.Query().Get("after"); v != "" {
		if after, err = strconv.ParseInt(v, 10, 64); err != nil {
			return nil, invalidField("after", "want the next value of the previous page, got %q", v)
		}
	}
	limit, err := limitParam(r, alertEventsShown)
	if err != nil {
		return nil, err
	}
	return s.alertEventPage(r, id, after, limit)
}

func (s *Server) alertHistory(r *http.Request, _ auth.Principal) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	if _, err := s.store.GetAlert(r.Context(), id); err != nil {
		return nil, err
	}
	h, err := s.alertChanges(r, id)
	return client.AlertHistory{Items: h}, err
}

// alertChange is a validated change of one alert.
type alertChange struct {
	state, resolution, assignee *string
	note                        string
}

func checkChange(state, resolution, assignee *string, note string) (alertChange, error) {
	if state != nil && !slices.Contains(alertStates, *state) {
		return alertChange{}, invalidField("state", "%q is not one of %s", *state, strings.Join(alertStates, ", "))
	}
	if resolution != nil && !slices.Contains(alertResolutions, *resolution) {
		return alertChange{}, invalidField("resolution", "%q is not one of true_positive, benign_true_positive, false_positive (or \"\" to clear it)", *resolution)
	}
	if assignee != nil {
		if msg := textcheck.Label(*assignee, 200); msg != "" {
			return alertChange{}, invalidField("assignee", "%s", msg)
		}
	}
	if len(note) > maxNote || !isText(note) {
		return alertChange{}, invalidField("note", "must be text of at most %d bytes", maxNote)
	}
	return alertChange{state, resolution, assignee, note}, nil
}

// apply changes an alert by compare-and-set (version 0: whatever the stored one is, retried on a
// concurrent change), recording each changed field and the note in its history. It reports whether
// anything changed.
func (s *Server) apply(r *http.Request, id, version int64, c alertChange, actor string) (store.Alert, bool, error) {
	for attempt := 0; ; attempt++ {
		a, err := s.store.GetAlert(r.Context(), id)
		if err != nil {
			return a, false, err
		}
		if version != 0 && a.Version != version {
			return a, false, withField(http.StatusConflict, "version", "the alert changed since you read it (version %d, now %d): read it again", version, a.Version)
		}
		next := a
		var changes []store.AlertChange
		set := func(field string, dst *string, v *string) {
			if v != nil && *v != *dst {
				changes = append(changes, store.AlertChange{Actor: actor, Field: field, From: *dst, To: *v})
				*dst = *v
			}
		}
		set("state", &next.State, c.state)
		if c.resolution == nil && c.state != nil && (*c.state == store.AlertOpen || *c.state == store.AlertInProgress) && next.Resolution != "" {
			empty := ""
			set("resolution", &next.Resolution, &empty) // reopened: no longer resolved
		}
		set("resolution", &next.Resolution, c.resolution)
		set("assignee", &next.Assignee, c.assignee)
		if c.note != "" {
			changes = append(changes, store.AlertChange{Actor: actor, Field: "note", Note: c.note})
		}
		if len(changes) == 0 {
			return a, false, nil
		}
		next.UpdatedAt = s.clock.Now()
		// The change and the ServiceNow and Jira deliveries that carry it to the alert's ticket
		// (internal/integration) commit together.
		var out store.Alert
		err = s.store.InTx(r.Context(), func(q store.Queries) error {
			var err error
			if out, err = q.UpdateAlert(r.Context(), next, changes); err != nil || s.integ == nil {
				return err
			}
			return s.integ.Changed(r.Context(), q, out, changes)
		})
		if errors.Is(err, store.ErrConflict) && version == 0 && attempt < 5 {
			continue // the evaluator or another analyst changed it meanwhile: apply to the new version
		}
		return out, err == nil, err
	}
}

func (s *Server) updateAlert(r *http.Request, p auth.Principal) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	var in client.AlertUpdate
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	c, err := checkChange(in.State, in.Resolution, in.Assignee, in.Note)
	if err != nil {
		return nil, err
	}
	before, err := s.store.GetAlert(r.Context(), id)
	if err != nil {
		return nil, err
	}
	a, _, err := s.apply(r, id, in.Version, c, p.Username)
	if err != nil {
		return nil, err
	}
	noteAudit(r, "alert/"+strconv.FormatInt(id, 10), map[string]any{"from": map[string]string{"state": before.State, "resolution": before.Resolution,
		"assignee": before.Assignee}, "to": map[string]string{"state": a.State, "resolution": a.Resolution, "assignee": a.Assignee}, "note": in.Note})
	return alertWire(a), nil
}

func (s *Server) bulkUpdateAlerts(r *http.Request, p auth.Principal) (any, error) {
	var in client.AlertBulkUpdate
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	if len(in.IDs) == 0 {
		return nil, invalidField("ids", "name at least one alert id")
	}
	c, err := checkChange(&in.State, in.Resolution, nil, in.Note)
	if err != nil {
		return nil, err
	}
	ids := make([]int64, 0, len(in.IDs))
	for i, v := range in.IDs {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id <= 0 {
			return nil, invalidField("ids["+strconv.Itoa(i)+"]", "%q is not an alert id", v)
		}
		ids = append(ids, id)
	}
	out := client.AlertBulkResult{}
	for i, id := range ids {
		_, changed, err := s.apply(r, id, 0, c, p.Username)
		switch {
		case errors.Is(err, store.ErrNotFound):
			if len(out.Errors) < 100 {
				out.Errors = append(out.Errors, client.FieldError{Field: "ids[" + strconv.Itoa(i) + "]", Value: in.IDs[i], Message: "no such alert"})
			}
		case err != nil:
			return nil, err
		case changed:
			out.Updated++
		default:
			out.Unchanged++
		}
	}
	noteAudit(r, "alerts", map[string]any{"count": len(ids), "ids": in.IDs[:min(len(in.IDs), 1000)], "state": in.State, "resolution": in.Resolution, "note": in.Note, "updated": out.Updated})
	return out, nil
}
