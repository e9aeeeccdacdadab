package console

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/auth"
	"github.com/telltale-dev/telltale/internal/sso"
)

type loginData struct {
	CSRF      string
	Next      string
	Username  string
	Providers []sso.Info
	Ticket    string // set: the password was right, the second factor's code is asked for
}

// safeNext keeps redirects after sign-in on this site: it accepts only a path that a browser also
// reads as a path on this origin. Browsers drop tabs and newlines anywhere in a URL, take a
// backslash for a slash and trim leading spaces and controls, so "/\t/evil.example" and
// "/\\evil.example" lead off-site; any such character is refused rather than cleaned, and so is a
// path whose decoded form starts with two slashes.
// defaultNext is where sign-in leads when nothing else was asked for.
const defaultNext = "/" // the landing page: the Risk exposure dashboard, or health (an admin's choice)

func safeNext(next string) string {
	const home = defaultNext
	if len(next) > 2048 || !strings.HasPrefix(next, "/") {
		return home
	}
	for _, r := range next {
		if r < 0x20 || r == 0x7f || r == '\\' || r == ' ' {
			return home
		}
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return home
	}
	p := u.Path
	if dec, err := url.PathUnescape(u.EscapedPath()); err == nil {
		p = dec
	}
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\\t\r\n") || strings.HasPrefix(p, "/login") {
		return home
	}
	return u.RequestURI()
}

// loginPage shows the sign-in form with a fresh double-submit CSRF token: the same random value in
// an HttpOnly cookie and in a hidden field.
func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	c.showLogin(w, r, http.StatusOK, loginData{Next: safeNext(r.URL.Query().Get("next"))}, "")
}

func (c *Console) showLogin(w http.ResponseWriter, r *http.Request, status int, d loginData, msg string) {
	d.CSRF = randomToken()
	d.Providers = c.d.SSO.Providers()
	http.SetCookie(w, &http.Cookie{Name: loginCSRF, Value: d.CSRF, Path: "/login", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: c.secure(r)})
	c.render(w, r, status, "login", &view{Title: "Sign in", Error: msg, Data: d})
}

func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		c.showLogin(w, r, http.StatusBadRequest, loginData{}, "The form could not be read.")
		return
	}
	d := loginData{Next: safeNext(r.PostFormValue("next")), Username: r.PostFormValue("username")}
	ck, err := r.Cookie(loginCSRF)
	if err != nil || !sameToken(ck.Value, r.PostFormValue("csrf")) {
		c.showLogin(w, r, http.StatusForbidden, d, "The sign-in form expired (CSRF check). Try again.")
		return
	}
	_, cookie, err := c.d.Auth.Login(r.Context(), d.Username, r.PostFormValue("password"), auth.ClientAddr(r, c.d.TrustProxy))
	var mfa *auth.MFARequiredError
	if errors.As(err, &mfa) {
		d.Ticket = mfa.Ticket
		c.showLogin(w, r, http.StatusOK, d, "")
		return
	}
	c.finishLogin(w, r, d, cookie, err)
}

// loginMFA is the second step of a password sign-in: the TOTP or recovery code.
func (c *Console) loginMFA(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		c.showLogin(w, r, http.StatusBadRequest, loginData{}, "The form could not be read.")
		return
	}
	d := loginData{Next: safeNext(r.PostFormValue("next")), Ticket: r.PostFormValue("ticket")}
	ck, err := r.Cookie(loginCSRF)
	if err != nil || !sameToken(ck.Value, r.PostFormValue("csrf")) {
		c.showLogin(w, r, http.StatusForbidden, loginData{Next: d.Next}, "The sign-in form expired (CSRF check). Sign in again.")
		return
	}
	_, cookie, err := c.d.Auth.LoginMFA(r.Context(), d.Ticket, r.PostFormValue("code"), auth.ClientAddr(r, c.d.TrustProxy))
	if errors.Is(err, auth.ErrMFA) {
		c.showLogin(w, r, http.StatusUnauthorized, d, "That code is wrong or was used already: type the current code of your authenticator app, or one of your recovery codes.")
		return
	}
	if err != nil && errors.Is(err, auth.ErrUnauthenticated) {
		c.showLogin(w, r, http.StatusUnauthorized, loginData{Next: d.Next}, "The sign-in took too long or had too many wrong codes: sign in again.")
		return
	}
	c.finishLogin(w, r, d, cookie, err)
}

