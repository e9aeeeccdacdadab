package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/store"
	"github.com/telltale-dev/telltale/internal/store/sqldb"
	"github.com/telltale-dev/telltale/internal/store/storetest"
)

// v4Inserts stores events as a binary of schema version 4 did, SQLite choosing the ids: this
// version's insert continues after event_id_floor, which migration 0006 adds.
type v4Inserts struct {
	*sqldb.DB
	w *sql.DB
}

func (s v4Inserts) InsertEvents(ctx context.Context, evs []*event.FileEvent, held bool) (int, error) {
	n := 0
	for _, e := range evs {
		// the actor and owner as text (before migration 0044)
		row, err := sqldb.EventRow(e, held, time.Now().UnixMicro(), sqldb.AddressIDs{e.User.Email: 0, e.File.Owner: 0})
		if err != nil {
			return n, err
		}
		row[7], row[13] = e.User.Email, e.File.Owner
		insert := strings.NewReplacer("actor_id", "actor", "owner_id", "owner").Replace(sqldb.MultiRowInsert(1, ""))
		if _, err := s.w.ExecContext(ctx, insert, row...); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := Open(context.Background(), filepath.Join(t.TempDir(), "t.db"), Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.db")
	s, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Writer().Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'future', 0)`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err = Open(context.Background(), path, Options{})
	if err == nil || !strings.Contains(err.Error(), "schema version 99") {
		t.Fatalf("newer schema: %v", err)
	}
	// Reopening an up-to-date database applies nothing and works.
	path2 := filepath.Join(t.TempDir(), "u.db")
	for i := 0; i < 2; i++ {
		s, err := Open(context.Background(), path2, Options{})
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
}

// TestSearchIndexMigration: migration 0005 builds the FTS5 name index from the events already
// stored, and its triggers keep it in step afterwards.
func TestSearchIndexMigration(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "t.db")
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) < 5 || ms[4].Version != 5 || !strings.Contains(ms[4].Name, "search_indexes") {
		t.Fatalf("migration 5 is not the search indexes: %+v", ms[4])
	}
	w, err := sql.Open("sqlite", DSN(path, false))
	if err != nil {
		t.Fatal(err)
	}
	w.SetMaxOpenConns(1)
	r, err := sql.Open("sqlite", DSN(path, true))
	if err != nil {
		t.Fatal(err)
	}
	old := sqldb.New(dialect(), w, r)
	if err := old.Migrate(ctx, ms[:4]); err != nil {
		t.Fatal(err)
	}
	old.SetDashboards(false) // the schema before migration 0030 has no dashboards' counts
	old.SetEventCodes(false) // nor codes (0039)
	storetest.SearchIndexMigration(t, v4Inserts{old, w}, opener(path))
}

// TestCheckpointOwnerMigration: a checkpoint stored before migration 0008 keeps its position and
// has no owner.
func TestCheckpointOwnerMigration(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "t.db")
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) < 8 || ms[7].Version != 8 || !strings.Contains(ms[7].Name, "checkpoint_owners") {
		t.Fatalf("migration 8 is not the checkpoint owners: %+v", ms)
	}
	w, err := sql.Open("sqlite", DSN(path, false))
	if err != nil {
		t.Fatal(err)
	}
	w.SetMaxOpenConns(1)
	r, err := sql.Open("sqlite", DSN(path, true))
	if err != nil {
		t.Fatal(err)
	}
	old := sqldb.New(dialect(), w, r)
	if err := old.Migrate(ctx, ms[:7]); err != nil {
		t.Fatal(err)
	}
	old.SetDashboards(false) // the schema before migration 0030 has no dashboards' counts
	old.SetEventCodes(false) // nor codes (0039)
	storetest.CheckpointOwnerMigration(t, old, func(q string) error { _, err := w.ExecContext(ctx, q); return err }, opener(path))
}

// TestAuditLegacyMigration: migration 0031 and the first open seal the audit records written
// before the chain existed.
func TestAuditLegacyMigration(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "t.db")
	w, old := migratedBefore(t, path, "audit_chain")
	storetest.AuditLegacyMigration(t, func(q string) error { _, err := w.ExecContext(ctx, q); return err }, opener(path))
	old.Close()
}

// TestDashboardWeeksMigration: migration 0036 sums the weeks and the people per bucket from the
// counts written before it, so an upgraded database answers as one that counted them all along.
func TestDashboardWeeksMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.db")
	open := opener(path)
	storetest.DashboardWeeksMigration(t, open(t), migrationNamed(t, "dashboard_weeks").Version, open)
}

// TestDeviceHealthLastMigration: migration 0038 takes each device's health_last from its last
// health row, so an upgraded device's check-ins write rows as before the upgrade.
func TestDeviceHealthLastMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.db")
	open := opener(path)
	storetest.DeviceHealthLastMigration(t, open(t), migrationNamed(t, "device_health_last").Version, open)
}

// TestEventCodesMigration: migration 0039 makes file_events again with the vocabularies as codes:
// every value reads back and is found as before (the FTS5 name index included).
func TestEventCodesMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.db")
	_, old := migratedBefore(t, path, "event_bytes")
	defer old.Close()
	old.SetEventCodes(false)
	old.SetDashboards(false) // this code reads the week horizon, which migration 0041 makes
	open := opener(path)
	storetest.EventCodesMigration(t, old, func(t *testing.T) store.Store {
		s := open(t)
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// TestEventAddressesMigration: migration 0044 makes file_events again with the actor and owner as
// ids into addresses: every event reads back, searches, groups and lists as before.
func TestEventAddressesMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.db")
	_, old := migratedBefore(t, path, "event_addresses")
	defer old.Close()
	old.SetAddresses(false)
	open := opener(path)
	storetest.EventAddressesMigration(t, old, func(t *testing.T) store.Store {
		s := open(t)
		t.Cleanup(func() { s.Close() })
		return s
	})
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

// migratedBefore makes the database at path, migrated up to the migration whose name holds name,
// not including it, and returns a raw handle and a store of that older schema (one handle for
// writes and reads).
func migratedBefore(t *testing.T, path, name string) (*sql.DB, *sqldb.DB) {
	t.Helper()
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	v := migrationNamed(t, name).Version
	w, err := sql.Open("sqlite", DSN(path, false))
	if err != nil {
		t.Fatal(err)
	}
	old := sqldb.New(dialect(), w, w)
	if err := old.Migrate(context.Background(), slices.DeleteFunc(ms, func(m sqldb.Migration) bool { return m.Version >= v })); err != nil {
		t.Fatal(err)
	}
	return w, old
}

// opener opens the store at path, for the migration cases that reopen it.
func opener(path string) func(t *testing.T) store.Store {
	return func(t *testing.T) store.Store {
		s, err := Open(context.Background(), path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
}

// TestDashboardWeekHorizon: the weeks not closed are written without week rows and read from
// their days; closing a week makes its rows from them (migration 0041).
func TestDashboardWeekHorizon(t *testing.T) {
	s := opener(filepath.Join(t.TempDir(), "t.db"))(t).(*Store)
	t.Cleanup(func() { s.Close() })
	storetest.DashboardWeekHorizon(t, s, func(now time.Time) error {
		_, err := s.FoldDashboardsAt(context.Background(), 0, now)
		return err
	})
}

// TestDashboardTablesWithoutRowid: the count tables the event transaction upserts keep their rows
// in their key's B-tree (migration 0042), one B-tree to write per count row instead of two.
func TestDashboardTablesWithoutRowid(t *testing.T) {
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "t.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, table := range []string{"dash_hours", "dash_dims", "dash_people"} { // dash_person_risky too, until 0043 dropped it
		var wr int
		if err := s.Writer().QueryRow(`SELECT wr FROM pragma_table_list WHERE schema = 'main' AND name = ?`, table).Scan(&wr); err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		if wr != 1 {
			t.Errorf("%s is a rowid table; migration 0042 makes it WITHOUT ROWID", table)
		}
	}
}

// TestWriterSettings: the writer connection keeps 32 MiB of page cache and checkpoints the WAL
// every 10,000 pages (DSN says why); a reader is query-only and keeps SQLite's defaults.
func TestWriterSettings(t *testing.T) {
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "t.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, c := range []struct {
		pragma string
		want   int64
	}{{"cache_size", -32768}, {"wal_autocheckpoint", 10000}, {"synchronous", 2}} {
		var got int64
		if err := s.Writer().QueryRow(`PRAGMA ` + c.pragma).Scan(&got); err != nil || got != c.want {
			t.Errorf("writer's %s = %d (%v), want %d", c.pragma, got, err, c.want)
		}
	}
	r, err := sql.Open("sqlite", DSN(filepath.Join(t.TempDir(), "r.db"), true))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	r.SetMaxOpenConns(1)
	for pragma, want := range map[string]int64{"wal_autocheckpoint": 1000, "query_only": 1} {
		var got int64
		if err := r.QueryRow(`PRAGMA ` + pragma).Scan(&got); err != nil || got != want {
			t.Errorf("reader's %s = %d (%v), want %d", pragma, got, err, want)
		}
	}
}
