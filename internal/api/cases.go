package api

import (
	"archive/zip"
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/auth"
	"github.com/telltale-dev/telltale/internal/csvsafe"
	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/scope"
	"github.com/telltale-dev/telltale/internal/store"
	"github.com/telltale-dev/telltale/internal/textcheck"
)

// Case limits: what one call adds, and what a case gathers at most.
const (
	maxCaseItemsPerCall = 1000
	maxCasePeople       = 1000
	maxCaseAlerts       = 10000
	maxCaseEvents       = 100000 // events added directly; its alerts' events come on top
	caseEventsShown     = 100
)

var caseStates = []string{store.CaseOpen, store.CaseClosed, store.CaseArchived}

// zipBody marks an application/zip response in the route table.
type zipBody struct{}

func (s *Server) caseRoutes() []Route {
	const tag = "cases"
	return []Route{
		{Method: "GET", Path: "/api/v1/cases", Need: auth.RoleReadOnly, Tag: tag, Summary: "List cases, newest first",
			Out: client.CaseList{}, Query: []Param{{"state", "open, closed or archived (repeatable or comma-separated)"}, {"person", "cases gathering this person"},
				{"alert", "cases gathering this alert id"}, {"assignee", "cases assigned to this user"}, {"before", "the next value of the previous page"}, {"limit", "1 to 1000, default 100"}},
			Handle: s.listCases},
		{Method: "POST", Path: "/api/v1/cases", Need: auth.RoleAnalyst, Tag: tag, Audit: "case.create",
			Summary: "Open a case, with the people, alerts and events it gathers from the start", In: client.CaseInput{}, Out: client.Case{},
			MaxBody: 1 << 20, Handle: s.createCase},
		{Method: "GET", Path: "/api/v1/cases/{id}", Need: auth.RoleReadOnly, Tag: tag, Summary: "A case with its people, alerts, first 100 events and history",
			Out: client.CaseDetails{}, Handle: s.getCase},
		{Method: "PATCH", Path: "/api/v1/cases/{id}", Need: auth.RoleAnalyst, Tag: tag, Audit: "case.update",
			Summary: "Change a case's title, description, state, assignee or legal hold (lifting a hold needs an admin), or add a note", In: client.CaseUpdate{}, Out: client.Case{},
			MaxBody: 64 << 10, Handle: s.updateCase},
		{Method: "POST", Path: "/api/v1/cases/{id}/items", Need: auth.RoleAnalyst, Tag: tag, Audit: "case.add",
			Summary: "Add up to 1,000 people, alerts and events to a case", In: client.CaseItemsInput{}, Out: client.CaseItemsAdded{},
			MaxBody: 1 << 20, Handle: s.addCaseItems},
		{Method: "GET", Path: "/api/v1/cases/{id}/events", Need: auth.RoleReadOnly, Tag: tag, Summary: "A case's events (added and of its alerts) in id order",
			Out: client.AlertEvents{}, Query: []Param{{"after", "the next value of the previous page"}, {"limit", "1 to 1000, default 100"}}, Handle: s.caseEvents},
		{Method: "POST", Path: "/api/v1/cases/{id}/export", Need: auth.RoleAnalyst, Tag: tag, Audit: "case.export", Reads: true,
			Summary: "Export a case as one zip: case.json, events.csv, events.json and manifest.json with each file's SHA-256",
			Out:     zipBody{}, Handle: s.exportCase},
	}
}

func caseWire(c store.Case) client.Case {
	return client.Case{ID: strconv.FormatInt(c.ID, 10), Title: c.Title, Description: c.Description, State: c.State, Assignee: c.Assignee,
		LegalHold: c.LegalHold, People: c.People, Alerts: c.Alerts, Events: c.Events, CreatedAt: c.CreatedAt, CreatedBy: c.CreatedBy,
		UpdatedAt: c.UpdatedAt, Version: c.Version}
}

