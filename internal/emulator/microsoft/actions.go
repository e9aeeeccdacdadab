package microsoft

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Scripted actions. Each acts as a user of the tenant (by userPrincipalName), changes the tenant,
// logs the change for delta where Graph shows it, and adds an Activity, the ground truth, named
// as the Audit.SharePoint operation Microsoft records for it. Errors: ErrNotFound for an unknown
// or disabled user, or an item the actor cannot see; ErrForbidden for what the actor may not do.

var (
	ErrNotFound  = errors.New("microsoft emulator: not found")
	ErrForbidden = errors.New("microsoft emulator: forbidden")
)

// Sharing link scopes and types (permission resource: link.scope, link.type).
const (
	ScopeAnonymous    = "anonymous"
	ScopeOrganization = "organization"
	ScopeUsers        = "users"
	LinkView          = "view"
	LinkEdit          = "edit"
)

func (e *Emulator) actor(upn string) (*user, error) {
	u := e.userByKey(upn)
	if u == nil || !u.enabled {
		return nil, fmt.Errorf("%w: user %s", ErrNotFound, upn)
	}
	return u, nil
}

// access is u's access to it: "owner", "write", "read" or "".
func (e *Emulator) access(u *user, it *item) string {
	if it.deleted {
		return ""
	}
	if it.drive.owner == u {
		return "owner"
	}
	best := ""
	for p := it; p != nil; p = p.parent { // shares of a folder reach what is in it
		for _, pm := range p.perms {
			ok := false
			switch pm.kind {
			case "direct":
				ok = pm.to == u
			case "link":
				ok = pm.linkScope != ScopeUsers || contains(pm.grantees, strings.ToLower(u.upn))
			}
			if ok {
				if pm.roles[0] == "write" {
					return "write"
				}
				best = "read"
			}
		}
	}
	return best
}

// target resolves an item u may act on (need "write" or "read"). Called with e.mu held.
func (e *Emulator) target(u *user, id, need string) (*item, error) {
	it := e.items[id]
	if it == nil || it.root {
		return nil, fmt.Errorf("%w: item %s", ErrNotFound, id)
	}
	a := e.access(u, it)
	if a == "" {
		return nil, fmt.Errorf("%w: item %s", ErrNotFound, id)
	}
	if need == "write" && a == "read" {
		return nil, fmt.Errorf("%w: %s may not change %s", ErrForbidden, u.upn, id)
	}
	return it, nil
}

// folderFor resolves a folder u may add to: "" is u's own root. Called with e.mu held.
func (e *Emulator) folderFor(u *user, id string) (*item, error) {
	if id == "" || id == "root" {
		if u.drive == nil {
			return nil, fmt.Errorf("%w: %s has no OneDrive", ErrForbidden, u.upn)
		}
		return u.drive.root, nil
	}
	it := e.items[id]
	if it != nil && it.root && it.drive.owner == u {
		return it, nil
	}
	f, err := e.target(u, id, "write")
	if err != nil {
		return nil, err
	}
	if !f.folder {
		return nil, fmt.Errorf("%w: %s is not a folder", ErrForbidden, id)
	}
	return f, nil
}

// record adds an Activity. Called with e.mu held.
// Its Audit.SharePoint record is made now, from the state right after the action (mgmt.go).
func (e *Emulator) record(u *user, it *item, op string, inDelta bool, detail map[string]string) {
	a := Activity{ID: e.newGUID(), Operation: op, At: e.clk.Now(), Actor: u.upn, DriveID: it.drive.id,
		ItemID: it.id, ItemName: it.name, Owner: it.drive.owner.upn, Delta: inDelta, Detail: detail}
	e.acts = append(e.acts, a)
	e.auditFor(a, u, it)
	if inDelta {
		e.notifyDrive(it.drive)
	}
}

// changed marks a content or metadata change of it by u.
func (e *Emulator) changed(u *user, it *item) {
	it.version++
	it.modified, it.modBy = e.clk.Now(), u
	e.touch(it)
}

// Upload creates a file in folder ("" for the actor's own OneDrive root) and returns its id;
// content nil is generated from the seed. A name taken in the folder gets a number (OneDrive's
// conflictBehavior rename). FileUploaded.
func (e *Emulator) Upload(actor, folder, name string, content []byte) (string, error) {
	return e.create(actor, folder, name, false, content)
}

// CreateFolder creates a folder. FolderCreated.
func (e *Emulator) CreateFolder(actor, folder, name string) (string, error) {
	return e.create(actor, folder, name, true, nil)
}

