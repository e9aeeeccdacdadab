package gmail

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/event"
)

// message is a users.messages.get format=full answer shaped as schema Message documents it:
// multipart/mixed holding multipart/alternative (text and HTML), a PDF by attachmentId, a small
// inline file whose bytes are in body.data, and an attached message with its own attachment.
func message(labels []string, internal any, headers map[string]string) []byte {
	var hs []map[string]string
	for _, k := range []string{"From", "To", "Cc", "Bcc", "Subject", "Message-ID", "Date"} {
		if v, ok := headers[k]; ok {
			hs = append(hs, map[string]string{"name": k, "value": v})
		}
	}
	part := func(id, mime, name string, body map[string]any, parts ...any) map[string]any {
		m := map[string]any{"partId": id, "mimeType": mime, "filename": name, "headers": []any{}, "body": body}
		if len(parts) > 0 {
			m["parts"] = parts
		}
		return m
	}
	inline := base64.RawURLEncoding.EncodeToString([]byte("tiny csv,1,2\n"))
	payload := part("", "multipart/mixed", "", map[string]any{"size": 0},
		part("0", "multipart/alternative", "", map[string]any{"size": 0},
			part("0.0", "text/plain", "", map[string]any{"size": 5, "data": "aGVsbG8"}),
			part("0.1", "text/html", "", map[string]any{"size": 12, "data": "PGI-aGVsbG88L2I-"})),
		part("1", "application/pdf", "Q4 plan.pdf", map[string]any{"attachmentId": "ANGjdJ8-att-1", "size": 48213}),
		part("2", "text/csv", "numbers.csv", map[string]any{"size": 13, "data": inline}),
		part("3", "message/rfc822", "fwd.eml", map[string]any{"attachmentId": "ANGjdJ8-att-3", "size": 9000},
			part("3.1", "application/zip", "source.zip", map[string]any{"attachmentId": "ANGjdJ8-att-31", "size": 7000})))
	payload["headers"] = hs
	b, _ := json.Marshal(map[string]any{"id": "18c2f0a1b2c3d4e5", "threadId": "18c2f0a1b2c3d4e5", "labelIds": labels,
		"snippet": "see attached", "historyId": "912345", "internalDate": internal, "sizeEstimate": 65000, "payload": payload})
	return b
}

var sentHeaders = map[string]string{"From": "Alice Example <Alice@corp.example>", "To": `"Doe, John" <John@Partner.example>, bob@corp.example`,
	"Cc": "eve@gmail.com", "Bcc": "john@partner.example, mallory@proton.me", "Subject": "Q4", "Message-ID": "<CAF=abc@mail.gmail.com>"}

func adapt(t *testing.T, raw []byte, mailbox string) []connector.Record {
	t.Helper()
	m, err := DecodeMessage(raw)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	recs := Adapt(m, mailbox)
	for _, r := range recs {
		for i := range r.Events {
			if err := r.Events[i].Validate(); err != nil {
				t.Errorf("record %s: invalid event: %v", r.VendorID, err)
			}
		}
	}
	return recs
}

