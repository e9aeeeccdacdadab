package box

import (
	"bytes"
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

type user struct {
	id, login, name, status string
	role                    string // "admin" | "user"
	external                bool   // a Box user outside the enterprise (collaborator)
	serviceAccount          bool
	accessible              bool // false: as-user calls for this user answer 403
	created                 time.Time
}

func (u *user) public() User {
	return User{ID: u.id, Login: u.login, Name: u.name, Status: u.status, RootFolderID: "0"}
}

type group struct {
	id, name string
	members  []string
	created  time.Time
}

type version struct {
	id   string
	size int
	at   time.Time
	by   string
}

type sharedLink struct {
	id, access string
	created    time.Time
	downloads  int
	previews   int
}

type item struct {
	typ, id, name string
	parent        string // internal id of the parent folder ("root-<uid>" for a user's root)
	owner         string
	root          bool
	trashed       bool
	trashedAt     time.Time
	created       time.Time
	modified      time.Time
	createdBy     string
	modifiedBy    string
	seq           int
	versions      []version // files
	children      []string  // folders: child ids in creation order
	link          *sharedLink
	collabs       []string // collaboration ids
}

func (it *item) cur() version { return it.versions[len(it.versions)-1] }

type collab struct {
	id, itemType, itemID string
	userID, groupID      string // accessible_by (one of them), empty for a pending invite
	email                string // invite_email for a pending external invite
	role, status         string
	createdBy            string
	created, modified    time.Time
}

type record struct {
	act   Activity
	ip    string
	sess  string
	extra map[string]any // additional_details
	src   map[string]any // source, frozen at event time
	acc   map[string]any // accessible_by (collaboration events)
}

func rootID(uid string) string { return "root-" + uid }

func (e *Emulator) newID() string {
	e.nextID++
	return strconv.FormatInt(e.nextID, 10)
}

// fileID and folderID give files and folders Box-like, distinct, increasing numeric ids.
func (e *Emulator) itemID(typ string) string {
	e.nextID++
	base := int64(1_000_000_000_000)
	if typ == "folder" {
		base = 200_000_000_000
	}
	return strconv.FormatInt(base+e.nextID, 10)
}

var firstNames = []string{"Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia", "Linus", "Margaret", "Dennis", "Sophie", "Tim", "Hedy", "John", "Katherine", "Niklaus", "Shafi", "Leslie"}
var lastNames = []string{"Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Perlman", "Torvalds", "Hamilton", "Ritchie", "Wilson", "Berners-Lee", "Lamarr", "McCarthy", "Johnson", "Wirth", "Goldwasser", "Lamport"}
var folderWords = []string{"Projects", "Finance", "Contracts", "Design", "Marketing", "Reports", "Archive", "Customers", "Legal", "HR", "Engineering", "Board", "Q3", "Drafts", "Shared"}
var fileWords = []string{"budget", "roadmap", "invoice", "contract", "notes", "plan", "forecast", "minutes", "specs", "proposal", "salaries", "pitch", "summary", "review", "export"}
var fileExts = []string{"pdf", "docx", "xlsx", "pptx", "txt", "csv", "png", "zip"}

// generate builds the initial org. Called with e.mu held.
func (e *Emulator) generate() {
	now := e.clk.Now()
	e.service = &user{id: "1" + e.o.EnterpriseID, login: "AutomationUser_" + e.o.EnterpriseID + "@boxdevedition.com", name: "Telltale Service Account", status: "active", role: "user", serviceAccount: true, accessible: true, created: now}
	e.byID[e.service.id] = e.service
	e.items[rootID(e.service.id)] = &item{typ: "folder", id: "0", name: "All Files", owner: e.service.id, root: true}
	e.nextID = 10_000
	for i := 0; i < e.o.Users; i++ {
		login, name := "admin@"+e.o.Domain, "Alex Admin"
		if i > 0 {
			f, l := firstNames[i%len(firstNames)], lastNames[(i/len(firstNames)+i*7)%len(lastNames)]
			name = f + " " + l
			login = fmt.Sprintf("%s.%s%d@%s", strings.ToLower(f), strings.ToLower(strings.ReplaceAll(l, "-", "")), i, e.o.Domain)
		}
		u := e.addUserLocked(login, name, i == 0 || i < e.o.Users-e.o.InactiveUsers)
		if i == 0 {
			u.role = "admin"
		}
	}
	for i := 0; i < e.o.Groups; i++ {
		g := e.addGroupLocked(fmt.Sprintf("%s Team", folderWords[i%len(folderWords)]))
		for _, u := range e.users {
			if e.rng.IntN(3) == 0 {
				e.addMemberLocked(e.users[0].id, g, u.id)
			}
		}
	}
	for _, u := range e.users {
		if u.status != "active" {
			continue
		}
		folders := []string{rootID(u.id)}
		e.genFolders(u, rootID(u.id), 1, &folders)
		for j := 0; j < e.o.FilesPerUser; j++ {
			parent := folders[e.rng.IntN(len(folders))]
			e.uploadLocked(u.id, parent, e.randomFileName(), -1)
		}
	}
}

func (e *Emulator) genFolders(u *user, parent string, depth int, out *[]string) {
	if depth > e.o.Depth {
		return
	}
	n := e.o.FoldersPerUser
	if depth > 1 {
		n = 1 + e.rng.IntN(2)
	}
	for i := 0; i < n && len(*out) <= e.o.FoldersPerUser*e.o.Depth; i++ {
		id := e.createFolderLocked(u.id, parent, folderWords[e.rng.IntN(len(folderWords))]+" "+strconv.Itoa(e.rng.IntN(100)))
		*out = append(*out, id)
		e.genFolders(u, id, depth+1, out)
	}
}

func (e *Emulator) randomFileName() string {
	return fmt.Sprintf("%s-%d.%s", fileWords[e.rng.IntN(len(fileWords))], e.rng.IntN(10000), fileExts[e.rng.IntN(len(fileExts))])
}

func (e *Emulator) addUserLocked(login, name string, active bool) *user {
	u := &user{id: strconv.FormatInt(20_000_000_000+e.epochOff+int64(len(e.byID)), 10), login: login, name: name, status: "active", role: "user", accessible: true, created: e.now()}
	if !active {
		u.status = "inactive"
	}
	e.users = append(e.users, u)
	e.byID[u.id] = u
	e.byLogin[strings.ToLower(login)] = u
	e.items[rootID(u.id)] = &item{typ: "folder", id: "0", name: "All Files", owner: u.id, root: true, created: u.created}
	actor := e.service
	if len(e.users) > 1 {
		actor = e.users[0]
	}
	e.emit(actor, "NEW_USER", nil, userSource(u), nil, Activity{Detail: map[string]string{"user_id": u.id, "user_login": u.login}})
	return u
}

func (e *Emulator) addGroupLocked(name string) *group {
	g := &group{id: strconv.FormatInt(30_000_000+e.epochOff+int64(len(e.groups)), 10), name: name, created: e.now()}
	e.groups = append(e.groups, g)
	e.groupsBy[g.id] = g
	return g
}

func (e *Emulator) addMemberLocked(actorID string, g *group, uid string) {
	for _, m := range g.members {
		if m == uid {
			return
		}
	}
	g.members = append(g.members, uid)
	u := e.byID[uid]
	e.emit(e.actor(actorID), "GROUP_ADD_USER", nil, map[string]any{"group_id": g.id, "group_name": g.name, "user_id": u.id, "user_name": u.name},
		map[string]any{"group_id": g.id, "group_name": g.name},
		Activity{Detail: map[string]string{"group_id": g.id, "group_name": g.name, "user_id": u.id, "user_login": u.login}})
}

func (e *Emulator) actor(id string) *user {
	if u := e.byID[id]; u != nil {
		return u
	}
	return e.users[0]
}

func (e *Emulator) createFolderLocked(owner, parent, name string) string {
	now := e.now()
	id := e.itemID("folder")
	e.items[id] = &item{typ: "folder", id: id, name: name, parent: parent, owner: owner, created: now, modified: now, createdBy: owner, modifiedBy: owner}
	p := e.items[parent]
	p.children = append(p.children, id)
	return id
}

// sizeFor derives a version's content size from the seed.
func (e *Emulator) sizeFor(verID string) int {
	span := e.o.MaxFileSize - e.o.MinFileSize
	if span <= 0 {
		return e.o.MinFileSize
	}
	return e.o.MinFileSize + int(hash64(e.o.Seed, verID)%uint64(span+1))
}

func hash64(seed int64, s string) uint64 {
	h := fnv.New64a()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(seed))
	h.Write(b[:])
	h.Write([]byte(s))
	return h.Sum64()
}

