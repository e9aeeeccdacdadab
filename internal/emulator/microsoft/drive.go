package microsoft

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// OneDrive for Business through Graph: drives, driveItems, delta, permissions, content. Shapes
// from Graph's CSDL (drive, driveItem, permission and their complex types); behaviour from the
// driveitem-delta, permission and driveitem-get-content pages and the vendor NOTES (3a and
// Corrections 1), as each function says.

const timeFmt = "2006-01-02T15:04:05Z"

// errItemNotFound is OneDrive's 404 (learn.microsoft.com/graph/errors: itemNotFound; the message
// as Graph answers it).
var errItemNotFound = gerr(404, "itemNotFound", "The resource could not be found.")

// errNoMySite is Graph's answer to /users/{id}/drive for a user without a OneDrive (no license,
// or never provisioned): 404 ResourceNotFound "User's mysite not found." (observed:
// alcionai/corso#966, microsoftgraph/msgraph-sdk-dotnet#579; corso#3846 reports Graph answering
// some such users "404 FILE NOT FOUND" since, which the emulator does not model).
var errNoMySite = gerr(404, "ResourceNotFound", "User's mysite not found.")

func ident(u *user) map[string]any {
	return map[string]any{"user": map[string]any{"id": u.id, "displayName": u.name()}}
}

// siteUserID is the SharePoint user id of a principal in the site (a small number; modelled).
func siteUserID(login string) string {
	return strconv.FormatUint(6+splitmix(hashString(login))%900, 10)
}

func hashString(s string) uint64 {
	var h uint64 = 14695981039346656037
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * 1099511628211
	}
	return h
}

// guestLogin is the claims login of an external address not (yet) a guest of the tenant (modelled
// on SharePoint's "urn:spo:guest#" logins).
func guestLogin(email string) string { return "i:0#.f|membership|urn:spo:guest#" + email }

func (e *Emulator) driveJSON(d *drive, base string) map[string]any {
	var used int64
	for _, it := range d.items {
		if !it.deleted {
			used += it.size
		}
	}
	const total = int64(1) << 40 // 1 TB, the OneDrive for Business default
	return map[string]any{
		"@odata.context": base + "/v1.0/$metadata#drives/$entity",
		"id":             d.id, "driveType": "business", "name": "OneDrive", "description": "",
		"createdDateTime": d.created.UTC().Format(timeFmt), "lastModifiedDateTime": d.root.modified.UTC().Format(timeFmt),
		"webUrl":    "https://" + e.tenantHost() + "/" + personal(d.owner) + "/Documents",
		"createdBy": map[string]any{"user": map[string]any{"displayName": "System Account"}}, "lastModifiedBy": ident(d.owner),
		"owner": ident(d.owner),
		"quota": map[string]any{"deleted": 0, "remaining": total - used, "state": "normal", "total": total, "used": used},
	}
}

// userDrive is GET /users/{id}/drive.
func (e *Emulator) userDrive(c *call) (int, any, *graphError) {
	e.mu.Lock()
	defer e.mu.Unlock()
	d, ge := e.driveOfUser(c.r.PathValue("id"))
	if ge != nil {
		return 0, nil, ge
	}
	return 200, e.driveJSON(d, c.base), nil
}

// driveOfUser resolves /users/{id}/drive. Called with e.mu held.
func (e *Emulator) driveOfUser(id string) (*drive, *graphError) {
	u := e.userByKey(id)
	if u == nil {
		return nil, notFoundObject(id)
	}
	if u.drive == nil {
		return nil, errNoMySite
	}
	return u.drive, nil
}

// driveGet is GET /drives/{drive}.
func (e *Emulator) driveGet(c *call) (int, any, *graphError) {
	e.mu.Lock()
	defer e.mu.Unlock()
	d := e.drives[c.r.PathValue("drive")]
	if d == nil {
		return 0, nil, errItemNotFound
	}
	return 200, e.driveJSON(d, c.base), nil
}

