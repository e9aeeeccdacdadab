package google

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Gmail: one mailbox per user, created on first use. Facts are from the gmail/v1 discovery
// document shipped in google.golang.org/api (schemas Message, MessagePart, MessagePartBody,
// History, ListHistoryResponse, WatchRequest, WatchResponse, Profile; the parameters' texts) and
// the vendor notes (section 2c, Corrections 11); what Google does not document is marked
// "modelled" where it is produced.

// MailAttachment is a file attached to a scripted message (SendMail, SaveDraft).
type MailAttachment struct {
	Name, MimeType string
	Content        []byte
	// Inline: an inline image (Content-Disposition: inline, with a Content-ID, in a
	// multipart/related part), as a pasted picture is sent.
	Inline bool
}

// SentMail is the ground truth of one sent message, in the sender's mailbox.
type SentMail struct {
	ID, ThreadID, HistoryID string
	From                    string   // the sender's address
	To, Cc, Bcc             []string // the recipients' addresses, lowercase
	Subject, MessageID      string   // MessageID: the Message-ID header
	At                      time.Time
	DraftID                 string // the draft it was sent from, "" for a message sent directly
	Attachments             []SentAttachment
}

// SentAttachment is one attachment of a SentMail: its part id and attachment id in the message
// (users.messages.get format=full), name, MIME type, size and hashes of its content.
type SentAttachment struct {
	PartID, AttachmentID string
	Name, MimeType       string
	Size                 int64
	MD5, SHA256          string // lowercase hex
	Inline               bool
}

// Gmail system labels the emulator uses.
const (
	LabelSent   = "SENT"
	LabelDraft  = "DRAFT"
	LabelInbox  = "INBOX"
	LabelUnread = "UNREAD"
)

type mailbox struct {
	u       *user
	hist    int64 // the mailbox's current history id
	floor   int64 // the oldest startHistoryId history.list still answers (older: 404)
	records []*histRecord
	msgs    []*message // creation order
	byID    map[string]*message
	drafts  map[string]*draft
	dorder  []*draft
	watch   *gmailWatch
}

type message struct {
	id, threadID      string
	labels            []string
	historyID         int64
	internal          time.Time
	from              string
	to, cc, bcc       []string
	subject, msgID    string
	text              string
	atts              []*mailAtt
	deleted           bool
	boundary, related string // MIME boundaries
	alternative       string
}

type mailAtt struct {
	partID, id, cid, name, mime string
	data                        []byte
	inline                      bool
}

type draft struct {
	id  string
	msg *message
}

// histRecord is one history record: a message added to or deleted from the mailbox, with its
// labels at the time.
type histRecord struct {
	id            int64
	at            time.Time
	added         bool // messageAdded, else messageDeleted
	msgID, thread string
	labels        []string
}

// mailRand is the mail generator's random source: apart from e.rng so that mail never shifts the
// Drive activity a seed produces.
func (e *Emulator) mailRand() *mrand.Rand {
	if e.mrng == nil {
		e.mrng = mrand.New(mrand.NewPCG(uint64(e.o.Seed), 0x6d61696c))
	}
	return e.mrng
}

// mailbox returns u's mailbox, creating it. Its first history id is derived from the seed and the
// address (Gmail's are large and per mailbox). Called with e.mu held.
func (e *Emulator) mailbox(u *user) *mailbox {
	if mb := e.mailboxes[u.id]; mb != nil {
		return mb
	}
	h := int64(100000 + (hashString(u.email)^uint64(e.o.Seed))%9000000)
	mb := &mailbox{u: u, hist: h, floor: h, byID: map[string]*message{}, drafts: map[string]*draft{}}
	e.mailboxes[u.id] = mb
	return mb
}

// nextHistory advances a mailbox's history id. History ids "increase chronologically but are not
// contiguous with random gaps in between valid IDs" (history.list, startHistoryId): the gap is
// 1..40 here (modelled). Called with e.mu held.
func (e *Emulator) nextHistory(mb *mailbox) int64 {
	mb.hist += 1 + e.mailRand().Int64N(40)
	return mb.hist
}

// messageID is a Gmail message id: 16 lowercase hex digits. Gmail's grow with time; these are the
// internal date in milliseconds shifted left 20 bits plus a counter (modelled).
func (e *Emulator) messageID(at time.Time) string {
	e.mailSeq++
	return strconv.FormatUint(uint64(at.UnixMilli())<<20|uint64(e.mailSeq&0xfffff), 16)
}

