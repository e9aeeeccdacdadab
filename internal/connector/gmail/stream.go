package gmail

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	gmailapi "google.golang.org/api/gmail/v1"

	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/connector/kit/googlekit"
)

// historyKey is the key of each mailbox's stream.
const historyKey = "history"

// historyPage is how many history records one page reads (history.list allows 500; each added
// message costs a messages.get, so a page stays well inside the page budget).
const historyPage = 100

// resyncOverlap: after a 404 on history, sent mail is listed again from this long before the last
// position Telltale read, so a clock difference between Telltale and Gmail loses nothing; what is
// read twice is dropped by record id (Spec.DedupeHorizon).
const resyncOverlap = time.Hour

// SkipGone: a message added to SENT and deleted before Telltale read it (Gmail answers 404).
const SkipGone = "gone"

// cursor is a mailbox stream's position: the history id to read after (H) and when Telltale last
// read up to it (T, seconds since 1970: a resync lists sent mail from then). During a resync
// Since and Page say where the messages.list recovery goes on; H is then the profile's history id
// taken before the recovery began, so nothing sent meanwhile is lost.
type cursor struct {
	H     string `json:"h"`
	T     int64  `json:"t"`
	Since int64  `json:"since,omitempty"`
	Page  string `json:"page,omitempty"`
}

func (c cursor) String() string {
	b, _ := json.Marshal(c)
	return string(b)
}

func parseCursor(s string) (cursor, error) {
	var c cursor
	if n, err := strconv.ParseUint(s, 10, 64); err == nil { // a bare history id
		return cursor{H: strconv.FormatUint(n, 10)}, nil
	}
	if err := json.Unmarshal([]byte(s), &c); err != nil || c.H == "" {
		return c, fmt.Errorf("%w: gmail: stream position %q is not one Telltale wrote", connector.ErrMalformed, s)
	}
	return c, nil
}

// Streams: Gmail has no tenant-wide feed this connector reads; each mailbox has its own.
func (s *session) Streams() []connector.StreamSpec { return nil }

// DriveStreams is the mailbox's history of sent messages.
func (s *session) DriveStreams(d connector.Drive) []connector.StreamSpec {
	if d.VendorID == "" {
		return nil
	}
	return []connector.StreamSpec{{Key: historyKey, Drive: d}}
}

// Index: a mailbox has no baseline (R1.5: an email connection monitors once its mailboxes are
// registered); its stream starts at the profile's history id.
func (s *session) Index(context.Context, connector.Drive, string) (connector.IndexPage, error) {
	return connector.IndexPage{Done: true}, nil
}

// StreamStart is the mailbox's current history id (users.getProfile as the user).
func (s *session) StreamStart(ctx context.Context, st connector.StreamSpec) (string, error) {
	if st.Key != historyKey || st.Drive.VendorID == "" {
		return "", fmt.Errorf("gmail: no stream %q", st.Key)
	}
	mb := st.Drive.VendorID
	h, err := s.profileHistory(ctx, mb)
	if err != nil {
		return "", err
	}
	return cursor{H: h, T: s.deps.Clock.Now().Unix()}.String(), nil
}

func (s *session) profileHistory(ctx context.Context, mb string) (string, error) {
	ctx, svc := s.as(ctx, mb)
	p, err := svc.gmail.Users.GetProfile("me").Fields("historyId").Context(ctx).Do()
	if err != nil {
		return "", s.mailboxErr(err, mb, "reading the Gmail profile")
	}
	if p.HistoryId == 0 {
		return "", fmt.Errorf("%w: gmail: users.getProfile of %s answered no historyId", connector.ErrMalformed, mb)
	}
	return strconv.FormatUint(p.HistoryId, 10), nil
}

