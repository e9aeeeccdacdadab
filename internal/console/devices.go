package console

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/telltale-dev/telltale/client"
)

// The devices page (issue 18, R8.2): enrolled endpoint agents with their outdated and silent
// flags, filters and sorting, deactivate and reactivate; and the deployment secrets page (admins).

type sortLink struct {
	Label, Key, URL string
	Current         string // "ascending", "descending" or "" (aria-sort)
}

type devicesData struct {
	List                       client.DeviceList
	OS, Version, Person, Host  string
	State, Flag, Sort, Order   string
	Sorts                      []sortLink
	NextURL, FirstURL, Showing string
}

var deviceColumns = []struct{ key, label string }{{"host", "Host"}, {"person", "Person"}, {"os", "OS"}, {"version", "Agent version"}, {"last_checkin", "Last check-in"}}

func (c *Console) devicesPage(w http.ResponseWriter, r *http.Request, s *session) {
	v := &view{Title: "Devices", Nav: "devices", User: s, Wide: true}
	in := r.URL.Query()
	d := devicesData{OS: in.Get("os"), Version: in.Get("version"), Person: in.Get("person"), Host: in.Get("host"), State: in.Get("state"),
		Flag: in.Get("flag"), Sort: in.Get("sort"), Order: in.Get("order")}
	q := url.Values{}
	for k, val := range map[string]string{"os": d.OS, "version": d.Version, "person": d.Person, "host": d.Host, "state": d.State, "flag": d.Flag, "sort": d.Sort, "order": d.Order, "offset": in.Get("offset")} {
		if val != "" {
			q.Set(k, val)
		}
	}
	q.Set("limit", "50")
	status := http.StatusOK
	if err := c.call(r, s, "GET", "/api/v1/devices?"+q.Encode(), nil, &d.List); err != nil {
		v.problem(err)
		status = statusOf(err)
	}
	// Sort links keep the filters; the current column's link flips the order.
	base := url.Values{}
	for k, val := range q {
		if k != "sort" && k != "order" && k != "offset" && k != "limit" {
			base[k] = val
		}
	}
	cur := d.Sort
	if cur == "" {
		cur = "last_checkin"
	}
	for _, col := range deviceColumns {
		l := url.Values{}
		for k, val := range base {
			l[k] = val
		}
		l.Set("sort", col.key)
		link := sortLink{Label: col.label, Key: col.key}
		if col.key == cur {
			link.Current = "ascending"
			if d.Order == "desc" {
				link.Current = "descending"
			} else {
				l.Set("order", "desc")
			}
		}
		link.URL = "/devices?" + l.Encode()
		d.Sorts = append(d.Sorts, link)
	}
	if d.List.Next != "" {
		n := url.Values{}
		for k, val := range q {
			if k != "limit" {
				n[k] = val
			}
		}
		n.Set("offset", d.List.Next)
		d.NextURL = "/devices?" + n.Encode()
	}
	if in.Get("offset") != "" {
		f := url.Values{}
		for k, val := range q {
			if k != "limit" && k != "offset" {
				f[k] = val
			}
		}
		d.FirstURL = "/devices?" + f.Encode()
	}
	d.Showing = strconv.Itoa(len(d.List.Items)) + " of " + strconv.FormatInt(d.List.Total, 10)
	v.Data = d
	c.render(w, r, status, "devices", v)
}

func (c *Console) deviceAction(action, done string) func(w http.ResponseWriter, r *http.Request, s *session) {
	return func(w http.ResponseWriter, r *http.Request, s *session) {
		var d client.Device
		if err := c.call(r, s, "POST", "/api/v1/devices/"+url.PathEscape(r.PathValue("id"))+"/"+action, nil, &d); err != nil {
			v := &view{Title: "Devices", Nav: "devices", User: s}
			v.problem(err)
			c.render(w, r, statusOf(err), "error", v)
			return
		}
		back := "/devices"
		if ref := r.PostFormValue("back"); len(ref) > 0 && len(ref) < 1000 && ref[0] == '/' && (len(ref) == 1 || ref[1] != '/') {
			back = ref
		}
		c.redirect(w, r, back, "Device "+d.HostName+" "+done)
	}
}

type secretsData struct {
	Items   []client.DeploymentSecret
	Created *client.DeploymentSecret // just created: its secret, shown this once
	Form    client.DeploymentSecretInput
}

func (c *Console) secretsPage(w http.ResponseWriter, r *http.Request, s *session) {
	c.showSecrets(w, r, s, http.StatusOK, nil, secretsData{})
}

func (c *Console) showSecrets(w http.ResponseWriter, r *http.Request, s *session, status int, formErr error, d secretsData) {
	v := &view{Title: "Deployment secrets", Nav: "devices", User: s, Wide: true}
	var l client.DeploymentSecretList
	if err := c.call(r, s, "GET", "/api/v1/deployment-secrets", nil, &l); err != nil {
		v.problem(err)
		status = statusOf(err)
	}
	if formErr != nil {
		v.problem(formErr)
	}
	d.Items = l.Items
	if d.Form.ExpiresIn == "" {
		d.Form.ExpiresIn = "30d"
	}
	v.Data = d
	c.render(w, r, status, "secrets", v)
}

func (c *Console) createSecret(w http.ResponseWriter, r *http.Request, s *session) {
	in := client.DeploymentSecretInput{Name: r.PostFormValue("name"), ExpiresIn: r.PostFormValue("expires_in")}
	var out client.DeploymentSecret
	if err := c.call(r, s, "POST", "/api/v1/deployment-secrets", in, &out); err != nil {
		c.showSecrets(w, r, s, statusOf(err), err, secretsData{Form: in})
		return
	}
	// Rendered, not redirected: the secret must not travel in a cookie or a URL.
	c.showSecrets(w, r, s, http.StatusCreated, nil, secretsData{Created: &out})
}

func (c *Console) secretAction(action, done string) func(w http.ResponseWriter, r *http.Request, s *session) {
	return func(w http.ResponseWriter, r *http.Request, s *session) {
		var body any
		if e := r.PostFormValue("expires_in"); e != "" {
			body = client.DeploymentSecretExpiry{ExpiresIn: e}
		} else if action == "extend" {
			body = client.DeploymentSecretExpiry{}
		}
		var out client.DeploymentSecret
		if err := c.call(r, s, "POST", "/api/v1/deployment-secrets/"+url.PathEscape(r.PathValue("id"))+"/"+action, body, &out); err != nil {
			c.showSecrets(w, r, s, statusOf(err), err, secretsData{})
			return
		}
		c.redirect(w, r, "/devices/secrets", "Deployment secret "+out.Name+" ("+out.Prefix+") "+done)
	}
}
