package gmail

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"golang.org/x/oauth2/google"

	"github.com/telltale-dev/telltale/internal/connector"

	"github.com/telltale-dev/telltale/internal/connector/kit/googlekit"
	"github.com/telltale-dev/telltale/internal/httpx"
)

// Google's endpoints (the clients' defaults, spelled out so that an override is compared to them).
const (
	DefaultGmailURL     = "https://gmail.googleapis.com/"
	DefaultDirectoryURL = "https://admin.googleapis.com/"
	// DefaultJWKSURL is where Google publishes the keys that sign Pub/Sub's push OIDC tokens.
	DefaultJWKSURL = "https://www.googleapis.com/oauth2/v3/certs"
)

// The OAuth scopes the service account is delegated, all read-only; every token asks for all of
// them (one scope set per subject).
const (
	ScopeGmailReadonly = "https://www.googleapis.com/auth/gmail.readonly"
	ScopeUserReadonly  = "https://www.googleapis.com/auth/admin.directory.user.readonly"
	ScopeGroupReadonly = "https://www.googleapis.com/auth/admin.directory.group.readonly"
)

// Scopes are the scopes to delegate, in the order the admin console lists them.
var Scopes = []string{ScopeGmailReadonly, ScopeUserReadonly, ScopeGroupReadonly}

// Connector is the Gmail data connector: every in-scope user's mailbox is a drive (Kind "mailbox")
// whose stream is history.list of the messages added with label SENT; every attachment of a sent
// message is a file-emailed event, its MD5 and SHA-256 computed by ingest from attachments.get.
type Connector struct{}

var (
	_ connector.Connector    = Connector{}
	_ connector.RecordReader = Connector{}
)

// New returns the Gmail connector.
func New() Connector { return Connector{} }

