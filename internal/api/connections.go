package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/auth"
	"github.com/telltale-dev/telltale/internal/connection"
	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/scope"
	"github.com/telltale-dev/telltale/internal/store"
)

func (s *Server) connectionRoutes() []Route {
	const tag = "connections"
	return []Route{
		{Method: "GET", Path: "/api/v1/connections", Need: auth.RoleReadOnly, Tag: tag, Summary: "List data connections",
			Out: struct {
				Items []client.Connection `json:"items"`
			}{}, Handle: s.listConnections},
		{Method: "POST", Path: "/api/v1/connections", Need: auth.RoleAdmin, Tag: tag, Audit: "connection.create",
			Summary: "Add a data connection; it starts in status Searching", In: client.NewConnection{}, Out: client.Connection{},
			Handle: s.createConnection},
		{Method: "GET", Path: "/api/v1/connections/{id}", Need: auth.RoleReadOnly, Tag: tag, Summary: "Get a data connection with its counts and the actions allowed now",
			Out: client.Connection{}, Handle: s.getConnection},
		{Method: "PATCH", Path: "/api/v1/connections/{id}", Need: auth.RoleAdmin, Tag: tag, Audit: "connection.update",
			Summary: "Change a connection's display name", In: client.ConnectionUpdate{}, Out: client.Connection{}, Handle: s.updateConnection},
		{Method: "DELETE", Path: "/api/v1/connections/{id}", Need: auth.RoleAdmin, Tag: tag, Audit: "connection.delete",
			Summary: "Delete a deauthorized connection and everything collected through it, before retention would; it shows status Deleting until the background purge finishes",
			Out:     client.Connection{}, Handle: s.deleteConnection},
		{Method: "POST", Path: "/api/v1/connections/{id}/deauthorize", Need: auth.RoleAdmin, Tag: tag, Audit: "connection.deauthorize",
			Summary: "Deauthorize: stop collection; data stays searchable for the retention period", Out: client.Connection{}, Handle: s.deauthorize},
		{Method: "POST", Path: "/api/v1/connections/{id}/resume", Need: auth.RoleAdmin, Tag: tag, Audit: "connection.resume",
			Summary: "Resume monitoring a deauthorized connection, optionally with a new scope or credentials", In: client.ResumeRequest{}, Out: client.Connection{},
			Handle: s.resume},
		{Method: "POST", Path: "/api/v1/connections/{id}/maintenance", Need: auth.RoleAdmin, Tag: tag, Audit: "connection.maintenance",
			Summary: "Start or end maintenance; events collected meanwhile appear in search when it ends", In: client.MaintenanceRequest{}, Out: client.Connection{},
			Handle: s.maintenance},
		{Method: "GET", Path: "/api/v1/connections/{id}/history", Need: auth.RoleReadOnly, Tag: tag, Summary: "Status history, oldest first",
			Out: struct {
				Items []client.StatusChange `json:"items"`
			}{}, Handle: s.history},
		{Method: "GET", Path: "/api/v1/connections/{id}/scope", Need: auth.RoleReadOnly, Tag: tag, Summary: "Download the scope as CSV",
			Out: CSV, Handle: s.downloadScope},
		{Method: "PUT", Path: "/api/v1/connections/{id}/scope", Need: auth.RoleAdmin, Tag: tag, Audit: "connection.scope.upload",
			Summary: "Replace the scope of a deauthorized connection with a CSV of users or groups (then resume)", In: CSV, Out: client.Connection{},
			Query: []Param{{"kind", "users or groups"}}, Handle: s.uploadScope},
		{Method: "GET", Path: "/api/v1/connections/{id}/drives", Need: auth.RoleReadOnly, Tag: tag, Summary: "List a cloud connection's drives with counts by state",
			Out: client.DriveList{}, Query: []Param{{"after", "the next value of the previous page"}, {"limit", "page size, at most 1000"}, {"state", "pending, indexing, indexed or inaccessible"}},
			Handle: s.drives("drives")},
		{Method: "GET", Path: "/api/v1/connections/{id}/mailboxes", Need: auth.RoleReadOnly, Tag: tag, Summary: "List an email connection's mailboxes with counts by state",
			Out: client.DriveList{}, Query: []Param{{"after", "the next value of the previous page"}, {"limit", "page size, at most 1000"}, {"state", "pending, indexing, indexed or inaccessible"}},
			Handle: s.drives("mailboxes")},
	}
}

