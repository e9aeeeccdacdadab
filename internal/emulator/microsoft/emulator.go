package microsoft

import (
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/telltale-dev/telltale/internal/clock"
	"github.com/telltale-dev/telltale/internal/connector/kit/faults"
)

// Resources a client-credentials token may be issued for (scope "<resource>/.default").
const (
	ResourceGraph  = "https://graph.microsoft.com"
	ResourceManage = "https://manage.office.com" // the Management Activity API (a later part)
	ScopeGraph     = ResourceGraph + "/.default"
	ScopeManage    = ResourceManage + "/.default"
)

// Application permissions (app roles) an administrator consents to; the token carries those
// granted when it is issued, as Entra ID's roles claim does.
const (
	RoleUserReadAll        = "User.Read.All"
	RoleGroupMemberReadAll = "GroupMember.Read.All"
	RoleGroupReadAll       = "Group.Read.All"
	RoleDirectoryReadAll   = "Directory.Read.All"
	RoleFilesReadAll       = "Files.Read.All"
	RoleSitesReadAll       = "Sites.Read.All"
	RoleMailRead           = "Mail.Read"
	RoleActivityFeedRead   = "ActivityFeed.Read" // manage.office.com
)

// AllRoles is every role the emulator knows: the default consent.
var AllRoles = []string{RoleUserReadAll, RoleGroupMemberReadAll, RoleGroupReadAll, RoleDirectoryReadAll,
	RoleFilesReadAll, RoleSitesReadAll, RoleMailRead, RoleActivityFeedRead}

// Options configure an Emulator. The zero value is usable: every field has a default.
type Options struct {
	Seed  int64        // deterministic organization and activity
	Clock clock.Clock  // nil = clock.Real{}
	Log   *slog.Logger // nil = discard

	TenantID        string   // a GUID, default derived from Seed
	TenantName      string   // the directory's display name, default "Example"
	Domain          string   // the verified domain, default "example.com"
	InitialDomain   string   // default "<first label of Domain>.onmicrosoft.com"; also names the tenant
	ExternalDomains []string // default gmail.com, partner.example

	// The application registration (multi-tenant app consented in the tenant). ClientID default
	// derived from Seed, ClientSecret default "emu~" and 36 characters derived from Seed.
	ClientID, ClientSecret string
	// Consent is the application permissions the tenant's admin granted. nil = AllRoles; empty =
	// none (the admin never consented: tokens are still issued, without roles, and Graph refuses
	// them with 401 AccessDenied; with some permissions but not the one a call needs, 403).
	Consent []string

	Users           int // default 20; the first is the admin admin@<Domain>
	UnlicensedUsers int // without a OneDrive license (no drive), default Users/10
	DisabledUsers   int // accountEnabled false (licensed, with a drive), default 1
	Groups          int // default 4, with random members and one nested group
	FilesPerUser    int // default 10
	FoldersPerUser  int // default 3

	TokenTTL time.Duration // default 3599 s (expires_in 3599)

	RateLimitPerMinute int // Graph requests per app per tenant per minute; 0 = 1,200; < 0 = off
	RateBurst          int // token bucket burst, default 100

	// DeltaTokenTTL: a delta or next link older than this answers 410 resyncRequired. 0 = 30 days
	// (modelled: Microsoft documents only that delta tokens expire; the OneDrive team gave about
	// 30 days, OneDrive/onedrive-api-docs#231). ExpireDeltaTokens expires them all on demand.
	DeltaTokenTTL time.Duration
	// DeltaRepeat is the chance that a delta page also repeats an item already sent in the same
	// round, as Graph documents it may ("the same item may appear more than once in a delta feed").
	// 0 = 0.05; < 0 = never.
	DeltaRepeat float64
	// DeltaPageSize is a delta page's size without $top, default 200 (modelled).
	DeltaPageSize int

	MinFileSize, MaxFileSize int // content sizes, default 256 B .. 8 KiB (generated from the seed)

	// The Office 365 Management Activity API (mgmt.go). Each action's audit record becomes
	// available a lag after it, drawn uniformly from [AuditLagMin, AuditLagMax]: default 60 to 90
	// minutes, the troubleshooting page's "for core services (such as Exchange, SharePoint,
	// OneDrive, and Teams) event availability is typically 60 to 90 minutes". Lower them for
	// tests and demos (the "scaled by a flag").
	AuditLagMin, AuditLagMax time.Duration
	// AuditFirstContentDelay holds back the first content of a subscription: content made before
	// start+delay becomes available at start+delay ("it can take up to 12 hours for the first
	// content blobs to become available"). Default 0; 12 h is the documented maximum.
	AuditFirstContentDelay time.Duration
	// AuditBlobInterval is how often records are gathered into content blobs (modelled: Microsoft
	// does not document it), default 5 minutes.
	AuditBlobInterval time.Duration
	// AuditDuplicate is the chance that a record is also delivered again in a later blob
	// ("duplicates may appear", troubleshooting FAQ). 0 = 0.01; < 0 = never.
	AuditDuplicate float64
	// AuditPageSize is the number of blobs per subscriptions/content page before NextPageUri
	// (modelled; the reference says only that results are limited), default 100.
	AuditPageSize int
	// AuditRateLimitPerMinute is the tenant's Management API quota: 0 = 2,000 (the documented
	// baseline), < 0 = off. Requests without PublisherIdentifier share a pool of
	// AuditSharedPoolPerMinute (modelled, default 60; < 0 = off) and are throttled first.
	AuditRateLimitPerMinute, AuditSharedPoolPerMinute int

	// Exchange's limits per app per mailbox (mail.go): concurrent requests (default 4) and
	// requests per 10 minutes (default 10,000); < 0 = off.
	MailboxConcurrency, MailboxRequestsPer10Min int

	// Change notifications (subs.go), in real time: ValidationTimeout is how long the handshake
	// waits (default 10 s, Graph's), PushTimeout how long a delivery waits for its 2xx (default
	// 3 s, Graph's), PushRetries how often a failed delivery is retried (default 7; < 0 = never)
	// after PushRetryBase, doubling (default 1 minute; modelled: Graph retries for up to 4 hours).
	ValidationTimeout, PushTimeout time.Duration
	PushRetries                    int
	PushRetryBase                  time.Duration
}

