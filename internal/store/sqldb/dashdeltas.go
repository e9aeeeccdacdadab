package sqldb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/telltale-dev/telltale/internal/store"
)

// Dashboard deltas (PostgreSQL, migration 0038; issue 18). Upserting about 2.4 count rows per
// event in the event transaction cost PostgreSQL about a fifth of its ingest throughput (an index
// probe, then a speculative insert or a locked update, about 8 µs a row). There the event
// transaction instead appends its changes of the counts to dash_deltas by COPY (no index, no
// conflict), and FoldDashboards moves them into the count tables later, in one transaction that
// deletes the deltas it folds: a delta is folded exactly once whatever the nodes and crashes (a
// fold that fails or dies midway rolls back its deletes with its upserts). Every read adds the
// deltas not yet folded, in the same statement (one snapshot), so the views are exact and current
// to the last commit whether or not the fold has run.

// hourDeltaCols are dash_hour_deltas' columns in COPY order (migration 0040).
var hourDeltaCols = []string{"kind", "at", "value", "vector", "severity", "category", "trusted", "events", "risky"}

// deltaHours is the letter of dash_deltas.kind for the rows of dash_hours (dash_dims rows keep
// their own kind: p, v, d). Nodes of schema 42 and before also wrote "r", the rows of
// dash_person_risky, which migration 0043 dropped with the table: a person's risky total is the
// sum of their p rows.
const deltaHours = "h"

// writeDashChanges adds the sums to the dashboards: as the hours' deltas appended by COPY where
// the dialect keeps them (PostgreSQL, inside a transaction on its own connection), else to the
// counts directly. The days and weeks are derived from the hours by the fold and the reads
// (dashSource), so only the hours' sums are written: about half the rows of a page.
func (q *Queries) writeDashChanges(ctx context.Context, s *DashSums) error {
	if !q.hourDeltas() {
		return q.WriteDashSums(ctx, s)
	}
	rows := make([][]any, 0, s.Len()/2)
	for k, v := range s.hours {
		if v != 0 && k.span == 1 {
			rows = append(rows, []any{deltaHours, k.at, "", k.vector, k.severity, k.category, b2i(k.trusted), v, int64(0)})
		}
	}
	for k, v := range s.dims {
		if v != [2]int64{} && k.span == 1 {
			rows = append(rows, []any{k.kind, k.at, k.value, k.vector, "", "", int64(0), v[0], v[1]})
		}
	}
	if len(rows) == 0 {
		return nil
	}
	err := q.conn.Raw(func(dc any) error {
		n, err := q.d.CopyFrom(ctx, dc, "dash_hour_deltas", hourDeltaCols, CopyRows(rows))
		if err == nil && n != int64(len(rows)) {
			err = fmt.Errorf("copied %d rows of %d", n, len(rows))
		}
		return err
	})
	return q.wrap("dashboards: deltas", err)
}

// hourDeltas reports whether this transaction writes the hours' deltas (writeDashChanges) rather
// than the counts.
func (q *Queries) hourDeltas() bool { return q.d.DashDeltas && q.conn != nil && q.d.CopyFrom != nil }

// The buckets an hour belongs to, as SQL of its column at (bucketStart): its day, its week.
// dash_deltas (written by nodes of schema 39 and before) holds the days' deltas too, and a
// week's is the sum of its days' (every week row of the counts is kept with the day rows it
// holds); weekOf gives the week of a day as of an hour.
const (
	weekSpan = "168"
	dayOf    = "at - ((at % 24) + 24) % 24"
	weekOf   = "at - (((at - 96) % 168) + 168) % 168"
)

// openRows are the hours' rows that are not in the count tables yet: the open hours' sums
// (dash_open_hours) and the deltas not yet folded (dash_hour_deltas), each to be added to its
// hour, day and week.
const openRows = `(SELECT kind, at, value, vector, severity, category, trusted, events, risky FROM dash_hour_deltas
UNION ALL SELECT kind, at, value, vector, severity, category, trusted, events, risky FROM dash_open_hours) o
CROSS JOIN (VALUES (1, false), (24, false), (24, true), (168, false), (168, true)) s(span, every)`

