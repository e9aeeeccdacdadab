package gmail

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/connector/kit/records"
)

// format: messages one per line or in arrays; an object with "messages" (as a saved list page
// would be) holds them there.
var format = records.Format{Name: "gmail", Page: "messages", IsRecord: func(obj map[string]json.RawMessage) bool {
	return obj["payload"] != nil || obj["id"] != nil
}}

// ReadRecords reads exported messages (users.messages.get format=full answers: JSON lines, arrays,
// or objects holding them under "messages") and adapts each without calling Google, as sent from
// mailbox (empty: the address in each message's From header). fn gets each record's 1-based
// starting line and its meaning, or the error that makes the message unusable; reading continues
// after a bad one. Only I/O errors, or fn's, stop it.
func ReadRecords(r io.Reader, mailbox string, fn func(line int, rec connector.Record, err error) error) error {
	return records.Split(r, format, func(line int, obj map[string]json.RawMessage, _ []byte, err error) error {
		if err != nil {
			return fn(line, connector.Record{}, err)
		}
		m, err := decodeFields(obj)
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
