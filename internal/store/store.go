// Package store is the persistence contract. Drivers (store/sqlite, store/postgres) implement Store and
// pass the one conformance suite in store/storetest. Callers branch on ErrNotFound and ErrConflict only.
//
// Every method takes a context first. Queries is the set of operations; Store adds transactions and
// Close. Inside InTx the same operations run in one transaction that commits when fn returns nil.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/search"
)

// Sentinel errors. Drivers wrap them: errors.Is(err, store.ErrNotFound).
var (
	// ErrNotFound: no row matched.
	ErrNotFound = errors.New("not found")
	// ErrConflict: a unique constraint or a compare-and-set precondition failed.
	ErrConflict = errors.New("conflict")
)

// Store is an open database.
type Store interface {
	Queries
	// InTx runs fn in one transaction. fn's error (or a panic) rolls back; nil commits.
	InTx(ctx context.Context, fn func(q Queries) error) error
	// Driver names the driver: "sqlite" or "postgres".
	Driver() string
	// Close releases the database.
	Close() error
}

// Queries are the operations of the store, usable on the Store or inside a transaction.
type Queries interface {
	ConnectionQueries
	ScopeQueries
	DriveQueries
	FileQueries
	EventQueries
	CursorQueries
	SubscriptionQueries
	WorkQueries
	NodeQueries
	OutboxQueries
	IntegrationQueries
	ForwardQueries
	HashQueries
	VendorRecordQueries
	MergeQueries
	DestinationQueries
	AlertQueries
	WatchlistQueries
	CaseQueries
	PersonRiskQueries
	RescoreQueries
	ExposureQueries
	SavedSearchQueries
	PeopleQueries
	UserQueries
	AuditQueries
	SettingQueries
	DeviceQueries
	HRQueries
	HealthQueries
	DashboardQueries
}

// ---- connections (R1) ----

// Connection is a data connection row. Status values and their rules live in internal/connection;
// the store keeps strings.
type Connection struct {
	ID          int64
	Name        string // display name; unique compared trimmed and case-insensitively (R1.3)
	Service     string // box, google_drive, onedrive, gmail, microsoft365_mail
	ServiceType string // cloud, email, integration
	Status      string
	PrevStatus  string // the status to return to when Maintenance ends
	ErrorReason string // set while Status is Error (or a drive-limit message)
	ScopeKind   string // all, users, groups
	TenantID    string // the vendor tenant (Box enterprise id, Google customer id, Microsoft tenant id)
	Settings    []byte // JSON of the non-secret connection settings (admin email, ...)
	Credentials []byte // sealed by internal/secret; never returned by the API
	CreatedAt   time.Time
	CreatedBy   string
	UpdatedAt   time.Time
	// DeauthorizedAt is when the connection reached Deauthorized (zero otherwise); retention counts from it.
	DeauthorizedAt time.Time
	ThrottledUntil time.Time // vendor throttling seen (R3.7); zero when not throttled
	LastEventAt    time.Time // newest event observed time collected through it
	Version        int64     // incremented by every UpdateConnection; used for compare-and-set
}

// StatusChange is one line of a connection's status history (R1.4).
type StatusChange struct {
	ID           int64
	ConnectionID int64
	At           time.Time
	From         string // "" for the first entry (the connection was added)
	To           string
	Actor        string // the admin's user name, or "system"
	Reason       string
}

// ConnectionQueries manage connections and their status history.
type ConnectionQueries interface {
	// CreateConnection inserts c (ID, Version, CreatedAt and UpdatedAt are assigned when zero) and
	// returns it. A display name equal, trimmed and case-insensitively, to another's gives ErrConflict.
	CreateConnection(ctx context.Context, c Connection) (Connection, error)
	GetConnection(ctx context.Context, id int64) (Connection, error)
	// ListConnections returns every connection ordered by ID.
	ListConnections(ctx context.Context) ([]Connection, error)
	// UpdateConnection writes every field of c if the stored Version equals c.Version (else
	// ErrConflict; ErrNotFound if absent) and returns the row with Version+1 and UpdatedAt set.
	// A display name taken by another connection gives ErrConflict.
	UpdateConnection(ctx context.Context, c Connection) (Connection, error)
	// DeleteConnection removes the connection and everything collected through it: status history,
	// scope, drives, mailboxes, files, events, cursors, work, hash jobs and outbox rows of the connection.
	// Callers with large connections first call DeleteConnectionEvents until it returns 0. Events
	// a case on legal hold keeps (CaseQueries) stay, without their connection.
	DeleteConnection(ctx context.Context, id int64) error
	AppendStatusChange(ctx context.Context, s StatusChange) (StatusChange, error)
	// ListStatusChanges returns the history oldest first.
	ListStatusChanges(ctx context.Context, connectionID int64) ([]StatusChange, error)
	// ListStatusChangesAfter returns every connection's status changes with an id above afterID,
	// oldest first, at most limit (<= 0: 100): the connections stream of SIEM forwarding.
	ListStatusChangesAfter(ctx context.Context, afterID int64, limit int) ([]StatusChange, error)
}

// ---- scope (R2) ----

// ScopeEntry is one row of an uploaded scope CSV.
type ScopeEntry struct {
	ConnectionID int64
	Kind         string // user or group
	Value        string // email address or group name, as uploaded
	Row          int    // CSV row number (1 = header)
	// For groups: whether the vendor knows it, and when to look it up again (R2.6).
	Found        bool
	NextLookupAt time.Time
}

// ScopeQueries keep the scope list of a connection.
type ScopeQueries interface {
	// ReplaceScope replaces the whole scope list of the connection with entries (R2.3).
	ReplaceScope(ctx context.Context, connectionID int64, entries []ScopeEntry) error
	// ListScope returns the entries in Row order.
	ListScope(ctx context.Context, connectionID int64) ([]ScopeEntry, error)
	// UpdateScopeEntry updates Found and NextLookupAt of the entry with the same connection, kind and value.
	UpdateScopeEntry(ctx context.Context, e ScopeEntry) error
}

// ---- drives and mailboxes (R3.1, R4.1) ----

// Drive states.
const (
	DrivePending      = "pending"
	DriveIndexing     = "indexing"
	DriveIndexed      = "indexed"
	DriveInaccessible = "inaccessible"
)

// Drive is a user drive or shared drive; Mailbox uses the same row with Kind "mailbox".
type Drive struct {
	ID           int64
	ConnectionID int64
	VendorID     string // unique per connection
	Kind         string // user, shared, mailbox
	Owner        string // owner's email (user drives and mailboxes)
	Name         string
	State        string // pending, indexing, indexed, inaccessible (mailboxes: pending=registering, indexed=registered)
	Error        string // why inaccessible
	InScope      bool   // false once the owner left scope (history stays searchable, R2.7)
	FileCount    int64
	DiscoveredAt time.Time
	IndexedAt    time.Time
	UpdatedAt    time.Time
	// SeenAt is when discovery last found the drive in scope; UpsertDrive keeps the stored value when
	// it is zero. Drives discovery no longer sees leave scope (MarkDrivesOutOfScope).
	SeenAt time.Time
}

// DriveCounts counts a connection's drives (or mailboxes) by state. Only in-scope rows count.
type DriveCounts struct {
	Total, Pending, Indexing, Indexed, Inaccessible int64
}

// DriveFilter selects drives to list.
type DriveFilter struct {
	ConnectionID int64
	Kinds        []string // empty: all kinds
	State        string   // empty: all
	AfterID      int64    // keyset paging: rows with ID > AfterID
	Limit        int      // <= 0: 1000
}

// DriveQueries keep drives and mailboxes.
type DriveQueries interface {
	// UpsertDrive inserts or updates (by ConnectionID+VendorID) and returns the stored row.
	// DiscoveredAt is kept from the first insert.
	UpsertDrive(ctx context.Context, d Drive) (Drive, error)
	GetDrive(ctx context.Context, id int64) (Drive, error)
	ListDrives(ctx context.Context, f DriveFilter) ([]Drive, error)
	// CountDrives counts in-scope drives of the given kinds (empty: all kinds).
	CountDrives(ctx context.Context, connectionID int64, kinds ...string) (DriveCounts, error)
	// AnyUnindexedDrive reports whether an in-scope drive of the connection is still pending or
	// indexing, without counting them all.
	AnyUnindexedDrive(ctx context.Context, connectionID int64) (bool, error)
	// FindDrives returns the connection's drives with the given vendor ids (missing ones are absent).
	FindDrives(ctx context.Context, connectionID int64, vendorIDs []string) ([]Drive, error)
	// FindDrivesByOwner returns the connection's drives owned by the given addresses, compared as
	// stored (discovery stores owners in lower case).
	FindDrivesByOwner(ctx context.Context, connectionID int64, owners []string) ([]Drive, error)
	// FindDrivesByOwnerLike returns at most limit of the connection's drives whose lower-case owner
	// matches a LIKE pattern ("_" any one character, "%" any run; compared in lower case), by id.
	FindDrivesByOwnerLike(ctx context.Context, connectionID int64, pattern string, limit int) ([]Drive, error)
	// UpdateDriveState sets state, error, file count and indexed time of one drive (ErrNotFound if absent).
	UpdateDriveState(ctx context.Context, id int64, state, errText string, fileCount int64, indexedAt time.Time) error
	// MarkDrivesOutOfScope takes out of scope every in-scope drive of the connection whose SeenAt is
	// before seenBefore, and returns how many. Their files and events stay searchable (R2.7).
	MarkDrivesOutOfScope(ctx context.Context, connectionID int64, seenBefore time.Time) (int64, error)
}

// ---- files ----

// File is the indexed state of one vendor file.
type File struct {
	ID           int64
	ConnectionID int64
	DriveID      int64
	VendorID     string // unique per connection
	Name         string
	Path         string
	Size         int64
	MimeType     string
	Owner        string
	MD5          string
	SHA256       string
	SHA1         string
	QuickXor     string
	Modified     time.Time
	IndexedAt    time.Time
	Deleted      bool
	// State is the vendor state the connector compares a new state with (opaque, at most a few
	// hundred bytes); an empty State does not overwrite a stored one.
	State string
	// AltID is another id the vendor names the file by (OneDrive: the SharePoint list item's
	// UniqueId, which audit records use), unique per connection when set; an empty AltID does not
	// overwrite a stored one.
	AltID string
	// DriveVendorID is the vendor id of the file's drive: read only, set by FindFilesByAlt.
	DriveVendorID string
}

// FileQueries keep the file index.
type FileQueries interface {
	// UpsertFiles inserts or updates files by ConnectionID+VendorID. Empty hash fields do not
	// overwrite stored hashes.
	UpsertFiles(ctx context.Context, files []File) error
	GetFile(ctx context.Context, connectionID int64, vendorID string) (File, error)
	// CountFiles counts the non-deleted files of a connection (driveID 0) or of one drive.
	CountFiles(ctx context.Context, connectionID, driveID int64) (int64, error)
	// MarkFilesGone marks deleted the drive's files not indexed since before (a finished re-crawl
	// did not find them) and returns how many.
	MarkFilesGone(ctx context.Context, connectionID, driveID int64, before time.Time) (int64, error)
	// FindFiles returns the connection's files with the given vendor ids (missing ones are absent).
	FindFiles(ctx context.Context, connectionID int64, vendorIDs []string) ([]File, error)
	// FindFilesByAlt returns the files of the connection's drive with vendor id driveVendorID
	// that have the given alternative ids (File.AltID; missing ones are absent), DriveVendorID set.
	FindFilesByAlt(ctx context.Context, connectionID int64, driveVendorID string, altIDs []string) ([]File, error)
}

// ---- file events ----

