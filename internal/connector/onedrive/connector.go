// Package onedrive is the OneDrive for Business data connector (issue 15): Entra ID users and
// groups through Microsoft Graph, each in-scope user's OneDrive crawled with driveItem delta and
// then followed by that drive's own delta stream (feed "delta"), whose file states become action
// records by comparison with the file index, woken by Graph change notifications (push.go); the
// Office 365 Management Activity API's Audit.SharePoint content as the tenant stream "audit" (who
// did what: downloads, views, the actors of deletes and shares), each action both feeds report
// merged into one event (ingest, merge.go) because both name the file by its driveItem id
// (resolve.go); content downloaded through Graph's pre-authenticated URLs. It talks to Microsoft
// with a thin REST client (client.go, audit.go) over Telltale's httpx and the kit's
// client-credentials token source: no msgraph-sdk-go, no azidentity (vendor NOTES 3f and
// Corrections 7). Not registered yet (internal/connector/all), see docs/connectors/onedrive.md.
package onedrive

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/connector/kit/graphkit"
	"github.com/telltale-dev/telltale/internal/httpx"
)

// Microsoft's endpoints: the Entra ID authority (the token URL is {authority}/{tenant}/oauth2/v2.0/token)
// and Graph v1.0.
const (
	DefaultLoginURL = "https://login.microsoftonline.com"
	DefaultGraphURL = "https://graph.microsoft.com/v1.0"
)

// The Graph application permissions (app roles) the connector needs, all read-only.
const (
	PermFilesReadAll       = "Files.Read.All"
	PermUserReadAll        = "User.Read.All"
	PermGroupMemberReadAll = "GroupMember.Read.All"
)

// Permissions are the Microsoft Graph application permissions to grant, in the order the Entra
// admin center lists them; the audit stream also needs PermActivityFeedRead of the Office 365
// Management APIs.
var Permissions = []string{PermFilesReadAll, PermGroupMemberReadAll, PermUserReadAll}

// DefaultRateLimit is the pace of the connection's Graph requests, per minute: Graph's limits for
// OneDrive are resource units per app per tenant with no one published number; 1,200 a minute
// (20 a second) is the drive pace Corso found to hold (NOTES 3d) and the emulator's default.
const DefaultRateLimit = 1200

// graphScope is the client-credentials scope of Graph: every application permission consented.
const graphScope = "https://graph.microsoft.com/.default"

// Connector is the OneDrive for Business data connector.
type Connector struct{}

var (
	_ connector.Connector    = Connector{}
	_ connector.RecordReader = Connector{}
)

// New returns the OneDrive for Business connector.
func New() Connector { return Connector{} }

// deltaKey names each drive's delta stream; it is also the feed of its records (Record.Feed), so
// that the Management Activity API's records of the same actions (part 2) merge with them.
const deltaKey = "delta"

