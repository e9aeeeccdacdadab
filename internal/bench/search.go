package bench

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/telltale-dev/telltale/internal/api"
	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/eventgen"
	"github.com/telltale-dev/telltale/internal/search"
	"github.com/telltale-dev/telltale/internal/store"
	"github.com/telltale-dev/telltale/internal/store/postgres"
	"github.com/telltale-dev/telltale/internal/store/sqldb"
	"github.com/telltale-dev/telltale/internal/store/sqlite"
	"github.com/telltale-dev/telltale/internal/testutil/pgtest"
)

// SearchOptions configure the forensic-search benchmark (issue 4).
type SearchOptions struct {
	Events   int   // events loaded per driver
	People   int   // people in the population (eventgen)
	Days     int   // days the events span
	Batch    int   // events per InsertEvents call (SQLite) or COPY (PostgreSQL), one transaction each
	Runs     int   // measured runs of each reference query (after Warmup runs)
	Warmup   int   // unmeasured runs of each reference query first
	Page     int   // events per search page (the API's default page is 100)
	CountCap int64 // the API's total-count cap
	// CountBudget is the API's time budget of a default count (0: count to CountCap, however long).
	CountBudget time.Duration
	Export      bool     // measure the CSV export (and its memory) of the whole set
	Drivers     []string // sqlite, postgres
	DSN         string   // PostgreSQL database to use instead of a throwaway server
	TempDir     string   // where the SQLite database and the load records go
	Reuse       bool     // keep the databases; a database already holding Events events is not loaded again
	LoadOnly    bool     // load (or find loaded) and stop: measure in a later run with Reuse
	ProfileDir  string   // when set, CPU profiles of each driver's query and export phases go here
	Seed        uint64
	// Prepare, when set, is given every generated event before it is stored (the dashboards
	// benchmark scores it and counts it for the dashboards). It runs in the generator's goroutine.
	Prepare func(e *event.FileEvent)
}

// QueryResult is one reference query's latencies, in milliseconds.
type QueryResult struct {
	Name, Example  string
	Target         float64 // p95 target of the request, ms
	PageP50        float64 // SearchEvents, first page (group: GroupEvents)
	PageP95        float64
	ReqP50, ReqP95 float64 // what the API does per request: the page and the capped count
	MeanCount      float64 // matching events (capped at CountCap)
}

// ExportResult is the CSV export of the whole set through api.WriteExport.
type ExportResult struct {
	Events             int
	Bytes              int64
	Seconds            float64
	Rate               float64 // events/s
	SmallEvents        int     // the first, smaller export (a tenth of the events)
	SmallBytes         int64
	RSSBefore          int64 // VmRSS before the exports, bytes
	PeakSmall          int64 // VmHWM during the small export, bytes
	PeakFull           int64 // VmHWM during the whole export, bytes
	PeakReset          bool  // the peak was reset before each export (/proc/self/clear_refs)
	HeapSmall, HeapAll uint64
}

// LoadRecord is what loading a database took; it is kept beside a reused database.
type LoadRecord struct {
	Events      int     `json:"events"`
	Method      string  `json:"method"`
	Seconds     float64 `json:"seconds"`
	AnalyzeSecs float64 `json:"analyze_seconds"`
	Date        string  `json:"date"`
}

// SearchResult is one driver's outcome.
type SearchResult struct {
	Driver        string
	Events        int
	Load          LoadRecord
	Reused        bool             // the database was loaded by an earlier run (-reuse)
	DBBytes       int64            // the whole database on disk
	Bytes         int64            // the events table with its indexes (and SQLite's FTS5 table)
	Parts         map[string]int64 // bytes per structure
	Queries       []QueryResult
	Export        ExportResult
	ProfileFiles  []string
	BytesPerEvent float64 // DBBytes / Events
}

// RunSearch loads o.Events realistic events into each driver and measures the five reference
// queries of issue 4, the CSV export rate and memory, and the bytes per event.
func RunSearch(ctx context.Context, o SearchOptions, progress io.Writer) ([]SearchResult, error) {
	return eachDriver(o.Drivers, func(d string) (SearchResult, error) { return searchDriver(ctx, o, d, progress) })
}

// samples are values picked from the loaded events to build queries with.
type samples struct {
	sha256 []string
}

type benchDB struct {
	s      store.Store
	db     *sql.DB
	dbSize func() (int64, error)
	parts  func() (map[string]int64, error)
	remove func()
}

