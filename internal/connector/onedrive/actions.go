package onedrive

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/event"
)

// state is what the file index keeps of a OneDrive file beyond the common fields
// (connector.File.State), to tell the next state's actions: its parent folder, its sharing
// summary (the shared facet's scope: "", users, organization or anonymous) and who it is shared
// with. Sharing is nil when the targets are not known: the crawl reads no permissions, so a file
// the crawl saw shared has unknown targets until the stream reports a sharing change and the
// permissions are read; a file the crawl saw unshared is known shared with nobody (["-"]).
type state struct {
	Parent  string   `json:"p,omitempty"`
	Scope   string   `json:"c,omitempty"`
	Sharing []string `json:"s,omitempty"` // canonical targets (targetOf), sorted; ["-"] when none
	// UID is the SharePoint list item's UniqueId (the eTag's GUID): how audit records name the
	// file, kept so that a file deleted before the audit record of an earlier action arrives is
	// still named by its driveItem id (resolve.go).
	UID string `json:"u,omitempty"`
}

// maxTargets bounds the targets kept per file, so that State stays small: past it only the first
// are compared (the Management Activity API, part 2, names every recipient).
const maxTargets = 24

func crawlState(it driveItem) state {
	st := state{Parent: it.parent(), UID: etagGUID(it.ETag)}
	if it.Shared != nil {
		st.Scope = it.Shared.Scope
	}
	if st.Scope == "" {
		st.Sharing = []string{"-"}
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

// permission is the part of Graph's permission the connector reads.
type permission struct {
	ID    string   `json:"id"`
	Roles []string `json:"roles"`
	Link  *struct {
		Scope string `json:"scope"`
		Type  string `json:"type"`
	} `json:"link"`
	GrantedToV2           *identitySet  `json:"grantedToV2"`
	GrantedToIdentitiesV2 []identitySet `json:"grantedToIdentitiesV2"`
	Invitation            *struct {
		Email string `json:"email"`
	} `json:"invitation"`
}

// sharing reads who an item is shared with, as sorted canonical targets (["-"]: nobody).
func (s *session) sharing(ctx context.Context, d connector.Drive, itemID string) ([]string, error) {
	var page struct {
		Value []permission `json:"value"`
	}
	err := s.api.get(ctx, "/drives/"+url.PathEscape(d.VendorID)+"/items/"+url.PathEscape(itemID)+"/permissions", PermFilesReadAll, nil, &page)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, p := range page.Value {
		out = append(out, s.targetsOf(ctx, p)...)
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) > maxTargets {
		out = out[:maxTargets]
	}
	if len(out) == 0 {
		out = []string{"-"}
	}
	return out, nil
}

// targetsOf is a permission as sharing targets: "anyone:<type>" and "organization:<type>" for
// links (anonymous, organization), "user:<address>" for each person a direct grant or an
// invitation reaches, "link:<address>" for each person a "specific people" link reaches; none
// for the owner's own permission. A specific-people link's people are kept in the state but not
// reported as delta actions: the audit feed names each (AddedToSecureLink, with who shared), and
// delta, reading them at once with no actor, would give one event for several people (ingest
// coalesces them, R3.6) that no single audit record matches.
func (s *session) targetsOf(ctx context.Context, p permission) []string {
	if slices.Contains(p.Roles, "owner") {
		return nil
	}
	if p.Link != nil {
		switch p.Link.Scope {
		case "anonymous":
			return []string{"anyone:" + p.Link.Type}
		case "organization":
			return []string{"organization:" + p.Link.Type}
		}
	}
	var out []string
	kind := "user:"
	if p.Link != nil && p.Link.Scope == "users" {
		kind = "link:"
	}
	add := func(addr string) {
		if addr = strings.ToLower(strings.TrimSpace(addr)); addr != "" {
			out = append(out, kind+addr)
		}
	}
	if p.Invitation != nil && p.Invitation.Email != "" {
		add(p.Invitation.Email)
	} else if p.GrantedToV2 != nil {
		add(s.address(ctx, *p.GrantedToV2))
	}
	for _, id := range p.GrantedToIdentitiesV2 {
		add(s.address(ctx, id))
	}
	return out
}

// address is the email address of an identity: its email when Graph gives one, the address at
// the end of a SharePoint claims login ("i:0#.f|membership|ada@example.com", a guest's
// "...|urn:spo:guest#x@gmail.com"), or the userPrincipalName of its user id.
func (s *session) address(ctx context.Context, id identitySet) string {
	switch {
	case id.User != nil && strings.Contains(id.User.Email, "@"):
		return id.User.Email
	case id.Group != nil && strings.Contains(id.Group.Email, "@"):
		return id.Group.Email
	case id.SiteUser != nil && strings.Contains(id.SiteUser.LoginName, "@"):
		l := id.SiteUser.LoginName
		l = l[strings.LastIndex(l, "|")+1:]
		return l[strings.LastIndex(l, "#")+1:]
	case id.User != nil:
		return s.person(ctx, id.User.ID)
	}
	return ""
}

// shareEvent fills a share or unshare of target.
func shareEvent(e *event.FileEvent, target string) {
	kind, who, _ := strings.Cut(target, ":")
	switch kind {
	case "anyone":
		e.Sharing.LinkScope = event.LinkAnyone
	case "organization":
		e.Sharing.LinkScope = event.LinkOrganization
	default:
		e.Sharing.SharedWith = []string{who}
	}
}

// actor is the userPrincipalName of an identity set's user ("" when it names none).
func (s *session) actor(ctx context.Context, id *identitySet) string {
	if id == nil || id.User == nil {
		return ""
	}
	if strings.Contains(id.User.Email, "@") {
		return strings.ToLower(id.User.Email)
	}
	return s.person(ctx, id.User.ID)
}

// itemRecords tells the actions one delta item means, from the file as indexed before (known;
// had false when it is not indexed) and its state now (f and it). A file new to the index is
// created (the stream starts where the crawl ended, so anything the index lacks was made since);
// an indexed file back after a deletion restored; a new name is a rename, a new parent a move, a
// new quickXorHash a modification, and each sharing target gained or lost a share or unshare,
// read from the permissions when the item is marked as a sharing change or its sharing summary
// changed. It returns the records and the file's new state.
//
// Record ids are "delta:<item id>:<action>:<detail>", the detail naming the change: the item's
// lastModifiedDateTime (and the new name, parent or hash), so that the same state read twice (a
// repeat within a round, a page read again after a crash) is the same record; a sharing change,
// which does not move lastModifiedDateTime, names the delta link it was read from. The actor is the item's
// lastModifiedBy (createdBy for a creation); delta names none for deletions and sharing changes,
// which the Management Activity API's records of the same actions fill (part 2, merge).
// cursor is the delta link the item was read from.
func (s *session) itemRecords(ctx context.Context, d connector.Drive, cursor string, it driveItem, f connector.File, known connector.KnownFile, had bool) ([]connector.Record, state, error) {
	var out []connector.Record
	modified := f.Modified
	stamp := modified.UTC().Format(time.RFC3339)
	base := func(action event.Action, at time.Time) event.FileEvent {
		dir := path.Dir(f.Path)
		return event.FileEvent{Timestamp: at, Event: event.Meta{Action: action, Observer: event.ObserverOneDrive},
			File: event.File{ID: f.VendorID, Name: f.Name, Path: f.Path, Directory: dir, Size: f.Size, MimeType: f.MimeType,
				Owner: f.Owner, Modified: f.Modified, Created: parseTime(it.CreatedDateTime), URL: it.WebURL, DriveID: f.Drive, Hash: f.Hash}}
	}
	add := func(action, detail string, e event.FileEvent) {
		out = append(out, connector.Record{VendorID: "delta:" + f.VendorID + ":" + action + ":" + detail, Drive: f.Drive, Feed: deltaKey,
			Events: []event.FileEvent{e}})
	}
	now := s.deps.Clock.Now().UTC()
	at := modified
	if at.IsZero() {
		at = now
	}
	before, _ := decodeState(known.State)
	after := state{Parent: it.parent(), UID: etagGUID(it.ETag)}
	if it.Shared != nil {
		after.Scope = it.Shared.Scope
	}
	after.Sharing = before.Sharing
	if !had {
		after.Sharing = nil
	}
	// Who the file is shared with is read when delta says its sharing changed, or its summary
	// changed, or it is new and shared; an unshared file is shared with nobody.
	switch {
	case after.Scope == "":
		after.Sharing = []string{"-"}
	case it.SharedChanged == "True" || after.Scope != before.Scope || !had || before.Sharing == nil:
		targets, err := s.sharing(ctx, d, it.ID)
		if isStatus(err, http.StatusNotFound) {
			break // deleted since: the next page says so
		}
		if err != nil {
			return nil, state{}, s.driveErr(err, d, "reading the permissions of "+it.ID+" in")
		}
		after.Sharing = targets
	}
	if !had {
		e := base(event.ActionCreated, parseTime(it.CreatedDateTime))
		if e.Timestamp.IsZero() {
			e.Timestamp = at
		}
		e.User.Email = s.actor(ctx, it.CreatedBy)
		if e.User.Email == "" {
			e.User.Email = s.actor(ctx, it.LastModifiedBy)
		}
		if after.Scope != "" {
			sharingState(&e, after.Sharing)
		}
		add("created", "", e)
		return out, after, nil
	}
	if known.Deleted {
		e := base(event.ActionRestored, at)
		e.User.Email = s.actor(ctx, it.LastModifiedBy)
		add("restored", stamp, e)
		return out, after, nil
	}
	editor := s.actor(ctx, it.LastModifiedBy)
	if known.Name != "" && f.Name != known.Name {
		e := base(event.ActionRenamed, at)
		e.User.Email = editor
		e.File.OriginalName = known.Name
		add("renamed", stamp+":"+f.Name, e)
	}
	if before.Parent != "" && after.Parent != "" && before.Parent != after.Parent {
		e := base(event.ActionMoved, at)
		e.User.Email = editor
		if known.Path != "" {
			e.File.OriginalDirectory = path.Dir(known.Path)
		}
		add("moved", stamp+":"+after.Parent, e)
	}
	if f.Hash.QuickXor != "" && known.Hash.QuickXor != "" && f.Hash.QuickXor != known.Hash.QuickXor {
		e := base(event.ActionModified, at)
		e.User.Email = editor
		add("modified", stamp+":"+f.Hash.QuickXor, e)
	}
	// Sharing: a sharing change does not move lastModifiedDateTime; it is dated when it is read,
	// and its id names the delta link it was read from, so that the same page read again (a crash
	// before ingest's commit) gives the same ids, and a later change of the same target new ones.
	shareAt, shareStamp := now, "r"+linkTag(cursor)
	if modified.After(known.Modified) {
		shareAt, shareStamp = modified, stamp
	}
	for _, t := range gained(before, after) {
		if strings.HasPrefix(t, "link:") {
			continue // the audit feed's (targetsOf)
		}
		e := base(event.ActionShared, shareAt)
		shareEvent(&e, t)
		add("shared", t+":"+shareStamp, e)
	}
	if before.Sharing != nil && after.Sharing != nil && len(before.Sharing) < maxTargets {
		for _, t := range before.Sharing {
			if t != "-" && !strings.HasPrefix(t, "link:") && !slices.Contains(after.Sharing, t) {
				e := base(event.ActionUnshared, shareAt)
				shareEvent(&e, t)
				add("unshared", t+":"+shareStamp, e)
			}
		}
	}
	return out, after, nil
}

// gained are the sharing targets after has and before had not. With before's targets unknown (a
// file the crawl saw shared), only links reaching further than before's summary are known to be
// new: an anyone link on a file that had none, an organization link on a file shared with people.
func gained(before, after state) []string {
	if after.Sharing == nil {
		return nil
	}
	var out []string
	for _, t := range after.Sharing {
		if t == "-" {
			continue
		}
		if before.Sharing != nil {
			if !slices.Contains(before.Sharing, t) {
				out = append(out, t)
			}
			continue
		}
		switch kind, _, _ := strings.Cut(t, ":"); {
		case kind == "anyone" && before.Scope != "anonymous":
			out = append(out, t)
		case kind == "organization" && (before.Scope == "" || before.Scope == "users"):
			out = append(out, t)
		}
	}
	return out
}

// linkTag is a short stable tag of a delta link.
func linkTag(link string) string {
	h := fnv.New64a()
	h.Write([]byte(link))
	return strconv.FormatUint(h.Sum64(), 36)
}

// sharingState fills an event's sharing state from targets (a created file already shared).
func sharingState(e *event.FileEvent, targets []string) {
	for _, t := range targets {
		kind, who, _ := strings.Cut(t, ":")
		switch kind {
		case "anyone":
			e.Sharing.LinkScope = event.LinkAnyone
		case "organization":
			if e.Sharing.LinkScope != event.LinkAnyone {
				e.Sharing.LinkScope = event.LinkOrganization
			}
		case "user", "link":
			e.Sharing.SharedWith = append(e.Sharing.SharedWith, who)
		}
	}
}

// deletedRecord is the record of an indexed file the stream reports deleted: its state as indexed.
func deletedRecord(d connector.Drive, it driveItem, known connector.KnownFile, now time.Time) connector.Record {
	at := parseTime(it.LastModifiedDateTime)
	if at.IsZero() {
		at = now
	}
	e := event.FileEvent{Timestamp: at, Event: event.Meta{Action: event.ActionDeleted, Observer: event.ObserverOneDrive},
		File: event.File{ID: it.ID, Name: known.Name, Path: known.Path, Size: known.Size, MimeType: known.MimeType,
			Owner: known.Owner, DriveID: d.VendorID, Modified: known.Modified, Hash: known.Hash}}
	if known.Path != "" {
		e.File.Directory = path.Dir(known.Path)
	}
	return connector.Record{VendorID: "delta:" + it.ID + ":deleted:" + at.UTC().Format(time.RFC3339), Drive: d.VendorID, Feed: deltaKey,
		Events: []event.FileEvent{e}}
}

// describe is a short label of records, for logs and tests.
func describe(recs []connector.Record) string {
	parts := make([]string, len(recs))
	for i, r := range recs {
		parts[i] = fmt.Sprintf("%s %s", r.Events[0].Event.Action, r.Events[0].File.ID)
	}
	return strings.Join(parts, ", ")
}
