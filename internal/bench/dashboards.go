package bench

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/internal/api"
	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/eventgen"
	"github.com/telltale-dev/telltale/internal/risk"
	"github.com/telltale-dev/telltale/internal/store"
	"github.com/telltale-dev/telltale/internal/store/sqldb"
)

// DashOptions configure the dashboards benchmark (issue 18, R8.4).
type DashOptions struct {
	Events, People, Days, Batch int // the loaded database, as the search benchmark loads it
	Runs, Warmup                int // measured and unmeasured runs of each dashboard request
	IngestEvents                int // events inserted per ingest run
	// IngestSpan is the time the ingested events span, ending at the loaded data's end: a day
	// (a backlog: a day of events stored in a few seconds) by default; a few minutes is a live
	// stream, whose events fall in the same hours (the last day's events, their times scaled
	// into the span, people and order kept).
	IngestSpan   time.Duration
	IngestBatch  int // events per InsertEvents call (one transaction)
	Rounds       int // ingest runs of each side (counts on, off), alternated
	Drivers      []string
	DSN, TempDir string
	Reuse        bool
	Seed         uint64
	// FoldAfter stops the store's background fold of the counts' deltas (PostgreSQL): a round's
	// deltas are folded after its inserts only, so its inserts run alone.
	FoldAfter bool
	// AsOf, if set, is the time the ingest rounds run as of (from then on, as the clock moves):
	// their events end there, the store's fold takes it for now, and the dashboards' week horizon
	// is set to its week (migration 0041). So a backlog can be measured in a week not closed yet
	// wherever the wall clock is in its week (a day's backlog on a Monday falls mostly in the
	// week before, closed).
	AsOf time.Time
	// ProfileDir, if set, receives a CPU profile of the last round of each side (this process:
	// the store's Go work, not the database server's).
	ProfileDir string
}

// DashRequest is one dashboard request's latencies, in milliseconds.
type DashRequest struct {
	Name     string
	Buckets  int
	P50, P95 float64
}

// DashResult is one driver's outcome.
type DashResult struct {
	Driver    string
	Events    int
	Load      LoadRecord
	Reused    bool
	CountRows int64 // rows of the count tables (dashTables)
	CountSecs float64
	Requests  []DashRequest
	// OpenRequests: the same requests timed again after the ingest rounds, while their open
	// hours wait in dash_open_hours (RollupRows of them; PostgreSQL), which every read adds.
	// ClosedRequests: the same once the open hours are closed, on the same database.
	OpenRequests, ClosedRequests []DashRequest
	With, Without                []float64 // ingest rates, events/s, per round
	// WithInserts: the rounds with the counts on timed to the last insert's commit, before the
	// fold of their deltas (PostgreSQL; With includes it); nil where the counts are not deltas.
	WithInserts    []float64
	WithInsertsMed float64
	WithMed        float64
	WithoutMed     float64
	Cost           float64 // 1 - with/without: the share of ingest throughput the counts take
	// WithCPU, WithoutCPU: CPU microseconds per event of each round (this process and, where it
	// runs here, the PostgreSQL server: cpuMeter); CPUCost is 1 - without/with of their medians,
	// the share of a CPU-bound ingest's throughput the counts take, steadier on a shared machine.
	WithCPU, WithoutCPU []float64
	CPUServer           bool
	// WithWAL, WithoutWAL: PostgreSQL's write-ahead log per event of each round, bytes.
	WithWAL, WithoutWAL []float64
	CPUCost             float64
	// Rollup: where open hours wait (PostgreSQL), the fold after the rounds that closes them and
	// moves their rows into the counts: its rows, seconds and CPU µs per event stored with the
	// counts on (the unmeasured run's too); RollupCPUCost is CPUCost with it charged.
	RollupRows    int64
	RollupSecs    float64
	RollupCPU     float64
	RollupCPUCost float64
	LoadAvg       string

	// With -fold-after on PostgreSQL, the counts' own time per event of each round with them on,
	// measured apart (µs): in the event transactions (OwnWrite), and folding the round's deltas
	// (OwnFold: the median of three folds rolled back, nothing else running); and the time per
	// event of each round without them (OffTime). OwnShare is their share of a round's time.
	OwnWrite, OwnFold, OffTime []float64
	OwnShare                   float64
}

// dashTables are the dashboards' count tables.
var dashTables = []string{"dash_hours", "dash_dims", "dash_people"}

// dashTrusted is the organization's domain in the generated events (eventgen's default).
var dashTrusted = []string{"corp.example"}

