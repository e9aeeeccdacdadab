// Package box is the Box data connector: it collects file activity from Box's enterprise event
// stream (and user-stream records and webhook v2 bodies in the same shape), indexes users' files,
// and maps each Box event record to Telltale file events with the pure function Adapt.
package box

import (
	"fmt"
	"net/netip"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/internal/event"
)

// Item is what the connector knows about the record's item beyond the record (all optional).
type Item struct {
	Path       string // "/Folder/Sub/name.pdf" as indexed before this record (the old path for a move or rename)
	Size       int64
	SHA1       string
	OwnerLogin string
	LinkAccess string // the item's shared link access: open|company|collaborators|""
	Known      bool   // the file was indexed before
	Created    time.Time
	Modified   time.Time
	DriveID    string
}

// EventTypeInfo is one row of the mapping table: a Box event type (or webhook trigger), the action
// it maps to, and whether it is file activity.
type EventTypeInfo struct {
	Type         string
	Action       event.Action // "" when not file activity
	FileActivity bool
	Note         string
}

// mapKind says how a file-activity type is adapted beyond its action.
type mapKind int

const (
	mapPlain         mapKind = iota
	mapUpload                // created, or modified when the item is known or the record is a new version
	mapRename                // original_name
	mapMove                  // original_directory
	mapLinkShare             // link_scope from the record or Item.LinkAccess; folders recorded
	mapLinkUnshare           // link_scope none; folders recorded
	mapCollabShare           // shared_with the collaborator; folders recorded
	mapCollabUnshare         // shared_with the collaborator removed; folders recorded
)

type typeRule struct {
	typ    string
	action event.Action
	kind   mapKind
	note   string
}

