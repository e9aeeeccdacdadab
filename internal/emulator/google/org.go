package google

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// Google Docs editors MIME types (no content of their own: export, no checksums, no size).
const (
	MimeFolder = "application/vnd.google-apps.folder"
	MimeDoc    = "application/vnd.google-apps.document"
	MimeSheet  = "application/vnd.google-apps.spreadsheet"
	MimeSlides = "application/vnd.google-apps.presentation"
)

type user struct {
	id, email, given, family   string
	admin, suspended, archived bool
	root                       string // My Drive root folder id
	created                    time.Time
}

func (u *user) name() string { return u.given + " " + u.family }

type group struct {
	id, email, name string
	members         []string // user and group emails
}

type perm struct {
	id, typ, role string // typ user|group|domain|anyone; role owner|organizer|fileOrganizer|writer|commenter|reader
	email, domain string
	name          string // displayName
	discover      bool   // allowFileDiscovery (domain, anyone)
}

type sharedDrive struct {
	id, name string
	created  time.Time
	members  []*perm // type user or group
}

type file struct {
	id, name, mime    string
	parent            string // a folder id, a My Drive root or a shared drive id ("" for a root)
	owner             *user  // nil for shared drive items
	drive             string // shared drive id
	created, modified time.Time
	trashed, deleted  bool
	trashedAt         time.Time // when trashed (Drive gives it for shared drive items only)
	trashedBy         *user
	root              bool // a user's My Drive root folder
	lastMod           *user
	version           int64
	size              int64
	md5, sha1, sha256 string
	perms             []*perm // My Drive items only (shared drive items inherit the drive's members)
	data              []byte  // explicit content of a scripted upload; nil: generated from the seed
}

func (f *file) native() bool { return strings.HasPrefix(f.mime, "application/vnd.google-apps.") }

var (
	givenNames  = []string{"Ada", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jon", "Kemi", "Lars", "Maya", "Nils", "Omar", "Priya", "Quinn", "Rosa", "Sam", "Tara", "Uma", "Viktor", "Wen", "Xavi", "Yara", "Zoe"}
	familyNames = []string{"Adams", "Baker", "Costa", "Dubois", "Evans", "Fischer", "Garcia", "Huang", "Ivanova", "Jensen", "Kim", "Lopez", "Moreau", "Novak", "Okafor", "Patel", "Rossi", "Singh", "Tanaka", "Weber"}
	words       = []string{"budget", "roadmap", "contract", "invoice", "design", "notes", "report", "plan", "salaries", "customers", "pricing", "review", "offer", "minutes", "forecast", "export"}
	binaryTypes = []struct{ mime, ext string }{{"application/pdf", "pdf"}, {"application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx"}, {"image/png", "png"}, {"text/plain", "txt"}, {"text/csv", "csv"}, {"application/zip", "zip"}}
	nativeTypes = []string{MimeDoc, MimeSheet, MimeSlides}
)

// splitmix is a deterministic id scrambler.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func (e *Emulator) bytesFor(n int) []byte {
	e.seq++
	var b []byte
	for i := uint64(0); len(b) < n; i++ {
		b = binary.BigEndian.AppendUint64(b, splitmix(uint64(e.o.Seed)^uint64(e.seq)<<20^i))
	}
	return b[:n]
}

// fileID looks like a Drive id: 33 URL-safe characters starting with "1".
func (e *Emulator) fileID() string { return "1" + base64.RawURLEncoding.EncodeToString(e.bytesFor(24)) }

// driveID looks like a shared drive (or My Drive root) id: "0A" and 17 characters.
func (e *Emulator) driveID() string {
	return "0A" + base64.RawURLEncoding.EncodeToString(e.bytesFor(15))[:17]
}

func (e *Emulator) userID() string {
	return fmt.Sprintf("1%020d", binary.BigEndian.Uint64(e.bytesFor(8))%1e19)
}

func (e *Emulator) groupID() string {
	return "0" + strings.ToLower(hex.EncodeToString(e.bytesFor(7)))
}

func (e *Emulator) permID() string {
	return fmt.Sprintf("%020d", binary.BigEndian.Uint64(e.bytesFor(8))%1e19)
}

