package bench

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/eventgen"
	"github.com/telltale-dev/telltale/internal/store"
	"github.com/telltale-dev/telltale/internal/store/postgres"
	"github.com/telltale-dev/telltale/internal/store/sqldb"
	"github.com/telltale-dev/telltale/internal/store/sqlite"
	"github.com/telltale-dev/telltale/internal/testutil/pgtest"
)

// StoreOptions configure the store insert benchmark.
type StoreOptions struct {
	Events  int      // events per run
	Batch   int      // events per InsertEvents call / transaction
	Rounds  int      // runs of each side, alternated
	Drivers []string // sqlite, postgres
	TempDir string
}

// StoreResult is one driver's outcome.
type StoreResult struct {
	Driver                string
	StoreRate, BareRate   float64 // medians, events/s
	Ratio                 float64
	BytesPerEvent         float64
	StoreRates, BareRates []float64
}

// RunStore measures events inserted per second through the store next to the bare driver inserting
// the same rows (same table, same statement shape, same batches, values computed before the clock
// starts), alternating the two sides, and the bytes each stored event takes on disk.
func RunStore(ctx context.Context, o StoreOptions, progress io.Writer) ([]StoreResult, error) {
	var out []StoreResult
	for _, d := range o.Drivers {
		r := StoreResult{Driver: d}
		for round := 0; round < o.Rounds; round++ {
			sr, size, err := storeRun(ctx, o, d, round)
			if err != nil {
				return nil, err
			}
			br, err := bareRun(ctx, o, d, round)
			if err != nil {
				return nil, err
			}
			r.StoreRates, r.BareRates = append(r.StoreRates, sr), append(r.BareRates, br)
			r.BytesPerEvent = size
			fmt.Fprintf(progress, "%s round %d: store %.0f/s, bare driver %.0f/s, %.0f bytes/event\n", d, round+1, sr, br, size)
		}
		r.StoreRate, r.BareRate = Median(r.StoreRates), Median(r.BareRates)
		r.Ratio = r.StoreRate / r.BareRate
		out = append(out, r)
	}
	return out, nil
}

type opened struct {
	s    store.Store
	db   *sql.DB
	size func() (int64, error)
}

func open(ctx context.Context, o StoreOptions, driver string, tag string) (*opened, error) {
	switch driver {
	case "sqlite":
		path := filepath.Join(o.TempDir, tag+".db")
		s, err := sqlite.Open(ctx, path, sqlite.Options{})
		if err != nil {
			return nil, err
		}
		return &opened{s: s, db: s.Writer(), size: func() (int64, error) {
			if _, err := s.Writer().ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
				return 0, err
			}
			var total int64
			for _, suffix := range []string{"", "-wal"} {
				if fi, err := os.Stat(path + suffix); err == nil {
					total += fi.Size()
				}
			}
			return total, nil
		}}, nil
	case "postgres":
		dsn, err := pgtest.NewDatabase()
		if err != nil {
			return nil, fmt.Errorf("postgres: %w (install PostgreSQL 15 or set TELLTALE_TEST_POSTGRES_URL)", err)
		}
		s, err := postgres.Open(ctx, dsn, postgres.Options{})
		if err != nil {
			return nil, err
		}
		return &opened{s: s, db: s.Writer(), size: func() (int64, error) {
			var n int64
			if _, err := s.Writer().ExecContext(ctx, `VACUUM ANALYZE file_events`); err != nil {
				return 0, err
			}
			err := s.Writer().QueryRowContext(ctx, `SELECT pg_total_relation_size('file_events')`).Scan(&n)
			return n, err
		}}, nil
	}
	return nil, fmt.Errorf("unknown driver %q", driver)
}

func events(o StoreOptions, round int) []*event.FileEvent {
	g := eventgen.New(eventgen.Options{Seed: uint64(round + 1)})
	out := make([]*event.FileEvent, o.Events)
	for i := range out {
		e := g.Next()
		out[i] = &e
	}
	return out
}

func storeRun(ctx context.Context, o StoreOptions, driver string, round int) (rate, bytesPerEvent float64, err error) {
	db, err := open(ctx, o, driver, fmt.Sprintf("store-%d", round))
	if err != nil {
		return 0, 0, err
	}
	defer db.s.Close()
	base, err := db.size()
	if err != nil {
		return 0, 0, err
	}
	evs := events(o, round)
	start := time.Now()
	for i := 0; i < len(evs); i += o.Batch {
		n, err := db.s.InsertEvents(ctx, evs[i:min(i+o.Batch, len(evs))], false)
		if err != nil {
			return 0, 0, err
		}
		if n != min(o.Batch, len(evs)-i) {
			return 0, 0, fmt.Errorf("inserted %d of a batch", n)
		}
	}
	el := time.Since(start)
	size, err := db.size()
	if err != nil {
		return 0, 0, err
	}
	return float64(len(evs)) / el.Seconds(), float64(size-base) / float64(len(evs)), nil
}

