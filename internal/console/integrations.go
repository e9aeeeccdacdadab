package console

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/telltale-dev/telltale/client"
)

// The console pages of issue 17: automated integrations with their status, condition, last error
// and deliveries (R7.4, R7.5); admins add ServiceNow, Jira and Okta integrations, connect,
// disconnect, send a test delivery and replay one.

// integrationForm is what an admin typed in an "add integration" form, kept when it is refused.
type integrationForm struct {
	Kind   string
	Values map[string]string
}

func (c *Console) integrationsPage(w http.ResponseWriter, r *http.Request, s *session) {
	c.integrationsView(w, r, s, &view{Title: "Integrations", Nav: "integrations", User: s}, http.StatusOK, integrationForm{})
}

// integrationsView renders the integrations page; status and form carry a refused form.
func (c *Console) integrationsView(w http.ResponseWriter, r *http.Request, s *session, v *view, status int, form integrationForm) {
	var out client.IntegrationList
	if err := c.call(r, s, "GET", "/api/v1/integrations", nil, &out); err != nil {
		v.problem(err)
		status = statusOf(err)
	}
	var flows client.FlowList
	if err := c.call(r, s, "GET", "/api/v1/flows", nil, &flows); err != nil {
		v.problem(err)
		status = statusOf(err)
	}
	if form.Values == nil {
		form.Values = map[string]string{}
	}
	v.Data = struct {
		Items []client.Integration
		Flows []client.Flow
		Form  integrationForm
	}{out.Items, flows.Items, form}
	c.render(w, r, status, "integrations", v)
}

// integrationFields are the form fields of the kinds the console adds; secrets are never echoed.
var integrationFields = []string{"name", "url", "auth", "username", "client_id", "email", "project", "issue_type", "group_id", "operation", "mode", "channel", "api_base"}

// integrationInput reads an integration form: its settings, and its secrets (empty ones: keep).
func integrationInput(r *http.Request) (integrationForm, client.IntegrationInput) {
	form := integrationForm{Kind: r.PostFormValue("kind"), Values: map[string]string{}}
	for _, f := range integrationFields {
		form.Values[f] = strings.TrimSpace(r.PostFormValue(f))
	}
	fv := form.Values
	in := client.IntegrationInput{Kind: form.Kind, Name: fv["name"], Settings: client.IntegrationSettings{URL: fv["url"], Auth: fv["auth"],
		Username: fv["username"], ClientID: fv["client_id"], Email: fv["email"], Project: fv["project"], IssueType: fv["issue_type"],
		GroupID: fv["group_id"], Operation: fv["operation"], Mode: fv["mode"], Channel: fv["channel"], APIBase: fv["api_base"]},
		Secrets: &client.IntegrationSecrets{Password: r.PostFormValue("password"), ClientSecret: r.PostFormValue("client_secret"), Token: strings.TrimSpace(r.PostFormValue("token")),
			SigningSecret: r.PostFormValue("signing_secret"), WebhookURL: strings.TrimSpace(r.PostFormValue("webhook_url"))}}
	return form, in
}

// editIntegration changes a ServiceNow, Jira or Okta integration's settings and, when typed, its
// secrets; then, when it was refused or failing, verifies it (connect) so the admin sees at once
// whether the fix works.
func (c *Console) editIntegration(w http.ResponseWriter, r *http.Request, s *session) {
	id := url.PathEscape(r.PathValue("id"))
	_, in := integrationInput(r)
	in.Kind = ""
	in.Version, _ = strconv.ParseInt(r.PostFormValue("version"), 10, 64)
	var out client.Integration
	if err := c.call(r, s, "PATCH", "/api/v1/integrations/"+id, in, &out); err != nil {
		v := &view{Title: "Integration", Nav: "integrations", User: s}
		v.problem(err)
		c.integrationView(w, r, s, v, statusOf(err))
		return
	}
	if out.Condition != "ok" || out.Status != "connected" {
		if err := c.call(r, s, "POST", "/api/v1/integrations/"+id+"/connect", nil, &out); err != nil {
			v := &view{Title: "Integration", Nav: "integrations", User: s}
			v.problem(err)
			v.Error = "Saved, but verifying it failed: " + v.Error
			c.integrationView(w, r, s, v, http.StatusOK)
			return
		}
		c.redirect(w, r, "/integrations/"+id, "Saved, verified and Connected: replay the deliveries that failed.")
		return
	}
	c.redirect(w, r, "/integrations/"+id, "Saved.")
}

