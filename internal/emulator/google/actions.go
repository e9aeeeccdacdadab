package google

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Scripted actions. Each acts as a user of the domain (by email), changes the domain, logs a
// change for the changes feed (but Download and View, which only the Reports API would see) and
// adds an Activity, the ground truth. Errors: ErrNotFound for an unknown user or file (or one the
// actor cannot see), ErrForbidden for an action the actor's role does not allow.

// Errors of the scripted actions.
var (
	ErrNotFound  = errors.New("google emulator: not found")
	ErrForbidden = errors.New("google emulator: the actor's role does not allow this")
)

// Share is a permission to add (Emulator.Share).
type Share struct {
	Type         string // user | group | domain | anyone
	Role         string // reader | commenter | writer (default reader)
	Email        string // user or group (internal or external)
	Domain       string // domain (default the primary domain)
	Discoverable bool   // allowFileDiscovery for domain and anyone: false is "with the link"
}

// actor resolves an active user. Called with e.mu held.
func (e *Emulator) actor(email string) (*user, error) {
	u := e.byEmail[strings.ToLower(email)]
	if u == nil || u.suspended || u.archived {
		return nil, fmt.Errorf("%w: user %s", ErrNotFound, email)
	}
	return u, nil
}

// target resolves a file u can read, and checks the role an action needs ("" any, "edit": owner,
// writer, organizer or fileOrganizer). Called with e.mu held.
func (e *Emulator) target(u *user, id, need string) (*file, error) {
	f := e.files[id]
	if f == nil || f.root || !e.canRead(u, f) {
		return nil, fmt.Errorf("%w: file %s", ErrNotFound, id)
	}
	if need == "edit" {
		switch e.role(u, f) {
		case "owner", "writer", "organizer", "fileOrganizer":
		default:
			return nil, fmt.Errorf("%w: %s on %s", ErrForbidden, u.email, id)
		}
	}
	return f, nil
}

// parentOf resolves a parent for a new item: "" or "root" is the actor's My Drive, a shared
// drive id its root, else a folder the actor can edit. Called with e.mu held.
func (e *Emulator) parentOf(u *user, parent string) (string, *sharedDrive, error) {
	if parent == "" || parent == "root" {
		return u.root, nil, nil
	}
	if d := e.drivesBy[parent]; d != nil {
		if r := e.driveRole(u, d); r == "" || r == "reader" || r == "commenter" {
			return "", nil, fmt.Errorf("%w: %s in drive %s", ErrForbidden, u.email, parent)
		}
		return d.id, d, nil
	}
	if f := e.files[parent]; f != nil && f.root && f.owner == u {
		return f.id, nil, nil
	}
	f, err := e.target(u, parent, "edit")
	if err != nil {
		return "", nil, err
	}
	if f.mime != MimeFolder {
		return "", nil, fmt.Errorf("%w: %s is not a folder", ErrNotFound, parent)
	}
	return f.id, e.drivesBy[f.drive], nil
}

// Upload creates a file (a Docs editors type, a folder, or binary content; nil content is
// generated) in parent ("" for the actor's My Drive, a folder id, or a shared drive id). Binary
// files are "upload" activities, the others "create".
func (e *Emulator) Upload(actor, parent, name, mime string, content []byte) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	u, err := e.actor(actor)
	if err != nil {
		return "", err
	}
	pid, d, err := e.parentOf(u, parent)
	if err != nil {
		return "", err
	}
	if mime == "" {
		mime = "application/octet-stream"
	}
	var f *file
	act := "upload"
	if mime == MimeFolder || strings.HasPrefix(mime, "application/vnd.google-apps.") {
		act = "create"
	}
	f = &file{id: e.fileID(), deleted: true} // logged as a change from "not there"
	e.files[f.id] = f
	e.mutate(u, f, act, nil, func() {
		nf := e.newFile(u, d, pid, name, mime, content, e.clk.Now())
		delete(e.files, nf.id)
		e.order = e.order[:len(e.order)-1]
		id := f.id
		*f = *nf
		f.id = id
		if f.owner != nil {
			f.perms[0].id = e.userPermID(u)
		}
		e.order = append(e.order, f)
	})
	e.acts[len(e.acts)-1].FileName = f.name
	return f.id, nil
}

// Edit writes a new version: new content (nil: generated) and checksums for binary files, a new
// revision for Docs editors files; modifiedTime and lastModifyingUser change.
func (e *Emulator) Edit(actor, id string, content []byte) error {
	return e.act(actor, id, "edit", "edit", nil, func(u *user, f *file) {
		f.version++
		e.setContent(f, content)
		f.modified, f.lastMod = e.clk.Now(), u
	})
}

// Rename renames a file.
func (e *Emulator) Rename(actor, id, name string) error {
	var old string
	return e.act(actor, id, "edit", "rename", func(f *file) map[string]string {
		old = f.name
		return map[string]string{"old_value": old, "new_value": name}
	}, func(u *user, f *file) {
		f.name, f.version, f.modified, f.lastMod = name, f.version+1, e.clk.Now(), u
	})
}

