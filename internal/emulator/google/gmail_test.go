package google

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/api/gmail/v1"
)

func header(p *gmail.MessagePart, name string) string {
	for _, h := range p.Headers {
		if strings.EqualFold(h.Name, name) {
			return h.Value
		}
	}
	return ""
}

func hashes(b []byte) (string, string) {
	m, s := md5.Sum(b), sha256.Sum256(b)
	return hex.EncodeToString(m[:]), hex.EncodeToString(s[:])
}

func profileHistory(t *testing.T, s *gmail.Service) uint64 {
	t.Helper()
	p, err := s.Users.GetProfile("me").Do()
	if err != nil {
		t.Fatal(err)
	}
	return p.HistoryId
}

// TestGmailSentMessage: a sent message with files and an inline image, read with format=full, is
// the part tree Gmail gives (multipart/mixed > multipart/related > multipart/alternative, files
// and images with a filename, Content-Disposition and body.attachmentId), its attachments' content
// matches the ground truth's hashes, and an internal recipient gets an inbox copy without Bcc.
func TestGmailSentMessage(t *testing.T) {
	h := newHarness(t, Options{Users: 6})
	a, b := h.active()[0], h.active()[1]
	pdf, csv, png := bytes.Repeat([]byte("%PDF-1.7 plan "), 700), []byte("a,b\n1,2\n"), []byte("\x89PNG\r\n\x1a\nimage")
	id, err := h.emu.SendMail(a.Email, []string{b.Email, "Partner <bob@partner.example>"}, []string{"eve@gmail.com"}, []string{"mallory@gmail.com"},
		"Q4 plan", []MailAttachment{{Name: "Q4 plan.pdf", MimeType: "application/pdf", Content: pdf}, {Name: "numbers.csv", MimeType: "text/csv", Content: csv},
			{Name: "image.png", MimeType: "image/png", Content: png, Inline: true}})
	if err != nil {
		t.Fatal(err)
	}
	truth := h.emu.SentMails()
	if len(truth) != 1 || truth[0].ID != id || len(truth[0].Attachments) != 3 {
		t.Fatalf("ground truth %+v", truth)
	}
	s := h.gmail(a.Email)
	m, err := s.Users.Messages.Get("me", id).Format("full").Do()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(m.LabelIds, []string{"SENT"}) || m.ThreadId != id || m.InternalDate != truth[0].At.UnixMilli() || m.HistoryId == 0 || m.SizeEstimate < int64(len(pdf)) {
		t.Errorf("message %+v", m)
	}
	p := m.Payload
	if p.MimeType != "multipart/mixed" || p.PartId != "" || header(p, "Subject") != "Q4 plan" || header(p, "From") != a.Email ||
		header(p, "Bcc") != "mallory@gmail.com" || !strings.Contains(header(p, "To"), "bob@partner.example") || header(p, "Message-ID") != truth[0].MessageID {
		t.Errorf("top part %+v", p.Headers)
	}
	if len(p.Parts) != 3 || p.Parts[0].MimeType != "multipart/related" || p.Parts[0].Parts[0].MimeType != "multipart/alternative" ||
		p.Parts[0].Parts[0].Parts[0].PartId != "0.0.0" || p.Parts[0].Parts[0].Parts[1].MimeType != "text/html" {
		t.Fatalf("part tree %+v", p.Parts)
	}
	if txt := p.Parts[0].Parts[0].Parts[0].Body; txt.Data == "" || txt.AttachmentId != "" || txt.Size == 0 {
		t.Errorf("text body %+v", txt)
	}
	parts := map[string]*gmail.MessagePart{"1": p.Parts[1], "2": p.Parts[2], "0.1": p.Parts[0].Parts[1]}
	for _, want := range truth[0].Attachments {
		got := parts[want.PartID]
		if got == nil || got.Filename != want.Name || got.MimeType != want.MimeType || got.Body.AttachmentId != want.AttachmentID || got.Body.Size != want.Size || got.Body.Data != "" {
			t.Errorf("attachment %+v: part %+v", want, got)
			continue
		}
		disp := "attachment"
		if want.Inline {
			disp = "inline"
		}
		if d, params, err := mime.ParseMediaType(header(got, "Content-Disposition")); err != nil || d != disp || params["filename"] != want.Name {
			t.Errorf("%s: Content-Disposition %q", want.Name, header(got, "Content-Disposition"))
		}
		body, err := s.Users.Messages.Attachments.Get("me", id, got.Body.AttachmentId).Do()
		if err != nil {
			t.Fatal(err)
		}
		data, err := base64.URLEncoding.DecodeString(body.Data)
		if err != nil {
			t.Fatal(err)
		}
		if md, sh := hashes(data); md != want.MD5 || sh != want.SHA256 || body.Size != want.Size {
			t.Errorf("%s: content %s %s %d, want %s %s %d", want.Name, md, sh, body.Size, want.MD5, want.SHA256, want.Size)
		}
	}
	_, err = s.Users.Messages.Attachments.Get("me", id, "ANGjdJnothing").Do()
	apiErr(t, err, 400, "invalidArgument")
	_, err = s.Users.Messages.Get("me", "18c0000000000000").Do()
	apiErr(t, err, 404, "notFound")

	// The other formats: minimal has no payload, metadata the headers only, raw the RFC 2822 text.
	min, err := s.Users.Messages.Get(a.Email, id).Format("minimal").Do()
	if err != nil || min.Payload != nil || min.Raw != "" || min.Id != id {
		t.Errorf("minimal: %+v %v", min, err)
	}
	meta, err := s.Users.Messages.Get("me", id).Format("metadata").MetadataHeaders("Subject", "To").Do()
	if err != nil || meta.Payload == nil || len(meta.Payload.Parts) != 0 || len(meta.Payload.Headers) != 2 {
		t.Errorf("metadata: %+v %v", meta, err)
	}
	raw, err := s.Users.Messages.Get("me", id).Format("raw").Do()
	if err != nil {
		t.Fatal(err)
	}
	rb, err := base64.URLEncoding.DecodeString(raw.Raw)
	if err != nil {
		t.Fatal(err)
	}
	rm, err := mail.ReadMessage(bytes.NewReader(rb))
	if err != nil || rm.Header.Get("Subject") != "Q4 plan" {
		t.Fatalf("raw: %v", err)
	}
	_, params, _ := mime.ParseMediaType(rm.Header.Get("Content-Type"))
	mr := multipart.NewReader(rm.Body, params["boundary"])
	var names []string
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if part.FileName() != "" {
			enc, _ := io.ReadAll(part)
			dec, _ := base64.StdEncoding.DecodeString(strings.ReplaceAll(string(enc), "\r\n", ""))
			if md, _ := hashes(dec); md != truth[0].Attachments[0].MD5 && part.FileName() == "Q4 plan.pdf" {
				t.Errorf("raw attachment content differs")
			}
			names = append(names, part.FileName())
		}
	}
	if !slices.Equal(names, []string{"Q4 plan.pdf", "numbers.csv"}) {
		t.Errorf("raw top-level attachments %v", names)
	}

	// b got a copy in the inbox: another id, no Bcc, the same attachments.
	r, err := h.gmail(b.Email).Users.Messages.List("me").LabelIds("INBOX").Do()
	if err != nil || len(r.Messages) != 1 || r.Messages[0].Id == id {
		t.Fatalf("b's inbox: %+v %v", r, err)
	}
	cp, err := h.gmail(b.Email).Users.Messages.Get("me", r.Messages[0].Id).Do()
	if err != nil || header(cp.Payload, "Bcc") != "" || !slices.Equal(cp.LabelIds, []string{"INBOX", "UNREAD"}) || cp.Payload.Parts[1].Filename != "Q4 plan.pdf" {
		t.Errorf("b's copy: %+v %v", cp, err)
	}
}