// Faults inject transport failures into Graph (never the token endpoint nor download URLs).
type Faults struct {
	Rate    float64       // fraction of Graph requests that fail, 0..1
	Kinds   []faults.Kind // subset of faults.Kinds; empty = all
	HangFor time.Duration // "timeout": hang this long before answering 504 (default 3s)
}

// Stats count what the emulator served.
type Stats struct {
	Requests           int // every request, the token endpoint and downloads included
	TokenRequests      int
	TokenErrors        int // token requests refused
	Throttled          int // 429 answers of the rate limit (not injected faults)
	Faults             int // injected faults
	Denied             int // answers for missing consent (401 without any permission, 403 without the one needed)
	Downloads          int // content served from pre-authenticated URLs
	ExpiredDeltaTokens int // delta reads answered 410 resyncRequired
	ByUser             map[string]UserStats

	AuditRequests      int // Management Activity API requests
	AuditThrottled     int // ... answered AF429 by the quota (not injected)
	AuditNoPublisher   int // ... without PublisherIdentifier
	AuditBlobsServed   int // content blobs served
	AuditRecordsServed int // records in them (duplicates included)

	MailThrottled int // 429 ApplicationThrottled answers of the mailbox limits

	PushValidations int // validationToken handshakes sent
	PushDeliveries  int // notifications (and lifecycle notifications) answered 2xx
	PushFailures    int // delivery attempts that failed (non-2xx, error, timeout)
	PushLost        int // deliveries dropped by LosePushes

	SubsCreatedButFailed int // subscriptions created and answered 500 (FailAfterCreate)

	EarlyRetries int // Graph requests answered 429 and sent again before their Retry-After had passed (suite.go)
	Locked       int // drive requests answered 423 for a locked OneDrive (SetDriveLocked)
}

