package microsoft

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Outlook mail through Graph: the sent items of each licensed user's mailbox, their
// attachments, message delta, and Exchange's per-mailbox limits.

// Attachment kinds (Graph's attachment types).
const (
	AttachFile      = "fileAttachment"
	AttachItem      = "itemAttachment"      // an attached message
	AttachReference = "referenceAttachment" // a link to a cloud file
)

// Attachment is one attachment of a mail to send.
type Attachment struct {
	Kind        string // AttachFile, AttachItem or AttachReference
	Name        string // default generated (an item's: its subject)
	ContentType string // files: default from the name's extension
	Content     []byte // files: nil = generated
	Subject     string // items: the attached message's subject
	// References: ItemID, a drive item the sender may share, is shared with the recipients by a
	// "specific people" view link (ground truth SecureLinkCreated and AddedToSecureLink, as
	// attaching a cloud file in Outlook grants the recipients access); or URL, any link.
	ItemID, URL string
}

// Mail is a message to send.
type Mail struct {
	To, Cc, Bcc   []string
	Subject, Body string // Body is text; default generated
	Attachments   []Attachment
}

// SentMail is the ground truth of a sent message.
type SentMail struct {
	ID, InternetMessageID string
	From                  string // userPrincipalName
	To, Cc, Bcc           []string
	Subject               string
	At                    time.Time
	Attachments           []SentAttachment
}

// SentAttachment is one attachment as sent: SHA256 (hex) of the bytes its /$value serves
// (files: the content; items: the attached message's MIME); references carry URL and ItemID
// instead and no hash.
type SentAttachment struct {
	ID, Kind, Name, ContentType string
	Size                        int
	SHA256                      string
	URL, ItemID                 string
}

type mailbox struct {
	u        *user
	folderID string // the sentitems folder's id
	msgs     []*message
	byID     map[string]*message
	inflight int
	winStart time.Time
	winCount int
}

type message struct {
	id, imid, conv, changeKey string
	from                      *user
	to, cc, bcc               []string
	subject, body             string
	sent                      time.Time
	atts                      []*mailAtt
	seq                       int64 // the mail change log position of its last change
	deleted                   bool
}

type mailAtt struct {
	id, kind, name, ctype string
	data                  []byte // file: content; item: the attached message's MIME
	size                  int
	modified              time.Time
	url, itemID           string
}

// mailState is the tenant's mail: mailboxes by user id, and the change log position.
type mailState struct {
	boxes map[string]*mailbox
	seq   int64
	sent  []SentMail
	hold  chan struct{} // tests: mail handlers wait on it while set (concurrency limits)
}

// outlookID is an Outlook-looking id ("AAMkAD" and base64).
func (e *Emulator) outlookID(n int) string {
	return "AAMkAD" + base64.RawURLEncoding.EncodeToString(e.bytesFor(n))
}

// mailboxOf returns a licensed user's mailbox (made on first use). Called with e.mu held.
func (e *Emulator) mailboxOf(u *user) *mailbox {
	if e.mail.boxes == nil {
		e.mail.boxes = map[string]*mailbox{}
	}
	mb := e.mail.boxes[u.id]
	if mb == nil {
		mb = &mailbox{u: u, folderID: "AQMkAD" + base64.RawURLEncoding.EncodeToString([]byte("sentitems:" + u.id))[:40] + "AAAA", byID: map[string]*message{}}
		e.mail.boxes[u.id] = mb
	}
	return mb
}

