package console

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
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

// chip is one filter term, removable.
type chip struct {
	Field, Value, RemoveURL string
}

func readSearchForm(r *http.Request) searchForm {
	q := r.URL.Query()
	if r.Method == http.MethodPost {
		q = r.PostForm
	}
	f := searchForm{Q: q.Get("q"), Range: q.Get("range"), From: q.Get("from"), To: q.Get("to"), Cursor: q.Get("cursor"), Cols: q["col"]}
	if len(f.Cols) == 0 {
		f.Cols = defaultColumns
	}
	for _, term := range q["f"] {
		field, value, ok := strings.Cut(term, ":")
		if !ok || field == "" {
			continue
		}
		rest := url.Values{}
		for k, vs := range q {
			if k == "cursor" {
				continue
			}
			for _, v := range vs {
				if k != "f" || v != term {
					rest.Add(k, v)
				}
			}
		}
		f.Chips = append(f.Chips, chip{Field: field, Value: value, RemoveURL: "/search?" + rest.Encode()})
	}
	return f
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

// AddChip is the URL of this search with one more filter term.
func (f searchForm) AddChip(field, value string) string {
	q := f.values()
	q.Add("f", field+":"+value)
	return "/search?" + q.Encode()
}

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
	v := &view{Title: "Forensic search", Nav: "search", User: s, Wide: true}
	d := searchData{Form: readSearchForm(r), Fields: search.Fields(), Columns: columns, Ranges: ranges}
	if saved, err := listItems[client.SavedSearch](c, r, s, "/api/v1/saved-searches"); err == nil {
		d.Saved = saved
	}
	status := http.StatusOK
	if _, ran := r.URL.Query()["q"]; ran || len(d.Form.Chips) > 0 {
		d.Ran = true
		var res client.SearchResult
		err := c.call(r, s, "POST", "/api/v1/file-events/search", client.SearchRequest{
			Query: d.Form.Q, Filter: d.Form.filter(), Limit: pageSize, Cursor: d.Form.Cursor}, &res)
		if err != nil {
			v.problem(err)
			status = statusOf(err)
		} else {
			d.Result = &res
			for _, raw := range res.Items {
				var e event.FileEvent
				if json.Unmarshal(raw, &e) == nil {
					d.Events = append(d.Events, e)
				}
			}
		}
	}
	v.Data = d
	c.render(w, r, status, "search", v)
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
	f := readSearchForm(r)
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
		v := &view{Title: "Forensic search", Nav: "search", User: s, Wide: true}
		v.problem(err)
		d := searchData{Form: readSearchForm(r), Fields: search.Fields(), Columns: columns, Ranges: ranges}
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
