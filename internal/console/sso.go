package console

import (
	"errors"
	"net/http"

	"github.com/telltale-dev/telltale/internal/auth"
	"github.com/telltale-dev/telltale/internal/sso"
)

// ssoCookie keeps the secret that binds a sign-in in flight to this browser. SameSite=Lax: the
// provider's redirect back is a top-level cross-site navigation.
const ssoCookie = "telltale_sso"

// ssoStart sends the browser to the identity provider.
func (c *Console) ssoStart(w http.ResponseWriter, r *http.Request) {
	id, next := r.PathValue("id"), safeNext(r.URL.Query().Get("next"))
	to, browser, err := c.d.SSO.Start(r.Context(), id, c.d.SSO.RedirectURL(id, r), next)
	if err != nil {
		c.ssoFailed(w, r, id, next, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: ssoCookie, Value: browser, Path: "/login/sso/", MaxAge: 600, HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: c.secure(r)})
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// ssoCallback is where the identity provider sends the browser back.
func (c *Console) ssoCallback(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	http.SetCookie(w, &http.Cookie{Name: ssoCookie, Value: "", Path: "/login/sso/", MaxAge: -1, HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: c.secure(r)})
	var browser string
	if ck, err := r.Cookie(ssoCookie); err == nil {
		browser = ck.Value
	}
	x, next, err := c.d.SSO.Finish(r.Context(), id, c.d.SSO.RedirectURL(id, r), r.URL.Query(), browser)
	next = safeNext(next)
	if err != nil {
		c.ssoFailed(w, r, id, next, err)
		return
	}
	cfg, _ := c.d.SSO.Config(id)
	role, group := cfg.MapRole(x.Groups)
	_, cookie, err := c.d.Auth.LoginExternal(r.Context(), auth.External{Provider: id, ProviderName: cfg.Name, Subject: x.Subject,
		Username: x.Username, Email: x.Email, Name: x.Name, Groups: x.Groups, Role: role, RoleGroup: group, MappedGroups: cfg.MappedGroups()},
		auth.ClientAddr(r, c.d.TrustProxy), c.d.SSOSessionTTL)
	var refused *auth.RefusedError
	switch {
	case errors.As(err, &refused):
		c.showLogin(w, r, http.StatusForbidden, loginData{Next: next}, refused.Message)
		return
	case err != nil:
		c.d.Log.Error("console: sign-in through an identity provider failed", "provider", id, "err", err)
		c.showLogin(w, r, http.StatusInternalServerError, loginData{Next: next}, "The server could not sign you in; try again.")
		return
	}
	c.setSession(w, r, cookie)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// ssoFailed shows the sign-in page (local sign-in still works) with what went wrong, and records
// the refusal.
func (c *Console) ssoFailed(w http.ResponseWriter, r *http.Request, id, next string, err error) {
	var e *sso.Error
	if !errors.As(err, &e) {
		c.d.Log.Error("console: sign-in through an identity provider failed", "provider", id, "err", err)
		c.showLogin(w, r, http.StatusInternalServerError, loginData{Next: next}, "The server could not sign you in; try again.")
		return
	}
	c.d.Log.Warn("console: sign-in through an identity provider failed", "provider", id, "kind", e.Kind, "reason", e.Reason)
	c.d.Auth.RefuseExternal(r.Context(), id, "", auth.ClientAddr(r, c.d.TrustProxy), e.Reason)
	status := http.StatusUnauthorized
	if e.Kind == sso.KindUnavailable {
		status = http.StatusBadGateway
	}
	c.showLogin(w, r, status, loginData{Next: next}, e.Message)
}
