package box

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// This file holds the scripted actions and the random activity generator. Every action records the
// enterprise event Box would record (admin event names, see doc.go) and queues the webhook
// deliveries it triggers. An action that cannot happen (unknown id, inactive actor, an item the
// actor cannot see, an item in the trash) changes nothing and returns the zero Activity.

// AddUser adds a managed user (NEW_USER by the admin).
func (e *Emulator) AddUser(login, name string, active bool) User {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.addUserLocked(login, name, active).public()
}

// SetUserStatus sets a managed user's status ("active", "inactive", ...), recording EDIT_USER.
func (e *Emulator) SetUserStatus(userID, status string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	u := e.byID[userID]
	if u == nil || u.external || u.serviceAccount || u.status == status {
		return
	}
	u.status = status
	e.emit(e.users[0], "EDIT_USER", nil, userSource(u), map[string]any{"status": status}, Activity{Detail: map[string]string{"user_id": u.id, "status": status}})
}

// SetUserAccessible with ok false makes as-user calls for this user answer 403 as Box does when
// the app may not act as that user (for example a co-admin).
func (e *Emulator) SetUserAccessible(userID string, ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if u := e.byID[userID]; u != nil {
		u.accessible = ok
	}
}

// AddGroup adds an empty group.
func (e *Emulator) AddGroup(name string) Group {
	e.mu.Lock()
	defer e.mu.Unlock()
	g := e.addGroupLocked(name)
	return Group{ID: g.id, Name: g.name}
}

// AddMember adds a user to a group (GROUP_ADD_USER by the admin).
func (e *Emulator) AddMember(groupID, userID string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if g, u := e.groupsBy[groupID], e.byID[userID]; g != nil && u != nil {
		e.addMemberLocked(e.users[0].id, g, userID)
	}
}

// RemoveMember removes a user from a group (GROUP_REMOVE_USER by the admin).
func (e *Emulator) RemoveMember(groupID, userID string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	g := e.groupsBy[groupID]
	if g == nil {
		return
	}
	for i, m := range g.members {
		if m == userID {
			g.members = append(g.members[:i], g.members[i+1:]...)
			u := e.byID[userID]
			e.emit(e.users[0], "GROUP_REMOVE_USER", nil, map[string]any{"group_id": g.id, "group_name": g.name, "user_id": u.id, "user_name": u.name},
				map[string]any{"group_id": g.id, "group_name": g.name},
				Activity{Detail: map[string]string{"group_id": g.id, "group_name": g.name, "user_id": u.id, "user_login": u.login}})
			return
		}
	}
}

// Login records a LOGIN of the user.
func (e *Emulator) Login(userID string) Activity {
	e.mu.Lock()
	defer e.mu.Unlock()
	u := e.activeUser(userID)
	if u == nil {
		return Activity{}
	}
	return e.emit(u, "LOGIN", nil, userSource(u), nil, Activity{})
}

// Upload adds a file to folderID ("0" = the user's root) of the user's drive; nil content means
// generated content. It records UPLOAD.
func (e *Emulator) Upload(userID, folderID, name string, content []byte) (string, Activity) {
	e.mu.Lock()
	defer e.mu.Unlock()
	u := e.activeUser(userID)
	if u == nil {
		return "", Activity{}
	}
	f := e.folderFor(u, folderID)
	if f == nil || f.owner != u.id && !e.visible(f, u.id) && !f.root {
		return "", Activity{}
	}
	size := -1
	if content != nil {
		size = len(content)
	}
	id, a := e.uploadLocked(u.id, e.internalID(f), name, size)
	if content != nil {
		e.setData(e.items[id].cur().id, content)
	}
	return id, a
}

// Edit stores a new version of a file (content nil: generated) and records EDIT.
func (e *Emulator) Edit(actorID, fileID string, content []byte) Activity {
	return e.newVersion(actorID, fileID, content, "EDIT")
}

// UploadVersion stores a new version of a file through an upload and records UPLOAD.
func (e *Emulator) UploadVersion(actorID, fileID string, content []byte) Activity {
	return e.newVersion(actorID, fileID, content, "UPLOAD")
}

