// Package connector is the contract between Telltale and a vendor: what a data connector declares
// (Spec), what it does (Session: verify, discover, index, stream changes, read content), the error
// kinds that steer collection, and the registry of connectors. Vendors live in sub-packages
// (connector/box, ...) and import this package, event and httpx, never the store: the ingest
// package drives them and owns every write.
package connector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/internal/clock"
	"github.com/telltale-dev/telltale/internal/event"
)

// Field is one setting an admin enters for a connection. The spec drives validation, the console
// form, the CLI and the docs.
type Field struct {
	Name     string // key in Config.Settings (or Config.Credentials when Secret)
	Label    string
	Help     string
	Required bool
	Secret   bool   // stored sealed, never logged or returned
	Default  string // used when the admin leaves it empty
	Tenant   bool   // identifies the vendor tenant (R1.5: one connection per tenant)
	Advanced bool   // hidden by default in forms (API base URLs for emulators and proxies)
	// URL marks an admin-typed URL the connector calls. Telltale checks it with the node's SSRF guard
	// (httpx.Guard) when a connection is added or verified, so a refused URL is an error on that field
	// instead of a connection that never collects.
	URL bool
}

// Permission is one vendor permission the connector needs, and why.
type Permission struct {
	Name string
	Why  string
}

// Spec declares a connector once.
type Spec struct {
	Service     string // box, google_drive, ...
	Title       string // "Box"
	ServiceType string // cloud or email
	Fields      []Field
	Permissions []Permission
	// Steps are the vendor-side setup steps for the admin, in order.
	Steps []string
	// DiscoveryInterval is how often discovery looks for new drives (R3.4).
	DiscoveryInterval time.Duration
	// PollInterval is how often the activity stream is polled when no push notification arrives (R3.3).
	PollInterval time.Duration
	// DriveLimit is the default most drives one connection monitors (R1.9); 0: no limit. The
	// operator's --drive-limit-* flags override it.
	DriveLimit int
	// DedupeHorizon is the longest the vendor may deliver a record again (a stream re-read after a
	// resync, a time-windowed feed's overlap, the vendor's own at-least-once retries): ingest
	// remembers record ids at least this long, so a repeat is never stored twice (R3.8).
	DedupeHorizon time.Duration
	// Hashes names the hashes the vendor itself gives on its file records, as event.Hash keeps
	// them (HashNames): Box "sha1"; Google Drive "md5" and "sha256"; OneDrive "quick_xor" (the
	// vendor's base64). The adapter fills them where the record has them (Box activity records
	// often do not; its file listings do). Telltale's own MD5 and SHA-256 (R3.10) are downloaded and computed only where an event
	// lacks either, so a vendor that gives both saves the download.
	Hashes []string
	// NoContent are MIME type prefixes of items the vendor holds no bytes for (Google Docs editors
	// files, "application/vnd.google-apps."): they are never downloaded for hashing and have no
	// MD5 or SHA-256.
	NoContent []string
	// StateFeed names, for a connector whose records carry a Feed, the feed whose file state
	// (name, path, size, MIME type, hashes, modified time) replaces the other feed's when their
	// events merge (Google Drive: "changes"); every other field is filled only where it is empty.
	StateFeed string
	// MergeHorizon is how late a second feed may report an action the first one stored (Google's
	// Reports API: hours): merge candidates are kept this long. Default 3 days.
	MergeHorizon time.Duration
}

// HasContent reports whether an item of the MIME type has bytes to download (NoContent).
func (s Spec) HasContent(mime string) bool {
	for _, p := range s.NoContent {
		if strings.HasPrefix(mime, p) {
			return false
		}
	}
	return true
}

// HashNames are the hashes a Spec may name in Hashes.
func HashNames() []string { return []string{"md5", "sha1", "sha256", "quick_xor"} }

