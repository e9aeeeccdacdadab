package googledrive

import (
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/event"
)

// Options are what Adapt needs to know beyond the record.
type Options struct {
	// OwnApps identify Telltale's own application (the service account key's project id and
	// client id: Google documents originating_app_id as the Cloud project of the application):
	// activity with such an originating_app_id is Telltale's own reading (hashing), not the user's.
	OwnApps []string
}

// Skip reasons (connector.Record.Skip), used as metric labels: stable.
const (
	SkipNotFileActivity = "not_file_activity"   // an event name that is not a file event (search, request_access, ...)
	SkipSecondary       = "secondary_event"     // primary_event false: one action reported as several events
	SkipReconciled      = "hierarchy_inherited" // *_hierarchy_reconciled: inherited from a folder's change
	SkipCopySource      = "copy_source"         // source_copy: the copy itself is reported as copy
	SkipFolder          = "folder_not_sharing"  // folder activity other than sharing
	SkipOwnRead         = "own_read"            // Telltale's own download for hashing
	SkipNoDocument      = "no_document"         // a file event without doc_id
)

// rule is one row of the mapping table.
type rule struct {
	name   string
	action event.Action
	kind   kind
	note   string
}

type kind int

const (
	kindPlain kind = iota
	kindRename
	kindMove
	kindUserAccess  // change_user_access: target_user gains (shared) or loses (unshared) access
	kindVisibility  // change_document_visibility: the link's reach
	kindAccessScope // change_document_access_scope: a domain ("all": anyone) gains or loses access
	kindMembership  // shared_drive_membership_change: a member of a shared drive added or removed
)

// Mapping is the table of Drive audit event names that are file activity, in the order of Google's
// Drive event names appendix (https://developers.google.com/admin-sdk/reports/v1/appendix/activity/drive).
// An event name not listed is not file activity (counted as SkipNotFileActivity).
var Mapping = []rule{
	{"create", event.ActionCreated, kindPlain, "a new Google Docs editors file"},
	{"upload", event.ActionCreated, kindPlain, "a file uploaded"},
	{"copy", event.ActionCreated, kindPlain, "the new copy (doc_id is the copy; copy_type internal|external)"},
	{"edit", event.ActionModified, kindPlain, ""},
	{"rename", event.ActionRenamed, kindRename, "old_value and new_value are the names"},
	{"move", event.ActionMoved, kindMove, "source_folder_title and destination_folder_title"},
	{"trash", event.ActionDeleted, kindPlain, "moved to the trash"},
	{"delete", event.ActionDeleted, kindPlain, "deleted for good (deletion_reason)"},
	{"untrash", event.ActionRestored, kindPlain, ""},
	{"download", event.ActionDownloaded, kindPlain, ""},
	{"view", event.ActionViewed, kindPlain, ""},
	{"preview", event.ActionViewed, kindPlain, ""},
	{"email_as_attachment", event.ActionEmailed, kindPlain, "Drive's \"Email as attachment\""},
	{"change_user_access", event.ActionShared, kindUserAccess, "file-unshared when new_value is none"},
	{"change_document_visibility", event.ActionShared, kindVisibility, "file-unshared when visibility becomes private or the link's reach narrows"},
	{"change_document_access_scope", event.ActionShared, kindAccessScope, "target_domain all is anyone; file-unshared when new_value is none"},
	{"shared_drive_membership_change", event.ActionShared, kindMembership, "on the shared drive as a folder; file-unshared when the member is removed"},
}

func lookup(name string) (rule, bool) {
	for _, r := range Mapping {
		if r.name == name {
			return r, true
		}
	}
	return rule{}, false
}

// nativeTypes maps doc_type (the values of Google's Drive event names appendix) to a MIME type;
// "unknown" and types not listed leave it empty (the category then comes from the name).
var nativeTypes = map[string]string{
	"document": "application/vnd.google-apps.document", "spreadsheet": "application/vnd.google-apps.spreadsheet",
	"presentation": "application/vnd.google-apps.presentation", "drawing": "application/vnd.google-apps.drawing",
	"form": "application/vnd.google-apps.form", "pdf": "application/pdf", "msword": "application/msword",
	"msexcel": "application/vnd.ms-excel", "mspowerpoint": "application/vnd.ms-powerpoint",
	"jpeg": "image/jpeg", "png": "image/png", "mp4": "video/mp4", "mpeg": "video/mpeg", "quicktime": "video/quicktime",
	"txt": "text/plain", "html": "text/html", "script": "application/vnd.google-apps.script",
	"shortcut": "application/vnd.google-apps.shortcut", "sites": "application/vnd.google-apps.site",
	"jam": "application/vnd.google-apps.jam",
}

// Adapt maps one activity to one record per event (the dedupe key is the activity's time, unique
// qualifier, the event's index and name: one activity may carry several events of one name, as an
// ACL change for several people). Records that are not file activity carry a Skip reason.
func Adapt(a Activity, o Options) []connector.Record {
	out := make([]connector.Record, 0, len(a.Events))
	for i, e := range a.Events {
		rec := connector.Record{VendorID: fmt.Sprintf("%s/%s/%d/%s", a.Time.Format(time.RFC3339Nano), a.UniqueQualifier, i, e.Name)}
		ev, drive, skip := adaptEvent(a, e, o)
		rec.Skip, rec.Drive = skip, drive
		if skip == "" {
			rec.Events = []event.FileEvent{ev}
		}
		out = append(out, rec)
	}
	return out
}

