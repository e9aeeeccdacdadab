package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/store"
)

// ---- scope ----

// ReplaceScope implements store.ScopeQueries.
func (q *Queries) ReplaceScope(ctx context.Context, connectionID int64, entries []store.ScopeEntry) error {
	return q.inTx(ctx, func(q *Queries) error {
		if _, err := q.w.ExecContext(ctx, q.d.q(`DELETE FROM scope_entries WHERE connection_id = ?`), connectionID); err != nil {
			return q.wrap("replace scope", err)
		}
		for _, e := range entries {
			if _, err := q.w.ExecContext(ctx, q.d.q(`INSERT INTO scope_entries (connection_id, kind, value, row_no, found, next_lookup_at)
VALUES (?, ?, ?, ?, ?, ?)`), connectionID, e.Kind, e.Value, e.Row, b2i(e.Found), micros(e.NextLookupAt)); err != nil {
				return q.wrap("replace scope", err)
			}
		}
		return nil
	})
}

// ListScope implements store.ScopeQueries.
func (q *Queries) ListScope(ctx context.Context, connectionID int64) ([]store.ScopeEntry, error) {
	rows, err := q.r.QueryContext(ctx, q.d.q(`SELECT connection_id, kind, value, row_no, found, next_lookup_at FROM scope_entries
WHERE connection_id = ? ORDER BY row_no, value`), connectionID)
	if err != nil {
		return nil, q.wrap("list scope", err)
	}
	defer rows.Close()
	var out []store.ScopeEntry
	for rows.Next() {
		var e store.ScopeEntry
		var next int64
		if err := rows.Scan(&e.ConnectionID, &e.Kind, &e.Value, &e.Row, &e.Found, &next); err != nil {
			return nil, q.wrap("list scope", err)
		}
		e.NextLookupAt = fromMicros(next)
		out = append(out, e)
	}
	return out, q.wrap("list scope", rows.Err())
}

// UpdateScopeEntry implements store.ScopeQueries.
func (q *Queries) UpdateScopeEntry(ctx context.Context, e store.ScopeEntry) error {
	res, err := q.w.ExecContext(ctx, q.d.q(`UPDATE scope_entries SET found = ?, next_lookup_at = ? WHERE connection_id = ? AND kind = ? AND value = ?`),
		b2i(e.Found), micros(e.NextLookupAt), e.ConnectionID, e.Kind, e.Value)
	return affected(res, err, "update scope entry", q, store.ErrNotFound)
}

// ---- drives ----

const driveCols = `id, connection_id, vendor_id, kind, owner, name, state, error, in_scope, file_count, discovered_at, indexed_at, updated_at, seen_at`

func scanDrive(s scanner) (store.Drive, error) {
	var d store.Drive
	var disc, idx, upd, seen int64
	err := s.Scan(&d.ID, &d.ConnectionID, &d.VendorID, &d.Kind, &d.Owner, &d.Name, &d.State, &d.Error, &d.InScope, &d.FileCount, &disc, &idx, &upd, &seen)
	d.DiscoveredAt, d.IndexedAt, d.UpdatedAt, d.SeenAt = fromMicros(disc), fromMicros(idx), fromMicros(upd), fromMicros(seen)
	return d, err
}

// UpsertDrive implements store.DriveQueries.
func (q *Queries) UpsertDrive(ctx context.Context, d store.Drive) (store.Drive, error) {
	now := micros(nowUTC())
	disc := micros(d.DiscoveredAt)
	if disc == 0 {
		disc = now
	}
	if d.State == "" {
		d.State = store.DrivePending
	}
	// A vendor's text (a drive's name, its owner) holding a NUL or bytes that are not UTF-8 is
	// stored with U+FFFD in their place, as events are (event.CleanText): PostgreSQL's text can
	// hold neither. The id and owner, index keys, are clipped as events' are (event.CleanKey): a
	// key over about 2.7 kB is refused by PostgreSQL's B-tree, and discovery would stop on it.
	d.Owner, d.Name, d.Error = event.CleanKey(d.Owner), event.CleanString(d.Name), event.CleanString(d.Error)
	d.VendorID = event.ClipKey(d.VendorID)
	out, err := scanDrive(q.w.QueryRowContext(ctx, q.d.q(`INSERT INTO drives (connection_id, vendor_id, kind, owner, name, state, error,
in_scope, file_count, discovered_at, indexed_at, updated_at, seen_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (connection_id, vendor_id) DO UPDATE SET kind = excluded.kind, owner = excluded.owner, name = excluded.name,
state = excluded.state, error = excluded.error, in_scope = excluded.in_scope, file_count = excluded.file_count,
indexed_at = excluded.indexed_at, updated_at = excluded.updated_at,
seen_at = CASE WHEN excluded.seen_at = 0 THEN drives.seen_at ELSE excluded.seen_at END RETURNING `+driveCols),
		d.ConnectionID, d.VendorID, d.Kind, d.Owner, d.Name, d.State, d.Error, b2i(d.InScope), d.FileCount, disc, micros(d.IndexedAt), now, micros(d.SeenAt)))
	return out, q.wrap("upsert drive", err)
}

