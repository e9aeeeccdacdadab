package api

import (
	"bytes"
	"io"
	"net/http"

	"github.com/telltale-dev/telltale/internal/auth"
	"github.com/telltale-dev/telltale/internal/metrics"
)

func (s *Server) systemRoutes() []Route {
	return []Route{
		{Method: "GET", Path: "/healthz", Public: "a liveness probe for orchestrators; it reveals nothing but that the process serves HTTP",
			Summary: "Liveness probe", Tag: "system", Out: map[string]string{},
			Handle: func(r *http.Request, _ auth.Principal) (any, error) {
				return map[string]string{"status": "ok"}, nil
			}},
		{Method: "GET", Path: "/readyz", Public: "a readiness probe for load balancers; it reveals only whether the node can serve",
			Summary: "Readiness probe: the store answers and the node's work runner is started", Tag: "system", Out: map[string]string{},
			Handle: func(r *http.Request, _ auth.Principal) (any, error) {
				if err := s.ready(r.Context()); err != nil {
					return nil, withStatus(http.StatusServiceUnavailable, "not ready: %v", err)
				}
				return map[string]string{"status": "ready"}, nil
			}},
		{Method: "GET", Path: "/metrics", Need: auth.RoleReadOnly, Summary: "Prometheus metrics (text exposition format)", Tag: "system", Out: textBody{},
			Handle: func(r *http.Request, _ auth.Principal) (any, error) {
				var b bytes.Buffer
				if err := s.metrics.WriteText(&b); err != nil {
					return nil, err
				}
				return rawBody{contentType: metrics.ContentType, write: func(w io.Writer) error {
					_, err := w.Write(b.Bytes())
					return err
				}}, nil
			}},
		{Method: "GET", Path: "/api/v1/openapi.json", Public: "the API's description holds no data: client generators and people read it before they have a token", Summary: "This API's OpenAPI 3.1 document", Tag: "system", Out: rawJSON{},
			Handle: func(r *http.Request, _ auth.Principal) (any, error) { return s.OpenAPI(), nil }},
	}
}
