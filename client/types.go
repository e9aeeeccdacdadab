package client

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Connection is a data connection as the API shows it. Credentials are never returned; CredentialsSet
// says whether some are stored.
type Connection struct {
	ID             string            `json:"id"`
	Name           string            `json:"name"`
	Service        string            `json:"service"`
	ServiceType    string            `json:"service_type"`
	Status         string            `json:"status"`
	StatusLabel    string            `json:"status_label"`
	ErrorReason    string            `json:"error_reason,omitempty"`
	ScopeKind      string            `json:"scope_kind"`
	TenantID       string            `json:"tenant_id,omitempty"`
	Settings       map[string]string `json:"settings,omitempty"`
	CredentialsSet bool              `json:"credentials_set"`
	CreatedAt      time.Time         `json:"created_at"`
	CreatedBy      string            `json:"created_by,omitempty"`
	UpdatedAt      time.Time         `json:"updated_at"`
	DeauthorizedAt time.Time         `json:"deauthorized_at,omitzero"`
	DeleteAfter    time.Time         `json:"delete_after,omitzero"` // when retention deletes a deauthorized connection
	Throttled      bool              `json:"throttled"`
	ThrottledUntil time.Time         `json:"throttled_until,omitzero"`
	LastEventAt    time.Time         `json:"last_event_at,omitzero"`
	Drives         *DriveCounts      `json:"drives,omitempty"`    // cloud connections
	Mailboxes      *DriveCounts      `json:"mailboxes,omitempty"` // email connections
	Actions        []ActionState     `json:"actions,omitempty"`   // what an admin may do now, and why not
	// ConsentURL is where a Global Administrator grants the connection's application its
	// permissions in the tenant (OneDrive, Microsoft 365 mail: Entra ID's admin consent).
	ConsentURL string `json:"consent_url,omitempty"`
	Version    int64  `json:"version"`
}

// ActionState says whether an action is allowed in the connection's status, and why not.
type ActionState struct {
	Action  string `json:"action"`
	Allowed bool   `json:"allowed"`
	Reason  string `json:"reason,omitempty"`
}

// DriveCounts counts drives or mailboxes by state.
type DriveCounts struct {
	Total        int64 `json:"total"`
	Pending      int64 `json:"pending"`
	Indexing     int64 `json:"indexing"`
	Indexed      int64 `json:"indexed"`
	Inaccessible int64 `json:"inaccessible"`
}

// ScopeInput chooses a scope: kind all, or users/groups with the CSV text (R2).
type ScopeInput struct {
	Kind string `json:"kind"`
	CSV  string `json:"csv,omitempty"`
}

// NewConnection is the body of POST /api/v1/connections. Settings are not secret (admin email,
// enterprise id); Credentials are (client secret, keys) and are encrypted at rest, never returned.
type NewConnection struct {
	Name        string            `json:"name"`
	Service     string            `json:"service"`
	TenantID    string            `json:"tenant_id,omitempty"`
	Settings    map[string]string `json:"settings,omitempty"`
	Credentials map[string]string `json:"credentials,omitempty"`
	Scope       *ScopeInput       `json:"scope,omitempty"`
}

// ConnectionUpdate is the body of PATCH /api/v1/connections/{id}.
type ConnectionUpdate struct {
	Name *string `json:"name,omitempty"`
}

// ResumeRequest is the body of POST /api/v1/connections/{id}/resume. Empty fields keep what is stored.
type ResumeRequest struct {
	Scope       *ScopeInput       `json:"scope,omitempty"`
	Credentials map[string]string `json:"credentials,omitempty"`
}

// MaintenanceRequest is the body of POST /api/v1/connections/{id}/maintenance.
type MaintenanceRequest struct {
	Enabled bool `json:"enabled"`
}

// StatusChange is one entry of a connection's status history.
type StatusChange struct {
	At        time.Time `json:"at"`
	From      string    `json:"from,omitempty"`
	To        string    `json:"to"`
	FromLabel string    `json:"from_label,omitempty"`
	ToLabel   string    `json:"to_label"`
	Actor     string    `json:"actor"`
	Reason    string    `json:"reason,omitempty"`
}

// Drive is a user drive, shared drive or mailbox.
type Drive struct {
	ID           string    `json:"id"`
	VendorID     string    `json:"vendor_id"`
	Kind         string    `json:"kind"`
	Owner        string    `json:"owner,omitempty"`
	Name         string    `json:"name,omitempty"`
	State        string    `json:"state"`
	Error        string    `json:"error,omitempty"`
	InScope      bool      `json:"in_scope"`
	FileCount    int64     `json:"file_count"`
	DiscoveredAt time.Time `json:"discovered_at"`
	IndexedAt    time.Time `json:"indexed_at,omitzero"`
}

// DriveList is a page of drives or mailboxes with the connection's counts.
type DriveList struct {
	Counts DriveCounts `json:"counts"`
	Items  []Drive     `json:"items"`
	Next   string      `json:"next,omitempty"` // pass as ?after= for the next page
}

// Settings are the organization-wide settings.
// SignInPolicy is the organization's sign-in policy (docs/OPERATIONS.md, "Second factor"):
// TOTP required of local admins, and password sign-in off for people but one break-glass admin.
type SignInPolicy struct {
	AdminTOTPRequired bool   `json:"admin_totp_required"`
	PasswordSignInOff bool   `json:"password_sign_in_off"`
	BreakGlass        string `json:"break_glass,omitempty"`
}

type Settings struct {
	TrustedDomains []string `json:"trusted_domains"`
	RetentionDays  int      `json:"retention_days"`
	// Risk is how events are scored (docs/RISK.md). A PUT without it keeps the stored one; a PUT
	// with it replaces it, and what it leaves out takes the default.
	Risk *RiskSettings `json:"risk,omitempty"`
	// TrustedActivities are trusted recipients and shared drives, each with a reason
	// (docs/RISK.md, Trust). A PUT without them keeps the stored ones; [] removes them all.
	TrustedActivities []TrustedActivity `json:"trusted_activities"`
}

// TrustedActivity is a destination trusted besides the trusted domains: kind recipient (an
// address), shared_drive (a drive id, file.drive_id of its events) or tenant (a partner's tenant
// at a service, as events' sharing.tenants carry it), and why.
type TrustedActivity struct {
	Kind    string `json:"kind"`
	Service string `json:"service,omitempty"` // kind tenant: box, google or microsoft
	Value   string `json:"value"`
	Reason  string `json:"reason"`
}

// RiskSettings are the weights of the risk indicators, the severity bands and the working hours.
type RiskSettings struct {
	Weights      map[string]int `json:"weights"` // indicator -> weight (0 turns it off)
	Bands        RiskBands      `json:"bands"`
	WorkingHours WorkingHours   `json:"working_hours"`
}