// scorer scores generated events as ingest does: the default risk settings, corp.example trusted,
// first use of a destination per person remembered.
type scorer struct {
	s    *risk.Scorer
	seen map[string]bool
}

func newScorer() (*scorer, error) {
	s, err := risk.NewScorer(risk.Defaults(), dashTrusted)
	return &scorer{s: s, seen: map[string]bool{}}, err
}

func (sc *scorer) score(e *event.FileEvent) {
	var first []string
	p := risk.Person(e)
	for _, k := range sc.s.Destinations(e) {
		if !sc.seen[p+"|"+k] {
			sc.seen[p+"|"+k] = true
			first = append(first, k)
		}
	}
	e.Risk = sc.s.Assess(e, first)
}

// RunDashboards loads (or reuses) a database of o.Events scored events with the dashboards'
// counts, times the dashboard requests, then measures ingest with the counts on and off, side by
// side.
func RunDashboards(ctx context.Context, o DashOptions, progress io.Writer) ([]DashResult, error) {
	return eachDriver(o.Drivers, func(d string) (DashResult, error) { return dashDriver(ctx, o, d, progress) })
}

type dashWriter interface {
	InTx(ctx context.Context, fn func(q store.Queries) error) error
	SetDashboards(on bool)
}

func dashDriver(ctx context.Context, o DashOptions, driver string, progress io.Writer) (DashResult, error) {
	r := DashResult{Driver: driver, Events: o.Events}
	so := SearchOptions{Events: o.Events, People: o.People, Days: o.Days, Batch: o.Batch, Drivers: []string{driver}, DSN: o.DSN,
		TempDir: o.TempDir, Reuse: o.Reuse, Seed: o.Seed}
	t0 := time.Now()
	bdb, err := openBenchDB(ctx, so, driver)
	if err != nil {
		return r, err
	}
	fmt.Fprintf(progress, "%s: opened in %.1f s (pending migrations included)\n", driver, time.Since(t0).Seconds())
	defer bdb.remove()
	defer bdb.s.Close()
	dw, ok := bdb.s.(dashWriter)
	if !ok {
		return r, fmt.Errorf("%s: the store cannot switch its dashboards' counts", driver)
	}
	if f, ok := bdb.s.(interface{ StopDashFold() }); ok && o.FoldAfter {
		f.StopDashFold()
	}
	var have int64
	if err := bdb.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM file_events WHERE connection_id = 1`).Scan(&have); err != nil {
		return r, err
	}
	record := filepath.Join(o.TempDir, "dashboards-"+driver+".load.json")
	switch {
	case have == 0:
		sc, err := newScorer()
		if err != nil {
			return r, err
		}
		sums := sqldb.NewDashSums()
		so.Prepare = func(e *event.FileEvent) { sc.score(e); sums.Add(e, 1) }
		if r.Load, err = loadSearch(ctx, so, driver, bdb, progress); err != nil {
			return r, err
		}
		// The counts the store would have written event by event, written at once (as a restore
		// would bring them), then their statistics.
		t0 := time.Now()
		if err := dw.InTx(ctx, func(q store.Queries) error { return q.(*sqldb.Queries).WriteDashSums(ctx, sums) }); err != nil {
			return r, fmt.Errorf("writing the dashboards' counts: %w", err)
		}
		for _, table := range dashTables {
			if _, err := bdb.db.ExecContext(ctx, `ANALYZE `+table); err != nil {
				return r, err
			}
		}
		r.CountSecs = time.Since(t0).Seconds()
		fmt.Fprintf(progress, "%s: wrote %d count rows in %.0f s\n", driver, sums.Len(), r.CountSecs)
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
	for _, table := range dashTables {
		var n int64
		if err := bdb.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+table).Scan(&n); err != nil {
			return r, err
		}
		r.CountRows += n
	}

	end := eventgen.NewTimeline(eventgen.Options{Seed: o.Seed, People: o.People, Days: o.Days}, 1).End()
	if r.Requests, err = dashRequests(ctx, bdb.s, o, end, progress, driver); err != nil {
		return r, err
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		r.LoadAvg = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	if err := dashIngest(ctx, bdb.s, bdb.db, dw, o, end, &r, progress); err != nil {
		return r, err
	}
	return r, nil
}

// dashRequests times what the API does for each reference dashboard request (the store's reads
// and the answer's JSON), o.Runs times after o.Warmup.
func dashRequests(ctx context.Context, s store.Store, o DashOptions, end time.Time, progress io.Writer, driver string) ([]DashRequest, error) {
	day, hour := 24*time.Hour, time.Hour
	q := func(days int, step time.Duration) store.DashQuery {
		return store.DashQuery{From: end.Add(-time.Duration(days) * day), To: end, Step: step}
	}
	top, err := s.DashboardTop(ctx, q(30, day), store.DimPerson, 1)
	if err != nil || len(top) == 0 {
		return nil, fmt.Errorf("no person to drill down into: %v", err)
	}
	drill := q(30, day)
	drill.Dim, drill.Value = store.DimPerson, top[0].Value
	email := q(30, day)
	email.Vector = store.VectorEmail
	type req struct {
		name string
		q    store.DashQuery
		kind string
	}
	reqs := []req{
		{"Risk exposure, last 24 h per hour", q(1, hour), "x"},
		{"Risk exposure, last 7 days per hour", q(7, hour), "x"},
		{"Risk exposure, last 7 days per day", q(7, day), "x"},
		{"Risk exposure, last 30 days per day", q(30, day), "x"},
		{"Risk exposure, last 90 days per day", q(90, day), "x"},
		{"Risk exposure, 30 days, e-mail only", email, "x"},
		{"Risk exposure, 30 days, drill-down: the busiest person", drill, "x"},
		{"Insider risk trends, last 7 days per day", q(7, day), "t"},
		{"Insider risk trends, last 30 days per day", q(30, day), "t"},
		{"Insider risk trends, last 90 days per day", q(90, day), "t"},
	}
	var out []DashRequest
	for _, rq := range reqs {
		var ms []float64
		var buckets int
		for i := 0; i < o.Warmup+o.Runs; i++ {
			t0 := time.Now()
			var v any
			var err error
			if rq.kind == "x" {
				var ex any
				ex, err = api.RiskExposureOf(ctx, s, rq.q, 10)
				v = ex
			} else {
				v, err = api.InsiderRiskOf(ctx, s, rq.q, 10)
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %w", rq.name, err)
			}
			b, err := json.Marshal(v)
			if err != nil {
				return nil, err
			}
			if i >= o.Warmup {
				ms = append(ms, float64(time.Since(t0).Microseconds())/1000)
			}
			buckets = strings.Count(string(b), `"at":`)
		}
		sort.Float64s(ms)
		d := DashRequest{Name: rq.name, Buckets: buckets, P50: Median(ms), P95: ms[min(len(ms)-1, int(float64(len(ms))*0.95))]}
		fmt.Fprintf(progress, "%s: %s: p50 %.1f ms, p95 %.1f ms\n", driver, d.Name, d.P50, d.P95)
		out = append(out, d)
	}
	return out, nil
}

// dashIngest inserts o.IngestEvents fresh scored events of the last day per run through
// InsertEvents, o.IngestBatch per call, with the counts on and off, alternating which goes first.
// The events are attributed to connection 2 and deleted afterwards (with the counts off: the
// counts of the runs with them on stay, a few hundred thousand events in a bench database).
func dashIngest(ctx context.Context, s store.Store, db *sql.DB, dw dashWriter, o DashOptions, end time.Time, r *DashResult, progress io.Writer) error {
	defer dw.SetDashboards(true)
	sc, err := newScorer()
	if err != nil {
		return err
	}
	meter := newCPUMeter(ctx, db)
	r.CPUServer = meter.hasServer()
	var shift time.Duration // the rounds' clock less the wall clock (o.AsOf)
	if !o.AsOf.IsZero() {
		shift = time.Until(o.AsOf)
		h := o.AsOf.Unix() / 3600
		if _, err := db.ExecContext(ctx, fmt.Sprintf(`UPDATE dash_week_horizon SET at = %d WHERE id = 1`, h-((h-96)%168+168)%168)); err != nil {
			return fmt.Errorf("setting the week horizon to -as-of's week: %w", err)
		}
		sh, ok := s.(interface{ SetDashClockShift(time.Duration) })
		if !ok {
			return fmt.Errorf("%s: the store's fold cannot run as of another time", r.Driver)
		}
		sh.SetDashClockShift(shift)
		defer sh.SetDashClockShift(0)
	}
	run := func(seed uint64, on bool, profile string) (float64, float64, float64, error) {
		// A day's events up to the round's start (fresh, as a collector stores them), in the order
		// a collector stores them (observed order, a few late), as pages of a vendor's stream arrive.
		end := time.Now().Add(shift).UTC().Truncate(time.Second)
		g := eventgen.NewTimeline(eventgen.Options{Seed: seed, People: o.People, Days: 1, End: end,
			Connections: []eventgen.Conn{{ID: 2, Name: "ingest", Observer: event.ObserverBox}}}, o.IngestEvents)
		evs := make([]*event.FileEvent, o.IngestEvents)
		dayStart := end.Add(-24 * time.Hour)
		for i := range evs {
			e, _ := g.Next()
			if o.IngestSpan > 0 && o.IngestSpan < 24*time.Hour {
				e.Timestamp = end.Add(-o.IngestSpan + time.Duration(float64(e.Timestamp.Sub(dayStart))*float64(o.IngestSpan)/float64(24*time.Hour)))
			}
			sc.score(&e)
			evs[i] = &e
		}
		dw.SetDashboards(on)
		stop, err := cpuProfile(profile)
		if err != nil {
			return 0, 0, 0, err
		}
		defer stop()
		// The counts' own time is measured where it can be told apart: on PostgreSQL with
		// -fold-after (the event transactions' part, then the round's fold), on SQLite always (the
		// event transactions count in place; there is no fold).
		ft, timed := s.(foldTimer)
		fold := timed && o.FoldAfter && s.Driver() == "postgres"
		timed = fold || timed && s.Driver() == "sqlite"
		var write0 time.Duration
		if timed {
			write0 = ft.DashWriteTime()
		}
		c0, w0 := meter.seconds(), walPosition(ctx, db)
		t0 := time.Now()
		for i := 0; i < len(evs); i += o.IngestBatch {
			if _, err := s.InsertEvents(ctx, evs[i:min(i+o.IngestBatch, len(evs))], false); err != nil {
				return 0, 0, 0, err
			}
		}
		inserts := float64(len(evs)) / time.Since(t0).Seconds()
		c1 := meter.seconds()
		if timed && !on {
			r.OffTime = append(r.OffTime, 1e6/inserts)
		}
		// The counts' own time, measured apart (-fold-after): what the event transactions spent on
		// them, and a fold of the round's deltas timed three times and rolled back; the time and
		// CPU of those timed folds are left out of the round's.
		var aside time.Duration
		var asideCPU float64
		if timed && on {
			write := ft.DashWriteTime() - write0
			var ds []time.Duration
			foldSec := 0.0 // SQLite: no fold
			if fold {
				ta, ca := time.Now(), meter.seconds()
				var err error
				if ds, err = ft.TimeFold(ctx, time.Now().Add(shift), 3); err != nil {
					return 0, 0, 0, fmt.Errorf("timing the fold: %w", err)
				}
				aside, asideCPU = time.Since(ta), meter.seconds()-ca
				folds := make([]float64, len(ds))
				for i, d := range ds {
					folds[i] = d.Seconds()
				}
				foldSec = Median(folds)
			}
			per := func(sec float64) float64 { return sec * 1e6 / float64(len(evs)) }
			r.OwnWrite, r.OwnFold = append(r.OwnWrite, per(write.Seconds())), append(r.OwnFold, per(foldSec))
			fmt.Fprintf(progress, "%s: the counts' own time, measured apart: %.1f µs per event in the event transactions, %.1f µs folding (folds of %s)\n",
				r.Driver, per(write.Seconds()), per(foldSec), ds)
		}
		defer func() {
			if on {
				fmt.Fprintf(progress, "%s: CPU per event to the last insert %.1f µs, then the fold %.1f µs\n", r.Driver, (c1-c0)*1e6/float64(len(evs)), (meter.seconds()-c1-asideCPU)*1e6/float64(len(evs)))
			}
			if w0 >= 0 {
				wal := float64(walPosition(ctx, db)-w0) / float64(len(evs))
				fmt.Fprintf(progress, "%s: WAL per event, counts %s: %.0f bytes\n", r.Driver, map[bool]string{true: "on", false: "off"}[on], wal)
				if on {
					r.WithWAL = append(r.WithWAL, wal)
				} else {
					r.WithoutWAL = append(r.WithoutWAL, wal)
				}
			}
		}()
		// Where the counts are kept as deltas (PostgreSQL), the run ends when the background
		// fold has folded them all, and is charged for it.
		if err := drainDashDeltas(ctx, s, db); err != nil {
			return 0, 0, 0, err
		}
		rate := float64(len(evs)) / (time.Since(t0) - aside).Seconds()
		return rate, inserts, (meter.seconds() - asideCPU - c0) * 1e6 / float64(len(evs)), nil
	}
	// One run first, not measured: the first writes after the queries warm the caches and the
	// prepared statements of both sides, and would otherwise be charged to whichever side goes first.
	if _, _, _, err := run(o.Seed*1000+999, true, ""); err != nil {
		return err
	}
	r.OwnWrite, r.OwnFold = nil, nil // the unmeasured run's
	for round := 0; round < o.Rounds; round++ {
		order := []bool{true, false}
		if round%2 == 1 {
			order = []bool{false, true}
		}
		for _, on := range order {
			profile := ""
			if o.ProfileDir != "" && round == o.Rounds-1 {
				profile = filepath.Join(o.ProfileDir, fmt.Sprintf("dash-ingest-%s-counts-%s.pprof", r.Driver, map[bool]string{true: "on", false: "off"}[on]))
			}
			rate, inserts, cpu, err := run(o.Seed*1000+uint64(round*2)+map[bool]uint64{true: 1}[on], on, profile)
			if err != nil {
				return err
			}
			if on {
				r.With, r.WithCPU = append(r.With, rate), append(r.WithCPU, cpu)
				if s.Driver() == "postgres" {
					r.WithInserts = append(r.WithInserts, inserts)
					fmt.Fprintf(progress, "%s: ingest round %d, counts on, to the last insert (before the fold): %.0f events/s\n", r.Driver, round+1, inserts)
				}
			} else {
				r.Without, r.WithoutCPU = append(r.Without, rate), append(r.WithoutCPU, cpu)
			}
			fmt.Fprintf(progress, "%s: ingest round %d, counts %s: %.0f events/s, %.1f µs of CPU per event\n", r.Driver, round+1, map[bool]string{true: "on", false: "off"}[on], rate, cpu)
		}
	}
	r.WithMed, r.WithoutMed = Median(r.With), Median(r.Without)
	if len(r.OwnWrite) > 0 && len(r.OffTime) > 0 {
		own := Median(r.OwnWrite) + Median(r.OwnFold)
		r.OwnShare = own / (Median(r.OffTime) + own)
		fmt.Fprintf(progress, "%s: the counts' own time %.1f µs per event against %.1f µs per event without them: %.1f %% of the time\n",
			r.Driver, own, Median(r.OffTime), 100*r.OwnShare)
	}
	if len(r.WithInserts) > 0 {
		r.WithInsertsMed = Median(r.WithInserts)
	}
	if r.WithoutMed > 0 {
		r.Cost = 1 - r.WithMed/r.WithoutMed
	}
	if on := Median(r.WithCPU); on > 0 {
		r.CPUCost = 1 - Median(r.WithoutCPU)/on
	}
	// The open hours the rounds left (PostgreSQL): closed by a fold as of hours later, as
	// happens once their hour is over, and charged to the events stored with the counts on.
	if closer, ok := s.(interface {
		FoldDashboardsAt(ctx context.Context, limit int, now time.Time) (int, error)
	}); ok && s.Driver() == "postgres" {
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM dash_open_hours`).Scan(&r.RollupRows); err != nil {
			return err
		}
		if r.RollupRows > 0 && o.Runs > 1 {
			var err error
			if r.OpenRequests, err = dashRequests(ctx, s, o, end, progress, r.Driver+" with open hours"); err != nil {
				return err
			}
		}
		c0, t0 := meter.seconds(), time.Now()
		if _, err := closer.FoldDashboardsAt(ctx, sqldb.DashFoldBatch, time.Now().Add(shift+24*time.Hour)); err != nil {
			return err
		}
		r.RollupSecs = time.Since(t0).Seconds()
		r.RollupCPU = (meter.seconds() - c0) * 1e6 / float64((o.Rounds+1)*o.IngestEvents)
		if len(r.OpenRequests) > 0 {
			var err error
			if r.ClosedRequests, err = dashRequests(ctx, s, o, end, progress, r.Driver+" with the open hours closed"); err != nil {
				return err
			}
		}
		if on := Median(r.WithCPU) + r.RollupCPU; on > 0 {
			r.RollupCPUCost = 1 - Median(r.WithoutCPU)/on
		}
		fmt.Fprintf(progress, "%s: the open hours closed: %d rows in %.2f s, %.1f µs of CPU per event stored with the counts on; the counts' CPU share with it %.1f %%\n",
			r.Driver, r.RollupRows, r.RollupSecs, r.RollupCPU, 100*r.RollupCPUCost)
	}
	dw.SetDashboards(false)
	for {
		n, err := s.DeleteConnectionEvents(ctx, 2, 5000)
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
	}
}