func (e *Emulator) create(actor, folder, name string, isFolder bool, content []byte) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	u, err := e.actor(actor)
	if err != nil {
		return "", err
	}
	parent, err := e.folderFor(u, folder)
	if err != nil {
		return "", err
	}
	if name == "" {
		name = e.title(e.rng.IntN(3))
		if !isFolder {
			name += "." + fileTypes[e.rng.IntN(len(fileTypes))].ext
		}
	}
	if content != nil {
		content = append([]byte(nil), content...)
	}
	it := e.newItem(u, parent, name, isFolder, content, e.clk.Now())
	e.changed(u, parent)
	op := "FileUploaded"
	if isFolder {
		op = "FolderCreated"
	}
	e.record(u, it, op, true, map[string]string{"parent_id": parent.id})
	return it.id, nil
}

// Edit replaces a file's content (nil: generated). FileModified.
func (e *Emulator) Edit(actor, id string, content []byte) error {
	return e.act(actor, id, func(u *user, it *item) (string, map[string]string, error) {
		if it.folder {
			return "", nil, fmt.Errorf("%w: %s is a folder", ErrForbidden, id)
		}
		if content != nil {
			content = append([]byte(nil), content...)
		}
		e.setContent(it, content)
		e.changed(u, it)
		return "FileModified", nil, nil
	})
}

// Rename renames an item. FileRenamed (FolderRenamed for a folder).
func (e *Emulator) Rename(actor, id, name string) error {
	return e.act(actor, id, func(u *user, it *item) (string, map[string]string, error) {
		old := it.name
		it.name = e.uniqueNameFor(it.parent, name, it)
		e.changed(u, it)
		op := "FileRenamed"
		if it.folder {
			op = "FolderRenamed"
		}
		return op, map[string]string{"old_name": old, "new_name": it.name}, nil
	})
}

// Move moves an item into another folder of its drive ("" for the drive's root). FileMoved
// (FolderMoved for a folder).
func (e *Emulator) Move(actor, id, folder string) error {
	return e.act(actor, id, func(u *user, it *item) (string, map[string]string, error) {
		dest := it.drive.root
		if folder != "" && folder != "root" {
			dest = e.items[folder]
			if dest == nil || dest.deleted || !dest.folder || dest.drive != it.drive {
				return "", nil, fmt.Errorf("%w: folder %s in the item's drive", ErrNotFound, folder)
			}
		}
		for p := dest; p != nil; p = p.parent {
			if p == it {
				return "", nil, fmt.Errorf("%w: a folder cannot move into itself", ErrForbidden)
			}
		}
		from := it.parent
		it.parent = dest
		it.name = e.uniqueNameFor(dest, it.name, it) // a name taken in the destination gets a number; the item is not its own clash
		e.changed(u, it)
		op := "FileMoved"
		if it.folder {
			op = "FolderMoved"
		}
		return op, map[string]string{"from_parent": from.id, "to_parent": dest.id}, nil
	})
}

// Delete sends an item to the recycle bin: delta reports it, and everything in a folder, deleted.
// FileRecycled (FolderRecycled for a folder).
func (e *Emulator) Delete(actor, id string) error {
	return e.act(actor, id, func(u *user, it *item) (string, map[string]string, error) {
		var del func(x *item)
		del = func(x *item) {
			var kids []*item
			for _, c := range x.drive.items {
				if c.parent == x && !c.deleted {
					kids = append(kids, c)
				}
			}
			sortItems(kids)
			for _, c := range kids {
				del(c)
			}
			x.deleted = true
			x.modified = e.clk.Now()
			e.touch(x)
		}
		del(it)
		e.changed(u, it.parent)
		op := "FileRecycled"
		if it.folder {
			op = "FolderRecycled"
		}
		return op, nil, nil
	})
}