func pathID(r *http.Request, name string) (int64, error) {
	v := r.PathValue(name)
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id <= 0 {
		return 0, withStatus(http.StatusNotFound, "no %s with id %q: ids are positive whole numbers", resourceNoun(r.Pattern, name), v)
	}
	return id, nil
}

// resourceNoun names what a path parameter identifies, from the route pattern: the segment before
// {id} in /api/v1/saved-searches/{id} is a "saved search".
func resourceNoun(pattern, param string) string {
	segs := strings.Split(pattern, "/")
	for i := 1; i < len(segs); i++ {
		if segs[i] == "{"+param+"}" {
			n := strings.ReplaceAll(segs[i-1], "-", " ")
			n = strings.TrimSuffix(n, "s")
			if strings.HasSuffix(n, "che") || strings.HasSuffix(n, "she") {
				n = strings.TrimSuffix(n, "e")
			}
			return n
		}
	}
	return "item"
}

func (s *Server) connectionByPath(r *http.Request) (store.Connection, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return store.Connection{}, err
	}
	c, err := s.store.GetConnection(r.Context(), id)
	if err != nil {
		return c, fmt.Errorf("connection %d: %w", id, err)
	}
	return c, nil
}

var adminActions = []connection.Action{connection.ActionDeauthorize, connection.ActionResume,
	connection.ActionStartMaintenance, connection.ActionEndMaintenance, connection.ActionDelete}

// toWire converts a stored connection to its API form; credentials never leave.
func (s *Server) toWire(r *http.Request, c store.Connection) (client.Connection, error) {
	st := connection.Status(c.Status)
	out := client.Connection{
		ID: strconv.FormatInt(c.ID, 10), Name: c.Name, Service: c.Service, ServiceType: c.ServiceType,
		Status: c.Status, StatusLabel: st.Label(c.ServiceType), ErrorReason: c.ErrorReason, ScopeKind: c.ScopeKind,
		TenantID: c.TenantID, CredentialsSet: len(c.Credentials) > 0, CreatedAt: c.CreatedAt, CreatedBy: c.CreatedBy,
		UpdatedAt: c.UpdatedAt, DeauthorizedAt: c.DeauthorizedAt, ThrottledUntil: c.ThrottledUntil,
		Throttled: c.ThrottledUntil.After(s.clock.Now()), LastEventAt: c.LastEventAt, Version: c.Version,
	}
	if len(c.Settings) > 0 {
		if err := json.Unmarshal(c.Settings, &out.Settings); err != nil {
			return out, fmt.Errorf("connection %d: settings: %w", c.ID, err)
		}
	}
	if s.collector != nil {
		out.ConsentURL = s.collector.ConsentURL(c.Service, c.TenantID, out.Settings) // the settings decoded above
	}
	if !c.DeauthorizedAt.IsZero() && st == connection.Deauthorized {
		out.DeleteAfter = c.DeauthorizedAt.Add(s.retention(r))
	}
	kinds := []string{"user", "shared"}
	if c.ServiceType == "email" {
		kinds = []string{"mailbox"}
	}
	n, err := s.store.CountDrives(r.Context(), c.ID, kinds...)
	if err != nil {
		return out, err
	}
	counts := &client.DriveCounts{Total: n.Total, Pending: n.Pending, Indexing: n.Indexing, Indexed: n.Indexed, Inaccessible: n.Inaccessible}
	if c.ServiceType == "email" {
		out.Mailboxes = counts
	} else {
		out.Drives = counts
	}
	for _, a := range adminActions {
		_, err := connection.Check(st, a, c.ServiceType)
		as := client.ActionState{Action: string(a), Allowed: err == nil}
		if err != nil {
			as.Reason = err.Error()
		}
		out.Actions = append(out.Actions, as)
	}
	return out, nil
}

