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

// The console pages of HR sources (issue 17, R7.2): the list with each source's last sync and
// condition, forms to add a Workday, BambooHR, CSV or webhook source, and a source's page to sync
// it now, upload a CSV, see where its webhook goes, connect or disconnect it.

type hrForm struct {
	Kind   string
	Values map[string]string
}

var hrFields = []string{"name", "url", "username", "window_days", "company", "api_base"}

func (c *Console) hrPage(w http.ResponseWriter, r *http.Request, s *session) {
	c.hrView(w, r, s, &view{Title: "HR sources", Nav: "hr", User: s}, http.StatusOK, hrForm{})
}

func (c *Console) hrView(w http.ResponseWriter, r *http.Request, s *session, v *view, status int, form hrForm) {
	var out client.HRSourceList
	if err := c.call(r, s, "GET", "/api/v1/hr-sources", nil, &out); err != nil {
		v.problem(err)
		status = statusOf(err)
	}
	if form.Values == nil {
		form.Values = map[string]string{}
	}
	v.Data = struct {
		Items []client.HRSource
		Form  hrForm
	}{out.Items, form}
	c.render(w, r, status, "hr", v)
}

// hrInput reads an HR source form: its settings, and its secrets (empty ones: keep).
func hrInput(r *http.Request) (hrForm, client.IntegrationInput, error) {
	form := hrForm{Kind: r.PostFormValue("kind"), Values: map[string]string{}}
	for _, f := range hrFields {
		form.Values[f] = strings.TrimSpace(r.PostFormValue(f))
	}
	fv := form.Values
	in := client.IntegrationInput{Kind: form.Kind, Name: fv["name"], Settings: client.IntegrationSettings{URL: fv["url"], Username: fv["username"],
		Company: fv["company"], APIBase: fv["api_base"]},
		Secrets: &client.IntegrationSecrets{Password: r.PostFormValue("password"), Token: strings.TrimSpace(r.PostFormValue("token")),
			SigningSecret: r.PostFormValue("signing_secret")}}
	if d := fv["window_days"]; d != "" {
		n, err := strconv.Atoi(d)
		if err != nil {
			return form, in, fmt.Errorf("window days: give a number of days, e.g. 30")
		}
		in.Settings.WindowDays = n
	}
	return form, in, nil
}

// editHRSource changes a source's settings and, when typed, its secrets; a source that was
// refused or failing is verified again (connect), so the admin sees at once whether the fix works.
func (c *Console) editHRSource(w http.ResponseWriter, r *http.Request, s *session) {
	id := url.PathEscape(r.PathValue("id"))
	fail := func(err error) {
		v := &view{Title: "HR source", Nav: "hr", User: s}
		v.problem(err)
		c.hrSourceView(w, r, s, v, http.StatusOK)
	}
	_, in, err := hrInput(r)
	if err != nil {
		fail(err)
		return
	}
	in.Kind = ""
	in.Version, _ = strconv.ParseInt(r.PostFormValue("version"), 10, 64)
	var out client.Integration
	if err := c.call(r, s, "PATCH", "/api/v1/integrations/"+id, in, &out); err != nil {
		fail(err)
		return
	}
	if out.Condition != "ok" || out.Status != "connected" {
		if err := c.call(r, s, "POST", "/api/v1/integrations/"+id+"/connect", nil, &out); err != nil {
			fail(err)
			return
		}
		c.redirect(w, r, "/hr/"+id, "Saved, verified and Connected.")
		return
	}
	c.redirect(w, r, "/hr/"+id, "Saved.")
}

