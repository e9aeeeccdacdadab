package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/telltale-dev/telltale/internal/testutil/pgtest"
	_ "modernc.org/sqlite"
)

func TestRebind(t *testing.T) {
	for _, tc := range []struct {
		numbered bool
		in, want string
	}{
		{false, `SELECT a FROM t WHERE a = ? AND b IN (?, ?)`, `SELECT a FROM t WHERE a = ? AND b IN (?, ?)`},
		{true, `SELECT a FROM t WHERE a = ? AND b IN (?, ?)`, `SELECT a FROM t WHERE a = $1 AND b IN ($2, $3)`},
		{true, `SELECT 1`, `SELECT 1`},
	} {
		d := &Dialect{Numbered: tc.numbered}
		for range 2 { // the second call is served from the cache
			if got := d.q(tc.in); got != tc.want {
				t.Errorf("q(%q) numbered=%v = %q, want %q", tc.in, tc.numbered, got, tc.want)
			}
		}
	}
}

func TestSplitStatements(t *testing.T) {
	got := splitStatements("-- a comment; with a semicolon\nCREATE TABLE a (x INT);\n\n-- b\nCREATE INDEX a_x ON a(x);\nINSERT INTO a VALUES (1)\n")
	want := []string{"CREATE TABLE a (x INT)", "CREATE INDEX a_x ON a(x)", "INSERT INTO a VALUES (1)"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Error(diff)
	}
	// A function body's lines end with ";" too: the statement ends after its closing $$.
	got = splitStatements("CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$\nBEGIN\n  -- one\n  RETURN 1;\nEND $$;\nDO $$ BEGIN PERFORM f(); END $$;\nSELECT 1;\n")
	want = []string{"CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$\nBEGIN\n  -- one\n  RETURN 1;\nEND $$", "DO $$ BEGIN PERFORM f(); END $$", "SELECT 1"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Error(diff)
	}
}

func TestLoadMigrations(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	for name, tc := range map[string]struct {
		fs      fstest.MapFS
		want    []Migration
		wantErr string
	}{
		"ordered": {fs: fstest.MapFS{"0002_more.sql": file("B;"), "0001_init.sql": file("A;")},
			want: []Migration{{Version: 1, Name: "init", SQL: "A;"}, {Version: 2, Name: "more", SQL: "B;"}}},
		"older nodes": {fs: fstest.MapFS{"0001_init.sql": file("A;"), "0002_more.sql": file("-- adds a table\n-- older-nodes: 1\nB;")},
			want: []Migration{{Version: 1, Name: "init", SQL: "A;"}, {Version: 2, Name: "more", SQL: "-- adds a table\n-- older-nodes: 1\nB;", OlderNodes: 1}}},
		"older nodes ahead": {fs: fstest.MapFS{"0001_init.sql": file("A;"), "0002_more.sql": file("-- older-nodes: 3\nB;")}, wantErr: "from 1 to 2"},
		"gap":               {fs: fstest.MapFS{"0001_init.sql": file(""), "0003_x.sql": file("")}, wantErr: "without gaps"},
		"repeat":            {fs: fstest.MapFS{"0001_init.sql": file(""), "1_again.sql": file("")}, wantErr: "without gaps"},
		"misnamed":          {fs: fstest.MapFS{"0001_init.sql": file(""), "0002-oops.sql": file("")}, wantErr: "not named"},
		"not zero":          {fs: fstest.MapFS{"0000_init.sql": file("")}, wantErr: "without gaps"},
		"none":              {fs: fstest.MapFS{}, wantErr: "no migrations"},
		"other ext":         {fs: fstest.MapFS{"0001_init.sql": file(""), "README.md": file("")}, wantErr: "not named"},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := LoadMigrations(tc.fs)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Error(diff)
			}
		})
	}
}

