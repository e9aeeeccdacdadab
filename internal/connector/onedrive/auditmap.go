package onedrive

import (
	"encoding/json"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/event"
)

// auditRecord is the part of an Audit.SharePoint record (o365-mgmt-api-schema.md: the common
// schema, the SharePoint base schema, file operations and sharing) the adapter reads.
type auditRecord struct {
	ID                     string `json:"Id"`
	RecordType             int    `json:"RecordType"`
	CreationTime           string `json:"CreationTime"`
	Operation              string `json:"Operation"`
	OrganizationID         string `json:"OrganizationId"`
	Workload               string `json:"Workload"`
	UserID                 string `json:"UserId"`
	ClientIP               string `json:"ClientIP"`
	ObjectID               string `json:"ObjectId"`
	ItemType               string `json:"ItemType"`
	UserAgent              string `json:"UserAgent"`
	ApplicationID          string `json:"ApplicationId"`
	ListItemUniqueID       string `json:"ListItemUniqueId"`
	SiteURL                string `json:"SiteUrl"`
	SourceRelativeURL      string `json:"SourceRelativeUrl"`
	SourceFileName         string `json:"SourceFileName"`
	DestinationRelativeURL string `json:"DestinationRelativeUrl"`
	DestinationFileName    string `json:"DestinationFileName"`
	TargetUserOrGroupName  string `json:"TargetUserOrGroupName"`
	TargetUserOrGroupType  string `json:"TargetUserOrGroupType"`
	EventData              string `json:"EventData"`
}

// Reasons an audit record is skipped (Record.Skip), counted by ingest.
const (
	SkipUndecodable     = "undecodable"       // not a JSON object with Id, CreationTime and Operation
	SkipNotOneDrive     = "not_onedrive"      // Workload SharePoint (sites, not OneDrives) or another workload
	SkipUnknownOp       = "unknown_operation" // an Operation Telltale does not map (NOTES Corrections 12)
	SkipNotFileActivity = "not_file_activity" // a mapped name that is no file action Telltale records (secondary, or site-level)
	SkipFolder          = "folder"            // an operation on a folder other than sharing
	SkipOwnRead         = "own_read"          // Telltale's own downloads (the connection's application)
	SkipBeforeStart     = "before_start"      // an action before the audit stream started (baseline, or while deauthorized)
)

// target kinds of a sharing operation.
const (
	tgtNone      = ""
	tgtUser      = "user"         // TargetUserOrGroupName is the person
	tgtAnyone    = "anyone"       // an anonymous link
	tgtOrg       = "organization" // a company link
	tgtSpecific  = "specific"     // a specific-people link (its people come as AddedToSecureLink)
	tgtUserIfAny = "user?"        // the person when the record names one (SharingRevoked)
)

type auditRule struct {
	name   string
	action event.Action // "" skips with SkipNotFileActivity
	target string
}

// AuditMapping is every Audit.SharePoint operation the adapter knows, and the action it means
// (docs/connectors/onedrive.md has the same table; TestAuditMappingDocumented checks it).
var AuditMapping = []auditRule{
	{"FileUploaded", event.ActionCreated, tgtNone},
	{"FileSyncUploadedFull", event.ActionCreated, tgtNone},
	{"FileCopied", event.ActionCreated, tgtNone},
	{"FileModified", event.ActionModified, tgtNone},
	{"FileSyncUploadedPartial", event.ActionModified, tgtNone},
	{"FileRenamed", event.ActionRenamed, tgtNone},
	{"FileMoved", event.ActionMoved, tgtNone},
	{"FileRecycled", event.ActionDeleted, tgtNone},
	{"FileDeleted", event.ActionDeleted, tgtNone},
	{"FileRestored", event.ActionRestored, tgtNone},
	{"FileDownloaded", event.ActionDownloaded, tgtNone},
	{"FileSyncDownloadedFull", event.ActionDownloaded, tgtNone},
	{"FileAccessed", event.ActionViewed, tgtNone},
	{"FilePreviewed", event.ActionViewed, tgtNone},
	{"SharingSet", event.ActionShared, tgtUser},
	{"SharingInvitationCreated", event.ActionShared, tgtUser},
	{"AddedToSecureLink", event.ActionShared, tgtUser},
	{"AnonymousLinkCreated", event.ActionShared, tgtAnyone},
	{"CompanyLinkCreated", event.ActionShared, tgtOrg},
	{"SecureLinkCreated", event.ActionShared, tgtSpecific},
	{"SharingRevoked", event.ActionUnshared, tgtUserIfAny},
	{"RemovedFromSecureLink", event.ActionUnshared, tgtUser},
	{"SharedLinkDisabled", event.ActionUnshared, tgtNone},
	{"AnonymousLinkRemoved", event.ActionUnshared, tgtAnyone},
	{"CompanyLinkRemoved", event.ActionUnshared, tgtOrg},
	{"SecureLinkDeleted", event.ActionUnshared, tgtSpecific},
	{"AccessInvitationRevoked", event.ActionUnshared, tgtUser},
	// Second records of an action recorded already, or no file action: skipped, counted.
	{"FileDeletedFirstStageRecycleBin", "", tgtNone},  // emptied from the recycle bin: FileRecycled said it
	{"FileDeletedSecondStageRecycleBin", "", tgtNone}, // the same, second stage
	{"FileSyncDownloadedPartial", "", tgtNone},        // a delta sync of a file downloaded before
	{"AnonymousLinkUsed", "", tgtNone},                // a link used by nobody known
	{"AnonymousLinkUpdated", "", tgtNone},             // the link's settings, not its reach
	{"CompanyLinkUsed", "", tgtNone},
	{"SecureLinkUsed", "", tgtNone},
	{"SharingInheritanceBroken", "", tgtNone},
	{"AccessInvitationAccepted", "", tgtNone}, // the invitation created it
	{"FolderCreated", "", tgtNone},
}