// EventFilter selects stored events. Issue-4 search compiles richer queries; this is the minimum
// every caller needs.
type EventFilter struct {
	ConnectionID int64 // 0: all
	AfterID      int64 // insertion order: events with ID > AfterID
	Limit        int   // <= 0: 1000
	IncludeHeld  bool  // include events withheld by Maintenance (R1.5)
}

// EventQueries keep file events.
type EventQueries interface {
	// InsertEvents stores each event once by its DedupeKey. Inserted events get Event.ID (increasing
	// in insertion order) and Event.Inserted set in place; duplicates are left with ID 0. held marks
	// events collected during Maintenance, invisible to ListEvents and CountEvents until released.
	// It returns how many were inserted. It does not validate; callers call Validate first.
	InsertEvents(ctx context.Context, evs []*event.FileEvent, held bool) (int, error)
	GetEvent(ctx context.Context, id int64) (event.FileEvent, error)
	// ListEvents returns events in ID order, up to the EventHorizon: a caller that resumes after
	// the last id it was given (a follower of the events) never misses one committed later.
	ListEvents(ctx context.Context, f EventFilter) ([]event.FileEvent, error)
	// EventHorizon returns the largest id up to which every event that will ever be visible is
	// visible to a read that starts after it returns (math.MaxInt64 where ids become visible in
	// the order they are drawn: SQLite's one writer). On PostgreSQL, event writers run side by
	// side and commit out of id order; the horizon is below the ids of every one in flight.
	EventHorizon(ctx context.Context) (int64, error)
	CountEvents(ctx context.Context, f EventFilter) (int64, error)
	// ReleaseHeld makes a connection's withheld events visible and returns how many. Released
	// events get new ids; pending hash jobs follow them.
	ReleaseHeld(ctx context.Context, connectionID int64) (int64, error)
	// DeleteConnectionEvents deletes up to limit events of the connection and returns how many;
	// events a case on legal hold keeps (CaseQueries) are not deleted.
	DeleteConnectionEvents(ctx context.Context, connectionID int64, limit int) (int64, error)
	// PrepareEventPartitions makes sure the month holding at and the EventMonthsAhead months after
	// it have their own partition of the events (PostgreSQL; events outside every month land in a
	// default partition, so none is refused) and returns how many it created. SQLite keeps one
	// table and does nothing.
	PrepareEventPartitions(ctx context.Context, at time.Time) (int, error)
	// DropEventsBefore removes the events observed before before, except those a case on legal
	// hold keeps, and returns how many. PostgreSQL drops each month partition that ends at or
	// before it whole (after moving the held events to the default partition) and deletes the
	// older rows of the default partition: the month holding before stays until it is wholly past.
	DropEventsBefore(ctx context.Context, before time.Time) (int64, error)
	// SearchEvents returns one page of the events matching q (the same events search.Match accepts),
	// sorted by opt.Sort with ties broken by id, after opt.After.
	SearchEvents(ctx context.Context, q search.Query, opt SearchOptions) ([]event.FileEvent, error)
	// CountSearch counts the events matching q, stopping at limit (> 0): capped reports that there
	// are at least limit.
	CountSearch(ctx context.Context, q search.Query, limit int64, includeHeld bool) (n int64, capped bool, err error)
	// CountSearchWithin counts like CountSearch (held events excluded) but also stops when budget
	// runs out: then n is what was counted by then and capped is true (at least n match).
	CountSearchWithin(ctx context.Context, q search.Query, limit int64, budget time.Duration) (n int64, capped bool, err error)
	// GroupEvents counts the events matching q by one dimension (GroupBy), largest first, at most
	// limit groups.
	GroupEvents(ctx context.Context, q search.Query, by GroupBy, limit int) ([]GroupCount, error)
	// AggregateBuckets measures the events matching q (held events excluded) per actor, values of
	// spec.Fields and time bucket, in the database, and hands each row to fn (in no particular
	// order; an error from fn stops it and is returned). A threshold rule's backtest
	// (alert.Backtest) reads it instead of every matching event.
	AggregateBuckets(ctx context.Context, q search.Query, spec BucketSpec, fn func(BucketRow) error) error
}

// BucketSpec is what AggregateBuckets measures.
type BucketSpec struct {
	// Fields are grouped by beside the actor: at most 3 of AggregateFields.
	Fields []string
	// Width is a bucket's width (at least a second): bucket n holds the events observed in
	// [n*Width, (n+1)*Width) since the Unix epoch.
	Width time.Duration
	// Measure: "count" (events), "files" (distinct file ids, none counting as one) or "bytes"
	// (the sum of the positive sizes).
	Measure string
}

// BucketRow is one actor's measure in one bucket, for one combination of values of the fields.
type BucketRow struct {
	Actor  string   // as stored ("" for none)
	Keys   []string // the values of BucketSpec.Fields, as stored ("" for none; a connection's id in decimal)
	Bucket int64    // observed time (Unix microseconds) / Width in microseconds
	Value  int64
}

// AggregateFields are the single-valued event fields AggregateBuckets groups by (the search
// language's canonical names).
func AggregateFields() []string {
	return []string{"owner", "file_id", "name", "directory", "connection", "service", "action", "category", "link", "severity"}
}

// EventMonthsAhead is how many months after the current one PrepareEventPartitions creates.
const EventMonthsAhead = 3

// SearchSort names the order of a search; ties are broken by event id in the same direction.
type SearchSort string

// Sort orders.
const (
	SortObserved SearchSort = "observed" // time observed (vendor time)
	SortInserted SearchSort = "inserted" // time stored
	SortID       SearchSort = "id"       // insertion order: what incremental exports checkpoint on
)

// SearchCursor is the keyset position after an event: its sort time (Unix microseconds; unused for
// SortID) and id.
type SearchCursor struct {
	Time int64
	ID   int64
}

// SearchOptions shape one page of a search.
type SearchOptions struct {
	Sort        SearchSort    // default SortObserved
	Desc        bool          // newest first
	Limit       int           // default 1000
	After       *SearchCursor // continue after this event (CursorOf the last one of the previous page)
	UpToID      int64         // with SortID: only events with an id up to this one (0: no bound; a follower passes one at or below an EventHorizon it read)
	IncludeHeld bool          // also events held during Maintenance
}

// CursorOf returns the cursor that continues a search sorted by s after e.
func CursorOf(e *event.FileEvent, s SearchSort) SearchCursor {
	switch s {
	case SortInserted:
		return SearchCursor{Time: e.Event.Inserted.UnixMicro(), ID: e.Event.ID}
	case SortID:
		return SearchCursor{ID: e.Event.ID}
	}
	return SearchCursor{Time: e.Timestamp.UnixMicro(), ID: e.Event.ID}
}

// GroupBy is a dimension events are grouped by (R5.5).
type GroupBy string

// Group dimensions.
const (
	GroupActor       GroupBy = "actor"       // user.email
	GroupFile        GroupBy = "file"        // file.id (with its latest name)
	GroupDestination GroupBy = "destination" // domain of each recipient or shared-with address
	GroupAction      GroupBy = "action"
	GroupDay         GroupBy = "day" // UTC day of the time observed, YYYY-MM-DD
)

// GroupBys lists the dimensions.
func GroupBys() []GroupBy {
	return []GroupBy{GroupActor, GroupFile, GroupDestination, GroupAction, GroupDay}
}

// GroupCount is one group and how many events it holds.
type GroupCount struct {
	Key   string // the actor, file id, domain, action or day
	Label string // for files: the latest name
	Count int64
}

// ---- saved searches and export checkpoints (R5.3) ----

// SavedSearch is a named query.
type SavedSearch struct {
	ID        int64
	Name      string // unique, compared case-insensitively
	Query     string
	Owner     string // user name of who saved it
	CreatedAt time.Time
	UpdatedAt time.Time
}

// SavedSearchQueries keep saved searches and incremental-export checkpoints.
type SavedSearchQueries interface {
	// CreateSavedSearch inserts s; a taken name gives ErrConflict.
	CreateSavedSearch(ctx context.Context, s SavedSearch) (SavedSearch, error)
	GetSavedSearch(ctx context.Context, id int64) (SavedSearch, error)
	GetSavedSearchByName(ctx context.Context, name string) (SavedSearch, error)
	ListSavedSearches(ctx context.Context) ([]SavedSearch, error)
	// UpdateSavedSearch writes name and query; ErrNotFound, or ErrConflict for a taken name.
	UpdateSavedSearch(ctx context.Context, s SavedSearch) (SavedSearch, error)
	DeleteSavedSearch(ctx context.Context, id int64) error
	// GetCheckpoint returns the incremental export named name (ErrNotFound when it never ran).
	GetCheckpoint(ctx context.Context, name string) (Checkpoint, error)
	// ListCheckpoints returns every checkpoint, by name.
	ListCheckpoints(ctx context.Context) ([]Checkpoint, error)
	// CreateCheckpoint stores a new checkpoint (c.Name, c.AfterID, c.OwnerID); ErrConflict when
	// the name is taken.
	CreateCheckpoint(ctx context.Context, c Checkpoint) (Checkpoint, error)
	// UpdateCheckpoint sets the after_id and owner of checkpoint c.Name to c.AfterID and c.OwnerID,
	// provided it is still owned by ownedBy (a compare-and-set: ErrNotFound when it is gone or its
	// owner changed). With forward, after_id never moves backwards (an acknowledgement); without,
	// it is set as given (an explicit reset).
	UpdateCheckpoint(ctx context.Context, c Checkpoint, ownedBy int64, forward bool) (Checkpoint, error)
	// DeleteCheckpoint removes a checkpoint; ErrNotFound when there is none.
	DeleteCheckpoint(ctx context.Context, name string) error
	// NewestEventID is the largest event id handed out so far (including events deleted since, and
	// events held during Maintenance): no acknowledgement can be beyond it. 0 when there were none.
	NewestEventID(ctx context.Context) (int64, error)
}

// Checkpoint is where an incremental export named Name stands (R5.3).
type Checkpoint struct {
	Name    string
	AfterID int64 // the last event id the export acknowledged
	// OwnerID is the user who created it; 0 for a checkpoint created before owners were recorded
	// (migration 0008), which the first non-admin user to use it adopts.
	OwnerID   int64
	UpdatedAt time.Time
}

// ---- cursors ----

// Subscription is a push subscription a connection holds at its vendor (a Box webhook, a Drive
// channel, a Graph subscription): ingest renews it before Expires, makes it again when the vendor
// dropped it, and removes it when collection stops.
type Subscription struct {
	ID           int64
	ConnectionID int64
	DriveID      int64  // the drives row it follows; 0: the tenant's feeds
	VendorID     string // the vendor's id of the subscription
	Stream       string // the stream a delivery wakes (its name within the connection)
	Resource     string // what the vendor watches, for the operator
	Detail       string // the connector's own note (Drive's resourceId for channels.stop)
	ExpiresAt    time.Time
	CheckedAt    time.Time // made, renewed or checked at the vendor
	CreatedAt    time.Time
}

// SubscriptionQueries keep push subscriptions.
type SubscriptionQueries interface {
	// SaveSubscription inserts or replaces (by connection and vendor id) a subscription.
	SaveSubscription(ctx context.Context, s Subscription) (Subscription, error)
	// ListSubscriptions lists the subscriptions of the connection's drives (0: the tenant's) by id.
	ListSubscriptions(ctx context.Context, connectionID int64, driveIDs []int64) ([]Subscription, error)
	// FindSubscription returns the subscription with the vendor's id, or ErrNotFound.
	FindSubscription(ctx context.Context, connectionID int64, vendorID string) (Subscription, error)
	DeleteSubscription(ctx context.Context, connectionID int64, vendorID string) error
	// ListExpiringSubscriptions lists a connection's subscriptions that expire (expires_at set)
	// by before, soonest first, at most limit.
	ListExpiringSubscriptions(ctx context.Context, connectionID int64, before time.Time, limit int) ([]Subscription, error)
	// CountSubscriptions counts a connection's subscriptions.
	CountSubscriptions(ctx context.Context, connectionID int64) (int64, error)
}

