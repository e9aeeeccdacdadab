package bench

import (
	"context"
	"database/sql"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/eventgen"
	"github.com/telltale-dev/telltale/internal/search"
	"github.com/telltale-dev/telltale/internal/store"
	"github.com/telltale-dev/telltale/internal/store/postgres"
	"github.com/telltale-dev/telltale/internal/store/sqlite"
	"github.com/telltale-dev/telltale/internal/testutil/pgtest"
)

// SearchOptions configure the forensic-search benchmark (issue 4).
type SearchOptions struct {
	Events     int      // events loaded per driver
	People     int      // people in the population (eventgen)
	Days       int      // days the events span
	Batch      int      // events per InsertEvents call (one transaction)
	Runs       int      // measured runs of each reference query (after Warmup runs)
	Warmup     int      // unmeasured runs of each reference query first
	Page       int      // events per search page (the API's default page is 100)
	CountCap   int64    // the API's total-count cap
	Export     int      // events exported (0: all)
	Drivers    []string // sqlite, postgres
	DSN        string   // PostgreSQL database to use instead of a throwaway server (must be empty)
	TempDir    string   // where the SQLite database goes
	ProfileDir string   // when set, CPU profiles of each driver's query and export phases go here
	Seed       uint64
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

// SearchResult is one driver's outcome.
type SearchResult struct {
	Driver        string
	Events        int
	LoadSeconds   float64
	LoadRate      float64 // events/s through InsertEvents
	AnalyzeSecs   float64
	Bytes         int64            // the events table with its indexes (and SQLite's FTS5 table)
	Parts         map[string]int64 // bytes per structure
	New           []string         // the structures migration 0004 added or rebuilt
	Queries       []QueryResult
	ExportEvents  int
	ExportRate    float64 // events/s
	ExportMBps    float64
	ProfileFiles  []string
	BytesPerEvent float64
}

// RunSearch loads o.Events realistic events into each driver and measures the five reference
// queries of issue 4, the CSV export rate and the bytes per event.
func RunSearch(ctx context.Context, o SearchOptions, progress io.Writer) ([]SearchResult, error) {
	var out []SearchResult
	for _, d := range o.Drivers {
		r, err := searchDriver(ctx, o, d, progress)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", d, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// samples are values picked from the loaded events to build queries with.
type samples struct {
	sha256 []string
	names  []string
}

func searchDriver(ctx context.Context, o SearchOptions, driver string, progress io.Writer) (SearchResult, error) {
	r := SearchResult{Driver: driver, Events: o.Events, Parts: map[string]int64{}}
	var (
		s    store.Store
		db   *sql.DB
		size func() (map[string]int64, error)
	)
	switch driver {
	case "sqlite":
		path := filepath.Join(o.TempDir, "search.db")
		os.Remove(path)
		ls, err := sqlite.Open(ctx, path, sqlite.Options{})
		if err != nil {
			return r, err
		}
		defer os.Remove(path)
		defer os.Remove(path + "-wal")
		defer os.Remove(path + "-shm")
		s, db = ls, ls.Writer()
		size = func() (map[string]int64, error) {
			return sizes(ctx, ls.Writer(), `SELECT name, SUM(pgsize) FROM dbstat WHERE name = 'file_events' OR name LIKE 'file_events\_%' ESCAPE '\' OR name = 'sqlite_autoindex_file_events_1' GROUP BY name`)
		}
	case "postgres":
		dsn := o.DSN
		if dsn == "" {
			var err error
			if dsn, err = pgtest.NewDatabase(); err != nil {
				return r, fmt.Errorf("%w (install PostgreSQL 15 with postgresql-contrib, or pass -dsn)", err)
			}
		}
		ps, err := postgres.Open(ctx, dsn, postgres.Options{})
		if err != nil {
			return r, err
		}
		s, db = ps, ps.Writer()
		size = func() (map[string]int64, error) {
			return sizes(ctx, ps.Writer(), `SELECT c.relname, pg_relation_size(c.oid) FROM pg_class c WHERE c.relname = 'file_events'
UNION ALL SELECT 'toast', COALESCE(pg_total_relation_size(NULLIF(t.reltoastrelid, 0)), 0) FROM pg_class t WHERE t.relname = 'file_events'
UNION ALL SELECT i.relname, pg_relation_size(i.oid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = 'file_events'::regclass`)
		}
	default:
		return r, fmt.Errorf("unknown driver %q: use sqlite or postgres", driver)
	}
	defer s.Close()

	// Load: the generator runs beside the inserts (one batch ahead).
	gen := eventgen.NewTimeline(eventgen.Options{Seed: o.Seed, People: o.People, Days: o.Days}, o.Events)
	end := gen.End()
	batches := make(chan []*event.FileEvent, 2)
	smp := &samples{}
	go func() {
		defer close(batches)
		rng := rand.New(rand.NewPCG(o.Seed, 77))
		for {
			b := make([]*event.FileEvent, 0, o.Batch)
			for len(b) < o.Batch {
				e, ok := gen.Next()
				if !ok {
					break
				}
				if rng.IntN(2000) == 0 {
					if e.File.Hash.SHA256 != "" && len(smp.sha256) < 500 {
						smp.sha256 = append(smp.sha256, e.File.Hash.SHA256)
					}
					if len(smp.names) < 500 {
						smp.names = append(smp.names, e.File.Name)
					}
				}
				b = append(b, &e)
			}
			if len(b) == 0 {
				return
			}
			select {
			case batches <- b:
			case <-ctx.Done():
				return
			}
		}
	}()
	stopProfile, err := startProfile(o.ProfileDir, driver, "load", &r)
	if err != nil {
		return r, err
	}
	start, loaded, lastReport := time.Now(), 0, time.Now()
	for b := range batches {
		n, err := s.InsertEvents(ctx, b, false)
		if err != nil {
			return r, fmt.Errorf("load: %w", err)
		}
		loaded += n
		if time.Since(lastReport) > 30*time.Second {
			lastReport = time.Now()
			fmt.Fprintf(progress, "%s: loaded %d of %d events (%.0f/s)\n", driver, loaded, o.Events, float64(loaded)/time.Since(start).Seconds())
		}
	}
	if err := ctx.Err(); err != nil {
		return r, err
	}
	r.LoadSeconds = time.Since(start).Seconds()
	stopProfile()
	r.LoadRate = float64(loaded) / r.LoadSeconds
	if loaded != o.Events {
		return r, fmt.Errorf("load: stored %d of %d events (duplicates from the generator?)", loaded, o.Events)
	}
	fmt.Fprintf(progress, "%s: loaded %d events in %.0f s (%.0f events/s)\n", driver, loaded, r.LoadSeconds, r.LoadRate)

	// Statistics, as a deployment's maintenance keeps them (SQLite: PRAGMA optimize's sampled
	// ANALYZE; PostgreSQL: what autovacuum does).
	t0 := time.Now()
	stmt := `PRAGMA analysis_limit = 1000; ANALYZE`
	if driver == "postgres" {
		stmt = `VACUUM ANALYZE file_events`
	}
	for _, st := range strings.Split(stmt, "; ") {
		if _, err := db.ExecContext(ctx, st); err != nil {
			return r, fmt.Errorf("%s: %w", st, err)
		}
	}
	if driver == "sqlite" {
		if _, err := db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
			return r, err
		}
	}
	r.AnalyzeSecs = time.Since(t0).Seconds()
	parts, err := size()
	if err != nil {
		return r, fmt.Errorf("sizes: %w", err)
	}
	r.Parts = parts
	for _, v := range parts {
		r.Bytes += v
	}
	r.BytesPerEvent = float64(r.Bytes) / float64(o.Events)
	r.New = []string{"file_events_actor (rebuilt on the folded actor)", "file_events_exposed", "file_events_name*"}

	if stopProfile, err = startProfile(o.ProfileDir, driver, "queries", &r); err != nil {
		return r, err
	}
	qs, err := referenceQueries(ctx, s, o, end, smp, progress, driver)
	stopProfile()
	if err != nil {
		return r, err
	}
	r.Queries = qs

	if stopProfile, err = startProfile(o.ProfileDir, driver, "export", &r); err != nil {
		return r, err
	}
	n, bytes, el, err := ExportCSV(ctx, s, search.Query{}, o.Export)
	stopProfile()
	if err != nil {
		return r, fmt.Errorf("export: %w", err)
	}
	r.ExportEvents, r.ExportRate, r.ExportMBps = n, float64(n)/el.Seconds(), float64(bytes)/1e6/el.Seconds()
	fmt.Fprintf(progress, "%s: exported %d events to CSV in %.1f s (%.0f events/s, %.0f MB/s)\n", driver, n, el.Seconds(), r.ExportRate, r.ExportMBps)
	return r, nil
}

// startProfile starts a CPU profile of one phase when dir is set; the returned func stops it.
func startProfile(dir, driver, phase string, r *SearchResult) (func(), error) {
	if dir == "" {
		return func() {}, nil
	}
	f, err := os.Create(filepath.Join(dir, "search-"+driver+"-"+phase+".pprof"))
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	r.ProfileFiles = append(r.ProfileFiles, f.Name())
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
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

func referenceQueries(ctx context.Context, s store.Store, o SearchOptions, end time.Time, smp *samples, progress io.Writer, driver string) ([]QueryResult, error) {
	if len(smp.sha256) == 0 || len(smp.names) == 0 {
		return nil, errors.New("too few events to sample queries from: load at least 10,000")
	}
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
	substr := func(name string) string { // budget-42.xlsx -> *budget-42*
		if i := strings.LastIndexByte(name, '.'); i > 0 {
			name = name[:i]
		}
		return "*" + name + "*"
	}
	refs := []refQuery{
		{"1. actor + last 7 days", 50, false, func(i int) string {
			return "actor:" + actors[i] + " after:" + date(end.Add(-7*24*time.Hour))
		}},
		{"2. sha256", 50, false, func(i int) string { return "sha256:" + smp.sha256[i%len(smp.sha256)] }},
		{"3. file-name substring", 300, false, func(i int) string { return "name:" + substr(smp.names[(i*7)%len(smp.names)]) }},
		{"4. public-link exposure, 30 days", 50, false, func(i int) string {
			return "exposure:public_link after:" + date(end.Add(-30*24*time.Hour))
		}},
		{"5. group by actor, one day", 300, true, func(i int) string {
			return "after:" + date(days[i]) + " before:" + date(days[i].Add(24*time.Hour))
		}},
	}
	var out []QueryResult
	for _, ref := range refs {
		qr := QueryResult{Name: ref.name, Target: ref.target, Example: ref.build(o.Warmup)}
		var page, req []float64
		var counted float64
		for i := 0; i < total; i++ {
			q, err := search.Parse(ref.build(i), end)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", ref.name, err)
			}
			t0 := time.Now()
			var n int64
			if ref.group {
				gs, err := s.GroupEvents(ctx, q, store.GroupActor, 100)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", ref.name, err)
				}
				for _, g := range gs {
					n += g.Count
				}
			} else {
				if _, err := s.SearchEvents(ctx, q, store.SearchOptions{Sort: store.SortObserved, Desc: true, Limit: o.Page}); err != nil {
					return nil, fmt.Errorf("%s: %w", ref.name, err)
				}
			}
			pt := time.Since(t0)
			if !ref.group {
				if n, _, err = s.CountSearch(ctx, q, o.CountCap, false); err != nil {
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

// ExportCSV streams the events matching q, in id order, page by page as the export API does, as
// CSV rows of the main fields into a counting writer; max 0 exports all. It returns the events and
// bytes written and the time taken.
func ExportCSV(ctx context.Context, s store.Store, q search.Query, max int) (events int, bytes int64, elapsed time.Duration, err error) {
	const page = 5000 // the export API's page
	cw := &countingWriter{}
	w := csv.NewWriter(cw)
	w.Write([]string{"id", "observed", "action", "service", "actor", "file_id", "name", "path", "size", "sha256", "exposure", "shared_with", "recipients"})
	start := time.Now()
	var after *store.SearchCursor
	row := make([]string, 13)
	for max == 0 || events < max {
		evs, err := s.SearchEvents(ctx, q, store.SearchOptions{Sort: store.SortID, Limit: page, After: after})
		if err != nil {
			return events, cw.n, time.Since(start), err
		}
		for i := range evs {
			e := &evs[i]
			exp := make([]string, len(e.Sharing.Exposure))
			for j, x := range e.Sharing.Exposure {
				exp[j] = string(x)
			}
			row[0], row[1], row[2], row[3] = strconv.FormatInt(e.Event.ID, 10), e.Timestamp.UTC().Format(time.RFC3339), string(e.Event.Action), string(e.Event.Observer)
			row[4], row[5], row[6], row[7] = e.User.Email, e.File.ID, e.File.Name, e.File.Path
			row[8], row[9], row[10] = strconv.FormatInt(e.File.Size, 10), e.File.Hash.SHA256, strings.Join(exp, ";")
			row[11], row[12] = strings.Join(e.Sharing.SharedWith, ";"), strings.Join(e.Email.Recipients, ";")
			if err := w.Write(row); err != nil {
				return events, cw.n, time.Since(start), err
			}
			events++
			if max > 0 && events == max {
				break
			}
		}
		if len(evs) < page {
			break
		}
		c := store.CursorOf(&evs[len(evs)-1], store.SortID)
		after = &c
	}
	w.Flush()
	return events, cw.n, time.Since(start), w.Error()
}

// FormatSearch renders the results as the BENCHMARKS.md section.
func FormatSearch(rs []SearchResult, o SearchOptions, command string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## Forensic search at scale (issue 4)\n\n")
	fmt.Fprintf(&b, "- Date: %s. Machine: %s.\n- Command: `%s`\n", Stamp(), Machine(), command)
	fmt.Fprintf(&b, "- Data: %d events from internal/eventgen (%d people with Zipf-skewed activity, %d days, weekday and working-hours shape, 40%% hashed, ~7%% shares), loaded day by day in observed order with 2%% delivered up to 3 days late (`eventgen.Timeline`), through `InsertEvents` in batches of %d (one transaction each) into a fresh database with every migration (0004 adds the search indexes); then statistics (SQLite `PRAGMA analysis_limit=1000; ANALYZE`, PostgreSQL `VACUUM ANALYZE`, as autovacuum would).\n", o.Events, o.People, o.Days, o.Batch)
	fmt.Fprintf(&b, "- Each reference query runs %d times (after %d warm-up runs) with parameters drawn like an analyst's: actors with the population's skew, SHA-256s and file names of stored events (`name:*budget-42*`), days of the last 30. \"Page\" is `SearchEvents` (newest first, %d events; grouping: `GroupEvents` by actor, top 100); \"request\" adds `CountSearch` capped at %d, as `POST /api/v1/file-events/search` does. Targets apply to the request p95.\n", o.Runs, o.Warmup, o.Page, o.CountCap)
	fmt.Fprintf(&b, "- Export: `SearchEvents` pages of 5,000 by id (as the export API), written as CSV rows of 13 main fields to a counting writer.\n\n")
	for _, r := range rs {
		fmt.Fprintf(&b, "### %s\n\n", r.Driver)
		fmt.Fprintf(&b, "| query | example | page p50 / p95 ms | request p50 / p95 ms | target p95 | met | matches (avg) |\n|---|---|---:|---:|---:|---|---:|\n")
		for _, q := range r.Queries {
			met := "yes"
			if q.ReqP95 > q.Target {
				met = "**no**"
			}
			fmt.Fprintf(&b, "| %s | `%s` | %.1f / %.1f | %.1f / %.1f | <= %.0f ms | %s | %.0f |\n", q.Name, shorten(q.Example), q.PageP50, q.PageP95, q.ReqP50, q.ReqP95, q.Target, met, q.MeanCount)
		}
		met := "met"
		if r.ExportRate < 100000 {
			met = "**missed**"
		}
		fmt.Fprintf(&b, "\n- Load: %d events in %.0f s, **%.0f events/s** (statistics: %.0f s).\n", r.Events, r.LoadSeconds, r.LoadRate, r.AnalyzeSecs)
		fmt.Fprintf(&b, "- Export: %d events to CSV at **%.0f events/s** (%.0f MB/s); target >= 100,000 events/s %s.\n", r.ExportEvents, r.ExportRate, r.ExportMBps, met)
		var names []string
		for k := range r.Parts {
			names = append(names, k)
		}
		sort.Slice(names, func(i, j int) bool { return r.Parts[names[i]] > r.Parts[names[j]] })
		var parts []string
		var added int64
		for _, k := range names {
			parts = append(parts, fmt.Sprintf("%s %.0f", k, float64(r.Parts[k])/float64(r.Events)))
			if k == "file_events_exposed" || strings.HasPrefix(k, "file_events_name") {
				added += r.Parts[k]
			}
		}
		fmt.Fprintf(&b, "- Bytes per event: **%.0f** in all (events table, its indexes, search structures); %.0f before migration 0004's new structures (file_events_exposed, file_events_name*: %.0f bytes per event). By structure: %s.\n\n",
			r.BytesPerEvent, float64(r.Bytes-added)/float64(r.Events), float64(added)/float64(r.Events), strings.Join(parts, ", "))
	}
	return b.String()
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
	fs.IntVar(&o.Batch, "batch", 1000, "events per InsertEvents transaction")
	fs.IntVar(&o.Runs, "runs", 40, "measured runs of each reference query")
	fs.IntVar(&o.Warmup, "warmup", 3, "unmeasured runs of each reference query first")
	fs.IntVar(&o.Page, "page", 100, "events per search page")
	fs.Int64Var(&o.CountCap, "count-cap", 100000, "cap of the total count (the API's)")
	fs.IntVar(&o.Export, "export", 0, "events to export (0: all)")
	drivers := fs.String("drivers", "sqlite,postgres", "drivers to measure")
	fs.StringVar(&o.DSN, "dsn", "", "an empty PostgreSQL database to use (default: a throwaway server)")
	fs.StringVar(&o.ProfileDir, "cpuprofile", "", "write CPU profiles of the query and export phases into this directory")
	fs.StringVar(&o.TempDir, "dir", "", "directory for the SQLite database (default: a new temporary directory)")
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
	if o.TempDir == "" {
		dir, err := os.MkdirTemp("", "telltale-bench-search-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		o.TempDir = dir
	}
	rs, err := RunSearch(ctx, o, stderr)
	if err != nil {
		return err
	}
	section := FormatSearch(rs, o, "go run ./cmd/telltale-bench search "+strings.Join(args, " "))
	fmt.Fprintln(stdout, section)
	if *write != "" {
		return WriteSection(*write, "search", section)
	}
	return nil
}
