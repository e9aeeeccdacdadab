package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/auth"
	"github.com/telltale-dev/telltale/internal/connection"
	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/ingest"
)

// Collector is what the API needs of collection (internal/ingest).
type Collector interface {
	Specs() []connector.Spec
	Verify(ctx context.Context, service string, cfg connector.Config) (string, error)
	// CheckURLs checks a config's admin-typed URLs with the node's SSRF guard (connector.ConfigError).
	CheckURLs(ctx context.Context, service string, cfg connector.Config) error
	// Webhook handles a push notification; every refusal wraps ingest.ErrWebhookRefused.
	Webhook(ctx context.Context, service, id string, header map[string][]string, body io.Reader) error
	Import(ctx context.Context, connID int64, r io.Reader) (ingest.ImportResult, error)
}

// maxImport bounds an uploaded export.
const maxImport = 4 << 30

func (s *Server) collectRoutes() []Route {
	if s.collector == nil {
		return nil
	}
	const tag = "connectors"
	return []Route{
		{Method: "GET", Path: "/api/v1/connectors", Need: auth.RoleReadOnly, Tag: tag,
			Summary: "List the data connectors: the fields an admin enters, the vendor permissions requested and why, the vendor-side steps",
			Out: struct {
				Items []client.ConnectorSpec `json:"items"`
			}{}, Handle: s.listConnectors},
		{Method: "POST", Path: "/api/v1/connectors/{service}/verify", Need: auth.RoleAdmin, Tag: tag, Audit: "connector.verify", Reads: true,
			Summary: "Call the vendor with credentials before adding a connection; the error says exactly what to fix",
			In:      client.VerifyRequest{}, Out: client.VerifyResult{}, Handle: s.verifyConnector},
		{Method: "POST", Path: "/api/v1/connections/{id}/import", Need: auth.RoleAdmin, Tag: "connections", Audit: "connection.import",
			Summary: "Import exported vendor records (Box: admin events as JSON lines or API pages) into a connection; records already stored are skipped",
			Out:     client.ImportResult{}, Handle: s.importRecords},
		{Method: "POST", Path: "/api/v1/webhooks/{service}/{id}", Tag: tag,
			Public:  "vendor push notifications authenticate with the vendor's signature (Box: HMAC-SHA256 with the connection's signature keys), checked before anything is done",
			Summary: "Receive a vendor push notification for a connection; a genuine one makes collection poll now, a replay or retry of one already accepted is acknowledged without effect, and every refusal gets the same 401 answer",
			Handle:  s.webhook},
	}
}

func (s *Server) listConnectors(r *http.Request, _ auth.Principal) (any, error) {
	var out struct {
		Items []client.ConnectorSpec `json:"items"`
	}
	for _, sp := range s.collector.Specs() {
		out.Items = append(out.Items, specWire(sp))
	}
	return out, nil
}

func specWire(sp connector.Spec) client.ConnectorSpec {
	w := client.ConnectorSpec{Service: sp.Service, Title: sp.Title, ServiceType: sp.ServiceType, Steps: sp.Steps}
	for _, f := range sp.Fields {
		w.Fields = append(w.Fields, client.ConnectorField{Name: f.Name, Label: f.Label, Help: f.Help, Required: f.Required,
			Secret: f.Secret, Default: f.Default, Tenant: f.Tenant, Advanced: f.Advanced})
	}
	for _, p := range sp.Permissions {
		w.Permissions = append(w.Permissions, client.ConnectorPermission{Name: p.Name, Why: p.Why})
	}
	return w
}

func (s *Server) spec(service string) (connector.Spec, bool) {
	if s.collector == nil {
		return connector.Spec{}, false
	}
	for _, sp := range s.collector.Specs() {
		if sp.Service == service {
			return sp, true
		}
	}
	return connector.Spec{}, false
}

// checkConnectorConfig validates settings and credentials against the connector's spec, naming
// every problem.
func (s *Server) checkConnectorConfig(service, tenant string, settings, creds map[string]string) error {
	sp, ok := s.spec(service)
	if !ok {
		return nil
	}
	err := sp.Validate(connector.Config{TenantID: tenant, Settings: settings, Credentials: creds})
	if err == nil {
		return nil
	}
	br := &badRequest{msg: fmt.Sprintf("%s settings: %s", sp.Title, strings.ReplaceAll(err.Error(), "\n", "; "))}
	var ce connector.ConfigError
	if errors.As(err, &ce) {
		for _, f := range ce {
			name := "settings." + f.Field
			if f.Secret {
				name = "credentials." + f.Field
			}
			br.fields = append(br.fields, client.FieldError{Field: name, Message: f.Message})
		}
	}
	return br
}

