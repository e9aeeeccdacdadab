package console

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/search"
)

// columns a results table can show; the person chooses which.
var columns = []struct{ Key, Label string }{
	{"time", "Observed"}, {"action", "Action"}, {"actor", "Actor"}, {"file", "File name"}, {"path", "Path"},
	{"owner", "Owner"}, {"size", "Size"}, {"exposure", "Exposure"}, {"connection", "Connection"},
}

var defaultColumns = []string{"time", "action", "actor", "file", "exposure", "connection"}

var ranges = []struct{ Value, Label string }{
	{"", "Any time"}, {"1h", "Last hour"}, {"24h", "Last 24 hours"}, {"7d", "Last 7 days"}, {"30d", "Last 30 days"},
}

// searchForm is the state of the search page, all in its URL so that it can be bookmarked.
type searchForm struct {
	Q, Range, From, To, Cursor string
	Chips                      []chip
	Cols                       []string
}

// chip is one filter term, removable by its index (the form's rm button), so that the page
// carries the query once, not once per chip.
type chip struct {
	Field, Value string
}

// maxSearchURL bounds the query string of a search page or export: 256 filter terms of 64
// characters fit. Limits are checked before any work is done for the request.
const maxSearchURL = 32 << 10

// formError is a search form the page refuses before doing any work.
type formError struct {
	status int
	msg    string
}

func (e *formError) Error() string { return e.msg }

// readSearchForm reads the page's state from the URL (GET) or the posted form (export). Limits
// are checked first: the work done for a request is linear in its size.
func readSearchForm(r *http.Request) (searchForm, error) {
	raw := r.URL.RawQuery
	q := r.URL.Query()
	if r.Method == http.MethodPost {
		q, raw = r.PostForm, ""
	}
	if len(raw) > maxSearchURL {
		return searchForm{}, &formError{http.StatusRequestURITooLong, fmt.Sprintf(
			"The search's address is %d KB long; the most is %d KB. Shorten the query or remove filters.", len(raw)>>10, maxSearchURL>>10)}
	}
	if n := len(q["f"]); n > search.MaxTerms {
		return searchForm{}, &formError{http.StatusBadRequest, fmt.Sprintf(
			"The search has %d filters; the most is %d. Remove filters or combine them in the query.", n, search.MaxTerms)}
	}
	f := searchForm{Q: q.Get("q"), Range: q.Get("range"), From: q.Get("from"), To: q.Get("to"), Cursor: q.Get("cursor"), Cols: q["col"]}
	if len(f.Cols) == 0 {
		f.Cols = defaultColumns
	}
	if len(f.Cols) > len(columns) {
		f.Cols = f.Cols[:len(columns)]
	}
	for _, term := range q["f"] {
		field, value, ok := strings.Cut(term, ":")
		if !ok || field == "" {
			continue
		}
		f.Chips = append(f.Chips, chip{Field: field, Value: value})
	}
	return f, nil
}

// filter turns the time range and the chips into API filter terms (values taken literally).
func (f searchForm) filter() []client.FilterTerm {
	var out []client.FilterTerm
	if f.Range != "" {
		out = append(out, client.FilterTerm{Field: "after", Value: f.Range})
	}
	if f.From != "" {
		out = append(out, client.FilterTerm{Field: "observed", Op: ">=", Value: f.From})
	}
	if f.To != "" {
		out = append(out, client.FilterTerm{Field: "observed", Op: "<=", Value: f.To})
	}
	for _, c := range f.Chips {
		out = append(out, client.FilterTerm{Field: c.Field, Value: c.Value})
	}
	return out
}

func (f searchForm) Col(k string) bool { return slices.Contains(f.Cols, k) }

func (f searchForm) values() url.Values {
	q := url.Values{}
	for k, v := range map[string]string{"q": f.Q, "range": f.Range, "from": f.From, "to": f.To} {
		if v != "" {
			q.Set(k, v)
		}
	}
	for _, c := range f.Chips {
		q.Add("f", c.Field+":"+c.Value)
	}
	for _, c := range f.Cols {
		q.Add("col", c)
	}
	return q
}

// NextURL is the next page of this search.
func (f searchForm) NextURL(cursor string) string {
	q := f.values()
	q.Set("cursor", cursor)
	return "/search?" + q.Encode()
}

func (f searchForm) FirstURL() string { return "/search?" + f.values().Encode() }

type searchData struct {
	Form    searchForm
	Fields  []search.FieldInfo
	Columns []struct{ Key, Label string }
	Ranges  []struct{ Value, Label string }
	Result  *client.SearchResult
	Events  []event.FileEvent
	Saved   []client.SavedSearch
	Ran     bool
}

