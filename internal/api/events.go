package api

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/auth"
	"github.com/telltale-dev/telltale/internal/search"
	"github.com/telltale-dev/telltale/internal/store"
	"github.com/telltale-dev/telltale/internal/textcheck"
)

// DefaultCountLimit and CountBudget bound the total of a search that does not ask for a count_limit.
const (
	DefaultCountLimit = 10000
	CountBudget       = 200 * time.Millisecond
)

// Search limits.
const (
	defaultPage = 100
	maxPage     = 10000
	// Totals are counted exactly up to DefaultCountLimit, or for at most CountBudget, whichever
	// comes first, and reported as "at least" beyond; a request's count_limit (at most maxCount)
	// asks for an exact count without the time budget. Counting is what a common word costs at 10
	// million events (docs/BENCHMARKS.md): 10,000 matches of 1 in 15 took 0.5 s on PostgreSQL, the
	// first page 13 ms.
	countCap      = DefaultCountLimit
	maxCount      = 1000000
	timelineLimit = 500
)

func (s *Server) eventRoutes() []Route {
	const tag = "file-events"
	return []Route{
		{Method: "POST", Path: "/api/v1/file-events/search", Need: auth.RoleReadOnly, Tag: tag, Audit: "file_events.search", Reads: true,
			Summary: "Search file events (docs/SEARCH.md) with a stable cursor for the next page and a total count",
			In:      client.SearchRequest{}, Out: client.SearchResult{}, Handle: s.searchEvents},
		{Method: "GET", Path: "/api/v1/file-events/{id}", Need: auth.RoleReadOnly, Tag: tag,
			Summary: "One file event with its file's timeline (R5.4)", Out: client.EventDetails{}, Handle: s.getEvent},
		{Method: "POST", Path: "/api/v1/file-events/group", Need: auth.RoleReadOnly, Tag: tag, Audit: "file_events.group", Reads: true,
			Summary: "Count matching events by actor, file, destination domain, action or day (R5.5)",
			In:      client.GroupRequest{}, Out: client.GroupResult{}, Handle: s.groupEvents},
		{Method: "POST", Path: "/api/v1/file-events/export", Need: auth.RoleAnalyst, Tag: tag, Audit: "file_events.export", Reads: true,
			Summary: "Stream every matching event as CSV or JSON lines; with a checkpoint, only the events after it, in insertion order (R5.3)",
			In:      client.ExportRequest{}, Out: CSV, Handle: s.exportEvents},
		{Method: "GET", Path: "/api/v1/export-checkpoints", Need: auth.RoleReadOnly, Tag: tag,
			Summary: "List your incremental exports' checkpoints (an admin sees every one)",
			Out: struct {
				Items []client.Checkpoint `json:"items"`
			}{}, Handle: s.listCheckpoints},
		{Method: "GET", Path: "/api/v1/export-checkpoints/{name}", Need: auth.RoleReadOnly, Tag: tag,
			Summary: "Where an incremental export stands (its owner and admins only)", Out: client.Checkpoint{}, Handle: s.getCheckpoint},
		{Method: "PUT", Path: "/api/v1/export-checkpoints/{name}", Need: auth.RoleAnalyst, Tag: tag, Audit: "file_events.checkpoint",
			Summary: "Acknowledge an incremental export up to an event id (never backwards, never beyond the newest event), or with reset set it as given; creates the checkpoint, owned by you",
			In:      client.Checkpoint{}, Out: client.Checkpoint{}, Handle: s.putCheckpoint},
		{Method: "DELETE", Path: "/api/v1/export-checkpoints/{name}", Need: auth.RoleAnalyst, Tag: tag, Audit: "file_events.checkpoint.delete",
			Summary: "Delete an incremental export's checkpoint (its owner and admins only)", Handle: s.deleteCheckpoint},
		{Method: "GET", Path: "/api/v1/saved-searches", Need: auth.RoleReadOnly, Tag: tag, Summary: "List saved searches",
			Out: struct {
				Items []client.SavedSearch `json:"items"`
			}{}, Handle: s.listSaved},
		{Method: "POST", Path: "/api/v1/saved-searches", Need: auth.RoleAnalyst, Tag: tag, Audit: "saved_search.create",
			Summary: "Save a search under a unique name", In: client.SavedSearchInput{}, Out: client.SavedSearch{}, Handle: s.createSaved},
		{Method: "GET", Path: "/api/v1/saved-searches/{id}", Need: auth.RoleReadOnly, Tag: tag, Summary: "Get a saved search",
			Out: client.SavedSearch{}, Handle: s.getSaved},
		{Method: "PUT", Path: "/api/v1/saved-searches/{id}", Need: auth.RoleAnalyst, Tag: tag, Audit: "saved_search.update",
			Summary: "Change a saved search's name or query", In: client.SavedSearchInput{}, Out: client.SavedSearch{}, Handle: s.updateSaved},
		{Method: "DELETE", Path: "/api/v1/saved-searches/{id}", Need: auth.RoleAnalyst, Tag: tag, Audit: "saved_search.delete",
			Summary: "Delete a saved search", Handle: s.deleteSaved},
	}
}