// RiskBands are the lowest score of each severity; below Low is none.
type RiskBands struct {
	Low      int `json:"low"`
	Moderate int `json:"moderate"`
	High     int `json:"high"`
	Critical int `json:"critical"`
}

// WorkingHours are the organization's working hours: "HH:MM" to "HH:MM" on days (mon ... sun)
// in an IANA time zone; outside them an event has the off_hours indicator.
type WorkingHours struct {
	TimeZone string   `json:"time_zone"`
	Start    string   `json:"start"`
	End      string   `json:"end"`
	Days     []string `json:"days"`
}

// User is someone (or a service account) who signs in to Telltale.
type User struct {
	ID                 string `json:"id"`
	Username           string `json:"username"`
	Name               string `json:"name,omitempty"`
	Role               string `json:"role"`
	ServiceAccount     bool   `json:"service_account"`
	Disabled           bool   `json:"disabled"`
	MustChangePassword bool   `json:"must_change_password"`
	// Provider is the identity provider the person signs in through; "" for local users and
	// service accounts. Subject is their id there.
	Provider string `json:"provider,omitempty"`
	Subject  string `json:"subject,omitempty"`
	// RoleSource says where the role came from: "local" (set here by an admin) or
	// "group:<name>" (mapped from the provider's groups at the last sign-in).
	RoleSource   string     `json:"role_source"`
	LastSignInAt *time.Time `json:"last_sign_in_at,omitempty"`
	CreatedAt    time.Time  `json:"created_at"`
}

// NewUser is the body of POST /api/v1/users.
type NewUser struct {
	Username       string `json:"username"`
	Name           string `json:"name,omitempty"`
	Role           string `json:"role"`
	Password       string `json:"password,omitempty"`
	ServiceAccount bool   `json:"service_account,omitempty"`
}

// UserUpdate is the body of PATCH /api/v1/users/{id}.
type UserUpdate struct {
	Name     *string `json:"name,omitempty"`
	Role     *string `json:"role,omitempty"`
	Disabled *bool   `json:"disabled,omitempty"`
}

// PasswordChange is the body of POST /api/v1/me/password and POST /api/v1/users/{id}/password.
type PasswordChange struct {
	Current string `json:"current,omitempty"`
	New     string `json:"new"`
}

// Token is an API token; its secret is shown once, at creation.
type Token struct {
	ID         string    `json:"id"`
	UserID     string    `json:"user_id"`
	Name       string    `json:"name"`
	Prefix     string    `json:"prefix"`
	CreatedAt  time.Time `json:"created_at"`
	ExpiresAt  time.Time `json:"expires_at,omitzero"`
	LastUsedAt time.Time `json:"last_used_at,omitzero"`
	RevokedAt  time.Time `json:"revoked_at,omitzero"`
	// Scopes limit the token to parts of the API (R7.6); empty: everything its user's role allows.
	Scopes []string `json:"scopes,omitempty"`
}

// NewToken is the body of POST /api/v1/tokens and POST /api/v1/users/{id}/tokens.
type NewToken struct {
	Name          string `json:"name"`
	ExpiresInDays int    `json:"expires_in_days,omitempty"`
	// Scopes limit the token to API areas: "<area>:read" (GET, searches and exports) or
	// "<area>:write" (which includes read), the area being an OpenAPI tag such as file-events,
	// alerts or watchlists (GET /api/v1/token-scopes lists them). They never widen the role.
	Scopes []string `json:"scopes,omitempty"`
}

// TokenScopes lists the scopes a token can be limited to.
type TokenScopes struct {
	Items []string `json:"items"`
}

// CreatedToken is a new token with its secret, shown this once.
type CreatedToken struct {
	Token
	Secret string `json:"token"`
}

// Me describes the caller.
type Me struct {
	User
	Via string `json:"via"`
}

// AuditEntry is one line of the audit log.
type AuditEntry struct {
	ID       string          `json:"id"`
	At       time.Time       `json:"at"`
	Actor    string          `json:"actor"`
	Action   string          `json:"action"`
	Target   string          `json:"target,omitempty"`
	Details  json.RawMessage `json:"details,omitempty"`
	ClientIP string          `json:"client_ip,omitempty"`
	Outcome  string          `json:"outcome"`
	// FinishedAt is when the outcome of a call that changes something was recorded (absent
	// while it runs, or when the node stopped before it ended: the outcome then stays started).
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	// Hash is the SHA-256 seal of the entry's (first) record in the audit chain, hex.
	Hash string `json:"hash,omitempty"`
}

// AuditVerification is the result of checking the audit log's hash chain: OK with the number of
// records and the last one's id and hash (note them: a later check must still find that record
// with that hash), or Break, the first record where the chain breaks and what differs.
type AuditVerification struct {
	OK       bool        `json:"ok"`
	Records  int64       `json:"records"` // records that verified (before the break, if any)
	HeadID   string      `json:"head_id,omitempty"`
	HeadHash string      `json:"head_hash,omitempty"`
	Break    *AuditBreak `json:"break,omitempty"`
}

// AuditBreak is where the audit chain breaks: the record (empty ID for the end of the log) and
// what differs.
type AuditBreak struct {
	ID       string `json:"id,omitempty"`
	Position int64  `json:"position,omitempty"`
	Reason   string `json:"reason"`
}

// AuditList is a page of the audit log, newest first.
type AuditList struct {
	Items []AuditEntry `json:"items"`
	Next  string       `json:"next,omitempty"` // pass as ?before= for the next page
}

// AuditQuery filters the audit log.
type AuditQuery struct {
	Actor, Action, Target string
	Since, Until          time.Time
	Before                string
	Limit                 int
}

// Problem is an RFC 9457 problem document: every API error.
type Problem struct {
	Type     string       `json:"type"`
	Title    string       `json:"title"`
	Status   int          `json:"status"`
	Detail   string       `json:"detail,omitempty"`
	Instance string       `json:"instance,omitempty"`
	Errors   []FieldError `json:"errors,omitempty"`
	// Position and Suggestion point into a search query that does not parse: the byte offset of
	// the problem and, for a mistyped field or value, the nearest valid one.
	Position   *int   `json:"position,omitempty"`
	Suggestion string `json:"suggestion,omitempty"`
}

// FieldError points at one bad field or CSV row.
type FieldError struct {
	Field   string `json:"field,omitempty"`
	Row     int    `json:"row,omitempty"`
	Line    int    `json:"line,omitempty"` // a line of an uploaded file (imports)
	Value   string `json:"value,omitempty"`
	Message string `json:"message"`
}