// SendMail sends a message as a licensed user and returns its id: it is in the sender's sent
// items at once (delta, change notifications). Recipients may be anyone.
func (e *Emulator) SendMail(from string, m Mail) (string, error) {
	// References to drive items are shared first (their own actions and Activities).
	atts := append([]Attachment(nil), m.Attachments...)
	var rcpt []string
	rcpt = append(append(append(rcpt, m.To...), m.Cc...), m.Bcc...)
	for i, a := range atts {
		if a.Kind == AttachReference && a.ItemID != "" {
			pid, err := e.ShareLink(from, a.ItemID, ScopeUsers, LinkView, rcpt...)
			if err != nil {
				return "", err
			}
			e.mu.Lock()
			it := e.items[a.ItemID]
			for _, p := range it.perms {
				if p.id == pid {
					atts[i].URL = p.webURL
				}
			}
			if atts[i].Name == "" {
				atts[i].Name = it.name
			}
			e.mu.Unlock()
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	u, err := e.actor(from)
	if err != nil {
		return "", err
	}
	if !u.licensed {
		return "", fmt.Errorf("%w: %s has no mailbox", ErrForbidden, from)
	}
	if len(rcpt) == 0 {
		return "", fmt.Errorf("%w: a mail without recipients", ErrForbidden)
	}
	now := e.clk.Now().Truncate(time.Second)
	msg := &message{id: e.outlookID(100), from: u, to: lower(m.To), cc: lower(m.Cc), bcc: lower(m.Bcc), subject: m.Subject, body: m.Body, sent: now,
		conv: "AAQkAD" + base64.RawURLEncoding.EncodeToString(e.bytesFor(30)), changeKey: "CQAAABYAAAA" + base64.RawStdEncoding.EncodeToString(e.bytesFor(15))}
	msg.imid = "<" + strings.ToUpper(hex.EncodeToString(e.bytesFor(8))) + "@" + strings.ToUpper(firstLabel(e.o.InitialDomain)) + ".PROD.OUTLOOK.COM>"
	if msg.subject == "" {
		msg.subject = e.title(e.rng.IntN(3))
	}
	if msg.body == "" {
		msg.body = "Please find the " + strings.ToLower(msg.subject) + " attached."
	}
	sm := SentMail{ID: msg.id, InternetMessageID: msg.imid, From: u.upn, To: msg.to, Cc: msg.cc, Bcc: msg.bcc, Subject: msg.subject, At: now}
	for _, a := range atts {
		x := &mailAtt{id: msg.id[:40] + "BEgAQA" + base64.RawURLEncoding.EncodeToString(e.bytesFor(12)), kind: a.Kind, name: a.Name, ctype: a.ContentType, modified: now}
		switch a.Kind {
		case AttachFile:
			if x.name == "" {
				x.name = e.title(e.rng.IntN(3)) + "." + fileTypes[e.rng.IntN(len(fileTypes))].ext
			}
			if x.ctype == "" {
				x.ctype = mimeOf(x.name)
			}
			x.data = a.Content
			if x.data == nil {
				x.data = e.bytesFor(e.o.MinFileSize + e.rng.IntN(e.o.MaxFileSize-e.o.MinFileSize+1))
			}
			x.data = append([]byte(nil), x.data...)
			// The attachment's size is Outlook's, a little over the content (modelled).
			x.size = len(x.data) + 180 + len(x.name)
		case AttachItem:
			subj := a.Subject
			if subj == "" {
				subj = e.title(e.rng.IntN(3))
			}
			if x.name == "" {
				x.name = subj
			}
			x.data = []byte(mimeOf822(u.upn, msg.to, subj, "Forwarded: "+subj, now.Add(-time.Hour), "<"+strings.ToUpper(hex.EncodeToString(e.bytesFor(8)))+"@emu>"))
			x.size = len(x.data) + 2000 // modelled: Outlook counts the item's properties too
		case AttachReference:
			if a.URL == "" && a.ItemID == "" {
				return "", fmt.Errorf("%w: a reference attachment without ItemID or URL", ErrForbidden)
			}
			if x.url == "" {
				x.url = a.URL
			}
			x.itemID = a.ItemID
			if x.name == "" {
				x.name = x.url[strings.LastIndex(x.url, "/")+1:]
			}
			x.size = 400 + len(x.url) // modelled
			// v1.0's referenceAttachment has no sourceUrl (only beta does): the link is in the
			// body, as Outlook writes it.
			msg.body += "\n" + x.name + ": " + x.url
		default:
			return "", fmt.Errorf("%w: attachment kind %q", ErrForbidden, a.Kind)
		}
		msg.atts = append(msg.atts, x)
		sa := SentAttachment{ID: x.id, Kind: x.kind, Name: x.name, ContentType: x.ctype, Size: x.size, URL: x.url, ItemID: x.itemID}
		if x.data != nil {
			h := sha256.Sum256(x.data)
			sa.SHA256 = hex.EncodeToString(h[:])
		}
		sm.Attachments = append(sm.Attachments, sa)
	}
	mb := e.mailboxOf(u)
	e.mail.seq++
	msg.seq = e.mail.seq
	mb.msgs = append(mb.msgs, msg)
	mb.byID[msg.id] = msg
	e.mail.sent = append(e.mail.sent, sm)
	e.auditSend(u, mb, msg)
	e.notifyMail(u, msg, "created")
	return msg.id, nil
}

// DeleteMail deletes a sent message (delta then reports it removed).
func (e *Emulator) DeleteMail(upn, id string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	u := e.userByKey(upn)
	if u == nil {
		return fmt.Errorf("%w: user %s", ErrNotFound, upn)
	}
	mb := e.mailboxOf(u)
	msg := mb.byID[id]
	if msg == nil || msg.deleted {
		return fmt.Errorf("%w: message %s", ErrNotFound, id)
	}
	msg.deleted = true
	e.mail.seq++
	msg.seq = e.mail.seq
	e.notifyMail(u, msg, "deleted")
	return nil
}

// SentMails returns the ground truth of every message sent, in order.
func (e *Emulator) SentMails() []SentMail {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]SentMail(nil), e.mail.sent...)
}

