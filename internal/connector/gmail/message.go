// Package gmail is the Gmail data connector (service gmail): every in-scope user's mailbox is a
// drive (Kind "mailbox") followed by history.list with labelId SENT (stream.go), attachments read
// for hashing by reference (Content), Pub/Sub push verified with Google's keys (push.go). This file
// reads Gmail API messages (users.messages.get format=full, schema Message of gmail/v1); Adapt maps
// every attachment of a sent message to a file-emailed event.
package gmail

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/internal/connector/kit/records"
)

// Message is a Gmail message as the adapter needs it.
type Message struct {
	ID, ThreadID, HistoryID string
	Labels                  []string
	Internal                time.Time // internalDate: when Gmail accepted the message (authoritative)
	Headers                 []Header  // the top-level part's headers, in order
	Attachments             []Attachment
}

// Header is one message header.
type Header struct{ Name, Value string }

// Header returns the first header of that name (case-insensitive), "" when absent.
func (m Message) Header(name string) string {
	for _, h := range m.Headers {
		if strings.EqualFold(h.Name, name) {
			return h.Value
		}
	}
	return ""
}

// Attachment is a part with a file name: a file attached, an attached message, an inline image.
type Attachment struct {
	PartID       string
	Filename     string
	MimeType     string
	AttachmentID string // body.attachmentId: the content is fetched with messages.attachments.get
	Size         int64  // body.size
	// MD5, SHA256 of content the message carries inline (body.data, no attachmentId), lowercase hex.
	MD5, SHA256 string
}

// DecodeMessage decodes one users.messages.get format=full answer. Unknown fields are ignored, null
// is the same as absent, int64 fields are accepted as JSON strings (as the discovery document says)
// or numbers; only a wrong type on a field the adapter relies on (id, internalDate, payload and its
// parts) makes a message undecodable, and the error names it.
func DecodeMessage(raw []byte) (Message, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil || top == nil {
		return Message{}, fmt.Errorf("gmail message: want a JSON object, got %s", records.Kind(raw))
	}
	return decodeFields(top)
}

func decodeFields(top map[string]json.RawMessage) (Message, error) {
	var m Message
	var err error
	if m.ID, err = records.String(top["id"]); err != nil {
		return m, fmt.Errorf("gmail message: id: %w", err)
	}
	if m.ID == "" {
		return m, fmt.Errorf("gmail message: id is missing: export messages with users.messages.get format=full")
	}
	m.ThreadID, m.HistoryID = records.Scalar(top["threadId"]), records.Scalar(top["historyId"])
	if raw := top["labelIds"]; !records.IsNull(raw) {
		if err := json.Unmarshal(raw, &m.Labels); err != nil {
			return m, fmt.Errorf("gmail message %s: labelIds: want an array of strings, got %s", m.ID, records.Kind(raw))
		}
	}
	ms := records.Scalar(top["internalDate"])
	if ms == "" {
		return m, fmt.Errorf("gmail message %s: internalDate is missing", m.ID)
	}
	n, err := strconv.ParseInt(ms, 10, 64)
	if err != nil {
		return m, fmt.Errorf("gmail message %s: internalDate %q is not milliseconds since 1970", m.ID, ms)
	}
	m.Internal = time.UnixMilli(n).UTC()
	if records.IsNull(top["payload"]) {
		if !records.IsNull(top["raw"]) {
			return m, fmt.Errorf("gmail message %s: format raw has no MIME part tree: export with format=full", m.ID)
		}
		return m, fmt.Errorf("gmail message %s: payload is missing: export with format=full (format metadata has no attachments)", m.ID)
	}
	var walk func(raw json.RawMessage, path string, top bool) error
	walk = func(raw json.RawMessage, path string, top bool) error {
		var part map[string]json.RawMessage
		if err := json.Unmarshal(raw, &part); err != nil || part == nil {
			return fmt.Errorf("%s: want an object, got %s", path, records.Kind(raw))
		}
		if top {
			var hs []map[string]json.RawMessage
			if h := part["headers"]; !records.IsNull(h) {
				if err := json.Unmarshal(h, &hs); err != nil {
					return fmt.Errorf("%s.headers: want an array of objects, got %s", path, records.Kind(h))
				}
			}
			for _, h := range hs {
				m.Headers = append(m.Headers, Header{Name: records.Scalar(h["name"]), Value: records.Scalar(h["value"])})
			}
		}
		name := records.Scalar(part["filename"])
		var body map[string]json.RawMessage
		if b := part["body"]; !records.IsNull(b) {
			if err := json.Unmarshal(b, &body); err != nil {
				return fmt.Errorf("%s.body: want an object, got %s", path, records.Kind(b))
			}
		}
		if name != "" {
			a := Attachment{PartID: records.Scalar(part["partId"]), Filename: name, MimeType: records.Scalar(part["mimeType"]),
				AttachmentID: records.Scalar(body["attachmentId"])}
			a.Size, _ = strconv.ParseInt(records.Scalar(body["size"]), 10, 64)
			if a.AttachmentID == "" {
				data, err := base64.URLEncoding.DecodeString(padded(records.Scalar(body["data"])))
				if err != nil {
					return fmt.Errorf("%s.body.data: not base64url: %v", path, err)
				}
				md, sh := md5.Sum(data), sha256.Sum256(data)
				a.MD5, a.SHA256 = hex.EncodeToString(md[:]), hex.EncodeToString(sh[:])
				if a.Size == 0 {
					a.Size = int64(len(data))
				}
			}
			m.Attachments = append(m.Attachments, a)
		}
		var parts []json.RawMessage
		if ps := part["parts"]; !records.IsNull(ps) {
			if err := json.Unmarshal(ps, &parts); err != nil {
				return fmt.Errorf("%s.parts: want an array, got %s", path, records.Kind(ps))
			}
		}
		for i, p := range parts {
			if err := walk(p, fmt.Sprintf("%s.parts[%d]", path, i), false); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(top["payload"], "payload", true); err != nil {
		return m, fmt.Errorf("gmail message %s: %w", m.ID, err)
	}
	// format=metadata keeps a payload (the top-level headers and MIME type) but no part tree: a
	// multipart payload without parts is one, not a message without attachments.
	var payload map[string]json.RawMessage
	json.Unmarshal(top["payload"], &payload)
	if mt := records.Scalar(payload["mimeType"]); strings.HasPrefix(strings.ToLower(mt), "multipart/") && records.IsNull(payload["parts"]) {
		return m, fmt.Errorf("gmail message %s: payload is %s without parts (format metadata has no part tree): export with format=full", m.ID, mt)
	}
	return m, nil
}

// padded adds the padding base64url data may come without.
func padded(s string) string {
	s = strings.TrimRight(s, "=")
	if r := len(s) % 4; r != 0 {
		s += strings.Repeat("=", 4-r)
	}
	return s
}