func openBenchDB(ctx context.Context, o SearchOptions, driver string) (*benchDB, error) {
	switch driver {
	case "sqlite":
		path := filepath.Join(o.TempDir, "search.db")
		if !o.Reuse {
			for _, sfx := range []string{"", "-wal", "-shm"} {
				os.Remove(path + sfx)
			}
		}
		ls, err := sqlite.Open(ctx, path, sqlite.Options{})
		if err != nil {
			return nil, err
		}
		return &benchDB{s: ls, db: ls.Writer(),
			dbSize: func() (int64, error) {
				if _, err := ls.Writer().ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
					return 0, err
				}
				var n int64
				for _, sfx := range []string{"", "-wal"} {
					if fi, err := os.Stat(path + sfx); err == nil {
						n += fi.Size()
					}
				}
				return n, nil
			},
			parts: func() (map[string]int64, error) {
				return sizes(ctx, ls.Writer(), `SELECT name, SUM(pgsize) FROM dbstat WHERE name = 'file_events' OR name LIKE 'file_events\_%' ESCAPE '\' OR name = 'sqlite_autoindex_file_events_1' GROUP BY name`)
			},
			remove: func() {
				if !o.Reuse {
					for _, sfx := range []string{"", "-wal", "-shm"} {
						os.Remove(path + sfx)
					}
				}
			}}, nil
	case "postgres":
		dsn := o.DSN
		if dsn == "" {
			if o.Reuse {
				return nil, errors.New("-reuse needs -dsn for PostgreSQL (a throwaway server is gone when the program ends)")
			}
			var err error
			if dsn, err = pgtest.NewDatabase(); err != nil {
				return nil, fmt.Errorf("%w (install PostgreSQL 15 with postgresql-contrib, or pass -dsn)", err)
			}
		}
		ps, err := postgres.Open(ctx, dsn, postgres.Options{})
		if err != nil {
			return nil, err
		}
		return &benchDB{s: ps, db: ps.Writer(),
			dbSize: func() (int64, error) {
				var n int64
				err := ps.Writer().QueryRowContext(ctx, `SELECT pg_database_size(current_database())`).Scan(&n)
				return n, err
			},
			parts: func() (map[string]int64, error) {
				// Summed over the month partitions (migration 0037), by the parent's index names.
				return sizes(ctx, ps.Writer(), `WITH p AS (SELECT inhrelid AS oid FROM pg_inherits WHERE inhparent = 'file_events'::regclass)
SELECT 'file_events', COALESCE(SUM(pg_relation_size(oid)), 0)::bigint FROM p
UNION ALL SELECT 'toast', COALESCE(SUM(pg_total_relation_size(NULLIF(t.reltoastrelid, 0))), 0)::bigint FROM pg_class t JOIN p ON p.oid = t.oid
UNION ALL SELECT i.relname, SUM(pg_relation_size(pi.inhrelid))::bigint FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
  JOIN pg_inherits pi ON pi.inhparent = x.indexrelid WHERE x.indrelid = 'file_events'::regclass GROUP BY i.relname
UNION ALL SELECT 'event_keys', pg_relation_size('event_keys')
UNION ALL SELECT 'event_keys_pkey', pg_relation_size('event_keys_pkey')`)
			},
			remove: func() {}}, nil
	}
	return nil, fmt.Errorf("unknown driver %q: use sqlite or postgres", driver)
}

