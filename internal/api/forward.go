package api

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/auth"
	"github.com/telltale-dev/telltale/internal/forward"
	"github.com/telltale-dev/telltale/internal/store"
)

// forwardRoutes: SIEM destinations (R8.7), admin only (they see every event). Secrets are write-only.
func (s *Server) forwardRoutes() []Route {
	const tag = "forwarding"
	return []Route{
		{Method: "GET", Path: "/api/v1/forward-destinations", Need: auth.RoleAdmin, Tag: tag,
			Summary: "List the SIEM destinations with their state, last error and lag", Out: client.ForwardList{}, Handle: s.listForward},
		{Method: "POST", Path: "/api/v1/forward-destinations", Need: auth.RoleAdmin, Tag: tag, Audit: "forward.create",
			Summary: "Add a SIEM destination (Splunk HEC or syslog); its address must pass the SSRF guard",
			In:      client.ForwardInput{}, Out: client.ForwardDestination{}, MaxBody: 128 << 10, Handle: s.createForward},
		{Method: "GET", Path: "/api/v1/forward-destinations/{id}", Need: auth.RoleAdmin, Tag: tag,
			Summary: "Get a SIEM destination (its secrets only by name)", Out: client.ForwardDestination{}, Handle: s.getForward},
		{Method: "PATCH", Path: "/api/v1/forward-destinations/{id}", Need: auth.RoleAdmin, Tag: tag, Audit: "forward.update",
			Summary: "Change a destination's name, format, settings and (when given) secrets", In: client.ForwardInput{},
			Out: client.ForwardDestination{}, MaxBody: 128 << 10, Handle: s.updateForward},
		{Method: "DELETE", Path: "/api/v1/forward-destinations/{id}", Need: auth.RoleAdmin, Tag: tag, Audit: "forward.delete",
			Summary: "Delete a destination; events not yet sent to it are not sent", Handle: s.deleteForward},
		{Method: "POST", Path: "/api/v1/forward-destinations/{id}/pause", Need: auth.RoleAdmin, Tag: tag, Audit: "forward.pause",
			Summary: "Pause a destination: events wait in the store from its position", Out: client.ForwardDestination{}, Handle: s.pauseForward},
		{Method: "POST", Path: "/api/v1/forward-destinations/{id}/resume", Need: auth.RoleAdmin, Tag: tag, Audit: "forward.resume",
			Summary: "Resume a paused destination from its position", Out: client.ForwardDestination{}, Handle: s.resumeForward},
		{Method: "POST", Path: "/api/v1/forward-destinations/{id}/test", Need: auth.RoleAdmin, Tag: tag, Audit: "forward.test",
			Summary: "Check that the destination answers and accepts the token, without sending an event", Out: client.ForwardTest{}, Handle: s.testForward},
	}
}

func (s *Server) forwardOn() error {
	if s.forward == nil {
		return withStatus(http.StatusServiceUnavailable, "SIEM forwarding is not enabled on this node")
	}
	return nil
}

func forwardWire(v forward.View) client.ForwardDestination {
	set := v.SecretsSet
	if set == nil {
		set = []string{}
	}
	var streams map[string]client.ForwardStream
	for name, p := range v.Streams {
		if streams == nil {
			streams = map[string]client.ForwardStream{}
		}
		streams[name] = client.ForwardStream{Position: strconv.FormatInt(p.Position, 10), Sent: p.Sent, LastSentAt: p.LastSentAt}
	}
	return client.ForwardDestination{ID: strconv.FormatInt(v.ID, 10), Name: v.Name, Kind: v.Kind, Format: v.Format, Streams: streams,
		Settings: client.ForwardSettings(v.Config), SecretsSet: set, Paused: v.Paused, State: v.State, Failures: v.Failures,
		LastError: v.LastError, LastErrorAt: v.LastErrorAt, LastSentAt: v.LastSentAt, Position: strconv.FormatInt(v.Position, 10),
		Sent: v.Sent, LagEvents: v.Lag, LagSeconds: v.LagAge.Seconds(), CreatedAt: v.CreatedAt, CreatedBy: v.CreatedBy,
		UpdatedAt: v.UpdatedAt, Version: v.Version}
}

