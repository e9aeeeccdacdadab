package box

import (
	"context"
	"github.com/telltale-dev/telltale/internal/connector/kit/faults"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/telltale-dev/telltale/internal/clock"
)

// Options configure an Emulator. The zero value is usable: every field has a default.
type Options struct {
	Seed         int64        // deterministic org and activity
	Clock        clock.Clock  // nil = clock.Real{}
	Log          *slog.Logger // nil = discard
	EnterpriseID string       // default "900001"

	ClientID, ClientSecret   string // defaults "emu-client-id", "emu-client-secret"
	PrimaryKey, SecondaryKey string // webhook signature keys; defaults "emu-primary-key", "emu-secondary-key"

	Domain          string   // company email domain, default "example.com"
	ExternalDomains []string // default gmail.com, partner.example

	Users          int // managed users, default 20 (the first is the admin, admin@<Domain>)
	InactiveUsers  int // how many of them are status "inactive", default Users/10
	Groups         int // default 4; random memberships
	FilesPerUser   int // default 20
	FoldersPerUser int // default 4 (nested, see Depth)
	Depth          int // folder nesting depth, default 2

	// MinFileSize and MaxFileSize bound content sizes in bytes (default 1 KiB .. 64 KiB). Content is
	// generated lazily from the seed and the version id, never held in memory; sha1 is computed on
	// first use and cached.
	MinFileSize, MaxFileSize int

	RateLimitPerMinute int           // per Box user (token subject or as-user); 0 = Box's 1000; < 0 = off
	RateBurst          int           // token bucket burst, default 10
	TokenTTL           time.Duration // default 60 min
	StreamRetention    time.Duration // admin_logs_streaming history, default 14 days (admin_logs keeps 1 year)

	// DenyApp makes the token endpoint answer as Box does when the app is not authorized in the
	// Admin Console (400 unauthorized_client). The brief's AppAuthorized, inverted so that the zero
	// Options describe a working app.
	DenyApp bool
	// DenyAsUser makes every as-user call answer as Box does when the app lacks "Perform actions as
	// users" (403 access_denied_insufficient_permissions). The brief's AsUserAllowed, inverted.
	DenyAsUser bool

	NumericStreamPositions bool // emit next_stream_position as a JSON number (the spec allows string or int64)

	// Epoch numbers the starts of one simulated organization, 0 for the first (demo mode counts
	// them in its data directory; at most MaxEpoch). Every epoch builds the same organization from
	// Seed, with the same ids and the same generation events; from then on an epoch acts on its
	// own: its event ids and the ids of the items, versions, collaborations, users and groups it
	// creates never collide with another epoch's, and its stream positions lie above every
	// position of the epochs before it. Its admin_logs_streaming holds only its own activity (the
	// generation events were streamed in epoch 0); a position from an earlier epoch continues
	// from the start of this epoch's activity.
	Epoch int

	WebhookRetries    int           // default 12 (Box: 12 retries over 2 hours)
	WebhookRetryDelay time.Duration // default 1s
}

// Faults inject failures into the API (everything under /2.0; never /oauth2/token or downloads).
type Faults struct {
	Rate          float64       // fraction of API requests that fail, 0..1
	Kinds         []string      // subset of "500","502","503","429","timeout","truncate","drop" (faults.Kind); empty = all but "drop"
	HangFor       time.Duration // "timeout": hang this long before answering 504 (default 3s)
	DuplicateRate float64       // admin_logs_streaming: fraction of records delivered again in a later page
	Reorder       bool          // admin_logs_streaming: shuffle order within and across nearby pages
}

// Stats count what the emulator served.
type Stats struct {
	Requests          int // every request to /oauth2/token, /2.0 and downloads
	Throttled         int // 429 answers from the rate limiter (not from faults)
	Faults            int // injected faults
	ByUser            map[string]UserStats
	WebhookDeliveries int // delivery attempts answered 2xx
	WebhookFailures   int // delivery attempts that failed (non-2xx or transport error)
	ExpiredPositions  int // admin_logs_streaming reads from a position older than StreamRetention
	// EarlyRetries counts requests from a user sent before the Retry-After the user's last 429
	// asked for had passed: a client that honours throttling keeps it at 0.
	EarlyRetries int
}

// UserStats count requests per Box user (the token subject, or the as-user).
type UserStats struct{ Requests, Throttled int }

// User is a managed user of the simulated enterprise. RootFolderID is always "0" as in Box: each
// user's root is folder "0" from that user's point of view.
type User struct{ ID, Login, Name, Status, RootFolderID string }

// Group is an enterprise group.
type Group struct {
	ID, Name  string
	MemberIDs []string
}