func (s *Server) listConnections(r *http.Request, _ auth.Principal) (any, error) {
	cs, err := s.store.ListConnections(r.Context())
	if err != nil {
		return nil, err
	}
	items := make([]client.Connection, 0, len(cs))
	for _, c := range cs {
		w, err := s.toWire(r, c)
		if err != nil {
			return nil, err
		}
		items = append(items, w)
	}
	return struct {
		Items []client.Connection `json:"items"`
	}{items}, nil
}

func (s *Server) getConnection(r *http.Request, _ auth.Principal) (any, error) {
	c, err := s.connectionByPath(r)
	if err != nil {
		return nil, err
	}
	return s.toWire(r, c)
}

// parseScope turns a scope input into a kind and entries; a bad CSV is refused with each bad row.
func parseScope(in *client.ScopeInput) (string, []store.ScopeEntry, error) {
	if in == nil || in.Kind == "" {
		return string(scope.All), nil, nil
	}
	kind, err := scope.ParseKind(in.Kind)
	if err != nil {
		return "", nil, invalidField("scope.kind", "%v", err)
	}
	if kind == scope.All {
		if strings.TrimSpace(in.CSV) != "" {
			return "", nil, invalidField("scope.csv", "scope kind all takes no CSV; choose kind users or groups to upload one")
		}
		return string(kind), nil, nil
	}
	l, err := scope.Parse(strings.NewReader(in.CSV), kind)
	if err != nil {
		return "", nil, err
	}
	return string(kind), scopeEntries(l), nil
}

func scopeEntries(l scope.List) []store.ScopeEntry {
	entryKind := "user"
	if l.Kind == scope.Groups {
		entryKind = "group"
	}
	out := make([]store.ScopeEntry, 0, len(l.Entries))
	for _, e := range l.Entries {
		out = append(out, store.ScopeEntry{Kind: entryKind, Value: e.Value, Row: e.Row})
	}
	return out
}

func (s *Server) sealCredentials(creds map[string]string) ([]byte, error) {
	if len(creds) == 0 {
		return nil, nil
	}
	for k, v := range creds {
		if strings.TrimSpace(k) == "" {
			return nil, invalidField("credentials", "a credential has an empty name")
		}
		if v == "" {
			return nil, invalidField("credentials."+k, "is empty: enter the value or leave the field out")
		}
	}
	b, err := json.Marshal(creds)
	if err != nil {
		return nil, err
	}
	return s.keyring.Seal(b)
}

func (s *Server) createConnection(r *http.Request, p auth.Principal) (any, error) {
	var in client.NewConnection
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	kind, entries, err := parseScope(in.Scope)
	if err != nil {
		return nil, err
	}
	if err := s.checkService(in.Service); err != nil {
		return nil, err
	}
	if err := s.checkConnectorConfig(in.Service, in.TenantID, in.Settings, in.Credentials); err != nil {
		return nil, err
	}
	if err := s.checkURLs(r.Context(), in.Service, connector.Config{TenantID: strings.TrimSpace(in.TenantID), Settings: in.Settings}); err != nil {
		return nil, err
	}
	sealed, err := s.sealCredentials(in.Credentials)
	if err != nil {
		return nil, err
	}
	var settings []byte
	if len(in.Settings) > 0 {
		settings, _ = json.Marshal(in.Settings)
	}
	c, err := s.conns.Create(r.Context(), connection.NewConnection{
		Name: in.Name, Service: in.Service, TenantID: strings.TrimSpace(in.TenantID), ScopeKind: kind, Scope: entries,
		Settings: settings, Credentials: sealed,
	}, p.Username)
	if err != nil {
		return nil, err
	}
	noteAudit(r, fmt.Sprintf("connection/%d", c.ID), map[string]any{"name": c.Name, "service": c.Service, "scope_kind": kind, "scope_entries": len(entries)})
	s.changed(r.Context()) // collection starts now, not at the next lifecycle tick
	w, err := s.toWire(r, c)
	return created{w}, err
}

func (s *Server) updateConnection(r *http.Request, p auth.Principal) (any, error) {
	c, err := s.connectionByPath(r)
	if err != nil {
		return nil, err
	}
	var in client.ConnectionUpdate
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	if in.Name == nil {
		return nil, invalid("nothing to change: send {\"name\": \"...\"}")
	}
	noteAudit(r, "", map[string]any{"old_name": c.Name, "name": *in.Name})
	c, err = s.conns.Rename(r.Context(), c.ID, *in.Name, p.Username)
	if err != nil {
		return nil, err
	}
	return s.toWire(r, c)
}

