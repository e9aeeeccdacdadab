package sqldb

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/telltale-dev/telltale/internal/store"
)

func cachedSQLite(t *testing.T) *DB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "c.db")
	w, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	w.SetMaxOpenConns(1) // as the SQLite store: one writer connection
	r, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=query_only(1)")
	if err != nil {
		t.Fatal(err)
	}
	db := New(&Dialect{Name: "sqlite", CacheStatements: true, IsUnique: func(error) bool { return false }}, w, r)
	t.Cleanup(func() { db.Close() })
	if _, err := db.w.ExecContext(context.Background(), `CREATE TABLE kv (k TEXT PRIMARY KEY, v INTEGER)`); err != nil {
		t.Fatal(err)
	}
	return db
}

// TestStatementCache: a statement first met inside a transaction runs there uncached (the one
// writer connection is the transaction's: preparing on the DB would wait for it forever) and is
// cached once the transaction ends; transactions and plain calls from many goroutines never
// deadlock; past the bound, statements still run, uncached.
func TestStatementCache(t *testing.T) {
	db := cachedSQLite(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const upsert = `INSERT INTO kv (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v`
	err := db.InTx(ctx, func(s store.Queries) error {
		q := s.(*Queries)
		if db.stmts.lookup(upsert) != nil {
			t.Error("cached before it ever ran")
		}
		_, err := q.w.ExecContext(ctx, upsert, "a", 1)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if db.stmts.lookup(upsert) == nil {
		t.Fatal("a statement run in a transaction is not cached after it")
	}

	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				key := fmt.Sprintf("g%d-%d", g, i%5)
				q := fmt.Sprintf(`SELECT COUNT(*) FROM kv WHERE k <> 'x%d'`, i%7) // new texts keep arriving
				if i%2 == 0 {
					errs <- db.InTx(ctx, func(s store.Queries) error {
						q2 := s.(*Queries)
						if _, err := q2.w.ExecContext(ctx, upsert, key, i); err != nil {
							return err
						}
						var n int
						return q2.r.QueryRowContext(ctx, q).Scan(&n)
					})
				} else {
					_, err := db.w.ExecContext(ctx, upsert, key, i)
					if err == nil {
						var n int
						err = db.r.QueryRowContext(ctx, q).Scan(&n)
					}
					errs <- err
				}
			}
		})
	}
	go func() { wg.Wait(); close(errs) }()
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent use: %v (a deadlock shows as the context's deadline)", err)
		}
	}
	var n int
	if err := db.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM kv`).Scan(&n); err != nil || n != 1+8*5 {
		t.Fatalf("rows: %d, %v", n, err)
	}

	// Past the bound statements run uncached.
	for i := range maxCachedStmts + 20 {
		var v int
		if err := db.r.QueryRowContext(ctx, fmt.Sprintf(`SELECT %d`, i)).Scan(&v); err != nil || v != i {
			t.Fatalf("statement %d past the bound: %d, %v", i, v, err)
		}
	}
	if len(db.rstmts.m) > maxCachedStmts {
		t.Errorf("reader cache holds %d statements, bound %d", len(db.rstmts.m), maxCachedStmts)
	}
}
