package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/telltale-dev/telltale/internal/store"
)

// Dialect is what differs between drivers.
type Dialect struct {
	Name       string
	Numbered   bool   // placeholders are $1, $2 (PostgreSQL) instead of ?
	SkipLocked string // appended to the claim subquery: " FOR UPDATE SKIP LOCKED" on PostgreSQL
	IsUnique   func(error) bool
	// LastInsertID: the driver reports inserted row ids through sql.Result (SQLite), so inserts can
	// use Exec instead of RETURNING, which costs a result set per row.
	LastInsertID bool
	// CopyFrom, when set (PostgreSQL), bulk-loads rows with the driver's COPY on the connection
	// of the current transaction (driverConn is what sql.Conn.Raw hands over): InTx then runs its
	// transactions on a dedicated *sql.Conn so that InsertEvents can reach it (insertCopy).
	// The rows come from src as the driver sends them, so what makes a row (an event's doc, say)
	// runs while the server stores the rows before it.
	CopyFrom func(ctx context.Context, driverConn any, table string, columns []string, src CopySource) (int64, error)
	// MigrationLock is run first inside the migration transaction (an advisory lock on PostgreSQL).
	MigrationLock string
	// Event ids are the cursors of every follower of the events (the alert evaluator, forwarding,
	// incremental exports): a follower that has read up to id N must never find an id <= N
	// committed later. SQLite has a single writer and needs nothing. PostgreSQL draws ids from a
	// sequence outside commit order, so (migration 0045, docs/ARCHITECTURE.md "Event ids"):
	//
	// EventMark is run inside a transaction before it draws event ids. It holds the event lock
	// shared (event writers run side by side) and a shared advisory lock whose key carries the
	// sequence's value before the draw (the mark; every id this transaction draws is above it)
	// until the transaction ends.
	EventMark string
	// EventHorizon returns the largest id up to which every event that will ever be visible is
	// visible now: the smallest mark of the transactions in flight, or the sequence's value when
	// none is. Followers read ids up to it only, in a statement after it (a later snapshot).
	EventHorizon string
	// EventLock is run inside a transaction that must run with no event writer beside it (moving
	// rows between partitions, releasing held events under new ids): the event lock exclusive,
	// which waits for the writers holding it shared.
	EventLock string
	// ExclusiveEvents makes event writers take EventLock instead of EventMark, one at a time, as
	// they did before migration 0045 (DB.SetExclusiveEventWriters: for the benchmark comparing
	// the two only: the writers take no mark then, so a follower reading meanwhile could pass an
	// id that commits later).
	ExclusiveEvents bool
	// UpdateLock is run inside a transaction before it appends to event_updates, whose ids its
	// follower (the alert evaluator) reads in order: updates run one at a time.
	UpdateLock string
	// CacheStatements keeps the writer's statements prepared (stmtcache.go): SQLite parses each
	// statement it prepares. pgx caches prepared statements per connection already.
	CacheStatements bool
	// NoDashboards leaves the dashboards' counts out of event inserts and updates (DB.SetDashboards:
	// for the benchmark measuring their cost only).
	NoDashboards bool
	// NoEventKeys: the database predates event_keys (PostgreSQL migration 0037), and its
	// file_events has the unique dedupe index instead (DB.SetEventKeys: migration tests only).
	NoEventKeys bool
	// TextVocabularies: the database predates migration 0039, and file_events holds action,
	// observer, category, link_scope and severity as text, and its doc no "k" (DB.SetEventCodes:
	// migration tests only; the handle only inserts events there).
	TextVocabularies bool
	// TextAddresses: the database predates migration 0044, and file_events holds the actor and
	// owner as text, not as ids into addresses (DB.SetAddresses, and DB.SetEventCodes off:
	// migration tests only; the handle only inserts events there).
	TextAddresses bool
	// Arrays: the driver takes Go slices ([]int64, []string) as array parameters (pgx), so the
	// dashboards' counts are written as one unnest upsert per table (writeDashArrays).
	Arrays bool
	// DashDeltas: event transactions append the dashboards' count changes to dash_deltas by
	// COPY, folded into the counts in the background (dashdeltas.go); needs CopyFrom.
	DashDeltas bool
	// DashFoldLock takes the fold's lock without waiting, answering whether it got it
	// (pg_try_advisory_xact_lock): one node folds at a time.
	DashFoldLock string

	mu    sync.Mutex
	cache map[string]string
}

