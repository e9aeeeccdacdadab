package sqldb

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/store"
)

// nowUTC is the store's clock for the times it assigns itself (inserted, updated_at).
var nowUTC = func() time.Time { return time.Now().UTC() }

// doc is the compact, internal JSON of what of an event is not a column: short keys, times as Unix
// microseconds, and nothing that can be derived (the path when it is directory + name, the MIME type
// when it is the standard one for the extension, the connection name, which is read from the
// connections table). It is a storage format, not the public contract; the round trip of
// storetest's everyField event (every field set, found by reflection) fails when a field is added
// to event.FileEvent and not here.
type doc struct {
	E struct {
		C int      `json:"c,omitempty"` // count
		V []string `json:"v,omitempty"` // vendor ids
		F []string `json:"f,omitempty"` // feeds
		P []string `json:"p,omitempty"` // enriched fields, "field=feed"
	} `json:"e,omitzero"`
	U struct {
		V string `json:"v,omitempty"` // vendor id
		N string `json:"n,omitempty"` // name
	} `json:"u,omitzero"`
	F struct {
		P *string `json:"p,omitempty"` // path, when not directory + "/" + name
		M *string `json:"m,omitempty"` // MIME type, when not the standard one for the extension
		C int64   `json:"c,omitempty"` // created
		D int64   `json:"d,omitempty"` // modified
		U string  `json:"u,omitempty"` // url
		R string  `json:"r,omitempty"` // drive id
		O string  `json:"o,omitempty"` // original name
		Q string  `json:"q,omitempty"` // original directory
		S string  `json:"s,omitempty"` // sha1
		X string  `json:"x,omitempty"` // quick xor
	} `json:"f,omitzero"`
	S struct {
		W []string `json:"w,omitempty"` // shared with
		T []string `json:"t,omitempty"` // destinations' tenants (searched: tenant)
		D []string `json:"d,omitempty"` // the destination of each tenant in T
	} `json:"s,omitzero"`
	M struct {
		S string   `json:"s,omitempty"` // sender
		F string   `json:"f,omitempty"` // from
		R []string `json:"r,omitempty"` // recipients
		J string   `json:"j,omitempty"` // subject
		I string   `json:"i,omitempty"` // message id
	} `json:"m,omitzero"`
	O struct {
		I string `json:"i,omitempty"` // ip
		A string `json:"a,omitempty"` // user agent
	} `json:"o,omitzero"`
	R struct {
		R string      `json:"r,omitempty"` // trust reason
		I []string    `json:"i,omitempty"` // indicators (searched: risk.indicator)
		S int         `json:"s,omitempty"` // score (searched: risk.score)
		W []docReason `json:"w,omitempty"` // each indicator's weight and why
	} `json:"r,omitzero"`
	K struct { // a closed-vocabulary value outside its list, whose column holds code 0 (codes.go)
		A string `json:"a,omitempty"` // action
		O string `json:"o,omitempty"` // observer
		C string `json:"c,omitempty"` // category
		L string `json:"l,omitempty"` // link scope
		S string `json:"s,omitempty"` // severity
	} `json:"k,omitzero"`
}

// docReason is an event.Reason in the doc.
type docReason struct {
	I string `json:"i"`           // indicator
	W int    `json:"w"`           // weight
	Y string `json:"y,omitempty"` // why
}

func derivedPath(dir, name string) string {
	if dir == "" || name == "" {
		return ""
	}
	if strings.HasSuffix(dir, "/") {
		return dir + name
	}
	return dir + "/" + name
}

// standardMIME is the MIME type most files of an extension carry; storing it again per event is waste.
var standardMIME = map[string]string{
	"docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
	"xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
	"pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
	"doc":  "application/msword", "xls": "application/vnd.ms-excel", "ppt": "application/vnd.ms-powerpoint",
	"pdf": "application/pdf", "png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "gif": "image/gif",
	"csv": "text/csv", "txt": "text/plain", "zip": "application/zip", "mp4": "video/mp4", "json": "application/json",
	"html": "text/html", "mov": "video/quicktime", "mp3": "audio/mpeg", "eml": "message/rfc822",
}

func standardMIMEOf(name string) string {
	return standardMIME[strings.ToLower(strings.TrimPrefix(path.Ext(name), "."))]
}

func encodeDoc(e *event.FileEvent) ([]byte, error) {
	var d doc
	d.E.C, d.E.V, d.E.F = e.Event.Count, e.Event.VendorIDs, e.Event.Feeds
	for _, p := range e.Event.Enriched {
		d.E.P = append(d.E.P, p.Field+"="+p.Feed)
	}
	d.U.V, d.U.N = e.User.VendorID, e.User.Name
	f := &e.File
	if f.Path != derivedPath(f.Directory, f.Name) {
		p := f.Path
		d.F.P = &p
	}
	if f.MimeType != standardMIMEOf(f.Name) {
		m := f.MimeType
		d.F.M = &m
	}
	d.F.C, d.F.D, d.F.U, d.F.R, d.F.O, d.F.Q = micros(f.Created), micros(f.Modified), f.URL, f.DriveID, f.OriginalName, f.OriginalDirectory
	d.F.S, d.F.X = f.Hash.SHA1, f.Hash.QuickXor
	d.S.W = e.Sharing.SharedWith
	for _, t := range e.Sharing.Tenants {
		d.S.T, d.S.D = append(d.S.T, t.Tenant), append(d.S.D, t.To)
	}
	d.M.S, d.M.F, d.M.R, d.M.J, d.M.I = e.Email.Sender, e.Email.From, e.Email.Recipients, e.Email.Subject, e.Email.MessageID
	d.O.I, d.O.A = e.Source.IP, e.Source.UserAgent
	d.R.R, d.R.I, d.R.S = e.Risk.TrustReason, e.Risk.Indicators, e.Risk.Score
	if len(e.Risk.Reasons) > 0 {
		d.R.W = make([]docReason, len(e.Risk.Reasons))
		for i, r := range e.Risk.Reasons {
			d.R.W[i] = docReason{I: r.Indicator, W: r.Weight, Y: r.Why}
		}
	}
	d.K.A, d.K.O = actionCodes.other(string(e.Event.Action)), observerCodes.other(string(e.Event.Observer))
	d.K.C, d.K.L = categoryCodes.other(string(e.File.Category)), linkCodes.other(string(e.Sharing.LinkScope))
	d.K.S = severityCodes.other(string(e.Risk.Severity))
	return json.Marshal(&d)
}