// setData stores explicit content for a version (scripted uploads).
func (e *Emulator) setData(verID string, b []byte) {
	e.shaMu.Lock()
	e.data[verID] = append([]byte(nil), b...)
	e.shaMu.Unlock()
}

// contentID follows copy aliases to the version whose content a version shares. Called with
// e.shaMu held.
func (e *Emulator) contentID(verID string) string {
	for {
		a, ok := e.alias[verID]
		if !ok {
			return verID
		}
		verID = a
	}
}

// open returns a reader of a version's content.
func (e *Emulator) open(v version) io.Reader {
	e.shaMu.Lock()
	id := e.contentID(v.id)
	d, ok := e.data[id]
	e.shaMu.Unlock()
	if ok {
		return bytes.NewReader(d)
	}
	return e.content(id, v.size)
}

// content streams generated bytes from the seed and version id.
type contentReader struct {
	rng  *rand.ChaCha8
	left int
}

func (e *Emulator) content(verID string, size int) io.Reader {
	var seed [32]byte
	binary.LittleEndian.PutUint64(seed[:], uint64(e.o.Seed))
	binary.LittleEndian.PutUint64(seed[8:], hash64(e.o.Seed, verID))
	return &contentReader{rng: rand.NewChaCha8(seed), left: size}
}

