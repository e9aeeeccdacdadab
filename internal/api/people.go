package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
	"github.com/telltale-dev/telltale/internal/search"
	"github.com/telltale-dev/telltale/internal/store"
	"github.com/telltale-dev/telltale/internal/watchlist"
)

// RiskWindowDays is the rolling window of a person's risk score, today included.
const RiskWindowDays = 30

const personShown = 20 // alerts, cases and recent events on a person's page

// ExposedMask is what departure exposure counts: a public link, or people outside the trusted domains.
var ExposedMask = event.ExposureBits([]event.Exposure{event.ExposurePublicLink, event.ExposureOutsideTrustedDomain})

func (s *Server) personRoutes() []Route {
	const tag = "people"
	return []Route{
		{Method: "GET", Path: "/api/v1/people", Need: auth.RoleReadOnly, Tag: tag,
			Summary: "People by address: everyone known from a directory, an alias or their file events, aliases folded into their person",
			Out:     client.PeopleList{}, Query: []Param{{"after", "the next value of the previous page"}, {"limit", "1 to 1000, default 100"}}, Handle: s.listPeople},
		{Method: "POST", Path: "/api/v1/people/{email}/aliases", Need: auth.RoleAdmin, Tag: tag, Audit: "person.alias.add",
			Summary: "Make an address (another service's login, UPN or address) an alias of the person", In: client.AliasInput{},
			Out: client.PersonAliases{}, MaxBody: 4 << 10, Handle: s.addAlias},
		{Method: "DELETE", Path: "/api/v1/people/{email}/aliases/{alias}", Need: auth.RoleAdmin, Tag: tag, Audit: "person.alias.remove",
			Summary: "Remove one of the person's aliases", Handle: s.removeAlias},
		{Method: "GET", Path: "/api/v1/people/{email}", Need: auth.RoleReadOnly, Tag: tag,
			Summary: "A person: watchlists, rolling 30-day risk score and its trend, alerts, cases and recent events",
			Out:     client.Person{}, Handle: s.getPerson},
		{Method: "GET", Path: "/api/v1/people/{email}/exposure", Need: auth.RoleReadOnly, Tag: tag,
			Summary: "Departure exposure: the files the person owns that are shared now by public link or with people outside the trusted domains",
			Out:     client.Exposure{}, Query: []Param{{"after", "the next value of the previous page"}, {"limit", "1 to 1000, default 100"}}, Handle: s.personExposure},
		{Method: "GET", Path: "/api/v1/people/{email}/exposure.csv", Need: auth.RoleReadOnly, Tag: tag,
			Summary: "Departure exposure as CSV (every exposed file)", Out: CSV, Handle: s.personExposureCSV},
	}
}

func emailParam(r *http.Request) (string, error) {
	v := strings.TrimSpace(r.PathValue("email"))
	if why := scope.CheckEmail(v); why != "" {
		return "", withField(http.StatusBadRequest, "email", "%q %s", clip(v, 200), why)
	}
	return strings.ToLower(v), nil
}

// PersonRiskOf sums the person's days of the rolling window ending on now's UTC day.
func PersonRiskOf(ctx context.Context, st store.PersonRiskQueries, email string, now time.Time) (client.PersonRisk, error) {
	today := now.UTC().Truncate(24 * time.Hour)
	days, err := st.PersonRiskDays(ctx, email, today.AddDate(0, 0, -(RiskWindowDays-1)))
	out := client.PersonRisk{WindowDays: RiskWindowDays, Trend: []client.PersonRiskDay{}}
	for _, d := range days {
		if d.Day.After(today) {
			continue // observed in the future (a vendor's clock): not in the window yet
		}
		out.Score += d.Score
		out.Events += d.Events
		out.Trend = append(out.Trend, client.PersonRiskDay{Day: d.Day.Format(time.DateOnly), Score: d.Score, Events: d.Events})
	}
	return out, err
}