// Changes reads the messages added with label SENT after the cursor's history id and adapts each
// (one file-emailed record per attachment). A 404 (the history id is out of date) is a typed
// Resync: sent mail since the last position is listed with messages.list, page by page, and the
// stream goes on from the history id taken before that listing.
func (s *session) Changes(ctx context.Context, st connector.StreamSpec, pos string) (connector.ChangesPage, error) {
	if st.Key != historyKey || st.Drive.VendorID == "" {
		return connector.ChangesPage{}, fmt.Errorf("gmail: no stream %q", st.Key)
	}
	mb := st.Drive.VendorID
	c, err := parseCursor(pos)
	if err != nil {
		return connector.ChangesPage{}, err
	}
	if c.Page != "" {
		return s.recover(ctx, mb, c, nil)
	}
	ctx, svc := s.as(ctx, mb)
	start, err := strconv.ParseUint(c.H, 10, 64)
	if err != nil {
		return connector.ChangesPage{}, fmt.Errorf("%w: gmail: history id %q", connector.ErrMalformed, c.H)
	}
	now := s.deps.Clock.Now()
	r, err := svc.gmail.Users.History.List("me").StartHistoryId(start).LabelId("SENT").HistoryTypes("messageAdded").
		MaxResults(historyPage).Fields("history(id,messagesAdded(message(id,labelIds))),historyId,nextPageToken").Context(ctx).Do()
	if googlekit.IsCode(googlekit.Plain(err), http.StatusNotFound) {
		// "If you receive an HTTP 404 error response, your application should perform a full
		// sync" (history.list): the history id is taken first, then sent mail since the last
		// position is listed; what the two share is dropped by record id.
		h, err := s.profileHistory(ctx, mb)
		if err != nil {
			return connector.ChangesPage{}, err
		}
		last := time.Unix(c.T, 0)
		if c.T == 0 {
			last = now.Add(-7 * 24 * time.Hour) // a position without its time: Gmail keeps history about a week
		}
		since := last.Add(-resyncOverlap)
		rs := &connector.Resync{Reason: connector.ResyncExpired, Since: since,
			Detail: fmt.Sprintf("Gmail answered 404 for startHistoryId %s of %s (out of date): the messages it sent since %s are listed again with messages.list", c.H, mb, since.UTC().Format(time.RFC3339))}
		return s.recover(ctx, mb, cursor{H: h, T: now.Unix(), Since: since.Unix()}, rs)
	}
	if err != nil {
		return connector.ChangesPage{}, s.mailboxErr(err, mb, "reading the history")
	}
	var ids []string
	lastID := uint64(0)
	for _, h := range r.History {
		lastID = h.Id
		for _, a := range h.MessagesAdded {
			m := a.Message
			if m == nil || m.Id == "" || slices.Contains(ids, m.Id) {
				continue
			}
			// history.list's labelId keeps the records of messages that had SENT; a draft never
			// has it (the adapter skips one anyway).
			if len(m.LabelIds) > 0 && (!slices.Contains(m.LabelIds, "SENT") || slices.Contains(m.LabelIds, "DRAFT")) {
				continue
			}
			ids = append(ids, m.Id)
		}
	}
	recs, err := s.messages(ctx, svc, mb, ids)
	if err != nil {
		return connector.ChangesPage{}, err
	}
	page := connector.ChangesPage{Records: recs}
	next := cursor{H: strconv.FormatUint(r.HistoryId, 10), T: now.Unix()}
	if r.NextPageToken != "" && lastID > start {
		next.H, page.More = strconv.FormatUint(lastID, 10), true
	}
	if r.HistoryId == 0 && !page.More {
		next.H = c.H // no historyId in the answer: stay (read again next time, deduped)
	}
	page.Next = next.String()
	return page, nil
}

// recover reads one page of the sent messages since c.Since (messages.list q "in:sent
// after:<seconds>", newest first), going on from c.Page; the last page hands the stream back to
// the history from c.H.
func (s *session) recover(ctx context.Context, mb string, c cursor, rs *connector.Resync) (connector.ChangesPage, error) {
	ctx, svc := s.as(ctx, mb)
	call := svc.gmail.Users.Messages.List("me").LabelIds("SENT").Q(fmt.Sprintf("in:sent after:%d", c.Since)).
		MaxResults(historyPage).Fields("messages(id),nextPageToken")
	if c.Page != "" && c.Page != "-" {
		call = call.PageToken(c.Page)
	}
	l, err := call.Context(ctx).Do()
	if err != nil {
		return connector.ChangesPage{}, s.mailboxErr(err, mb, "listing sent mail")
	}
	ids := make([]string, 0, len(l.Messages))
	for _, m := range l.Messages {
		ids = append(ids, m.Id)
	}
	recs, err := s.messages(ctx, svc, mb, ids)
	if err != nil {
		return connector.ChangesPage{}, err
	}
	page := connector.ChangesPage{Records: recs, Resync: rs}
	next := cursor{H: c.H, T: c.T}
	if l.NextPageToken != "" {
		next.Since, next.Page, page.More = c.Since, l.NextPageToken, true
	}
	page.Next = next.String()
	return page, nil
}

// messages reads each message (format full) and adapts it.
func (s *session) messages(ctx context.Context, svc *services, mb string, ids []string) ([]connector.Record, error) {
	var out []connector.Record
	for _, id := range ids {
		m, err := svc.gmail.Users.Messages.Get("me", id).Format("full").Context(ctx).Do()
		if googlekit.IsCode(googlekit.Plain(err), http.StatusNotFound) {
			out = append(out, connector.Record{VendorID: id, Skip: SkipGone, Drive: strings.ToLower(mb)})
			continue
		}
		if err != nil {
			return nil, s.mailboxErr(err, mb, "reading message "+id)
		}
		s.parts.put(mb, id, m)
		raw, err := json.Marshal(m)
		if err != nil {
			return nil, fmt.Errorf("gmail: message %s: %w", id, err)
		}
		msg, err := DecodeMessage(raw)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", connector.ErrMalformed, err)
		}
		out = append(out, Adapt(msg, mb)...)
	}
	return out, nil
}