var auditRules = func() map[string]auditRule {
	m := map[string]auditRule{}
	for _, r := range AuditMapping {
		m[r.name] = r
	}
	return m
}()

// auditTimeFmt is CreationTime's format: UTC without a zone.
const auditTimeFmt = "2006-01-02T15:04:05"

// fileRef is where an audit record's file is in Graph's terms: its driveItem id, drive and owner.
type fileRef struct {
	item, drive, owner string
}

// auditOptions steer adaptAuditRecord.
type auditOptions struct {
	ownApp string // the connection's application id: its own downloads are skipped
	// resolve is the driveItem of a record (by ListItemUniqueId, see resolve.go); nil, or ok
	// false: the file is named by its ListItemUniqueId and the drive by its owner when known.
	resolve func(r auditRecord) (fileRef, bool)
}

// decodeAudit decodes one record; it must have the fields every record has.
func decodeAudit(raw []byte) (auditRecord, error) {
	var r auditRecord
	if err := json.Unmarshal(raw, &r); err != nil {
		return r, fmt.Errorf("onedrive audit record: %v", err)
	}
	if r.ID == "" || r.Operation == "" || r.CreationTime == "" {
		return r, fmt.Errorf("onedrive audit record: Id, Operation and CreationTime are required (every record has them)")
	}
	if _, err := time.Parse(auditTimeFmt, strings.TrimSuffix(r.CreationTime, "Z")); err != nil {
		if _, err2 := time.Parse(time.RFC3339Nano, r.CreationTime); err2 != nil {
			return r, fmt.Errorf("onedrive audit record %s: CreationTime %q is not a time", r.ID, r.CreationTime)
		}
	}
	return r, nil
}

func auditTime(s string) time.Time {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC()
	}
	t, _ := time.Parse(auditTimeFmt, strings.TrimSuffix(s, "Z"))
	return t.UTC()
}