func (s *Server) personWatchlists(ctx context.Context, email string) ([]client.PersonWatchlist, bool, string, error) {
	ms, err := s.store.ListPersonMemberships(ctx, email)
	out := []client.PersonWatchlist{}
	if err != nil || len(ms) == 0 {
		return out, false, "", err
	}
	ws, err := s.store.ListWatchlists(ctx)
	if err != nil {
		return out, false, "", err
	}
	byID := map[int64]store.Watchlist{}
	for _, w := range ws {
		byID[w.ID] = w
	}
	departing, date := false, ""
	for _, m := range ms {
		w := byID[m.WatchlistID]
		out = append(out, client.PersonWatchlist{ID: strconv.FormatInt(w.ID, 10), Type: w.Type, Name: w.Name, DepartureDate: m.DepartureDate, Notes: m.Notes})
		if w.Type == watchlist.DepartingEmployee {
			departing, date = true, m.DepartureDate
		}
	}
	return out, departing, date, nil
}

func (s *Server) getPerson(r *http.Request, _ auth.Principal) (any, error) {
	email, err := emailParam(r)
	if err != nil {
		return nil, err
	}
	ctx := r.Context()
	// An alias shows its person.
	if email, err = s.store.ResolvePerson(ctx, email); err != nil {
		return nil, err
	}
	out := client.Person{Email: email, Alerts: []client.Alert{}, Directories: []client.PersonDirectory{}, Cases: []client.Case{}, RecentEvents: []json.RawMessage{},
		Aliases: []client.PersonAlias{}, Sources: []client.PersonSource{}}
	addrs := []string{email}
	as, err := s.store.PersonAliases(ctx, []string{email})
	if err != nil {
		return nil, err
	}
	for _, a := range as {
		out.Aliases = append(out.Aliases, client.PersonAlias{Alias: a.Alias, AddedBy: a.CreatedBy, AddedAt: a.CreatedAt})
		addrs = append(addrs, a.Alias)
	}
	if p, err := s.store.GetPersonByEmail(ctx, email); err == nil {
		out.Status = p.Status
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	if out.Directories, err = s.personDirectories(ctx, addrs); err != nil {
		return nil, err
	}
	if out.Sources, err = s.personSources(ctx, addrs); err != nil {
		return nil, err
	}
	out.Devices = []client.Device{}
	now := s.clock.Now()
	for _, a := range addrs {
		ds, err := s.store.ListDevices(ctx, store.DeviceFilter{Person: a, Desc: true, Limit: personShown})
		if err != nil {
			return nil, err
		}
		for _, d := range ds {
			if len(out.Devices) < personShown {
				out.Devices = append(out.Devices, s.deviceWire(d, now))
			}
		}
	}
	if out.Watchlists, out.Departing, _, err = s.personWatchlists(ctx, email); err != nil {
		return nil, err
	}
	if out.History, err = s.personHistory(r, email); err != nil {
		return nil, err
	}
	if out.Risk, err = PersonRiskOf(ctx, s.store, email, s.clock.Now()); err != nil {
		return nil, err
	}
	als, err := s.store.ListAlerts(ctx, store.AlertFilter{Person: email, Limit: personShown})
	if err != nil {
		return nil, err
	}
	for _, a := range als {
		out.Alerts = append(out.Alerts, alertWire(a))
	}
	cs, err := s.store.ListCases(ctx, store.CaseFilter{Person: email, Limit: personShown})
	if err != nil {
		return nil, err
	}
	for _, c := range cs {
		out.Cases = append(out.Cases, caseWire(c))
	}
	q, err := search.Parse(actorQuery(addrs), s.clock.Now())
	if err != nil {
		return nil, err
	}
	evs, err := s.store.SearchEvents(ctx, q, store.SearchOptions{Sort: store.SortObserved, Desc: true, Limit: personShown})
	if err != nil {
		return nil, err
	}
	for i := range evs {
		b, err := json.Marshal(&evs[i])
		if err != nil {
			return nil, err
		}
		out.RecentEvents = append(out.RecentEvents, b)
	}
	return out, nil
}

func exposedWire(x store.ExposedFile) client.ExposedFile {
	e := &x.Event
	xs := []string{}
	for _, v := range e.Sharing.Exposure {
		xs = append(xs, string(v))
	}
	return client.ExposedFile{Connection: e.Event.ConnectionName, ConnectionID: strconv.FormatInt(x.File.ConnectionID, 10), FileID: x.File.VendorID,
		Name: x.File.Name, Path: x.File.Path, Size: x.File.Size, Exposure: xs, LinkScope: string(e.Sharing.LinkScope), SharedWith: e.Sharing.SharedWith,
		SharedBy: e.User.Email, SharedAt: e.Timestamp, EventID: strconv.FormatInt(e.Event.ID, 10)}
}

func (s *Server) personExposure(r *http.Request, _ auth.Principal) (any, error) {
	email, err := emailParam(r)
	if err != nil {
		return nil, err
	}
	var after int64
	if v := r.URL.Query().Get("after"); v != "" {
		if after, err = strconv.ParseInt(v, 10, 64); err != nil {
			return nil, invalidField("after", "want the next value of the previous page, got %q", clip(v, 50))
		}
	}
	limit, err := limitParam(r, 100)
	if err != nil {
		return nil, err
	}
	out := client.Exposure{Email: email, Items: []client.ExposedFile{}}
	if _, out.Departing, out.DepartureDate, err = s.personWatchlists(r.Context(), email); err != nil {
		return nil, err
	}
	xs, err := s.store.ExposedFiles(r.Context(), email, ExposedMask, after, limit)
	if err != nil {
		return nil, err
	}
	for _, x := range xs {
		out.Items = append(out.Items, exposedWire(x))
	}
	if len(xs) == limit {
		out.Next = strconv.FormatInt(xs[len(xs)-1].File.ID, 10)
	}
	return out, nil
}

// ExposureCSVHeader is the header of the departure exposure CSV.
var ExposureCSVHeader = []string{"owner", "connection", "connection_id", "file_id", "name", "path", "size", "exposure", "link_scope", "shared_with", "shared_by", "shared_at", "event_id"}

// WriteExposureCSV writes every file the person owns that is exposed now as CSV.
func WriteExposureCSV(ctx context.Context, st store.ExposureQueries, email string, w io.Writer) error {
	cw := csvsafe.NewWriter(w)
	if err := cw.Write(ExposureCSVHeader); err != nil {
		return err
	}
	for after := int64(0); ; {
		xs, err := st.ExposedFiles(ctx, email, ExposedMask, after, 1000)
		if err != nil {
			return err
		}
		for _, x := range xs {
			f := exposedWire(x)
			if err := cw.Write([]string{email, f.Connection, f.ConnectionID, f.FileID, f.Name, f.Path, strconv.FormatInt(f.Size, 10), strings.Join(f.Exposure, ";"),
				f.LinkScope, strings.Join(f.SharedWith, ";"), f.SharedBy, f.SharedAt.UTC().Format(time.RFC3339), f.EventID}); err != nil {
				return err
			}
		}
		cw.Flush()
		if err := cw.Error(); err != nil {
			return err
		}
		if len(xs) < 1000 {
			return nil
		}
		after = xs[len(xs)-1].File.ID
	}
}

func (s *Server) personExposureCSV(r *http.Request, _ auth.Principal) (any, error) {
	email, err := emailParam(r)
	if err != nil {
		return nil, err
	}
	return rawBody{contentType: "text/csv; charset=utf-8", filename: fmt.Sprintf("exposure-%s.csv", strings.NewReplacer("@", "_at_", "/", "_").Replace(email)),
		write: func(w io.Writer) error { return WriteExposureCSV(r.Context(), s.store, email, w) }}, nil
}

// actorQuery is a search for events by any of a person's addresses.
func actorQuery(addrs []string) string {
	terms := make([]string, len(addrs))
	for i, a := range addrs {
		terms[i] = "actor:" + quote(a)
	}
	return "(" + strings.Join(terms, " OR ") + ")"
}

// personSources is the person's last activity per service and address: one search per pair,
// each the newest event by the actor index (addresses are compared case-insensitively, so a Box
// login and a Google address that differ only in case count as one address).
func (s *Server) personSources(ctx context.Context, addrs []string) ([]client.PersonSource, error) {
	out := []client.PersonSource{}
	for _, a := range addrs {
		for _, o := range event.Observers() {
			q, err := search.Parse("actor:"+quote(a)+" service:"+string(o), s.clock.Now())
			if err != nil {
				return nil, err
			}
			evs, err := s.store.SearchEvents(ctx, q, store.SearchOptions{Sort: store.SortObserved, Desc: true, Limit: 1})
			if err != nil {
				return nil, err
			}
			if len(evs) == 1 {
				out = append(out, client.PersonSource{Service: string(o), Address: a, LastActivity: evs[0].Timestamp})
			}
		}
	}
	slices.SortStableFunc(out, func(x, y client.PersonSource) int { return y.LastActivity.Compare(x.LastActivity) })
	return out, nil
}

func (s *Server) listPeople(r *http.Request, _ auth.Principal) (any, error) {
	q := r.URL.Query()
	limit := 100
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return nil, invalidField("limit", "want a whole number from 1 to 1000, got %q", clip(v, 40))
		}
		limit = n
	}
	after := q.Get("after")
	if len(after) > 320 {
		return nil, invalidField("after", "want the next value of the previous page (an address), got %d characters", len(after))
	}
	ps, next, err := s.store.ListKnownPeople(r.Context(), after, limit)
	if err != nil {
		return nil, err
	}
	out := client.PeopleList{Items: []client.PersonSummary{}, Next: next}
	emails := make([]string, 0, len(ps))
	for _, p := range ps {
		emails = append(emails, p.Email)
	}
	as, err := s.store.PersonAliases(r.Context(), emails)
	if err != nil {
		return nil, err
	}
	byEmail := map[string][]string{}
	for _, a := range as {
		byEmail[a.Email] = append(byEmail[a.Email], a.Alias)
	}
	for _, p := range ps {
		out.Items = append(out.Items, client.PersonSummary{Email: p.Email, Name: p.Person.Name, Status: p.Person.Status,
			Department: p.Person.Department, Aliases: byEmail[p.Email]})
	}
	return out, nil
}

