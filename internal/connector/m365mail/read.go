package m365mail

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/connector/kit/records"
)

var _ connector.RecordReader = Connector{}

// format: messages one per line or in arrays; a Graph page ({"value":[...]}) holds them there.
var format = records.Format{Name: "microsoft365_mail", Page: "value"}

// DecodeMessage decodes one Graph message with its attachments (GET
// /users/{id}/messages/{id}?$expand=attachments, or a delta item with "attachments" added).
// Unknown fields are ignored; a wrong type on a field the adapter reads, a missing id or
// sentDateTime, or attachments announced but absent make it undecodable, and the error says which.
func DecodeMessage(raw []byte) (Message, error) {
	var m Message
	if err := json.Unmarshal(raw, &m); err != nil {
		return m, fmt.Errorf("microsoft365_mail message: %s", records.Problem(err))
	}
	return m, checkMessage(m)
}

func checkMessage(m Message) error {
	switch {
	case m.ID == "":
		return fmt.Errorf("microsoft365_mail message: id is missing: export messages from Graph with their id")
	case m.SentDateTime.IsZero() && !m.IsDraft:
		return fmt.Errorf("microsoft365_mail message %s: sentDateTime is missing", m.ID)
	case m.HasAttachments && len(m.Attachments) == 0:
		return fmt.Errorf("microsoft365_mail message %s: hasAttachments without attachments: export with $expand=attachments", m.ID)
	}
	for i, a := range m.Attachments {
		if a.ID == "" || (a.Type != kindFile && a.Type != kindItem && a.Type != kindReference) {
			return fmt.Errorf("microsoft365_mail message %s: attachments[%d]: want an id and an @odata.type of fileAttachment, itemAttachment or referenceAttachment", m.ID, i)
		}
	}
	return nil
}

// ReadRecords reads exported messages and adapts each without calling Microsoft (telltale
// normalize), the sender taken from each message's from address.
func (Connector) ReadRecords(r io.Reader, fn func(line int, rec connector.Record, err error) error) error {
	return ReadRecords(r, Mailbox{}, fn)
}

// ReadRecords reads exported Graph messages (JSON lines, arrays, or pages holding them under
// "value") as sent from mailbox (zero: the address in each message's from). fn gets each
// record's 1-based starting line and its meaning, or the error that makes the message unusable;
// reading continues after a bad one. Only I/O errors, or fn's, stop it.
func ReadRecords(r io.Reader, mailbox Mailbox, fn func(line int, rec connector.Record, err error) error) error {
	return records.Split(r, format, func(line int, _ map[string]json.RawMessage, raw []byte, err error) error {
		if err != nil {
			return fn(line, connector.Record{}, err)
		}
		m, err := DecodeMessage(raw)
		if err != nil {
			return fn(line, connector.Record{}, fmt.Errorf("line %d: %w", line, err))
		}
		for _, rec := range Adapt(m, mailbox) {
			if err := fn(line, rec, nil); err != nil {
				return err
			}
		}
		return nil
	})
}