// Move moves a file into another folder ("" for the actor's My Drive) within its drive.
func (e *Emulator) Move(actor, id, folder string) error {
	e.mu.Lock()
	u, err := e.actor(actor)
	var pid string
	var d *sharedDrive
	if err == nil {
		pid, d, err = e.parentOf(u, folder)
	}
	if f := e.files[id]; err == nil && f != nil && ((d == nil) != (f.drive == "") || (d != nil && d.id != f.drive)) {
		err = fmt.Errorf("%w: moving between drives is not emulated", ErrForbidden)
	}
	e.mu.Unlock()
	if err != nil {
		return err
	}
	return e.act(actor, id, "edit", "move", func(f *file) map[string]string {
		return map[string]string{"source_folder_id": f.parent, "destination_folder_id": pid,
			"source_folder_title": e.folderTitle(f.parent), "destination_folder_title": e.folderTitle(pid)}
	}, func(u *user, f *file) {
		f.parent, f.version = pid, f.version+1
	})
}

// Trash moves a file to the trash (it stays in the feed, trashed).
func (e *Emulator) Trash(actor, id string) error {
	return e.act(actor, id, "edit", "trash", nil, func(u *user, f *file) {
		f.trashed, f.version, f.trashedAt, f.trashedBy = true, f.version+1, e.clk.Now(), u
	})
}

// Untrash restores a file from the trash.
func (e *Emulator) Untrash(actor, id string) error {
	return e.act(actor, id, "edit", "untrash", nil, func(u *user, f *file) {
		f.trashed, f.version, f.trashedAt, f.trashedBy = false, f.version+1, time.Time{}, nil
	})
}

// Delete deletes a file for good: the feed reports it removed.
func (e *Emulator) Delete(actor, id string) error {
	return e.act(actor, id, "edit", "delete", nil, func(u *user, f *file) { f.deleted = true })
}

// Share adds a permission (My Drive items; shared drive items share through the drive's members)
// and returns its id: a user or group ("change_user_access"), the domain or anyone
// ("change_document_visibility").
func (e *Emulator) Share(actor, id string, s Share) (string, error) {
	if s.Role == "" {
		s.Role = "reader"
	}
	p := &perm{typ: s.Type, role: s.Role, discover: s.Discoverable}
	name := "change_user_access"
	switch s.Type {
	case "user", "group":
		p.email, p.name = strings.ToLower(s.Email), s.Email
	case "domain":
		p.domain, name = s.Domain, "change_document_visibility"
		if p.domain == "" {
			p.domain = e.o.Domain
		}
		p.name = p.domain
	case "anyone":
		name = "change_document_visibility"
	default:
		return "", fmt.Errorf("%w: share type %q", ErrForbidden, s.Type)
	}
	var pid string
	err := e.act(actor, id, "edit", name, func(f *file) map[string]string {
		d := map[string]string{"target": p.email + p.domain, "type": s.Type, "role": s.Role, "discoverable": fmt.Sprint(s.Discoverable)}
		for _, q := range f.perms {
			if q.typ == p.typ && q.email+q.domain == p.email+p.domain {
				d["old_role"] = q.role // a principal's permission is replaced
			}
		}
		return d
	}, func(u *user, f *file) {
		if p.typ == "user" {
			if v := e.byEmail[p.email]; v != nil {
				p.name = v.name()
			}
		} else if g := e.groupsBy[p.email]; p.typ == "group" && g != nil {
			p.name = g.name
		}
		pid = e.addPerm(f, p).id
	})
	return pid, err
}

// Unshare removes a permission (not the owner's): "change_user_access" for a user or group,
// "change_document_visibility" for the domain or anyone, as Share names them.
func (e *Emulator) Unshare(actor, id, permID string) error {
	e.mu.Lock()
	f := e.files[id]
	var gone *perm
	if f != nil {
		for _, p := range f.perms {
			if p.id == permID && p.role != "owner" {
				gone = p
			}
		}
	}
	var d map[string]string
	name := "change_user_access"
	if gone != nil {
		d = map[string]string{"permission_id": permID, "new_value": "none", "target": gone.email + gone.domain, "type": gone.typ,
			"role": gone.role, "discoverable": fmt.Sprint(gone.discover)}
		if gone.typ == "domain" || gone.typ == "anyone" {
			name = "change_document_visibility"
		}
	}
	e.mu.Unlock()
	if gone == nil {
		return fmt.Errorf("%w: permission %s on %s", ErrNotFound, permID, id)
	}
	return e.act(actor, id, "edit", name, func(f *file) map[string]string { return d }, func(u *user, f *file) {
		for i, p := range f.perms {
			if p.id == permID {
				f.perms = append(f.perms[:i:i], f.perms[i+1:]...)
				break
			}
		}
	})
}

