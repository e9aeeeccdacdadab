package bench

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/telltale-dev/telltale/internal/store"
	"github.com/telltale-dev/telltale/internal/store/postgres"
	"github.com/telltale-dev/telltale/internal/store/sqlite"
	"github.com/telltale-dev/telltale/internal/testutil/pgtest"
)

// AuditOptions configure the audit log benchmark (issue 18, R8.8): what sealing each record into
// the hash chain costs an append, against the plain insert every append was before, side by side;
// and how fast the whole chain verifies.
type AuditOptions struct {
	Drivers []string
	Writers int // concurrent appenders (API requests at once)
	Appends int // appends per mode per round
	Rounds  int
	DSN     string
	TempDir string
}

// AuditRound is one mode of one round.
type AuditRound struct {
	Driver    string
	Round     int
	Mode      string // plain or chained
	PerSecond float64
	P50, P95  float64 // ms per append
}

// AuditResult is one driver's rounds and its verification.
type AuditResult struct {
	Driver         string
	Rounds         []AuditRound
	VerifyRecords  int64
	VerifySeconds  float64
	VerifyOK       bool
	VerifyPerSec   float64
	ChainedRecords int64
}

// AuditCommand runs the benchmark from the command line.
func AuditCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := AuditOptions{}
	drivers := fs.String("drivers", "sqlite,postgres", "stores to measure")
	fs.IntVar(&o.Writers, "writers", 8, "concurrent appenders")
	fs.IntVar(&o.Appends, "appends", 4000, "appends per mode per round")
	fs.IntVar(&o.Rounds, "rounds", 3, "rounds of (plain, chained), alternated")
	fs.StringVar(&o.DSN, "dsn", "", "PostgreSQL URL (default: a throwaway server)")
	write := fs.String("write", "", "write the result section into this markdown file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o.Drivers = strings.Split(*drivers, ",")
	done, err := scratchDir(&o.TempDir, "telltale-bench-audit-")
	if err != nil {
		return err
	}
	defer done()
	rs, err := eachDriver(o.Drivers, func(d string) (AuditResult, error) { return runAudit(ctx, o, d, stderr) })
	if err != nil {
		return err
	}
	return publish(stdout, *write, "audit", FormatAudit(rs, o, "go run ./cmd/telltale-bench audit "+strings.Join(args, " ")))
}

// plainAuditDDL is audit_log as it was before the chain (migration 0001): what an append cost then.
var plainAuditDDL = map[string]string{
	"sqlite":   `CREATE TABLE audit_plain (id INTEGER PRIMARY KEY, at INTEGER NOT NULL, actor TEXT NOT NULL DEFAULT '', actor_id INTEGER NOT NULL DEFAULT 0, action TEXT NOT NULL, target TEXT NOT NULL DEFAULT '', details BLOB, client_ip TEXT NOT NULL DEFAULT '', outcome TEXT NOT NULL DEFAULT '')`,
	"postgres": `CREATE TABLE audit_plain (id BIGSERIAL PRIMARY KEY, at BIGINT NOT NULL, actor TEXT NOT NULL DEFAULT '', actor_id BIGINT NOT NULL DEFAULT 0, action TEXT NOT NULL, target TEXT NOT NULL DEFAULT '', details BYTEA, client_ip TEXT NOT NULL DEFAULT '', outcome TEXT NOT NULL DEFAULT '')`,
}

