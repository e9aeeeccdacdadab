package forward

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"

	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/store"
)

// OCSF schema version the records follow (the schema vendored in ../shared/vendor/ocsf).
const OCSFVersion = "1.8.0"

// OCSF classes used.
const (
	ocsfCategoryApplication = 6
	ocsfCategoryNetwork     = 4
	ocsfClassFileHosting    = 6006 // File Hosting Activity
	ocsfClassEmail          = 4009 // Email Activity (Email File Activity 4011 is deprecated since 1.3)
)

// OCSFEvent is an OCSF record: the base event's attributes, the security_control profile's risk
// attributes, and those of File Hosting Activity or Email Activity.
type OCSFEvent struct {
	OCSFBase
	// security_control profile
	RiskLevelID int    `json:"risk_level_id,omitempty"`
	RiskLevel   string `json:"risk_level,omitempty"`
	RiskScore   int    `json:"risk_score,omitempty"`
	RiskDetails string `json:"risk_details,omitempty"`
	// File Hosting Activity
	Actor       *OCSFActor    `json:"actor,omitempty"`
	File        *OCSFFile     `json:"file,omitempty"`
	SrcEndpoint *OCSFEndpoint `json:"src_endpoint,omitempty"`
	HTTPRequest *OCSFHTTP     `json:"http_request,omitempty"`
	// Email Activity
	DirectionID *int       `json:"direction_id,omitempty"` // required in Email Activity, absent elsewhere
	Direction   string     `json:"direction,omitempty"`
	Email       *OCSFEmail `json:"email,omitempty"`
	// Unmapped keeps what no attribute holds: the sharing targets and exposure, the connection.
	Unmapped map[string]any `json:"unmapped,omitempty"`
}

// OCSFBase holds the base event's attributes every record has.
type OCSFBase struct {
	ActivityID   int          `json:"activity_id"`
	ActivityName string       `json:"activity_name,omitempty"`
	CategoryUID  int          `json:"category_uid"`
	CategoryName string       `json:"category_name,omitempty"`
	ClassUID     int          `json:"class_uid"`
	ClassName    string       `json:"class_name,omitempty"`
	TypeUID      int64        `json:"type_uid"`
	TypeName     string       `json:"type_name,omitempty"`
	SeverityID   int          `json:"severity_id"`
	Severity     string       `json:"severity,omitempty"`
	StatusID     int          `json:"status_id,omitempty"`
	Status       string       `json:"status,omitempty"`
	StatusDetail string       `json:"status_detail,omitempty"`
	Time         int64        `json:"time"`
	Count        int64        `json:"count,omitempty"`
	Message      string       `json:"message,omitempty"`
	Metadata     OCSFMetadata `json:"metadata"`
}

// ocsfMetadata is the metadata of a record Telltale makes: uid is the record's stable id, log the
// stream it belongs to.
func ocsfMetadata(version, uid, log string) OCSFMetadata {
	return OCSFMetadata{Product: OCSFProduct{Name: "Telltale", VendorName: "Telltale", Version: version}, Version: OCSFVersion, UID: uid, LogName: log}
}

// setType sets type_uid (class_uid × 100 + activity_id) and its caption.
func (b *OCSFBase) setType() {
	b.TypeUID = int64(b.ClassUID)*100 + int64(b.ActivityID)
	b.TypeName = b.ClassName + ": " + b.ActivityName
}

// OCSFMetadata is the metadata object; UID is the Telltale event id, stable across retries.
type OCSFMetadata struct {
	Product    OCSFProduct `json:"product"`
	Version    string      `json:"version"`
	UID        string      `json:"uid"`
	LoggedTime int64       `json:"logged_time,omitempty"`
	LogName    string      `json:"log_name,omitempty"`
	Profiles   []string    `json:"profiles,omitempty"`
	TenantUID  string      `json:"tenant_uid,omitempty"`
}

// OCSFProduct names Telltale.
type OCSFProduct struct {
	Name       string `json:"name"`
	VendorName string `json:"vendor_name"`
	Version    string `json:"version,omitempty"`
}

// OCSFActor is the actor object.
type OCSFActor struct {
	User    *OCSFUser `json:"user,omitempty"`
	AppName string    `json:"app_name,omitempty"`
}