// Copy copies a file the actor can read into the actor's My Drive (or beside it in its shared
// drive) and returns the copy's id.
func (e *Emulator) Copy(actor, id string) (string, error) {
	e.mu.Lock()
	u, err := e.actor(actor)
	var src *file
	if err == nil {
		src, err = e.target(u, id, "")
	}
	if err != nil {
		e.mu.Unlock()
		return "", err
	}
	parent, content, name, mime := "", src.data, "Copy of "+src.name, src.mime
	if src.drive != "" && e.driveRole(u, e.drivesBy[src.drive]) != "" {
		parent = src.parent
	}
	e.record(u, src, "source_copy", false, nil)
	e.mu.Unlock()
	nid, err := e.Upload(actor, parent, name, mime, append([]byte(nil), content...))
	if err == nil {
		e.mu.Lock()
		a := &e.acts[len(e.acts)-1]
		a.Name, a.Detail = "copy", map[string]string{"source_id": id}
		e.mu.Unlock()
	}
	return nid, err
}

// Download records a download by the actor: no change in the feed, an Activity only.
func (e *Emulator) Download(actor, id string) error { return e.look(actor, id, "download") }

// View records a view by the actor: no change in the feed, an Activity only.
func (e *Emulator) View(actor, id string) error { return e.look(actor, id, "view") }

func (e *Emulator) look(actor, id, name string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	u, err := e.actor(actor)
	if err != nil {
		return err
	}
	f, err := e.target(u, id, "")
	if err != nil {
		return err
	}
	e.record(u, f, name, false, nil)
	return nil
}

// act runs one feed action on a file the actor may act on.
func (e *Emulator) act(actor, id, need, name string, detail func(*file) map[string]string, fn func(*user, *file)) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	u, err := e.actor(actor)
	if err != nil {
		return err
	}
	f, err := e.target(u, id, need)
	if err != nil {
		return err
	}
	var d map[string]string
	if detail != nil {
		d = detail(f)
	}
	e.mutate(u, f, name, d, func() { fn(u, f) })
	return nil
}

// Step performs n random actions by random active users, deterministic by Options.Seed: uploads,
// edits, renames, moves, trashes, deletes, shares (a user, a group, the domain, anyone with the
// link, an external address), unshares, copies, downloads and views.
func (e *Emulator) Step(n int) {
	for i := 0; i < n; i++ {
		e.mu.Lock()
		act := e.pick(1)
		if len(act) == 0 {
			e.mu.Unlock()
			return
		}
		u := act[0]
		var mine []*file
		for _, f := range e.order {
			if !f.deleted && !f.root && f.mime != MimeFolder {
				if r := e.role(u, f); r == "owner" || r == "writer" || r == "organizer" || r == "fileOrganizer" {
					mine = append(mine, f)
				}
			}
		}
		r := e.rng.IntN(100)
		var f *file
		if len(mine) > 0 {
			f = mine[e.rng.IntN(len(mine))]
		}
		name, mime := e.title(e.rng.IntN(3)), e.mimePick()
		if !strings.HasPrefix(mime, "application/vnd.google-apps.") {
			name += extOf(mime)
		}
		var ext string
		if e.rng.IntN(2) == 0 {
			ext = fmt.Sprintf("%s@%s", strings.ToLower(givenNames[e.rng.IntN(len(givenNames))]), e.o.ExternalDomains[e.rng.IntN(len(e.o.ExternalDomains))])
		} else {
			ext = e.pick(1)[0].email
		}
		newName := e.title(e.rng.IntN(3)) + " v" + fmt.Sprint(e.rng.IntN(9)+2)
		e.mu.Unlock()
		if f == nil || r < 15 {
			e.Upload(u.email, "", name, mime, nil)
			continue
		}
		if f.native() || f.drive != "" {
			newName = strings.TrimSuffix(newName, extOf(f.mime))
		} else {
			newName += extOf(f.mime)
		}
		switch {
		case r < 35:
			e.Edit(u.email, f.id, nil)
		case r < 43:
			e.Rename(u.email, f.id, newName)
		case r < 47:
			e.Move(u.email, f.id, "")
		case r < 52:
			e.Trash(u.email, f.id)
		case r < 55:
			e.Delete(u.email, f.id)
		case r < 65 && f.drive == "":
			kinds := []Share{{Type: "user", Email: ext, Role: "writer"}, {Type: "anyone"}, {Type: "domain"}, {Type: "user", Email: ext}}
			e.Share(u.email, f.id, kinds[e.rng.IntN(len(kinds))])
		case r < 69 && f.drive == "" && len(f.perms) > 1:
			e.Unshare(u.email, f.id, f.perms[len(f.perms)-1].id)
		case r < 74:
			e.Copy(u.email, f.id)
		case r < 87:
			e.Download(u.email, f.id)
		default:
			e.View(u.email, f.id)
		}
	}
}
