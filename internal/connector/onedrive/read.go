package onedrive

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/connector/kit/records"
)

// auditFormat: a content blob is a JSON array of records; exports are JSON lines; a page holds
// records under "value". An object with Operation is a record.
var auditFormat = records.Format{Name: "onedrive", Page: "value", IsRecord: func(obj map[string]json.RawMessage) bool {
	return obj["Operation"] != nil
}}

// ReadRecords reads exported Audit.SharePoint records and adapts each without calling Microsoft.
// fn gets each record's 1-based starting line and its meaning (Skip says why one is not a file
// event), or the error that makes the record unusable; reading continues after a bad one. Only I/O
// errors, or fn's, stop it. Files are named by their ListItemUniqueId (resolving it to Graph's
// driveItem id needs Graph: resolve.go).
func ReadRecords(r io.Reader, fn func(line int, rec connector.Record, err error) error) error {
	return records.Split(r, auditFormat, func(line int, _ map[string]json.RawMessage, raw []byte, err error) error {
		if err != nil {
			return fn(line, connector.Record{}, err)
		}
		rec, err := decodeAudit(raw)
		if err != nil {
			return fn(line, connector.Record{}, fmt.Errorf("line %d: %w", line, err))
		}
		return fn(line, adaptAuditRecord(rec, auditOptions{}), nil)
	})
}