// ago is a time in the last n days before now, to the millisecond.
func (e *Emulator) ago(days int) time.Time {
	d := time.Duration(e.rng.Int64N(int64(days) * int64(24*time.Hour)))
	return e.clk.Now().Add(-d).Truncate(time.Millisecond)
}

// generate builds the domain. Called with e.mu held. Generation is not in the changes log (a
// client's start page token is taken after it) nor in Activities.
func (e *Emulator) generate() {
	o := e.o
	used := map[string]bool{}
	for i := 0; i < o.Users; i++ {
		u := &user{id: e.userID(), created: e.ago(700)}
		if i == 0 {
			u.given, u.family, u.email, u.admin = "Admin", "Istrator", "admin@"+o.Domain, true
		} else {
			u.given, u.family = givenNames[e.rng.IntN(len(givenNames))], familyNames[e.rng.IntN(len(familyNames))]
			local := strings.ToLower(u.given + "." + u.family)
			for n := 2; used[local]; n++ {
				local = fmt.Sprintf("%s.%s%d", strings.ToLower(u.given), strings.ToLower(u.family), n)
			}
			used[local] = true
			u.email = local + "@" + o.Domain
		}
		switch {
		case i > 0 && i >= o.Users-o.ArchivedUsers:
			u.archived = true
		case i > 0 && i >= o.Users-o.ArchivedUsers-o.SuspendedUsers:
			u.suspended = true
		}
		e.users = append(e.users, u)
		e.byEmail[u.email] = u
		e.byID[u.id] = u
		root := &file{id: e.driveID(), name: "My Drive", mime: MimeFolder, owner: u, created: u.created, modified: u.created, root: true, lastMod: u, version: 1}
		u.root = root.id
		e.files[root.id] = root
	}
	for i := 0; i < o.Groups; i++ {
		w := words[i%len(words)]
		g := &group{id: e.groupID(), name: strings.ToUpper(w[:1]) + w[1:] + " team", email: fmt.Sprintf("%s-team@%s", w, o.Domain)}
		if k := i / len(words); k > 0 { // group emails are unique
			g.name, g.email = fmt.Sprintf("%s %d", g.name, k+1), fmt.Sprintf("%s-team%d@%s", w, k+1, o.Domain)
		}
		for _, u := range e.pick(2 + e.rng.IntN(4)) {
			g.members = append(g.members, u.email)
		}
		e.groups = append(e.groups, g)
		e.groupsBy[g.email] = g
		e.groupsBy[g.id] = g
	}
	if len(e.groups) > 1 { // a nested group: the second group is a member of the first
		e.groups[0].members = append(e.groups[0].members, e.groups[1].email)
	}
	for _, u := range e.users {
		folders := []string{u.root}
		for j := 0; j < o.FoldersPerUser; j++ {
			f := e.newFile(u, nil, folders[e.rng.IntN(len(folders))], e.title(j), MimeFolder, nil, e.ago(300))
			folders = append(folders, f.id)
		}
		for j := 0; j < o.FilesPerUser; j++ {
			f := e.newFile(u, nil, folders[e.rng.IntN(len(folders))], "", e.mimePick(), nil, e.ago(300))
			e.randomShare(u, f)
		}
	}
	for i := 0; i < o.SharedDrives; i++ {
		d := &sharedDrive{id: e.driveID(), name: fmt.Sprintf("%s %s", strings.ToUpper(words[(i+3)%len(words)][:1])+words[(i+3)%len(words)][1:], "Shared"), created: e.ago(400)}
		for k, u := range e.pick(2 + e.rng.IntN(3)) {
			role := "writer"
			if k == 0 {
				role = "organizer"
			}
			d.members = append(d.members, &perm{id: e.permID(), typ: "user", role: role, email: u.email, name: u.name()})
		}
		if len(e.groups) > 0 {
			g := e.groups[i%len(e.groups)]
			d.members = append(d.members, &perm{id: e.permID(), typ: "group", role: "reader", email: g.email, name: g.name})
		}
		e.drives = append(e.drives, d)
		e.drivesBy[d.id] = d
		folders := []string{d.id}
		var creators []*perm
		for _, p := range d.members {
			if p.typ == "user" {
				creators = append(creators, p)
			}
		}
		for j := 0; j < o.FilesPerDrive; j++ {
			by := e.byEmail[creators[e.rng.IntN(len(creators))].email]
			mime := e.mimePick()
			if j%4 == 0 {
				mime = MimeFolder
			}
			f := e.newFile(by, d, folders[e.rng.IntN(len(folders))], "", mime, nil, e.ago(300))
			if mime == MimeFolder {
				folders = append(folders, f.id)
			}
		}
	}
}

