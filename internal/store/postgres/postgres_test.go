package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/event"

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
	old.SetEventKeys(false)  // nor event_keys (0037)
	old.SetEventCodes(false) // nor codes (0039)
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
	old.SetEventKeys(false)  // nor event_keys (0037)
	old.SetEventCodes(false) // nor codes (0039)
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
	dsn, db, _ := migratedBefore(t, "audit_chain")
	storetest.AuditLegacyMigration(t, func(q string) error { _, err := db.ExecContext(context.Background(), q); return err }, opener(dsn))
}

// TestDashboardWeeksMigration: migration 0036 sums the weeks and the people per bucket from the
// counts written before it, so an upgraded database answers as one that counted them all along.
func TestDashboardWeeksMigration(t *testing.T) {
	open := opener(pgtest.DSN(t))
	storetest.DashboardWeeksMigration(t, open(t), migrationNamed(t, "dashboard_weeks").Version, open)
}

// TestEventPartitionMigration: migration 0037 converts a file_events that holds events of several
// months (and one far outside them) into month partitions: every event is kept with its id, each
// in its month's partition (the far one in the default partition), their keys still refuse a
// repeat (after migration 0039 made them uuids), and new events get larger ids. Retention then
// drops a month as a whole table.
func TestEventPartitionMigration(t *testing.T) {
	ctx := context.Background()
	dsn, db, old := migratedBefore(t, "event_partitions")
	old.SetEventKeys(false)
	old.SetEventCodes(false) // the vocabularies are text before 0039
	c, err := old.CreateConnection(ctx, store.Connection{Name: "c", Service: "box", ServiceType: "cloud", Status: "searching"})
	if err != nil {
		t.Fatal(err)
	}
	times := []time.Time{time.Date(2025, 1, 5, 0, 0, 0, 0, time.UTC), time.Date(2025, 2, 28, 23, 59, 59, 0, time.UTC),
		time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)}
	var evs []*event.FileEvent
	for k, at := range times {
		evs = append(evs, storetest.Event(c.ID, fmt.Sprint("v", k), at))
	}
	if n, err := old.InsertEvents(ctx, evs, false); err != nil || n != len(evs) {
		t.Fatalf("inserted %d: %v", n, err)
	}
	s, err := Open(ctx, dsn, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	wantPart := []string{"file_events_p202501", "file_events_p202502", "file_events_p202503", "file_events_default"}
	for k, e := range evs {
		var part string
		if err := db.QueryRowContext(ctx, `SELECT tableoid::regclass::text FROM file_events WHERE id = $1`, e.Event.ID).Scan(&part); err != nil || part != wantPart[k] {
			t.Errorf("event %d at %v is in %q (%v), want %s", e.Event.ID, e.Timestamp, part, err, wantPart[k])
		}
	}
	// Migration 0039: the keys are uuids now (the same 16 bytes: the repeat below is still refused).
	for _, table := range []string{"event_keys", "file_events", "file_events_p202501"} {
		var typ string
		if err := db.QueryRowContext(ctx, `SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = $1::regclass AND attname = 'dedupe'`, table).Scan(&typ); err != nil || typ != "uuid" {
			t.Errorf("%s.dedupe is %q (%v), want uuid", table, typ, err)
		}
	}
	again := []*event.FileEvent{storetest.Event(c.ID, "v0", times[2]), storetest.Event(c.ID, "new", times[2])}
	if n, err := s.InsertEvents(ctx, again, false); err != nil || n != 1 || again[1].Event.ID <= evs[len(evs)-1].Event.ID {
		t.Fatalf("after the migration: %d inserted (%v), the new id %d", n, err, again[1].Event.ID)
	}
	if n, err := s.DropEventsBefore(ctx, time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)); err != nil || n != 3 {
		t.Fatalf("dropped %d (%v), want 3", n, err)
	}
	var left int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM pg_class WHERE relname IN ('file_events_p202501', 'file_events_p202502')`).Scan(&left); err != nil || left != 0 {
		t.Errorf("%d of the dropped months' partitions are left (%v)", left, err)
	}
}

// TestDashboardFold: the dashboards' counts kept as deltas (migration 0038) are read exactly
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
	fold := func(s *Store) func(int, time.Time) (int, error) {
		return func(limit int, now time.Time) (int, error) { return s.FoldDashboardsAt(ctx, limit, now) }
	}
	storetest.DashboardFold(t, a, []func(int, time.Time) (int, error){fold(a), fold(b)},
		[]string{`CREATE FUNCTION dash_fold_fail() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RAISE EXCEPTION 'the test breaks this fold'; END$$`,
			`CREATE TRIGGER dash_fold_fail BEFORE INSERT OR UPDATE ON dash_dims FOR EACH ROW EXECUTE FUNCTION dash_fold_fail()`},
		[]string{`DROP TRIGGER dash_fold_fail ON dash_dims`},
		func(now time.Time) (int, error) { ds, err := a.TimeFold(ctx, now, 2); return len(ds), err })
}

// TestDeviceHealthLastMigration: migration 0038 takes each device's health_last from its last
// health row, so an upgraded device's check-ins write rows as before the upgrade.
func TestDeviceHealthLastMigration(t *testing.T) {
	open := opener(pgtest.DSN(t))
	storetest.DeviceHealthLastMigration(t, open(t), migrationNamed(t, "device_health_last").Version, open)
}

// migrationNamed returns the migration whose name holds name.
func migrationNamed(t *testing.T, name string) sqldb.Migration {
	t.Helper()
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(ms, func(m sqldb.Migration) bool { return strings.Contains(m.Name, name) })
	if i < 0 {
		t.Fatalf("no %s migration", name)
	}
	return ms[i]
}

// migratedBefore makes a fresh database migrated up to the migration whose name holds name, not
// including it, and returns its DSN, a raw handle and a store of that older schema.
func migratedBefore(t *testing.T, name string) (string, *sql.DB, *sqldb.DB) {
	t.Helper()
	dsn := pgtest.DSN(t)
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	v := migrationNamed(t, name).Version
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	old := sqldb.New(dialect(), db, db)
	if err := old.Migrate(context.Background(), slices.DeleteFunc(ms, func(m sqldb.Migration) bool { return m.Version >= v })); err != nil {
		t.Fatal(err)
	}
	return dsn, db, old
}

// opener opens the store on dsn, for the migration cases that reopen it.
func opener(dsn string) func(t *testing.T) store.Store {
	return func(t *testing.T) store.Store {
		s, err := Open(context.Background(), dsn, Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
}

// TestEventCodesMigration: migration 0039 turns the vocabularies' text into codes (and the
// dedupe keys into uuids): every value reads back and is found as before.
func TestEventCodesMigration(t *testing.T) {
	if m := migrationNamed(t, "event_bytes"); m.OlderNodes != 0 {
		t.Fatalf("migration %d welcomes nodes of schema %d, which write text and bytea keys into its columns", m.Version, m.OlderNodes)
	}
	dsn, _, old := migratedBefore(t, "event_bytes")
	old.SetEventCodes(false)
	old.SetDashboards(false) // this code writes the counts into dash_hour_deltas, which migration 0040 makes
	storetest.EventCodesMigration(t, old, opener(dsn))
}

// TestEventAddressesMigration: migration 0044 turns the actor and owner into ids into addresses,
// rewriting each partition: every event reads back, searches, groups and lists as before.
func TestEventAddressesMigration(t *testing.T) {
	if m := migrationNamed(t, "event_addresses"); m.OlderNodes != 0 {
		t.Fatalf("migration %d welcomes nodes of schema %d, which write the actor and owner as text into its integer columns", m.Version, m.OlderNodes)
	}
	dsn, _, old := migratedBefore(t, "event_addresses")
	old.SetAddresses(false)
	storetest.EventAddressesMigration(t, old, opener(dsn))
}

// TestDashboardWeekHorizon: the folds write no week rows for the weeks not closed, the reads take
// their days, and the fold after a week is over makes its rows from them (migration 0041).
func TestDashboardWeekHorizon(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, pgtest.DSN(t), Options{DashFold: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	storetest.DashboardWeekHorizon(t, s, func(now time.Time) error {
		for {
			n, err := s.FoldDashboardsAt(ctx, 0, now)
			if err != nil || n == 0 {
				return err
			}
		}
	})
}

// TestDashboardPeopleMigration: migration 0043 drops dash_person_risky and the deltas of kind r
// still pending; the people per bucket, read from dash_dims, equal the recount before and after
// a fold. Nodes of schema 42 cannot run beside it (their folds keep that table).
func TestDashboardPeopleMigration(t *testing.T) {
	if m := migrationNamed(t, "dashboard_people_from_dims"); m.OlderNodes != 0 {
		t.Fatalf("migration %d welcomes nodes of schema %d, whose folds and reads need dash_person_risky", m.Version, m.OlderNodes)
	}
	dsn, _, old := migratedBefore(t, "dashboard_people_from_dims")
	old.SetAddresses(false) // the actor and owner are text before 0044
	storetest.DashboardPeopleMigration(t, old, func(t *testing.T) store.Store {
		s, err := Open(context.Background(), dsn, Options{DashFold: -1})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}, func(s store.Store) error {
		for {
			n, err := s.(*Store).FoldDashboardsAt(context.Background(), 0, time.Now().Add(1000*time.Hour))
			if err != nil || n == 0 {
				return err
			}
		}
	})
}
