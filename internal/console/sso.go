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
		SameSite: c.ssoSameSite(r, id), Secure: c.secure(r)})
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// ssoSameSite is the SameSite mode of the cookie that binds a sign-in to the browser. An OpenID
// provider comes back with a top-level GET, which Lax cookies go with. A SAML IdP comes back
// with a cross-site POST (the HTTP-POST binding), which only SameSite=None cookies go with, and
// browsers take those only with Secure, so over https; over http (loopback, the demo) the IdP
// must be same-site, as it is on the same host.
func (c *Console) ssoSameSite(r *http.Request, id string) http.SameSite {
	if cfg, ok := c.d.SSO.Config(id); ok && cfg.Protocol == sso.ProtocolSAML && c.secure(r) {
		return http.SameSiteNoneMode
	}
	return http.SameSiteLaxMode
}

// takeSSOCookie reads and clears the cookie that binds a sign-in to the browser.
func (c *Console) takeSSOCookie(w http.ResponseWriter, r *http.Request, id string) string {
	http.SetCookie(w, &http.Cookie{Name: ssoCookie, Value: "", Path: "/login/sso/", MaxAge: -1, HttpOnly: true,
		SameSite: c.ssoSameSite(r, id), Secure: c.secure(r)})
	if ck, err := r.Cookie(ssoCookie); err == nil {
		return ck.Value
	}
	return ""
}

// ssoCallback is where an OpenID provider sends the browser back.
func (c *Console) ssoCallback(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	browser := c.takeSSOCookie(w, r, id)
	x, next, err := c.d.SSO.Finish(r.Context(), id, c.d.SSO.RedirectURL(id, r), r.URL.Query(), browser)
	c.ssoSignIn(w, r, id, x, safeNext(next), err)
}

// ssoACS is the assertion consumer service: a SAML IdP posts its response here.
func (c *Console) ssoACS(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	r.Body = http.MaxBytesReader(w, r.Body, sso.MaxSAMLResponse)
	browser := c.takeSSOCookie(w, r, id)
	x, next, err := c.d.SSO.FinishSAML(r.Context(), id, c.d.SSO.RedirectURL(id, r), r, browser)
	c.ssoSignIn(w, r, id, x, safeNext(next), err)
}

// ssoMetadata serves this server's SAML service provider metadata for provider id, for the
// admin to give the IdP. It holds no secret (URLs and the entity id), so it needs no sign-in:
// IdPs fetch it from its URL.
func (c *Console) ssoMetadata(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	b, err := c.d.SSO.SPMetadata(id, c.d.SSO.RedirectURL(id, r))
	if err != nil {
		var e *sso.Error
		if errors.As(err, &e) {
			c.render(w, r, http.StatusNotFound, "error", &view{Title: "Not found", Error: e.Message})
			return
		}
		c.d.Log.Error("console: SAML metadata", "provider", id, "err", err)
		c.render(w, r, http.StatusInternalServerError, "error", &view{Title: "Error", Error: "The metadata could not be made; see the server log."})
		return
	}
	w.Header().Set("Content-Type", "application/samlmetadata+xml")
	w.Write(b)
}

// ssoSignIn is the one piece both protocols end in: the identity an IdP vouched for (or the
// error that refused it) becomes a session with the role its groups map to, a refusal that
// names the missing mapping, or the sign-in page with what went wrong; every outcome audited.
func (c *Console) ssoSignIn(w http.ResponseWriter, r *http.Request, id string, x sso.Identity, next string, err error) {
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
