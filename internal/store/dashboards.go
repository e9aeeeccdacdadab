package store

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/internal/event"
)

// ---- dashboards (issue 18, R8.4, docs/ARCHITECTURE.md "Dashboards") ----

// Exposure vectors: how an event moves a file toward a destination the organization does not
// control. Their names are part of the API (GET /api/v1/dashboards/...): add, never rename.
const (
	VectorPublicLink    = "public_link"    // a share by a link anyone who has it can open
	VectorExternalShare = "external_share" // a share with addresses (or a risky organization link)
	VectorEmail         = "email"          // an e-mail with recipients
	VectorEndpoint      = "endpoint"       // a file downloaded to a device, or written on one (the agent)
)

// Vectors lists the vectors in the order the dashboards show them.
func Vectors() []string {
	return []string{VectorPublicLink, VectorExternalShare, VectorEmail, VectorEndpoint}
}

// Drill-down kinds of the dashboards.
const (
	DimPerson      = "person"      // the actor's address, lower case
	DimDevice      = "device"      // the endpoint's drive id, "device/ID"
	DimDestination = "destination" // a recipient's domain
)

// ExposureVector returns the vector of e and whether its destinations are all trusted, from the
// event alone (so an updated event is classified again the same way): "" for an event that moves
// nothing out (an edit, a view, a share with a group or a specific internal link).
//
//   - file-shared: public_link when the link opens to anyone (link_scope anyone or exposure
//     public_link); external_share when it names an address, or when its risk scored an
//     organization link (weighted as risky by the admin); trusted when its risk says so.
//   - file-emailed with a recipient address: email (trusted when its risk says so).
//   - file-downloaded: endpoint (the file went to a device Telltale cannot judge).
//   - the endpoint agent's file-created, -modified, -renamed and -moved: endpoint.
func ExposureVector(e *event.FileEvent) (vector string, trusted bool) {
	switch e.Event.Action {
	case event.ActionShared:
		v := ""
		switch {
		case e.Sharing.LinkScope == event.LinkAnyone || slices.Contains(e.Sharing.Exposure, event.ExposurePublicLink):
			v = VectorPublicLink
		case hasAddress(e.Sharing.SharedWith):
			v = VectorExternalShare
		case e.Sharing.LinkScope == event.LinkOrganization && e.Risk.Score > 0:
			v = VectorExternalShare
		}
		if v == "" && e.Risk.Trusted {
			v = VectorExternalShare
		}
		return v, v != "" && e.Risk.Trusted
	case event.ActionEmailed:
		if hasAddress(e.Email.Recipients) {
			return VectorEmail, e.Risk.Trusted
		}
	case event.ActionDownloaded:
		return VectorEndpoint, false
	case event.ActionCreated, event.ActionModified, event.ActionRenamed, event.ActionMoved:
		if e.Event.Observer == event.ObserverEndpoint {
			return VectorEndpoint, false
		}
	}
	return "", false
}

func hasAddress(xs []string) bool {
	for _, x := range xs {
		if strings.Contains(x, "@") {
			return true
		}
	}
	return false
}

// DestinationDomains returns the domains e is shared or sent to, lower case, without the actor's
// own domain, in order, once each. The store does not know the trusted domains: of an event that
// goes to a trusted partner and to an untrusted address at once, the partner's domain is listed too.
func DestinationDomains(e *event.FileEvent) []string {
	own := ""
	if i := strings.LastIndexByte(e.User.Email, '@'); i >= 0 {
		own = strings.ToLower(strings.TrimSpace(e.User.Email[i+1:]))
	}
	var out []string
	for _, a := range slices.Concat(e.Sharing.SharedWith, e.Email.Recipients) {
		i := strings.LastIndexByte(a, '@')
		if i < 0 {
			continue
		}
		d := strings.ToLower(strings.TrimSpace(a[i+1:]))
		if d == "" || d == own || slices.Contains(out, d) {
			continue
		}
		out = append(out, d)
	}
	return out
}

// DeviceOf returns the device an endpoint event happened on ("device/ID", the agent's drive id),
// or "".
func DeviceOf(e *event.FileEvent) string {
	if strings.HasPrefix(e.File.DriveID, "device/") {
		return e.File.DriveID
	}
	return ""
}

// DashQuery selects the buckets of a dashboard: From and To are snapped to Step (From down, To
// up; To excluded). Vector keeps one vector ("" all); Dim and Value keep one person, device or
// destination (a drill-down; "" none).
type DashQuery struct {
	From, To time.Time
	Step     time.Duration // time.Hour or 24 * time.Hour
	Vector   string
	Dim      string
	Value    string
}

// DashPoint is one bucket's count of one series (a vector, a severity, ...).
type DashPoint struct {
	At     time.Time
	Series string
	Events int64
}

// DashCount is a value's total over the range: events, and those with a risk score above 0.
type DashCount struct {
	Value         string
	Events, Risky int64
}

// DashBreakdown is the range's untrusted events by vector, severity and file category, and the
// trusted shares and e-mails left out of them.
type DashBreakdown struct {
	ByVector, BySeverity, ByCategory []DashCount
	Trusted                          int64
}

// DashAlertCount counts the alerts created in a range with one severity and state.
type DashAlertCount struct {
	Severity, State string
	Alerts          int64
}

// DashboardQueries read the dashboards' counts. The counts are written by InsertEvents and
// UpdateEvent in their own transaction (an updated event leaves its old buckets for its new
// ones); events deleted later stay counted.
type DashboardQueries interface {
	// DashboardSeries returns the events per bucket and vector (trusted ones left out), oldest
	// first; with q.Dim, those of one person, device or destination.
	DashboardSeries(ctx context.Context, q DashQuery) ([]DashPoint, error)
	// DashboardTop returns the values of one drill-down kind with the most events, at most limit.
	DashboardTop(ctx context.Context, q DashQuery, dim string, limit int) ([]DashCount, error)
	// DashboardBreakdown returns the range's counts by vector, severity and category.
	DashboardBreakdown(ctx context.Context, q DashQuery) (DashBreakdown, error)
	// DashboardPeople returns per bucket how many people had at least one risky event (score above 0).
	DashboardPeople(ctx context.Context, q DashQuery) ([]DashPoint, error)
	// DashboardDepartments returns the departments (people.department, "" unknown) whose people
	// had the most events, at most limit.
	DashboardDepartments(ctx context.Context, q DashQuery, limit int) ([]DashCount, error)
	// DashboardAlerts counts the alerts created in the range by severity and state.
	DashboardAlerts(ctx context.Context, q DashQuery) ([]DashAlertCount, error)
}
