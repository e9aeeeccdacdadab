package box

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/telltale-dev/telltale/internal/connector/kit/records"
)

// ReadRecords reads Box records from r: JSON lines, API pages ({"chunk_size":..,
// "next_stream_position":..,"entries":[...]}) or arrays, as the vendor kit's records.Split reads
// them. fn gets the 1-based line number where each record starts and either a record or a decode
// error (malformed JSON, wrong types) naming the line; reading continues after a bad line. Returns
// only I/O errors, or the first error fn returns.
func ReadRecords(r io.Reader, fn func(line int, rec Record, err error) error) error {
	return records.Split(r, boxFormat, func(line int, obj map[string]json.RawMessage, raw []byte, err error) error {
		if err != nil {
			return fn(line, Record{}, err)
		}
		rec, err := decodeRecordFields(obj, raw)
		if err != nil {
			return fn(line, Record{}, fmt.Errorf("line %d: %w", line, err))
		}
		return fn(line, rec, nil)
	})
}

// boxFormat: a page holds its records under "entries"; an object with an event_type or event_id is
// a record even if it has an "entries" field.
var boxFormat = records.Format{Name: "box", Page: "entries", IsRecord: func(obj map[string]json.RawMessage) bool {
	return obj["event_type"] != nil || obj["event_id"] != nil
}}
