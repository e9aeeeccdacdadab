package sqldb_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"slices"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/telltale-dev/telltale/internal/store/postgres"
	"github.com/telltale-dev/telltale/internal/store/sqlite"
	"github.com/telltale-dev/telltale/internal/testutil/pgtest"
)

// TestDriversHaveTheSameSchema: the two drivers' migrations are separate .sql files; the tables,
// columns (in order) and index names they create must be the same, since the queries are shared.
// SQLite's FTS5 table for file names (a virtual table with shadow tables) counts as an index: it is
// PostgreSQL's pg_trgm index of the same name.
func TestDriversHaveTheSameSchema(t *testing.T) {
	ctx := context.Background()
	lite, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "s.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer lite.Close()
	pg, err := postgres.Open(ctx, pgtest.DSN(t), postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()

	liteSchema := schema(t, lite.Writer(),
		`SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_list l ON l.name = m.name AND l.schema = 'main', pragma_table_info(m.name) p
		 WHERE m.type = 'table' AND l.type = 'table' ORDER BY m.name, p.cid`,
		`SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_autoindex_%'
		 UNION ALL SELECT name FROM pragma_table_list WHERE schema = 'main' AND type = 'virtual'`)
	// PostgreSQL's partitions of file_events and their indexes are the parent's (migration 0037).
	pgSchema := schema(t, pg.Writer(),
		`SELECT c.table_name, c.column_name FROM information_schema.columns c JOIN pg_class r ON r.relname = c.table_name AND r.relnamespace = 'public'::regnamespace
		 WHERE c.table_schema = 'public' AND NOT r.relispartition ORDER BY c.table_name, c.ordinal_position`,
		`SELECT i.relname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class r ON r.oid = x.indrelid
		 WHERE r.relnamespace = 'public'::regnamespace AND NOT r.relispartition AND i.relname NOT LIKE '%_pkey'`)
	if len(liteSchema) < 16 {
		t.Fatalf("found only %d tables and indexes in SQLite", len(liteSchema))
	}
	// The differences migration 0037 makes on PostgreSQL alone: file_events is partitioned, so its
	// dedupe keys are unique in event_keys (SQLite: a unique index on file_events), id is an index
	// (SQLite: the rowid), and its columns are in another order (no padding between them).
	if _, ok := pgSchema["event_keys"]; !ok {
		t.Error("PostgreSQL has no event_keys")
	}
	delete(pgSchema, "event_keys")
	pgSchema["indexes"] = slices.DeleteFunc(pgSchema["indexes"], func(n string) bool { return n == "file_events_id" })
	liteSchema["indexes"] = slices.DeleteFunc(liteSchema["indexes"], func(n string) bool { return n == "file_events_dedupe" })
	slices.Sort(pgSchema["file_events"])
	slices.Sort(liteSchema["file_events"])
	if diff := cmp.Diff(liteSchema, pgSchema); diff != "" {
		t.Errorf("schemas differ (-sqlite +postgres):\n%s", diff)
	}
}

// schema returns table -> columns in order, plus "index <name>" entries.
func schema(t *testing.T, db *sql.DB, columns, indexes string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	rows, err := db.Query(columns)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var table, col string
		if err := rows.Scan(&table, &col); err != nil {
			t.Fatal(err)
		}
		out[table] = append(out[table], col)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	rows, err = db.Query(indexes)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	sort.Strings(names)
	out["indexes"] = names
	return out
}