// Error makes a Problem an error: the detail, then each field error on its own line.
func (p *Problem) Error() string {
	var b strings.Builder
	if p.Detail != "" {
		b.WriteString(p.Detail)
	} else {
		fmt.Fprintf(&b, "%d %s", p.Status, p.Title)
	}
	for _, e := range p.Errors {
		b.WriteString("\n  ")
		switch {
		case e.Row > 0:
			fmt.Fprintf(&b, "row %d: ", e.Row)
		case e.Line > 0 && !strings.HasPrefix(e.Message, fmt.Sprintf("line %d:", e.Line)):
			fmt.Fprintf(&b, "line %d: ", e.Line)
		case e.Field != "":
			b.WriteString(e.Field + ": ")
		}
		b.WriteString(e.Message)
	}
	return b.String()
}

// ConnectorSpec describes a data connector: the fields an admin enters, the vendor permissions it
// needs and why, and the vendor-side setup steps.
type ConnectorSpec struct {
	Service     string                `json:"service"`
	Title       string                `json:"title"`
	ServiceType string                `json:"service_type"`
	Fields      []ConnectorField      `json:"fields"`
	Permissions []ConnectorPermission `json:"permissions"`
	Steps       []string              `json:"steps"`
}

// ConnectorField is one setting of a connector. Secret fields go under credentials.
type ConnectorField struct {
	Name     string `json:"name"`
	Label    string `json:"label"`
	Help     string `json:"help,omitempty"`
	Required bool   `json:"required,omitempty"`
	Secret   bool   `json:"secret,omitempty"`
	Default  string `json:"default,omitempty"`
	Tenant   bool   `json:"tenant,omitempty"`
	Advanced bool   `json:"advanced,omitempty"`
}

// ConnectorPermission is a vendor permission and why it is needed.
type ConnectorPermission struct {
	Name string `json:"name"`
	Why  string `json:"why"`
}

// VerifyRequest asks Telltale to call the vendor with credentials before a connection is added.
type VerifyRequest struct {
	TenantID    string            `json:"tenant_id,omitempty"`
	Settings    map[string]string `json:"settings,omitempty"`
	Credentials map[string]string `json:"credentials,omitempty"`
}

// VerifyResult is a successful verification: the vendor tenant the credentials reach.
type VerifyResult struct {
	TenantID string `json:"tenant_id"`
}

// LineError is a record that could not be used, by its line in the input.
type LineError struct {
	Line  int    `json:"line"`
	Error string `json:"error"`
}

// ImportResult reports an import of exported vendor records into a connection.
type ImportResult struct {
	Records    int64            `json:"records"`
	Events     int64            `json:"events"`
	Duplicates int64            `json:"duplicates"`
	OutOfScope int64            `json:"out_of_scope"`
	Skipped    map[string]int64 `json:"skipped,omitempty"`
	// Malformed lists the first 100 unusable records (imported with skip_malformed=true);
	// MalformedTotal counts them all.
	Malformed      []LineError `json:"malformed,omitempty"`
	MalformedTotal int64       `json:"malformed_total,omitempty"`
}

// SearchRequest is the body of POST /api/v1/file-events/search (and, without paging, of group and
// export). Query uses the language of docs/SEARCH.md; Filter terms are ANDed with it, their values
// taken literally.
type SearchRequest struct {
	Query  string       `json:"query,omitempty"`
	Filter []FilterTerm `json:"filter,omitempty"`
	Sort   string       `json:"sort,omitempty"`  // observed (default), inserted or id
	Order  string       `json:"order,omitempty"` // desc (default) or asc
	Limit  int          `json:"limit,omitempty"` // page size, default 100, at most 10,000
	Cursor string       `json:"cursor,omitempty"`
	// CountLimit asks for the total counted exactly up to this many (at most 1,000,000), however
	// long it takes. Without it the total is counted up to 10,000 or for 0.2 s, whichever comes
	// first. Beyond, total_is_lower_bound is set.
	CountLimit int64 `json:"count_limit,omitempty"`
}

// FilterTerm is one structured condition: field, operator (":" default, "=", ">", ">=", "<", "<=") and
// a literal value.
type FilterTerm struct {
	Field string `json:"field"`
	Op    string `json:"op,omitempty"`
	Value string `json:"value"`
}

// SearchResult is one page of events. Items are file events in the schema of docs/ARCHITECTURE.md.
type SearchResult struct {
	Items      []json.RawMessage `json:"items"`
	Total      int64             `json:"total"`
	TotalIsMin bool              `json:"total_is_lower_bound,omitempty"` // more than Total match; counting stopped there
	NextCursor string            `json:"next_cursor,omitempty"`
	Query      string            `json:"query"` // the canonical form of the query that ran
}

// EventDetails is one event with its file's timeline (its other events, oldest first).
type EventDetails struct {
	Event    json.RawMessage   `json:"event"`
	Timeline []json.RawMessage `json:"timeline"`
}

// GroupRequest is the body of POST /api/v1/file-events/group.
type GroupRequest struct {
	Query  string       `json:"query,omitempty"`
	Filter []FilterTerm `json:"filter,omitempty"`
	By     string       `json:"by"` // actor, file, destination, action or day
	Limit  int          `json:"limit,omitempty"`
}

// Group is one group of events.
type Group struct {
	Key   string `json:"key"`
	Label string `json:"label,omitempty"`
	Count int64  `json:"count"`
}

// GroupResult lists groups, largest first.
type GroupResult struct {
	By     string  `json:"by"`
	Groups []Group `json:"groups"`
	Query  string  `json:"query"`
}

// ExportRequest is the body of POST /api/v1/file-events/export. With Checkpoint, the export starts
// after the event the named checkpoint last acknowledged and runs in insertion order; acknowledge
// what was received with PUT /api/v1/export-checkpoints/{name}.
type ExportRequest struct {
	Query      string       `json:"query,omitempty"`
	Filter     []FilterTerm `json:"filter,omitempty"`
	Format     string       `json:"format,omitempty"` // csv (default) or jsonl
	Checkpoint string       `json:"checkpoint,omitempty"`
}