func (s *Server) listCases(r *http.Request, _ auth.Principal) (any, error) {
	qs := r.URL.Query()
	f := store.CaseFilter{Assignee: qs.Get("assignee")}
	for _, v := range qs["state"] {
		for _, st := range strings.Split(v, ",") {
			if st = strings.TrimSpace(st); st == "" {
				continue
			} else if !slices.Contains(caseStates, st) {
				return nil, invalidField("state", "%q is not one of %s", clip(st, 50), strings.Join(caseStates, ", "))
			}
			f.States = append(f.States, st)
		}
	}
	if v := qs.Get("person"); v != "" {
		f.Person = strings.ToLower(strings.TrimSpace(v))
	}
	var err error
	for _, p := range []struct {
		name string
		dst  *int64
	}{{"alert", &f.AlertID}, {"before", &f.BeforeID}} {
		if v := qs.Get(p.name); v != "" {
			if *p.dst, err = strconv.ParseInt(v, 10, 64); err != nil || *p.dst <= 0 {
				return nil, invalidField(p.name, "want an id, got %q", clip(v, 50))
			}
		}
	}
	if f.Limit, err = limitParam(r, 100); err != nil {
		return nil, err
	}
	cs, err := s.store.ListCases(r.Context(), f)
	out := client.CaseList{Items: []client.Case{}}
	for _, c := range cs {
		out.Items = append(out.Items, caseWire(c))
	}
	if len(cs) == f.Limit {
		out.Next = strconv.FormatInt(cs[len(cs)-1].ID, 10)
	}
	return out, err
}

func checkTitle(v string) (string, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return "", invalidField("title", "a case needs a title")
	}
	if msg := textcheck.Label(v, 200); msg != "" {
		return "", invalidField("title", "%s", msg)
	}
	return v, nil
}

func checkText(field, v string) error {
	if len(v) > maxNote || !isText(v) {
		return invalidField(field, "must be text of at most %d bytes", maxNote)
	}
	return nil
}

// caseItems validates what a call adds: addresses, and ids of alerts and events that exist.
func (s *Server) caseItems(ctx context.Context, in client.CaseItemsInput) (store.CaseItems, error) {
	var out store.CaseItems
	if n := len(in.People) + len(in.AlertIDs) + len(in.EventIDs); n > maxCaseItemsPerCall {
		return out, invalidField("people", "name at most %d people, alerts and events in all per call (%d given)", maxCaseItemsPerCall, n)
	}
	for i, p := range in.People {
		v := strings.TrimSpace(p)
		if why := scope.CheckEmail(v); why != "" {
			return out, invalidField("people["+strconv.Itoa(i)+"]", "%q %s", clip(v, 200), why)
		}
		out.People = append(out.People, strings.ToLower(v))
	}
	parse := func(field string, vs []string, exists func(int64) error, dst *[]int64) error {
		for i, v := range vs {
			f := field + "[" + strconv.Itoa(i) + "]"
			id, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil || id <= 0 {
				return invalidField(f, "%q is not an id", clip(v, 50))
			}
			if err := exists(id); errors.Is(err, store.ErrNotFound) {
				return invalidField(f, "no %s has id %d", strings.TrimSuffix(field, "_ids"), id)
			} else if err != nil {
				return err
			}
			*dst = append(*dst, id)
		}
		return nil
	}
	if err := parse("alert_ids", in.AlertIDs, func(id int64) error { _, err := s.store.GetAlert(ctx, id); return err }, &out.AlertIDs); err != nil {
		return out, err
	}
	err := parse("event_ids", in.EventIDs, func(id int64) error { _, err := s.store.GetEvent(ctx, id); return err }, &out.EventIDs)
	return out, err
}

// roomFor refuses items that would take the case past its limits.
func roomFor(c store.Case, items store.CaseItems) error {
	switch {
	case c.People+int64(len(items.People)) > maxCasePeople:
		return invalidField("people", "a case gathers at most %d people (it has %d)", maxCasePeople, c.People)
	case c.Alerts+int64(len(items.AlertIDs)) > maxCaseAlerts:
		return invalidField("alert_ids", "a case gathers at most %d alerts (it has %d)", maxCaseAlerts, c.Alerts)
	case c.Events+int64(len(items.EventIDs)) > maxCaseEvents:
		return invalidField("event_ids", "a case gathers at most %d events added one by one (it has %d); add their alerts instead", maxCaseEvents, c.Events)
	}
	return nil
}

func addedWire(a store.CaseItems) client.CaseItemsAdded {
	out := client.CaseItemsAdded{People: []string{}, AlertIDs: []string{}, EventIDs: []string{}}
	out.People = append(out.People, a.People...)
	for _, id := range a.AlertIDs {
		out.AlertIDs = append(out.AlertIDs, strconv.FormatInt(id, 10))
	}
	for _, id := range a.EventIDs {
		out.EventIDs = append(out.EventIDs, strconv.FormatInt(id, 10))
	}
	return out
}