// Content reads an attachment: ContentRef{Drive: mailbox, File: message id, Part: attachment id},
// or, as ingest's hash queue names it, File "<message id>/<part id>" (the event's file id) without
// Part: the message's part tree gives the attachment id (Gmail's attachment ids are opaque and
// need not be the same from one read to the next). The bytes are attachments.get's base64url data,
// decoded: Gmail has no download stream for attachments (at most 25 MB).
func (s *session) Content(ctx context.Context, ref connector.ContentRef) (io.ReadCloser, error) {
	mb := ref.Drive
	if mb == "" || ref.File == "" {
		return nil, fmt.Errorf("gmail: content needs a mailbox and a message, got %+v", ref)
	}
	ctx, svc := s.as(ctx, mb)
	msgID, partID, _ := strings.Cut(ref.File, "/")
	attID := ref.Part
	if attID == "" {
		if partID == "" {
			return nil, fmt.Errorf("gmail: content of message %s: no part named", msgID)
		}
		parts, err := s.parts.get(mb, msgID, func() (*gmailapi.Message, error) {
			m, err := svc.gmail.Users.Messages.Get("me", msgID).Format("full").Fields("payload").Context(ctx).Do()
			if err != nil {
				return nil, s.mailboxErr(err, mb, "reading message "+msgID)
			}
			return m, nil
		})
		if err != nil {
			return nil, err
		}
		p, ok := parts[partID]
		if !ok {
			return nil, fmt.Errorf("gmail: message %s of %s has no part %s", msgID, mb, partID)
		}
		if p.AttachmentId == "" {
			return decoded(p.Data, msgID)
		}
		attID = p.AttachmentId
	}
	body, err := svc.gmail.Users.Messages.Attachments.Get("me", msgID, attID).Fields("data").Context(ctx).Do()
	if err != nil {
		return nil, s.mailboxErr(err, mb, "reading an attachment of message "+msgID)
	}
	return decoded(body.Data, msgID)
}

func decoded(data, msgID string) (io.ReadCloser, error) {
	b, err := base64.URLEncoding.DecodeString(padded(data))
	if err != nil {
		return nil, fmt.Errorf("%w: gmail: attachment of message %s: data is not base64url: %v", connector.ErrMalformed, msgID, err)
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

// partCache keeps, for messages the stream read lately, each named part's body by part id, so
// that hashing an attachment costs attachments.get alone; one messages.get serves the concurrent
// downloads of a message's attachments that were not kept (a second identical request while the
// first is throttled would be a retry before Google's backoff).
type partCache struct {
	mu     sync.Mutex
	m      map[string]map[string]*gmailapi.MessagePartBody // mailbox "\x00" message id -> part id -> body
	flight map[string]*flight
}

type flight struct {
	done  chan struct{}
	parts map[string]*gmailapi.MessagePartBody
	err   error
}

// partCacheMax bounds the messages kept; past it the cache starts again.
const partCacheMax = 4096

func (c *partCache) put(mb, msgID string, m *gmailapi.Message) {
	parts := map[string]*gmailapi.MessagePartBody{}
	var walk func(p *gmailapi.MessagePart)
	walk = func(p *gmailapi.MessagePart) {
		if p == nil {
			return
		}
		if p.Filename != "" && p.Body != nil {
			b := &gmailapi.MessagePartBody{AttachmentId: p.Body.AttachmentId}
			if b.AttachmentId == "" {
				b.Data = p.Body.Data // inline content: small
			}
			parts[cmpOr(p.PartId, p.Filename)] = b
		}
		for _, c := range p.Parts {
			walk(c)
		}
	}
	walk(m.Payload)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= partCacheMax {
		c.m = map[string]map[string]*gmailapi.MessagePartBody{}
	}
	c.m[mb+"\x00"+msgID] = parts
}

// get returns the message's parts, kept or read once with fetch.
func (c *partCache) get(mb, msgID string, fetch func() (*gmailapi.Message, error)) (map[string]*gmailapi.MessagePartBody, error) {
	k := mb + "\x00" + msgID
	c.mu.Lock()
	if p, ok := c.m[k]; ok {
		c.mu.Unlock()
		return p, nil
	}
	if c.flight == nil {
		c.flight = map[string]*flight{}
	}
	if f := c.flight[k]; f != nil {
		c.mu.Unlock()
		<-f.done
		return f.parts, f.err
	}
	f := &flight{done: make(chan struct{})}
	c.flight[k] = f
	c.mu.Unlock()
	m, err := fetch()
	if err == nil {
		c.put(mb, msgID, m)
		c.mu.Lock()
		f.parts = c.m[k]
		c.mu.Unlock()
	}
	f.err = err
	c.mu.Lock()
	delete(c.flight, k)
	c.mu.Unlock()
	close(f.done)
	return f.parts, f.err
}