// bareRun inserts the same rows with the driver alone: prepared plain INSERT, one transaction per
// batch, values precomputed.
func bareRun(ctx context.Context, o StoreOptions, driver string, round int) (float64, error) {
	db, err := open(ctx, o, driver, fmt.Sprintf("bare-%d", round))
	if err != nil {
		return 0, err
	}
	defer db.s.Close()
	evs := events(o, round)
	rows := make([][]any, len(evs))
	now := time.Now().UnixMicro()
	for i, e := range evs {
		if rows[i], err = sqldb.EventRow(e, false, now); err != nil {
			return 0, err
		}
	}
	// The same statement shapes the store uses, minus its work: one row per statement on SQLite,
	// multi-row statements of sqldb.InsertChunk rows on PostgreSQL; no ON CONFLICT, no RETURNING.
	rebind := func(q string) string {
		if driver != "postgres" {
			return q
		}
		var b strings.Builder
		n := 0
		for _, r := range q {
			if r == '?' {
				n++
				fmt.Fprintf(&b, "$%d", n)
				continue
			}
			b.WriteRune(r)
		}
		return b.String()
	}
	per := 1
	if driver == "postgres" {
		per = sqldb.InsertChunk
	}
	start := time.Now()
	for i := 0; i < len(rows); i += o.Batch {
		tx, err := db.db.BeginTx(ctx, nil)
		if err != nil {
			return 0, err
		}
		batch := rows[i:min(i+o.Batch, len(rows))]
		var st *sql.Stmt
		if driver == "sqlite" {
			if st, err = tx.PrepareContext(ctx, sqldb.MultiRowInsert(per, "")); err != nil {
				return 0, err
			}
		}
		for j := 0; j < len(batch); j += per {
			part := batch[j:min(j+per, len(batch))]
			args := make([]any, 0, len(part)*21)
			for _, r := range part {
				args = append(args, r...)
			}
			if len(part) == per && driver == "sqlite" {
				// SQLite: one prepared statement per transaction, as InsertEvents does. PostgreSQL:
				// plain Exec, as InsertEvents does; pgx caches the prepared statement per connection.
				_, err = st.ExecContext(ctx, args...)
			} else {
				_, err = tx.ExecContext(ctx, rebind(sqldb.MultiRowInsert(len(part), "")), args...)
			}
			if err != nil {
				return 0, err
			}
		}
		if st != nil {
			st.Close()
		}
		if err := tx.Commit(); err != nil {
			return 0, err
		}
	}
	return float64(len(rows)) / time.Since(start).Seconds(), nil
}

// FormatStore renders the results as the BENCHMARKS.md section.
func FormatStore(rs []StoreResult, o StoreOptions, command string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## Event inserts through the store (issue: foundation)\n\n")
	fmt.Fprintf(&b, "- Date: %s. Machine: %s.\n- Command: `%s`\n", Stamp(), Machine(), command)
	fmt.Fprintf(&b, "- Each run inserts %d realistic events (internal/eventgen: 5,000 people, skewed, 40%% hashed) in batches of %d, one transaction per batch, into a fresh database with the full schema and indexes. The store side calls `InsertEvents` (JSON encoding, column extraction, `ON CONFLICT (dedupe) DO NOTHING`; on PostgreSQL, multi-row statements of 100 events with `RETURNING id, dedupe`); the bare side runs plain `INSERT`s of the same precomputed rows in the same statement shapes (one row per statement on SQLite, 100 on PostgreSQL) through the same driver. Sides alternate, %d rounds each; medians shown. SQLite runs with `synchronous=FULL`; the throwaway PostgreSQL runs with `fsync=off`.\n\n", o.Events, o.Batch, o.Rounds)
	fmt.Fprintln(&b, "| driver | store events/s | bare driver events/s | ratio (target >= 0.8) | bytes per stored event (target <= 500) |")
	fmt.Fprintln(&b, "|---|---:|---:|---:|---:|")
	for _, r := range rs {
		fmt.Fprintf(&b, "| %s | %.0f | %.0f | %.2f | %.0f |\n", r.Driver, r.StoreRate, r.BareRate, r.Ratio, r.BytesPerEvent)
	}
	fmt.Fprintf(&b, "\nAll rounds (store / bare, events/s):\n\n")
	for _, r := range rs {
		var parts []string
		for i := range r.StoreRates {
			parts = append(parts, fmt.Sprintf("%.0f / %.0f", r.StoreRates[i], r.BareRates[i]))
		}
		fmt.Fprintf(&b, "- %s: %s\n", r.Driver, strings.Join(parts, "; "))
	}
	return b.String()
}