func (s *Server) addAlias(r *http.Request, p auth.Principal) (any, error) {
	email, err := emailParam(r)
	if err != nil {
		return nil, err
	}
	var in client.AliasInput
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	alias := strings.TrimSpace(in.Alias)
	if why := scope.CheckEmail(alias); why != "" {
		return nil, invalidField("alias", "%q %s: an alias is an address, such as a Box login, a Google address or a Microsoft UPN", clip(alias, 200), why)
	}
	alias = strings.ToLower(alias)
	noteAudit(r, "person/"+email, map[string]any{"alias": alias})
	if alias == email {
		return nil, invalidField("alias", "%s is the person's own address; addresses that differ only in case are one person already and need no alias", alias)
	}
	if err := s.store.AddPersonAlias(r.Context(), email, alias, p.Username); err != nil {
		if errors.Is(err, store.ErrConflict) {
			msg := err.Error()
			if i := strings.Index(msg, "conflict: "); i >= 0 {
				msg = msg[i+len("conflict: "):]
			}
			return nil, withField(http.StatusConflict, "alias", "%s", msg)
		}
		return nil, err
	}
	as, err := s.store.PersonAliases(r.Context(), []string{email})
	if err != nil {
		return nil, err
	}
	out := client.PersonAliases{Items: []client.PersonAlias{}}
	for _, a := range as {
		out.Items = append(out.Items, client.PersonAlias{Alias: a.Alias, AddedBy: a.CreatedBy, AddedAt: a.CreatedAt})
	}
	return out, nil
}

