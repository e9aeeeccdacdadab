package googledrive

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2/google"
	"golang.org/x/sync/singleflight"

	"github.com/telltale-dev/telltale/internal/connector"

	"github.com/telltale-dev/telltale/internal/connector/kit/googlekit"
	"github.com/telltale-dev/telltale/internal/httpx"
)

// Google's endpoints (the clients' defaults, spelled out so that an override is compared to them).
const (
	DefaultDriveURL     = "https://www.googleapis.com/drive/v3/"
	DefaultDirectoryURL = "https://admin.googleapis.com/"
)

// The OAuth scopes the service account is delegated, all read-only; every token asks for all of
// them (one scope set per subject: a token with fewer would be a second grant to keep).
const (
	ScopeDriveReadonly = "https://www.googleapis.com/auth/drive.readonly"
	ScopeUserReadonly  = "https://www.googleapis.com/auth/admin.directory.user.readonly"
	ScopeGroupReadonly = "https://www.googleapis.com/auth/admin.directory.group.readonly"
	ScopeReportsAudit  = "https://www.googleapis.com/auth/admin.reports.audit.readonly"
)

// DefaultRateLimit is Google's per-user Drive API quota: queries per minute per user.
const DefaultRateLimit = 12000

// Scopes are the scopes to delegate, in the order the admin console lists them.
var Scopes = []string{ScopeDriveReadonly, ScopeUserReadonly, ScopeGroupReadonly, ScopeReportsAudit}

// Connector is the Google Drive data connector: Directory users and groups, every user's My Drive
// and every shared drive, crawled with files.list and followed by each drive's changes feed, and
// the Reports API's Drive audit log as a tenant stream; an action both report is one event.
type Connector struct{}

var (
	_ connector.Connector    = Connector{}
	_ connector.RecordReader = Connector{}
)

// New returns the Google Drive connector.
func New() Connector { return Connector{} }

// Spec declares the Google Drive settings, scopes and setup steps.
func (Connector) Spec() connector.Spec {
	return connector.Spec{
		Service: "google_drive", Title: "Google Drive", ServiceType: "cloud",
		// Drive gives md5Checksum and sha256Checksum (Telltale's MD5 and SHA-256) for binary files,
		// and sha1Checksum; Docs editors files have none and are not downloadable.
		Hashes: []string{"md5", "sha256"},
		// Docs editors files (Docs, Sheets, Slides, ...) have no bytes: Drive exports renderings.
		NoContent: []string{"application/vnd.google-apps."},
		Fields: []connector.Field{
			{Name: "service_account_key", Label: "Service account key (JSON)", Required: true, Secret: true,
				Help: "Google Cloud console > IAM & Admin > Service accounts > your account > Keys > Add key > JSON: paste the whole file."},
			{Name: "admin_email", Label: "Admin email", Required: true,
				Help: "A super administrator of the domain: Telltale acts as this user (domain-wide delegation) to list users, groups and shared drives."},
			{Name: "customer", Label: "Customer ID or primary domain", Tenant: true, Default: "my_customer",
				Help: "Admin console > Account > Account settings > Customer ID (or the primary domain); empty: the admin's own account. Verify records the customer ID."},
			{Name: "reports_overlap", Label: "Reports API overlap", Default: reportsOverlap.String(), Advanced: true,
				Help: "How far back each poll of the Reports API reads again (a Go duration, 1m to 48h): Google lists Drive activity 30 minutes to 3 hours late, so a shorter overlap can miss actions. Shorten only for the built-in emulator."},
			{Name: "rate_limit", Label: "Requests per minute per user", Default: strconv.Itoa(DefaultRateLimit), Advanced: true,
				Help: "Google allows 12,000 Drive API queries per minute per user (a project's quota can be lower: Cloud console > APIs & Services > Google Drive API > Quotas); Telltale paces each user just below. 0: no pace (throttles are still honoured)."},
			{Name: "token_url", Label: "Token URL", Advanced: true, URL: true,
				Help: "Only for the built-in emulator or a proxy: replaces the key's token_uri."},
			{Name: "drive_url", Label: "Drive API URL", Default: DefaultDriveURL, Advanced: true, URL: true,
				Help: "Only for a proxy or the built-in emulator (ends in /drive/v3/)."},
			{Name: "directory_url", Label: "Directory API URL", Default: DefaultDirectoryURL, Advanced: true, URL: true,
				Help: "Only for a proxy or the built-in emulator (the host root)."},
		},
		Permissions: []connector.Permission{
			{Name: ScopeDriveReadonly, Why: "to list every user's and shared drive's files, follow each drive's changes feed and download binary files for MD5/SHA-256 where Drive gives none (R3.2, R3.10); read-only: Telltale never writes, moves or deletes content (R1.12)"},
			{Name: ScopeUserReadonly, Why: "to list the domain's users and their status, so in-scope drives are found and suspended or archived users skipped (R3.1, R3.9)"},
			{Name: ScopeGroupReadonly, Why: "to resolve a groups scope into members, nested groups included (R2.5-R2.7), and to find who can read a shared drive whose members are groups"},
			{Name: ScopeReportsAudit, Why: "to read the Drive audit log (Reports API): who acted and from which IP address, and the downloads, views and sharing changes no changes feed shows"},
		},
		Steps: []string{
			"In the Google Cloud console create a project (or pick one), enable the Google Drive API and the Admin SDK API, and create a service account in it.",
			"Under the service account's Keys, add a JSON key and download it; note the account's client ID (Details > Unique ID).",
			"In the Google Admin console open Security > Access and data control > API controls > Manage Domain Wide Delegation, click Add new, enter the client ID and exactly the scopes listed below (comma-separated), and authorize.",
			"Paste the JSON key and the email of a super administrator into Telltale; delegation can take a few minutes to apply, then Verify.",
		},
		DiscoveryInterval: 5 * time.Minute, // like Box: new drives are found within minutes (R3.4)
		PollInterval:      5 * time.Minute,
		DriveLimit:        55000, // R1.9: Google Drive connections monitor up to 55,000 drives
		// The Reports stream re-reads a 3 h overlap (NOTES Corrections 11: records arrive up to 3
		// hours late); a day's margin covers a poll interrupted for hours.
		DedupeHorizon: reportsOverlap + 24*time.Hour,
		// An action is read from the drive's changes feed (seconds) and from the Reports API (hours
		// later): one event, the changes feed's file state kept (ARCHITECTURE, "two feeds").
		StateFeed:    feedChanges,
		MergeHorizon: 3 * 24 * time.Hour,
	}
}

