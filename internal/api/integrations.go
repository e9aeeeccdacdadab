package api

import (
	"errors"
	"net/http"
	"slices"
	"strconv"

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/auth"
	"github.com/telltale-dev/telltale/internal/integration"
	"github.com/telltale-dev/telltale/internal/store"
)

// integrationRoutes: integrations (R7.4), their deliveries (R7.5) and flows (R7.3). Secrets are
// write-only (R9.3).
func (s *Server) integrationRoutes() []Route {
	const tag = "integrations"
	return []Route{
		{Method: "GET", Path: "/api/v1/integrations", Need: auth.RoleReadOnly, Tag: tag, Summary: "List the automated integrations with their status and last error",
			Out: client.IntegrationList{}, Handle: s.listIntegrations},
		{Method: "POST", Path: "/api/v1/integrations", Need: auth.RoleAdmin, Tag: tag, Audit: "integration.create",
			Summary: "Add an integration (a signed webhook, Slack, ServiceNow, Jira or Okta); its URL must pass the SSRF guard; it starts Connected",
			In:      client.IntegrationInput{}, Out: client.Integration{}, MaxBody: 64 << 10, Handle: s.createIntegration},
		{Method: "GET", Path: "/api/v1/integrations/{id}", Need: auth.RoleReadOnly, Tag: tag, Summary: "Get an integration (its secrets only by name)",
			Out: client.Integration{}, Handle: s.getIntegration},
		{Method: "PATCH", Path: "/api/v1/integrations/{id}", Need: auth.RoleAdmin, Tag: tag, Audit: "integration.update",
			Summary: "Change an integration's name and settings (all of them) and secrets (each one given replaces the stored one; empty ones are kept)", In: client.IntegrationInput{}, Out: client.Integration{},
			MaxBody: 64 << 10, Handle: s.updateIntegration},
		{Method: "DELETE", Path: "/api/v1/integrations/{id}", Need: auth.RoleAdmin, Tag: tag, Audit: "integration.delete",
			Summary: "Delete an integration and its deliveries", Handle: s.deleteIntegration},
		{Method: "POST", Path: "/api/v1/integrations/{id}/connect", Need: auth.RoleAdmin, Tag: tag, Audit: "integration.connect",
			Summary: "Verify the credentials (Slack: auth.test; ServiceNow: read the incident table; Jira: myself and the project; Okta: the group) and mark the integration Connected", Out: client.Integration{}, Handle: s.connectIntegration},
		{Method: "POST", Path: "/api/v1/integrations/{id}/disconnect", Need: auth.RoleAdmin, Tag: tag, Audit: "integration.disconnect",
			Summary: "Disconnect: flows stop sending to it, its configuration stays", Out: client.Integration{}, Handle: s.disconnectIntegration},
		{Method: "POST", Path: "/api/v1/integrations/{id}/test", Need: auth.RoleAdmin, Tag: tag, Audit: "integration.test",
			Summary: "Send a test delivery", Out: client.Delivery{}, Handle: s.testIntegration},
		{Method: "GET", Path: "/api/v1/integrations/{id}/deliveries", Need: auth.RoleReadOnly, Tag: tag,
			Summary: "An integration's deliveries, newest first, with the destination's last answer", Out: client.DeliveryList{},
			Query:  []Param{{"state", "pending, done or dead"}, {"before", "the next value of the previous page"}, {"limit", "1 to 500, default 100"}},
			Handle: s.listDeliveries},
		{Method: "POST", Path: "/api/v1/deliveries/{id}/replay", Need: auth.RoleAdmin, Tag: tag, Audit: "delivery.replay",
			Summary: "Send a delivery that was sent or failed for good again, with the same idempotency key", Out: client.Delivery{}, Handle: s.replayDelivery},
		{Method: "GET", Path: "/api/v1/flows", Need: auth.RoleReadOnly, Tag: tag, Summary: "List the flows", Out: client.FlowList{}, Handle: s.listFlows},
		{Method: "POST", Path: "/api/v1/flows", Need: auth.RoleAdmin, Tag: tag, Audit: "flow.create",
			Summary: "Add a flow: alert raised (severity at least, rules, a search query over its events), a watchlist change or an HR departure, to integrations",
			In:      client.FlowInput{}, Out: client.Flow{}, MaxBody: 64 << 10, Handle: s.createFlow},
		{Method: "DELETE", Path: "/api/v1/flows/{id}", Need: auth.RoleAdmin, Tag: tag, Audit: "flow.delete", Summary: "Delete a flow", Handle: s.deleteFlow},
		{Method: "POST", Path: "/api/v1/flows/{id}/test", Need: auth.RoleAdmin, Tag: tag, Audit: "flow.test",
			Summary: "Send a test delivery to each of the flow's integrations", Out: client.DeliveryList{}, Handle: s.testFlow},
	}
}

