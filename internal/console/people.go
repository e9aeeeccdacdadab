package console

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/event"
)

// The person page (issue 16): a person's watchlists, rolling risk score and its trend, departure
// exposure when they are leaving, alerts, cases and recent events; and the case pages.

type personData struct {
	Person   client.Person
	MaxDay   int64 // the largest day of the trend, the meters' scale
	Events   []event.FileEvent
	Exposure *client.Exposure // departing people only
	CSVURL   string
	Alias    string // the add-alias form as typed
}

func (c *Console) personPage(w http.ResponseWriter, r *http.Request, s *session) {
	c.showPerson(w, r, s, http.StatusOK, nil, "")
}

func (c *Console) showPerson(w http.ResponseWriter, r *http.Request, s *session, status int, formErr error, alias string) {
	email := strings.ToLower(strings.TrimSpace(r.PathValue("email")))
	v := &view{Title: email, Nav: "people", User: s, Wide: true}
	var p client.Person
	if err := c.call(r, s, "GET", "/api/v1/people/"+url.PathEscape(email), nil, &p); err != nil {
		v.problem(err)
		c.render(w, r, statusOf(err), "error", v)
		return
	}
	d := personData{Person: p, CSVURL: "/people/" + url.PathEscape(p.Email) + "/exposure.csv", Alias: alias}
	for _, t := range p.Risk.Trend {
		d.MaxDay = max(d.MaxDay, t.Score)
	}
	for _, raw := range p.RecentEvents {
		var e event.FileEvent
		if json.Unmarshal(raw, &e) == nil {
			d.Events = append(d.Events, e)
		}
	}
	if p.Departing {
		var x client.Exposure
		if err := c.call(r, s, "GET", "/api/v1/people/"+url.PathEscape(p.Email)+"/exposure?limit=100", nil, &x); err != nil {
			v.problem(err)
		} else {
			d.Exposure = &x
		}
	}
	if formErr != nil {
		v.problem(formErr)
	}
	v.Title = "Person: " + p.Email
	v.Data = d
	c.render(w, r, status, "person", v)
}

// addAlias makes an address another of the person's (admins; the API checks and audits).
func (c *Console) addAlias(w http.ResponseWriter, r *http.Request, s *session) {
	email, alias := r.PathValue("email"), r.PostFormValue("alias")
	var out client.PersonAliases
	if err := c.call(r, s, "POST", "/api/v1/people/"+url.PathEscape(email)+"/aliases", client.AliasInput{Alias: alias}, &out); err != nil {
		c.showPerson(w, r, s, statusOf(err), err, alias)
		return
	}
	c.redirect(w, r, "/people/"+url.PathEscape(email), strings.ToLower(strings.TrimSpace(alias))+" is now an alias of "+email+".")
}

func (c *Console) removeAlias(w http.ResponseWriter, r *http.Request, s *session) {
	email, alias := r.PathValue("email"), r.PostFormValue("alias")
	if err := c.call(r, s, "DELETE", "/api/v1/people/"+url.PathEscape(email)+"/aliases/"+url.PathEscape(alias), nil, nil); err != nil {
		c.showPerson(w, r, s, statusOf(err), err, "")
		return
	}
	c.redirect(w, r, "/people/"+url.PathEscape(email), alias+" is no longer an alias of "+email+".")
}

type peopleData struct {
	Items             []client.PersonSummary
	NextURL, FirstURL string
}

// peoplePage lists people by address (R8.3), a page at a time.
func (c *Console) peoplePage(w http.ResponseWriter, r *http.Request, s *session) {
	v := &view{Title: "People", Nav: "people", User: s, Wide: true}
	after := r.URL.Query().Get("after")
	q := url.Values{"limit": {strconv.Itoa(pageSize)}}
	if after != "" {
		q.Set("after", after)
	}
	var out client.PeopleList
	status := http.StatusOK
	if err := c.call(r, s, "GET", "/api/v1/people?"+q.Encode(), nil, &out); err != nil {
		v.problem(err)
		status = statusOf(err)
	}
	d := peopleData{Items: out.Items}
	if after != "" {
		d.FirstURL = "/people"
	}
	if out.Next != "" {
		d.NextURL = "/people?" + url.Values{"after": {out.Next}}.Encode()
	}
	v.Data = d
	c.render(w, r, status, "people", v)
}

