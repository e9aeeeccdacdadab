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

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

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
	Batches []int    // events per InsertEvents call / transaction: each is measured (500: a page; 5,000: a backlog)
	Rounds  int      // runs of each side, alternated
	Drivers []string // sqlite, postgres
	TempDir string
	// NoDashboards leaves the dashboards' counts out of the store side (sqldb.DB.SetDashboards):
	// to measure what they cost, not for the section.
	NoDashboards bool
	// ProfileDir, when set, receives a CPU profile of each store-side run
	// (store-<driver>-<batch>-<round>.pprof; `go tool pprof` merges several).
	ProfileDir string
	// Stream gives the events in the order a collector stores a vendor's stream (eventgen's
	// Timeline: day by day, in time order within a day, 2 % late) instead of Gen's, whose times
	// are drawn at random over the 90 days: a page then touches the count rows of a few hours and
	// days, not of the whole window. For the reading notes, not the section.
	Stream bool
}

// StoreResult is one driver's outcome at one transaction size.
type StoreResult struct {
	Driver                string
	Batch                 int
	StoreRate, BulkRate   float64 // medians, events/s
	Ratio                 float64 // of the medians
	RoundRatio            float64 // median of each round's store / bulk (the two ran back to back)
	BytesPerEvent         float64 // median over the store side's rounds
	StoreRates, BulkRates []float64
}

// BulkStatementRows is how many rows one multi-row INSERT of the SQLite bulk load carries.
const BulkStatementRows = 500

// RunStore measures events inserted per second through the store next to the driver's best bulk
// load of the same rows (same table and indexes, same durability, same transaction size, values
// computed before the clock starts): multi-row INSERTs of 500 rows on SQLite, COPY on PostgreSQL.
// The sides alternate; it also reports the bytes each stored event takes on disk.
func RunStore(ctx context.Context, o StoreOptions, progress io.Writer) ([]StoreResult, error) {
	var out []StoreResult
	for _, d := range o.Drivers {
		for _, batch := range o.Batches {
			r := StoreResult{Driver: d, Batch: batch}
			var sizes []float64
			for round := 0; round < o.Rounds; round++ {
				sr, size, err := storeRun(ctx, o, d, batch, round)
				if err != nil {
					return nil, err
				}
				br, err := bulkRun(ctx, o, d, batch, round)
				if err != nil {
					return nil, err
				}
				r.StoreRates, r.BulkRates = append(r.StoreRates, sr), append(r.BulkRates, br)
				sizes = append(sizes, size)
				fmt.Fprintf(progress, "%s, %d per transaction, round %d: store %.0f/s, bulk load %.0f/s, %.0f bytes/event\n", d, batch, round+1, sr, br, size)
			}
			r.StoreRate, r.BulkRate = Median(r.StoreRates), Median(r.BulkRates)
			r.Ratio = r.StoreRate / r.BulkRate
			var rr []float64
			for i := range r.StoreRates {
				rr = append(rr, r.StoreRates[i]/r.BulkRates[i])
			}
			r.RoundRatio = Median(rr)
			r.BytesPerEvent = Median(sizes)
			out = append(out, r)
		}
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
		// eventgen's default months (the 90 days before 2026-11-01) have their partitions.
		if err := PrepareMonths(ctx, s, time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)); err != nil {
			s.Close()
			return nil, err
		}
		return &opened{s: s, db: s.Writer(), size: func() (int64, error) {
			var n int64
			if _, err := s.Writer().ExecContext(ctx, `VACUUM ANALYZE file_events, event_keys`); err != nil {
				return 0, err
			}
			err := s.Writer().QueryRowContext(ctx, PostgresEventBytes).Scan(&n)
			return n, err
		}}, nil
	}
	return nil, fmt.Errorf("unknown driver %q", driver)
}

func events(o StoreOptions, round int) []*event.FileEvent {
	out := make([]*event.FileEvent, o.Events)
	if o.Stream {
		tl := eventgen.NewTimeline(eventgen.Options{Seed: uint64(round + 1)}, o.Events)
		for i := range out {
			e, ok := tl.Next()
			if !ok {
				panic("eventgen: the timeline ended early")
			}
			out[i] = &e
		}
		return out
	}
	g := eventgen.New(eventgen.Options{Seed: uint64(round + 1)})
	for i := range out {
		e := g.Next()
		out[i] = &e
	}
	return out
}