// createIntegration adds an integration (ServiceNow, Jira, Okta, Slack, signed webhook) from its form.
func (c *Console) createIntegration(w http.ResponseWriter, r *http.Request, s *session) {
	form, in := integrationInput(r)
	var out client.Integration
	if err := c.call(r, s, "POST", "/api/v1/integrations", in, &out); err != nil {
		v := &view{Title: "Integrations", Nav: "integrations", User: s}
		v.problem(err)
		c.integrationsView(w, r, s, v, statusOf(err), form)
		return
	}
	c.redirect(w, r, "/integrations/"+url.PathEscape(out.ID), out.Name+" is added and Connected: send a test delivery, then add a flow to it.")
}

type integrationData struct {
	Integration client.Integration
	Deliveries  []client.Delivery
	State       string // the deliveries' state filter
	NextURL     string
}

func (c *Console) integrationPage(w http.ResponseWriter, r *http.Request, s *session) {
	c.integrationView(w, r, s, &view{Title: "Integration", Nav: "integrations", User: s}, http.StatusOK)
}

// integrationView renders an integration's page with v's messages.
func (c *Console) integrationView(w http.ResponseWriter, r *http.Request, s *session, v *view, status int) {
	id := url.PathEscape(r.PathValue("id"))
	var in client.Integration
	if err := c.call(r, s, "GET", "/api/v1/integrations/"+id, nil, &in); err != nil {
		v.problem(err)
		c.render(w, r, statusOf(err), "error", v)
		return
	}
	q := url.Values{"limit": {"50"}}
	state := r.URL.Query().Get("state")
	if state != "" {
		q.Set("state", state)
	}
	if b := r.URL.Query().Get("before"); b != "" {
		q.Set("before", b)
	}
	var dl client.DeliveryList
	if err := c.call(r, s, "GET", "/api/v1/integrations/"+id+"/deliveries?"+q.Encode(), nil, &dl); err != nil {
		v.problem(err)
		status = statusOf(err)
	}
	d := integrationData{Integration: in, Deliveries: dl.Items, State: state}
	if dl.Next != "" {
		nq := url.Values{"before": {dl.Next}}
		if state != "" {
			nq.Set("state", state)
		}
		d.NextURL = "/integrations/" + id + "?" + nq.Encode()
	}
	v.Title = "Integration: " + in.Name
	v.Data = d
	c.render(w, r, status, "integration", v)
}

// integrationAction posts an action of the integration and comes back to its page.
func (c *Console) integrationAction(action, done string) func(http.ResponseWriter, *http.Request, *session) {
	return func(w http.ResponseWriter, r *http.Request, s *session) {
		id := url.PathEscape(r.PathValue("id"))
		if err := c.call(r, s, "POST", "/api/v1/integrations/"+id+"/"+action, nil, nil); err != nil {
			v := &view{Title: "Integration", Nav: "integrations", User: s}
			v.problem(err)
			c.render(w, r, statusOf(err), "error", v)
			return
		}
		c.redirect(w, r, "/integrations/"+id, done)
	}
}

func (c *Console) replayDelivery(w http.ResponseWriter, r *http.Request, s *session) {
	id := url.PathEscape(r.PathValue("id"))
	var d client.Delivery
	if err := c.call(r, s, "POST", "/api/v1/deliveries/"+id+"/replay", nil, &d); err != nil {
		v := &view{Title: "Delivery", Nav: "integrations", User: s}
		v.problem(err)
		c.render(w, r, statusOf(err), "error", v)
		return
	}
	c.redirect(w, r, "/integrations/"+url.PathEscape(d.IntegrationID), "Delivery "+d.ID+" is pending again: it is sent now, with the same idempotency key.")
}
