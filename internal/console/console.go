// Package console serves Telltale's web console: server-rendered html/template pages on the same
// port as the API, with embedded static files (htmx, vendored and pinned; one style sheet) and no
// JavaScript build step.
//
// The console holds no business rules. Each page calls the REST API in process: it builds an
// internal request to the API handler carrying the signed-in user's session cookie (and the
// session's CSRF token for writes), decodes the public client types and renders HTML. So the API
// authorizes every action, and every message the console shows next to a field is the API's own
// problem message.
//
// Security: a strict Content-Security-Policy (no inline script or style), HttpOnly SameSite=Lax
// session cookies (Secure over TLS), a CSRF token in every form (the session's token; a
// double-submit cookie for the sign-in form), and role-aware pages (the API still enforces).
package console

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/auth"
	"github.com/telltale-dev/telltale/internal/clock"
	"github.com/telltale-dev/telltale/internal/sso"
)

// CSP is the Content-Security-Policy of every console response: nothing inline, nothing external.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"

// Cookie names. SessionCookie is the same cookie the API reads for session requests.
const (
	SessionCookie = "telltale_session"
	loginCSRF     = "telltale_login_csrf"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Deps are what the console needs, built by the composition root.
type Deps struct {
	Auth  *auth.Service
	API   http.Handler // the REST API handler (/api/v1/...), called in process
	Log   *slog.Logger
	Clock clock.Clock
	// SecureCookies marks cookies Secure even on plain-HTTP requests: set it when a TLS-terminating
	// proxy serves the console (the app sets it when the public URL is https).
	SecureCookies bool
	// SSO signs people in through identity providers; nil: local accounts only.
	SSO *sso.Manager
	// SSOSessionTTL is how long a session opened through an identity provider lasts (0: 8 hours).
	SSOSessionTTL time.Duration
	// TrustProxy takes the client address from X-Forwarded-For (sign-in throttling and the audit
	// log), as the API does (config trust-proxy).
	TrustProxy bool
}

// Console is the web console's HTTP handler.
type Console struct {
	d     Deps
	pages map[string]*template.Template
	mux   *http.ServeMux
}

// New parses the templates and builds the routes.
func New(d Deps) (*Console, error) {
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Clock == nil {
		d.Clock = clock.Real{}
	}
	c := &Console{d: d, pages: map[string]*template.Template{}, mux: http.NewServeMux()}
	if err := c.parseTemplates(); err != nil {
		return nil, err
	}
	c.routes()
	return c, nil
}

func (c *Console) parseTemplates() error {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return err
	}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" || strings.HasPrefix(base, "_") {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/_*.html", n)
		if err != nil {
			return fmt.Errorf("console: template %s: %w", n, err)
		}
		c.pages[base] = t
	}
	return nil
}

func (c *Console) routes() {
	static, _ := fs.Sub(staticFS, "static")
	fileServer := http.FileServerFS(static)
	c.mux.Handle("GET /static/", http.StripPrefix("/static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Files only: the folder's listing is nobody's business.
		if fi, err := fs.Stat(static, strings.TrimSuffix(r.URL.Path, "/")); r.URL.Path == "" || err != nil || fi.IsDir() {
			c.render(w, r, http.StatusNotFound, "error", &view{Title: "Not found", Error: "There is no file at /static/" + r.URL.Path + "."})
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=3600")
		fileServer.ServeHTTP(w, r)
	})))
	c.mux.HandleFunc("GET /login", c.loginPage)
	c.mux.HandleFunc("POST /login", c.login)
	c.mux.HandleFunc("POST /login/mfa", c.loginMFA)
	c.mux.HandleFunc("GET /login/sso/{id}", c.ssoStart)
	c.mux.HandleFunc("GET /login/sso/{id}/callback", c.ssoCallback)
	c.mux.HandleFunc("POST /login/sso/{id}/acs", c.ssoACS)
	c.mux.HandleFunc("GET /login/sso/{id}/metadata", c.ssoMetadata)
	for _, p := range c.pageTable() {
		if p.Need == "" {
			panic("console: page " + p.Pattern + " declares no role")
		}
		c.mux.HandleFunc(p.Pattern, c.page(p.Need, p.handle))
	}
	c.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		c.render(w, r, http.StatusNotFound, "error", &view{Title: "Not found", Error: "There is no page at " + r.URL.Path + "."})
	})
}