func (c *Console) personExposureCSV(w http.ResponseWriter, r *http.Request, s *session) {
	c.stream(w, r, s, "GET", "/api/v1/people/"+url.PathEscape(strings.ToLower(r.PathValue("email")))+"/exposure.csv", nil)
}

var caseStateNames = []string{"open", "closed", "archived"}

type casesData struct {
	States            []option
	Items             []client.Case
	NextURL, FirstURL string
	Form              client.CaseInput
	People, Alerts    string // the create form's lists as typed
}

func (c *Console) casesPage(w http.ResponseWriter, r *http.Request, s *session) {
	c.showCases(w, r, s, http.StatusOK, nil, casesData{})
}

func (c *Console) showCases(w http.ResponseWriter, r *http.Request, s *session, status int, formErr error, d casesData) {
	v := &view{Title: "Cases", Nav: "cases", User: s, Wide: true}
	in := r.URL.Query()
	q := url.Values{"limit": {"50"}}
	for _, st := range in["state"] {
		q.Add("state", st)
	}
	if b := in.Get("before"); b != "" {
		q.Set("before", b)
	}
	d.States = options(caseStateNames, in["state"]...)
	var out client.CaseList
	if err := c.call(r, s, "GET", "/api/v1/cases?"+q.Encode(), nil, &out); err != nil {
		v.problem(err)
		status = statusOf(err)
	}
	d.Items = out.Items
	q.Del("limit")
	q.Del("before")
	if in.Get("before") != "" {
		d.FirstURL = "/cases?" + q.Encode()
	}
	if out.Next != "" {
		q.Set("before", out.Next)
		d.NextURL = "/cases?" + q.Encode()
	}
	if formErr != nil {
		v.problem(formErr)
	}
	v.Data = d
	c.render(w, r, status, "cases", v)
}

// list splits a form field of addresses or ids separated by commas, spaces or lines.
func list(v string) []string {
	return strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' || r == ';' })
}

func (c *Console) createCase(w http.ResponseWriter, r *http.Request, s *session) {
	in := client.CaseInput{Title: r.PostFormValue("title"), Description: r.PostFormValue("description"), Assignee: r.PostFormValue("assignee"),
		LegalHold: r.PostFormValue("legal_hold") == "on"}
	in.People, in.AlertIDs = list(r.PostFormValue("people")), list(r.PostFormValue("alerts"))
	var out client.Case
	if err := c.call(r, s, "POST", "/api/v1/cases", in, &out); err != nil {
		c.showCases(w, r, s, statusOf(err), err, casesData{Form: in, People: r.PostFormValue("people"), Alerts: r.PostFormValue("alerts")})
		return
	}
	c.redirect(w, r, "/cases/"+out.ID, "Case "+out.ID+" opened.")
}

type caseData struct {
	Details client.CaseDetails
	Events  []event.FileEvent
	States  []option
	More    bool
}

func (c *Console) casePage(w http.ResponseWriter, r *http.Request, s *session) {
	c.showCase(w, r, s, http.StatusOK, nil)
}

