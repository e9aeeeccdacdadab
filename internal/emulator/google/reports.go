package google

import (
	"cmp"
	"encoding/base64"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The Admin SDK Reports API, activities.list (GET
// admin/reports/v1/activity/users/{userKey}/applications/{applicationName}), for applicationName
// drive: every Activity of the domain is one activity record, listed once the Reports lag has passed.
// Shapes from admin/reports/v1/admin-api.json of google.golang.org/api (schemas Activities and
// Activity, the method's parameters); event names, types and parameters from Google's Drive audit
// appendix (https://developers.google.com/admin-sdk/reports/v1/appendix/activity/drive, vendor notes
// 2a); the lag from the vendor notes' Corrections 11. What Google does not document is modelled and
// says so below.

// reportApps is the discovery document's applicationName enum. The emulator keeps activity for
// drive only: the others answer an empty report (modelled: a domain where nothing happened there).
var reportApps = map[string]bool{}

func init() {
	for _, a := range strings.Fields(`access_transparency admin calendar chat drive gcp gmail gplus groups
		groups_enterprise jamboard login meet mobile rules saml token user_accounts context_aware_access chrome
		data_studio keep vault gemini_in_workspace_apps classroom assignments cloud_search tasks data_migration
		meet_hardware directory_sync ldap profile access_evaluation admin_data_action contacts takeout graduation
		voice chrome_sync workspace_studio gemini_notebook`) {
		reportApps[a] = true
	}
}

// reportsRetention: "Reports can include data for up to the last 180 days" (the Drive activity
// report guide; the endTime description: a startTime more than 180 days back gives the last 180 days).
const reportsRetention = 180 * 24 * time.Hour

// errNotReportsAdmin is the Reports API's answer to a caller that is not an administrator with the
// Reports privilege: 401 "Access denied. You are not authorized to read activity records." (quoted
// with its 401 status in Microsoft's Defender for Cloud Apps troubleshooting table for the Google
// Workspace connector). The reason authError is modelled on Google's other 401s.
var errNotReportsAdmin = gerr(401, "authError", "Access denied. You are not authorized to read activity records.")

// aclEvent reports whether a Drive event name is a sharing change (type acl_change).
func aclEvent(name string) bool {
	switch name {
	case "change_user_access", "change_document_visibility", "change_document_access_scope":
		return true
	}
	return false
}

// reportFacts fills what the Reports record needs from the moment of the action. Called with e.mu
// held.
func (e *Emulator) reportFacts(a *Activity, actor *user, f *file) {
	a.IP = userIP(actor.email)
	a.ReportedAt = a.At.Add(e.reportLag(a.ID))
	a.DocType = docType(f.mime)
	a.Visibility = e.visibility(f)
}

// reportLag is the delay before an activity is listed, drawn from the seed and the activity's id
// (not from e.rng, so that Step's random sequence is what it was) in [ReportsLagMin, ReportsLagMax].
func (e *Emulator) reportLag(id string) time.Duration {
	lo, hi := e.o.ReportsLagMin, e.o.ReportsLagMax
	frac := float64(splitmix(uint64(e.o.Seed)^hashString("lag:"+id))>>11) / (1 << 53)
	return lo + time.Duration(frac*float64(hi-lo))
}

// userIP is the user's IP address, stable per user: modelled, in 198.18.0.0/15 (RFC 2544's
// benchmarking range, never routed).
func userIP(email string) string {
	h := splitmix(hashString("ip:" + strings.ToLower(email)))
	return fmt.Sprintf("198.%d.%d.%d", 18+h&1, (h>>8)&255, 1+(h>>16)%254)
}

// uniqueQualifier is the record's id.uniqueQualifier: a signed int64, stable for the seed and the
// activity (Google's are signed 64-bit numbers as text, e.g. "-2749105836617320954").
func (e *Emulator) uniqueQualifier(i int) string {
	return strconv.FormatInt(int64(splitmix(uint64(e.o.Seed)*0x9e3779b1+uint64(i)+1)), 10)
}

// docType is the appendix's doc_type for a MIME type (document, spreadsheet, presentation, folder,
// pdf, msword, msexcel, mspowerpoint, png, jpeg, txt, html, ...; unknown for the others, as for CSV
// and ZIP files here: the appendix lists no value for them).
func docType(mime string) string {
	switch mime {
	case MimeDoc:
		return "document"
	case MimeSheet:
		return "spreadsheet"
	case MimeSlides:
		return "presentation"
	case MimeFolder:
		return "folder"
	case "application/vnd.google-apps.drawing":
		return "drawing"
	case "application/vnd.google-apps.form":
		return "form"
	case "application/pdf":
		return "pdf"
	case "application/msword", "application/vnd.openxmlformats-officedocument.wordprocessingml.document":
		return "msword"
	case "application/vnd.ms-excel", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":
		return "msexcel"
	case "application/vnd.ms-powerpoint", "application/vnd.openxmlformats-officedocument.presentationml.presentation":
		return "mspowerpoint"
	case "image/png":
		return "png"
	case "image/jpeg":
		return "jpeg"
	case "text/plain":
		return "txt"
	case "text/html":
		return "html"
	case "video/mp4":
		return "mp4"
	}
	return "unknown"
}

// Visibility values, as the appendix lists them, ranked by reach: a file's visibility is the
// widest reach of its permissions (the ranking is modelled; Google does not document how it
// derives the value).
var visRank = map[string]int{"private": 0, "shared_internally": 1, "shared_externally": 2, "people_within_domain_with_link": 3,
	"public_in_the_domain": 4, "people_with_link": 5, "public_on_the_web": 6}

func (e *Emulator) internal(email string) bool {
	return strings.HasSuffix(strings.ToLower(email), "@"+strings.ToLower(e.o.Domain))
}

// visibility is f's visibility now. Shared drive items are shared with the drive's members.
// Called with e.mu held.
func (e *Emulator) visibility(f *file) string {
	best := "private"
	take := func(v string) {
		if visRank[v] > visRank[best] {
			best = v
		}
	}
	if f.drive != "" {
		if d := e.drivesBy[f.drive]; d != nil {
			for _, m := range d.members {
				if e.internal(m.email) {
					take("shared_internally")
				} else {
					take("shared_externally")
				}
			}
		}
		return best
	}
	for _, p := range f.perms {
		switch {
		case p.role == "owner":
		case p.typ == "anyone" && p.discover:
			take("public_on_the_web")
		case p.typ == "anyone":
			take("people_with_link")
		case p.typ == "domain" && strings.EqualFold(p.domain, e.o.Domain) && p.discover:
			take("public_in_the_domain")
		case p.typ == "domain" && strings.EqualFold(p.domain, e.o.Domain):
			take("people_within_domain_with_link")
		case p.typ == "domain" || !e.internal(p.email):
			take("shared_externally")
		default:
			take("shared_internally")
		}
	}
	return best
}

// visibilityChange is visibility_change (external, internal or none): the reach class the change
// moved the file into, none when the class stayed (modelled on the field samples, where sharing with
// an outside address is "external").
func visibilityChange(old, now string) string {
	class := func(v string) string {
		switch v {
		case "shared_externally", "people_with_link", "public_on_the_web":
			return "external"
		case "shared_internally", "people_within_domain_with_link", "public_in_the_domain":
			return "internal"
		}
		return "none"
	}
	if class(old) == class(now) {
		return "none"
	}
	return class(now)
}

// aclRole is a Drive API role as the audit log names it (old_value, new_value of sharing events:
// none, can_view, can_comment, can_edit, owner). Shared drive roles map to can_edit (modelled).
func aclRole(role string) string {
	switch role {
	case "":
		return "none"
	case "reader":
		return "can_view"
	case "commenter":
		return "can_comment"
	case "writer", "fileOrganizer", "organizer":
		return "can_edit"
	}
	return role
}

// folderTitle is a folder's title as move events name it (a My Drive root is "My Drive", a
// shared drive's root the drive's name). Called with e.mu held.
func (e *Emulator) folderTitle(id string) string {
	if d := e.drivesBy[id]; d != nil {
		return d.name
	}
	if f := e.files[id]; f != nil {
		return f.name
	}
	return ""
}

// Parameter values: value (string), boolValue, multiValue (the appendix's "list of strings").
func pStr(name, v string) map[string]any       { return map[string]any{"name": name, "value": v} }
func pBool(name string, v bool) map[string]any { return map[string]any{"name": name, "boolValue": v} }
func pList(name string, v ...string) map[string]any {
	return map[string]any{"name": name, "multiValue": v}
}

// reportRecord is the activity record of e.acts[i]. Called with e.mu held.
//
// One Activity is one record with one primary event (primary_event true), named as the Activity:
// "one is the primary event and the rest are side effects of that event (primary_event=false)"
// (the appendix's primary_event). A change of the domain or anyone permission is
// change_document_visibility with a change_document_access_scope side effect (the two events the
// field samples show for one link change; which one Google marks primary is modelled). A share
// with a user or group is one change_user_access event carrying the visibility change as its
// visibility, old_visibility and visibility_change parameters, as in the field samples. Parameters
// old_value and new_value are multiValue, as field samples of sharing events carry them (Panther's
// Drive detections; a normaliser notes "Drive emits new_value natively (as a list)"); the rename's
// old_value/new_value and the move's folder ids and titles are modelled the same way (not verified
// against the appendix's rows for rename and move; the adapter reads a value or a list alike);
// originating_app_id (only for actions through an app), deletion_reason and the newer
// resourceDetails, networkInfo and userDeviceInfo are left out.
func (e *Emulator) reportRecord(i int) map[string]any {
	a := &e.acts[i]
	owner, ownerDomain := a.Owner, ""
	if at := strings.LastIndex(owner, "@"); at >= 0 {
		ownerDomain = owner[at+1:]
	}
	var driveName string
	if a.DriveID != "" {
		if d := e.drivesBy[a.DriveID]; d != nil {
			driveName = d.name
		}
		ownerDomain = e.o.Domain // modelled: the customer's primary domain owns shared drive items
	}
	common := func(primary bool, specific ...map[string]any) []any {
		ps := []any{pBool("primary_event", primary), pBool("billable", true)}
		for _, p := range specific {
			ps = append(ps, p)
		}
		if a.DriveID != "" {
			// The appendix: owner is "the name of the shared drive" for its items; the drive's id
			// is owner_shared_drive_id, and field samples carry it as shared_drive_id too.
			ps = append(ps, pBool("owner_is_shared_drive", true), pStr("owner", driveName),
				pStr("owner_shared_drive_id", a.DriveID), pStr("shared_drive_id", a.DriveID))
		} else {
			ps = append(ps, pBool("owner_is_shared_drive", false), pStr("owner", owner))
		}
		if a.Detail["api"] == "true" {
			// An action through the API names the application: the appendix's originating_app_id,
			// "the Google Cloud project ID of the application that performed the action" (modelled
			// as the service account key's project_id).
			ps = append(ps, pStr("originating_app_id", e.projectID()))
		}
		return append(ps, pStr("doc_id", a.FileID), pStr("doc_type", a.DocType), pBool("is_encrypted", false),
			pStr("doc_title", a.FileName), pStr("visibility", a.Visibility), pBool("actor_is_collaborator_account", false))
	}
	ev := func(name string, params []any) map[string]any {
		typ := "access"
		if aclEvent(name) {
			typ = "acl_change"
		}
		return map[string]any{"type": typ, "name": name, "parameters": params}
	}
	d := a.Detail
	var events []any
	switch a.Name {
	case "rename":
		events = append(events, ev(a.Name, common(true, pList("old_value", d["old_value"]), pList("new_value", d["new_value"]))))
	case "move":
		events = append(events, ev(a.Name, common(true,
			pList("source_folder_id", d["source_folder_id"]), pList("source_folder_title", d["source_folder_title"]),
			pList("destination_folder_id", d["destination_folder_id"]), pList("destination_folder_title", d["destination_folder_title"]))))
	case "copy":
		// copy_type internal|external: the emulator copies files of its own domain only.
		events = append(events, ev(a.Name, common(true, pStr("copy_type", "internal"))))
	case "change_user_access":
		oldRole, newRole := aclRole(d["old_role"]), aclRole(d["role"])
		if d["new_value"] == "none" { // Unshare
			oldRole, newRole = aclRole(d["role"]), "none"
		}
		events = append(events, ev(a.Name, common(true, pStr("visibility_change", visibilityChange(a.OldVisibility, a.Visibility)),
			pStr("target_user", d["target"]), pList("old_value", oldRole), pList("new_value", newRole),
			pStr("old_visibility", a.OldVisibility))))
	case "change_document_visibility":
		target := d["target"]
		if d["type"] == "anyone" {
			target = "all" // target_domain "all" is anyone (vendor notes 2a)
		}
		oldRole, newRole := aclRole(d["old_role"]), aclRole(d["role"])
		if d["new_value"] == "none" {
			oldRole, newRole = aclRole(d["role"]), "none"
		}
		events = append(events,
			ev(a.Name, common(true, pStr("visibility_change", visibilityChange(a.OldVisibility, a.Visibility)),
				pStr("target_domain", target), pList("old_value", a.OldVisibility), pList("new_value", a.Visibility),
				pStr("old_visibility", a.OldVisibility))),
			ev("change_document_access_scope", common(false, pStr("target_domain", target),
				pList("old_value", oldRole), pList("new_value", newRole))))
	default: // create, upload, edit, view, download, trash, untrash, delete, source_copy
		events = append(events, ev(a.Name, common(true)))
	}
	actor := map[string]any{"callerType": "USER", "email": a.Actor}
	if u := e.byEmail[a.Actor]; u != nil {
		actor["profileId"] = u.id
	}
	uq := e.uniqueQualifier(i)
	m := map[string]any{
		"kind": "admin#reports#activity",
		"id":   map[string]any{"time": ts(a.At), "uniqueQualifier": uq, "applicationName": "drive", "customerId": e.o.CustomerID},
		"etag": etag("activity", uq, a.ID), "actor": actor, "ipAddress": a.IP, "events": events,
	}
	if ownerDomain != "" {
		m["ownerDomain"] = ownerDomain
	}
	return m
}

// reportFilter is one term of the filters parameter: {parameter}{operator}{value}, operators ==,
// <>, <, <=, >, >= (the method's filters description).
type reportFilter struct{ name, op, value string }

func parseReportFilters(s string) ([]reportFilter, bool) {
	if s == "" {
		return nil, true
	}
	var out []reportFilter
	for _, term := range strings.Split(s, ",") {
		i := strings.IndexAny(term, "<>=")
		if i <= 0 {
			return nil, false
		}
		op := term[i:]
		n := 1
		for _, o := range []string{"<>", "<=", ">=", "=="} {
			if strings.HasPrefix(op, o) {
				n = 2
				break
			}
		}
		if n == 1 && op[0] == '=' {
			return nil, false
		}
		out = append(out, reportFilter{name: term[:i], op: op[:n], value: term[i+n:]})
	}
	return out, true
}

// matches: the parameter is among the event's, and one of its values satisfies the operator
// (numbers compared as numbers). "An empty report is returned if the request's parameter doesn't
// belong to the eventName."
func (f reportFilter) matches(params []any) bool {
	for _, raw := range params {
		p := raw.(map[string]any)
		if p["name"] != f.name {
			continue
		}
		var vals []string
		switch v := p["value"].(type) {
		case string:
			vals = append(vals, v)
		}
		if b, ok := p["boolValue"].(bool); ok {
			vals = append(vals, strconv.FormatBool(b))
		}
		if l, ok := p["multiValue"].([]string); ok {
			vals = append(vals, l...)
		}
		for _, v := range vals {
			c := strings.Compare(v, f.value)
			if x, err1 := strconv.ParseFloat(v, 64); err1 == nil {
				if y, err2 := strconv.ParseFloat(f.value, 64); err2 == nil {
					c = cmp.Compare(x, y)
				}
			}
			if (f.op == "==" && c == 0) || (f.op == "<>" && c != 0) || (f.op == "<" && c < 0) || (f.op == "<=" && c <= 0) ||
				(f.op == ">" && c > 0) || (f.op == ">=" && c >= 0) {
				return true
			}
		}
	}
	return false
}

// reportCursor is a page token: the position (time, index) of the last record of the page; the next
// page lists the records after it in the listing's order (newest first). Opaque to clients. A
// record that becomes visible later at a position before the cursor is not listed by this paging:
// as with Google's lag, a collector must re-read an overlap window.
func reportCursor(at time.Time, i int) string {
	return base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("reports:%d:%d", at.UnixNano(), i)))
}