// GetDrive implements store.DriveQueries.
func (q *Queries) GetDrive(ctx context.Context, id int64) (store.Drive, error) {
	d, err := scanDrive(q.r.QueryRowContext(ctx, q.d.q(`SELECT `+driveCols+` FROM drives WHERE id = ?`), id))
	return d, q.wrap(fmt.Sprintf("get drive %d", id), err)
}

// ListDrives implements store.DriveQueries.
func (q *Queries) ListDrives(ctx context.Context, f store.DriveFilter) ([]store.Drive, error) {
	if f.Limit <= 0 {
		f.Limit = 1000
	}
	where, args := `connection_id = ? AND id > ?`, []any{f.ConnectionID, f.AfterID}
	if len(f.Kinds) > 0 {
		ph, ka := in(f.Kinds)
		where += ` AND kind IN ` + ph
		args = append(args, ka...)
	}
	if f.State != "" {
		where += ` AND state = ?`
		args = append(args, f.State)
	}
	rows, err := q.r.QueryContext(ctx, q.d.q(`SELECT `+driveCols+` FROM drives WHERE `+where+` ORDER BY id LIMIT ?`), append(args, f.Limit)...)
	if err != nil {
		return nil, q.wrap("list drives", err)
	}
	defer rows.Close()
	var out []store.Drive
	for rows.Next() {
		d, err := scanDrive(rows)
		if err != nil {
			return nil, q.wrap("list drives", err)
		}
		out = append(out, d)
	}
	return out, q.wrap("list drives", rows.Err())
}

