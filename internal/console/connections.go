package console

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/scope"
)

const pageSize = 50

// pager pages a list the API returns whole.
type pager struct {
	Page, Pages, From, To, Total int
	PrevURL, NextURL             string
}

func paginate(r *http.Request, total, size int) pager {
	p := pager{Total: total, Pages: max(1, (total+size-1)/size)}
	p.Page, _ = strconv.Atoi(r.URL.Query().Get("page"))
	p.Page = min(max(p.Page, 1), p.Pages)
	p.From = min((p.Page-1)*size, total)
	p.To = min(p.From+size, total)
	link := func(n int) string {
		q := r.URL.Query()
		q.Set("page", strconv.Itoa(n))
		return r.URL.Path + "?" + q.Encode()
	}
	if p.Page > 1 {
		p.PrevURL = link(p.Page - 1)
	}
	if p.Page < p.Pages {
		p.NextURL = link(p.Page + 1)
	}
	return p
}

type connectionList struct {
	Items  []client.Connection
	Errors []client.Connection // in Error (R1.10) or over the drive limit (R1.9): a banner each
	Pager  pager
	// Integrations are listed with the connections as service type Automated integration (R1.1),
	// after them, on the last page.
	Integrations []client.Integration
}

// listItems GETs an API list ({"items": [...]}) as the signed-in user.
func listItems[T any](c *Console, r *http.Request, s *session, path string) ([]T, error) {
	var out struct {
		Items []T `json:"items"`
	}
	err := c.call(r, s, "GET", path, nil, &out)
	return out.Items, err
}

func (c *Console) listConnections(r *http.Request, s *session) ([]client.Connection, error) {
	return listItems[client.Connection](c, r, s, "/api/v1/connections")
}

func (c *Console) connectionsPage(w http.ResponseWriter, r *http.Request, s *session) {
	v := &view{Title: "Data connections", Nav: "connections", User: s}
	items, err := c.listConnections(r, s)
	if err != nil {
		v.problem(err)
		c.render(w, r, statusOf(err), "connections", v)
		return
	}
	d := connectionList{}
	for _, x := range items {
		if x.Status == "error" {
			d.Errors = append(d.Errors, x)
		}
	}
	d.Pager = paginate(r, len(items), pageSize)
	d.Items = items[d.Pager.From:d.Pager.To]
	if d.Pager.To == len(items) {
		ints, err := listItems[client.Integration](c, r, s, "/api/v1/integrations")
		if err != nil {
			c.d.Log.Warn("console: listing integrations with the connections", "err", err)
		}
		d.Integrations = ints
	}
	v.Data = d
	c.render(w, r, http.StatusOK, "connections", v)
}

func (c *Console) specs(r *http.Request, s *session) ([]client.ConnectorSpec, error) {
	return listItems[client.ConnectorSpec](c, r, s, "/api/v1/connectors")
}

func (c *Console) chooseService(w http.ResponseWriter, r *http.Request, s *session) {
	v := &view{Title: "Add a data connection", Nav: "connections", User: s}
	specs, err := c.specs(r, s)
	if err != nil {
		v.problem(err)
	}
	v.Data = specs
	c.render(w, r, http.StatusOK, "choose", v)
}

// wizard is the Add data connection panel of one service.
type wizard struct {
	Spec     client.ConnectorSpec
	Name     string
	Values   map[string]string // non-secret values typed so far
	Scope    string            // all, users, groups
	Verified string            // the tenant verification reached
}

func (w wizard) Basic() []client.ConnectorField {
	var out []client.ConnectorField
	for _, f := range w.Spec.Fields {
		if !f.Advanced {
			out = append(out, f)
		}
	}
	return out
}

func (w wizard) Advanced() []client.ConnectorField {
	var out []client.ConnectorField
	for _, f := range w.Spec.Fields {
		if f.Advanced {
			out = append(out, f)
		}
	}
	return out
}

