package sqldb

import (
	"context"
	"strings"

	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/store"
)

// prefixScanner scans leading columns into pre, the rest into what its caller asks for.
type prefixScanner struct {
	s   scanner
	pre []any
}

func (p prefixScanner) Scan(dest ...any) error { return p.s.Scan(append(p.pre, dest...)...) }

// sharingEvent is true for an event that carries its file's sharing state (event.Sharing is the
// state after the event): the predicate of the partial index file_events_sharing (migration 0018).
// (action codes 7 and 8: file-shared, file-unshared, codes.go; the partial index
// file_events_sharing has the same condition, migration 0039).
var sharingEvent = `(x.action IN ` + actionCodes.sqlList("file-shared", "file-unshared") + ` OR x.exposure <> 0 OR x.link_scope IS NOT NULL)`

// ExposedFiles implements store.ExposureQueries. Computed on read: the person's files come from
// files_owner (and their user drives for files without an owner), each file's latest sharing
// event from file_events_sharing, one index probe per file.
func (q *Queries) ExposedFiles(ctx context.Context, owner string, mask int, afterFileID int64, limit int) ([]store.ExposedFile, error) {
	if limit <= 0 {
		limit = 1000
	}
	owner = strings.ToLower(strings.TrimSpace(owner))
	rows, err := q.r.QueryContext(ctx, q.d.q(`SELECT f.id, f.connection_id, f.drive_id, f.vendor_id, f.name, f.path, f.size, f.mime_type, f.owner,
f.modified, `+eventCols+` FROM files f
JOIN file_events e ON e.id = (SELECT x.id FROM file_events x WHERE x.connection_id = f.connection_id AND x.file_id = f.vendor_id
  AND `+sharingEvent+` AND x.held = 0 ORDER BY x.observed DESC, x.id DESC LIMIT 1)
LEFT JOIN connections c ON c.id = e.connection_id
WHERE (lower(f.owner) = ? OR (f.owner = '' AND f.drive_id IN (SELECT d.id FROM drives d WHERE d.owner = ? AND d.kind = 'user')))
  AND f.deleted = 0 AND f.id > ? AND (e.exposure & ?) <> 0
ORDER BY f.id LIMIT ?`), owner, owner, afterFileID, mask, limit)
	if err != nil {
		return nil, q.wrap("exposed files", err)
	}
	defer rows.Close()
	var out []store.ExposedFile
	var evs []event.FileEvent
	var refs []addrRef
	for rows.Next() {
		var x store.ExposedFile
		var mod int64
		f := &x.File
		e, ref, err := scanEvent(prefixScanner{rows, []any{&f.ID, &f.ConnectionID, &f.DriveID, &f.VendorID, &f.Name, &f.Path, &f.Size, &f.MimeType, &f.Owner, &mod}})
		if err != nil {
			return nil, q.wrap("exposed files", err)
		}
		f.Modified = fromMicros(mod)
		out, evs, refs = append(out, x), append(evs, e), append(refs, ref)
	}
	if err := rows.Err(); err != nil {
		return nil, q.wrap("exposed files", err)
	}
	rows.Close()
	if err := q.nameEvents(ctx, evs, refs); err != nil {
		return nil, err
	}
	for i := range out {
		out[i].Event = evs[i]
	}
	return out, nil
}
