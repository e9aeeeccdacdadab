package googledrive

import (
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/api/drive/v3"

	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/event"
)

// feedChanges and feedReports name the two feeds a Drive action is read from (connector.Record.Feed):
// the drive's changes feed within seconds, the Reports API hours later. Their events merge into
// one (ARCHITECTURE, "Google Drive: two feeds"); the changes feed's file state wins.
const (
	feedChanges = "changes"
	feedReports = "reports"
)

// state is what the file index keeps of a Drive file beyond the common fields
// (connector.File.State), to tell the next state's actions: its parent folder and who it is
// shared with. Sharing is nil when Drive did not list the permissions (shared drive items, or a
// reader's view): then sharing changes come from the Reports API only.
type state struct {
	Parent  string   `json:"p,omitempty"`
	Sharing []string `json:"s,omitempty"` // canonical targets (shareTarget), sorted; ["-"] when none
}

// createdNews is how long after its creation a file's change can still be its creation; sinceMargin
// allows for Google's clock and this node's disagreeing about the stream's start.
const (
	createdNews = 7 * 24 * time.Hour
	sinceMargin = time.Minute
)

// maxTargets bounds the targets kept per file, so that State stays small: past it only the
// first are compared (sharing with hundreds of people one by one is rare and Reports names each).
const maxTargets = 24

// stateOf is the State of a Drive file.
func stateOf(f *drive.File) state {
	var st state
	if len(f.Parents) > 0 {
		st.Parent = f.Parents[0]
	}
	if f.DriveId != "" || f.Permissions == nil {
		return st
	}
	for _, p := range f.Permissions {
		if t := shareTarget(p); t != "" {
			st.Sharing = append(st.Sharing, t)
		}
	}
	slices.Sort(st.Sharing)
	st.Sharing = slices.Compact(st.Sharing)
	if len(st.Sharing) > maxTargets {
		st.Sharing = st.Sharing[:maxTargets]
	}
	if len(st.Sharing) == 0 {
		st.Sharing = []string{"-"} // listed, and shared with nobody
	}
	return st
}

func (st state) encode() string {
	b, _ := json.Marshal(st)
	return string(b)
}

func decodeState(s string) (state, bool) {
	var st state
	if s == "" || json.Unmarshal([]byte(s), &st) != nil {
		return state{}, false
	}
	return st, true
}

// shareTarget is a permission as a sharing target: "anyone", "domain:<domain>", "user:<email>"
// (users and groups alike), "" for the owner's own permission and for kinds Telltale does not
// treat as sharing.
func shareTarget(p *drive.Permission) string {
	if p == nil || p.Role == "owner" || p.Deleted {
		return ""
	}
	switch p.Type {
	case "anyone":
		return "anyone"
	case "domain":
		if p.Domain != "" {
			return "domain:" + strings.ToLower(p.Domain)
		}
	case "user", "group":
		if p.EmailAddress != "" {
			return "user:" + strings.ToLower(p.EmailAddress)
		}
	}
	return ""
}

// shareEvent fills a share or unshare of target: a link for anyone or the organization's domain
// (as the Reports API's change_document_visibility), or a person, group or other domain (as
// change_user_access and change_document_access_scope).
func shareEvent(e *event.FileEvent, target, orgDomain string) {
	switch kind, who, _ := strings.Cut(target, ":"); {
	case kind == "anyone":
		e.Sharing.LinkScope = event.LinkAnyone
	case kind == "domain" && who == orgDomain:
		e.Sharing.LinkScope = event.LinkOrganization
	default:
		e.Sharing.SharedWith = []string{who}
	}
}

// cursor is a drive's changes position: Drive's page token and the time the stream started from
// (the start page token's time), after which a file's creation is news even when the crawl has
// already indexed the file. Written "<token>@<unix seconds>"; a bare token (no start known) is
// read with a zero start.
type cursor struct {
	token string
	since time.Time
}

func parseCursor(s string) cursor {
	tok, at, ok := strings.Cut(s, "@")
	if !ok {
		return cursor{token: s}
	}
	n, err := strconv.ParseInt(at, 10, 64)
	if err != nil {
		return cursor{token: s}
	}
	return cursor{token: tok, since: time.Unix(n, 0).UTC()}
}

func (c cursor) String() string {
	if c.since.IsZero() {
		return c.token
	}
	return c.token + "@" + strconv.FormatInt(c.since.Unix(), 10)
}