// AnyUnindexedDrive implements store.DriveQueries (served by the partial index drives_unindexed).
func (q *Queries) AnyUnindexedDrive(ctx context.Context, connectionID int64) (bool, error) {
	var one int
	err := q.r.QueryRowContext(ctx, q.d.q(`SELECT 1 FROM drives WHERE connection_id = ? AND state IN ('pending', 'indexing') AND in_scope = 1 LIMIT 1`), connectionID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, q.wrap("find unindexed drives", err)
}

// CountDrives implements store.DriveQueries.
func (q *Queries) CountDrives(ctx context.Context, connectionID int64, kinds ...string) (store.DriveCounts, error) {
	where, args := `connection_id = ? AND in_scope = 1`, []any{connectionID}
	if len(kinds) > 0 {
		ph, ka := in(kinds)
		where += ` AND kind IN ` + ph
		args = append(args, ka...)
	}
	rows, err := q.r.QueryContext(ctx, q.d.q(`SELECT state, COUNT(*) FROM drives WHERE `+where+` GROUP BY state`), args...)
	if err != nil {
		return store.DriveCounts{}, q.wrap("count drives", err)
	}
	defer rows.Close()
	var c store.DriveCounts
	for rows.Next() {
		var state string
		var n int64
		if err := rows.Scan(&state, &n); err != nil {
			return c, q.wrap("count drives", err)
		}
		c.Total += n
		switch state {
		case store.DrivePending:
			c.Pending += n
		case store.DriveIndexing:
			c.Indexing += n
		case store.DriveIndexed:
			c.Indexed += n
		case store.DriveInaccessible:
			c.Inaccessible += n
		}
	}
	return c, q.wrap("count drives", rows.Err())
}

// ---- files ----

// UpsertFiles implements store.FileQueries.
func (q *Queries) UpsertFiles(ctx context.Context, files []store.File) error {
	if len(files) == 0 {
		return nil
	}
	return q.inTx(ctx, func(q *Queries) error {
		st, err := q.w.PrepareContext(ctx, q.d.q(`INSERT INTO files (connection_id, drive_id, vendor_id, name, path, size, mime_type, owner,
md5, sha256, sha1, quick_xor, modified, indexed_at, deleted, state, alt_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (connection_id, vendor_id) DO UPDATE SET drive_id = excluded.drive_id, name = excluded.name, path = excluded.path,
size = excluded.size, mime_type = excluded.mime_type, owner = excluded.owner,
md5 = CASE WHEN excluded.md5 = '' THEN files.md5 ELSE excluded.md5 END,
sha256 = CASE WHEN excluded.sha256 = '' THEN files.sha256 ELSE excluded.sha256 END,
sha1 = CASE WHEN excluded.sha1 = '' THEN files.sha1 ELSE excluded.sha1 END,
quick_xor = CASE WHEN excluded.quick_xor = '' THEN files.quick_xor ELSE excluded.quick_xor END,
modified = excluded.modified, indexed_at = excluded.indexed_at, deleted = excluded.deleted,
state = CASE WHEN excluded.state = '' THEN files.state ELSE excluded.state END,
alt_id = CASE WHEN excluded.alt_id = '' THEN files.alt_id ELSE excluded.alt_id END`))
		if err != nil {
			return q.wrap("upsert files", err)
		}
		defer st.Close()
		for _, f := range files {
			// A vendor's text with a NUL or bytes that are not UTF-8, and over-long keys: as
			// UpsertDrive.
			for _, p := range []*string{&f.Name, &f.Path, &f.MimeType, &f.Owner, &f.MD5, &f.SHA256, &f.SHA1, &f.QuickXor} {
				*p = event.CleanString(*p)
			}
			f.VendorID, f.Owner, f.MimeType, f.AltID = event.ClipKey(f.VendorID), event.ClipKey(f.Owner), event.ClipKey(f.MimeType), event.ClipKey(f.AltID)
			if _, err := st.ExecContext(ctx, f.ConnectionID, f.DriveID, f.VendorID, f.Name, f.Path, f.Size, f.MimeType, f.Owner,
				f.MD5, f.SHA256, f.SHA1, f.QuickXor, micros(f.Modified), micros(f.IndexedAt), b2i(f.Deleted), f.State, f.AltID); err != nil {
				return q.wrap("upsert files", err)
			}
		}
		return nil
	})
}

// GetFile implements store.FileQueries.
func (q *Queries) GetFile(ctx context.Context, connectionID int64, vendorID string) (store.File, error) {
	var f store.File
	var mod, idx int64
	err := q.r.QueryRowContext(ctx, q.d.q(`SELECT id, connection_id, drive_id, vendor_id, name, path, size, mime_type, owner, md5, sha256,
sha1, quick_xor, modified, indexed_at, deleted, state, alt_id FROM files WHERE connection_id = ? AND vendor_id = ?`), connectionID, vendorID).Scan(
		&f.ID, &f.ConnectionID, &f.DriveID, &f.VendorID, &f.Name, &f.Path, &f.Size, &f.MimeType, &f.Owner, &f.MD5, &f.SHA256,
		&f.SHA1, &f.QuickXor, &mod, &idx, &f.Deleted, &f.State, &f.AltID)
	f.Modified, f.IndexedAt = fromMicros(mod), fromMicros(idx)
	return f, q.wrap("get file "+vendorID, err)
}

// CountFiles implements store.FileQueries.
func (q *Queries) CountFiles(ctx context.Context, connectionID, driveID int64) (int64, error) {
	query, args := `SELECT COUNT(*) FROM files WHERE connection_id = ? AND deleted = 0`, []any{connectionID}
	if driveID != 0 {
		query += ` AND drive_id = ?`
		args = append(args, driveID)
	}
	var n int64
	err := q.r.QueryRowContext(ctx, q.d.q(query), args...).Scan(&n)
	return n, q.wrap("count files", err)
}

// ---- cursors ----

// GetCursor implements store.CursorQueries.
func (q *Queries) GetCursor(ctx context.Context, connectionID int64, stream string) (string, error) {
	var v string
	err := q.r.QueryRowContext(ctx, q.d.q(`SELECT value FROM cursors WHERE connection_id = ? AND stream = ?`), connectionID, stream).Scan(&v)
	return v, q.wrap("get cursor "+stream, err)
}

// SaveCursor implements store.CursorQueries.
func (q *Queries) SaveCursor(ctx context.Context, connectionID int64, stream, value string) error {
	_, err := q.w.ExecContext(ctx, q.d.q(`INSERT INTO cursors (connection_id, stream, value, updated_at) VALUES (?, ?, ?, ?)
ON CONFLICT (connection_id, stream) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`), connectionID, stream, value, micros(nowUTC()))
	return q.wrap("save cursor "+stream, err)
}

// MarkFilesGone implements store.FileQueries.
func (q *Queries) MarkFilesGone(ctx context.Context, connectionID, driveID int64, before time.Time) (int64, error) {
	res, err := q.w.ExecContext(ctx, q.d.q(`UPDATE files SET deleted = 1 WHERE connection_id = ? AND drive_id = ? AND deleted = 0 AND indexed_at < ?`),
		connectionID, driveID, micros(before))
	if err != nil {
		return 0, q.wrap("mark files gone", err)
	}
	n, err := res.RowsAffected()
	return n, q.wrap("mark files gone", err)
}

// InitCursor implements store.CursorQueries.
func (q *Queries) InitCursor(ctx context.Context, connectionID int64, stream, value string) (string, error) {
	var stored string
	err := q.w.QueryRowContext(ctx, q.d.q(`INSERT INTO cursors (connection_id, stream, value, updated_at) VALUES (?, ?, ?, ?)
ON CONFLICT (connection_id, stream) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at WHERE cursors.value = ''
RETURNING value`), connectionID, stream, value, micros(nowUTC())).Scan(&stored)
	if errors.Is(err, sql.ErrNoRows) {
		// The cursor was set already: the update's condition left it as it was.
		return q.GetCursor(ctx, connectionID, stream)
	}
	return stored, q.wrap("init cursor "+stream, err)
}

// ---- people ----

const personCols = `id, email, name, aliases, department, manager, employment_status, status, updated_at`

func scanPerson(s scanner) (store.Person, error) {
	var p store.Person
	var aliases string
	var upd int64
	err := s.Scan(&p.ID, &p.Email, &p.Name, &aliases, &p.Department, &p.Manager, &p.EmploymentStatus, &p.Status, &upd)
	if aliases != "" {
		p.Aliases = strings.Split(aliases, "\n")
	}
	p.UpdatedAt = fromMicros(upd)
	return p, err
}

// UpsertPerson implements store.PeopleQueries.
func (q *Queries) UpsertPerson(ctx context.Context, p store.Person) (store.Person, error) {
	if p.Status == "" {
		p.Status = "active"
	}
	out, err := scanPerson(q.w.QueryRowContext(ctx, q.d.q(`INSERT INTO people (email, name, aliases, department, manager, employment_status, status, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (email) DO UPDATE SET name = excluded.name, aliases = excluded.aliases,
department = excluded.department, manager = excluded.manager, employment_status = excluded.employment_status,
status = excluded.status, updated_at = excluded.updated_at RETURNING `+personCols),
		strings.ToLower(strings.TrimSpace(p.Email)), p.Name, strings.Join(p.Aliases, "\n"), p.Department, p.Manager, p.EmploymentStatus, p.Status, micros(nowUTC())))
	return out, q.wrap("upsert person", err)
}

// GetPersonByEmail implements store.PeopleQueries.
func (q *Queries) GetPersonByEmail(ctx context.Context, email string) (store.Person, error) {
	p, err := scanPerson(q.r.QueryRowContext(ctx, q.d.q(`SELECT `+personCols+` FROM people WHERE email = ?`), strings.ToLower(strings.TrimSpace(email))))
	return p, q.wrap("get person", err)
}

// ListPeople implements store.PeopleQueries.
func (q *Queries) ListPeople(ctx context.Context, afterID int64, limit int) ([]store.Person, error) {
	if limit <= 0 {
		limit = 1000
	}
	rows, err := q.r.QueryContext(ctx, q.d.q(`SELECT `+personCols+` FROM people WHERE id > ? ORDER BY id LIMIT ?`), afterID, limit)
	if err != nil {
		return nil, q.wrap("list people", err)
	}
	defer rows.Close()
	var out []store.Person
	for rows.Next() {
		p, err := scanPerson(rows)
		if err != nil {
			return nil, q.wrap("list people", err)
		}
		out = append(out, p)
	}
	return out, q.wrap("list people", rows.Err())
}

// ---- settings ----

// GetSetting implements store.SettingQueries.
func (q *Queries) GetSetting(ctx context.Context, key string) ([]byte, error) {
	var v []byte
	err := q.r.QueryRowContext(ctx, q.d.q(`SELECT value FROM settings WHERE key = ?`), key).Scan(&v)
	return v, q.wrap("get setting "+key, err)
}

// PutSetting implements store.SettingQueries.
func (q *Queries) PutSetting(ctx context.Context, key string, value []byte) error {
	_, err := q.w.ExecContext(ctx, q.d.q(`INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)
ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`), key, value, micros(nowUTC()))
	return q.wrap("put setting "+key, err)
}

// ---- audit ----

// The audit log is a hash chain (store.AuditHash; docs/ARCHITECTURE.md "Audit log"). Every append
// first moves the one row of audit_chain, which serializes appenders: on PostgreSQL its row lock
// is held by the appending transaction until it commits, across nodes; SQLite has one writer.
// The record's id is assigned after that lock is taken, so id order is chain order, and a reader
// that sees the head sees every record up to it.

// lockAuditChain takes the chain's lock and returns its head. Inside a transaction only.
func (q *Queries) lockAuditChain(ctx context.Context) (store.AuditHead, int64, error) {
	var h store.AuditHead
	var legacy int64
	err := q.w.QueryRowContext(ctx, `UPDATE audit_chain SET records = records WHERE id = 1 RETURNING records, head_hash, legacy_until`).Scan(&h.Count, &h.Hash, &legacy)
	return h, legacy, err
}

// appendAuditLocked chains e after head and inserts it; the caller holds the lock and moves the
// head with setAuditHead.
func (q *Queries) appendAuditLocked(ctx context.Context, head store.AuditHead, e *store.AuditEntry) error {
	e.At = fromMicros(micros(e.At))
	e.Seq, e.PrevHash = head.Count+1, head.Hash
	e.Hash = store.AuditHash(*e)
	return q.w.QueryRowContext(ctx, q.d.q(`INSERT INTO audit_log (at, actor, actor_id, action, target, details, client_ip, outcome, seq, finishes, prev_hash, hash)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`), micros(e.At), e.Actor, e.ActorID, e.Action, e.Target, e.Details, e.ClientIP, e.Outcome,
		e.Seq, e.Finishes, nullBytes(e.PrevHash), e.Hash).Scan(&e.ID)
}

func (q *Queries) setAuditHead(ctx context.Context, h store.AuditHead, legacy int64) error {
	_, err := q.w.ExecContext(ctx, q.d.q(`UPDATE audit_chain SET records = ?, head_hash = ?, legacy_until = ? WHERE id = 1`), h.Count, h.Hash, legacy)
	return err
}

func nullBytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// AppendAudit implements store.AuditQueries.
func (q *Queries) AppendAudit(ctx context.Context, e store.AuditEntry) (store.AuditEntry, error) {
	if e.At.IsZero() {
		e.At = nowUTC()
	}
	e.Finishes = 0
	err := q.inTx(ctx, func(q *Queries) error {
		head, legacy, err := q.lockAuditChain(ctx)
		if err != nil {
			return err
		}
		if err := q.appendAuditLocked(ctx, head, &e); err != nil {
			return err
		}
		return q.setAuditHead(ctx, store.AuditHead{Count: e.Seq, Hash: e.Hash}, legacy)
	})
	return e, q.wrap("append audit", err)
}

// FinishAudit implements store.AuditQueries: the outcome is a record of its own.
func (q *Queries) FinishAudit(ctx context.Context, id int64, target string, details []byte, outcome string) error {
	op := fmt.Sprintf("finish audit entry %d", id)
	return q.wrap(op, q.inTx(ctx, func(q *Queries) error {
		head, legacy, err := q.lockAuditChain(ctx)
		if err != nil {
			return err
		}
		e := store.AuditEntry{At: nowUTC(), Target: target, Details: details, Outcome: outcome, Finishes: id}
		err = q.r.QueryRowContext(ctx, q.d.q(`SELECT actor, actor_id, action, client_ip FROM audit_log s
WHERE s.id = ? AND s.outcome = ? AND s.finishes = 0 AND NOT EXISTS (SELECT 1 FROM audit_log f WHERE f.finishes = s.id)`), id, store.AuditStarted).Scan(&e.Actor, &e.ActorID, &e.Action, &e.ClientIP)
		if err != nil {
			return err // sql.ErrNoRows: not started, or finished already
		}
		if err := q.appendAuditLocked(ctx, head, &e); err != nil {
			return err
		}
		return q.setAuditHead(ctx, store.AuditHead{Count: e.Seq, Hash: e.Hash}, legacy)
	}))
}

// auditFolded is a call: its started (or only) record with its outcome record folded in.
const auditFolded = `SELECT a.id, a.at, a.actor, a.actor_id, a.action, COALESCE(NULLIF(f.target, ''), a.target), COALESCE(f.details, a.details),
a.client_ip, COALESCE(f.outcome, a.outcome), a.seq, a.prev_hash, a.hash, COALESCE(f.at, 0)
FROM audit_log a LEFT JOIN audit_log f ON f.finishes = a.id`

// ListAudit implements store.AuditQueries.
func (q *Queries) ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditEntry, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	where, args := []string{"a.finishes = 0"}, []any{}
	add := func(cond string, v any) { where = append(where, cond); args = append(args, v) }
	if f.Actor != "" {
		add("a.actor = ?", f.Actor)
	}
	if f.Action != "" {
		add("substr(a.action, 1, ?) = ?", len(f.Action))
		args = append(args, f.Action)
	}
	if f.Target != "" {
		add("COALESCE(NULLIF(f.target, ''), a.target) = ?", f.Target)
	}
	if !f.Since.IsZero() {
		add("a.at >= ?", micros(f.Since))
	}
	if !f.Until.IsZero() {
		add("a.at < ?", micros(f.Until))
	}
	if f.BeforeID > 0 {
		add("a.id < ?", f.BeforeID)
	}
	order := "a.id DESC"
	if f.Oldest {
		add("a.id > ?", f.AfterID)
		order = "a.id"
	}
	rows, err := q.r.QueryContext(ctx, q.d.q(auditFolded+`
WHERE `+strings.Join(where, " AND ")+` ORDER BY `+order+` LIMIT ?`), append(args, f.Limit)...)
	if err != nil {
		return nil, q.wrap("list audit", err)
	}
	defer rows.Close()
	var out []store.AuditEntry
	for rows.Next() {
		var e store.AuditEntry
		var at, fin int64
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.ActorID, &e.Action, &e.Target, &e.Details, &e.ClientIP, &e.Outcome, &e.Seq, &e.PrevHash, &e.Hash, &fin); err != nil {
			return nil, q.wrap("list audit", err)
		}
		e.At, e.FinishedAt = fromMicros(at), fromMicros(fin)
		out = append(out, e)
	}
	return out, q.wrap("list audit", rows.Err())
}