func lower(s []string) []string {
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = strings.ToLower(x)
	}
	return out
}

// mimeOf822 is a small RFC 5322 message: an attached item's $value (modelled content).
func mimeOf822(from string, to []string, subject, body string, at time.Time, mid string) string {
	return "From: " + from + "\r\nTo: " + strings.Join(to, ", ") + "\r\nSubject: " + subject + "\r\nDate: " + at.UTC().Format(time.RFC1123Z) +
		"\r\nMessage-ID: " + mid + "\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=\"utf-8\"\r\n\r\n" + body + "\r\n"
}

// Outlook's errors (codes and messages as Graph answers them for mail: ErrorInvalidUser,
// ErrorItemNotFound, MailboxNotEnabledForRESTAPI, ErrorAccessDenied are Exchange's codes;
// SyncStateNotFound's message is the one reported in microsoftgraph/microsoft-graph-docs#2350).
var (
	errNoMailbox    = gerr(404, "MailboxNotEnabledForRESTAPI", "The mailbox is either inactive, soft-deleted, or is hosted on-premise.")
	errMailNotFound = gerr(404, "ErrorItemNotFound", "The specified object was not found in the store.")
	errMailDenied   = gerr(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
)

func errSyncState(gen int64) *graphError {
	return gerr(410, "SyncStateNotFound", "The sync state generation is not found; generation=%d;[highest=%d][%d].", gen, gen+3, gen+3)
}

// mailboxFor resolves /users/{id}/... to a mailbox. Called with e.mu held.
func (e *Emulator) mailboxFor(c *call) (*mailbox, *graphError) {
	id := c.r.PathValue("id")
	u := e.userByKey(id)
	if u == nil {
		return nil, gerr(404, "ErrorInvalidUser", "The requested user '%s' is invalid.", id)
	}
	if !u.licensed {
		return nil, errNoMailbox
	}
	return e.mailboxOf(u), nil
}

func recipients(addrs []string, e *Emulator) []any {
	out := []any{}
	for _, a := range addrs {
		out = append(out, recipient(a, e))
	}
	return out
}

func recipient(addr string, e *Emulator) map[string]any {
	name := addr
	if u := e.usersBy[strings.ToLower(addr)]; u != nil {
		name = u.name()
	}
	return map[string]any{"emailAddress": map[string]any{"name": name, "address": addr}}
}

// messageJSON is a message resource (its default properties).
func (e *Emulator) messageJSON(mb *mailbox, m *message) map[string]any {
	if m.deleted {
		return map[string]any{"@odata.type": "#microsoft.graph.message", "id": m.id, "@removed": map[string]any{"reason": "deleted"}}
	}
	ts := m.sent.UTC().Format(timeFmt)
	body := "<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\"></head><body><p>" +
		strings.ReplaceAll(html.EscapeString(m.body), "\n", "<br>") + "</p></body></html>"
	preview := m.body
	if len(preview) > 255 {
		preview = preview[:255]
	}
	from := recipient(m.from.upn, e)
	return map[string]any{
		"@odata.type": "#microsoft.graph.message", "@odata.etag": "W/\"" + m.changeKey + "\"",
		"id": m.id, "createdDateTime": ts, "lastModifiedDateTime": ts, "changeKey": m.changeKey, "categories": []any{},
		"receivedDateTime": ts, "sentDateTime": ts, "hasAttachments": len(m.atts) > 0, "internetMessageId": m.imid,
		"subject": m.subject, "bodyPreview": preview, "importance": "normal", "parentFolderId": mb.folderID,
		"conversationId": m.conv, "isDeliveryReceiptRequested": false, "isReadReceiptRequested": false, "isRead": true,
		"isDraft": false, "webLink": "https://outlook.office365.com/owa/?ItemID=" + m.id + "&exvsurl=1&viewmodel=ReadMessageItem",
		"inferenceClassification": "focused", "body": map[string]any{"contentType": "html", "content": body},
		"sender": from, "from": from, "toRecipients": recipients(m.to, e), "ccRecipients": recipients(m.cc, e),
		"bccRecipients": recipients(m.bcc, e), "replyTo": []any{}, "flag": map[string]any{"flagStatus": "notFlagged"},
	}
}

// attJSON is an attachment: fileAttachment with contentBytes, itemAttachment (the item itself
// only with $expand, not emulated), referenceAttachment (v1.0 declares no properties of its
// own: no sourceUrl).
func attJSON(a *mailAtt, withBytes bool) map[string]any {
	m := map[string]any{"@odata.type": "#microsoft.graph." + a.kind, "id": a.id, "lastModifiedDateTime": a.modified.UTC().Format(timeFmt),
		"name": a.name, "size": a.size, "isInline": false}
	switch a.kind {
	case AttachFile:
		m["@odata.mediaContentType"] = a.ctype
		m["contentType"] = a.ctype
		if withBytes {
			m["contentBytes"] = base64.StdEncoding.EncodeToString(a.data)
		}
	case AttachItem:
		m["contentType"] = nil
	case AttachReference:
		m["contentType"] = nil
	}
	return m
}

// sentItems checks {folder} is the sent items folder (its well-known name or its id).
func sentItems(c *call, mb *mailbox) *graphError {
	f := c.r.PathValue("folder")
	if strings.EqualFold(f, "sentitems") || f == mb.folderID {
		return nil
	}
	return errMailNotFound
}

// mailDeltaTok is a message delta link's state (opaque to clients).
type mailDeltaTok struct {
	U string `json:"u"` // mailbox user id
	E int    `json:"e"` // epoch
	L int64  `json:"l"` // round start (0: first round)
	C int64  `json:"c"` // served up to
	N int    `json:"n"` // page size
	S string `json:"s,omitempty"`
	X string `json:"x,omitempty"` // changeType filter
	T int64  `json:"t"`
}

// mailDelta is GET /users/{id}/mailFolders/sentitems/messages/delta (message-delta):
//   - the first round lists the folder's messages, later rounds what was created or deleted
//     since (deleted ones as {"id","@removed":{"reason":"deleted"}});
//   - pages of Prefer: odata.maxpagesize (or $top), default 10 (modelled), answered with
//     Preference-Applied; @odata.nextLink with $skiptoken while more remain, then
//     @odata.deltaLink with $deltatoken; query parameters ($select, changeType) count on the
//     first call only (they are in the links);
//   - a link expired (Options.DeltaTokenTTL, ExpireDeltaTokens) or not the emulator's answers 410
//     SyncStateNotFound (NOTES, Corrections 2).
func (e *Emulator) mailDelta(c *call) (int, any, *graphError) {
	e.holdMail()
	q := c.r.URL.Query()
	e.mu.Lock()
	defer e.mu.Unlock()
	mb, ge := e.mailboxFor(c)
	if ge != nil {
		return 0, nil, ge
	}
	if ge := sentItems(c, mb); ge != nil {
		return 0, nil, ge
	}
	now := e.clk.Now()
	var t mailDeltaTok
	tokStr := q.Get("$skiptoken")
	if tokStr == "" {
		tokStr = q.Get("$deltatoken")
	}
	if tokStr == "" {
		t = mailDeltaTok{U: mb.u.id, N: 10, S: q.Get("$select"), X: q.Get("changeType")}
		if s := q.Get("$top"); s != "" {
			if n, err := strconv.Atoi(s); err == nil && n > 0 {
				t.N = n
			}
		}
	} else {
		b, err := base64.RawURLEncoding.DecodeString(tokStr)
		if err != nil || json.Unmarshal(b, &t) != nil || t.U != mb.u.id || t.E != e.epoch || now.Sub(time.Unix(t.T, 0)) > e.o.DeltaTokenTTL || t.C > e.mail.seq {
			e.stats.ExpiredDeltaTokens++
			return 0, nil, errSyncState(t.C)
		}
	}
	applied := ""
	if p := c.r.Header.Get("Prefer"); strings.Contains(p, "odata.maxpagesize=") {
		v := p[strings.Index(p, "odata.maxpagesize=")+len("odata.maxpagesize="):]
		if i := strings.IndexAny(v, ", ;"); i >= 0 {
			v = v[:i]
		}
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			t.N, applied = n, "odata.maxpagesize="+v
		}
	}
	var cands []*message
	for _, m := range mb.msgs {
		if m.seq <= t.C || (t.L == 0 && m.deleted) {
			continue
		}
		if (t.X == "created" && m.deleted) || (t.X == "deleted" && !m.deleted) || t.X == "updated" {
			continue
		}
		cands = append(cands, m)
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].seq < cands[j].seq })
	page := cands[:min(t.N, len(cands))]
	out := []any{}
	for _, m := range page {
		j := selectProps(e.messageJSON(mb, m), t.S, nil)
		j["id"] = m.id // the key comes whatever $select says
		out = append(out, j)
	}
	self := c.base + c.r.URL.Path
	link := func(param string) string {
		t.T, t.E = now.Unix(), e.epoch
		b, _ := json.Marshal(t)
		return self + "?" + param + "=" + base64.RawURLEncoding.EncodeToString(b)
	}
	body := map[string]any{"@odata.context": c.base + "/v1.0/$metadata#Collection(message)", "value": out}
	if len(cands) > len(page) {
		t.C = page[len(page)-1].seq
		body["@odata.nextLink"] = link("$skiptoken")
	} else {
		t.L, t.C = e.mail.seq, e.mail.seq
		body["@odata.deltaLink"] = link("$deltatoken")
	}
	if applied != "" {
		return 200, withHeader{body, "Preference-Applied", applied}, nil
	}
	return 200, body, nil
}

