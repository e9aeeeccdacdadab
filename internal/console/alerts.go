package console

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/scope"
)

// The console pages of issue 16: alerts, rules and watchlists. As everywhere in the console, each
// page calls the API in process and shows the API's own messages.

var (
	alertStateNames = []string{"open", "in_progress", "resolved", "dismissed"}
	severityNames   = []string{"low", "moderate", "high", "critical"}
	resolutionNames = []string{"true_positive", "benign_true_positive", "false_positive"}
)

// option is one choice of a select or a set of checkboxes.
type option struct {
	Value, Label string
	Selected     bool
}

func options(values []string, selected ...string) []option {
	out := make([]option, 0, len(values))
	for _, v := range values {
		out = append(out, option{Value: v, Label: strings.ReplaceAll(v, "_", " "), Selected: slices.Contains(selected, v)})
	}
	return out
}

type alertsData struct {
	States, Severities []option
	Rules              []option
	Items              []client.Alert
	NextURL, FirstURL  string
	Self               string // this page, where a bulk change returns
	Resolutions        []option
	BulkStates         []option
	Text, From, To     string // the text search and the creation time range, as typed
	ExportURL          string // every alert matching the filters, as CSV
}

// exportAlerts downloads every alert matching the page's filters as CSV (the API's export).
func (c *Console) exportAlerts(w http.ResponseWriter, r *http.Request, s *session) {
	in := r.URL.Query()
	q := url.Values{}
	for _, k := range []string{"state", "severity", "rule", "q", "from", "to"} {
		for _, x := range in[k] {
			q.Add(k, x)
		}
	}
	c.stream(w, r, s, "GET", "/api/v1/alerts/export?"+q.Encode(), nil)
}

// alertsPage lists alerts newest first, filtered by state, severity, rule, text and creation
// time, paged by the API's cursor, with a bulk state change and a CSV export for analysts.
func (c *Console) alertsPage(w http.ResponseWriter, r *http.Request, s *session) {
	v := &view{Title: "Alerts", Nav: "alerts", User: s, Wide: true}
	in := r.URL.Query()
	q := url.Values{"limit": {strconv.Itoa(pageSize)}}
	for _, st := range in["state"] {
		q.Add("state", st)
	}
	for _, sv := range in["severity"] {
		q.Add("severity", sv)
	}
	if rule := in.Get("rule"); rule != "" {
		q.Set("rule", rule)
	}
	for _, k := range []string{"q", "from", "to"} {
		if x := strings.TrimSpace(in.Get(k)); x != "" {
			q.Set(k, x)
		}
	}
	if b := in.Get("before"); b != "" {
		q.Set("before", b)
	}
	d := alertsData{Text: in.Get("q"), From: in.Get("from"), To: in.Get("to"), States: options(alertStateNames, in["state"]...), Severities: options(severityNames, in["severity"]...),
		Resolutions: options(resolutionNames), BulkStates: options(alertStateNames), Self: "/alerts?" + in.Encode()}
	var rules client.AlertRuleList
	if err := c.call(r, s, "GET", "/api/v1/rules", nil, &rules); err == nil {
		for _, x := range rules.Items {
			d.Rules = append(d.Rules, option{Value: x.ID, Label: x.Name, Selected: x.ID == in.Get("rule")})
		}
	}
	var out client.AlertList
	status := http.StatusOK
	if err := c.call(r, s, "GET", "/api/v1/alerts?"+q.Encode(), nil, &out); err != nil {
		v.problem(err)
		status = statusOf(err)
	}
	d.Items = out.Items
	q.Del("limit")
	q.Del("before")
	d.ExportURL = "/alerts/export?" + q.Encode()
	if in.Get("before") != "" {
		d.FirstURL = "/alerts?" + q.Encode()
	}
	if out.Next != "" {
		q.Set("before", out.Next)
		d.NextURL = "/alerts?" + q.Encode()
	}
	v.Data = d
	c.render(w, r, status, "alerts", v)
}