// CursorQueries keep opaque collection cursors (Box stream positions exceed 2^53: strings only).
type CursorQueries interface {
	// GetCursor returns ErrNotFound when the stream has no cursor yet.
	GetCursor(ctx context.Context, connectionID int64, stream string) (string, error)
	SaveCursor(ctx context.Context, connectionID int64, stream, value string) error
	// InitCursor sets the cursor to value only when it has none (absent or ""), and returns the
	// cursor as stored: of two nodes or units taking a stream's start at once, one wins and both
	// go on from it.
	InitCursor(ctx context.Context, connectionID int64, stream, value string) (string, error)
}

// ---- work scheduling ----

// Work is a unit of scheduled work (a connection's discovery, a drive's indexing, a stream's poll,
// a hash job, retention). It is unique by Kind+Key.
type Work struct {
	ID           int64
	Kind         string
	Key          string
	ConnectionID int64 // 0 when not tied to a connection
	Payload      []byte
	NextRunAt    time.Time
	LeaseOwner   string // "" when not leased
	LeaseUntil   time.Time
	Attempts     int // failed runs in a row
	LastError    string
	CreatedAt    time.Time
}

// ClaimRequest asks for due work.
type ClaimRequest struct {
	Owner    string        // the node claiming
	Now      time.Time     // due means NextRunAt <= Now and no live lease (LeaseUntil <= Now)
	LeaseFor time.Duration // the lease lasts until Now+LeaseFor
	Kinds    []string      // empty: any kind
	Limit    int
}

// WorkQueries schedule work in the database. Claiming is a compare-and-set: two claimers never hold
// the same unit at once, even on two nodes sharing one PostgreSQL.
type WorkQueries interface {
	// EnsureWork inserts w unless a unit with its Kind+Key exists, and returns the stored unit.
	EnsureWork(ctx context.Context, w Work) (Work, error)
	// ScheduleWork sets NextRunAt of the unit Kind+Key (creating it if absent) without touching a lease.
	// A request made while the unit runs is not lost: FinishWork then runs it again at the earliest
	// requested time, even if the handler asked for later or for nothing.
	ScheduleWork(ctx context.Context, w Work) (Work, error)
	GetWork(ctx context.Context, kind, key string) (Work, error)
	// ClaimWork leases up to Limit due units, earliest NextRunAt first.
	ClaimWork(ctx context.Context, r ClaimRequest) ([]Work, error)
	// ExtendLease moves the lease end of a unit still held by owner; ErrConflict if the lease was lost.
	ExtendLease(ctx context.Context, id int64, owner string, until time.Time) error
	// FinishWork releases a unit held by owner. With a zero next it deletes the unit; otherwise it sets
	// NextRunAt=next, LastError=errText, and Attempts to 0 when errText is empty or Attempts+1 otherwise.
	// A ScheduleWork made during the lease for a time before next (or a zero next) wins.
	// ErrConflict if owner no longer holds the lease.
	FinishWork(ctx context.Context, id int64, owner string, next time.Time, errText string) error
	DeleteWork(ctx context.Context, kind, key string) error
	// ReleaseLeases ends every lease of the work table and the outbox, whoever holds it; a unit
	// asked to run again during its lease (ScheduleWork) becomes due at that time. Only a node
	// that knows no other process uses the store may call it: the embedded SQLite node at start,
	// holding its data directory's lock, releases what a killed process left. It also empties the
	// nodes table, so that the restarted node does not share the work with the killed one.
	ReleaseLeases(ctx context.Context) (int64, error)
	// ListWork lists a connection's units (0: all) ordered by ID.
	ListWork(ctx context.Context, connectionID int64) ([]Work, error)
	// WorkLoad counts, for each of kinds (empty: every kind) with any, the units due at now and
	// not leased, and the units whose lease is live at now (fair share, internal/work). Due counts
	// stop at DueCountLimit in all: a larger backlog keeps every node busy whatever its share.
	WorkLoad(ctx context.Context, now time.Time, kinds []string) (map[string]WorkLoad, error)
}

// DueCountLimit bounds the due units WorkLoad counts.
const DueCountLimit = 5000

// WorkLoad is one kind's units due and held at a moment.
type WorkLoad struct {
	Due  int // due and not leased (counted up to DueCountLimit across the kinds)
	Held int // leased, the lease still live
}

// Node is a process sharing the store: every `telltale serve` node on one PostgreSQL (one on
// SQLite). Its runner's lease owner names it.
type Node struct {
	Owner       string
	StartedAt   time.Time
	HeartbeatAt time.Time
}

// NodeQueries keep the nodes table, from which each runner learns how many nodes share the work.
type NodeQueries interface {
	// BeatNode records that owner is alive at now (inserting it, started at now, when new) and
	// returns the nodes heard from after now-liveFor, owner among them, ordered by Owner. Nodes
	// silent for more than NodeForgetAfter are deleted.
	BeatNode(ctx context.Context, owner string, now time.Time, liveFor time.Duration) ([]Node, error)
	// LeaveNode deletes owner's row: a node stopping cleanly stops counting at once.
	LeaveNode(ctx context.Context, owner string) error
}

// NodeForgetAfter is how long a silent node's row is kept (a restarted process has a new owner).
const NodeForgetAfter = 24 * time.Hour

// ---- outbox ----

// Outbox states.
const (
	OutboxPending = "pending"
	OutboxDone    = "done"
	OutboxDead    = "dead"
)

// OutboxItem is a message to deliver to an integration at least once. IdempotencyKey is unique.
type OutboxItem struct {
	ID             int64
	ConnectionID   int64 // the integration's connection, 0 if none
	IntegrationID  int64 // the integration it goes to (internal/integration), 0 if none
	Subject        string
	Topic          string // the event kind, e.g. alert.raised, test
	IdempotencyKey string
	Payload        []byte
	State          string
	Attempts       int
	LastError      string // why the last attempt failed ("" once sent)
	Response       string // the destination's last answer (status and a bounded excerpt of its body)
	NextRunAt      time.Time
	LeaseOwner     string
	LeaseUntil     time.Time
	CreatedAt      time.Time
	DoneAt         time.Time
}

// OutboxQueries keep the outbox.
type OutboxQueries interface {
	// EnqueueOutbox inserts the item in state pending unless its IdempotencyKey exists; returns the stored item.
	EnqueueOutbox(ctx context.Context, it OutboxItem) (OutboxItem, error)
	// ClaimOutbox leases due pending items like ClaimWork.
	ClaimOutbox(ctx context.Context, r ClaimRequest) ([]OutboxItem, error)
	// ReleaseOutbox ends the leases of pending items held by any owner but keep ("": every
	// owner), and returns how many. Only the holder of the one unit that claims the outbox calls
	// it, between its runs (internal/integration's deliver unit): a lease is then a killed or
	// stalled run's, and its items would otherwise wait for the lease, minutes, to run out.
	ReleaseOutbox(ctx context.Context, keep string) (int64, error)
	// FinishOutbox records a delivery attempt by the lease owner: state done, dead, or pending with
	// next; errText is why it failed ("" when sent), response what the destination answered.
	FinishOutbox(ctx context.Context, id int64, owner, state string, next time.Time, errText, response string) error
	// NoteOutbox records response on an item its lease owner holds, without finishing it: an
	// action notes what it is about to do (a ticket being created) so that an attempt after a crash
	// knows; ErrConflict when owner does not hold it.
	NoteOutbox(ctx context.Context, id int64, owner, response string) error
	ListOutbox(ctx context.Context, state string, limit int) ([]OutboxItem, error)
	// GetOutbox returns one item; ErrNotFound when absent.
	GetOutbox(ctx context.Context, id int64) (OutboxItem, error)
	// ListDeliveries returns items newest first.
	ListDeliveries(ctx context.Context, f DeliveryFilter) ([]OutboxItem, error)
	// ReplayOutbox makes an item that is done or dead pending again, due at at, with its attempts
	// restarted (its key, payload and last answer stay); ErrConflict when it is pending already,
	// ErrNotFound when absent.
	ReplayOutbox(ctx context.Context, id int64, at time.Time) (OutboxItem, error)
}

// DeliveryFilter selects outbox items.
type DeliveryFilter struct {
	IntegrationID int64  // 0: every integration
	State         string // "": every state
	BeforeID      int64  // keyset paging: items with ID < BeforeID
	Limit         int    // <= 0: 100
}

// ---- integrations and flows (R7, internal/integration) ----

// Integration statuses (R1.5: integrations are Connected or Disconnected).
const (
	IntegrationConnected    = "connected"
	IntegrationDisconnected = "disconnected"
)

// Kinds of an integration's last error (Integration.ErrorKind).
const (
	IntegrationErrAuth        = "auth"         // the destination refused the credentials
	IntegrationErrRateLimited = "rate_limited" // the destination is rate limiting the integration
	IntegrationErrOther       = "error"        // anything else
)

// Integration is an outbound destination: a generic webhook, Slack, ServiceNow, Jira or Okta.
// Settings are JSON of the non-secret settings; Secrets are sealed by internal/secret and never
// returned by the API.
type Integration struct {
	ID          int64
	Kind        string // webhook, slack, servicenow, jira, okta
	Name        string // unique, compared trimmed and case-insensitively
	Settings    []byte
	Secrets     []byte
	Status      string    // connected, disconnected
	LastError   string    // the destination's last actionable error; "" once a delivery succeeds
	LastErrorAt time.Time // zero when LastError is ""
	ErrorKind   string    // IntegrationErrAuth, IntegrationErrRateLimited, IntegrationErrOther; "" when LastError is ""
	CreatedAt   time.Time
	CreatedBy   string
	UpdatedAt   time.Time
	Version     int64 // incremented by every UpdateIntegration; compare-and-set
}

// Flow ties the trigger "alert raised" with a filter to integrations (R7.3). An alert matches when
// its severity is at least MinSeverity (when set), its rule is among RuleIDs (when any) and Query
// (when set) accepts it.
type Flow struct {
	ID             int64
	Name           string // unique, compared trimmed and case-insensitively
	Trigger        string // alert.raised (default), watchlist.changed or hr.departure (internal/integration)
	Enabled        bool
	MinSeverity    string
	RuleIDs        []int64
	Query          string
	IntegrationIDs []int64
	CreatedAt      time.Time
	CreatedBy      string
}

// IntegrationQueries keep integrations and flows.
type IntegrationQueries interface {
	// CreateIntegration inserts i (Version 1; times set when zero); a taken name gives ErrConflict.
	CreateIntegration(ctx context.Context, i Integration) (Integration, error)
	GetIntegration(ctx context.Context, id int64) (Integration, error)
	// ListIntegrations returns every integration by id.
	ListIntegrations(ctx context.Context) ([]Integration, error)
	// UpdateIntegration writes name, settings, secrets, status, last error (and its kind) and UpdatedAt if the
	// stored Version equals i.Version (else ErrConflict; ErrNotFound if absent); returns the row
	// with Version+1. A taken name gives ErrConflict.
	UpdateIntegration(ctx context.Context, i Integration) (Integration, error)
	// SetIntegrationError records the destination's last error and its kind ("" clears both)
	// without a new version.
	SetIntegrationError(ctx context.Context, id int64, errText, kind string, at time.Time) error
	// DeleteIntegration removes the integration, its deliveries and its refused HR webhooks; flows
	// keep pointing at nothing.
	DeleteIntegration(ctx context.Context, id int64) error
	// CreateFlow inserts f; a taken name gives ErrConflict.
	CreateFlow(ctx context.Context, f Flow) (Flow, error)
	GetFlow(ctx context.Context, id int64) (Flow, error)
	// ListFlows returns every flow by id.
	ListFlows(ctx context.Context) ([]Flow, error)
	DeleteFlow(ctx context.Context, id int64) error
}

