package forward

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/telltale-dev/telltale/internal/event"
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
	Time         int64        `json:"time"`
	Count        int          `json:"count,omitempty"`
	Message      string       `json:"message,omitempty"`
	Metadata     OCSFMetadata `json:"metadata"`
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
	o := &OCSFEvent{Time: e.Timestamp.UnixMilli(), StatusID: 1, Count: e.Event.Count,
		Metadata: OCSFMetadata{Product: OCSFProduct{Name: "Telltale", VendorName: "Telltale", Version: version}, Version: OCSFVersion,
			UID: strconv.FormatInt(e.Event.ID, 10), LogName: string(e.Event.Observer), Profiles: []string{"security_control"}}}
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
	o.TypeUID = int64(o.ClassUID)*100 + int64(o.ActivityID)
	o.TypeName = o.ClassName + ": " + o.ActivityName
	return o
}