func storeRun(ctx context.Context, o StoreOptions, driver string, batch, round int) (rate, bytesPerEvent float64, err error) {
	db, err := open(ctx, o, driver, fmt.Sprintf("store-%d-%d", batch, round))
	if err != nil {
		return 0, 0, err
	}
	defer db.s.Close()
	if o.NoDashboards {
		db.s.(interface{ SetDashboards(bool) }).SetDashboards(false)
	}
	base, err := db.size()
	if err != nil {
		return 0, 0, err
	}
	evs := events(o, round)
	if o.ProfileDir != "" {
		stop, err := cpuProfile(filepath.Join(o.ProfileDir, fmt.Sprintf("store-%s-%d-%d.pprof", driver, batch, round)))
		if err != nil {
			return 0, 0, err
		}
		defer stop()
	}
	start := time.Now()
	for i := 0; i < len(evs); i += batch {
		n, err := db.s.InsertEvents(ctx, evs[i:min(i+batch, len(evs))], false)
		if err != nil {
			return 0, 0, err
		}
		if n != min(batch, len(evs)-i) {
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

// bulkRun loads the same rows with the driver's best bulk path, one transaction per batch, values
// precomputed: multi-row INSERTs of BulkStatementRows rows (one prepared statement per
// transaction) on SQLite, COPY on PostgreSQL. No dedupe, no ids returned, no counts.
func bulkRun(ctx context.Context, o StoreOptions, driver string, batch, round int) (float64, error) {
	db, err := open(ctx, o, driver, fmt.Sprintf("bulk-%d-%d", batch, round))
	if err != nil {
		return 0, err
	}
	defer db.s.Close()
	evs := events(o, round)
	rows := make([][]any, len(evs))
	now := time.Now().UnixMicro()
	// The actors and owners a transaction uses first are stored by it (addrs[i/batch]), as the
	// store's own inserts do (sqldb.AddressNumbering).
	var numbering sqldb.AddressNumbering
	var addrs [][][]any
	for i, e := range evs {
		if rows[i], err = sqldb.EventRow(e, false, now, numbering.Of(e)); err != nil {
			return 0, err
		}
		if (i+1)%batch == 0 || i == len(evs)-1 {
			addrs = append(addrs, numbering.Take())
		}
	}
	var el time.Duration
	switch driver {
	case "postgres":
		el, err = copyLoad(ctx, db.db, rows, addrs, batch)
	default:
		el, err = multiRowLoad(ctx, db.db, rows, addrs, batch)
	}
	if err != nil {
		return 0, err
	}
	return float64(len(rows)) / el.Seconds(), nil
}

func multiRowLoad(ctx context.Context, db *sql.DB, rows [][]any, addrs [][][]any, batch int) (time.Duration, error) {
	start := time.Now()
	for i := 0; i < len(rows); i += batch {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return 0, err
		}
		if err := insertAddresses(ctx, tx, addrs[i/batch]); err != nil {
			tx.Rollback()
			return 0, err
		}
		part := rows[i:min(i+batch, len(rows))]
		var st *sql.Stmt
		if len(part) >= BulkStatementRows {
			if st, err = tx.PrepareContext(ctx, sqldb.MultiRowInsert(BulkStatementRows, "")); err != nil {
				tx.Rollback()
				return 0, err
			}
		}
		for j := 0; j < len(part); j += BulkStatementRows {
			chunk := part[j:min(j+BulkStatementRows, len(part))]
			args := make([]any, 0, len(chunk)*len(chunk[0]))
			for _, r := range chunk {
				args = append(args, r...)
			}
			if len(chunk) == BulkStatementRows {
				_, err = st.ExecContext(ctx, args...)
			} else {
				_, err = tx.ExecContext(ctx, sqldb.MultiRowInsert(len(chunk), ""), args...)
			}
			if err != nil {
				tx.Rollback()
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
	return time.Since(start), nil
}

// insertAddresses stores rows (id, address) of the table addresses (sqldb.AddressNumbering) on
// SQLite, in tx.
func insertAddresses(ctx context.Context, tx interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, rows [][]any) error {
	for _, r := range rows {
		if _, err := tx.ExecContext(ctx, `INSERT INTO addresses (id, address) VALUES (?, ?)`, r...); err != nil {
			return err
		}
	}
	return nil
}

// PrepareMonths makes the event partitions of every month from from to to (PostgreSQL; nothing
// on SQLite).
func PrepareMonths(ctx context.Context, s store.Store, from, to time.Time) error {
	for m := time.Date(from.Year(), from.Month(), 1, 0, 0, 0, 0, time.UTC); !m.After(to); m = m.AddDate(0, 1, 0) {
		if _, err := s.PrepareEventPartitions(ctx, m); err != nil {
			return err
		}
	}
	_, err := s.PrepareEventPartitions(ctx, to)
	return err
}

// PostgresEventBytes is the size of what stores the events on PostgreSQL: every partition of
// file_events with its indexes and TOAST, and event_keys (migration 0037).
const PostgresEventBytes = `SELECT COALESCE(SUM(pg_total_relation_size(inhrelid)), 0) + pg_total_relation_size('event_keys')
FROM pg_inherits WHERE inhparent = 'file_events'::regclass`

// copyLoad runs one COPY per transaction on one pgx connection: the rows into file_events and
// their keys into event_keys (where PostgreSQL keeps them unique across partitions).
func copyLoad(ctx context.Context, db *sql.DB, rows [][]any, addrs [][][]any, batch int) (time.Duration, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	cols := strings.Fields(strings.ReplaceAll(sqldb.EventColumns, ",", " "))
	var el time.Duration
	err = conn.Raw(func(dc any) error {
		pc := dc.(*stdlib.Conn).Conn()
		start := time.Now()
		for i := 0; i < len(rows); i += batch {
			tx, err := pc.Begin(ctx)
			if err != nil {
				return err
			}
			part := rows[i:min(i+batch, len(rows))]
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"addresses"}, []string{"id", "address"}, pgx.CopyFromRows(addrs[i/batch])); err != nil {
				tx.Rollback(ctx)
				return err
			}
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"file_events"}, cols, pgx.CopyFromRows(part)); err != nil {
				tx.Rollback(ctx)
				return err
			}
			keys := make([][]any, len(part))
			for j, r := range part {
				keys[j] = r[:1] // dedupe
			}
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"event_keys"}, []string{"dedupe"}, pgx.CopyFromRows(keys)); err != nil {
				tx.Rollback(ctx)
				return err
			}
			if err := tx.Commit(ctx); err != nil {
				return err
			}
		}
		el = time.Since(start)
		return nil
	})
	return el, err
}