func (s *Server) removeAlias(r *http.Request, _ auth.Principal) (any, error) {
	email, err := emailParam(r)
	if err != nil {
		return nil, err
	}
	alias := strings.ToLower(strings.TrimSpace(r.PathValue("alias")))
	noteAudit(r, "person/"+email, map[string]any{"alias": clip(alias, 320)})
	if err := s.store.RemovePersonAlias(r.Context(), email, alias); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, withStatus(http.StatusNotFound, "%s is not an alias of %s: see the person's aliases with GET /api/v1/people/%s", clip(alias, 320), email, email)
		}
		return nil, err
	}
	return noContent{}, nil
}

// personDirectories is what the connections' directories say of the person's addresses.
func (s *Server) personDirectories(ctx context.Context, addrs []string) ([]client.PersonDirectory, error) {
	sts, err := s.store.PersonStates(ctx, addrs)
	if err != nil {
		return nil, err
	}
	out := []client.PersonDirectory{}
	conns := map[int64]store.Connection{}
	for _, st := range sts {
		c, ok := conns[st.ConnectionID]
		if !ok {
			if c, err = s.store.GetConnection(ctx, st.ConnectionID); err != nil && !errors.Is(err, store.ErrNotFound) {
				return nil, err
			}
			conns[st.ConnectionID] = c
		}
		out = append(out, client.PersonDirectory{ConnectionID: st.ConnectionID, Connection: c.Name, Service: c.Service, Address: st.Email,
			Status: st.Status, Reason: st.Reason, SeenAt: st.UpdatedAt})
	}
	return out, nil
}