// Checkpoint is where an incremental export stands: the last event id it acknowledged. It belongs
// to the user who created it (Owner; empty for one created before owners were recorded); only that
// user and admins see and change it. As the body of PUT /api/v1/export-checkpoints/{name}, AfterID
// acknowledges up to an event id (never moving back), or, with Reset, sets the position as given
// ("0" starts over); Name, Owner and UpdatedAt are ignored there.
type Checkpoint struct {
	Name      string    `json:"name"`
	AfterID   string    `json:"after_id"`
	Reset     bool      `json:"reset,omitempty"`
	Owner     string    `json:"owner,omitempty"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
}

// SavedSearch is a named query.
type SavedSearch struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Query     string    `json:"query"`
	Owner     string    `json:"owner,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// SavedSearchInput is the body that creates or changes a saved search.
type SavedSearchInput struct {
	Name  string `json:"name"`
	Query string `json:"query"`
}

// AlertRule is an alert rule (docs/ALERTS.md): a search query plus a threshold or new_terms kind.
type AlertRule struct {
	ID          string          `json:"id"`
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Query       string          `json:"query"`
	Kind        string          `json:"kind"`   // threshold or new_terms
	Params      json.RawMessage `json:"params"` // the kind's parameters (docs/ALERTS.md)
	Severity    string          `json:"severity"`
	Enabled     bool            `json:"enabled"`
	Template    string          `json:"template,omitempty"` // the shipped template it came from
	// Warning says why the rule did not raise every alert it could (its hourly cap) or why it is
	// not evaluated; Suppressed counts the alerts the cap held back.
	Warning    string    `json:"warning,omitempty"`
	Suppressed int64     `json:"suppressed,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	CreatedBy  string    `json:"created_by,omitempty"`
	UpdatedAt  time.Time `json:"updated_at"`
	UpdatedBy  string    `json:"updated_by,omitempty"`
	Version    int64     `json:"version"`
	// Alerts counts the rule's alerts by outcome (list and get): effectiveness, so noisy rules show.
	Alerts *AlertRuleCounts `json:"alerts,omitempty"`
}

// AlertRuleInput creates or replaces a rule. On a replace, Version (when not 0) must be the
// stored one, so two admins editing at once do not overwrite each other.
type AlertRuleInput struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Query       string          `json:"query"`
	Kind        string          `json:"kind"`
	Params      json.RawMessage `json:"params,omitempty"`
	Severity    string          `json:"severity"`
	Enabled     *bool           `json:"enabled,omitempty"` // default true
	Version     int64           `json:"version,omitempty"`
}

// AlertRuleList lists rules by id.
type AlertRuleList struct {
	Items []AlertRule `json:"items"`
}

// RuleTestRequest asks what a rule would have raised on the stored events of the last Days days.
type RuleTestRequest struct {
	Rule AlertRuleInput `json:"rule"`
	Days int            `json:"days"` // 1 to 365; default 7
}

// RuleTestResult is a backtest's answer.
type RuleTestResult struct {
	From       time.Time        `json:"from"`
	To         time.Time        `json:"to"`
	Alerts     int              `json:"alerts"`
	Suppressed int64            `json:"suppressed,omitempty"` // alerts the hourly cap would have held back
	Events     int              `json:"events_read"`          // events read (a threshold rule: those of the buckets that can reach its value)
	Truncated  bool             `json:"truncated,omitempty"`  // the read limit or time budget was reached: counts cover the oldest events only
	People     []RuleTestPerson `json:"people"`               // most alerts first, at most 50
}

// UncoveredRisks are the high and critical events of the last days that no enabled rule matches
// ("risks not covered"), grouped by risk indicator (GET /api/v1/rules/uncovered).
type UncoveredRisks struct {
	From      time.Time        `json:"from"`
	To        time.Time        `json:"to"`
	Scanned   int              `json:"events_read"`         // high and critical events read, newest first
	Uncovered int              `json:"uncovered"`           // of them, matched by no enabled rule
	Truncated bool             `json:"truncated,omitempty"` // the read limit was reached: older events were not read
	Rules     int              `json:"rules"`               // enabled rules asked
	Groups    []UncoveredGroup `json:"groups"`              // most events first
}

// UncoveredGroup is one indicator's uncovered events, with a rule draft and its backtest.
type UncoveredGroup struct {
	Indicator string         `json:"indicator"`
	Events    int            `json:"events"`
	People    int            `json:"people"`
	Critical  int            `json:"critical"`
	Sample    []string       `json:"sample_event_ids"` // newest first, at most 5
	Draft     AlertRuleInput `json:"draft"`            // POST it to /api/v1/rules to save it
	// Backtest is the draft's backtest over the same days (the first 10 groups only).
	Backtest *RuleTestResult `json:"backtest,omitempty"`
}

// TrustRecommendations are destination domains offered for trust (GET
// /api/v1/trust/recommendations): used by many people, often, and never by an alert confirmed as
// a true positive. Trusting one is the admin's choice (PUT /api/v1/settings).
type TrustRecommendations struct {
	Items []TrustRecommendation `json:"items"` // most people first
}

// TrustRecommendation is one domain offered for trust, with its counts.
type TrustRecommendation struct {
	Domain    string    `json:"domain"`
	People    int       `json:"people"`
	Events    int64     `json:"events_30d"`          // events toward it in the last 30 days
	Truncated bool      `json:"truncated,omitempty"` // counting stopped at 10,000
	FirstSeen time.Time `json:"first_seen"`
}

// RuleTestPerson is one person's share of a backtest.
type RuleTestPerson struct {
	Person string `json:"person"`
	Alerts int    `json:"alerts"`
	Events int64  `json:"events"`
}

// Alert is what a rule raised for a person (or group of up to 3 fields) within a window.
type Alert struct {
	ID           string    `json:"id"`
	RuleID       string    `json:"rule_id"`
	RuleName     string    `json:"rule_name"`
	Group        string    `json:"group"`
	Person       string    `json:"person,omitempty"`
	State        string    `json:"state"` // open, in_progress, resolved, dismissed
	Resolution   string    `json:"resolution,omitempty"`
	Assignee     string    `json:"assignee,omitempty"`
	Severity     string    `json:"severity"`
	Summary      string    `json:"summary"`
	FirstEventAt time.Time `json:"first_event_at"`
	LastEventAt  time.Time `json:"last_event_at"`
	WindowEnd    time.Time `json:"window_end"`
	EventCount   int64     `json:"event_count"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
	Version      int64     `json:"version"`
}

// AlertList is a page of alerts, newest first.
type AlertList struct {
	Items []Alert `json:"items"`
	Next  string  `json:"next,omitempty"` // pass as before= for the next page
}

// AlertChange is one line of an alert's history.
type AlertChange struct {
	At    time.Time `json:"at"`
	Actor string    `json:"actor"`
	Field string    `json:"field"` // raised, state, resolution, assignee, note
	From  string    `json:"from,omitempty"`
	To    string    `json:"to,omitempty"`
	Note  string    `json:"note,omitempty"`
}

// AlertHistory is an alert's history, oldest first.
type AlertHistory struct {
	Items []AlertChange `json:"items"`
}

// AlertEvents is a page of an alert's events in id order.
type AlertEvents struct {
	Items []json.RawMessage `json:"items"`
	Next  string            `json:"next,omitempty"` // pass as after= for the next page
}

// AlertDetails is an alert with its first events and its history.
type AlertDetails struct {
	Alert   Alert         `json:"alert"`
	Events  AlertEvents   `json:"events"`
	History []AlertChange `json:"history"`
}

// AlertUpdate changes an alert; fields left out are kept. Version (when not 0) must be the stored one.
type AlertUpdate struct {
	State      *string `json:"state,omitempty"`
	Resolution *string `json:"resolution,omitempty"` // true_positive, benign_true_positive, false_positive, or ""
	Assignee   *string `json:"assignee,omitempty"`
	Note       string  `json:"note,omitempty"`
	Version    int64   `json:"version,omitempty"`
}

// AlertBulkUpdate changes the state (and resolution, note) of many alerts at once.
type AlertBulkUpdate struct {
	IDs        []string `json:"ids"`
	State      string   `json:"state"`
	Resolution *string  `json:"resolution,omitempty"`
	Note       string   `json:"note,omitempty"`
}

// AlertBulkResult says how many alerts changed and which could not.
type AlertBulkResult struct {
	Updated   int          `json:"updated"`
	Unchanged int          `json:"unchanged"` // already in that state
	Errors    []FieldError `json:"errors,omitempty"`
}

// Watchlist is a list of people who deserve closer attention (R6.3, docs/ALERTS.md): one per
// built-in type, and custom ones with their own names. Rules name watchlists by name (a
// built-in list's name is its type).
type Watchlist struct {
	ID          string    `json:"id"`
	Type        string    `json:"type"`
	Name        string    `json:"name"`
	Description string    `json:"description,omitempty"`
	Members     int64     `json:"members"`
	CreatedAt   time.Time `json:"created_at"`
	CreatedBy   string    `json:"created_by,omitempty"`
}

// WatchlistList lists watchlists by id.
type WatchlistList struct {
	Items []Watchlist `json:"items"`
}

// WatchlistInput creates a custom watchlist.
type WatchlistInput struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
}

