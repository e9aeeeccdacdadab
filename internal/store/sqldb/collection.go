package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/store"
)

// chunk is how many ids one IN list or multi-row insert carries (PostgreSQL allows 65535 parameters,
// SQLite 32766; 200 keeps statements small and plans cached).
const chunk = 200

func chunks(ids []string, fn func(part []string) error) error {
	for len(ids) > 0 {
		n := min(len(ids), chunk)
		if err := fn(ids[:n]); err != nil {
			return err
		}
		ids = ids[n:]
	}
	return nil
}

// FindDrives implements store.DriveQueries.
func (q *Queries) FindDrives(ctx context.Context, connectionID int64, vendorIDs []string) ([]store.Drive, error) {
	return q.findDrives(ctx, connectionID, "vendor_id", vendorIDs)
}

// FindDrivesByOwner implements store.DriveQueries.
func (q *Queries) FindDrivesByOwner(ctx context.Context, connectionID int64, owners []string) ([]store.Drive, error) {
	return q.findDrives(ctx, connectionID, "owner", owners)
}

// FindDrivesByOwnerLike implements store.DriveQueries.
func (q *Queries) FindDrivesByOwnerLike(ctx context.Context, connectionID int64, pattern string, limit int) ([]store.Drive, error) {
	const op = "find drives by owner pattern"
	if limit <= 0 || pattern == "" {
		return nil, nil
	}
	rows, err := q.r.QueryContext(ctx, q.d.q(`SELECT `+driveCols+` FROM drives WHERE connection_id = ? AND lower(owner) LIKE ? ORDER BY id LIMIT ?`),
		connectionID, strings.ToLower(pattern), limit)
	if err != nil {
		return nil, q.wrap(op, err)
	}
	defer rows.Close()
	var out []store.Drive
	for rows.Next() {
		d, err := scanDrive(rows)
		if err != nil {
			return nil, q.wrap(op, err)
		}
		out = append(out, d)
	}
	return out, q.wrap(op, rows.Err())
}

// findDrives returns the connection's drives whose column (a constant of the callers above) is
// one of values, by id.
func (q *Queries) findDrives(ctx context.Context, connectionID int64, column string, values []string) ([]store.Drive, error) {
	var out []store.Drive
	op := "find drives by " + column
	err := chunks(values, func(part []string) error {
		ph, args := in(part)
		rows, err := q.r.QueryContext(ctx, q.d.q(`SELECT `+driveCols+` FROM drives WHERE connection_id = ? AND `+column+` IN `+ph+` ORDER BY id`),
			append([]any{connectionID}, args...)...)
		if err != nil {
			return q.wrap(op, err)
		}
		defer rows.Close()
		for rows.Next() {
			d, err := scanDrive(rows)
			if err != nil {
				return q.wrap(op, err)
			}
			out = append(out, d)
		}
		return q.wrap(op, rows.Err())
	})
	return out, err
}

// UpdateDriveState implements store.DriveQueries.
func (q *Queries) UpdateDriveState(ctx context.Context, id int64, state, errText string, fileCount int64, indexedAt time.Time) error {
	res, err := q.w.ExecContext(ctx, q.d.q(`UPDATE drives SET state = ?, error = ?, file_count = ?, indexed_at = ?, updated_at = ? WHERE id = ?`),
		state, errText, fileCount, micros(indexedAt), micros(nowUTC()), id)
	return affected(res, err, fmt.Sprintf("update drive %d", id), q, store.ErrNotFound)
}

// MarkDrivesOutOfScope implements store.DriveQueries.
func (q *Queries) MarkDrivesOutOfScope(ctx context.Context, connectionID int64, seenBefore time.Time) (int64, error) {
	res, err := q.w.ExecContext(ctx, q.d.q(`UPDATE drives SET in_scope = 0, updated_at = ? WHERE connection_id = ? AND in_scope = 1 AND seen_at < ?`),
		micros(nowUTC()), connectionID, micros(seenBefore))
	if err != nil {
		return 0, q.wrap("mark drives out of scope", err)
	}
	n, err := res.RowsAffected()
	return n, q.wrap("mark drives out of scope", err)
}

