package ingest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/httpx"
)

// urlCheckTimeout bounds the DNS lookups of one URL check.
const urlCheckTimeout = 10 * time.Second

// guard is the SSRF guard this node applies to admin-typed vendor URLs (the connectors build the
// same one from Deps.AllowLoopback).
func (s *Service) guard(allowLoopback bool) *httpx.Guard {
	return &httpx.Guard{AllowLoopback: allowLoopback, Resolver: s.o.Resolver}
}

// CheckURLs checks the URL settings of cfg (the spec's fields marked URL) with this node's SSRF
// guard, as the connector's transport will when it dials. A URL left empty or set to the field's
// default (the vendor's public API) is not checked. Literal addresses and localhost names are
// judged without the network; other host names are resolved through Options.Resolver. The error is a
// connector.ConfigError naming each refused field, the rule and what to do.
func (s *Service) CheckURLs(ctx context.Context, service string, cfg connector.Config) error {
	con, ok := s.o.Registry.Get(service)
	if !ok {
		return fmt.Errorf("no connector for service %q", service)
	}
	var errs connector.ConfigError
	for _, f := range con.Spec().Fields {
		if !f.URL {
			continue
		}
		v := strings.TrimSpace(cfg.Settings[f.Name])
		if v == "" || strings.TrimRight(v, "/") == strings.TrimRight(f.Default, "/") {
			continue
		}
		if msg := s.refuseURL(ctx, f, v); msg != "" {
			errs = append(errs, connector.FieldError{Field: f.Name, Message: msg})
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// refuseURL returns why the guard refuses v for field f, with what to do, or "".
func (s *Service) refuseURL(ctx context.Context, f connector.Field, v string) string {
	ctx, cancel := context.WithTimeout(ctx, urlCheckTimeout)
	defer cancel()
	err := s.guard(s.o.AllowLoopback).CheckURLContext(ctx, v)
	if err == nil {
		return ""
	}
	hint := "vendor URLs must name the vendor's public API host"
	if f.Default != "" {
		hint += fmt.Sprintf("; leave %s empty to use %s", f.Name, f.Default)
	}
	if !s.o.AllowLoopback && errors.Is(err, httpx.ErrBlocked) && s.guard(true).CheckURLContext(ctx, v) == nil {
		hint = "to reach a built-in vendor emulator on this machine, start the server with --allow-loopback-vendors (TELLTALE_ALLOW_LOOPBACK_VENDORS=true); never in production"
	}
	return fmt.Sprintf("%s (%s) is refused: %v; %s", f.Label, f.Name, err, hint)
}