// WatchlistMember is a person on a watchlist.
type WatchlistMember struct {
	Email         string    `json:"email"`
	DepartureDate string    `json:"departure_date,omitempty"` // YYYY-MM-DD, departing_employee only
	Notes         string    `json:"notes,omitempty"`
	AddedBy       string    `json:"added_by,omitempty"`
	AddedAt       time.Time `json:"added_at,omitzero"`
}

// WatchlistMembers is one page of a watchlist's members by address.
type WatchlistMembers struct {
	Items []WatchlistMember `json:"items"`
	Next  string            `json:"next,omitempty"` // pass as after for the next page
}

// WatchlistMembersInput adds members (or updates the departure date and notes of members).
type WatchlistMembersInput struct {
	Members []WatchlistMember `json:"members"`
}

// WatchlistRemoveInput removes members by address.
type WatchlistRemoveInput struct {
	Emails []string `json:"emails"`
}

// WatchlistChange says what a change of members did.
type WatchlistChange struct {
	Added   int64 `json:"added"`
	Updated int64 `json:"updated"`
	Removed int64 `json:"removed"`
}

// AlertRuleCounts are a rule's alerts by outcome. Effectiveness is confirmed / (confirmed +
// dismissed), absent while neither is counted.
type AlertRuleCounts struct {
	Total         int64    `json:"total"`
	Open          int64    `json:"open"`      // open or in progress
	Confirmed     int64    `json:"confirmed"` // resolved as a true positive (benign or not)
	Dismissed     int64    `json:"dismissed"` // dismissed, or resolved as a false positive
	Effectiveness *float64 `json:"effectiveness,omitempty"`
	// Daily are the alerts raised on each of the last 30 UTC days, oldest first (today last).
	Daily []int64 `json:"daily,omitempty"`
}

// Integration is an automated integration (R7): a signed generic webhook or Slack. Its secrets are
// never returned, only which ones are set.
type Integration struct {
	ID          string `json:"id"`
	Kind        string `json:"kind"` // webhook, slack, servicenow, jira, okta
	Name        string `json:"name"`
	ServiceType string `json:"service_type"` // always "integration" (R1.1: Automated integration)
	Status      string `json:"status"`       // connected, disconnected
	// Condition is what its last delivery or verification found: ok, credentials_refused (fix the
	// credentials, then connect again), rate_limited (deliveries wait for the destination's
	// limit to reset) or failing (see last_error).
	Condition   string              `json:"condition"`
	LastError   string              `json:"last_error,omitempty"`
	LastErrorAt time.Time           `json:"last_error_at,omitzero"`
	Settings    IntegrationSettings `json:"settings"`
	SecretsSet  []string            `json:"secrets_set"`
	CreatedAt   time.Time           `json:"created_at"`
	CreatedBy   string              `json:"created_by,omitempty"`
	UpdatedAt   time.Time           `json:"updated_at"`
	Version     int64               `json:"version"`
}

// IntegrationSettings are an integration's non-secret settings.
type IntegrationSettings struct {
	// URL: webhook: where deliveries are POSTed; servicenow, jira, okta: the instance's, site's or
	// org's base URL (https://acme.service-now.com, https://acme.atlassian.net, https://acme.okta.com).
	URL     string `json:"url,omitempty"`
	Mode    string `json:"mode,omitempty"`     // slack: bot (chat.postMessage) or webhook (incoming webhook)
	Channel string `json:"channel,omitempty"`  // slack bot: the channel id
	APIBase string `json:"api_base,omitempty"` // slack bot: the Web API base, default https://slack.com/api

	Auth     string `json:"auth,omitempty"`      // servicenow: basic (default), oauth_password or oauth_client_credentials
	Username string `json:"username,omitempty"`  // servicenow: the integration user (basic, oauth_password)
	ClientID string `json:"client_id,omitempty"` // servicenow OAuth: the client id

	Email     string `json:"email,omitempty"`      // jira: the Atlassian account whose API token is given
	Project   string `json:"project,omitempty"`    // jira: the project key, e.g. SEC
	IssueType string `json:"issue_type,omitempty"` // jira: the issue type's name, default Task

	GroupID   string `json:"group_id,omitempty"`  // okta: the group's id (00g...)
	Operation string `json:"operation,omitempty"` // okta: add (default) or remove the alert's person

	Company    string `json:"company,omitempty"`     // bamboohr: the company's subdomain (acme for acme.bamboohr.com)
	WindowDays int    `json:"window_days,omitempty"` // workday: how many days back the report's termination dates reach (default 30)
}

// IntegrationSecrets are write-only.
type IntegrationSecrets struct {
	SigningSecret string `json:"signing_secret,omitempty"` // webhook: the HMAC-SHA256 key, 16 characters or more
	Token         string `json:"token,omitempty"`          // slack bot: xoxb-...; jira: the API token; okta: the API token (without "SSWS ")
	WebhookURL    string `json:"webhook_url,omitempty"`    // slack webhook: the incoming webhook's URL
	Password      string `json:"password,omitempty"`       // servicenow: the integration user's password
	ClientSecret  string `json:"client_secret,omitempty"`  // servicenow OAuth: the client secret
}

// IntegrationInput creates an integration, or (PATCH) changes its name, settings and, when
// given, its secrets.
type IntegrationInput struct {
	Kind     string              `json:"kind,omitempty"`
	Name     string              `json:"name,omitempty"`
	Settings IntegrationSettings `json:"settings"`
	Secrets  *IntegrationSecrets `json:"secrets,omitempty"`
	Version  int64               `json:"version,omitempty"`
}