func (e *Emulator) newVersion(actorID, fileID string, content []byte, evt string) Activity {
	e.mu.Lock()
	defer e.mu.Unlock()
	u, it := e.actorItem(actorID, "file", fileID)
	if it == nil {
		return Activity{}
	}
	now := e.now()
	v := version{id: e.newID(), at: now, by: u.id}
	if content != nil {
		v.size = len(content)
		e.setData(v.id, content)
	} else {
		v.size = e.sizeFor(v.id)
	}
	it.versions = append(it.versions, v)
	it.modified, it.modifiedBy = now, u.id
	it.seq++
	return e.emitItem(u, evt, it, map[string]any{"size": v.size, "version_id": v.id},
		map[string]string{"version_id": v.id, "new_version": "true"})
}

// Rename renames a file or folder (itemID may be either) and records RENAME.
func (e *Emulator) Rename(actorID, itemID, newName string) Activity {
	e.mu.Lock()
	defer e.mu.Unlock()
	u, it := e.actorItem(actorID, "", itemID)
	if it == nil || newName == "" {
		return Activity{}
	}
	old := it.name
	it.name = newName
	it.seq++
	it.modified, it.modifiedBy = e.now(), u.id
	return e.emitItem(u, "RENAME", it, nil, map[string]string{"old_name": old})
}

// Move moves a file or folder into folderID ("0" = the actor's root) and records MOVE.
func (e *Emulator) Move(actorID, itemID, folderID string) Activity {
	e.mu.Lock()
	defer e.mu.Unlock()
	u, it := e.actorItem(actorID, "", itemID)
	if it == nil {
		return Activity{}
	}
	f := e.folderFor(u, folderID)
	if f == nil || (!f.root && !e.visible(f, u.id)) || e.internalID(f) == it.parent || f == it {
		return Activity{}
	}
	for _, a := range e.ancestors(f) {
		if a == it {
			return Activity{} // cyclical_folder_structure
		}
	}
	oldParent := e.items[it.parent]
	e.detach(it)
	it.parent = e.internalID(f)
	f.children = append(f.children, it.id)
	if f.root && f.owner != it.owner {
		e.reown(it, f.owner)
	}
	it.seq++
	return e.emitItem(u, "MOVE", it, nil, map[string]string{"old_parent_id": oldParent.id, "new_parent_id": f.id})
}

// Trash moves a file or folder to the trash and records DELETE.
func (e *Emulator) Trash(actorID, itemID string) Activity {
	e.mu.Lock()
	defer e.mu.Unlock()
	u, it := e.actorItem(actorID, "", itemID)
	if it == nil {
		return Activity{}
	}
	it.trashed, it.trashedAt = true, e.now()
	it.seq++
	return e.emitItem(u, "DELETE", it, nil, nil)
}

// Restore restores a trashed file or folder (to its parent) and records UNDELETE.
func (e *Emulator) Restore(actorID, itemID string) Activity {
	e.mu.Lock()
	defer e.mu.Unlock()
	u := e.activeUser(actorID)
	it := e.items[itemID]
	if u == nil || it == nil || !it.trashed || (it.owner != u.id && !e.collaboratorAny(it, u.id)) {
		return Activity{}
	}
	it.trashed = false
	it.seq++
	return e.emitItem(u, "UNDELETE", it, nil, nil)
}

// ShareLink creates a shared link with access "open", "company" or "collaborators" and records
// SHARE.
func (e *Emulator) ShareLink(actorID, itemID, access string) Activity {
	e.mu.Lock()
	defer e.mu.Unlock()
	u, it := e.actorItem(actorID, "", itemID)
	if it == nil || it.link != nil || !validAccess(access) {
		return Activity{}
	}
	it.link = &sharedLink{id: e.linkID(it), access: access, created: e.now()}
	return e.emitItem(u, "SHARE", it, e.linkDetails(it), map[string]string{"access": access, "shared_link_id": it.link.id})
}

// UpdateLink changes a shared link's access level and records ITEM_SHARED_UPDATE.
func (e *Emulator) UpdateLink(actorID, itemID, access string) Activity {
	e.mu.Lock()
	defer e.mu.Unlock()
	u, it := e.actorItem(actorID, "", itemID)
	if it == nil || it.link == nil || !validAccess(access) || it.link.access == access {
		return Activity{}
	}
	old := it.link.access
	it.link.access = access
	return e.emitItem(u, "ITEM_SHARED_UPDATE", it, e.linkDetails(it), map[string]string{"access": access, "old_access": old, "shared_link_id": it.link.id})
}

