package api

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/auth"
	"github.com/telltale-dev/telltale/internal/scope"
	"github.com/telltale-dev/telltale/internal/store"
	"github.com/telltale-dev/telltale/internal/textcheck"
	"github.com/telltale-dev/telltale/internal/watchlist"
)

// Watchlist limits.
const (
	maxMembersPerCall = 1000 // members a JSON call adds or removes
	memberPage        = 100
)

func (s *Server) watchlistRoutes() []Route {
	const tag = "watchlists"
	page := []Param{{"after", "the next value of the previous page"}, {"limit", "1 to 1000, default 100"}}
	return []Route{
		{Method: "GET", Path: "/api/v1/watchlists", Need: auth.RoleReadOnly, Tag: tag, Summary: "List the watchlists with their member counts",
			Out: client.WatchlistList{}, Handle: s.listWatchlists},
		{Method: "POST", Path: "/api/v1/watchlists", Need: auth.RoleAdmin, Tag: tag, Audit: "watchlist.create",
			Summary: "Create a custom watchlist (the built-in ones, one per type, always exist)", In: client.WatchlistInput{}, Out: client.Watchlist{},
			MaxBody: 16 << 10, Handle: s.createWatchlist},
		{Method: "GET", Path: "/api/v1/watchlists/{id}", Need: auth.RoleReadOnly, Tag: tag, Summary: "Get a watchlist",
			Out: client.Watchlist{}, Handle: s.getWatchlist},
		{Method: "GET", Path: "/api/v1/watchlists/{id}/members", Need: auth.RoleReadOnly, Tag: tag, Summary: "A watchlist's members by address",
			Out: client.WatchlistMembers{}, Query: page, Handle: s.listMembers},
		{Method: "POST", Path: "/api/v1/watchlists/{id}/members", Need: auth.RoleAnalyst, Tag: tag, Audit: "watchlist.members.add",
			Summary: "Add up to 1,000 members (or update their departure date and notes)", In: client.WatchlistMembersInput{}, Out: client.WatchlistChange{},
			MaxBody: 2 << 20, Handle: s.addMembers},
		{Method: "POST", Path: "/api/v1/watchlists/{id}/members/remove", Need: auth.RoleAnalyst, Tag: tag, Audit: "watchlist.members.remove",
			Summary: "Remove up to 1,000 members by address", In: client.WatchlistRemoveInput{}, Out: client.WatchlistChange{},
			MaxBody: 1 << 20, Handle: s.removeMembers},
		{Method: "POST", Path: "/api/v1/watchlists/{id}/members.csv", Need: auth.RoleAnalyst, Tag: tag, Audit: "watchlist.members.upload",
			Summary: "Add the members of a CSV (Email, optional Departure Date and Notes), or with replace=true make them the only members; a bad file changes nothing",
			In:      CSV, Out: client.WatchlistChange{}, Query: []Param{{"replace", "true: members not in the file are removed"}},
			MaxBody: scope.MaxFileSize + 1, Handle: s.uploadMembers},
	}
}

func watchlistWire(w store.Watchlist) client.Watchlist {
	return client.Watchlist{ID: strconv.FormatInt(w.ID, 10), Type: w.Type, Name: w.Name, Description: w.Description, Members: w.Members,
		CreatedAt: w.CreatedAt, CreatedBy: w.CreatedBy}
}

func (s *Server) listWatchlists(r *http.Request, _ auth.Principal) (any, error) {
	ws, err := s.store.ListWatchlists(r.Context())
	out := client.WatchlistList{Items: []client.Watchlist{}}
	for _, w := range ws {
		out.Items = append(out.Items, watchlistWire(w))
	}
	return out, err
}

func (s *Server) createWatchlist(r *http.Request, p auth.Principal) (any, error) {
	var in client.WatchlistInput
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	name := strings.TrimSpace(in.Name)
	if name == "" {
		return nil, invalidField("name", "a watchlist needs a name")
	}
	if msg := textcheck.Label(name, 200); msg != "" {
		return nil, invalidField("name", "%s", msg)
	}
	if slices.Contains(watchlist.Types(), watchlist.Key(name)) {
		return nil, withField(http.StatusConflict, "name", "%q is the name of a built-in watchlist type: choose another name", name)
	}
	if len(in.Description) > maxNote || !isText(in.Description) {
		return nil, invalidField("description", "must be text of at most %d bytes", maxNote)
	}
	w, err := s.store.CreateWatchlist(r.Context(), store.Watchlist{Type: watchlist.Custom, Name: name, Description: in.Description,
		CreatedBy: p.Username, CreatedAt: s.clock.Now()})
	if errors.Is(err, store.ErrConflict) {
		return nil, withField(http.StatusConflict, "name", "a watchlist named %q exists: choose another name", name)
	}
	if err != nil {
		return nil, err
	}
	noteAudit(r, "watchlist/"+strconv.FormatInt(w.ID, 10), map[string]any{"name": w.Name, "type": w.Type})
	return created{watchlistWire(w)}, nil
}