// IntegrationList lists integrations.
type IntegrationList struct {
	Items []Integration `json:"items"`
}

// Delivery is one message to an integration (R7.5): pending, sent (done) or failed for good (dead),
// with the destination's last answer.
type Delivery struct {
	ID             string    `json:"id"`
	IntegrationID  string    `json:"integration_id"`
	Subject        string    `json:"subject"` // alert/<id>, or test
	Event          string    `json:"event"`   // alert.raised, test
	IdempotencyKey string    `json:"idempotency_key"`
	State          string    `json:"state"` // pending, done, dead
	Attempts       int       `json:"attempts"`
	LastError      string    `json:"last_error,omitempty"`
	Response       string    `json:"response,omitempty"`
	NextAttemptAt  time.Time `json:"next_attempt_at,omitzero"`
	CreatedAt      time.Time `json:"created_at"`
	DoneAt         time.Time `json:"done_at,omitzero"`
}

// DeliveryList is a page of deliveries, newest first.
type DeliveryList struct {
	Items []Delivery `json:"items"`
	Next  string     `json:"next,omitempty"` // pass as before= for the next page
}

// Flow ties the trigger "alert raised", with a filter, to integrations (R7.3).
type Flow struct {
	ID             string    `json:"id"`
	Name           string    `json:"name"`
	Enabled        bool      `json:"enabled"`
	Trigger        string    `json:"trigger"`                // alert.raised, watchlist.changed or hr.departure
	MinSeverity    string    `json:"min_severity,omitempty"` // low, moderate, high, critical
	RuleIDs        []string  `json:"rule_ids,omitempty"`
	Query          string    `json:"query,omitempty"` // search language, matched against the alert's events
	IntegrationIDs []string  `json:"integration_ids"`
	CreatedAt      time.Time `json:"created_at"`
	CreatedBy      string    `json:"created_by,omitempty"`
}

// FlowInput creates a flow.
type FlowInput struct {
	Name string `json:"name"`
	// Trigger is alert.raised (the default: filtered by min_severity, rule_ids and query),
	// watchlist.changed (an HR source added, updated or removed a watchlist member) or hr.departure
	// (an HR source reported a departure: a member added or their date changed); the last two take
	// no filter.
	Trigger        string   `json:"trigger,omitempty"`
	Enabled        *bool    `json:"enabled,omitempty"` // default true
	MinSeverity    string   `json:"min_severity,omitempty"`
	RuleIDs        []string `json:"rule_ids,omitempty"`
	Query          string   `json:"query,omitempty"`
	IntegrationIDs []string `json:"integration_ids"`
}

// FlowList lists flows.
type FlowList struct {
	Items []Flow `json:"items"`
}

// Case gathers people, alerts and events for an investigation (R6.4, docs/CASES.md).
type Case struct {
	ID          string    `json:"id"`
	Title       string    `json:"title"`
	Description string    `json:"description,omitempty"`
	State       string    `json:"state"` // open, closed, archived
	Assignee    string    `json:"assignee,omitempty"`
	LegalHold   bool      `json:"legal_hold"` // the case's events are kept past retention
	People      int64     `json:"people"`
	Alerts      int64     `json:"alerts"`
	Events      int64     `json:"events"` // events added directly (its alerts' events come on top)
	CreatedAt   time.Time `json:"created_at"`
	CreatedBy   string    `json:"created_by,omitempty"`
	UpdatedAt   time.Time `json:"updated_at"`
	Version     int64     `json:"version"`
}

// CaseList is a page of cases, newest first.
type CaseList struct {
	Items []Case `json:"items"`
	Next  string `json:"next,omitempty"` // pass as before= for the next page
}

// CaseInput creates a case, with what it gathers from the start.
type CaseInput struct {
	Title       string `json:"title"`
	Description string `json:"description,omitempty"`
	Assignee    string `json:"assignee,omitempty"`
	LegalHold   bool   `json:"legal_hold,omitempty"`
	CaseItemsInput
}

// CaseItemsInput adds people (addresses), alerts and events (ids) to a case: up to 1,000 in all per call.
type CaseItemsInput struct {
	People   []string `json:"people,omitempty"`
	AlertIDs []string `json:"alert_ids,omitempty"`
	EventIDs []string `json:"event_ids,omitempty"`
}

// CaseItemsAdded is what a call added (items the case held already are left out).
type CaseItemsAdded struct {
	People   []string `json:"people"`
	AlertIDs []string `json:"alert_ids"`
	EventIDs []string `json:"event_ids"`
}

// CaseUpdate changes a case; fields left out are kept. Version (when not 0) must be the stored one.
// Lifting a legal hold needs the admin role.
type CaseUpdate struct {
	Title       *string `json:"title,omitempty"`
	Description *string `json:"description,omitempty"`
	State       *string `json:"state,omitempty"`
	Assignee    *string `json:"assignee,omitempty"`
	LegalHold   *bool   `json:"legal_hold,omitempty"`
	Note        string  `json:"note,omitempty"`
	Version     int64   `json:"version,omitempty"`
}

// CaseChange is one line of a case's history.
type CaseChange struct {
	At    time.Time `json:"at"`
	Actor string    `json:"actor"`
	Field string    `json:"field"` // created, title, description, state, assignee, legal_hold, people, alerts, events, note
	From  string    `json:"from,omitempty"`
	To    string    `json:"to,omitempty"`
	Note  string    `json:"note,omitempty"`
}

// CaseDetails is a case with its people, alerts, first events and history.
type CaseDetails struct {
	Case    Case         `json:"case"`
	People  []string     `json:"people"`
	Alerts  []Alert      `json:"alerts"`
	Events  AlertEvents  `json:"events"` // its events (added and of its alerts) in id order
	History []CaseChange `json:"history"`
}

// CaseManifest is manifest.json of a case export: every other file of the archive with its SHA-256.
type CaseManifest struct {
	Case       string             `json:"case"`
	ExportedAt time.Time          `json:"exported_at"`
	ExportedBy string             `json:"exported_by"`
	Events     int64              `json:"events"`            // events written to events.csv and events.json
	Missing    []string           `json:"missing,omitempty"` // ids of the case's events no longer stored
	Files      []CaseManifestFile `json:"files"`
}

