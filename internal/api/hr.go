package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/auth"
	"github.com/telltale-dev/telltale/internal/hr"
	"github.com/telltale-dev/telltale/internal/integration"
	"github.com/telltale-dev/telltale/internal/scope"
)

// hrRoutes: HR sources (R7.2). They are created, changed, connected and deleted as integrations
// (kinds workday, bamboohr, hr_csv, hr_webhook); these routes show their sync state, sync one now,
// take a CSV, and receive the signed webhooks.
func (s *Server) hrRoutes() []Route {
	const tag = "hr"
	return []Route{
		{Method: "GET", Path: "/api/v1/hr-sources", Need: auth.RoleReadOnly, Tag: tag,
			Summary: "List the HR sources (integrations of kind workday, bamboohr, hr_csv, hr_webhook) with their last sync",
			Out:     client.HRSourceList{}, Handle: s.listHRSources},
		{Method: "GET", Path: "/api/v1/hr-sources/{id}", Need: auth.RoleReadOnly, Tag: tag, Summary: "Get an HR source with its last sync",
			Out: client.HRSource{}, Handle: s.getHRSource},
		{Method: "POST", Path: "/api/v1/hr-sources/{id}/sync", Need: auth.RoleAdmin, Tag: tag, Audit: "hr.sync",
			Summary: "Poll a Workday or BambooHR source now and apply what it says to the Departing employees watchlist",
			Out:     client.HRSyncResult{}, Handle: s.syncHRSource},
		{Method: "POST", Path: "/api/v1/hr-sources/{id}/upload", Need: auth.RoleAdmin, Tag: tag, Audit: "hr.upload",
			Summary: "Upload a CSV to an hr_csv source (Email, optional Departure Date and Action: add or remove); a bad file changes nothing and its errors name the rows",
			In:      CSV, Out: client.HRSyncResult{}, MaxBody: scope.MaxFileSize + 1, Handle: s.uploadHR},
		{Method: "POST", Path: "/api/v1/hr-sources/{id}/webhook", Tag: tag,
			Public:  "an HR system authenticates with the source's HMAC-SHA256 signature (Telltale-Signature: t=<unix seconds>,v1=<hex>), checked before the body is parsed or anything is done",
			Summary: "Receive a generic HR webhook: {\"changes\": [{\"email\", \"action\": add|remove, \"departure_date\"}]}; unsigned, forged or stale requests get one 401 answer and are counted",
			MaxBody: hr.MaxWebhookBody, Out: client.HRSyncResult{}, Handle: s.hrWebhook},
		{Method: "POST", Path: "/api/v1/hr-sources/{id}/bamboohr", Tag: tag,
			Public:  "BambooHR authenticates with its webhook signature (X-BambooHR-Signature: HMAC-SHA256 of the body and X-BambooHR-Timestamp with the webhook's private key), checked before anything is done",
			Summary: "Receive BambooHR's webhook for a bamboohr source; unsigned, forged or stale requests get one 401 answer and are counted",
			MaxBody: hr.MaxWebhookBody, Out: client.HRSyncResult{}, Handle: s.bambooWebhook},
	}
}

func (s *Server) hrOn() error {
	if s.hr == nil || s.integ == nil {
		return withStatus(http.StatusServiceUnavailable, "HR sources are not enabled on this node")
	}
	return nil
}

func resultWire(r hr.Result) client.HRSyncResult {
	return client.HRSyncResult{Added: r.Added, Updated: r.Updated, Removed: r.Removed, Unchanged: r.Unchanged, Skipped: r.Skipped}
}

// HRWebhookPath is where an HR source's webhook is posted ("" for a source that has none).
func HRWebhookPath(v integration.View) string {
	id := strconv.FormatInt(v.ID, 10)
	switch v.Kind {
	case integration.KindHRWebhook:
		return "/api/v1/hr-sources/" + id + "/webhook"
	case integration.KindBambooHR:
		for _, n := range v.SecretsSet {
			if n == "signing_secret" {
				return "/api/v1/hr-sources/" + id + "/bamboohr"
			}
		}
	}
	return ""
}

func (s *Server) hrWire(r *http.Request, v integration.View) (client.HRSource, error) {
	st, err := s.store.GetHRSync(r.Context(), v.ID)
	if err != nil {
		return client.HRSource{}, err
	}
	out := client.HRSource{Integration: integrationWire(v), LastSyncAt: st.LastSyncAt, LastOKAt: st.LastOKAt, Summary: st.Summary,
		WebhookPath: HRWebhookPath(v), Refusals: []client.HRRefusal{}}
	rs, err := s.store.ListHRRefusals(r.Context(), v.ID, hr.KeepRefusals)
	for _, x := range rs {
		out.Refusals = append(out.Refusals, client.HRRefusal{At: x.At, Reason: x.Reason, Detail: x.Detail, RemoteAddr: x.RemoteAddr})
	}
	return out, err
}

func (s *Server) listHRSources(r *http.Request, _ auth.Principal) (any, error) {
	if err := s.hrOn(); err != nil {
		return nil, err
	}
	vs, err := s.integ.List(r.Context())
	if err != nil {
		return nil, err
	}
	out := client.HRSourceList{Items: []client.HRSource{}}
	for _, v := range vs {
		if !integration.IsHR(v.Kind) {
			continue
		}
		w, err := s.hrWire(r, v)
		if err != nil {
			return nil, err
		}
		out.Items = append(out.Items, w)
	}
	return out, nil
}

func (s *Server) hrSource(r *http.Request) (integration.View, error) {
	if err := s.hrOn(); err != nil {
		return integration.View{}, err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return integration.View{}, err
	}
	v, err := s.integ.Get(r.Context(), id)
	if err == nil && !integration.IsHR(v.Kind) {
		err = withStatus(http.StatusNotFound, "integration %d is not an HR source", id)
	}
	return v, err
}