// FindFiles implements store.FileQueries.
func (q *Queries) FindFiles(ctx context.Context, connectionID int64, vendorIDs []string) ([]store.File, error) {
	return q.findFiles(ctx, "find files", `SELECT `+fileCols+` FROM files f WHERE f.connection_id = ? AND f.vendor_id IN `, vendorIDs, "", connectionID)
}

// FindFilesByAlt implements store.FileQueries.
func (q *Queries) FindFilesByAlt(ctx context.Context, connectionID int64, driveVendorID string, altIDs []string) ([]store.File, error) {
	var ids []string
	for _, a := range altIDs {
		if a != "" {
			ids = append(ids, a)
		}
	}
	var d int64
	err := q.r.QueryRowContext(ctx, q.d.q(`SELECT id FROM drives WHERE connection_id = ? AND vendor_id = ?`), connectionID, driveVendorID).Scan(&d)
	if errors.Is(err, sql.ErrNoRows) || len(ids) == 0 {
		return nil, nil
	}
	if err != nil {
		return nil, q.wrap("find files by alt id", err)
	}
	// By drive row id first: the index is files(drive_id, alt_id).
	return q.findFiles(ctx, "find files by alt id", `SELECT `+fileCols+` FROM files f WHERE f.connection_id = ? AND f.drive_id = ? AND f.alt_id IN `,
		ids, driveVendorID, connectionID, d)
}

// fileCols are the columns findFiles scans, of files as f.
const fileCols = `f.id, f.connection_id, f.drive_id, f.vendor_id, f.name, f.path, f.size, f.mime_type, f.owner, f.md5, f.sha256,
f.sha1, f.quick_xor, f.modified, f.indexed_at, f.deleted, f.state, f.alt_id`

// findFiles runs query (fileCols of files as f, its parameters pre, ending in "IN ") over values
// in chunks; each file's DriveVendorID is driveVendorID.
func (q *Queries) findFiles(ctx context.Context, op, query string, values []string, driveVendorID string, pre ...any) ([]store.File, error) {
	var out []store.File
	err := chunks(values, func(part []string) error {
		ph, args := in(part)
		rows, err := q.r.QueryContext(ctx, q.d.q(query+ph+` ORDER BY f.id`), append(slices.Clone(pre), args...)...)
		if err != nil {
			return q.wrap(op, err)
		}
		defer rows.Close()
		for rows.Next() {
			var f store.File
			var mod, idx int64
			if err := rows.Scan(&f.ID, &f.ConnectionID, &f.DriveID, &f.VendorID, &f.Name, &f.Path, &f.Size, &f.MimeType, &f.Owner, &f.MD5,
				&f.SHA256, &f.SHA1, &f.QuickXor, &mod, &idx, &f.Deleted, &f.State, &f.AltID); err != nil {
				return q.wrap(op, err)
			}
			f.DriveVendorID = driveVendorID
			f.Modified, f.IndexedAt = fromMicros(mod), fromMicros(idx)
			out = append(out, f)
		}
		return q.wrap(op, rows.Err())
	})
	return out, err
}

// MarkVendorRecords implements store.VendorRecordQueries.
func (q *Queries) MarkVendorRecords(ctx context.Context, connectionID int64, ids []string, at time.Time) ([]string, error) {
	// Kept as event keys are (event.CleanKey: PostgreSQL's text holds no NUL and no bytes that
	// are not UTF-8, its index no key over about 2.7 kB; a record whose id it refused would stop
	// its page for good); the caller's own ids are returned.
	seen := make(map[string]bool, len(ids))
	uniq := make([]string, 0, len(ids))
	for _, id := range ids {
		if k := event.CleanKey(id); !seen[k] {
			seen[k] = true
			uniq = append(uniq, k)
		}
	}
	fresh := make(map[string]bool, len(uniq))
	err := chunks(uniq, func(part []string) error {
		query := `INSERT INTO vendor_records (connection_id, vendor_id, seen_at) VALUES `
		args := make([]any, 0, 3*len(part))
		for i, id := range part {
			if i > 0 {
				query += ", "
			}
			query += "(?, ?, ?)"
			args = append(args, connectionID, id, micros(at))
		}
		rows, err := q.w.QueryContext(ctx, q.d.q(query+` ON CONFLICT (connection_id, vendor_id) DO NOTHING RETURNING vendor_id`), args...)
		if err != nil {
			return q.wrap("mark vendor records", err)
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return q.wrap("mark vendor records", err)
			}
			fresh[id] = true
		}
		return q.wrap("mark vendor records", rows.Err())
	})
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(fresh))
	for _, id := range ids {
		if k := event.CleanKey(id); fresh[k] {
			delete(fresh, k) // an id named twice is returned once
			out = append(out, id)
		}
	}
	return out, nil
}