// decodeDoc fills e (whose column fields are already set) from its doc.
func decodeDoc(js []byte, e *event.FileEvent) error {
	var d doc
	if err := unmarshalDoc(js, &d); err != nil {
		return err
	}
	e.Event.Count, e.Event.VendorIDs, e.Event.Feeds = d.E.C, d.E.V, d.E.F
	e.Event.Enriched = nil
	for _, p := range d.E.P {
		field, feed, _ := strings.Cut(p, "=")
		e.Event.Enriched = append(e.Event.Enriched, event.Provenance{Field: field, Feed: feed})
	}
	e.User.VendorID, e.User.Name = d.U.V, d.U.N
	f := &e.File
	f.Path, f.MimeType = derivedPath(f.Directory, f.Name), standardMIMEOf(f.Name)
	if d.F.P != nil {
		f.Path = *d.F.P
	}
	if d.F.M != nil {
		f.MimeType = *d.F.M
	}
	f.Created, f.Modified, f.URL, f.DriveID, f.OriginalName, f.OriginalDirectory = fromMicros(d.F.C), fromMicros(d.F.D), d.F.U, d.F.R, d.F.O, d.F.Q
	f.Hash.SHA1, f.Hash.QuickXor = d.F.S, d.F.X
	e.Sharing.SharedWith = d.S.W
	e.Sharing.Tenants = nil
	if len(d.S.T) != len(d.S.D) {
		return fmt.Errorf("doc: %d destination tenants for %d destinations", len(d.S.T), len(d.S.D))
	}
	for i, t := range d.S.T {
		e.Sharing.Tenants = append(e.Sharing.Tenants, event.DestinationTenant{To: d.S.D[i], Tenant: t})
	}
	e.Email = event.Email{Sender: d.M.S, From: d.M.F, Recipients: d.M.R, Subject: d.M.J, MessageID: d.M.I}
	e.Source = event.Source{IP: d.O.I, UserAgent: d.O.A}
	e.Risk.TrustReason, e.Risk.Indicators, e.Risk.Score = d.R.R, d.R.I, d.R.S
	e.Risk.Reasons = nil
	if len(d.R.W) > 0 {
		e.Risk.Reasons = make([]event.Reason, len(d.R.W))
		for i, r := range d.R.W {
			e.Risk.Reasons[i] = event.Reason{Indicator: r.I, Weight: r.W, Why: r.Y}
		}
	}
	// the values whose columns hold code 0 (scanColumns left them empty)
	for _, k := range []struct {
		from string
		to   *string
	}{{d.K.A, (*string)(&e.Event.Action)}, {d.K.O, (*string)(&e.Event.Observer)}, {d.K.C, (*string)(&e.File.Category)},
		{d.K.L, (*string)(&e.Sharing.LinkScope)}, {d.K.S, (*string)(&e.Risk.Severity)}} {
		if k.from != "" {
			*k.to = k.from
		}
	}
	return nil
}

// hexColumn stores a lowercase hex hash as bytes (half the size, in the row and its index).
func hexColumn(field, s string, size int) (any, error) {
	if s == "" {
		return nil, nil
	}
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != size || strings.ToLower(s) != s {
		return nil, fmt.Errorf("%s %q is not %d lowercase hex digits", field, s, 2*size)
	}
	return b, nil
}

// EventColumns lists the file_events columns InsertEvents writes, in order (the benchmark's bare
// driver inserts the same).
const EventColumns = `dedupe, held, observed, inserted, action, observer, connection_id, actor_id, file_id, file_name, directory,
size, category, owner_id, md5, sha256, exposure, link_scope, trusted, severity, doc`

// textAddressColumns is EventColumns before migration 0044 (Dialect.TextAddresses).
var textAddressColumns = strings.NewReplacer("actor_id", "actor", "owner_id", "owner").Replace(EventColumns)

// columns is the list of columns the handle's event inserts write.
func (q *Queries) columns() string {
	if q.d.TextAddresses {
		return textAddressColumns
	}
	return EventColumns
}

// InsertEventSQL is the statement InsertEvents runs per event where the driver reports inserted ids
// through sql.Result (SQLite). The id is SQLite's own choice (the largest + 1), except after
// DeleteConnectionEvents deleted the newest events: then it continues after the largest id ever
// handed out (event_id_floor, migration 0006), because an incremental export resumes after the last
// id it wrote.
const InsertEventSQL = `INSERT INTO file_events (id, ` + EventColumns + `) VALUES (
(SELECT id + 1 FROM event_id_floor WHERE id >= (SELECT COALESCE(MAX(id), 0) FROM file_events)),
?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (dedupe) DO NOTHING`

