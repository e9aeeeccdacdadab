package m365mail

import (
	"html"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/event"
)

// Skip reasons (connector.Record.Skip), used as metric labels: stable.
const (
	SkipDraft        = "draft"         // a draft in sent items (never sent)
	SkipNoAttachment = "no_attachment" // a sent message without attachments: nothing left the company as a file
	SkipGone         = "gone"          // deleted before Telltale read its attachments (Graph answers 404)
)

// Attachment kinds, as Graph's @odata.type names them.
const (
	kindFile      = "#microsoft.graph.fileAttachment"
	kindItem      = "#microsoft.graph.itemAttachment"
	kindReference = "#microsoft.graph.referenceAttachment"
)

// Message is a Graph message (message resource) as the adapter needs it.
type Message struct {
	ID                string      `json:"id"`
	InternetMessageID string      `json:"internetMessageId"`
	Subject           string      `json:"subject"`
	From              *recipient  `json:"from"`
	Sender            *recipient  `json:"sender"`
	To                []recipient `json:"toRecipients"`
	Cc                []recipient `json:"ccRecipients"`
	Bcc               []recipient `json:"bccRecipients"`
	SentDateTime      time.Time   `json:"sentDateTime"`
	HasAttachments    bool        `json:"hasAttachments"`
	IsDraft           bool        `json:"isDraft"`
	Body              *struct {
		ContentType string `json:"contentType"`
		Content     string `json:"content"`
	} `json:"body"`
	Removed *struct {
		Reason string `json:"reason"`
	} `json:"@removed"`
	// Attachments are the message's attachments, listed separately (attachments?$select=...).
	Attachments []Attachment `json:"attachments"`
}

type recipient struct {
	EmailAddress struct {
		Name    string `json:"name"`
		Address string `json:"address"`
	} `json:"emailAddress"`
}

func (r *recipient) address() string {
	if r == nil {
		return ""
	}
	return strings.ToLower(strings.TrimSpace(r.EmailAddress.Address))
}

// Attachment is a Graph attachment: fileAttachment, itemAttachment (an attached message) or
// referenceAttachment (a link to a cloud file; v1.0 gives no URL, the link is in the body).
type Attachment struct {
	Type        string `json:"@odata.type"`
	ID          string `json:"id"`
	Name        string `json:"name"`
	ContentType string `json:"contentType"`
	Size        int64  `json:"size"`
	IsInline    bool   `json:"isInline"`
}

// Mailbox is the mailbox a message was read from: the sender.
type Mailbox struct {
	UserID string // the Entra user id: the drive's vendor id
	UPN    string // the owner's userPrincipalName, lower case
}

// Adapt maps a sent message to one record per attachment (dedupe id "<message id>/<attachment
// id>"), or to one skipped record (id: the message id):
//   - a fileAttachment is a file-emailed event, hashed by ingest from its $value (Content);
//   - an itemAttachment (an attached message) is a file-emailed event of the message, MIME type
//     message/rfc822 ($value is its MIME, hashed the same way);
//   - a referenceAttachment is a file-shared event: attaching a cloud file in Outlook shares it
//     with the recipients (issue 15: "a link-share event for the linked cloud file"), the link
//     taken from the body (v1.0's referenceAttachment has no sourceUrl); no bytes, no hash.
//
// Every event has the sender, the recipients (to, cc and bcc, lower case), the subject, the
// Internet message id and the sent time as its time (R4.3). Whether a recipient is inside the
// organization is decided by ingest from the trusted domains (exposure outside_trusted_domains,
// risk), as for every connector.
func Adapt(m Message, mb Mailbox) []connector.Record {
	skip := func(reason string) []connector.Record {
		return []connector.Record{{VendorID: m.ID, Skip: reason, Drive: mb.UserID}}
	}
	switch {
	case m.IsDraft:
		return skip(SkipDraft)
	case len(m.Attachments) == 0:
		return skip(SkipNoAttachment)
	}
	sender := cmpOr(mb.UPN, m.From.address(), m.Sender.address())
	var rcpts []string
	for _, list := range [][]recipient{m.To, m.Cc, m.Bcc} {
		for i := range list {
			if a := list[i].address(); a != "" && !slices.Contains(rcpts, a) {
				rcpts = append(rcpts, a)
			}
		}
	}
	from := cmpOr(m.From.address(), m.Sender.address(), sender)
	var links []string
	if m.Body != nil {
		links = bodyLinks(m.Body.Content)
	}
	out := make([]connector.Record, 0, len(m.Attachments))
	for _, a := range m.Attachments {
		id := m.ID + "/" + a.ID
		e := event.FileEvent{
			Timestamp: m.SentDateTime.UTC(),
			Event:     event.Meta{Action: event.ActionEmailed, Observer: event.ObserverMicrosoft365Mail},
			User:      event.User{Email: sender, VendorID: mb.UserID},
			File:      event.File{ID: id, Name: a.Name, Size: a.Size, MimeType: a.ContentType, Owner: sender},
			Email:     event.Email{Sender: sender, From: from, Recipients: rcpts, Subject: m.Subject, MessageID: m.InternetMessageID},
		}
		switch a.Type {
		case kindItem:
			e.File.MimeType = "message/rfc822"
			if !strings.Contains(strings.ToLower(e.File.Name), ".") {
				e.File.Name += ".eml"
			}
		case kindReference:
			e.Event.Action = event.ActionShared
			e.File.MimeType, e.File.Size = "", 0 // a link: its size is the attachment's, not the file's
			e.File.URL = linkFor(a.Name, links)
			e.Sharing = event.Sharing{SharedWith: rcpts}
		}
		out = append(out, connector.Record{VendorID: id, Events: []event.FileEvent{e}, Drive: mb.UserID})
	}
	return out
}

// hasReference reports whether any attachment is a link (its URL is in the body).
func hasReference(atts []Attachment) bool {
	return slices.ContainsFunc(atts, func(a Attachment) bool { return a.Type == kindReference })
}

var linkRE = regexp.MustCompile(`https?://[^\s"'<>]+`)

// bodyLinks are the http(s) links of a message body (HTML or text), in order, with the text
// before each (lower case): what names the file a link is for.
func bodyLinks(body string) []string {
	if len(body) > 1<<20 {
		body = body[:1<<20]
	}
	text := html.UnescapeString(body)
	var out []string
	prev := 0
	for _, loc := range linkRE.FindAllStringIndex(text, 200) {
		out = append(out, strings.ToLower(text[prev:loc[0]]), strings.TrimRight(text[loc[0]:loc[1]], ".,;)"))
		prev = loc[1]
	}
	return out
}

// linkFor is the link of the referenced file name: the first link the text just before names it
// (Outlook writes the file's name as the link's text or next to it), else the only link, else "".
func linkFor(name string, links []string) string {
	n := strings.ToLower(strings.TrimSpace(name))
	for i := 0; i+1 < len(links); i += 2 {
		if n != "" && strings.Contains(links[i], n) {
			return links[i+1]
		}
	}
	if len(links) == 2 {
		return links[1]
	}
	return ""
}

func cmpOr(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
