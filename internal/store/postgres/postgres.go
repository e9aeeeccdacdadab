package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"github.com/telltale-dev/telltale/internal/store"
	"github.com/telltale-dev/telltale/internal/store/sqldb"
)

// Options tune the driver.
type Options struct {
	MaxConns int // default 10
	// DashFold is how often the dashboards' count deltas are folded into the counts (default
	// DefaultDashFold; negative: never, for tests that look at deltas not yet folded).
	DashFold time.Duration
}

// DefaultDashFold is how often a node folds the dashboards' deltas by default. The views add the
// deltas not yet folded, so this bounds how many a view reads, not how current it is.
const DefaultDashFold = 2 * time.Second

// Store is an open PostgreSQL database.
type Store struct {
	*sqldb.DB
	dsn string // for the LISTEN connection (ListenWork)
}

var _ store.Store = (*Store)(nil)

// eventMark takes the event lock shared and the transaction's mark: a shared advisory lock on
// the key 2^62 + the id sequence's value now (its last id handed out), read before this
// transaction draws any id, so that every id it draws is above its mark. Marks are read back
// from pg_locks by telltale_event_horizon (migration 0045): a bigint key shows there as classid
// (its high half, >= 2^30 for a mark) and objid (its low half). Shared: two writers with one
// mark do not wait for each other.
const eventMark = `SELECT pg_advisory_xact_lock_shared(724202), pg_advisory_xact_lock_shared(4611686018427387904 + CASE WHEN is_called THEN last_value ELSE last_value - 1 END) FROM file_events_id_seq`

func dialect() *sqldb.Dialect {
	return &sqldb.Dialect{
		Name: "postgres", Numbered: true, Arrays: true, CopyFrom: copyFrom,
		SkipLocked:    " FOR UPDATE SKIP LOCKED",
		MigrationLock: "SELECT pg_advisory_xact_lock(724201)",
		EventLock:     "SELECT pg_advisory_xact_lock(724202)",
		EventMark:     eventMark,
		EventHorizon:  "SELECT telltale_event_horizon()",
		UpdateLock:    "SELECT pg_advisory_xact_lock(724204)",
		DashDeltas:    true,
		// The fold's own key (until 0045 it shared 724203 with the partitions' lock, so a fold
		// skipped its turn while a month was being made; 0045 fences older nodes off).
		DashFoldLock: "SELECT pg_try_advisory_xact_lock(724205)",
		IsUnique: func(err error) bool {
			var pe *pgconn.PgError
			return errors.As(err, &pe) && pe.Code == "23505"
		},
	}
}

// copyFrom runs COPY on the pgx connection under a database/sql connection, inside the
// transaction that connection has open.
func copyFrom(ctx context.Context, driverConn any, table string, columns []string, src sqldb.CopySource) (int64, error) {
	c, ok := driverConn.(*stdlib.Conn)
	if !ok {
		return 0, fmt.Errorf("postgres: copy: the connection is a %T, not pgx's", driverConn)
	}
	return c.Conn().CopyFrom(ctx, pgx.Identifier{table}, columns, src)
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
	s := sqldb.New(dialect(), db, db)
	ms, err := Migrations()
	if err == nil {
		err = s.Migrate(ctx, ms)
	}
	if err == nil {
		_, err = s.SealLegacyAudit(ctx) // records from before the audit chain (migration 0025)
	}
	if err == nil {
		// This month's and the next months' event partitions; the lifecycle unit keeps them ahead.
		_, err = s.PrepareEventPartitions(ctx, time.Now())
	}
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if o.DashFold == 0 {
		o.DashFold = DefaultDashFold
	}
	s.StartDashFold(o.DashFold)
	return &Store{DB: s, dsn: dsn}, nil
}