// Spec declares the OneDrive settings, permissions and setup steps.
func (Connector) Spec() connector.Spec {
	return connector.Spec{
		Service: "onedrive", Title: "OneDrive for Business", ServiceType: "cloud",
		// quickXorHash is the one hash OneDrive for Business guarantees (NOTES 3a); Telltale's MD5
		// and SHA-256 are computed by downloading.
		Hashes: []string{"quick_xor"},
		Fields: []connector.Field{
			{Name: "tenant_id", Label: "Directory (tenant) ID", Required: true, Tenant: true,
				Help: "Entra admin center > Identity > Overview > Tenant ID (a GUID: the Management Activity API takes nothing else)."},
			{Name: "client_id", Label: "Application (client) ID", Required: true,
				Help: "Entra admin center > App registrations > your app > Overview > Application (client) ID."},
			{Name: "client_secret", Label: "Client secret", Required: true, Secret: true,
				Help: "App registrations > your app > Certificates & secrets > New client secret: paste its Value (not its Secret ID)."},
			{Name: "login_url", Label: "Entra ID authority", Default: DefaultLoginURL, Advanced: true, URL: true,
				Help: "Only for a national cloud, a proxy or the built-in emulator: the authority tokens are requested from."},
			{Name: "graph_url", Label: "Microsoft Graph URL", Default: DefaultGraphURL, Advanced: true, URL: true,
				Help: "Only for a national cloud, a proxy or the built-in emulator (ends in /v1.0)."},
			{Name: "manage_url", Label: "Management Activity API URL", Default: DefaultManageURL, Advanced: true, URL: true,
				Help: "Only for a government cloud (GCC https://manage-gcc.office.com, GCC High https://manage.office365.us, DoD https://manage.protection.apps.mil), a proxy or the built-in emulator: the host the audit log is read from."},
			{Name: "rate_limit", Label: "Graph requests per minute", Default: strconv.Itoa(DefaultRateLimit), Advanced: true,
				Help: "Telltale paces the connection's Microsoft Graph requests just below this many a minute, so that Graph seldom answers 429 (every 429's Retry-After is honoured anyway). Raise it for a large tenant that Graph allows more; 0: no pace."},
			{Name: "audit_overlap", Label: "Audit log overlap", Default: defaultAuditOverlap.String(), Advanced: true,
				Help: "How far back each poll of the Management Activity API reads again (a Go duration, 1m to 24h): Microsoft lists OneDrive activity typically 60 to 90 minutes late with no guaranteed maximum, so a shorter overlap can miss actions. Shorten only for the built-in emulator."},
		},
		Permissions: []connector.Permission{
			{Name: PermFilesReadAll, Why: "to crawl every in-scope user's OneDrive with delta, follow each drive's changes, read who a changed file is shared with, and download content for MD5/SHA-256 (R3.2, R3.5, R3.10); read-only: Telltale never writes, moves or deletes content (R1.12)"},
			{Name: PermGroupMemberReadAll, Why: "to resolve a groups scope into its members, nested groups included (R2.5-R2.7)"},
			{Name: PermUserReadAll, Why: "to list the tenant's users, skip disabled accounts (R3.9), find each user's OneDrive and name the people who change files"},
			{Name: PermActivityFeedRead, Why: "Office 365 Management APIs (not Graph): to read the tenant's Audit.SharePoint log, who downloaded, viewed, shared, deleted or changed each file and from which IP address, which delta does not say (R3.5)"},
		},
		Steps: []string{
			"In the Microsoft Entra admin center open Identity > Applications > App registrations > New registration; name it (e.g. Telltale), choose 'Accounts in this organizational directory only' and register.",
			"On the app's Overview copy the Application (client) ID and the Directory (tenant) ID.",
			"Open Certificates & secrets > Client secrets > New client secret; copy its Value at once (it is shown once) and note when it expires.",
			"Open API permissions > Add a permission > Microsoft Graph > Application permissions and add Files.Read.All, GroupMember.Read.All and User.Read.All; then Add a permission > Office 365 Management APIs > Application permissions and add ActivityFeed.Read.",
			"Make sure unified audit logging is on (Microsoft Purview portal > Audit: 'Start recording user and admin activity'); Telltale starts the Audit.SharePoint subscription itself, and Microsoft can take up to 12 hours to deliver its first audit content.",
			"Click 'Grant admin consent for <your organization>' (a Global Administrator or Privileged Role Administrator must do it), or open the admin-consent URL Telltale shows, then Verify.",
		},
		DiscoveryInterval: 8 * time.Hour, // R3.4: new OneDrives within 8 hours
		PollInterval:      5 * time.Minute,
		DriveLimit:        55000, // R1.9
		// A delta round may repeat an item (Graph: "use the last occurrence"), and a resync re-reads
		// a whole drive; the Management Activity API repeats records across blobs, each poll
		// re-reads the overlap, and content is kept 7 days (NOTES 3b): a record can come again for
		// that long.
		DedupeHorizon: 7 * 24 * time.Hour,
		// Delta's file state (name, path, size, quickXorHash) wins over the Management Activity
		// API's when their events merge.
		StateFeed:    deltaKey,
		MergeHorizon: 3 * 24 * time.Hour,
	}
}

// ConsentURL implements connector.Consenter.
func (c Connector) ConsentURL(cfg connector.Config) string {
	return graphkit.ConsentURLOf(c.Spec(), cfg)
}