// queryError is a search query that does not parse, pointing at where: in the query text (field
// "query", Pos an offset in it) or in one of the filter terms (field "filter[i]", no position).
type queryError struct {
	e     *search.Error
	field string
}

func (q *queryError) Error() string { return q.field + ": " + q.e.Error() }

// searchQuery is parseQuery with actor: terms widened to every address of their person
// (search.ExpandActors), as rules, flows and forwarding streams widen them: the query that runs.
func (s *Server) searchQuery(ctx context.Context, text string, filter []client.FilterTerm) (search.Query, error) {
	q, err := s.parseQuery(text, filter)
	if err != nil {
		return q, err
	}
	q, err = search.ExpandActors(q, func(a string) ([]string, error) { return store.PersonAddresses(ctx, s.store, a) })
	var se *search.Error
	if errors.As(err, &se) {
		return q, &queryError{e: se, field: "query"}
	}
	return q, err
}

// parseQuery parses the query and ANDs the filter terms (their values literal).
func (s *Server) parseQuery(text string, filter []client.FilterTerm) (search.Query, error) {
	// Limits first: the work done for a request is bounded by what it may ask.
	if len(filter) > search.MaxTerms {
		return search.Query{}, invalidField("filter", "%d filter terms; a search takes at most %d terms in all", len(filter), search.MaxTerms)
	}
	if len(text) > search.MaxLen {
		return search.Query{}, invalidField("query", "the query is %d bytes long; the most is %d", len(text), search.MaxLen)
	}
	parts := []string{}
	shift := 0 // positions in errors refer to the query text as the caller wrote it
	queryEnd := 0
	if strings.TrimSpace(text) != "" {
		if len(filter) > 0 {
			text, shift = "("+text+")", 1
		}
		parts = append(parts, text)
		queryEnd = len(text)
	}
	starts := make([]int, 0, len(filter)) // where each filter term starts in the joined text
	at := queryEnd
	if queryEnd > 0 {
		at++
	}
	for i, f := range filter {
		op := f.Op
		if op == "" {
			op = ":"
		}
		switch op {
		case ":", "=", ">", ">=", "<", "<=":
		default:
			return search.Query{}, invalidField(fmt.Sprintf("filter[%d].op", i), "%q is not an operator: use :, =, >, >=, < or <=", f.Op)
		}
		if strings.ContainsAny(f.Field, " \t:()\"") || f.Field == "" {
			return search.Query{}, invalidField(fmt.Sprintf("filter[%d].field", i), "%q is not a field name: see docs/SEARCH.md", f.Field)
		}
		term := f.Field + op + quote(f.Value)
		starts = append(starts, at)
		at += len(term) + 1
		parts = append(parts, term)
	}
	q, err := search.Parse(strings.Join(parts, " "), s.clock.Now())
	if err != nil {
		var se *search.Error
		if errors.As(err, &se) {
			c := *se
			if len(starts) > 0 && c.Pos >= starts[0] {
				i := len(starts) - 1
				for i > 0 && c.Pos < starts[i] {
					i--
				}
				c.Pos, c.Msg = 0, strings.Replace(c.Msg, fmt.Sprintf(" at %d", se.Pos), "", 1)
				return search.Query{}, &queryError{e: &c, field: fmt.Sprintf("filter[%d]", i)}
			}
			c.Pos = min(max(0, c.Pos-shift), len(text)-2*shift)
			c.Msg = strings.Replace(c.Msg, fmt.Sprintf(" at %d", se.Pos), fmt.Sprintf(" at %d", c.Pos), 1)
			return search.Query{}, &queryError{e: &c, field: "query"}
		}
		return search.Query{}, invalid("query: %v", err)
	}
	return q, nil
}

