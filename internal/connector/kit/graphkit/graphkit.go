// Package graphkit is what the Microsoft 365 connectors (onedrive, m365mail) share: Microsoft
// Graph's error answers read the same way, and Entra ID's refusals (the AADSTS codes of the vendor
// notes' Corrections 6), a token without consented permissions and a 403 for a missing permission
// turned into errors that say what the admin must do, worded once for both.
package graphkit

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/connector/kit/oauth"
	"github.com/telltale-dev/telltale/internal/httpx"
)

// App is the Entra ID application a connection acts as, as its errors name it.
type App struct {
	Product     string   // the errors' prefix: "onedrive", "microsoft365_mail"
	Login       string   // the login authority, https://login.microsoftonline.com
	Tenant      string   // the directory (tenant) id
	ClientID    string   // the application (client) id
	Permissions []string // the Microsoft Graph application permissions it needs
}

// ConsentURL is where a Global Administrator grants the app's permissions in the tenant.
func (a App) ConsentURL() string {
	return a.Login + "/" + url.PathEscape(a.Tenant) + "/adminconsent?client_id=" + url.QueryEscape(a.ClientID)
}

// ConsentURLOf is the admin-consent URL of the app a connection's settings name (the Microsoft
// connectors' connector.Consenter): its login authority, tenant (the tenant_id setting, else the
// connection's tenant) and client id; "" until the tenant and client id are both set.
func ConsentURLOf(sp connector.Spec, cfg connector.Config) string {
	tenant := strings.TrimSpace(cfg.Value(sp, "tenant_id"))
	if tenant == "" {
		tenant = cfg.TenantID
	}
	client := strings.TrimSpace(cfg.Value(sp, "client_id"))
	if tenant == "" || client == "" {
		return ""
	}
	return App{Login: strings.TrimRight(cfg.Value(sp, "login_url"), "/"), Tenant: tenant, ClientID: client}.ConsentURL()
}

// Error is Graph's error answer, {"error":{"code","message"}}, classified by the caller. It
// unwraps to the HTTP answer.
type Error struct {
	Status   int
	Code     string
	Message  string
	Location string // a 410's Location header: where a fresh delta enumeration starts
	answer   *httpx.StatusError
}

func (e *Error) Unwrap() error { return e.answer }

func (e *Error) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("graph answered %d", e.Status)
	}
	return fmt.Sprintf("graph answered %d %s: %s", e.Status, e.Code, e.Message)
}

// ParseError reads Graph's answer to a failed call (resp may be nil).
func ParseError(se *httpx.StatusError, resp *http.Response) *Error {
	ge := &Error{Status: se.Code, answer: se}
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(se.Body, &body) == nil {
		ge.Code, ge.Message = body.Error.Code, body.Error.Message
	}
	if resp != nil {
		ge.Location = resp.Header.Get("Location")
	}
	return ge
}

// As is err's *Error, if any.
func As(err error) (*Error, bool) {
	var ge *Error
	return ge, errors.As(err, &ge)
}

// IsStatus reports whether err is Graph's answer with status code.
func IsStatus(err error, code int) bool {
	ge, ok := As(err)
	return ok && ge.Status == code
}

// NoConsent reports whether ge is Graph's 401 for a token that carries no application permission
// at all (admin consent never given), and the error that says so.
func (a App) NoConsent(ge *Error) (error, bool) {
	if ge.Status != http.StatusUnauthorized || !strings.Contains(ge.Message, "scp or roles claim") {
		return nil, false
	}
	return fmt.Errorf("%w: Microsoft Graph refused the app's token: it carries no application permission (%s), so admin consent was not given in tenant %s: in the Entra admin center open App registrations > the app (client ID %s) > API permissions, add the Microsoft Graph application permissions %s and click 'Grant admin consent', or have a Global Administrator open %s",
		connector.ErrPermission, ge, a.Tenant, a.ClientID, strings.Join(a.Permissions, ", "), a.ConsentURL()), true
}

// RefusedToken is a Graph token refused twice: ErrAuth.
func RefusedToken(err error) error {
	if ge, ok := As(err); ok && ge.Status == http.StatusUnauthorized {
		return fmt.Errorf("%w: Microsoft Graph refused a fresh access token (%v): check that the app's client secret is current and the app is enabled in the tenant", connector.ErrAuth, ge)
	}
	return err
}

