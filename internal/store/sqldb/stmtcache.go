package sqldb

import (
	"context"
	"database/sql"
	"sync"
)

// maxCachedStmts bounds each statement cache. The writer's statements are a fixed set (about a
// hundred), the readers' too but for searches, one text per query shape; a text beyond the bound
// is prepared and closed per call as without the cache, so a cached statement is never closed
// while in use.
const maxCachedStmts = 512

// stmtCache keeps each statement text a handle (the writer, or the readers' pool) runs prepared,
// the writer's in and out of transactions.
// SQLite parses a statement every time it is prepared, and database/sql prepares one for every
// call: parsing was a sixth of the CPU of indexing a drive, whose work runs a dozen short
// statements (claim, drive state, cursor, finish) per folder listing.
//
// The writer has one connection, so a statement cannot be prepared on it while a transaction holds
// it: a statement first met inside a transaction runs uncached and is prepared once the
// transaction ends (prepareWanted).
type stmtCache struct {
	db   *sql.DB
	mu   sync.Mutex
	m    map[string]*sql.Stmt
	want map[string]bool // met inside a transaction, to prepare after it
}

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, m: map[string]*sql.Stmt{}, want: map[string]bool{}}
}

// lookup returns the prepared statement of query, or nil (then noting it for prepareWanted).
func (c *stmtCache) lookup(query string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.m[query]; ok {
		return st
	}
	if len(c.m)+len(c.want) < maxCachedStmts {
		c.want[query] = true
	}
	return nil
}

// get returns the prepared statement of query, preparing it (outside a transaction), or nil when
// the cache is full or it fails to prepare (the uncached call then reports the error).
func (c *stmtCache) get(ctx context.Context, query string) *sql.Stmt {
	if st := c.lookup(query); st != nil {
		return st
	}
	return c.prepare(ctx, query)
}

// prepare prepares query on the DB and caches it. The lock is not held while preparing: that waits
// for the writer's connection, which a transaction may hold while it looks statements up.
func (c *stmtCache) prepare(ctx context.Context, query string) *sql.Stmt {
	c.mu.Lock()
	delete(c.want, query)
	st, ok := c.m[query]
	full := len(c.m) >= maxCachedStmts
	c.mu.Unlock()
	if ok {
		return st
	}
	if full {
		return nil
	}
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if have, ok := c.m[query]; ok { // prepared meanwhile by another caller
		st.Close()
		return have
	}
	if len(c.m) >= maxCachedStmts {
		st.Close()
		return nil
	}
	c.m[query] = st
	return st
}

// prepareWanted prepares the statements met inside transactions; the caller holds no connection.
func (c *stmtCache) prepareWanted(ctx context.Context) {
	c.mu.Lock()
	qs := make([]string, 0, len(c.want))
	for q := range c.want {
		qs = append(qs, q)
	}
	c.mu.Unlock()
	for _, q := range qs {
		c.prepare(ctx, q)
	}
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for q, st := range c.m {
		st.Close()
		delete(c.m, q)
	}
}

// cachedDB runs statements on the writer through the cache.
type cachedDB struct {
	*sql.DB
	c *stmtCache
}

func (d cachedDB) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := d.c.get(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return d.DB.ExecContext(ctx, query, args...)
}

func (d cachedDB) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := d.c.get(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return d.DB.QueryContext(ctx, query, args...)
}

func (d cachedDB) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := d.c.get(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return d.DB.QueryRowContext(ctx, query, args...)
}

// cachedTx runs statements in a transaction through the cache: Tx.StmtContext reuses the
// statement already prepared on the transaction's connection (the writer has one). It never
// prepares on the DB itself: that needs the connection the transaction holds.
type cachedTx struct {
	*sql.Tx
	c *stmtCache
}

func (t cachedTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := t.c.lookup(query); st != nil {
		return t.Tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return t.Tx.ExecContext(ctx, query, args...)
}

func (t cachedTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := t.c.lookup(query); st != nil {
		return t.Tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return t.Tx.QueryContext(ctx, query, args...)
}

// PrepareContext returns the cached statement bound to the transaction when there is one (closing
// it leaves the cached one prepared), else a statement prepared in the transaction.
func (t cachedTx) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	if st := t.c.lookup(query); st != nil {
		return t.Tx.StmtContext(ctx, st), nil
	}
	return t.Tx.PrepareContext(ctx, query)
}

func (t cachedTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := t.c.lookup(query); st != nil {
		return t.Tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return t.Tx.QueryRowContext(ctx, query, args...)
}

// uncached is q without the statement cache, for statements that run once.
func uncached(q querier) querier {
	switch c := q.(type) {
	case cachedTx:
		return c.Tx
	case cachedDB:
		return c.DB
	}
	return q
}
