package console

import (
	"net/http"

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/auth"
)

// usersPage lists users with where they sign in, their role's source and their last sign-in.
func (c *Console) usersPage(w http.ResponseWriter, r *http.Request, s *session) {
	var out struct {
		Items []client.User `json:"items"`
	}
	v := &view{Title: "Users", Nav: "users", User: s, Wide: true}
	status := http.StatusOK
	if err := c.call(r, s, "GET", "/api/v1/users", nil, &out); err != nil {
		v.problem(err)
		status = statusOf(err)
	}
	pol, err := c.d.Auth.Policy(r.Context())
	if err != nil {
		c.d.Log.Error("console: sign-in policy", "err", err)
	}
	v.Data = struct {
		Items  []client.User
		Policy auth.SignInPolicy
	}{out.Items, pol}
	c.render(w, r, status, "users", v)
}

func (c *Console) disableUser(w http.ResponseWriter, r *http.Request, s *session) {
	c.setDisabled(w, r, s, true)
}

func (c *Console) enableUser(w http.ResponseWriter, r *http.Request, s *session) {
	c.setDisabled(w, r, s, false)
}

func (c *Console) setDisabled(w http.ResponseWriter, r *http.Request, s *session, disabled bool) {
	var u client.User
	if err := c.call(r, s, "PATCH", "/api/v1/users/"+r.PathValue("id"), client.UserUpdate{Disabled: &disabled}, &u); err != nil {
		v := &view{Title: "Users", Nav: "users", User: s}
		v.problem(err)
		c.render(w, r, statusOf(err), "error", v)
		return
	}
	msg := u.Username + " is enabled again."
	if disabled {
		msg = u.Username + " is disabled: their sessions ended and they cannot sign in."
	}
	c.redirect(w, r, "/users", msg)
}