func (s *Server) integrationsOn() error {
	if s.integ == nil {
		return withStatus(http.StatusServiceUnavailable, "integrations are not enabled on this node")
	}
	return nil
}

func integrationWire(v integration.View) client.Integration {
	set := v.SecretsSet
	if set == nil {
		set = []string{}
	}
	return client.Integration{ID: strconv.FormatInt(v.ID, 10), Kind: v.Kind, Name: v.Name, ServiceType: "integration", Status: v.Status,
		Condition: integration.Condition(v.Integration), LastError: v.LastError, LastErrorAt: v.LastErrorAt, Settings: client.IntegrationSettings(v.Config), SecretsSet: set,
		CreatedAt: v.CreatedAt, CreatedBy: v.CreatedBy, UpdatedAt: v.UpdatedAt, Version: v.Version}
}

func deliveryWire(it store.OutboxItem) client.Delivery {
	d := client.Delivery{ID: strconv.FormatInt(it.ID, 10), IntegrationID: strconv.FormatInt(it.IntegrationID, 10), Subject: it.Subject,
		Event: it.Topic, IdempotencyKey: it.IdempotencyKey, State: it.State, Attempts: it.Attempts, LastError: it.LastError,
		Response: it.Response, CreatedAt: it.CreatedAt, DoneAt: it.DoneAt}
	if it.State == store.OutboxPending {
		d.NextAttemptAt = it.NextRunAt
	}
	return d
}

// integrationErr maps the service's validation errors to 422 problems.
func integrationErr(err error) error {
	if errors.Is(err, integration.ErrInvalid) {
		return withStatus(http.StatusUnprocessableEntity, "%v", err)
	}
	if errors.Is(err, store.ErrConflict) {
		return withField(http.StatusConflict, "name", "the name is taken, or the integration changed since you read it: %v", err)
	}
	return err
}

func (s *Server) listIntegrations(r *http.Request, _ auth.Principal) (any, error) {
	if err := s.integrationsOn(); err != nil {
		return nil, err
	}
	vs, err := s.integ.List(r.Context())
	out := client.IntegrationList{Items: []client.Integration{}}
	for _, v := range vs {
		out.Items = append(out.Items, integrationWire(v))
	}
	return out, err
}

func toInput(in client.IntegrationInput) integration.Input {
	x := integration.Input{Kind: in.Kind, Name: in.Name, Settings: integration.Settings(in.Settings)}
	if in.Secrets != nil {
		sec := integration.Secrets(*in.Secrets)
		x.Secrets = &sec
	}
	return x
}

func (s *Server) createIntegration(r *http.Request, p auth.Principal) (any, error) {
	if err := s.integrationsOn(); err != nil {
		return nil, err
	}
	var in client.IntegrationInput
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	v, err := s.integ.Create(r.Context(), toInput(in), p.Username)
	if err != nil {
		return nil, integrationErr(err)
	}
	noteAudit(r, "integration/"+strconv.FormatInt(v.ID, 10), map[string]any{"name": v.Name, "kind": v.Kind, "secrets_set": v.SecretsSet})
	return created{integrationWire(v)}, nil
}