// ---- SIEM forwarding (R8.7) ----

// Forward destination states (internal/forward sets them).
const (
	ForwardOK       = "ok"       // the last batch was acknowledged (or nothing was sent yet)
	ForwardRetrying = "retrying" // the last batches failed; retried with backoff
	ForwardFailed   = "failed"   // failed too often or for a reason retrying cannot fix; still retried, slower
)

// ForwardDestination is a SIEM destination: where events are sent, in which format, and how far
// the destination has acknowledged the event log (Position: the largest event id it acknowledged).
type ForwardDestination struct {
	ID          int64
	Name        string // unique compared trimmed and case-insensitively
	Kind        string // splunk_hec, syslog
	Format      string // json, cef, ocsf
	Settings    []byte // JSON of the non-secret settings
	Secrets     []byte // sealed by internal/secret; never returned by the API
	Paused      bool
	Position    int64 // the largest event id acknowledged; events after it are still to send
	Sent        int64 // events acknowledged in total
	State       string
	Failures    int    // failed attempts in a row
	LastError   string // the last failure with the destination's answer; "" after a success
	LastErrorAt time.Time
	LastSentAt  time.Time // when a batch was last acknowledged
	CreatedAt   time.Time
	CreatedBy   string
	UpdatedAt   time.Time
	Version     int64 // moved by UpdateForwardDestination only (configuration), not by progress
}

// ForwardQueries keep SIEM destinations and their positions.
type ForwardQueries interface {
	// CreateForwardDestination inserts d (Version 1; times set when zero); a taken name gives ErrConflict.
	CreateForwardDestination(ctx context.Context, d ForwardDestination) (ForwardDestination, error)
	GetForwardDestination(ctx context.Context, id int64) (ForwardDestination, error)
	// ListForwardDestinations returns every destination by id.
	ListForwardDestinations(ctx context.Context) ([]ForwardDestination, error)
	// UpdateForwardDestination writes name, format, settings, secrets, paused and UpdatedAt if the
	// stored Version equals d.Version (else ErrConflict; ErrNotFound if absent) and returns the row
	// with Version+1. Position and progress are not written. A taken name gives ErrConflict.
	UpdateForwardDestination(ctx context.Context, d ForwardDestination) (ForwardDestination, error)
	// AdvanceForwardPosition moves the position from `from` to `to` (compare-and-set: ErrConflict
	// when the stored position is not `from`, ErrNotFound when the destination is gone), adds n to
	// Sent, sets LastSentAt=at, State ok, and clears Failures and LastError.
	AdvanceForwardPosition(ctx context.Context, id, from, to, n int64, at time.Time) error
	// SetForwardFailure records a failed attempt: State, Failures, LastError and LastErrorAt.
	SetForwardFailure(ctx context.Context, id int64, state string, failures int, errText string, at time.Time) error
	// DeleteForwardDestination removes a destination (ErrNotFound if absent).
	DeleteForwardDestination(ctx context.Context, id int64) error
	// ListForwardStreams returns the destination's positions over the streams other than file
	// events, by stream name (a stream never advanced is absent: position 0).
	ListForwardStreams(ctx context.Context, id int64) (map[string]ForwardStream, error)
	// AdvanceForwardStream moves the destination's position over stream from `from` to `to`
	// (compare-and-set: ErrConflict when the stored position, 0 when none, is not `from`;
	// ErrNotFound when the destination is gone), adds n to its Sent, and, like
	// AdvanceForwardPosition, sets the destination's LastSentAt and State ok and clears its failures.
	AdvanceForwardStream(ctx context.Context, id int64, stream string, from, to, n int64, at time.Time) error
}

// ForwardUpdatesStream is the stream of a destination's position over the event updates
// (MergeQueries.UpdateEvent): events sent before a later report rewrote them are sent again.
// Event updates are kept until the alert evaluator and every destination passed them.
const ForwardUpdatesStream = "event_updates"

// ForwardStream is a destination's position over a stream other than file events (alerts, audit).
type ForwardStream struct {
	Position   int64 // the largest id acknowledged
	Sent       int64
	LastSentAt time.Time
}

// ---- hash queue ----

// HashJob asks for the content of one file to be downloaded and hashed into one stored event
// (R3.10). Jobs are written in the transaction that stores their events, so hashing runs off the
// activity stream and a crash loses none and runs none twice.
type HashJob struct {
	ID           int64
	ConnectionID int64
	Drive        string // the drive's vendor id ("" when the vendor needs none)
	File         string // the file's vendor id
	Part         string // an opaque reference within the file (connector.ContentRef.Part); "" for now
	EventID      int64  // the event whose MD5 and SHA-256 the download fills
	EnqueuedAt   time.Time
}

// HashSum is what one download hashed to.
type HashSum struct {
	MD5, SHA256 string // lowercase hex
	Size        int64
}

// HashQueries keep the queue of pending hash jobs. Claiming is not a lease: one work unit per
// connection (collect.hash) drains the connection's jobs, and its lease keeps other nodes off them.
type HashQueries interface {
	// EnqueueHashJobs adds jobs (EnqueuedAt set when zero) while their connection has fewer than max
	// pending (max <= 0: no bound), in the order given, and returns how many were added: the rest
	// are left out.
	EnqueueHashJobs(ctx context.Context, jobs []HashJob, max int) (int, error)
	// ClaimHashJobs returns every pending job of the connection's oldest files (at most files
	// distinct Drive+File+Part), oldest first.
	ClaimHashJobs(ctx context.Context, connectionID int64, files int) ([]HashJob, error)
	// CountHashJobs counts the connection's pending jobs (0: every connection's).
	CountHashJobs(ctx context.Context, connectionID int64) (int64, error)
	// CompleteHashJobs removes jobs; with a sum it first fills the MD5 and SHA-256 of their events
	// (and the size where an event has none) and of their files in the file index. Hashes an
	// event already has are kept.
	CompleteHashJobs(ctx context.Context, jobs []HashJob, sum *HashSum) error
	// DeleteHashJobs removes every pending job of the connection and returns how many.
	DeleteHashJobs(ctx context.Context, connectionID int64) (int64, error)
}

// ---- vendor records ----

// VendorRecordQueries remember which vendor records were ingested, so a record delivered again (an
// at-least-once stream, a page redone after a crash) is dropped even when it was coalesced into an
// event keyed by another record (R3.6, R3.8).
type VendorRecordQueries interface {
	// MarkVendorRecords records ids for the connection and returns those not recorded before, in the
	// order given (duplicates within ids count once).
	MarkVendorRecords(ctx context.Context, connectionID int64, ids []string, at time.Time) ([]string, error)
	// PruneVendorRecords forgets records seen before the given time and returns how many.
	PruneVendorRecords(ctx context.Context, before time.Time) (int64, error)
}

// ---- merging two feeds ----

// MergeCandidate is a stored event that another feed of its connection may report again (Google
// Drive's changes feed and Reports API): the keys a later report is matched on.
type MergeCandidate struct {
	ID, ConnectionID, EventID int64
	FileID, Action            string
	Actor                     string // lowercase address; "" when the feed did not name one
	Target                    string // the sharing target(s) the event names, canonical; "" for none
	Feed                      string // the feed that stored the event
	Observed                  time.Time
	Joined                    bool // the other feed has reported it
}

// MergeQueries keep the merge candidates and rewrite an event a second feed enriched. Ingest calls
// them in the transaction that stores a page.
type MergeQueries interface {
	AddMergeCandidates(ctx context.Context, cs []MergeCandidate) error
	// FindMergeCandidates returns the connection's candidates for the files observed within
	// [from, to], by observed time then id.
	FindMergeCandidates(ctx context.Context, connectionID int64, fileIDs []string, from, to time.Time) ([]MergeCandidate, error)
	// JoinMergeCandidate marks a candidate as reported by the other feed.
	JoinMergeCandidate(ctx context.Context, id int64) error
	// UpdateEvent rewrites the stored event e.Event.ID with e (its id, insertion time, dedupe key
	// and held state are kept). ErrNotFound if there is none.
	UpdateEvent(ctx context.Context, e *event.FileEvent) error
	// NewestEventUpdate returns the seq of the newest event update kept (0 when none).
	NewestEventUpdate(ctx context.Context) (int64, error)
	// PruneMergeCandidates forgets candidates observed before the given time and returns how many.
	PruneMergeCandidates(ctx context.Context, before time.Time) (int64, error)
}

// ---- risk ----

// DestinationQueries remember the destinations each person has shared or sent files to, for the
// first_use risk indicator (internal/risk). Ingest calls them in the transaction that stores the
// events, so a destination used twice in one page is new only for the first event.
type DestinationQueries interface {
	// MarkDestinations records that person used each destination (first seen at) and returns those
	// never recorded for the person before, in the order given (duplicates within dests count once).
	MarkDestinations(ctx context.Context, person string, dests []string, at time.Time) ([]string, error)
	// MarkDestinationsAt is MarkDestinations with each destination's own first-seen time (at[i]
	// for dests[i]; a destination named twice: its first). Ingest marks a page's destinations in
	// one call per person, the people in order, so that two nodes' pages never take the same rows
	// in opposite orders (a deadlock, one page retried).
	MarkDestinationsAt(ctx context.Context, person string, dests []string, at []time.Time) ([]string, error)
	// ListDestinationUse returns the destination domains (not whole addresses) used by at least
	// minPeople people, most people first, then by name, at most limit (<= 0: 100).
	ListDestinationUse(ctx context.Context, minPeople, limit int) ([]DestinationUse, error)
}

// DestinationUse is how many people have used a destination domain, and since when.
type DestinationUse struct {
	Destination string
	People      int
	FirstSeen   time.Time // the earliest first use
}

// ---- alert rules and alerts (issue 16, internal/alert) ----

// Alert states and resolutions.
const (
	AlertOpen       = "open"
	AlertInProgress = "in_progress"
	AlertResolved   = "resolved"
	AlertDismissed  = "dismissed"
)

// AlertRule is a search query plus a kind (threshold, new_terms) whose parameters the store keeps
// as JSON; internal/alert validates and interprets them.
type AlertRule struct {
	ID          int64
	Name        string // unique, compared trimmed and case-insensitively
	Description string
	Query       string // the search language (internal/search)
	Kind        string // threshold or new_terms
	Params      []byte // JSON of the kind's parameters
	Severity    string
	Enabled     bool
	Template    string // the shipped template it was made from; "" for an admin's own rule
	// Warning says why the rule did not raise every alert it could (the hourly cap); Suppressed
	// counts the alerts it did not raise. Set by the evaluator (SetAlertRuleWarning).
	Warning    string
	Suppressed int64
	// Seeded: a new_terms rule's history was read from the stored events. UpdateAlertRule clears it.
	Seeded    bool
	CreatedAt time.Time
	CreatedBy string
	UpdatedAt time.Time
	UpdatedBy string
	Version   int64 // incremented by every UpdateAlertRule; compare-and-set
}

// Alert is what a rule raised for one group (a person, or up to 3 fields) within a window.
type Alert struct {
	ID           int64
	RuleID       int64
	RuleName     string // the rule's name when the alert was raised
	GroupKey     string // the grouping values, e.g. "alice@corp.example" or "alice@corp.example | gmail.com"
	Person       string // the actor of the group (or of its first event)
	State        string // open, in_progress, resolved, dismissed
	Resolution   string // true_positive, benign_true_positive, false_positive, or ""
	Assignee     string
	Severity     string
	Summary      string
	FirstEventAt time.Time // observed time of its earliest event
	LastEventAt  time.Time // observed time of its latest event
	WindowEnd    time.Time // events of the group observed before it join the alert while it is open
	EventCount   int64
	CreatedAt    time.Time
	UpdatedAt    time.Time
	Version      int64
}