func (c *Console) showCase(w http.ResponseWriter, r *http.Request, s *session, status int, formErr error) {
	v := &view{Title: "Case", Nav: "cases", User: s, Wide: true}
	var det client.CaseDetails
	if err := c.call(r, s, "GET", "/api/v1/cases/"+url.PathEscape(r.PathValue("id")), nil, &det); err != nil {
		v.problem(err)
		c.render(w, r, statusOf(err), "error", v)
		return
	}
	d := caseData{Details: det, States: options(caseStateNames, det.Case.State), More: det.Events.Next != ""}
	for _, raw := range det.Events.Items {
		var e event.FileEvent
		if json.Unmarshal(raw, &e) == nil {
			d.Events = append(d.Events, e)
		}
	}
	v.Title = "Case " + det.Case.ID + ": " + det.Case.Title
	if formErr != nil {
		v.problem(formErr)
	}
	v.Data = d
	c.render(w, r, status, "case", v)
}

func (c *Console) updateCase(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	state, who := r.PostFormValue("state"), strings.TrimSpace(r.PostFormValue("assignee"))
	hold := r.PostFormValue("legal_hold") == "on"
	in := client.CaseUpdate{State: &state, Assignee: &who, LegalHold: &hold, Note: r.PostFormValue("note")}
	if vs := r.PostFormValue("version"); vs != "" {
		in.Version = atoi64(vs)
	}
	var out client.Case
	if err := c.call(r, s, "PATCH", "/api/v1/cases/"+url.PathEscape(id), in, &out); err != nil {
		c.showCase(w, r, s, statusOf(err), err)
		return
	}
	c.redirect(w, r, "/cases/"+url.PathEscape(id), "Case "+out.ID+" saved.")
}

func (c *Console) addToCase(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	in := client.CaseItemsInput{People: list(r.PostFormValue("people")), AlertIDs: list(r.PostFormValue("alerts")), EventIDs: list(r.PostFormValue("events"))}
	var out client.CaseItemsAdded
	if err := c.call(r, s, "POST", "/api/v1/cases/"+url.PathEscape(id)+"/items", in, &out); err != nil {
		c.showCase(w, r, s, statusOf(err), err)
		return
	}
	c.redirect(w, r, "/cases/"+url.PathEscape(id), "Added to the case.")
}

func (c *Console) exportCase(w http.ResponseWriter, r *http.Request, s *session) {
	c.stream(w, r, s, "POST", "/api/v1/cases/"+url.PathEscape(r.PathValue("id"))+"/export", nil)
}

func atoi64(s string) int64 {
	var n int64
	for _, ch := range s {
		if ch < '0' || ch > '9' {
			return 0
		}
		n = n*10 + int64(ch-'0')
	}
	return n
}

// alertToCase adds the alert and its person to the case named in the form, or opens a new case
// with them when none is named.
func (c *Console) alertToCase(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	var a client.AlertDetails
	if err := c.call(r, s, "GET", "/api/v1/alerts/"+url.PathEscape(id), nil, &a); err != nil {
		c.showAlert(w, r, s, statusOf(err), err)
		return
	}
	items := client.CaseItemsInput{AlertIDs: []string{a.Alert.ID}}
	if a.Alert.Person != "" {
		items.People = []string{a.Alert.Person}
	}
	caseID := strings.TrimSpace(r.PostFormValue("case"))
	if caseID == "" {
		var out client.Case
		in := client.CaseInput{Title: "Alert " + a.Alert.ID + ": " + a.Alert.RuleName, CaseItemsInput: items}
		if err := c.call(r, s, "POST", "/api/v1/cases", in, &out); err != nil {
			c.showAlert(w, r, s, statusOf(err), err)
			return
		}
		c.redirect(w, r, "/cases/"+out.ID, "Case "+out.ID+" opened with alert "+a.Alert.ID+".")
		return
	}
	var out client.CaseItemsAdded
	if err := c.call(r, s, "POST", "/api/v1/cases/"+url.PathEscape(caseID)+"/items", items, &out); err != nil {
		c.showAlert(w, r, s, statusOf(err), err)
		return
	}
	c.redirect(w, r, "/cases/"+url.PathEscape(caseID), "Alert "+a.Alert.ID+" added to the case.")
}