func (e *Emulator) token(n int) string {
	b := make([]byte, n)
	r := e.mailRand()
	for i := range b {
		b[i] = byte(r.IntN(256))
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// addMessage stores m in mb and logs its messageAdded record. Called with e.mu held.
func (e *Emulator) addMessage(mb *mailbox, m *message) {
	m.historyID = e.nextHistory(mb)
	mb.msgs = append(mb.msgs, m)
	mb.byID[m.id] = m
	e.logHistory(mb, &histRecord{id: m.historyID, at: e.clk.Now(), added: true, msgID: m.id, thread: m.threadID, labels: slices.Clone(m.labels)})
}

// deleteMessage removes m from mb (a draft replaced by its next autosave, or sent). Called with
// e.mu held.
func (e *Emulator) deleteMessage(mb *mailbox, m *message) {
	m.deleted = true
	delete(mb.byID, m.id)
	e.logHistory(mb, &histRecord{id: e.nextHistory(mb), at: e.clk.Now(), msgID: m.id, thread: m.threadID, labels: slices.Clone(m.labels)})
}

func (e *Emulator) logHistory(mb *mailbox, r *histRecord) {
	mb.records = append(mb.records, r)
	e.notifyGmail(mb, r)
}

// Mail errors.
var errNoRecipient = fmt.Errorf("%w: a message needs a recipient", ErrNotFound)

// compose builds a message from the scripted arguments. Called with e.mu held.
func (e *Emulator) compose(from *user, to, cc, bcc []string, subject string, atts []MailAttachment, labels ...string) *message {
	now := e.clk.Now().Truncate(time.Millisecond)
	m := &message{id: e.messageID(now), labels: labels, internal: now, from: from.email,
		to: trimmed(to), cc: trimmed(cc), bcc: trimmed(bcc), subject: subject,
		msgID:    "<CA+" + e.token(24) + "@mail.gmail.com>",
		boundary: fmt.Sprintf("%028x", e.mailRand().Uint64()), related: fmt.Sprintf("%028x", e.mailRand().Uint64()),
		alternative: fmt.Sprintf("%028x", e.mailRand().Uint64())}
	m.threadID = m.id
	m.text = fmt.Sprintf("Hi,\n\n%s: see attached.\n\n%s\n", subject, from.name())
	for _, a := range atts {
		mime := a.MimeType
		if mime == "" {
			mime = "application/octet-stream"
		}
		att := &mailAtt{name: a.Name, mime: mime, data: slices.Clone(a.Content), inline: a.Inline}
		if a.Inline {
			att.cid = "ii_" + strings.ToLower(e.token(6))
		} else {
			att.cid = "f_" + strings.ToLower(e.token(6))
		}
		m.atts = append(m.atts, att)
	}
	e.layout(m)
	return m
}

// trimmed are the non-empty recipients as given ("Name <a@b>" or "a@b"): the header text.
func trimmed(l []string) []string {
	out := make([]string, 0, len(l))
	for _, s := range l {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// addrs are the recipients' addresses, lowercase.
func addrs(l []string) []string {
	out := make([]string, 0, len(l))
	for _, s := range l {
		if a, err := mail.ParseAddress(s); err == nil {
			s = a.Address
		}
		out = append(out, strings.ToLower(s))
	}
	return out
}

// SendMail sends a message from the mailbox of from (an active user) to recipients inside or
// outside the domain, with attachments, and returns its id in the sender's mailbox (labelled
// SENT). Active users of the domain among the recipients get a copy in their inbox (INBOX,
// UNREAD; without the Bcc header). The sent message is ground truth (SentMails).
func (e *Emulator) SendMail(from string, to, cc, bcc []string, subject string, attachments []MailAttachment) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	u, err := e.actor(from)
	if err != nil {
		return "", err
	}
	if len(trimmed(to))+len(trimmed(cc))+len(trimmed(bcc)) == 0 {
		return "", errNoRecipient
	}
	m := e.compose(u, to, cc, bcc, subject, attachments, LabelSent)
	e.send(u, m, "")
	return m.id, nil
}

// send files m in its sender's mailbox as sent, delivers the inbox copies and records the ground
// truth. Called with e.mu held.
func (e *Emulator) send(u *user, m *message, draftID string) {
	mb := e.mailbox(u)
	e.addMessage(mb, m)
	sm := SentMail{ID: m.id, ThreadID: m.threadID, HistoryID: strconv.FormatInt(m.historyID, 10), From: u.email,
		To: addrs(m.to), Cc: addrs(m.cc), Bcc: addrs(m.bcc), Subject: m.subject, MessageID: m.msgID,
		At: m.internal, DraftID: draftID}
	for _, a := range m.atts {
		md, sh := md5.Sum(a.data), sha256.Sum256(a.data)
		sm.Attachments = append(sm.Attachments, SentAttachment{PartID: a.partID, AttachmentID: a.id, Name: a.name,
			MimeType: a.mime, Size: int64(len(a.data)), MD5: hex.EncodeToString(md[:]), SHA256: hex.EncodeToString(sh[:]), Inline: a.inline})
	}
	e.sent = append(e.sent, sm)
	seen := map[string]bool{u.email: true}
	for _, r := range addrs(slices.Concat(m.to, m.cc, m.bcc)) {
		ru := e.byEmail[r]
		if seen[r] || ru == nil || ru.suspended || ru.archived {
			continue
		}
		seen[r] = true
		cp := *m
		cp.id, cp.labels, cp.bcc = e.messageID(m.internal), []string{LabelInbox, LabelUnread}, nil
		cp.threadID = cp.id
		cp.atts = make([]*mailAtt, len(m.atts))
		for i, a := range m.atts {
			ca := *a
			cp.atts[i] = &ca
		}
		e.layout(&cp)
		e.addMessage(e.mailbox(ru), &cp)
	}
}

// SaveDraft saves a draft in the mailbox of from: a new draft when draftID is "", else an
// autosave of that draft. Each save makes a new message (a new id, labelled DRAFT, never SENT)
// and deletes the draft's previous message, as Gmail's autosaves do (vendor notes, Corrections 11:
// "drafts get a new id on each autosave"). It returns the draft id and the new message id.
func (e *Emulator) SaveDraft(draftID, from string, to, cc, bcc []string, subject string, attachments []MailAttachment) (string, string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	u, err := e.actor(from)
	if err != nil {
		return "", "", err
	}
	mb := e.mailbox(u)
	d := mb.drafts[draftID]
	if draftID != "" && d == nil {
		return "", "", fmt.Errorf("%w: draft %s", ErrNotFound, draftID)
	}
	m := e.compose(u, to, cc, bcc, subject, attachments, LabelDraft)
	if d == nil {
		d = &draft{id: "r" + strconv.FormatInt(int64(e.mailRand().Uint64()), 10)}
		mb.drafts[d.id] = d
		mb.dorder = append(mb.dorder, d)
	} else {
		m.threadID = d.msg.threadID
		e.deleteMessage(mb, d.msg)
	}
	d.msg = m
	e.addMessage(mb, m)
	return d.id, m.id, nil
}

// SendDraft sends a draft of from's: the draft's message is deleted and a new message, labelled
// SENT, is sent with its content (modelled: the sent message has an id of its own). It returns the
// sent message's id.
func (e *Emulator) SendDraft(from, draftID string) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	u, err := e.actor(from)
	if err != nil {
		return "", err
	}
	mb := e.mailbox(u)
	d := mb.drafts[draftID]
	if d == nil {
		return "", fmt.Errorf("%w: draft %s", ErrNotFound, draftID)
	}
	if len(d.msg.to)+len(d.msg.cc)+len(d.msg.bcc) == 0 {
		return "", errNoRecipient
	}
	old := d.msg
	delete(mb.drafts, draftID)
	mb.dorder = slices.DeleteFunc(mb.dorder, func(x *draft) bool { return x == d })
	e.deleteMessage(mb, old)
	var atts []MailAttachment
	for _, a := range old.atts {
		atts = append(atts, MailAttachment{Name: a.name, MimeType: a.mime, Content: a.data, Inline: a.inline})
	}
	m := e.compose(u, old.to, old.cc, old.bcc, old.subject, atts, LabelSent)
	m.threadID = old.threadID
	e.send(u, m, draftID)
	return m.id, nil
}

// SentMails returns the ground truth of every message sent so far, in order.
func (e *Emulator) SentMails() []SentMail {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]SentMail, len(e.sent))
	for i, s := range e.sent {
		out[i] = s
		out[i].To, out[i].Cc, out[i].Bcc = slices.Clone(s.To), slices.Clone(s.Cc), slices.Clone(s.Bcc)
		out[i].Attachments = slices.Clone(s.Attachments)
	}
	return out
}