// Activity is one generated enterprise event, the ground truth for tests.
type Activity struct {
	EventID, EventType         string // Box admin event_type, e.g. "UPLOAD"
	At                         time.Time
	ActorID, ActorLogin        string
	ItemType, ItemID, ItemName string // "file" | "folder"; empty for user and group events
	OwnerID, OwnerLogin        string
	// FileActivity is true for file/folder activity (upload, edit, rename, move, trash, undelete,
	// shared link created/changed/removed, collaboration invite/remove/role change, download,
	// preview, copy); false for LOGIN, NEW_USER, GROUP_ADD_USER and the like.
	FileActivity bool
	Detail       map[string]string // e.g. "access":"open", "invitee":"x@gmail.com", "old_name", "old_parent_id"
}

// Emulator is an in-memory Box enterprise served over HTTP. It is safe for concurrent use.
type Emulator struct {
	o    Options
	clk  clock.Clock
	log  *slog.Logger
	ctx  context.Context // ends deliveries on Close
	stop context.CancelFunc
	wg   sync.WaitGroup

	mu     sync.Mutex
	rng    *rand.Rand
	faults Faults
	inject *faults.Injector // transport faults (internal/connector/kit/faults)
	// streamFaults duplicate and reorder admin_logs_streaming and expire its positions on demand.
	streamFaults *faults.Stream
	stats        Stats

	nextID   int64
	users    []*user
	byID     map[string]*user // managed users, the service account and external users
	byLogin  map[string]*user
	service  *user
	groups   []*group
	groupsBy map[string]*group
	items    map[string]*item // files and folders by id (roots under "root-<uid>")
	collabs  map[string]*collab
	collabIx map[string][]string // principal ("u:<id>" | "g:<id>") -> collaboration ids, in creation order
	tokens   map[string]*token
	buckets  map[string]*bucket
	// retries is, per user, the last request answered 429 and until when it asked the user to wait.
	retries faults.Retries
	dl      map[string]dlTicket

	posBase  int64     // stream position of index 0: streamBase + Epoch<<40
	epochOff int64     // added to the ids of what this epoch creates after the generation
	records  []*record // every event in creation order (admin_logs order)
	stream   []int     // admin_logs_streaming order: indexes into records (may repeat)
	streamed int       // how many records are already in stream
	pending  []int     // records held back by Reorder, or to come again, for the next batch
	lastAt   time.Time

	webhooks   map[string]*webhook
	httpClient *http.Client
	hooks      faults.Hooks // test hooks (hooks.go): acting during a crawl, losing webhook deliveries

	shaMu sync.Mutex
	sha   map[string]string // version id -> sha1 hex
	data  map[string][]byte // explicit content of scripted uploads, by version id
	alias map[string]string // copies: version id -> the version whose content it shares
}

// New builds the simulated enterprise: users, groups, folders and files, with the NEW_USER,
// GROUP_ADD_USER and UPLOAD events that created them in the event history.
func New(o Options) *Emulator {
	o = withDefaults(o)
	ctx, cancel := context.WithCancel(context.Background())
	e := &Emulator{
		o: o, clk: o.Clock, log: o.Log, ctx: ctx, stop: cancel,
		rng:          rand.New(rand.NewPCG(uint64(o.Seed), 0x7e11a1e)),
		inject:       faults.New(uint64(o.Seed)),
		streamFaults: faults.NewStream(uint64(o.Seed) ^ uint64(o.Epoch)*0x9e3779b97f4a7c15),
		nextID:       1,
		byID:         map[string]*user{},
		byLogin:      map[string]*user{},
		groupsBy:     map[string]*group{},
		items:        map[string]*item{},
		collabs:      map[string]*collab{},
		collabIx:     map[string][]string{},
		tokens:       map[string]*token{},
		buckets:      map[string]*bucket{},
		dl:           map[string]dlTicket{},
		webhooks:     map[string]*webhook{},
		sha:          map[string]string{},
		data:         map[string][]byte{},
		alias:        map[string]string{},
		stats:        Stats{ByUser: map[string]UserStats{}},
		httpClient:   &http.Client{Timeout: 30 * time.Second}, // Box: no 2xx within 30 s is a failure
	}
	e.mu.Lock()
	e.generate()
	e.startEpoch()
	e.mu.Unlock()
	return e
}

// MaxEpoch is the highest Options.Epoch: ids stay in their Box-like ranges below it.
const MaxEpoch = 79_999

// Per-epoch id strides: an epoch may create this many items, versions and collaborations
// (epochItemIDs) and users and groups (epochPrincipalIDs) before reaching the next epoch's ids.
const (
	epochItemIDs      = 10_000_000
	epochPrincipalIDs = 100_000
)