func quote(v string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v) + `"`
}

// searchCursor is the opaque cursor: the sort, the order, the keyset position, and a hash of the
// query so that a cursor is never applied to another search.
type searchCursor struct {
	Sort string `json:"s"`
	Desc bool   `json:"d"`
	Time int64  `json:"t"`
	ID   int64  `json:"i"`
	Q    string `json:"q"`
}

func queryHash(q search.Query, sort string, desc bool) string {
	h := sha256.Sum256([]byte(fmt.Sprintf("%s\x00%s\x00%v", q.String(), sort, desc)))
	return base64.RawURLEncoding.EncodeToString(h[:8])
}

func (s *Server) searchEvents(r *http.Request, p auth.Principal) (any, error) {
	var in client.SearchRequest
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	q, err := s.searchQuery(r.Context(), in.Query, in.Filter)
	if err != nil {
		return nil, err
	}
	opt := store.SearchOptions{Sort: store.SearchSort(in.Sort), Desc: true, Limit: in.Limit}
	switch in.Sort {
	case "":
		opt.Sort = store.SortObserved
	case string(store.SortObserved), string(store.SortInserted), string(store.SortID):
	default:
		return nil, invalidField("sort", "%q is not a sort: use observed, inserted or id", in.Sort)
	}
	switch in.Order {
	case "", "desc":
	case "asc":
		opt.Desc = false
	default:
		return nil, invalidField("order", "%q is not an order: use desc or asc", in.Order)
	}
	if opt.Limit == 0 {
		opt.Limit = defaultPage
	}
	if opt.Limit < 1 || opt.Limit > maxPage {
		return nil, invalidField("limit", "%d is out of range: ask for 1 to %d events per page", in.Limit, maxPage)
	}
	limit := in.CountLimit
	if limit == 0 {
		limit = countCap
	}
	if limit < 1 || limit > maxCount {
		return nil, invalidField("count_limit", "%d is out of range: count exactly up to 1 to %d events (default %d)", in.CountLimit, maxCount, countCap)
	}
	qh := queryHash(q, string(opt.Sort), opt.Desc)
	if in.Cursor != "" {
		var c searchCursor
		b, err := base64.RawURLEncoding.DecodeString(in.Cursor)
		if err != nil || json.Unmarshal(b, &c) != nil || c.Q != qh || c.Sort != string(opt.Sort) || c.Desc != opt.Desc {
			return nil, invalidField("cursor", "this cursor does not belong to this search (query, sort and order must stay the same): start again without a cursor")
		}
		opt.After = &store.SearchCursor{Time: c.Time, ID: c.ID}
	}
	// The page and the total are independent reads: run them side by side (the request takes the
	// longer of the two, not their sum).
	type counted struct {
		n      int64
		capped bool
		err    error
	}
	total := make(chan counted, 1)
	go func() {
		var n int64
		var capped bool
		var err error
		if in.CountLimit == 0 {
			n, capped, err = s.store.CountSearchWithin(r.Context(), q, limit, CountBudget)
		} else {
			n, capped, err = s.store.CountSearch(r.Context(), q, limit, false)
		}
		total <- counted{n, capped, err}
	}()
	evs, err := s.store.SearchEvents(r.Context(), q, opt)
	c := <-total
	if err != nil {
		return nil, err
	}
	if c.err != nil {
		return nil, c.err
	}
	out := client.SearchResult{Items: make([]json.RawMessage, 0, len(evs)), Total: c.n, TotalIsMin: c.capped, Query: q.String()}
	for i := range evs {
		b, err := json.Marshal(&evs[i])
		if err != nil {
			return nil, err
		}
		out.Items = append(out.Items, b)
	}
	if len(evs) == opt.Limit {
		c := store.CursorOf(&evs[len(evs)-1], opt.Sort)
		b, _ := json.Marshal(searchCursor{Sort: string(opt.Sort), Desc: opt.Desc, Time: c.Time, ID: c.ID, Q: qh})
		out.NextCursor = base64.RawURLEncoding.EncodeToString(b)
	}
	noteAudit(r, "file-events", map[string]any{"query": out.Query, "returned": len(evs)})
	return out, nil
}