// OCSFUser is the user object.
type OCSFUser struct {
	Name      string `json:"name,omitempty"`
	UID       string `json:"uid,omitempty"`
	EmailAddr string `json:"email_addr,omitempty"`
	FullName  string `json:"full_name,omitempty"`
}

// OCSFFile is the file object.
type OCSFFile struct {
	Name         string            `json:"name"`
	TypeID       int               `json:"type_id"`
	Type         string            `json:"type,omitempty"`
	UID          string            `json:"uid,omitempty"`
	Path         string            `json:"path,omitempty"`
	ParentFolder string            `json:"parent_folder,omitempty"`
	Size         int64             `json:"size,omitempty"`
	MimeType     string            `json:"mime_type,omitempty"`
	Hashes       []OCSFFingerprint `json:"hashes,omitempty"`
	Owner        *OCSFUser         `json:"owner,omitempty"`
	CreatedTime  int64             `json:"created_time,omitempty"`
	ModifiedTime int64             `json:"modified_time,omitempty"`
	IsPublic     bool              `json:"is_public,omitempty"`
	URI          string            `json:"uri,omitempty"`
}

// OCSFFingerprint is a hash.
type OCSFFingerprint struct {
	AlgorithmID int    `json:"algorithm_id"`
	Algorithm   string `json:"algorithm,omitempty"`
	Value       string `json:"value"`
}

// OCSFEndpoint is a network endpoint.
type OCSFEndpoint struct {
	IP      string `json:"ip,omitempty"`
	SvcName string `json:"svc_name,omitempty"`
}

// OCSFHTTP is the http_request object (the user agent only).
type OCSFHTTP struct {
	UserAgent string `json:"user_agent,omitempty"`
}

// OCSFEmail is the email object.
type OCSFEmail struct {
	From       string     `json:"from,omitempty"`
	To         []string   `json:"to,omitempty"`
	Subject    string     `json:"subject,omitempty"`
	MessageUID string     `json:"message_uid,omitempty"`
	Files      []OCSFFile `json:"files,omitempty"`
}

// fileHostingActivity maps an action to File Hosting Activity's activity_id and caption.
var fileHostingActivity = map[event.Action]struct {
	id   int
	name string
}{
	event.ActionCreated:    {1, "Upload"},
	event.ActionDownloaded: {2, "Download"},
	event.ActionModified:   {3, "Update"},
	event.ActionDeleted:    {4, "Delete"},
	event.ActionRenamed:    {5, "Rename"},
	event.ActionMoved:      {7, "Move"},
	event.ActionRestored:   {8, "Restore"},
	event.ActionViewed:     {9, "Preview"},
	event.ActionShared:     {12, "Share"},
	event.ActionUnshared:   {13, "Unshare"},
}

// severity: Telltale's severity to OCSF severity_id (and risk_level_id) with captions.
func ocsfSeverity(s event.Severity) (sevID int, sev string, riskID int, risk string) {
	switch s {
	case event.SeverityLow:
		return 2, "Low", 1, "Low"
	case event.SeverityModerate:
		return 3, "Medium", 2, "Medium"
	case event.SeverityHigh:
		return 4, "High", 3, "High"
	case event.SeverityCritical:
		return 5, "Critical", 4, "Critical"
	}
	return 1, "Informational", 0, "Info"
}

// emailRe is OCSF's email_t pattern: addresses that do not match are given as names instead.
var emailRe = regexp.MustCompile(`^[a-zA-Z0-9!#$%&'*+-/=?^_` + "`" + `{|}~.]+@[a-zA-Z0-9-]+\.[a-zA-Z0-9-.]+$`)

func ocsfUser(email, vendorID, name string) *OCSFUser {
	if email == "" && vendorID == "" && name == "" {
		return nil
	}
	u := &OCSFUser{UID: vendorID, FullName: name, Name: email}
	if emailRe.MatchString(email) {
		u.EmailAddr = email
	}
	if u.Name == "" {
		u.Name = name
	}
	if u.Name == "" {
		u.Name = vendorID
	}
	return u
}