// bulkAlerts changes the state (and resolution, note) of the alerts ticked on the list.
func (c *Console) bulkAlerts(w http.ResponseWriter, r *http.Request, s *session) {
	in := client.AlertBulkUpdate{IDs: r.PostForm["id"], State: r.PostFormValue("state"), Note: r.PostFormValue("note")}
	if res := r.PostFormValue("resolution"); res != "" {
		in.Resolution = &res
	}
	back := "/alerts"
	if ret := r.PostFormValue("return"); strings.HasPrefix(ret, "/alerts?") {
		back = ret
	}
	var out client.AlertBulkResult
	if err := c.call(r, s, "POST", "/api/v1/alerts/bulk", in, &out); err != nil {
		v := &view{Title: "Alerts", Nav: "alerts", User: s}
		v.problem(err)
		if len(in.IDs) == 0 {
			v.Error = "Tick at least one alert, then choose the state to give them."
		}
		c.render(w, r, statusOf(err), "error", v)
		return
	}
	c.redirect(w, r, back, fmt.Sprintf("%d alerts changed to %s, %d already were.", out.Updated, strings.ReplaceAll(in.State, "_", " "), out.Unchanged))
}

type alertData struct {
	Alert       client.Alert
	Events      []event.FileEvent
	Timeline    []event.FileEvent // the events by observed time
	History     []client.AlertChange
	States      []option
	Resolutions []option
	MoreEvents  bool
}

func (c *Console) alertPage(w http.ResponseWriter, r *http.Request, s *session) {
	c.showAlert(w, r, s, http.StatusOK, nil)
}

func (c *Console) showAlert(w http.ResponseWriter, r *http.Request, s *session, status int, formErr error) {
	v := &view{Title: "Alert", Nav: "alerts", User: s, Wide: true}
	var det client.AlertDetails
	if err := c.call(r, s, "GET", "/api/v1/alerts/"+url.PathEscape(r.PathValue("id")), nil, &det); err != nil {
		v.problem(err)
		c.render(w, r, statusOf(err), "error", v)
		return
	}
	d := alertData{Alert: det.Alert, History: det.History, States: options(alertStateNames, det.Alert.State),
		Resolutions: options(resolutionNames, det.Alert.Resolution), MoreEvents: det.Events.Next != ""}
	for _, raw := range det.Events.Items {
		var e event.FileEvent
		if json.Unmarshal(raw, &e) == nil {
			d.Events = append(d.Events, e)
		}
	}
	d.Timeline = slices.Clone(d.Events)
	slices.SortStableFunc(d.Timeline, func(a, b event.FileEvent) int { return a.Timestamp.Compare(b.Timestamp) })
	v.Title = "Alert " + det.Alert.ID + ": " + det.Alert.RuleName
	if formErr != nil {
		v.problem(formErr)
	}
	v.Data = d
	c.render(w, r, status, "alert", v)
}

// updateAlert applies the detail page's form: state, resolution, assignee and a note.
func (c *Console) updateAlert(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	state, res, who := r.PostFormValue("state"), r.PostFormValue("resolution"), strings.TrimSpace(r.PostFormValue("assignee"))
	in := client.AlertUpdate{State: &state, Resolution: &res, Assignee: &who, Note: r.PostFormValue("note")}
	if (state == "open" || state == "in_progress") && res != "" {
		in.Resolution = nil // reopening clears the resolution; the API does it
	}
	if vs := r.PostFormValue("version"); vs != "" {
		in.Version, _ = strconv.ParseInt(vs, 10, 64)
	}
	var out client.Alert
	if err := c.call(r, s, "PATCH", "/api/v1/alerts/"+url.PathEscape(id), in, &out); err != nil {
		c.showAlert(w, r, s, statusOf(err), err)
		return
	}
	c.redirect(w, r, "/alerts/"+url.PathEscape(id), "Alert "+out.ID+" saved.")
}

type rulesData struct {
	Items []client.AlertRule
}

func (c *Console) rulesPage(w http.ResponseWriter, r *http.Request, s *session) {
	v := &view{Title: "Alert rules", Nav: "rules", User: s, Wide: true}
	var out client.AlertRuleList
	status := http.StatusOK
	if err := c.call(r, s, "GET", "/api/v1/rules", nil, &out); err != nil {
		v.problem(err)
		status = statusOf(err)
	}
	v.Data = rulesData{Items: out.Items}
	c.render(w, r, status, "rules", v)
}