// tree holds per-request derived facts of a drive: folder sizes and child counts.
type tree struct {
	size     map[*item]int64
	children map[*item]int
}

func treeOf(d *drive) tree {
	t := tree{size: map[*item]int64{}, children: map[*item]int{}}
	for _, it := range d.items {
		if it.deleted {
			continue
		}
		if it.parent != nil {
			t.children[it.parent]++
		}
		for p := it.parent; p != nil && !it.folder; p = p.parent {
			t.size[p] += it.size
		}
	}
	return t
}

// pathOf is the item's path below the root ("" for the root, "/a/b.txt").
func pathOf(it *item) string {
	var parts []string
	for p := it; p != nil && !p.root; p = p.parent {
		parts = append(parts, p.name)
	}
	var b strings.Builder
	for i := len(parts) - 1; i >= 0; i-- {
		b.WriteString("/" + parts[i])
	}
	return b.String()
}

func escapePath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

// itemJSON is a driveItem. In delta (inDelta) parentReference has no path and there is no cTag
// (NOTES 3a: "parentReference.path is absent in delta"; "ODfB omits ctag on create/modify"); a
// deleted item is its id, parentReference and the deleted facet only ("ctag, name on delete"
// omitted).
func (e *Emulator) itemJSON(it *item, t tree, inDelta bool) map[string]any {
	d := it.drive
	pr := map[string]any{"driveId": d.id, "driveType": "business"}
	if it.parent != nil {
		pr["id"] = it.parent.id
		if !inDelta {
			pr["path"] = "/drive/root:" + pathOf(it.parent)
		}
	}
	if it.deleted {
		return map[string]any{"id": it.id, "parentReference": pr, "deleted": map[string]any{"state": "deleted"},
			"lastModifiedDateTime": it.modified.UTC().Format(timeFmt)}
	}
	web := "https://" + e.tenantHost() + "/" + personal(d.owner) + "/Documents" + escapePath(pathOf(it))
	m := map[string]any{
		"id": it.id, "name": it.name, "eTag": fmt.Sprintf("\"{%s},%d\"", strings.ToUpper(it.tag), it.version),
		"createdDateTime": it.created.UTC().Format(timeFmt), "lastModifiedDateTime": it.modified.UTC().Format(timeFmt),
		"webUrl": web, "createdBy": ident(it.createdBy), "lastModifiedBy": ident(it.modBy), "parentReference": pr,
		"fileSystemInfo": map[string]any{"createdDateTime": it.created.UTC().Format(timeFmt), "lastModifiedDateTime": it.modified.UTC().Format(timeFmt)},
	}
	if !inDelta {
		m["cTag"] = fmt.Sprintf("\"c:{%s},%d\"", strings.ToUpper(it.tag), it.version)
	}
	if it.folder {
		m["size"] = t.size[it]
		m["folder"] = map[string]any{"childCount": t.children[it]}
		if it.root {
			m["root"] = map[string]any{}
		}
	} else {
		m["size"] = it.size
		m["file"] = map[string]any{"mimeType": it.mime, "hashes": map[string]any{"quickXorHash": it.qxh}}
	}
	if sc := sharedScope(it); sc != "" {
		m["shared"] = map[string]any{"scope": sc, "owner": ident(d.owner)}
	}
	return m
}

// sharedScope is the widest audience of an item's permissions ("" when only its owner has it).
func sharedScope(it *item) string {
	rank := map[string]int{"": 0, "users": 1, "organization": 2, "anonymous": 3}
	best := ""
	for _, p := range it.perms {
		s := ""
		switch p.kind {
		case "direct", "invite":
			s = "users"
		case "link":
			s = p.linkScope
		}
		if rank[s] > rank[best] {
			best = s
		}
	}
	return best
}

// itemOf resolves {drive} and {item} (the root without {item}). Called with e.mu held.
func (e *Emulator) itemOf(c *call) (*item, *graphError) {
	d := e.drives[c.r.PathValue("drive")]
	if d == nil {
		return nil, errItemNotFound
	}
	id := c.r.PathValue("item")
	if id == "" || id == "root" {
		return d.root, nil
	}
	it := d.items[id]
	if it == nil || it.deleted {
		return nil, errItemNotFound
	}
	return it, nil
}