func ocsfFile(e *event.FileEvent) OCSFFile {
	f := OCSFFile{Name: e.File.Name, TypeID: 1, Type: "Regular File", UID: e.File.ID, Path: e.File.Path, ParentFolder: e.File.Directory,
		Size: e.File.Size, MimeType: e.File.MimeType, URI: e.File.URL}
	if f.Name == "" {
		f.Name = e.File.ID
	}
	if f.Name == "" {
		f.Name = "(unnamed)"
	}
	if e.File.Owner != "" {
		f.Owner = ocsfUser(e.File.Owner, "", "")
	}
	h := e.File.Hash
	if h.MD5 != "" {
		f.Hashes = append(f.Hashes, OCSFFingerprint{AlgorithmID: 1, Algorithm: "MD5", Value: h.MD5})
	}
	if h.SHA1 != "" {
		f.Hashes = append(f.Hashes, OCSFFingerprint{AlgorithmID: 2, Algorithm: "SHA-1", Value: h.SHA1})
	}
	if h.SHA256 != "" {
		f.Hashes = append(f.Hashes, OCSFFingerprint{AlgorithmID: 3, Algorithm: "SHA-256", Value: h.SHA256})
	}
	if h.QuickXor != "" {
		f.Hashes = append(f.Hashes, OCSFFingerprint{AlgorithmID: 99, Algorithm: "quickXorHash", Value: h.QuickXor})
	}
	if !e.File.Created.IsZero() {
		f.CreatedTime = e.File.Created.UnixMilli()
	}
	if !e.File.Modified.IsZero() {
		f.ModifiedTime = e.File.Modified.UnixMilli()
	}
	f.IsPublic = e.Sharing.LinkScope == event.LinkAnyone
	return f
}

// OCSF maps e to an OCSF record: an emailed file is Email Activity (Send) with the file in
// email.files; every other action is File Hosting Activity with its activity.
func OCSF(version string, e *event.FileEvent) *OCSFEvent {
	o := &OCSFEvent{OCSFBase: OCSFBase{Time: e.Timestamp.UnixMilli(), StatusID: 1, Count: int64(e.Event.Count),
		Metadata: ocsfMetadata(version, strconv.FormatInt(e.Event.ID, 10), string(e.Event.Observer))}}
	o.Metadata.Profiles = []string{"security_control"}
	if !e.Event.Inserted.IsZero() {
		o.Metadata.LoggedTime = e.Event.Inserted.UnixMilli()
	}
	o.SeverityID, o.Severity, o.RiskLevelID, o.RiskLevel = ocsfSeverity(e.Risk.Severity)
	o.RiskScore = e.Risk.Score
	o.RiskDetails = strings.Join(e.Risk.Indicators, ", ")
	un := map[string]any{"action": string(e.Event.Action), "observer": string(e.Event.Observer)}
	if e.Event.ConnectionName != "" {
		un["connection"] = e.Event.ConnectionName
	}
	if e.Sharing.LinkScope != "" {
		un["link_scope"] = string(e.Sharing.LinkScope)
	}
	if len(e.Sharing.SharedWith) > 0 {
		un["shared_with"] = e.Sharing.SharedWith
	}
	if len(e.Sharing.Exposure) > 0 {
		un["exposure"] = joinExposure(e.Sharing.Exposure)
	}
	if e.Risk.Trusted {
		un["trusted"] = true
	}
	o.Unmapped = un
	if e.Event.Action == event.ActionEmailed {
		o.CategoryUID, o.CategoryName = ocsfCategoryNetwork, "Network Activity"
		o.ClassUID, o.ClassName = ocsfClassEmail, "Email Activity"
		o.ActivityID, o.ActivityName = 1, "Send"
		dir, dirName := 0, "Unknown"
		for _, x := range e.Sharing.Exposure {
			if x == event.ExposureOutsideTrustedDomain {
				dir, dirName = 2, "Outbound"
			}
		}
		o.DirectionID, o.Direction = &dir, dirName
		m := &OCSFEmail{Subject: e.Email.Subject, MessageUID: e.Email.MessageID, Files: []OCSFFile{ocsfFile(e)}}
		from := e.Email.From
		if from == "" {
			from = e.User.Email
		}
		if emailRe.MatchString(from) {
			m.From = from
		}
		for _, r := range e.Email.Recipients {
			if emailRe.MatchString(r) {
				m.To = append(m.To, r)
			}
		}
		if m.From == "" && len(m.To) == 0 {
			un["email_from"] = from // the email object needs from or to: an unreadable sender is kept here
			m.From = "unknown@unknown.invalid"
		}
		o.Email = m
		if len(e.Email.Recipients) > 0 {
			un["recipients"] = e.Email.Recipients
		}
	} else {
		o.CategoryUID, o.CategoryName = ocsfCategoryApplication, "Application Activity"
		o.ClassUID, o.ClassName = ocsfClassFileHosting, "File Hosting Activity"
		a, ok := fileHostingActivity[e.Event.Action]
		if !ok {
			a.id, a.name = 99, string(e.Event.Action)
		}
		o.ActivityID, o.ActivityName = a.id, a.name
		f := ocsfFile(e)
		o.File = &f
		if u := ocsfUser(e.User.Email, e.User.VendorID, e.User.Name); u != nil {
			o.Actor = &OCSFActor{User: u}
		} else {
			o.Actor = &OCSFActor{AppName: string(e.Event.Observer)}
		}
		o.SrcEndpoint = &OCSFEndpoint{IP: e.Source.IP}
		if o.SrcEndpoint.IP == "" {
			o.SrcEndpoint = &OCSFEndpoint{SvcName: string(e.Event.Observer)}
		}
		if e.Source.UserAgent != "" {
			o.HTTPRequest = &OCSFHTTP{UserAgent: e.Source.UserAgent}
		}
	}
	o.setType()
	return o
}

