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
}

// auditPage is the searchable audit log (R8.8), newest first, paged by the API's cursor.
func (c *Console) auditPage(w http.ResponseWriter, r *http.Request, s *session) {
	v := &view{Title: "Audit log", Nav: "audit", User: s, Wide: true}
	in := r.URL.Query()
	d := auditData{Actor: in.Get("actor"), Action: in.Get("action"), Target: in.Get("target"), From: in.Get("from"), To: in.Get("to")}
	q := url.Values{"limit": {strconv.Itoa(pageSize)}}
	for k, val := range map[string]string{"actor": d.Actor, "action": d.Action, "target": d.Target, "before": in.Get("before")} {
		if val != "" {
			q.Set(k, val)
		}
	}
	// The date inputs become the API's RFC 3339 bounds: from the start of From to the end of To.
	if day, err := time.Parse(time.DateOnly, d.From); err == nil {
		q.Set("since", day.Format(time.RFC3339))
	} else if d.From != "" {
		v.Fields = map[string]string{"from": "want a date such as 2026-11-01"}
	}
	if day, err := time.Parse(time.DateOnly, d.To); err == nil {
		q.Set("until", day.AddDate(0, 0, 1).Format(time.RFC3339))
	} else if d.To != "" {
		v.Fields = map[string]string{"to": "want a date such as 2026-11-30"}
	}
	var out client.AuditList
	status := http.StatusOK
	if err := c.call(r, s, "GET", "/api/v1/audit?"+q.Encode(), nil, &out); err != nil {
		v.problem(err)
		status = statusOf(err)
	}
	d.Items = out.Items
	for _, k := range []string{"limit", "before", "since", "until"} {
		q.Del(k)
	}
	for k, val := range map[string]string{"from": d.From, "to": d.To} {
		if val != "" {
			q.Set(k, val)
		}
	}
	d.FirstURL = "/audit?" + q.Encode()
	if out.Next != "" {
		q.Set("before", out.Next)
		d.NextURL = "/audit?" + q.Encode()
	}
	if in.Get("before") == "" {
		d.FirstURL = ""
	}
	v.Data = d
	c.render(w, r, status, "audit", v)
}