func readReportCursor(tok string) (time.Time, int, bool) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return time.Time{}, 0, false
	}
	parts := strings.Split(string(b), ":")
	if len(parts) != 3 || parts[0] != "reports" {
		return time.Time{}, 0, false
	}
	ns, err1 := strconv.ParseInt(parts[1], 10, 64)
	i, err2 := strconv.Atoi(parts[2])
	if err1 != nil || err2 != nil || i < 0 {
		return time.Time{}, 0, false
	}
	return time.Unix(0, ns), i, true
}

func parseReportTime(q map[string][]string, name string) (time.Time, bool, *apiError) {
	l := q[name]
	if len(l) == 0 || l[0] == "" {
		return time.Time{}, false, nil
	}
	t, err := time.Parse(time.RFC3339Nano, l[0])
	if err != nil {
		// Modelled: Google refuses a value that does not match the parameter's RFC 3339 pattern.
		return time.Time{}, false, gerr(400, "invalid", "Invalid value '%s'. Values must match the following regular expression: '(\\d\\d\\d\\d)-(\\d\\d)-(\\d\\d)T(\\d\\d):(\\d\\d):(\\d\\d)(?:\\.(\\d+))?(?:(Z)|([-+])(\\d\\d):(\\d\\d))'", l[0]).at(name, "parameter")
	}
	return t, true, nil
}

