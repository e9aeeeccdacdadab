package microsoft

import (
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/internal/connector/kit/quickxor"
)

type user struct {
	id, upn, given, family string
	enabled, licensed      bool
	admin                  bool
	created                time.Time
	drive                  *drive // nil without a license
}

func (u *user) name() string { return u.given + " " + u.family }

// loginName is the user's SharePoint claims login ("i:0#.f|membership|<upn>").
func (u *user) loginName() string { return "i:0#.f|membership|" + u.upn }

type group struct {
	id, name, mail, nick string
	created              time.Time
	members              []string // user and group ids
}

type drive struct {
	id      string
	owner   *user
	root    *item
	created time.Time
	items   map[string]*item
}

type item struct {
	id, name          string
	drive             *drive
	parent            *item // nil for the root
	folder, root      bool
	mime              string
	data              []byte
	size              int64
	qxh               string // quickXorHash, base64
	created, modified time.Time
	createdBy, modBy  *user
	version           int
	tag               string // the GUID of eTag and cTag
	seq               int64  // the delta log position of its last delta-visible change
	shareSeq          int64  // ... of its last sharing change (== seq: the last change was one)
	deleted           bool
	perms             []*perm
}

// A permission: the owner's, a sharing link, a direct grant to a user of the tenant or an
// invitation to an external address.
type perm struct {
	id        string
	kind      string // owner, link, direct, invite
	roles     []string
	linkType  string // view, edit
	linkScope string // anonymous, organization, users
	webURL    string
	shareID   string
	to        *user    // direct, owner
	email     string   // invite
	grantees  []string // users links: UPNs or external addresses
	invitedBy *user
}

var (
	givenNames  = []string{"Ada", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jon", "Kemi", "Lars", "Maya", "Nils", "Omar", "Priya", "Quinn", "Rosa", "Sam", "Tara", "Uma", "Viktor", "Wen", "Xavi", "Yara", "Zoe"}
	familyNames = []string{"Adams", "Baker", "Costa", "Dubois", "Evans", "Fischer", "Garcia", "Huang", "Ivanova", "Jensen", "Kim", "Lopez", "Moreau", "Novak", "Okafor", "Patel", "Rossi", "Singh", "Tanaka", "Weber"}
	words       = []string{"budget", "roadmap", "contract", "invoice", "design", "notes", "report", "plan", "salaries", "customers", "pricing", "review", "offer", "minutes", "forecast", "export"}
	fileTypes   = []struct{ mime, ext string }{{"application/pdf", "pdf"}, {"application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx"}, {"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"}, {"application/vnd.openxmlformats-officedocument.presentationml.presentation", "pptx"}, {"image/png", "png"}, {"text/plain", "txt"}, {"text/csv", "csv"}, {"application/zip", "zip"}}
)

// skuE3 is the skuId of the license users with a OneDrive get (Office 365 E3, ENTERPRISEPACK).
const skuE3 = "6fd2c87f-b296-42f0-b197-1e91e994b900"

// splitmix is a deterministic id scrambler.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// guid formats 128 bits as a version-4-looking GUID.
func guid(a, b uint64) string {
	var x [16]byte
	binary.BigEndian.PutUint64(x[:8], a)
	binary.BigEndian.PutUint64(x[8:], b)
	x[6] = x[6]&0x0f | 0x40
	x[8] = x[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", x[0:4], x[4:6], x[6:8], x[8:10], x[10:])
}

func secretFrom(seed uint64) string {
	var b []byte
	for i := uint64(0); len(b) < 27; i++ {
		b = binary.BigEndian.AppendUint64(b, splitmix(seed^0x5ec2e7^i<<32))
	}
	return base64.RawURLEncoding.EncodeToString(b[:27])
}

func firstLabel(domain string) string {
	l, _, _ := strings.Cut(domain, ".")
	return l
}

func (e *Emulator) bytesFor(n int) []byte {
	e.idSeq++
	var b []byte
	for i := uint64(0); len(b) < n; i++ {
		b = binary.BigEndian.AppendUint64(b, splitmix(uint64(e.o.Seed)^e.idSeq<<20^i))
	}
	return b[:n]
}

// newGUID is a deterministic GUID of the tenant (object ids, permission ids, activity ids).
func (e *Emulator) newGUID() string {
	b := e.bytesFor(16)
	return guid(binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:]))
}

