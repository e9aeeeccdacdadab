package console

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/telltale-dev/telltale/client"
)

type statusCount struct {
	Status, StatusLabel string
	Count               int
}

type healthData struct {
	ByStatus    []statusCount
	Connections []client.Connection // blind spots first
	BlindSpots  int
	Pager       pager
}

// healthPage is R8.1 as far as it exists: connections by status, blind spots first, last event.
func (c *Console) healthPage(w http.ResponseWriter, r *http.Request, s *session) {
	v := &view{Title: "Environment health", Nav: "health", User: s}
	items, err := c.listConnections(r, s)
	if err != nil {
		v.problem(err)
		c.render(w, r, statusOf(err), "health", v)
		return
	}
	d := healthData{}
	idx := map[string]int{}
	for _, x := range items {
		if blindSpot(x.Status) {
			d.BlindSpots++
		}
		i, ok := idx[x.Status]
		if !ok {
			i = len(d.ByStatus)
			idx[x.Status] = i
			d.ByStatus = append(d.ByStatus, statusCount{Status: x.Status, StatusLabel: x.StatusLabel})
		}
		d.ByStatus[i].Count++
	}
	slices.SortStableFunc(items, func(a, b client.Connection) int {
		ra, rb := 1, 1
		if blindSpot(a.Status) {
			ra = 0
		}
		if blindSpot(b.Status) {
			rb = 0
		}
		return ra - rb
	})
	d.Pager = paginate(r, len(items), pageSize)
	d.Connections = items[d.Pager.From:d.Pager.To]
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