func (s *Server) createCase(r *http.Request, p auth.Principal) (any, error) {
	var in client.CaseInput
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	title, err := checkTitle(in.Title)
	if err != nil {
		return nil, err
	}
	if err := checkText("description", in.Description); err != nil {
		return nil, err
	}
	if msg := textcheck.Label(in.Assignee, 200); in.Assignee != "" && msg != "" {
		return nil, invalidField("assignee", "%s", msg)
	}
	items, err := s.caseItems(r.Context(), in.CaseItemsInput)
	if err != nil {
		return nil, err
	}
	if err := roomFor(store.Case{}, items); err != nil {
		return nil, err
	}
	now := s.clock.Now()
	var c store.Case
	err = s.store.InTx(r.Context(), func(q store.Queries) error {
		var err error
		if c, err = q.CreateCase(r.Context(), store.Case{Title: title, Description: in.Description, State: store.CaseOpen, Assignee: strings.TrimSpace(in.Assignee),
			LegalHold: in.LegalHold, CreatedAt: now, CreatedBy: p.Username}); err != nil {
			return err
		}
		if len(items.People)+len(items.AlertIDs)+len(items.EventIDs) > 0 {
			if _, err = q.AddCaseItems(r.Context(), c.ID, items, p.Username, now); err != nil {
				return err
			}
		}
		c, err = q.GetCase(r.Context(), c.ID)
		return err
	})
	if err != nil {
		return nil, err
	}
	noteAudit(r, "case/"+strconv.FormatInt(c.ID, 10), map[string]any{"title": c.Title, "legal_hold": c.LegalHold, "assignee": c.Assignee,
		"people": items.People, "alerts": items.AlertIDs, "events": items.EventIDs})
	return created{caseWire(c)}, nil
}

func (s *Server) caseByPath(r *http.Request) (store.Case, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return store.Case{}, err
	}
	return s.store.GetCase(r.Context(), id)
}

// caseEventPage is one page of a case's events still stored, in id order.
func (s *Server) caseEventPage(ctx context.Context, id, after int64, limit int) (client.AlertEvents, error) {
	out := client.AlertEvents{Items: []json.RawMessage{}}
	ids, err := s.store.ListCaseEventIDs(ctx, id, after, limit)
	if err != nil {
		return out, err
	}
	for _, eid := range ids {
		e, err := s.store.GetEvent(ctx, eid)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return out, err
		}
		b, err := json.Marshal(&e)
		if err != nil {
			return out, err
		}
		out.Items = append(out.Items, b)
	}
	if len(ids) == limit {
		out.Next = strconv.FormatInt(ids[len(ids)-1], 10)
	}
	return out, nil
}

func (s *Server) caseDetails(ctx context.Context, c store.Case) (client.CaseDetails, error) {
	out := client.CaseDetails{Case: caseWire(c), People: []string{}, Alerts: []client.Alert{}, History: []client.CaseChange{}}
	var err error
	ps, err := s.store.ListCasePeople(ctx, c.ID)
	if err != nil {
		return out, err
	}
	out.People = append(out.People, ps...)
	ids, err := s.store.ListCaseAlertIDs(ctx, c.ID)
	if err != nil {
		return out, err
	}
	for _, id := range ids {
		a, err := s.store.GetAlert(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		} else if err != nil {
			return out, err
		}
		out.Alerts = append(out.Alerts, alertWire(a))
	}
	if out.Events, err = s.caseEventPage(ctx, c.ID, 0, caseEventsShown); err != nil {
		return out, err
	}
	hs, err := s.store.ListCaseChanges(ctx, c.ID)
	for _, h := range hs {
		out.History = append(out.History, client.CaseChange{At: h.At, Actor: h.Actor, Field: h.Field, From: h.From, To: h.To, Note: h.Note})
	}
	return out, err
}

func (s *Server) getCase(r *http.Request, _ auth.Principal) (any, error) {
	c, err := s.caseByPath(r)
	if err != nil {
		return nil, err
	}
	return s.caseDetails(r.Context(), c)
}

func (s *Server) caseEvents(r *http.Request, _ auth.Principal) (any, error) {
	c, err := s.caseByPath(r)
	if err != nil {
		return nil, err
	}
	var after int64
	if v := r.URL.Query().Get("after"); v != "" {
		if after, err = strconv.ParseInt(v, 10, 64); err != nil {
			return nil, invalidField("after", "want the next value of the previous page, got %q", clip(v, 50))
		}
	}
	limit, err := limitParam(r, caseEventsShown)
	if err != nil {
		return nil, err
	}
	return s.caseEventPage(r.Context(), c.ID, after, limit)
}