// CaseManifestFile is one file of a case export.
type CaseManifestFile struct {
	Name   string `json:"name"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

// PersonRiskDay is the risk of a person's scored events observed on one UTC day.
type PersonRiskDay struct {
	Day    string `json:"day"` // YYYY-MM-DD
	Score  int64  `json:"score"`
	Events int64  `json:"events"`
}

// PersonRisk is a person's rolling risk score: the sum of the scores of their events observed in
// the last WindowDays days (today included), with the days that make it up.
type PersonRisk struct {
	WindowDays int             `json:"window_days"`
	Score      int64           `json:"score"`
	Events     int64           `json:"events"` // events that scored above 0
	Trend      []PersonRiskDay `json:"trend"`  // oldest first, days without scored events left out
}

// PersonWatchlist is a watchlist a person is on.
type PersonWatchlist struct {
	ID            string `json:"id"`
	Type          string `json:"type"`
	Name          string `json:"name"`
	DepartureDate string `json:"departure_date,omitempty"`
	Notes         string `json:"notes,omitempty"`
}

// Person is what Telltale knows of a person: watchlists, risk, alerts, cases and recent events.
type Person struct {
	Email        string            `json:"email"`
	Watchlists   []PersonWatchlist `json:"watchlists"`
	Departing    bool              `json:"departing"` // on the departing_employee watchlist
	Risk         PersonRisk        `json:"risk"`
	Alerts       []Alert           `json:"alerts"`        // newest first, at most 20
	Cases        []Case            `json:"cases"`         // newest first, at most 20
	RecentEvents []json.RawMessage `json:"recent_events"` // newest first (time observed), at most 20, under any of the person's addresses
	// Status is active, inactive or blocked where a directory said so; empty when unknown. It is
	// active when any connection monitors one of the person's drives or mailboxes, else blocked or
	// inactive as Directories say.
	Status string `json:"status,omitempty"`
	// Directories are what connections' directories say of the person where they do not monitor
	// them (a suspended Google user, a disabled Microsoft account, an inactive Box user).
	Directories []PersonDirectory `json:"directories"`
	// Aliases are the person's other addresses (another service's login, UPN or address).
	Aliases []PersonAlias `json:"aliases"`
	// Sources are the person's last activity per service and address, newest first.
	Sources []PersonSource `json:"sources"`
	// Devices are the endpoint agents of any of the person's addresses, last check-in first (at most 20).
	Devices []Device       `json:"devices"`
	History []PersonChange `json:"history"` // watchlist changes made by HR sources, newest first, at most 50
}

// PersonDirectory is what one connection's directory says of a person it does not monitor.
type PersonDirectory struct {
	ConnectionID int64     `json:"connection_id"`
	Connection   string    `json:"connection"`
	Service      string    `json:"service"`
	Address      string    `json:"address"`
	Status       string    `json:"status"`  // blocked or inactive
	Reason       string    `json:"reason"`  // the vendor's words
	SeenAt       time.Time `json:"seen_at"` // the discovery that last said so
}

// PersonChange is one line of a person's history: a watchlist change and who or what made it.
type PersonChange struct {
	At            time.Time `json:"at"`
	Watchlist     string    `json:"watchlist"`
	WatchlistID   string    `json:"watchlist_id"`
	Action        string    `json:"action"` // added, updated, removed
	DepartureDate string    `json:"departure_date,omitempty"`
	Source        string    `json:"source,omitempty"` // the HR source's name
	Actor         string    `json:"actor"`
}

// HRSource is an HR source (an integration of kind workday, bamboohr, hr_csv or hr_webhook) with
// its sync state.
type HRSource struct {
	Integration
	LastSyncAt time.Time `json:"last_sync_at,omitzero"`
	LastOKAt   time.Time `json:"last_ok_at,omitzero"`
	Summary    string    `json:"summary,omitempty"` // the last sync's counts, or what failed
	// WebhookPath is where the source's webhook is POSTed (hr_webhook, and bamboohr when it has a
	// signing secret): append it to Telltale's public URL.
	WebhookPath string `json:"webhook_path,omitempty"`
	// Refusals are the source's last refused webhook deliveries (at most 20, newest first): when,
	// why and from which address; the refused bodies are not kept.
	Refusals []HRRefusal `json:"refusals"`
}

// HRRefusal is a refused webhook delivery of an HR source.
type HRRefusal struct {
	At time.Time `json:"at"`
	// Reason: unsigned, bad_signature, stale, malformed or disconnected.
	Reason     string `json:"reason"`
	Detail     string `json:"detail,omitempty"` // what the sender was told
	RemoteAddr string `json:"remote_addr,omitempty"`
}

// HRSourceList lists the HR sources.
type HRSourceList struct {
	Items []HRSource `json:"items"`
}

// HRSyncResult counts what a sync, upload or webhook changed on the Departing employees watchlist.
type HRSyncResult struct {
	Added     int `json:"added"`
	Updated   int `json:"updated"`
	Removed   int `json:"removed"`
	Unchanged int `json:"unchanged"`
	Skipped   int `json:"skipped"`
}

// PersonAlias is another address of a person, added by an admin.
type PersonAlias struct {
	Alias   string    `json:"alias"`
	AddedBy string    `json:"added_by,omitempty"`
	AddedAt time.Time `json:"added_at"`
}

// PersonSource is a person's last activity seen from one service under one address.
type PersonSource struct {
	Service      string    `json:"service"`
	Address      string    `json:"address"`
	LastActivity time.Time `json:"last_activity"`
}

// PersonAliases are a person's aliases, by address.
type PersonAliases struct {
	Items []PersonAlias `json:"items"`
}

// AliasInput adds an alias to a person.
type AliasInput struct {
	Alias string `json:"alias"`
}

// PersonSummary is a line of the people list.
type PersonSummary struct {
	Email      string   `json:"email"`
	Name       string   `json:"name,omitempty"`
	Status     string   `json:"status,omitempty"` // active, inactive or blocked where known
	Department string   `json:"department,omitempty"`
	Aliases    []string `json:"aliases,omitempty"`
}

// PeopleList is a page of people by address.
type PeopleList struct {
	Items []PersonSummary `json:"items"`
	Next  string          `json:"next,omitempty"` // pass as ?after= for the next page
}

// ExposedFile is a file a person owns that is shared now, by its latest sharing state.
type ExposedFile struct {
	Connection   string    `json:"connection"`
	ConnectionID string    `json:"connection_id"`
	FileID       string    `json:"file_id"`
	Name         string    `json:"name"`
	Path         string    `json:"path,omitempty"`
	Size         int64     `json:"size,omitempty"`
	Exposure     []string  `json:"exposure"`
	LinkScope    string    `json:"link_scope,omitempty"`
	SharedWith   []string  `json:"shared_with,omitempty"`
	SharedBy     string    `json:"shared_by,omitempty"` // the actor of the sharing event
	SharedAt     time.Time `json:"shared_at"`           // the sharing event's time observed
	EventID      string    `json:"event_id"`
}

// Exposure is one page of what a person owns that is shared now by public link or with people
// outside the trusted domains (departure exposure, docs/CASES.md).
type Exposure struct {
	Email         string        `json:"email"`
	Departing     bool          `json:"departing"`
	DepartureDate string        `json:"departure_date,omitempty"`
	Items         []ExposedFile `json:"items"`
	Next          string        `json:"next,omitempty"` // pass as after= for the next page
}

// ---- endpoint agents and devices (issue 18, R8.2) ----

// DeploymentSecret is what endpoint agents enrol with. Secret is set only in the answer that
// creates it: the server keeps only its hash.
type DeploymentSecret struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Prefix    string     `json:"prefix"` // the first characters of the secret, to tell secrets apart
	Secret    string     `json:"secret,omitempty"`
	State     string     `json:"state"` // active, expired, revoked
	CreatedAt time.Time  `json:"created_at"`
	CreatedBy string     `json:"created_by,omitempty"`
	ExpiresAt time.Time  `json:"expires_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	UpdatedAt time.Time  `json:"updated_at"`
	Devices   int64      `json:"devices"` // enrolled with it
}