// ReadRecords reads exported Reports API Drive activities and adapts each without calling Google
// (telltale normalize).
func (Connector) ReadRecords(r io.Reader, fn func(line int, rec connector.Record, err error) error) error {
	return ReadRecords(r, Options{}, fn)
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
	driveURL := strings.TrimRight(cfg.Value(sp, "drive_url"), "/") + "/"
	dirURL := strings.TrimRight(cfg.Value(sp, "directory_url"), "/") + "/"
	var guard *httpx.Guard
	if driveURL != DefaultDriveURL || dirURL != DefaultDirectoryURL || cfg.Value(sp, "token_url") != "" {
		guard = &httpx.Guard{AllowLoopback: deps.AllowLoopback}
		for _, u := range []struct{ name, v string }{{"drive_url", driveURL}, {"directory_url", dirURL}, {"token_url", jc.TokenURL}} {
			if err := guard.CheckURL(u.v); err != nil {
				return nil, fmt.Errorf("google drive: %s: %w", u.name, err)
			}
		}
	}
	onThrottle := deps.OnThrottle
	ho := httpx.Options{
		Timeout: 60 * time.Second, Guard: guard, Log: deps.Log, UserAgent: "telltale-google-drive/1",
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
	overlap, err := time.ParseDuration(cmpOr(cfg.Value(sp, "reports_overlap"), reportsOverlap.String()))
	if err != nil || overlap < time.Minute || overlap > 48*time.Hour {
		return nil, connector.ConfigError{{Field: "reports_overlap",
			Message: fmt.Sprintf("the Reports API overlap %q is not a duration between 1m and 48h (for example 3h15m)", cfg.Value(sp, "reports_overlap"))}}
	}
	rate, err := strconv.Atoi(cmpOr(cfg.Value(sp, "rate_limit"), strconv.Itoa(DefaultRateLimit)))
	if err != nil || rate < 0 {
		return nil, connector.ConfigError{{Field: "rate_limit", Message: fmt.Sprintf("the rate limit %q is not a number of requests per minute", cfg.Value(sp, "rate_limit"))}}
	}
	customer := cfg.Value(sp, "customer")
	if customer == "" {
		customer = cmpOr(cfg.TenantID, "my_customer")
	}
	hc := httpx.New(ho)
	if rate > 0 {
		// Pace every impersonated user just under the quota, so that throttles stay rare (R3.7):
		// found by hitting it, each throttle costs Google's backoff of a second or more.
		hc.SetRate("", float64(rate)*0.97, 1)
	}
	g := &googlekit.Client{Product: product, JWT: *jc, HC: hc, Clock: deps.Clock, ClientID: kf.ClientID}
	admin := strings.ToLower(strings.TrimSpace(cfg.Value(sp, "admin_email")))
	s := &session{
		g: g, dir: googlekit.Directory{C: g, Admin: admin, Customer: customer}, deps: deps, log: deps.Log,
		admin: admin, clientIDFromKey: kf.ClientID, projectFromKey: kf.ProjectID,
		customer: customer, driveURL: driveURL, dirURL: dirURL, overlap: overlap,
		folders: map[string]folder{}, members: map[string]string{},
		chanKey: channelKeyOf(jc.PrivateKey, cfg.ConnectionID),
	}
	if s.svcs, err = newServices(g, driveURL, dirURL); err != nil {
		return nil, err
	}
	return s, nil
}

// product is how the connector's errors name it and what the admin sets up (googlekit).
var product = googlekit.Product{Name: "google drive", Scopes: Scopes, APIs: "Google Drive API and Admin SDK API"}

// session is one connection's work with Google.
type session struct {
	g     *googlekit.Client   // acts as any user of the domain
	dir   googlekit.Directory // the domain's users and groups, as the admin
	deps  connector.Deps
	log   *slog.Logger
	admin string
	// clientIDFromKey is the key's client_id: the id the admin console's delegation asks for.
	clientIDFromKey string
	projectFromKey  string        // the key's project_id
	customer        string        // my_customer, a customer id, or a domain
	overlap         time.Duration // how far back each Reports API poll reads again
	driveURL        string
	dirURL          string

	svcs *services // Google's generated clients, for every user (as)

	mu      sync.Mutex
	folders map[string]folder // folder id -> name and parent, for paths (see paths.go)
	members map[string]string // shared drive id -> the member Telltale acts as
	// choosing makes one members lookup per shared drive at a time: the index and the stream of a
	// drive both ask for its actor, and two identical permissions.list calls spend the quota twice
	// (and, throttled, back off as one request to Google).
	choosing singleflight.Group

	// chanKey signs push channel tokens (push.go); pushSeen keeps each channel's last message
	// number.
	chanKey  []byte
	pushSeen pushSeen
}

var _ connector.Session = (*session)(nil)

func (s *session) Close() error { return nil }