func (c *contentReader) Read(p []byte) (int, error) {
	if c.left == 0 {
		return 0, io.EOF
	}
	if len(p) > c.left {
		p = p[:c.left]
	}
	n, _ := c.rng.Read(p)
	c.left -= n
	return n, nil
}

// sha1Of returns the hex SHA-1 of a version's content, computed once.
func (e *Emulator) sha1Of(v version) string {
	e.shaMu.Lock()
	s, ok := e.sha[v.id]
	e.shaMu.Unlock()
	if ok {
		return s
	}
	h := sha1.New()
	io.Copy(h, e.open(v))
	s = hex.EncodeToString(h.Sum(nil))
	e.shaMu.Lock()
	e.sha[v.id] = s
	e.shaMu.Unlock()
	return s
}

// now returns the clock's time, never earlier than the last event (so the log stays chronological).
func (e *Emulator) now() time.Time {
	t := e.clk.Now()
	if t.Before(e.lastAt) {
		t = e.lastAt
	}
	return t
}

// ancestors returns the internal ids of an item's folders, root first, excluding the item.
func (e *Emulator) ancestors(it *item) []*item {
	var out []*item
	for p := it.parent; p != ""; {
		f := e.items[p]
		if f == nil {
			break
		}
		out = append(out, f)
		p = f.parent
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// collaborator reports whether user uid is a collaborator on it (directly, via a group or by
// invite email).
func (e *Emulator) collaborator(it *item, uid string) bool {
	u := e.byID[uid]
	for _, cid := range it.collabs {
		c := e.collabs[cid]
		switch {
		case c.userID == uid:
			return true
		case c.groupID != "":
			for _, m := range e.groupsBy[c.groupID].members {
				if m == uid {
					return true
				}
			}
		case c.email != "" && u != nil && strings.EqualFold(c.email, u.login):
			return true
		}
	}
	return false
}

// visible reports whether user uid can see it: owner, or collaborator on it or an ancestor, and
// not trashed (nor under a trashed folder).
func (e *Emulator) visible(it *item, uid string) bool {
	if it.trashed {
		return false
	}
	anc := e.ancestors(it)
	for _, a := range anc {
		if a.trashed {
			return false
		}
	}
	if it.owner == uid {
		return true
	}
	if e.collaborator(it, uid) {
		return true
	}
	for _, a := range anc {
		if e.collaborator(a, uid) {
			return true
		}
	}
	return false
}

// viewPath returns the folders shown in path_collection for uid: "All Files", then the visible
// ancestors below the highest one uid can see (Box shows shared-in items under the collaborator's
// own "All Files").
func (e *Emulator) viewPath(it *item, uid string) []*item {
	anc := e.ancestors(it)
	if it.owner == uid {
		return anc
	}
	out := []*item{e.items[rootID(uid)]}
	for i, a := range anc {
		if !a.root && e.visible(a, uid) {
			return append(out, anc[i:]...)
		}
	}
	return out
}