// finishLogin ends a password sign-in with the session cookie, or shows what went wrong.
func (c *Console) finishLogin(w http.ResponseWriter, r *http.Request, d loginData, cookie string, err error) {
	d.Ticket = ""
	if err != nil {
		status, msg := http.StatusUnauthorized, "Wrong user name or password, or the account is disabled."
		if errors.Is(err, auth.ErrPasswordSignInOff) {
			msg = "Password sign-in is turned off here: sign in through your organization's identity provider above."
		}
		var th *auth.ThrottledError
		if errors.As(err, &th) {
			mins := int(th.RetryAfter.Minutes()) + 1
			w.Header().Set("Retry-After", strconv.Itoa(int(th.RetryAfter.Seconds())+1))
			status, msg = http.StatusTooManyRequests, fmt.Sprintf("Too many failed sign-ins from this address. Try again in %d minutes, or ask an admin to reset your password.", mins)
		} else if !errors.Is(err, auth.ErrUnauthenticated) {
			c.d.Log.Error("console: sign-in failed", "err", err)
			status, msg = http.StatusInternalServerError, "The server could not sign you in; try again."
		}
		c.showLogin(w, r, status, d, msg)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: loginCSRF, Value: "", Path: "/login", MaxAge: -1, HttpOnly: true, Secure: c.secure(r)})
	c.setSession(w, r, cookie)
	// A first admin must replace the generated password first.
	p, err := c.d.Auth.AuthenticateSession(r.Context(), cookie)
	if err == nil && p.MustEnrollTOTP {
		c.redirect(w, r, "/account/totp", "")
		return
	}
	if err == nil {
		var me client.Me
		if c.call(r, &session{Principal: p, cookie: cookie}, "GET", "/api/v1/me", nil, &me) == nil && me.MustChangePassword {
			to := "/password"
			if d.Next != defaultNext {
				to += "?next=" + url.QueryEscape(d.Next) // where the person was going, after the change
			}
			c.redirect(w, r, to, "")
			return
		}
	}
	http.Redirect(w, r, d.Next, http.StatusSeeOther)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request, s *session) {
	if err := c.d.Auth.Logout(r.Context(), s.cookie, auth.ClientAddr(r, c.d.TrustProxy)); err != nil {
		c.d.Log.Error("console: sign-out failed", "err", err)
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: c.secure(r)})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

func (c *Console) passwordPage(w http.ResponseWriter, r *http.Request, s *session) {
	v := &view{Title: "Change password", User: s, Data: safeNext(r.URL.Query().Get("next"))}
	var me client.Me
	if err := c.call(r, s, "GET", "/api/v1/me", nil, &me); err == nil && me.MustChangePassword {
		v.Error = "Your password was generated at first start: choose your own before you go on."
	}
	c.render(w, r, http.StatusOK, "password", v)
}

func (c *Console) changePassword(w http.ResponseWriter, r *http.Request, s *session) {
	in := client.PasswordChange{Current: r.PostFormValue("current"), New: r.PostFormValue("new")}
	next := safeNext(r.PostFormValue("next"))
	v := &view{Title: "Change password", User: s, Data: next}
	if in.New != r.PostFormValue("confirm") {
		v.Fields = map[string]string{"confirm": "does not match the new password"}
		v.Error = "The two new passwords differ."
		c.render(w, r, http.StatusUnprocessableEntity, "password", v)
		return
	}
	if err := c.call(r, s, "POST", "/api/v1/me/password", in, nil); err != nil {
		v.problem(err)
		c.render(w, r, statusOf(err), "password", v)
		return
	}
	// The change ends every session of the user, this one too: sign the person in again with the
	// new password so that the console carries on.
	_, cookie, err := c.d.Auth.Login(r.Context(), s.Username, in.New, auth.ClientAddr(r, c.d.TrustProxy))
	if err != nil {
		c.d.Log.Warn("console: signing in again after a password change failed", "user_id", s.UserID, "err", err)
		c.redirect(w, r, "/login", "Your password was changed: sign in with it.")
		return
	}
	c.setSession(w, r, cookie)
	c.redirect(w, r, next, "Your password was changed.")
}

// setSession gives the browser the session cookie.
func (c *Console) setSession(w http.ResponseWriter, r *http.Request, cookie string) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: cookie, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: c.secure(r)})
}

// statusOf is the HTTP status to answer with for an API error.
func statusOf(err error) int {
	var p *client.Problem
	if errors.As(err, &p) && p.Status >= 400 {
		return p.Status
	}
	return http.StatusInternalServerError
}
