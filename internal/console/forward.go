package console

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/telltale-dev/telltale/client"
)

// The SIEM forwarding page (issue 17, R8.7), admins only: each destination with its state, last
// error (the destination's answer), cursor lag and events sent; add, test, pause and resume.

type forwardData struct {
	Items    []client.ForwardDestination
	Form     client.ForwardInput // the add form as typed (never its token)
	Test     *client.ForwardTest
	TestName string
}

func (c *Console) forwardPage(w http.ResponseWriter, r *http.Request, s *session) {
	c.showForward(w, r, s, http.StatusOK, nil, forwardData{Form: client.ForwardInput{Kind: "splunk_hec", Format: "ocsf",
		Settings: client.ForwardSettings{Acks: true, Transport: "tls"}}})
}

func (c *Console) showForward(w http.ResponseWriter, r *http.Request, s *session, status int, formErr error, d forwardData) {
	v := &view{Title: "SIEM forwarding", Nav: "forwarding", User: s}
	var out client.ForwardList
	if err := c.call(r, s, "GET", "/api/v1/forward-destinations", nil, &out); err != nil {
		v.problem(err)
		status = statusOf(err)
	}
	if formErr != nil {
		v.problem(formErr)
	}
	d.Items = out.Items
	v.Data = d
	c.render(w, r, status, "forwarding", v)
}

func (c *Console) createForward(w http.ResponseWriter, r *http.Request, s *session) {
	in := client.ForwardInput{Name: r.PostFormValue("name"), Kind: r.PostFormValue("kind"), Format: r.PostFormValue("format"),
		Settings: client.ForwardSettings{URL: strings.TrimSpace(r.PostFormValue("url")), Acks: r.PostFormValue("acks") == "on",
			Index: r.PostFormValue("index"), Address: strings.TrimSpace(r.PostFormValue("address")), Transport: r.PostFormValue("transport"),
			Query: r.PostFormValue("query"), Streams: r.PostForm["streams"]},
		FromStart: r.PostFormValue("from_start") == "on"}
	if tok := r.PostFormValue("token"); tok != "" {
		in.Secrets = &client.ForwardSecrets{Token: tok}
	}
	var out client.ForwardDestination
	if err := c.call(r, s, "POST", "/api/v1/forward-destinations", in, &out); err != nil {
		in.Secrets = nil
		c.showForward(w, r, s, statusOf(err), err, forwardData{Form: in})
		return
	}
	c.redirect(w, r, "/forwarding", "Added "+out.Name+": it forwards every event stored from now on.")
}

// forwardAction posts pause, resume or test and comes back to the page.
func (c *Console) forwardAction(action, done string) func(http.ResponseWriter, *http.Request, *session) {
	return func(w http.ResponseWriter, r *http.Request, s *session) {
		id := url.PathEscape(r.PathValue("id"))
		if action == "test" {
			var t client.ForwardTest
			var d client.ForwardDestination
			err := c.call(r, s, "GET", "/api/v1/forward-destinations/"+id, nil, &d)
			if err == nil {
				err = c.call(r, s, "POST", "/api/v1/forward-destinations/"+id+"/test", nil, &t)
			}
			if err != nil {
				c.showForward(w, r, s, statusOf(err), err, forwardData{})
				return
			}
			c.showForward(w, r, s, http.StatusOK, nil, forwardData{Test: &t, TestName: d.Name,
				Form: client.ForwardInput{Kind: "splunk_hec", Format: "ocsf", Settings: client.ForwardSettings{Acks: true, Transport: "tls"}}})
			return
		}
		if err := c.call(r, s, "POST", "/api/v1/forward-destinations/"+id+"/"+action, nil, nil); err != nil {
			c.showForward(w, r, s, statusOf(err), err, forwardData{})
			return
		}
		c.redirect(w, r, "/forwarding", done)
	}
}
