package m365mail

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/connector/kit/graphkit"
	"github.com/telltale-dev/telltale/internal/connector/kit/paging"
)

// sentKey is the key of each mailbox's stream: the sent items' message delta.
const sentKey = "sent"

// msgSelect are the message properties delta reads (NOTES 3c). Query parameters count on a
// round's first call only: they are in its nextLinks and deltaLink.
const msgSelect = "id,internetMessageId,subject,from,sender,toRecipients,ccRecipients,bccRecipients,sentDateTime,hasAttachments,isDraft"

// attSelect lists attachments without their bytes (contentBytes): ingest downloads each $value
// once, for hashing.
const attSelect = "id,name,size,contentType,isInline"

// pageSize is a delta page's size (Prefer: odata.maxpagesize): each message with attachments
// costs one more call, so a page stays well inside the page budget.
const pageSize = 50

// Prefer headers: ImmutableId from the first call on (ids survive a move out of sent items, and
// switching id types later would invalidate every delta link, NOTES 3c).
var (
	preferPage  = http.Header{"Prefer": {fmt.Sprintf(`odata.maxpagesize=%d, IdType="ImmutableId"`, pageSize)}}
	preferStart = http.Header{"Prefer": {`odata.maxpagesize=1, IdType="ImmutableId"`}}
)

// resyncOverlap: after a 410 on a delta link, sent mail is listed again from this long before the
// last time Telltale read the mailbox, so a clock difference between Telltale and Exchange loses
// nothing; what is read twice is dropped by record id (Spec.DedupeHorizon).
const resyncOverlap = time.Hour

// cursor is a mailbox stream's position: the link to read next (L: a round's nextLink or
// deltaLink, or the first call of a round) and when the round's previous deltaLink was taken (T,
// seconds since 1970: a resync lists sent mail from an hour before). S, while a round started by StreamStart or a
// resync runs, is the time before which its messages are not new (a new round lists the folder
// from its $filter's time; Graph honours the filter, the records before S are dropped anyway).
type cursor struct {
	L string `json:"l"`
	T int64  `json:"t"`
	S int64  `json:"s,omitempty"`
}

func (c cursor) String() string {
	b, _ := json.Marshal(c)
	return string(b)
}

func parseCursor(s string) (cursor, error) {
	var c cursor
	if err := json.Unmarshal([]byte(s), &c); err != nil || c.L == "" {
		return c, fmt.Errorf("%w: microsoft365_mail: stream position %.80q is not one Telltale wrote", connector.ErrMalformed, s)
	}
	return c, nil
}

// startPath is the first call of a delta round over the mailbox's sent items: created messages
// received (for sent items: sent) since since. Graph takes receivedDateTime as delta's only
// filter (NOTES 3c).
func startPath(userID string, since time.Time) string {
	f := "receivedDateTime ge " + since.UTC().Format(time.RFC3339)
	return "/users/" + url.PathEscape(userID) + "/mailFolders/sentitems/messages/delta?changeType=created&$select=" + msgSelect +
		"&$filter=" + strings.ReplaceAll(url.QueryEscape(f), "+", "%20")
}

// rel is a link Graph gave, relative to the configured Graph URL, as cursors keep it: a cursor
// then follows the connection to another Graph URL (the demo's emulator on another port), where
// a state Graph does not know answers 410 and the stream resyncs instead of failing. A link
// outside the Graph URL is refused (graphkit.Rel).
func (s *session) rel(link string) (string, error) {
	r, err := graphkit.Rel(s.graph, link)
	if err != nil {
		return "", fmt.Errorf("microsoft365_mail: %w", err)
	}
	return r, nil
}

type deltaPage struct {
	Value     []Message `json:"value"`
	NextLink  string    `json:"@odata.nextLink"`
	DeltaLink string    `json:"@odata.deltaLink"`
}

// DriveStreams is the mailbox's sent items. Its start is taken when the mailbox is registered
// (an email connection has no baseline, R1.5).
func (s *session) DriveStreams(d connector.Drive) []connector.StreamSpec {
	if d.VendorID == "" {
		return nil
	}
	return []connector.StreamSpec{{Key: sentKey, Drive: d}}
}

// Index: a mailbox has no baseline; its stream starts at StreamStart.
func (s *session) Index(context.Context, connector.Drive, string) (connector.IndexPage, error) {
	return connector.IndexPage{Done: true}, nil
}