// MarkDestinations implements store.DestinationQueries.
func (q *Queries) MarkDestinations(ctx context.Context, person string, dests []string, at time.Time) ([]string, error) {
	ats := make([]time.Time, len(dests))
	for i := range ats {
		ats[i] = at
	}
	return q.MarkDestinationsAt(ctx, person, dests, ats)
}

// MarkDestinationsAt implements store.DestinationQueries.
func (q *Queries) MarkDestinationsAt(ctx context.Context, person string, dests []string, at []time.Time) ([]string, error) {
	if len(at) != len(dests) {
		return nil, fmt.Errorf("store: mark destinations: %d times for %d destinations", len(at), len(dests))
	}
	// Stored as events are (event.CleanKey: a vendor's NUL or non-UTF-8 bytes as U+FFFD, an
	// over-long key clipped); the caller's own strings are returned. Ingest cleans events
	// first, so the two agree there.
	person = event.CleanKey(person)
	first := make(map[string]time.Time, len(dests)) // a destination named twice: its first time
	uniq := make([]string, 0, len(dests))
	for i, d := range dests {
		d = event.CleanKey(d)
		if _, ok := first[d]; !ok {
			first[d] = at[i]
			uniq = append(uniq, d)
		}
	}
	// In key order: two transactions marking some of the same destinations (two nodes' pages)
	// wait for each other instead of deadlocking (ingest marks a page's people in order too).
	sort.Strings(uniq)
	fresh := make(map[string]bool, len(uniq))
	err := chunks(uniq, func(part []string) error {
		query := `INSERT INTO risk_destinations (person, destination, first_seen) VALUES `
		args := make([]any, 0, 3*len(part))
		for i, d := range part {
			if i > 0 {
				query += ", "
			}
			query += "(?, ?, ?)"
			args = append(args, person, d, micros(first[d]))
		}
		rows, err := q.w.QueryContext(ctx, q.d.q(query+` ON CONFLICT (person, destination) DO NOTHING RETURNING destination`), args...)
		if err != nil {
			return q.wrap("mark destinations", err)
		}
		defer rows.Close()
		for rows.Next() {
			var d string
			if err := rows.Scan(&d); err != nil {
				return q.wrap("mark destinations", err)
			}
			fresh[d] = true
		}
		return q.wrap("mark destinations", rows.Err())
	})
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(fresh))
	for _, d := range dests {
		if c := event.CleanKey(d); fresh[c] {
			delete(fresh, c) // a destination named twice is returned once
			out = append(out, d)
		}
	}
	return out, nil
}

// PruneVendorRecords implements store.VendorRecordQueries.
func (q *Queries) PruneVendorRecords(ctx context.Context, before time.Time) (int64, error) {
	res, err := q.w.ExecContext(ctx, q.d.q(`DELETE FROM vendor_records WHERE seen_at < ?`), micros(before))
	if err != nil {
		return 0, q.wrap("prune vendor records", err)
	}
	n, err := res.RowsAffected()
	return n, q.wrap("prune vendor records", err)
}

// ListDestinationUse implements store.DestinationQueries.
func (q *Queries) ListDestinationUse(ctx context.Context, minPeople, limit int) ([]store.DestinationUse, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := q.r.QueryContext(ctx, q.d.q(`SELECT destination, COUNT(*), MIN(first_seen) FROM risk_destinations
WHERE destination NOT LIKE '%@%' GROUP BY destination HAVING COUNT(*) >= ? ORDER BY COUNT(*) DESC, destination LIMIT ?`), max(1, minPeople), limit)
	if err != nil {
		return nil, q.wrap("list destination use", err)
	}
	defer rows.Close()
	var out []store.DestinationUse
	for rows.Next() {
		var u store.DestinationUse
		var first int64
		if err := rows.Scan(&u.Destination, &u.People, &first); err != nil {
			return nil, q.wrap("list destination use", err)
		}
		u.FirstSeen = fromMicros(first)
		out = append(out, u)
	}
	return out, q.wrap("list destination use", rows.Err())
}