// foldTimer is a store whose dashboards' counts can be timed apart (PostgreSQL's sqldb.DB).
type foldTimer interface {
	TimeFold(ctx context.Context, now time.Time, times int) ([]time.Duration, error)
	DashWriteTime() time.Duration
}

// floats renders values with one decimal, comma-separated.
func floats(v []float64) string {
	out := make([]string, len(v))
	for i, x := range v {
		out[i] = fmt.Sprintf("%.1f", x)
	}
	return strings.Join(out, ", ")
}

// drainDashDeltas folds the dashboards' deltas not yet folded, if the store keeps any, until none
// is left (beside the store's own background fold, which may hold the fold lock meanwhile).
func drainDashDeltas(ctx context.Context, s store.Store, db *sql.DB) error {
	f, ok := s.(interface {
		FoldDashboards(ctx context.Context, limit int) (int, error)
	})
	if !ok || s.Driver() != "postgres" {
		return nil
	}
	for {
		n, err := f.FoldDashboards(ctx, sqldb.DashFoldBatch)
		if err != nil {
			return err
		}
		var left int64
		if err := db.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM dash_deltas) + (SELECT COUNT(*) FROM dash_hour_deltas)`).Scan(&left); err != nil {
			return err
		}
		if left == 0 {
			return nil
		}
		if n == 0 {
			time.Sleep(10 * time.Millisecond) // the background fold has the lock
		}
	}
}

// FormatDashboards renders the section of docs/BENCHMARKS.md.
func FormatDashboards(rs []DashResult, o DashOptions, cmd string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### Dashboards (issue 18, R8.4)\n\n%s; %s. Command: `%s`.\n\n", Machine(), Stamp(), cmd)
	for _, r := range rs {
		load := fmt.Sprintf("loaded in %.0f s (%s)", r.Load.Seconds, r.Load.Method)
		if r.Reused {
			load = fmt.Sprintf("reused, loaded on %s in %.0f s", r.Load.Date, r.Load.Seconds)
		}
		fmt.Fprintf(&b, "**%s**: %d events (`eventgen` timeline: %d people, %d days, scored with the default risk settings, corp.example trusted), %s; %d count rows (`dash_hours`, `dash_dims`, `dash_people`; hours, days and weeks). Load average during the measurements: %s (2 cores).\n\n",
			r.Driver, r.Events, o.People, o.Days, load, r.CountRows, r.LoadAvg)
		fmt.Fprintln(&b, "| request | buckets | p50 ms | p95 ms (target ≤ 200) |")
		fmt.Fprintln(&b, "|---|---:|---:|---:|")
		for _, q := range r.Requests {
			fmt.Fprintf(&b, "| %s | %d | %.1f | **%.1f** |\n", q.Name, q.Buckets, q.P50, q.P95)
		}
		fmt.Fprintln(&b)
		fmt.Fprintf(&b, "Ingest into that database, side by side: after one unmeasured run, %d rounds of %d fresh events of %s in observed order (`eventgen.Timeline`: as a collector stores a vendor's stream), %d per `InsertEvents` transaction, counts on and off alternated (which goes first alternates too).\n\n",
			o.Rounds, o.IngestEvents, ingestSpanText(o.IngestSpan), o.IngestBatch)
		if !o.AsOf.IsZero() {
			fmt.Fprintf(&b, "The rounds ran as of %s (`-as-of`): their events end there, the store's fold took that for now, and the week horizon was set to that time's week.\n\n", o.AsOf.UTC().Format(time.RFC3339))
		}
		fmt.Fprintln(&b, "| counts | events/s per round | median |")
		fmt.Fprintln(&b, "|---|---|---:|")
		fmt.Fprintf(&b, "| on | %s | %.0f |\n", rates(r.With), r.WithMed)
		if len(r.WithInserts) > 0 {
			fmt.Fprintf(&b, "| on, to the last insert (before the fold of its deltas) | %s | %.0f |\n", rates(r.WithInserts), r.WithInsertsMed)
		}
		fmt.Fprintf(&b, "| off | %s | %.0f |\n\n", rates(r.Without), r.WithoutMed)
		fmt.Fprintf(&b, "Cost of the counts: **%.1f %%** of ingest throughput (1 − on/off, medians; target ≤ 10 %%).\n\n", 100*r.Cost)
		if len(r.WithWAL) > 0 {
			fmt.Fprintf(&b, "Write-ahead log per event (`pg_current_wal_lsn()` before and after a round, the fold included), bytes: on %s (median %.0f), off %s (median %.0f).\n\n",
				rates(r.WithWAL), Median(r.WithWAL), rates(r.WithoutWAL), Median(r.WithoutWAL))
		}
		if len(r.WithCPU) > 0 {
			fmt.Fprintf(&b, "CPU per event (%s, from the rounds' start to their last delta folded), µs: on %s (median %.1f), off %s (median %.1f): the counts take **%.1f %%** of a CPU-bound ingest's throughput (1 − off/on, medians), a figure that a neighbour's load on the shared cores moves less than the rates.\n\n",
				map[bool]string{true: "this process and the PostgreSQL server's processes", false: "this process"}[r.CPUServer],
				rates(r.WithCPU), Median(r.WithCPU), rates(r.WithoutCPU), Median(r.WithoutCPU), 100*r.CPUCost)
		}
		if len(r.OpenRequests) == len(r.ClosedRequests) && len(r.OpenRequests) > 0 {
			fmt.Fprintf(&b, "The requests again after the rounds, while %d rows of open hours wait in `dash_open_hours` (every read adds them), then once they are closed (the same database), p50 / p95 ms: ", r.RollupRows)
			for i, q := range r.OpenRequests {
				if i > 0 {
					fmt.Fprint(&b, "; ")
				}
				fmt.Fprintf(&b, "%s %.1f / %.1f, closed %.1f / %.1f", q.Name, q.P50, q.P95, r.ClosedRequests[i].P50, r.ClosedRequests[i].P95)
			}
			fmt.Fprint(&b, ".\n\n")
		}
		if r.RollupSecs > 0 {
			fmt.Fprintf(&b, "The open hours (the current hour and the two before: their counts wait in `dash_open_hours` and reach the day and week rows once the hour is over) closed after the rounds by one fold as of a day later: %d rows in %.2f s, **%.1f µs of CPU per event** stored with the counts on (the unmeasured run's included; in a live stream one such fold an hour). With it charged to the rounds, the counts take **%.1f %%** of a CPU-bound ingest's throughput.\n\n",
				r.RollupRows, r.RollupSecs, r.RollupCPU, 100*r.RollupCPUCost)
		}
		if len(r.OwnWrite) > 0 && r.Driver == "sqlite" {
			fmt.Fprintf(&b, "The counts' own time, measured apart from the machine's other work: in the event transactions (summing a page's counts and upserting them, `DB.DashWriteTime`) %s µs per event (rounds; median %.1f), against %s µs per event for a round without the counts (median %.1f): the counts take **%.1f %%** of the ingest's time (own ÷ (without + own), medians). Not in it: the count pages' share of each commit's write to the WAL.\n\n",
				floats(r.OwnWrite), Median(r.OwnWrite), floats(r.OffTime), Median(r.OffTime), 100*r.OwnShare)
		} else if len(r.OwnWrite) > 0 {
			fmt.Fprintf(&b, "The counts' own time, measured apart from the machine's other work (`-fold-after`): in the event transactions (summing a page's counts and copying its deltas) %s µs per event (rounds; median %.1f), and folding a round's deltas %s µs per event (each round's the median of three folds of them run alone and rolled back; median %.1f), against %s µs per event for a round without the counts (median %.1f): the counts take **%.1f %%** of the ingest's time (own ÷ (without + own), medians). The timed folds are left out of the rounds' rates and CPU above.\n\n",
				floats(r.OwnWrite), Median(r.OwnWrite), floats(r.OwnFold), Median(r.OwnFold), floats(r.OffTime), Median(r.OffTime), 100*r.OwnShare)
		}
		if len(r.WithInserts) > 0 && r.WithoutMed > 0 {
			fmt.Fprintf(&b, "On PostgreSQL the counts are deltas appended by `COPY` in the event transaction and folded in the background (%s): a round with the counts on ends when every delta is folded and is timed to then (the cost above). Timed to the last insert's commit instead, the event transactions' own share: **%.1f %%**.\n\n",
				map[bool]string{false: "every 2 s, and all that is left when a round's inserts end", true: "here, with `-fold-after`, only once a round's inserts have ended, so the inserts run alone"}[o.FoldAfter],
				100*(1-r.WithInsertsMed/r.WithoutMed))
		}
	}
	fmt.Fprintln(&b, "A request is what the API handler does (`api.RiskExposureOf` / `api.InsiderRiskOf`: the store's reads of the counts and the JSON answer), timed in process; HTTP adds a loopback round trip. The counts are read per hour, day or week, never from `file_events`: a chart reads one row per bucket and series, a drill-down seeks its value's row in each bucket, and a top list or breakdown reads the range as its edge hours and days and its whole weeks, so a request's time follows the number of buckets (and of values in them), not the number of events.")
	return b.String()
}

func rates(xs []float64) string {
	var s []string
	for _, x := range xs {
		s = append(s, fmt.Sprintf("%.0f", x))
	}
	return strings.Join(s, ", ")
}

// DashboardsCommand is `telltale-bench dashboards`.
func DashboardsCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("dashboards", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := DashOptions{}
	fs.IntVar(&o.Events, "events", 10000000, "events loaded")
	fs.IntVar(&o.People, "people", 5000, "people in the population")
	fs.IntVar(&o.Days, "days", 90, "days the events span")
	fs.IntVar(&o.Batch, "batch", 5000, "events per transaction while loading")
	fs.IntVar(&o.Runs, "runs", 20, "measured runs of each dashboard request")
	fs.IntVar(&o.Warmup, "warmup", 2, "unmeasured runs of each request first")
	fs.IntVar(&o.IngestEvents, "ingest", 50000, "events per ingest run")
	fs.DurationVar(&o.IngestSpan, "ingest-span", 24*time.Hour, "time the ingested events span (24h: a day's backlog; a few minutes: a live stream, the day's events scaled into it)")
	fs.IntVar(&o.IngestBatch, "ingest-batch", 500, "events per InsertEvents transaction while ingesting")
	fs.IntVar(&o.Rounds, "rounds", 3, "ingest runs of each side (counts on, off)")
	drivers := fs.String("drivers", "sqlite", "drivers to measure: sqlite, postgres")
	fs.StringVar(&o.DSN, "dsn", "", "a PostgreSQL database to use (default: a throwaway server)")
	fs.StringVar(&o.TempDir, "dir", "", "directory for the SQLite database (default: a new temporary directory)")
	fs.StringVar(&o.ProfileDir, "cpuprofile", "", "write a CPU profile of the last ingest round of each side (counts on, off) into this directory")
	fs.BoolVar(&o.FoldAfter, "fold-after", false, "PostgreSQL: no background fold of the counts' deltas; each round folds them after its inserts")
	asOf := fs.String("as-of", "", "run the ingest rounds as of this past time (RFC 3339): their events end there, the fold takes it for now, the week horizon is set to its week")
	fs.BoolVar(&o.Reuse, "reuse", false, "keep the database and reuse one that already holds -events events (needs -dir)")
	seed := fs.Uint64("seed", 1, "generator seed")
	write := fs.String("write", "", "write the result section into this markdown file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o.Seed = *seed
	if *asOf != "" {
		t, err := time.Parse(time.RFC3339, *asOf)
		if err != nil || t.After(time.Now()) {
			return fmt.Errorf("dashboards: -as-of %q: give a past time in RFC 3339, e.g. 2026-12-05T03:30:00Z (%v)", *asOf, err)
		}
		o.AsOf = t
	}
	for _, d := range strings.Split(*drivers, ",") {
		switch d = strings.TrimSpace(d); d {
		case "sqlite", "postgres":
			o.Drivers = append(o.Drivers, d)
		default:
			return fmt.Errorf("dashboards: -drivers: unknown driver %q: use sqlite, postgres or both", d)
		}
	}
	switch {
	case o.Events < 10000 || o.Batch < 1:
		return errors.New("dashboards: -events must be at least 10000 and -batch at least 1")
	case o.Runs < 1 || o.Warmup < 0 || o.Rounds < 1 || o.IngestEvents < 1 || o.IngestBatch < 1:
		return errors.New("dashboards: -runs, -rounds, -ingest and -ingest-batch must be at least 1, -warmup not negative")
	case o.IngestSpan <= 0 || o.IngestSpan > 24*time.Hour:
		return fmt.Errorf("dashboards: -ingest-span %s: give a span above 0 and at most 24h (e.g. 24h for a day's backlog, 5m for a live stream)", o.IngestSpan)
	case o.Reuse && o.TempDir == "":
		return errors.New("dashboards: -reuse needs -dir (a temporary directory is gone when the program ends)")
	}
	done, err := scratchDir(&o.TempDir, "telltale-bench-dashboards-")
	if err != nil {
		return err
	}
	defer done()
	rs, err := RunDashboards(ctx, o, stderr)
	if err != nil {
		return err
	}
	return publish(stdout, *write, "dashboards", FormatDashboards(rs, o, "go run ./cmd/telltale-bench dashboards "+strings.Join(args, " ")))
}

// ingestSpanText names the span the ingested events fall in.
func ingestSpanText(span time.Duration) string {
	if span <= 0 || span >= 24*time.Hour {
		return "the day before each round's start (a backlog: a day's events stored in seconds)"
	}
	return "the " + span.String() + " before each round's start (a live stream: a day's events, their times scaled into it)"
}

// walPosition is PostgreSQL's write-ahead log position in bytes, or -1 where db is not PostgreSQL.
func walPosition(ctx context.Context, db *sql.DB) int64 {
	var n int64
	if db == nil || db.QueryRowContext(ctx, `SELECT (pg_current_wal_lsn() - '0/0')::bigint`).Scan(&n) != nil {
		return -1
	}
	return n
}