func (c *Console) wizardFor(w http.ResponseWriter, r *http.Request, s *session) (wizard, bool) {
	specs, err := c.specs(r, s)
	if err != nil {
		v := &view{Title: "Add a data connection", Nav: "connections", User: s}
		v.problem(err)
		c.render(w, r, statusOf(err), "error", v)
		return wizard{}, false
	}
	for _, sp := range specs {
		if sp.Service == r.PathValue("service") {
			wz := wizard{Spec: sp, Values: map[string]string{}, Scope: "all"}
			for _, f := range sp.Fields {
				if !f.Secret {
					wz.Values[f.Name] = f.Default
				}
			}
			return wz, true
		}
	}
	c.render(w, r, http.StatusNotFound, "error", &view{Title: "Not found", User: s, Error: "There is no connector for service " + r.PathValue("service") + "."})
	return wizard{}, false
}

func (c *Console) newConnectionPage(w http.ResponseWriter, r *http.Request, s *session) {
	wz, ok := c.wizardFor(w, r, s)
	if !ok {
		return
	}
	c.render(w, r, http.StatusOK, "new", &view{Title: "Add " + wz.Spec.Title, Nav: "connections", User: s, Data: wz})
}

// config reads the typed settings and credentials from the form.
func (wz *wizard) config(r *http.Request) (tenant string, settings, creds map[string]string) {
	settings, creds = map[string]string{}, map[string]string{}
	wz.Name = r.PostFormValue("name")
	for _, f := range wz.Spec.Fields {
		val := strings.TrimSpace(r.PostFormValue("f_" + f.Name))
		if f.Secret {
			if val != "" {
				creds[f.Name] = val
			}
			continue
		}
		wz.Values[f.Name] = val
		if val != "" {
			settings[f.Name] = val
		}
		if f.Tenant {
			tenant = val
		}
	}
	return tenant, settings, creds
}

// verifyConnection asks the API to call the vendor (R1.11). With htmx it answers the result
// fragment only, so the typed secrets stay in the form.
func (c *Console) verifyConnection(w http.ResponseWriter, r *http.Request, s *session) {
	wz, ok := c.wizardFor(w, r, s)
	if !ok {
		return
	}
	tenant, settings, creds := wz.config(r)
	wz.Scope = r.PostFormValue("scope")
	v := &view{Title: "Add " + wz.Spec.Title, Nav: "connections", User: s}
	var res client.VerifyResult
	status := http.StatusOK
	if err := c.call(r, s, "POST", "/api/v1/connectors/"+url.PathEscape(wz.Spec.Service)+"/verify",
		client.VerifyRequest{TenantID: tenant, Settings: settings, Credentials: creds}, &res); err != nil {
		v.problem(err)
		status = statusOf(err)
	} else {
		wz.Verified = res.TenantID
	}
	v.Data = wz
	if r.Header.Get("HX-Request") == "true" {
		v.Section = "verify-result"
		status = http.StatusOK // htmx swaps only 2xx answers
	}
	c.render(w, r, status, "new", v)
}

