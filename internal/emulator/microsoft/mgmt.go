package microsoft

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The Office 365 Management Activity API (office-365-management-activity-api-reference.md,
// -schema.md and troubleshooting-the-office-365-management-activity-api.md; copies in
// ../shared/vendor/microsoft). Served under /api/v1.0/{tenant}/activity/feed/ on the emulator's
// URL, the root a client configures in place of https://manage.office.com.

// Content types the API knows (the reference's list); the emulator produces records for
// Audit.SharePoint (drive actions) and Audit.Exchange (Send), the others are subscribable and
// empty.
const (
	ContentSharePoint = "Audit.SharePoint"
	ContentExchange   = "Audit.Exchange"
)

var contentTypes = map[string]bool{"Audit.AzureActiveDirectory": true, ContentExchange: true, ContentSharePoint: true, "Audit.General": true, "DLP.All": true}

// auditTimeFmt is CreationTime's format: UTC without a zone ("2015-06-29T20:03:19", the
// reference's sample records).
const auditTimeFmt = "2006-01-02T15:04:05"

// contentTimeFmt is contentCreated's and contentExpiration's ("2015-05-23T17:35:00.000Z").
const contentTimeFmt = "2006-01-02T15:04:05.000Z"

// contentRetention: "Content is available to fetch via the API for 7 days after the
// notification of the content availability"; startTime "no more than 7 days in the past".
const contentRetention = 7 * 24 * time.Hour

// auditRecord is one record waiting to be gathered into a blob.
type auditRecord struct {
	ctype string
	avail time.Time
	body  map[string]any
}

type auditBlob struct {
	id, ctype string
	created   time.Time // when the blob was made (the end of its gathering interval)
	records   []map[string]any
}

// mgmtSub is a subscription to one content type: enabled intervals (stop and start again
// loses what came between), and when it was first started.
type mgmtSub struct {
	enabled   bool
	first     time.Time
	lastStart time.Time
	spans     [][2]time.Time // [from, to); to zero while enabled
}

type auditState struct {
	rng      *mrand.Rand // lags, duplicates: apart from the tenant's rng
	seed     uint64
	pending  []*auditRecord
	all      []map[string]any            // every record, in action order
	carry    map[string][]map[string]any // duplicates waiting for the next blob, by content type
	blobs    []*auditBlob                // in creation order
	blobsBy  map[string]*auditBlob
	gathered time.Time // records available before this are in blobs
	subs     map[string]*mgmtSub
	quota    bucket // the tenant's
	shared   bucket // requests without PublisherIdentifier
}

func (a *auditState) init(o Options) {
	a.seed = uint64(o.Seed) ^ 0xa0d17
	a.rng = mrand.New(mrand.NewPCG(a.seed, 0xa0d1))
	a.carry = map[string][]map[string]any{}
	a.blobsBy = map[string]*auditBlob{}
	a.subs = map[string]*mgmtSub{}
}

// hashGUID is a stable GUID derived from a string (site ids, list ids).
func hashGUID(s string) string {
	h := fnv.New128a()
	h.Write([]byte(s))
	b := h.Sum(nil)
	return guid(binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:]))
}

// userKey is SharePoint's UserKey: the user's PUID as a claims login
// ("i:0h.f|membership|10033fff84b4e3a8@live.com"; the schema: "populated with the passport
// unique ID (PUID)").
func userKey(u *user) string {
	h := fnv.New64a()
	h.Write([]byte(u.id))
	return fmt.Sprintf("i:0h.f|membership|1003%012x@live.com", h.Sum64()&0xffffffffffff)
}

// clientIP is a user's address (documentation ranges, stable per user; modelled).
func clientIP(u *user) string {
	h := fnv.New32a()
	h.Write([]byte(u.id))
	x := h.Sum32()
	return fmt.Sprintf("203.0.113.%d", 1+x%254)
}

var userAgents = []string{
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0",
	"Microsoft SkyDriveSync 24.010.0114.0003 ship; Windows NT 10.0 (19045)",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
}

// siteURL is a OneDrive's site ("https://example-my.sharepoint.com/personal/ada_lopez_example_com/").
func (e *Emulator) siteURL(d *drive) string {
	return "https://" + e.tenantHost() + "/" + personal(d.owner) + "/"
}