func (s *Server) watchlistByPath(r *http.Request) (store.Watchlist, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return store.Watchlist{}, err
	}
	return s.store.GetWatchlist(r.Context(), id)
}

func (s *Server) getWatchlist(r *http.Request, _ auth.Principal) (any, error) {
	w, err := s.watchlistByPath(r)
	if err != nil {
		return nil, err
	}
	return watchlistWire(w), nil
}

func (s *Server) listMembers(r *http.Request, _ auth.Principal) (any, error) {
	w, err := s.watchlistByPath(r)
	if err != nil {
		return nil, err
	}
	limit, err := limitParam(r, memberPage)
	if err != nil {
		return nil, err
	}
	ms, err := s.store.ListWatchlistMembers(r.Context(), w.ID, strings.ToLower(r.URL.Query().Get("after")), limit)
	if err != nil {
		return nil, err
	}
	out := client.WatchlistMembers{Items: []client.WatchlistMember{}}
	for _, m := range ms {
		out.Items = append(out.Items, client.WatchlistMember{Email: m.Email, DepartureDate: m.DepartureDate, Notes: m.Notes, AddedBy: m.AddedBy, AddedAt: m.AddedAt})
	}
	if len(ms) == limit {
		out.Next = ms[len(ms)-1].Email
	}
	return out, nil
}

// checkEmails validates addresses named in a JSON body (field names members[i].email or emails[i]).
func checkEmail(field, v string) (string, error) {
	v = strings.TrimSpace(v)
	if why := scope.CheckEmail(v); why != "" {
		return "", invalidField(field, "%q %s", clip(v, 200), why)
	}
	return strings.ToLower(v), nil
}

func (s *Server) addMembers(r *http.Request, p auth.Principal) (any, error) {
	w, err := s.watchlistByPath(r)
	if err != nil {
		return nil, err
	}
	var in client.WatchlistMembersInput
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	if len(in.Members) == 0 || len(in.Members) > maxMembersPerCall {
		return nil, invalidField("members", "name 1 to %d members (%d given); upload a CSV for more", maxMembersPerCall, len(in.Members))
	}
	ms := make([]store.WatchlistMember, 0, len(in.Members))
	for i, m := range in.Members {
		f := "members[" + strconv.Itoa(i) + "]"
		email, err := checkEmail(f+".email", m.Email)
		if err != nil {
			return nil, err
		}
		x := store.WatchlistMember{Email: email, DepartureDate: strings.TrimSpace(m.DepartureDate), Notes: m.Notes, AddedBy: p.Username, AddedAt: s.clock.Now()}
		if !isText(x.Notes) {
			return nil, invalidField(f+".notes", "must be text")
		}
		if why := watchlist.CheckMember(w.Type, x); why != "" {
			field, msg, _ := strings.Cut(why, ": ")
			return nil, invalidField(f+"."+strings.ReplaceAll(field, " ", "_"), "%s", msg)
		}
		ms = append(ms, x)
	}
	var added int64
	err = s.store.InTx(r.Context(), func(q store.Queries) error {
		before, err := memberDates(r.Context(), q, w.ID)
		if err != nil {
			return err
		}
		if added, err = q.PutWatchlistMembers(r.Context(), w.ID, ms); err != nil {
			return err
		}
		return handHistory(r.Context(), q, w.ID, p.Username, s.clock.Now(), before, ms, nil)
	})
	if err != nil {
		return nil, err
	}
	out := client.WatchlistChange{Added: added, Updated: int64(len(ms)) - added}
	noteAudit(r, "watchlist/"+strconv.FormatInt(w.ID, 10), map[string]any{"watchlist": w.Name, "members": emailsOf(ms), "added": out.Added, "updated": out.Updated})
	return created{out}, nil
}

func emailsOf(ms []store.WatchlistMember) []string {
	out := make([]string, 0, min(len(ms), 1000))
	for _, m := range ms[:min(len(ms), 1000)] {
		out = append(out, m.Email)
	}
	return out
}