// TestMigrate: migrations apply once, in order, all or nothing, and a newer database is refused.
func TestMigrate(t *testing.T) {
	ctx := context.Background()
	raw, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	raw.SetMaxOpenConns(1)
	db := New(&Dialect{Name: "sqlite", IsUnique: func(error) bool { return false }}, raw, raw)
	defer db.Close()
	one := Migration{Version: 1, Name: "init", SQL: "CREATE TABLE a (x INTEGER);\nINSERT INTO a VALUES (1);\n"}
	two := Migration{Version: 2, Name: "more", SQL: "INSERT INTO a VALUES (2);\n"}
	bad := Migration{Version: 3, Name: "bad", SQL: "INSERT INTO a VALUES (3);\nTHIS IS NOT SQL;\n"}
	version := func() (n int) {
		t.Helper()
		if err := raw.QueryRow(`SELECT MAX(version) FROM schema_migrations`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	rows := func() (n int) {
		t.Helper()
		if err := raw.QueryRow(`SELECT COUNT(*) FROM a`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, step := range []struct {
		ms          []Migration
		wantErr     string
		wantVersion int
		wantRows    int
	}{
		{ms: []Migration{one}, wantVersion: 1, wantRows: 1},
		{ms: []Migration{one}, wantVersion: 1, wantRows: 1},      // nothing new: nothing runs again
		{ms: []Migration{two, one}, wantVersion: 2, wantRows: 2}, // order of the list does not matter
		{ms: []Migration{one, two, bad}, wantErr: "migration 3 bad", wantVersion: 2, wantRows: 2},
		{ms: []Migration{one}, wantErr: "schema version 2 but this telltale knows only up to 1, and migration 2 (more) needs nodes that know at least 2", wantVersion: 2, wantRows: 2},
	} {
		err := db.Migrate(ctx, step.ms)
		if step.wantErr == "" && err != nil || step.wantErr != "" && (err == nil || !strings.Contains(err.Error(), step.wantErr)) {
			t.Fatalf("Migrate(%d migrations) = %v, want error %q", len(step.ms), err, step.wantErr)
		}
		if v, n := version(), rows(); v != step.wantVersion || n != step.wantRows {
			t.Errorf("after Migrate(%d migrations): version %d rows %d, want %d and %d", len(step.ms), v, n, step.wantVersion, step.wantRows)
		}
	}
	if err := db.Migrate(ctx, nil); err == nil || errors.Is(err, context.Canceled) {
		t.Errorf("Migrate(nil) = %v, want an error", err)
	}
}

// TestMigrateOlderNodes: during a rolling upgrade a node that knows the schema up to K starts on a
// database a newer node migrated to V > K when every migration after K declared older nodes from
// K or before welcome, and is refused (naming the migration) otherwise; on both drivers. A
// database from before the declarations (no older_nodes column) gets the column.
func TestMigrateOlderNodes(t *testing.T) {
	sqlitePath := filepath.Join(t.TempDir(), "m.db")
	for _, drv := range []struct {
		name string
		open func(t *testing.T) *DB
	}{
		{"sqlite", func(t *testing.T) *DB {
			raw, err := sql.Open("sqlite", "file:"+sqlitePath)
			if err != nil {
				t.Fatal(err)
			}
			raw.SetMaxOpenConns(1)
			return New(&Dialect{Name: "sqlite", IsUnique: func(error) bool { return false }}, raw, raw)
		}},
		{"postgres", func(t *testing.T) *DB {
			dsn := pgtest.DSN(t)
			raw, err := sql.Open("pgx", dsn)
			if err != nil {
				t.Fatal(err)
			}
			return New(&Dialect{Name: "postgres", Numbered: true, MigrationLock: "SELECT pg_advisory_xact_lock(724201)", IsUnique: func(error) bool { return false }}, raw, raw)
		}},
	} {
		t.Run(drv.name, func(t *testing.T) {
			ctx := context.Background()
			db := drv.open(t)
			defer db.Close()
			// A database migrated before older_nodes existed.
			if _, err := db.writer.ExecContext(ctx, `CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`); err != nil {
				t.Fatal(err)
			}
			one := Migration{Version: 1, Name: "init", SQL: "CREATE TABLE a (x INTEGER);\n"}
			if _, err := db.writer.ExecContext(ctx, `CREATE TABLE a (x INTEGER)`); err != nil {
				t.Fatal(err)
			}
			if _, err := db.writer.ExecContext(ctx, db.d.q(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`), 1, "init", 1); err != nil {
				t.Fatal(err)
			}
			two := Migration{Version: 2, Name: "strict", SQL: "INSERT INTO a VALUES (2);\n"}                      // undeclared: no older node
			three := Migration{Version: 3, Name: "additive", SQL: "CREATE TABLE b (y INTEGER);\n", OlderNodes: 2} // nodes of 2 keep working
			four := Migration{Version: 4, Name: "additive_too", SQL: "CREATE TABLE c (z INTEGER);\n", OlderNodes: 2}
			for _, step := range []struct {
				ms        []Migration
				wantErr   string
				wantAhead [2]int
			}{
				{ms: []Migration{one, two}},
				{ms: []Migration{one}, wantErr: "migration 2 (strict) needs nodes that know at least 2"},
				{ms: []Migration{one, two, three, four}},
				{ms: []Migration{one, two, three}, wantAhead: [2]int{4, 3}}, // one release behind: runs
				{ms: []Migration{one, two}, wantAhead: [2]int{4, 2}},
				{ms: []Migration{one}, wantErr: "knows only up to 1, and migration 2 (strict) needs nodes that know at least 2"},
			} {
				db.ahead = [2]int{}
				err := db.Migrate(ctx, step.ms)
				known := step.ms[len(step.ms)-1].Version
				if step.wantErr == "" && err != nil || step.wantErr != "" && (err == nil || !strings.Contains(err.Error(), step.wantErr)) {
					t.Fatalf("Migrate(up to %d) = %v, want error %q", known, err, step.wantErr)
				}
				if err != nil && !strings.Contains(err.Error(), "docs/OPERATIONS.md") {
					t.Errorf("the refusal does not say where to read on: %v", err)
				}
				if have, k := db.SchemaAhead(); [2]int{have, k} != step.wantAhead {
					t.Errorf("Migrate(up to %d): SchemaAhead = %d, %d, want %v", known, have, k, step.wantAhead)
				}
			}
			var older int
			if err := db.writer.QueryRowContext(ctx, `SELECT older_nodes FROM schema_migrations WHERE version = 3`).Scan(&older); err != nil || older != 2 {
				t.Errorf("older_nodes of migration 3 = %d, %v; want 2", older, err)
			}
		})
	}
}

// TestMigrateRefusedBesideOlderNodes: on PostgreSQL a migration that older nodes cannot live with
// is not applied while another node wrote a heartbeat within NodesLiveWindow (it would keep
// writing the old way into the new schema); the refusal names the migration and the nodes and
// changes nothing. A migration declaring those nodes welcome runs beside them, and a node silent
// for longer than the window does not hold the upgrade back.
func TestMigrateRefusedBesideOlderNodes(t *testing.T) {
	ctx := context.Background()
	raw, err := sql.Open("pgx", pgtest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	db := New(&Dialect{Name: "postgres", Numbered: true, MigrationLock: "SELECT pg_advisory_xact_lock(724201)", IsUnique: func(error) bool { return false }}, raw, raw)
	defer db.Close()
	one := Migration{Version: 1, Name: "init", SQL: "CREATE TABLE nodes (owner TEXT PRIMARY KEY, started_at BIGINT NOT NULL, heartbeat_at BIGINT NOT NULL);\n"}
	if err := db.Migrate(ctx, []Migration{one}); err != nil {
		t.Fatal(err)
	}
	beat := func(owner string, ago time.Duration) {
		at := micros(time.Now().Add(-ago))
		if _, err := raw.ExecContext(ctx, `INSERT INTO nodes (owner, started_at, heartbeat_at) VALUES ($1, $2, $2) ON CONFLICT (owner) DO UPDATE SET heartbeat_at = excluded.heartbeat_at`, owner, at); err != nil {
			t.Fatal(err)
		}
	}
	version := func() (v int) {
		if err := raw.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	beat("old-node-a", 10*time.Second)
	beat("gone-node", 10*time.Minute)
	additive := Migration{Version: 2, Name: "additive", SQL: "CREATE TABLE b (y INTEGER);\n", OlderNodes: 1}
	strict := Migration{Version: 3, Name: "partitions", SQL: "CREATE TABLE c (z INTEGER);\n"}
	err = db.Migrate(ctx, []Migration{one, additive, strict})
	if err == nil || !strings.Contains(err.Error(), "migration 3 (partitions) cannot run while nodes of the older release (schema 1)") ||
		!strings.Contains(err.Error(), "old-node-a") || strings.Contains(err.Error(), "gone-node") || !strings.Contains(err.Error(), "docs/OPERATIONS.md") {
		t.Fatalf("a strict migration beside a running older node: %v", err)
	}
	if v := version(); v != 1 {
		t.Fatalf("the refused upgrade left the schema at %d, want 1 (nothing applied)", v)
	}
	if err := db.Migrate(ctx, []Migration{one, additive}); err != nil {
		t.Fatalf("a migration declaring nodes of 1 welcome, beside one: %v", err)
	}
	beat("old-node-a", NodesLiveWindow+time.Minute)
	if err := db.Migrate(ctx, []Migration{one, additive, strict}); err != nil {
		t.Fatalf("a strict migration once the older nodes are silent: %v", err)
	}
	if v := version(); v != 3 {
		t.Fatalf("schema %d after the upgrade, want 3", v)
	}
}

// TestKeyCopyBackoff: after an insert whose keys could not all be copied (a repeat), the next
// keyCopyBackoff inserts of the DB claim their keys without trying a COPY (each refused COPY is
// wasted work and an ERROR line in PostgreSQL's log), then the COPY is tried again; a transaction
// tries at most maxKeyCopies.
func TestKeyCopyBackoff(t *testing.T) {
	var skip atomic.Int32
	tx := func() *Queries { return &Queries{d: &Dialect{}, keyCopySkip: &skip} }
	if !tx().tryKeyCopy() {
		t.Fatal("no COPY tried before any repeat")
	}
	skip.Store(keyCopyBackoff)
	for i := 0; i < keyCopyBackoff; i++ {
		if tx().tryKeyCopy() {
			t.Fatalf("insert %d after a repeat tried a COPY", i+1)
		}
	}
	if !tx().tryKeyCopy() {
		t.Fatalf("no COPY tried %d inserts after a repeat", keyCopyBackoff+1)
	}
	q, n := tx(), 0
	for i := 0; i < 2*maxKeyCopies; i++ {
		if q.tryKeyCopy() {
			n++
		}
	}
	if n != maxKeyCopies {
		t.Errorf("one transaction tried %d COPYs, want at most %d", n, maxKeyCopies)
	}
	if (&Queries{d: &Dialect{NoEventKeys: true}}).tryKeyCopy() || (&Queries{d: &Dialect{TextVocabularies: true}}).tryKeyCopy() {
		t.Error("a COPY of the keys tried on a schema before migration 0039")
	}
}
