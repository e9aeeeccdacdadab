package console

import (
	"net/http"
	"net/url"

	"github.com/telltale-dev/telltale/client"
)

// The console pages of issue 17, part 1: automated integrations with their status, last error and
// deliveries (R7.4, R7.5); admins connect, disconnect, send a test delivery and replay one.

func (c *Console) integrationsPage(w http.ResponseWriter, r *http.Request, s *session) {
	v := &view{Title: "Integrations", Nav: "integrations", User: s}
	var out client.IntegrationList
	status := http.StatusOK
	if err := c.call(r, s, "GET", "/api/v1/integrations", nil, &out); err != nil {
		v.problem(err)
		status = statusOf(err)
	}
	var flows client.FlowList
	if err := c.call(r, s, "GET", "/api/v1/flows", nil, &flows); err != nil {
		v.problem(err)
		status = statusOf(err)
	}
	v.Data = struct {
		Items []client.Integration
		Flows []client.Flow
	}{out.Items, flows.Items}
	c.render(w, r, status, "integrations", v)
}

type integrationData struct {
	Integration client.Integration
	Deliveries  []client.Delivery
	State       string // the deliveries' state filter
	NextURL     string
}

func (c *Console) integrationPage(w http.ResponseWriter, r *http.Request, s *session) {
	v := &view{Title: "Integration", Nav: "integrations", User: s}
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
	status := http.StatusOK
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
