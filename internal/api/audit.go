package api

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/auth"
	"github.com/telltale-dev/telltale/internal/store"
)

func auditQueryParams() []Param {
	return []Param{{"actor", "user name"}, {"action", "action prefix, e.g. connection."}, {"target", "e.g. connection/7"},
		{"since", "RFC 3339 time"}, {"until", "RFC 3339 time"}}
}

func (s *Server) auditRoutes() []Route {
	return []Route{
		{Method: "GET", Path: "/api/v1/audit", Need: auth.RoleAdmin, Tag: "audit", Summary: "The audit log, newest first",
			Out: client.AuditList{}, Handle: s.listAudit, Query: append(auditQueryParams(),
				Param{"before", "the next value of the previous page"}, Param{"limit", "1 to 1000, default 100"})},
		{Method: "GET", Path: "/api/v1/audit/export", Need: auth.RoleAdmin, Tag: "audit", Audit: "audit.export", Reads: true,
			Summary: "Every audit entry matching the list's filters, newest first, as CSV or JSON lines (streamed)", Out: CSV,
			Handle: s.exportAudit, Query: append(auditQueryParams(), Param{"format", "csv (default) or jsonl"})},
		{Method: "GET", Path: "/api/v1/audit/verify", Need: auth.RoleAdmin, Tag: "audit", Audit: "audit.verify", Reads: true,
			Summary: "Check the audit log's hash chain from its first record to its last: OK with the count, or the first record where it breaks",
			Out:     client.AuditVerification{}, Handle: s.verifyAudit},
	}
}

// auditFilter reads the list's filters (and, with paging, before and limit).
func auditFilter(r *http.Request, paging bool) (store.AuditFilter, error) {
	q := r.URL.Query()
	f := store.AuditFilter{Actor: q.Get("actor"), Action: q.Get("action"), Target: q.Get("target"), Limit: 100}
	var err error
	for _, name := range []string{"since", "until"} {
		dst := map[string]*time.Time{"since": &f.Since, "until": &f.Until}[name]
		if v := q.Get(name); v != "" {
			if *dst, err = time.Parse(time.RFC3339, v); err != nil {
				return f, invalidField(name, "want an RFC 3339 time such as 2026-11-01T00:00:00Z, got %q", v)
			}
		}
	}
	if !paging {
		return f, nil
	}
	if v := q.Get("before"); v != "" {
		if f.BeforeID, err = strconv.ParseInt(v, 10, 64); err != nil {
			return f, invalidField("before", "want the next value of the previous page, got %q", v)
		}
	}
	if v := q.Get("limit"); v != "" {
		if f.Limit, err = strconv.Atoi(v); err != nil || f.Limit < 1 || f.Limit > 1000 {
			return f, invalidField("limit", "want a whole number from 1 to 1000, got %q", v)
		}
	}
	return f, nil
}

func auditWire(e store.AuditEntry) client.AuditEntry {
	out := client.AuditEntry{ID: strconv.FormatInt(e.ID, 10), At: e.At, Actor: e.Actor, Action: e.Action,
		Target: e.Target, Details: e.Details, ClientIP: e.ClientIP, Outcome: e.Outcome, Hash: hex.EncodeToString(e.Hash)}
	if !e.FinishedAt.IsZero() {
		t := e.FinishedAt
		out.FinishedAt = &t
	}
	if len(out.Details) > 0 && !json.Valid(out.Details) {
		out.Details = nil // never fails the page: a record changed around the store shows in verify
	}
	return out
}

func (s *Server) listAudit(r *http.Request, _ auth.Principal) (any, error) {
	f, err := auditFilter(r, true)
	if err != nil {
		return nil, err
	}
	es, err := s.store.ListAudit(r.Context(), f)
	if err != nil {
		return nil, err
	}
	out := client.AuditList{Items: make([]client.AuditEntry, 0, len(es))}
	for _, e := range es {
		out.Items = append(out.Items, auditWire(e))
	}
	if len(es) == f.Limit {
		out.Next = strconv.FormatInt(es[len(es)-1].ID, 10)
	}
	return out, nil
}

var auditCSVHeader = []string{"id", "at", "actor", "action", "target", "outcome", "client_ip", "details", "finished_at", "hash"}

// exportAudit streams the list's entries a page at a time, whatever their number.
func (s *Server) exportAudit(r *http.Request, _ auth.Principal) (any, error) {
	f, err := auditFilter(r, false)
	if err != nil {
		return nil, err
	}
	format, err := exportFormat(r)
	if err != nil {
		return nil, err
	}
	noteAudit(r, "audit", map[string]any{"format": format, "actor": f.Actor, "action": f.Action, "target": f.Target,
		"since": timeOrEmpty(f.Since), "until": timeOrEmpty(f.Until)})
	return pagedExport[store.AuditEntry]{format: format, name: "audit", header: auditCSVHeader,
		next: func(ctx context.Context, before int64, limit int) ([]store.AuditEntry, error) {
			f.BeforeID, f.Limit = before, limit
			return s.store.ListAudit(ctx, f)
		},
		id:   func(e store.AuditEntry) int64 { return e.ID },
		row:  auditCSVRow,
		wire: func(e store.AuditEntry) any { return auditWire(e) },
	}.body(r.Context()), nil
}

func auditCSVRow(e store.AuditEntry) []string {
	a := auditWire(e)
	fin := ""
	if a.FinishedAt != nil {
		fin = a.FinishedAt.UTC().Format(time.RFC3339Nano)
	}
	return []string{a.ID, a.At.UTC().Format(time.RFC3339Nano), a.Actor, a.Action, a.Target, a.Outcome, a.ClientIP,
		string(e.Details), fin, a.Hash}
}

func timeOrEmpty(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func (s *Server) verifyAudit(r *http.Request, _ auth.Principal) (any, error) {
	v, err := store.VerifyAudit(r.Context(), s.store)
	if err != nil {
		return nil, err
	}
	out := auditVerificationWire(v)
	noteAudit(r, "audit", map[string]any{"ok": out.OK, "records": out.Records})
	return out, nil
}

// auditVerificationWire is a verification as the API shows it.
func auditVerificationWire(v store.AuditVerification) client.AuditVerification {
	out := client.AuditVerification{OK: v.OK, Records: v.Count, HeadHash: hex.EncodeToString(v.HeadHash)}
	if v.HeadID > 0 {
		out.HeadID = strconv.FormatInt(v.HeadID, 10)
	}
	if b := v.Break; b != nil {
		out.Break = &client.AuditBreak{Position: b.Seq, Reason: b.Reason}
		if b.ID != 0 {
			out.Break.ID = strconv.FormatInt(b.ID, 10)
		}
	}
	return out
}