// relFolder is the site-relative URL of the folder holding it ("Documents/Reports"), unescaped
// as in the records.
func relFolder(parent *item) string { return "Documents" + pathOf(parent) }

func extOf(name string) string {
	if i := strings.LastIndex(name, "."); i > 0 {
		return name[i+1:]
	}
	return ""
}

// sharingOps are the operations recorded with the SharePoint Sharing schema (RecordType 14,
// SharePointSharingOperation); the others are file operations (RecordType 6).
var sharingOps = map[string]bool{"SharingSet": true, "SharingInvitationCreated": true, "AnonymousLinkCreated": true,
	"CompanyLinkCreated": true, "SecureLinkCreated": true, "AddedToSecureLink": true, "SharingRevoked": true, "SharedLinkDisabled": true}

// auditFor builds the Audit.SharePoint record of an action, from the state right after it, and
// queues it for availability a lag later. Called with e.mu held, from record().
//
// Fields (o365-mgmt-api-schema.md): the common schema (Id, RecordType, CreationTime, Operation,
// OrganizationId, UserType, UserKey, Workload "OneDrive", UserId, ClientIP, ObjectId), the
// SharePoint base schema (Site, ItemType File/Folder, EventSource SharePoint, UserAgent, ListId,
// ListItemUniqueId), and the file operations schema (SiteUrl, SourceRelativeUrl, SourceFileName,
// SourceFileExtension, DestinationRelativeUrl, DestinationFileName, DestinationFileExtension) or
// the sharing schema (SiteUrl, SourceRelativeUrl, SourceFileName, SourceFileExtension,
// TargetUserOrGroupName, TargetUserOrGroupType, EventData, UniqueSharingId). Modelled where the
// schema is silent: Destination* also on renames (the schema names them for FileCopied and
// FileMoved), ObjectId the item's URL after the action, EventData's XML, link groups as targets.
func (e *Emulator) auditFor(a Activity, u *user, it *item) {
	d := it.drive
	site := e.siteURL(d)
	name, folder := it.name, relFolder(it.parent)
	srcName, srcFolder := name, folder
	rec := map[string]any{
		"Id": a.ID, "CreationTime": a.At.UTC().Format(auditTimeFmt), "Operation": a.Operation,
		"OrganizationId": e.o.TenantID, "UserType": 0, "UserKey": userKey(u), "Workload": "OneDrive",
		"UserId": strings.ToLower(u.upn), "ClientIP": clientIP(u),
		"Site": hashGUID("site:" + d.id), "ListId": hashGUID("list:" + d.id), "ListItemUniqueId": it.tag,
		"ItemType": "File", "EventSource": "SharePoint", "UserAgent": userAgents[int(fnv32(u.id+a.Operation))%len(userAgents)],
		"SiteUrl": site,
	}
	if u.admin {
		rec["UserType"] = 2
	}
	if it.folder {
		rec["ItemType"] = "Folder"
	}
	switch a.Operation {
	case "FileRenamed", "FolderRenamed":
		srcName = a.Detail["old_name"]
		rec["DestinationRelativeUrl"], rec["DestinationFileName"] = folder, name
	case "FileMoved", "FolderMoved":
		if from := e.items[a.Detail["from_parent"]]; from != nil {
			srcFolder = relFolder(from)
		}
		rec["DestinationRelativeUrl"], rec["DestinationFileName"] = folder, name
	}
	if _, ok := rec["DestinationFileName"]; ok && !it.folder && extOf(name) != "" {
		rec["DestinationFileExtension"] = extOf(name)
	}
	rec["SourceRelativeUrl"], rec["SourceFileName"] = srcFolder, srcName
	if x := extOf(srcName); x != "" && !it.folder {
		rec["SourceFileExtension"] = x
	}
	rec["ObjectId"] = site + folder + "/" + name
	if sharingOps[a.Operation] {
		rec["RecordType"] = 14
		e.sharingFields(a, it, rec)
	} else {
		rec["RecordType"] = 6
	}
	st := &e.audit
	lag := e.o.AuditLagMin
	if span := e.o.AuditLagMax - e.o.AuditLagMin; span > 0 {
		lag += time.Duration(st.rng.Int64N(int64(span) + 1))
	}
	st.pending = append(st.pending, &auditRecord{ctype: ContentSharePoint, avail: a.At.Add(lag), body: rec})
	st.all = append(st.all, rec)
}