// openBucket is the bucket of span s.span holding the hour of an openRows row; openVector its
// vector (the every-vector total of a day or week: s.every).
const (
	openBucket = `CASE s.span WHEN 1 THEN at WHEN 24 THEN ` + dayOf + ` ELSE ` + weekOf + ` END`
	openVector = `CASE WHEN s.every THEN '' ELSE vector END`
)

// dashSource is what a read of the counts of table (dash_hours or dash_dims) in the buckets
// [from, to) (hours; the bounds of buckets of the span read) selects from: the table, plus the
// counts not in it yet where the dialect keeps deltas: the deltas not yet folded and the open
// hours, in every bucket they belong to. All in one statement, so in one
// snapshot: a fold committing meanwhile neither hides nor doubles a count. Only the open rows of
// hours in [from, to) are read (a bucket's hours are its own range, since from and to are bucket
// bounds): a range that ends before the open hours reads none, by the primary key. The bounds
// are written into the statement, not passed as arguments: a prepared statement's generic plan
// (PostgreSQL's after five runs) would not know them and scan every open row.
func (q *Queries) dashSource(table string, from, to int64) string {
	if !q.d.DashDeltas {
		return table
	}
	within := openWithin(from, to)
	switch table {
	case "dash_hours":
		return `(SELECT span, at, vector, severity, category, trusted, events FROM dash_hours
UNION ALL SELECT span, at, vector, severity, category, trusted, events FROM dash_deltas WHERE kind = '` + deltaHours + `'
UNION ALL SELECT ` + weekSpan + `, ` + weekOf + `, vector, severity, category, trusted, events FROM dash_deltas WHERE kind = '` + deltaHours + `' AND span = 24
UNION ALL SELECT s.span, ` + openBucket + `, vector, severity, category, trusted, events FROM ` + openRows + ` WHERE kind = '` + deltaHours + `' AND NOT s.every AND ` + within + `) dash_hours`
	case "dash_dims":
		return `(SELECT kind, span, at, value, vector, events, risky FROM dash_dims
UNION ALL SELECT kind, span, at, value, vector, events, risky FROM dash_deltas WHERE kind IN ('p', 'v', 'd')
UNION ALL SELECT kind, ` + weekSpan + `, ` + weekOf + `, value, vector, events, risky FROM dash_deltas WHERE kind IN ('p', 'v', 'd') AND span = 24
UNION ALL SELECT kind, s.span, ` + openBucket + `, value, ` + openVector + `, events, risky FROM ` + openRows + ` WHERE kind IN ('p', 'v', 'd') AND ` + within + `) dash_dims`
	}
	panic("sqldb: no dashboard source " + table)
}

// openWithin is the condition on an openRows row that its hour is in [from, to), with the bounds
// written in (dashSource says why).
func openWithin(from, to int64) string { return fmt.Sprintf("o.at >= %d AND o.at < %d", from, to) }

// dashPeopleSQL reads the people with a risky event per bucket of one span in [from, to): the
// kept counts (dash_people) and, where the dialect keeps deltas, the change the counts not in
// the count tables yet make (dashSource): a person whose kept total in the bucket (their p rows
// of dash_dims, personRisky: a seek per person with pending counts) and the total with those are
// on either side of zero. It returns the statement and its arguments.
func (q *Queries) dashPeopleSQL(span, from, to int64) (string, []any) {
	if !q.d.DashDeltas {
		return `SELECT at, people FROM dash_people WHERE span = ? AND at >= ? AND at < ? AND people > 0 ORDER BY at`, []any{span, from, to}
	}
	return `SELECT at, SUM(n) FROM (
SELECT at, people AS n FROM dash_people WHERE span = ? AND at >= ? AND at < ?
UNION ALL
SELECT at, ` + personCrossing + `
FROM (SELECT at, r, ` + personTotal + ` AS o
  FROM (SELECT span, at, value, SUM(risky) AS r FROM (
    SELECT span, at, value, risky FROM dash_deltas WHERE kind = 'p' AND ` + personRisky + `
    UNION ALL SELECT s.span, ` + openBucket + `, value, risky FROM ` + openRows + ` WHERE kind = 'p' AND s.span < 168 AND NOT s.every AND ` + openWithin(from, to) + `
  ) pr WHERE span = ? AND at >= ? AND at < ? GROUP BY span, at, value) pk
  OFFSET 0) t
) x GROUP BY at HAVING SUM(n) > 0 ORDER BY at`, []any{span, from, to, span, from, to}
}

