package console

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/telltale-dev/telltale/client"
)

// The flows page (issue 17, R7.3): an admin builds a flow in the console - a trigger (an alert
// raised, filtered by severity, rules and a search query over the alert's events; an HR
// departure; a watchlist change) to one or more integrations - sends a test delivery through it,
// and deletes it.

// hrKinds are the integration kinds of HR sources (internal/integration.HRKinds).
var hrKinds = map[string]bool{"workday": true, "bamboohr": true, "hr_csv": true, "hr_webhook": true}

type flowRow struct {
	client.Flow
	Integrations []client.Integration // the flow's integrations, in its order (an unknown id shows as its id)
	Rules        []string             // its rules' names
}

type flowsData struct {
	Flows        []flowRow
	Integrations []client.Integration
	Rules        []client.AlertRule
	Form         client.FlowInput
	Enabled      bool
	Tested       []client.Delivery // the deliveries a test just queued
	TestedName   string
}

func (c *Console) flowsPage(w http.ResponseWriter, r *http.Request, s *session) {
	c.flowsView(w, r, s, &view{Title: "Flows", Nav: "integrations", User: s}, http.StatusOK, flowsData{Enabled: true})
}

// flowsView renders the flows page; d carries a refused form or a test's deliveries.
func (c *Console) flowsView(w http.ResponseWriter, r *http.Request, s *session, v *view, status int, d flowsData) {
	var flows client.FlowList
	var ints client.IntegrationList
	var rules client.AlertRuleList
	for _, x := range []struct {
		path string
		out  any
	}{{"/api/v1/flows", &flows}, {"/api/v1/integrations", &ints}, {"/api/v1/rules", &rules}} {
		if err := c.call(r, s, "GET", x.path, nil, x.out); err != nil {
			v.problem(err)
			status = statusOf(err)
		}
	}
	byID := map[string]client.Integration{}
	for _, i := range ints.Items {
		byID[i.ID] = i
	}
	ruleName := map[string]string{}
	for _, x := range rules.Items {
		ruleName[x.ID] = x.Name
	}
	for _, f := range flows.Items {
		row := flowRow{Flow: f}
		for _, id := range f.IntegrationIDs {
			i, ok := byID[id]
			if !ok {
				i = client.Integration{ID: id, Name: "integration " + id}
			}
			row.Integrations = append(row.Integrations, i)
		}
		for _, id := range f.RuleIDs {
			if n, ok := ruleName[id]; ok {
				row.Rules = append(row.Rules, n)
			} else {
				row.Rules = append(row.Rules, "rule "+id)
			}
		}
		d.Flows = append(d.Flows, row)
	}
	for _, i := range ints.Items {
		if !hrKinds[i.Kind] { // HR sources bring people in: a flow sends to the others
			d.Integrations = append(d.Integrations, i)
		}
	}
	d.Rules = rules.Items
	v.Data = d
	c.render(w, r, status, "flows", v)
}

// createFlow adds a flow from its form; a refused one is shown again with the API's message.
func (c *Console) createFlow(w http.ResponseWriter, r *http.Request, s *session) {
	enabled := r.PostFormValue("enabled") == "on"
	in := client.FlowInput{Name: strings.TrimSpace(r.PostFormValue("name")), Enabled: &enabled, Trigger: r.PostFormValue("trigger"),
		MinSeverity: r.PostFormValue("min_severity"), RuleIDs: r.PostForm["rule_ids"], Query: strings.TrimSpace(r.PostFormValue("query")),
		IntegrationIDs: r.PostForm["integration_ids"]}
	var out client.Flow
	if err := c.call(r, s, "POST", "/api/v1/flows", in, &out); err != nil {
		v := &view{Title: "Flows", Nav: "integrations", User: s}
		v.problem(err)
		c.flowsView(w, r, s, v, statusOf(err), flowsData{Form: in, Enabled: enabled})
		return
	}
	c.redirect(w, r, "/flows", "Flow "+out.Name+" is added: send a test through it to see each integration answer.")
}

// testFlow queues a test delivery to each of the flow's integrations and shows them.
func (c *Console) testFlow(w http.ResponseWriter, r *http.Request, s *session) {
	var out client.DeliveryList
	v := &view{Title: "Flows", Nav: "integrations", User: s}
	if err := c.call(r, s, "POST", "/api/v1/flows/"+url.PathEscape(r.PathValue("id"))+"/test", nil, &out); err != nil {
		v.problem(err)
		c.flowsView(w, r, s, v, statusOf(err), flowsData{Enabled: true})
		return
	}
	c.flowsView(w, r, s, v, http.StatusOK, flowsData{Enabled: true, Tested: out.Items, TestedName: r.PostFormValue("name")})
}

// deleteFlow removes a flow.
func (c *Console) deleteFlow(w http.ResponseWriter, r *http.Request, s *session) {
	if err := c.call(r, s, "DELETE", "/api/v1/flows/"+url.PathEscape(r.PathValue("id")), nil, nil); err != nil {
		v := &view{Title: "Flows", Nav: "integrations", User: s}
		v.problem(err)
		c.flowsView(w, r, s, v, statusOf(err), flowsData{Enabled: true})
		return
	}
	c.redirect(w, r, "/flows", "The flow is deleted: alerts no longer go through it.")
}