// auditSend queues the Audit.Exchange record of a sent message: RecordType 2 (ExchangeItem),
// Operation Send, Workload Exchange, with the Exchange Mailbox schema (LogonType 0 Owner,
// InternalLogonType, MailboxGuid, MailboxOwnerUPN, ExternalAccess, OrganizationName,
// ClientIPAddress, ClientInfoString, recipientCount, recipientList) and the mailbox audit record's
// Item (Id, Subject, ParentFolder {Id, Path}, Attachments "names and file size",
// InternetMessageId, SizeInBytes) and SaveToSentItems. Whether Send is audited depends on the
// tenant's licensing and mailbox audit settings (NOTES 3b); the emulator audits every Send.
// Value formats (Attachments, ClientInfoString, the folder path) are modelled. Called with e.mu
// held.
func (e *Emulator) auditSend(u *user, mb *mailbox, m *message) {
	var names []string
	size := len(m.body) + len(m.subject) + 2000
	for _, a := range m.atts {
		names = append(names, fmt.Sprintf("%s (%db)", a.name, a.size))
		size += a.size
	}
	var rl []any
	for _, r := range append(append(append([]string(nil), m.to...), m.cc...), m.bcc...) {
		name := r
		if x := e.usersBy[r]; x != nil {
			name = x.name()
		}
		rl = append(rl, map[string]any{"Address": r, "Name": name})
	}
	item := map[string]any{"Id": m.id, "Subject": m.subject, "InternetMessageId": m.imid, "SizeInBytes": size,
		"ParentFolder": map[string]any{"Id": mb.folderID, "Path": "\\Sent Items"}}
	if len(names) > 0 {
		item["Attachments"] = strings.Join(names, "; ")
	}
	rec := map[string]any{
		"Id": hashGUID("send:" + m.id), "RecordType": 2, "CreationTime": m.sent.UTC().Format(auditTimeFmt), "Operation": "Send",
		"OrganizationId": e.o.TenantID, "UserType": 0, "UserKey": strings.TrimPrefix(strings.TrimSuffix(userKey(u), "@live.com"), "i:0h.f|membership|"),
		"Workload": "Exchange", "ResultStatus": "Succeeded", "UserId": strings.ToLower(u.upn), "ClientIP": clientIP(u),
		"LogonType": 0, "InternalLogonType": 0, "MailboxGuid": hashGUID("mailbox:" + u.id), "MailboxOwnerUPN": strings.ToLower(u.upn),
		"ExternalAccess": false, "OrganizationName": e.o.InitialDomain, "ClientIPAddress": clientIP(u),
		"ClientInfoString": "Client=OWA;Action=ViaProxy", "Item": item, "SaveToSentItems": true,
		"recipientCount": len(rl), "recipientList": rl,
	}
	if u.admin {
		rec["UserType"] = 2
	}
	st := &e.audit
	lag := e.o.AuditLagMin
	if span := e.o.AuditLagMax - e.o.AuditLagMin; span > 0 {
		lag += time.Duration(st.rng.Int64N(int64(span) + 1))
	}
	st.pending = append(st.pending, &auditRecord{ctype: ContentExchange, avail: m.sent.Add(lag), body: rec})
	st.all = append(st.all, rec)
}

func fnv32(s string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(s))
	return h.Sum32()
}