// activitiesList is activities.list.
//
// Parameters: userKey all, a user's primary email or id (another answers 400 Bad Request,
// modelled); applicationName one of the enum (drive has records, the others are empty; a name not
// in it answers 400, modelled); startTime and endTime, RFC 3339, both inclusive ("Return events
// which occured at or after this time" / "at or before this time" in the discovery document's
// earlier descriptions); startTime after endTime or after now answers 400 ("The startTime must be
// before the endTime (if specified) and the current time when the request is made, or the API
// returns an error"; the message is modelled); nothing older than 180 days; maxResults 1..1000
// (default 1000, else 400 as the discovery document's bounds say); pageToken; eventName (records
// with an event of that name); filters (records with an event having every term; ==, <>, <, <=, >,
// >=); actorIpAddress; customerId (my_customer or the customer's id; another answers as a caller
// that may not read it, modelled). Records are newest first; a record is listed only from its
// ReportedAt on. Only an administrator may call it (401, errNotReportsAdmin).
func (e *Emulator) activitiesList(c *call) (int, any, *apiError) {
	if c.user == nil || !c.user.admin {
		return 0, nil, errNotReportsAdmin
	}
	q := c.r.URL.Query()
	app, userKey := c.r.PathValue("applicationName"), c.r.PathValue("userKey")
	if !reportApps[app] {
		return 0, nil, gerr(400, "invalid", "Invalid value '%s'.", app).at("applicationName", "parameter")
	}
	n, aerr := pageSize(q, "maxResults", 1000, 1000, true)
	if aerr != nil {
		return 0, nil, aerr
	}
	if cust := q.Get("customerId"); cust != "" && cust != "my_customer" && cust != e.o.CustomerID {
		return 0, nil, errNotReportsAdmin
	}
	start, hasStart, aerr := parseReportTime(q, "startTime")
	if aerr != nil {
		return 0, nil, aerr
	}
	end, hasEnd, aerr := parseReportTime(q, "endTime")
	if aerr != nil {
		return 0, nil, aerr
	}
	filters, ok := parseReportFilters(q.Get("filters"))
	if !ok {
		return 0, nil, gerr(400, "invalid", "Invalid value '%s'.", q.Get("filters")).at("filters", "parameter")
	}
	var curAt time.Time
	curIdx, hasCur := -1, false
	if tok := q.Get("pageToken"); tok != "" {
		if curAt, curIdx, hasCur = readReportCursor(tok); !hasCur {
			return 0, nil, invalidValue("pageToken")
		}
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.clk.Now()
	switch {
	case hasStart && hasEnd && start.After(end):
		return 0, nil, gerr(400, "invalid", "Start time must be before end time.").at("startTime", "parameter")
	case hasStart && start.After(now):
		return 0, nil, gerr(400, "invalid", "Start time must be before the current time.").at("startTime", "parameter")
	}
	if oldest := now.Add(-reportsRetention); !hasStart || start.Before(oldest) {
		start = oldest
	}
	if !hasEnd || end.After(now) {
		end = now
	}
	var actor string
	if userKey != "all" {
		u := e.byEmail[strings.ToLower(userKey)]
		if u == nil {
			u = e.byID[userKey]
		}
		if u == nil {
			return 0, nil, gerr(400, "badRequest", "Bad Request")
		}
		actor = u.email
	}
	body := map[string]any{"kind": "admin#reports#activities"}
	if app != "drive" {
		body["etag"] = etag("activities", app, now.UnixNano())
		return 200, body, nil
	}
	ip, eventName := q.Get("actorIpAddress"), q.Get("eventName")
	type hit struct {
		i   int
		rec map[string]any
	}
	var hits []hit
	for i := range e.acts {
		a := &e.acts[i]
		if now.Before(a.ReportedAt) || a.At.Before(start) || a.At.After(end) || (actor != "" && a.Actor != actor) || (ip != "" && a.IP != ip) {
			continue
		}
		if hasCur && !(a.At.Before(curAt) || (a.At.Equal(curAt) && i < curIdx)) {
			continue
		}
		var rec map[string]any // built here only when the events must be matched, else for the page
		if eventName != "" || len(filters) > 0 {
			rec = e.reportRecord(i)
			match := false
			for _, raw := range rec["events"].([]any) {
				ev := raw.(map[string]any)
				ok := eventName == "" || ev["name"] == eventName
				for _, f := range filters {
					ok = ok && f.matches(ev["parameters"].([]any))
				}
				match = match || ok
			}
			if !match {
				continue
			}
		}
		hits = append(hits, hit{i, rec})
	}
	sort.Slice(hits, func(x, y int) bool {
		ax, ay := e.acts[hits[x].i].At, e.acts[hits[y].i].At
		if !ax.Equal(ay) {
			return ax.After(ay)
		}
		return hits[x].i > hits[y].i
	})
	if len(hits) > n {
		last := hits[n-1].i
		body["nextPageToken"] = reportCursor(e.acts[last].At, last)
		hits = hits[:n]
	}
	if len(hits) > 0 {
		items := make([]any, len(hits))
		for k, h := range hits {
			if h.rec == nil {
				h.rec = e.reportRecord(h.i)
			}
			items[k] = h.rec
		}
		body["items"] = items
	}
	body["etag"] = etag("activities", len(hits), fmt.Sprint(body["nextPageToken"]), now.UnixNano())
	e.stats.ReportsRecords += len(hits)
	return 200, body, nil
}