func (s *Server) deauthorize(r *http.Request, p auth.Principal) (any, error) {
	c, err := s.connectionByPath(r)
	if err != nil {
		return nil, err
	}
	c, err = s.conns.Deauthorize(r.Context(), c.ID, p.Username)
	if err != nil {
		return nil, err
	}
	s.changed(r.Context())
	return s.toWire(r, c)
}

func (s *Server) resume(r *http.Request, p auth.Principal) (any, error) {
	c, err := s.connectionByPath(r)
	if err != nil {
		return nil, err
	}
	var in client.ResumeRequest
	if r.ContentLength != 0 {
		if err := decode(r, &in); err != nil {
			return nil, err
		}
	}
	var res connection.Resume
	if in.Scope != nil {
		kind, entries, err := parseScope(in.Scope)
		if err != nil {
			return nil, err
		}
		res.ScopeKind, res.Scope = kind, entries
		noteAudit(r, "", map[string]any{"scope_kind": kind, "scope_entries": len(entries)})
	}
	if len(in.Credentials) > 0 {
		if res.Credentials, err = s.sealCredentials(in.Credentials); err != nil {
			return nil, err
		}
		noteAudit(r, "", map[string]any{"credentials_replaced": true})
	}
	c, err = s.conns.Resume(r.Context(), c.ID, p.Username, res)
	if err != nil {
		return nil, err
	}
	s.changed(r.Context()) // discovery starts again now, not at the next lifecycle tick
	return s.toWire(r, c)
}

func (s *Server) maintenance(r *http.Request, p auth.Principal) (any, error) {
	c, err := s.connectionByPath(r)
	if err != nil {
		return nil, err
	}
	var in client.MaintenanceRequest
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	noteAudit(r, "", map[string]any{"enabled": in.Enabled})
	if in.Enabled {
		c, err = s.conns.StartMaintenance(r.Context(), c.ID, p.Username)
	} else {
		c, err = s.conns.EndMaintenance(r.Context(), c.ID, p.Username)
	}
	if err != nil {
		return nil, err
	}
	return s.toWire(r, c)
}

func (s *Server) deleteConnection(r *http.Request, p auth.Principal) (any, error) {
	c, err := s.connectionByPath(r)
	if err != nil {
		return nil, err
	}
	noteAudit(r, "", map[string]any{"name": c.Name})
	// The purge runs as lifecycle work: deleting millions of events must not hold the request, and
	// a purge cut short by a restart resumes from status Deleting.
	c, err = s.conns.Apply(r.Context(), c.ID, connection.ActionDelete, p.Username, "deleted by an admin")
	if err != nil {
		return nil, err
	}
	s.changed(r.Context())
	return s.toWire(r, c)
}

func (s *Server) history(r *http.Request, _ auth.Principal) (any, error) {
	c, err := s.connectionByPath(r)
	if err != nil {
		return nil, err
	}
	hs, err := s.store.ListStatusChanges(r.Context(), c.ID)
	if err != nil {
		return nil, err
	}
	items := make([]client.StatusChange, 0, len(hs))
	for _, h := range hs {
		sc := client.StatusChange{At: h.At, From: h.From, To: h.To, Actor: h.Actor, Reason: h.Reason,
			ToLabel: connection.Status(h.To).Label(c.ServiceType)}
		if h.From != "" {
			sc.FromLabel = connection.Status(h.From).Label(c.ServiceType)
		}
		items = append(items, sc)
	}
	return struct {
		Items []client.StatusChange `json:"items"`
	}{items}, nil
}