// adaptAuditRecord is the record as Telltale's record: one event, or a skip with its reason. Its
// VendorID is the audit record's Id, its Feed "audit".
func adaptAuditRecord(r auditRecord, o auditOptions) connector.Record {
	rec := connector.Record{VendorID: r.ID, Feed: auditKey}
	rule, known := auditRules[r.Operation]
	switch {
	case r.Workload != "" && r.Workload != "OneDrive":
		rec.Skip = SkipNotOneDrive
		return rec
	case !known:
		rec.Skip = SkipUnknownOp
		return rec
	case rule.action == "":
		rec.Skip = SkipNotFileActivity
		return rec
	case strings.EqualFold(r.ItemType, "Folder") && rule.action != event.ActionShared && rule.action != event.ActionUnshared:
		rec.Skip = SkipFolder
		return rec
	case o.ownApp != "" && strings.EqualFold(r.ApplicationID, o.ownApp):
		rec.Skip = SkipOwnRead
		return rec
	}
	name, dir := r.SourceFileName, libraryPath(r.SourceRelativeURL)
	e := event.FileEvent{Timestamp: auditTime(r.CreationTime), Event: event.Meta{Action: rule.action, Observer: event.ObserverOneDrive},
		User:   event.User{Email: strings.ToLower(strings.TrimSpace(r.UserID))},
		Source: event.Source{IP: r.ClientIP, UserAgent: r.UserAgent},
		File:   event.File{URL: r.ObjectID}}
	if e.User.Email == "app@sharepoint" {
		e.User.Email = "" // an app acted: no person (ApplicationId names the app)
	}
	switch rule.action {
	case event.ActionRenamed:
		e.File.OriginalName = r.SourceFileName
		if r.DestinationFileName != "" {
			name = r.DestinationFileName
		}
	case event.ActionMoved:
		e.File.OriginalDirectory = dir
		if r.DestinationRelativeURL != "" {
			dir = libraryPath(r.DestinationRelativeURL)
		}
		if r.DestinationFileName != "" {
			name = r.DestinationFileName
		}
	case event.ActionCreated:
		if r.Operation == "FileCopied" && r.DestinationFileName != "" {
			name, dir = r.DestinationFileName, libraryPath(cmpOr(r.DestinationRelativeURL, r.SourceRelativeURL))
		}
	}
	e.File.Name, e.File.Directory = name, dir
	if name != "" {
		e.File.Path = path.Join(dir, name)
	}
	switch rule.target {
	case tgtUser, tgtUserIfAny:
		if t := sharingTarget(r); t != "" {
			e.Sharing.SharedWith = []string{t}
		}
	case tgtAnyone:
		e.Sharing.LinkScope = event.LinkAnyone
	case tgtOrg:
		e.Sharing.LinkScope = event.LinkOrganization
	case tgtSpecific:
		e.Sharing.LinkScope = event.LinkSpecific
	}
	ref, ok := fileRef{}, false
	if o.resolve != nil {
		ref, ok = o.resolve(r)
	}
	if ok {
		e.File.ID, e.File.DriveID, e.File.Owner = ref.item, ref.drive, ref.owner
		rec.Drive = ref.drive
	} else {
		// Unresolved: the SharePoint list item's unique id names the file (a file Graph no longer
		// lists, or an export read offline); the drive is placed by its owner when known.
		e.File.ID = strings.ToLower(strings.Trim(r.ListItemUniqueID, "{}"))
		e.File.Owner, e.File.DriveID = ref.owner, ref.drive
		rec.Drive = ref.drive
	}
	if e.File.ID == "" {
		e.File.ID = r.ObjectID
	}
	rec.Events = []event.FileEvent{e}
	return rec
}

// sharingTarget is the person a sharing record names, lower case: a member's or guest's address
// (a link's SharePoint group, "SharingLinks.<...>", names no person).
func sharingTarget(r auditRecord) string {
	t := strings.ToLower(strings.TrimSpace(r.TargetUserOrGroupName))
	if t == "" || strings.HasPrefix(t, "sharinglinks.") || strings.EqualFold(r.TargetUserOrGroupType, "Group") {
		return ""
	}
	if i := strings.LastIndex(t, "|"); i >= 0 { // a claims login
		t = t[i+1:]
	}
	if i := strings.Index(t, "#ext#"); i > 0 { // a guest's UPN: ada_gmail.com#EXT#@tenant
		local := t[:i]
		if j := strings.LastIndex(local, "_"); j > 0 {
			t = local[:j] + "@" + local[j+1:]
		}
	}
	if !strings.Contains(t, "@") {
		return ""
	}
	return t
}

// libraryPath is a site-relative folder URL ("Documents/Reports", the OneDrive's document
// library first) as a path in the drive ("/Reports"), as the delta feed writes paths.
func libraryPath(rel string) string {
	rel = strings.Trim(rel, "/")
	if _, rest, ok := strings.Cut(rel, "/"); ok {
		return "/" + rest
	}
	return "/"
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// personalSegment is the personal site of a OneDrive URL ("https://contoso-my.sharepoint.com/
// personal/ada_contoso_com/Documents/x.docx" -> "ada_contoso_com"), lower case; "" when it is
// no OneDrive URL.
func personalSegment(u string) string {
	_, rest, ok := strings.Cut(strings.ToLower(u), "/personal/")
	if !ok {
		return ""
	}
	seg, _, _ := strings.Cut(rest, "/")
	return seg
}

// segmentOf is the personal site segment SharePoint makes of a userPrincipalName: every
// character other than a letter or digit becomes '_' ("ada.lopez@contoso.com" ->
// "ada_lopez_contoso_com").
func segmentOf(upn string) string {
	b := []byte(strings.ToLower(upn))
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			b[i] = '_'
		}
	}
	return string(b)
}

// FileOperation reports whether an Audit.SharePoint operation is file activity the connector
// records (an event), for ground truth in tests outside this package.
func FileOperation(op string) bool {
	r, ok := auditRules[op]
	return ok && r.action != ""
}