// pick returns n distinct active users (the admin included), in a random order.
func (e *Emulator) pick(n int) []*user {
	var act []*user
	for _, u := range e.users {
		if !u.suspended && !u.archived {
			act = append(act, u)
		}
	}
	e.rng.Shuffle(len(act), func(i, j int) { act[i], act[j] = act[j], act[i] })
	return act[:min(n, len(act))]
}

func (e *Emulator) title(j int) string {
	w := words[e.rng.IntN(len(words))]
	return fmt.Sprintf("%s%s %d", strings.ToUpper(w[:1]), w[1:], 2024+j%3)
}

func (e *Emulator) mimePick() string {
	if e.rng.IntN(3) == 0 {
		return nativeTypes[e.rng.IntN(len(nativeTypes))]
	}
	return binaryTypes[e.rng.IntN(len(binaryTypes))].mime
}

func extOf(mime string) string {
	for _, t := range binaryTypes {
		if t.mime == mime {
			return "." + t.ext
		}
	}
	return ""
}

// newFile creates a file or folder owned by u (My Drive) or in shared drive d, created by u.
// content nil: generated. Called with e.mu held.
func (e *Emulator) newFile(u *user, d *sharedDrive, parent, name, mime string, content []byte, at time.Time) *file {
	if name == "" {
		name = e.title(e.rng.IntN(3))
		if mime != MimeFolder {
			name += extOf(mime)
		}
	}
	f := &file{id: e.fileID(), name: name, mime: mime, parent: parent, created: at, modified: at, lastMod: u, version: 1, data: content}
	if d != nil {
		f.drive = d.id
	} else {
		f.owner = u
		f.perms = []*perm{{id: e.userPermID(u), typ: "user", role: "owner", email: u.email, name: u.name()}}
	}
	e.setContent(f, content)
	e.files[f.id] = f
	e.order = append(e.order, f)
	return f
}

// userPermID is the stable permission id of a user (Drive's permission ids for users are the same
// on every file).
func (e *Emulator) userPermID(u *user) string { return u.id[1:] }

// setContent gives f a new version of its content (explicit or generated) and its checksums.
func (e *Emulator) setContent(f *file, content []byte) {
	if f.mime == MimeFolder || f.native() {
		f.size, f.md5, f.sha1, f.sha256, f.data = 0, "", "", "", nil
		return
	}
	if content == nil {
		n := e.o.MinFileSize + e.rng.IntN(e.o.MaxFileSize-e.o.MinFileSize+1)
		content = e.bytesFor(n)
	}
	f.data = content
	f.size = int64(len(content))
	m, s1, s2 := md5.Sum(content), sha1.Sum(content), sha256.Sum256(content)
	f.md5, f.sha1, f.sha256 = hex.EncodeToString(m[:]), hex.EncodeToString(s1[:]), hex.EncodeToString(s2[:])
}

