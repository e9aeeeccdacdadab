package sqldb_test

import (
	"context"
	"database/sql"
	"path/filepath"
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
	pgSchema := schema(t, pg.Writer(),
		`SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public' ORDER BY table_name, ordinal_position`,
		`SELECT indexname FROM pg_indexes WHERE schemaname = 'public' AND indexname NOT LIKE '%_pkey'`)
	if len(liteSchema) < 16 {
		t.Fatalf("found only %d tables and indexes in SQLite", len(liteSchema))
	}
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