// uncoveredPage lists the risks not covered, each group with its draft (a link to the prefilled
// new rule form) and the draft's backtest.
func (c *Console) uncoveredPage(w http.ResponseWriter, r *http.Request, s *session) {
	v := &view{Title: "Risks not covered", Nav: "rules", User: s, Wide: true}
	days := r.URL.Query().Get("days")
	if days == "" {
		days = "7"
	}
	var out client.UncoveredRisks
	status := http.StatusOK
	if err := c.call(r, s, "GET", "/api/v1/rules/uncovered?days="+url.QueryEscape(days), nil, &out); err != nil {
		v.problem(err)
		status = statusOf(err)
	}
	type row struct {
		client.UncoveredGroup
		DraftURL string
	}
	var rows []row
	for _, g := range out.Groups {
		q := url.Values{"name": {g.Draft.Name}, "description": {g.Draft.Description}, "query": {g.Draft.Query}, "kind": {g.Draft.Kind},
			"params": {string(g.Draft.Params)}, "severity": {g.Draft.Severity}}
		rows = append(rows, row{UncoveredGroup: g, DraftURL: "/rules/new?" + q.Encode()})
	}
	v.Data = struct {
		client.UncoveredRisks
		Days string
		Rows []row
	}{out, days, rows}
	c.render(w, r, status, "uncovered", v)
}

// ruleForm is the create/edit form as typed.
type ruleForm struct {
	ID, Name, Description, Query, Kind, Params, Severity string
	Enabled                                              bool
	Version                                              int64
	Days                                                 int
	Kinds, Severities                                    []option
	Rule                                                 *client.AlertRule // the stored rule (edit)
	Test                                                 *client.RuleTestResult
}

func (f *ruleForm) fill() {
	f.Kinds = options([]string{"threshold", "new_terms"}, f.Kind)
	f.Severities = options(severityNames, f.Severity)
	if f.Days == 0 {
		f.Days = 7
	}
}

func (f ruleForm) input() client.AlertRuleInput {
	en := f.Enabled
	in := client.AlertRuleInput{Name: f.Name, Description: f.Description, Query: f.Query, Kind: f.Kind, Severity: f.Severity, Enabled: &en, Version: f.Version}
	if strings.TrimSpace(f.Params) != "" {
		in.Params = json.RawMessage(f.Params)
	}
	return in
}

func readRuleForm(r *http.Request) ruleForm {
	f := ruleForm{ID: r.PathValue("id"), Name: r.PostFormValue("name"), Description: r.PostFormValue("description"), Query: r.PostFormValue("query"),
		Kind: r.PostFormValue("kind"), Params: r.PostFormValue("params"), Severity: r.PostFormValue("severity"), Enabled: r.PostFormValue("enabled") == "on"}
	f.Version, _ = strconv.ParseInt(r.PostFormValue("version"), 10, 64)
	f.Days, _ = strconv.Atoi(r.PostFormValue("days"))
	f.fill()
	return f
}

func (c *Console) renderRule(w http.ResponseWriter, r *http.Request, s *session, status int, f ruleForm, err error) {
	title := "New alert rule"
	if f.ID != "" {
		title = "Alert rule: " + f.Name
		if f.Rule != nil {
			title = "Alert rule: " + f.Rule.Name
		}
	}
	v := &view{Title: title, Nav: "rules", User: s, Wide: true}
	if err != nil {
		v.problem(err)
		// The backtest names its fields rule.query, rule.params...: they are the form's fields.
		for k, m := range v.Fields {
			if after, ok := strings.CutPrefix(k, "rule."); ok {
				v.Fields[after] = m
			}
		}
		if _, ok := v.Fields["query"]; ok && v.Suggest != "" {
			v.Fields["query"] += " (did you mean " + strconv.Quote(v.Suggest) + "?)"
		}
	}
	v.Data = f
	c.render(w, r, status, "rule", v)
}

// newRulePage is the empty form, or one prefilled from the URL (name, description, query, kind,
// params, severity): the drafts of the risks not covered link here.
func (c *Console) newRulePage(w http.ResponseWriter, r *http.Request, s *session) {
	f := ruleForm{Kind: "threshold", Severity: "moderate", Enabled: true, Params: `{"value": 1, "window": "1h"}`}
	q := r.URL.Query()
	for _, x := range []struct {
		key string
		to  *string
	}{{"name", &f.Name}, {"description", &f.Description}, {"query", &f.Query}, {"kind", &f.Kind}, {"params", &f.Params}, {"severity", &f.Severity}} {
		if v := q.Get(x.key); v != "" {
			*x.to = v
		}
	}
	f.fill()
	c.renderRule(w, r, s, http.StatusOK, f, nil)
}