func (s *Server) downloadScope(r *http.Request, _ auth.Principal) (any, error) {
	c, err := s.connectionByPath(r)
	if err != nil {
		return nil, err
	}
	entries, err := s.store.ListScope(r.Context(), c.ID)
	if err != nil {
		return nil, err
	}
	l := scope.List{Kind: scope.Kind(c.ScopeKind)}
	for _, e := range entries {
		l.Entries = append(l.Entries, scope.Entry{Row: e.Row, Value: e.Value})
	}
	var b bytes.Buffer
	if l.Kind != scope.All {
		if err := scope.Write(&b, l); err != nil {
			return nil, err
		}
	}
	return rawBody{contentType: "text/csv; charset=utf-8", filename: fmt.Sprintf("connection-%d-scope.csv", c.ID),
		write: func(w io.Writer) error { _, err := w.Write(b.Bytes()); return err }}, nil
}

func (s *Server) uploadScope(r *http.Request, p auth.Principal) (any, error) {
	c, err := s.connectionByPath(r)
	if err != nil {
		return nil, err
	}
	kind, err := scope.ParseKind(r.URL.Query().Get("kind"))
	if err != nil || kind == scope.All {
		return nil, invalidField("kind", "add ?kind=users or ?kind=groups to say what the CSV lists (to monitor all users, resume with scope kind all)")
	}
	l, err := scope.Parse(r.Body, kind) // Parse refuses files over scope.MaxFileSize with a clear message
	if err != nil {
		return nil, err
	}
	entries := scopeEntries(l)
	noteAudit(r, "", map[string]any{"scope_kind": string(kind), "scope_entries": len(entries), "summary": l.Summary()})
	c, err = s.conns.ReplaceScope(r.Context(), c.ID, p.Username, string(kind), entries)
	if err != nil {
		return nil, err
	}
	return s.toWire(r, c)
}

func (s *Server) drives(kind string) func(r *http.Request, _ auth.Principal) (any, error) {
	return func(r *http.Request, _ auth.Principal) (any, error) {
		c, err := s.connectionByPath(r)
		if err != nil {
			return nil, err
		}
		kinds := []string{"user", "shared"}
		if kind == "mailboxes" {
			kinds = []string{"mailbox"}
		}
		q := r.URL.Query()
		f := store.DriveFilter{ConnectionID: c.ID, Kinds: kinds, State: q.Get("state"), Limit: 100}
		if v := q.Get("after"); v != "" {
			if f.AfterID, err = strconv.ParseInt(v, 10, 64); err != nil {
				return nil, invalidField("after", "want the next value of the previous page, got %q", v)
			}
		}
		if v := q.Get("limit"); v != "" {
			if f.Limit, err = strconv.Atoi(v); err != nil || f.Limit < 1 || f.Limit > 1000 {
				return nil, invalidField("limit", "want a whole number from 1 to 1000, got %q", v)
			}
		}
		switch f.State {
		case "", store.DrivePending, store.DriveIndexing, store.DriveIndexed, store.DriveInaccessible:
		default:
			return nil, invalidField("state", "want pending, indexing, indexed or inaccessible, got %q", f.State)
		}
		ds, err := s.store.ListDrives(r.Context(), f)
		if err != nil {
			return nil, err
		}
		n, err := s.store.CountDrives(r.Context(), c.ID, kinds...)
		if err != nil {
			return nil, err
		}
		out := client.DriveList{Counts: client.DriveCounts{Total: n.Total, Pending: n.Pending, Indexing: n.Indexing, Indexed: n.Indexed, Inaccessible: n.Inaccessible},
			Items: make([]client.Drive, 0, len(ds))}
		for _, d := range ds {
			out.Items = append(out.Items, client.Drive{ID: strconv.FormatInt(d.ID, 10), VendorID: d.VendorID, Kind: d.Kind, Owner: d.Owner,
				Name: d.Name, State: d.State, Error: d.Error, InScope: d.InScope, FileCount: d.FileCount, DiscoveredAt: d.DiscoveredAt, IndexedAt: d.IndexedAt})
		}
		if len(ds) == f.Limit {
			out.Next = strconv.FormatInt(ds[len(ds)-1].ID, 10)
		}
		return out, nil
	}
}

// retention is the configured retention of deauthorized connections.
func (s *Server) retention(r *http.Request) time.Duration {
	st, err := s.loadSettings(r.Context())
	if err != nil {
		return time.Duration(s.retentionDays) * 24 * time.Hour
	}
	return time.Duration(st.RetentionDays) * 24 * time.Hour
}