// q rewrites a query for the dialect, caching the result.
func (d *Dialect) q(query string) string {
	if !d.Numbered {
		return query
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if s, ok := d.cache[query]; ok {
		return s
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	if d.cache == nil {
		d.cache = map[string]string{}
	}
	d.cache[query] = b.String()
	return d.cache[query]
}

type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	PrepareContext(ctx context.Context, query string) (*sql.Stmt, error)
}

// Queries implements store.Queries on a database or inside a transaction.
type Queries struct {
	d    *Dialect
	w    querier   // writes
	r    querier   // reads (a reader pool outside transactions on SQLite)
	db   *DB       // nil inside a transaction
	conn *sql.Conn // the transaction's connection, where the dialect has CopyFrom
	// keyCopies counts the transaction's savepoints of copyKeys (PostgreSQL): past
	// maxKeyCopies it claims keys without one.
	keyCopies   int
	keyCopySkip *atomic.Int32 // the DB's (DB.keyCopySkip); nil outside a transaction
	dashWrite   *atomic.Int64 // the DB's (DB.dashWrite); nil outside a transaction
	addrCache   *addressCache // the DB's (DB.addrs)
	// txAddrs: the addresses this transaction learnt the ids of (addressIDs), added to addrCache
	// once it commits.
	txAddrs AddressIDs
	// marked: the transaction holds its event mark (markEvents).
	marked bool
}

var _ store.Queries = (*Queries)(nil)

// DB is an open database: a writer handle and a reader handle (the same on PostgreSQL).
type DB struct {
	*Queries
	writer *sql.DB
	reader *sql.DB
	ahead  [2]int      // SchemaAhead
	stmts  *stmtCache  // the writer's; nil unless the dialect caches statements
	rstmts *stmtCache  // the reader's
	fold   *dashFolder // the dashboards' background fold, if started
	// keyCopySkip: how many more event inserts claim their keys without trying a COPY first
	// (copyKeys), after one whose COPY met a stored key.
	keyCopySkip atomic.Int32
	// dashShift is added to the wall clock where FoldDashboards takes the time (SetDashClockShift).
	dashShift atomic.Int64
	// dashWrite is the time the event transactions spent on the dashboards' counts, in
	// nanoseconds (DashWriteTime).
	dashWrite atomic.Int64
	addrs     addressCache // the ids of the addresses seen committed (addresses.go)
}

// New wraps opened handles. reader may equal writer.
func New(d *Dialect, writer, reader *sql.DB) *DB {
	db := &DB{writer: writer, reader: reader}
	db.Queries = &Queries{d: d, w: writer, r: reader, db: db, addrCache: &db.addrs}
	if d.CacheStatements {
		db.stmts = newStmtCache(writer)
		db.Queries.w = cachedDB{writer, db.stmts}
		if reader != writer {
			db.rstmts = newStmtCache(reader)
			db.Queries.r = cachedDB{reader, db.rstmts}
		} else {
			db.Queries.r = db.Queries.w
		}
	}
	return db
}

// Driver names the dialect.
func (db *DB) Driver() string { return db.d.Name }

// Close closes both handles.
func (db *DB) Close() error {
	db.StopDashFold()
	if db.stmts != nil {
		db.stmts.close()
	}
	if db.rstmts != nil {
		db.rstmts.close()
	}
	err := db.writer.Close()
	if db.reader != db.writer {
		err = errors.Join(err, db.reader.Close())
	}
	return err
}

// Writer exposes the write handle (benchmarks compare against the bare driver with it).
func (db *DB) Writer() *sql.DB { return db.writer }

// InTx runs fn in one transaction; an error or a panic rolls back.
func (db *DB) InTx(ctx context.Context, fn func(q store.Queries) error) (err error) {
	var conn *sql.Conn
	begin := db.writer.BeginTx
	if db.d.CopyFrom != nil {
		if conn, err = db.writer.Conn(ctx); err != nil {
			return fmt.Errorf("store: begin: %w", err)
		}
		defer conn.Close() // after the commit or rollback: back to the pool
		begin = conn.BeginTx
	}
	tx, err := begin(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			tx.Rollback()
			panic(p)
		}
	}()
	q := &Queries{d: db.d, w: tx, r: tx, conn: conn, keyCopySkip: &db.keyCopySkip, dashWrite: &db.dashWrite, addrCache: &db.addrs}
	if db.stmts != nil {
		q.w = cachedTx{tx, db.stmts}
		q.r = q.w
	}
	err = fn(q)
	if err != nil {
		tx.Rollback()
	} else if err = tx.Commit(); err != nil {
		err = fmt.Errorf("store: commit: %w", err)
	} else if len(q.txAddrs) > 0 {
		db.addrs.add(q.txAddrs)
	}
	if db.stmts != nil {
		db.stmts.prepareWanted(context.WithoutCancel(ctx)) // the connection is free again
	}
	return err
}