// fileActivity is the mapping table, in documentation order. Enterprise (admin_logs) names, user
// stream names and webhook v2 triggers are all listed; a type not listed here is not file activity.
var fileActivity = []typeRule{
	{"UPLOAD", event.ActionCreated, mapUpload, "enterprise; file-modified when the file was indexed before or the record is a new version"},
	{"ITEM_UPLOAD", event.ActionCreated, mapUpload, "user stream; as UPLOAD"},
	{"ITEM_CREATE", event.ActionCreated, mapPlain, "user stream; folders are not recorded"},
	{"COPY", event.ActionCreated, mapPlain, "enterprise; the source is the new copy"},
	{"ITEM_COPY", event.ActionCreated, mapPlain, "user stream; the source is the new copy"},
	{"EDIT", event.ActionModified, mapPlain, "enterprise"},
	{"ITEM_MODIFY", event.ActionModified, mapPlain, ""},
	{"FILE_VERSION_RESTORE", event.ActionModified, mapPlain, "enterprise; an older version made current"},
	{"ITEM_MAKE_CURRENT_VERSION", event.ActionModified, mapPlain, "user stream"},
	{"RENAME", event.ActionRenamed, mapRename, "enterprise; original_name from the index when Box does not say"},
	{"ITEM_RENAME", event.ActionRenamed, mapRename, "user stream"},
	{"MOVE", event.ActionMoved, mapMove, "enterprise; original_directory from the index"},
	{"ITEM_MOVE", event.ActionMoved, mapMove, "user stream"},
	{"DELETE", event.ActionDeleted, mapPlain, "enterprise; moved to the trash"},
	{"ITEM_TRASH", event.ActionDeleted, mapPlain, "user stream"},
	{"UNDELETE", event.ActionRestored, mapPlain, "enterprise; restored from the trash"},
	{"ITEM_UNDELETE_VIA_TRASH", event.ActionRestored, mapPlain, "user stream"},
	{"SHARE", event.ActionShared, mapLinkShare, "enterprise; shared link created (recipients are not known)"},
	{"ITEM_SHARED_CREATE", event.ActionShared, mapLinkShare, "user stream"},
	{"ITEM_SHARED", event.ActionShared, mapLinkShare, "user stream"},
	{"ITEM_SHARED_UPDATE", event.ActionShared, mapLinkShare, "shared link settings changed"},
	{"UPDATE_SHARE_EXPIRATION", event.ActionShared, mapLinkShare, "enterprise; shared link expiry changed"},
	{"SHARED_LINK_SEND", event.ActionShared, mapLinkShare, "enterprise; a shared link was sent"},
	{"ITEM_EMAIL_SEND", event.ActionShared, mapLinkShare, "enterprise; Box emailed a link to the item"},
	{"UNSHARE", event.ActionUnshared, mapLinkUnshare, "enterprise; shared link removed"},
	{"ITEM_SHARED_UNSHARE", event.ActionUnshared, mapLinkUnshare, "user stream"},
	{"SHARE_EXPIRATION", event.ActionUnshared, mapLinkUnshare, "enterprise; shared link expired"},
	{"COLLABORATION_INVITE", event.ActionShared, mapCollabShare, "enterprise; shared_with is the invitee"},
	{"COLLABORATION_ACCEPT", event.ActionShared, mapCollabShare, "enterprise; shared_with is the collaborator"},
	{"COLLABORATION_ROLE_CHANGE", event.ActionShared, mapCollabShare, "enterprise"},
	{"UPDATE_COLLABORATION_EXPIRATION", event.ActionShared, mapCollabShare, "enterprise"},
	{"COLLAB_ADD_COLLABORATOR", event.ActionShared, mapCollabShare, "user stream"},
	{"COLLAB_INVITE_COLLABORATOR", event.ActionShared, mapCollabShare, "user stream"},
	{"COLLAB_ROLE_CHANGE", event.ActionShared, mapCollabShare, "user stream"},
	{"COLLABORATION_REMOVE", event.ActionUnshared, mapCollabUnshare, "enterprise; shared_with is the collaborator removed"},
	{"COLLABORATION_EXPIRATION", event.ActionUnshared, mapCollabUnshare, "enterprise"},
	{"COLLAB_REMOVE_COLLABORATOR", event.ActionUnshared, mapCollabUnshare, "user stream"},
	{"DOWNLOAD", event.ActionDownloaded, mapPlain, "enterprise"},
	{"ITEM_DOWNLOAD", event.ActionDownloaded, mapPlain, "user stream"},
	{"FILE_WATERMARKED_DOWNLOAD", event.ActionDownloaded, mapPlain, "enterprise"},
	{"PREVIEW", event.ActionViewed, mapPlain, "enterprise"},
	{"ITEM_PREVIEW", event.ActionViewed, mapPlain, "user stream"},
	{"ITEM_OPEN", event.ActionViewed, mapPlain, ""},
	{"FILE.UPLOADED", event.ActionCreated, mapUpload, "webhook"},
	{"FILE.COPIED", event.ActionCreated, mapPlain, "webhook"},
	{"FILE.RENAMED", event.ActionRenamed, mapRename, "webhook"},
	{"FILE.MOVED", event.ActionMoved, mapMove, "webhook"},
	{"FILE.TRASHED", event.ActionDeleted, mapPlain, "webhook"},
	{"FILE.DELETED", event.ActionDeleted, mapPlain, "webhook; deleted permanently"},
	{"FILE.RESTORED", event.ActionRestored, mapPlain, "webhook"},
	{"FILE.DOWNLOADED", event.ActionDownloaded, mapPlain, "webhook"},
	{"FILE.PREVIEWED", event.ActionViewed, mapPlain, "webhook"},
	{"SHARED_LINK.CREATED", event.ActionShared, mapLinkShare, "webhook"},
	{"SHARED_LINK.UPDATED", event.ActionShared, mapLinkShare, "webhook"},
	{"SHARED_LINK.DELETED", event.ActionUnshared, mapLinkUnshare, "webhook"},
	{"COLLABORATION.CREATED", event.ActionShared, mapCollabShare, "webhook"},
	{"COLLABORATION.ACCEPTED", event.ActionShared, mapCollabShare, "webhook"},
	{"COLLABORATION.UPDATED", event.ActionShared, mapCollabShare, "webhook"},
	{"COLLABORATION.REMOVED", event.ActionUnshared, mapCollabUnshare, "webhook"},
}