// UserStats count Graph requests per user addressed (by userPrincipalName): /users/{id}/...,
// and drive requests by the drive's owner. Directory listings count under "".
type UserStats struct{ Requests, Throttled int }

// User is a user of the simulated tenant.
type User struct {
	ID, UPN, Mail, Name string
	Enabled, Licensed   bool
	DriveID             string // "" without a license
}

// Group is a group of the tenant; Members are user and group ids (one group is nested).
type Group struct {
	ID, Name, Mail string
	Members        []string
}

// Item is a driveItem (for tests): its current state.
type Item struct {
	ID, DriveID, ParentID, Name string
	Folder, Root, Deleted       bool
	Size                        int64
	QuickXorHash                string
	Permissions                 []string // permission ids
}

// Activity is one action in the tenant: the ground truth for tests (and, in a later part, for the
// Management Activity API). Operation is the Audit.SharePoint operation name (FileUploaded,
// FolderCreated, FileModified, FileRenamed, FileMoved, FileRecycled, AnonymousLinkCreated,
// CompanyLinkCreated, SecureLinkCreated, AddedToSecureLink, SharingSet, SharingInvitationCreated,
// SharingRevoked, SharedLinkDisabled, FileDownloaded, FileAccessed).
type Activity struct {
	ID        string
	Operation string
	At        time.Time
	Actor     string // userPrincipalName
	DriveID   string
	ItemID    string
	ItemName  string
	Owner     string // the drive owner's userPrincipalName
	// Delta is true when the action shows in the drive's delta feed: every action but downloads
	// (sharing changes are marked "@microsoft.graph.sharedChanged" with
	// Prefer: deltashowsharingchanges).
	Delta  bool
	Detail map[string]string // e.g. old_name, new_name, from_parent, to_parent, scope, type, target, permission_id
}

// Emulator is an in-memory Microsoft 365 tenant served over HTTP. Safe for concurrent use.
type Emulator struct {
	o   Options
	clk clock.Clock
	log *slog.Logger

	mu      sync.Mutex
	rng     *mrand.Rand // the tenant and its actions
	srng    *mrand.Rand // serving (delta repeats): reads never change what the tenant does
	srvSeq  uint64      // serving ids (request ids, trace ids, download URLs)
	inject  *faults.Injector
	hooks   faults.Hooks
	consent map[string]bool
	stats   Stats

	idSeq    uint64 // id counter
	users    []*user
	usersBy  map[string]*user // by id and by lower-case UPN
	groups   []*group
	groupsBy map[string]*group
	drives   map[string]*drive
	items    map[string]*item
	tokens   map[string]*token
	bucket   bucket
	dl       map[string]dlGrant // pre-authenticated download URLs
	logSeq   int64              // the delta log position: every delta-visible change takes the next
	epoch    int                // ExpireDeltaTokens bumps it
	acts     []Activity

	retries faults.Retries  // each request answered 429, its Retry-After and when it was written (suite.go)
	locked  map[string]bool // drive ids answered 423 (SetDriveLocked)

	audit auditState // the Management Activity API (mgmt.go)
	mail  mailState  // mailboxes (mail.go)
	subs  subsState  // change-notification subscriptions (subs.go)
}

// New builds the simulated tenant from Options.Seed.
func New(o Options) *Emulator {
	o = withDefaults(o)
	e := &Emulator{
		o: o, clk: o.Clock, log: o.Log,
		rng:      mrand.New(mrand.NewPCG(uint64(o.Seed), 0x365)),
		srng:     mrand.New(mrand.NewPCG(uint64(o.Seed), 0x5e7e)),
		inject:   faults.New(uint64(o.Seed)),
		stats:    Stats{ByUser: map[string]UserStats{}},
		usersBy:  map[string]*user{},
		groupsBy: map[string]*group{},
		drives:   map[string]*drive{},
		items:    map[string]*item{},
		tokens:   map[string]*token{},
		dl:       map[string]dlGrant{},
	}
	e.SetConsent(o.Consent)
	e.audit.init(o)
	e.subsInit()
	e.mu.Lock()
	e.generate()
	e.mu.Unlock()
	return e
}

