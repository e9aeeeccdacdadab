package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
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
			want: []Migration{{1, "init", "A;"}, {2, "more", "B;"}}},
		"gap":       {fs: fstest.MapFS{"0001_init.sql": file(""), "0003_x.sql": file("")}, wantErr: "without gaps"},
		"repeat":    {fs: fstest.MapFS{"0001_init.sql": file(""), "1_again.sql": file("")}, wantErr: "without gaps"},
		"misnamed":  {fs: fstest.MapFS{"0001_init.sql": file(""), "0002-oops.sql": file("")}, wantErr: "not named"},
		"not zero":  {fs: fstest.MapFS{"0000_init.sql": file("")}, wantErr: "without gaps"},
		"none":      {fs: fstest.MapFS{}, wantErr: "no migrations"},
		"other ext": {fs: fstest.MapFS{"0001_init.sql": file(""), "README.md": file("")}, wantErr: "not named"},
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
	one := Migration{1, "init", "CREATE TABLE a (x INTEGER);\nINSERT INTO a VALUES (1);\n"}
	two := Migration{2, "more", "INSERT INTO a VALUES (2);\n"}
	bad := Migration{3, "bad", "INSERT INTO a VALUES (3);\nTHIS IS NOT SQL;\n"}
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
		{ms: []Migration{one}, wantErr: "schema version 2 but this telltale knows only up to 1", wantVersion: 2, wantRows: 2},
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