// EventRow returns the column values InsertEvents stores for e; ids holds the ids of its actor
// and owner (a missing one is an error).
func EventRow(e *event.FileEvent, held bool, inserted int64, ids AddressIDs) ([]any, error) {
	actor, err := ids.id(e.User.Email)
	if err != nil {
		return nil, err
	}
	owner, err := ids.id(e.File.Owner)
	if err != nil {
		return nil, err
	}
	js, err := encodeDoc(e)
	if err != nil {
		return nil, err
	}
	md5, err := hexColumn("file.hash.md5", e.File.Hash.MD5, 16)
	if err != nil {
		return nil, err
	}
	sha, err := hexColumn("file.hash.sha256", e.File.Hash.SHA256, 32)
	if err != nil {
		return nil, err
	}
	key := e.DedupeKey()
	var size any
	if e.File.Size != 0 {
		size = e.File.Size
	}
	// action and observer are NOT NULL: an empty one (which Validate refuses) is code 0, read back as ""
	return []any{key[:], b2i(held), micros(e.Timestamp), inserted, int64(actionCodes.codes[string(e.Event.Action)]),
		int64(observerCodes.codes[string(e.Event.Observer)]),
		e.Event.ConnectionID, actor, nullStr(e.File.ID), nullStr(e.File.Name), nullStr(e.File.Directory), size,
		categoryCodes.code(string(e.File.Category)), owner, md5, sha,
		event.ExposureBits(e.Sharing.Exposure), linkCodes.code(string(e.Sharing.LinkScope)), b2i(e.Risk.Trusted),
		severityCodes.code(string(e.Risk.Severity)), js}, nil
}

// id is the id of the address a, nil for none.
func (ids AddressIDs) id(a string) (any, error) {
	if a == "" {
		return nil, nil
	}
	id, ok := ids[a]
	if !ok {
		return nil, fmt.Errorf("address %q has no id", a)
	}
	return id, nil
}

// eventRow is EventRow, with the actor and owner as text on a database before migration 0044
// (DB.SetAddresses) and the vocabularies as text before 0039 (DB.SetEventCodes): migration tests
// only.
func (q *Queries) eventRow(e *event.FileEvent, held bool, inserted int64, ids AddressIDs) ([]any, error) {
	if q.d.TextAddresses {
		ids = AddressIDs{e.User.Email: 0, e.File.Owner: 0}
	}
	row, err := EventRow(e, held, inserted, ids)
	if err != nil {
		return row, err
	}
	if q.d.TextAddresses {
		row[7], row[13] = nullStr(e.User.Email), nullStr(e.File.Owner)
	}
	if !q.d.TextVocabularies {
		return row, nil
	}
	row[4], row[5] = string(e.Event.Action), string(e.Event.Observer)
	row[12], row[17], row[19] = nullStr(string(e.File.Category)), nullStr(string(e.Sharing.LinkScope)), nullStr(string(e.Risk.Severity))
	return row, nil
}

// checkHashes refuses an event whose hashes EventRow could not store.
func checkHashes(e *event.FileEvent) error {
	if _, err := hexColumn("file.hash.md5", e.File.Hash.MD5, 16); err != nil {
		return err
	}
	_, err := hexColumn("file.hash.sha256", e.File.Hash.SHA256, 32)
	return err
}

// InsertEvents implements store.EventQueries.
func (q *Queries) InsertEvents(ctx context.Context, evs []*event.FileEvent, held bool) (int, error) {
	if len(evs) == 0 {
		return 0, nil
	}
	// A vendor's NUL or non-UTF-8 bytes become U+FFFD in the events themselves, before their
	// rows, keys and counts are made: the caller goes on with the event as stored.
	for _, e := range evs {
		e.CleanText()
	}
	n := 0
	now := nowUTC().Truncate(time.Microsecond)
	err := q.inTx(ctx, func(q *Queries) error {
		if err := q.markEvents(ctx); err != nil {
			return q.wrap("insert events: mark", err)
		}
		ids, err := q.addressIDs(ctx, evs)
		if err != nil {
			return err
		}
		var inserted []*event.FileEvent
		if q.d.CopyFrom != nil && q.conn != nil {
			var err error
			if n, err = q.insertCopy(ctx, evs, held, now, ids, &inserted); err != nil {
				return err
			}
			return q.addCounts(ctx, inserted)
		}
		if !q.d.LastInsertID {
			var err error
			if n, err = q.insertChunks(ctx, evs, held, now, ids, InsertChunk, &inserted); err != nil {
				return err
			}
			return q.addCounts(ctx, inserted)
		}
		// SQLite: multi-row statements of SQLiteInsertChunk events, unless event_id_floor is above
		// the largest id (the newest events were deleted): then InsertEventSQL, one event a
		// statement, places the ids above the floor. One statement per 500 rows instead of per row
		// spares SQLite a statement journal and an FTS5 flush of the name index per row.
		var ahead bool
		if err := q.w.QueryRowContext(ctx, `SELECT COALESCE((SELECT id FROM event_id_floor), 0) > COALESCE((SELECT MAX(id) FROM file_events), 0)`).Scan(&ahead); err != nil {
			return q.wrap("insert events: id floor", err)
		}
		if !ahead {
			var err error
			if n, err = q.insertChunks(ctx, evs, held, now, ids, SQLiteInsertChunk, &inserted); err != nil {
				return err
			}
			return q.addCounts(ctx, inserted)
		}
		st, err := q.w.PrepareContext(ctx, q.d.q(strings.Replace(InsertEventSQL, EventColumns, q.columns(), 1)))
		if err != nil {
			return q.wrap("insert events: prepare", err)
		}
		defer st.Close()
		for _, e := range evs {
			args, err := q.eventRow(e, held, now.UnixMicro(), ids)
			if err != nil {
				return fmt.Errorf("store: insert events: %w", err)
			}
			res, err := st.ExecContext(ctx, args...)
			if err != nil {
				return q.wrap("insert events", err)
			}
			if k, err := res.RowsAffected(); err != nil {
				return q.wrap("insert events", err)
			} else if k == 0 {
				continue // a duplicate: stored once already
			}
			id, err := res.LastInsertId()
			if err != nil {
				return q.wrap("insert events", err)
			}
			e.Event.ID, e.Event.Inserted = id, now
			inserted = append(inserted, e)
			n++
		}
		return q.addCounts(ctx, inserted)
	})
	if err != nil {
		for _, e := range evs { // nothing was stored: do not claim otherwise
			e.Event.ID, e.Event.Inserted = 0, time.Time{}
		}
		return 0, err
	}
	return n, nil
}