// Unshare removes a shared link and records UNSHARE.
func (e *Emulator) Unshare(actorID, itemID string) Activity {
	e.mu.Lock()
	defer e.mu.Unlock()
	u, it := e.actorItem(actorID, "", itemID)
	if it == nil || it.link == nil {
		return Activity{}
	}
	d := e.linkDetails(it)
	old := it.link
	it.link = nil
	return e.emitItem(u, "UNSHARE", it, d, map[string]string{"old_access": old.access, "shared_link_id": old.id})
}

func validAccess(a string) bool { return a == "open" || a == "company" || a == "collaborators" }

func (e *Emulator) linkID(it *item) string {
	return fmt.Sprintf("%016x", hash64(e.o.Seed+int64(e.o.Epoch)<<32, it.id+"/"+strconv.Itoa(len(e.records))))
}

// linkDetails is additional_details of shared-link events (shape from a real SHARE event quoted on
// support.box.com/hc/en-us/community/posts/360049134154: shared_link_id, version_id, service_id,
// service_name).
func (e *Emulator) linkDetails(it *item) map[string]any {
	d := map[string]any{"shared_link_id": it.link.id, "service_id": "100001", "service_name": "Box Web App"}
	if it.typ == "file" {
		d["version_id"] = it.cur().id
	}
	return d
}

// Collaborate invites email (a managed user's login, a group id as "group:<id>", or any external
// address) to a file or folder with role ("editor", "viewer", ...; default "editor") and records
// COLLABORATION_INVITE. Detail["collaboration_id"] holds the new collaboration's id.
func (e *Emulator) Collaborate(actorID, itemType, itemID, email, role string) Activity {
	e.mu.Lock()
	defer e.mu.Unlock()
	u, it := e.actorItem(actorID, itemType, itemID)
	if it == nil || it.root || email == "" {
		return Activity{}
	}
	if role == "" {
		role = "editor"
	}
	now := e.now()
	c := &collab{id: e.newID(), itemType: it.typ, itemID: it.id, role: role, status: "accepted", createdBy: u.id, created: now, modified: now}
	if gid, ok := strings.CutPrefix(email, "group:"); ok {
		if e.groupsBy[gid] == nil {
			return Activity{}
		}
		c.groupID = gid
	} else {
		c.userID = e.userForEmail(email).id
	}
	for _, cid := range it.collabs {
		if o := e.collabs[cid]; o.userID == c.userID && o.groupID == c.groupID {
			return Activity{} // user_already_collaborator
		}
	}
	e.collabs[c.id] = c
	it.collabs = append(it.collabs, c.id)
	e.collabIx[principal(c)] = append(e.collabIx[principal(c)], c.id)
	return e.emitCollab(u, "COLLABORATION_INVITE", it, c, email)
}

// ChangeRole changes the role of email's collaboration on an item and records
// COLLABORATION_ROLE_CHANGE.
func (e *Emulator) ChangeRole(actorID, itemType, itemID, email, role string) Activity {
	e.mu.Lock()
	defer e.mu.Unlock()
	u, it := e.actorItem(actorID, itemType, itemID)
	if it == nil {
		return Activity{}
	}
	c := e.findCollab(it, email)
	if c == nil || c.role == role {
		return Activity{}
	}
	c.role, c.modified = role, e.now()
	return e.emitCollab(u, "COLLABORATION_ROLE_CHANGE", it, c, email)
}

// RemoveCollaboration removes email's collaboration on an item and records COLLABORATION_REMOVE.
func (e *Emulator) RemoveCollaboration(actorID, itemType, itemID, email string) Activity {
	e.mu.Lock()
	defer e.mu.Unlock()
	u, it := e.actorItem(actorID, itemType, itemID)
	if it == nil {
		return Activity{}
	}
	c := e.findCollab(it, email)
	if c == nil {
		return Activity{}
	}
	for i, cid := range it.collabs {
		if cid == c.id {
			it.collabs = append(it.collabs[:i], it.collabs[i+1:]...)
			break
		}
	}
	delete(e.collabs, c.id)
	ix := e.collabIx[principal(c)]
	e.collabIx[principal(c)] = slices.DeleteFunc(ix, func(id string) bool { return id == c.id })
	return e.emitCollab(u, "COLLABORATION_REMOVE", it, c, email)
}

func (e *Emulator) findCollab(it *item, email string) *collab {
	for _, cid := range it.collabs {
		c := e.collabs[cid]
		if gid, ok := strings.CutPrefix(email, "group:"); ok && c.groupID == gid {
			return c
		}
		if u := e.byID[c.userID]; u != nil && strings.EqualFold(u.login, email) {
			return c
		}
	}
	return nil
}