// AlertChange is one line of an alert's history: raised, events added, state, resolution,
// assignee changed, or a note.
type AlertChange struct {
	ID      int64
	AlertID int64
	At      time.Time
	Actor   string // a user name, or "system"
	Field   string // raised, events, state, resolution, assignee, note
	From    string
	To      string
	Note    string
}

// AlertMatch is an event a threshold rule matched for a group that has no alert yet.
type AlertMatch struct {
	RuleID  int64
	Group   string
	EventID int64
	At      time.Time // observed
	File    string    // the file's vendor id
	Size    int64
}

// AlertRuleState is a rule's whole evaluation state (AlertQueries.LoadAlertRuleState).
type AlertRuleState struct {
	Matches []AlertMatch         // by group and event id
	Open    []Alert              // by id
	Terms   map[string]time.Time // term -> last seen
}

// EvaluatorMarks move whenever something other than the evaluator's own batches may have changed
// its state: Updates is the updates position (0 before it is set); AlertChanges counts the
// UpdateAlert calls ever made (an analyst resolving, dismissing or reopening an alert).
type EvaluatorMarks struct {
	Updates      int64
	AlertChanges int64
}

// AlertFilter selects alerts, newest first.
type AlertFilter struct {
	States     []string // empty: every state
	Severities []string // empty: every severity
	RuleID     int64
	Person     string
	Assignee   string
	BeforeID   int64 // keyset paging: alerts with ID < BeforeID
	Limit      int   // <= 0: 100
	// Oldest: alerts with ID > AfterID, oldest first (the stream SIEM forwarding follows: alerts
	// are made by the one evaluator, so their ids appear in commit order).
	Oldest  bool
	AfterID int64
	// Text, when set, matches alerts whose rule name, summary, person or group contains it
	// (case-insensitive; no wildcards).
	Text string
	// From and To, when set, bound the alerts' creation time (From inclusive, To exclusive).
	From, To time.Time
}

// AlertQueries keep alert rules, alerts, their events and history, and the evaluator's state.
// The evaluator calls them in one transaction per batch of events, with the new position, so
// each event is evaluated exactly once.
type AlertQueries interface {
	// CreateAlertRule inserts r (Version 1; CreatedAt and UpdatedAt set when zero); a taken name gives ErrConflict.
	CreateAlertRule(ctx context.Context, r AlertRule) (AlertRule, error)
	GetAlertRule(ctx context.Context, id int64) (AlertRule, error)
	// ListAlertRules returns every rule by id.
	ListAlertRules(ctx context.Context) ([]AlertRule, error)
	// UpdateAlertRule writes name, description, query, kind, params, severity, enabled, updated
	// time and author if the stored Version equals r.Version (else ErrConflict; ErrNotFound if
	// absent), clears the warning, Suppressed and Seeded when the query, kind or params changed and
	// then forgets the rule's pending matches and terms; returns the row with Version+1.
	UpdateAlertRule(ctx context.Context, r AlertRule) (AlertRule, error)
	// DeleteAlertRule removes the rule, its pending matches and terms; its alerts stay.
	DeleteAlertRule(ctx context.Context, id int64) error
	// SetAlertRuleWarning sets the rule's warning and adds to its suppressed count (not a new version).
	SetAlertRuleWarning(ctx context.Context, id int64, warning string, suppressed int64) error
	// MarkAlertRuleSeeded sets Seeded if the rule is still at version (else ErrConflict).
	MarkAlertRuleSeeded(ctx context.Context, id, version int64) error

	// GetAlertPosition returns the id of the last event the evaluator evaluated; ErrNotFound
	// before InitAlertPosition.
	GetAlertPosition(ctx context.Context) (int64, error)
	// InitAlertPosition sets the position to at when it has none, and returns it as stored.
	InitAlertPosition(ctx context.Context, at int64) (int64, error)
	// AdvanceAlertPosition moves the position from from to to; ErrConflict when it is not at from
	// (another run evaluated those events: its transaction must roll back).
	AdvanceAlertPosition(ctx context.Context, from, to int64) error
	// GetUpdatesPosition returns the seq of the last event update (MergeQueries.UpdateEvent) the
	// evaluator evaluated; ErrNotFound before InitUpdatesPosition.
	GetUpdatesPosition(ctx context.Context) (int64, error)
	// InitUpdatesPosition sets the updates position after the newest update when it has none, and
	// returns it as stored.
	InitUpdatesPosition(ctx context.Context) (int64, error)
	// AdvanceUpdatesPosition moves the updates position from from to to (ErrConflict when it is
	// not at from) and forgets the updates passed.
	AdvanceUpdatesPosition(ctx context.Context, from, to int64) error
	// ListEventUpdates reads up to limit updates after seq after and returns the seq of the last
	// one read (after when none) and the events they rewrote, as stored now, each once, in id
	// order; held events are left out.
	ListEventUpdates(ctx context.Context, after int64, limit int) (int64, []event.FileEvent, error)
	// AlertsWithEvent returns the alerts that hold the event, by id.
	AlertsWithEvent(ctx context.Context, eventID int64) ([]Alert, error)
	// DeleteEventMatches forgets every pending threshold match of the event.
	DeleteEventMatches(ctx context.Context, eventID int64) error
	// SetAlertPerson names the person of an alert that names nobody yet (a no-op otherwise),
	// recording the change with note.
	SetAlertPerson(ctx context.Context, alertID int64, person, note string) error
	// AddAlertMatches records pending threshold matches (a match already recorded is kept).
	AddAlertMatches(ctx context.Context, ms []AlertMatch) error
	// ListAlertMatches returns a group's pending matches observed at or after since, by event id.
	ListAlertMatches(ctx context.Context, ruleID int64, group string, since time.Time) ([]AlertMatch, error)
	// DeleteAlertMatches forgets a group's pending matches observed before before (zero: all of them).
	DeleteAlertMatches(ctx context.Context, ruleID int64, group string, before time.Time) error
	// MarkAlertTerms records that the rule saw each term at at, and returns, in the order given,
	// those it had not seen at or after since (duplicates within terms count once). A term's last
	// seen time only moves forward.
	MarkAlertTerms(ctx context.Context, ruleID int64, terms []string, at, since time.Time) ([]string, error)
	// OpenAlertFor returns the newest open or in-progress alert of the rule and group whose window
	// ends after at, or ErrNotFound.
	OpenAlertFor(ctx context.Context, ruleID int64, group string, at time.Time) (Alert, error)
	// CreateAlert inserts a (Version 1, EventCount = len(eventIDs)) with its events and a "raised"
	// history line by actor system.
	CreateAlert(ctx context.Context, a Alert, eventIDs []int64) (Alert, error)
	// AddAlertEvents adds events to an alert (ids it holds are ignored), widening its first and
	// last event times to first and last, and counts them; ErrNotFound when the alert is gone.
	AddAlertEvents(ctx context.Context, alertID int64, eventIDs []int64, first, last time.Time) error
	// CountAlertsRaised counts the rule's alerts created at or after since.
	CountAlertsRaised(ctx context.Context, ruleID int64, since time.Time) (int64, error)

	// The evaluator's batch reads and writes: what one batch of events needs, a statement per
	// rule rather than per event and rule.

	// ListAlertMatchesIn returns the pending matches of the rule's groups observed at or after
	// since, by group and event id.
	ListAlertMatchesIn(ctx context.Context, ruleID int64, groups []string, since time.Time) ([]AlertMatch, error)
	// PruneAlertMatches forgets the pending matches of the rule's groups observed before before
	// (zero: all of them).
	PruneAlertMatches(ctx context.Context, ruleID int64, groups []string, before time.Time) error
	// OpenAlertsIn returns the open and in-progress alerts of the rule's groups whose window ends
	// after at, by id.
	OpenAlertsIn(ctx context.Context, ruleID int64, groups []string, at time.Time) ([]Alert, error)
	// AlertTermsIn returns when the rule last saw each of terms it has seen (absent: never).
	AlertTermsIn(ctx context.Context, ruleID int64, terms []string) (map[string]time.Time, error)
	// SetAlertTerms records when the rule last saw each term; a term's last seen time only moves forward.
	SetAlertTerms(ctx context.Context, ruleID int64, seen map[string]time.Time) error
	// LoadAlertRuleState reads what the evaluator keeps of a rule in memory across batches: every
	// pending match, the open and in-progress alerts whose window ends after openAfter, and the
	// terms last seen at or after termsSince. More than limit rows in all give ok false (and no
	// state): the rule is read per batch instead.
	LoadAlertRuleState(ctx context.Context, ruleID int64, openAfter, termsSince time.Time, limit int) (st AlertRuleState, ok bool, err error)
	// EvaluatorMarks reads, in one statement, what tells the evaluator whether the state it keeps
	// in memory is still the stored one: the updates position and the count of alert changes.
	EvaluatorMarks(ctx context.Context) (EvaluatorMarks, error)

	GetAlert(ctx context.Context, id int64) (Alert, error)
	ListAlerts(ctx context.Context, f AlertFilter) ([]Alert, error)
	// UpdateAlert writes state, resolution, assignee and UpdatedAt if the stored Version equals
	// a.Version (else ErrConflict; ErrNotFound if absent) and appends changes, in one statement
	// group, counting the change in EvaluatorMarks.AlertChanges; returns the row with Version+1.
	UpdateAlert(ctx context.Context, a Alert, changes []AlertChange) (Alert, error)
	// ListAlertChanges returns an alert's history oldest first.
	ListAlertChanges(ctx context.Context, alertID int64) ([]AlertChange, error)
	// ListAlertEventIDs returns the ids of an alert's events after afterID, ascending, at most limit (<= 0: 1000).
	ListAlertEventIDs(ctx context.Context, alertID, afterID int64, limit int) ([]int64, error)
	// CountAlertsByRule counts every rule's alerts (rules without alerts are absent), by rule id.
	CountAlertsByRule(ctx context.Context) ([]AlertRuleCounts, error)
	// CountAlertsByRuleDay counts the alerts raised since since, by rule and UTC day of creation.
	CountAlertsByRuleDay(ctx context.Context, since time.Time) ([]AlertDayCount, error)
}

// AlertRuleCounts are a rule's alerts by outcome: its effectiveness is Confirmed / (Confirmed +
// Dismissed).
type AlertRuleCounts struct {
	RuleID    int64
	Total     int64
	Open      int64 // open or in progress
	Confirmed int64 // resolved as a true positive (benign or not)
	Dismissed int64 // dismissed, or resolved as a false positive
}

// AlertDayCount is how many alerts a rule raised on one UTC day.
type AlertDayCount struct {
	RuleID int64
	Day    time.Time // midnight UTC
	Alerts int64
}

// ---- watchlists (issue 16, R6.3, internal/watchlist) ----

// Watchlist is a list of people who deserve closer attention: one per built-in type (created by
// migration 0016) and any number of custom ones, each with its own name.
type Watchlist struct {
	ID          int64
	Type        string // departing_employee, flight_risk, ..., custom
	Name        string // unique, compared trimmed and case-insensitively; a built-in list's name is its type
	Description string
	Members     int64 // counted when listed
	CreatedAt   time.Time
	CreatedBy   string
}

// WatchlistMember is a person on a watchlist, by address (stored lower case).
type WatchlistMember struct {
	WatchlistID   int64
	Email         string
	DepartureDate string // YYYY-MM-DD, departing_employee only; "" when unknown
	Notes         string
	AddedBy       string
	AddedAt       time.Time
}

// WatchlistMembership is one person on one watchlist, what risk and alert rules look up.
type WatchlistMembership struct {
	Email       string
	WatchlistID int64
	Type        string
	Name        string
}