// Spec declares the Gmail settings, scopes and setup steps.
func (Connector) Spec() connector.Spec {
	return connector.Spec{
		Service: "gmail", Title: "Gmail", ServiceType: "email",
		// Gmail gives no hash of an attachment: Telltale computes MD5 and SHA-256 by streaming it
		// (R3.10, R4.3); the contents are not stored (R4.4).
		Hashes: nil,
		Fields: []connector.Field{
			{Name: "service_account_key", Label: "Service account key (JSON)", Required: true, Secret: true,
				Help: "Google Cloud console > IAM & Admin > Service accounts > your account > Keys > Add key > JSON: paste the whole file."},
			{Name: "admin_email", Label: "Admin email", Required: true,
				Help: "A super administrator of the domain: Telltale acts as this user (domain-wide delegation) to list users and groups."},
			{Name: "customer", Label: "Customer ID or primary domain", Tenant: true, Default: "my_customer",
				Help: "Admin console > Account > Account settings > Customer ID (or the primary domain); empty: the admin's own account. Verify records the customer ID."},
			{Name: "pubsub_topic", Label: "Pub/Sub topic for push (optional)",
				Help: "projects/<project>/topics/<name> in the service account's project, with gmail-api-push@system.gserviceaccount.com allowed to publish and a push subscription to Telltale's webhook URL with authentication on. Empty: mailboxes are polled."},
			{Name: "push_service_account", Label: "Push subscription's service account",
				Help: "The service account the Pub/Sub push subscription authenticates as (the email in its OIDC token). Required with a topic."},
			{Name: "push_audience", Label: "Push subscription's audience",
				Help: "The audience set on the push subscription; empty: Telltale's webhook URL (Pub/Sub's default)."},
			{Name: "token_url", Label: "Token URL", Advanced: true, URL: true,
				Help: "Only for the built-in emulator or a proxy: replaces the key's token_uri."},
			{Name: "gmail_url", Label: "Gmail API URL", Default: DefaultGmailURL, Advanced: true, URL: true,
				Help: "Only for a proxy or the built-in emulator (the host root)."},
			{Name: "directory_url", Label: "Directory API URL", Default: DefaultDirectoryURL, Advanced: true, URL: true,
				Help: "Only for a proxy or the built-in emulator (the host root)."},
			{Name: "jwks_url", Label: "Google signing keys URL", Default: DefaultJWKSURL, Advanced: true, URL: true,
				Help: "Where the keys of Pub/Sub's push tokens are published; only for the built-in emulator or a proxy."},
		},
		Permissions: []connector.Permission{
			{Name: ScopeGmailReadonly, Why: "to read the messages each in-scope user sends (history.list with label SENT, messages.get format=full: the attachments' names, sizes, types and recipients) and download attachments to compute MD5/SHA-256 (R4.3); gmail.metadata has no MIME part tree, so no attachments. Read-only: Telltale never sends, changes or deletes mail (R1.12)"},
			{Name: ScopeUserReadonly, Why: "to list the domain's users and their status, so in-scope mailboxes are found and suspended or archived users skipped (R4.1, R3.9)"},
			{Name: ScopeGroupReadonly, Why: "to resolve a groups scope into members, nested groups included (R2.5-R2.7)"},
		},
		Steps: []string{
			"In the Google Cloud console create a project (or pick one), enable the Gmail API and the Admin SDK API, and create a service account in it.",
			"Under the service account's Keys, add a JSON key and download it; note the account's client ID (Details > Unique ID).",
			"In the Google Admin console open Security > Access and data control > API controls > Manage Domain Wide Delegation, click Add new, enter the client ID and exactly the scopes listed below (comma-separated), and authorize.",
			"Optional, for push (seconds instead of the poll interval): create a Pub/Sub topic in the same project, grant gmail-api-push@system.gserviceaccount.com the Pub/Sub Publisher role on it, and add a push subscription to Telltale's webhook URL for this connection with authentication enabled (a service account of yours); enter the topic and that service account here.",
			"Paste the JSON key and the email of a super administrator into Telltale; delegation can take a few minutes to apply, then Verify.",
		},
		// The suite and R3.4-like latency for new mailboxes: a users.list page per 500 users is
		// cheap. R4.2's "daily at midnight" is not expressible as an interval.
		DiscoveryInterval: 5 * time.Minute,
		PollInterval:      5 * time.Minute, // R4.5: searchable within 30 minutes at worst
		// After a 404 on history, sent mail is listed again from resyncOverlap before the last
		// position; a connection stopped longer than a history id lives (a week or more) re-reads
		// that overlap: two weeks cover a stop of a week past the history's life.
		DedupeHorizon: 14 * 24 * time.Hour,
	}
}

// ReadRecords reads exported messages (users.messages.get format=full) and adapts each without
// calling Google, the sender taken from each message's From header (telltale normalize).
func (Connector) ReadRecords(r io.Reader, fn func(line int, rec connector.Record, err error) error) error {
	return ReadRecords(r, "", fn)
}