// inTx runs fn in a transaction unless q already is one.
func (q *Queries) inTx(ctx context.Context, fn func(q *Queries) error) error {
	if q.db == nil {
		return fn(q)
	}
	return q.db.InTx(ctx, func(s store.Queries) error { return fn(s.(*Queries)) })
}

// Migrate applies the migrations not yet applied, in one transaction, and refuses a database
// written by a newer binary.
func (db *DB) Migrate(ctx context.Context, ms []Migration) error {
	if len(ms) == 0 {
		return errors.New("store: no migrations")
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	known := ms[len(ms)-1].Version
	return db.InTx(ctx, func(s store.Queries) error {
		q := s.(*Queries)
		if db.d.MigrationLock != "" {
			if _, err := q.w.ExecContext(ctx, db.d.MigrationLock); err != nil {
				return fmt.Errorf("store: migration lock: %w", err)
			}
		}
		if _, err := q.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`); err != nil {
			return fmt.Errorf("store: migrations table: %w", err)
		}
		if err := db.olderNodesColumn(ctx, q); err != nil {
			return err
		}
		var have sql.NullInt64
		if err := q.w.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&have); err != nil {
			return fmt.Errorf("store: read schema version: %w", err)
		}
		if int(have.Int64) > known {
			return db.olderNode(ctx, q, int(have.Int64), known)
		}
		if err := db.noOlderNodesRunning(ctx, q, ms, int(have.Int64)); err != nil {
			return err
		}
		for _, m := range ms {
			if m.Version <= int(have.Int64) {
				continue
			}
			for _, stmt := range splitStatements(m.SQL) {
				if _, err := uncached(q.w).ExecContext(ctx, stmt); err != nil { // schema changes run once
					return fmt.Errorf("store: migration %d %s: %w", m.Version, m.Name, err)
				}
			}
			if _, err := q.w.ExecContext(ctx, q.d.q(`INSERT INTO schema_migrations (version, name, applied_at, older_nodes) VALUES (?, ?, ?, ?)`), m.Version, m.Name, micros(time.Now()), m.OlderNodes); err != nil {
				return fmt.Errorf("store: record migration %d: %w", m.Version, err)
			}
		}
		return nil
	})
}

// NodesLiveWindow is how recently a node must have written its heartbeat for Migrate to count it
// as running: twice the default work lease (a node beats every quarter of its lease).
const NodesLiveWindow = 2 * time.Minute

// noOlderNodesRunning refuses to apply a migration that nodes of the schema have cannot live with
// (one without an older-nodes declaration reaching have) while other nodes are running on this
// database: they would keep writing the old way into the new schema (after migration 0037, for
// one, events stored by an older node skip the dedupe keys' table). Only several nodes share a
// database, so only PostgreSQL has live nodes; a fresh database has none.
func (db *DB) noOlderNodesRunning(ctx context.Context, q *Queries, ms []Migration, have int) error {
	if db.d.Name == "sqlite" || have == 0 {
		return nil
	}
	var strict *Migration
	for i := range ms {
		if m := &ms[i]; m.Version > have && (m.OlderNodes == 0 || m.OlderNodes > have) {
			strict = m
			break
		}
	}
	if strict == nil {
		return nil
	}
	var exists bool
	if err := q.w.QueryRowContext(ctx, `SELECT to_regclass('nodes') IS NOT NULL`).Scan(&exists); err != nil || !exists {
		return err
	}
	rows, err := q.w.QueryContext(ctx, q.d.q(`SELECT owner, heartbeat_at FROM nodes WHERE heartbeat_at > ? ORDER BY owner`), micros(time.Now().Add(-NodesLiveWindow)))
	if err != nil {
		return fmt.Errorf("store: read running nodes: %w", err)
	}
	defer rows.Close()
	var names []string
	var last int64
	for rows.Next() {
		var owner string
		var at int64
		if err := rows.Scan(&owner, &at); err != nil {
			return fmt.Errorf("store: read running nodes: %w", err)
		}
		names = append(names, owner)
		last = max(last, at)
	}
	if err := rows.Err(); err != nil || len(names) == 0 {
		return err
	}
	if len(names) > 5 {
		names = append(names[:5], fmt.Sprintf("and %d more", len(names)-5))
	}
	return fmt.Errorf("store: migration %d (%s) cannot run while nodes of the older release (schema %d) are running on this database, and %s wrote a heartbeat within the last %v: "+
		"stop every node before starting this release (this upgrade is not rolling; docs/OPERATIONS.md, Upgrading); if they are stopped already (killed), start again after %s",
		strict.Version, strict.Name, have, strings.Join(names, ", "), NodesLiveWindow, fromMicros(last).Add(NodesLiveWindow).UTC().Format(time.RFC3339))
}

// olderNodesColumn adds schema_migrations.older_nodes (Migration.OlderNodes) to a database made
// before it existed; rows written without it (0) let no older node start.
func (db *DB) olderNodesColumn(ctx context.Context, q *Queries) error {
	var n int
	check := `SELECT COUNT(*) FROM information_schema.columns WHERE table_name = 'schema_migrations' AND column_name = 'older_nodes' AND table_schema = current_schema()`
	if db.d.Name == "sqlite" {
		check = `SELECT COUNT(*) FROM pragma_table_info('schema_migrations') WHERE name = 'older_nodes'`
	}
	if err := q.w.QueryRowContext(ctx, check).Scan(&n); err != nil {
		return fmt.Errorf("store: migrations table: %w", err)
	}
	if n > 0 {
		return nil
	}
	if _, err := uncached(q.w).ExecContext(ctx, `ALTER TABLE schema_migrations ADD COLUMN older_nodes BIGINT NOT NULL DEFAULT 0`); err != nil {
		return fmt.Errorf("store: migrations table: %w", err)
	}
	return nil
}

// olderNode decides whether this binary, which knows the schema up to known, may run on a
// database at have > known (a rolling upgrade: a newer node migrated it). It may when every newer
// migration declared older nodes from known or before welcome (Migration.OlderNodes); then the
// database is left as it is and SchemaAhead reports it. Else it is refused, naming the migration.
func (db *DB) olderNode(ctx context.Context, q *Queries, have, known int) error {
	rows, err := q.w.QueryContext(ctx, q.d.q(`SELECT version, name, older_nodes FROM schema_migrations WHERE version > ? ORDER BY version`), known)
	if err != nil {
		return fmt.Errorf("store: read schema versions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var v, older int
		var name string
		if err := rows.Scan(&v, &name, &older); err != nil {
			return fmt.Errorf("store: read schema versions: %w", err)
		}
		if older == 0 {
			older = v
		}
		if older > known {
			return fmt.Errorf("store: the database has schema version %d but this telltale knows only up to %d, and migration %d (%s) needs nodes that know at least %d: "+
				"run the same telltale release as the node that migrated it (a rolling upgrade goes one release at a time; docs/OPERATIONS.md, Upgrading)", have, known, v, name, older)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: read schema versions: %w", err)
	}
	db.ahead = [2]int{have, known}
	return nil
}

// SchemaAhead reports a database migrated past what this binary knows, on which it runs as an
// older node during a rolling upgrade: the database's version and this binary's (zero: not so).
func (db *DB) SchemaAhead() (have, known int) { return db.ahead[0], db.ahead[1] }

// ---- helpers ----

func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicros(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.UnixMicro(n).UTC()
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func (q *Queries) wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("store: %s: %w", op, store.ErrNotFound)
	}
	if q.d.IsUnique(err) {
		return fmt.Errorf("store: %s: %w: %v", op, store.ErrConflict, err)
	}
	return fmt.Errorf("store: %s: %w", op, err)
}

// in returns "(?, ?, ?)" and the args for a list of strings.
func in(xs []string) (string, []any) {
	ph := make([]string, len(xs))
	args := make([]any, len(xs))
	for i, x := range xs {
		ph[i] = "?"
		args[i] = x
	}
	return "(" + strings.Join(ph, ", ") + ")", args
}

func nullStr(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func affected(res sql.Result, err error, op string, q *Queries, missing error) error {
	if err != nil {
		return q.wrap(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return q.wrap(op, err)
	}
	if n == 0 {
		return fmt.Errorf("store: %s: %w", op, missing)
	}
	return nil
}

// CopySource is the rows of a COPY, one at a time (the method set of pgx.CopyFromSource).
type CopySource interface {
	Next() bool
	Values() ([]any, error)
	Err() error
}

// CopyRows is a CopySource of rows made already.
func CopyRows(rows [][]any) CopySource {
	return &copyFunc{n: len(rows), row: func(i int) ([]any, error) { return rows[i], nil }, i: -1}
}

// CopyFunc is a CopySource of n rows, row i made by row(i) when the driver asks for it.
func CopyFunc(n int, row func(i int) ([]any, error)) CopySource {
	return &copyFunc{n: n, row: row, i: -1}
}

type copyFunc struct {
	n, i int
	row  func(int) ([]any, error)
	err  error
}

func (c *copyFunc) Next() bool { c.i++; return c.err == nil && c.i < c.n }

func (c *copyFunc) Values() ([]any, error) {
	v, err := c.row(c.i)
	if err != nil {
		c.err = err
	}
	return v, err
}

func (c *copyFunc) Err() error { return c.err }