// Open starts a session: it checks the settings and the URLs (the SSRF guard) and calls nothing.
func (c Connector) Open(ctx context.Context, cfg connector.Config, deps connector.Deps) (connector.Session, error) {
	sp := c.Spec()
	if err := sp.Validate(cfg); err != nil {
		return nil, err
	}
	deps = deps.WithDefaults()
	tenant := strings.TrimSpace(cfg.Value(sp, "tenant_id"))
	if tenant == "" {
		tenant = cfg.TenantID
	}
	login := strings.TrimRight(cfg.Value(sp, "login_url"), "/")
	graph := strings.TrimRight(cfg.Value(sp, "graph_url"), "/")
	manage := strings.TrimRight(cfg.Value(sp, "manage_url"), "/")
	overlap, err := time.ParseDuration(cfg.Value(sp, "audit_overlap"))
	if err != nil || overlap < time.Minute || overlap > 24*time.Hour {
		return nil, connector.ConfigError{{Field: "audit_overlap",
			Message: fmt.Sprintf("the audit log overlap %q is not a duration between 1m and 24h (for example 3h)", cfg.Value(sp, "audit_overlap"))}}
	}
	rate, err := strconv.Atoi(strings.TrimSpace(cfg.Value(sp, "rate_limit")))
	if err != nil || rate < 0 {
		return nil, connector.ConfigError{{Field: "rate_limit",
			Message: fmt.Sprintf("the rate limit %q is not a number of Graph requests per minute (for example %d; 0 for no pace)", cfg.Value(sp, "rate_limit"), DefaultRateLimit)}}
	}
	guard := &httpx.Guard{AllowLoopback: deps.AllowLoopback}
	for _, u := range []struct{ name, v, def string }{{"login_url", login, DefaultLoginURL}, {"graph_url", graph, DefaultGraphURL}, {"manage_url", manage, DefaultManageURL}} {
		if u.v == u.def {
			continue // Microsoft's own: checked when dialed (the guard's transport), not resolved here
		}
		if err := guard.CheckURL(u.v); err != nil {
			return nil, connector.ConfigError{{Field: u.name, Message: fmt.Sprintf("onedrive: %s: %v", u.name, err)}}
		}
	}
	onThrottle := deps.OnThrottle
	ho := httpx.Options{
		Timeout: 60 * time.Second, Guard: guard, Log: deps.Log, UserAgent: "ISV|Telltale|telltale-onedrive/1",
		// Graph's pre-authenticated download URLs must not get the bearer token (noAuthOnRedirect).
		Transport: noAuthOnRedirect{guard.Transport()},
		Classify:  classifyManage,
		OnThrottle: func(_ string, until time.Time) {
			if onThrottle != nil {
				onThrottle(until)
			}
		},
	}
	if deps.Sleep != nil {
		ho.Now, ho.Sleep = deps.Clock.Now, deps.Sleep
	}
	hc := httpx.New(ho)
	if rate > 0 {
		// Every Graph call of the connection, content included, shares the pace (keyGraph):
		// Graph counts them all against the app in the tenant. Just below the limit, no burst.
		hc.SetRate(keyGraph, float64(rate)*0.97, 1)
	}
	s := &session{
		deps: deps, log: deps.Log, tenant: tenant, clientID: strings.TrimSpace(cfg.Value(sp, "client_id")),
		login: login, graph: graph, overlap: overlap, res: newResolver(),
		folders: newCache[string, folder](folderCache), people: newCache[string, string](cacheSize),
		stateKey: clientStateKey(cfg.Value(sp, "client_secret"), cfg.ConnectionID, tenant),
	}
	s.api = newGraphClient(hc, s, cfg.Value(sp, "client_secret"))
	s.mgmt = newManageClient(hc, s, cfg.Value(sp, "client_secret"), manage)
	return s, nil
}

// session is one connection's work with Microsoft.
type session struct {
	api      *graphClient
	mgmt     *manageClient
	res      *resolver     // GUIDs and sites of audit records (resolve.go)
	overlap  time.Duration // how far back each audit poll reads again
	stateKey []byte        // signs subscriptions' clientState (push.go)
	deps     connector.Deps
	log      *slog.Logger
	tenant   string
	clientID string
	login    string // authority, no trailing slash
	graph    string // Graph v1.0 base, no trailing slash

	folders *cache[string, folder] // folder item id -> name and parent, for paths (delta has no parentReference.path)
	people  *cache[string, string] // Entra user id -> userPrincipalName (lower case, "" unknown), for actors
}

var _ connector.Session = (*session)(nil)

func (s *session) Close() error { return nil }

// ReadRecords reads exported Management Activity API records (a content blob's JSON array, JSON
// lines, or a page under "value") and adapts each without calling Microsoft (telltale normalize):
// files are named by their ListItemUniqueId, which only Graph turns into a driveItem id.
func (Connector) ReadRecords(r io.Reader, fn func(line int, rec connector.Record, err error) error) error {
	return ReadRecords(r, fn)
}

// adminConsentURL is where a Global Administrator grants the app's permissions in the tenant.
func (s *session) adminConsentURL() string {
	return s.app().ConsentURL()
}

// noAuthOnRedirect drops the Authorization header from a request made by following a redirect:
// Graph's content download answers 302 to a pre-authenticated URL ("the URL is pre-authenticated;
// no Authorization header is needed"), which must never see the bearer token, whatever its host
// (net/http keeps the header when the host is the same, as with the emulator).
type noAuthOnRedirect struct{ next http.RoundTripper }

func (t noAuthOnRedirect) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Response != nil && req.Header.Get("Authorization") != "" {
		req = req.Clone(req.Context())
		req.Header.Del("Authorization")
	}
	return t.next.RoundTrip(req)
}