// ExpireHistory drops the retained history of email's mailbox: history.list from any
// startHistoryId given out before now (the mailbox's current one included) answers 404, as Gmail
// does for an out-of-date one; the mailbox moves on to a new history id (users.getProfile), from
// which history.list works.
func (e *Emulator) ExpireHistory(email string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	u, err := e.actor(email)
	if err != nil {
		return err
	}
	mb := e.mailbox(u)
	mb.records, mb.floor = nil, e.nextHistory(mb)
	return nil
}

// StepMail performs n random mail actions by random active users, deterministic by Options.Seed
// (and apart from Step's): mostly messages sent with 0 to 3 attachments (now and then an inline
// image) to colleagues, partners at Options.ExternalDomains and personal addresses, some drafts
// saved, autosaved and sent or left.
func (e *Emulator) StepMail(n int) {
	for i := 0; i < n; i++ {
		e.mu.Lock()
		r := e.mailRand()
		var act []*user
		for _, u := range e.users {
			if !u.suspended && !u.archived {
				act = append(act, u)
			}
		}
		if len(act) == 0 {
			e.mu.Unlock()
			return
		}
		u := act[r.IntN(len(act))]
		addr := func() string {
			switch r.IntN(3) {
			case 0:
				return act[r.IntN(len(act))].email
			case 1:
				d := e.o.ExternalDomains[r.IntN(len(e.o.ExternalDomains))]
				return strings.ToLower(givenNames[r.IntN(len(givenNames))]+"."+familyNames[r.IntN(len(familyNames))]) + "@" + d
			}
			return strings.ToLower(givenNames[r.IntN(len(givenNames))]) + fmt.Sprint(r.IntN(100)) + "@gmail.com"
		}
		var to, cc, bcc []string
		for k := 1 + r.IntN(2); k > 0; k-- {
			to = append(to, addr())
		}
		if r.IntN(3) == 0 {
			cc = append(cc, addr())
		}
		if r.IntN(6) == 0 {
			bcc = append(bcc, addr())
		}
		w := words[r.IntN(len(words))]
		subject := strings.ToUpper(w[:1]) + w[1:] + " " + fmt.Sprint(2024+r.IntN(3))
		var atts []MailAttachment
		for k := r.IntN(4); k > 0; k-- {
			bt := binaryTypes[r.IntN(len(binaryTypes))]
			size := e.o.MinFileSize + r.IntN(e.o.MaxFileSize-e.o.MinFileSize+1)
			data := make([]byte, size)
			for j := range data {
				data[j] = byte(r.IntN(256))
			}
			atts = append(atts, MailAttachment{Name: fmt.Sprintf("%s %d.%s", words[r.IntN(len(words))], r.IntN(100), bt.ext), MimeType: bt.mime, Content: data})
		}
		if r.IntN(10) == 0 {
			atts = append(atts, MailAttachment{Name: "image.png", MimeType: "image/png", Content: []byte("\x89PNG\r\n\x1a\n" + e.token(64)), Inline: true})
		}
		kind, saves := r.IntN(100), 1+r.IntN(3)
		e.mu.Unlock()
		if kind < 80 {
			e.SendMail(u.email, to, cc, bcc, subject, atts)
			continue
		}
		id := ""
		for k := 0; k < saves; k++ {
			id, _, _ = e.SaveDraft(id, u.email, to, cc, bcc, subject, atts)
		}
		if kind < 90 {
			e.SendDraft(u.email, id)
		}
	}
}