// serveBytes and serveGUID are ids of serving (request and trace ids, download URLs), drawn apart
// from the tenant's so that how a client reads never changes the tenant's ids. Called with e.mu
// held.
func (e *Emulator) serveBytes(n int) []byte {
	e.srvSeq++
	var b []byte
	for i := uint64(0); len(b) < n; i++ {
		b = binary.BigEndian.AppendUint64(b, splitmix(uint64(e.o.Seed)^0x5e7e5e7e^e.srvSeq<<20^i))
	}
	return b[:n]
}

func (e *Emulator) serveGUID() string {
	b := e.serveBytes(16)
	return guid(binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:]))
}

// driveID looks like a OneDrive for Business drive id: "b!" and 64 URL-safe base64 characters.
func (e *Emulator) driveID() string {
	return "b!" + base64.RawURLEncoding.EncodeToString(e.bytesFor(48))
}

// itemID looks like an ODfB item id: "01" and 32 upper-case base32 characters.
func (e *Emulator) itemID() string {
	return "01" + base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(e.bytesFor(20))
}

// ago is a time in the last n days before now, to the second.
func (e *Emulator) ago(days int) time.Time {
	d := time.Duration(e.rng.Int64N(int64(days) * int64(24*time.Hour)))
	return e.clk.Now().Add(-d).Truncate(time.Second)
}

// tenantHost is the SharePoint host of the tenant's OneDrives ("<name>-my.sharepoint.com").
func (e *Emulator) tenantHost() string {
	return firstLabel(e.o.InitialDomain) + "-my.sharepoint.com"
}

// personal is the personal site path of a user ("personal/ada_lopez_example_com").
func personal(u *user) string {
	r := strings.NewReplacer("@", "_", ".", "_")
	return "personal/" + r.Replace(strings.ToLower(u.upn))
}

// generate builds the tenant. Called with e.mu held. Generation is not in Activities; its items
// are in the delta log (a first enumeration lists them).
func (e *Emulator) generate() {
	o := e.o
	used := map[string]bool{}
	for i := 0; i < o.Users; i++ {
		u := &user{id: e.newGUID(), created: e.ago(700), enabled: true, licensed: true}
		if i == 0 {
			u.given, u.family, u.upn, u.admin = "Admin", "Istrator", "admin@"+o.Domain, true
		} else {
			u.given, u.family = givenNames[e.rng.IntN(len(givenNames))], familyNames[e.rng.IntN(len(familyNames))]
			local := strings.ToLower(u.given + "." + u.family)
			for n := 2; used[local]; n++ {
				local = fmt.Sprintf("%s.%s%d", strings.ToLower(u.given), strings.ToLower(u.family), n)
			}
			used[local] = true
			u.upn = local + "@" + o.Domain
		}
		switch {
		case i > 0 && i >= o.Users-o.UnlicensedUsers:
			u.licensed = false
		case i > 0 && i >= o.Users-o.UnlicensedUsers-o.DisabledUsers:
			u.enabled = false
		}
		e.addUser(u)
	}
	for i := 0; i < o.Groups; i++ {
		w := words[i%len(words)]
		g := &group{id: e.newGUID(), name: strings.ToUpper(w[:1]) + w[1:] + " team", nick: w + "-team", created: e.ago(500)}
		if k := i / len(words); k > 0 {
			g.name, g.nick = fmt.Sprintf("%s %d", g.name, k+1), fmt.Sprintf("%s-team%d", w, k+1)
		}
		g.mail = g.nick + "@" + o.Domain
		for _, u := range e.pick(2 + e.rng.IntN(4)) {
			g.members = append(g.members, u.id)
		}
		e.groups = append(e.groups, g)
		e.groupsBy[g.id] = g
	}
	if len(e.groups) > 1 { // a nested group: the second group is a member of the first
		e.groups[0].members = append(e.groups[0].members, e.groups[1].id)
	}
	for _, u := range e.users {
		d := u.drive
		if d == nil {
			continue
		}
		folders := []*item{d.root}
		for j := 0; j < o.FoldersPerUser; j++ {
			f := e.newItem(u, folders[e.rng.IntN(len(folders))], e.title(j), true, nil, e.ago(300))
			folders = append(folders, f)
		}
		for j := 0; j < o.FilesPerUser; j++ {
			f := e.newItem(u, folders[e.rng.IntN(len(folders))], "", false, nil, e.ago(300))
			e.randomShare(u, f)
		}
	}
}