// sentIDs reads a mailbox's history from start to the end with a page size, returning the message
// ids added and deleted, the record ids and the last historyId.
func historyFrom(t *testing.T, s *gmail.Service, start uint64, label string, pageSize int64, types ...string) (added, deleted []string, ids []uint64, last uint64) {
	t.Helper()
	tok := ""
	for guard := 0; guard < 100; guard++ {
		call := s.Users.History.List("me").StartHistoryId(start).MaxResults(pageSize).PageToken(tok)
		if label != "" {
			call = call.LabelId(label)
		}
		if len(types) > 0 {
			call = call.HistoryTypes(types...)
		}
		r, err := call.Do()
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(r.History)) > pageSize {
			t.Fatalf("a page of %d records, maxResults %d", len(r.History), pageSize)
		}
		for _, hr := range r.History {
			ids = append(ids, hr.Id)
			for _, a := range hr.MessagesAdded {
				added = append(added, a.Message.Id)
				if len(a.Message.LabelIds) == 0 || a.Message.ThreadId == "" {
					t.Errorf("messagesAdded without labels or thread: %+v", a.Message)
				}
			}
			for _, d := range hr.MessagesDeleted {
				deleted = append(deleted, d.Message.Id)
			}
		}
		last = r.HistoryId
		if r.NextPageToken == "" {
			return
		}
		tok = r.NextPageToken
	}
	t.Fatal("history never ended")
	return
}

