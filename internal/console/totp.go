package console

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"image/png"
	"net/http"
	"strconv"
	"strings"

	"github.com/pquerna/otp"

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/auth"
)

// totpData is the TOTP page: the status, or the set-up in progress (secret and QR code), or the
// recovery codes just made (shown once).
type totpData struct {
	Enabled       bool
	RecoveryLeft  int
	Required      bool
	Secret        string
	QR            template.URL // data: URL of the otpauth QR code (a PNG made here, so safe)
	RecoveryCodes []string
}

func (c *Console) totpView(r *http.Request, s *session, d totpData) *view {
	if pol, err := c.d.Auth.Policy(r.Context()); err == nil {
		d.Required = pol.AdminTOTPRequired && s.Role == auth.RoleAdmin
	}
	return &view{Title: "Two-factor sign-in", User: s, Data: d}
}

// totpPage shows whether the person's local account has TOTP, and how to set it up.
func (c *Console) totpPage(w http.ResponseWriter, r *http.Request, s *session) {
	if s.Provider != "" {
		c.render(w, r, http.StatusOK, "error", &view{Title: "Two-factor sign-in", User: s,
			Error: "You sign in through your organization's identity provider: its own second factor applies."})
		return
	}
	on, left, err := c.d.Auth.TOTPStatus(r.Context(), s.UserID)
	if err != nil {
		c.d.Log.Error("console: totp status", "err", err)
	}
	v := c.totpView(r, s, totpData{Enabled: on, RecoveryLeft: left})
	if s.MustEnrollTOTP {
		v.Error = "An admin requires two-factor sign-in of admins: set it up before you go on."
	}
	c.render(w, r, http.StatusOK, "totp", v)
}

// totpBegin makes a new secret and shows it, with its QR code, until the person confirms a code.
func (c *Console) totpBegin(w http.ResponseWriter, r *http.Request, s *session) {
	secret, url, err := c.d.Auth.BeginTOTP(r.Context(), s.UserID, auth.ClientAddr(r, c.d.TrustProxy))
	if err != nil {
		c.totpFailed(w, r, s, err)
		return
	}
	d := totpData{Secret: secret}
	if k, err := otp.NewKeyFromURL(url); err == nil {
		if img, err := k.Image(200, 200); err == nil {
			var b bytes.Buffer
			if png.Encode(&b, img) == nil {
				d.QR = template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(b.Bytes()))
			}
		}
	}
	c.render(w, r, http.StatusOK, "totp", c.totpView(r, s, d))
}

// totpConfirm turns TOTP on with the first code and shows the recovery codes once.
func (c *Console) totpConfirm(w http.ResponseWriter, r *http.Request, s *session) {
	codes, err := c.d.Auth.ConfirmTOTP(r.Context(), s.UserID, r.PostFormValue("code"), auth.ClientAddr(r, c.d.TrustProxy))
	if err != nil {
		c.totpFailed(w, r, s, err)
		return
	}
	c.render(w, r, http.StatusOK, "totp", c.totpView(r, s, totpData{Enabled: true, RecoveryLeft: len(codes), RecoveryCodes: codes}))
}

func (c *Console) totpDisable(w http.ResponseWriter, r *http.Request, s *session) {
	if pol, err := c.d.Auth.Policy(r.Context()); err == nil && pol.AdminTOTPRequired && s.Role == auth.RoleAdmin {
		c.totpFailed(w, r, s, fmt.Errorf("%w: two-factor sign-in is required of admins: set up a new authenticator instead of turning it off", auth.ErrInvalid))
		return
	}
	if err := c.d.Auth.DisableTOTP(r.Context(), s.Principal, s.UserID, auth.ClientAddr(r, c.d.TrustProxy)); err != nil {
		c.totpFailed(w, r, s, err)
		return
	}
	c.redirect(w, r, "/account/totp", "Two-factor sign-in is off for your account.")
}

func (c *Console) totpFailed(w http.ResponseWriter, r *http.Request, s *session, err error) {
	on, left, _ := c.d.Auth.TOTPStatus(r.Context(), s.UserID)
	v := c.totpView(r, s, totpData{Enabled: on, RecoveryLeft: left})
	status := http.StatusUnprocessableEntity
	switch {
	case errors.Is(err, auth.ErrMFA):
		v.Error = "That code is wrong: type the code your authenticator app shows now (start the set-up again if the secret was not saved)."
	case errors.Is(err, auth.ErrInvalid):
		v.Error = strings.TrimPrefix(err.Error(), auth.ErrInvalid.Error()+": ")
	case errors.Is(err, auth.ErrForbidden):
		status, v.Error = http.StatusForbidden, strings.TrimPrefix(err.Error(), auth.ErrForbidden.Error()+": ")
	default:
		c.d.Log.Error("console: totp", "err", err)
		status, v.Error = http.StatusInternalServerError, "The server could not change two-factor sign-in; see the server log."
	}
	c.render(w, r, status, "totp", v)
}

// resetTOTP is an admin turning off someone's TOTP (lost authenticator and codes).
func (c *Console) resetTOTP(w http.ResponseWriter, r *http.Request, s *session) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err == nil {
		err = c.d.Auth.DisableTOTP(r.Context(), s.Principal, id, auth.ClientAddr(r, c.d.TrustProxy))
	}
	if err != nil {
		v := &view{Title: "Users", Nav: "users", User: s, Error: "The two-factor sign-in could not be reset: " + err.Error()}
		c.render(w, r, http.StatusUnprocessableEntity, "error", v)
		return
	}
	c.redirect(w, r, "/users", "Two-factor sign-in is off for that account: they sign in with the password and can set it up again.")
}

// savePolicy changes the sign-in policy through the API (which checks and audits it).
func (c *Console) savePolicy(w http.ResponseWriter, r *http.Request, s *session) {
	in := client.SignInPolicy{AdminTOTPRequired: r.PostFormValue("admin_totp_required") == "on",
		PasswordSignInOff: r.PostFormValue("password_sign_in_off") == "on", BreakGlass: r.PostFormValue("break_glass")}
	if err := c.call(r, s, "PUT", "/api/v1/settings/sign-in-policy", in, nil); err != nil {
		v := &view{Title: "Users", Nav: "users", User: s}
		v.problem(err)
		v.Error = "The sign-in policy was not changed: " + v.Error
		c.render(w, r, statusOf(err), "error", v)
		return
	}
	c.redirect(w, r, "/users", "The sign-in policy is saved.")
}