// randomShare shares a generated file the way people do: mostly not at all.
func (e *Emulator) randomShare(u *user, f *file) {
	switch r := e.rng.IntN(20); {
	case r < 4:
		if v := e.pick(2); len(v) > 1 && v[0] != u {
			e.addPerm(f, &perm{typ: "user", role: []string{"reader", "writer", "commenter"}[e.rng.IntN(3)], email: v[0].email, name: v[0].name()})
		}
	case r < 6 && len(e.groups) > 0:
		g := e.groups[e.rng.IntN(len(e.groups))]
		e.addPerm(f, &perm{typ: "group", role: "reader", email: g.email, name: g.name})
	case r < 7:
		e.addPerm(f, &perm{typ: "domain", role: "reader", domain: e.o.Domain, name: e.o.Domain})
	case r < 8:
		e.addPerm(f, &perm{typ: "anyone", role: "reader"})
	case r < 9:
		ext := fmt.Sprintf("%s@%s", strings.ToLower(givenNames[e.rng.IntN(len(givenNames))]), e.o.ExternalDomains[e.rng.IntN(len(e.o.ExternalDomains))])
		e.addPerm(f, &perm{typ: "user", role: "reader", email: ext, name: ext})
	}
}

// addPerm adds p to f, giving it Drive's id for its kind; an existing permission of the same
// principal is replaced. Returns the permission.
func (e *Emulator) addPerm(f *file, p *perm) *perm {
	switch p.typ {
	case "user":
		if u := e.byEmail[p.email]; u != nil {
			p.id = e.userPermID(u)
		} else {
			p.id = fmt.Sprintf("%020d", splitmix(hashString(p.email))%1e19)
		}
	case "group":
		p.id = fmt.Sprintf("%020d", splitmix(hashString(p.email))%1e19)
	case "domain":
		p.id = fmt.Sprintf("%020dk", splitmix(hashString(p.domain))%1e19)
	case "anyone":
		p.id = "anyoneWithLink"
		if p.discover {
			p.id = "anyone"
		}
	}
	for i, q := range f.perms {
		if q.id == p.id {
			f.perms[i] = p
			return p
		}
	}
	f.perms = append(f.perms, p)
	return p
}

func hashString(s string) uint64 {
	h := sha1.Sum([]byte(s))
	return binary.BigEndian.Uint64(h[:8])
}

// inGroup reports whether email is a member of g, directly or through nested groups.
func (e *Emulator) inGroup(email string, g *group, seen map[string]bool) bool {
	if seen[g.email] {
		return false
	}
	seen[g.email] = true
	for _, m := range g.members {
		if m == email {
			return true
		}
		if sub := e.groupsBy[m]; sub != nil && e.inGroup(email, sub, seen) {
			return true
		}
	}
	return false
}

// driveRole is u's role in shared drive d ("" for none), direct or through a group.
func (e *Emulator) driveRole(u *user, d *sharedDrive) string {
	role := ""
	rank := map[string]int{"": 0, "reader": 1, "commenter": 2, "writer": 3, "fileOrganizer": 4, "organizer": 5}
	for _, p := range d.members {
		ok := p.typ == "user" && p.email == u.email
		if p.typ == "group" {
			if g := e.groupsBy[p.email]; g != nil && e.inGroup(u.email, g, map[string]bool{}) {
				ok = true
			}
		}
		if ok && rank[p.role] > rank[role] {
			role = p.role
		}
	}
	return role
}

// role is u's role on f: owner, organizer, writer, ..., or "" when f is not in u's corpus (owned,
// shared with u or a group of u's, or in a shared drive u is a member of).
func (e *Emulator) role(u *user, f *file) string {
	if f.deleted {
		return ""
	}
	if f.drive != "" {
		return e.driveRole(u, e.drivesBy[f.drive])
	}
	if f.owner == u {
		return "owner"
	}
	role := ""
	for _, p := range f.perms {
		switch {
		case p.typ == "user" && p.email == u.email:
			return p.role
		case p.typ == "group":
			if g := e.groupsBy[p.email]; g != nil && e.inGroup(u.email, g, map[string]bool{}) {
				role = p.role
			}
		}
	}
	return role
}

// canRead: in u's corpus, or reachable by a domain or anyone permission.
func (e *Emulator) canRead(u *user, f *file) bool {
	if f.deleted {
		return false
	}
	if e.role(u, f) != "" {
		return true
	}
	for _, p := range f.perms {
		if p.typ == "anyone" || (p.typ == "domain" && p.domain == e.o.Domain) {
			return true
		}
	}
	return false
}

// content returns f's current bytes.
func (e *Emulator) content(f *file) []byte { return f.data }