// openLag is how many hours before the current one are still open: a delta of an hour at or
// after the current hour less openLag waits in dash_open_hours; an older one (a late event, a
// backlog) goes to the counts at once. Three open hours hold what a live collector stores and
// what its vendor's audit feed delivers within two hours.
const openLag = 2

// dashFoldSQL folds up to $1 deltas of each table (FoldDashboards); $2 is the first open hour,
// $3 the week horizon (dashweeks.go): the weeks from it on get no week rows (their days are
// read instead, and their rows made once each is over).
// Its parts see one snapshot and each changes one table: the older nodes' deltas (dash_deltas,
// hours and days) and the hours' deltas of closed hours go to the counts; the hours' deltas of
// open hours are summed into dash_open_hours; the open hours' rows of hours now closed leave it
// for the counts. The hours' rows for the counts are added to their hour and their day (and,
// with the days, to their week), as dash_deltas' are. The people per bucket (dash_people) move
// by the people whose risky total crossed zero: ro reads each one's total before the fold
// (personRisky; a seek per person and bucket, materialized so that it runs once).
const dashFoldSQL = `WITH od AS (
  DELETE FROM dash_deltas WHERE ctid = ANY(ARRAY(SELECT ctid FROM dash_deltas LIMIT $1))
  RETURNING kind, span, at, value, vector, severity, category, trusted, events, risky),
hd AS (
  DELETE FROM dash_hour_deltas WHERE ctid = ANY(ARRAY(SELECT ctid FROM dash_hour_deltas LIMIT $1))
  RETURNING kind, at, value, vector, severity, category, trusted, events, risky),
oi AS (
  INSERT INTO dash_open_hours (at, kind, value, vector, severity, category, trusted, events, risky)
  SELECT at, kind, value, vector, severity, category, trusted, SUM(events), SUM(risky) FROM hd WHERE at >= $2
  GROUP BY 1, 2, 3, 4, 5, 6, 7 HAVING SUM(events) <> 0 OR SUM(risky) <> 0 ORDER BY 1, 2, 3, 4, 5, 6, 7
  ON CONFLICT (at, kind, value, vector, severity, category, trusted) DO UPDATE
  SET events = dash_open_hours.events + excluded.events, risky = dash_open_hours.risky + excluded.risky),
oc AS (
  DELETE FROM dash_open_hours WHERE at < $2
  RETURNING kind, at, value, vector, severity, category, trusted, events, risky),
kh AS (
  SELECT kind, at, value, vector, severity, category, trusted, events, risky FROM hd WHERE at < $2
  UNION ALL SELECT kind, at, value, vector, severity, category, trusted, events, risky FROM oc),
d AS (
  SELECT kind, span, at, value, vector, severity, category, trusted, events, risky FROM od
  UNION ALL SELECT kind, s.span, ` + openBucket + `, value, ` + openVector + `, severity, category, trusted, events, risky
  FROM kh CROSS JOIN (VALUES (1, false), (24, false), (24, true)) s(span, every) WHERE NOT s.every OR kind IN ('p', 'v', 'd')),
dw AS (
  SELECT kind, span, at, value, vector, severity, category, trusted, events, risky FROM d
  UNION ALL SELECT kind, ` + weekSpan + `, ` + weekOf + `, value, vector, severity, category, trusted, events, risky FROM d
  WHERE span = 24 AND kind IN ('` + deltaHours + `', 'p', 'v', 'd') AND ` + weekOf + ` < $3),
h AS (
  INSERT INTO dash_hours (span, at, vector, severity, category, trusted, events)
  SELECT span, at, vector, severity, category, trusted, SUM(events) FROM dw WHERE kind = '` + deltaHours + `'
  GROUP BY span, at, vector, severity, category, trusted HAVING SUM(events) <> 0 ORDER BY 1, 2, 3, 4, 5, 6
  ON CONFLICT (span, at, vector, severity, category, trusted) DO UPDATE SET events = dash_hours.events + excluded.events),
m AS (
  INSERT INTO dash_dims (kind, span, at, value, vector, events, risky)
  SELECT kind, span, at, value, vector, SUM(events), SUM(risky) FROM dw WHERE kind IN ('p', 'v', 'd')
  GROUP BY kind, span, at, value, vector HAVING SUM(events) <> 0 OR SUM(risky) <> 0 ORDER BY 1, 2, 3, 4, 5
  ON CONFLICT (kind, span, at, value, vector) DO UPDATE SET events = dash_dims.events + excluded.events, risky = dash_dims.risky + excluded.risky),
rs AS (
  SELECT span, at, value, SUM(risky) AS r FROM d WHERE kind = 'p' AND ` + personRisky + ` GROUP BY span, at, value HAVING SUM(risky) <> 0),
ro AS MATERIALIZED (
  SELECT span, at, r, ` + personTotal + ` AS o FROM rs pk),
pm AS (
  SELECT span, at, SUM(` + personCrossing + `) AS moved FROM ro GROUP BY span, at),
pp AS (
  INSERT INTO dash_people (span, at, people) SELECT span, at, moved FROM pm WHERE moved <> 0 ORDER BY 1, 2
  ON CONFLICT (span, at) DO UPDATE SET people = dash_people.people + excluded.people)
SELECT (SELECT COUNT(*) FROM od) + (SELECT COUNT(*) FROM hd)`