// startEpoch moves the generated organization into its epoch: from now on ids, event ids and
// stream positions are the epoch's own. Epoch 0 changes nothing. Called with e.mu held.
func (e *Emulator) startEpoch() {
	k := int64(e.o.Epoch)
	e.posBase = streamBase + k<<40
	if k == 0 {
		return
	}
	e.rng = rand.New(rand.NewPCG(uint64(e.o.Seed), 0x7e11a1e^uint64(k)*0x9e3779b97f4a7c15))
	e.nextID += k * epochItemIDs
	e.epochOff = k * epochPrincipalIDs
	e.streamed = len(e.records) // streamed in epoch 0
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
	def(&o.EnterpriseID, "900001")
	def(&o.ClientID, "emu-client-id")
	def(&o.ClientSecret, "emu-client-secret")
	def(&o.PrimaryKey, "emu-primary-key")
	def(&o.SecondaryKey, "emu-secondary-key")
	def(&o.Domain, "example.com")
	if len(o.ExternalDomains) == 0 {
		o.ExternalDomains = []string{"gmail.com", "partner.example"}
	}
	if o.Users <= 0 {
		o.Users = 20
	}
	if o.InactiveUsers <= 0 {
		o.InactiveUsers = o.Users / 10
	}
	if o.InactiveUsers >= o.Users {
		o.InactiveUsers = o.Users - 1 // the admin stays active
	}
	if o.Groups <= 0 {
		o.Groups = 4
	}
	if o.FilesPerUser <= 0 {
		o.FilesPerUser = 20
	}
	if o.FoldersPerUser <= 0 {
		o.FoldersPerUser = 4
	}
	if o.Depth <= 0 {
		o.Depth = 2
	}
	if o.MinFileSize <= 0 {
		o.MinFileSize = 1 << 10
	}
	if o.MaxFileSize <= 0 {
		o.MaxFileSize = 64 << 10
	}
	if o.MaxFileSize < o.MinFileSize {
		o.MaxFileSize = o.MinFileSize
	}
	if o.RateLimitPerMinute == 0 {
		o.RateLimitPerMinute = 1000
	}
	if o.RateBurst <= 0 {
		o.RateBurst = 10
	}
	if o.TokenTTL <= 0 {
		o.TokenTTL = 60 * time.Minute
	}
	if o.StreamRetention <= 0 {
		o.StreamRetention = 14 * 24 * time.Hour
	}
	o.Epoch = min(max(o.Epoch, 0), MaxEpoch)
	if o.WebhookRetries <= 0 {
		o.WebhookRetries = 12
	}
	if o.WebhookRetryDelay <= 0 {
		o.WebhookRetryDelay = time.Second
	}
	return o
}

// Close stops pending webhook deliveries and waits for their goroutines. Optional: an emulator
// that is simply dropped leaks at most the deliveries still retrying.
func (e *Emulator) Close() {
	e.stop()
	e.wg.Wait()
}

// SetFaults replaces the injected faults; the zero Faults turns them off.
func (e *Emulator) SetFaults(f Faults) {
	if f.HangFor <= 0 {
		f.HangFor = 3 * time.Second
	}
	e.mu.Lock()
	e.faults = f
	e.mu.Unlock()
	kinds := make([]faults.Kind, len(f.Kinds))
	for i, k := range f.Kinds {
		kinds[i] = faults.Kind(k)
	}
	if len(kinds) == 0 {
		kinds = boxFaults
	}
	e.inject.Set(f.Rate, kinds, f.HangFor, time.Second)
	e.streamFaults.Set(f.DuplicateRate, f.Reorder)
}

// ExpireNextPosition makes the next admin_logs_streaming read from a position answer as Box does
// for a position older than its retention: from the oldest event still kept, counted in
// Stats.ExpiredPositions. Conformance and crash tests use it to expire a cursor on demand.
func (e *Emulator) ExpireNextPosition() { e.streamFaults.ExpireNext() }

// boxFaults are the kinds drawn when Faults.Kinds is empty (every kind of the vendor kit but the
// dropped connection, which the Box tests written before it did not expect).
var boxFaults = []faults.Kind{faults.Status500, faults.Status502, faults.Status503, faults.Throttle, faults.Hang, faults.Truncate}

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

// Users returns the managed users in creation order.
func (e *Emulator) Users() []User {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]User, 0, len(e.users))
	for _, u := range e.users {
		out = append(out, u.public())
	}
	return out
}

// Groups returns the groups in creation order.
func (e *Emulator) Groups() []Group {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Group, 0, len(e.groups))
	for _, g := range e.groups {
		out = append(out, Group{ID: g.id, Name: g.name, MemberIDs: append([]string(nil), g.members...)})
	}
	return out
}

// EventCount returns how many events have been generated (Activities without the copy).
func (e *Emulator) EventCount() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.records)
}

// Activities returns every event ever generated, in creation order.
func (e *Emulator) Activities() []Activity {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Activity, len(e.records))
	for i, r := range e.records {
		out[i] = r.act
		out[i].Detail = cloneMap(r.act.Detail)
	}
	return out
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}