// withHeader is an answer with one more header.
type withHeader struct {
	body any
	k, v string
}

// messageOf resolves {mid} in a mailbox. Called with e.mu held.
func (e *Emulator) messageOf(c *call) (*mailbox, *message, *graphError) {
	mb, ge := e.mailboxFor(c)
	if ge != nil {
		return nil, nil, ge
	}
	if c.r.PathValue("folder") != "" {
		if ge := sentItems(c, mb); ge != nil {
			return nil, nil, ge
		}
	}
	m := mb.byID[c.r.PathValue("mid")]
	if m == nil || m.deleted {
		return nil, nil, errMailNotFound
	}
	return mb, m, nil
}

// messageGet is GET /users/{id}/messages/{mid} (and under mailFolders/sentitems).
func (e *Emulator) messageGet(c *call) (int, any, *graphError) {
	e.holdMail()
	e.mu.Lock()
	defer e.mu.Unlock()
	mb, m, ge := e.messageOf(c)
	if ge != nil {
		return 0, nil, ge
	}
	j := selectProps(e.messageJSON(mb, m), c.r.URL.Query().Get("$select"), nil)
	delete(j, "@odata.type")
	j["@odata.context"] = c.base + "/v1.0/$metadata#users('" + mb.u.id + "')/messages/$entity"
	return 200, j, nil
}

