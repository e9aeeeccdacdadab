package google

import (
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// Drive v3. Shapes from drive/v3/drive-api.json of google.golang.org/api; behaviour from the
// vendor notes (section 2b) and Drive's guides, as each function says.

// Drive answers these default fields when a request has no fields parameter
// (https://developers.google.com/drive/api/guides/fields-parameter: "the server returns a
// default set of fields specific to the method"; for a File that is kind, id, name, mimeType).
const (
	defaultFileFields   = "kind,id,name,mimeType"
	defaultFilesFields  = "kind,incompleteSearch,nextPageToken,files(kind,id,name,mimeType)"
	defaultChangeFields = "kind,nextPageToken,newStartPageToken,changes(kind,changeType,time,removed,fileId,driveId,file(kind,id,name,mimeType))"
)

// withDefaultFields reduces body to Drive's default fields when the request names none.
func withDefaultFields(c *call, body any, def string) any {
	if c.r.URL.Query().Get("fields") != "" {
		return body
	}
	sel, _ := parseFields(def)
	return selectFields(toGeneric(body), sel)
}

func boolParam(q url.Values, name string, def bool) bool {
	switch q.Get(name) {
	case "true":
		return true
	case "false":
		return false
	}
	return def
}

func driveUser(u *user, me *user) map[string]any {
	return map[string]any{"kind": "drive#user", "displayName": u.name(), "emailAddress": u.email, "permissionId": u.id[1:], "me": u == me}
}

func webViewLink(f *file) string {
	switch f.mime {
	case MimeFolder:
		return "https://drive.google.com/drive/folders/" + f.id
	case MimeDoc:
		return "https://docs.google.com/document/d/" + f.id + "/edit?usp=drivesdk"
	case MimeSheet:
		return "https://docs.google.com/spreadsheets/d/" + f.id + "/edit?usp=drivesdk"
	case MimeSlides:
		return "https://docs.google.com/presentation/d/" + f.id + "/edit?usp=drivesdk"
	}
	return "https://drive.google.com/file/d/" + f.id + "/view?usp=drivesdk"
}

func permJSON(p *perm) map[string]any {
	m := map[string]any{"kind": "drive#permission", "id": p.id, "type": p.typ, "role": p.role, "deleted": false, "pendingOwner": false}
	switch p.typ {
	case "user", "group":
		m["emailAddress"], m["displayName"] = p.email, p.name
		if at := strings.LastIndex(p.email, "@"); at >= 0 {
			m["domain"] = p.email[at+1:]
		}
	case "domain":
		m["domain"], m["displayName"], m["allowFileDiscovery"] = p.domain, p.domain, p.discover
	case "anyone":
		m["allowFileDiscovery"] = p.discover
	}
	return m
}

// fileJSON is f as u sees it (every field the emulator keeps; the fields parameter selects).
// Hashes and size only for binary content (File.md5Checksum: "only applicable to files with
// binary content"; sha1/sha256: "not populated for Docs Editors or shortcut files"); owners and
// permissions not for shared drive items (NOTES 2b); permissions only for who can share.
func (e *Emulator) fileJSON(f *file, u *user) map[string]any {
	m := map[string]any{"kind": "drive#file", "id": f.id, "name": f.name, "mimeType": f.mime,
		"createdTime": ts(f.created), "modifiedTime": ts(f.modified), "trashed": f.trashed, "explicitlyTrashed": f.trashed,
		"version": strconv.FormatInt(f.version, 10), "webViewLink": webViewLink(f), "spaces": []string{"drive"},
		"starred": false, "viewedByMe": true, "shared": len(f.perms) > 1, "isAppAuthorized": false,
		"lastModifyingUser": driveUser(f.lastMod, u)}
	if f.parent != "" {
		m["parents"] = []string{f.parent}
	}
	if f.drive != "" {
		m["driveId"] = f.drive
		m["ownedByMe"] = false
		m["shared"] = true
		if f.trashed && !f.trashedAt.IsZero() { // File.trashedTime, trashingUser: "Only populated for items in shared drives."
			m["trashedTime"] = ts(f.trashedAt)
			m["trashingUser"] = driveUser(f.trashedBy, u)
		}
	} else {
		m["owners"] = []any{driveUser(f.owner, u)}
		m["ownedByMe"] = f.owner == u
		if u != nil {
			if r := e.role(u, f); r == "owner" || r == "writer" {
				ps := make([]any, len(f.perms))
				ids := make([]string, len(f.perms))
				for i, p := range f.perms {
					ps[i], ids[i] = permJSON(p), p.id
				}
				m["permissions"], m["permissionIds"] = ps, ids
			}
		}
	}
	if f.mime != MimeFolder && !f.native() {
		n := strconv.FormatInt(f.size, 10)
		m["size"], m["quotaBytesUsed"] = n, n
		m["md5Checksum"], m["sha1Checksum"], m["sha256Checksum"] = f.md5, f.sha1, f.sha256
		m["headRevisionId"] = fmt.Sprintf("0B%s%d", f.id[1:9], f.version)
		m["originalFilename"] = f.name
		if dot := strings.LastIndex(f.name, "."); dot >= 0 {
			m["fileExtension"], m["fullFileExtension"] = f.name[dot+1:], f.name[dot+1:]
		}
	} else if f.native() {
		m["quotaBytesUsed"] = "0"
	}
	return m
}

// lookup finds a file u can read. Shared drive items need supportsAllDrives (Drive answers 404
// for them otherwise). Called with e.mu held.
func (e *Emulator) lookup(c *call, id string) (*file, *apiError) {
	f := e.files[id]
	if f == nil || c.user == nil || !e.canRead(c.user, f) || (f.drive != "" && !boolParam(c.r.URL.Query(), "supportsAllDrives", false)) {
		return nil, notFoundFile(id)
	}
	return f, nil
}

func (e *Emulator) filesGet(c *call) (int, any, *apiError) {
	e.mu.Lock()
	defer e.mu.Unlock()
	f, aerr := e.lookup(c, c.r.PathValue("id"))
	if aerr != nil {
		return 0, nil, aerr
	}
	return 200, withDefaultFields(c, e.fileJSON(f, c.user), defaultFileFields), nil
}

// filesDownload is files.get alt=media: the bytes of binary files; Docs editors files answer 403
// fileNotDownloadable (the Drive guide "Download and export files"). Recorded as a download.
func (e *Emulator) filesDownload(c *call) (int, any, *apiError) {
	e.mu.Lock()
	defer e.mu.Unlock()
	f, aerr := e.lookup(c, c.r.PathValue("id"))
	if aerr != nil {
		return 0, nil, aerr
	}
	if f.native() || f.mime == MimeFolder {
		return 0, nil, gerr(403, "fileNotDownloadable", "Only files with binary content can be downloaded. Use Export with Docs Editors files.").at("alt", "parameter")
	}
	e.record(c.user, f, "download", false, map[string]string{"api": "true"})
	return 200, media{ctype: f.mime, data: append([]byte(nil), e.content(f)...)}, nil
}

// exportTypes are the export formats per Docs editors type (a subset of about.exportFormats).
var exportTypes = map[string][]string{
	MimeDoc:    {"text/plain", "application/pdf"},
	MimeSheet:  {"text/csv", "application/pdf"},
	MimeSlides: {"text/plain", "application/pdf"},
}

// filesExport is files.export: Docs editors files as text or PDF; binary files answer 403
// fileNotExportable. Recorded as a download.
func (e *Emulator) filesExport(c *call) (int, any, *apiError) {
	e.mu.Lock()
	defer e.mu.Unlock()
	f, aerr := e.lookup(c, c.r.PathValue("id"))
	if aerr != nil {
		return 0, nil, aerr
	}
	mt := c.r.URL.Query().Get("mimeType")
	if mt == "" {
		return 0, nil, gerr(400, "required", "Required parameter: mimeType").at("mimeType", "parameter")
	}
	if !f.native() {
		return 0, nil, gerr(403, "fileNotExportable", "Export only supports Docs Editors files.")
	}
	ok := false
	for _, t := range exportTypes[f.mime] {
		ok = ok || t == mt
	}
	if !ok {
		return 0, nil, gerr(400, "badRequest", "The requested conversion is not supported.").at("convertTo", "parameter")
	}
	e.record(c.user, f, "download", false, map[string]string{"api": "true", "export": mt})
	return 200, media{ctype: mt, data: exportBytes(f, mt)}, nil
}

// exportBytes is a Docs editors file's content in a format, deterministic by id and version.
func exportBytes(f *file, mt string) []byte {
	text := fmt.Sprintf("%s\nrevision %d of %s\n", f.name, f.version, f.id)
	for i := uint64(0); i < 8; i++ {
		text += words[splitmix(hashString(f.id)+uint64(f.version)*31+i)%uint64(len(words))] + " "
	}
	text += "\n"
	switch mt {
	case "application/pdf":
		body := fmt.Sprintf("BT /F1 12 Tf 72 720 Td (%s) Tj ET", strings.ReplaceAll(text, "\n", " "))
		return []byte(fmt.Sprintf("%%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"+
			"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]/Contents 4 0 R>>endobj\n4 0 obj<</Length %d>>stream\n%s\nendstream endobj\ntrailer<</Root 1 0 R>>\n%%%%EOF\n", len(body), body))
	case "text/csv":
		return []byte("name,revision\n" + f.name + "," + strconv.FormatInt(f.version, 10) + "\n")
	}
	return []byte(text)
}

// query is a parsed files.list q: the clauses the emulator understands, joined by "and".
type query struct {
	parent, mime, notMime, name string
	trashed                     *bool
	mine                        bool // 'me' in owners: files the caller owns
}

var (
	reParent  = regexp.MustCompile(`^'([^']+)'\s+in\s+parents$`)
	reTrashed = regexp.MustCompile(`^trashed\s*=\s*(true|false)$`)
	reMime    = regexp.MustCompile(`^mimeType\s*(!?=)\s*'([^']*)'$`)
	reName    = regexp.MustCompile(`^name\s*=\s*'([^']*)'$`)
	reMine    = regexp.MustCompile(`^'me'\s+in\s+owners$`)
	reAnd     = regexp.MustCompile(`(?i)\s+and\s+`)
)

func parseQuery(q string) (query, bool) {
	var out query
	if strings.TrimSpace(q) == "" {
		return out, true
	}
	for _, cl := range reAnd.Split(strings.TrimSpace(q), -1) {
		cl = strings.TrimSpace(cl)
		if m := reParent.FindStringSubmatch(cl); m != nil {
			out.parent = m[1]
		} else if m := reTrashed.FindStringSubmatch(cl); m != nil {
			b := m[1] == "true"
			out.trashed = &b
		} else if m := reMime.FindStringSubmatch(cl); m != nil {
			if m[1] == "=" {
				out.mime = m[2]
			} else {
				out.notMime = m[2]
			}
		} else if m := reName.FindStringSubmatch(cl); m != nil {
			out.name = m[1]
		} else if reMine.MatchString(cl) {
			out.mine = true
		} else {
			return out, false
		}
	}
	return out, true
}

func (q query) match(f *file, rootOf func(string) string) bool {
	if q.parent != "" && f.parent != rootOf(q.parent) {
		return false
	}
	if q.trashed != nil && f.trashed != *q.trashed {
		return false
	}
	return (q.mime == "" || f.mime == q.mime) && (q.notMime == "" || f.mime != q.notMime) && (q.name == "" || f.name == q.name)
}

// filesList is files.list with corpora user|drive|allDrives (default user; drive when driveId).
func (e *Emulator) filesList(c *call) (int, any, *apiError) {
	q := c.r.URL.Query()
	n, aerr := pageSize(q, "pageSize", 100, 1000, true)
	if aerr != nil {
		return 0, nil, aerr
	}
	off, ok := readPageToken("files", q.Get("pageToken"))
	if !ok {
		return 0, nil, invalidValue("pageToken")
	}
	qq, ok := parseQuery(q.Get("q"))
	if !ok {
		return 0, nil, invalidValue("q")
	}
	corpora, driveID := q.Get("corpora"), q.Get("driveId")
	if corpora == "" {
		corpora = "user"
		if driveID != "" {
			corpora = "drive"
		}
	}
	allDrives := boolParam(q, "includeItemsFromAllDrives", false)
	switch {
	case corpora != "user" && corpora != "drive" && corpora != "allDrives" && corpora != "domain":
		return 0, nil, invalidValue("corpora")
	case (corpora == "drive") != (driveID != ""):
		return 0, nil, gerr(400, "badRequest", "The driveId parameter must be specified if and only if corpora is set to drive.").at("driveId", "parameter")
	case (corpora == "drive" || corpora == "allDrives") && (!allDrives || !boolParam(q, "supportsAllDrives", false)):
		return 0, nil, gerr(403, "teamDriveIncludeItemsRequired", "The includeItemsFromAllDrives and supportsAllDrives parameters must be true when corpora is drive or allDrives.").at("includeItemsFromAllDrives", "parameter")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	u := c.user
	if u == nil {
		return 200, withDefaultFields(c, map[string]any{"kind": "drive#fileList", "incompleteSearch": false, "files": []any{}}, defaultFilesFields), nil
	}
	if corpora == "drive" {
		d := e.drivesBy[driveID]
		if d == nil || e.driveRole(u, d) == "" {
			return 0, nil, gerr(404, "notFound", "Shared drive not found: %s", driveID).at("driveId", "parameter")
		}
	}
	rootOf := func(id string) string {
		if id == "root" {
			return u.root
		}
		return id
	}
	var list []any
	next := ""
	i := 0
	for _, f := range e.order {
		if f.deleted || f.root || !qq.match(f, rootOf) || (qq.mine && f.owner != u) {
			continue
		}
		in := false
		switch corpora {
		case "user", "domain":
			in = f.drive == "" && e.role(u, f) != ""
		case "drive":
			in = f.drive == driveID
		case "allDrives":
			in = e.role(u, f) != ""
		}
		if !in {
			continue
		}
		if i >= off {
			if len(list) == n {
				next = pageToken("files", i)
				break
			}
			list = append(list, e.fileJSON(f, u))
		}
		i++
	}
	out := map[string]any{"kind": "drive#fileList", "incompleteSearch": false, "files": list}
	if list == nil {
		out["files"] = []any{}
	}
	if next != "" {
		out["nextPageToken"] = next
	}
	return 200, withDefaultFields(c, out, defaultFilesFields), nil
}

// permissionsList lists a file's permissions, or a shared drive's members (its id as fileId,
// with supportsAllDrives). Items in shared drives list the drive's members as inherited
// permissions.
func (e *Emulator) permissionsList(c *call) (int, any, *apiError) {
	q := c.r.URL.Query()
	n, aerr := pageSize(q, "pageSize", 100, 100, true)
	if aerr != nil {
		return 0, nil, aerr
	}
	off, ok := readPageToken("perms", q.Get("pageToken"))
	if !ok {
		return 0, nil, invalidValue("pageToken")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	id := c.r.PathValue("id")
	var all []any
	inherited := func(d *sharedDrive) {
		for _, p := range d.members {
			m := permJSON(p)
			m["permissionDetails"] = []any{map[string]any{"permissionType": "member", "role": p.role, "inherited": id != d.id, "inheritedFrom": d.id}}
			all = append(all, m)
		}
	}
	if d := e.drivesBy[id]; d != nil {
		admin := boolParam(q, "useDomainAdminAccess", false) && c.user != nil && c.user.admin
		if c.user == nil || !boolParam(q, "supportsAllDrives", false) || (!admin && e.driveRole(c.user, d) == "") {
			return 0, nil, notFoundFile(id)
		}
		inherited(d)
	} else {
		f, aerr := e.lookup(c, id)
		if aerr != nil {
			return 0, nil, aerr
		}
		if r := e.role(c.user, f); r != "owner" && r != "writer" && r != "organizer" && r != "fileOrganizer" {
			return 0, nil, gerr(403, "insufficientFilePermissions", "The user does not have sufficient permissions for this file.")
		}
		if f.drive != "" {
			inherited(e.drivesBy[f.drive])
		} else {
			for _, p := range f.perms {
				all = append(all, permJSON(p))
			}
		}
	}
	out := map[string]any{"kind": "drive#permissionList", "permissions": []any{}}
	if off < len(all) {
		out["permissions"] = all[off:min(len(all), off+n)]
	}
	if off+n < len(all) {
		out["nextPageToken"] = pageToken("perms", off+n)
	}
	return 200, out, nil
}

// drivesList lists shared drives: the caller's, or every drive of the domain with
// useDomainAdminAccess=true (administrators only).
func (e *Emulator) drivesList(c *call) (int, any, *apiError) {
	q := c.r.URL.Query()
	n, aerr := pageSize(q, "pageSize", 10, 100, true)
	if aerr != nil {
		return 0, nil, aerr
	}
	off, ok := readPageToken("drives", q.Get("pageToken"))
	if !ok {
		return 0, nil, invalidValue("pageToken")
	}
	admin := boolParam(q, "useDomainAdminAccess", false)
	if admin && (c.user == nil || !c.user.admin) {
		return 0, nil, gerr(403, "insufficientAdministratorPrivileges", "The user does not have sufficient administrator privileges to perform this action.").at("useDomainAdminAccess", "parameter")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	var all []any
	for _, d := range e.drives {
		if admin || (c.user != nil && e.driveRole(c.user, d) != "") {
			all = append(all, map[string]any{"kind": "drive#drive", "id": d.id, "name": d.name, "createdTime": ts(d.created), "hidden": false})
		}
	}
	out := map[string]any{"kind": "drive#driveList", "drives": []any{}}
	if off < len(all) {
		out["drives"] = all[off:min(len(all), off+n)]
	}
	if off+n < len(all) {
		out["nextPageToken"] = pageToken("drives", off+n)
	}
	return 200, out, nil
}