func forwardErr(err error) error {
	if errors.Is(err, forward.ErrInvalid) {
		return withStatus(http.StatusUnprocessableEntity, "%v", err)
	}
	if errors.Is(err, store.ErrConflict) {
		return withField(http.StatusConflict, "name", "the name is taken, or the destination changed since you read it: %v", err)
	}
	return err
}

func toForwardInput(in client.ForwardInput) forward.Input {
	x := forward.Input{Name: in.Name, Kind: in.Kind, Format: in.Format, Settings: forward.Settings(in.Settings), FromStart: in.FromStart}
	if in.Secrets != nil {
		sec := forward.Secrets(*in.Secrets)
		x.Secrets = &sec
	}
	return x
}

func (s *Server) listForward(r *http.Request, _ auth.Principal) (any, error) {
	if err := s.forwardOn(); err != nil {
		return nil, err
	}
	vs, err := s.forward.List(r.Context())
	out := client.ForwardList{Items: []client.ForwardDestination{}}
	for _, v := range vs {
		out.Items = append(out.Items, forwardWire(v))
	}
	return out, err
}

func (s *Server) createForward(r *http.Request, p auth.Principal) (any, error) {
	if err := s.forwardOn(); err != nil {
		return nil, err
	}
	var in client.ForwardInput
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	v, err := s.forward.Create(r.Context(), toForwardInput(in), p.Username)
	if err != nil {
		return nil, forwardErr(err)
	}
	noteAudit(r, "forward/"+strconv.FormatInt(v.ID, 10), map[string]any{"name": v.Name, "kind": v.Kind, "format": v.Format, "secrets_set": v.SecretsSet})
	return created{forwardWire(v)}, nil
}

func (s *Server) getForward(r *http.Request, _ auth.Principal) (any, error) {
	if err := s.forwardOn(); err != nil {
		return nil, err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	v, err := s.forward.Get(r.Context(), id)
	if err != nil {
		return nil, err
	}
	return forwardWire(v), nil
}

func (s *Server) updateForward(r *http.Request, _ auth.Principal) (any, error) {
	if err := s.forwardOn(); err != nil {
		return nil, err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	var in client.ForwardInput
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	v, err := s.forward.Update(r.Context(), id, in.Version, toForwardInput(in))
	if err != nil {
		return nil, forwardErr(err)
	}
	noteAudit(r, "forward/"+strconv.FormatInt(v.ID, 10), map[string]any{"name": v.Name, "format": v.Format, "secrets_changed": in.Secrets != nil})
	return forwardWire(v), nil
}

func (s *Server) deleteForward(r *http.Request, _ auth.Principal) (any, error) {
	if err := s.forwardOn(); err != nil {
		return nil, err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	noteAudit(r, "forward/"+strconv.FormatInt(id, 10), nil)
	return nil, s.forward.Delete(r.Context(), id)
}

func (s *Server) setForwardPaused(r *http.Request, paused bool) (any, error) {
	if err := s.forwardOn(); err != nil {
		return nil, err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	noteAudit(r, "forward/"+strconv.FormatInt(id, 10), nil)
	v, err := s.forward.SetPaused(r.Context(), id, paused)
	if err != nil {
		return nil, forwardErr(err)
	}
	return forwardWire(v), nil
}

func (s *Server) pauseForward(r *http.Request, _ auth.Principal) (any, error) {
	return s.setForwardPaused(r, true)
}

func (s *Server) resumeForward(r *http.Request, _ auth.Principal) (any, error) {
	return s.setForwardPaused(r, false)
}

func (s *Server) testForward(r *http.Request, _ auth.Principal) (any, error) {
	if err := s.forwardOn(); err != nil {
		return nil, err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	noteAudit(r, "forward/"+strconv.FormatInt(id, 10), nil)
	if err := s.forward.Test(r.Context(), id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		return client.ForwardTest{OK: false, Error: err.Error()}, nil
	}
	return client.ForwardTest{OK: true}, nil
}