func (c *Console) searchPage(w http.ResponseWriter, r *http.Request, s *session) {
	v := &view{Title: "Forensic search", Nav: "search", User: s}
	form, err := readSearchForm(r)
	if err != nil {
		var fe *formError
		errors.As(err, &fe)
		v.Error = fe.msg
		v.Data = searchData{Form: searchForm{Cols: defaultColumns}, Fields: search.Fields(), Columns: columns, Ranges: ranges}
		c.render(w, r, fe.status, "search", v)
		return
	}
	// The × of a chip submits the search form with rm set to the chip's index.
	if rm := r.URL.Query().Get("rm"); rm != "" {
		if i, err := strconv.Atoi(rm); err == nil && i >= 0 && i < len(form.Chips) {
			form.Chips = slices.Delete(form.Chips, i, i+1)
		}
		form.Cursor = ""
		http.Redirect(w, r, form.FirstURL(), http.StatusSeeOther)
		return
	}
	d := searchData{Form: form, Fields: search.Fields(), Columns: columns, Ranges: ranges}
	if saved, err := listItems[client.SavedSearch](c, r, s, "/api/v1/saved-searches"); err == nil {
		d.Saved = saved
	}
	// Without a query the page shows the most recent events.
	status := http.StatusOK
	_, d.Ran = r.URL.Query()["q"]
	d.Ran = d.Ran || len(d.Form.Chips) > 0
	var res client.SearchResult
	err = c.call(r, s, "POST", "/api/v1/file-events/search", client.SearchRequest{
		Query: d.Form.Q, Filter: d.Form.filter(), Limit: pageSize, Cursor: d.Form.Cursor}, &res)
	if err != nil {
		v.problem(err)
		status = statusOf(err)
		// A query error is shown once, under the query box.
		if _, ok := v.Fields["query"]; ok {
			v.Error, v.Errors = "", nil
		}
	} else {
		d.Result = &res
		for _, raw := range res.Items {
			var e event.FileEvent
			if json.Unmarshal(raw, &e) == nil {
				d.Events = append(d.Events, e)
			}
		}
	}
	v.Data = d
	c.render(w, r, status, "search", v)
}

// searchHelp is the query language's reference, generated from the same field table as the API's.
func (c *Console) searchHelp(w http.ResponseWriter, r *http.Request, s *session) {
	c.render(w, r, http.StatusOK, "searchhelp", &view{Title: "The search language", Nav: "search", User: s, Data: search.Fields()})
}

type eventData struct {
	Event    event.FileEvent
	Raw      json.RawMessage
	Timeline []event.FileEvent
}

func (c *Console) eventPage(w http.ResponseWriter, r *http.Request, s *session) {
	v := &view{Title: "File event", Nav: "search", User: s, Wide: true}
	var det client.EventDetails
	if err := c.call(r, s, "GET", "/api/v1/file-events/"+url.PathEscape(r.PathValue("id")), nil, &det); err != nil {
		v.problem(err)
		c.render(w, r, statusOf(err), "error", v)
		return
	}
	d := eventData{Raw: det.Event}
	if err := json.Unmarshal(det.Event, &d.Event); err != nil {
		v.problem(err)
		c.render(w, r, http.StatusInternalServerError, "error", v)
		return
	}
	for _, raw := range det.Timeline {
		var e event.FileEvent
		if json.Unmarshal(raw, &e) == nil {
			d.Timeline = append(d.Timeline, e)
		}
	}
	v.Title = "File event: " + d.Event.File.Name
	v.Data = d
	c.render(w, r, http.StatusOK, "event", v)
}

// export streams the whole result as CSV or JSON lines (R5.3).
func (c *Console) export(w http.ResponseWriter, r *http.Request, s *session) {
	f, err := readSearchForm(r)
	if err != nil {
		var fe *formError
		errors.As(err, &fe)
		c.render(w, r, fe.status, "error", &view{Title: "Export", Nav: "search", User: s, Error: fe.msg})
		return
	}
	format := r.PostFormValue("format")
	if format != "jsonl" {
		format = "csv"
	}
	c.stream(w, r, s, "POST", "/api/v1/file-events/export", client.ExportRequest{Query: f.Q, Filter: f.filter(), Format: format})
}

func (c *Console) saveSearch(w http.ResponseWriter, r *http.Request, s *session) {
	in := client.SavedSearchInput{Name: r.PostFormValue("name"), Query: r.PostFormValue("q")}
	var out client.SavedSearch
	if err := c.call(r, s, "POST", "/api/v1/saved-searches", in, &out); err != nil {
		v := &view{Title: "Forensic search", Nav: "search", User: s}
		v.problem(err)
		form, _ := readSearchForm(r)
		d := searchData{Form: form, Fields: search.Fields(), Columns: columns, Ranges: ranges}
		v.Data = d
		c.render(w, r, statusOf(err), "search", v)
		return
	}
	c.redirect(w, r, "/search?"+url.Values{"q": {out.Query}}.Encode(), "Saved the search "+out.Name+".")
}

func (c *Console) runSaved(w http.ResponseWriter, r *http.Request, s *session) {
	var out client.SavedSearch
	if err := c.call(r, s, "GET", "/api/v1/saved-searches/"+url.PathEscape(r.PathValue("id")), nil, &out); err != nil {
		v := &view{Title: "Saved search", Nav: "search", User: s}
		v.problem(err)
		c.render(w, r, statusOf(err), "error", v)
		return
	}
	http.Redirect(w, r, "/search?"+url.Values{"q": {out.Query}}.Encode(), http.StatusSeeOther)
}