// StreamStart is a deltaLink of the sent items as they are now: a delta round filtered from now
// is read to its end (with Graph's filter it is one empty page; old mail is never read, R4 wants
// what users send from now on), and its deltaLink is the start. Not FromCrawl: there is no crawl
// to hand a link over, and a link taken from the vendor is exact where a time would depend on
// the clocks of Telltale and Exchange agreeing.
func (s *session) StreamStart(ctx context.Context, st connector.StreamSpec) (string, error) {
	if st.Key != sentKey || st.Drive.VendorID == "" {
		return "", fmt.Errorf("microsoft365_mail: no stream %q", st.Key)
	}
	d := st.Drive
	now := s.deps.Clock.Now()
	guard := paging.New("graph sent items delta of "+d.Owner, 0)
	link := startPath(d.VendorID, now)
	for {
		var page deltaPage
		// $select=id would make the whole stream's rounds ids only: the round keeps msgSelect.
		if err := s.api.get(ctx, link, d.VendorID, preferPage, &page); err != nil {
			return "", s.mailboxErr(err, d, "reading the sent items")
		}
		switch {
		case page.DeltaLink != "":
			l, err := s.rel(page.DeltaLink)
			if err != nil {
				return "", err
			}
			return cursor{L: l, T: now.Unix()}.String(), nil
		case page.NextLink == "":
			return "", fmt.Errorf("%w: microsoft365_mail: a delta page of %s without nextLink nor deltaLink", connector.ErrMalformed, d.Owner)
		}
		if err := guard.Next(page.NextLink); err != nil {
			return "", err
		}
		link = page.NextLink
	}
}

// Changes reads one delta page of the mailbox's sent items and adapts each new message (one
// record per attachment, attachments listed without their bytes). A 410 (SyncStateNotFound or
// SyncStateInvalid: the delta state expired; any 410 on delta is treated so, NOTES Corrections
// 1-2), or a stored link from another Graph URL than the connection's now (graphkit.Foreign),
// is a typed Resync: a new round filtered from the last read time less resyncOverlap lists
// what was sent meanwhile (duplicates dropped by record id), and goes on as the stream.
func (s *session) Changes(ctx context.Context, st connector.StreamSpec, pos string) (connector.ChangesPage, error) {
	if st.Key != sentKey || st.Drive.VendorID == "" {
		return connector.ChangesPage{}, fmt.Errorf("microsoft365_mail: no stream %q", st.Key)
	}
	d := st.Drive
	c, err := parseCursor(pos)
	if err != nil {
		return connector.ChangesPage{}, err
	}
	now := s.deps.Clock.Now()
	var rs *connector.Resync
	var page deltaPage
	var gone string // why the stored link cannot go on
	if graphkit.Foreign(s.graph, c.L) {
		gone = fmt.Sprintf("The sent items delta link of %s was taken from another Graph URL than the connection's %s", d.Owner, s.graph)
	} else {
		err = s.api.get(ctx, c.L, d.VendorID, preferPage, &page)
		if ge, ok := asGraphError(err); ok && ge.Status == http.StatusGone {
			gone = fmt.Sprintf("Microsoft Graph refused the sent items delta link of %s (410 %s: %s)", d.Owner, ge.Code, ge.Message)
		}
	}
	if gone != "" {
		last := time.Unix(c.T, 0)
		if c.T == 0 {
			last = now.Add(-7 * 24 * time.Hour)
		}
		since := last.Add(-resyncOverlap)
		rs = &connector.Resync{Reason: connector.ResyncExpired, Since: since,
			Detail: fmt.Sprintf("%s: the messages sent since %s are listed again with a new delta round", gone, since.UTC().Format(time.RFC3339))}
		// T stays such that another 410 within the round lists from since again.
		c = cursor{L: startPath(d.VendorID, since), S: since.Unix(), T: last.Unix()}
		page = deltaPage{}
		err = s.api.get(ctx, c.L, d.VendorID, preferPage, &page)
	}
	if err != nil {
		return connector.ChangesPage{}, s.mailboxErr(err, d, "reading the sent items")
	}
	mb := Mailbox{UserID: d.VendorID, UPN: strings.ToLower(d.Owner)}
	out := connector.ChangesPage{Resync: rs}
	for _, m := range page.Value {
		if m.Removed != nil || m.ID == "" {
			continue // deleted: nothing left the mailbox by deleting it
		}
		if c.S != 0 && !m.SentDateTime.IsZero() && m.SentDateTime.Unix() < c.S {
			continue // sent before the round's start: not new
		}
		recs, err := s.message(ctx, mb, m)
		if err != nil {
			return connector.ChangesPage{}, s.mailboxErr(err, d, "reading message "+m.ID+" of")
		}
		out.Records = append(out.Records, recs...)
	}
	// T is when the round's deltaLink was taken: a round lists what was sent after its
	// previous deltaLink, so a 410 within a round lists again from that time, not from the
	// round's last page.
	var next cursor
	switch {
	case page.NextLink != "":
		next, out.More = cursor{L: page.NextLink, T: c.T, S: c.S}, true
	case page.DeltaLink != "":
		next = cursor{L: page.DeltaLink, T: now.Unix()}
	default:
		return connector.ChangesPage{}, fmt.Errorf("%w: microsoft365_mail: a delta page of %s without nextLink nor deltaLink", connector.ErrMalformed, d.Owner)
	}
	if next.L, err = s.rel(next.L); err != nil {
		return connector.ChangesPage{}, err
	}
	out.Next = next.String()
	return out, nil
}