// itemGet is GET /drives/{drive}/items/{item} and /drives/{drive}/root.
func (e *Emulator) itemGet(c *call) (int, any, *graphError) {
	e.mu.Lock()
	defer e.mu.Unlock()
	it, ge := e.itemOf(c)
	if ge != nil {
		return 0, nil, ge
	}
	m := selectProps(e.itemJSON(it, treeOf(it.drive), false), c.r.URL.Query().Get("$select"), nil)
	m["@odata.context"] = c.base + "/v1.0/$metadata#drives('" + it.drive.id + "')/items/$entity"
	return 200, m, nil
}

// permJSON is a permission (permission resource: roles, link {type, scope, webUrl},
// grantedToV2, grantedToIdentitiesV2 for the people of a "specific people" link, invitation for
// an external address; grantedTo and grantedToIdentities are deprecated and not sent;
// inheritedFrom "not returned on ODfB/SharePoint", hasPassword "OneDrive Personal only").
// Identities carry id and displayName, the declared properties of identity; an external
// address shows as the displayName and the claims login of a siteUser.
func (e *Emulator) permJSON(p *perm) map[string]any {
	m := map[string]any{"id": p.id, "roles": p.roles}
	userSet := func(u *user) map[string]any {
		return map[string]any{"user": map[string]any{"id": u.id, "displayName": u.name()},
			"siteUser": map[string]any{"id": siteUserID(u.loginName()), "displayName": u.name(), "loginName": u.loginName()}}
	}
	guestSet := func(email string) map[string]any {
		return map[string]any{"siteUser": map[string]any{"id": siteUserID(guestLogin(email)), "displayName": email, "loginName": guestLogin(email)}}
	}
	switch p.kind {
	case "owner", "direct":
		m["grantedToV2"] = userSet(p.to)
	case "invite":
		m["grantedToV2"] = guestSet(p.email)
		m["invitation"] = map[string]any{"email": p.email, "signInRequired": true, "invitedBy": ident(p.invitedBy)}
	case "link":
		m["shareId"] = p.shareID
		m["link"] = map[string]any{"scope": p.linkScope, "type": p.linkType, "webUrl": p.webURL, "preventsDownload": false}
		if p.linkScope == "users" {
			ids := []any{}
			for _, g := range p.grantees {
				if u := e.usersBy[g]; u != nil {
					ids = append(ids, userSet(u))
				} else {
					ids = append(ids, guestSet(g))
				}
			}
			m["grantedToIdentitiesV2"] = ids
		}
	}
	return m
}

// permissionsList is GET /drives/{drive}/items/{item}/permissions: the item's own permissions
// (no inheritance in the emulator: each item holds its owner's and its own shares).
func (e *Emulator) permissionsList(c *call) (int, any, *graphError) {
	e.mu.Lock()
	defer e.mu.Unlock()
	it, ge := e.itemOf(c)
	if ge != nil {
		return 0, nil, ge
	}
	v := []any{}
	for _, p := range it.perms {
		v = append(v, e.permJSON(p))
	}
	return 200, map[string]any{"@odata.context": c.base + "/v1.0/$metadata#drives('" + it.drive.id + "')/items('" + it.id + "')/permissions", "value": v}, nil
}

// dlGrant is a pre-authenticated download URL: an item's content as it was when the URL was made.
type dlGrant struct {
	itemID  string
	data    []byte
	expires time.Time
}

// downloadTTL is how long a pre-authenticated URL works (modelled: Graph says the URL "is only
// valid for a short period of time").
const downloadTTL = time.Hour