func (s *Server) removeMembers(r *http.Request, p auth.Principal) (any, error) {
	w, err := s.watchlistByPath(r)
	if err != nil {
		return nil, err
	}
	var in client.WatchlistRemoveInput
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	if len(in.Emails) == 0 || len(in.Emails) > maxMembersPerCall {
		return nil, invalidField("emails", "name 1 to %d addresses (%d given)", maxMembersPerCall, len(in.Emails))
	}
	emails := make([]string, 0, len(in.Emails))
	for i, e := range in.Emails {
		v, err := checkEmail("emails["+strconv.Itoa(i)+"]", e)
		if err != nil {
			return nil, err
		}
		emails = append(emails, v)
	}
	var n int64
	err = s.store.InTx(r.Context(), func(q store.Queries) error {
		before, err := memberDates(r.Context(), q, w.ID)
		if err != nil {
			return err
		}
		if n, err = q.RemoveWatchlistMembers(r.Context(), w.ID, emails); err != nil {
			return err
		}
		return handHistory(r.Context(), q, w.ID, p.Username, s.clock.Now(), before, nil, emails)
	})
	if err != nil {
		return nil, err
	}
	noteAudit(r, "watchlist/"+strconv.FormatInt(w.ID, 10), map[string]any{"watchlist": w.Name, "members": emails, "removed": n})
	return client.WatchlistChange{Removed: n}, nil
}

func (s *Server) uploadMembers(r *http.Request, p auth.Principal) (any, error) {
	w, err := s.watchlistByPath(r)
	if err != nil {
		return nil, err
	}
	replace := false
	if v := r.URL.Query().Get("replace"); v != "" {
		if replace, err = strconv.ParseBool(v); err != nil {
			return nil, invalidField("replace", "want true or false, got %q", clip(v, 50))
		}
	}
	ms, err := watchlist.ParseCSV(r.Body, w.Type) // the whole file or an error naming rows: nothing is stored before
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	for i := range ms {
		ms[i].AddedBy, ms[i].AddedAt = p.Username, now
	}
	var out client.WatchlistChange
	err = s.store.InTx(r.Context(), func(q store.Queries) error {
		before, err := memberDates(r.Context(), q, w.ID)
		if err != nil {
			return err
		}
		var gone []string
		if replace {
			keep := map[string]bool{}
			for _, m := range ms {
				keep[m.Email] = true
			}
			for e := range before {
				if !keep[e] {
					gone = append(gone, e)
				}
			}
			slices.Sort(gone)
			if len(gone) > 0 {
				n, err := q.RemoveWatchlistMembers(r.Context(), w.ID, gone)
				if err != nil {
					return err
				}
				out.Removed = n
			}
		}
		added, err := q.PutWatchlistMembers(r.Context(), w.ID, ms)
		out.Added, out.Updated = added, int64(len(ms))-added
		if err != nil {
			return err
		}
		return handHistory(r.Context(), q, w.ID, p.Username, now, before, ms, gone)
	})
	if err != nil {
		return nil, err
	}
	noteAudit(r, "watchlist/"+strconv.FormatInt(w.ID, 10), map[string]any{"watchlist": w.Name, "replace": replace, "rows": len(ms),
		"added": out.Added, "updated": out.Updated, "removed": out.Removed})
	return out, nil
}

// memberDates returns the watchlist's members now, each with their departure date.
func memberDates(ctx context.Context, q store.Queries, id int64) (map[string]string, error) {
	out := map[string]string{}
	for after := ""; ; {
		page, err := q.ListWatchlistMembers(ctx, id, after, 1000)
		if err != nil {
			return nil, err
		}
		for _, m := range page {
			out[m.Email] = m.DepartureDate
		}
		if len(page) < 1000 {
			return out, nil
		}
		after = page[len(page)-1].Email
	}
}

// handHistory writes a line of each person's history for a change made by hand (API, console,
// CSV upload), in the change's transaction, as HR sources do for theirs (internal/hr): added for
// someone not on the list before, updated when their departure date changed, removed for someone
// who was on it. The source is empty (by hand), the actor the user.
func handHistory(ctx context.Context, q store.Queries, id int64, actor string, at time.Time, before map[string]string, put []store.WatchlistMember, removed []string) error {
	for _, m := range put {
		old, was := before[m.Email]
		action := "added"
		if was {
			if old == m.DepartureDate {
				continue
			}
			action = "updated"
		}
		before[m.Email] = m.DepartureDate // a CSV naming someone twice gets one line per change
		if _, err := q.AppendPersonChange(ctx, store.PersonChange{Email: m.Email, At: at, WatchlistID: id, Action: action,
			DepartureDate: m.DepartureDate, Actor: actor}); err != nil {
			return err
		}
	}
	for _, e := range removed {
		old, was := before[e]
		if !was {
			continue
		}
		delete(before, e)
		if _, err := q.AppendPersonChange(ctx, store.PersonChange{Email: e, At: at, WatchlistID: id, Action: "removed", DepartureDate: old, Actor: actor}); err != nil {
			return err
		}
	}
	return nil
}