// message lists a sent message's attachments (and, for links, reads its body) and adapts it.
func (s *session) message(ctx context.Context, mb Mailbox, m Message) ([]connector.Record, error) {
	if !m.HasAttachments || m.IsDraft {
		return Adapt(m, mb), nil
	}
	base := "/users/" + url.PathEscape(mb.UserID) + "/messages/" + url.PathEscape(m.ID)
	var atts struct {
		Value []Attachment `json:"value"`
	}
	err := s.api.get(ctx, base+"/attachments?$select="+attSelect, mb.UserID, preferPage, &atts)
	if isStatus(err, http.StatusNotFound) {
		return []connector.Record{{VendorID: m.ID, Skip: SkipGone, Drive: mb.UserID}}, nil
	}
	if err != nil {
		return nil, err
	}
	m.Attachments = atts.Value
	if hasReference(m.Attachments) {
		var b Message
		err := s.api.get(ctx, base+"?$select=body", mb.UserID, preferPage, &b)
		if err != nil && !isStatus(err, http.StatusNotFound) {
			return nil, err
		}
		m.Body = b.Body
	}
	return Adapt(m, mb), nil
}

// mailboxErr classifies a failure on one mailbox: one Telltale cannot read (no mailbox any more,
// refused by an application access policy or a missing permission) is ErrInaccessible, which
// marks only it.
func (s *session) mailboxErr(err error, d connector.Drive, what string) error {
	ge, ok := asGraphError(err)
	switch {
	case ok && ge.Status == http.StatusNotFound && (ge.Code == "MailboxNotEnabledForRESTAPI" || ge.Code == "ErrorInvalidUser" || ge.Code == "ResourceNotFound"):
		return fmt.Errorf("%w: microsoft365_mail: %s %s: Microsoft Graph has no mailbox for the user (404 %s: %s): the license has no Exchange Online plan, or the mailbox is on-premises, inactive or deleted",
			connector.ErrInaccessible, what, d.Owner, ge.Code, ge.Message)
	case ok && ge.Status == http.StatusForbidden:
		return fmt.Errorf("%w: microsoft365_mail: %s %s: Microsoft Graph refused (403 %s: %s): check that the app has the application permission %s with admin consent, and that an Exchange application access policy, if any, includes this mailbox",
			connector.ErrInaccessible, what, d.Owner, ge.Code, ge.Message, PermMailRead)
	}
	return fmt.Errorf("microsoft365_mail: %s %s: %w", what, d.Owner, refusedToken(err))
}

// Content reads an attachment's raw bytes ($value: a file's content, an attached message's MIME):
// ContentRef{Drive: the mailbox's user id, File: message id, Part: attachment id}, or, as ingest's
// hash queue names it, File "<message id>/<attachment id>" (the event's file id) without Part.
func (s *session) Content(ctx context.Context, ref connector.ContentRef) (io.ReadCloser, error) {
	msgID, attID := ref.File, ref.Part
	if attID == "" {
		msgID, attID, _ = strings.Cut(ref.File, "/")
	}
	if ref.Drive == "" || msgID == "" || attID == "" {
		return nil, fmt.Errorf("microsoft365_mail: content needs a mailbox, a message and an attachment, got %+v", ref)
	}
	p := "/users/" + url.PathEscape(ref.Drive) + "/messages/" + url.PathEscape(msgID) + "/attachments/" + url.PathEscape(attID) + "/$value"
	rc, err := s.api.stream(ctx, p, ref.Drive)
	if err != nil {
		return nil, s.mailboxErr(err, connector.Drive{VendorID: ref.Drive, Owner: ref.Drive}, "reading an attachment of message "+msgID+" in the mailbox of")
	}
	return rc, nil
}
