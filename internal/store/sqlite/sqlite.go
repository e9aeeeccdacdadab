// Package sqlite is the embedded store driver (modernc.org/sqlite, no cgo): WAL, synchronous=FULL,
// one writer connection for every write and transaction, and a read-only pool for reads. Queries
// are shared with PostgreSQL in store/sqldb.
package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strings"

	"github.com/telltale-dev/telltale/internal/store"
	"github.com/telltale-dev/telltale/internal/store/sqldb"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Options tune the driver.
type Options struct {
	Readers int // read-only connections; default 4
}

// Store is an open SQLite database.
type Store struct{ *sqldb.DB }

var _ store.Store = (*Store)(nil)

func dialect() *sqldb.Dialect {
	return &sqldb.Dialect{
		Name: "sqlite", LastInsertID: true, PK: "INTEGER PRIMARY KEY", Int: "INTEGER", Blob: "BLOB",
		IsUnique: func(err error) bool {
			return err != nil && (strings.Contains(err.Error(), "UNIQUE constraint failed") || strings.Contains(err.Error(), "PRIMARY KEY constraint failed"))
		},
	}
}

// Migrations are the driver's schema steps.
func Migrations(d *sqldb.Dialect) []sqldb.Migration {
	return []sqldb.Migration{sqldb.InitMigration(d)}
}

// DSN returns the connection string used for path; readOnly adds query_only.
func DSN(path string, readOnly bool) string {
	v := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "synchronous(FULL)", "foreign_keys(1)", "busy_timeout(10000)"} {
		v.Add("_pragma", p)
	}
	if readOnly {
		v.Add("_pragma", "query_only(1)")
	} else {
		v.Set("_txlock", "immediate")
	}
	return "file:" + path + "?" + v.Encode()
}

// Open opens (creating if needed) and migrates the database at path.
func Open(ctx context.Context, path string, o Options) (*Store, error) {
	if o.Readers <= 0 {
		o.Readers = 4
	}
	w, err := sql.Open("sqlite", DSN(path, false))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", DSN(path, true))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	r.SetMaxOpenConns(o.Readers)
	d := dialect()
	db := sqldb.New(d, w, r)
	if err := db.Migrate(ctx, Migrations(d)); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: %s: %w", path, err)
	}
	return &Store{db}, nil
}