// AuditRecords implements store.AuditQueries.
func (q *Queries) AuditRecords(ctx context.Context, afterID int64, limit int) ([]store.AuditEntry, error) {
	rows, err := q.r.QueryContext(ctx, q.d.q(`SELECT id, at, actor, actor_id, action, target, details, client_ip, outcome, seq, finishes, prev_hash, hash
FROM audit_log WHERE id > ? ORDER BY id LIMIT ?`), afterID, limit)
	if err != nil {
		return nil, q.wrap("audit records", err)
	}
	defer rows.Close()
	var out []store.AuditEntry
	for rows.Next() {
		var e store.AuditEntry
		var at int64
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.ActorID, &e.Action, &e.Target, &e.Details, &e.ClientIP, &e.Outcome, &e.Seq, &e.Finishes, &e.PrevHash, &e.Hash); err != nil {
			return nil, q.wrap("audit records", err)
		}
		e.At = fromMicros(at)
		out = append(out, e)
	}
	return out, q.wrap("audit records", rows.Err())
}

// AuditHead implements store.AuditQueries.
func (q *Queries) AuditHead(ctx context.Context) (store.AuditHead, error) {
	var h store.AuditHead
	err := q.r.QueryRowContext(ctx, `SELECT records, head_hash FROM audit_chain WHERE id = 1`).Scan(&h.Count, &h.Hash)
	return h, q.wrap("audit head", err)
}

