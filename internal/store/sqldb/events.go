package sqldb

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/store"
)

// nowUTC is the store's clock for the times it assigns itself (inserted, updated_at).
var nowUTC = func() time.Time { return time.Now().UTC() }

// docMeta is what of event.Meta is not a column.
type docMeta struct {
	ConnectionName string   `json:"connection_name,omitempty"`
	Count          int      `json:"count,omitempty"`
	VendorIDs      []string `json:"vendor_ids,omitempty"`
}

// doc is the part of an event kept as JSON: everything that is not a searchable column.
type doc struct {
	Event   docMeta       `json:"event,omitzero"`
	User    event.User    `json:"user,omitzero"`
	File    event.File    `json:"file,omitzero"`
	Sharing event.Sharing `json:"sharing,omitzero"`
	Email   event.Email   `json:"email,omitzero"`
	Source  event.Source  `json:"source,omitzero"`
	Risk    event.Risk    `json:"risk,omitzero"`
}

// EventColumns lists the file_events columns InsertEvents writes, in order (the benchmark's bare
// driver inserts the same).
const EventColumns = `dedupe, held, observed, inserted, action, observer, connection_id, actor, file_id, file_name, directory,
size, category, owner, md5, sha256, exposure, link_scope, trusted, severity, doc`

// InsertEventSQL is the statement InsertEvents runs per event.
const InsertEventSQL = `INSERT INTO file_events (` + EventColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (dedupe) DO NOTHING RETURNING id`

// EventRow returns the column values InsertEvents stores for e.
func EventRow(e *event.FileEvent, held bool, inserted int64) ([]any, error) {
	d := doc{Event: docMeta{ConnectionName: e.Event.ConnectionName, Count: e.Event.Count, VendorIDs: e.Event.VendorIDs},
		User: e.User, File: e.File, Sharing: e.Sharing, Email: e.Email, Source: e.Source, Risk: e.Risk}
	d.User.Email = ""
	d.File.ID, d.File.Name, d.File.Directory, d.File.Size, d.File.Category, d.File.Owner = "", "", "", 0, "", ""
	d.File.Hash.MD5, d.File.Hash.SHA256 = "", ""
	d.Sharing.LinkScope, d.Sharing.Exposure = "", nil
	d.Risk.Trusted, d.Risk.Severity = false, ""
	js, err := json.Marshal(&d)
	if err != nil {
		return nil, err
	}
	key := e.DedupeKey()
	var size any
	if e.File.Size != 0 {
		size = e.File.Size
	}
	return []any{key[:], b2i(held), micros(e.Timestamp), inserted, string(e.Event.Action), string(e.Event.Observer),
		e.Event.ConnectionID, nullStr(e.User.Email), nullStr(e.File.ID), nullStr(e.File.Name), nullStr(e.File.Directory), size,
		nullStr(string(e.File.Category)), nullStr(e.File.Owner), nullStr(e.File.Hash.MD5), nullStr(e.File.Hash.SHA256),
		event.ExposureBits(e.Sharing.Exposure), nullStr(string(e.Sharing.LinkScope)), b2i(e.Risk.Trusted),
		nullStr(string(e.Risk.Severity)), js}, nil
}

// InsertEvents implements store.EventQueries.
func (q *Queries) InsertEvents(ctx context.Context, evs []*event.FileEvent, held bool) (int, error) {
	if len(evs) == 0 {
		return 0, nil
	}
	n := 0
	now := nowUTC().Truncate(time.Microsecond)
	err := q.inTx(ctx, func(q *Queries) error {
		st, err := q.w.PrepareContext(ctx, q.d.q(InsertEventSQL))
		if err != nil {
			return q.wrap("insert events: prepare", err)
		}
		defer st.Close()
		for _, e := range evs {
			args, err := EventRow(e, held, now.UnixMicro())
			if err != nil {
				return fmt.Errorf("store: insert events: encode: %w", err)
			}
			var id int64
			switch err := st.QueryRowContext(ctx, args...).Scan(&id); err {
			case nil:
				e.Event.ID, e.Event.Inserted = id, now
				n++
			case sql.ErrNoRows: // duplicate: stored once already
			default:
				return q.wrap("insert events", err)
			}
		}
		return nil
	})
	if err != nil {
		for _, e := range evs { // nothing was stored: do not claim otherwise
			e.Event.ID, e.Event.Inserted = 0, time.Time{}
		}
		return 0, err
	}
	return n, nil
}

const eventCols = `id, observed, inserted, action, observer, connection_id, actor, file_id, file_name, directory, size, category,
owner, md5, sha256, exposure, link_scope, trusted, severity, doc`

func scanEvent(s scanner) (event.FileEvent, error) {
	var (
		e                                                              event.FileEvent
		observed, inserted, exposure, trusted                          int64
		actor, fileID, name, dir, category, owner, md5, sha, link, sev sql.NullString
		size                                                           sql.NullInt64
		js                                                             []byte
		action, observer                                               string
	)
	if err := s.Scan(&e.Event.ID, &observed, &inserted, &action, &observer, &e.Event.ConnectionID, &actor, &fileID, &name, &dir,
		&size, &category, &owner, &md5, &sha, &exposure, &link, &trusted, &sev, &js); err != nil {
		return e, err
	}
	var d doc
	if err := json.Unmarshal(js, &d); err != nil {
		return e, fmt.Errorf("event %d: doc: %w", e.Event.ID, err)
	}
	e.User, e.File, e.Sharing, e.Email, e.Source, e.Risk = d.User, d.File, d.Sharing, d.Email, d.Source, d.Risk
	e.Event.ConnectionName, e.Event.Count, e.Event.VendorIDs = d.Event.ConnectionName, d.Event.Count, d.Event.VendorIDs
	e.Timestamp, e.Event.Inserted = fromMicros(observed), fromMicros(inserted)
	e.Event.Action, e.Event.Observer = event.Action(action), event.Observer(observer)
	e.User.Email, e.File.ID, e.File.Name, e.File.Directory = actor.String, fileID.String, name.String, dir.String
	e.File.Size, e.File.Category, e.File.Owner = size.Int64, event.Category(category.String), owner.String
	e.File.Hash.MD5, e.File.Hash.SHA256 = md5.String, sha.String
	e.Sharing.Exposure, e.Sharing.LinkScope = event.ExposuresFromBits(int(exposure)), event.LinkScope(link.String)
	e.Risk.Trusted, e.Risk.Severity = trusted != 0, event.Severity(sev.String)
	return e, nil
}

// GetEvent implements store.EventQueries. Held events are found too (by id).
func (q *Queries) GetEvent(ctx context.Context, id int64) (event.FileEvent, error) {
	e, err := scanEvent(q.r.QueryRowContext(ctx, q.d.q(`SELECT `+eventCols+` FROM file_events WHERE id = ?`), id))
	return e, q.wrap(fmt.Sprintf("get event %d", id), err)
}

func eventWhere(f store.EventFilter) (string, []any) {
	where, args := `id > ?`, []any{f.AfterID}
	if f.ConnectionID != 0 {
		where += ` AND connection_id = ?`
		args = append(args, f.ConnectionID)
	}
	if !f.IncludeHeld {
		where += ` AND held = 0`
	}
	return where, args
}

// ListEvents implements store.EventQueries.
func (q *Queries) ListEvents(ctx context.Context, f store.EventFilter) ([]event.FileEvent, error) {
	if f.Limit <= 0 {
		f.Limit = 1000
	}
	where, args := eventWhere(f)
	rows, err := q.r.QueryContext(ctx, q.d.q(`SELECT `+eventCols+` FROM file_events WHERE `+where+` ORDER BY id LIMIT ?`), append(args, f.Limit)...)
	if err != nil {
		return nil, q.wrap("list events", err)
	}
	defer rows.Close()
	var out []event.FileEvent
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, q.wrap("list events", err)
		}
		out = append(out, e)
	}
	return out, q.wrap("list events", rows.Err())
}

// CountEvents implements store.EventQueries (Limit is ignored).
func (q *Queries) CountEvents(ctx context.Context, f store.EventFilter) (int64, error) {
	where, args := eventWhere(f)
	var n int64
	err := q.r.QueryRowContext(ctx, q.d.q(`SELECT COUNT(*) FROM file_events WHERE `+where), args...).Scan(&n)
	return n, q.wrap("count events", err)
}

// ReleaseHeld implements store.EventQueries.
func (q *Queries) ReleaseHeld(ctx context.Context, connectionID int64) (int64, error) {
	res, err := q.w.ExecContext(ctx, q.d.q(`UPDATE file_events SET held = 0 WHERE connection_id = ? AND held = 1`), connectionID)
	if err != nil {
		return 0, q.wrap("release held events", err)
	}
	n, err := res.RowsAffected()
	return n, q.wrap("release held events", err)
}

// DeleteConnectionEvents implements store.EventQueries.
func (q *Queries) DeleteConnectionEvents(ctx context.Context, connectionID int64, limit int) (int64, error) {
	if limit <= 0 {
		limit = 5000
	}
	res, err := q.w.ExecContext(ctx, q.d.q(`DELETE FROM file_events WHERE id IN (SELECT id FROM file_events WHERE connection_id = ? ORDER BY id LIMIT ?)`), connectionID, limit)
	if err != nil {
		return 0, q.wrap("delete connection events", err)
	}
	n, err := res.RowsAffected()
	return n, q.wrap("delete connection events", err)
}