func (c *Console) rulePage(w http.ResponseWriter, r *http.Request, s *session) {
	var x client.AlertRule
	if err := c.call(r, s, "GET", "/api/v1/rules/"+url.PathEscape(r.PathValue("id")), nil, &x); err != nil {
		v := &view{Title: "Alert rule", Nav: "rules", User: s}
		v.problem(err)
		c.render(w, r, statusOf(err), "error", v)
		return
	}
	f := ruleForm{ID: x.ID, Name: x.Name, Description: x.Description, Query: x.Query, Kind: x.Kind, Params: prettyJSON(x.Params),
		Severity: x.Severity, Enabled: x.Enabled, Version: x.Version, Rule: &x}
	f.fill()
	c.renderRule(w, r, s, http.StatusOK, f, nil)
}

// saveRule creates (no id) or replaces a rule; a refusal shows the form again with the API's
// message beside the field (the parser's, with its position and suggestion, for the query).
func (c *Console) saveRule(w http.ResponseWriter, r *http.Request, s *session) {
	f := readRuleForm(r)
	var out client.AlertRule
	var err error
	if f.ID == "" {
		err = c.call(r, s, "POST", "/api/v1/rules", f.input(), &out)
	} else {
		err = c.call(r, s, "PUT", "/api/v1/rules/"+url.PathEscape(f.ID), f.input(), &out)
	}
	if err != nil {
		c.renderRule(w, r, s, statusOf(err), f, err)
		return
	}
	c.redirect(w, r, "/rules/"+out.ID, "Saved the rule "+out.Name+".")
}

// testRule backtests the form as typed, saved or not.
func (c *Console) testRule(w http.ResponseWriter, r *http.Request, s *session) {
	f := readRuleForm(r)
	if f.Name == "" {
		f.Name = "backtest" // a backtest needs no name; the API checks one
	}
	var res client.RuleTestResult
	if err := c.call(r, s, "POST", "/api/v1/rules/test", client.RuleTestRequest{Rule: f.input(), Days: f.Days}, &res); err != nil {
		c.renderRule(w, r, s, statusOf(err), f, err)
		return
	}
	f.Test = &res
	c.renderRule(w, r, s, http.StatusOK, f, nil)
}

func (c *Console) watchlistsPage(w http.ResponseWriter, r *http.Request, s *session) {
	c.showWatchlists(w, r, s, http.StatusOK, nil)
}

func (c *Console) showWatchlists(w http.ResponseWriter, r *http.Request, s *session, status int, formErr error) {
	v := &view{Title: "Watchlists", Nav: "watchlists", User: s}
	var out client.WatchlistList
	if err := c.call(r, s, "GET", "/api/v1/watchlists", nil, &out); err != nil {
		v.problem(err)
		status = statusOf(err)
	}
	if formErr != nil {
		v.problem(formErr)
	}
	v.Data = out
	c.render(w, r, status, "watchlists", v)
}

func (c *Console) createWatchlist(w http.ResponseWriter, r *http.Request, s *session) {
	var out client.Watchlist
	if err := c.call(r, s, "POST", "/api/v1/watchlists", client.WatchlistInput{Name: r.PostFormValue("name"), Description: r.PostFormValue("description")}, &out); err != nil {
		c.showWatchlists(w, r, s, statusOf(err), err)
		return
	}
	c.redirect(w, r, "/watchlists/"+out.ID, "Created the watchlist "+out.Name+".")
}

type watchlistData struct {
	Watchlist         client.Watchlist
	Members           []client.WatchlistMember
	NextURL, FirstURL string
	Departing         bool
	Email, Date, Note string // the add form as typed
}

func (c *Console) watchlistPage(w http.ResponseWriter, r *http.Request, s *session) {
	c.showWatchlist(w, r, s, http.StatusOK, nil)
}