func withDefaults(o Options) Options {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&o.TenantName, "Example")
	def(&o.Domain, "example.com")
	def(&o.InitialDomain, firstLabel(o.Domain)+".onmicrosoft.com")
	def(&o.TenantID, guid(splitmix(uint64(o.Seed)^0x7e9a97), splitmix(uint64(o.Seed)^0x7e9a98)))
	def(&o.ClientID, guid(splitmix(uint64(o.Seed)^0xc11e97), splitmix(uint64(o.Seed)^0xc11e98)))
	def(&o.ClientSecret, "emu~"+secretFrom(uint64(o.Seed)))
	if len(o.ExternalDomains) == 0 {
		o.ExternalDomains = []string{"gmail.com", "partner.example"}
	}
	pos := func(n *int, v int) {
		if *n <= 0 {
			*n = v
		}
	}
	pos(&o.Users, 20)
	pos(&o.UnlicensedUsers, o.Users/10)
	pos(&o.DisabledUsers, 1)
	if o.UnlicensedUsers+o.DisabledUsers >= o.Users {
		o.UnlicensedUsers, o.DisabledUsers = 0, 0
	}
	pos(&o.Groups, 4)
	pos(&o.FilesPerUser, 10)
	pos(&o.FoldersPerUser, 3)
	pos(&o.RateBurst, 100)
	pos(&o.DeltaPageSize, 200)
	pos(&o.MinFileSize, 256)
	pos(&o.MaxFileSize, 8<<10)
	if o.MaxFileSize < o.MinFileSize {
		o.MaxFileSize = o.MinFileSize
	}
	if o.RateLimitPerMinute == 0 {
		o.RateLimitPerMinute = 1200
	}
	if o.TokenTTL <= 0 {
		o.TokenTTL = 3599 * time.Second
	}
	if o.DeltaTokenTTL <= 0 {
		o.DeltaTokenTTL = 30 * 24 * time.Hour
	}
	if o.DeltaRepeat == 0 {
		o.DeltaRepeat = 0.05
	}
	if o.AuditLagMin <= 0 && o.AuditLagMax <= 0 {
		o.AuditLagMin, o.AuditLagMax = 60*time.Minute, 90*time.Minute
	}
	if o.AuditLagMax < o.AuditLagMin {
		o.AuditLagMax = o.AuditLagMin
	}
	if o.AuditBlobInterval <= 0 {
		o.AuditBlobInterval = 5 * time.Minute
	}
	if o.AuditDuplicate == 0 {
		o.AuditDuplicate = 0.01
	}
	pos(&o.AuditPageSize, 100)
	if o.MailboxConcurrency == 0 {
		o.MailboxConcurrency = 4
	}
	if o.MailboxConcurrency < 0 {
		o.MailboxConcurrency = 1 << 30
	}
	if o.MailboxRequestsPer10Min == 0 {
		o.MailboxRequestsPer10Min = 10000
	}
	if o.MailboxRequestsPer10Min < 0 {
		o.MailboxRequestsPer10Min = 1 << 30
	}
	if o.ValidationTimeout <= 0 {
		o.ValidationTimeout = 10 * time.Second
	}
	if o.PushTimeout <= 0 {
		o.PushTimeout = 3 * time.Second
	}
	if o.PushRetries == 0 {
		o.PushRetries = 7
	}
	if o.PushRetries < 0 {
		o.PushRetries = 0
	}
	if o.PushRetryBase <= 0 {
		o.PushRetryBase = time.Minute
	}
	if o.AuditRateLimitPerMinute == 0 {
		o.AuditRateLimitPerMinute = 2000
	}
	if o.AuditSharedPoolPerMinute == 0 {
		o.AuditSharedPoolPerMinute = 60
	}
	return o
}

// Close stops change-notification deliveries in flight and waits for them.
func (e *Emulator) Close() {
	e.subs.stop()
	e.subs.wg.Wait()
}

// TenantID is the tenant's id (a GUID); the token endpoint also takes the domains.
func (e *Emulator) TenantID() string { return e.o.TenantID }