// attachmentsList is GET /users/{id}/messages/{mid}/attachments ($select honoured: without
// contentBytes the bytes are not sent).
func (e *Emulator) attachmentsList(c *call) (int, any, *graphError) {
	e.holdMail()
	e.mu.Lock()
	defer e.mu.Unlock()
	mb, m, ge := e.messageOf(c)
	if ge != nil {
		return 0, nil, ge
	}
	sel := c.r.URL.Query().Get("$select")
	out := []any{}
	for _, a := range m.atts {
		out = append(out, selectProps(attJSON(a, true), sel, nil))
	}
	return 200, map[string]any{"@odata.context": c.base + "/v1.0/$metadata#users('" + mb.u.id + "')/messages('" + m.id + "')/attachments", "value": out}, nil
}

func (e *Emulator) attachmentOf(c *call) (*mailbox, *message, *mailAtt, *graphError) {
	mb, m, ge := e.messageOf(c)
	if ge != nil {
		return nil, nil, nil, ge
	}
	for _, a := range m.atts {
		if a.id == c.r.PathValue("aid") {
			return mb, m, a, nil
		}
	}
	return nil, nil, nil, errMailNotFound
}

// attachmentGet is GET .../attachments/{aid}.
func (e *Emulator) attachmentGet(c *call) (int, any, *graphError) {
	e.holdMail()
	e.mu.Lock()
	defer e.mu.Unlock()
	mb, m, a, ge := e.attachmentOf(c)
	if ge != nil {
		return 0, nil, ge
	}
	j := selectProps(attJSON(a, true), c.r.URL.Query().Get("$select"), nil)
	j["@odata.context"] = c.base + "/v1.0/$metadata#users('" + mb.u.id + "')/messages('" + m.id + "')/attachments/$entity"
	return 200, j, nil
}