// DashFoldBatch is how many deltas one fold transaction moves at most.
const DashFoldBatch = 20000

// FoldDashboards moves up to limit deltas of each delta table into the count tables (or, for an
// open hour, into dash_open_hours) in one transaction, and the open hours' rows of hours now
// closed into the counts: it deletes them, sums them per count row and upserts the sums, moving
// the people per bucket too. It returns how many deltas it folded: 0 when there are none, when
// the dialect keeps none, or when another node is folding (the fold lock is taken, not waited
// for). If it fails, nothing is folded and nothing lost: the deletes roll back with the upserts.
func (db *DB) FoldDashboards(ctx context.Context, limit int) (int, error) {
	return db.FoldDashboardsAt(ctx, limit, time.Now().Add(time.Duration(db.dashShift.Load())))
}

// SetDashClockShift makes FoldDashboards (the background fold's too) take the wall clock moved
// by d for now: the dashboards benchmark runs its ingest as of another time of the week.
func (db *DB) SetDashClockShift(d time.Duration) { db.dashShift.Store(int64(d)) }

// FoldDashboardsAt is FoldDashboards at the time now: the hours from the one openLag hours
// before now's on are open, and the weeks before the first open hour's are closed (closeWeeks).
// Which hours and weeks a fold takes for open changes only where the counts wait, never what
// the reads answer: nodes whose clocks differ fold correctly side by side. Where the dialect
// keeps no deltas (SQLite) it only closes the weeks that are over.
func (db *DB) FoldDashboardsAt(ctx context.Context, limit int, now time.Time) (int, error) {
	if !db.d.DashDeltas {
		return 0, db.CloseDashWeeks(ctx, now)
	}
	if limit <= 0 {
		limit = DashFoldBatch
	}
	n := 0
	err := db.InTx(ctx, func(s store.Queries) error {
		var err error
		n, _, err = s.(*Queries).fold(ctx, limit, now)
		return err
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// fold folds up to limit deltas of each table in this transaction as of now (FoldDashboardsAt);
// locked is false, and nothing folded, when another transaction holds the fold lock.
func (q *Queries) fold(ctx context.Context, limit int, now time.Time) (n int, locked bool, err error) {
	open := now.Unix()/3600 - openLag
	if q.d.DashFoldLock != "" {
		if err := q.w.QueryRowContext(ctx, q.d.DashFoldLock).Scan(&locked); err != nil {
			return 0, false, q.wrap("dashboards: fold lock", err)
		}
		if !locked {
			return 0, false, nil
		}
	}
	// One statement: the deltas deleted, summed per count row and upserted in the keys'
	// order, the people per bucket moved by the people whose total crossed zero (their
	// totals before, a seek each into dash_dims in the statement's snapshot, which the
	// upsert's changes do not reach; the new are the old plus the change), as
	// WriteDashSums does, without the rows leaving the server.
	// The planner cannot count the CTEs' rows: it joined the people's totals to their
	// changes (before migration 0043) by a nested loop, quadratic in the people folded
	// (1.6 s of a 2.1 s fold of 16,000 deltas), so nested loops stay off for any join a
	// later change adds. With them off every plan carries a disabled node's cost (the
	// spans' cross join), above jit_above_cost: compiling the fold would cost more than
	// running it. A batch's rows for dash_dims (about 60,000 of 20,000 deltas) are sorted by
	// key before the upsert: with the default work_mem (4 MB) the sort spilled to disk, and a
	// fold of a day's backlog took 12 % longer (docs/BENCHMARKS.md, dashboards, fourteenth
	// session); 64 MB is the most one fold (one per database at a time: the lock) may take per
	// sort.
	for _, set := range []string{`SET LOCAL enable_nestloop = off`, `SET LOCAL jit = off`, `SET LOCAL work_mem = '64MB'`} {
		if _, err := q.w.ExecContext(ctx, set); err != nil {
			return 0, true, q.wrap("dashboards: fold", err)
		}
	}
	h, err := q.weekHorizon(ctx)
	if err != nil {
		return 0, true, q.wrap("dashboards: fold", err)
	}
	if err := q.w.QueryRowContext(ctx, dashFoldSQL, limit, open, h).Scan(&n); err != nil {
		return 0, true, q.wrap("dashboards: fold", err)
	}
	// After the fold, in its transaction: the rows of the days of the weeks it closes are
	// those of every hour folded so far; the deltas still pending reach the weeks' rows
	// when they are folded (their weeks are then before the horizon).
	return n, true, q.closeWeeks(ctx, h, closingWeek(now))
}

// errTimedFold rolls back a fold that TimeFold measured.
var errTimedFold = errors.New("dashboards: a timed fold, rolled back")

// TimeFold measures what folding every pending delta costs as of now, changing nothing: it folds
// them all, batch after batch as the background fold does, in a transaction it then rolls back,
// times times, and returns each run's duration. The dashboards benchmark charges it to the events
// whose deltas they are, timed with no insert running beside it.
func (db *DB) TimeFold(ctx context.Context, now time.Time, times int) ([]time.Duration, error) {
	if !db.d.DashDeltas {
		return nil, errors.New("dashboards: this store keeps no deltas to fold")
	}
	var out []time.Duration
	for range times {
		err := db.InTx(ctx, func(s store.Queries) error {
			q := s.(*Queries)
			t0 := time.Now()
			for {
				n, locked, err := q.fold(ctx, DashFoldBatch, now)
				switch {
				case err != nil:
					return err
				case !locked:
					return errors.New("dashboards: another node holds the fold lock; stop its fold to time one")
				case n == 0:
					out = append(out, time.Since(t0))
					return errTimedFold
				}
			}
		})
		if !errors.Is(err, errTimedFold) {
			return out, err
		}
	}
	return out, nil
}

// dashFolder is the background fold of a DB (StartDashFold).
type dashFolder struct {
	stop chan struct{}
	done sync.WaitGroup
}

// StartDashFold folds the dashboards' deltas every interval, until Close, batch after batch
// while full ones come, and closes the weeks that are over (on SQLite that is all it does). A
// failed fold is logged and retried at the next tick; the views stay exact meanwhile (they add
// the deltas not yet folded, and read the weeks not closed from their days), only slower.
func (db *DB) StartDashFold(every time.Duration) {
	if every <= 0 || db.fold != nil {
		return
	}
	f := &dashFolder{stop: make(chan struct{})}
	db.fold = f
	ctx, cancel := context.WithCancel(context.Background())
	f.done.Add(1)
	go func() {
		defer f.done.Done()
		defer cancel()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-f.stop:
				return
			case <-t.C:
			}
			for {
				n, err := db.FoldDashboards(ctx, DashFoldBatch)
				if err != nil {
					if ctx.Err() == nil {
						slog.Warn("dashboards: folding the counts' deltas or closing a week failed; retrying", "err", err)
					}
					break
				}
				if n < DashFoldBatch {
					break
				}
				select {
				case <-f.stop:
					return
				default:
				}
			}
		}
	}()
	go func() { <-f.stop; cancel() }()
}

// StopDashFold stops the background fold and waits for it (a fold under way rolls back); the
// deltas then wait for FoldDashboards (the benchmark folds them itself, after each round).
func (db *DB) StopDashFold() {
	if db.fold != nil {
		close(db.fold.stop)
		db.fold.done.Wait()
		db.fold = nil
	}
}
