package box

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Resource shapes follow the spec's schemas (testdata/openapi.json): User / User--Full, Group,
// GroupMembership, Folder--Full, File / File--Full, Items (mini entries), Collaboration, Webhook.
// With `fields`, Box answers the requested fields plus the identifying ones (type, id, and etag for
// files and folders); without, the standard representation.

type pageReq struct {
	limit, offset int
	useMarker     bool
	marker        string // decoded: the key of the last entry of the previous page
}

func parsePaging(q url.Values, maxLimit, maxOffset int, markerOK bool) (pageReq, *apiError) {
	p := pageReq{limit: 100}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return p, badParam("limit", s, "must be a non-negative integer")
		}
		if n > maxLimit {
			return p, badParam("limit", s, "must be less than or equal to "+strconv.Itoa(maxLimit))
		}
		p.limit = n
	}
	if s := q.Get("offset"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return p, badParam("offset", s, "must be a non-negative integer")
		}
		if maxOffset > 0 && n > maxOffset {
			return p, badParam("offset", s, "must be less than or equal to "+strconv.Itoa(maxOffset)+"; use marker-based paging (usemarker=true)")
		}
		p.offset = n
	}
	if markerOK && q.Get("usemarker") == "true" {
		p.useMarker = true
		if m := q.Get("marker"); m != "" {
			b, err := base64.RawURLEncoding.DecodeString(m)
			if err != nil || len(b) == 0 {
				return p, badParam("marker", m, "is not a marker this API returned")
			}
			p.marker = string(b)
		}
	}
	return p, nil
}

// paginate cuts a page out of entries sorted by key.
func paginate[T any](xs []T, key func(T) string, p pageReq) (page []T, next string) {
	start := p.offset
	if p.useMarker {
		start = 0
		if p.marker != "" {
			start, _ = slices.BinarySearchFunc(xs, p.marker, func(x T, m string) int { return strings.Compare(key(x), m) })
			if start < len(xs) && key(xs[start]) == p.marker {
				start++
			}
		}
	}
	if start > len(xs) {
		start = len(xs)
	}
	end := min(len(xs), start+p.limit)
	page = xs[start:end]
	if p.useMarker && end < len(xs) && end > start {
		next = base64.RawURLEncoding.EncodeToString([]byte(key(xs[end-1])))
	}
	return page, next
}

func pageBody(p pageReq, total int, next string, entries []any) map[string]any {
	if entries == nil {
		entries = []any{}
	}
	m := map[string]any{"limit": p.limit, "entries": entries}
	if p.useMarker {
		if next != "" {
			m["next_marker"] = next
		} else {
			m["next_marker"] = nil
		}
		return m
	}
	m["offset"] = p.offset
	m["total_count"] = total
	return m
}