// content is GET /drives/{drive}/items/{item}/content: "a 302 Found response redirecting to a
// preauthenticated download URL for the file" (driveitem-get-content), here on the emulator.
func (e *Emulator) content(c *call) (int, any, *graphError) {
	e.mu.Lock()
	defer e.mu.Unlock()
	it, ge := e.itemOf(c)
	if ge != nil {
		return 0, nil, ge
	}
	if it.folder {
		return 0, nil, errItemNotFound // modelled: folders have no content stream
	}
	tok := base64.RawURLEncoding.EncodeToString(e.serveBytes(24))
	now := e.clk.Now()
	for k, g := range e.dl {
		if !now.Before(g.expires) {
			delete(e.dl, k)
		}
	}
	e.dl[tok] = dlGrant{itemID: it.id, data: it.data, expires: now.Add(downloadTTL)}
	return http.StatusFound, locationBody(c.base + "/download/" + tok + "/" + url.PathEscape(it.name)), nil
}

// locationBody is a redirect answer: respond writes it as a Location header without a body.
type locationBody string

// download serves a pre-authenticated URL: no Authorization needed.
func (e *Emulator) download(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, "/download/")
	tok, _, _ := strings.Cut(rest, "/")
	e.mu.Lock()
	e.stats.Requests++
	g, ok := e.dl[tok]
	if ok && !e.clk.Now().Before(g.expires) {
		ok = false
	}
	if ok {
		e.stats.Downloads++
	}
	e.mu.Unlock()
	if !ok {
		// Modelled: SharePoint refuses an expired or unknown tempauth URL with 401.
		http.Error(w, "401 UNAUTHORIZED", http.StatusUnauthorized)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(len(g.data)))
	w.WriteHeader(200)
	if r.Method != http.MethodHead {
		w.Write(g.data)
	}
}

// deltaTok is the state a delta or next link carries (opaque to clients).
type deltaTok struct {
	D string `json:"d"`           // drive id
	E int    `json:"e"`           // the emulator's token epoch (ExpireDeltaTokens)
	L int64  `json:"l"`           // the round's start position in the log (0: a first enumeration)
	C int64  `json:"c"`           // the position served up to
	N int    `json:"n"`           // page size ($top of the first call)
	S string `json:"s,omitempty"` // $select of the first call
	T int64  `json:"t"`           // issued (Unix seconds): links expire
}