// sharingFields adds the sharing schema's fields: the target (a user's UPN or an external
// address; a link's SharePoint group for link creations, modelled on the
// "SharingLinks.<item>.<kind>.<link>" groups SharePoint makes), Member, Guest or Group, the
// sharing id and an EventData XML fragment (modelled).
func (e *Emulator) sharingFields(a Activity, it *item, rec map[string]any) {
	delete(rec, "DestinationRelativeUrl")
	delete(rec, "DestinationFileName")
	delete(rec, "DestinationFileExtension")
	pid := a.Detail["permission_id"]
	sid := pid
	if !guidTenantRe.MatchString(sid) {
		sid = hashGUID("share:" + a.ID)
	}
	rec["UniqueSharingId"] = sid
	target := a.Detail["target"]
	role := map[string]string{"read": "Read", "write": "Contribute"}[a.Detail["role"]]
	switch a.Operation {
	case "AnonymousLinkCreated", "CompanyLinkCreated", "SecureLinkCreated", "SharedLinkDisabled":
		kind := map[string]string{ScopeAnonymous: "Anonymous", ScopeOrganization: "Organization", ScopeUsers: "Flexible"}[a.Detail["scope"]]
		typ := map[string]string{LinkView: "View", LinkEdit: "Edit"}[a.Detail["type"]]
		if a.Operation == "SharedLinkDisabled" {
			kind, typ = "", ""
		}
		rec["TargetUserOrGroupName"] = "SharingLinks." + it.tag + "." + kind + typ + "." + sid
		rec["TargetUserOrGroupType"] = "Group"
		if typ != "" {
			rec["EventData"] = "<Type>" + typ + "</Type>"
		}
		return
	case "SharingRevoked":
		rec["EventData"] = "<PermissionsRevoked>All</PermissionsRevoked>"
		return
	}
	rec["TargetUserOrGroupName"] = target
	if e.internal(target) {
		rec["TargetUserOrGroupType"] = "Member"
	} else {
		rec["TargetUserOrGroupType"] = "Guest"
	}
	if role != "" {
		rec["EventData"] = "<PermissionsGranted>" + role + "</PermissionsGranted>"
	}
}

// gather turns the records available by now into blobs: one per content type and interval,
// created at the interval's end, its records shuffled; a record drawn as a duplicate comes again
// in the next blob of its type. Called with e.mu held.
func (e *Emulator) gather() {
	st := &e.audit
	iv := e.o.AuditBlobInterval
	now := e.clk.Now()
	upTo := now.Truncate(iv) // intervals ending at or before now are complete
	if !upTo.After(st.gathered) {
		return
	}
	st.gathered = upTo
	type key struct {
		ctype string
		end   time.Time
	}
	groups := map[key][]map[string]any{}
	var keep []*auditRecord
	for _, r := range st.pending {
		if r.avail.Before(upTo) {
			k := key{r.ctype, r.avail.Truncate(iv).Add(iv)}
			groups[k] = append(groups[k], r.body)
		} else {
			keep = append(keep, r)
		}
	}
	st.pending = keep
	keys := make([]key, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if !keys[i].end.Equal(keys[j].end) {
			return keys[i].end.Before(keys[j].end)
		}
		return keys[i].ctype < keys[j].ctype
	})
	for _, k := range keys {
		recs := append(st.carry[k.ctype], groups[k]...)
		delete(st.carry, k.ctype)
		// The blob's own rng: its order and duplicates do not depend on when clients read.
		r := mrand.New(mrand.NewPCG(st.seed^uint64(k.end.Unix()), uint64(len(st.blobs))))
		r.Shuffle(len(recs), func(i, j int) { recs[i], recs[j] = recs[j], recs[i] })
		for _, rec := range groups[k] {
			if e.o.AuditDuplicate > 0 && r.Float64() < e.o.AuditDuplicate {
				st.carry[k.ctype] = append(st.carry[k.ctype], rec)
			}
		}
		ms := k.end.UnixMilli()
		stamp := k.end.UTC().Format("20060102150405") + fmt.Sprintf("%03d%06d", ms%1000, len(st.blobs))
		slug := strings.ToLower(strings.ReplaceAll(k.ctype, ".", "_"))
		b := &auditBlob{id: stamp + "$" + stamp + "$" + slug + "$" + strings.ReplaceAll(k.ctype, ".", "_"),
			ctype: k.ctype, created: k.end, records: recs}
		st.blobs = append(st.blobs, b)
		st.blobsBy[b.id] = b
	}
}