// WatchlistQueries keep watchlists and their members. Every change of membership moves the
// revision, so that caches of the memberships (ingest, the alert evaluator) reload only then.
type WatchlistQueries interface {
	// CreateWatchlist inserts w; a taken name gives ErrConflict.
	CreateWatchlist(ctx context.Context, w Watchlist) (Watchlist, error)
	GetWatchlist(ctx context.Context, id int64) (Watchlist, error)
	// ListWatchlists returns every watchlist by id, with its member count.
	ListWatchlists(ctx context.Context) ([]Watchlist, error)
	// PutWatchlistMembers adds the members to the watchlist, or updates the departure date and
	// notes of those already on it (their added_by and added_at stay), and returns how many were
	// added. ErrNotFound when the watchlist is absent.
	PutWatchlistMembers(ctx context.Context, watchlistID int64, ms []WatchlistMember) (added int64, err error)
	// RemoveWatchlistMembers removes the addresses from the watchlist and returns how many were on it.
	RemoveWatchlistMembers(ctx context.Context, watchlistID int64, emails []string) (int64, error)
	// ListWatchlistMembers returns the watchlist's members by address after afterEmail, at most limit (<= 0: 1000).
	ListWatchlistMembers(ctx context.Context, watchlistID int64, afterEmail string, limit int) ([]WatchlistMember, error)
	// ListPersonMemberships returns the person's rows on every watchlist they are on, by watchlist id.
	ListPersonMemberships(ctx context.Context, email string) ([]WatchlistMember, error)
	// ListWatchlistMemberships returns every membership of every watchlist (for caches).
	ListWatchlistMemberships(ctx context.Context) ([]WatchlistMembership, error)
	// WatchlistRevision returns a number that changes whenever a watchlist or a membership does.
	WatchlistRevision(ctx context.Context) (int64, error)
}

// ---- cases (issue 16, R6.4, docs/CASES.md) ----

// Case states.
const (
	CaseOpen     = "open"
	CaseClosed   = "closed"
	CaseArchived = "archived"
)

// Case gathers people, alerts and events for an investigation.
type Case struct {
	ID          int64
	Title       string
	Description string
	State       string // open, closed, archived
	Assignee    string
	// LegalHold keeps the case's events (those added and those of its alerts) past retention and
	// connection deletion.
	LegalHold bool
	// Counted when read: the people, alerts and directly added events of the case.
	People, Alerts, Events int64
	CreatedAt              time.Time
	CreatedBy              string
	UpdatedAt              time.Time
	Version                int64 // incremented by every change (UpdateCase, AddCaseItems)
}

// CaseChange is one line of a case's history: created, title, description, state, assignee,
// legal_hold, people, alerts, events (items added: To lists them) or a note.
type CaseChange struct {
	ID     int64
	CaseID int64
	At     time.Time
	Actor  string
	Field  string
	From   string
	To     string
	Note   string
}

// CaseItems are what a case gathers.
type CaseItems struct {
	People   []string // addresses, lower case
	AlertIDs []int64
	EventIDs []int64
}

// CaseFilter selects cases, newest first.
type CaseFilter struct {
	States   []string // empty: every state
	Person   string   // cases with this person
	AlertID  int64    // cases with this alert
	Assignee string
	BeforeID int64 // keyset paging: cases with ID < BeforeID
	Limit    int   // <= 0: 100
}

// CaseQueries keep cases, what they gather and their history.
type CaseQueries interface {
	// CreateCase inserts c (Version 1) with a "created" history line by c.CreatedBy.
	CreateCase(ctx context.Context, c Case) (Case, error)
	GetCase(ctx context.Context, id int64) (Case, error)
	ListCases(ctx context.Context, f CaseFilter) ([]Case, error)
	// UpdateCase writes title, description, state, assignee, legal hold and UpdatedAt if the stored
	// Version equals c.Version (else ErrConflict; ErrNotFound if absent) and appends changes;
	// returns the row with Version+1. Lifting the last hold on an event whose connection was
	// deleted meanwhile deletes the event (retention would have).
	UpdateCase(ctx context.Context, c Case, changes []CaseChange) (Case, error)
	// AddCaseItems adds people, alerts and events to the case (those it holds are ignored), with one
	// history line per kind of item added, and moves its version; it returns what was new.
	// ErrNotFound when the case is absent.
	AddCaseItems(ctx context.Context, caseID int64, items CaseItems, actor string, at time.Time) (CaseItems, error)
	// ListCasePeople returns the case's people by address.
	ListCasePeople(ctx context.Context, caseID int64) ([]string, error)
	// ListCaseAlertIDs returns the ids of the case's alerts, ascending.
	ListCaseAlertIDs(ctx context.Context, caseID int64) ([]int64, error)
	// ListCaseEventIDs returns, ascending, the ids after afterID of the case's events: those added
	// and those of its alerts (still stored or not), at most limit (<= 0: 1000).
	ListCaseEventIDs(ctx context.Context, caseID, afterID int64, limit int) ([]int64, error)
	// ListCaseChanges returns the case's history oldest first.
	ListCaseChanges(ctx context.Context, caseID int64) ([]CaseChange, error)
}

// ---- per-person risk (issue 16, docs/RISK.md) ----

// PersonRiskDay is the risk of a person's scored events observed on one UTC day.
type PersonRiskDay struct {
	Day    time.Time // midnight UTC
	Score  int64     // the sum of the events' scores
	Events int64     // how many events scored above 0
}

// PersonRiskQueries read the per-person risk that InsertEvents keeps: every inserted event with a
// score above 0 and an actor adds its score to its actor's day (UTC, by time observed), in the
// transaction that stores it.
type PersonRiskQueries interface {
	// PersonRiskDays returns the person's days from since (a UTC day) on, oldest first.
	PersonRiskDays(ctx context.Context, email string, since time.Time) ([]PersonRiskDay, error)
}

// ---- risk re-score jobs (issue 16, docs/RISK.md) ----

// Re-score job states.
const (
	RescoreRunning   = "running"
	RescoreDone      = "done"
	RescoreFailed    = "failed"
	RescoreCancelled = "cancelled"
)

// RescoreJob applies risk settings to the events observed in [From, To) that were stored up to
// MaxID (those stored later were scored with these settings already). Its progress is a keyset
// position in (observed, id) order, committed with each page of rewritten events.
type RescoreJob struct {
	ID       int64
	From, To time.Time
	Settings []byte // what the job applies, fixed at creation (JSON: internal/rescore)
	State    string
	MaxID    int64
	// The last event done: events before it in (observed, id) order are done.
	AfterObserved time.Time
	AfterID       int64
	Total         int64 // events in the range when the job was created (at most MaxID)
	Scanned       int64 // events read
	Changed       int64 // events whose risk changed
	Error         string
	CreatedBy     string
	CreatedAt     time.Time
	UpdatedAt     time.Time
	FinishedAt    time.Time // zero while running
}

// RescoreQueries keep re-score jobs and rewrite stored risk in place.
type RescoreQueries interface {
	// CreateRescoreJob inserts j as running (ID, MaxID, Total set from the events stored now);
	// ErrConflict while another job is running.
	CreateRescoreJob(ctx context.Context, j RescoreJob) (RescoreJob, error)
	GetRescoreJob(ctx context.Context, id int64) (RescoreJob, error)
	// ListRescoreJobs returns the newest jobs first, at most limit (<= 0: 20).
	ListRescoreJobs(ctx context.Context, limit int) ([]RescoreJob, error)
	// RescorePage returns the next events of the job after its position, in (observed, id)
	// order, at most limit, held events included.
	RescorePage(ctx context.Context, j RescoreJob, limit int) ([]event.FileEvent, error)
	// AdvanceRescoreJob moves a running job from its stored position (j.AfterObserved, j.AfterID)
	// to (observed, id), adding scanned and changed; ErrConflict when the job is not running or
	// is no longer at j's position (another run moved it).
	AdvanceRescoreJob(ctx context.Context, j RescoreJob, observed time.Time, id, scanned, changed int64, now time.Time) error
	// FinishRescoreJob ends a running job in state (done, failed, cancelled) with errText;
	// ErrConflict when it is not running, ErrNotFound when absent.
	FinishRescoreJob(ctx context.Context, id int64, state, errText string, now time.Time) error
	// SetEventRisks stores each event's Risk in place of the stored one: the trusted flag, the
	// severity and the risk in the event (what search reads for risk.* and trusted), moving the
	// person risk from the old score to the new. It appends no event_updates row (a re-score is
	// not new activity and raises no alert, docs/RISK.md). Events deleted meanwhile are skipped;
	// it returns how many were rewritten.
	SetEventRisks(ctx context.Context, evs []*event.FileEvent) (int, error)
}

// ---- departure exposure (issue 16, docs/CASES.md) ----

// ExposedFile is a file of the index that is exposed now: its latest sharing state (the latest
// event of the file that carries one) has one of the exposures asked for.
type ExposedFile struct {
	File  File
	Event event.FileEvent // the latest sharing event of the file
}

// ExposureQueries answer what a person owns that is shared now.
type ExposureQueries interface {
	// ExposedFiles returns, by file id after afterFileID, at most limit (<= 0: 1000) files not
	// deleted, owned by owner (the file's owner compared in lower case, or, for files without one,
	// the owner of their user drive), whose latest sharing event (action shared or unshared, or any
	// event carrying exposure or a link scope; held events excluded) has an exposure bit in mask
	// (event.ExposureBits).
	ExposedFiles(ctx context.Context, owner string, mask int, afterFileID int64, limit int) ([]ExposedFile, error)
}

// ---- people ----

// Person is a monitored human keyed by email.
type Person struct {
	ID               int64
	Email            string // unique, stored lower-case
	Name             string
	Aliases          []string
	Department       string
	Manager          string
	EmploymentStatus string
	Status           string // active, inactive, blocked
	UpdatedAt        time.Time
}

// PeopleQueries keep people.
type PeopleQueries interface {
	// UpsertPerson inserts or updates by email (compared lower-case) and returns the row.
	UpsertPerson(ctx context.Context, p Person) (Person, error)
	GetPersonByEmail(ctx context.Context, email string) (Person, error)
	ListPeople(ctx context.Context, afterID int64, limit int) ([]Person, error)

	// AddPersonAlias makes alias another address of the person whose primary address is email
	// (both compared lower-case). Adding an alias the person has already is a no-op. It gives
	// ErrConflict, saying with whom, when alias is email, when alias belongs to someone else,
	// when alias is a primary with aliases of its own, when email is itself someone's alias, or
	// when the person has MaxPersonAliases already.
	AddPersonAlias(ctx context.Context, email, alias, by string) error
	// RemovePersonAlias gives ErrNotFound when alias is not one of the person's.
	RemovePersonAlias(ctx context.Context, email, alias string) error
	// PersonAliases returns the aliases of the people with these primary addresses, by address.
	PersonAliases(ctx context.Context, emails []string) ([]PersonAlias, error)
	// ResolvePerson returns the primary address of an address: the person it is an alias of,
	// or itself (lower case).
	ResolvePerson(ctx context.Context, address string) (string, error)
	// ResolvePeople resolves many addresses at once (at most MaxResolve): alias -> primary
	// address, both lower case, for those of the addresses that are aliases.
	ResolvePeople(ctx context.Context, addresses []string) (map[string]string, error)
	// ReplacePersonStates replaces what the connection's directory says of the people in scope it
	// does not monitor (a discovery's Discovery.Inactive, at most MaxPersonStates) and refreshes
	// people.status of everyone it named before or names now: active when they own an in-scope
	// user drive or mailbox of any connection, else blocked when a directory says so, else
	// inactive; a person without a people row gets one. Run it in a transaction.
	ReplacePersonStates(ctx context.Context, connectionID int64, states []PersonState) error
	// EnsurePeople gives each address (lower-cased) a people row, active, where it has none; an
	// existing row is left as it is.
	EnsurePeople(ctx context.Context, emails []string) error
	// PersonStates returns what the directories say of these addresses (lower case), by address
	// and connection.
	PersonStates(ctx context.Context, emails []string) ([]PersonState, error)
	// ListKnownPeople lists people by primary address after after (""): everyone with a people
	// row, an alias, or file events as actor, aliases folded into their person. A page may hold
	// fewer than limit people (aliases dropped); next is "" at the end.
	ListKnownPeople(ctx context.Context, after string, limit int) (people []KnownPerson, next string, err error)
}