// TestGmailHistory: history.list labelId=SENT historyTypes=messageAdded lists exactly the sent
// messages, drafts (a new message id on every autosave) never, in pages of maxResults, with ids
// that increase with gaps; without the label the drafts' adds and deletes show.
func TestGmailHistory(t *testing.T) {
	h := newHarness(t, Options{Users: 6})
	a, b := h.active()[0], h.active()[1]
	s := h.gmail(a.Email)
	start := profileHistory(t, s)
	var want []string
	for i := 0; i < 5; i++ {
		id, err := h.emu.SendMail(a.Email, []string{"x" + strconv.Itoa(i) + "@partner.example"}, nil, nil, "m"+strconv.Itoa(i),
			[]MailAttachment{{Name: "f.txt", MimeType: "text/plain", Content: []byte("x")}})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, id)
	}
	d, m1, err := h.emu.SaveDraft("", a.Email, []string{"p@gmail.com"}, nil, nil, "draft", []MailAttachment{{Name: "secret.zip", Content: []byte("zip")}})
	if err != nil {
		t.Fatal(err)
	}
	d2, m2, err := h.emu.SaveDraft(d, a.Email, []string{"p@gmail.com"}, nil, nil, "draft v2", nil)
	if err != nil || d2 != d || m2 == m1 {
		t.Fatalf("autosave: %s %s %s %v", d2, m1, m2, err)
	}
	if _, err := s.Users.Messages.Get("me", m1).Do(); err == nil {
		t.Errorf("the autosaved draft's first message is still there")
	}
	dr, err := s.Users.Drafts.Get("me", d).Do()
	if err != nil || dr.Message.Id != m2 || !slices.Equal(dr.Message.LabelIds, []string{"DRAFT"}) {
		t.Errorf("drafts.get: %+v %v", dr, err)
	}
	if l, err := s.Users.Drafts.List("me").Do(); err != nil || len(l.Drafts) != 1 || l.Drafts[0].Message.Id != m2 {
		t.Errorf("drafts.list: %+v %v", l, err)
	}
	sent, err := h.emu.SendDraft(a.Email, d)
	if err != nil || sent == m2 {
		t.Fatalf("send draft: %s %v", sent, err)
	}
	want = append(want, sent)
	h.emu.SendMail(b.Email, []string{a.Email}, nil, nil, "to a", nil) // in a's inbox, not SENT

	added, deleted, ids, last := historyFrom(t, s, start, "SENT", 2, "messageAdded")
	if !slices.Equal(added, want) || len(deleted) != 0 {
		t.Errorf("SENT history: added %v deleted %v, want %v", added, deleted, want)
	}
	gap := false
	for i := 1; i < len(ids); i++ {
		if ids[i] <= ids[i-1] {
			t.Errorf("history ids do not increase: %v", ids)
		}
		gap = gap || ids[i] > ids[i-1]+1
	}
	if !gap {
		t.Errorf("history ids without gaps: %v", ids)
	}
	if p := profileHistory(t, s); last != p {
		t.Errorf("last page historyId %d, profile %d", last, p)
	}
	all, del, _, _ := historyFrom(t, s, start, "", 500)
	for _, id := range []string{m1, m2} {
		if !slices.Contains(all, id) || !slices.Contains(del, id) {
			t.Errorf("draft message %s not added and deleted in the full history: %v / %v", id, all, del)
		}
	}
	if len(all) != len(want)+3 { // and the two draft saves and the inbox copy
		t.Errorf("full history added %d messages", len(all))
	}
	// From the end: nothing, and the historyId.
	r, err := s.Users.History.List("me").StartHistoryId(last).Do()
	if err != nil || len(r.History) != 0 || r.HistoryId != last || r.NextPageToken != "" {
		t.Errorf("history from the end: %+v %v", r, err)
	}
}