// Open starts a session. It reads the key and checks the URLs; it does not call Google.
func (c Connector) Open(ctx context.Context, cfg connector.Config, deps connector.Deps) (connector.Session, error) {
	sp := c.Spec()
	if err := sp.Validate(cfg); err != nil {
		return nil, err
	}
	deps = deps.WithDefaults()
	key := []byte(cfg.Value(sp, "service_account_key"))
	jc, err := google.JWTConfigFromJSON(key, Scopes...)
	if err != nil {
		return nil, connector.ConfigError{{Field: "service_account_key", Secret: true,
			Message: fmt.Sprintf("the service account key is not a Google service account JSON key (%v): download a new JSON key from the Cloud console", err)}}
	}
	var kf struct {
		ClientID  string `json:"client_id"`
		ProjectID string `json:"project_id"`
	}
	_ = json.Unmarshal(key, &kf) // JWTConfigFromJSON read it already
	if t := cfg.Value(sp, "token_url"); t != "" {
		jc.TokenURL = t
	}
	topic := strings.TrimSpace(cfg.Value(sp, "pubsub_topic"))
	pushSA := strings.ToLower(strings.TrimSpace(cfg.Value(sp, "push_service_account")))
	if topic != "" && pushSA == "" {
		return nil, connector.ConfigError{{Field: "push_service_account",
			Message: "push_service_account is required with pubsub_topic: enter the service account the Pub/Sub push subscription authenticates as"}}
	}
	if topic != "" && !topicRE.MatchString(topic) {
		return nil, connector.ConfigError{{Field: "pubsub_topic",
			Message: fmt.Sprintf("pubsub_topic %q is not projects/<project>/topics/<name>", topic)}}
	}
	gmailURL := strings.TrimRight(cfg.Value(sp, "gmail_url"), "/") + "/"
	dirURL := strings.TrimRight(cfg.Value(sp, "directory_url"), "/") + "/"
	jwksURL := cfg.Value(sp, "jwks_url")
	var guard *httpx.Guard
	if gmailURL != DefaultGmailURL || dirURL != DefaultDirectoryURL || jwksURL != DefaultJWKSURL || cfg.Value(sp, "token_url") != "" {
		guard = &httpx.Guard{AllowLoopback: deps.AllowLoopback}
		for _, u := range []struct{ name, v string }{{"gmail_url", gmailURL}, {"directory_url", dirURL}, {"token_url", jc.TokenURL}, {"jwks_url", jwksURL}} {
			if err := guard.CheckURL(u.v); err != nil {
				return nil, fmt.Errorf("gmail: %s: %w", u.name, err)
			}
		}
	}
	onThrottle := deps.OnThrottle
	ho := httpx.Options{
		Timeout: 60 * time.Second, Guard: guard, Log: deps.Log, UserAgent: "telltale-gmail/1",
		Classify: googlekit.ClassifyAnswer, ThrottleWait: googlekit.Backoff,
		OnThrottle: func(_ string, until time.Time) {
			if onThrottle != nil {
				onThrottle(until)
			}
		},
	}
	if deps.Sleep != nil {
		ho.Now, ho.Sleep = deps.Clock.Now, deps.Sleep
	}
	customer := cfg.Value(sp, "customer")
	if customer == "" {
		customer = cmpOr(cfg.TenantID, "my_customer")
	}
	hc := httpx.New(ho)
	g := &googlekit.Client{Product: product, JWT: *jc, HC: hc, Clock: deps.Clock, ClientID: kf.ClientID}
	admin := strings.ToLower(strings.TrimSpace(cfg.Value(sp, "admin_email")))
	s := &session{
		g: g, dir: googlekit.Directory{C: g, Admin: admin, Customer: customer}, hc: hc, deps: deps, log: deps.Log,
		admin: admin, customer: customer, gmailURL: gmailURL, dirURL: dirURL,
		topic: topic, pushSA: pushSA, audience: strings.TrimSpace(cfg.Value(sp, "push_audience")), jwksURL: jwksURL,
	}
	if s.svcs, err = newServices(g, gmailURL, dirURL); err != nil {
		return nil, err
	}
	if s.audience == "" {
		s.audience = deps.PushURL
	}
	return s, nil
}

// product is how the connector's errors name it and what the admin sets up (googlekit).
var product = googlekit.Product{Name: "gmail", Scopes: Scopes, APIs: "Gmail API and Admin SDK API"}

// session is one connection's work with Google.
type session struct {
	g    *googlekit.Client   // acts as any user of the domain
	dir  googlekit.Directory // the domain's users and groups, as the admin
	hc   *httpx.Client       // also for Google's signing keys (push.go)
	deps connector.Deps
	log  *slog.Logger
	// admin is the super administrator Telltale acts as for the Directory.
	admin    string
	customer string // my_customer, a customer id, or a domain
	gmailURL string
	dirURL   string

	// Push (push.go): the topic users.watch names, and what a push's OIDC token must say.
	topic, pushSA, audience, jwksURL string
	keys                             jwks

	parts partCache // message parts by id, for Content

	svcs *services // Google's generated clients, for every mailbox (as)
}

var (
	_ connector.Session = (*session)(nil)
	_ connector.Pusher  = (*session)(nil)
)

func (s *session) Close() error { return nil }

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