// userForEmail returns the Box user with that login, creating an external Box user for an
// address the enterprise does not know.
func (e *Emulator) userForEmail(email string) *user {
	if u := e.byLogin[strings.ToLower(email)]; u != nil {
		return u
	}
	name := strings.SplitN(email, "@", 2)[0]
	u := &user{id: strconv.FormatInt(40_000_000_000+e.epochOff+int64(len(e.byID)), 10), login: email, name: name, status: "active", role: "user", external: true, created: e.now()}
	e.byID[u.id] = u
	e.byLogin[strings.ToLower(email)] = u
	return u
}

// Download records DOWNLOAD of a file.
func (e *Emulator) Download(actorID, fileID string) Activity {
	e.mu.Lock()
	defer e.mu.Unlock()
	u, it := e.actorItem(actorID, "file", fileID)
	if it == nil {
		return Activity{}
	}
	return e.emitItem(u, "DOWNLOAD", it, map[string]any{"version_id": it.cur().id, "size": it.cur().size}, nil)
}

// Preview records PREVIEW of a file.
func (e *Emulator) Preview(actorID, fileID string) Activity {
	e.mu.Lock()
	defer e.mu.Unlock()
	u, it := e.actorItem(actorID, "file", fileID)
	if it == nil {
		return Activity{}
	}
	return e.emitItem(u, "PREVIEW", it, map[string]any{"version_id": it.cur().id}, nil)
}

// Copy copies a file into folderID ("0" = the actor's root, owned by the actor) and records COPY
// on the new file; Detail["source_id"] is the original.
func (e *Emulator) Copy(actorID, fileID, folderID string) Activity {
	e.mu.Lock()
	defer e.mu.Unlock()
	u, it := e.actorItem(actorID, "file", fileID)
	if it == nil {
		return Activity{}
	}
	f := e.folderFor(u, folderID)
	if f == nil || (!f.root && !e.visible(f, u.id)) {
		return Activity{}
	}
	now := e.now()
	id := e.itemID("file")
	v := version{id: e.newID(), size: it.cur().size, at: now, by: u.id}
	e.shaMu.Lock()
	e.alias[v.id] = e.contentID(it.cur().id)
	e.shaMu.Unlock()
	owner := f.owner
	n := &item{typ: "file", id: id, name: "Copy of " + it.name, parent: e.internalID(f), owner: owner, created: now, modified: now, createdBy: u.id, modifiedBy: u.id, versions: []version{v}}
	e.items[id] = n
	f.children = append(f.children, id)
	return e.emitItem(u, "COPY", n, map[string]any{"size": v.size, "version_id": v.id}, map[string]string{"source_id": it.id})
}

// uploadLocked creates a file; size < 0 means generated content.
func (e *Emulator) uploadLocked(uid, parent, name string, size int) (string, Activity) {
	now := e.now()
	id := e.itemID("file")
	v := version{id: e.newID(), size: size, at: now, by: uid}
	if size < 0 {
		v.size = e.sizeFor(v.id)
	}
	p := e.items[parent]
	owner := p.owner
	it := &item{typ: "file", id: id, name: name, parent: parent, owner: owner, created: now, modified: now, createdBy: uid, modifiedBy: uid, versions: []version{v}}
	e.items[id] = it
	p.children = append(p.children, id)
	return id, e.emitItem(e.byID[uid], "UPLOAD", it, map[string]any{"size": v.size, "version_id": v.id}, map[string]string{"version_id": v.id})
}

func (e *Emulator) activeUser(id string) *user {
	u := e.byID[id]
	if u == nil || u.external || u.serviceAccount || u.status != "active" {
		return nil
	}
	return u
}

// actorItem resolves an active actor and an item they can see (typ "" = file or folder).
func (e *Emulator) actorItem(actorID, typ, itemID string) (*user, *item) {
	u := e.activeUser(actorID)
	if u == nil {
		return nil, nil
	}
	it := e.items[itemID]
	if it == nil || it.root || (typ != "" && it.typ != typ) || !e.visible(it, u.id) {
		return nil, nil
	}
	return u, it
}

func (e *Emulator) collaboratorAny(it *item, uid string) bool {
	if e.collaborator(it, uid) {
		return true
	}
	for _, a := range e.ancestors(it) {
		if e.collaborator(a, uid) {
			return true
		}
	}
	return false
}

