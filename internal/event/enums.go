package event

import "slices"

// Action is what happened to the file.
type Action string

// The actions of the public contract.
const (
	ActionCreated    Action = "file-created"
	ActionModified   Action = "file-modified"
	ActionRenamed    Action = "file-renamed"
	ActionMoved      Action = "file-moved"
	ActionDeleted    Action = "file-deleted"
	ActionRestored   Action = "file-restored"
	ActionShared     Action = "file-shared"
	ActionUnshared   Action = "file-unshared"
	ActionDownloaded Action = "file-downloaded"
	ActionViewed     Action = "file-viewed"
	ActionEmailed    Action = "file-emailed"
)

var actions = []Action{ActionCreated, ActionModified, ActionRenamed, ActionMoved, ActionDeleted,
	ActionRestored, ActionShared, ActionUnshared, ActionDownloaded, ActionViewed, ActionEmailed}

// Actions lists every action.
func Actions() []Action { return slices.Clone(actions) }

// Valid reports whether a is a known action.
func (a Action) Valid() bool { return slices.Contains(actions, a) }

// Observer is the service that observed the event.
type Observer string

// Observers of the public contract.
const (
	ObserverBox              Observer = "box"
	ObserverGoogleDrive      Observer = "google_drive"
	ObserverOneDrive         Observer = "onedrive"
	ObserverGmail            Observer = "gmail"
	ObserverMicrosoft365Mail Observer = "microsoft365_mail"
	ObserverEndpoint         Observer = "endpoint"
)

var observers = []Observer{ObserverBox, ObserverGoogleDrive, ObserverOneDrive, ObserverGmail,
	ObserverMicrosoft365Mail, ObserverEndpoint}

// Observers lists every observer.
func Observers() []Observer { return slices.Clone(observers) }

// Valid reports whether o is a known observer.
func (o Observer) Valid() bool { return slices.Contains(observers, o) }

// LinkScope is the reach of a file's shared link.
type LinkScope string

// Link scopes.
const (
	LinkAnyone       LinkScope = "anyone"
	LinkOrganization LinkScope = "organization"
	LinkSpecific     LinkScope = "specific"
	LinkNone         LinkScope = "none"
)

// Valid reports whether s is a known link scope.
func (s LinkScope) Valid() bool {
	return s == LinkAnyone || s == LinkOrganization || s == LinkSpecific || s == LinkNone
}

// Exposure is a way a file is exposed beyond its owner.
type Exposure string

// Exposure values.
const (
	ExposurePublicLink           Exposure = "public_link"
	ExposureOrganizationLink     Exposure = "organization_link"
	ExposureOutsideTrustedDomain Exposure = "outside_trusted_domains"
)

var exposures = []Exposure{ExposurePublicLink, ExposureOrganizationLink, ExposureOutsideTrustedDomain}

// Exposures lists every exposure value.
func Exposures() []Exposure { return slices.Clone(exposures) }

// Valid reports whether x is a known exposure.
func (x Exposure) Valid() bool { return slices.Contains(exposures, x) }

// Bit returns x's bit in a compact exposure set (for storage), or 0 if unknown.
func (x Exposure) Bit() int {
	if i := slices.Index(exposures, x); i >= 0 {
		return 1 << i
	}
	return 0
}

// ExposureBits packs a list of exposures into a bit set.
func ExposureBits(xs []Exposure) int {
	b := 0
	for _, x := range xs {
		b |= x.Bit()
	}
	return b
}

// ExposuresFromBits unpacks a bit set made by ExposureBits, in canonical order.
func ExposuresFromBits(b int) []Exposure {
	var out []Exposure
	for i, x := range exposures {
		if b&(1<<i) != 0 {
			out = append(out, x)
		}
	}
	return out
}

// Severity is the risk severity of an event.
type Severity string

// Severities from least to most severe.
const (
	SeverityNone     Severity = "none"
	SeverityLow      Severity = "low"
	SeverityModerate Severity = "moderate"
	SeverityHigh     Severity = "high"
	SeverityCritical Severity = "critical"
)

var severities = []Severity{SeverityNone, SeverityLow, SeverityModerate, SeverityHigh, SeverityCritical}

// Severities lists every severity, least severe first.
func Severities() []Severity { return slices.Clone(severities) }

// Valid reports whether s is a known severity.
func (s Severity) Valid() bool { return slices.Contains(severities, s) }

// Rank orders severities: none 0 ... critical 4; unknown -1.
func (s Severity) Rank() int { return slices.Index(severities, s) }

// Risk indicators: what can make an event risky (docs/RISK.md). Their names are part of the public
// contract (stored on events, searched with risk.indicator:...): add, never rename.
const (
	IndicatorPublicLink       = "public_link"       // shared by a link anyone can open
	IndicatorOrganizationLink = "organization_link" // shared by a link anyone in the organization can open
	IndicatorUntrustedDomain  = "untrusted_domain"  // shared or sent to an address outside the trusted domains
	IndicatorPersonalMail     = "personal_mail"     // shared or sent to a personal-mail address (gmail.com, ...)
	IndicatorFirstUse         = "first_use"         // a destination this person never shared or sent to before
	IndicatorOffHours         = "off_hours"         // outside the organization's working hours
)

// CategoryIndicatorPrefix starts the name of a file category's indicator: category_source_code.
const CategoryIndicatorPrefix = "category_"

// CategoryIndicator returns the indicator of a file category ("" for other and unknown categories).
func CategoryIndicator(c Category) string {
	if c == CategoryOther || !c.Valid() {
		return ""
	}
	return CategoryIndicatorPrefix + string(c)
}

// Watchlist types (R6.3, internal/watchlist): a person on a watchlist of a type gets its
// indicator (WatchlistIndicator) on their scored events.
const (
	WatchlistDepartingEmployee     = "departing_employee"
	WatchlistFlightRisk            = "flight_risk"
	WatchlistContractor            = "contractor"
	WatchlistNewHire               = "new_hire"
	WatchlistElevatedAccess        = "elevated_access"
	WatchlistHighImpact            = "high_impact"
	WatchlistPerformanceConcerns   = "performance_concerns"
	WatchlistPoorSecurityPractices = "poor_security_practices"
	WatchlistCustom                = "custom"
)

var watchlistTypes = []string{WatchlistDepartingEmployee, WatchlistFlightRisk, WatchlistContractor, WatchlistNewHire,
	WatchlistElevatedAccess, WatchlistHighImpact, WatchlistPerformanceConcerns, WatchlistPoorSecurityPractices, WatchlistCustom}

// WatchlistTypes lists the watchlist types, custom last.
func WatchlistTypes() []string { return slices.Clone(watchlistTypes) }

// WatchlistIndicatorPrefix starts the name of a watchlist type's indicator: watchlist_flight_risk.
const WatchlistIndicatorPrefix = "watchlist_"

// WatchlistIndicator returns the indicator of a watchlist type ("" for an unknown type).
func WatchlistIndicator(t string) string {
	if !slices.Contains(watchlistTypes, t) {
		return ""
	}
	return WatchlistIndicatorPrefix + t
}

// Indicators lists every risk indicator: the destination and context ones, one per file
// category (other has none), then one per watchlist type.
func Indicators() []string {
	out := []string{IndicatorPublicLink, IndicatorOrganizationLink, IndicatorUntrustedDomain, IndicatorPersonalMail,
		IndicatorFirstUse, IndicatorOffHours}
	for _, c := range categories {
		if i := CategoryIndicator(c); i != "" {
			out = append(out, i)
		}
	}
	for _, t := range watchlistTypes {
		out = append(out, WatchlistIndicator(t))
	}
	return out
}