func (s *Server) getEvent(r *http.Request, _ auth.Principal) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	e, err := s.store.GetEvent(r.Context(), id)
	if err != nil {
		return nil, err
	}
	out := client.EventDetails{Timeline: []json.RawMessage{}}
	if out.Event, err = json.Marshal(&e); err != nil {
		return nil, err
	}
	if e.File.ID != "" {
		q, err := search.Parse(fmt.Sprintf("file_id:%s connection:%d", quote(e.File.ID), e.Event.ConnectionID), s.clock.Now())
		if err != nil {
			return nil, err
		}
		tl, err := s.store.SearchEvents(r.Context(), q, store.SearchOptions{Sort: store.SortObserved, Limit: timelineLimit})
		if err != nil {
			return nil, err
		}
		for i := range tl {
			if tl[i].Event.ID == e.Event.ID {
				continue
			}
			b, err := json.Marshal(&tl[i])
			if err != nil {
				return nil, err
			}
			out.Timeline = append(out.Timeline, b)
		}
	}
	return out, nil
}

func (s *Server) groupEvents(r *http.Request, _ auth.Principal) (any, error) {
	var in client.GroupRequest
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	q, err := s.searchQuery(r.Context(), in.Query, in.Filter)
	if err != nil {
		return nil, err
	}
	ok := false
	var names []string
	for _, b := range store.GroupBys() {
		names = append(names, string(b))
		ok = ok || string(b) == in.By
	}
	if !ok {
		return nil, invalidField("by", "%q is not a dimension: use one of %s", in.By, strings.Join(names, ", "))
	}
	if in.Limit == 0 {
		in.Limit = 100
	}
	if in.Limit < 1 || in.Limit > maxPage {
		return nil, invalidField("limit", "%d is out of range: ask for 1 to %d groups", in.Limit, maxPage)
	}
	gs, err := s.store.GroupEvents(r.Context(), q, store.GroupBy(in.By), in.Limit)
	if err != nil {
		return nil, err
	}
	out := client.GroupResult{By: in.By, Groups: []client.Group{}, Query: q.String()}
	for _, g := range gs {
		out.Groups = append(out.Groups, client.Group{Key: g.Key, Label: g.Label, Count: g.Count})
	}
	noteAudit(r, "file-events", map[string]any{"query": out.Query, "by": in.By})
	return out, nil
}

// CSVHeader is the column list of CSV exports.
var CSVHeader = []string{"id", "observed", "inserted", "action", "service", "connection_id", "connection", "actor", "file_id",
	"file_name", "path", "size", "owner", "category", "md5", "sha256", "sha1", "link_scope", "shared_with", "exposure",
	"recipients", "sender", "subject", "trusted", "severity", "source_ip", "count", "vendor_ids"}