// PersonState is what one connection's directory says of a person it does not monitor.
type PersonState struct {
	ConnectionID int64
	Email        string // lower case
	Status       string // blocked or inactive (connector.PersonBlocked, PersonInactive)
	Reason       string
	UpdatedAt    time.Time
}

// People's statuses (R8.3); the directories' words are connector.PersonBlocked and PersonInactive.
const (
	PersonActive   = "active"
	PersonBlocked  = "blocked"
	PersonInactive = "inactive"
)

// MaxPersonStates bounds the states one connection's discovery records (connector.MaxInactive).
const MaxPersonStates = 10000

// MaxResolve bounds the addresses one ResolvePeople call takes.
const MaxResolve = 1000

// MaxPersonAliases bounds a person's aliases, and so the work of reading a person (a search per
// address and service).
const MaxPersonAliases = 50

// PersonAlias is another address of a person (issue 18, R8.3).
type PersonAlias struct {
	Email     string // the person's primary address
	Alias     string
	CreatedBy string
	CreatedAt time.Time
}

// KnownPerson is a line of the people list: the primary address, with what the people table
// knows (InTable false: known only from events or aliases, status unknown).
type KnownPerson struct {
	Email   string
	InTable bool
	Person  Person
}

// ---- login users, tokens, sessions ----