// ShareLink creates (or reuses) a sharing link of scope (ScopeAnonymous, ScopeOrganization,
// ScopeUsers) and type (LinkView, LinkEdit) and returns the permission id; a users link is for
// recipients (addresses of the tenant or external). AnonymousLinkCreated, CompanyLinkCreated or
// SecureLinkCreated, and AddedToSecureLink for each recipient.
func (e *Emulator) ShareLink(actor, id, scope, typ string, recipients ...string) (string, error) {
	switch scope {
	case ScopeAnonymous, ScopeOrganization, ScopeUsers:
	default:
		return "", fmt.Errorf("%w: link scope %q", ErrForbidden, scope)
	}
	if typ != LinkView && typ != LinkEdit {
		return "", fmt.Errorf("%w: link type %q", ErrForbidden, typ)
	}
	if scope == ScopeUsers && len(recipients) == 0 {
		return "", fmt.Errorf("%w: a users link needs recipients", ErrForbidden)
	}
	var pid string
	err := e.act(actor, id, func(u *user, it *item) (string, map[string]string, error) {
		var to []string
		if scope == ScopeUsers {
			to = recipients
		}
		p := e.addLink(u, it, scope, typ, to)
		pid = p.id
		e.touchSharing(it)
		op := map[string]string{ScopeAnonymous: "AnonymousLinkCreated", ScopeOrganization: "CompanyLinkCreated", ScopeUsers: "SecureLinkCreated"}[scope]
		return op, map[string]string{"scope": scope, "type": typ, "permission_id": p.id}, nil
	})
	if err == nil && scope == ScopeUsers {
		e.mu.Lock()
		u, it := e.userByKey(actor), e.items[id]
		for _, r := range recipients {
			e.record(u, it, "AddedToSecureLink", true, map[string]string{"target": strings.ToLower(r), "permission_id": pid, "external": fmt.Sprint(!e.internal(r))})
		}
		e.mu.Unlock()
	}
	return pid, err
}

// Invite shares an item with one address with role "read" or "write" and returns the
// permission id: a user of the tenant directly (SharingSet), an external address by invitation
// (SharingInvitationCreated).
func (e *Emulator) Invite(actor, id, email, role string) (string, error) {
	if role != "read" && role != "write" {
		return "", fmt.Errorf("%w: role %q", ErrForbidden, role)
	}
	var pid string
	err := e.act(actor, id, func(u *user, it *item) (string, map[string]string, error) {
		detail := map[string]string{"target": strings.ToLower(email), "role": role}
		if e.internal(email) {
			to := e.userByKey(email)
			if to == nil {
				return "", nil, fmt.Errorf("%w: user %s", ErrNotFound, email)
			}
			pid = e.addDirect(it, to, role).id
			detail["permission_id"] = pid
			e.touchSharing(it)
			return "SharingSet", detail, nil
		}
		pid = e.addInvite(u, it, email, role).id
		detail["permission_id"], detail["external"] = pid, "true"
		e.touchSharing(it)
		return "SharingInvitationCreated", detail, nil
	})
	return pid, err
}

// ShareExternal invites an address outside the tenant (Invite, for external addresses only).
func (e *Emulator) ShareExternal(actor, id, email, role string) (string, error) {
	if e.internal(email) {
		return "", fmt.Errorf("%w: %s is in the tenant", ErrForbidden, email)
	}
	return e.Invite(actor, id, email, role)
}

// Unshare removes a permission (not the owner's). SharedLinkDisabled for a link, SharingRevoked
// otherwise.
func (e *Emulator) Unshare(actor, id, permID string) error {
	return e.act(actor, id, func(u *user, it *item) (string, map[string]string, error) {
		for i, p := range it.perms {
			if p.id == permID && p.kind != "owner" {
				it.perms = append(it.perms[:i:i], it.perms[i+1:]...)
				e.touchSharing(it)
				op := "SharingRevoked"
				if p.kind == "link" {
					op = "SharedLinkDisabled"
				}
				return op, map[string]string{"permission_id": permID}, nil
			}
		}
		return "", nil, fmt.Errorf("%w: permission %s on %s", ErrNotFound, permID, id)
	})
}

// Download records a download by the actor (any access): an Activity only. FileDownloaded.
func (e *Emulator) Download(actor, id string) error { return e.read(actor, id, "FileDownloaded") }

// View records that the actor opened a file (any access): an Activity only. FileAccessed.
func (e *Emulator) View(actor, id string) error { return e.read(actor, id, "FileAccessed") }

func (e *Emulator) read(actor, id, op string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	u, err := e.actor(actor)
	if err != nil {
		return err
	}
	it, err := e.target(u, id, "read")
	if err != nil {
		return err
	}
	if it.folder {
		return fmt.Errorf("%w: %s is a folder", ErrForbidden, id)
	}
	e.record(u, it, op, false, nil)
	return nil
}

// act runs one write action on an item the actor may change.
func (e *Emulator) act(actor, id string, fn func(*user, *item) (string, map[string]string, error)) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	u, err := e.actor(actor)
	if err != nil {
		return err
	}
	it, err := e.target(u, id, "write")
	if err != nil {
		return err
	}
	op, detail, err := fn(u, it)
	if err != nil {
		return err
	}
	e.record(u, it, op, true, detail)
	return nil
}