// addCounts adds the inserted events to the counts kept with them: the per-person risk and the
// dashboards'.
func (q *Queries) addCounts(ctx context.Context, inserted []*event.FileEvent) error {
	if err := q.addPersonRisk(ctx, inserted); err != nil {
		return err
	}
	return q.addDashboards(ctx, inserted)
}

// InsertChunk is how many events one multi-row INSERT carries on a driver with neither
// LastInsertID nor CopyFrom: one round trip per chunk instead of one per event.
const InsertChunk = 100

// SQLiteInsertChunk is how many events one multi-row INSERT carries on SQLite (21 parameters a row;
// SQLite allows 32,766 a statement).
const SQLiteInsertChunk = 500

// MultiRowInsert returns the statement inserting n rows of EventColumns, with suffix appended.
func MultiRowInsert(n int, suffix string) string { return multiRowInsert(EventColumns, n, suffix) }

func multiRowInsert(cols string, n int, suffix string) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO file_events (` + cols + `) VALUES `)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
	}
	b.WriteString(suffix)
	return b.String()
}

// insertChunks inserts in multi-row statements and maps the returned ids back by dedupe key.
func (q *Queries) insertChunks(ctx context.Context, evs []*event.FileEvent, held bool, now time.Time, ids AddressIDs, chunk int, inserted *[]*event.FileEvent) (int, error) {
	n := 0
	for start := 0; start < len(evs); start += chunk {
		part := evs[start:min(start+chunk, len(evs))]
		args := make([]any, 0, len(part)*21)
		keys := make([]string, len(part))
		for i, e := range part {
			row, err := q.eventRow(e, held, now.UnixMicro(), ids)
			if err != nil {
				return 0, fmt.Errorf("store: insert events: %w", err)
			}
			keys[i] = string(row[0].([]byte))
			args = append(args, row...)
		}
		rows, err := q.w.QueryContext(ctx, q.d.q(multiRowInsert(q.columns(), len(part), ` ON CONFLICT (dedupe) DO NOTHING RETURNING id, dedupe`)), args...)
		if err != nil {
			return 0, q.wrap("insert events", err)
		}
		ids := make(map[string]int64, len(part))
		for rows.Next() {
			var id int64
			var key []byte
			if err := rows.Scan(&id, &key); err != nil {
				rows.Close()
				return 0, q.wrap("insert events", err)
			}
			ids[string(key)] = id
		}
		if err := rows.Close(); err != nil {
			return 0, q.wrap("insert events", err)
		}
		if err := rows.Err(); err != nil {
			return 0, q.wrap("insert events", err)
		}
		for i, e := range part {
			if id, ok := ids[keys[i]]; ok {
				e.Event.ID, e.Event.Inserted = id, now
				delete(ids, keys[i]) // a second event with the same key in this chunk was a duplicate
				*inserted = append(*inserted, e)
				n++
			}
		}
	}
	return n, nil
}

// insertCopy inserts on PostgreSQL with COPY, which skips nothing, so it claims the keys first in
// event_keys (the dedupe keys of every stored event, unique across the time partitions of
// file_events, migration 0037): by a COPY of them in a savepoint (copyKeys), which the unique
// index refuses if one is stored already, and then (only then) by one INSERT that returns the
// keys it did not hold yet, ON CONFLICT DO NOTHING dropping both the keys already stored and the
// repeats within the call (the first event of a key is stored, as before; claimKeys). One query
// draws the new ids from the table's sequence in order, and one COPY writes the rows with them.
// Under the transaction's EventLock (every event insert holds it) the ids are drawn in commit
// order; a concurrent insert of the same key waits on the claimed key's row and then skips it (or,
// in copyKeys, fails and falls back to claimKeys), so nothing is stored twice.
func (q *Queries) insertCopy(ctx context.Context, evs []*event.FileEvent, held bool, now time.Time, ids AddressIDs, inserted *[]*event.FileEvent) (int, error) {
	// The keys first, and every event's hashes checked (a malformed one refuses the call, a
	// duplicate's too); the rows themselves, with their docs, are made as COPY sends them.
	keys := make([][]byte, len(evs))
	for i, e := range evs {
		if err := checkHashes(e); err != nil {
			return 0, fmt.Errorf("store: insert events: %w", err)
		}
		k := e.DedupeKey()
		keys[i] = k[:]
	}
	// The usual page holds no key stored before: its keys are copied into event_keys, a plain
	// insert, in a savepoint, and every event is fresh; only a page with a repeat (a unique
	// violation aborts the COPY) rolls back to it and claims its keys as below.
	var fresh []int
	copied := false
	if q.tryKeyCopy() {
		var err error
		if copied, err = q.copyKeys(ctx, keys); err != nil {
			return 0, err
		}
		if !copied && q.keyCopySkip != nil {
			q.keyCopySkip.Store(keyCopyBackoff)
		}
	}
	if copied {
		fresh = make([]int, len(evs))
		for i := range fresh {
			fresh[i] = i
		}
	} else {
		claimed := make(map[string]bool, len(evs))
		if err := q.claimKeys(ctx, keys, claimed); err != nil {
			return 0, err
		}
		for i := range evs {
			if k := string(keys[i]); claimed[k] {
				delete(claimed, k) // a later event with the same key in this call is a duplicate
				fresh = append(fresh, i)
			}
		}
	}
	if len(fresh) == 0 {
		return 0, nil
	}
	return q.copyEvents(ctx, evs, fresh, held, now, ids, inserted)
}

// keyCopyBackoff is how many event inserts of a DB after one whose keys could not all be copied
// (a repeat) claim their keys by claimKeys directly: repeats come in runs (a collector reading an
// overlapping window again, a vendor redelivering a page), and each refused COPY is wasted work
// and an ERROR line in PostgreSQL's log ("duplicate key value violates unique constraint
// event_keys_pkey"), expected and harmless (docs/OPERATIONS.md).
const keyCopyBackoff = 16

// tryKeyCopy says whether this insert claims its keys by copyKeys first: on PostgreSQL from
// migration 0039 on, within the transaction's savepoint budget, and not right after a repeat.
func (q *Queries) tryKeyCopy() bool {
	if q.d.TextVocabularies || q.d.NoEventKeys || q.keyCopies >= maxKeyCopies {
		return false
	}
	if q.keyCopySkip != nil {
		for {
			n := q.keyCopySkip.Load()
			if n <= 0 {
				break
			}
			if q.keyCopySkip.CompareAndSwap(n, n-1) {
				return false
			}
		}
	}
	q.keyCopies++
	return true
}

// maxKeyCopies bounds the savepoints copyKeys makes in one transaction: PostgreSQL keeps the
// first 64 subtransactions of a transaction in shared memory, and past them every other session's
// snapshot must look them up in pg_subtrans (a known slowdown of the whole server). A
// transaction of many InsertEvents calls claims the rest of its keys by claimKeys alone.
const maxKeyCopies = 32

// copyKeys claims the keys by COPY into event_keys in a savepoint when none of them is stored
// yet and none repeats in the call, and says whether it did; it claims none, the savepoint
// rolled back, when one is (the unique index refuses the COPY: claimKeys then sorts them out).
// An insert of the same key by another transaction that has not committed makes the COPY wait
// for it, as the ON CONFLICT of claimKeys does.
func (q *Queries) copyKeys(ctx context.Context, keys [][]byte) (bool, error) {
	seen := make(map[string]bool, len(keys))
	rows := make([][]any, 0, len(keys))
	for _, k := range keys {
		if seen[string(k)] {
			return false, nil // a repeat within the call: claimKeys keeps the first
		}
		seen[string(k)] = true
		rows = append(rows, []any{k})
	}
	// In key order, as claimKeys: two writers side by side that hold some key in common (a
	// stream's page read again by the node taking its lease over) wait for each other instead of
	// deadlocking.
	slices.SortFunc(rows, func(a, b []any) int { return bytes.Compare(a[0].([]byte), b[0].([]byte)) })
	if _, err := q.w.ExecContext(ctx, `SAVEPOINT claim_keys`); err != nil {
		return false, q.wrap("insert events: dedupe", err)
	}
	err := q.conn.Raw(func(dc any) error {
		n, err := q.d.CopyFrom(ctx, dc, "event_keys", []string{"dedupe"}, CopyRows(rows))
		if err == nil && n != int64(len(rows)) {
			err = fmt.Errorf("copied %d keys of %d", n, len(rows))
		}
		return err
	})
	if err == nil { // the savepoint is left to the commit: releasing it would cost a round trip
		return true, nil
	}
	if !q.d.IsUnique(err) {
		return false, q.wrap("insert events: dedupe", err)
	}
	if _, err := q.w.ExecContext(ctx, `ROLLBACK TO SAVEPOINT claim_keys`); err != nil {
		return false, q.wrap("insert events: dedupe", err)
	}
	return false, nil
}

// claimKeys claims the keys not stored yet, one INSERT ... ON CONFLICT DO NOTHING for all,
// into claimed.
func (q *Queries) claimKeys(ctx context.Context, keys [][]byte, claimed map[string]bool) error {
	// The key is a uuid column (migration 0039): the same 16 bytes, passed as bytes (pgx encodes a
	// 16-byte slice as a uuid) and read back as bytes (uuid_send).
	claim := `INSERT INTO event_keys (dedupe) SELECT unnest($1::uuid[]) ON CONFLICT DO NOTHING RETURNING uuid_send(dedupe)`
	if q.d.TextVocabularies { // before migration 0039: the keys are bytea
		claim = `INSERT INTO event_keys (dedupe) SELECT unnest($1::bytea[]) ON CONFLICT DO NOTHING RETURNING dedupe`
	}
	if q.d.NoEventKeys { // before migration 0037: the keys not stored yet
		claim = `SELECT k FROM unnest($1::bytea[]) k WHERE NOT EXISTS (SELECT 1 FROM file_events WHERE dedupe = k)`
	}
	sorted := slices.Clone(keys) // one order for every writer (copyKeys)
	slices.SortFunc(sorted, bytes.Compare)
	rs, err := q.w.QueryContext(ctx, claim, sorted)
	if err != nil {
		return q.wrap("insert events: dedupe", err)
	}
	for rs.Next() {
		var k []byte
		if err := rs.Scan(&k); err != nil {
			rs.Close()
			return q.wrap("insert events: dedupe", err)
		}
		claimed[string(k)] = true
	}
	if err := rs.Close(); err != nil {
		return q.wrap("insert events: dedupe", err)
	}
	return q.wrap("insert events: dedupe", rs.Err())
}

// copyEvents stores the events evs[fresh[...]], whose keys are claimed: ids drawn from the
// sequence, then one COPY.
func (q *Queries) copyEvents(ctx context.Context, evs []*event.FileEvent, fresh []int, held bool, now time.Time, addrs AddressIDs, inserted *[]*event.FileEvent) (int, error) {
	ids := make([]int64, 0, len(fresh))
	// The sequence by its name (migrations 0001 and 0037 keep it): pg_get_serial_sequence is
	// evaluated per row, a catalog look-up that made drawing 5,000 ids 10 to 20 times slower
	// (16-30 ms against 1.4-1.6 ms; about 5 us of server time per stored event).
	rs, err := q.w.QueryContext(ctx, `SELECT nextval('file_events_id_seq') FROM generate_series(1, $1::int)`, len(fresh))
	if err != nil {
		return 0, q.wrap("insert events: ids", err)
	}
	for rs.Next() {
		var id int64
		if err := rs.Scan(&id); err != nil {
			rs.Close()
			return 0, q.wrap("insert events: ids", err)
		}
		ids = append(ids, id)
	}
	if err := rs.Close(); err != nil {
		return 0, q.wrap("insert events: ids", err)
	}
	if err := rs.Err(); err != nil {
		return 0, q.wrap("insert events: ids", err)
	}
	if len(ids) != len(fresh) {
		return 0, fmt.Errorf("store: insert events: the sequence gave %d ids for %d events", len(ids), len(fresh))
	}
	slices.Sort(ids)
	src := CopyFunc(len(fresh), func(j int) ([]any, error) {
		row, err := q.eventRow(evs[fresh[j]], held, now.UnixMicro(), addrs)
		if err != nil {
			return nil, err
		}
		return append([]any{ids[j]}, row...), nil
	})
	err = q.conn.Raw(func(dc any) error {
		n, err := q.d.CopyFrom(ctx, dc, "file_events", append([]string{"id"}, strings.Fields(strings.ReplaceAll(q.columns(), ",", " "))...), src)
		if err == nil && n != int64(len(fresh)) {
			err = fmt.Errorf("copied %d rows of %d", n, len(fresh))
		}
		return err
	})
	if src.Err() != nil { // a row that could not be made: the event's fault, not the database's
		return 0, fmt.Errorf("store: insert events: %w", src.Err())
	}
	if err != nil {
		return 0, q.wrap("insert events: copy", err)
	}
	for j, i := range fresh {
		evs[i].Event.ID, evs[i].Event.Inserted = ids[j], now
		*inserted = append(*inserted, evs[i])
	}
	return len(fresh), nil
}

// eventCols are the columns scanColumns reads; their FROM joins the connection (c), as eventFrom
// does. The actor and owner are ids, named by nameEvents.
const eventCols = `e.id, e.observed, e.inserted, e.action, e.observer, e.connection_id, e.actor_id, e.file_id, e.file_name,
e.directory, e.size, e.category, e.owner_id, e.md5, e.sha256, e.exposure, e.link_scope, e.trusted, e.severity, e.doc, COALESCE(c.name, '')`

// eventFrom joins the connection for its current display name.
const eventFrom = ` FROM file_events e` + connectionJoin

// selectEvents is SELECT eventCols eventFrom, or its form before migration 0044 on a handle of
// such a database (Dialect.TextAddresses: the migration tests' updates read the event first).
func (q *Queries) selectEvents() string { return q.selectEventsFrom("file_events") }

// selectEventsFrom is selectEvents from table (file_events or one of its partitions) as e.
func (q *Queries) selectEventsFrom(table string) string {
	cols := eventCols
	if q.d.TextAddresses {
		cols = strings.NewReplacer("e.actor_id", "e.actor", "e.owner_id", "e.owner").Replace(eventCols)
	}
	return `SELECT ` + cols + ` FROM ` + table + ` e` + connectionJoin
}

// connectionJoin joins the event e's connection (c).
const connectionJoin = ` LEFT JOIN connections c ON c.id = e.connection_id `

// scanEvent reads one row of eventCols; its actor and owner are ids until nameEvents.
func scanEvent(s scanner) (event.FileEvent, addrRef, error) {
	e, js, ref, err := scanColumns(s)
	if err != nil {
		return e, ref, err
	}
	if err := decodeDoc(js, &e); err != nil {
		return e, ref, fmt.Errorf("event %d: doc: %w", e.Event.ID, err)
	}
	return e, ref, nil
}

// readEvent reads the one event of query (columns eventCols) on qr, with its actor and owner.
func (q *Queries) readEvent(ctx context.Context, qr querier, query string, args ...any) (event.FileEvent, error) {
	e, ref, err := scanEvent(qr.QueryRowContext(ctx, q.d.q(query), args...))
	if err != nil {
		return e, err
	}
	return e, q.nameEvent(ctx, &e, ref)
}

// scanColumns reads the columns of eventCols into an event and returns its doc undecoded, and the
// ids of its actor and owner (nameEvents); on a database before migration 0044 the columns hold
// the addresses themselves, which it sets.
func scanColumns(s scanner) (event.FileEvent, []byte, addrRef, error) {
	var (
		e                                     event.FileEvent
		observed, inserted, exposure, trusted int64
		action, observer                      int64
		actor, owner                          any
		fileID, name, dir                     sql.NullString
		category, link, sev                   sql.NullInt64
		md5, sha                              []byte
		size                                  sql.NullInt64
		js                                    []byte
		ref                                   addrRef
	)
	if err := s.Scan(&e.Event.ID, &observed, &inserted, &action, &observer, &e.Event.ConnectionID, &actor, &fileID, &name, &dir,
		&size, &category, &owner, &md5, &sha, &exposure, &link, &trusted, &sev, &js, &e.Event.ConnectionName); err != nil {
		return e, nil, ref, err
	}
	for _, c := range []struct {
		v    any
		id   *int64
		text *string
	}{{actor, &ref.actor, &e.User.Email}, {owner, &ref.owner, &e.File.Owner}} {
		switch v := c.v.(type) {
		case int64:
			*c.id = v
		case int32:
			*c.id = int64(v)
		case string:
			*c.text = v
		case []byte:
			*c.text = string(v)
		case nil:
		default:
			return e, nil, ref, fmt.Errorf("event %d: an actor or owner of type %T", e.Event.ID, v)
		}
	}
	e.Timestamp, e.Event.Inserted = fromMicros(observed), fromMicros(inserted)
	// codes (codes.go); a code 0's text is in the doc (decodeDoc)
	e.Event.Action, e.Event.Observer = event.Action(actionCodes.text(action, true)), event.Observer(observerCodes.text(observer, true))
	e.File.ID, e.File.Name, e.File.Directory = fileID.String, name.String, dir.String
	e.File.Size, e.File.Category = size.Int64, event.Category(categoryCodes.text(category.Int64, category.Valid))
	e.File.Hash.MD5, e.File.Hash.SHA256 = hex.EncodeToString(md5), hex.EncodeToString(sha)
	e.Sharing.Exposure, e.Sharing.LinkScope = event.ExposuresFromBits(int(exposure)), event.LinkScope(linkCodes.text(link.Int64, link.Valid))
	e.Risk.Trusted, e.Risk.Severity = trusted != 0, event.Severity(severityCodes.text(sev.Int64, sev.Valid))
	return e, js, ref, nil
}

// decodeDocs decodes docs[i] into evs[i]; a large page is split across the CPUs (decoding the
// JSON is about a quarter of reading a page: an export reads pages of 5,000).
func decodeDocs(evs []event.FileEvent, docs [][]byte) error {
	parts := runtime.GOMAXPROCS(0)
	if len(evs) < 1000 || parts < 2 {
		parts = 1
	}
	errs := make([]error, parts)
	var wg sync.WaitGroup
	for p := range parts {
		lo, hi := p*len(evs)/parts, (p+1)*len(evs)/parts
		wg.Go(func() {
			for i := lo; i < hi; i++ {
				if err := decodeDoc(docs[i], &evs[i]); err != nil {
					errs[p] = fmt.Errorf("event %d: doc: %w", evs[i].Event.ID, err)
					return
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// markEvents takes the transaction's event mark before it draws event ids (Dialect.EventMark),
// once per transaction (a mark taken again would only be higher: the first one stands).
func (q *Queries) markEvents(ctx context.Context) error {
	if q.d.EventMark == "" || q.marked {
		return nil
	}
	mark := q.d.EventMark
	if q.d.ExclusiveEvents {
		mark = q.d.EventLock
	}
	if _, err := q.w.ExecContext(ctx, mark); err != nil {
		return err
	}
	q.marked = true
	return nil
}

// SetExclusiveEventWriters makes this handle's event writers run one at a time under the event
// lock held exclusive, as before migration 0045: for the benchmark that compares the two (bench
// writers). Nothing else should call it.
func (db *DB) SetExclusiveEventWriters(on bool) { db.d.ExclusiveEvents = on }

// EventHorizon implements store.EventQueries: on PostgreSQL the horizon of migration 0045, on
// SQLite (one writer, ids visible in the order drawn) no bound.
func (q *Queries) EventHorizon(ctx context.Context) (int64, error) {
	if q.d.EventHorizon == "" {
		return math.MaxInt64, nil
	}
	var h int64
	err := q.r.QueryRowContext(ctx, q.d.EventHorizon).Scan(&h)
	return h, q.wrap("event horizon", err)
}

// GetEvent implements store.EventQueries. Held events are found too (by id).
func (q *Queries) GetEvent(ctx context.Context, id int64) (event.FileEvent, error) {
	e, err := q.readEvent(ctx, q.r, `SELECT `+eventCols+eventFrom+`WHERE e.id = ?`, id)
	return e, q.wrap(fmt.Sprintf("get event %d", id), err)
}

func eventWhere(f store.EventFilter) (string, []any) {
	where, args := `e.id > ?`, []any{f.AfterID}
	if f.ConnectionID != 0 {
		where += ` AND e.connection_id = ?`
		args = append(args, f.ConnectionID)
	}
	if !f.IncludeHeld {
		where += ` AND e.held = 0`
	}
	return where, args
}

// ListEvents implements store.EventQueries.
func (q *Queries) ListEvents(ctx context.Context, f store.EventFilter) ([]event.FileEvent, error) {
	if f.Limit <= 0 {
		f.Limit = 1000
	}
	where, args := eventWhere(f)
	// Up to the horizon only: a follower that resumes after the last id it read must not have
	// passed an id that commits later. The horizon is read first, the events in a later
	// statement (a later snapshot, which sees every id up to it).
	h, err := q.EventHorizon(ctx)
	if err != nil {
		return nil, err
	}
	if h != math.MaxInt64 {
		where += ` AND e.id <= ?`
		args = append(args, h)
	}
	rows, err := q.r.QueryContext(ctx, q.d.q(`SELECT `+eventCols+eventFrom+`WHERE `+where+` ORDER BY e.id LIMIT ?`), append(args, f.Limit)...)
	if err != nil {
		return nil, q.wrap("list events", err)
	}
	out, err := q.scanEvents(ctx, rows)
	return out, q.wrap("list events", err)
}

// scanEvents reads every row of rows (columns eventCols), closes them, and names the events'
// actors and owners.
func (q *Queries) scanEvents(ctx context.Context, rows *sql.Rows) ([]event.FileEvent, error) {
	defer rows.Close()
	var out []event.FileEvent
	var refs []addrRef
	for rows.Next() {
		e, ref, err := scanEvent(rows)
		if err != nil {
			return nil, err
		}
		out, refs = append(out, e), append(refs, ref)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	return out, q.nameEvents(ctx, out, refs)
}

// CountEvents implements store.EventQueries (Limit is ignored).
func (q *Queries) CountEvents(ctx context.Context, f store.EventFilter) (int64, error) {
	where, args := eventWhere(f)
	var n int64
	err := q.r.QueryRowContext(ctx, q.d.q(`SELECT COUNT(*) FROM file_events e WHERE `+where), args...).Scan(&n)
	return n, q.wrap("count events", err)
}

// ReleaseHeld implements store.EventQueries. The released events get new ids, after every event
// stored so far and in their old order: they become visible now, and an incremental export that has
// already passed their old ids (it resumes after the last id it wrote) must still get them.
func (q *Queries) ReleaseHeld(ctx context.Context, connectionID int64) (int64, error) {
	var n int64
	err := q.inTx(ctx, func(q *Queries) error {
		var res sql.Result
		var err error
		if q.d.Name == "postgres" {
			// Alone (no event writer beside it), and marked: the new ids are drawn below.
			if _, err := q.w.ExecContext(ctx, q.d.EventLock); err != nil {
				return err
			}
			if err := q.markEvents(ctx); err != nil {
				return err
			}
			// nextval runs in the order of the ordered subquery: the new ids keep the old order. The
			// CTE is computed once, so the hash jobs of the events follow them to the same new ids.
			res, err = q.w.ExecContext(ctx, q.d.q(`WITH n AS MATERIALIZED (
  SELECT id, nextval('file_events_id_seq') AS new_id
  FROM (SELECT id FROM file_events WHERE connection_id = ? AND held = 1 ORDER BY id) h),