func runAudit(ctx context.Context, o AuditOptions, driver string, progress io.Writer) (AuditResult, error) {
	var s store.Store
	var w *sql.DB
	insert := `INSERT INTO audit_plain (at, actor, actor_id, action, target, details, client_ip, outcome) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`
	switch driver {
	case "sqlite":
		ls, err := sqlite.Open(ctx, filepath.Join(o.TempDir, "audit.db"), sqlite.Options{})
		if err != nil {
			return AuditResult{}, err
		}
		s, w = ls, ls.Writer()
	case "postgres":
		dsn := o.DSN
		if dsn == "" {
			var err error
			if dsn, err = pgtest.NewDatabase(); err != nil {
				return AuditResult{}, fmt.Errorf("%w (install PostgreSQL 15, or pass -dsn)", err)
			}
		}
		ps, err := postgres.Open(ctx, dsn, postgres.Options{})
		if err != nil {
			return AuditResult{}, err
		}
		s, w = ps, ps.Writer()
		insert = `INSERT INTO audit_plain (at, actor, actor_id, action, target, details, client_ip, outcome) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`
	default:
		return AuditResult{}, fmt.Errorf("unknown driver %q: use sqlite or postgres", driver)
	}
	defer s.Close()
	if _, err := w.ExecContext(ctx, plainAuditDDL[driver]); err != nil {
		return AuditResult{}, err
	}
	details := []byte(`{"q":"actor:alice@corp.example action:file-shared","rows":100}`)
	modes := map[string]func() error{
		"plain": func() error {
			var id int64
			return w.QueryRowContext(ctx, insert, time.Now().UnixMicro(), "alice", 3, "file_events.search", "file_events", details, "192.0.2.1", "ok").Scan(&id)
		},
		"chained": func() error {
			_, err := s.AppendAudit(ctx, store.AuditEntry{At: time.Now(), Actor: "alice", ActorID: 3, Action: "file_events.search", Target: "file_events",
				Details: details, ClientIP: "192.0.2.1", Outcome: "ok"})
			return err
		},
	}
	r := AuditResult{Driver: driver}
	for round := 1; round <= o.Rounds; round++ {
		for _, mode := range []string{"plain", "chained"} {
			fmt.Fprintf(progress, "%s round %d: %d %s appends by %d writers\n", driver, round, o.Appends, mode, o.Writers)
			lat := make([][]float64, o.Writers)
			var wg sync.WaitGroup
			errs := make(chan error, o.Writers)
			start := time.Now()
			for g := 0; g < o.Writers; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := g; i < o.Appends; i += o.Writers {
						t := time.Now()
						if err := modes[mode](); err != nil {
							errs <- err
							return
						}
						lat[g] = append(lat[g], float64(time.Since(t).Microseconds())/1000)
					}
				}()
			}
			wg.Wait()
			secs := time.Since(start).Seconds()
			close(errs)
			for err := range errs {
				return r, fmt.Errorf("%s: %w", mode, err)
			}
			var all []float64
			for _, l := range lat {
				all = append(all, l...)
			}
			sort.Float64s(all)
			r.Rounds = append(r.Rounds, AuditRound{Driver: driver, Round: round, Mode: mode, PerSecond: float64(o.Appends) / secs,
				P50: all[len(all)/2], P95: all[len(all)*95/100]})
			if mode == "chained" {
				r.ChainedRecords += int64(o.Appends)
			}
		}
	}
	fmt.Fprintf(progress, "%s: verifying the chain\n", driver)
	start := time.Now()
	v, err := store.VerifyAudit(ctx, s)
	if err != nil {
		return r, err
	}
	r.VerifySeconds, r.VerifyRecords, r.VerifyOK = time.Since(start).Seconds(), v.Count, v.OK
	r.VerifyPerSec = float64(v.Count) / r.VerifySeconds
	return r, nil
}

// FormatAudit is the benchmark's section of docs/BENCHMARKS.md.
func FormatAudit(rs []AuditResult, o AuditOptions, command string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## Audit log: the hash chain's cost (issue 18, R8.8)\n\n- Date: %s. Machine: %s. The machine is shared: other builds and tests may have been running during the run.\n", Stamp(), Machine())
	if la, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Fprintf(&b, "- Load average at the end of the run (1, 5, 15 min): %s.\n", strings.Join(strings.Fields(string(la))[:3], ", "))
	}
	fmt.Fprintf(&b, "- Command: `%s`\n", command)
	fmt.Fprintf(&b, "- %d writers append %d audit records per mode and round, %d rounds alternating the modes. **plain** is an append as it was before the chain: one INSERT into a table shaped like the old `audit_log`. **chained** is `AppendAudit` now: in one transaction, move the head row of `audit_chain` (the lock that orders appends), insert the record with its position, previous hash and SHA-256 seal, and move the head. Afterwards the whole chain is verified with `store.VerifyAudit`.\n\n", o.Writers, o.Appends, o.Rounds)
	b.WriteString("| driver | round | mode | appends/s | p50 ms | p95 ms |\n|---|---:|---|---:|---:|---:|\n")
	for _, r := range rs {
		for _, x := range r.Rounds {
			fmt.Fprintf(&b, "| %s | %d | %s | %.0f | %.2f | %.2f |\n", x.Driver, x.Round, x.Mode, x.PerSecond, x.P50, x.P95)
		}
	}
	b.WriteString("\n| driver | plain appends/s (median) | chained appends/s (median) | chained / plain | chain verified | records/s verified |\n|---|---:|---:|---:|---|---:|\n")
	for _, r := range rs {
		var pl, ch []float64
		for _, x := range r.Rounds {
			if x.Mode == "plain" {
				pl = append(pl, x.PerSecond)
			} else {
				ch = append(ch, x.PerSecond)
			}
		}
		ok := "OK"
		if !r.VerifyOK {
			ok = "BROKEN"
		}
		fmt.Fprintf(&b, "| %s | %.0f | %.0f | **%.2f** | %s, %d records in %.2f s | %.0f |\n", r.Driver, Median(pl), Median(ch), Median(ch)/Median(pl), ok, r.VerifyRecords, r.VerifySeconds, r.VerifyPerSec)
	}
	return b.String()
}