func (s *Server) getIntegration(r *http.Request, _ auth.Principal) (any, error) {
	if err := s.integrationsOn(); err != nil {
		return nil, err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	v, err := s.integ.Get(r.Context(), id)
	if err != nil {
		return nil, err
	}
	return integrationWire(v), nil
}

func (s *Server) updateIntegration(r *http.Request, _ auth.Principal) (any, error) {
	if err := s.integrationsOn(); err != nil {
		return nil, err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	var in client.IntegrationInput
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	v, err := s.integ.Update(r.Context(), id, in.Version, toInput(in))
	if err != nil {
		return nil, integrationErr(err)
	}
	noteAudit(r, "integration/"+strconv.FormatInt(v.ID, 10), map[string]any{"name": v.Name, "secrets_changed": in.Secrets != nil})
	return integrationWire(v), nil
}

func (s *Server) deleteIntegration(r *http.Request, _ auth.Principal) (any, error) {
	if err := s.integrationsOn(); err != nil {
		return nil, err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	noteAudit(r, "integration/"+strconv.FormatInt(id, 10), nil)
	return nil, s.integ.Delete(r.Context(), id)
}

func (s *Server) setIntegrationStatus(r *http.Request, connected bool) (any, error) {
	if err := s.integrationsOn(); err != nil {
		return nil, err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	noteAudit(r, "integration/"+strconv.FormatInt(id, 10), nil)
	v, err := s.integ.SetStatus(r.Context(), id, connected, s.verifyInteg)
	var f *integration.Failure
	if errors.As(err, &f) {
		return nil, withStatus(http.StatusUnprocessableEntity, "the destination refused the credentials: %s", f.Msg)
	}
	if err != nil {
		return nil, integrationErr(err)
	}
	return integrationWire(v), nil
}

func (s *Server) connectIntegration(r *http.Request, _ auth.Principal) (any, error) {
	return s.setIntegrationStatus(r, true)
}

func (s *Server) disconnectIntegration(r *http.Request, _ auth.Principal) (any, error) {
	return s.setIntegrationStatus(r, false)
}

func (s *Server) testIntegration(r *http.Request, p auth.Principal) (any, error) {
	if err := s.integrationsOn(); err != nil {
		return nil, err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	it, err := s.integ.Test(r.Context(), id, p.Username)
	if err != nil {
		return nil, integrationErr(err)
	}
	noteAudit(r, "integration/"+strconv.FormatInt(id, 10), map[string]any{"delivery": it.ID})
	return created{deliveryWire(it)}, nil
}

func (s *Server) listDeliveries(r *http.Request, _ auth.Principal) (any, error) {
	if err := s.integrationsOn(); err != nil {
		return nil, err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	if _, err := s.store.GetIntegration(r.Context(), id); err != nil {
		return nil, err
	}
	q := r.URL.Query()
	f := store.DeliveryFilter{IntegrationID: id, State: q.Get("state")}
	if f.State != "" && !slices.Contains([]string{store.OutboxPending, store.OutboxDone, store.OutboxDead}, f.State) {
		return nil, invalidField("state", "%q is not one of pending, done, dead", f.State)
	}
	if b := q.Get("before"); b != "" {
		if f.BeforeID, err = strconv.ParseInt(b, 10, 64); err != nil || f.BeforeID <= 0 {
			return nil, invalidField("before", "want the next value of the previous page, got %q", b)
		}
	}
	if f.Limit, err = limitParam(r, 100); err != nil {
		return nil, err
	}
	items, err := s.store.ListDeliveries(r.Context(), f)
	out := client.DeliveryList{Items: []client.Delivery{}}
	for _, it := range items {
		out.Items = append(out.Items, deliveryWire(it))
	}
	if len(items) == f.Limit {
		out.Next = strconv.FormatInt(items[len(items)-1].ID, 10)
	}
	return out, err
}

func (s *Server) replayDelivery(r *http.Request, _ auth.Principal) (any, error) {
	if err := s.integrationsOn(); err != nil {
		return nil, err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	noteAudit(r, "delivery/"+strconv.FormatInt(id, 10), nil)
	it, err := s.integ.Replay(r.Context(), id)
	if errors.Is(err, store.ErrConflict) {
		return nil, withStatus(http.StatusConflict, "delivery %d is still pending: it is sent when due", id)
	}
	if err != nil {
		return nil, err
	}
	return deliveryWire(it), nil
}

func flowWire(f store.Flow) client.Flow {
	ids := func(xs []int64) []string {
		out := []string{}
		for _, x := range xs {
			out = append(out, strconv.FormatInt(x, 10))
		}
		return out
	}
	trigger := f.Trigger
	if trigger == "" {
		trigger = integration.TopicAlertRaised
	}
	return client.Flow{ID: strconv.FormatInt(f.ID, 10), Name: f.Name, Enabled: f.Enabled, Trigger: trigger,
		MinSeverity: f.MinSeverity, RuleIDs: ids(f.RuleIDs), Query: f.Query, IntegrationIDs: ids(f.IntegrationIDs), CreatedAt: f.CreatedAt, CreatedBy: f.CreatedBy}
}

func (s *Server) listFlows(r *http.Request, _ auth.Principal) (any, error) {
	fs, err := s.store.ListFlows(r.Context())
	out := client.FlowList{Items: []client.Flow{}}
	for _, f := range fs {
		out.Items = append(out.Items, flowWire(f))
	}
	return out, err
}

func parseIDList(field string, xs []string) ([]int64, error) {
	var out []int64
	for _, x := range xs {
		n, err := strconv.ParseInt(x, 10, 64)
		if err != nil || n <= 0 {
			return nil, invalidField(field, "%q is not an id", x)
		}
		out = append(out, n)
	}
	return out, nil
}

func (s *Server) createFlow(r *http.Request, p auth.Principal) (any, error) {
	if err := s.integrationsOn(); err != nil {
		return nil, err
	}
	var in client.FlowInput
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	x := integration.FlowInput{Name: in.Name, Trigger: in.Trigger, Enabled: in.Enabled == nil || *in.Enabled, MinSeverity: in.MinSeverity, Query: in.Query}
	var err error
	if x.RuleIDs, err = parseIDList("rule_ids", in.RuleIDs); err != nil {
		return nil, err
	}
	if x.IntegrationIDs, err = parseIDList("integration_ids", in.IntegrationIDs); err != nil {
		return nil, err
	}
	f, err := s.integ.CreateFlow(r.Context(), x, p.Username)
	if err != nil {
		return nil, integrationErr(err)
	}
	noteAudit(r, "flow/"+strconv.FormatInt(f.ID, 10), map[string]any{"name": f.Name})
	return created{flowWire(f)}, nil
}

func (s *Server) deleteFlow(r *http.Request, _ auth.Principal) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	noteAudit(r, "flow/"+strconv.FormatInt(id, 10), nil)
	return nil, s.store.DeleteFlow(r.Context(), id)
}

func (s *Server) testFlow(r *http.Request, p auth.Principal) (any, error) {
	if err := s.integrationsOn(); err != nil {
		return nil, err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	items, err := s.integ.TestFlow(r.Context(), id, p.Username)
	if err != nil {
		return nil, err
	}
	noteAudit(r, "flow/"+strconv.FormatInt(id, 10), map[string]any{"deliveries": len(items)})
	out := client.DeliveryList{Items: []client.Delivery{}}
	for _, it := range items {
		out.Items = append(out.Items, deliveryWire(it))
	}
	return created{out}, nil
}