// TestGmailHistoryExpires: a startHistoryId older than the retained history, or not yet given,
// answers 404 notFound; a missing one 400.
func TestGmailHistoryExpires(t *testing.T) {
	h := newHarness(t, Options{Users: 4, HistoryRetention: 7 * 24 * time.Hour})
	a := h.active()[0]
	s := h.gmail(a.Email)
	start := profileHistory(t, s)
	h.emu.SendMail(a.Email, []string{"x@gmail.com"}, nil, nil, "one", nil)
	if _, err := s.Users.History.List("me").StartHistoryId(start).Do(); err != nil {
		t.Fatal(err)
	}
	h.clk.Advance(8 * 24 * time.Hour)
	h.emu.SendMail(a.Email, []string{"x@gmail.com"}, nil, nil, "two", nil)
	s = h.gmail(a.Email) // the first token has expired
	_, err := s.Users.History.List("me").StartHistoryId(start).Do()
	ge := apiErr(t, err, 404, "notFound")
	if ge.Message != "Requested entity was not found." {
		t.Errorf("404 message %q", ge.Message)
	}
	now := profileHistory(t, s)
	if _, err := s.Users.History.List("me").StartHistoryId(now).Do(); err != nil {
		t.Errorf("from the current historyId: %v", err)
	}
	_, err = s.Users.History.List("me").StartHistoryId(now + 1000).Do()
	apiErr(t, err, 404, "notFound")
	h.emu.SendMail(a.Email, []string{"x@gmail.com"}, nil, nil, "three", nil)
	h.emu.ExpireHistory(a.Email)
	_, err = s.Users.History.List("me").StartHistoryId(now).Do()
	apiErr(t, err, 404, "notFound")
	// The mailbox's current id is out of date too (a reader caught up to now is expired as well);
	// the profile's new one works.
	cur := profileHistory(t, s)
	h.emu.ExpireHistory(a.Email)
	_, err = s.Users.History.List("me").StartHistoryId(cur).Do()
	apiErr(t, err, 404, "notFound")
	if _, err := s.Users.History.List("me").StartHistoryId(profileHistory(t, s)).Do(); err != nil {
		t.Errorf("from the history id after an expiry: %v", err)
	}
	_, err = s.Users.History.List("me").Do()
	apiErr(t, err, 400, "invalidArgument")
	if st := h.emu.Stats(); st.ExpiredHistoryIDs != 4 {
		t.Errorf("ExpiredHistoryIDs %d", st.ExpiredHistoryIDs)
	}
}