// scopeInput reads the scope choice and its uploaded CSV.
func scopeInput(r *http.Request, prefix string) (*client.ScopeInput, error) {
	kind := r.PostFormValue(prefix + "scope")
	if kind == "" || kind == "keep" {
		return nil, nil
	}
	in := &client.ScopeInput{Kind: kind}
	if kind == "all" {
		return in, nil
	}
	f, _, err := r.FormFile(prefix + "scope_csv")
	if err != nil {
		return nil, fmt.Errorf("choose the CSV file of %s to upload", kind)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, scope.MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > scope.MaxFileSize {
		return nil, fmt.Errorf("the file is larger than %d MiB; a scope CSV of %d rows is far smaller, so this is probably not the right file", scope.MaxFileSize>>20, scope.MaxEntries)
	}
	// The file travels to the API inside JSON, which would replace bytes that are not UTF-8.
	if err := scope.CheckText(b); err != nil {
		return nil, err
	}
	in.CSV = string(b)
	return in, nil
}

func (c *Console) createConnection(w http.ResponseWriter, r *http.Request, s *session) {
	wz, ok := c.wizardFor(w, r, s)
	if !ok {
		return
	}
	tenant, settings, creds := wz.config(r)
	wz.Scope = r.PostFormValue("scope")
	v := &view{Title: "Add " + wz.Spec.Title, Nav: "connections", User: s, Data: wz}
	sc, err := scopeInput(r, "")
	if err != nil {
		v.Error = err.Error()
		v.Fields = map[string]string{"scope.csv": err.Error()}
		c.render(w, r, http.StatusUnprocessableEntity, "new", v)
		return
	}
	var out client.Connection
	err = c.call(r, s, "POST", "/api/v1/connections", client.NewConnection{Name: wz.Name, Service: wz.Spec.Service,
		TenantID: tenant, Settings: settings, Credentials: creds, Scope: sc}, &out)
	if err != nil {
		v.problem(err)
		c.render(w, r, statusOf(err), "new", v)
		return
	}
	c.redirect(w, r, "/connections/"+out.ID, fmt.Sprintf("Connection %q added: Telltale is searching for drives.", out.Name))
}

type connectionDetails struct {
	Conn    client.Connection
	History []client.StatusChange
	Drives  client.DriveList
	Counts  *client.DriveCounts
	Refused map[string]string // action -> why it is not allowed now
	Allowed map[string]bool
	Poll    bool
	After   string
	Unit    string
}

func (c *Console) loadConnection(r *http.Request, s *session) (connectionDetails, error) {
	id := url.PathEscape(r.PathValue("id"))
	d := connectionDetails{Refused: map[string]string{}, Allowed: map[string]bool{}}
	if err := c.call(r, s, "GET", "/api/v1/connections/"+id, nil, &d.Conn); err != nil {
		return d, err
	}
	history, err := listItems[client.StatusChange](c, r, s, "/api/v1/connections/"+id+"/history")
	if err != nil {
		return d, err
	}
	// Newest first reads best on a page.
	for i := len(history) - 1; i >= 0; i-- {
		d.History = append(d.History, history[i])
	}
	for _, a := range d.Conn.Actions {
		d.Allowed[a.Action] = a.Allowed
		if !a.Allowed {
			d.Refused[a.Action] = a.Reason
		}
	}
	d.Counts, d.Unit = d.Conn.Drives, "drives"
	if d.Conn.Mailboxes != nil {
		d.Counts, d.Unit = d.Conn.Mailboxes, "mailboxes"
	}
	d.Poll = transitional(d.Conn.Status)
	return d, nil
}

// loadDrives reads one page of the connection's drives or mailboxes (?after= pages on).
func (c *Console) loadDrives(r *http.Request, s *session, d *connectionDetails) error {
	q := url.Values{"limit": {strconv.Itoa(pageSize)}}
	if a := r.URL.Query().Get("after"); a != "" {
		q.Set("after", a)
	}
	return c.call(r, s, "GET", "/api/v1/connections/"+url.PathEscape(d.Conn.ID)+"/"+d.Unit+"?"+q.Encode(), nil, &d.Drives)
}

func (c *Console) connectionPage(w http.ResponseWriter, r *http.Request, s *session) {
	v := &view{Title: "Data connection", Nav: "connections", User: s}
	d, err := c.loadConnection(r, s)
	if err != nil {
		v.problem(err)
		c.render(w, r, statusOf(err), "error", v)
		return
	}
	v.Title = d.Conn.Name
	if err := c.loadDrives(r, s, &d); err != nil {
		v.problem(err)
	}
	v.Data = d
	c.render(w, r, http.StatusOK, "connection", v)
}

// connectionSummary is the part of the details page that htmx refreshes while the status moves.
func (c *Console) connectionSummary(w http.ResponseWriter, r *http.Request, s *session) {
	v := &view{User: s, Section: "summary"}
	d, err := c.loadConnection(r, s)
	if err != nil {
		w.WriteHeader(statusOf(err))
		return
	}
	v.Data = d
	if !d.Poll {
		// The status settled: reload the whole page so that its actions and history follow.
		w.Header().Set("HX-Refresh", "true")
	}
	c.render(w, r, http.StatusOK, "connection", v)
}

func (c *Console) downloadScope(w http.ResponseWriter, r *http.Request, s *session) {
	c.stream(w, r, s, "GET", "/api/v1/connections/"+url.PathEscape(r.PathValue("id"))+"/scope", nil)
}

// action shows a refused action's reason (R1.6) on the details page, or redirects after success.
func (c *Console) action(w http.ResponseWriter, r *http.Request, s *session, path string, in any, done string) {
	id := r.PathValue("id")
	method, target := "POST", "/api/v1/connections/"+url.PathEscape(id)
	if path == "" {
		method = "DELETE"
	} else {
		target += "/" + path
	}
	err := c.call(r, s, method, target, in, nil)
	if err == nil {
		c.redirect(w, r, "/connections/"+id, done)
		return
	}
	v := &view{Title: "Data connection", Nav: "connections", User: s}
	d, lerr := c.loadConnection(r, s)
	if lerr != nil {
		v.problem(lerr)
		c.render(w, r, statusOf(lerr), "error", v)
		return
	}
	if derr := c.loadDrives(r, s, &d); derr != nil {
		c.d.Log.Warn("console: listing drives failed", "err", derr)
	}
	v.Title, v.Data = d.Conn.Name, d
	v.problem(err)
	c.render(w, r, statusOf(err), "connection", v)
}

func (c *Console) deauthorize(w http.ResponseWriter, r *http.Request, s *session) {
	c.action(w, r, s, "deauthorize", nil, "Deauthorization started: collection stops; collected events stay searchable for the retention period.")
}

// maintenance starts or ends maintenance (R1.5): activity is collected but withheld from search.
func (c *Console) maintenance(w http.ResponseWriter, r *http.Request, s *session) {
	on := r.PostFormValue("enabled") == "true"
	done := "Maintenance ended: the activity collected meanwhile is searchable now."
	if on {
		done = "Maintenance started: activity is still collected, and appears in search when maintenance ends."
	}
	c.action(w, r, s, "maintenance", client.MaintenanceRequest{Enabled: on}, done)
}

// deleteConnection deletes a deauthorized connection and what was collected through it (R1.8).
func (c *Console) deleteConnection(w http.ResponseWriter, r *http.Request, s *session) {
	if r.PostFormValue("confirm") != "delete" {
		v := &view{Title: "Data connection", Nav: "connections", User: s}
		d, err := c.loadConnection(r, s)
		if err != nil {
			v.problem(err)
			c.render(w, r, statusOf(err), "error", v)
			return
		}
		v.Title, v.Data = d.Conn.Name, d
		v.Error = "Type delete in the box to confirm: this removes the connection and every event collected through it."
		c.render(w, r, http.StatusUnprocessableEntity, "connection", v)
		return
	}
	c.action(w, r, s, "", nil, "Deleting: the connection and everything collected through it are being removed.")
}

func (c *Console) resume(w http.ResponseWriter, r *http.Request, s *session) {
	in := client.ResumeRequest{}
	sc, err := scopeInput(r, "")
	if err != nil {
		v := &view{Title: "Data connection", Nav: "connections", User: s}
		d, lerr := c.loadConnection(r, s)
		if lerr == nil {
			_ = c.loadDrives(r, s, &d) // the page shows what it can; the form error matters here
			v.Title, v.Data = d.Conn.Name, d
		}
		v.Error = err.Error()
		c.render(w, r, http.StatusUnprocessableEntity, "connection", v)
		return
	}
	in.Scope = sc
	c.action(w, r, s, "resume", in, "Monitoring resumed: Telltale is searching for drives again.")
}