j AS (UPDATE hash_jobs SET event_id = n.new_id FROM n WHERE hash_jobs.event_id = n.id)
UPDATE file_events e SET held = 0, id = n.new_id FROM n WHERE e.id = n.id`), connectionID)
		} else {
			// One shift moves every held id above the largest id handed out: no new id can collide
			// with a stored one, and the order is kept.
			var lo sql.NullInt64
			var top int64
			if err := q.w.QueryRowContext(ctx, `SELECT MIN(id) FROM file_events WHERE connection_id = ? AND held = 1`, connectionID).Scan(&lo); err != nil {
				return err
			}
			if !lo.Valid {
				return nil
			}
			if err := q.w.QueryRowContext(ctx, `SELECT MAX(COALESCE(MAX(id), 0), COALESCE((SELECT id FROM event_id_floor), 0)) FROM file_events`).Scan(&top); err != nil {
				return err
			}
			shift := top + 1 - lo.Int64
			if _, err := q.w.ExecContext(ctx, `UPDATE hash_jobs SET event_id = event_id + ?
WHERE event_id IN (SELECT id FROM file_events WHERE connection_id = ? AND held = 1)`, shift, connectionID); err != nil {
				return err
			}
			res, err = q.w.ExecContext(ctx, `UPDATE file_events SET held = 0, id = id + ? WHERE connection_id = ? AND held = 1`, shift, connectionID)
		}
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, q.wrap("release held events", err)
}

// keepIDFloor runs before events are deleted: on SQLite, which would hand the largest ids out again
// once they are deleted, it remembers the largest id for InsertEventSQL. PostgreSQL's sequence never
// goes back.
func (q *Queries) keepIDFloor(ctx context.Context) error {
	if q.d.Name != "sqlite" {
		return nil
	}
	_, err := q.w.ExecContext(ctx, `INSERT INTO event_id_floor (k, id) SELECT 1, id FROM file_events WHERE true ORDER BY id DESC LIMIT 1