func searchDriver(ctx context.Context, o SearchOptions, driver string, progress io.Writer) (SearchResult, error) {
	r := SearchResult{Driver: driver, Events: o.Events, Parts: map[string]int64{}}
	bdb, err := openBenchDB(ctx, o, driver)
	if err != nil {
		return r, err
	}
	defer bdb.remove()
	defer bdb.s.Close()

	var have int64
	if err := bdb.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM file_events`).Scan(&have); err != nil {
		return r, err
	}
	record := filepath.Join(o.TempDir, "search-"+driver+".load.json")
	switch {
	case have == 0:
		if r.Load, err = loadSearch(ctx, o, driver, bdb, progress); err != nil {
			return r, err
		}
		if b, err := json.Marshal(r.Load); err == nil {
			os.WriteFile(record, b, 0o644)
		}
	case have == int64(o.Events) && o.Reuse:
		b, err := os.ReadFile(record)
		if err == nil {
			err = json.Unmarshal(b, &r.Load)
		}
		if err != nil {
			return r, fmt.Errorf("the database holds %d events but its load record %s: %v", have, record, err)
		}
		r.Reused = true
		fmt.Fprintf(progress, "%s: reusing the database loaded on %s (%d events)\n", driver, r.Load.Date, have)
	default:
		return r, fmt.Errorf("the database already holds %d events, not %d: remove it or use another -dir/-dsn", have, o.Events)
	}

	if o.LoadOnly {
		return r, nil
	}
	if r.DBBytes, err = bdb.dbSize(); err != nil {
		return r, fmt.Errorf("sizes: %w", err)
	}
	if r.Parts, err = bdb.parts(); err != nil {
		return r, fmt.Errorf("sizes: %w", err)
	}
	for _, v := range r.Parts {
		r.Bytes += v
	}
	r.BytesPerEvent = float64(r.DBBytes) / float64(o.Events)

	smp, err := sampleEvents(ctx, bdb.s, o)
	if err != nil {
		return r, err
	}
	stopProfile, err := startProfile(o.ProfileDir, driver, "queries", &r)
	if err != nil {
		return r, err
	}
	qs, err := referenceQueries(ctx, bdb.s, o, smp, progress, driver)
	stopProfile()
	if err != nil {
		return r, err
	}
	r.Queries = qs

	if !o.Export {
		return r, nil
	}
	if stopProfile, err = startProfile(o.ProfileDir, driver, "export", &r); err != nil {
		return r, err
	}
	r.Export, err = measureExport(ctx, bdb.s, o.Events, progress, driver)
	stopProfile()
	return r, err
}

// loadSearch fills an empty database with o.Events events from eventgen.Timeline through each
// driver's bulk path, as a restore or an import would: the secondary indexes, the FTS5 triggers and
// the unique dedupe index are dropped (their definitions read back from the catalog), the rows
// InsertEvents would store (sqldb.EventRow) go in with prepared multi-row INSERTs on SQLite and
// COPY on PostgreSQL, o.Batch per transaction, and then every index is built again from the
// catalog's own statements (on SQLite the FTS5 table is rebuilt as migration 0005 does on an
// existing database). The generator runs ahead in its own goroutine. Then it gathers statistics,
// as a deployment's maintenance does.
func loadSearch(ctx context.Context, o SearchOptions, driver string, bdb *benchDB, progress io.Writer) (LoadRecord, error) {
	rec := LoadRecord{Events: o.Events, Date: Stamp()}
	gen := eventgen.NewTimeline(eventgen.Options{Seed: o.Seed, People: o.People, Days: o.Days}, o.Events)
	// A batch's rows, and the addresses they use first (sqldb.AddressNumbering), stored with them.
	type batch struct{ rows, addrs [][]any }
	batches := make(chan batch, 4)
	genErr := make(chan error, 1)
	go func() {
		defer close(batches)
		var numbering sqldb.AddressNumbering
		for {
			var b [][]any
			inserted := time.Now().UnixMicro()
			for len(b) < o.Batch {
				e, ok := gen.Next()
				if !ok {
					break
				}
				if o.Prepare != nil {
					o.Prepare(&e)
				}
				row, err := sqldb.EventRow(&e, false, inserted, numbering.Of(&e))
				if err != nil {
					genErr <- err
					return
				}
				b = append(b, row)
			}
			if len(b) == 0 {
				return
			}
			select {
			case batches <- batch{b, numbering.Take()}:
			case <-ctx.Done():
				return
			}
		}
	}()
	conn, err := bdb.db.Conn(ctx)
	if err != nil {
		return rec, err
	}
	defer conn.Close()
	// The data's months get their partitions first (PostgreSQL), as a store running while the
	// events arrived would have made them.
	if err := PrepareMonths(ctx, bdb.s, gen.End().AddDate(0, 0, -o.Days-3), gen.End()); err != nil {
		return rec, fmt.Errorf("load: partitions: %w", err)
	}
	rebuild, err := dropForLoad(ctx, driver, conn)
	if err != nil {
		return rec, fmt.Errorf("load: drop indexes: %w", err)
	}
	const per = 50 // rows per INSERT statement on SQLite
	if driver == "postgres" {
		rec.Method = fmt.Sprintf("COPY, %d rows per transaction, indexes built after", o.Batch)
	} else {
		rec.Method = fmt.Sprintf("INSERTs of %d rows, %d rows per transaction, indexes built after", per, o.Batch)
		if _, err := conn.ExecContext(ctx, `PRAGMA cache_size = -1000000`); err != nil { // 1 GB for the index sorts
			return rec, err
		}
		defer conn.ExecContext(ctx, `PRAGMA cache_size = -2000`)
	}
	cols := strings.Split(strings.NewReplacer("\n", "", " ", "").Replace(sqldb.EventColumns), ",")
	start, loaded, lastReport := time.Now(), 0, time.Now()
	for b := range batches {
		if driver == "postgres" {
			err = conn.Raw(func(dc any) error {
				pc := dc.(*stdlib.Conn).Conn()
				if _, err := pc.CopyFrom(ctx, pgx.Identifier{"addresses"}, []string{"id", "address"}, pgx.CopyFromRows(b.addrs)); err != nil {
					return err
				}
				n, err := pc.CopyFrom(ctx, pgx.Identifier{"file_events"}, cols, pgx.CopyFromRows(b.rows))
				loaded += int(n)
				return err
			})
		} else {
			err = insertRows(ctx, conn, b.rows, b.addrs, per)
			if err == nil {
				loaded += len(b.rows)
			}
		}
		if err != nil {
			return rec, fmt.Errorf("load: %w", err)
		}
		if time.Since(lastReport) > 30*time.Second {
			lastReport = time.Now()
			fmt.Fprintf(progress, "%s: loaded %d of %d events (%.0f/s)\n", driver, loaded, o.Events, float64(loaded)/time.Since(start).Seconds())
		}
	}
	select {
	case err := <-genErr:
		return rec, fmt.Errorf("load: %w", err)
	default:
	}
	if err := ctx.Err(); err != nil {
		return rec, err
	}
	if loaded != o.Events {
		return rec, fmt.Errorf("load: stored %d of %d events", loaded, o.Events)
	}
	if driver == "postgres" {
		if _, err := conn.ExecContext(ctx, sqldb.AddressSequenceSQL); err != nil {
			return rec, fmt.Errorf("load: addresses: %w", err)
		}
	}
	fmt.Fprintf(progress, "%s: inserted %d events in %.0f s; building indexes\n", driver, loaded, time.Since(start).Seconds())
	for _, st := range rebuild {
		t0 := time.Now()
		if _, err := conn.ExecContext(ctx, st); err != nil {
			return rec, fmt.Errorf("load: %s: %w", st, err)
		}
		fmt.Fprintf(progress, "%s: %.0f s: %s\n", driver, time.Since(t0).Seconds(), shorten(st))
	}
	rec.Seconds = time.Since(start).Seconds()
	fmt.Fprintf(progress, "%s: loaded %d events with their indexes in %.0f s (%.0f events/s)\n", driver, loaded, rec.Seconds, float64(loaded)/rec.Seconds)

	// Statistics, as a deployment's maintenance keeps them (SQLite: PRAGMA optimize's sampled
	// ANALYZE; PostgreSQL: what autovacuum does).
	t0 := time.Now()
	stmts := []string{`PRAGMA analysis_limit = 1000`, `ANALYZE`, `PRAGMA wal_checkpoint(TRUNCATE)`}
	if driver == "postgres" {
		stmts = []string{`VACUUM ANALYZE file_events, event_keys`}
	}
	for _, st := range stmts {
		if _, err := conn.ExecContext(ctx, st); err != nil {
			return rec, fmt.Errorf("%s: %w", st, err)
		}
	}
	rec.AnalyzeSecs = time.Since(t0).Seconds()
	return rec, nil
}

// dropForLoad drops file_events' secondary indexes (and on SQLite the triggers that keep the FTS5
// table in step) and returns the statements that build them again, from the catalog.
func dropForLoad(ctx context.Context, driver string, conn *sql.Conn) ([]string, error) {
	q := `SELECT type, name, sql FROM sqlite_master WHERE tbl_name = 'file_events' AND type IN ('index', 'trigger') AND sql IS NOT NULL ORDER BY type, name`
	if driver == "postgres" {
		q = `SELECT 'index', indexname, indexdef FROM pg_indexes WHERE tablename = 'file_events' AND indexname <> 'file_events_pkey' ORDER BY indexname`
	}
	rows, err := conn.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	var drops, indexes, triggers []string
	for rows.Next() {
		var typ, name, def string
		if err := rows.Scan(&typ, &name, &def); err != nil {
			rows.Close()
			return nil, err
		}
		drops = append(drops, "DROP "+strings.ToUpper(typ)+" "+name)
		if typ == "trigger" {
			triggers = append(triggers, def)
		} else {
			// A partitioned table's index reads back as "ON ONLY" (the parent alone): built again
			// it must reach every partition.
			indexes = append(indexes, strings.Replace(def, " ON ONLY ", " ON ", 1))
		}
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	for _, st := range drops {
		if _, err := conn.ExecContext(ctx, st); err != nil {
			return nil, fmt.Errorf("%s: %w", st, err)
		}
	}
	rebuild := indexes
	if driver == "postgres" { // the dedupe keys (migration 0037), indexed after they are in
		if _, err := conn.ExecContext(ctx, `ALTER TABLE event_keys DROP CONSTRAINT event_keys_pkey`); err != nil {
			return nil, err
		}
		rebuild = append([]string{`INSERT INTO event_keys SELECT dedupe FROM file_events`, `ALTER TABLE event_keys ADD PRIMARY KEY (dedupe)`}, rebuild...)
	}
	if len(triggers) > 0 {
		rebuild = append(rebuild, `INSERT INTO file_events_name(file_events_name) VALUES ('rebuild')`)
	}
	return append(rebuild, triggers...), nil
}

// insertRows inserts rows into file_events in one transaction, per rows a statement, and the
// addresses they use first.
func insertRows(ctx context.Context, conn *sql.Conn, rows, addrs [][]any, per int) error {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := insertAddresses(ctx, tx, addrs); err != nil {
		return err
	}
	st, err := tx.PrepareContext(ctx, sqldb.MultiRowInsert(per, ""))
	if err != nil {
		return err
	}
	defer st.Close()
	args := make([]any, 0, per*len(rows[0]))
	for i := 0; i < len(rows); i += per {
		part := rows[i:min(i+per, len(rows))]
		args = args[:0]
		for _, r := range part {
			args = append(args, r...)
		}
		if len(part) == per {
			_, err = st.ExecContext(ctx, args...)
		} else {
			_, err = tx.ExecContext(ctx, sqldb.MultiRowInsert(len(part), ""), args...)
		}
		if err != nil {
			return err
		}
	}
	return tx.Commit()
}

// sampleEvents picks SHA-256 digests of stored events (random ids) for the hash query.
func sampleEvents(ctx context.Context, s store.Store, o SearchOptions) (*samples, error) {
	rng := rand.New(rand.NewPCG(o.Seed, 77))
	smp := &samples{}
	for try := 0; try < 2000 && len(smp.sha256) < 200; try++ {
		e, err := s.GetEvent(ctx, 1+rng.Int64N(int64(o.Events)))
		if err != nil {
			return nil, fmt.Errorf("sample: %w", err)
		}
		if e.File.Hash.SHA256 != "" {
			smp.sha256 = append(smp.sha256, e.File.Hash.SHA256)
		}
	}
	if len(smp.sha256) == 0 {
		return nil, errors.New("sample: no stored event has a SHA-256")
	}
	return smp, nil
}

// measureExport streams a tenth of the events, then all of them, as CSV through api.WriteExport (the
// body of the export API) into a counting writer, resetting the process's peak RSS (VmHWM) before
// each: memory is constant when both peaks are the same.
func measureExport(ctx context.Context, s store.Store, total int, progress io.Writer, driver string) (ExportResult, error) {
	var x ExportResult
	run := func(q search.Query) (int64, time.Duration, uint64, error) {
		runtime.GC()
		debug.FreeOSMemory()
		x.PeakReset = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
		cw := &countingWriter{}
		start := time.Now()
		err := api.WriteExport(ctx, s, q, "csv", 0, cw)
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return cw.n, time.Since(start), ms.HeapSys, err
	}
	x.RSSBefore = procStatus("VmRSS")
	x.SmallEvents = max(1, total/10)
	q, err := search.Parse("id<="+strconv.Itoa(x.SmallEvents), time.Now())
	if err != nil {
		return x, err
	}
	if x.SmallBytes, _, x.HeapSmall, err = run(q); err != nil {
		return x, fmt.Errorf("export: %w", err)
	}
	x.PeakSmall = procStatus("VmHWM")
	fmt.Fprintf(progress, "%s: exported %d events (%.0f MB of CSV), peak RSS %.0f MiB\n", driver, x.SmallEvents, float64(x.SmallBytes)/1e6, float64(x.PeakSmall)/(1<<20))
	var el time.Duration
	if x.Bytes, el, x.HeapAll, err = run(search.Query{}); err != nil {
		return x, fmt.Errorf("export: %w", err)
	}
	x.PeakFull = procStatus("VmHWM")
	x.Events, x.Seconds = total, el.Seconds()
	x.Rate = float64(total) / x.Seconds
	fmt.Fprintf(progress, "%s: exported %d events (%.2f GB of CSV) in %.1f s (%.0f events/s), peak RSS %.0f MiB\n",
		driver, total, float64(x.Bytes)/1e9, x.Seconds, x.Rate, float64(x.PeakFull)/(1<<20))
	return x, nil
}

// procStatus returns a "kB" line of /proc/self/status in bytes (0 when unavailable).
func procStatus(key string) int64 {
	n, _ := procStatusOf(0, key)
	return n
}

// procStatusOf returns a "kB" line (VmRSS, VmHWM, ...) of /proc/<pid>/status in bytes; pid 0 is
// this process.
func procStatusOf(pid int, key string) (int64, error) {
	path := "/proc/self/status"
	if pid != 0 {
		path = fmt.Sprintf("/proc/%d/status", pid)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, key+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no %s in %s", key, path)
}

// cpuProfile starts a CPU profile of this process into path; the returned func stops it. An
// empty path profiles nothing. Every benchmark's -cpuprofile goes through it.
func cpuProfile(path string) (func(), error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// startProfile starts a CPU profile of one phase when dir is set; the returned func stops it.
func startProfile(dir, driver, phase string, r *SearchResult) (func(), error) {
	if dir == "" {
		return func() {}, nil
	}
	path := filepath.Join(dir, "search-"+driver+"-"+phase+".pprof")
	stop, err := cpuProfile(path)
	if err == nil {
		r.ProfileFiles = append(r.ProfileFiles, path)
	}
	return stop, err
}

// sizes returns bytes per structure from a query of (name, bytes) rows.
func sizes(ctx context.Context, db *sql.DB, q string) (map[string]int64, error) {
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var name string
		var n int64
		if err := rows.Scan(&name, &n); err != nil {
			return nil, err
		}
		out[name] += n
	}
	return out, rows.Err()
}

// refQuery is one of issue 4's reference queries; build returns the query text of run i.
type refQuery struct {
	name   string
	target float64
	group  bool
	build  func(i int) string
}

// nameStems are the words eventgen's file names are made of (budget-42.xlsx): the substring query
// looks for one of them, as an analyst types name:*budget*.
var nameStems = []string{"budget", "forecast", "customer", "roadmap", "pricing", "contract", "offer", "minutes", "report", "backup", "design", "export", "source", "notes", "plan"}

func referenceQueries(ctx context.Context, s store.Store, o SearchOptions, smp *samples, progress io.Writer, driver string) ([]QueryResult, error) {
	end := eventgen.NewTimeline(eventgen.Options{Seed: o.Seed, People: o.People, Days: o.Days}, 0).End()
	// Actors as analysts meet them: drawn with the population's own skew.
	people := eventgen.New(eventgen.Options{Seed: o.Seed + 1000, People: o.People, Days: o.Days})
	total := o.Runs + o.Warmup
	actors := make([]string, total)
	for i := range actors {
		actors[i] = people.Next().User.Email
	}
	rng := rand.New(rand.NewPCG(o.Seed, 99))
	days := make([]time.Time, total)
	for i := range days {
		days[i] = end.Add(-time.Duration(1+rng.IntN(min(30, o.Days))) * 24 * time.Hour)
	}
	date := func(t time.Time) string { return t.UTC().Format("2006-01-02") }
	refs := []refQuery{
		{"1. actor + last 7 days", 50, false, func(i int) string {
			return "actor:" + actors[i] + " after:" + date(end.Add(-7*24*time.Hour))
		}},
		{"2. sha256", 50, false, func(i int) string { return "sha256:" + smp.sha256[i%len(smp.sha256)] }},
		{"3. file-name substring", 300, false, func(i int) string { return "name:*" + nameStems[i%len(nameStems)] + "*" }},
		{"4. public-link exposure, 30 days", 50, false, func(i int) string {
			return "exposure:public_link after:" + date(end.Add(-time.Duration(30-i%3)*24*time.Hour))
		}},
		{"5. group by actor, one day", 300, true, func(i int) string {
			return "after:" + date(days[i]) + " before:" + date(days[i].Add(24*time.Hour))
		}},
	}
	var out []QueryResult
	for _, ref := range refs {
		qr := QueryResult{Name: ref.name, Target: ref.target, Example: ref.build(0)}
		var page, req []float64
		var counted float64
		for i := 0; i < total; i++ {
			q, err := search.Parse(ref.build(i), end)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", ref.name, err)
			}
			t0 := time.Now()
			var n int64
			var pt time.Duration
			if ref.group {
				gs, err := s.GroupEvents(ctx, q, store.GroupActor, 100)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", ref.name, err)
				}
				for _, g := range gs {
					n += g.Count
				}
				pt = time.Since(t0)
			} else {
				// As POST /api/v1/file-events/search does: the page and the capped total side by side.
				var cerr error
				done := make(chan struct{})
				go func() {
					if o.CountBudget > 0 {
						n, _, cerr = s.CountSearchWithin(ctx, q, o.CountCap, o.CountBudget)
					} else {
						n, _, cerr = s.CountSearch(ctx, q, o.CountCap, false)
					}
					close(done)
				}()
				_, err := s.SearchEvents(ctx, q, store.SearchOptions{Sort: store.SortObserved, Desc: true, Limit: o.Page})
				pt = time.Since(t0)
				<-done
				if err == nil {
					err = cerr
				}
				if err != nil {
					return nil, fmt.Errorf("%s: %w", ref.name, err)
				}
			}
			rt := time.Since(t0)
			if i < o.Warmup {
				continue
			}
			page, req = append(page, ms(pt)), append(req, ms(rt))
			counted += float64(n)
		}
		qr.PageP50, qr.PageP95 = Percentile(page, 50), Percentile(page, 95)
		qr.ReqP50, qr.ReqP95 = Percentile(req, 50), Percentile(req, 95)
		qr.MeanCount = counted / float64(o.Runs)
		fmt.Fprintf(progress, "%s: %s: page p50 %.1f p95 %.1f ms; request p50 %.1f p95 %.1f ms; %.0f matches on average\n",
			driver, ref.name, qr.PageP50, qr.PageP95, qr.ReqP50, qr.ReqP95, qr.MeanCount)
		out = append(out, qr)
	}
	return out, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Percentile returns the p-th percentile (nearest rank) of xs.
func Percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	k := int(float64(len(s))*p/100+0.999999) - 1
	return s[max(0, min(k, len(s)-1))]
}

// countingWriter counts the bytes written through it and drops them.
type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// FormatSearch renders the results as the BENCHMARKS.md section.
func FormatSearch(rs []SearchResult, o SearchOptions, command string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## Forensic search at scale (issue 4)\n\n")
	fmt.Fprintf(&b, "- Date: %s. Machine: %s.\n- Command: `%s`\n", Stamp(), Machine(), command)
	fmt.Fprintf(&b, "- Data: %d events from `internal/eventgen` (%d people with Zipf-skewed activity, %d days, weekday and working-hours shape, mostly modified/created/viewed, 7%% shares of which a quarter are public links, 40%% hashed), stored day by day in observed order with 2%% delivered up to 3 days late (`eventgen.Timeline`), into a database with every migration (0005 adds the search indexes); then statistics (SQLite `PRAGMA analysis_limit=1000; ANALYZE`, PostgreSQL `VACUUM ANALYZE`, as autovacuum would).\n", o.Events, o.People, o.Days)
	fmt.Fprintf(&b, "- Each reference query runs %d times (after %d warm-up runs) with varied parameters: actors drawn with the population's skew, SHA-256s of stored events, the %d name stems (`name:*budget*`, `name:*forecast*`, ...; each is in about 1 name in 15), 28-30 days for exposure, a day among the last 30 for grouping. \"Page\" is `SearchEvents` (newest first, %d events; grouping: `GroupEvents` by actor, top 100); \"request\" is that page and the total (counted up to %d matches or for %s, whichever comes first; \"at least\" beyond) run side by side, as `POST /api/v1/file-events/search` does by default (its time is the longer of the two). **Targets apply to the request p95.**\n", o.Runs, o.Warmup, len(nameStems), o.Page, o.CountCap, o.CountBudget)
	fmt.Fprintf(&b, "- Export: `api.WriteExport`, the body of `POST /api/v1/file-events/export` (id ranges read by %d goroutines side by side on their own connections, in pages of at most 5,000, written in id order, 28 CSV columns, buffered and flushed per page), into a counting writer (no disk, no network). Memory: the process's peak RSS (VmHWM, reset through `/proc/self/clear_refs` before each export) while exporting the first tenth of the events and then all of them.\n\n", api.ExportReaders)
	fmt.Fprintln(&b, "| driver | query | example | page p50 / p95 ms | request p50 / p95 ms | target (request p95) | matches (avg, capped) |")
	fmt.Fprintln(&b, "|---|---|---|---:|---:|---|---:|")
	for _, r := range rs {
		for _, q := range r.Queries {
			met := "met"
			if q.ReqP95 > q.Target {
				met = "**missed**"
			}
			fmt.Fprintf(&b, "| %s | %s | `%s` | %.1f / %.1f | %.1f / %.1f | <= %.0f ms %s | %.0f |\n", r.Driver, q.Name, shorten(q.Example), q.PageP50, q.PageP95, q.ReqP50, q.ReqP95, q.Target, met, q.MeanCount)
		}
	}
	fmt.Fprintln(&b)
	fmt.Fprintln(&b, "| driver | load | export to CSV (target >= 100,000 events/s) | CSV size | peak RSS: first tenth / all | bytes per event (database size / events) |")
	fmt.Fprintln(&b, "|---|---|---|---:|---:|---:|")
	for _, r := range rs {
		load := fmt.Sprintf("%s in %s (%.0f events/s; %s), statistics %.0f s", count(r.Load.Events), dur(r.Load.Seconds), float64(r.Load.Events)/r.Load.Seconds, r.Load.Method, r.Load.AnalyzeSecs)
		if r.Reused {
			load += ", loaded on " + r.Load.Date
		}
		exp, size, rss := "not measured", "", ""
		if x := r.Export; x.Events > 0 {
			met := "met"
			if x.Rate < 100000 {
				met = "**missed**"
			}
			exp = fmt.Sprintf("%s events in %.0f s: **%.0f events/s** (%s), %.0f MB/s", count(x.Events), x.Seconds, x.Rate, met, float64(x.Bytes)/1e6/x.Seconds)
			size = fmt.Sprintf("%.2f GB", float64(x.Bytes)/1e9)
			rss = fmt.Sprintf("%.0f / %.0f MiB", float64(x.PeakSmall)/(1<<20), float64(x.PeakFull)/(1<<20))
			if !x.PeakReset {
				rss += " (peak not resettable: includes the load)"
			}
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | **%.0f** (%.2f GB) |\n", r.Driver, load, exp, size, rss, r.BytesPerEvent, float64(r.DBBytes)/1e9)
	}
	fmt.Fprintln(&b)
	for _, r := range rs {
		var names []string
		for k := range r.Parts {
			names = append(names, k)
		}
		sort.Slice(names, func(i, j int) bool { return r.Parts[names[i]] > r.Parts[names[j]] })
		var parts []string
		for _, k := range names {
			parts = append(parts, fmt.Sprintf("%s %.0f", k, float64(r.Parts[k])/float64(r.Events)))
		}
		fmt.Fprintf(&b, "- %s bytes per event by structure: %s.\n", r.Driver, strings.Join(parts, ", "))
	}
	return b.String()
}

func count(n int) string {
	switch {
	case n >= 1000000 && n%1000000 == 0:
		return fmt.Sprintf("%dM", n/1000000)
	case n >= 1000 && n%1000 == 0:
		return fmt.Sprintf("%dk", n/1000)
	}
	return strconv.Itoa(n)
}

func dur(secs float64) string {
	return (time.Duration(secs) * time.Second).Round(time.Second).String()
}

func shorten(s string) string {
	if len(s) > 60 {
		return s[:28] + "…" + s[len(s)-28:]
	}
	return s
}

// SearchCommand is `telltale-bench search`: it parses args, runs the benchmark, prints the
// section and writes it into -write's file.
func SearchCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("search", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := SearchOptions{}
	fs.IntVar(&o.Events, "events", 10000000, "events loaded per driver")
	fs.IntVar(&o.People, "people", 5000, "people in the population")
	fs.IntVar(&o.Days, "days", 90, "days the events span")
	fs.IntVar(&o.Batch, "batch", 5000, "events per transaction while loading")
	fs.IntVar(&o.Runs, "runs", 40, "measured runs of each reference query")
	fs.IntVar(&o.Warmup, "warmup", 3, "unmeasured runs of each reference query first")
	fs.IntVar(&o.Page, "page", 100, "events per search page")
	fs.Int64Var(&o.CountCap, "count-cap", api.DefaultCountLimit, "cap of the total count (the API's default count_limit)")
	fs.DurationVar(&o.CountBudget, "count-budget", api.CountBudget, "time budget of the total count (the API's; 0: count to the cap however long it takes)")
	fs.BoolVar(&o.Export, "export", true, "measure the CSV export of the whole set and its memory")
	drivers := fs.String("drivers", "sqlite,postgres", "drivers to measure")
	fs.StringVar(&o.DSN, "dsn", "", "a PostgreSQL database to use (default: a throwaway server)")
	fs.StringVar(&o.ProfileDir, "cpuprofile", "", "write CPU profiles of the query and export phases into this directory")
	fs.StringVar(&o.TempDir, "dir", "", "directory for the SQLite database and load records (default: a new temporary directory)")
	fs.BoolVar(&o.Reuse, "reuse", false, "keep the databases and reuse one that already holds -events events (needs -dir, and -dsn for PostgreSQL)")
	fs.BoolVar(&o.LoadOnly, "load-only", false, "only load the databases (with -reuse: measure them in a later run)")
	seed := fs.Uint64("seed", 1, "generator seed")
	write := fs.String("write", "", "write the result section into this markdown file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o.Seed = *seed
	o.Drivers = strings.Split(*drivers, ",")
	if o.Events < 10000 || o.Batch < 1 || o.Runs < 1 {
		return errors.New("search: -events must be at least 10000, -batch and -runs at least 1")
	}
	if o.TempDir == "" && o.Reuse {
		return errors.New("search: -reuse needs -dir")
	}
	done, err := scratchDir(&o.TempDir, "telltale-bench-search-")
	if err != nil {
		return err
	}
	defer done()
	rs, err := RunSearch(ctx, o, stderr)
	if err != nil || o.LoadOnly {
		return err
	}
	return publish(stdout, *write, "search", FormatSearch(rs, o, "go run ./cmd/telltale-bench search "+strings.Join(args, " ")))
}
