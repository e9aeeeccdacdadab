package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/auth"
	"github.com/telltale-dev/telltale/internal/rescore"
	"github.com/telltale-dev/telltale/internal/store"
)

// rescoreRoutes start, follow and cancel re-score jobs (docs/RISK.md "Re-scoring stored events").
func (s *Server) rescoreRoutes() []Route {
	return []Route{
		{Method: "POST", Path: "/api/v1/risk/rescore", Need: auth.RoleAdmin, Tag: "settings", Audit: "risk.rescore",
			Summary: "Start a job that applies the current risk settings and trusted domains to the events observed in a range (one job at a time; re-scored events raise no alert)",
			In:      client.RescoreRequest{}, Out: client.RescoreJob{}, Handle: s.startRescore},
		{Method: "GET", Path: "/api/v1/risk/rescore", Need: auth.RoleReadOnly, Tag: "settings", Summary: "The latest re-score jobs, newest first, with their progress",
			Out: client.RescoreJobs{}, Handle: func(r *http.Request, _ auth.Principal) (any, error) {
				js, err := s.store.ListRescoreJobs(r.Context(), 20)
				out := client.RescoreJobs{Items: []client.RescoreJob{}}
				for _, j := range js {
					out.Items = append(out.Items, rescoreWire(j))
				}
				return out, err
			}},
		{Method: "GET", Path: "/api/v1/risk/rescore/{id}", Need: auth.RoleReadOnly, Tag: "settings", Summary: "A re-score job and its progress",
			Out: client.RescoreJob{}, Handle: func(r *http.Request, _ auth.Principal) (any, error) {
				id, err := pathID(r, "id")
				if err != nil {
					return nil, err
				}
				j, err := s.store.GetRescoreJob(r.Context(), id)
				return rescoreWire(j), err
			}},
		{Method: "POST", Path: "/api/v1/risk/rescore/{id}/cancel", Need: auth.RoleAdmin, Tag: "settings", Audit: "risk.rescore_cancel",
			Summary: "Stop a running re-score job (the events it re-scored keep their new risk)", Out: client.RescoreJob{},
			Handle: func(r *http.Request, _ auth.Principal) (any, error) {
				id, err := pathID(r, "id")
				if err != nil {
					return nil, err
				}
				if err := rescore.Cancel(r.Context(), s.store, id, s.clock.Now()); err != nil {
					if errors.Is(err, store.ErrConflict) {
						return nil, withStatusOf(http.StatusConflict, &badRequest{msg: "the job is not running: only a running job can be cancelled"})
					}
					return nil, err
				}
				j, err := s.store.GetRescoreJob(r.Context(), id)
				return rescoreWire(j), err
			}},
	}
}

func (s *Server) startRescore(r *http.Request, p auth.Principal) (any, error) {
	var in client.RescoreRequest
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	j, err := rescore.Start(r.Context(), s.store, in.From, in.To, p.Username, s.retentionDays, s.clock.Now())
	var re *rescore.Error
	switch {
	case errors.As(err, &re):
		return nil, invalidField(re.Field, "%s", re.Msg)
	case errors.Is(err, rescore.ErrRunning):
		return nil, withStatusOf(http.StatusConflict, &badRequest{msg: err.Error()})
	case err != nil:
		return nil, err
	}
	return created{rescoreWire(j)}, nil
}

func rescoreWire(j store.RescoreJob) client.RescoreJob {
	out := client.RescoreJob{ID: strconv.FormatInt(j.ID, 10), From: j.From, To: j.To, State: j.State, Total: j.Total, Scanned: j.Scanned,
		Changed: j.Changed, Error: j.Error, CreatedBy: j.CreatedBy, CreatedAt: j.CreatedAt, UpdatedAt: j.UpdatedAt, TrustedDomains: []string{},
		TrustedActivities: []client.TrustedActivity{}}
	if !j.FinishedAt.IsZero() {
		t := j.FinishedAt
		out.FinishedAt = &t
	}
	var snap rescore.Snapshot
	if json.Unmarshal(j.Settings, &snap) == nil && snap.Risk.Weights != nil {
		r := snap.Risk
		out.Risk = &client.RiskSettings{Weights: r.Weights, Bands: client.RiskBands(r.Bands), WorkingHours: client.WorkingHours(r.WorkingHours)}
		if snap.TrustedDomains != nil {
			out.TrustedDomains = snap.TrustedDomains
		}
		for _, t := range snap.TrustedActivities {
			out.TrustedActivities = append(out.TrustedActivities, client.TrustedActivity(t))
		}
	}
	return out
}