// rawBody is a non-JSON answer.
type rawBody struct {
	ctype string
	data  []byte
}

// attachmentValue is GET .../attachments/{aid}/$value: "the raw contents of a file or item
// attachment" (attachment-get): a file's bytes, an item's MIME. A reference has none (the
// answer is modelled).
func (e *Emulator) attachmentValue(c *call) (int, any, *graphError) {
	e.holdMail()
	e.mu.Lock()
	defer e.mu.Unlock()
	_, _, a, ge := e.attachmentOf(c)
	if ge != nil {
		return 0, nil, ge
	}
	switch a.kind {
	case AttachFile:
		return 200, rawBody{a.ctype, a.data}, nil
	case AttachItem:
		return 200, rawBody{"message/rfc822", a.data}, nil
	}
	return 0, nil, gerr(400, "ErrorInvalidRequest", "The raw content of a reference attachment is not available.")
}

// messageValue is GET /users/{id}/messages/{mid}/$value: the message's MIME (modelled: the
// text body and the attachments' names, not their bytes).
func (e *Emulator) messageValue(c *call) (int, any, *graphError) {
	e.holdMail()
	e.mu.Lock()
	defer e.mu.Unlock()
	_, m, ge := e.messageOf(c)
	if ge != nil {
		return 0, nil, ge
	}
	body := m.body
	for _, a := range m.atts {
		body += "\r\n[attachment: " + a.name + "]"
	}
	return 200, rawBody{"message/rfc822", []byte(mimeOf822(m.from.upn, append(append([]string(nil), m.to...), m.cc...), m.subject, body, m.sent, m.imid))}, nil
}

// holdMail waits while a test holds mail handlers (to build up concurrent requests).
func (e *Emulator) holdMail() {
	e.mu.Lock()
	h := e.mail.hold
	e.mu.Unlock()
	if h != nil {
		<-h
	}
}