func (s *Server) getHRSource(r *http.Request, _ auth.Principal) (any, error) {
	v, err := s.hrSource(r)
	if err != nil {
		return nil, err
	}
	return s.hrWire(r, v)
}

func hrErr(err error) error {
	var f *hr.Failure
	switch {
	case errors.As(err, &f):
		return withStatus(http.StatusBadGateway, "%s", f.Msg)
	case errors.Is(err, hr.ErrNotPolled), errors.Is(err, hr.ErrDisconnected):
		return withStatus(http.StatusConflict, "%v", err)
	case errors.Is(err, integration.ErrInvalid):
		return withStatus(http.StatusUnprocessableEntity, "%v", err)
	}
	return err
}

func (s *Server) syncHRSource(r *http.Request, _ auth.Principal) (any, error) {
	v, err := s.hrSource(r)
	if err != nil {
		return nil, err
	}
	noteAudit(r, "integration/"+strconv.FormatInt(v.ID, 10), map[string]any{"name": v.Name, "kind": v.Kind})
	res, err := s.hr.Sync(r.Context(), v.ID)
	if err != nil {
		return nil, hrErr(err)
	}
	return resultWire(res), nil
}

func (s *Server) uploadHR(r *http.Request, p auth.Principal) (any, error) {
	v, err := s.hrSource(r)
	if err != nil {
		return nil, err
	}
	res, err := s.hr.Upload(r.Context(), v.ID, r.Body, p.Username)
	if err != nil {
		return nil, hrErr(err)
	}
	noteAudit(r, "integration/"+strconv.FormatInt(v.ID, 10), map[string]any{"name": v.Name, "added": res.Added, "updated": res.Updated, "removed": res.Removed})
	return resultWire(res), nil
}

// hrRefused is the one answer to every HR webhook refused for its signature or source: it names no
// source, state or check (the reason is in telltale_hr_webhook_refused_total).
var hrRefused = func() answer {
	b, _ := json.Marshal(client.Problem{Type: "about:blank", Title: http.StatusText(http.StatusUnauthorized),
		Status: http.StatusUnauthorized, Detail: "HR webhook refused: sign it with the source's secret (see docs/OPERATIONS.md)"})
	return answer{status: http.StatusUnauthorized, contentType: "application/problem+json", body: append(b, '\n')}
}()

func (s *Server) hrInbound(r *http.Request, kind string, do func(id int64, body []byte) (hr.Result, error)) (any, error) {
	if err := s.hrOn(); err != nil {
		return nil, err
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return hrRefused, nil
	}
	body, err := io.ReadAll(r.Body) // bounded by the route's MaxBody
	if err != nil {
		if mb := (*http.MaxBytesError)(nil); errors.As(err, &mb) {
			s.hr.Refused(kind, "malformed")
			if v, gerr := s.integ.Get(r.Context(), id); gerr == nil && v.Kind == kind {
				s.noteHRRefusal(r, id, &hr.Refusal{Reason: "malformed", Msg: fmt.Sprintf("the body is over %d bytes", hr.MaxWebhookBody), Malformed: true})
			}
		}
		return nil, err
	}
	res, err := do(id, body)
	if rf, ok := hr.IsRefusal(err); ok {
		s.noteHRRefusal(r, id, rf)
		if rf.Malformed {
			return nil, withStatus(http.StatusUnprocessableEntity, "%s; nothing was changed", rf.Msg)
		}
		return hrRefused, nil
	}
	if err != nil {
		return nil, hrErr(err)
	}
	return resultWire(res), nil
}

// noteHRRefusal records a refusal for the source's page; failing to is logged, the answer stays.
func (s *Server) noteHRRefusal(r *http.Request, id int64, rf *hr.Refusal) {
	if err := s.hr.NoteRefusal(r.Context(), id, rf, s.clientIP(r)); err != nil {
		s.log.Warn("hr: recording a refused webhook", "source", id, "err", err)
	}
}

func (s *Server) hrWebhook(r *http.Request, _ auth.Principal) (any, error) {
	return s.hrInbound(r, integration.KindHRWebhook, func(id int64, body []byte) (hr.Result, error) {
		return s.hr.Webhook(r.Context(), id, r.Header.Get(hr.SignatureHeader), body)
	})
}

func (s *Server) bambooWebhook(r *http.Request, _ auth.Principal) (any, error) {
	return s.hrInbound(r, integration.KindBambooHR, func(id int64, body []byte) (hr.Result, error) {
		return s.hr.BambooWebhook(r.Context(), id, r.Header.Get(hr.BambooTimestampHeader), r.Header.Get(hr.BambooSignatureHeader), body)
	})
}

// personHistory is the person's watchlist history, newest first.
func (s *Server) personHistory(r *http.Request, email string) ([]client.PersonChange, error) {
	out := []client.PersonChange{}
	cs, err := s.store.ListPersonChanges(r.Context(), email, 50)
	if err != nil || len(cs) == 0 {
		return out, err
	}
	ws, err := s.store.ListWatchlists(r.Context())
	if err != nil {
		return out, err
	}
	names := map[int64]string{}
	for _, w := range ws {
		names[w.ID] = w.Name
	}
	for _, c := range cs {
		out = append(out, client.PersonChange{At: c.At, Watchlist: names[c.WatchlistID], WatchlistID: strconv.FormatInt(c.WatchlistID, 10), Action: c.Action,
			DepartureDate: c.DepartureDate, Source: c.Source, Actor: c.Actor})
	}
	return out, nil
}
