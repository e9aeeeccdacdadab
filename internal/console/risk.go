package console

import (
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/client"
)

// riskData is the risk settings page: the settings in force, the re-score form and the jobs.
type riskData struct {
	Settings client.Settings
	Weights  []riskWeight
	Jobs     []client.RescoreJob
	From, To string                 // the form as typed
	Trust    client.TrustedActivity // the trusted activity form as typed
}

type riskWeight struct {
	Indicator string
	Weight    int
}

func (c *Console) riskPage(w http.ResponseWriter, r *http.Request, s *session) {
	c.showRisk(w, r, s, http.StatusOK, nil, riskData{})
}

func (c *Console) showRisk(w http.ResponseWriter, r *http.Request, s *session, status int, formErr error, d riskData) {
	v := &view{Title: "Risk settings", Nav: "risk", User: s}
	if err := c.call(r, s, "GET", "/api/v1/settings", nil, &d.Settings); err != nil {
		v.problem(err)
		status = statusOf(err)
	}
	if d.Settings.Risk != nil {
		for k, n := range d.Settings.Risk.Weights {
			d.Weights = append(d.Weights, riskWeight{k, n})
		}
		sort.Slice(d.Weights, func(i, j int) bool { return d.Weights[i].Indicator < d.Weights[j].Indicator })
	}
	var jobs client.RescoreJobs
	if err := c.call(r, s, "GET", "/api/v1/risk/rescore", nil, &jobs); err != nil {
		v.problem(err)
		status = statusOf(err)
	}
	d.Jobs = jobs.Items
	if formErr != nil {
		v.problem(formErr)
	}
	v.Data = d
	c.render(w, r, status, "risk", v)
}

// formDate reads a date field (YYYY-MM-DD, midnight UTC); "" stays zero and the API names it.
func formDate(v string) (time.Time, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, true
	}
	t, err := time.Parse("2006-01-02", v)
	return t, err == nil
}

func (c *Console) startRescore(w http.ResponseWriter, r *http.Request, s *session) {
	d := riskData{From: r.PostFormValue("from"), To: r.PostFormValue("to")}
	from, ok1 := formDate(d.From)
	to, ok2 := formDate(d.To)
	if !ok1 || !ok2 {
		field := "from"
		if ok1 {
			field = "to"
		}
		msg := "not a date: write it as YYYY-MM-DD (midnight UTC)"
		c.showRisk(w, r, s, http.StatusBadRequest, &client.Problem{Status: http.StatusBadRequest, Title: "Bad Request", Detail: field + ": " + msg,
			Errors: []client.FieldError{{Field: field, Message: msg}}}, d)
		return
	}
	var j client.RescoreJob
	if err := c.call(r, s, "POST", "/api/v1/risk/rescore", client.RescoreRequest{From: from, To: to}, &j); err != nil {
		c.showRisk(w, r, s, statusOf(err), err, d)
		return
	}
	c.redirect(w, r, "/risk", "Started re-score job "+j.ID+" over "+d.From+" to "+d.To+": the stored events of the range get the current settings' risk.")
}

func (c *Console) cancelRescore(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	var j client.RescoreJob
	if err := c.call(r, s, "POST", "/api/v1/risk/rescore/"+url.PathEscape(id)+"/cancel", nil, &j); err != nil {
		c.showRisk(w, r, s, statusOf(err), err, riskData{})
		return
	}
	c.redirect(w, r, "/risk", "Cancelled re-score job "+j.ID+"; the events it re-scored keep their new risk.")
}

// addTrust adds a trusted activity (a recipient, a shared drive or a partner's tenant, R6.5) to the
// settings through the API, which validates it (a refusal names the entry and changes nothing) and
// audits the change.
func (c *Console) addTrust(w http.ResponseWriter, r *http.Request, s *session) {
	t := client.TrustedActivity{Kind: r.PostFormValue("kind"), Service: r.PostFormValue("service"),
		Value: r.PostFormValue("value"), Reason: r.PostFormValue("reason")}
	if t.Kind != "tenant" {
		t.Service = "" // the service select only applies to tenants
	}
	d := riskData{Trust: t}
	var cur client.Settings
	if err := c.call(r, s, "GET", "/api/v1/settings", nil, &cur); err != nil {
		c.showRisk(w, r, s, statusOf(err), err, d)
		return
	}
	next := client.Settings{TrustedDomains: cur.TrustedDomains, RetentionDays: cur.RetentionDays,
		TrustedActivities: append(append([]client.TrustedActivity{}, cur.TrustedActivities...), t)}
	var saved client.Settings
	if err := c.call(r, s, "PUT", "/api/v1/settings", next, &saved); err != nil {
		c.showRisk(w, r, s, statusOf(err), err, d)
		return
	}
	what := t.Kind + " " + strings.TrimSpace(t.Value)
	if t.Service != "" {
		what = t.Service + " " + what
	}
	c.redirect(w, r, "/risk", "Trusted the "+what+"; new events are judged with it (re-score a range for stored ones).")
}