// TestGmailListAndAccess: messages.list by query and labels, paged newest first; the metadata
// scope's limits; another user's mailbox and the service account as itself refused.
func TestGmailListAndAccess(t *testing.T) {
	h := newHarness(t, Options{Users: 6})
	a, b := h.active()[0], h.active()[1]
	var ids []string
	for i := 0; i < 5; i++ {
		var atts []MailAttachment
		if i%2 == 0 {
			atts = []MailAttachment{{Name: "r" + strconv.Itoa(i) + ".pdf", MimeType: "application/pdf", Content: []byte("pdf")}}
		}
		id, _ := h.emu.SendMail(a.Email, []string{"x@partner.example"}, nil, nil, "report "+strconv.Itoa(i), atts)
		ids = append(ids, id)
	}
	h.emu.SaveDraft("", a.Email, []string{"x@gmail.com"}, nil, nil, "report draft", []MailAttachment{{Name: "d.pdf", Content: []byte("d")}})
	s := h.gmail(a.Email)
	r, err := s.Users.Messages.List("me").Q("has:attachment in:sent").Do()
	if err != nil || len(r.Messages) != 3 || r.Messages[0].Id != ids[4] || r.Messages[2].Id != ids[0] || r.ResultSizeEstimate != 3 {
		t.Errorf("has:attachment in:sent: %+v %v", r, err)
	}
	var got []string
	tok := ""
	for {
		r, err := s.Users.Messages.List("me").LabelIds("SENT").MaxResults(2).PageToken(tok).Do()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range r.Messages {
			got = append(got, m.Id)
		}
		if tok = r.NextPageToken; tok == "" {
			break
		}
	}
	if want := []string{ids[4], ids[3], ids[2], ids[1], ids[0]}; !slices.Equal(got, want) {
		t.Errorf("SENT pages %v, want %v", got, want)
	}
	if r, err := s.Users.Messages.List("me").MaxResults(1000).Do(); err != nil || len(r.Messages) != 6 {
		t.Errorf("maxResults 1000: %+v %v", r, err)
	}
	if r, err := s.Users.Messages.List("me").Q("subject:nothing").Do(); err != nil || len(r.Messages) != 0 || r.ResultSizeEstimate != 0 {
		t.Errorf("no match: %+v %v", r, err)
	}
	if p, err := s.Users.GetProfile(a.Email).Do(); err != nil || p.EmailAddress != a.Email || p.MessagesTotal != 6 || p.ThreadsTotal != 6 {
		t.Errorf("profile %+v %v", p, err)
	}

	// The metadata scope: no full or raw format, no q, no attachments; even alongside readonly.
	meta := h.gmail(a.Email, ScopeGmailMetadata, ScopeGmailReadonly)
	_, err = meta.Users.Messages.Get("me", ids[0]).Do()
	if ge := apiErr(t, err, 403, "forbidden"); ge.Message != "Metadata scope doesn't allow format FULL" {
		t.Errorf("metadata full: %q", ge.Message)
	}
	_, err = meta.Users.Messages.Get("me", ids[0]).Format("raw").Do()
	apiErr(t, err, 403, "forbidden")
	_, err = meta.Users.Messages.List("me").Q("in:sent").Do()
	apiErr(t, err, 403, "forbidden")
	if m, err := meta.Users.Messages.Get("me", ids[0]).Format("metadata").Do(); err != nil || m.Payload == nil {
		t.Errorf("metadata format: %v", err)
	}
	onlyMeta := h.gmail(a.Email, ScopeGmailMetadata)
	_, err = onlyMeta.Users.Messages.Attachments.Get("me", ids[0], "x").Do()
	apiErr(t, err, 403, "insufficientPermissions")
	_, err = h.gmail(a.Email, ScopeDriveReadonly).Users.GetProfile("me").Do()
	apiErr(t, err, 403, "insufficientPermissions")

	// Another user's mailbox; the service account itself.
	_, err = s.Users.Messages.List(b.Email).Do()
	if ge := apiErr(t, err, 403, "forbidden"); ge.Message != "Delegation denied for "+a.Email {
		t.Errorf("delegation denied: %q", ge.Message)
	}
	_, err = h.gmail("").Users.GetProfile("me").Do()
	apiErr(t, err, 400, "failedPrecondition")
}