// Page is a console page or form action that needs a signed-in person with at least role Need.
// The sign-in page, the static files and / are the only routes without one.
type Page struct {
	Pattern string
	Need    auth.Role
	handle  func(w http.ResponseWriter, r *http.Request, s *session)
}

// Pages lists the console's pages with their roles, for tests and docs.
func (c *Console) Pages() []Page { return c.pageTable() }

func (c *Console) pageTable() []Page {
	ro, an, ad := auth.RoleReadOnly, auth.RoleAnalyst, auth.RoleAdmin
	return []Page{
		{"POST /logout", ro, c.logout},
		{"GET /password", ro, c.passwordPage},
		{"GET /account/totp", ro, c.totpPage},
		{"POST /account/totp/begin", ro, c.totpBegin},
		{"POST /account/totp/confirm", ro, c.totpConfirm},
		{"POST /account/totp/disable", ro, c.totpDisable},
		{"POST /password", ro, c.changePassword},

		{"GET /{$}", ro, c.landing},
		{"GET /dashboards/exposure", ro, c.exposurePage},
		{"GET /dashboards/exposure.csv", ro, c.dashboardCSV(c.exposureData, "risk-exposure")},
		{"GET /dashboards/trends", ro, c.trendsPage},
		{"GET /dashboards/trends.csv", ro, c.dashboardCSV(c.trendsData, "insider-risk-trends")},
		{"POST /dashboards/landing", ad, c.saveLanding},

		{"GET /connections", ro, c.connectionsPage},
		{"GET /connections/new", ad, c.chooseService},
		{"GET /connectors/{service}", ad, c.newConnectionPage},
		{"POST /connectors/{service}", ad, c.createConnection},
		{"POST /connectors/{service}/verify", ad, c.verifyConnection},
		{"GET /connections/{id}", ro, c.connectionPage},
		{"GET /connections/{id}/summary", ro, c.connectionSummary},
		{"GET /connections/{id}/scope.csv", ro, c.downloadScope},
		{"POST /connections/{id}/deauthorize", ad, c.deauthorize},
		{"POST /connections/{id}/resume", ad, c.resume},
		{"POST /connections/{id}/maintenance", ad, c.maintenance},
		{"POST /connections/{id}/delete", ad, c.deleteConnection},

		{"GET /search", ro, c.searchPage},
		{"GET /search/help", ro, c.searchHelp},
		{"GET /events/{id}", ro, c.eventPage},
		{"POST /search/export", an, c.export},
		{"POST /searches", an, c.saveSearch},
		{"GET /searches/{id}/run", ro, c.runSaved},

		{"GET /alerts", ro, c.alertsPage},
		{"GET /alerts/export", an, c.exportAlerts},
		{"POST /alerts/bulk", an, c.bulkAlerts},
		{"GET /alerts/{id}", ro, c.alertPage},
		{"POST /alerts/{id}", an, c.updateAlert},
		{"POST /alerts/{id}/case", an, c.alertToCase},
		{"GET /rules", ro, c.rulesPage},
		{"GET /rules/new", ad, c.newRulePage},
		{"GET /rules/uncovered", an, c.uncoveredPage},
		{"POST /rules", ad, c.saveRule},
		{"POST /rules/test", an, c.testRule},
		{"GET /rules/{id}", ro, c.rulePage},
		{"POST /rules/{id}", ad, c.saveRule},
		{"GET /risk", ro, c.riskPage},
		{"POST /risk/rescore", ad, c.startRescore},
		{"POST /risk/trust", ad, c.addTrust},
		{"POST /risk/rescore/{id}/cancel", ad, c.cancelRescore},
		{"GET /watchlists", ro, c.watchlistsPage},
		{"POST /watchlists", ad, c.createWatchlist},
		{"GET /watchlists/{id}", ro, c.watchlistPage},
		{"POST /watchlists/{id}/members", an, c.addMember},
		{"POST /watchlists/{id}/remove", an, c.removeMember},
		{"POST /watchlists/{id}/upload", an, c.uploadMembers},

		{"GET /integrations", ro, c.integrationsPage},
		{"POST /integrations", ad, c.createIntegration},
		{"POST /integrations/{id}/edit", ad, c.editIntegration},
		{"GET /integrations/{id}", ro, c.integrationPage},
		{"POST /integrations/{id}/test", ad, c.integrationAction("test", "A test delivery is queued: it appears below once sent.")},
		{"POST /integrations/{id}/connect", ad, c.integrationAction("connect", "Connected: its credentials were verified.")},
		{"POST /integrations/{id}/disconnect", ad, c.integrationAction("disconnect", "Disconnected: flows stop sending to it; its configuration is kept.")},
		{"POST /deliveries/{id}/replay", ad, c.replayDelivery},
		{"GET /flows", ro, c.flowsPage},
		{"POST /flows", ad, c.createFlow},
		{"POST /flows/{id}/test", ad, c.testFlow},
		{"POST /flows/{id}/delete", ad, c.deleteFlow},
		{"GET /hr", ro, c.hrPage},
		{"POST /hr", ad, c.createHRSource},
		{"GET /hr/{id}", ro, c.hrSourcePage},
		{"POST /hr/{id}/sync", ad, c.syncHRSource},
		{"POST /hr/{id}/upload", ad, c.uploadHR},
		{"POST /hr/{id}/edit", ad, c.editHRSource},
		{"POST /hr/{id}/connect", ad, c.hrAction("connect", "Connected: its credentials were verified.")},
		{"POST /hr/{id}/disconnect", ad, c.hrAction("disconnect", "Disconnected: it is not polled and its webhook is refused; its configuration is kept.")},
		{"GET /forwarding", ad, c.forwardPage},
		{"POST /forwarding", ad, c.createForward},
		{"POST /forwarding/{id}/test", ad, c.forwardAction("test", "")},
		{"POST /forwarding/{id}/pause", ad, c.forwardAction("pause", "Paused: events wait in the store from its position.")},
		{"POST /forwarding/{id}/resume", ad, c.forwardAction("resume", "Resumed: it sends the events that waited, in order.")},
		{"GET /people", ro, c.peoplePage},
		{"GET /people/{email}", ro, c.personPage},
		{"POST /people/{email}/aliases", ad, c.addAlias},
		{"POST /people/{email}/aliases/remove", ad, c.removeAlias},
		{"GET /people/{email}/exposure.csv", ro, c.personExposureCSV},
		{"GET /cases", ro, c.casesPage},
		{"POST /cases", an, c.createCase},
		{"GET /cases/{id}", ro, c.casePage},
		{"POST /cases/{id}", an, c.updateCase},
		{"POST /cases/{id}/items", an, c.addToCase},
		{"POST /cases/{id}/export", an, c.exportCase},

		{"GET /devices", ro, c.devicesPage},
		{"POST /devices/{id}/deactivate", ad, c.deviceAction("deactivate", "is deactivated: its check-ins are refused.")},
		{"POST /devices/{id}/reactivate", ad, c.deviceAction("reactivate", "is active again.")},
		{"GET /devices/secrets", ad, c.secretsPage},
		{"POST /devices/secrets", ad, c.createSecret},
		{"POST /devices/secrets/{id}/extend", ad, c.secretAction("extend", "now expires later.")},
		{"POST /devices/secrets/{id}/revoke", ad, c.secretAction("revoke", "is revoked: no enrolment with it, and its devices' check-ins are refused.")},
		{"POST /devices/secrets/{id}/reactivate", ad, c.secretAction("reactivate", "is active again.")},

		{"GET /health", ro, c.healthPage},
		{"GET /audit", ad, c.auditPage},
		{"GET /audit/export", ad, c.exportAudit},
		{"GET /users", ad, c.usersPage},
		{"POST /users/{id}/disable", ad, c.disableUser},
		{"POST /users/{id}/enable", ad, c.enableUser},
		{"POST /users/{id}/totp/reset", ad, c.resetTOTP},
		{"POST /users/sign-in-policy", ad, c.savePolicy},
	}
}