// FormatStore renders the results as the BENCHMARKS.md section.
func FormatStore(rs []StoreResult, o StoreOptions, command string, load string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## Event inserts through the store (issue: foundation; baseline and levers: issue 19)\n\n")
	fmt.Fprintf(&b, "- Date: %s. Machine: %s. Load average at the start: %s.\n- Command: `%s`\n", Stamp(), Machine(), load, command)
	order := "at random times over 90 days"
	if o.Stream {
		order = "in a vendor stream's order (eventgen's Timeline: day by day, in time order within a day)"
	}
	fmt.Fprintf(&b, "- Each run inserts %d realistic events (internal/eventgen: 5,000 people, skewed, 40%% hashed; %s) into a fresh database made by our migrations (full schema, every index, the FTS5 name index on SQLite), with the store's own settings: SQLite `synchronous=FULL`; the throwaway PostgreSQL runs with `fsync=off`. The **store** side calls `InsertEvents` with one transaction per call: JSON encoding, column extraction, exact dedupe, the new ids known to the caller, the per-person and dashboard counts in the same transaction. On SQLite that is multi-row `INSERT ... ON CONFLICT (dedupe) DO NOTHING RETURNING id, dedupe` of 500 rows; on PostgreSQL (file_events partitioned by month, migration 0037), after the transaction's mark (the event lock held shared, migration 0045), a `COPY` of the page's keys into `event_keys` in a savepoint (rolled back, and the new keys claimed by `INSERT ... ON CONFLICT DO NOTHING RETURNING`, only when one is stored already), one draw of ids from the sequence, one `COPY` of the events, and the per-person risk sums in one statement of arrays. The **bulk** side is the driver's best bulk load of the same precomputed rows into the same table with the same indexes and durability, at the same transaction size: multi-row `INSERT`s of %d rows per statement on SQLite, `COPY` of the rows and of their keys into `event_keys` on PostgreSQL; no dedupe, no ids, no counts. Transaction sizes: 500 (one page) and 5,000 (a backlog). Sides alternate, %d rounds each; medians shown. Bytes per event: the database's growth (SQLite: file + WAL after a checkpoint; PostgreSQL: `pg_total_relation_size` of every partition of `file_events` and of `event_keys` after `VACUUM ANALYZE`) over the events, median of the store side's rounds.\n\n", o.Events, order, BulkStatementRows, o.Rounds)
	fmt.Fprintln(&b, "| driver | events per transaction | store events/s | bulk load events/s | ratio of the medians (target >= 0.8) | median of the rounds' ratios | bytes per stored event (target <= 500) |")
	fmt.Fprintln(&b, "|---|---:|---:|---:|---:|---:|---:|")
	for _, r := range rs {
		fmt.Fprintf(&b, "| %s | %d | %.0f | %.0f | %.2f (%s) | %.2f | %.0f (%s) |\n", r.Driver, r.Batch, r.StoreRate, r.BulkRate, r.Ratio, met(r.Ratio >= 0.8), r.RoundRatio, r.BytesPerEvent, met(r.BytesPerEvent <= 500))
	}
	fmt.Fprintf(&b, "\nAll rounds (store / bulk load, events/s):\n\n")
	for _, r := range rs {
		var parts []string
		for i := range r.StoreRates {
			parts = append(parts, fmt.Sprintf("%.0f / %.0f", r.StoreRates[i], r.BulkRates[i]))
		}
		fmt.Fprintf(&b, "- %s, %d per transaction: %s\n", r.Driver, r.Batch, strings.Join(parts, "; "))
	}
	return b.String()
}