// knownTypes are every event_type of Box's OpenAPI spec (Event.event_type, commit c9a878a9) and the
// webhook v2 triggers: a type outside both is counted as unknown rather than as not file activity.
const knownTypes = `
	ACCESS_GRANTED ACCESS_REVOKED ADD_DEVICE_ASSOCIATION ADD_LOGIN_ACTIVITY_DEVICE ADMIN_LOGIN
	ADVANCED_FOLDER_SETTINGS_UPDATE AI_SECURITY_DETECTION ANNOTATIONV2_CREATE ANNOTATIONV2_DELETE
	ANNOTATIONV2_EDIT APPLICATION_CREATED APPLICATION_PUBLIC_KEY_ADDED APPLICATION_PUBLIC_KEY_DELETED
	BOX_AI_USER_FAILED_REQUEST BOX_AI_USER_REQUEST CHANGE_ADMIN_ROLE CHANGE_FOLDER_PERMISSION COLLABORATION_ACCEPT
	COLLABORATION_EXPIRATION COLLABORATION_INVITE COLLABORATION_REMOVE COLLABORATION_ROLE_CHANGE
	COLLAB_ADD_COLLABORATOR COLLAB_INVITE_COLLABORATOR COLLAB_REMOVE_COLLABORATOR COLLAB_ROLE_CHANGE
	COLLECTION_CREATE COLLECTION_DELETE COLLECTION_ITEM_CREATE COLLECTION_ITEM_DELETE COLLECTION_ITEM_UPDATE
	COLLECTION_UPDATE COMMENT_CREATE COMMENT_DELETE COMMENT_EDIT CONTENT_ACCESS CONTENT_RECOVERY_REPORT_CREATE
	CONTENT_RECOVERY_REPORT_DELETE CONTENT_RECOVERY_REPORT_INITIATE CONTENT_WORKFLOW_ABNORMAL_DOWNLOAD_ACTIVITY
	CONTENT_WORKFLOW_AUTOMATION_ADD CONTENT_WORKFLOW_AUTOMATION_DELETE CONTENT_WORKFLOW_POLICY_ADD
	CONTENT_WORKFLOW_SHARING_POLICY_VIOLATION CONTENT_WORKFLOW_UPLOAD_POLICY_VIOLATION COPY
	DATA_RETENTION_CREATE_RETENTION DATA_RETENTION_REMOVE_RETENTION DELETE DELETE_USER DEVICE_TRUST_CHECK_FAILED
	DISABLE_MULTI_FACTOR_AUTH DOWNLOAD EDIT EDIT_USER EDR_CROWDSTRIKE_ACCESS_ALLOWED_NO_CROWDSTRIKE_DEVICE
	EDR_CROWDSTRIKE_ACCESS_REVOKED EDR_CROWDSTRIKE_BOX_TOOLS_OUTDATED EDR_CROWDSTRIKE_DEVICE_DETECTED
	EDR_CROWDSTRIKE_DRIVE_OUTDATED EDR_CROWDSTRIKE_NO_BOX_TOOLS EMAIL_ALIAS_CONFIRM EMAIL_ALIAS_PRIMARY
	EMAIL_ALIAS_REMOVE EMAIL_UPLOAD_DISABLED EMAIL_UPLOAD_ENABLED ENABLE_MULTI_FACTOR_AUTH ENABLE_TWO_FACTOR_AUTH
	ENTERPRISE_APP_AUTHORIZATION_UPDATE EXTERNAL_COLLAB_SECURITY_SETTINGS FAILED_LOGIN FAVORITE
	FILE_MARKED_MALICIOUS FILE_REQUEST_CREATE FILE_REQUEST_DELETE FILE_REQUEST_UPDATE FILE_VERSION_RESTORE
	FILE_WATERMARKED_DOWNLOAD GROUP_ADD_ITEM GROUP_ADD_USER GROUP_ADMIN_CREATED GROUP_ADMIN_DELETED
	GROUP_ADMIN_PERMISSIONS_UPDATED GROUP_CREATION GROUP_DELETION GROUP_EDITED GROUP_REMOVE_ITEM GROUP_REMOVE_USER
	ILLEGAL_ITEM_OWNERSHIP_TRANSFER_BY_USER ITEM_ASSOCIATION_CREATED ITEM_ASSOCIATION_DELETED
	ITEM_ASSOCIATION_UPDATED ITEM_COPY ITEM_CREATE ITEM_DOWNLOAD ITEM_EMAIL_SEND ITEM_MAKE_CURRENT_VERSION
	ITEM_MODIFY ITEM_MOVE ITEM_OPEN ITEM_PREVIEW ITEM_RENAME ITEM_SHARED ITEM_SHARED_CREATE ITEM_SHARED_UNSHARE
	ITEM_SHARED_UPDATE ITEM_SYNC ITEM_TRASH ITEM_UNDELETE_VIA_TRASH ITEM_UNSYNC ITEM_UPLOAD
	LEGAL_HOLD_ASSIGNMENT_CREATE LEGAL_HOLD_ASSIGNMENT_DELETE LEGAL_HOLD_POLICY_CREATE LEGAL_HOLD_POLICY_DELETE
	LEGAL_HOLD_POLICY_UPDATE LOCK LOCK_CREATE LOCK_DESTROY LOGIN MASTER_INVITE_ACCEPT MASTER_INVITE_REJECT
	METADATA_CASCADE_POLICY_APPLY METADATA_CASCADE_POLICY_CREATE METADATA_INSTANCE_COPY METADATA_INSTANCE_CREATE
	METADATA_INSTANCE_DELETE METADATA_INSTANCE_UPDATE METADATA_TEMPLATE_CREATE METADATA_TEMPLATE_DELETE
	METADATA_TEMPLATE_UPDATE MOVE NEW_USER OAUTH2_ACCESS_TOKEN_REVOKE OAUTH2_REFRESH_TOKEN_REVOKE PREVIEW
	REMOVE_DEVICE_ASSOCIATION REMOVE_LOGIN_ACTIVITY_DEVICE RENAME RETENTION_POLICY_ASSIGNMENT_ADD SHARE
	SHARED_LINK_REDIRECT_OUT_OF_SHARED_CONTEXT SHARED_LINK_SEND SHARE_EXPIRATION SHIELD_ACCESS_POLICY_CREATED
	SHIELD_ACCESS_POLICY_DELETED SHIELD_ACCESS_POLICY_UPDATED SHIELD_ALERT SHIELD_DOWNLOAD_BLOCKED
	SHIELD_EXTERNAL_COLLAB_ACCESS_BLOCKED SHIELD_EXTERNAL_COLLAB_ACCESS_BLOCKED_MISSING_JUSTIFICATION
	SHIELD_EXTERNAL_COLLAB_INVITE_BLOCKED SHIELD_EXTERNAL_COLLAB_INVITE_BLOCKED_MISSING_JUSTIFICATION
	SHIELD_EXTERNAL_COLLAB_INVITE_JUSTIFIED SHIELD_INFORMATION_BARRIER_COLLAB_BLOCKED
	SHIELD_INFORMATION_BARRIER_DISABLED SHIELD_INFORMATION_BARRIER_ENABLED
	SHIELD_INFORMATION_BARRIER_GROUP_ADD_USER_BLOCKED SHIELD_INFORMATION_BARRIER_ITEM_COPY_BLOCKED
	SHIELD_INFORMATION_BARRIER_ITEM_MOVE_BLOCKED SHIELD_INFORMATION_BARRIER_ITEM_OWNER_TRANSFER_BLOCKED
	SHIELD_INFORMATION_BARRIER_PENDING SHIELD_INFORMATION_BARRIER_SHARED_ITEM_ACCESS_BLOCKED
	SHIELD_JUSTIFICATION_APPROVAL SHIELD_SHARED_LINK_ACCESS_BLOCKED SHIELD_SHARED_LINK_STATUS_RESTRICTED_ON_CREATE
	SHIELD_SHARED_LINK_STATUS_RESTRICTED_ON_UPDATE SIGNER_DOWNLOADED SIGNER_FORWARDED SIGN_DOCUMENT_ASSIGNED
	SIGN_DOCUMENT_CANCELLED SIGN_DOCUMENT_COMPLETED SIGN_DOCUMENT_CONVERTED SIGN_DOCUMENT_CREATED
	SIGN_DOCUMENT_DECLINED SIGN_DOCUMENT_EXPIRED SIGN_DOCUMENT_SIGNED SIGN_DOCUMENT_VIEWED_BY_SIGNED
	SIGN_DOCUMENT_VIEWED_BY_SIGNER STORAGE_EXPIRATION TAG_ITEM_CREATE TASK_ASSIGNMENT_CREATE
	TASK_ASSIGNMENT_DELETE TASK_ASSIGNMENT_UPDATE TASK_CREATE TASK_UPDATE TERMS_OF_SERVICE_ACCEPT
	TERMS_OF_SERVICE_REJECT UNDELETE UNFAVORITE UNLOCK UNSHARE UPDATE_COLLABORATION_EXPIRATION
	UPDATE_SHARE_EXPIRATION UPLOAD USER_AUTHENTICATE_OAUTH2_ACCESS_TOKEN_CREATE WATERMARK_LABEL_CREATE
	WATERMARK_LABEL_DELETE WORKFLOW_AUTOMATION_CREATE WORKFLOW_AUTOMATION_DELETE WORKFLOW_AUTOMATION_UPDATE
	FILE.UPLOADED FILE.PREVIEWED FILE.DOWNLOADED FILE.TRASHED FILE.DELETED FILE.RESTORED FILE.COPIED FILE.MOVED
	FILE.LOCKED FILE.UNLOCKED FILE.RENAMED COMMENT.CREATED COMMENT.UPDATED COMMENT.DELETED
	TASK_ASSIGNMENT.CREATED TASK_ASSIGNMENT.UPDATED METADATA_INSTANCE.CREATED METADATA_INSTANCE.UPDATED
	METADATA_INSTANCE.DELETED FOLDER.CREATED FOLDER.RENAMED FOLDER.DOWNLOADED FOLDER.RESTORED FOLDER.DELETED
	FOLDER.COPIED FOLDER.MOVED FOLDER.TRASHED WEBHOOK.DELETED COLLABORATION.CREATED COLLABORATION.ACCEPTED
	COLLABORATION.REJECTED COLLABORATION.REMOVED COLLABORATION.UPDATED SHARED_LINK.DELETED SHARED_LINK.CREATED
	SHARED_LINK.UPDATED SIGN_REQUEST.COMPLETED SIGN_REQUEST.DECLINED SIGN_REQUEST.EXPIRED
	SIGN_REQUEST.SIGNER_EMAIL_BOUNCED SIGN_REQUEST.SIGN_SIGNER_SIGNED SIGN_REQUEST.SIGN_DOCUMENT_CREATED
	SIGN_REQUEST.SIGN_ERROR_FINALIZING
`

