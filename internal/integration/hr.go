package integration

import (
	"context"
	"net/url"
	"regexp"
	"strings"

	"github.com/telltale-dev/telltale/internal/httpx"
	"github.com/telltale-dev/telltale/internal/store"
)

// Kinds of HR source (R7.2, internal/hr): inbound integrations that put people on the Departing
// employees watchlist with their departure date and take them off it. They are listed with the
// other integrations (and with the connections, as Automated integrations), have the same
// settings, sealed secrets, Connected or Disconnected status and condition, but never receive
// deliveries: a flow cannot send to one.
const (
	KindWorkday   = "workday"    // a Workday custom report (RaaS, JSON) polled over a rolling window
	KindBambooHR  = "bamboohr"   // BambooHR: employees changed since, and its signed webhook
	KindHRCSV     = "hr_csv"     // a CSV uploaded by an admin
	KindHRWebhook = "hr_webhook" // a generic webhook signed like Telltale's outbound webhook
)

// HRKinds lists the HR source kinds.
func HRKinds() []string { return []string{KindWorkday, KindBambooHR, KindHRCSV, KindHRWebhook} }

// IsHR reports whether kind is an HR source kind.
func IsHR(kind string) bool {
	switch kind {
	case KindWorkday, KindBambooHR, KindHRCSV, KindHRWebhook:
		return true
	}
	return false
}

// Defaults of HR sources.
const (
	DefaultWindowDays = 30                         // workday: how far back the report's window reaches
	MaxWindowDays     = 365                        //
	DefaultBambooAPI  = "https://api.bamboohr.com" // bamboohr: the API's base
)

var bambooCompany = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// validateHR checks an HR source's settings and secrets and clears the settings of other kinds.
func (s *Service) validateHR(ctx context.Context, kind string, st *Settings, sec Secrets) error {
	keep := Settings{}
	switch kind {
	case KindWorkday:
		keep.URL = strings.TrimSpace(st.URL)
		what := "url (the report's RaaS URL, e.g. https://wd2-impl-services1.workday.com/ccx/service/customreport2/acme/ISU_Telltale/Departures)"
		if err := s.checkURL(ctx, what, keep.URL); err != nil {
			return err
		}
		u, err := url.Parse(keep.URL)
		if err != nil || !strings.Contains(u.Path, "/ccx/service/customreport2/") || u.RawQuery != "" {
			return invalid("%s: give the report's URL without a query; its path contains /ccx/service/customreport2/<tenant>/<owner>/<report>", what)
		}
		keep.Username = strings.TrimSpace(st.Username)
		if keep.Username == "" || sec.Password == "" {
			return invalid("username and password are required: the integration system user (ISU) the report is shared with, and its password")
		}
		keep.WindowDays = st.WindowDays
		if keep.WindowDays == 0 {
			keep.WindowDays = DefaultWindowDays
		}
		if keep.WindowDays < 1 || keep.WindowDays > MaxWindowDays {
			return invalid("window_days must be 1 to %d (how many days back the report's termination dates reach)", MaxWindowDays)
		}
	case KindBambooHR:
		keep.Company = strings.ToLower(strings.TrimSpace(st.Company))
		if !bambooCompany.MatchString(keep.Company) {
			return invalid("company is required: the company's BambooHR subdomain (acme for acme.bamboohr.com)")
		}
		keep.APIBase = strings.TrimRight(strings.TrimSpace(st.APIBase), "/")
		if keep.APIBase == "" {
			keep.APIBase = DefaultBambooAPI
		}
		if err := s.checkURL(ctx, "api_base", keep.APIBase); err != nil {
			return err
		}
		if sec.Token == "" {
			return invalid("token is required: a BambooHR API key (your name > API Keys) of a user who can see work email, status and termination date")
		}
		if sec.SigningSecret != "" && len(sec.SigningSecret) < 16 {
			return invalid("signing_secret, when given, is the webhook's private key from BambooHR (Settings > Webhooks): at least 16 characters")
		}
	case KindHRCSV:
	case KindHRWebhook:
		if len(sec.SigningSecret) < 16 {
			return invalid("signing_secret must be at least 16 characters: the HMAC key the sender signs with")
		}
	}
	*st = keep
	return nil
}

// Secrets opens an integration's sealed secrets (for the HR sources, which run in internal/hr).
func (s *Service) Secrets(i store.Integration) (Secrets, error) { return s.secrets(i) }

// Guard is the SSRF guard that checks admin-typed URLs.
func (s *Service) Guard() *httpx.Guard { return s.o.Guard }

// Store is the service's store.
func (s *Service) Store() store.Store { return s.o.Store }