// isMailPath reports whether a Graph path addresses a mailbox: /users/{id}/messages... or
// /users/{id}/mailFolders....
func isMailPath(p string) bool {
	seg := strings.Split(strings.TrimPrefix(p, "/v1.0/"), "/")
	return len(seg) >= 3 && seg[0] == "users" && (seg[2] == "messages" || seg[2] == "mailFolders")
}

// mailboxLimit applies Exchange's limits per app per mailbox (NOTES 3d and Corrections 9;
// learn.microsoft.com/graph/throttling-limits, Outlook service limits): at most
// Options.MailboxConcurrency (4) requests at once, and Options.MailboxRequestsPer10Min
// (10,000) in a 10-minute window (fixed windows, modelled), answered 429 ApplicationThrottled
// with Retry-After. The concurrency message is Graph's observed one ("Application is over its
// MailboxConcurrency limit.", magodo/terraform-provider-outlook#21, alcionai/corso#3695); the
// rate one is modelled on it. It returns a release func for the request's slot. Called with
// e.mu held.
func (e *Emulator) mailboxLimit(path string) (func(), *graphError) {
	seg := strings.Split(strings.TrimPrefix(path, "/v1.0/"), "/")
	u := e.userByKey(seg[1])
	if u == nil || !u.licensed {
		return func() {}, nil
	}
	mb := e.mailboxOf(u)
	now := e.clk.Now()
	if mb.winStart.IsZero() || now.Sub(mb.winStart) >= 10*time.Minute {
		mb.winStart, mb.winCount = now, 0
	}
	if mb.winCount >= e.o.MailboxRequestsPer10Min {
		wait := int(mb.winStart.Add(10*time.Minute).Sub(now).Seconds()) + 1
		return nil, gerr(429, "ApplicationThrottled", "Application is over its MailboxRequests limit.").with("Retry-After", strconv.Itoa(wait))
	}
	if mb.inflight >= e.o.MailboxConcurrency {
		return nil, gerr(429, "ApplicationThrottled", "Application is over its MailboxConcurrency limit.").with("Retry-After", "1")
	}
	mb.winCount++
	mb.inflight++
	return func() {
		e.mu.Lock()
		mb.inflight--
		e.mu.Unlock()
	}, nil
}

// StepMail sends n random mails from random licensed enabled users, deterministic by
// Options.Seed: to colleagues and external addresses, with no attachment or with files, an
// attached message or a link to one of the sender's files.
func (e *Emulator) StepMail(n int) {
	for i := 0; i < n; i++ {
		e.mu.Lock()
		var from *user
		for _, u := range e.pick(len(e.users)) {
			if u.licensed && u.drive != nil {
				from = u
				break
			}
		}
		if from == nil {
			e.mu.Unlock()
			return
		}
		m := Mail{Subject: e.title(e.rng.IntN(3))}
		for _, u := range e.pick(1 + e.rng.IntN(2)) {
			if u != from {
				m.To = append(m.To, u.upn)
			}
		}
		if e.rng.IntN(2) == 0 || len(m.To) == 0 {
			m.To = append(m.To, e.externalAddress())
		}
		if e.rng.IntN(4) == 0 {
			m.Cc = append(m.Cc, e.externalAddress())
		}
		var files []*item
		for _, it := range from.drive.items {
			if !it.folder && !it.deleted {
				files = append(files, it)
			}
		}
		sortItems(files)
		switch r := e.rng.IntN(10); {
		case r < 3:
		case r < 7:
			for k := 0; k <= e.rng.IntN(2); k++ {
				m.Attachments = append(m.Attachments, Attachment{Kind: AttachFile})
			}
		case r < 8:
			m.Attachments = append(m.Attachments, Attachment{Kind: AttachItem})
		default:
			if len(files) > 0 {
				m.Attachments = append(m.Attachments, Attachment{Kind: AttachReference, ItemID: files[e.rng.IntN(len(files))].id})
			}
		}
		upn := from.upn
		e.mu.Unlock()
		e.SendMail(upn, m)
	}
}