func (c *Console) createHRSource(w http.ResponseWriter, r *http.Request, s *session) {
	form, in, err := hrInput(r)
	if err != nil {
		c.hrView(w, r, s, &view{Title: "HR sources", Nav: "hr", User: s, Error: err.Error()}, http.StatusBadRequest, form)
		return
	}
	var out client.Integration
	if err := c.call(r, s, "POST", "/api/v1/integrations", in, &out); err != nil {
		v := &view{Title: "HR sources", Nav: "hr", User: s}
		v.problem(err)
		c.hrView(w, r, s, v, statusOf(err), form)
		return
	}
	next := " is added: sync it now to check it."
	switch out.Kind {
	case "hr_csv":
		next = " is added: upload its CSV."
	case "hr_webhook":
		next = " is added: give its webhook address and secret to the HR system."
	}
	c.redirect(w, r, "/hr/"+url.PathEscape(out.ID), out.Name+next)
}

func (c *Console) hrSourcePage(w http.ResponseWriter, r *http.Request, s *session) {
	c.hrSourceView(w, r, s, &view{Title: "HR source", Nav: "hr", User: s}, http.StatusOK)
}

func (c *Console) hrSourceView(w http.ResponseWriter, r *http.Request, s *session, v *view, status int) {
	id := url.PathEscape(r.PathValue("id"))
	var src client.HRSource
	if err := c.call(r, s, "GET", "/api/v1/hr-sources/"+id, nil, &src); err != nil {
		v.problem(err)
		c.render(w, r, statusOf(err), "error", v)
		return
	}
	v.Title = "HR source: " + src.Name
	v.Data = src
	c.render(w, r, status, "hrsource", v)
}

func (c *Console) syncHRSource(w http.ResponseWriter, r *http.Request, s *session) {
	id := url.PathEscape(r.PathValue("id"))
	var out client.HRSyncResult
	if err := c.call(r, s, "POST", "/api/v1/hr-sources/"+id+"/sync", nil, &out); err != nil {
		v := &view{Title: "HR source", Nav: "hr", User: s}
		v.problem(err)
		c.hrSourceView(w, r, s, v, http.StatusOK)
		return
	}
	c.redirect(w, r, "/hr/"+id, "Synced: "+resultText(out)+".")
}

func resultText(r client.HRSyncResult) string {
	t := fmt.Sprintf("%d added, %d updated, %d removed, %d unchanged", r.Added, r.Updated, r.Removed, r.Unchanged)
	if r.Skipped > 0 {
		t += fmt.Sprintf(", %d skipped (no usable work email)", r.Skipped)
	}
	return t
}

func (c *Console) uploadHR(w http.ResponseWriter, r *http.Request, s *session) {
	id := url.PathEscape(r.PathValue("id"))
	fail := func(status int, err error) {
		v := &view{Title: "HR source", Nav: "hr", User: s}
		v.problem(err)
		c.hrSourceView(w, r, s, v, status)
	}
	f, _, err := r.FormFile("hr_csv")
	if err != nil {
		fail(http.StatusBadRequest, fmt.Errorf("choose the CSV file to upload"))
		return
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, scope.MaxFileSize+1))
	if err != nil {
		fail(http.StatusBadRequest, err)
		return
	}
	var out client.HRSyncResult
	if err := c.call(r, s, "POST", "/api/v1/hr-sources/"+id+"/upload", csvBody(b), &out); err != nil {
		fail(statusOf(err), err)
		return
	}
	c.redirect(w, r, "/hr/"+id, "Uploaded: "+resultText(out)+".")
}

// hrAction connects or disconnects a source and comes back to its page.
func (c *Console) hrAction(action, done string) func(http.ResponseWriter, *http.Request, *session) {
	return func(w http.ResponseWriter, r *http.Request, s *session) {
		id := url.PathEscape(r.PathValue("id"))
		if err := c.call(r, s, "POST", "/api/v1/integrations/"+id+"/"+action, nil, nil); err != nil {
			v := &view{Title: "HR source", Nav: "hr", User: s}
			v.problem(err)
			c.hrSourceView(w, r, s, v, http.StatusOK)
			return
		}
		c.redirect(w, r, "/hr/"+id, done)
	}
}
