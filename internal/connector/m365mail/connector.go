// Package m365mail is the Microsoft 365 mail data connector (service microsoft365_mail, issue 15):
// every in-scope Entra ID user's Exchange Online mailbox is a drive (Kind "mailbox") followed by
// Graph message delta on its sent items (stream.go); every attachment of a sent message is a
// file-emailed event, its MD5 and SHA-256 computed by ingest from the attachment's $value
// (Content); a referenceAttachment (a link to a cloud file) is a file-shared event (adapt.go).
// Graph change notifications on each mailbox's sent items wake its stream (push.go).
//
// It talks to Entra ID and Graph with a thin REST client (client.go) over Telltale's httpx and the
// kit's client-credentials token source: no msgraph-sdk-go, no azidentity (vendor NOTES 3f,
// Corrections 7). The client, the token error wording and the directory calls are copied from the
// OneDrive connector (internal/connector/onedrive), kept small: connectors may not import each
// other (internal/archtest), and each says what to grant in its own words.
package m365mail

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
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
	PermMailRead           = "Mail.Read"
	PermUserReadAll        = "User.Read.All"
	PermGroupMemberReadAll = "GroupMember.Read.All"
)

// Permissions are the application permissions to grant, in the order the Entra admin center
// lists them.
var Permissions = []string{PermGroupMemberReadAll, PermMailRead, PermUserReadAll}

// graphScope is the client-credentials scope of Graph: every application permission consented.
const graphScope = "https://graph.microsoft.com/.default"

// Connector is the Microsoft 365 mail data connector.
type Connector struct{}

var _ connector.Connector = Connector{}

// New returns the Microsoft 365 mail connector.
func New() Connector { return Connector{} }