// part is a node of a message's MIME tree.
type part struct {
	id, mime, boundary string
	headers            [][2]string
	text               string   // a text leaf
	att                *mailAtt // an attachment leaf
	parts              []*part
}

// tree is m's MIME structure as Gmail's web client sends it: multipart/alternative (text/plain
// and text/html), inside multipart/related with the inline images when there are some, inside
// multipart/mixed with the attached files when there are some.
func (m *message) tree() *part {
	html := "<div dir=\"ltr\">" + strings.ReplaceAll(strings.TrimSpace(m.text), "\n", "<br>") + "</div>\n"
	alt := &part{mime: "multipart/alternative", boundary: m.alternative, parts: []*part{
		{mime: "text/plain", text: m.text, headers: [][2]string{{"Content-Type", `text/plain; charset="UTF-8"`}}},
		{mime: "text/html", text: html, headers: [][2]string{{"Content-Type", `text/html; charset="UTF-8"`}}}}}
	leaf := func(a *mailAtt) *part {
		disp := "attachment"
		if a.inline {
			disp = "inline"
		}
		h := [][2]string{{"Content-Type", fmt.Sprintf("%s; name=%q", a.mime, a.name)}, {"Content-Disposition", fmt.Sprintf("%s; filename=%q", disp, a.name)},
			{"Content-Transfer-Encoding", "base64"}, {"Content-ID", "<" + a.cid + ">"}, {"X-Attachment-Id", a.cid}}
		return &part{mime: a.mime, att: a, headers: h}
	}
	top := alt
	var inline, files []*part
	for _, a := range m.atts {
		if a.inline {
			inline = append(inline, leaf(a))
		} else {
			files = append(files, leaf(a))
		}
	}
	if len(inline) > 0 {
		top = &part{mime: "multipart/related", boundary: m.related, parts: append([]*part{top}, inline...)}
	}
	if len(files) > 0 {
		top = &part{mime: "multipart/mixed", boundary: m.boundary, parts: append([]*part{top}, files...)}
	}
	var number func(p *part, id string)
	number = func(p *part, id string) {
		p.id = id
		if p.boundary != "" {
			p.headers = append(p.headers, [2]string{"Content-Type", fmt.Sprintf("%s; boundary=%q", p.mime, p.boundary)})
		}
		for i, c := range p.parts {
			cid := strconv.Itoa(i)
			if id != "" {
				cid = id + "." + cid
			}
			number(c, cid)
		}
	}
	number(top, "")
	return top
}

// layout gives m's attachments their part ids and attachment ids. Gmail's attachment ids are long
// opaque base64url strings; these are derived from the seed, the message id and the part id
// (modelled: stable for a message). Called with e.mu held.
func (e *Emulator) layout(m *message) {
	var walk func(p *part)
	walk = func(p *part) {
		if p.att != nil {
			p.att.partID = p.id
			var b []byte
			for i := 0; len(b) < 96; i++ {
				s := sha256.Sum256([]byte(fmt.Sprintf("%d/%s/%s/%d", e.o.Seed, m.id, p.id, i)))
				b = append(b, s[:]...)
			}
			p.att.id = "ANGjdJ" + base64.RawURLEncoding.EncodeToString(b[:96])
		}
		for _, c := range p.parts {
			walk(c)
		}
	}
	walk(m.tree())
}