func (s *Server) updateCase(r *http.Request, p auth.Principal) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	var in client.CaseUpdate
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	if in.Title != nil {
		t, err := checkTitle(*in.Title)
		if err != nil {
			return nil, err
		}
		in.Title = &t
	}
	if in.Description != nil {
		if err := checkText("description", *in.Description); err != nil {
			return nil, err
		}
	}
	if in.State != nil && !slices.Contains(caseStates, *in.State) {
		return nil, invalidField("state", "%q is not one of %s", clip(*in.State, 50), strings.Join(caseStates, ", "))
	}
	if in.Assignee != nil {
		if msg := textcheck.Label(*in.Assignee, 200); *in.Assignee != "" && msg != "" {
			return nil, invalidField("assignee", "%s", msg)
		}
	}
	if err := checkText("note", in.Note); err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		c, err := s.store.GetCase(r.Context(), id)
		if err != nil {
			return nil, err
		}
		if in.Version != 0 && c.Version != in.Version {
			return nil, withField(http.StatusConflict, "version", "the case changed since you read it (version %d, now %d): read it again", in.Version, c.Version)
		}
		if in.LegalHold != nil && c.LegalHold && !*in.LegalHold && !p.Role.Satisfies(auth.RoleAdmin) {
			return nil, withField(http.StatusForbidden, "legal_hold", "only an admin lifts a legal hold: the case's events become subject to retention again")
		}
		next := c
		var changes []store.CaseChange
		set := func(field string, dst *string, v *string) {
			if v != nil && *v != *dst {
				changes = append(changes, store.CaseChange{Actor: p.Username, Field: field, From: clip(*dst, 200), To: clip(*v, 200)})
				*dst = *v
			}
		}
		set("title", &next.Title, in.Title)
		set("description", &next.Description, in.Description)
		set("state", &next.State, in.State)
		set("assignee", &next.Assignee, in.Assignee)
		if in.LegalHold != nil && *in.LegalHold != next.LegalHold {
			changes = append(changes, store.CaseChange{Actor: p.Username, Field: "legal_hold", From: strconv.FormatBool(next.LegalHold), To: strconv.FormatBool(*in.LegalHold)})
			next.LegalHold = *in.LegalHold
		}
		if in.Note != "" {
			changes = append(changes, store.CaseChange{Actor: p.Username, Field: "note", Note: in.Note})
		}
		if len(changes) == 0 {
			return caseWire(c), nil
		}
		next.UpdatedAt = s.clock.Now()
		out, err := s.store.UpdateCase(r.Context(), next, changes)
		if errors.Is(err, store.ErrConflict) && in.Version == 0 && attempt < 5 {
			continue // someone added items meanwhile: apply to the new version
		}
		if err != nil {
			return nil, err
		}
		details := map[string]any{}
		for _, ch := range changes {
			details[ch.Field] = map[string]string{"from": ch.From, "to": ch.To, "note": ch.Note}
		}
		noteAudit(r, "case/"+strconv.FormatInt(id, 10), details)
		return caseWire(out), nil
	}
}

func (s *Server) addCaseItems(r *http.Request, p auth.Principal) (any, error) {
	c, err := s.caseByPath(r)
	if err != nil {
		return nil, err
	}
	var in client.CaseItemsInput
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	items, err := s.caseItems(r.Context(), in)
	if err != nil {
		return nil, err
	}
	if len(items.People)+len(items.AlertIDs)+len(items.EventIDs) == 0 {
		return nil, invalidField("people", "name at least one person, alert or event")
	}
	if err := roomFor(c, items); err != nil {
		return nil, err
	}
	added, err := s.store.AddCaseItems(r.Context(), c.ID, items, p.Username, s.clock.Now())
	if err != nil {
		return nil, err
	}
	noteAudit(r, "case/"+strconv.FormatInt(c.ID, 10), map[string]any{"people": added.People, "alerts": added.AlertIDs, "events": added.EventIDs})
	return addedWire(added), nil
}

// hashingWriter counts and hashes what goes through it.
type hashingWriter struct {
	w io.Writer
	h hash.Hash
	n int64
}

func (h *hashingWriter) Write(p []byte) (int, error) {
	n, err := h.w.Write(p)
	h.h.Write(p[:n])
	h.n += int64(n)
	return n, err
}