// ClientID and ClientSecret are the application's credentials.
func (e *Emulator) ClientID() string { return e.o.ClientID }

// ClientSecret is the application's client secret value.
func (e *Emulator) ClientSecret() string { return e.o.ClientSecret }

// Domain is the tenant's verified domain.
func (e *Emulator) Domain() string { return e.o.Domain }

// SetConsent replaces the application permissions the admin granted (nil = AllRoles, empty =
// none). Tokens issued before keep the roles they were issued with.
func (e *Emulator) SetConsent(roles []string) {
	if roles == nil {
		roles = AllRoles
	}
	m := map[string]bool{}
	for _, r := range roles {
		m[r] = true
	}
	e.mu.Lock()
	e.consent = m
	e.mu.Unlock()
}

// SetFaults makes a fraction of Graph requests fail (f.Rate 0 = none).
func (e *Emulator) SetFaults(f Faults) {
	e.inject.Set(f.Rate, f.Kinds, f.HangFor, time.Second)
}

// ExpireDeltaTokens makes every delta and next link handed out so far answer 410: drive links
// resyncRequired, message links SyncStateNotFound.
func (e *Emulator) ExpireDeltaTokens() {
	e.mu.Lock()
	e.epoch++
	e.mu.Unlock()
}

// DuringIndex makes the emulator call fn once, the next time it serves a delta page, before
// answering it (a change during a baseline crawl).
func (e *Emulator) DuringIndex(fn func()) { e.hooks.Once(fn) }

// Stats returns a copy of the counters.
func (e *Emulator) Stats() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.stats
	s.ByUser = make(map[string]UserStats, len(e.stats.ByUser))
	for k, v := range e.stats.ByUser {
		s.ByUser[k] = v
	}
	return s
}

// ResetStats zeroes the counters.
func (e *Emulator) ResetStats() {
	e.mu.Lock()
	e.stats = Stats{ByUser: map[string]UserStats{}}
	e.mu.Unlock()
}

// Users returns the users in creation order (the admin first).
func (e *Emulator) Users() []User {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]User, len(e.users))
	for i, u := range e.users {
		out[i] = User{ID: u.id, UPN: u.upn, Mail: u.upn, Name: u.name(), Enabled: u.enabled, Licensed: u.licensed}
		if u.drive != nil {
			out[i].DriveID = u.drive.id
		}
	}
	return out
}

// Groups returns the groups in creation order.
func (e *Emulator) Groups() []Group {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Group, len(e.groups))
	for i, g := range e.groups {
		out[i] = Group{ID: g.id, Name: g.name, Mail: g.mail, Members: append([]string(nil), g.members...)}
	}
	return out
}

// Items returns the items of a drive (deleted ones too), in id order.
func (e *Emulator) Items(driveID string) []Item {
	e.mu.Lock()
	defer e.mu.Unlock()
	d := e.drives[driveID]
	if d == nil {
		return nil
	}
	var out []Item
	for _, it := range d.items {
		x := Item{ID: it.id, DriveID: d.id, Name: it.name, Folder: it.folder, Root: it.root, Deleted: it.deleted, Size: it.size, QuickXorHash: it.qxh}
		if it.parent != nil {
			x.ParentID = it.parent.id
		}
		for _, p := range it.perms {
			x.Permissions = append(x.Permissions, p.id)
		}
		out = append(out, x)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Content returns an item's current bytes (nil for folders and unknown items).
func (e *Emulator) Content(itemID string) []byte {
	e.mu.Lock()
	defer e.mu.Unlock()
	if it := e.items[itemID]; it != nil {
		return append([]byte(nil), it.data...)
	}
	return nil
}

// Activities returns every action so far, in order.
func (e *Emulator) Activities() []Activity {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Activity, len(e.acts))
	for i, a := range e.acts {
		out[i] = a
		if a.Detail != nil {
			out[i].Detail = make(map[string]string, len(a.Detail))
			for k, v := range a.Detail {
				out[i].Detail[k] = v
			}
		}
	}
	return out
}