// Field returns the named field and whether it exists.
func (s Spec) Field(name string) (Field, bool) {
	for _, f := range s.Fields {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}

// Consenter is a connector whose vendor grants the application's access by a URL an admin
// opens (Microsoft's admin consent, R1.11): the API and the console show it on a connection from
// the moment it is added, before Verify can pass. ConsentURL builds it from the connection's
// settings alone (no credential, no call); "" while they do not name the application yet.
type Consenter interface {
	ConsentURL(cfg Config) string
}

// Config is one connection's configuration as the connector sees it.
type Config struct {
	ConnectionID int64
	TenantID     string
	Settings     map[string]string
	Credentials  map[string]string
}

// Value returns a setting or credential, or the field's default.
func (c Config) Value(s Spec, name string) string {
	f, _ := s.Field(name)
	v := c.Credentials[name]
	if v == "" && !f.Secret {
		v = c.Settings[name]
	}
	if v == "" {
		v = f.Default
	}
	return v
}

// The longest value a setting and a credential may hold, in bytes: a setting is an id, an address
// or a URL; a credential may be a service account's JSON key or a PEM chain. Longer is a paste
// gone wrong (or an attempt to make every later answer that carries it large), refused.
const (
	MaxSettingLen    = 2048
	MaxCredentialLen = 64 << 10
)

// Validate checks the config against the spec: required fields present, no unknown fields, no
// value longer than MaxSettingLen (MaxCredentialLen for a credential). The error is a
// ConfigError naming every problem.
func (s Spec) Validate(c Config) error {
	var errs ConfigError
	for _, f := range s.Fields {
		if f.Required && c.Value(s, f.Name) == "" && !(f.Tenant && c.TenantID != "") {
			errs = append(errs, FieldError{Field: f.Name, Secret: f.Secret, Message: fmt.Sprintf("%s (%s) is required: %s", f.Label, f.Name, f.Help)})
		}
	}
	check := func(m map[string]string, secret bool) {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			f, ok := s.Field(k)
			switch {
			case !ok:
				errs = append(errs, FieldError{Field: k, Secret: secret, Message: fmt.Sprintf("%q is not a %s setting: use one of %s", k, s.Title, s.fieldNames())})
			case f.Secret && !secret:
				errs = append(errs, FieldError{Field: k, Message: fmt.Sprintf("%q is secret: send it under credentials so it is encrypted and never shown", k)})
			case secret && len(m[k]) > MaxCredentialLen:
				errs = append(errs, FieldError{Field: k, Secret: true, Message: fmt.Sprintf("%s (%s) is %d bytes long; a credential holds at most %d: check that the right value was pasted", f.Label, k, len(m[k]), MaxCredentialLen)})
			case !secret && len(m[k]) > MaxSettingLen:
				errs = append(errs, FieldError{Field: k, Message: fmt.Sprintf("%s (%s) is %d bytes long; a setting holds at most %d: check that the right value was pasted", f.Label, k, len(m[k]), MaxSettingLen)})
			}
		}
	}
	check(c.Settings, false)
	check(c.Credentials, true)
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// FieldError is one problem with one setting (Secret false: sent under settings) or credential.
type FieldError struct {
	Field   string
	Secret  bool
	Message string
}

// ConfigError is every problem Validate found, one line each.
type ConfigError []FieldError

func (e ConfigError) Error() string {
	lines := make([]string, len(e))
	for i, f := range e {
		lines[i] = f.Message
	}
	return strings.Join(lines, "\n")
}

func (s Spec) fieldNames() string {
	names := make([]string, len(s.Fields))
	for i, f := range s.Fields {
		names[i] = f.Name
	}
	return strings.Join(names, ", ")
}

// Deps are what a session may use.
type Deps struct {
	Log   *slog.Logger
	Clock clock.Clock
	// Sleep waits d on Clock (honouring ctx), for pacing and Retry-After. nil: real timers, and the
	// HTTP client then keeps real time too; a test on a fake clock sets both, so that no wait in a
	// connector is a wall-clock sleep.
	Sleep func(ctx context.Context, d time.Duration) error
	// Files looks up what Telltale already knows about vendor files (indexed state, path, hashes).
	Files FileIndex
	// OnThrottle is called when the vendor throttles collection, with when it may resume (R3.7).
	OnThrottle func(until time.Time)
	// AllowLoopback lets vendor base URLs point at loopback (emulators in tests and demo mode).
	AllowLoopback bool
	// PushURL is where the vendor can deliver push notifications for this connection (Telltale's
	// public webhook URL); empty when this node is not reachable by the vendor: polling only.
	PushURL string
}

// WithDefaults fills what a session needs and the caller left out: the wall clock, a log that
// discards.
func (d Deps) WithDefaults() Deps {
	if d.Clock == nil {
		d.Clock = clock.Real{}
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	return d
}

// FileIndex answers what Telltale already knows about vendor files.
type FileIndex interface {
	// Lookup returns the known files among ids, keyed by vendor id.
	Lookup(ctx context.Context, ids []string) (map[string]KnownFile, error)
}

// IndexLookups is what ingest's FileIndex also answers, so that a connector can find in the store
// what it would otherwise keep in memory for every drive or file (OneDrive: memory flat in the
// number of drives). A connector type-asserts Deps.Files to it and works without it (tests'
// in-memory indexes).
type IndexLookups interface {
	// LookupAlt returns the known files of the drive with vendor id drive among alternative ids
	// (File.AltID), deleted ones included, keyed by alt id, with VendorID and DriveID set.
	LookupAlt(ctx context.Context, drive string, alts []string) (map[string]KnownFile, error)
	// DrivesOwnedLike returns at most limit of the connection's drives whose owner matches a SQL
	// LIKE pattern ("_" any one character), in lower case.
	DrivesOwnedLike(ctx context.Context, pattern string, limit int) ([]Drive, error)
	// StreamCursor is the stored position of the stream key of the drive with vendor id drive
	// ("" when the stream has none yet, or there is no such drive).
	StreamCursor(ctx context.Context, drive, key string) (string, error)
}

// KnownFile is a file as indexed before: what a connector compares a vendor's new file state with
// to tell which action it means (a new name is a rename, a new parent a move, new content an edit).
type KnownFile struct {
	VendorID, AltID      string // set by IndexLookups.LookupAlt
	Path, Owner, DriveID string
	Name, MimeType       string
	Size                 int64
	SHA1                 string
	// Hash holds every hash the index has (the vendor's and Telltale's).
	Hash     event.Hash
	Modified time.Time
	Deleted  bool   // the file is gone (trashed or deleted) as last known
	State    string // File.State as last stored
}

// Connector is a vendor.
type Connector interface {
	Spec() Spec
	// Open starts a session for one connection. It does not call the vendor.
	Open(ctx context.Context, cfg Config, deps Deps) (Session, error)
}

// Scope is who a connection monitors (R2).
type Scope struct {
	Kind   string   // all, users, groups
	Users  []string // email addresses (Kind users)
	Groups []string // vendor group names (Kind groups)
}

// Drive is a discovered user drive, shared drive or mailbox.
type Drive struct {
	VendorID string // Box: the user id
	Kind     string // user, shared, mailbox
	Owner    string // email
	Name     string
	// Inaccessible, when set, says why Telltale cannot read the drive (permissions, licensing).
	Inaccessible string
}

// Discovery is what a discovery run found besides drives.
type Discovery struct {
	// MissingGroups are scope groups the vendor does not know (looked up again in 24 hours, R2.6).
	MissingGroups []string
	// SkippedInactive counts inactive vendor users not monitored (R3.9).
	SkippedInactive int
	// Inactive says, for the first MaxInactive of them, what the vendor's directory says of each
	// user in scope it does not monitor (R8.3: people are active, inactive or blocked).
	Inactive []PersonState
}

// MaxInactive bounds Discovery.Inactive: beyond it the people are counted, not named.
const MaxInactive = 10000

// Person statuses a directory gives (R8.3). Active people are the owners of discovered drives.
const (
	PersonBlocked  = "blocked"  // the vendor refuses the person's sign-in (suspended, disabled)
	PersonInactive = "inactive" // deactivated or archived at the vendor
)

// PersonState is what a directory says of one person it does not monitor.
type PersonState struct {
	Address string // lower case
	Status  string // PersonBlocked or PersonInactive
	Reason  string // the vendor's words: "Box status inactive", "suspended in Google Workspace"
}

// NoteInactive counts a user not monitored and names them while there is room.
func (d *Discovery) NoteInactive(address, status, reason string) {
	d.SkippedInactive++ // R3.9
	if len(d.Inactive) < MaxInactive && address != "" {
		d.Inactive = append(d.Inactive, PersonState{Address: strings.ToLower(address), Status: status, Reason: reason})
	}
}

// File is one file's state: a page of a baseline crawl, or a state a stream reports.
type File struct {
	VendorID string
	// Drive is the vendor id of the file's drive when a stream reports it (Drive: from owners or
	// driveId), "" for a crawl page's files. A drive stream's state without it is taken as the
	// stream's drive's, unless the file is indexed under another drive (a file shared with the
	// stream's user stays its owner's).
	Drive    string
	Name     string
	Path     string
	Size     int64
	MimeType string
	Owner    string
	// Hash holds the hashes the vendor gives (Spec.Hashes): Box sha1, Drive md5 and sha256,
	// OneDrive quick_xor.
	Hash     event.Hash
	Modified time.Time
	// State is vendor state the connector wants back in KnownFile.State to compare the next state
	// with (Drive: the parent and who the file is shared with), opaque to ingest; keep it to a few
	// hundred bytes. "" keeps what is stored.
	State string
	// AltID is another id the vendor names the file by, unique in the connection (OneDrive: the
	// SharePoint list item's UniqueId, which audit records name files by), for IndexLookups.
	// "" keeps what is stored.
	AltID string
}

// IndexPage is one page of a drive's baseline crawl.
type IndexPage struct {
	Files []File
	Next  string // the cursor to resume the crawl from
	Done  bool
	// StreamStart, on the last page (Done), hands over the start positions of the drive's streams
	// declared FromCrawl, by stream key: Graph's deltaLink at the end of a delta crawl.
	StreamStart map[string]string
}

// Record is one vendor activity record and what it means.
type Record struct {
	VendorID string // the vendor's record id (dedupe key, R3.8)
	// Events are the file events of the record; empty when Skip says why it was skipped.
	Events []event.FileEvent
	Skip   string
	// Drive is the vendor id of the drive the item belongs to ("" if unknown); records on drives out of
	// scope are not captured (R2.8).
	Drive string
	// Feed names the feed of a connector that reads each action from two feeds (Google Drive:
	// "changes" and "reports"). Its events are merged with a stored event of another feed of the
	// connection for the same action (ingest, merge.go: same file, action, actor and sharing target,
	// times within MergeWindow) instead of being stored again. "": never merged.
	Feed string
}

// ContentRef names content to read: the file File of drive Drive (vendor ids), or, when Part is set,
// the part of it the vendor's opaque reference names (a Gmail or Graph attachment id of message
// File in mailbox Drive).
type ContentRef struct {
	Drive, File, Part string
}

// StreamSpec is one activity stream of a connection: a tenant-wide feed (Session.Streams: Box's
// admin_logs_streaming, Google's Reports API, the Management Activity API) or the feed of one drive
// or mailbox (Session.DriveStreams: Drive changes, Gmail history, OneDrive and Outlook delta). Ingest
// keeps one cursor, work unit and lease per stream.
type StreamSpec struct {
	// Key is stable, without ':', and unique among the connection's tenant streams or among one
	// drive's streams (a drive's streams may share keys with another drive's: "changes"). Ingest
	// names the stream's cursor and work unit after it (and the drive), so renaming a key starts the
	// stream again from "now".
	Key string
	// Drive is the drive or mailbox the stream follows; zero (VendorID "") for a tenant-wide feed.
	Drive Drive
	// Every is how often the stream is polled when no push notification arrives; 0: the spec's
	// PollInterval.
	Every time.Duration
	// FromCrawl says a drive stream's start is handed over by the drive's crawl
	// (IndexPage.StreamStart on its last page: Graph's deltaLink after a delta enumeration) instead
	// of taken before it: ingest then takes no start before the crawl and makes the stream's unit
	// in the transaction of the crawl's last page. What happens during such a crawl is in the
	// crawl's state, not in the stream. Without it, the start is taken before the crawl (Drive's
	// startPageToken) and a handed-over position is ignored: one stream never gets both.
	FromCrawl bool
}

// ResyncReason says why a stream restarted.
type ResyncReason string

// The reasons of a Resync.
const (
	// ResyncExpired: the stream position is older than the vendor keeps (Box 14 days, an expired
	// Drive page token, Gmail's 404 on startHistoryId).
	ResyncExpired ResyncReason = "expired"
	// ResyncRefused: the vendor refused the position or asked for a resync (Graph's 410
	// resyncRequired).
	ResyncRefused ResyncReason = "refused"
)

// Resync is a stream restarting from a backfill instead of its position.
type Resync struct {
	Reason ResyncReason
	Detail string    // what happened, in the vendor's terms
	Since  time.Time // the backfill re-reads activity from then (records read twice are dropped)
	// Recrawl asks for the stream's drive to be crawled again: the vendor cannot say what changed
	// while the position was lost (Graph's 410 on a delta, an expired Drive page token). Ingest
	// indexes the drive again and its streams start anew before that crawl; the page's Next is
	// not used.
	Recrawl bool
}

// ChangesPage is one page of the activity stream.
type ChangesPage struct {
	Records []Record
	// Files are file states the stream reports (Drive changes, OneDrive delta), often without an
	// actor: they update the file index in the page's transaction. The adapter makes Records only
	// where a change means an event.
	Files []File
	// Removed are the vendor ids of files the stream reports gone (deleted, or no longer visible);
	// they are marked deleted in the file index, for a drive stream only the files of its drive.
	Removed []string
	Next    string // the cursor after this page; saved with the page's events in one transaction
	More    bool   // another page is ready now
	// Resync, when set, says the stream's position could not be used and collection restarted
	// from a backfill; ingest records it in the connection's history (never a silent gap).
	Resync *Resync
}

// Session is a connector working for one connection.
type Session interface {
	// Verify calls the vendor with the configured credentials and returns the tenant it reaches. Its
	// errors say exactly what is wrong and how to fix it (ErrAuth, ErrPermission).
	Verify(ctx context.Context) (tenantID string, err error)
	// Discover lists the in-scope drives page by page through emit.
	Discover(ctx context.Context, scope Scope, emit func([]Drive) error) (Discovery, error)
	// Index returns the page of the drive's baseline crawl after cursor ("" starts it).
	Index(ctx context.Context, drive Drive, cursor string) (IndexPage, error)
	// Streams lists the connection's tenant-wide activity streams. Each gets its own cursor, work
	// unit, lease and poll, so a vendor with several feeds (Google Drive's changes and Reports,
	// OneDrive's delta and the Management Activity API) does not serialize them behind one.
	Streams() []StreamSpec
	// DriveStreams lists the streams of one in-scope drive or mailbox (nil: none, as for Box, whose
	// tenant stream covers every drive). Ingest takes their start positions before the drive's crawl
	// (or from IndexPage.StreamStart after it), runs them while the drive is in scope and accessible,
	// and drops them and their cursors when it is not. A connection has at least one stream.
	DriveStreams(d Drive) []StreamSpec
	// StreamStart returns the "now" position of a stream, taken before a baseline crawl.
	StreamStart(ctx context.Context, s StreamSpec) (string, error)
	// Changes returns a stream's activity after cursor.
	Changes(ctx context.Context, s StreamSpec, cursor string) (ChangesPage, error)
	// Content opens content for hashing (R3.10): a drive's file, or a part of an item by the
	// vendor's reference (an attachment of a message).
	Content(ctx context.Context, ref ContentRef) (io.ReadCloser, error)
	// Deliver verifies a push notification addressed to this connection and says what it means; a
	// genuine one makes the stream concerned poll at once. It returns the delivery's identity for
	// dedupe, or a *WebhookRefusal (matching ErrForged). It does the same signature work whatever is
	// wrong, so that its timing does not say which check failed. It must answer quickly (Graph
	// allows 3 s): no vendor call.
	Deliver(ctx context.Context, p Push) (Delivery, error)
	Close() error
}

// Push is a push notification as received: the request's header, query and body.
type Push struct {
	Header http.Header
	Query  url.Values
	Body   []byte
}

// Pusher is an optional capability of a Session whose vendor pushes notifications to
// subscriptions the connector makes (Box webhooks, Drive channels, Graph subscriptions). Ingest
// keeps them in its store for as long as the connection collects: it subscribes for each followed
// drive without a subscription (and once for the tenant's feeds), renews each before it expires,
// subscribes again when the vendor dropped one, and unsubscribes when a drive stops being followed
// and when collection stops (deauthorize, delete), so nothing stays registered at the vendor.
type Pusher interface {
	// Subscribe makes what is missing of the subscriptions that push the activity of drive d (zero
	// Drive: the tenant's feeds) to url, and returns every subscription the drive has after: have
	// is what Telltale holds (live, renewed), so a vendor whose subscriptions cannot be listed
	// (Drive channels) makes nothing when have covers the drive, and one that can (Box) answers
	// from its own list, so that a subscription Telltale lost or the vendor dropped is found. A
	// held subscription left out of the answer is forgotten. Ingest calls it for every followed
	// drive after discovery and daily.
	Subscribe(ctx context.Context, d Drive, url string, have []Subscription) ([]Subscription, error)
	// Renew extends a subscription before it expires, or checks that one without expiry still
	// exists. An error matching ErrSubscriptionGone: the vendor no longer has it. A vendor whose
	// subscriptions cannot be extended (Drive channels) replaces it: the answer has another ID,
	// which ingest keeps instead of sub's, and the connector has stopped sub (or it stops at its
	// expiry).
	Renew(ctx context.Context, sub Subscription) (Subscription, error)
	// Unsubscribe removes a subscription at the vendor; one already gone is not an error.
	Unsubscribe(ctx context.Context, sub Subscription) error
}

// Subscription is one push subscription at the vendor.
type Subscription struct {
	ID       string // the vendor's id
	Drive    string // vendor id of the drive it follows; "" for the tenant's feeds
	Stream   string // key of the stream a delivery wakes (the drive's own, or a tenant stream)
	Resource string // what the vendor watches (a folder, a resource path), for the operator
	Detail   string // the connector's own note, kept and given back (Drive's resourceId)
	Expires  time.Time
}

// ErrSubscriptionGone: the vendor no longer has a subscription (Renew); ingest subscribes again.
var ErrSubscriptionGone = errors.New("push subscription gone at the vendor")

// Lifecycle notifications a vendor sends about a subscription instead of activity (Graph).
const (
	// LifecycleReauthorize: the subscription must be renewed now or it stops (reauthorizationRequired).
	LifecycleReauthorize = "reauthorize"
	// LifecycleMissed: notifications were lost; the stream must poll (missed).
	LifecycleMissed = "missed"
	// LifecycleRemoved: the vendor removed the subscription; it must be made again (subscriptionRemoved).
	LifecycleRemoved = "removed"
)

// Delivery is what a verified push notification says.
type Delivery struct {
	// ID identifies the notification: covered by the signature (a replay cannot change it) and the
	// same for a replay and for the vendor's retries of it, so that it acts once. "" for a
	// validation handshake, which only gets its Reply.
	ID string
	// FreshUntil is when the signature's freshness window ends; after it a replay is refused as
	// stale anyway, so the ID need not be remembered longer.
	FreshUntil time.Time
	// Notices are what the delivery says, one per subscription it concerns (Graph batches
	// notifications of several subscriptions in one request). None: the connection's tenant
	// streams poll.
	Notices []Notice
	// Reply, when set, is the answer the vendor expects: the text of a validation handshake
	// (Graph echoes validationToken), answered 200 text/plain, at most MaxReply bytes. Otherwise
	// Telltale answers 200 with no body.
	Reply *Reply
}

// Notice is one subscription's part of a delivery.
type Notice struct {
	// Subscription is the vendor's id of the subscription: only its stream polls. One Telltale
	// does not hold: the tenant streams poll.
	Subscription string
	// Lifecycle is one of the Lifecycle* notifications, "" for activity.
	Lifecycle string
	// State, when set, is the secret the notification carried that ties it to one subscription
	// (Graph's clientState, already verified by the connector as one it made). The vendor chose the
	// subscription's id after the secret was made, so the connector cannot tell whether the pair
	// belongs together: ingest refuses the delivery unless the held subscription of that id was
	// made with this State (Subscription.Detail), so that a state copied from one of the
	// connection's subscriptions onto another's id wakes nothing.
	State string
}

// MaxReply bounds a handshake's reply.
const MaxReply = 1024

// Reply is the text answering a validation handshake.
type Reply struct {
	Body []byte
}

// Reasons of a WebhookRefusal, used as metric label values.
const (
	WebhookMalformed    = "malformed"     // headers missing or unreadable (version, algorithm, timestamp)
	WebhookStale        = "stale"         // the signed timestamp is outside the freshness window
	WebhookNoKeys       = "no_keys"       // the connection has no signature key configured
	WebhookBadSignature = "bad_signature" // no configured key produces the signature
	// WebhookUnknownSubscription: the notification names a subscription the connector never made
	// (a Drive channel id not of Telltale's form).
	WebhookUnknownSubscription = "unknown_subscription"
	// WebhookReplayed: a signed notification already taken, or older than one taken (a Drive
	// channel's X-Goog-Message-Number not above the last one seen).
	WebhookReplayed = "replayed"
)

// WebhookRefusal is why a push notification failed verification. It matches ErrForged. Its text is
// for the operator's debug log only: callers never echo it to the sender.
type WebhookRefusal struct {
	Reason string // one of the Webhook* reasons
	Detail string
}

func (e *WebhookRefusal) Error() string {
	return "push notification refused: " + e.Reason + ": " + e.Detail
}

// Unwrap makes the refusal match ErrForged.
func (e *WebhookRefusal) Unwrap() error { return ErrForged }

// EchoHeader is a header value as a refusal's detail names it: quoted (Go syntax) from its first
// 32 bytes, "..." after the quotes when it was longer, so at most 133 bytes whatever the value
// holds (a control or non-UTF-8 byte takes 4 characters quoted: clipping the value to 64 bytes
// and quoting it after let two such headers make a detail of over 500 bytes, FuzzWebhook).
func EchoHeader(v string) string {
	if len(v) > 32 {
		return strconv.Quote(v[:32]) + "..."
	}
	return strconv.Quote(v)
}

// Error kinds. Connectors wrap them with a message that says what to do.
var (
	// ErrAuth: the credentials are refused (bad secret, app not authorized): an admin must act.
	ErrAuth = errors.New("vendor refused the credentials")
	// ErrPermission: the credentials work but lack a permission the connector needs.
	ErrPermission = errors.New("vendor permission missing")
	// ErrInaccessible: one drive cannot be read (permissions, licensing).
	ErrInaccessible = errors.New("drive inaccessible")
	// ErrForged: a push notification failed verification.
	ErrForged = errors.New("push notification refused")
	// ErrMalformed: a vendor record or response could not be understood.
	ErrMalformed = errors.New("malformed vendor data")
)

// Registry is the set of connectors of a node, built in app.
type Registry struct{ m map[string]Connector }

// NewRegistry returns a registry of cs keyed by their service.
func NewRegistry(cs ...Connector) *Registry {
	r := &Registry{m: map[string]Connector{}}
	for _, c := range cs {
		r.m[c.Spec().Service] = c
	}
	return r
}

// Get returns the connector of a service.
func (r *Registry) Get(service string) (Connector, bool) {
	c, ok := r.m[service]
	return c, ok
}

// Specs lists every connector's spec, ordered by service.
func (r *Registry) Specs() []Spec {
	out := make([]Spec, 0, len(r.m))
	for _, c := range r.m {
		out = append(out, c.Spec())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Service < out[j].Service })
	return out
}

// DecodeSettings reads a connection's stored settings JSON.
func DecodeSettings(b []byte) (map[string]string, error) {
	m := map[string]string{}
	if len(b) == 0 {
		return m, nil
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("connector: settings: %w", err)
	}
	return m, nil
}

// RecordReader is implemented by connectors that read exported vendor records (an admin-events
// export, records saved by `telltale normalize`): fn gets each record's 1-based starting line and its
// meaning, or the error that makes that record unusable. Reading continues after a bad record; only
// I/O errors stop it. No vendor call is made: what only the vendor knows (a link's access) is left out.
type RecordReader interface {
	ReadRecords(r io.Reader, fn func(line int, rec Record, err error) error) error
}
