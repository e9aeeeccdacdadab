package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/auth"
	"github.com/telltale-dev/telltale/internal/connection"
	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/httpx"
	"github.com/telltale-dev/telltale/internal/ingest"
)

// Collector is what the API needs of collection (internal/ingest).
type Collector interface {
	Specs() []connector.Spec
	Verify(ctx context.Context, service string, cfg connector.Config) (string, error)
	// CheckURLs checks a config's admin-typed URLs with the node's SSRF guard (connector.ConfigError).
	CheckURLs(ctx context.Context, service string, cfg connector.Config) error
	// Webhook handles a push notification; every refusal wraps ingest.ErrWebhookRefused.
	// The reply, when not nil, is the answer the vendor expects (a validation handshake).
	Webhook(ctx context.Context, service, id string, header http.Header, query url.Values, body io.Reader) (*connector.Reply, error)
	Import(ctx context.Context, connID int64, r io.Reader, opt ingest.ImportOptions) (ingest.ImportResult, error)
	// ConsentURL is where an admin grants a connection's application its access (Microsoft's
	// admin consent), from its tenant and non-secret settings; "" for a vendor without one.
	ConsentURL(service, tenantID string, settings map[string]string) string
}

// DefaultImportMaxSize is the import limit when Deps.ImportMaxSize is not set (--import-max-size).
const DefaultImportMaxSize = 4 << 30

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
			Summary: "Import exported vendor records (Box: admin events as JSON lines or API pages) into a connection; records already stored are skipped. Nothing is stored unless the whole upload is readable, within --import-max-size (413) and free of malformed records (422 listing the first 100 with the total), or skip_malformed=true",
			Query:   []Param{{Name: "skip_malformed", Help: "true: import the usable records of an upload that has malformed ones (they are reported, the first 100 by line)"}},
			MaxBody: s.importMaxSize, Out: client.ImportResult{}, Handle: s.importRecords},
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
	if slices.Contains(connection.Products, service) {
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
		var se *httpx.StatusError
		switch {
		case errors.Is(err, connector.ErrAuth), errors.Is(err, connector.ErrPermission):
			return nil, withStatus(http.StatusUnprocessableEntity, "%v", err)
		case errors.As(err, &se) && se.Code >= 400 && se.Code < 500 && se.Code != http.StatusTooManyRequests:
			// The vendor answered and refused: what was entered is wrong, not the server.
			return nil, withStatus(http.StatusUnprocessableEntity, "the vendor refused the verification: %v: check the settings against the vendor-side steps", err)
		}
		// The vendor could not be reached or failed: 502, logged as a warning (not our error).
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
	var opt ingest.ImportOptions
	switch v := r.URL.Query().Get("skip_malformed"); v {
	case "", "false":
	case "true":
		opt.SkipMalformed = true
	default:
		return nil, invalidField("skip_malformed", "%q is not true or false", v)
	}
	tooLarge := func(limit int64) error {
		return withStatus(http.StatusRequestEntityTooLarge, "the upload is larger than the import limit of %s (--import-max-size, TELLTALE_IMPORT_MAX_SIZE); nothing was imported: split the file, or ask the operator to raise the limit", sizeText(limit))
	}
	if r.ContentLength > s.importMaxSize {
		return nil, tooLarge(s.importMaxSize) // refused before a byte is read
	}
	target := fmt.Sprintf("connection/%d", id)
	// The router bounds the body at the route's MaxBody, the import limit.
	res, err := s.collector.Import(r.Context(), id, r.Body, opt)
	var mb *http.MaxBytesError
	var ie *ingest.ImportError
	switch {
	case errors.As(err, &mb):
		noteAudit(r, target, map[string]any{"refused": "too large", "limit": mb.Limit})
		return nil, tooLarge(mb.Limit)
	case errors.Is(err, ingest.ErrMalformed):
		noteAudit(r, target, map[string]any{"refused": "malformed", "records": res.Records, "malformed": res.MalformedTotal})
		br := &badRequest{msg: fmt.Sprintf("%d of %d records are malformed (the first %d are listed by line); nothing was imported: fix them, or import the other records with skip_malformed=true (telltale connections import --skip-malformed)",
			res.MalformedTotal, res.Records, len(res.Malformed))}
		for _, m := range res.Malformed {
			br.fields = append(br.fields, client.FieldError{Line: m.Line, Message: m.Err})
		}
		return nil, withStatusOf(http.StatusUnprocessableEntity, br)
	case errors.As(err, &ie):
		noteAudit(r, target, map[string]any{"records": ie.Stored.Records, "events": ie.Stored.Events, "failed": true})
		if errors.Is(err, context.Canceled) {
			return nil, err
		}
		s.log.Error("api: import failed part way", "connection", id, "err", err)
		return nil, withStatus(http.StatusInternalServerError, "the import stopped after storing %d events from the first %d records, because of a server error (logged); importing the same file again skips what was stored", ie.Stored.Events, ie.Stored.Records)
	case err != nil:
		return nil, err
	}
	out := client.ImportResult{Records: res.Records, Events: res.Events, Duplicates: res.Duplicates, OutOfScope: res.OutOfScope, Skipped: res.Skipped, MalformedTotal: res.MalformedTotal}
	for _, m := range res.Malformed {
		out.Malformed = append(out.Malformed, client.LineError{Line: m.Line, Error: m.Err})
	}
	noteAudit(r, target, map[string]any{"records": res.Records, "events": res.Events, "malformed": res.MalformedTotal})
	return out, nil
}

// webhookRefused is the one answer to every refused push notification, byte for byte: it names no
// connection, state or check (the reason is in telltale_webhook_refused_total and the debug log).
var webhookRefused = func() answer {
	b, _ := json.Marshal(client.Problem{Type: "about:blank", Title: http.StatusText(http.StatusUnauthorized),
		Status: http.StatusUnauthorized, Detail: "push notification refused"})
	return answer{status: http.StatusUnauthorized, contentType: "application/problem+json", body: append(b, '\n')}
}()

// sizeText says a byte count the way the size settings are written: 4GiB, 16MiB, 1000 bytes.
func sizeText(n int64) string {
	for _, u := range []struct {
		unit string
		size int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.size && n%u.size == 0 {
			return fmt.Sprintf("%d%s", n/u.size, u.unit)
		}
	}
	return fmt.Sprintf("%d bytes", n)
}

func (s *Server) webhook(r *http.Request, _ auth.Principal) (any, error) {
	reply, err := s.collector.Webhook(r.Context(), r.PathValue("service"), r.PathValue("id"), r.Header, r.URL.Query(), r.Body)
	if errors.Is(err, ingest.ErrWebhookRefused) {
		return webhookRefused, nil
	}
	if err != nil || reply == nil {
		return nil, err
	}
	// A handshake's reply is plain text, bounded (connector.MaxReply), always 200.
	return answer{status: http.StatusOK, contentType: "text/plain; charset=utf-8", body: reply.Body}, nil
}
