package main

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"time"
)

// pgServer is a throwaway PostgreSQL started like internal/testutil/pgtest (initdb and pg_ctl as the
// postgres user on a free loopback port, the same durability settings as the tests), plus
// pg_stat_statements so that statements per job can be counted.
type pgServer struct {
	dir, data, bin string
	port           int
	asPostgres     bool
}

func (s *pgServer) cmd(name string, args ...string) *exec.Cmd {
	path := filepath.Join(s.bin, name)
	if s.asPostgres {
		return exec.Command("runuser", append([]string{"-u", "postgres", "--", path}, args...)...)
	}
	return exec.Command(path, args...)
}

func startPG() (*pgServer, error) {
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		return nil, fmt.Errorf("initdb not found in /usr/lib/postgresql/*/bin: install PostgreSQL 15 (Debian: apt-get install postgresql)")
	}
	sort.Strings(bins)
	s := &pgServer{bin: filepath.Dir(bins[len(bins)-1]), asPostgres: os.Geteuid() == 0}
	dir, err := os.MkdirTemp("", "workcompare-pg-")
	if err != nil {
		return nil, err
	}
	s.dir, s.data = dir, filepath.Join(dir, "data")
	if s.asPostgres {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("initdb refuses root and there is no postgres user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, err
		}
	}
	if out, err := s.cmd("initdb", "-D", s.data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync").CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v: %s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all", s.port, dir)
	if out, err := s.cmd("pg_ctl", "-D", s.data, "-o", opts, "-l", filepath.Join(dir, "log"), "-w", "-t", "60", "start").CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "log"))
		os.RemoveAll(dir)
		return nil, fmt.Errorf("pg_ctl start: %v: %s %s", err, out, log)
	}
	// A watchdog stops the server and removes its files once this process is gone, even killed.
	stop := fmt.Sprintf("%s -D %s -m immediate stop", filepath.Join(s.bin, "pg_ctl"), s.data)
	if s.asPostgres {
		stop = "runuser -u postgres -- " + stop
	}
	if err := exec.Command("sh", "-c", fmt.Sprintf("while kill -0 %d 2>/dev/null; do sleep 1; done; %s >/dev/null 2>&1; rm -rf %s", os.Getpid(), stop, dir)).Start(); err != nil {
		s.stop()
		return nil, fmt.Errorf("watchdog: %w", err)
	}
	// In template1, so that every database created for a run has the view.
	db, err := sql.Open("pgx", s.dsn("template1"))
	if err != nil {
		s.stop()
		return nil, err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"); err != nil {
		s.stop()
		return nil, fmt.Errorf("pg_stat_statements: %w", err)
	}
	return s, nil
}

func (s *pgServer) dsn(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.port, db)
}

// newDB creates a fresh database and returns its DSN.
func (s *pgServer) newDB(name string) (string, error) {
	db, err := sql.Open("pgx", s.dsn("postgres"))
	if err != nil {
		return "", err
	}
	defer db.Close()
	if _, err := db.Exec("CREATE DATABASE " + name); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	return s.dsn(name), nil
}

func (s *pgServer) stop() {
	_ = s.cmd("pg_ctl", "-D", s.data, "-m", "immediate", "stop").Run()
	os.RemoveAll(s.dir)
}

// pgCost is a snapshot of the counters that tell what the database did.
type pgCost struct {
	statements, commits, written int64 // statements run, transactions committed, rows inserted+updated+deleted
	wal                          int64 // WAL bytes (cluster-wide; nothing else runs on this server)
}

func readCost(ctx context.Context, db *sql.DB) (pgCost, error) {
	var c pgCost
	// The counters are flushed by backends at the end of transactions; a short wait lets the
	// other connections' numbers arrive.
	if _, err := db.ExecContext(ctx, "SELECT pg_stat_force_next_flush()"); err != nil {
		return c, err
	}
	err := db.QueryRowContext(ctx, `SELECT
 (SELECT coalesce(sum(calls), 0)::bigint FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())),
 xact_commit, tup_inserted + tup_updated + tup_deleted,
 pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint
 FROM pg_stat_database WHERE datname = current_database()`).Scan(&c.statements, &c.commits, &c.written, &c.wal)
	return c, err
}

func (c pgCost) sub(o pgCost) pgCost {
	return pgCost{c.statements - o.statements, c.commits - o.commits, c.written - o.written, c.wal - o.wal}
}

func openRaw(dsn string) (*sql.DB, error) { return sql.Open("pgx", dsn) }