ON CONFLICT (k) DO UPDATE SET id = MAX(id, excluded.id)`)
	return err
}

// DeleteConnectionEvents implements store.EventQueries.
func (q *Queries) DeleteConnectionEvents(ctx context.Context, connectionID int64, limit int) (int64, error) {
	if limit <= 0 {
		limit = 5000
	}
	var n int64
	err := q.inTx(ctx, func(q *Queries) error {
		if err := q.keepIDFloor(ctx); err != nil {
			return err
		}
		// Events a case on legal hold keeps stay (cases.go).
		ids := `SELECT id FROM file_events WHERE connection_id = ? AND NOT ` + heldEvent + ` ORDER BY id LIMIT ?`
		if err := q.takeBackDashboards(ctx, ids, connectionID, limit); err != nil {
			return err
		}
		var err error
		n, err = q.deleteEvents(ctx, `id IN (`+ids+`)`, connectionID, limit)
		return err
	})
	return n, q.wrap("delete connection events", err)
}

// deleteEvents deletes the events matching where (a condition on file_events, unaliased) and
// returns how many. On PostgreSQL their keys leave event_keys in the same statement, so that the
// same event can be stored again later, as on SQLite, whose unique index goes with the row.
func (q *Queries) deleteEvents(ctx context.Context, where string, args ...any) (int64, error) {
	if q.d.Name == "postgres" && !q.d.NoEventKeys {
		var n int64
		err := q.w.QueryRowContext(ctx, q.d.q(`WITH d AS (DELETE FROM file_events WHERE `+where+` RETURNING dedupe),
k AS (DELETE FROM event_keys WHERE dedupe IN (SELECT dedupe FROM d))
SELECT COUNT(*) FROM d`), args...).Scan(&n)
		return n, err
	}
	res, err := q.w.ExecContext(ctx, q.d.q(`DELETE FROM file_events WHERE `+where), args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