func encodeTok(t deltaTok) string {
	b, _ := json.Marshal(t)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeTok(s string) (deltaTok, bool) {
	var t deltaTok
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || json.Unmarshal(b, &t) != nil || t.D == "" || t.N <= 0 {
		return t, false
	}
	return t, true
}

// errResync is the 410 of a delta or next link Graph no longer knows (NOTES, Corrections 1: the
// code seen is resyncRequired, where the docs name resyncChangesApplyDifferences; the message is
// that code's instructions in driveitem-delta; Location holds a next link that enumerates the
// drive again).
func errResync(loc string) *graphError {
	return gerr(410, "resyncRequired", "Resync required. Replace any local items with the server's version (including deletes) if you're sure that the service was up to date with your local changes when you last sync'd. Upload any local changes that the server doesn't know about.").with("Location", loc)
}

// delta is GET /drives/{drive}/root/delta and /users/{id}/drive/root/delta (driveitem-delta):
//   - without token a round enumerates the drive (deleted items left out), with token it lists
//     what changed since the link was made, deleted items with the deleted facet;
//   - pages of $top (or DeltaPageSize) items, @odata.nextLink while more remain, then
//     @odata.deltaLink; query parameters count on the first call only (they are in the links);
//   - token=latest answers no items and a deltaLink from now;
//   - an item appears in its latest state, once for all its changes, in the order of its last
//     change; an item that changes while a round is paged comes again later in the same round,
//     and a page may repeat an item sent earlier in the round (Options.DeltaRepeat), both of which
//     Graph documents ("the same item may appear more than once in a delta feed, for various
//     reasons. You should use the last occurrence you see");
//   - a sharing change brings the item too ("by default, the delta query response includes
//     sharing information for all items in the query that changed"); with Prefer:
//     deltashowsharingchanges, items there because their permissions changed carry
//     "@microsoft.graph.sharedChanged":"True" (driveitem-delta, "Scanning permissions
//     hierarchies"; the emulator does not require the deltashowremovedasdeleted and
//     deltatraversepermissiongaps values Graph asks to send with it);
//   - an expired, unknown or malformed token answers 410 resyncRequired with a Location header
//     "containing a new nextLink that starts a fresh delta enumeration from scratch".
func (e *Emulator) delta(c *call) (int, any, *graphError) {
	q := c.r.URL.Query()
	e.mu.Lock()
	defer e.mu.Unlock()
	var d *drive
	if id := c.r.PathValue("id"); id != "" {
		var ge *graphError
		if d, ge = e.driveOfUser(id); ge != nil {
			return 0, nil, ge
		}
	} else if d = e.drives[c.r.PathValue("drive")]; d == nil {
		return 0, nil, errItemNotFound
	}
	self := c.base + c.r.URL.Path
	now := e.clk.Now()
	link := func(t deltaTok) string {
		t.T, t.E, t.D = now.Unix(), e.epoch, d.id
		return self + "?token=" + encodeTok(t)
	}
	ctx := c.base + "/v1.0/$metadata#Collection(driveItem)"
	var t deltaTok
	switch s := q.Get("token"); s {
	case "":
		t = deltaTok{N: e.o.DeltaPageSize, S: q.Get("$select")}
		if v := q.Get("$top"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return 0, nil, gerr(400, "invalidRequest", "Invalid request")
			}
			t.N = min(n, 1000) // modelled: larger pages are cut to 1,000
		}
	case "latest":
		t = deltaTok{N: e.o.DeltaPageSize, S: q.Get("$select"), L: e.logSeq, C: e.logSeq}
		return 200, map[string]any{"@odata.context": ctx, "value": []any{}, "@odata.deltaLink": link(t)}, nil
	default:
		var ok bool
		t, ok = decodeTok(s)
		if !ok || t.D != d.id || t.E != e.epoch || now.Sub(time.Unix(t.T, 0)) > e.o.DeltaTokenTTL || t.C > e.logSeq {
			e.stats.ExpiredDeltaTokens++
			return 0, nil, errResync(link(deltaTok{N: e.o.DeltaPageSize}))
		}
	}
	// Prefer headers count on every call (they are headers, not in the links).
	sharing := strings.Contains(strings.ToLower(c.r.Header.Get("Prefer")), "deltashowsharingchanges")
	key := func(it *item) int64 { return it.seq }
	var cands []*item
	for _, it := range d.items {
		if key(it) > t.C && !(t.L == 0 && it.deleted) {
			cands = append(cands, it)
		}
	}
	sort.Slice(cands, func(i, j int) bool { return key(cands[i]) < key(cands[j]) })
	page := cands[:min(t.N, len(cands))]
	tr := treeOf(d)
	out := make([]any, 0, len(page)+1)
	add := func(it *item) {
		m := selectProps(e.itemJSON(it, tr, true), t.S, nil)
		if sharing && it.shareSeq == it.seq && !it.deleted {
			m["@microsoft.graph.sharedChanged"] = "True"
		}
		out = append(out, m)
	}
	for _, it := range page {
		add(it)
	}
	if e.o.DeltaRepeat > 0 && t.C > t.L && e.srng.Float64() < e.o.DeltaRepeat {
		var sent []*item
		for _, it := range d.items {
			if k := key(it); k > t.L && k <= t.C && !it.deleted {
				sent = append(sent, it)
			}
		}
		if len(sent) > 0 {
			sort.Slice(sent, func(i, j int) bool { return sent[i].id < sent[j].id })
			add(sent[e.srng.IntN(len(sent))])
		}
	}
	body := map[string]any{"@odata.context": ctx, "value": out}
	if len(cands) > len(page) {
		t.C = key(page[len(page)-1])
		body["@odata.nextLink"] = link(t)
	} else {
		t.L, t.C = e.logSeq, e.logSeq
		body["@odata.deltaLink"] = link(t)
	}
	return 200, body, nil
}
