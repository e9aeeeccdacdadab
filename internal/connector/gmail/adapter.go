package gmail

import (
	"net/mail"
	"slices"
	"strings"

	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/event"
)

// Skip reasons (connector.Record.Skip), used as metric labels: stable.
const (
	SkipDraft        = "draft"         // a draft (Gmail gives it a new id on each autosave)
	SkipNotSent      = "not_sent"      // a message the mailbox received, not sent
	SkipNoAttachment = "no_attachment" // a sent message without attachments: nothing left the company as a file
)

// Adapt maps a sent message to one file-emailed record per attachment (dedupe id
// "<message id>/<part id>"), or to one skipped record (id: the message id). mailbox is the address
// of the mailbox the message was read from (the sender's): it is the event's actor, and the drive
// the record belongs to.
func Adapt(m Message, mailbox string) []connector.Record {
	mailbox = strings.ToLower(mailbox)
	skip := func(reason string) []connector.Record {
		return []connector.Record{{VendorID: m.ID, Skip: reason, Drive: mailbox}}
	}
	switch {
	case slices.Contains(m.Labels, "DRAFT"):
		return skip(SkipDraft)
	case !slices.Contains(m.Labels, "SENT"):
		return skip(SkipNotSent)
	case len(m.Attachments) == 0:
		return skip(SkipNoAttachment)
	}
	from := m.Header("From")
	sender := mailbox
	if sender == "" {
		sender = firstAddress(from)
	}
	var rcpts []string
	for _, h := range []string{"To", "Cc", "Bcc"} {
		for _, a := range addresses(m.Header(h)) {
			if !slices.Contains(rcpts, a) {
				rcpts = append(rcpts, a)
			}
		}
	}
	out := make([]connector.Record, 0, len(m.Attachments))
	for _, a := range m.Attachments {
		part := a.PartID
		if part == "" {
			part = a.Filename
		}
		e := event.FileEvent{
			Timestamp: m.Internal,
			Event:     event.Meta{Action: event.ActionEmailed, Observer: event.ObserverGmail},
			User:      event.User{Email: sender},
			File: event.File{ID: m.ID + "/" + part, Name: a.Filename, Size: a.Size, MimeType: a.MimeType, Owner: sender,
				Hash: event.Hash{MD5: a.MD5, SHA256: a.SHA256}},
			Email: event.Email{Sender: sender, From: from, Recipients: rcpts, Subject: m.Header("Subject"), MessageID: m.Header("Message-ID")},
		}
		out = append(out, connector.Record{VendorID: m.ID + "/" + part, Events: []event.FileEvent{e}, Drive: mailbox})
	}
	return out
}

// addresses parses an address-list header leniently: RFC 5322 when it parses, otherwise every
// comma-separated token that holds an '@' (the angle-bracketed part when there is one). Lowercase.
func addresses(h string) []string {
	h = strings.TrimSpace(h)
	if h == "" {
		return nil
	}
	var out []string
	if list, err := mail.ParseAddressList(h); err == nil {
		for _, a := range list {
			out = append(out, strings.ToLower(a.Address))
		}
		return out
	}
	for _, tok := range strings.Split(h, ",") {
		if a := firstAddress(tok); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// firstAddress is the address in one "Name <a@b>" or "a@b" token, "" when there is none.
func firstAddress(tok string) string {
	tok = strings.TrimSpace(tok)
	if i := strings.LastIndexByte(tok, '<'); i >= 0 {
		if j := strings.IndexByte(tok[i:], '>'); j > 0 {
			tok = tok[i+1 : i+j]
		}
	}
	if !strings.Contains(tok, "@") || strings.ContainsAny(tok, " \t\"") {
		return ""
	}
	return strings.ToLower(tok)
}
