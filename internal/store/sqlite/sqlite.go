package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"time"

	"github.com/telltale-dev/telltale/internal/store"
	"github.com/telltale-dev/telltale/internal/store/sqldb"
	"modernc.org/sqlite" // registers the "sqlite" driver
	sqlite3 "modernc.org/sqlite/lib"
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
		Name: "sqlite", LastInsertID: true, CacheStatements: true,
		IsUnique: func(err error) bool {
			var se *sqlite.Error
			return errors.As(err, &se) && (se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)
		},
	}
}

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations returns the driver's schema steps (migrations/NNNN_name.sql), oldest first.
func Migrations() ([]sqldb.Migration, error) {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	return sqldb.LoadMigrations(sub)
}

// DSN returns the connection string used for path; readOnly adds query_only, the writer (not
// readOnly) takes its transactions at once, keeps a larger page cache and checkpoints the WAL
// less often.
func DSN(path string, readOnly bool) string {
	v := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "synchronous(FULL)", "foreign_keys(1)", "busy_timeout(10000)"} {
		v.Add("_pragma", p)
	}
	if readOnly {
		v.Add("_pragma", "query_only(1)")
	} else {
		v.Set("_txlock", "immediate")
		// 32 MiB of page cache (SQLite's default is 2): a backlog's transaction of 5,000 events
		// dirties more pages than 2 MiB hold, and SQLite spilled them to the WAL mid-transaction
		// and read the count tables' pages back (docs/BENCHMARKS.md, the store section).
		v.Add("_pragma", "cache_size(-32768)")
		// A checkpoint once the WAL holds 10,000 pages (40 MiB) instead of SQLite's 1,000: each
		// checkpoint writes every page changed since the last one back into the database file,
		// and the pages an ingest changes again and again (the indexes' and the dashboards'
		// counts' hot pages) are then written once per 10,000 pages of log instead of ten times.
		// At 10 M events a day's backlog stored 15-25 % more events a second for 12 % less CPU
		// (docs/BENCHMARKS.md, dashboards, thirteenth session); the WAL file grows to about 40 MiB.
		v.Add("_pragma", "wal_autocheckpoint(10000)")
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
	db := sqldb.New(dialect(), w, r)
	ms, err := Migrations()
	if err == nil {
		err = db.Migrate(ctx, ms)
	}
	if err == nil {
		_, err = db.SealLegacyAudit(ctx) // records from before the audit chain (migration 0025)
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: %s: %w", path, err)
	}
	db.StartDashFold(weekCloseEvery)
	return &Store{db}, nil
}

// weekCloseEvery is how often a store looks whether a week of the dashboards is over (migration
// 0041): a read of one row; the close itself runs once a week. Until a week closes the views
// read it from its days, exactly.
const weekCloseEvery = time.Minute
