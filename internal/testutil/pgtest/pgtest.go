package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // "pgx" database/sql driver
)

var (
	once     sync.Once
	adminDSN string
	startErr error
	seq      atomic.Int64
	// The throwaway server's controls (empty with TELLTALE_TEST_POSTGRES_URL), for Restart.
	ctl struct {
		run  func(name string, args ...string) *exec.Cmd
		data string
		opts string
		log  string
	}
)

// Required reports whether a missing server must fail the test run.
func Required() bool {
	return os.Getenv("CI") == "true" || os.Getenv("TELLTALE_TEST_POSTGRES") == "require"
}

// DSN returns the DSN of a fresh, empty database. It skips the test when no PostgreSQL can be had
// (or fails it under CI=true or TELLTALE_TEST_POSTGRES=require). On a server given by
// TELLTALE_TEST_POSTGRES_URL the database is dropped when the test ends; a throwaway server is
// removed whole when the test binary exits.
func DSN(tb testing.TB) string {
	tb.Helper()
	dsn, err := NewDatabase()
	if err != nil {
		if Required() {
			tb.Fatalf("pgtest: PostgreSQL is required here (CI=true or TELLTALE_TEST_POSTGRES=require) but: %v", err)
		}
		tb.Skipf("pgtest: no PostgreSQL (%v); install PostgreSQL 15 (Debian: postgresql) or set TELLTALE_TEST_POSTGRES_URL=postgres://user@host:port/db", err)
	}
	if os.Getenv(envURL) != "" {
		tb.Cleanup(func() {
			if err := dropDatabase(dsn); err != nil {
				tb.Logf("pgtest: %v", err)
			}
		})
	}
	return dsn
}

const envURL = "TELLTALE_TEST_POSTGRES_URL"

// NewDatabase starts the server once if needed and creates a fresh database. Benchmarks use it too.
func NewDatabase() (string, error) {
	once.Do(func() { adminDSN, startErr = start() })
	if startErr != nil {
		return "", startErr
	}
	u, err := url.Parse(adminDSN)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", fmt.Errorf("%s must be a postgres:// URL", envURL)
	}
	db, err := sql.Open("pgx", adminDSN)
	if err != nil {
		return "", err
	}
	defer db.Close()
	var r [4]byte
	rand.Read(r[:])
	name := fmt.Sprintf("tt_%d_%d_%x", os.Getpid(), seq.Add(1), r)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		return "", fmt.Errorf("create database: %w", err)
	}
	u.Path = "/" + name
	return u.String(), nil
}

func dropDatabase(dsn string) error {
	u, err := url.Parse(dsn)
	if err != nil {
		return err
	}
	name := strings.TrimPrefix(u.Path, "/")
	db, err := sql.Open("pgx", adminDSN)
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	return nil
}

// binDir finds the newest PostgreSQL installation (Debian layout), else initdb on PATH.
func binDir() (string, error) {
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	version := func(p string) float64 {
		v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(filepath.Dir(p))), 64)
		return v
	}
	sort.Slice(bins, func(i, j int) bool { return version(bins[i]) < version(bins[j]) })
	if len(bins) == 0 {
		if p, err := exec.LookPath("initdb"); err == nil {
			bins = []string{p}
		}
	}
	if len(bins) == 0 {
		return "", errors.New("initdb not found (looked in /usr/lib/postgresql/*/bin and PATH)")
	}
	return filepath.Dir(bins[len(bins)-1]), nil
}

func start() (string, error) {
	if u := os.Getenv(envURL); u != "" {
		return u, nil
	}
	binDir, err := binDir()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "telltale-pg-")
	if err != nil {
		return "", err
	}
	asPostgres := os.Geteuid() == 0
	run := func(name string, args ...string) *exec.Cmd {
		path := filepath.Join(binDir, name)
		if asPostgres {
			return exec.Command("runuser", append([]string{"-u", "postgres", "--", path}, args...)...)
		}
		return exec.Command(path, args...)
	}
	if asPostgres {
		u, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(dir)
			return "", fmt.Errorf("initdb refuses root, and there is no postgres user to run it as: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return "", err
		}
	}
	data := filepath.Join(dir, "data")
	if out, err := run("initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync").CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("initdb: %v: %s", err, out)
	}
	// The free port can be taken between freePort and the server binding it: try a few.
	var port int
	for attempt := 1; ; attempt++ {
		if port, err = freePort(); err != nil {
			os.RemoveAll(dir)
			return "", err
		}
		opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200", port, dir)
		out, err := run("pg_ctl", "-D", data, "-o", opts, "-l", filepath.Join(dir, "log"), "-w", "-t", "60", "start").CombinedOutput()
		if err == nil {
			ctl.run, ctl.data, ctl.opts, ctl.log = run, data, opts, filepath.Join(dir, "log")
			break
		}
		if attempt == 3 {
			log, _ := os.ReadFile(filepath.Join(dir, "log"))
			os.RemoveAll(dir)
			return "", fmt.Errorf("pg_ctl start: %v: %s %s", err, out, log)
		}
	}
	// The watchdog stops the server and removes its files once this process is gone.
	stop := fmt.Sprintf("%s -D %s -m immediate stop", filepath.Join(binDir, "pg_ctl"), data)
	if asPostgres {
		stop = "runuser -u postgres -- " + stop
	}
	wd := exec.Command("sh", "-c", fmt.Sprintf("while kill -0 %d 2>/dev/null; do sleep 1; done; %s >/dev/null 2>&1; rm -rf %s", os.Getpid(), stop, dir))
	if err := wd.Start(); err != nil {
		exec.Command("sh", "-c", stop).Run()
		os.RemoveAll(dir)
		return "", fmt.Errorf("watchdog: %w", err)
	}
	go wd.Wait()
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port), nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Restart stops the throwaway server the way an administrator restarts PostgreSQL (fast mode:
// clients are disconnected, every committed transaction is kept), keeps it down for down, and
// starts it again on the same port. Every database of the test binary goes down with it. On a
// server given by TELLTALE_TEST_POSTGRES_URL it skips the test: that server is not ours to stop.
func Restart(tb testing.TB, down time.Duration) {
	tb.Helper()
	if ctl.run == nil {
		tb.Skipf("pgtest: restarting needs the throwaway server; %s names one this test may not stop", envURL)
	}
	if out, err := ctl.run("pg_ctl", "-D", ctl.data, "-m", "fast", "-w", "-t", "60", "stop").CombinedOutput(); err != nil {
		tb.Fatalf("pgtest: pg_ctl stop: %v: %s", err, out)
	}
	time.Sleep(down)
	if out, err := ctl.run("pg_ctl", "-D", ctl.data, "-o", ctl.opts, "-l", ctl.log, "-w", "-t", "60", "start").CombinedOutput(); err != nil {
		log, _ := os.ReadFile(ctl.log)
		tb.Fatalf("pgtest: pg_ctl start after a restart: %v: %s %s", err, out, log)
	}
}