func (s *Server) exportCase(r *http.Request, p auth.Principal) (any, error) {
	c, err := s.caseByPath(r)
	if err != nil {
		return nil, err
	}
	d, err := s.caseDetails(r.Context(), c)
	if err != nil {
		return nil, err
	}
	now := s.clock.Now().UTC()
	noteAudit(r, "case/"+strconv.FormatInt(c.ID, 10), map[string]any{"title": c.Title})
	return rawBody{contentType: "application/zip", filename: fmt.Sprintf("case-%d.zip", c.ID), write: func(w io.Writer) error {
		_, err := WriteCaseArchive(r.Context(), s.store, d, p.Username, now, w)
		return err
	}}, nil
}

// WriteCaseArchive writes a case's archive to w: case.json (the case, its people, alerts and
// history), events.csv (the export's columns) and events.json (a JSON array) of every event of
// the case still stored, in id order, and manifest.json naming each of those files with its size
// and SHA-256. It returns the manifest.
func WriteCaseArchive(ctx context.Context, st store.Queries, d client.CaseDetails, by string, at time.Time, w io.Writer) (client.CaseManifest, error) {
	id, _ := strconv.ParseInt(d.Case.ID, 10, 64)
	m := client.CaseManifest{Case: d.Case.ID, ExportedAt: at, ExportedBy: by, Files: []client.CaseManifestFile{}}
	zw := zip.NewWriter(w)
	entry := func(name string, write func(io.Writer) error) error {
		f, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: at})
		if err != nil {
			return err
		}
		hw := &hashingWriter{w: f, h: sha256.New()}
		bw := bufio.NewWriterSize(hw, 64<<10)
		if err := write(bw); err != nil {
			return err
		}
		if err := bw.Flush(); err != nil {
			return err
		}
		m.Files = append(m.Files, client.CaseManifestFile{Name: name, Bytes: hw.n, SHA256: hex.EncodeToString(hw.h.Sum(nil))})
		return nil
	}
	d.Events = client.AlertEvents{} // the archive holds every event, in events.json
	if err := entry("case.json", func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(d)
	}); err != nil {
		return m, err
	}
	// each visits the case's events still stored, in id order, a page at a time.
	each := func(fn func(e *event.FileEvent) error) (missing []string, n int64, err error) {
		for after := int64(0); ; {
			ids, err := st.ListCaseEventIDs(ctx, id, after, 1000)
			if err != nil {
				return nil, 0, err
			}
			for _, eid := range ids {
				e, err := st.GetEvent(ctx, eid)
				if errors.Is(err, store.ErrNotFound) {
					missing = append(missing, strconv.FormatInt(eid, 10))
					continue
				} else if err != nil {
					return nil, 0, err
				}
				if err := fn(&e); err != nil {
					return nil, 0, err
				}
				n++
			}
			if len(ids) < 1000 {
				return missing, n, nil
			}
			after = ids[len(ids)-1]
		}
	}
	if err := entry("events.csv", func(w io.Writer) error {
		cw := csvsafe.NewWriter(w)
		if err := cw.Write(CSVHeader); err != nil {
			return err
		}
		cw.Flush()
		var row []byte
		var err error
		m.Missing, m.Events, err = each(func(e *event.FileEvent) error {
			row = appendCSVRow(row[:0], e)
			_, err := w.Write(row)
			return err
		})
		return err
	}); err != nil {
		return m, err
	}
	if err := entry("events.json", func(w io.Writer) error {
		if _, err := io.WriteString(w, "[\n"); err != nil {
			return err
		}
		first := true
		_, _, err := each(func(e *event.FileEvent) error {
			b, err := json.Marshal(e)
			if err != nil {
				return err
			}
			if !first {
				if _, err := io.WriteString(w, ",\n"); err != nil {
					return err
				}
			}
			first = false
			_, err = w.Write(b)
			return err
		})
		if err != nil {
			return err
		}
		_, err = io.WriteString(w, "\n]\n")
		return err
	}); err != nil {
		return m, err
	}
	f, err := zw.CreateHeader(&zip.FileHeader{Name: "manifest.json", Method: zip.Deflate, Modified: at})
	if err != nil {
		return m, err
	}
	enc := json.NewEncoder(f)
	enc.SetIndent("", "  ")
	if err := enc.Encode(m); err != nil {
		return m, err
	}
	return m, zw.Close()
}