// EventTypes returns the mapping table (Box event type -> our action, and whether it is file
// activity) for docs: the file-activity types first, in table order, then every other known type.
func EventTypes() []EventTypeInfo {
	out := make([]EventTypeInfo, 0, len(fileActivity)+200)
	seen := map[string]bool{}
	for _, r := range fileActivity {
		out = append(out, EventTypeInfo{Type: r.typ, Action: r.action, FileActivity: true, Note: r.note})
		seen[r.typ] = true
	}
	rest := strings.Fields(knownTypes)
	slices.Sort(rest)
	for _, t := range rest {
		if !seen[t] {
			seen[t] = true
			out = append(out, EventTypeInfo{Type: t})
		}
	}
	return out
}

func ruleFor(typ string) (typeRule, bool) {
	for _, r := range fileActivity {
		if r.typ == typ {
			return r, true
		}
	}
	return typeRule{}, false
}

func isKnownType(typ string) bool { return slices.Contains(strings.Fields(knownTypes), typ) }

// anonymousUserID is Box's id for users who are not logged in (shared-link visitors).
const anonymousUserID = "2"

// Adapt maps one record to events. Records that are not file activity return (nil, reason, nil),
// where reason is a short stable token used for counting ("not_file_activity:LOGIN", "no_source",
// ...). A record that cannot be used at all (no event_id, no event_type, bad time) returns an error
// naming what is wrong.
//
// Reasons: not_file_activity:<TYPE>, unknown_event_type:<TYPE>, no_source (a file-activity type
// without a file or folder), source_not_item:<kind> (the source is a user, group, web link, ...),
// folder_activity:<TYPE> (folders are recorded only for shared links and collaborations),
// no_item_id.
func Adapt(r Record, it *Item) ([]event.FileEvent, string, error) {
	if r.EventID == "" {
		return nil, "", fmt.Errorf("box record: no event_id (nor webhook id): without it the record cannot be deduplicated; check that the input is a Box event record")
	}
	if r.EventType == "" {
		return nil, "", fmt.Errorf("box record %s: no event_type (nor webhook trigger)", r.EventID)
	}
	if r.CreatedAt.IsZero() {
		return nil, "", fmt.Errorf("box record %s: no created_at: the time of the event is unknown", r.EventID)
	}
	typ := reasonToken(strings.ToUpper(r.EventType))
	rule, ok := ruleFor(typ)
	if !ok {
		if isKnownType(typ) {
			return nil, "not_file_activity:" + typ, nil
		}
		return nil, "unknown_event_type:" + typ, nil
	}
	if it == nil {
		it = &Item{}
	}

	src := r.Source
	kind, id, name := src.Kind, src.ID, src.Name
	if kind == SourceCollaboration {
		kind, id, name = "", "", ""
		if src.Item != nil {
			kind, id, name = strings.ToLower(src.Item.Type), src.Item.ID, src.Item.Name
		}
		if kind == "" {
			return nil, "no_source", nil
		}
	}
	folderOK := rule.kind >= mapLinkShare
	switch kind {
	case SourceNone:
		return nil, "no_source", nil
	case SourceFile:
	case SourceFolder:
		if !folderOK {
			return nil, "folder_activity:" + typ, nil
		}
	default:
		return nil, "source_not_item:" + reasonToken(kind), nil
	}
	if id == "" {
		return nil, "no_item_id", nil
	}

	e := event.FileEvent{
		Timestamp: r.CreatedAt.UTC(),
		Event: event.Meta{
			Action:    rule.action,
			Observer:  event.ObserverBox,
			Count:     1,
			VendorIDs: []string{r.EventID},
		},
		User: userOf(r.CreatedBy),
	}
	e.Source.IP = ipOf(r.IPAddress)
	e.Source.UserAgent = detailString(r.AdditionalDetails, "service_name")

	// Identity and location.
	f := &e.File
	if name == "" && it.Path != "" {
		name = path.Base(it.Path)
	}
	f.Name = name
	isFolder := kind == SourceFolder
	if isFolder {
		f.ID = "folder:" + id
		f.MimeType = "inode/directory"
		f.Category = event.CategoryOther
	} else {
		f.ID = id
		f.Category = event.CategoryOf(name, "")
	}
	recDir, recAbs := recordDirectory(src)
	oldDir := ""
	if it.Path != "" {
		oldDir = path.Dir(it.Path)
	}
	switch rule.kind {
	case mapMove:
		f.Directory = recDir
		if f.Directory == "" {
			f.Directory = oldDir
		} else if oldDir != "" && movedFrom(oldDir, recDir, recAbs) {
			f.OriginalDirectory = oldDir
		}
	default:
		switch {
		case recAbs:
			f.Directory = recDir
		case oldDir != "":
			f.Directory = oldDir
		default:
			f.Directory = recDir
		}
	}
	if strings.HasPrefix(f.Directory, "/") && name != "" {
		f.Path = path.Join(f.Directory, name)
	}
	if rule.kind == mapRename {
		f.OriginalName = detailString(r.AdditionalDetails, "old_item_name", "old_name")
		if f.OriginalName == "" && it.Path != "" {
			if old := path.Base(it.Path); old != name && old != "/" && old != "." {
				f.OriginalName = old
			}
		}
	}

	// Content facts: the record's (as of the event) first, then what the index knew.
	if !isFolder {
		switch {
		case src.HasSize:
			f.Size = src.Size
		default:
			if n, ok := detailInt(r.AdditionalDetails, "size"); ok {
				f.Size = n
			} else {
				f.Size = it.Size
			}
		}
		f.Hash.SHA1 = hexSHA1(src.SHA1)
		if f.Hash.SHA1 == "" {
			f.Hash.SHA1 = hexSHA1(it.SHA1)
		}
	}
	f.Created = firstTime(src.ContentCreated, src.Created, it.Created)
	f.Modified = firstTime(src.ContentModified, src.Modified, it.Modified)
	if src.OwnedBy != nil && src.OwnedBy.Login != "" {
		f.Owner = src.OwnedBy.Login
	} else {
		f.Owner = it.OwnerLogin
	}
	if src.OwnedBy != nil && src.OwnedBy.ID != "" {
		f.DriveID = src.OwnedBy.ID
	} else {
		f.DriveID = it.DriveID
	}
	if src.SharedLink != nil {
		f.URL = src.SharedLink.URL
	}

	// Action refinements and sharing.
	switch rule.kind {
	case mapUpload:
		if it.Known || newVersion(r) {
			e.Event.Action = event.ActionModified
		}
	case mapLinkShare:
		access := ""
		if src.SharedLink != nil {
			access = firstString(src.SharedLink.EffectiveAccess, src.SharedLink.Access)
		}
		if access == "" {
			access = detailString(r.AdditionalDetails, "shared_link_access", "access")
		}
		if access == "" {
			access = it.LinkAccess
		}
		e.Sharing.LinkScope = linkScope(access)
	case mapLinkUnshare:
		e.Sharing.LinkScope = event.LinkNone
	case mapCollabShare, mapCollabUnshare:
		e.Sharing.SharedWith = collaborators(r, rule)
	}

	if err := e.Validate(); err != nil {
		return nil, "", fmt.Errorf("box record %s: %w", r.EventID, err)
	}
	return []event.FileEvent{e}, "", nil
}