// headers are the top-level headers of m, in the order Gmail's web client writes them.
func (m *message) headers() [][2]string {
	h := [][2]string{{"MIME-Version", "1.0"}, {"Date", m.internal.UTC().Format("Mon, 2 Jan 2006 15:04:05 -0700")},
		{"Message-ID", m.msgID}, {"Subject", m.subject}, {"From", m.from}}
	for _, l := range []struct {
		name string
		v    []string
	}{{"To", m.to}, {"Cc", m.cc}, {"Bcc", m.bcc}} {
		if len(l.v) > 0 {
			h = append(h, [2]string{l.name, strings.Join(l.v, ", ")})
		}
	}
	return h
}

// b64url is how Gmail encodes body data and raw messages: base64url, padded.
func b64url(b []byte) string { return base64.URLEncoding.EncodeToString(b) }

func headersJSON(h [][2]string) []any {
	out := make([]any, len(h))
	for i, kv := range h {
		out[i] = map[string]any{"name": kv[0], "value": kv[1]}
	}
	return out
}

// partJSON is schema MessagePart. Container parts have an empty body ({"size": 0}); text parts
// carry their bytes in body.data; attachments (files and inline images) are fetched by
// body.attachmentId (users.messages.attachments.get) and have a filename.
func partJSON(p *part, top [][2]string) map[string]any {
	h := p.headers
	if top != nil {
		h = append(slices.Clone(top), h...)
	}
	j := map[string]any{"partId": p.id, "mimeType": p.mime, "filename": "", "headers": headersJSON(h)}
	switch {
	case p.att != nil:
		j["filename"] = p.att.name
		j["body"] = map[string]any{"attachmentId": p.att.id, "size": len(p.att.data)}
	case len(p.parts) > 0:
		j["body"] = map[string]any{"size": 0}
		ps := make([]any, len(p.parts))
		for i, c := range p.parts {
			ps[i] = partJSON(c, nil)
		}
		j["parts"] = ps
	default:
		j["body"] = map[string]any{"size": len(p.text), "data": b64url([]byte(p.text))}
	}
	return j
}

// raw renders m as RFC 2822 text.
func (m *message) raw() []byte {
	var b strings.Builder
	var write func(p *part, top [][2]string)
	write = func(p *part, top [][2]string) {
		for _, kv := range append(slices.Clone(top), p.headers...) {
			b.WriteString(kv[0] + ": " + kv[1] + "\r\n")
		}
		b.WriteString("\r\n")
		switch {
		case p.att != nil:
			s := base64.StdEncoding.EncodeToString(p.att.data)
			for len(s) > 76 {
				b.WriteString(s[:76] + "\r\n")
				s = s[76:]
			}
			b.WriteString(s + "\r\n")
		case len(p.parts) > 0:
			for _, c := range p.parts {
				b.WriteString("--" + p.boundary + "\r\n")
				write(c, nil)
			}
			b.WriteString("--" + p.boundary + "--\r\n")
		default:
			b.WriteString(strings.ReplaceAll(p.text, "\n", "\r\n"))
		}
	}
	write(m.tree(), m.headers())
	return []byte(b.String())
}

func (m *message) snippet() string {
	s := strings.Join(strings.Fields(m.text), " ")
	if len(s) > 100 {
		s = s[:100]
	}
	return s
}

// messageJSON is schema Message in a format: minimal (ids, labels, snippet, historyId,
// internalDate, sizeEstimate), metadata (and payload with the top-level headers only, those
// named in metadataHeaders when given; modelled: no part tree, no body), full (and the whole part
// tree) or raw (and the RFC 2822 text, base64url).
func messageJSON(m *message, format string, metaHeaders []string) map[string]any {
	raw := m.raw()
	j := map[string]any{"id": m.id, "threadId": m.threadID, "labelIds": slices.Clone(m.labels), "snippet": m.snippet(),
		"historyId": strconv.FormatInt(m.historyID, 10), "internalDate": strconv.FormatInt(m.internal.UnixMilli(), 10),
		"sizeEstimate": len(raw)}
	switch format {
	case "full":
		j["payload"] = partJSON(m.tree(), m.headers())
	case "raw":
		j["raw"] = b64url(raw)
	case "metadata":
		t := m.tree()
		h := append(m.headers(), t.headers...)
		if len(metaHeaders) > 0 {
			h = slices.DeleteFunc(h, func(kv [2]string) bool {
				return !slices.ContainsFunc(metaHeaders, func(n string) bool { return strings.EqualFold(n, kv[0]) })
			})
		}
		j["payload"] = map[string]any{"mimeType": t.mime, "headers": headersJSON(h)}
	}
	return j
}