func (s *Server) exportEvents(r *http.Request, p auth.Principal) (any, error) {
	var in client.ExportRequest
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	q, err := s.searchQuery(r.Context(), in.Query, in.Filter)
	if err != nil {
		return nil, err
	}
	format := in.Format
	if format == "" {
		format = "csv"
	}
	if format != "csv" && format != "jsonl" {
		return nil, invalidField("format", "%q is not a format: use csv or jsonl", in.Format)
	}
	var after int64
	details := map[string]any{"query": q.String(), "format": format}
	if in.Checkpoint != "" {
		if err := checkName(in.Checkpoint); err != nil {
			return nil, err
		}
		// A checkpoint that does not exist yet starts at 0 and is created, owned by the caller, by
		// the first acknowledgement.
		cp, adopted, err := s.useCheckpoint(r, p, in.Checkpoint)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return nil, err
		default:
			after = cp.AfterID
		}
		details["checkpoint"], details["after_id"] = in.Checkpoint, after
		if adopted {
			details["adopted"] = true
		}
	}
	noteAudit(r, "file-events", details)
	ctype, ext := "text/csv; charset=utf-8", "csv"
	if format == "jsonl" {
		ctype, ext = "application/x-ndjson", "jsonl"
	}
	return rawBody{contentType: ctype, filename: "file-events." + ext, write: func(w io.Writer) error {
		return WriteExport(r.Context(), s.store, q, format, after, w)
	}}, nil
}

func checkName(name string) error {
	if name == "" || len(name) > 100 || strings.ContainsAny(name, "/\\ \t\n") {
		return invalidField("checkpoint", "%q is not a checkpoint name: use 1 to 100 characters without spaces or slashes", name)
	}
	return nil
}

// Checkpoints belong to the user who created them: only that user and admins see or change one.
// To everyone else a checkpoint is as absent (404, with the same words whether it exists or not),
// except that its name cannot be taken (409). One created before owners were recorded (owner 0) is
// adopted by the first non-admin user who exports with it or acknowledges it.

// errCheckpointNotYours answers a caller who may not see the checkpoint, in the words of a missing one.
func errCheckpointNotYours(name string) error {
	return withStatus(http.StatusNotFound, "no export checkpoint named %q of yours: see GET /api/v1/export-checkpoints for yours", name)
}

func errCheckpointTaken(name string) error {
	return withStatus(http.StatusConflict, "the export checkpoint name %q is used by another user: choose another name", name)
}

// mayUseCheckpoint reports whether p may read and change c.
func mayUseCheckpoint(p auth.Principal, c store.Checkpoint) bool {
	return p.Role == auth.RoleAdmin || c.OwnerID == 0 || c.OwnerID == p.UserID
}

// useCheckpoint returns the checkpoint name for an export or an acknowledgement by p: ErrNotFound
// when there is none, errCheckpointTaken when it is another user's. A checkpoint without an owner
// becomes p's (adopted) unless p is an admin.
func (s *Server) useCheckpoint(r *http.Request, p auth.Principal, name string) (store.Checkpoint, bool, error) {
	c, err := s.store.GetCheckpoint(r.Context(), name)
	if err != nil {
		return c, false, err
	}
	if !mayUseCheckpoint(p, c) {
		return c, false, errCheckpointTaken(name)
	}
	if c.OwnerID != 0 || p.Role == auth.RoleAdmin {
		return c, false, nil
	}
	c.OwnerID = p.UserID
	c, err = s.store.UpdateCheckpoint(r.Context(), c, 0, true)
	if errors.Is(err, store.ErrNotFound) { // adopted or deleted meanwhile: look again
		return s.useCheckpoint(r, p, name)
	}
	return c, err == nil, err
}

func (s *Server) checkpointWire(r *http.Request, c store.Checkpoint) client.Checkpoint {
	out := client.Checkpoint{Name: c.Name, AfterID: strconv.FormatInt(c.AfterID, 10), UpdatedAt: c.UpdatedAt}
	if c.OwnerID != 0 {
		out.Owner = strconv.FormatInt(c.OwnerID, 10) // a user deleted since shows as its id
		if u, err := s.store.GetUser(r.Context(), c.OwnerID); err == nil {
			out.Owner = u.Username
		}
	}
	return out
}