// SealLegacyAudit chains the records written before the chain existed (migration 0031 notes
// the largest such id), in id order, once. The drivers call it when they open the store, before
// anything else writes; a record that turns up later without a seal stays unsealed, and
// verification reports it.
func (db *DB) SealLegacyAudit(ctx context.Context) (int, error) {
	n := 0
	err := db.InTx(ctx, func(s store.Queries) error {
		q := s.(*Queries)
		head, legacy, err := q.lockAuditChain(ctx)
		if err != nil || legacy == 0 {
			return err
		}
		for after, past := int64(0), false; !past; {
			page, err := q.AuditRecords(ctx, after, 1000)
			if err != nil {
				return err
			}
			past = len(page) < 1000
			for _, e := range page {
				if e.ID > legacy {
					past = true
					break
				}
				after = e.ID
				if len(e.Hash) > 0 {
					continue
				}
				e.Seq, e.PrevHash = head.Count+1, head.Hash
				e.Hash = store.AuditHash(e)
				if _, err := q.w.ExecContext(ctx, q.d.q(`UPDATE audit_log SET seq = ?, prev_hash = ?, hash = ? WHERE id = ?`), e.Seq, nullBytes(e.PrevHash), e.Hash, e.ID); err != nil {
					return err
				}
				head = store.AuditHead{Count: e.Seq, Hash: e.Hash}
				n++
			}
		}
		return q.setAuditHead(ctx, head, 0)
	})
	return n, db.wrap("seal audit log", err)
}