// Gmail's answers to requests it refuses, as reported by its users:
//   - a token without a subject (no domain-wide delegation): 400 failedPrecondition
//     "Precondition check failed." (modelled on the common report of a service account calling
//     Gmail as itself);
//   - another user's mailbox: 403 forbidden "Delegation denied for <the token's user>";
//   - an unknown message or a history id out of date: 404 notFound "Requested entity was not
//     found." (LogicLabs-OU/OpenArchiver#443 for history.list);
//   - format full or raw, or q, with a token that has the gmail.metadata scope: 403 forbidden
//     "Metadata scope doesn't allow format FULL" (dacastro4/laravel-gmail#90) and "Metadata scope
//     does not support 'q' parameter" (googleworkspace/cli#104, where the token also had
//     gmail.readonly and gmail.modify: the metadata scope restricts the token whatever else it
//     has);
//   - history.list without startHistoryId: 400 invalidArgument "Missing/invalid parameter:
//     startHistoryId" (googleapis/google-api-nodejs-client#978).
var (
	errGmailNoSubject = &apiError{code: 400, reason: "failedPrecondition", domain: "global", message: "Precondition check failed.", status: "FAILED_PRECONDITION"}
	errGmailNotFound  = gerr(404, "notFound", "Requested entity was not found.")
	errGmailOff       = &apiError{code: 400, reason: "failedPrecondition", domain: "global", message: "Mail service not enabled", status: "FAILED_PRECONDITION"}
)

// Gmail scopes a read-only connector may hold.
var gmailRO = []string{ScopeGmailReadonly, ScopeGmailMetadata}

// gmailBox resolves the userId path parameter to the caller's mailbox: "me" or the impersonated
// user's address. Called with e.mu held.
func (e *Emulator) gmailBox(c *call) (*mailbox, *apiError) {
	if c.user == nil {
		return nil, errGmailNoSubject
	}
	if id := c.r.PathValue("userId"); id != "me" && !strings.EqualFold(id, c.user.email) {
		return nil, gerr(403, "forbidden", "Delegation denied for %s", c.user.email)
	}
	if e.mailOff[c.user.email] {
		return nil, errGmailOff
	}
	return e.mailbox(c.user), nil
}

func metadataOnly(c *call) bool { return c.tok.scopes[ScopeGmailMetadata] }

// gmailProfile is users.getProfile.
func (e *Emulator) gmailProfile(c *call) (int, any, *apiError) {
	e.mu.Lock()
	defer e.mu.Unlock()
	mb, aerr := e.gmailBox(c)
	if aerr != nil {
		return 0, nil, aerr
	}
	n, threads := 0, map[string]bool{}
	for _, m := range mb.msgs {
		if !m.deleted {
			n++
			threads[m.threadID] = true
		}
	}
	return 200, map[string]any{"emailAddress": mb.u.email, "messagesTotal": n, "threadsTotal": len(threads),
		"historyId": strconv.FormatInt(mb.hist, 10)}, nil
}

// mailQuery is a parsed q: the Gmail search operators the emulator knows (has:attachment,
// in:/label: sent|draft|inbox|unread, from:, to:, cc:, bcc:, subject:, filename:, after: and
// before: as a date yyyy/mm/dd or seconds since 1970); any other word must be in the subject or
// the text (modelled: Gmail searches far more).
type mailQuery []func(*message) bool

func parseMailQuery(q string) mailQuery {
	var out mailQuery
	for _, term := range strings.Fields(strings.ToLower(q)) {
		op, arg, ok := strings.Cut(term, ":")
		if !ok {
			w := term
			out = append(out, func(m *message) bool {
				return strings.Contains(strings.ToLower(m.subject+" "+m.text), w)
			})
			continue
		}
		in := func(l []string) bool {
			return slices.ContainsFunc(l, func(a string) bool { return strings.Contains(a, arg) })
		}
		switch op {
		case "has":
			out = append(out, func(m *message) bool {
				return arg == "attachment" && slices.ContainsFunc(m.atts, func(a *mailAtt) bool { return !a.inline })
			})
		case "in", "label", "is":
			lab := strings.ToUpper(strings.TrimSuffix(arg, "s"))
			if arg == "sent" {
				lab = LabelSent
			}
			out = append(out, func(m *message) bool { return slices.Contains(m.labels, lab) })
		case "from":
			out = append(out, func(m *message) bool { return strings.Contains(m.from, arg) })
		case "to":
			out = append(out, func(m *message) bool { return in(m.to) })
		case "cc":
			out = append(out, func(m *message) bool { return in(m.cc) })
		case "bcc":
			out = append(out, func(m *message) bool { return in(m.bcc) })
		case "subject":
			out = append(out, func(m *message) bool { return strings.Contains(strings.ToLower(m.subject), arg) })
		case "filename":
			out = append(out, func(m *message) bool {
				return slices.ContainsFunc(m.atts, func(a *mailAtt) bool { return strings.Contains(strings.ToLower(a.name), arg) })
			})
		case "after", "before":
			t, ok := mailDate(arg)
			after := op == "after"
			out = append(out, func(m *message) bool { return ok && (m.internal.After(t) == after) })
		default:
			out = append(out, func(*message) bool { return false })
		}
	}
	return out
}