// userOf maps created_by to the actor; Box's anonymous user (id 2) has no address.
func userOf(m Mini) event.User {
	if m.ID == anonymousUserID {
		return event.User{VendorID: m.ID, Name: "Anonymous"}
	}
	u := event.User{VendorID: m.ID, Name: m.Name}
	if strings.Contains(m.Login, "@") {
		u.Email = m.Login
	}
	return u
}

// ipOf keeps ip_address when it is an IP address (Box also writes "Unknown IP").
func ipOf(s string) string {
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil {
		return ""
	}
	return a.String()
}

// recordDirectory is the item's folder as the record gives it: an absolute "/A/B" built from
// path_collection (the root "All Files" is "/"), "/" when the parent is the root, the parent's name
// alone (not absolute) when that is all Box says, "" when nothing is known.
func recordDirectory(s Source) (dir string, absolute bool) {
	if len(s.Path) > 0 {
		var parts []string
		for i, p := range s.Path {
			if i == 0 && (p.ID == "0" || p.Name == "All Files") {
				continue
			}
			parts = append(parts, strings.ReplaceAll(p.Name, "/", "_"))
		}
		return "/" + strings.Join(parts, "/"), true
	}
	if s.Parent != nil {
		if s.Parent.ID == "0" {
			return "/", true
		}
		return s.Parent.Name, false
	}
	return "", false
}

