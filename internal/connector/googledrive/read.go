package googledrive

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/connector/kit/records"
)

// format: Reports API pages hold their activities under "items"; an object with "events" or "id"
// is an activity.
var format = records.Format{Name: "google drive", Page: "items", IsRecord: func(obj map[string]json.RawMessage) bool {
	return obj["events"] != nil || obj["id"] != nil
}}

// ReadRecords reads exported Reports API Drive activities (JSON lines, API pages with "items", or
// arrays) and adapts each without calling Google. fn gets each record's 1-based starting line and
// its meaning (one call per event of an activity), or the error that makes the activity unusable;
// reading continues after a bad one. Only I/O errors, or fn's, stop it.
func ReadRecords(r io.Reader, o Options, fn func(line int, rec connector.Record, err error) error) error {
	return records.Split(r, format, func(line int, obj map[string]json.RawMessage, _ []byte, err error) error {
		if err != nil {
			return fn(line, connector.Record{}, err)
		}
		a, err := decodeFields(obj)
		if err != nil {
			return fn(line, connector.Record{}, fmt.Errorf("line %d: %w", line, err))
		}
		for _, rec := range Adapt(a, o) {
			if err := fn(line, rec, nil); err != nil {
				return err
			}
		}
		return nil
	})
}
