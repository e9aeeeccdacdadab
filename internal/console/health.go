package console

import (
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/telltale-dev/telltale/client"
)

type healthData struct {
	H           client.Health
	Connections []client.HealthConnection // this page of them, blind spots first
	Pager       pager
}

// healthPage is the environment health view (R8.1) as GET /api/v1/health gives it: blind spots
// first, then the warnings, connections with their history, streams and throttling,
// integrations and forwarders, device coverage and the feed comparison.
func (c *Console) healthPage(w http.ResponseWriter, r *http.Request, s *session) {
	v := &view{Title: "Environment health", Nav: "health", User: s, Wide: true}
	var d healthData
	if err := c.call(r, s, "GET", "/api/v1/health", nil, &d.H); err != nil {
		v.problem(err)
		c.render(w, r, statusOf(err), "health", v)
		return
	}
	d.Pager = paginate(r, len(d.H.Connections), pageSize)
	d.Connections = d.H.Connections[d.Pager.From:d.Pager.To]
	v.Data = d
	c.render(w, r, http.StatusOK, "health", v)
}

type auditData struct {
	Actor, Action, Target string
	From, To              string // dates (UTC), inclusive
	Items                 []client.AuditEntry
	NextURL, FirstURL     string
	CSVURL, JSONURL       string // the whole of the current filter, downloaded
}

// auditQuery turns the page's filters into the API's: the date inputs become RFC 3339 bounds,
// from the start of From to the end of To. fields names a date that is not one.
func auditQuery(in url.Values) (q url.Values, fields map[string]string) {
	q = url.Values{}
	for _, k := range []string{"actor", "action", "target"} {
		if v := in.Get(k); v != "" {
			q.Set(k, v)
		}
	}
	if day, err := time.Parse(time.DateOnly, in.Get("from")); err == nil {
		q.Set("since", day.Format(time.RFC3339))
	} else if in.Get("from") != "" {
		fields = map[string]string{"from": "want a date such as 2026-11-01"}
	}
	if day, err := time.Parse(time.DateOnly, in.Get("to")); err == nil {
		q.Set("until", day.AddDate(0, 0, 1).Format(time.RFC3339))
	} else if in.Get("to") != "" {
		fields = map[string]string{"to": "want a date such as 2026-11-30"}
	}
	return q, fields
}

// auditPage is the searchable audit log (R8.8), newest first, paged by the API's cursor, with
// downloads of everything the filter selects.
func (c *Console) auditPage(w http.ResponseWriter, r *http.Request, s *session) {
	v := &view{Title: "Audit log", Nav: "audit", User: s, Wide: true}
	in := r.URL.Query()
	d := auditData{Actor: in.Get("actor"), Action: in.Get("action"), Target: in.Get("target"), From: in.Get("from"), To: in.Get("to")}
	q, fields := auditQuery(in)
	v.Fields = fields
	q.Set("limit", strconv.Itoa(pageSize))
	if b := in.Get("before"); b != "" {
		q.Set("before", b)
	}
	var out client.AuditList
	status := http.StatusOK
	if err := c.call(r, s, "GET", "/api/v1/audit?"+q.Encode(), nil, &out); err != nil {
		v.problem(err)
		status = statusOf(err)
	}
	d.Items = out.Items
	page := url.Values{}
	for _, k := range []string{"actor", "action", "target", "from", "to"} {
		if val := in.Get(k); val != "" {
			page.Set(k, val)
		}
	}
	if fields == nil {
		page.Set("format", "csv")
		d.CSVURL = "/audit/export?" + page.Encode()
		page.Set("format", "jsonl")
		d.JSONURL = "/audit/export?" + page.Encode()
		page.Del("format")
	}
	if in.Get("before") != "" {
		d.FirstURL = "/audit?" + page.Encode()
	}
	if out.Next != "" {
		page.Set("before", out.Next)
		d.NextURL = "/audit?" + page.Encode()
	}
	v.Data = d
	c.render(w, r, status, "audit", v)
}

// exportAudit downloads every entry the audit page's filter selects (the API's export, audited).
func (c *Console) exportAudit(w http.ResponseWriter, r *http.Request, s *session) {
	in := r.URL.Query()
	q, _ := auditQuery(in) // a date that is not one: the page offers no download
	if f := in.Get("format"); f != "" {
		q.Set("format", f)
	}
	c.stream(w, r, s, "GET", "/api/v1/audit/export?"+q.Encode(), nil)
}