// movedFrom reports whether the indexed folder oldDir differs from the record's new folder.
func movedFrom(oldDir, newDir string, newAbs bool) bool {
	if newAbs {
		return path.Clean(oldDir) != path.Clean(newDir)
	}
	return path.Base(oldDir) != newDir
}

// newVersion reports whether an upload record is a new version of an existing file: the record
// says so (a version number above 1), or the File object's item was created well before the upload.
func newVersion(r Record) bool {
	for _, k := range []string{"version_number", "file_version_number"} {
		if n, ok := detailInt(r.AdditionalDetails, k); ok && n > 1 {
			return true
		}
	}
	if r.Source.VersionNumber > 1 {
		return true
	}
	return !r.Source.Created.IsZero() && r.CreatedAt.Sub(r.Source.Created) > time.Minute
}

// linkScope maps a Box shared-link access to our link scope.
func linkScope(access string) event.LinkScope {
	switch strings.ToLower(strings.TrimSpace(access)) {
	case "open":
		return event.LinkAnyone
	case "company":
		return event.LinkOrganization
	case "collaborators":
		return event.LinkSpecific
	}
	return ""
}

// collaborators returns the addresses a collaboration record grants (or removes) access for: the
// accessible_by login, the collaboration's invite email, or for an acceptance the accepting user.
// Groups, which have no address, are written "group:<name>".
func collaborators(r Record, rule typeRule) []string {
	var out []string
	add := func(m *Mini) {
		if m == nil {
			return
		}
		switch {
		case strings.Contains(m.Login, "@"):
			out = append(out, m.Login)
		case m.Login == "" && strings.Contains(m.Name, "@") && !strings.EqualFold(m.Type, "group"):
			out = append(out, m.Name) // pending invitees are named by their address
		case strings.EqualFold(m.Type, "group") && firstString(m.Name, m.ID) != "":
			out = append(out, "group:"+firstString(m.Name, m.ID))
		}
	}
	add(r.AccessibleBy)
	if len(out) == 0 {
		add(r.Source.Collaborator)
	}
	if len(out) == 0 {
		for _, s := range []string{r.Source.InviteEmail, detailString(r.AdditionalDetails, "invite_email", "invitee_email", "invitee_login", "collaborator_email")} {
			if strings.Contains(s, "@") {
				out = append(out, s)
				break
			}
		}
	}
	if len(out) == 0 && (rule.typ == "COLLABORATION_ACCEPT" || rule.typ == "COLLABORATION.ACCEPTED") {
		add(&r.CreatedBy)
	}
	return out
}

