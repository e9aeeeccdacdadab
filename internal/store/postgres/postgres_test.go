package postgres

import (
	"context"
	"database/sql"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/telltale-dev/telltale/internal/store"
	"github.com/telltale-dev/telltale/internal/store/sqldb"
	"github.com/telltale-dev/telltale/internal/store/storetest"
	"github.com/telltale-dev/telltale/internal/testutil/pgtest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := Open(context.Background(), pgtest.DSN(t), Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestConcurrentMigrations: nodes starting at once on one database migrate it once, without error.
func TestConcurrentMigrations(t *testing.T) {
	dsn := pgtest.DSN(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			s, err := Open(context.Background(), dsn, Options{MaxConns: 2})
			if err == nil {
				s.Close()
			}
			errs[i] = err
		}(i)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// TestSearchIndexMigration: migration 0005 (pg_trgm, the rebuilt actor index, the partial exposure
// index) applies to a database that already holds events.
func TestSearchIndexMigration(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) < 5 || ms[4].Version != 5 || !strings.Contains(ms[4].Name, "search_indexes") {
		t.Fatalf("migration 5 is not the search indexes: %+v", ms[4])
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	old := sqldb.New(dialect(), db, db)
	if err := old.Migrate(ctx, ms[:4]); err != nil {
		t.Fatal(err)
	}
	old.SetDashboards(false) // the schema before migration 0030 has no dashboards' counts
	storetest.SearchIndexMigration(t, old, func(t *testing.T) store.Store {
		s, err := Open(ctx, dsn, Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestCheckpointOwnerMigration: a checkpoint stored before migration 0008 keeps its position and
// has no owner.
func TestCheckpointOwnerMigration(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) < 8 || ms[7].Version != 8 || !strings.Contains(ms[7].Name, "checkpoint_owners") {
		t.Fatalf("migration 8 is not the checkpoint owners: %+v", ms)
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	old := sqldb.New(dialect(), db, db)
	if err := old.Migrate(ctx, ms[:7]); err != nil {
		t.Fatal(err)
	}
	old.SetDashboards(false) // the schema before migration 0030 has no dashboards' counts
	storetest.CheckpointOwnerMigration(t, old, func(q string) error { _, err := db.ExecContext(ctx, q); return err }, func(t *testing.T) store.Store {
		s, err := Open(ctx, dsn, Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestAuditLegacyMigration: migration 0031 and the first open seal the audit records written
// before the chain existed.
func TestAuditLegacyMigration(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(ms, func(m sqldb.Migration) bool { return strings.Contains(m.Name, "audit_chain") })
	if i < 0 {
		t.Fatal("no audit_chain migration")
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	old := sqldb.New(dialect(), db, db)
	if err := old.Migrate(ctx, ms[:i]); err != nil {
		t.Fatal(err)
	}
	storetest.AuditLegacyMigration(t, func(q string) error { _, err := db.ExecContext(ctx, q); return err }, func(t *testing.T) store.Store {
		s, err := Open(ctx, dsn, Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestDashboardWeeksMigration: migration 0036 sums the weeks and the people per bucket from the
// counts written before it, so an upgraded database answers as one that counted them all along.
func TestDashboardWeeksMigration(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(ms, func(m sqldb.Migration) bool { return strings.Contains(m.Name, "dashboard_weeks") })
	if i < 0 {
		t.Fatal("no dashboard_weeks migration")
	}
	open := func(t *testing.T) store.Store {
		s, err := Open(ctx, dsn, Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	storetest.DashboardWeeksMigration(t, open(t), ms[i].Version, open)
}

// TestDashboardFold: the dashboards' counts kept as deltas (migration 0037) are read exactly
// before they are folded, after a fold that fails midway, and after two nodes fold at once.
func TestDashboardFold(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	open := func() *Store {
		s, err := Open(ctx, dsn, Options{DashFold: -1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	a, b := open(), open()
	fold := func(s *Store) func(int) (int, error) {
		return func(limit int) (int, error) { return s.FoldDashboards(ctx, limit) }
	}
	storetest.DashboardFold(t, a, []func(int) (int, error){fold(a), fold(b)},
		[]string{`CREATE FUNCTION dash_fold_fail() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RAISE EXCEPTION 'the test breaks this fold'; END$$`,
			`CREATE TRIGGER dash_fold_fail BEFORE INSERT OR UPDATE ON dash_dims FOR EACH ROW EXECUTE FUNCTION dash_fold_fail()`},
		[]string{`DROP TRIGGER dash_fold_fail ON dash_dims`})
}

// TestDeviceHealthLastMigration: migration 0037 takes each device's health_last from its last
// health row, so an upgraded device's check-ins write rows as before the upgrade.
func TestDeviceHealthLastMigration(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(ms, func(m sqldb.Migration) bool { return strings.Contains(m.Name, "device_health_last") })
	if i < 0 {
		t.Fatal("no device_health_last migration")
	}
	open := func(t *testing.T) store.Store {
		s, err := Open(ctx, dsn, Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	storetest.DeviceHealthLastMigration(t, open(t), ms[i].Version, open)
}