func (c *Console) showWatchlist(w http.ResponseWriter, r *http.Request, s *session, status int, formErr error) {
	v := &view{Title: "Watchlist", Nav: "watchlists", User: s}
	id := url.PathEscape(r.PathValue("id"))
	var wl client.Watchlist
	if err := c.call(r, s, "GET", "/api/v1/watchlists/"+id, nil, &wl); err != nil {
		v.problem(err)
		c.render(w, r, statusOf(err), "error", v)
		return
	}
	q := url.Values{"limit": {strconv.Itoa(pageSize)}}
	if a := r.URL.Query().Get("after"); a != "" {
		q.Set("after", a)
	}
	var ms client.WatchlistMembers
	if err := c.call(r, s, "GET", "/api/v1/watchlists/"+id+"/members?"+q.Encode(), nil, &ms); err != nil {
		v.problem(err)
		status = statusOf(err)
	}
	d := watchlistData{Watchlist: wl, Members: ms.Items, Departing: wl.Type == "departing_employee"}
	if r.Method == http.MethodPost {
		d.Email, d.Date, d.Note = r.PostFormValue("email"), r.PostFormValue("departure_date"), r.PostFormValue("notes")
	}
	if ms.Next != "" {
		d.NextURL = "/watchlists/" + id + "?" + url.Values{"after": {ms.Next}}.Encode()
	}
	if q.Get("after") != "" {
		d.FirstURL = "/watchlists/" + id
	}
	v.Title = "Watchlist: " + wl.Name
	if formErr != nil {
		v.problem(formErr)
		// members[0].email is the add form's email field.
		for k, m := range v.Fields {
			if after, ok := strings.CutPrefix(k, "members[0]."); ok {
				v.Fields[after] = m
			}
		}
	}
	v.Data = d
	c.render(w, r, status, "watchlist", v)
}

func (c *Console) addMember(w http.ResponseWriter, r *http.Request, s *session) {
	id := url.PathEscape(r.PathValue("id"))
	m := client.WatchlistMember{Email: r.PostFormValue("email"), DepartureDate: r.PostFormValue("departure_date"), Notes: r.PostFormValue("notes")}
	var out client.WatchlistChange
	if err := c.call(r, s, "POST", "/api/v1/watchlists/"+id+"/members", client.WatchlistMembersInput{Members: []client.WatchlistMember{m}}, &out); err != nil {
		c.showWatchlist(w, r, s, statusOf(err), err)
		return
	}
	msg := "Added " + strings.ToLower(strings.TrimSpace(m.Email)) + "."
	if out.Added == 0 {
		msg = "Updated " + strings.ToLower(strings.TrimSpace(m.Email)) + "."
	}
	c.redirect(w, r, "/watchlists/"+id, msg)
}

func (c *Console) removeMember(w http.ResponseWriter, r *http.Request, s *session) {
	id := url.PathEscape(r.PathValue("id"))
	var out client.WatchlistChange
	email := r.PostFormValue("email")
	if err := c.call(r, s, "POST", "/api/v1/watchlists/"+id+"/members/remove", client.WatchlistRemoveInput{Emails: []string{email}}, &out); err != nil {
		c.showWatchlist(w, r, s, statusOf(err), err)
		return
	}
	c.redirect(w, r, "/watchlists/"+id, "Removed "+email+".")
}

// uploadMembers sends a members CSV to the API as it is: a bad file changes nothing, and the page
// lists the rows the API names.
func (c *Console) uploadMembers(w http.ResponseWriter, r *http.Request, s *session) {
	id := url.PathEscape(r.PathValue("id"))
	f, _, err := r.FormFile("members_csv")
	if err != nil {
		c.showWatchlist(w, r, s, http.StatusBadRequest, fmt.Errorf("choose the CSV file of members to upload"))
		return
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, scope.MaxFileSize+1))
	if err != nil {
		c.showWatchlist(w, r, s, http.StatusBadRequest, err)
		return
	}
	q := url.Values{"replace": {strconv.FormatBool(r.PostFormValue("replace") == "on")}}
	var out client.WatchlistChange
	if err := c.call(r, s, "POST", "/api/v1/watchlists/"+id+"/members.csv?"+q.Encode(), csvBody(b), &out); err != nil {
		c.showWatchlist(w, r, s, statusOf(err), err)
		return
	}
	c.redirect(w, r, "/watchlists/"+id, fmt.Sprintf("Uploaded: %d added, %d updated, %d removed.", out.Added, out.Updated, out.Removed))
}