// checkService refuses a service that has no connector on this node, naming the ones available
// (422 on the field "service").
func (s *Server) checkService(service string) error {
	if s.collector == nil {
		return nil
	}
	if _, ok := s.spec(service); ok {
		return nil
	}
	var names []string
	for _, sp := range s.collector.Specs() {
		names = append(names, sp.Service)
	}
	avail := strings.Join(names, ", ")
	if _, known := connection.ServiceType(service); known {
		return unprocessableField("service", "no connector for %s yet; available: %s", service, avail)
	}
	return unprocessableField("service", "service %q is not supported; available: %s", service, avail)
}

// checkURLs refuses settings whose URLs the node's SSRF guard refuses (422 naming each field), so
// that such a connection is never stored to sit in Searching (issue 12, defect 7).
func (s *Server) checkURLs(ctx context.Context, service string, cfg connector.Config) error {
	if s.collector == nil {
		return nil
	}
	err := s.collector.CheckURLs(ctx, service, cfg)
	if err == nil {
		return nil
	}
	br := &badRequest{status: http.StatusUnprocessableEntity}
	var ce connector.ConfigError
	if !errors.As(err, &ce) {
		return err
	}
	var msgs []string
	for _, f := range ce {
		name := "settings." + f.Field
		br.fields = append(br.fields, client.FieldError{Field: name, Message: f.Message})
		msgs = append(msgs, name+": "+f.Message)
	}
	br.msg = strings.Join(msgs, "; ")
	return br
}

func (s *Server) verifyConnector(r *http.Request, _ auth.Principal) (any, error) {
	service := r.PathValue("service")
	if _, ok := s.spec(service); !ok {
		return nil, withStatus(http.StatusNotFound, "no connector for service %q: see GET /api/v1/connectors", service)
	}
	var in client.VerifyRequest
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	if err := s.checkConnectorConfig(service, in.TenantID, in.Settings, in.Credentials); err != nil {
		return nil, err
	}
	cfg := connector.Config{TenantID: strings.TrimSpace(in.TenantID), Settings: in.Settings, Credentials: in.Credentials}
	if err := s.checkURLs(r.Context(), service, cfg); err != nil {
		return nil, err
	}
	tenant, err := s.collector.Verify(r.Context(), service, cfg)
	if err != nil {
		switch {
		case errors.Is(err, connector.ErrAuth), errors.Is(err, connector.ErrPermission):
			return nil, withStatus(http.StatusUnprocessableEntity, "%v", err)
		}
		return nil, withStatus(http.StatusBadGateway, "verification failed: %v", err)
	}
	noteAudit(r, "connector/"+service, map[string]any{"tenant_id": tenant})
	return client.VerifyResult{TenantID: tenant}, nil
}

func (s *Server) importRecords(r *http.Request, _ auth.Principal) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	res, err := s.collector.Import(r.Context(), id, http.MaxBytesReader(nil, r.Body, maxImport))
	if err != nil {
		return nil, err
	}
	out := client.ImportResult{Records: res.Records, Events: res.Events, Duplicates: res.Duplicates, OutOfScope: res.OutOfScope, Skipped: res.Skipped}
	for _, m := range res.Malformed {
		out.Malformed = append(out.Malformed, client.LineError{Line: m.Line, Error: m.Err})
	}
	noteAudit(r, fmt.Sprintf("connection/%d", id), map[string]any{"records": res.Records, "events": res.Events, "malformed": len(res.Malformed)})
	return out, nil
}

// webhookRefused is the one answer to every refused push notification, byte for byte: it names no
// connection, state or check (the reason is in telltale_webhook_refused_total and the debug log).
var webhookRefused = func() answer {
	b, _ := json.Marshal(client.Problem{Type: "about:blank", Title: http.StatusText(http.StatusUnauthorized),
		Status: http.StatusUnauthorized, Detail: "push notification refused"})
	return answer{status: http.StatusUnauthorized, contentType: "application/problem+json", body: append(b, '\n')}
}()

func (s *Server) webhook(r *http.Request, _ auth.Principal) (any, error) {
	err := s.collector.Webhook(r.Context(), r.PathValue("service"), r.PathValue("id"), r.Header, r.Body)
	if errors.Is(err, ingest.ErrWebhookRefused) {
		return webhookRefused, nil
	}
	return nil, err
}