// ---- person aliases (issue 18, R8.3) ----

func lowerAddr(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// AddPersonAlias implements store.PeopleQueries.
func (q *Queries) AddPersonAlias(ctx context.Context, email, alias, by string) error {
	email, alias = lowerAddr(email), lowerAddr(alias)
	return q.wrap("add person alias", q.inTx(ctx, func(q *Queries) error {
		if email == alias {
			return fmt.Errorf("%w: %s is the person's own address", store.ErrConflict, alias)
		}
		var owner string
		switch err := q.w.QueryRowContext(ctx, q.d.q(`SELECT email FROM person_aliases WHERE alias = ?`), email).Scan(&owner); {
		case err == nil:
			return fmt.Errorf("%w: %s is an alias of %s: add the alias to %s", store.ErrConflict, email, owner, owner)
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		switch err := q.w.QueryRowContext(ctx, q.d.q(`SELECT email FROM person_aliases WHERE alias = ?`), alias).Scan(&owner); {
		case err == nil && owner == email:
			return nil
		case err == nil:
			return fmt.Errorf("%w: %s is already an alias of %s: remove it there first", store.ErrConflict, alias, owner)
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		var n int
		if err := q.w.QueryRowContext(ctx, q.d.q(`SELECT COUNT(*) FROM person_aliases WHERE email = ?`), alias).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%w: %s has %d alias(es) of its own: add %s to %s instead, or remove them first", store.ErrConflict, alias, n, email, alias)
		}
		if err := q.w.QueryRowContext(ctx, q.d.q(`SELECT COUNT(*) FROM person_aliases WHERE email = ?`), email).Scan(&n); err != nil {
			return err
		}
		if n >= store.MaxPersonAliases {
			return fmt.Errorf("%w: %s has %d aliases, the most a person may have: remove one first", store.ErrConflict, email, n)
		}
		_, err := q.w.ExecContext(ctx, q.d.q(`INSERT INTO person_aliases (alias, email, created_by, created_at) VALUES (?, ?, ?, ?)`), alias, email, by, micros(nowUTC()))
		return err
	}))
}

// RemovePersonAlias implements store.PeopleQueries.
func (q *Queries) RemovePersonAlias(ctx context.Context, email, alias string) error {
	res, err := q.w.ExecContext(ctx, q.d.q(`DELETE FROM person_aliases WHERE alias = ? AND email = ?`), lowerAddr(alias), lowerAddr(email))
	return affected(res, err, "remove person alias", q, store.ErrNotFound)
}

// PersonAliases implements store.PeopleQueries.
func (q *Queries) PersonAliases(ctx context.Context, emails []string) ([]store.PersonAlias, error) {
	if len(emails) == 0 {
		return nil, nil
	}
	for i := range emails {
		emails[i] = lowerAddr(emails[i])
	}
	ph, args := in(emails)
	rows, err := q.r.QueryContext(ctx, q.d.q(`SELECT email, alias, created_by, created_at FROM person_aliases WHERE email IN `+ph+` ORDER BY email, alias`), args...)
	if err != nil {
		return nil, q.wrap("person aliases", err)
	}
	defer rows.Close()
	var out []store.PersonAlias
	for rows.Next() {
		var a store.PersonAlias
		var at int64
		if err := rows.Scan(&a.Email, &a.Alias, &a.CreatedBy, &at); err != nil {
			return nil, q.wrap("person aliases", err)
		}
		a.CreatedAt = fromMicros(at)
		out = append(out, a)
	}
	return out, q.wrap("person aliases", rows.Err())
}

// ResolvePerson implements store.PeopleQueries.
func (q *Queries) ResolvePerson(ctx context.Context, address string) (string, error) {
	address = lowerAddr(address)
	var owner string
	err := q.r.QueryRowContext(ctx, q.d.q(`SELECT email FROM person_aliases WHERE alias = ?`), address).Scan(&owner)
	if errors.Is(err, sql.ErrNoRows) {
		return address, nil
	}
	return owner, q.wrap("resolve person", err)
}

// ResolvePeople implements store.PeopleQueries.
func (q *Queries) ResolvePeople(ctx context.Context, addresses []string) (map[string]string, error) {
	if len(addresses) > store.MaxResolve {
		return nil, fmt.Errorf("store: resolve people: %d addresses; at most %d at once", len(addresses), store.MaxResolve)
	}
	out := map[string]string{}
	if len(addresses) == 0 {
		return out, nil
	}
	seen := map[string]bool{}
	var xs []string
	for _, a := range addresses {
		if a = lowerAddr(a); !seen[a] {
			seen[a] = true
			xs = append(xs, a)
		}
	}
	ph, args := in(xs)
	rows, err := q.r.QueryContext(ctx, q.d.q(`SELECT alias, email FROM person_aliases WHERE alias IN `+ph), args...)
	if err != nil {
		return nil, q.wrap("resolve people", err)
	}
	defer rows.Close()
	for rows.Next() {
		var alias, email string
		if err := rows.Scan(&alias, &email); err != nil {
			return nil, q.wrap("resolve people", err)
		}
		out[alias] = email
	}
	return out, q.wrap("resolve people", rows.Err())
}

// ListKnownPeople implements store.PeopleQueries. The actors come from the addresses (migration
// 0044) in their folded index's order, each kept when an event has it as its actor (one seek in
// the events' actor index), so a page costs its size, not the number of events.
func (q *Queries) ListKnownPeople(ctx context.Context, after string, limit int) ([]store.KnownPerson, string, error) {
	if limit <= 0 {
		limit = 100
	}
	after = lowerAddr(after)
	fold := (&sqlBuilder{d: q.d}).fold("COALESCE(a.address, '')")
	strs := func(query string, args ...any) ([]string, error) {
		rows, err := q.r.QueryContext(ctx, q.d.q(query), args...)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var s sql.NullString
			if err := rows.Scan(&s); err != nil {
				return nil, err
			}
			if s.Valid && s.String != "" {
				out = append(out, s.String)
			}
		}
		return out, rows.Err()
	}
	actors, err := strs(`SELECT DISTINCT `+fold+` FROM addresses a WHERE `+fold+` > ?
  AND EXISTS (SELECT 1 FROM file_events e WHERE e.actor_id = a.id) ORDER BY 1 LIMIT ?`, after, limit)
	if err != nil {
		return nil, "", q.wrap("list known people: actors", err)
	}
	rows, err := strs(`SELECT email FROM people WHERE email > ? ORDER BY email LIMIT ?`, after, limit)
	if err != nil {
		return nil, "", q.wrap("list known people", err)
	}
	owners, err := strs(`SELECT DISTINCT email FROM person_aliases WHERE email > ? ORDER BY email LIMIT ?`, after, limit)
	if err != nil {
		return nil, "", q.wrap("list known people: aliases", err)
	}
	full := len(actors) == limit || len(rows) == limit || len(owners) == limit
	seen := map[string]bool{}
	var cands []string
	for _, l := range [][]string{actors, rows, owners} {
		for _, a := range l {
			if !seen[a] {
				seen[a] = true
				cands = append(cands, a)
			}
		}
	}
	sort.Strings(cands)
	next := ""
	if len(cands) > limit {
		cands, full = cands[:limit], true
	}
	if full && len(cands) > 0 {
		next = cands[len(cands)-1]
	}
	if len(cands) == 0 {
		return nil, "", nil
	}
	ph, args := in(cands)
	aliased, err := strs(`SELECT alias FROM person_aliases WHERE alias IN `+ph, args...)
	if err != nil {
		return nil, "", q.wrap("list known people: aliases", err)
	}
	isAlias := map[string]bool{}
	for _, a := range aliased {
		isAlias[a] = true
	}
	known := map[string]store.Person{}
	prow, err := q.r.QueryContext(ctx, q.d.q(`SELECT `+personCols+` FROM people WHERE email IN `+ph), args...)
	if err != nil {
		return nil, "", q.wrap("list known people", err)
	}
	defer prow.Close()
	for prow.Next() {
		p, err := scanPerson(prow)
		if err != nil {
			return nil, "", q.wrap("list known people", err)
		}
		known[p.Email] = p
	}
	if err := prow.Err(); err != nil {
		return nil, "", q.wrap("list known people", err)
	}
	var out []store.KnownPerson
	for _, c := range cands {
		if isAlias[c] {
			continue
		}
		p, ok := known[c]
		out = append(out, store.KnownPerson{Email: c, InTable: ok, Person: p})
	}
	return out, next, nil
}