func (s *Server) listCheckpoints(r *http.Request, p auth.Principal) (any, error) {
	cs, err := s.store.ListCheckpoints(r.Context())
	if err != nil {
		return nil, err
	}
	out := struct {
		Items []client.Checkpoint `json:"items"`
	}{Items: []client.Checkpoint{}}
	for _, c := range cs {
		if mayUseCheckpoint(p, c) {
			out.Items = append(out.Items, s.checkpointWire(r, c))
		}
	}
	return out, nil
}

func (s *Server) getCheckpoint(r *http.Request, p auth.Principal) (any, error) {
	name := r.PathValue("name")
	if err := checkName(name); err != nil {
		return nil, err
	}
	c, err := s.store.GetCheckpoint(r.Context(), name)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !mayUseCheckpoint(p, c)) {
		return nil, errCheckpointNotYours(name)
	}
	if err != nil {
		return nil, err
	}
	return s.checkpointWire(r, c), nil
}

func (s *Server) putCheckpoint(r *http.Request, p auth.Principal) (any, error) {
	name := r.PathValue("name")
	if err := checkName(name); err != nil {
		return nil, err
	}
	var in client.Checkpoint
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	id, err := strconv.ParseInt(in.AfterID, 10, 64)
	if err != nil || id < 0 {
		return nil, invalidField("after_id", "%q is not an event id: send the id of the last event the export delivered, as a string of digits", in.AfterID)
	}
	newest, err := s.store.NewestEventID(r.Context())
	if err != nil {
		return nil, err
	}
	if id > newest {
		return nil, withField(http.StatusUnprocessableEntity, "after_id", "%d is beyond the newest event id (%d): acknowledge only the id of an event an export delivered (to start over, send {\"after_id\": \"0\", \"reset\": true})", id, newest)
	}
	details := map[string]any{"after_id": id, "reset": in.Reset}
	noteAudit(r, "export-checkpoint/"+name, details)
	c, adopted, err := s.useCheckpoint(r, p, name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		c, err = s.store.CreateCheckpoint(r.Context(), store.Checkpoint{Name: name, AfterID: id, OwnerID: p.UserID})
		if errors.Is(err, store.ErrConflict) { // created meanwhile by someone else
			return nil, errCheckpointTaken(name)
		}
		if err != nil {
			return nil, err
		}
		details["created"] = true
	case err != nil:
		return nil, err
	default:
		details["old_after_id"] = c.AfterID
		if adopted {
			details["adopted"] = true
		}
		owner := c.OwnerID
		c.AfterID = id
		c, err = s.store.UpdateCheckpoint(r.Context(), c, owner, !in.Reset)
		if errors.Is(err, store.ErrNotFound) {
			return nil, withStatus(http.StatusConflict, "the export checkpoint %q was deleted or changed hands meanwhile: try again", name)
		}
		if err != nil {
			return nil, err
		}
	}
	details["after_id"] = c.AfterID
	noteAudit(r, "", details)
	return s.checkpointWire(r, c), nil
}

func (s *Server) deleteCheckpoint(r *http.Request, p auth.Principal) (any, error) {
	name := r.PathValue("name")
	if err := checkName(name); err != nil {
		return nil, err
	}
	noteAudit(r, "export-checkpoint/"+name, nil)
	c, err := s.store.GetCheckpoint(r.Context(), name)
	// Deleting an unowned checkpoint is for admins: it would take it from whoever runs its export.
	if errors.Is(err, store.ErrNotFound) || (err == nil && p.Role != auth.RoleAdmin && c.OwnerID != p.UserID) {
		return nil, errCheckpointNotYours(name)
	}
	if err != nil {
		return nil, err
	}
	if err := s.store.DeleteCheckpoint(r.Context(), name); err != nil {
		return nil, err
	}
	noteAudit(r, "", map[string]any{"old_after_id": c.AfterID, "owner_id": c.OwnerID})
	return nil, nil
}