// folderFor resolves a folder id from u's point of view ("0" = u's root).
func (e *Emulator) folderFor(u *user, id string) *item {
	if id == "0" || id == "" {
		return e.items[rootID(u.id)]
	}
	f := e.items[id]
	if f == nil || f.typ != "folder" || f.root {
		return nil
	}
	return f
}

// internalID is the key of an item in e.items.
func (e *Emulator) internalID(it *item) string {
	if it.root {
		return rootID(it.owner)
	}
	return it.id
}

func (e *Emulator) detach(it *item) {
	p := e.items[it.parent]
	for i, c := range p.children {
		if c == it.id {
			p.children = append(p.children[:i], p.children[i+1:]...)
			return
		}
	}
}

func (e *Emulator) reown(it *item, owner string) {
	it.owner = owner
	for _, c := range it.children {
		e.reown(e.items[c], owner)
	}
}

// Step generates n random activities now and returns them. Inactive users never act.
func (e *Emulator) Step(n int) []Activity {
	var out []Activity
	for tries := 0; len(out) < n && tries < n*20; tries++ {
		if a := e.randomActivity(); a.EventID != "" {
			out = append(out, a)
		}
	}
	return out
}

// Run calls Step(1..3) every `every` until ctx ends (demo mode).
func (e *Emulator) Run(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			e.mu.Lock()
			k := 1 + e.rng.IntN(3)
			e.mu.Unlock()
			e.Step(k)
		}
	}
}

// stepWeights is the random mix: about 90 % file activity, 10 % user and group records.
var stepWeights = []struct {
	kind string
	w    int
}{
	{"upload", 14}, {"version", 5}, {"edit", 5}, {"rename", 5}, {"move", 4}, {"trash", 4}, {"restore", 2},
	{"share", 7}, {"update_link", 3}, {"unshare", 3}, {"collab_internal", 4}, {"collab_external", 4},
	{"role", 2}, {"uncollab", 2}, {"download", 13}, {"preview", 12}, {"copy", 1},
	{"login", 7}, {"group_add", 2}, {"group_remove", 1},
}