// TestStepMail: the random generator leaves sent mail with attachments to internal, partner and
// personal addresses, and drafts, deterministically by seed.
func TestStepMail(t *testing.T) {
	run := func() []SentMail {
		h := newHarness(t, Options{Users: 8, Seed: 7})
		h.emu.StepMail(60)
		return h.emu.SentMails()
	}
	one, two := run(), run()
	if len(one) < 30 || len(one) != len(two) {
		t.Fatalf("sent %d then %d", len(one), len(two))
	}
	var atts, gm, partner, drafts int
	for i, m := range one {
		if m.ID != two[i].ID || m.Subject != two[i].Subject || len(m.Attachments) != len(two[i].Attachments) {
			t.Fatalf("not deterministic at %d: %+v %+v", i, m, two[i])
		}
		atts += len(m.Attachments)
		for _, r := range slices.Concat(m.To, m.Cc, m.Bcc) {
			gm += boolInt(strings.HasSuffix(r, "@gmail.com"))
			partner += boolInt(strings.HasSuffix(r, "@partner.example"))
		}
		drafts += boolInt(m.DraftID != "")
		for _, a := range m.Attachments {
			if a.Size == 0 || len(a.SHA256) != 64 || a.AttachmentID == "" || a.PartID == "" {
				t.Errorf("attachment %+v", a)
			}
		}
	}
	if atts < len(one) || gm == 0 || partner == 0 || drafts == 0 {
		t.Errorf("%d messages: %d attachments, %d gmail.com, %d partner recipients, %d sent drafts", len(one), atts, gm, partner, drafts)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// gmailWalk exercises every Gmail method the emulator serves, with success and error answers,
// through the real client, and returns the recorded exchanges.
func gmailWalk(t *testing.T) []exchange {
	t.Helper()
	h := newHarness(t, Options{Users: 6})
	a, b := h.active()[0], h.active()[1]
	h.emu.SetPushEndpoint(topic, "http://127.0.0.1:1/none", "")
	s := h.gmail(a.Email)
	start := profileHistory(t, s)
	id, _ := h.emu.SendMail(a.Email, []string{b.Email, "x@partner.example"}, []string{"y@gmail.com"}, []string{"z@gmail.com"}, "walk",
		[]MailAttachment{{Name: "walk.pdf", MimeType: "application/pdf", Content: []byte("%PDF walk")}, {Name: "pic.png", MimeType: "image/png", Content: []byte("png"), Inline: true}})
	d, _, _ := h.emu.SaveDraft("", a.Email, []string{"x@gmail.com"}, nil, nil, "draft", nil)
	h.emu.SaveDraft(d, a.Email, []string{"x@gmail.com"}, nil, nil, "draft 2", nil)
	h.emu.StepMail(10)
	truth := h.emu.SentMails()[0]
	ignore := func(_ any, _ error) {}
	ignore(s.Users.GetProfile("me").Do())
	ignore(s.Users.Messages.List("me").MaxResults(2).Do())
	ignore(s.Users.Messages.List("me").Q("in:nothing").Do())
	ignore(s.Users.Messages.List("me").MaxResults(0).Do())
	ignore(s.Users.Messages.List("me").PageToken("bad").Do())
	for _, f := range []string{"full", "metadata", "minimal", "raw", "bogus"} {
		ignore(s.Users.Messages.Get("me", id).Format(f).Do())
	}
	ignore(s.Users.Messages.Get("me", "0").Do())
	ignore(s.Users.Messages.Attachments.Get("me", id, truth.Attachments[0].AttachmentID).Do())
	ignore(s.Users.Messages.Attachments.Get("me", id, "x").Do())
	ignore(s.Users.History.List("me").StartHistoryId(start).Do())
	ignore(s.Users.History.List("me").StartHistoryId(start).LabelId("SENT").HistoryTypes("messageAdded").MaxResults(1).Do())
	ignore(s.Users.History.List("me").StartHistoryId(start).HistoryTypes("bogus").Do())
	ignore(s.Users.History.List("me").StartHistoryId(1).Do())
	ignore(s.Users.History.List("me").Do())
	ignore(s.Users.Drafts.List("me").Do())
	ignore(s.Users.Drafts.Get("me", d).Do())
	ignore(s.Users.Drafts.Get("me", "r1").Do())
	ignore(s.Users.Watch("me", &gmail.WatchRequest{TopicName: topic, LabelIds: []string{"SENT"}}).Do())
	ignore(s.Users.Watch("me", &gmail.WatchRequest{TopicName: "nope"}).Do())
	ignore(nil, s.Users.Stop("me").Do())
	ignore(s.Users.Messages.List(b.Email).Do())
	ignore(h.gmail(a.Email, ScopeGmailMetadata).Users.Messages.Get("me", id).Do())
	ignore(h.gmail("").Users.GetProfile("me").Do())
	for _, kind := range []string{"503", "429"} {
		h.emu.SetFaults(Faults{Rate: 1, Kinds: []string{kind}})
		ignore(s.Users.History.List("me").StartHistoryId(start).Do())
	}
	h.emu.SetFaults(Faults{})
	h.certs()
	return h.rec.all()
}

func TestGmailResponsesMatchDiscovery(t *testing.T) {
	all := gmailWalk(t)
	d := gmailDoc(t)
	statuses, methods := map[int]int{}, map[string]bool{}
	for _, x := range all {
		statuses[x.status]++
		if err := check(t, x); err != nil {
			t.Error(err)
		}
		if m, ok := d.Find(x.method, x.path); ok && x.status < 300 {
			methods[m.ID] = true
		}
	}
	for _, want := range []int{200, 204, 400, 403, 404, 429, 503} {
		if statuses[want] == 0 {
			t.Errorf("the walk never produced a %d answer: %v", want, statuses)
		}
	}
	for _, want := range []string{"gmail.users.getProfile", "gmail.users.messages.list", "gmail.users.messages.get", "gmail.users.messages.attachments.get",
		"gmail.users.history.list", "gmail.users.drafts.list", "gmail.users.drafts.get", "gmail.users.watch", "gmail.users.stop"} {
		if !methods[want] {
			t.Errorf("the walk never got a 2xx from %s", want)
		}
	}
	t.Logf("validated %d answers: %v", len(all), statuses)
}

// TestGmailDiscoveryCatchesBrokenResponses proves the validation bites on Gmail's answers: a
// field renamed, mistyped or undeclared, taken from a real answer, is refused by name.
func TestGmailDiscoveryCatchesBrokenResponses(t *testing.T) {
	all := gmailWalk(t)
	find := func(what string, ok func(x exchange, m map[string]any) bool) exchange {
		t.Helper()
		for _, x := range all {
			var m map[string]any
			if x.status == 200 && json.Unmarshal(x.body, &m) == nil && ok(x, m) {
				return x
			}
		}
		t.Fatalf("the walk recorded no %s", what)
		return exchange{}
	}
	full := find("full message", func(x exchange, m map[string]any) bool {
		return strings.Contains(x.query, "format=full") && m["payload"] != nil
	})
	hist := find("history page", func(x exchange, m map[string]any) bool { return m["history"] != nil })
	att := find("attachment", func(x exchange, m map[string]any) bool { return strings.Contains(x.path, "/attachments/") })
	watch := find("watch", func(x exchange, m map[string]any) bool { return strings.HasSuffix(x.path, "/watch") })
	certs := find("certs", func(x exchange, m map[string]any) bool { return x.path == "/oauth2/v3/certs" })
	for _, c := range []struct {
		name string
		x    exchange
		path string
		op   func(map[string]any, string)
		want string
	}{
		{"filename renamed", full, "payload.parts[1].filename", rename("fileName"), `payload.parts[1].fileName: property "fileName" is not declared in MessagePart`},
		{"attachmentId renamed", full, "payload.parts[1].body.attachmentId", rename("attachmentID"), `payload.parts[1].body.attachmentID: property "attachmentID" is not declared in MessagePartBody`},
		{"size as a string", full, "payload.parts[1].body.size", set("12"), "payload.parts[1].body.size"},
		{"internalDate as a number", full, "internalDate", set(json.Number("1")), "internalDate: 1 is a number, not string"},
		{"header value renamed", full, "payload.headers[0].value", rename("val"), "payload.headers[0].val"},
		{"body data not base64", full, "payload.parts[0].parts[0].parts[0].body.data", set("not base64!"), "body.data"},
		{"history id as a number", hist, "history[0].id", set(json.Number("5")), "history[0].id"},
		{"labelIds a string", hist, "history[0].messagesAdded[0].message.labelIds", set("SENT"), "labelIds: string is not an array"},
		{"messagesAdded renamed", hist, "history[0].messagesAdded", rename("messageAdded"), `property "messageAdded" is not declared in History`},
		{"attachment data renamed", att, "data", rename("content"), `content: property "content" is not declared in MessagePartBody`},
		{"expiration as a number", watch, "expiration", set(json.Number("1")), "expiration: 1 is a number, not string"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := check(t, c.x); err != nil {
				t.Fatalf("the unbroken answer fails already: %v", err)
			}
			broken := c.x
			broken.body = mutate(t, c.x.body, c.path, c.op)
			err := check(t, broken)
			if err == nil {
				t.Fatalf("the broken answer passed: %.300s", broken.body)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("the error does not name %q:\n%v", c.want, err)
			}
		})
	}
	broken := certs
	broken.body = mutate(t, certs.body, "keys[0].x5c", set("x"))
	if err := check(t, broken); err == nil || !strings.Contains(err.Error(), "x5c") {
		t.Errorf("a broken JWKS passed: %v", err)
	}
}

// TestGmailMailDisabled: a user whose Gmail is turned off gets 400 failedPrecondition "Mail
// service not enabled" on every Gmail call, and Gmail again once it is turned back on.
func TestGmailMailDisabled(t *testing.T) {
	h := newHarness(t, Options{Users: 4})
	a := h.active()[0]
	s := h.gmail(a.Email)
	h.emu.SetMailDisabled(a.Email, true)
	_, err := s.Users.GetProfile("me").Do()
	if ge := apiErr(t, err, 400, "failedPrecondition"); ge.Message != "Mail service not enabled" {
		t.Errorf("message %q", ge.Message)
	}
	h.emu.SetMailDisabled(a.Email, false)
	if _, err := s.Users.GetProfile("me").Do(); err != nil {
		t.Errorf("after turning Gmail on again: %v", err)
	}
}