// changeRecords tells the actions one change means, from the file's state before (known, as the
// index has it; had false when the file is not indexed) and after (f, the connector's File of raw;
// raw nil when the change removed the file from the drive's view). A file new to the index, or
// made after the stream's start, is created (with its latest state); a trashed or removed file of
// the feed's own drive deleted; an indexed file back from the trash restored; a new name is a
// rename, a new parent a move, new content (MD5, or for Docs editors files a new modified time
// that no other change explains) a modification, and each sharing target gained or lost a share or
// unshare. Record ids name the file, the action and the change's time (or, for content, the new
// MD5), so the same change read from two users' feeds is one record. The actor is Drive's
// lastModifyingUser for created and modified, the owner for a My Drive upload, trashingUser for a
// shared drive item trashed (at its trashedTime), and otherwise unknown
// until the Reports record of the action fills it (merge).
func changeRecords(d connector.Drive, changeTime time.Time, raw *drive.File, f connector.File, known connector.KnownFile, had bool, since time.Time) []connector.Record {
	var out []connector.Record
	id := func(action string, detail string) string {
		return "change:" + f.VendorID + ":" + action + ":" + detail
	}
	at := changeTime.UTC().Format(time.RFC3339Nano)
	base := func(action event.Action) event.FileEvent {
		dir := path.Dir(f.Path)
		if f.Path == "" {
			dir = ""
		}
		return event.FileEvent{Timestamp: changeTime, Event: event.Meta{Action: action, Observer: event.ObserverGoogleDrive},
			File: event.File{ID: f.VendorID, Name: f.Name, Path: f.Path, Directory: dir, Size: f.Size, MimeType: f.MimeType,
				Owner: f.Owner, Modified: f.Modified, DriveID: f.Drive, Hash: f.Hash}}
	}
	add := func(vid string, e event.FileEvent) {
		out = append(out, connector.Record{VendorID: vid, Drive: f.Drive, Feed: feedChanges, Events: []event.FileEvent{e}})
	}
	lastMod := ""
	if raw != nil && raw.LastModifyingUser != nil {
		lastMod = strings.ToLower(raw.LastModifyingUser.EmailAddress)
	}
	if raw == nil || raw.Trashed {
		// Gone from the drive's view: deleted, trashed, or no longer shared with the feed's user.
		// Only the feed of the file's own drive says it was deleted.
		own := d.Kind == "shared" || (known.Owner != "" && strings.EqualFold(known.Owner, d.Owner))
		if raw != nil {
			own = f.Drive == d.VendorID
		}
		if had && !known.Deleted && own {
			e := base(event.ActionDeleted)
			if raw == nil { // the removal names no state: the index's
				e.File = event.File{ID: f.VendorID, Name: known.Name, Path: known.Path, Size: known.Size, MimeType: known.MimeType,
					Owner: known.Owner, DriveID: d.VendorID, Modified: known.Modified, Hash: known.Hash}
				if known.Path != "" {
					e.File.Directory = path.Dir(known.Path)
				}
			} else {
				// A shared drive item says when it was trashed and by whom (File.trashedTime and
				// trashingUser, "only populated for items in shared drives"): the action's own time,
				// not the change's, and its actor before the Reports record arrives.
				if t, err := time.Parse(time.RFC3339, raw.TrashedTime); err == nil {
					e.Timestamp = t.UTC()
				}
				if raw.TrashingUser != nil {
					e.User.Email = strings.ToLower(raw.TrashingUser.EmailAddress)
				}
			}
			add(id("deleted", at), e)
		}
		return out
	}
	created := time.Time{}
	if t, err := time.Parse(time.RFC3339, raw.CreatedTime); err == nil {
		created = t.UTC()
	}
	// Created: a file new to the index, or one the crawl indexed although it was made after the
	// stream started (the crawl and the feed overlap). Only within createdNews of its creation, so
	// that a later change of an old file is never its creation; within that the record id (one per
	// file) is remembered longer than createdNews (ingest keeps record ids 21 days), so a creation
	// read again is dropped, and the rest of the change is still diffed below.
	young := !created.IsZero() && changeTime.Sub(created) <= createdNews
	if young && (!had || !created.Before(since.Add(-sinceMargin))) {
		e := base(event.ActionCreated)
		if !f.Modified.After(created) {
			e.User.Email = lastMod // not modified since: the last modifying user is its creator
		}
		if f.Drive != "" && f.Drive == f.Owner && f.Owner != "" {
			e.User.Email = f.Owner // an upload to My Drive: its owner
		}
		e.Timestamp, e.File.Created = created, created
		add(id("created", ""), e)
	}
	if !had {
		return out // nothing to compare with: only the state is kept
	}
	if known.Deleted {
		add(id("restored", at), base(event.ActionRestored))
		return out
	}
	before, _ := decodeState(known.State)
	after := stateOf(raw)
	explained := false
	if known.Name != "" && f.Name != known.Name {
		e := base(event.ActionRenamed)
		e.File.OriginalName = known.Name
		add(id("renamed", at), e)
		explained = true
	}
	if before.Parent != "" && after.Parent != "" && before.Parent != after.Parent {
		e := base(event.ActionMoved)
		if known.Path != "" {
			e.File.OriginalDirectory = path.Dir(known.Path)
		}
		add(id("moved", at), e)
		explained = true
	}
	if before.Sharing != nil && after.Sharing != nil {
		org := ""
		if at := strings.LastIndex(d.Owner, "@"); at >= 0 {
			org = strings.ToLower(d.Owner[at+1:])
		}
		for _, t := range after.Sharing {
			if t != "-" && !slices.Contains(before.Sharing, t) {
				e := base(event.ActionShared)
				shareEvent(&e, t, org)
				add(id("shared", t+":"+at), e)
				explained = true
			}
		}
		for _, t := range before.Sharing {
			if t != "-" && !slices.Contains(after.Sharing, t) && len(before.Sharing) < maxTargets {
				e := base(event.ActionUnshared)
				shareEvent(&e, t, org)
				add(id("unshared", t+":"+at), e)
				explained = true
			}
		}
	}
	edited := false
	switch {
	case f.Hash.MD5 != "" && known.Hash.MD5 != "":
		edited = f.Hash.MD5 != known.Hash.MD5
	case f.Hash.MD5 == "" && !f.Modified.IsZero() && !known.Modified.IsZero():
		edited = f.Modified.After(known.Modified) && !explained
	}
	if edited {
		e := base(event.ActionModified)
		e.User.Email = lastMod
		detail := f.Hash.MD5
		if detail == "" {
			detail = f.Modified.UTC().Format(time.RFC3339Nano)
		}
		add(id("modified", detail), e)
	}
	return out
}

// describe is a short label of a change's records, for logs and tests.
func describe(recs []connector.Record) string {
	parts := make([]string, len(recs))
	for i, r := range recs {
		parts[i] = fmt.Sprintf("%s %s", r.Events[0].Event.Action, r.Events[0].File.ID)
	}
	return strings.Join(parts, ", ")
}