// OCSF classes of the alert and audit streams.
const (
	ocsfCategoryFindings = 2
	ocsfClassDetection   = 2004 // Detection Finding
	ocsfClassAPIActivity = 6003 // API Activity
)

// OCSFFinding is an alert as a Detection Finding (2004).
type OCSFFinding struct {
	OCSFBase
	FindingInfo OCSFFindingInfo `json:"finding_info"`
	IsAlert     bool            `json:"is_alert"`
	RiskLevelID int             `json:"risk_level_id,omitempty"`
	RiskLevel   string          `json:"risk_level,omitempty"`
	Unmapped    map[string]any  `json:"unmapped,omitempty"`
}

// OCSFFindingInfo is the finding_info object.
type OCSFFindingInfo struct {
	UID           string       `json:"uid"`
	Title         string       `json:"title,omitempty"`
	Desc          string       `json:"desc,omitempty"`
	CreatedTime   int64        `json:"created_time,omitempty"`
	FirstSeenTime int64        `json:"first_seen_time,omitempty"`
	LastSeenTime  int64        `json:"last_seen_time,omitempty"`
	Analytic      OCSFAnalytic `json:"analytic"`
}

// OCSFAnalytic is the analytic object: the alert rule.
type OCSFAnalytic struct {
	UID    string `json:"uid,omitempty"`
	Name   string `json:"name,omitempty"`
	TypeID int    `json:"type_id"`
	Type   string `json:"type,omitempty"`
}

// findingStatus maps an alert's state to the finding's status_id and caption.
var findingStatus = map[string]struct {
	id   int
	name string
}{
	store.AlertOpen: {1, "New"}, store.AlertInProgress: {2, "In Progress"}, store.AlertResolved: {4, "Resolved"}, store.AlertDismissed: {3, "Suppressed"},
}

// OCSFAlert maps an alert to a Detection Finding: the rule is the analytic, the alert's first and
// last events the seen times; the person and grouping go to unmapped (a finding has no actor).
func OCSFAlert(version string, a *store.Alert) *OCSFFinding {
	o := &OCSFFinding{OCSFBase: OCSFBase{ActivityID: 1, ActivityName: "Create", CategoryUID: ocsfCategoryFindings, CategoryName: "Findings",
		ClassUID: ocsfClassDetection, ClassName: "Detection Finding", Time: a.CreatedAt.UnixMilli(), Count: a.EventCount, Message: a.Summary,
		Metadata: ocsfMetadata(version, "alert-"+strconv.FormatInt(a.ID, 10), "alerts")},
		FindingInfo: OCSFFindingInfo{UID: strconv.FormatInt(a.ID, 10), Title: a.RuleName, Desc: a.Summary, CreatedTime: a.CreatedAt.UnixMilli(),
			Analytic: OCSFAnalytic{UID: strconv.FormatInt(a.RuleID, 10), Name: a.RuleName, TypeID: 1, Type: "Rule"}},
		IsAlert: true}
	if !a.FirstEventAt.IsZero() {
		o.FindingInfo.FirstSeenTime = a.FirstEventAt.UnixMilli()
	}
	if !a.LastEventAt.IsZero() {
		o.FindingInfo.LastSeenTime = a.LastEventAt.UnixMilli()
	}
	o.SeverityID, o.Severity, o.RiskLevelID, o.RiskLevel = ocsfSeverity(event.Severity(a.Severity))
	if s, ok := findingStatus[a.State]; ok {
		o.StatusID, o.Status = s.id, s.name
	}
	un := map[string]any{"state": a.State}
	for k, v := range map[string]string{"person": a.Person, "group": a.GroupKey, "resolution": a.Resolution, "assignee": a.Assignee} {
		if v != "" {
			un[k] = v
		}
	}
	o.Unmapped = un
	o.setType()
	return o
}