// visible reports when a blob became available to the subscription (zero: never): its creation,
// within an enabled span, held back to first+AuditFirstContentDelay.
func (e *Emulator) visible(s *mgmtSub, b *auditBlob) time.Time {
	if s == nil || !s.enabled {
		return time.Time{}
	}
	in := false
	for _, sp := range s.spans {
		if !b.created.Before(sp[0]) && (sp[1].IsZero() || b.created.Before(sp[1])) {
			in = true
		}
	}
	if !in {
		return time.Time{}
	}
	at := b.created
	if hold := s.first.Add(e.o.AuditFirstContentDelay); at.Before(hold) {
		at = hold
	}
	if at.After(e.clk.Now()) {
		return time.Time{}
	}
	return at
}

// mgmtError is the API's error: {"error":{"code":"AF...","message":"..."}} (the reference's
// Errors section). HTTP statuses: 403 for AF429 (troubleshooting: "Response Code 403:
// {'error':{'code':'AF429',...}}"), 400 for AF20024 (observed: clients test for status 400 and
// that code); the rest modelled (401 for AF10001, 400 for the other AF2xxxx, 500 for AF50000).
type mgmtError struct {
	status        int
	code, message string
}

func aferr(status int, code, format string, args ...any) *mgmtError {
	return &mgmtError{status, code, fmt.Sprintf(format, args...)}
}

const msgWindow = "Start time and end time must both be specified (or both omitted) and must be less than or equal to 24 hours apart, with the start time prior to end time and start time no more than 7 days in the past."

// mgmtCall is one authenticated Management API request.
type mgmtCall struct {
	r      *http.Request
	root   string // "http://host/api/v1.0/{tenant}/activity/feed"
	method string // the operation's name in AF429 messages
	pub    string // PublisherIdentifier
}

var guidTenantRe = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// serveManage is /api/v1.0/{tenant}/activity/feed/...: authentication (a manage.office.com token
// with ActivityFeed.Read, for this tenant), the quota, faults, then the operation.
func (e *Emulator) serveManage(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, "/api/v1.0/")
	tenant, op, ok := strings.Cut(rest, "/activity/feed/")
	e.mu.Lock()
	e.stats.Requests++
	e.stats.AuditRequests++
	tokStr, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	t := e.tokens[tokStr]
	e.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	if t == nil || t.resource != ResourceManage || !e.clk.Now().Before(t.expires) {
		// Modelled: the API is an ASP.NET Web API; a request it cannot authenticate gets that
		// framework's answer.
		writeJSONAs(w, 401, ctToken, map[string]any{"Message": "Authorization has been denied for this request."})
		return
	}
	if !t.roles[RoleActivityFeedRead] {
		var perms []string
		for p := range t.roles {
			perms = append(perms, p)
		}
		sort.Strings(perms)
		e.mgmtRespond(w, 0, nil, aferr(401, "AF10001", "The permission set (%s) sent in the request did not include the expected permission ActivityFeed.Read.", strings.Join(perms, ",")))
		return
	}
	if !guidTenantRe.MatchString(tenant) {
		e.mgmtRespond(w, 0, nil, aferr(400, "AF20013", "The tenant ID passed in the URL (%s) is not a valid GUID.", tenant))
		return
	}
	if !strings.EqualFold(tenant, e.o.TenantID) {
		e.mgmtRespond(w, 0, nil, aferr(400, "AF20010", "The tenant ID passed in the URL (%s) does not match the tenant ID passed in the access token (%s).", tenant, e.o.TenantID))
		return
	}
	c := &mgmtCall{r: r, root: "http://" + r.Host + "/api/v1.0/" + tenant + "/activity/feed", pub: publisher(r.URL.Query())}
	var h func(*mgmtCall) (int, any, *mgmtError)
	switch {
	case op == "subscriptions/start" && r.Method == http.MethodPost:
		c.method, h = "StartSubscription", e.mgmtStart
	case op == "subscriptions/stop" && r.Method == http.MethodPost:
		c.method, h = "StopSubscription", e.mgmtStop
	case op == "subscriptions/list" && r.Method == http.MethodGet:
		c.method, h = "ListSubscriptions", e.mgmtList
	case op == "subscriptions/content" && r.Method == http.MethodGet:
		c.method, h = "ListContent", e.mgmtContent
	case strings.HasPrefix(op, "audit/") && r.Method == http.MethodGet:
		c.method, h = "GetBlob", e.mgmtBlob
	default:
		// Modelled: an operation the emulator does not serve (notifications, resources).
		e.mgmtRespond(w, 0, nil, aferr(404, "AF20050", "The specified content (%s) does not exist.", op))
		return
	}
	e.mu.Lock()
	if c.pub == "" {
		e.stats.AuditNoPublisher++
	}
	if !e.mgmtAllow(c.pub != "") {
		e.stats.AuditThrottled++
		e.mu.Unlock()
		e.mgmtRespond(w, 0, nil, e.af429(c))
		return
	}
	fault := e.inject.Pick()
	if fault != "" {
		e.stats.Faults++
	}
	e.mu.Unlock()
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		status, body, me := h(c)
		e.mgmtRespond(w, status, body, me)
	})
	if fault == "" {
		next.ServeHTTP(w, r)
		return
	}
	e.inject.Serve(fault, w, r, next, func(w http.ResponseWriter, status int, _ time.Duration) {
		if status == 429 {
			e.mgmtRespond(w, 0, nil, e.af429(c))
			return
		}
		e.mgmtRespond(w, 0, nil, aferr(status, "AF50000", "An internal error occurred. Retry the request."))
	})
}