func savedWire(x store.SavedSearch) client.SavedSearch {
	return client.SavedSearch{ID: strconv.FormatInt(x.ID, 10), Name: x.Name, Query: x.Query, Owner: x.Owner, CreatedAt: x.CreatedAt, UpdatedAt: x.UpdatedAt}
}

func (s *Server) savedInput(r *http.Request) (client.SavedSearchInput, error) {
	var in client.SavedSearchInput
	if err := decode(r, &in); err != nil {
		return in, err
	}
	if strings.TrimSpace(in.Name) == "" {
		return in, invalidField("name", "a saved search needs a name of 1 to 200 characters")
	}
	if p := textcheck.Label(in.Name, 200); p != "" {
		return in, invalidField("name", "the name %s", p)
	}
	if _, err := s.parseQuery(in.Query, nil); err != nil {
		return in, err
	}
	return in, nil
}

func (s *Server) listSaved(r *http.Request, _ auth.Principal) (any, error) {
	xs, err := s.store.ListSavedSearches(r.Context())
	if err != nil {
		return nil, err
	}
	out := struct {
		Items []client.SavedSearch `json:"items"`
	}{Items: []client.SavedSearch{}}
	for _, x := range xs {
		out.Items = append(out.Items, savedWire(x))
	}
	return out, nil
}

func (s *Server) createSaved(r *http.Request, p auth.Principal) (any, error) {
	in, err := s.savedInput(r)
	if err != nil {
		return nil, err
	}
	x, err := s.store.CreateSavedSearch(r.Context(), store.SavedSearch{Name: in.Name, Query: in.Query, Owner: p.Username})
	if errors.Is(err, store.ErrConflict) {
		return nil, withStatus(http.StatusConflict, "a saved search named %q exists: choose another name", strings.TrimSpace(in.Name))
	}
	if err != nil {
		return nil, err
	}
	noteAudit(r, "saved-search/"+strconv.FormatInt(x.ID, 10), map[string]any{"name": x.Name, "query": x.Query})
	return created{savedWire(x)}, nil
}

func (s *Server) getSaved(r *http.Request, _ auth.Principal) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	x, err := s.store.GetSavedSearch(r.Context(), id)
	if err != nil {
		return nil, err
	}
	return savedWire(x), nil
}

// ownSaved returns the saved search id of the path if p may change it: its owner or an admin.
// Everyone may run and read every saved search.
func (s *Server) ownSaved(r *http.Request, p auth.Principal) (int64, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return 0, err
	}
	x, err := s.store.GetSavedSearch(r.Context(), id)
	if err != nil {
		return 0, err
	}
	if x.Owner != p.Username && !p.Role.Satisfies(auth.RoleAdmin) {
		return 0, fmt.Errorf("%w: the saved search %q belongs to %s: only its owner or an admin may change or delete it; save a copy under another name instead",
			auth.ErrForbidden, x.Name, x.Owner)
	}
	return id, nil
}

func (s *Server) updateSaved(r *http.Request, p auth.Principal) (any, error) {
	id, err := s.ownSaved(r, p)
	if err != nil {
		return nil, err
	}
	in, err := s.savedInput(r)
	if err != nil {
		return nil, err
	}
	x, err := s.store.UpdateSavedSearch(r.Context(), store.SavedSearch{ID: id, Name: in.Name, Query: in.Query})
	if errors.Is(err, store.ErrConflict) {
		return nil, withStatus(http.StatusConflict, "a saved search named %q exists: choose another name", strings.TrimSpace(in.Name))
	}
	if err != nil {
		return nil, err
	}
	noteAudit(r, "saved-search/"+strconv.FormatInt(id, 10), map[string]any{"name": x.Name, "query": x.Query})
	return savedWire(x), nil
}

func (s *Server) deleteSaved(r *http.Request, p auth.Principal) (any, error) {
	id, err := s.ownSaved(r, p)
	if err != nil {
		return nil, err
	}
	if err := s.store.DeleteSavedSearch(r.Context(), id); err != nil {
		return nil, err
	}
	noteAudit(r, "saved-search/"+strconv.FormatInt(id, 10), nil)
	return nil, nil
}