// hexSHA1 is s as 40 lowercase hex digits, or "".
func hexSHA1(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if len(s) != 40 {
		return ""
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return ""
		}
	}
	return s
}

// detailString is the first of keys in additional_details holding a non-empty string.
func detailString(d map[string]any, keys ...string) string {
	for _, k := range keys {
		if s, ok := d[k].(string); ok && strings.TrimSpace(s) != "" {
			return strings.TrimSpace(s)
		}
	}
	return ""
}

// detailInt is additional_details[key] as a non-negative integer (a number or a numeric string).
func detailInt(d map[string]any, key string) (int64, bool) {
	switch v := d[key].(type) {
	case fmt.Stringer: // json.Number
		return parseCount(v.String())
	case string:
		return parseCount(strings.TrimSpace(v))
	case float64:
		return parseCount(fmt.Sprint(v))
	}
	return 0, false
}

func firstString(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

func firstTime(ts ...time.Time) time.Time {
	for _, t := range ts {
		if !t.IsZero() {
			return t.UTC()
		}
	}
	return time.Time{}
}

// reasonToken makes a vendor string safe inside a skip reason: at most 64 characters of A-Z a-z 0-9
// _ . -, anything else replaced by _.
func reasonToken(s string) string {
	if len(s) > 64 {
		s = s[:64]
	}
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			b[i] = '_'
		}
	}
	return string(b)
}