// publisher is the PublisherIdentifier parameter (any case of the name).
func publisher(q url.Values) string {
	for k, v := range q {
		if strings.EqualFold(k, "PublisherIdentifier") && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

// af429 is the throttled answer, with the PublisherId the troubleshooting page shows (zeros
// without PublisherIdentifier).
func (e *Emulator) af429(c *mgmtCall) *mgmtError {
	pub := c.pub
	if pub == "" {
		pub = "00000000-0000-0000-0000-000000000000"
	}
	return aferr(403, "AF429", "Too many requests. Method=%s, PublisherId=%s", c.method, pub)
}

// mgmtAllow takes a request from the tenant's quota, or from the shared pool without a
// PublisherIdentifier. Called with e.mu held.
func (e *Emulator) mgmtAllow(withPublisher bool) bool {
	b, per := &e.audit.quota, e.o.AuditRateLimitPerMinute
	if !withPublisher {
		b, per = &e.audit.shared, e.o.AuditSharedPoolPerMinute
	}
	if per < 0 {
		return true
	}
	now := e.clk.Now()
	if !b.init {
		b.tokens, b.last, b.init = float64(per), now, true
	}
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = math.Min(float64(per), b.tokens+el*float64(per)/60)
	}
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true
	}
	return false
}

func (e *Emulator) mgmtRespond(w http.ResponseWriter, status int, body any, me *mgmtError) {
	const ct = "application/json; charset=utf-8"
	if me != nil {
		writeJSONAs(w, me.status, ct, map[string]any{"error": map[string]any{"code": me.code, "message": me.message}})
		return
	}
	if p, ok := body.(pagedBody); ok {
		if p.next != "" {
			w.Header().Set("NextPageUri", p.next)
		}
		body = p.items
	}
	if body == nil {
		w.WriteHeader(status)
		return
	}
	writeJSONAs(w, status, ct, body)
}

type pagedBody struct {
	items any
	next  string
}

func contentType(c *mgmtCall) (string, *mgmtError) {
	ct := c.r.URL.Query().Get("contentType")
	if ct == "" {
		return "", aferr(400, "AF20001", "Missing parameter: contentType.")
	}
	if !contentTypes[ct] {
		return "", aferr(400, "AF20020", "The specified content type is not valid.")
	}
	return ct, nil
}

func subJSON(ct string, s *mgmtSub) map[string]any {
	st := "disabled"
	if s.enabled {
		st = "enabled"
	}
	return map[string]any{"contentType": ct, "status": st, "webhook": nil}
}