// Handler serves the console with its security headers.
func (c *Console) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", CSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		if !strings.HasPrefix(r.URL.Path, "/static/") {
			h.Set("Cache-Control", "no-store")
		}
		c.mux.ServeHTTP(w, r)
	})
}

// session is the signed-in user of a request.
type session struct {
	auth.Principal
	cookie string
}

func (s *session) IsAdmin() bool        { return s.Role.Satisfies(auth.RoleAdmin) }
func (s *session) CanExport() bool      { return s.Role.Satisfies(auth.RoleAnalyst) }
func (s *session) CSRF() string         { return s.SessionCSRF }
func (s *session) RoleName() string     { return string(s.Role) }
func (s *session) UserIDString() string { return strconv.FormatInt(s.UserID, 10) }

// maxForm bounds a posted form, scope CSV uploads included (the API takes at most 1,000 entries).
const maxForm = 8 << 20

// page wraps a handler: it requires a session with at least the role need, and for anything but
// GET a form field csrf equal to the session's CSRF token.
func (c *Console) page(need auth.Role, h func(w http.ResponseWriter, r *http.Request, s *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ck, err := r.Cookie(SessionCookie)
		var p auth.Principal
		if err == nil {
			p, err = c.d.Auth.AuthenticateSession(r.Context(), ck.Value)
		}
		if err != nil {
			if !errors.Is(err, auth.ErrUnauthenticated) && !errors.Is(err, http.ErrNoCookie) {
				c.d.Log.Error("console: session check failed", "err", err)
				c.render(w, r, http.StatusInternalServerError, "error", &view{Title: "Error", Error: "The server could not check your session; try again."})
				return
			}
			next := r.URL.RequestURI()
			if r.Method != http.MethodGet {
				next = "/"
			}
			if r.Header.Get("HX-Request") == "true" {
				w.Header().Set("HX-Redirect", "/login")
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			http.Redirect(w, r, "/login?next="+url.QueryEscape(next), http.StatusSeeOther)
			return
		}
		s := &session{Principal: p, cookie: ck.Value}
		// An admin who must set up TOTP reaches only its set-up (and can sign out).
		if p.MustEnrollTOTP && !strings.HasPrefix(r.URL.Path, "/account/totp") && r.URL.Path != "/logout" {
			c.redirect(w, r, "/account/totp", "")
			return
		}
		if !p.Role.Satisfies(need) {
			c.render(w, r, http.StatusForbidden, "error", &view{Title: "Not allowed", User: s,
				Error: fmt.Sprintf("This page needs the %s role and you are %s; ask an admin.", need, p.Role)})
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			r.Body = http.MaxBytesReader(w, r.Body, maxForm)
			// Each kind of form by its own parser: ParseMultipartForm reports ErrNotMultipart for
			// a URL-encoded form and drops the error of reading it (an oversized form then looked
			// like one without its CSRF token).
			var err error
			if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "multipart/form-data" {
				err = r.ParseMultipartForm(maxForm)
			} else {
				err = r.ParseForm()
			}
			if err != nil {
				status, msg := http.StatusBadRequest, "The form could not be read."
				var mb *http.MaxBytesError
				if errors.As(err, &mb) {
					status, msg = http.StatusRequestEntityTooLarge, fmt.Sprintf("The form is larger than %d MB; a scope CSV holds at most 1,000 entries.", maxForm>>20)
				}
				c.render(w, r, status, "error", &view{Title: "Bad request", User: s, Error: msg})
				return
			}
			if !sameToken(r.PostFormValue("csrf"), p.SessionCSRF) {
				c.render(w, r, http.StatusForbidden, "error", &view{Title: "Form expired", User: s,
					Error: "The form's security token is missing or out of date (CSRF check). Reload the page and try again."})
				return
			}
		}
		h(w, r, s)
	}
}

// secure says whether cookies get the Secure attribute.
func (c *Console) secure(r *http.Request) bool { return r.TLS != nil || c.d.SecureCookies }

func sameToken(a, b string) bool {
	return a != "" && b != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// view is what every page template gets.
type view struct {
	Title   string
	Nav     string // the active navigation item
	User    *session
	Flash   string // a success message
	Error   string // a page-level error
	Errors  []client.FieldError
	Fields  map[string]string // field name -> the API's message for it
	Suggest string            // the API's suggestion for a mistyped search field or value
	Data    any
	Wide    bool
	Section string // for fragments
}

// problemView copies an API error into the view: the detail on top, field messages beside fields.
func (v *view) problem(err error) {
	var p *client.Problem
	if !errors.As(err, &p) {
		v.Error = err.Error()
		return
	}
	v.Error = p.Detail
	if v.Error == "" {
		v.Error = fmt.Sprintf("%d %s", p.Status, p.Title)
	}
	v.Errors = p.Errors
	v.Suggest = p.Suggestion
	for _, e := range p.Errors {
		if e.Field == "" {
			continue
		}
		if v.Fields == nil {
			v.Fields = map[string]string{}
		}
		f := e.Field
		for _, pre := range []string{"settings.", "credentials."} {
			f = strings.TrimPrefix(f, pre)
		}
		v.Fields[f] = e.Message
	}
}

func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, v *view) {
	t, ok := c.pages[name]
	if !ok {
		c.d.Log.Error("console: no template", "name", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	tmpl := "layout.html"
	if v.Section != "" {
		tmpl = v.Section
	}
	if v.Section == "" && v.Flash == "" {
		v.Flash = c.takeFlash(w, r)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, tmpl, v); err != nil {
		c.d.Log.Error("console: rendering failed", "page", name, "err", err)
		http.Error(w, "internal error: the server logged the details", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// csvBody is a text/csv request body for the API.
type csvBody string

// call makes an in-process API request as the signed-in user and decodes the JSON answer into out.
// An API error comes back as a *client.Problem.
func (c *Console) call(r *http.Request, s *session, method, path string, in, out any) error {
	req, err := c.apiRequest(r, s, method, path, in)
	if err != nil {
		return err
	}
	rec := &recorder{header: http.Header{}}
	c.d.API.ServeHTTP(rec, req)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	if rec.status >= 400 {
		p := &client.Problem{}
		if json.Unmarshal(rec.body.Bytes(), p) != nil || p.Status == 0 {
			p = &client.Problem{Status: rec.status, Title: http.StatusText(rec.status), Detail: strings.TrimSpace(rec.body.String())}
		}
		return p
	}
	if out != nil && rec.body.Len() > 0 {
		if err := json.Unmarshal(rec.body.Bytes(), out); err != nil {
			return fmt.Errorf("console: decoding %s %s: %w", method, path, err)
		}
	}
	return nil
}

// stream passes an API response (a CSV download, an export) straight to the browser.
func (c *Console) stream(w http.ResponseWriter, r *http.Request, s *session, method, path string, in any) {
	req, err := c.apiRequest(r, s, method, path, in)
	if err != nil {
		c.render(w, r, http.StatusInternalServerError, "error", &view{Title: "Error", User: s, Error: err.Error()})
		return
	}
	c.d.API.ServeHTTP(w, req)
}

func (c *Console) apiRequest(r *http.Request, s *session, method, path string, in any) (*http.Request, error) {
	var body io.Reader
	ct := ""
	switch v := in.(type) {
	case nil:
	case csvBody:
		body, ct = strings.NewReader(string(v)), "text/csv"
	default:
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body, ct = bytes.NewReader(b), "application/json"
	}
	req, err := http.NewRequestWithContext(r.Context(), method, path, body)
	if err != nil {
		return nil, err
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	// The audit log records where the person is, not the console.
	req.RemoteAddr = r.RemoteAddr
	if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	req.Host = r.Host
	req.AddCookie(&http.Cookie{Name: SessionCookie, Value: s.cookie})
	if method != http.MethodGet {
		req.Header.Set("X-CSRF-Token", s.SessionCSRF)
	}
	return req, nil
}

// recorder collects an in-process API response.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}

// flashCookie carries a success message across the redirect after a form post.
const flashCookie = "telltale_flash"

// redirect answers a form post with 303 See Other to a page that shows flash once.
func (c *Console) redirect(w http.ResponseWriter, r *http.Request, to, flash string) {
	if flash != "" {
		http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: base64.RawURLEncoding.EncodeToString([]byte(flash)), Path: "/",
			HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: c.secure(r), MaxAge: 60})
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// takeFlash reads and clears the flash message.
func (c *Console) takeFlash(w http.ResponseWriter, r *http.Request) string {
	ck, err := r.Cookie(flashCookie)
	if err != nil {
		return ""
	}
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: c.secure(r)})
	b, err := base64.RawURLEncoding.DecodeString(ck.Value)
	if err != nil || len(b) > 500 {
		return ""
	}
	return string(b)
}