func adaptEvent(a Activity, e Event, o Options) (event.FileEvent, string, string) {
	r, ok := lookup(e.Name)
	switch {
	case strings.HasSuffix(e.Name, "_hierarchy_reconciled"):
		return event.FileEvent{}, "", SkipReconciled
	case e.Name == "source_copy":
		return event.FileEvent{}, "", SkipCopySource
	case !ok:
		return event.FileEvent{}, "", SkipNotFileActivity
	}
	if primary, given := e.Bool("primary_event"); given && !primary {
		return event.FileEvent{}, "", SkipSecondary
	}
	if app := e.Str("originating_app_id"); app != "" && slices.Contains(o.OwnApps, app) {
		return event.FileEvent{}, "", SkipOwnRead
	}
	docID := e.Str("doc_id")
	if r.kind == kindMembership {
		docID = cmpOr(e.Str("shared_drive_id"), e.Str("owner_shared_drive_id"), docID)
	}
	if docID == "" {
		return event.FileEvent{}, "", SkipNoDocument
	}
	folder := e.Str("doc_type") == "folder" || e.Str("doc_type") == "shared_drive" || r.kind == kindMembership
	sharing := r.kind == kindUserAccess || r.kind == kindVisibility || r.kind == kindAccessScope || r.kind == kindMembership
	if folder && !sharing {
		return event.FileEvent{}, "", SkipFolder
	}
	ev := event.FileEvent{
		Timestamp: a.Time,
		Event:     event.Meta{Action: r.action, Observer: event.ObserverGoogleDrive},
		User:      event.User{Email: a.ActorEmail, VendorID: cmpOr(a.ActorProfileID, a.ActorKey)},
		Source:    event.Source{IP: a.IP},
	}
	ev.File.ID = docID
	if folder {
		ev.File.ID = "folder:" + docID
	}
	ev.File.Name = e.Str("doc_title")
	ev.File.MimeType = nativeTypes[e.Str("doc_type")]
	drive := ""
	if shared, _ := e.Bool("owner_is_shared_drive"); shared {
		drive = cmpOr(e.Str("owner_shared_drive_id"), e.Str("shared_drive_id"))
		ev.File.DriveID = drive
	} else {
		// A My Drive item's drive is its owner's (the drive's vendor id is the owner's address):
		// activity on the drive of a user who is not monitored is not captured (R2.8).
		ev.File.Owner = strings.ToLower(e.Str("owner"))
		drive = ev.File.Owner
	}
	if r.kind == kindMembership {
		drive = docID
		ev.File.DriveID = docID
	}
	switch r.kind {
	case kindRename:
		ev.File.OriginalName = e.Str("old_value")
		if n := e.Str("new_value"); n != "" {
			ev.File.Name = n
		}
	case kindMove:
		if src := e.Str("source_folder_title"); src != "" {
			ev.File.OriginalDirectory = "/" + strings.Trim(src, "/")
		}
		if dst := e.Str("destination_folder_title"); dst != "" {
			ev.File.Directory = "/" + strings.Trim(dst, "/")
			if ev.File.Name != "" {
				ev.File.Path = path.Join(ev.File.Directory, ev.File.Name)
			}
		}
	case kindUserAccess, kindMembership:
		target := strings.ToLower(e.Str("target_user"))
		if target != "" {
			ev.Sharing.SharedWith = []string{target}
		}
		if revoked(e) {
			ev.Event.Action = event.ActionUnshared
		}
	case kindVisibility:
		switch vis := e.Str("visibility"); vis {
		case "people_with_link", "public_on_the_web":
			ev.Sharing.LinkScope = event.LinkAnyone
		case "people_within_domain_with_link", "public_in_the_domain":
			ev.Sharing.LinkScope = event.LinkOrganization
		case "shared_internally", "shared_externally":
			ev.Sharing.LinkScope = event.LinkSpecific
		case "private":
			ev.Sharing.LinkScope = event.LinkNone
			ev.Event.Action = event.ActionUnshared
		}
		// A link narrowed (anyone to the organization, or a link removed while people keep their
		// access) is access taken away, whatever remains.
		if linkReach(e.Str("old_visibility")) > linkReach(e.Str("visibility")) {
			ev.Event.Action = event.ActionUnshared
		}
	case kindAccessScope:
		switch d := strings.ToLower(e.Str("target_domain")); {
		case d == "all":
			ev.Sharing.LinkScope = event.LinkAnyone
		case d != "" && d == a.OwnerDomain:
			ev.Sharing.LinkScope = event.LinkOrganization
		case d != "":
			// The file is shared with the domain as a whole: target_domain names the other
			// Workspace (its domain is the record's only name for that tenant).
			ev.Sharing.SharedWith = []string{d}
			ev.Sharing.Tenants = []event.DestinationTenant{{To: d, Tenant: d}}
		}
		if revoked(e) {
			ev.Event.Action = event.ActionUnshared
		}
	}
	return ev, drive, ""
}

// linkReach ranks a visibility by who its link reaches: anyone 2, the organization 1, no link 0.
func linkReach(visibility string) int {
	switch visibility {
	case "people_with_link", "public_on_the_web":
		return 2
	case "people_within_domain_with_link", "public_in_the_domain":
		return 1
	}
	return 0
}

// revoked reports whether an ACL event's new role is none (access removed).
func revoked(e Event) bool {
	p := e.Params["new_value"]
	vals := p.Multi
	if p.Value != "" {
		vals = append(vals, p.Value)
	}
	if len(vals) == 0 {
		return false
	}
	for _, v := range vals {
		if v != "none" {
			return false
		}
	}
	return true
}

func cmpOr(xs ...string) string {
	for _, x := range xs {
		if x != "" {
			return x
		}
	}
	return ""
}
