package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/store/postgres"
	"github.com/telltale-dev/telltale/internal/testutil/pgtest"
)

// previousRelease is the commit whose binary plays the release before this one in
// TestRollingUpgrade: the commit that completes migration 0045 (event writers side by side, the
// event horizon; the dashboards' fold took its own lock key in the same release, 7a99262, and
// every node must fold under one key), the last migration that older nodes cannot live with
// (Migrate refuses to apply it while they run: TestMigrateRefusedBesideOlderNodes; the
// integrator moves this to the merge of 0045 if the migration is renumbered). It knows the schema up to 0045, as this build does, until
// a later release adds a migration welcoming it. (Before, the test started from dc4f386, schema
// 44, from 3a8429e, schema 43, and before that from 1039ea2, schema 39, applying 0040-0042 under
// the old node; 0039, 0043, 0044 and 0045 cannot be crossed rolling at all.)
const previousRelease = "7a99262f7aaa9c0b7c0fd5cf7c65ae0734a60b24"

// previousSchema is the schema version previousRelease knows.
const previousSchema = 45

// buildAt builds cmd/telltale as it was at commit, from this clone's history (git archive into a
// temporary directory); the module cache and build cache make it take about 45 s the first time.
func buildAt(t *testing.T, commit string) string {
	t.Helper()
	root, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Fatalf("git rev-parse: %v (the rolling-upgrade test builds an older commit from this clone's history)", err)
	}
	repo := strings.TrimSpace(string(root))
	if out, err := exec.Command("git", "-C", repo, "cat-file", "-e", commit+"^{commit}").CombinedOutput(); err != nil {
		t.Fatalf("commit %s is not in this clone's history (%v %s): clone with full history (not --depth) or run git fetch --unshallow", commit, err, out)
	}
	dir := t.TempDir()
	tarball := filepath.Join(dir, "src.tar")
	if out, err := exec.Command("git", "-C", repo, "archive", "-o", tarball, commit, "go.mod", "go.sum", "cmd", "internal", "client").CombinedOutput(); err != nil {
		t.Fatalf("git archive %s: %v %s", commit, err, out)
	}
	src := filepath.Join(dir, "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("tar", "-xf", tarball, "-C", src).CombinedOutput(); err != nil {
		t.Fatalf("tar: %v %s", err, out)
	}
	bin := filepath.Join(dir, "telltale-"+commit[:8])
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/telltale")
	cmd.Dir = src
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build at %s: %v\n%s", commit, err, out)
	}
	return bin
}

// TestRollingUpgrade: two nodes of the previous release (previousRelease, schema 0045) collect
// live from the Box emulator on one PostgreSQL, alerting on every event and delivering every alert;
// node 1 is stopped and started on this build, which migrates the database while node 0, still
// the previous release, keeps running on the new schema beside it, and alone while node 1 is
// stopped for 5 s; then node 0 is upgraded too.
// Every file activity is stored exactly once, every event is in exactly one alert, every alert
// is delivered (nodesUnderLoadOn), and the old node had no unit fail and logged no error while it
// ran on the new schema (deadlocks between two nodes' transactions, retried, excepted). The rule this follows is in docs/OPERATIONS.md, "Upgrading".
func TestRollingUpgrade(t *testing.T) {
	if testing.Short() {
		t.Skip("builds two versions of the binary")
	}
	dsn := pgtest.DSN(t)
	newBin := buildBinary(t)
	oldBin := buildAt(t, previousRelease)
	ms, err := postgres.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	current := ms[len(ms)-1].Version
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	schema := func() int {
		var v int
		if err := db.QueryRowContext(context.Background(), `SELECT MAX(version) FROM schema_migrations`).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	nodesUnderLoadOn(t, dsn, dsn, []string{oldBin, oldBin}, func(nodes []*node, restart func(i int, bin string)) string {
		if v := schema(); v != previousSchema {
			t.Fatalf("the previous release migrated the database to %d, want %d", v, previousSchema)
		}
		time.Sleep(2 * time.Second)
		// Upgrade node 1: stopped as an administrator stops it, started on the new build.
		nodes[1].cmd.Process.Signal(syscall.SIGTERM)
		nodes[1].cmd.Wait()
		restart(1, newBin)
		if v := schema(); v != current {
			t.Fatalf("after the new node started the schema is %d, want %d", v, current)
		}
		// Mixed: the old node works on the new schema beside the new one; then alone for a while
		// (the new node stopped: a node may be down any time during an upgrade), so that it runs
		// every kind of work on the new schema, whatever the shares gave it before.
		time.Sleep(3 * time.Second)
		nodes[1].cmd.Process.Signal(syscall.SIGTERM)
		nodes[1].cmd.Wait()
		time.Sleep(5 * time.Second)
		restart(1, "")
		time.Sleep(2 * time.Second)
		if err := nodes[0].cmd.Process.Signal(syscall.Signal(0)); err != nil {
			t.Fatalf("the old node exited on the new schema: %v\n%s", err, nodes[0].stderr)
		}
		nodes[0].cmd.Process.Signal(syscall.SIGTERM)
		nodes[0].cmd.Wait()
		// The checks after the run would pass if the new node did all the work; the old node must
		// have run its share without a failure. A deadlock or serialization failure between two
		// nodes' transactions (retried at once, as between nodes of one version) is no
		// incompatibility; it is counted in the log.
		var failed []string
		retried := 0
		for _, l := range strings.Split(nodes[0].stderr.String(), "\n") {
			if !strings.Contains(l, "level=ERROR") && !strings.Contains(l, "unit failed") {
				continue
			}
			if strings.Contains(l, "SQLSTATE 40P01") || strings.Contains(l, "SQLSTATE 40001") {
				retried++
				continue
			}
			failed = append(failed, l)
		}
		if len(failed) > 0 {
			t.Errorf("the old node failed work on the new schema:\n%s", strings.Join(failed, "\n"))
		}
		t.Logf("the old node on the new schema: %d units failed, %d deadlocks or serialization failures retried", len(failed), retried)
		restart(0, newBin)
		return fmt.Sprintf("rolling upgrade from %.8s (schema %d) to this build (schema %d)", previousRelease, previousSchema, current)
	})
}