// mgmtStart is POST subscriptions/start: enables the content type. Already enabled answers
// AF20024 (400), which clients treat as success (NOTES, Corrections 4; the message is
// modelled). A start again within 15 minutes of the previous one is refused ("a waiting period
// of 15 minutes is required before another request can be made"; the AF429 answer is
// modelled). Webhooks are not emulated: the body is ignored and webhook is null.
func (e *Emulator) mgmtStart(c *mgmtCall) (int, any, *mgmtError) {
	ct, me := contentType(c)
	if me != nil {
		return 0, nil, me
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.clk.Now()
	s := e.audit.subs[ct]
	if s != nil && s.enabled {
		return 0, nil, aferr(400, "AF20024", "The subscription is already enabled. No property change.")
	}
	if s != nil && now.Sub(s.lastStart) < 15*time.Minute {
		return 0, nil, e.af429(c)
	}
	if s == nil {
		s = &mgmtSub{first: now}
		e.audit.subs[ct] = s
	}
	s.enabled, s.lastStart = true, now
	s.spans = append(s.spans, [2]time.Time{now, {}})
	return 200, subJSON(ct, s), nil
}

// mgmtStop is POST subscriptions/stop: 200 with no body; AF20022 without a subscription.
func (e *Emulator) mgmtStop(c *mgmtCall) (int, any, *mgmtError) {
	ct, me := contentType(c)
	if me != nil {
		return 0, nil, me
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.audit.subs[ct]
	if s == nil || !s.enabled {
		return 0, nil, aferr(400, "AF20022", "No subscription found for the specified content type.")
	}
	s.enabled = false
	s.spans[len(s.spans)-1][1] = e.clk.Now()
	return 200, nil, nil
}

// mgmtList is GET subscriptions/list: every content type ever started, enabled or disabled.
func (e *Emulator) mgmtList(c *mgmtCall) (int, any, *mgmtError) {
	e.mu.Lock()
	defer e.mu.Unlock()
	cts := make([]string, 0, len(e.audit.subs))
	for ct := range e.audit.subs {
		cts = append(cts, ct)
	}
	sort.Strings(cts)
	out := []any{}
	for _, ct := range cts {
		out = append(out, subJSON(ct, e.audit.subs[ct]))
	}
	return 200, out, nil
}

// parseFeedTime reads startTime/endTime: the documented YYYY-MM-DD, YYYY-MM-DDTHH:MM and
// YYYY-MM-DDTHH:MM:SS, UTC; a trailing Z and fractional seconds are accepted too (modelled).
func parseFeedTime(s string) (time.Time, bool) {
	s = strings.TrimSuffix(s, "Z")
	for _, f := range []string{"2006-01-02", "2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02T15:04:05.999999999"} {
		if t, err := time.Parse(f, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// mgmtContent is GET subscriptions/content: blobs whose contentCreated is in [startTime,
// endTime) (both or neither; at most 24 hours apart, start before end, start at most 7 days
// ago: else AF20055; neither: the last 24 hours), in order of availability, pages of
// AuditPageSize with a NextPageUri header carrying the same window and nextPage (AF20031 for a
// nextPage the emulator did not make). AF20022 without an enabled subscription ("An error is
// returned if the subscription status is disabled").
func (e *Emulator) mgmtContent(c *mgmtCall) (int, any, *mgmtError) {
	ct, me := contentType(c)
	if me != nil {
		return 0, nil, me
	}
	q := c.r.URL.Query()
	now := e.clk.Now().UTC()
	ss, es := q.Get("startTime"), q.Get("endTime")
	var from, to time.Time
	switch {
	case ss == "" && es == "":
		from, to = now.Add(-24*time.Hour), now
	case ss == "" || es == "":
		return 0, nil, aferr(400, "AF20055", msgWindow)
	default:
		var ok1, ok2 bool
		from, ok1 = parseFeedTime(ss)
		to, ok2 = parseFeedTime(es)
		if !ok1 || !ok2 {
			bad := "startTime"
			if ok1 {
				bad = "endTime"
			}
			return 0, nil, aferr(400, "AF20002", "Invalid parameter type: %s. Expected type: datetime", bad)
		}
		if !from.Before(to) || to.Sub(from) > 24*time.Hour || now.Sub(from) > contentRetention {
			return 0, nil, aferr(400, "AF20055", msgWindow)
		}
	}
	off := 0
	if np := q.Get("nextPage"); np != "" {
		b, err := base64.RawURLEncoding.DecodeString(np)
		n, err2 := strconv.Atoi(strings.TrimPrefix(string(b), "emu"))
		if err != nil || err2 != nil || !strings.HasPrefix(string(b), "emu") || n < 0 {
			return 0, nil, aferr(400, "AF20031", "Invalid nextPage Input: %s.", np)
		}
		off = n
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.audit.subs[ct]
	if s == nil || !s.enabled {
		return 0, nil, aferr(400, "AF20022", "No subscription found for the specified content type.")
	}
	e.gather()
	type listed struct {
		b  *auditBlob
		at time.Time
	}
	var all []listed
	for _, b := range e.audit.blobs {
		if b.ctype != ct {
			continue
		}
		if at := e.visible(s, b); !at.IsZero() && !at.Before(from) && at.Before(to) {
			all = append(all, listed{b, at})
		}
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].at.Before(all[j].at) })
	end := min(off+e.o.AuditPageSize, len(all))
	items := []any{}
	for _, l := range all[min(off, len(all)):end] {
		items = append(items, map[string]any{"contentType": ct, "contentId": l.b.id, "contentUri": c.root + "/audit/" + l.b.id,
			"contentCreated": l.at.UTC().Format(contentTimeFmt), "contentExpiration": l.at.Add(contentRetention).UTC().Format(contentTimeFmt)})
	}
	p := pagedBody{items: items}
	if end < len(all) {
		nq := url.Values{}
		for k, v := range q {
			nq[k] = v
		}
		nq.Set("startTime", from.Format("2006-01-02T15:04:05"))
		nq.Set("endTime", to.Format("2006-01-02T15:04:05"))
		nq.Set("nextPage", base64.RawURLEncoding.EncodeToString([]byte("emu"+strconv.Itoa(end))))
		p.next = c.root + "/subscriptions/content?" + nq.Encode()
	}
	return 200, p, nil
}

var blobIDRe = regexp.MustCompile(`^[0-9]+\$[0-9]+\$[a-z_]+\$[A-Za-z_]+$`)

// mgmtBlob is GET audit/{contentId}: the blob's records as a JSON array. AF20052 for an id that
// is not one, AF20050 for an unknown one (or one the subscription cannot see), AF20051 once it
// is older than 7 days.
func (e *Emulator) mgmtBlob(c *mgmtCall) (int, any, *mgmtError) {
	_, id, _ := strings.Cut(c.r.URL.Path, "/activity/feed/audit/")
	if !blobIDRe.MatchString(id) {
		return 0, nil, aferr(400, "AF20052", "Content ID %s in the URL is invalid.", id)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.gather()
	b := e.audit.blobsBy[id]
	var at time.Time
	if b != nil {
		at = e.visible(e.audit.subs[b.ctype], b)
	}
	if b == nil || at.IsZero() {
		return 0, nil, aferr(400, "AF20050", "The specified content (%s) does not exist.", id)
	}
	if !e.clk.Now().Before(at.Add(contentRetention)) {
		return 0, nil, aferr(400, "AF20051", "Content requested with the key %s has already expired. Content older than 7 days cannot be retrieved.", id)
	}
	e.stats.AuditBlobsServed++
	e.stats.AuditRecordsServed += len(b.records)
	out := make([]any, len(b.records))
	for i, r := range b.records {
		out[i] = r
	}
	// Marshal now, under the lock: the records are never changed, but be safe.
	raw, _ := json.Marshal(out)
	return 200, json.RawMessage(raw), nil
}

// AuditAvailable returns, for every audit record listed by now, when it became available: the
// earliest time a content blob holding it is listed by subscriptions/content (its contentCreated),
// by record Id (for benchmarks: availability to searchable).
func (e *Emulator) AuditAvailable() map[string]time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.gather()
	out := map[string]time.Time{}
	for _, b := range e.audit.blobs {
		at := e.visible(e.audit.subs[b.ctype], b)
		if at.IsZero() {
			continue
		}
		for _, r := range b.records {
			id, _ := r["Id"].(string)
			if prev, ok := out[id]; id != "" && (!ok || at.Before(prev)) {
				out[id] = at
			}
		}
	}
	return out
}

// AuditRecords returns every audit record made so far (Audit.SharePoint and Audit.Exchange),
// available or not (for tests: what the feed will hold), in action order.
func (e *Emulator) AuditRecords() []map[string]any {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]map[string]any, len(e.audit.all))
	for i, m := range e.audit.all {
		out[i] = make(map[string]any, len(m))
		for k, v := range m {
			out[i][k] = v
		}
	}
	return out
}