// addUser adds u to the directory and, licensed, gives it a OneDrive. Called with e.mu held.
func (e *Emulator) addUser(u *user) {
	e.users = append(e.users, u)
	e.usersBy[u.id] = u
	e.usersBy[strings.ToLower(u.upn)] = u
	if u.licensed {
		e.provisionDrive(u)
	}
}

func (e *Emulator) provisionDrive(u *user) {
	d := &drive{id: e.driveID(), owner: u, created: u.created, items: map[string]*item{}}
	d.root = &item{id: e.itemID(), name: "root", drive: d, folder: true, root: true, created: u.created, modified: u.created, createdBy: u, modBy: u, version: 1, tag: e.newGUID()}
	d.items[d.root.id] = d.root
	e.items[d.root.id] = d.root
	e.touch(d.root)
	u.drive = d
	e.drives[d.id] = d
}

// touch moves it to the end of the delta log. Called with e.mu held.
func (e *Emulator) touch(it *item) {
	e.logSeq++
	it.seq = e.logSeq
}

// touchSharing logs a sharing change of it: the item comes in delta, marked as a sharing change.
// Called with e.mu held.
func (e *Emulator) touchSharing(it *item) {
	e.touch(it)
	it.shareSeq = it.seq
}

// pick returns n distinct enabled users (the admin included), in a random order.
func (e *Emulator) pick(n int) []*user {
	var act []*user
	for _, u := range e.users {
		if u.enabled {
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

func mimeOf(name string) string {
	if i := strings.LastIndex(name, "."); i >= 0 {
		ext := strings.ToLower(name[i+1:])
		for _, t := range fileTypes {
			if t.ext == ext {
				return t.mime
			}
		}
	}
	return "application/octet-stream"
}

// newItem creates a file (content nil: generated) or folder in parent, by u. Called with e.mu held.
func (e *Emulator) newItem(u *user, parent *item, name string, folder bool, content []byte, at time.Time) *item {
	d := parent.drive
	if name == "" {
		t := fileTypes[e.rng.IntN(len(fileTypes))]
		name = e.title(e.rng.IntN(3)) + "." + t.ext
	}
	it := &item{id: e.itemID(), name: e.uniqueName(parent, name), drive: d, parent: parent, folder: folder, created: at, modified: at,
		createdBy: u, modBy: u, version: 1, tag: e.newGUID()}
	if !folder {
		it.mime = mimeOf(it.name)
		e.setContent(it, content)
	}
	it.perms = []*perm{{id: permIDFor(d.owner.loginName()), kind: "owner", roles: []string{"owner"}, to: d.owner}}
	d.items[it.id] = it
	e.items[it.id] = it
	e.touch(it)
	return it
}

// uniqueName is name, or name with " 1", " 2" before the extension when a sibling has it (OneDrive
// refuses duplicates with nameAlreadyExists or renames on conflictBehavior=rename; uploads here
// take the rename behaviour).
func (e *Emulator) uniqueName(parent *item, name string) string {
	return e.uniqueNameFor(parent, name, nil)
}

// uniqueNameFor is uniqueName for an item that is (or is about to be) in parent: the item itself
// is not a sibling, so a move or rename whose name is free keeps it.
func (e *Emulator) uniqueNameFor(parent *item, name string, self *item) string {
	taken := func(n string) bool {
		for _, s := range parent.drive.items {
			if s != self && s.parent == parent && !s.deleted && strings.EqualFold(s.name, n) {
				return true
			}
		}
		return false
	}
	if !taken(name) {
		return name
	}
	base, ext := name, ""
	if i := strings.LastIndex(name, "."); i > 0 {
		base, ext = name[:i], name[i:]
	}
	for k := 1; ; k++ {
		if n := fmt.Sprintf("%s %d%s", base, k, ext); !taken(n) {
			return n
		}
	}
}

// permIDFor is the permission id of a principal: ODfB's ids of user grants are the base64 of the
// claims login name (e.g. "aTowIy5mfG1lbWJlcnNoaXB8..."); links and invitations get GUIDs.
func permIDFor(login string) string { return base64.RawStdEncoding.EncodeToString([]byte(login)) }

// setContent gives it a new version of its content (explicit or generated) and its hash.
func (e *Emulator) setContent(it *item, content []byte) {
	if content == nil {
		n := e.o.MinFileSize + e.rng.IntN(e.o.MaxFileSize-e.o.MinFileSize+1)
		content = e.bytesFor(n)
	}
	it.data = content
	it.size = int64(len(content))
	it.qxh = quickxor.Base64(content)
}

// randomShare shares a generated file the way people do: mostly not at all.
func (e *Emulator) randomShare(u *user, it *item) {
	switch r := e.rng.IntN(20); {
	case r < 3:
		if v := e.pick(2); len(v) > 1 && v[0] != u {
			e.addDirect(it, v[0], []string{"read", "write"}[e.rng.IntN(2)])
		}
	case r < 5:
		e.addLink(u, it, "organization", "view", nil)
	case r < 6:
		e.addLink(u, it, "anonymous", "view", nil)
	case r < 7:
		v := e.pick(2)
		e.addLink(u, it, "users", "edit", []string{v[0].upn, e.externalAddress()})
	case r < 8:
		e.addInvite(u, it, e.externalAddress(), "read")
	}
}

func (e *Emulator) externalAddress() string {
	return fmt.Sprintf("%s@%s", strings.ToLower(givenNames[e.rng.IntN(len(givenNames))]), e.o.ExternalDomains[e.rng.IntN(len(e.o.ExternalDomains))])
}

// internal reports whether an address is in the tenant's domains.
func (e *Emulator) internal(addr string) bool {
	_, dom, _ := strings.Cut(strings.ToLower(addr), "@")
	return dom == strings.ToLower(e.o.Domain) || dom == strings.ToLower(e.o.InitialDomain)
}

func (e *Emulator) addDirect(it *item, to *user, role string) *perm {
	id := permIDFor(to.loginName())
	for _, p := range it.perms {
		if p.id == id {
			p.roles = []string{role}
			return p
		}
	}
	p := &perm{id: id, kind: "direct", roles: []string{role}, to: to}
	it.perms = append(it.perms, p)
	return p
}

func (e *Emulator) addInvite(by *user, it *item, email, role string) *perm {
	p := &perm{id: e.newGUID(), kind: "invite", roles: []string{role}, email: strings.ToLower(email), invitedBy: by}
	it.perms = append(it.perms, p)
	return p
}

// addLink creates a sharing link; OneDrive reuses an existing link of the same scope and type
// (createLink: "if a sharing link of the specified type already exists for the app, the existing
// link is returned"), adding users to a users link.
func (e *Emulator) addLink(by *user, it *item, scope, typ string, grantees []string) *perm {
	for _, p := range it.perms {
		if p.kind == "link" && p.linkScope == scope && p.linkType == typ {
			for _, g := range grantees {
				if !contains(p.grantees, strings.ToLower(g)) {
					p.grantees = append(p.grantees, strings.ToLower(g))
				}
			}
			return p
		}
	}
	role := "read"
	if typ == "edit" {
		role = "write"
	}
	tok := base64.RawURLEncoding.EncodeToString(e.bytesFor(16))
	kind := map[string]string{"view": "r", "edit": "w"}[typ]
	p := &perm{id: e.newGUID(), kind: "link", roles: []string{role}, linkScope: scope, linkType: typ, invitedBy: by,
		webURL:  fmt.Sprintf("https://%s/:%s:/g/%s/E%s", e.tenantHost(), kind, personal(it.drive.owner), tok),
		shareID: "u!" + base64.RawURLEncoding.EncodeToString([]byte(tok))}
	for _, g := range grantees {
		p.grantees = append(p.grantees, strings.ToLower(g))
	}
	it.perms = append(it.perms, p)
	return p
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