// Denied says which permission is missing when Graph answers 403: the app has some permissions but
// not need (Authorization_RequestDenied for the directory, accessDenied for files,
// ErrorAccessDenied for mail). hint, when not empty, is added (an Exchange access policy).
func (a App) Denied(err error, need, what, hint string) error {
	ge, ok := As(err)
	if !ok || ge.Status != http.StatusForbidden {
		return RefusedToken(err)
	}
	return fmt.Errorf("%w: Microsoft Graph refused %s (403 %s: %s): grant the Microsoft Graph application permission %s to the app (client ID %s) in the Entra admin center (App registrations > API permissions > Add a permission), then click 'Grant admin consent' (or open %s); a permission added without admin consent is not in the token%s",
		connector.ErrPermission, what, ge.Code, ge.Message, need, a.ClientID, a.ConsentURL(), hint)
}

var aadsts = regexp.MustCompile(`AADSTS(\d+)`)

// TokenError says what the admin must fix when Entra ID refuses the token request.
func (a App) TokenError(err error) error {
	var re *oauth.RefusedError
	if !errors.As(err, &re) {
		return fmt.Errorf("%s: requesting an access token from %s: %w", a.Product, a.Login, err)
	}
	code := ""
	if m := aadsts.FindStringSubmatch(re.Description); m != nil {
		code = m[1]
	}
	desc, _, _ := strings.Cut(re.Description, "\r\n") // drop the Trace ID, Correlation ID and Timestamp lines
	desc = strings.TrimSpace(strings.SplitN(desc, "\n", 2)[0])
	switch code {
	case "7000215", "7000222", "7000216":
		return fmt.Errorf("%w: Entra ID refused the client secret (%s): it is wrong or expired, or the Secret ID was pasted instead of its Value; in the Entra admin center open App registrations > the app (client ID %s) > Certificates & secrets, create a new client secret and paste its Value",
			connector.ErrAuth, desc, a.ClientID)
	case "700016":
		return fmt.Errorf("%w: Entra ID does not know application %s in tenant %s (%s): check the Application (client) ID and the Directory (tenant) ID; a multi-tenant app must be consented in this tenant by a Global Administrator: open %s",
			connector.ErrAuth, a.ClientID, a.Tenant, desc, a.ConsentURL())
	case "90002", "900023":
		return fmt.Errorf("%w: Entra ID does not know tenant %q (%s): enter the Directory (tenant) ID from the Entra admin center > Identity > Overview (or a verified domain of the tenant)",
			connector.ErrAuth, a.Tenant, desc)
	case "700023", "7000112", "7000229":
		return fmt.Errorf("%w: Entra ID refused application %s (%s): the app is disabled or has no service principal in tenant %s; grant admin consent: open %s",
			connector.ErrAuth, a.ClientID, desc, a.Tenant, a.ConsentURL())
	}
	return fmt.Errorf("%w: Entra ID refused the token request for application %s in tenant %s: %d %s: %s", connector.ErrAuth, a.ClientID, a.Tenant, re.Status, re.Code, desc)
}

// Rel is a link Graph gave (@odata.nextLink, @odata.deltaLink) relative to the connection's
// Graph URL base, as cursors keep it, so that a cursor follows the connection to another Graph
// URL (the demo's emulator on another port at each start). A link outside base is refused here,
// when Graph hands it over (ErrMalformed: the bearer token goes nowhere else), rather than stored
// and then taken for a position of another Graph URL (Foreign) at every read.
func Rel(base, link string) (string, error) {
	if strings.HasPrefix(link, "/") {
		return link, nil
	}
	if r, ok := strings.CutPrefix(link, base); ok && strings.HasPrefix(r, "/") {
		return r, nil
	}
	return "", fmt.Errorf("%w: a link outside %s: %.80q", connector.ErrMalformed, base, link)
}

// Foreign reports whether a stored link is absolute and outside base: a position taken while the
// connection had another Graph URL (cursors kept links whole before Rel; Rel refuses such a link
// from Graph itself, so a cursor never holds one otherwise). The bearer token must
// not go there, and the Graph at base cannot continue it, so the stream starts over as for a 410.
func Foreign(base, link string) bool {
	return !strings.HasPrefix(link, "/") && !strings.HasPrefix(link, base+"/")
}
