// Package postgres is the scale-out store driver: PostgreSQL through pgx v5 (its database/sql
// adapter), sharing every query with SQLite in store/sqldb. Several nodes can share one database:
// migrations run under an advisory lock, and work is claimed with FOR UPDATE SKIP LOCKED.
package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"github.com/telltale-dev/telltale/internal/store"
	"github.com/telltale-dev/telltale/internal/store/sqldb"
)

// Options tune the driver.
type Options struct {
	MaxConns int // default 10
}

// Store is an open PostgreSQL database.
type Store struct{ *sqldb.DB }

var _ store.Store = (*Store)(nil)

func dialect() *sqldb.Dialect {
	return &sqldb.Dialect{
		Name: "postgres", Numbered: true, PK: "BIGSERIAL PRIMARY KEY", Int: "BIGINT", Blob: "BYTEA",
		SkipLocked:    " FOR UPDATE SKIP LOCKED",
		MigrationLock: "SELECT pg_advisory_xact_lock(724201)",
		IsUnique: func(err error) bool {
			var pe *pgconn.PgError
			return errors.As(err, &pe) && pe.Code == "23505"
		},
	}
}

// Migrations are the driver's schema steps.
func Migrations(d *sqldb.Dialect) []sqldb.Migration {
	return []sqldb.Migration{sqldb.InitMigration(d)}
}

// Open connects to dsn (postgres://...) and migrates the database.
func Open(ctx context.Context, dsn string, o Options) (*Store, error) {
	if o.MaxConns <= 0 {
		o.MaxConns = 10
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	db.SetMaxOpenConns(o.MaxConns)
	db.SetMaxIdleConns(o.MaxConns)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("postgres: connect: %w (check --database / TELLTALE_DATABASE and that the server is reachable)", err)
	}
	d := dialect()
	s := sqldb.New(d, db, db)
	if err := s.Migrate(ctx, Migrations(d)); err != nil {
		s.Close()
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return &Store{s}, nil
}
