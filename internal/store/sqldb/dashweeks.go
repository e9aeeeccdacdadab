package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/telltale-dev/telltale/internal/store"
)

// The week horizon (migration 0041; issue 18). A week before the horizon has its week rows in
// dash_hours and dash_dims; a week at or after it is read from its day rows (dashPieces), and its
// rows are made from those day rows once the week is over (closeWeeks), in the transaction that
// moves the horizon past it. Writers (the fold on PostgreSQL, the event transaction on SQLite)
// write the week rows of weeks before the horizon only: the busy current week's rows are no
// longer rewritten by every fold or every page of events. A week row at or after the horizon
// (an older node's) is read by no one and replaced at the close.
//
// The horizon only moves forward, and the day rows are always complete, so a read may take a
// horizon older than the one committed when it runs: it reads more days, never a wrong count.

// weekHorizon reads the week horizon through the transaction's writer (q.w): the event
// transaction (SQLite, one writer) and the fold (PostgreSQL, under the fold lock) see no close
// before they commit.
func (q *Queries) weekHorizon(ctx context.Context) (int64, error) {
	return readWeekHorizon(ctx, q.w)
}

// readWeekHorizon reads the horizon through db (a read, or a writer: weekHorizon).
func readWeekHorizon(ctx context.Context, db querier) (int64, error) {
	var h int64
	err := db.QueryRowContext(ctx, `SELECT at FROM dash_week_horizon WHERE id = 1`).Scan(&h)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, errors.New("store: dashboards: the week horizon is missing (migration 0041 inserts it)")
	}
	return h, err
}

// closingWeek is the first week whose rows a close as of now may not make yet: the week of the
// hour a day before the first hour still open (openLag). Every hour of the weeks before it is
// over, and a week closes only once the week after it is a day old: a day's backlog stored on a
// Monday (Sunday's events, say) still falls in a week not closed, whose rows are not rewritten.
func closingWeek(now time.Time) int64 {
	return bucketStart(now.Unix()/3600-openLag-closeLag, week)
}

// closeLag is how many hours into a week the week before it stays open (closingWeek).
const closeLag = 24 // keep in step with migration 0041's first horizon (26 hours back: this and openLag)

// closeWeeks makes the rows of the weeks in [h, before) from their day rows (replacing any week
// rows there, an older node's) and moves the horizon to before. h is the horizon read in this
// transaction. Nothing happens when before is not past it.
func (q *Queries) closeWeeks(ctx context.Context, h, before int64) error {
	if before <= h {
		return nil
	}
	for _, stmt := range []string{
		`DELETE FROM dash_hours WHERE span = ` + weekSpan + ` AND at >= ? AND at < ?`,
		`INSERT INTO dash_hours (span, at, vector, severity, category, trusted, events)
SELECT ` + weekSpan + `, ` + weekOf + `, vector, severity, category, trusted, SUM(events) FROM dash_hours
WHERE span = 24 AND at >= ? AND at < ? GROUP BY ` + weekOf + `, vector, severity, category, trusted HAVING SUM(events) <> 0`,
		`DELETE FROM dash_dims WHERE kind IN ('p', 'v', 'd') AND span = ` + weekSpan + ` AND at >= ? AND at < ?`,
		`INSERT INTO dash_dims (kind, span, at, value, vector, events, risky)
SELECT kind, ` + weekSpan + `, ` + weekOf + `, value, vector, SUM(events), SUM(risky) FROM dash_dims
WHERE kind IN ('p', 'v', 'd') AND span = 24 AND at >= ? AND at < ? GROUP BY kind, ` + weekOf + `, value, vector
HAVING SUM(events) <> 0 OR SUM(risky) <> 0`,
	} {
		if _, err := q.w.ExecContext(ctx, q.d.q(stmt), h, before); err != nil {
			return q.wrap("dashboards: closing weeks", err)
		}
	}
	_, err := q.w.ExecContext(ctx, q.d.q(`UPDATE dash_week_horizon SET at = ? WHERE id = 1`), before)
	return q.wrap("dashboards: closing weeks", err)
}

// CloseDashWeeks closes the weeks that are over as of now where the dialect keeps no deltas
// (SQLite; PostgreSQL's fold closes them): a read of the horizon first, a write transaction
// only when a week is to close.
func (db *DB) CloseDashWeeks(ctx context.Context, now time.Time) error {
	before := closingWeek(now)
	h, err := readWeekHorizon(ctx, db.r)
	if err != nil || before <= h {
		return err
	}
	return db.InTx(ctx, func(s store.Queries) error {
		q := s.(*Queries)
		h, err := q.weekHorizon(ctx)
		if err != nil {
			return err
		}
		return q.closeWeeks(ctx, h, before)
	})
}