// User is someone (or a service account) who logs in to Telltale.
type User struct {
	ID                 int64
	Username           string // unique, compared case-insensitively
	Name               string
	Role               string // admin, analyst, read-only, integration
	PasswordHash       string // argon2id PHC string; "" for service accounts
	ServiceAccount     bool
	Disabled           bool
	MustChangePassword bool
	// Provider is the id of the identity provider a person signs in through ("" for local users
	// and service accounts); Subject is the person's stable id there. The pair is unique.
	Provider string
	Subject  string
	// RoleSource says where Role came from: "local" or "" (set here) or "group:<name>" (mapped
	// from the provider's groups at the last sign-in).
	RoleSource   string
	LastSignInAt time.Time // zero: never signed in to the console
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Token is an API token. Only its hash is stored.
type Token struct {
	ID         int64
	UserID     int64
	Name       string
	Prefix     string // the first characters of the token, shown to tell tokens apart
	Hash       []byte // unique
	CreatedAt  time.Time
	ExpiresAt  time.Time // zero: never
	LastUsedAt time.Time
	RevokedAt  time.Time
	// Scopes limit the token to parts of the API ("file-events:read", "watchlists:write"; R7.6),
	// sorted; none: everything its user's role allows.
	Scopes []string
}

// Session is a console session. Only the hash of its cookie value is stored.
type Session struct {
	Hash      []byte
	UserID    int64
	CSRF      string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// SSOState is a single sign-on in flight, between the redirect to the identity provider and its
// answer. Only hashes of the state parameter and of the browser's cookie secret are stored.
type SSOState struct {
	Hash      []byte // of the state parameter
	Provider  string
	Browser   []byte // of the secret in the browser's cookie
	Nonce     string
	Verifier  string // the PKCE code verifier
	Next      string // where the person goes after signing in
	ExpiresAt time.Time
}

// UserQueries keep users, tokens and sessions.
type UserQueries interface {
	// CreateUser gives ErrConflict when the user name is taken.
	CreateUser(ctx context.Context, u User) (User, error)
	GetUser(ctx context.Context, id int64) (User, error)
	GetUserByUsername(ctx context.Context, username string) (User, error)
	// RecordSignIn sets a user's last sign-in time and nothing else.
	RecordSignIn(ctx context.Context, id int64, at time.Time) error
	// GetUserBySubject finds the user of an identity provider's subject.
	GetUserBySubject(ctx context.Context, provider, subject string) (User, error)
	ListUsers(ctx context.Context) ([]User, error)
	UpdateUser(ctx context.Context, u User) (User, error)
	CountUsers(ctx context.Context) (int64, error)

	CreateToken(ctx context.Context, t Token) (Token, error)
	GetTokenByHash(ctx context.Context, hash []byte) (Token, error)
	// ListTokens lists a user's tokens (0: everyone's), revoked ones included, ordered by ID.
	ListTokens(ctx context.Context, userID int64) ([]Token, error)
	RevokeToken(ctx context.Context, id int64, at time.Time) error
	TouchToken(ctx context.Context, id int64, at time.Time) error

	CreateSession(ctx context.Context, s Session) error
	GetSession(ctx context.Context, hash []byte) (Session, error)
	DeleteSession(ctx context.Context, hash []byte) error
	DeleteUserSessions(ctx context.Context, userID int64) error
	DeleteExpiredSessions(ctx context.Context, now time.Time) (int64, error)

	CreateSSOState(ctx context.Context, st SSOState) error
	// TakeSSOState deletes and returns the state with the hash, once: a second take gives
	// ErrNotFound. States that expired before now are deleted on the way and not returned.
	TakeSSOState(ctx context.Context, hash []byte, now time.Time) (SSOState, error)
	// ConsumeSSOAssertion records a SAML assertion id as used until expiresAt; ErrConflict when it
	// is recorded already (a replay). Records that expired before now are deleted on the way.
	ConsumeSSOAssertion(ctx context.Context, id string, expiresAt, now time.Time) error

	// PutUserTOTP sets a user's TOTP secret anew, not yet enabled, and deletes their recovery codes.
	PutUserTOTP(ctx context.Context, t UserTOTP) error
	// GetUserTOTP gives ErrNotFound when the user has none.
	GetUserTOTP(ctx context.Context, userID int64) (UserTOTP, error)
	// EnableUserTOTP marks the user's TOTP enabled at at and replaces their recovery codes by
	// the hashes; ErrNotFound when the user has no TOTP secret.
	EnableUserTOTP(ctx context.Context, userID int64, at time.Time, codeHashes [][]byte) error
	// UseTOTPStep records that a code of time step step was accepted: ErrConflict when a code of
	// that step or a later one was accepted already (a code is good once).
	UseTOTPStep(ctx context.Context, userID, step int64) error
	// UseRecoveryCode marks the user's unused recovery code with the hash used; ErrNotFound when
	// there is none.
	UseRecoveryCode(ctx context.Context, userID int64, hash []byte, at time.Time) error
	// CountRecoveryCodes counts the user's unused recovery codes.
	CountRecoveryCodes(ctx context.Context, userID int64) (int, error)
	// DeleteUserTOTP removes the user's TOTP secret and recovery codes.
	DeleteUserTOTP(ctx context.Context, userID int64) error
}

// UserTOTP is a local account's second factor (RFC 6238).
type UserTOTP struct {
	UserID    int64
	Secret    []byte    // sealed with the server's key
	EnabledAt time.Time // zero while being set up
	LastStep  int64     // the time step of the last accepted code
}

// ---- audit log (R8.8) ----

// AuditEntry records one mutating call: who, what, when, from where.
//
// The log is a hash chain (tamper-evident, R8.8; docs/OPERATIONS.md "Audit log" gives the
// encoding): every record, once written, is never changed. A call that changes something writes a
// started record before it runs, and its outcome as a second record that Finishes it; ListAudit
// shows the two as one entry.
type AuditEntry struct {
	ID       int64
	At       time.Time
	Actor    string // user name
	ActorID  int64
	Action   string // e.g. connection.deauthorize
	Target   string // e.g. connection/7
	Details  []byte // JSON, never a secret
	ClientIP string
	Outcome  string // ok, or the error

	// The chain (set by the store). Seq is the record's position, 1 for the first; PrevHash is
	// the hash of the record before it (empty for the first); Hash is AuditHash of the record.
	// Finishes is the id of the started record whose outcome this record is (0: none).
	Seq      int64
	Finishes int64
	PrevHash []byte
	Hash     []byte
	// FinishedAt is when the outcome of a started entry was recorded (ListAudit only; zero while
	// the call runs, or if the node stopped before it ended).
	FinishedAt time.Time
}

// AuditFilter selects audit entries, newest first.
type AuditFilter struct {
	Actor    string
	Action   string // prefix match
	Target   string
	Since    time.Time
	Until    time.Time
	BeforeID int64 // keyset paging: entries with ID < BeforeID
	Oldest   bool  // entries with ID > AfterID, oldest first
	AfterID  int64
	Limit    int // <= 0: 100
}

// AuditStarted is the outcome of an entry written before its action runs (R8.8: no action
// without its audit entry); FinishAudit then records the outcome.
const AuditStarted = "started"

// AuditHead is the end of the chain as the store keeps it beside the records, so that deleting
// the newest records is detected too: Count records, the last with hash Hash.
type AuditHead struct {
	Count int64
	Hash  []byte
}

// AuditQueries keep the audit log. It is append-only: each record is chained to the one before
// it when it is written, in id order, under a lock shared by every node.
type AuditQueries interface {
	AppendAudit(ctx context.Context, e AuditEntry) (AuditEntry, error)
	// FinishAudit records the outcome of a started entry (its target and details too, when not
	// empty) as a record of its own. An entry that is not started, or already finished, gives
	// ErrNotFound.
	FinishAudit(ctx context.Context, id int64, target string, details []byte, outcome string) error
	// ListAudit lists calls: a started record with its outcome folded in, newest first.
	ListAudit(ctx context.Context, f AuditFilter) ([]AuditEntry, error)
	// AuditRecords lists the raw records with ids above afterID, in id order, for verification.
	AuditRecords(ctx context.Context, afterID int64, limit int) ([]AuditEntry, error)
	// AuditHead returns the end of the chain.
	AuditHead(ctx context.Context) (AuditHead, error)
}

// ---- settings ----

// SettingQueries keep JSON settings by key (trusted domains, retention, ...).
type SettingQueries interface {
	// GetSetting returns ErrNotFound when unset.
	GetSetting(ctx context.Context, key string) ([]byte, error)
	PutSetting(ctx context.Context, key string, value []byte) error
}

// ---- endpoint agents and devices (issue 18, R8.2) ----

// DeploymentSecret is what endpoint agents enrol with. Only the hash of the secret is kept.
type DeploymentSecret struct {
	ID        int64
	Name      string
	Prefix    string // the first characters of the secret, shown to tell secrets apart
	Hash      []byte // SHA-256 of the secret; unique
	CreatedAt time.Time
	CreatedBy string
	ExpiresAt time.Time // enrolment refused from then on
	RevokedAt time.Time // zero: not revoked; set: no enrolment and no check-in of its devices
	UpdatedAt time.Time
	Devices   int64 // counted when read: devices enrolled with it
}

// Device is an enrolled endpoint agent.
type Device struct {
	ID             int64
	PublicKey      []byte // ed25519; unique
	SecretID       int64  // the deployment secret it enrolled with
	HostName       string
	OS             string
	Arch           string
	AgentVersion   string
	UserName       string // the signed-in user as the agent reports it
	Person         string // the person's address (lower case), "" when unknown
	EnrolledAt     time.Time
	LastCheckInAt  time.Time
	LastActivityAt time.Time
	Counter        int64 // the largest signed-message counter accepted
	EventSeq       int64 // the largest file-event sequence number accepted
	Active         bool
	DeactivatedAt  time.Time
	DeactivatedBy  string
	// SecretRevokedAt is when the deployment secret it enrolled with was revoked (zero: not), read
	// by GetDevice only: an agent's message needs both, in one query.
	SecretRevokedAt time.Time
}

// CheckIn is what one accepted check-in writes.
type CheckIn struct {
	Counter        int64 // must be above the stored one
	At             time.Time
	HostName       string
	OS             string
	Arch           string
	AgentVersion   string
	UserName       string
	Person         string    // "": the device keeps the person it had
	LastActivityAt time.Time // kept when newer than the stored one
	// Outdated says AgentVersion is older than the server's (device.Older): recorded in the
	// device's health history when it changes.
	Outdated bool
	// PublicKey, when set, is the key the check-in's signature was verified with: the check-in is
	// stored only if it is still the device's (a key remembered by a node is never trusted alone).
	PublicKey []byte
}

// Device health kinds (DeviceHealth.Kind).
const (
	DeviceEnrolled    = "enrolled"
	DeviceCheckedIn   = "checked_in"
	DeviceOutdated    = "outdated"
	DeviceSilent      = "silent"
	DeviceDeactivated = "deactivated"
	DeviceReactivated = "reactivated"
)

// DeviceHealth is one change of a device's health, written in the transaction of the change
// (the devices stream of SIEM forwarding, R8.7): enrolled; checked_in (the first check-in, one
// back after silence, or one reporting other details than the last row); outdated (the same, with
// a version older than the server's); silent (MarkSilentDevices); deactivated; reactivated.
type DeviceHealth struct {
	ID           int64
	DeviceID     int64
	At           time.Time
	Kind         string
	HostName     string
	OS           string
	AgentVersion string
	Person       string
	Outdated     bool
	Since        time.Time // silent: when it was last heard from
	Actor        string    // deactivated, reactivated: who
}

// Device sort keys.
const (
	DeviceSortCheckIn = "last_checkin"
	DeviceSortOS      = "os"
	DeviceSortVersion = "version"
	DeviceSortPerson  = "person"
	DeviceSortHost    = "host"
)

// DeviceFilter selects devices.
type DeviceFilter struct {
	OS           string    // exact, case-insensitive
	AgentVersion string    // exact
	Person       string    // exact address, lower case
	Host         string    // substring, case-insensitive
	State        string    // "active", "inactive" or "" (both)
	SilentBefore time.Time // non-zero: only devices last heard from (checked in, or else enrolled) before it
	Sort         string    // a DeviceSort* key; "" = last check-in
	Desc         bool
	Offset       int
	Limit        int // <= 0: 100
}

// DeviceQueries keep deployment secrets and devices.
type DeviceQueries interface {
	// CreateDeploymentSecret inserts s; ErrConflict when its hash exists.
	CreateDeploymentSecret(ctx context.Context, s DeploymentSecret) (DeploymentSecret, error)
	GetDeploymentSecret(ctx context.Context, id int64) (DeploymentSecret, error)
	GetDeploymentSecretByHash(ctx context.Context, hash []byte) (DeploymentSecret, error)
	// ListDeploymentSecrets returns every secret, newest first.
	ListDeploymentSecrets(ctx context.Context) ([]DeploymentSecret, error)
	// UpdateDeploymentSecret writes the expiry and the revocation (zero: reactivated) and UpdatedAt.
	UpdateDeploymentSecret(ctx context.Context, id int64, expiresAt, revokedAt, at time.Time) (DeploymentSecret, error)

	// CreateDevice inserts d (active); ErrConflict when its public key is enrolled already.
	CreateDevice(ctx context.Context, d Device) (Device, error)
	GetDevice(ctx context.Context, id int64) (Device, error)
	ListDevices(ctx context.Context, f DeviceFilter) ([]Device, error)
	// CountDevices counts the devices f selects (its sort and paging ignored).
	CountDevices(ctx context.Context, f DeviceFilter) (int64, error)
	// RecordCheckIn stores a check-in if the device may still speak - active, its deployment
	// secret not revoked, its public key c.PublicKey when that is set - and c.Counter is above the
	// device's counter (compare-and-set), all checked in the one write. Otherwise nothing changes
	// and the answer is ErrConflict with the device as it is (a counter not above it is a replay;
	// the caller tells the other reasons from the device). ErrNotFound when the device is absent.
	RecordCheckIn(ctx context.Context, id int64, c CheckIn) (Device, error)
	// SetDeviceActive deactivates (by whom, when) or reactivates a device.
	SetDeviceActive(ctx context.Context, id int64, active bool, by string, at time.Time) (Device, error)
	// AcceptDeviceEvents stores a device's file events in one transaction: those whose sequence
	// number (seqs[i] for evs[i], ascending) is above the device's event sequence are inserted (the
	// events' dedupe keys keep a number once even so), the device's event sequence moves to the
	// largest number and its last activity to the newest event. It returns the device's event
	// sequence after the call and how many events were inserted.
	AcceptDeviceEvents(ctx context.Context, id int64, evs []*event.FileEvent, seqs []int64) (int64, int, error)
	// MarkSilentDevices records a silent row (at) for every active device last heard from (checked
	// in, or else enrolled) before `before` whose silence since then has no row yet, and returns
	// how many it recorded. Two callers at once record one silence once.
	MarkSilentDevices(ctx context.Context, before, at time.Time) (int64, error)
	// ListDeviceHealth returns the health rows with an id above afterID, oldest first, at most
	// limit (<= 0: 100).
	ListDeviceHealth(ctx context.Context, afterID int64, limit int) ([]DeviceHealth, error)
}

// ---- HR sources (issue 17, R7.2, internal/hr) ----

// HRSync is an HR source's sync state: where its next poll starts and how the last one went.
type HRSync struct {
	IntegrationID int64
	Cursor        string    // source-specific: BambooHR's "latest" of its last answer
	LastSyncAt    time.Time // the last sync attempt (poll, upload or webhook), zero before the first
	LastOKAt      time.Time // the last one that succeeded
	Summary       string    // the last sync's outcome: counts, or what failed
}

// PersonChange is one line of a person's history: a watchlist change and who or what made it.
type PersonChange struct {
	ID            int64
	Email         string // lower case
	At            time.Time
	WatchlistID   int64
	Action        string // added, updated, removed
	DepartureDate string
	Source        string // the HR source's name, "" for a change by hand
	Actor         string
}

// HRQueries keep the HR sources' state and the people's history.
type HRQueries interface {
	// GetHRSync returns the source's state; a source never synced has a zero state (ID set), not ErrNotFound.
	GetHRSync(ctx context.Context, integrationID int64) (HRSync, error)
	// PutHRSync writes the source's state.
	PutHRSync(ctx context.Context, s HRSync) error
	// PutHRPerson records that the source's employee externalID has address email (lower case).
	PutHRPerson(ctx context.Context, integrationID int64, externalID, email string) error
	// GetHRPerson returns the address of the source's employee externalID; ErrNotFound when never seen.
	GetHRPerson(ctx context.Context, integrationID int64, externalID string) (string, error)
	// AppendPersonChange adds a line to a person's history.
	AppendPersonChange(ctx context.Context, c PersonChange) (PersonChange, error)
	// ListPersonChanges returns the person's history newest first, at most limit (<= 0: 100).
	ListPersonChanges(ctx context.Context, email string, limit int) ([]PersonChange, error)
	// AppendHRRefusal records a refused webhook delivery of an HR source and keeps only the
	// source's newest keep (<= 0: 20).
	AppendHRRefusal(ctx context.Context, r HRRefusal, keep int) error
	// ListHRRefusals returns the source's refusals newest first, at most limit (<= 0: 20).
	ListHRRefusals(ctx context.Context, integrationID int64, limit int) ([]HRRefusal, error)
}

// HRRefusal is a refused webhook delivery of an HR source: when, why, from where; never the body.
type HRRefusal struct {
	ID            int64
	IntegrationID int64
	At            time.Time
	Reason        string // signature, stale, malformed, ...
	Detail        string // the answer the sender got
	RemoteAddr    string
}

// ---- environment health (R8.1, internal/health) ----

// Throttle is one throttling a connection's vendor imposed: seen at At, honoured until Until.
type Throttle struct {
	ConnectionID int64
	At, Until    time.Time
}

// StreamPage is what one committed page of an activity stream tells about the stream's health.
type StreamPage struct {
	ConnectionID int64
	Stream       string
	At           time.Time     // when the page committed
	NewestEvent  time.Time     // the newest vendor time of the page's records (zero: an empty page)
	Lag          time.Duration // how long after NewestEvent the page committed
}

// StreamHealth is an activity stream as its last pages left it.
type StreamHealth struct {
	ConnectionID int64
	Stream       string
	PageAt       time.Time     // the last committed page, even an empty one
	EventAt      time.Time     // the newest vendor time stored through the stream (zero: none yet)
	StoredAt     time.Time     // when the page holding EventAt committed
	Lag          time.Duration // the lag of that page
}

// FeedCount is how many actions one feed of a connection reported for one file in one UTC hour.
type FeedCount struct {
	ConnectionID int64
	Hour         time.Time // the start of the UTC hour of the actions
	FileID       string
	Feed         string
	N            int64
}

// RulePeople is how many alerts a rule raised since a time, and for how many people.
type RulePeople struct {
	RuleID int64
	Alerts int64
	People int64 // distinct persons (alerts without a person are not counted)
}

// HealthQueries keep what the health view needs beyond the other tables: throttling over time,
// stream progress and per-feed counts (written by collection), and the aggregates it reads.
type HealthQueries interface {
	// RecordThrottle appends a throttling.
	RecordThrottle(ctx context.Context, t Throttle) error
	// ListThrottles returns the throttlings seen at or after since, oldest first, at most limit (<= 0: 1000).
	ListThrottles(ctx context.Context, since time.Time, limit int) ([]Throttle, error)
	// RecordStreamPage updates the stream's row: the page time always; the newest event time,
	// its commit time and lag when p.NewestEvent is not before the stored one.
	RecordStreamPage(ctx context.Context, p StreamPage) error
	// ListStreamHealth returns the connection's streams most lagging first (lag descending, then
	// by stream), at most limit (<= 0: 1000).
	ListStreamHealth(ctx context.Context, connectionID int64, limit int) ([]StreamHealth, error)
	// StreamHealthSummary counts the connection's streams and returns the one that stored an
	// event last (zero when none has).
	StreamHealthSummary(ctx context.Context, connectionID int64) (int64, StreamHealth, error)
	// AddFeedCounts adds each count to the stored one of its connection, hour, file and feed.
	AddFeedCounts(ctx context.Context, cs []FeedCount) error
	// ListFeedCounts returns the connection's counts of hours in [from, to), by hour, file and
	// feed, at most limit (<= 0: 10000).
	ListFeedCounts(ctx context.Context, connectionID int64, from, to time.Time, limit int) ([]FeedCount, error)
	// PruneHealth deletes throttlings seen and feed counts of hours before before; it returns how many.
	PruneHealth(ctx context.Context, before time.Time) (int64, error)
	// ListArrivals returns the insertion times of the connection's newest events (held ones
	// too) inserted at or after since, newest first, at most limit (<= 0: 1000).
	ListArrivals(ctx context.Context, connectionID int64, since time.Time, limit int) ([]time.Time, error)
	// CountMonitoredPeople counts the distinct people (lower case) who own an in-scope drive or
	// mailbox of a connection in one of statuses, or an active device.
	CountMonitoredPeople(ctx context.Context, statuses []string) (int64, error)
	// CountAlertPeopleByRule counts each rule's alerts created at or after since and their
	// distinct persons (rules without such alerts are absent).
	CountAlertPeopleByRule(ctx context.Context, since time.Time) ([]RulePeople, error)
	// PeopleWithSources returns those of the addresses (compared in lower case) that own an
	// in-scope drive or mailbox of a connection in one of statuses, or an active device; lower case.
	PeopleWithSources(ctx context.Context, emails []string, statuses []string) ([]string, error)
}