// DeploymentSecretList is every deployment secret, newest first.
type DeploymentSecretList struct {
	Items []DeploymentSecret `json:"items"`
}

// DeploymentSecretInput creates a deployment secret (expires_in such as 30d, or expires_at).
type DeploymentSecretInput struct {
	Name      string     `json:"name"`
	ExpiresIn string     `json:"expires_in,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// DeploymentSecretExpiry sets a new expiry (extend; reactivate when the secret has expired).
type DeploymentSecretExpiry struct {
	ExpiresIn string     `json:"expires_in,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// AgentReport is what an agent says about its machine, at enrolment and in every check-in.
type AgentReport struct {
	HostName     string `json:"host_name"`
	OS           string `json:"os"`
	Arch         string `json:"arch"`
	AgentVersion string `json:"agent_version"`
	UserName     string `json:"user_name,omitempty"`  // the signed-in user
	UserEmail    string `json:"user_email,omitempty"` // the person's address, when the deployment knows it
}

// EnrollRequest enrols an endpoint agent; the body is signed with the new device key (proof that
// the agent holds it).
type EnrollRequest struct {
	Secret    string `json:"secret"`
	PublicKey string `json:"public_key"` // base64 of the ed25519 public key
	AgentReport
}

// EnrollResponse names the new device.
type EnrollResponse struct {
	DeviceID       string `json:"device_id"`
	CheckInSeconds int    `json:"checkin_seconds"` // the rhythm the server expects
}

// CheckInRequest is one signed check-in. Counter must grow from one message to the next.
type CheckInRequest struct {
	DeviceID       string     `json:"device_id"`
	Counter        int64      `json:"counter"`
	SentAt         time.Time  `json:"sent_at"`
	LastActivityAt *time.Time `json:"last_activity_at,omitempty"`
	AgentReport
}

// CheckInResponse acknowledges a check-in.
type CheckInResponse struct {
	CheckInSeconds int    `json:"checkin_seconds"`
	CurrentVersion string `json:"current_version,omitempty"` // the version devices should run
	Outdated       bool   `json:"outdated"`
}

// Device is an enrolled endpoint agent.
type Device struct {
	ID             string     `json:"id"`
	HostName       string     `json:"host_name"`
	OS             string     `json:"os"`
	Arch           string     `json:"arch,omitempty"`
	AgentVersion   string     `json:"agent_version"`
	UserName       string     `json:"user_name,omitempty"`
	Person         string     `json:"person,omitempty"`
	SecretID       string     `json:"secret_id"`
	EnrolledAt     time.Time  `json:"enrolled_at"`
	LastCheckInAt  *time.Time `json:"last_checkin_at,omitempty"`
	LastActivityAt *time.Time `json:"last_activity_at,omitempty"`
	State          string     `json:"state"` // active, inactive
	DeactivatedAt  *time.Time `json:"deactivated_at,omitempty"`
	DeactivatedBy  string     `json:"deactivated_by,omitempty"`
	Outdated       bool       `json:"outdated"` // older than current_version
	Silent         bool       `json:"silent"`   // active and no check-in for longer than silent_after
}

// DeviceList is a page of devices.
type DeviceList struct {
	Items          []Device `json:"items"`
	Total          int64    `json:"total"`          // devices the filter selects
	Next           string   `json:"next,omitempty"` // pass as offset= for the next page
	CurrentVersion string   `json:"current_version,omitempty"`
	SilentAfter    string   `json:"silent_after"` // e.g. 24h
}

// AgentFileEvent is one change of a file in a folder an agent watches. Seq is the device's own
// sequence number: it grows by one per change and the server keeps each number once.
type AgentFileEvent struct {
	Seq          int64     `json:"seq"`
	Action       string    `json:"action"` // file-created, file-modified, file-deleted, file-renamed, file-moved
	At           time.Time `json:"at"`
	Path         string    `json:"path"`
	Size         int64     `json:"size,omitempty"`
	Modified     time.Time `json:"modified,omitzero"`
	MD5          string    `json:"md5,omitempty"`
	SHA256       string    `json:"sha256,omitempty"`
	OriginalPath string    `json:"original_path,omitempty"` // renamed or moved from
	UserName     string    `json:"user_name,omitempty"`
}

// AgentEventsRequest is a signed batch of file events, in sequence order.
type AgentEventsRequest struct {
	DeviceID string           `json:"device_id"`
	Events   []AgentFileEvent `json:"events"`
}

// AgentEventsResponse acknowledges every sequence number up to AckedThrough: the agent may forget
// them. Duplicates (numbers acknowledged before) are acknowledged again and stored once.
type AgentEventsResponse struct {
	AckedThrough int64 `json:"acked_through"`
	Inserted     int   `json:"inserted"`
}

// RescoreRequest starts a re-score job (POST /api/v1/risk/rescore, docs/RISK.md): the current
// risk settings and trusted domains are applied to the events observed from From (included) to
// To (excluded).
type RescoreRequest struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// RescoreJob is a re-score job and its progress.
type RescoreJob struct {
	ID    string    `json:"id"`
	From  time.Time `json:"from"`
	To    time.Time `json:"to"`
	State string    `json:"state"` // running, done, failed, cancelled
	// Total is the events of the range stored when the job started; Scanned how many it has
	// read, Changed how many of those got a different risk.
	Total             int64             `json:"total"`
	Scanned           int64             `json:"scanned"`
	Changed           int64             `json:"changed"`
	Error             string            `json:"error,omitempty"`
	Risk              *RiskSettings     `json:"risk,omitempty"` // the settings it applies, fixed when it started
	TrustedDomains    []string          `json:"trusted_domains"`
	TrustedActivities []TrustedActivity `json:"trusted_activities"`
	CreatedBy         string            `json:"created_by"`
	CreatedAt         time.Time         `json:"created_at"`
	UpdatedAt         time.Time         `json:"updated_at"`
	FinishedAt        *time.Time        `json:"finished_at,omitempty"`
}

// RescoreJobs lists re-score jobs, newest first.
type RescoreJobs struct {
	Items []RescoreJob `json:"items"`
}