// randomActivity picks an action and its arguments under the lock, then performs it.
func (e *Emulator) randomActivity() Activity {
	e.mu.Lock()
	total := 0
	for _, s := range stepWeights {
		total += s.w
	}
	r := e.rng.IntN(total)
	kind := ""
	for _, s := range stepWeights {
		if r < s.w {
			kind = s.kind
			break
		}
		r -= s.w
	}
	var active []*user
	for _, u := range e.users {
		if u.status == "active" {
			active = append(active, u)
		}
	}
	if len(active) == 0 {
		e.mu.Unlock()
		return Activity{}
	}
	u := active[e.rng.IntN(len(active))]
	pickOwned := func(typ string, trashed bool) *item {
		ids := e.ownedBy(u.id, typ, trashed)
		if len(ids) == 0 {
			return nil
		}
		return e.items[ids[e.rng.IntN(len(ids))]]
	}
	other := active[e.rng.IntN(len(active))]
	ext := fmt.Sprintf("%s%d@%s", strings.ToLower(firstNames[e.rng.IntN(len(firstNames))]), e.rng.IntN(50), e.o.ExternalDomains[e.rng.IntN(len(e.o.ExternalDomains))])
	accesses := []string{"open", "company", "collaborators"}
	access := accesses[e.rng.IntN(3)]
	roles := []string{"editor", "viewer", "previewer", "uploader", "co-owner"}
	role := roles[e.rng.IntN(len(roles))]
	var (
		f, folder *item
		g         *group
		fileName  = e.randomFileName()
	)
	switch kind {
	case "upload", "copy", "move":
		folders := e.ownedBy(u.id, "folder", false)
		folder = e.items[rootID(u.id)]
		if len(folders) > 0 && e.rng.IntN(4) > 0 {
			folder = e.items[folders[e.rng.IntN(len(folders))]]
		}
		f = pickOwned("", false)
	case "restore":
		f = pickOwned("", true)
	case "download", "preview":
		f = pickOwned("file", false)
		if shared := e.sharedWith(u.id); len(shared) > 0 && e.rng.IntN(3) == 0 {
			f = e.items[shared[e.rng.IntN(len(shared))]]
		}
	case "version", "edit":
		f = pickOwned("file", false)
	case "group_add", "group_remove":
		if len(e.groups) > 0 {
			g = e.groups[e.rng.IntN(len(e.groups))]
		}
	default:
		f = pickOwned("", false)
	}
	e.mu.Unlock()

	id := func() string {
		if f == nil {
			return ""
		}
		return f.id
	}()
	switch kind {
	case "upload":
		_, a := e.Upload(u.id, e.idForActor(folder), fileName, nil)
		return a
	case "version":
		return e.UploadVersion(u.id, id, nil)
	case "edit":
		return e.Edit(u.id, id, nil)
	case "rename":
		if f == nil {
			return Activity{}
		}
		return e.Rename(u.id, id, "renamed-"+fileName)
	case "move":
		return e.Move(u.id, id, e.idForActor(folder))
	case "trash":
		return e.Trash(u.id, id)
	case "restore":
		return e.Restore(u.id, id)
	case "share":
		return e.ShareLink(u.id, id, access)
	case "update_link":
		return e.UpdateLink(u.id, id, access)
	case "unshare":
		return e.Unshare(u.id, id)
	case "collab_internal":
		if f == nil {
			return Activity{}
		}
		return e.Collaborate(u.id, f.typ, id, other.login, role)
	case "collab_external":
		if f == nil {
			return Activity{}
		}
		return e.Collaborate(u.id, f.typ, id, ext, role)
	case "role", "uncollab":
		if f == nil {
			return Activity{}
		}
		e.mu.Lock()
		email := ""
		if len(f.collabs) > 0 {
			c := e.collabs[f.collabs[e.rng.IntN(len(f.collabs))]]
			if c.groupID != "" {
				email = "group:" + c.groupID
			} else {
				email = e.byID[c.userID].login
			}
		}
		e.mu.Unlock()
		if kind == "role" {
			return e.ChangeRole(u.id, f.typ, id, email, role)
		}
		return e.RemoveCollaboration(u.id, f.typ, id, email)
	case "download":
		return e.Download(u.id, id)
	case "preview":
		return e.Preview(u.id, id)
	case "copy":
		return e.Copy(u.id, id, e.idForActor(folder))
	case "login":
		return e.Login(u.id)
	case "group_add", "group_remove":
		if g == nil {
			return Activity{}
		}
		e.mu.Lock()
		n := len(e.records)
		e.mu.Unlock()
		if kind == "group_add" {
			e.AddMember(g.id, other.id)
		} else {
			e.RemoveMember(g.id, other.id)
		}
		e.mu.Lock()
		defer e.mu.Unlock()
		if len(e.records) > n {
			a := e.records[len(e.records)-1].act
			a.Detail = cloneMap(a.Detail)
			return a
		}
	}
	return Activity{}
}

func (e *Emulator) idForActor(f *item) string {
	if f == nil || f.root {
		return "0"
	}
	return f.id
}

// ownedBy lists ids of items owned by uid (typ "" = both), trashed or not.
func (e *Emulator) ownedBy(uid, typ string, trashed bool) []string {
	var out []string
	var walk func(id string)
	walk = func(id string) {
		for _, c := range e.items[id].children {
			it := e.items[c]
			if it.owner == uid && (typ == "" || it.typ == typ) && it.trashed == trashed {
				out = append(out, c)
			}
			if it.typ == "folder" && !it.trashed {
				walk(c)
			}
		}
	}
	walk(rootID(uid))
	return out
}

func principal(c *collab) string {
	if c.groupID != "" {
		return "g:" + c.groupID
	}
	return "u:" + c.userID
}

// collabsFor lists the collaborations that give uid access: direct ones, then via groups.
func (e *Emulator) collabsFor(uid string) []*collab {
	var out []*collab
	keys := []string{"u:" + uid}
	for _, g := range e.groups {
		if slices.Contains(g.members, uid) {
			keys = append(keys, "g:"+g.id)
		}
	}
	for _, k := range keys {
		for _, id := range e.collabIx[k] {
			out = append(out, e.collabs[id])
		}
	}
	return out
}

// sharedWith lists files collaborated to uid (on the file, or directly in a collaborated folder).
func (e *Emulator) sharedWith(uid string) []string {
	var out []string
	for _, c := range e.collabsFor(uid) {
		it := e.items[c.itemID]
		if it == nil || it.owner == uid || !e.visible(it, uid) {
			continue
		}
		if it.typ == "file" {
			out = append(out, it.id)
			continue
		}
		for _, k := range it.children {
			if f := e.items[k]; f.typ == "file" && !f.trashed {
				out = append(out, f.id)
			}
		}
	}
	return out
}
