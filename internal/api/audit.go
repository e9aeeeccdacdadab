package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/auth"
	"github.com/telltale-dev/telltale/internal/store"
)

func (s *Server) auditRoutes() []Route {
	return []Route{
		{Method: "GET", Path: "/api/v1/audit", Need: auth.RoleAdmin, Tag: "audit", Summary: "The audit log, newest first",
			Out: client.AuditList{}, Handle: s.listAudit, Query: []Param{
				{"actor", "user name"}, {"action", "action prefix, e.g. connection."}, {"target", "e.g. connection/7"},
				{"since", "RFC 3339 time"}, {"until", "RFC 3339 time"}, {"before", "the next value of the previous page"}, {"limit", "1 to 1000, default 100"}}},
	}
}

func (s *Server) listAudit(r *http.Request, _ auth.Principal) (any, error) {
	q := r.URL.Query()
	f := store.AuditFilter{Actor: q.Get("actor"), Action: q.Get("action"), Target: q.Get("target"), Limit: 100}
	var err error
	for name, dst := range map[string]*time.Time{"since": &f.Since, "until": &f.Until} {
		if v := q.Get(name); v != "" {
			if *dst, err = time.Parse(time.RFC3339, v); err != nil {
				return nil, invalidField(name, "want an RFC 3339 time such as 2026-11-01T00:00:00Z, got %q", v)
			}
		}
	}
	if v := q.Get("before"); v != "" {
		if f.BeforeID, err = strconv.ParseInt(v, 10, 64); err != nil {
			return nil, invalidField("before", "want the next value of the previous page, got %q", v)
		}
	}
	if v := q.Get("limit"); v != "" {
		if f.Limit, err = strconv.Atoi(v); err != nil || f.Limit < 1 || f.Limit > 1000 {
			return nil, invalidField("limit", "want a whole number from 1 to 1000, got %q", v)
		}
	}
	es, err := s.store.ListAudit(r.Context(), f)
	if err != nil {
		return nil, err
	}
	out := client.AuditList{Items: make([]client.AuditEntry, 0, len(es))}
	for _, e := range es {
		out.Items = append(out.Items, client.AuditEntry{ID: strconv.FormatInt(e.ID, 10), At: e.At, Actor: e.Actor, Action: e.Action,
			Target: e.Target, Details: e.Details, ClientIP: e.ClientIP, Outcome: e.Outcome})
	}
	if len(es) == f.Limit {
		out.Next = strconv.FormatInt(es[len(es)-1].ID, 10)
	}
	return out, nil
}