// OCSFAPIActivity is an audit entry as API Activity (6003).
type OCSFAPIActivity struct {
	OCSFBase
	Actor       OCSFActor      `json:"actor"`
	API         OCSFAPI        `json:"api"`
	SrcEndpoint OCSFEndpoint   `json:"src_endpoint"`
	Unmapped    map[string]any `json:"unmapped,omitempty"`
}

// OCSFAPI is the api object: the operation is the audit action.
type OCSFAPI struct {
	Operation string      `json:"operation"`
	Service   OCSFService `json:"service"`
}

// OCSFService names Telltale.
type OCSFService struct {
	Name string `json:"name"`
}

// auditActivity maps an audit action's verb (its last dotted word) to API Activity's activity_id.
func auditActivity(action string) (int, string) {
	verb := action[strings.LastIndexByte(action, '.')+1:]
	switch {
	case verb == "create" || verb == "add" || strings.HasPrefix(verb, "import") || verb == "upload" || verb == "enroll":
		return 1, "Create"
	case verb == "search" || verb == "export" || verb == "read" || verb == "view" || verb == "test" || verb == "verify":
		return 2, "Read"
	case verb == "delete" || verb == "remove" || verb == "revoke":
		return 4, "Delete"
	}
	return 3, "Update"
}

// OCSFAudit maps an audit entry to API Activity: the actor's user, the action as the operation,
// the client address as the source; the target and details go to unmapped.
func OCSFAudit(version string, e *store.AuditEntry) *OCSFAPIActivity {
	o := &OCSFAPIActivity{OCSFBase: OCSFBase{CategoryUID: ocsfCategoryApplication, CategoryName: "Application Activity", ClassUID: ocsfClassAPIActivity,
		ClassName: "API Activity", SeverityID: 1, Severity: "Informational", Time: e.At.UnixMilli(),
		Metadata: ocsfMetadata(version, "audit-"+strconv.FormatInt(e.ID, 10), "audit")},
		API: OCSFAPI{Operation: e.Action, Service: OCSFService{Name: "Telltale"}}}
	o.ActivityID, o.ActivityName = auditActivity(e.Action)
	actor := e.Actor
	if actor == "" {
		actor = "system"
	}
	o.Actor = OCSFActor{User: &OCSFUser{Name: actor, UID: strconv.FormatInt(e.ActorID, 10)}}
	if e.ActorID == 0 {
		o.Actor.User.UID = ""
	}
	o.SrcEndpoint = OCSFEndpoint{IP: e.ClientIP}
	if e.ClientIP == "" {
		o.SrcEndpoint.SvcName = "telltale"
	}
	switch e.Outcome {
	case "ok":
		o.StatusID, o.Status = 1, "Success"
	case store.AuditStarted:
		o.StatusID, o.Status, o.StatusDetail = 0, "Unknown", "started; no outcome recorded"
	default:
		o.StatusID, o.Status, o.StatusDetail = 2, "Failure", e.Outcome
	}
	un := map[string]any{}
	if e.Target != "" {
		un["target"] = e.Target
	}
	if len(e.Details) > 0 && json.Valid(e.Details) {
		un["details"] = json.RawMessage(e.Details)
	}
	if len(un) > 0 {
		o.Unmapped = un
	}
	o.setType()
	return o
}