// AddUser adds a user (licensed: with a OneDrive) and returns its id.
func (e *Emulator) AddUser(given, family string, licensed bool) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	local := strings.ToLower(given + "." + family)
	upn := local + "@" + e.o.Domain
	for n := 2; e.usersBy[upn] != nil; n++ {
		upn = fmt.Sprintf("%s%d@%s", local, n, e.o.Domain)
	}
	u := &user{id: e.newGUID(), upn: upn, given: given, family: family, enabled: true, licensed: licensed, created: e.clk.Now()}
	e.addUser(u)
	return u.id
}

// SetLicensed assigns (a OneDrive is provisioned) or removes a user's license (the drive stays,
// as OneDrive keeps it for a retention period; /users/{id}/drive answers it).
func (e *Emulator) SetLicensed(upn string, licensed bool) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	u := e.userByKey(upn)
	if u == nil {
		return fmt.Errorf("%w: user %s", ErrNotFound, upn)
	}
	u.licensed = licensed
	if licensed && u.drive == nil {
		e.provisionDrive(u)
	}
	return nil
}

// SetEnabled sets a user's accountEnabled.
func (e *Emulator) SetEnabled(upn string, enabled bool) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	u := e.userByKey(upn)
	if u == nil {
		return fmt.Errorf("%w: user %s", ErrNotFound, upn)
	}
	u.enabled = enabled
	return nil
}

// Step performs n random actions by random enabled users with a OneDrive, deterministic by
// Options.Seed: uploads, folders, edits, renames, moves, deletes, sharing links of every scope,
// invitations (internal and external), unshares and downloads.
func (e *Emulator) Step(n int) {
	for i := 0; i < n; i++ {
		e.mu.Lock()
		var act []*user
		for _, u := range e.pick(len(e.users)) {
			if u.drive != nil {
				act = append(act, u)
			}
		}
		if len(act) == 0 {
			e.mu.Unlock()
			return
		}
		u := act[0]
		var mine, folders []*item
		for _, it := range u.drive.items {
			if it.deleted || it.root {
				continue
			}
			if it.folder {
				folders = append(folders, it)
			} else {
				mine = append(mine, it)
			}
		}
		sortItems(mine)
		sortItems(folders)
		r := e.rng.IntN(100)
		var it *item
		if len(mine) > 0 {
			it = mine[e.rng.IntN(len(mine))]
		}
		dest := ""
		if len(folders) > 0 && e.rng.IntN(2) == 0 {
			dest = folders[e.rng.IntN(len(folders))].id
		}
		other := act[len(act)-1].upn
		ext := e.externalAddress()
		newName := e.title(e.rng.IntN(3)) + " v" + fmt.Sprint(e.rng.IntN(9)+2)
		if it != nil {
			if i := strings.LastIndex(it.name, "."); i > 0 {
				newName += it.name[i:]
			}
		}
		scopes := []string{ScopeAnonymous, ScopeOrganization, ScopeUsers}
		scope, typ := scopes[e.rng.IntN(3)], []string{LinkView, LinkEdit}[e.rng.IntN(2)]
		var unshare string
		if it != nil && len(it.perms) > 1 {
			unshare = it.perms[len(it.perms)-1].id
		}
		e.mu.Unlock()
		if it == nil || r < 18 {
			e.Upload(u.upn, dest, "", nil)
			continue
		}
		switch {
		case r < 21:
			e.CreateFolder(u.upn, dest, "")
		case r < 40:
			e.Edit(u.upn, it.id, nil)
		case r < 47:
			e.Rename(u.upn, it.id, newName)
		case r < 52:
			e.Move(u.upn, it.id, dest)
		case r < 57:
			e.Delete(u.upn, it.id)
		case r < 65:
			e.ShareLink(u.upn, it.id, scope, typ, other, ext)
		case r < 70:
			e.Invite(u.upn, it.id, ext, "read")
		case r < 73 && other != u.upn:
			e.Invite(u.upn, it.id, other, "write")
		case r < 77 && unshare != "":
			e.Unshare(u.upn, it.id, unshare)
		case r < 88:
			e.Download(u.upn, it.id)
		default:
			e.View(u.upn, it.id)
		}
	}
}

func sortItems(s []*item) { sort.Slice(s, func(i, j int) bool { return s[i].id < s[j].id }) }