// TestSentMessage: every attachment of a sent message, at any depth, is one file-emailed event with
// the sender, every recipient (to, cc and bcc, once each, lowercase), subject and Message-ID; inline
// content is hashed from the message itself, content by attachmentId is left for the download.
func TestSentMessage(t *testing.T) {
	recs := adapt(t, message([]string{"SENT", "IMPORTANT"}, "1764511387000", sentHeaders), "alice@corp.example")
	var ids, names []string
	for _, r := range recs {
		ids = append(ids, r.VendorID)
		if r.Skip != "" || len(r.Events) != 1 || r.Drive != "alice@corp.example" {
			t.Fatalf("record %+v", r)
		}
		names = append(names, r.Events[0].File.Name)
	}
	if d := cmp.Diff([]string{"18c2f0a1b2c3d4e5/1", "18c2f0a1b2c3d4e5/2", "18c2f0a1b2c3d4e5/3", "18c2f0a1b2c3d4e5/3.1"}, ids); d != "" {
		t.Errorf("record ids (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"Q4 plan.pdf", "numbers.csv", "fwd.eml", "source.zip"}, names); d != "" {
		t.Errorf("names (-want +got):\n%s", d)
	}
	e := recs[0].Events[0]
	if e.Event.Action != event.ActionEmailed || e.Event.Observer != event.ObserverGmail || e.User.Email != "alice@corp.example" {
		t.Errorf("event %+v", e.Event)
	}
	if !e.Timestamp.Equal(time.UnixMilli(1764511387000)) || e.File.Size != 48213 || e.File.MimeType != "application/pdf" {
		t.Errorf("file %+v at %v", e.File, e.Timestamp)
	}
	want := event.Email{Sender: "alice@corp.example", From: "Alice Example <Alice@corp.example>", Subject: "Q4", MessageID: "<CAF=abc@mail.gmail.com>",
		Recipients: []string{"john@partner.example", "bob@corp.example", "eve@gmail.com", "mallory@proton.me"}}
	if d := cmp.Diff(want, e.Email); d != "" {
		t.Errorf("email (-want +got):\n%s", d)
	}
	if e.File.Hash.SHA256 != "" {
		t.Errorf("an attachment by id carries a hash before its download: %+v", e.File.Hash)
	}
	sum := sha256.Sum256([]byte("tiny csv,1,2\n"))
	if got := recs[1].Events[0].File.Hash; got.SHA256 != hex.EncodeToString(sum[:]) || len(got.MD5) != 32 || recs[1].Events[0].File.Size != 13 {
		t.Errorf("inline attachment: hash %+v size %d", got, recs[1].Events[0].File.Size)
	}
	// internalDate as a JSON number is the same message.
	again := adapt(t, message([]string{"SENT"}, 1764511387000, sentHeaders), "alice@corp.example")
	if again[0].VendorID != recs[0].VendorID || !again[0].Events[0].Timestamp.Equal(e.Timestamp) {
		t.Errorf("internalDate as a number: %+v", again[0])
	}
	// Without a mailbox (an export read by itself), the sender comes from From.
	if got := adapt(t, message([]string{"SENT"}, "1", sentHeaders), "")[0].Events[0].User.Email; got != "alice@corp.example" {
		t.Errorf("sender from From: %q", got)
	}
}

// TestSkipped: drafts, received messages and sent messages without attachments make no event.
func TestSkipped(t *testing.T) {
	for want, raw := range map[string][]byte{
		SkipDraft:        message([]string{"DRAFT", "SENT"}, "1", sentHeaders),
		SkipNotSent:      message([]string{"INBOX", "UNREAD"}, "1", sentHeaders),
		SkipNoAttachment: []byte(`{"id":"m1","labelIds":["SENT"],"internalDate":"1","payload":{"mimeType":"text/plain","filename":"","body":{"size":2,"data":"aGk"}}}`),
	} {
		recs := adapt(t, raw, "alice@corp.example")
		if len(recs) != 1 || recs[0].Skip != want || len(recs[0].Events) != 0 {
			t.Errorf("%s: %+v", want, recs)
		}
	}
}

// TestDecodeErrors: what the adapter cannot rely on is refused naming the field and what to do.
func TestDecodeErrors(t *testing.T) {
	for in, want := range map[string]string{
		`{"labelIds":["SENT"],"internalDate":"1","payload":{}}`:                               "id is missing",
		`{"id":"m","internalDate":"soon","payload":{}}`:                                       `internalDate "soon" is not milliseconds`,
		`{"id":"m","internalDate":"1","raw":"UmVjZWl2ZWQ6"}`:                                  "format raw has no MIME part tree: export with format=full",
		`{"id":"m","internalDate":"1"}`:                                                       "payload is missing: export with format=full",
		`{"id":"m","internalDate":"1","payload":{"mimeType":"multipart/mixed","headers":[]}}`: "without parts (format metadata has no part tree): export with format=full",
		`{"id":"m","internalDate":"1","payload":{"parts":{"a":1}}}`:                           "payload.parts: want an array, got an object",
		`{"id":"m","internalDate":"1","payload":{"parts":[{"body":[1]}]}}`:                    "payload.parts[0].body: want an object, got an array",
		`{"id":"m","internalDate":"1","payload":{"filename":"a","body":{"data":"%%%"}}}`:      "payload.body.data: not base64url",
		`{"id":7,"internalDate":"1","payload":{}}`:                                            "id: want a string, got a number",
	} {
		_, err := DecodeMessage([]byte(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want it to say %q", in, err, want)
		}
	}
}

// TestAddresses: address headers are parsed leniently: a header that is not RFC 5322 still yields
// the addresses in it.
func TestAddresses(t *testing.T) {
	for in, want := range map[string][]string{
		`"Doe, John" <John@X.com>, jane@y.org`:        {"john@x.com", "jane@y.org"},
		`broken<<, Jane <jane@y.org>, not an address`: {"jane@y.org"},
		``: nil,
	} {
		if got := addresses(in); !cmp.Equal(got, want) {
			t.Errorf("%q: %v, want %v", in, got, want)
		}
	}
}

// TestReadRecords: JSON lines and an array, a bad message reported with its line, the rest read.
func TestReadRecords(t *testing.T) {
	good := string(message([]string{"SENT"}, "1", sentHeaders))
	in := good + "\n" + `{"id":"x","internalDate":"bad","payload":{}}` + "\n[\n" + good + "\n]\n"
	var lines []int
	var errs int
	err := ReadRecords(strings.NewReader(in), "alice@corp.example", func(l int, rec connector.Record, err error) error {
		if err != nil {
			errs++
			if !strings.HasPrefix(err.Error(), "line 2: gmail message x") {
				t.Errorf("error %q", err)
			}
			return nil
		}
		lines = append(lines, l)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if errs != 1 || !cmp.Equal(lines, []int{1, 1, 1, 1, 4, 4, 4, 4}) {
		t.Errorf("lines %v, %d errors", lines, errs)
	}
}