// Spec declares the settings, permissions and setup steps.
func (Connector) Spec() connector.Spec {
	return connector.Spec{
		Service: "microsoft365_mail", Title: "Microsoft 365 mail", ServiceType: "email",
		// Graph gives no hash of an attachment: Telltale computes MD5 and SHA-256 by streaming its
		// $value (R3.10, R4.3); the contents are not stored (R4.4).
		Hashes: nil,
		Fields: []connector.Field{
			{Name: "tenant_id", Label: "Directory (tenant) ID", Required: true, Tenant: true,
				Help: "Entra admin center > Identity > Overview > Tenant ID (a GUID); the tenant's verified domain also works."},
			{Name: "client_id", Label: "Application (client) ID", Required: true,
				Help: "Entra admin center > App registrations > your app > Overview > Application (client) ID."},
			{Name: "client_secret", Label: "Client secret", Required: true, Secret: true,
				Help: "App registrations > your app > Certificates & secrets > New client secret: paste its Value (not its Secret ID)."},
			{Name: "login_url", Label: "Entra ID authority", Default: DefaultLoginURL, Advanced: true, URL: true,
				Help: "Only for a national cloud, a proxy or the built-in emulator: the authority tokens are requested from."},
			{Name: "graph_url", Label: "Microsoft Graph URL", Default: DefaultGraphURL, Advanced: true, URL: true,
				Help: "Only for a national cloud, a proxy or the built-in emulator (ends in /v1.0)."},
		},
		Permissions: []connector.Permission{
			{Name: PermMailRead, Why: "to read the sent items of every in-scope mailbox (message delta: sender, recipients, subject, sent time), list each sent message's attachments and download them to compute MD5/SHA-256 (R4.3), and subscribe to change notifications on sent items; Mail.ReadBasic.All has no attachments. Read-only: Telltale never sends, moves or deletes mail (R1.12). An Exchange application access policy (or RBAC for Applications) may limit it to the monitored mailboxes"},
			{Name: PermUserReadAll, Why: "to list the tenant's users with their licenses and account status, so every in-scope mailbox is found and disabled or unlicensed users are skipped (R4.1, R3.9)"},
			{Name: PermGroupMemberReadAll, Why: "to resolve a groups scope into its members, nested groups included (R2.5-R2.7)"},
		},
		Steps: []string{
			"In the Microsoft Entra admin center open Identity > Applications > App registrations > New registration; name it (e.g. Telltale mail), choose 'Accounts in this organizational directory only' and register.",
			"On the app's Overview copy the Application (client) ID and the Directory (tenant) ID.",
			"Open Certificates & secrets > Client secrets > New client secret; copy its Value at once (it is shown once) and note when it expires.",
			"Open API permissions > Add a permission > Microsoft Graph > Application permissions and add exactly the permissions listed below.",
			"Click 'Grant admin consent for <your organization>' (a Global Administrator or Privileged Role Administrator must do it), or open the admin-consent URL Telltale shows.",
			"Optional: to limit the app to the monitored mailboxes, in Exchange Online PowerShell create a mail-enabled security group of them and run New-ApplicationAccessPolicy -AppId <client ID> -PolicyScopeGroupId <group> -AccessRight RestrictAccess (or use RBAC for Applications); mailboxes outside it show as inaccessible.",
			"Enter the IDs and the secret in Telltale and Verify.",
		},
		// R4.2 asks for daily discovery; the suite and R3.4-like latency want new mailboxes within
		// minutes. A users page lists 999 users; each mailbox is probed once a day (probeTTL).
		DiscoveryInterval: 5 * time.Minute,
		PollInterval:      5 * time.Minute, // R4.5: searchable within 30 minutes at worst
		// After a 410 on a delta link, sent mail is listed again from resyncOverlap before the last
		// position (stream.go); a connection stopped for longer than a delta state lives re-reads
		// that much: two weeks cover a stop of a week past the state's life.
		DedupeHorizon: 14 * 24 * time.Hour,
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
	guard := &httpx.Guard{AllowLoopback: deps.AllowLoopback}
	for _, u := range []struct{ name, v, def string }{{"login_url", login, DefaultLoginURL}, {"graph_url", graph, DefaultGraphURL}} {
		if u.v == u.def {
			continue // Microsoft's own: checked when dialed (the guard's transport), not resolved here
		}
		if err := guard.CheckURL(u.v); err != nil {
			return nil, connector.ConfigError{{Field: u.name, Message: fmt.Sprintf("microsoft365_mail: %s: %v", u.name, err)}}
		}
	}
	onThrottle := deps.OnThrottle
	ho := httpx.Options{
		Timeout: 60 * time.Second, Guard: guard, Log: deps.Log, UserAgent: "ISV|Telltale|telltale-m365mail/1",
		OnThrottle: func(_ string, until time.Time) {
			if onThrottle != nil {
				onThrottle(until)
			}
		},
	}
	if deps.Sleep != nil {
		ho.Now, ho.Sleep = deps.Clock.Now, deps.Sleep
	}
	secret := cfg.Value(sp, "client_secret")
	s := &session{
		deps: deps, log: deps.Log, tenant: tenant, clientID: strings.TrimSpace(cfg.Value(sp, "client_id")),
		login: login, graph: graph, stateKey: stateKeyOf(secret, cfg.ConnectionID),
		probed: map[string]probe{}, slots: map[string]chan struct{}{},
	}
	s.api = newGraphClient(httpx.New(ho), s, secret)
	return s, nil
}

// stateKeyOf is the key clientStates are signed with (push.go): derived from the client secret
// (sealed in the connection's credentials) and the connection, never stored.
func stateKeyOf(secret string, conn int64) []byte {
	h := sha256.New()
	h.Write([]byte("telltale microsoft365_mail clientState v1\x00"))
	h.Write([]byte(strconv.FormatInt(conn, 10) + "\x00"))
	h.Write([]byte(secret))
	return h.Sum(nil)
}

// session is one connection's work with Microsoft.
type session struct {
	api      *graphClient
	deps     connector.Deps
	log      *slog.Logger
	tenant   string
	clientID string
	login    string // authority, no trailing slash
	graph    string // Graph v1.0 base, no trailing slash
	stateKey []byte // signs clientStates (push.go)

	mu     sync.Mutex
	probed map[string]probe         // user id -> what the last mailbox probe found (discover.go)
	slots  map[string]chan struct{} // user id -> the mailbox's request slots (client.go)
}

var (
	_ connector.Session = (*session)(nil)
	_ connector.Pusher  = (*session)(nil)
)

func (s *session) Close() error { return nil }

// Streams: no tenant-wide feed; each mailbox has its own.
func (s *session) Streams() []connector.StreamSpec { return nil }

// adminConsentURL is where a Global Administrator grants the app's permissions in the tenant.
func (s *session) adminConsentURL() string {
	return s.app().ConsentURL()
}