func parseFields(q url.Values) []string {
	s := q.Get("fields")
	if s == "" {
		return nil
	}
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// pick keeps the always-present keys and the requested (or default) ones.
func pick(full map[string]any, always, keys []string) map[string]any {
	out := make(map[string]any, len(always)+len(keys))
	for _, k := range always {
		if v, ok := full[k]; ok {
			out[k] = v
		}
	}
	for _, k := range keys {
		if v, ok := full[k]; ok {
			out[k] = v
		}
	}
	return out
}

func idKey(id string) string { return strings.Repeat("0", max(0, 20-len(id))) + id }

// --- users ---

var userDefault = []string{"name", "login", "created_at", "modified_at", "language", "timezone", "space_amount", "space_used",
	"max_upload_size", "status", "job_title", "phone", "address", "avatar_url", "notification_email"}

func (e *Emulator) userJSON(u *user, fields []string) map[string]any {
	full := map[string]any{
		"type": "user", "id": u.id, "name": u.name, "login": u.login,
		"created_at": boxTime(u.created), "modified_at": boxTime(u.created), "language": "en", "timezone": "America/Los_Angeles",
		"space_amount": int64(999999999999999), "space_used": int64(0), "max_upload_size": int64(2147483648),
		"status": u.status, "job_title": "", "phone": "", "address": "", "avatar_url": "https://app.box.com/api/avatar/large/" + u.id,
		"notification_email": nil, "role": u.role, "is_external_collab_restricted": false, "is_exempt_from_device_limits": false,
		"is_exempt_from_login_verification": false, "can_see_managed_users": u.role == "admin", "is_sync_enabled": true,
		"is_platform_access_only": u.serviceAccount, "external_app_user_id": "",
		"enterprise": map[string]any{"type": "enterprise", "id": e.o.EnterpriseID, "name": "Example Corp"},
	}
	if u.external {
		delete(full, "enterprise")
	}
	if fields == nil {
		fields = userDefault
	}
	return pick(full, []string{"type", "id"}, fields)
}

func (e *Emulator) listUsers(c *call) (int, any, *apiError) {
	q := c.r.URL.Query()
	p, aerr := parsePaging(q, 1000, 10000, true)
	if aerr != nil {
		return 0, nil, aerr
	}
	ut := q.Get("user_type")
	if ut != "" && ut != "all" && ut != "managed" && ut != "external" {
		return 0, nil, badParam("user_type", ut, "must be one of all, managed, external")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if c.user.role != "admin" && !c.user.serviceAccount {
		return 0, nil, errorf(403, "access_denied_insufficient_permissions", "Access denied - insufficient permission")
	}
	term := strings.ToLower(q.Get("filter_term"))
	var list []*user
	for _, u := range e.byID {
		switch {
		case u.serviceAccount:
			continue
		case u.external && ut != "external" && (ut != "all" || !strings.EqualFold(u.login, term)):
			continue // "all" lists an external user only when filter_term is their whole login
		case !u.external && ut == "external":
			continue
		}
		if term != "" && !strings.HasPrefix(strings.ToLower(u.name), term) && !strings.HasPrefix(strings.ToLower(u.login), term) {
			continue
		}
		list = append(list, u)
	}
	slices.SortFunc(list, func(a, b *user) int { return strings.Compare(idKey(a.id), idKey(b.id)) })
	pg, next := paginate(list, func(u *user) string { return idKey(u.id) }, p)
	fields := parseFields(q)
	var entries []any
	for _, u := range pg {
		entries = append(entries, e.userJSON(u, fields))
	}
	return 200, pageBody(p, len(list), next, entries), nil
}

func (e *Emulator) getMe(c *call) (int, any, *apiError) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return 200, e.userJSON(c.user, parseFields(c.r.URL.Query())), nil
}

func (e *Emulator) getUser(c *call) (int, any, *apiError) {
	e.mu.Lock()
	defer e.mu.Unlock()
	u := e.byID[c.r.PathValue("id")]
	if u == nil || (u != c.user && c.user.role != "admin" && !c.user.serviceAccount) {
		return 0, nil, notFound("user", c.r.PathValue("id"))
	}
	return 200, e.userJSON(u, parseFields(c.r.URL.Query())), nil
}

// --- groups ---

func (e *Emulator) groupJSON(g *group) map[string]any {
	return map[string]any{"type": "group", "id": g.id, "name": g.name, "group_type": "managed_group",
		"created_at": boxTime(g.created), "modified_at": boxTime(g.created)}
}

func (e *Emulator) listGroups(c *call) (int, any, *apiError) {
	q := c.r.URL.Query()
	p, aerr := parsePaging(q, 1000, 10000, false)
	if aerr != nil {
		return 0, nil, aerr
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	term := strings.ToLower(q.Get("filter_term"))
	var list []*group
	for _, g := range e.groups {
		if term == "" || strings.HasPrefix(strings.ToLower(g.name), term) {
			list = append(list, g)
		}
	}
	pg, _ := paginate(list, func(g *group) string { return idKey(g.id) }, p)
	fields := parseFields(q)
	var entries []any
	for _, g := range pg {
		m := e.groupJSON(g)
		if fields != nil {
			m = pick(m, []string{"type", "id"}, fields)
		}
		entries = append(entries, m)
	}
	return 200, pageBody(p, len(list), "", entries), nil
}

func (e *Emulator) listMemberships(c *call) (int, any, *apiError) {
	q := c.r.URL.Query()
	p, aerr := parsePaging(q, 1000, 10000, false)
	if aerr != nil {
		return 0, nil, aerr
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	g := e.groupsBy[c.r.PathValue("id")]
	if g == nil {
		return 0, nil, notFound("group", c.r.PathValue("id"))
	}
	members := append([]string(nil), g.members...)
	pg, _ := paginate(members, idKey, p)
	var entries []any
	for _, uid := range pg {
		u := e.byID[uid]
		entries = append(entries, map[string]any{"type": "group_membership", "id": strconv.FormatUint(hash64(0, g.id+"/"+uid)%1e10, 10),
			"user": userMini(u), "group": map[string]any{"type": "group", "id": g.id, "name": g.name, "group_type": "managed_group"},
			"role": "member", "created_at": boxTime(g.created), "modified_at": boxTime(g.created)})
	}
	return 200, pageBody(p, len(members), "", entries), nil
}

// --- files and folders ---

var fileDefault = []string{"sequence_id", "name", "sha1", "file_version", "description", "size", "path_collection", "created_at",
	"modified_at", "trashed_at", "purged_at", "content_created_at", "content_modified_at", "created_by", "modified_by", "owned_by",
	"shared_link", "parent", "item_status"}
var folderDefault = []string{"sequence_id", "name", "created_at", "modified_at", "description", "size", "path_collection",
	"created_by", "modified_by", "trashed_at", "purged_at", "content_created_at", "content_modified_at", "owned_by", "shared_link",
	"folder_upload_email", "parent", "item_status", "item_collection"}

func folderMini(f *item) map[string]any {
	if f.root {
		return map[string]any{"type": "folder", "id": "0", "sequence_id": nil, "etag": nil, "name": "All Files"}
	}
	return map[string]any{"type": "folder", "id": f.id, "sequence_id": strconv.Itoa(f.seq), "etag": strconv.Itoa(f.seq), "name": f.name}
}

func (e *Emulator) linkJSON(it *item) any {
	l := it.link
	if l == nil {
		return nil
	}
	var dl any
	if it.typ == "file" {
		dl = "https://app.box.com/shared/static/" + l.id + path.Ext(it.name)
	}
	return map[string]any{"url": "https://app.box.com/s/" + l.id, "download_url": dl, "vanity_url": nil, "vanity_name": nil,
		"access": l.access, "effective_access": l.access, "effective_permission": "can_download", "unshared_at": nil,
		"is_password_enabled": false, "permissions": map[string]any{"can_download": true, "can_preview": true, "can_edit": false},
		"download_count": l.downloads, "preview_count": l.previews}
}

func (e *Emulator) sizeOf(it *item) int64 {
	if it.typ == "file" {
		return int64(it.cur().size)
	}
	var n int64
	for _, c := range it.children {
		if ch := e.items[c]; !ch.trashed {
			n += e.sizeOf(ch)
		}
	}
	return n
}

// itemJSON renders a file or folder as viewer sees it. fields nil: the standard set (with
// item_collection for a folder when withItems).
func (e *Emulator) itemJSON(it *item, viewer *user, fields []string, withItems bool) map[string]any {
	var full map[string]any
	if it.root {
		full = folderMini(it)
		full["created_at"], full["modified_at"], full["trashed_at"], full["purged_at"] = nil, nil, nil, nil
		full["content_created_at"], full["content_modified_at"] = nil, nil
		full["description"], full["size"] = "", e.sizeOf(it)
		full["path_collection"] = map[string]any{"total_count": 0, "entries": []any{}}
		full["created_by"], full["modified_by"] = map[string]any{"type": "user", "id": "", "name": "", "login": ""}, map[string]any{"type": "user", "id": "", "name": "", "login": ""}
		full["owned_by"], full["shared_link"], full["folder_upload_email"], full["parent"] = userMini(viewer), nil, nil, nil
		full["item_status"] = "active"
	} else {
		seq := strconv.Itoa(it.seq)
		pc := e.viewPath(it, viewer.id)
		entries := make([]any, 0, len(pc))
		for _, f := range pc {
			entries = append(entries, folderMini(f))
		}
		var parent any
		if len(pc) > 0 {
			parent = folderMini(pc[len(pc)-1])
		}
		status, trashedAt := "active", any(nil)
		if it.trashed {
			status, trashedAt = "trashed", boxTime(it.trashedAt)
		}
		full = map[string]any{
			"type": it.typ, "id": it.id, "etag": seq, "sequence_id": seq, "name": it.name, "description": "",
			"size": e.sizeOf(it), "path_collection": map[string]any{"total_count": len(entries), "entries": entries},
			"created_at": boxTime(it.created), "modified_at": boxTime(it.modified), "trashed_at": trashedAt, "purged_at": nil,
			"content_created_at": boxTime(it.created), "content_modified_at": boxTime(it.modified),
			"created_by": userMini(e.byID[it.createdBy]), "modified_by": userMini(e.byID[it.modifiedBy]),
			"owned_by": userMini(e.byID[it.owner]), "shared_link": e.linkJSON(it), "parent": parent, "item_status": status,
			"has_collaborations": len(it.collabs) > 0, "is_externally_owned": false,
		}
		if it.typ == "file" {
			v := it.cur()
			sha := e.sha1Of(v)
			full["sha1"] = sha
			full["file_version"] = map[string]any{"type": "file_version", "id": v.id, "sha1": sha}
			full["version_number"] = strconv.Itoa(len(it.versions))
			full["extension"] = strings.TrimPrefix(path.Ext(it.name), ".")
			full["content_modified_at"] = boxTime(v.at)
		} else {
			full["folder_upload_email"] = nil
		}
	}
	if it.typ == "folder" && (withItems || slices.Contains(fields, "item_collection")) {
		kids := e.children(it, viewer)
		n := min(100, len(kids))
		entries := make([]any, 0, n)
		for _, k := range kids[:n] {
			entries = append(entries, e.miniJSON(k))
		}
		full["item_collection"] = map[string]any{"total_count": len(kids), "entries": entries, "offset": 0, "limit": 100,
			"order": []any{map[string]any{"by": "type", "direction": "ASC"}, map[string]any{"by": "name", "direction": "ASC"}}}
	}
	if fields == nil {
		if it.typ == "file" {
			fields = fileDefault
		} else {
			fields = folderDefault
		}
	}
	return pick(full, []string{"type", "id", "etag"}, fields)
}

func (e *Emulator) miniJSON(it *item) map[string]any {
	m := folderMini(it)
	if it.typ == "file" {
		m["type"] = "file"
		v := it.cur()
		sha := e.sha1Of(v)
		m["sha1"] = sha
		m["file_version"] = map[string]any{"type": "file_version", "id": v.id, "sha1": sha}
	}
	return m
}

func itemKey(it *item) string {
	r := "1"
	if it.typ == "file" {
		r = "2"
	}
	return r + ":" + idKey(it.id)
}

// children lists what viewer sees in folder f, folders first, each by id; a root also shows the
// items collaborated to the viewer from other users' drives.
func (e *Emulator) children(f *item, viewer *user) []*item {
	var out []*item
	for _, id := range f.children {
		if it := e.items[id]; !it.trashed {
			out = append(out, it)
		}
	}
	if f.root && f.owner == viewer.id {
		for _, c := range e.collabsFor(viewer.id) {
			it := e.items[c.itemID]
			if it == nil || it.owner == viewer.id || slices.Contains(out, it) || !e.collaborator(it, viewer.id) || !e.visible(it, viewer.id) {
				continue
			}
			top := true
			for _, a := range e.ancestors(it) {
				if !a.root && e.collaborator(a, viewer.id) {
					top = false
				}
			}
			if top {
				out = append(out, it)
			}
		}
	}
	slices.SortFunc(out, func(a, b *item) int { return strings.Compare(itemKey(a), itemKey(b)) })
	return out
}

// lookup resolves an item id for the viewer: 404 not_found when missing or invisible, 404 trashed
// when in the trash.
func (e *Emulator) lookup(c *call, typ, id string) (*item, *apiError) {
	if typ == "folder" && id == "0" {
		return e.items[rootID(c.user.id)], nil
	}
	it := e.items[id]
	if it == nil || it.typ != typ || it.root {
		return nil, notFound(typ, id)
	}
	if it.trashed && (it.owner == c.user.id || e.collaboratorAny(it, c.user.id)) {
		return nil, errorf(404, "trashed", "Item is trashed")
	}
	if !e.visible(it, c.user.id) {
		return nil, notFound(typ, id)
	}
	return it, nil
}

func (e *Emulator) getFolder(c *call) (int, any, *apiError) {
	e.mu.Lock()
	defer e.mu.Unlock()
	f, aerr := e.lookup(c, "folder", c.r.PathValue("id"))
	if aerr != nil {
		return 0, nil, aerr
	}
	fields := parseFields(c.r.URL.Query())
	return 200, e.itemJSON(f, c.user, fields, fields == nil), nil
}

func (e *Emulator) listItems(c *call) (int, any, *apiError) {
	q := c.r.URL.Query()
	p, aerr := parsePaging(q, 1000, 0, true)
	if aerr != nil {
		return 0, nil, aerr
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	f, aerr := e.lookup(c, "folder", c.r.PathValue("id"))
	if aerr != nil {
		return 0, nil, aerr
	}
	kids := e.children(f, c.user)
	pg, next := paginate(kids, itemKey, p)
	fields := parseFields(q)
	var entries []any
	for _, it := range pg {
		if fields == nil {
			entries = append(entries, e.miniJSON(it))
		} else {
			entries = append(entries, e.itemJSON(it, c.user, fields, false))
		}
	}
	body := pageBody(p, len(kids), next, entries)
	if !p.useMarker {
		body["order"] = []any{map[string]any{"by": "type", "direction": "ASC"}, map[string]any{"by": "name", "direction": "ASC"}}
	}
	return 200, body, nil
}

func (e *Emulator) getFile(c *call) (int, any, *apiError) {
	e.mu.Lock()
	defer e.mu.Unlock()
	f, aerr := e.lookup(c, "file", c.r.PathValue("id"))
	if aerr != nil {
		return 0, nil, aerr
	}
	return 200, e.itemJSON(f, c.user, parseFields(c.r.URL.Query()), false), nil
}

// getContent redirects to a short-lived download URL served by the same handler. As Box does,
// the download is an activity of the acting user: it records a DOWNLOAD event (Detail
// "via_api":"true", additional_details service_id/service_name of the app).
func (e *Emulator) getContent(c *call) (int, any, *apiError) {
	e.mu.Lock()
	defer e.mu.Unlock()
	f, aerr := e.lookup(c, "file", c.r.PathValue("id"))
	if aerr != nil {
		return 0, nil, aerr
	}
	v := f.cur()
	if s := c.r.URL.Query().Get("version"); s != "" {
		i := slices.IndexFunc(f.versions, func(x version) bool { return x.id == s })
		if i < 0 {
			return 0, nil, notFound("version", s)
		}
		v = f.versions[i]
	}
	if len(e.dl) > 1000 {
		now := e.clk.Now()
		for k, t := range e.dl {
			if !now.Before(t.expires) {
				delete(e.dl, k)
			}
		}
	}
	ticket := e.requestID() + e.requestID()
	e.dl[ticket] = dlTicket{fileID: f.id, version: v, expires: e.clk.Now().Add(15 * time.Minute)}
	if !c.user.serviceAccount {
		e.emitItem(c.user, "DOWNLOAD", f, map[string]any{"version_id": v.id, "size": v.size, "service_id": e.o.ClientID, "service_name": "Telltale (emulated app)"},
			map[string]string{"version_id": v.id, "via_api": "true"})
	}
	c.header.Set("Location", c.baseURL+"/dl/"+ticket)
	return http.StatusFound, nil, nil
}

func (e *Emulator) collabJSON(c *collab) map[string]any {
	it := e.items[c.itemID]
	var acc any
	if c.groupID != "" {
		g := e.groupsBy[c.groupID]
		acc = map[string]any{"type": "group", "id": g.id, "name": g.name, "group_type": "managed_group"}
	} else {
		u := e.byID[c.userID]
		acc = map[string]any{"type": "user", "id": u.id, "name": u.name, "login": u.login, "is_active": u.status == "active"}
	}
	return map[string]any{"type": "collaboration", "id": c.id,
		"item":          map[string]any{"type": it.typ, "id": it.id, "sequence_id": strconv.Itoa(it.seq), "etag": strconv.Itoa(it.seq), "name": it.name},
		"accessible_by": acc, "invite_email": nil, "role": c.role, "expires_at": nil, "is_access_only": false, "status": c.status,
		"acknowledged_at": boxTime(c.created), "created_by": userMini(e.byID[c.createdBy]),
		"created_at": boxTime(c.created), "modified_at": boxTime(c.modified)}
}

func (e *Emulator) listCollabs(typ string) func(*call) (int, any, *apiError) {
	return func(c *call) (int, any, *apiError) {
		q := c.r.URL.Query()
		p, aerr := parsePaging(q, 1000, 0, true)
		if aerr != nil {
			return 0, nil, aerr
		}
		p.useMarker = true // Box pages these collections by marker only
		e.mu.Lock()
		defer e.mu.Unlock()
		it, aerr := e.lookup(c, typ, c.r.PathValue("id"))
		if aerr != nil {
			return 0, nil, aerr
		}
		if it.root {
			return 200, pageBody(p, 0, "", nil), nil
		}
		ids := append([]string(nil), it.collabs...)
		slices.SortFunc(ids, func(a, b string) int { return strings.Compare(idKey(a), idKey(b)) })
		pg, next := paginate(ids, idKey, p)
		fields := parseFields(q)
		var entries []any
		for _, id := range pg {
			m := e.collabJSON(e.collabs[id])
			if fields != nil {
				m = pick(m, []string{"type", "id"}, fields)
			}
			entries = append(entries, m)
		}
		return 200, pageBody(p, len(ids), next, entries), nil
	}
}

// --- webhooks ---

func (e *Emulator) listWebhooks(c *call) (int, any, *apiError) {
	q := c.r.URL.Query()
	p, aerr := parsePaging(q, 200, 0, true)
	if aerr != nil {
		return 0, nil, aerr
	}
	p.useMarker = true
	e.mu.Lock()
	defer e.mu.Unlock()
	var ws []*webhook
	for _, w := range e.webhooks {
		if w.createdBy == c.user.id {
			ws = append(ws, w)
		}
	}
	slices.SortFunc(ws, func(a, b *webhook) int { return strings.Compare(idKey(a.id), idKey(b.id)) })
	pg, next := paginate(ws, func(w *webhook) string { return idKey(w.id) }, p)
	var entries []any
	for _, w := range pg {
		entries = append(entries, map[string]any{"id": w.id, "type": "webhook", "target": map[string]any{"id": w.targetID, "type": w.targetType}})
	}
	return 200, pageBody(p, len(ws), next, entries), nil
}

// webhookTriggerNames is the spec's Webhook.triggers enum.
const webhookTriggerNames = `FILE.UPLOADED FILE.PREVIEWED FILE.DOWNLOADED FILE.TRASHED FILE.DELETED FILE.RESTORED FILE.COPIED
	FILE.MOVED FILE.LOCKED FILE.UNLOCKED FILE.RENAMED COMMENT.CREATED COMMENT.UPDATED COMMENT.DELETED TASK_ASSIGNMENT.CREATED
	TASK_ASSIGNMENT.UPDATED METADATA_INSTANCE.CREATED METADATA_INSTANCE.UPDATED METADATA_INSTANCE.DELETED FOLDER.CREATED
	FOLDER.RENAMED FOLDER.DOWNLOADED FOLDER.RESTORED FOLDER.DELETED FOLDER.COPIED FOLDER.MOVED FOLDER.TRASHED WEBHOOK.DELETED
	COLLABORATION.CREATED COLLABORATION.ACCEPTED COLLABORATION.REJECTED COLLABORATION.REMOVED COLLABORATION.UPDATED
	SHARED_LINK.DELETED SHARED_LINK.CREATED SHARED_LINK.UPDATED SIGN_REQUEST.COMPLETED SIGN_REQUEST.DECLINED
	SIGN_REQUEST.EXPIRED SIGN_REQUEST.SIGNER_EMAIL_BOUNCED`

func validTrigger(t string) bool { return slices.Contains(strings.Fields(webhookTriggerNames), t) }

// createWebhook is POST /2.0/webhooks. Refusals: missing fields or unknown triggers 400
// bad_request; target folder "0" 400 (Box: "V2 webhooks cannot be created on the root folder";
// the exact error body is undocumented, the emulator's is bad_request); a target the user cannot
// see 404; a second webhook on the same target by the same user 409 conflict (one per item, app
// and user). Addresses need not be HTTPS here (loopback tests).
func (e *Emulator) createWebhook(c *call) (int, any, *apiError) {
	var in struct {
		Target struct {
			ID   string `json:"id"`
			Type string `json:"type"`
		} `json:"target"`
		Address  string   `json:"address"`
		Triggers []string `json:"triggers"`
	}
	if err := json.NewDecoder(c.r.Body).Decode(&in); err != nil {
		return 0, nil, errorf(400, "bad_request", "Request body is not valid JSON: %v", err)
	}
	switch {
	case in.Target.ID == "" || (in.Target.Type != "file" && in.Target.Type != "folder"):
		return 0, nil, badParam("target", in.Target.ID, "must be {\"id\": ..., \"type\": \"file\"|\"folder\"}")
	case in.Address == "":
		return 0, nil, badParam("address", "", "is required")
	case len(in.Triggers) == 0:
		return 0, nil, badParam("triggers", "", "must list at least one trigger")
	}
	if u, err := url.Parse(in.Address); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return 0, nil, badParam("address", in.Address, "must be an absolute HTTPS URL")
	}
	for _, t := range in.Triggers {
		if !validTrigger(t) {
			return 0, nil, badParam("triggers", t, "is not a webhook trigger")
		}
	}
	if in.Target.Type == "folder" && in.Target.ID == "0" {
		return 0, nil, errorf(400, "bad_request", "Webhooks cannot be created on the root folder (folder ID 0); choose a subfolder")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	it, aerr := e.lookup(c, in.Target.Type, in.Target.ID)
	if aerr != nil {
		return 0, nil, aerr
	}
	for _, w := range e.webhooks {
		if w.createdBy == c.user.id && w.targetID == it.id && w.targetType == it.typ {
			return 0, nil, errorf(409, "conflict", "Webhook:%s already exists on the specified target.", w.id)
		}
	}
	w := &webhook{id: e.newID(), targetType: it.typ, targetID: it.id, address: in.Address, triggers: in.Triggers, createdBy: c.user.id, created: e.clk.Now()}
	e.webhooks[w.id] = w
	return 201, w.json(e), nil
}

func (e *Emulator) ownWebhook(c *call) (*webhook, *apiError) {
	w := e.webhooks[c.r.PathValue("id")]
	if w == nil || w.createdBy != c.user.id {
		return nil, notFound("webhook", c.r.PathValue("id"))
	}
	return w, nil
}

func (e *Emulator) getWebhook(c *call) (int, any, *apiError) {
	e.mu.Lock()
	defer e.mu.Unlock()
	w, aerr := e.ownWebhook(c)
	if aerr != nil {
		return 0, nil, aerr
	}
	return 200, w.json(e), nil
}

func (e *Emulator) deleteWebhook(c *call) (int, any, *apiError) {
	e.mu.Lock()
	defer e.mu.Unlock()
	w, aerr := e.ownWebhook(c)
	if aerr != nil {
		return 0, nil, aerr
	}
	delete(e.webhooks, w.id)
	return http.StatusNoContent, nil, nil
}