func mailDate(s string) (time.Time, bool) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0), true
	}
	for _, layout := range []string{"2006/01/02", "2006/1/2", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

func (q mailQuery) match(m *message) bool {
	for _, f := range q {
		if !f(m) {
			return false
		}
	}
	return true
}

// gmailMaxResults reads maxResults: default 100, at most 500 ("The maximum allowed value for this
// field is 500"; modelled: a larger value is lowered to 500, a value below 1 refused).
func gmailMaxResults(c *call) (int, *apiError) {
	return pageSize(c.r.URL.Query(), "maxResults", 100, 500, false)
}

// messagesList is users.messages.list: newest first, {id, threadId} only.
func (e *Emulator) messagesList(c *call) (int, any, *apiError) {
	q := c.r.URL.Query()
	n, aerr := gmailMaxResults(c)
	if aerr != nil {
		return 0, nil, aerr
	}
	if q.Get("q") != "" && metadataOnly(c) {
		return 0, nil, gerr(403, "forbidden", "Metadata scope does not support 'q' parameter")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	mb, aerr := e.gmailBox(c)
	if aerr != nil {
		return 0, nil, aerr
	}
	// The page token is the position (in creation order) to go on from, downwards.
	start := len(mb.msgs) - 1
	if tok := q.Get("pageToken"); tok != "" {
		off, ok := readPageToken("gmail-messages", tok)
		if !ok || off >= len(mb.msgs) {
			return 0, nil, invalidValue("pageToken")
		}
		start = off
	}
	query := parseMailQuery(q.Get("q"))
	labels := q["labelIds"]
	var list []any
	out := map[string]any{}
	total := 0
	for i := start; i >= 0; i-- {
		m := mb.msgs[i]
		if m.deleted || !query.match(m) || slices.ContainsFunc(labels, func(l string) bool { return !slices.Contains(m.labels, l) }) {
			continue
		}
		if len(list) == n {
			if _, ok := out["nextPageToken"]; !ok {
				out["nextPageToken"] = pageToken("gmail-messages", i)
			}
			total++
			continue // resultSizeEstimate counts the rest
		}
		total++
		list = append(list, map[string]any{"id": m.id, "threadId": m.threadID})
	}
	if len(list) > 0 {
		out["messages"] = list
	}
	out["resultSizeEstimate"] = total
	return 200, out, nil
}

// messageFormat reads format (default full) and checks the scope allows it.
func messageFormat(c *call) (string, *apiError) {
	f := strings.ToLower(c.r.URL.Query().Get("format"))
	switch f {
	case "":
		f = "full"
	case "full", "raw", "metadata", "minimal":
	default:
		return "", gerr(400, "invalidArgument", "Invalid value at 'format' (type.googleapis.com/google.apps.gmail.v1.Format), %q", c.r.URL.Query().Get("format")).at("format", "parameter")
	}
	if metadataOnly(c) && (f == "full" || f == "raw") {
		return "", gerr(403, "forbidden", "Metadata scope doesn't allow format %s", strings.ToUpper(f))
	}
	return f, nil
}

// messagesGet is users.messages.get.
func (e *Emulator) messagesGet(c *call) (int, any, *apiError) {
	format, aerr := messageFormat(c)
	if aerr != nil {
		return 0, nil, aerr
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	mb, aerr := e.gmailBox(c)
	if aerr != nil {
		return 0, nil, aerr
	}
	m := mb.byID[c.r.PathValue("id")]
	if m == nil {
		return 0, nil, errGmailNotFound
	}
	return 200, messageJSON(m, format, c.r.URL.Query()["metadataHeaders"]), nil
}

// attachmentsGet is users.messages.attachments.get: schema MessagePartBody with size and data
// (base64url). Modelled: an unknown attachment id answers 400 "Invalid attachment token", the
// answer has no attachmentId.
func (e *Emulator) attachmentsGet(c *call) (int, any, *apiError) {
	e.mu.Lock()
	defer e.mu.Unlock()
	mb, aerr := e.gmailBox(c)
	if aerr != nil {
		return 0, nil, aerr
	}
	m := mb.byID[c.r.PathValue("messageId")]
	if m == nil {
		return 0, nil, errGmailNotFound
	}
	id := c.r.PathValue("id")
	for _, a := range m.atts {
		if a.id == id {
			return 200, map[string]any{"size": len(a.data), "data": b64url(a.data)}, nil
		}
	}
	return 0, nil, gerr(400, "invalidArgument", "Invalid attachment token")
}

// historyList is users.history.list: the records after startHistoryId, oldest first, filtered by
// historyTypes and labelId (the message's labels when the record was made), maxResults a page
// (default 100, at most 500), and the mailbox's current historyId. A startHistoryId older than the
// retained history (Options.HistoryRetention, ExpireHistory) or newer than the mailbox's answers
// 404, as Gmail does for "an invalid or out of date startHistoryId".
func (e *Emulator) historyList(c *call) (int, any, *apiError) {
	q := c.r.URL.Query()
	n, aerr := gmailMaxResults(c)
	if aerr != nil {
		return 0, nil, aerr
	}
	types := map[string]bool{}
	for _, t := range q["historyTypes"] {
		switch t {
		case "messageAdded", "messageDeleted", "labelAdded", "labelRemoved":
			types[t] = true
		default:
			return 0, nil, gerr(400, "invalidArgument", "Invalid value at 'history_types' (type.googleapis.com/google.apps.gmail.v1.ListHistoryRequest.HistoryType), %q", t).at("historyTypes", "parameter")
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	mb, aerr := e.gmailBox(c)
	if aerr != nil {
		return 0, nil, aerr
	}
	start, err := strconv.ParseInt(q.Get("startHistoryId"), 10, 64)
	if err != nil {
		return 0, nil, gerr(400, "invalidArgument", "Missing/invalid parameter: startHistoryId")
	}
	e.pruneHistory(mb)
	if start < mb.floor || start > mb.hist {
		e.stats.ExpiredHistoryIDs++
		return 0, nil, errGmailNotFound
	}
	from := start
	if tok := q.Get("pageToken"); tok != "" {
		off, ok := readPageToken("gmail-history", tok)
		if !ok || int64(off) < start {
			return 0, nil, invalidValue("pageToken")
		}
		from = int64(off)
	}
	label := q.Get("labelId")
	out := map[string]any{"historyId": strconv.FormatInt(mb.hist, 10)}
	var list []any
	last := from
	for _, r := range mb.records {
		if r.id <= from || (label != "" && !slices.Contains(r.labels, label)) {
			continue
		}
		kind, typ := "messagesDeleted", "messageDeleted"
		if r.added {
			kind, typ = "messagesAdded", "messageAdded"
		}
		if len(types) > 0 && !types[typ] {
			continue
		}
		if len(list) == n {
			out["nextPageToken"] = pageToken("gmail-history", int(last))
			break
		}
		last = r.id
		msg := map[string]any{"id": r.msgID, "threadId": r.thread, "labelIds": slices.Clone(r.labels)}
		list = append(list, map[string]any{"id": strconv.FormatInt(r.id, 10),
			"messages": []any{map[string]any{"id": r.msgID, "threadId": r.thread}},
			kind:       []any{map[string]any{"message": msg}}})
	}
	if len(list) > 0 {
		out["history"] = list
	}
	return 200, out, nil
}

// pruneHistory drops the records older than Options.HistoryRetention. Called with e.mu held.
func (e *Emulator) pruneHistory(mb *mailbox) {
	if e.o.HistoryRetention <= 0 {
		return
	}
	cut := e.clk.Now().Add(-e.o.HistoryRetention)
	i := 0
	for i < len(mb.records) && mb.records[i].at.Before(cut) {
		mb.floor = mb.records[i].id
		i++
	}
	mb.records = mb.records[i:]
}

// draftsList is users.drafts.list: {id, message {id, threadId}}, newest first.
func (e *Emulator) draftsList(c *call) (int, any, *apiError) {
	n, aerr := gmailMaxResults(c)
	if aerr != nil {
		return 0, nil, aerr
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	mb, aerr := e.gmailBox(c)
	if aerr != nil {
		return 0, nil, aerr
	}
	off, ok := readPageToken("gmail-drafts", c.r.URL.Query().Get("pageToken"))
	if !ok {
		return 0, nil, invalidValue("pageToken")
	}
	out := map[string]any{"resultSizeEstimate": len(mb.dorder)}
	var list []any
	for i := len(mb.dorder) - 1 - off; i >= 0; i-- {
		if len(list) == n {
			out["nextPageToken"] = pageToken("gmail-drafts", len(mb.dorder)-1-i)
			break
		}
		d := mb.dorder[i]
		list = append(list, map[string]any{"id": d.id, "message": map[string]any{"id": d.msg.id, "threadId": d.msg.threadID}})
	}
	if len(list) > 0 {
		out["drafts"] = list
	}
	return 200, out, nil
}

// draftsGet is users.drafts.get.
func (e *Emulator) draftsGet(c *call) (int, any, *apiError) {
	format, aerr := messageFormat(c)
	if aerr != nil {
		return 0, nil, aerr
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	mb, aerr := e.gmailBox(c)
	if aerr != nil {
		return 0, nil, aerr
	}
	d := mb.drafts[c.r.PathValue("id")]
	if d == nil {
		return 0, nil, errGmailNotFound
	}
	return 200, map[string]any{"id": d.id, "message": messageJSON(d.msg, format, nil)}, nil
}
