package sqldb

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/internal/store"
)

// SetEventKeys off makes the handle write a PostgreSQL database migrated only up to before 0037,
// whose dedupe index is on file_events itself: for the tests of older migrations that store events
// before migrating further.
func (db *DB) SetEventKeys(on bool) { db.d.NoEventKeys = !on }

// SetEventCodes off makes the handle insert events into a database migrated only up to before
// 0039, whose vocabulary columns are text (and whose actor and owner are text: SetAddresses): for
// the tests of older migrations.
func (db *DB) SetEventCodes(on bool) {
	db.d.TextVocabularies = !on
	if !on {
		db.d.TextAddresses = true
	}
}

// SetAddresses off makes the handle insert events into a database migrated only up to before
// 0044, whose actor and owner columns are text: for the tests of older migrations.
func (db *DB) SetAddresses(on bool) { db.d.TextAddresses = !on }

// PrepareEventPartitions implements store.EventQueries: on PostgreSQL, the month partitions of
// file_events from at's month to store.EventMonthsAhead months later (telltale_event_partitions,
// migration 0037).
func (q *Queries) PrepareEventPartitions(ctx context.Context, at time.Time) (int, error) {
	if q.d.Name != "postgres" {
		return 0, nil
	}
	var n int
	err := q.w.QueryRowContext(ctx, `SELECT telltale_event_partitions($1, $2)`, at.UTC(), store.EventMonthsAhead).Scan(&n)
	return n, q.wrap("prepare event partitions", err)
}

// eventMonth is one month partition of file_events: its name and bounds (Unix microseconds).
type eventMonth struct {
	name   string
	lo, hi int64
}

// eventMonths lists the month partitions (file_events_pYYYYMM), oldest first.
func (q *Queries) eventMonths(ctx context.Context) ([]eventMonth, error) {
	rows, err := q.w.QueryContext(ctx, `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = 'file_events'::regclass AND c.relname LIKE 'file\_events\_p%'`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []eventMonth
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		ym, err := strconv.Atoi(strings.TrimPrefix(name, "file_events_p"))
		if err != nil || len(name) != len("file_events_p202601") {
			continue // not one of ours
		}
		t := time.Date(ym/100, time.Month(ym%100), 1, 0, 0, 0, 0, time.UTC)
		out = append(out, eventMonth{name: name, lo: t.UnixMicro(), hi: t.AddDate(0, 1, 0).UnixMicro()})
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b eventMonth) int { return int(a.lo - b.lo) })
	return out, nil
}

// dropMonthBatch bounds how many months one DropEventsBefore transaction drops.
const dropMonthBatch = 12

// DropEventsBefore implements store.EventQueries.
func (q *Queries) DropEventsBefore(ctx context.Context, before time.Time) (int64, error) {
	cut := micros(before)
	if q.d.Name != "postgres" {
		var total int64
		for {
			var n int64
			err := q.inTx(ctx, func(q *Queries) error {
				if err := q.keepIDFloor(ctx); err != nil {
					return err
				}
				ids := `SELECT id FROM file_events WHERE observed < ? AND NOT ` + heldEvent + ` ORDER BY id LIMIT ?`
				if err := q.takeBackDashboards(ctx, ids, cut, 5000); err != nil {
					return err
				}
				var err error
				n, err = q.deleteEvents(ctx, `id IN (`+ids+`)`, cut, 5000)
				return err
			})
			if err != nil {
				return total, q.wrap("drop events", err)
			}
			if total += n; n == 0 {
				return total, nil
			}
		}
	}
	var total int64
	err := q.inTx(ctx, func(q *Queries) error {
		// Under the event lock no insert runs meanwhile (each takes it first), and under the
		// partitions' lock (telltale_event_partitions, migration 0037) no month is made: the moves
		// below cannot deadlock against either.
		if _, err := q.w.ExecContext(ctx, q.d.EventLock); err != nil {
			return err
		}
		if _, err := q.w.ExecContext(ctx, `SELECT pg_advisory_xact_lock(724203)`); err != nil {
			return err
		}
		months, err := q.eventMonths(ctx)
		if err != nil {
			return err
		}
		dropped := 0
		for _, m := range months {
			if m.hi > cut || dropped == dropMonthBatch {
				break
			}
			n, err := q.dropMonth(ctx, m)
			if err != nil {
				return fmt.Errorf("%s: %w", m.name, err)
			}
			total += n
			dropped++
		}
		// The default partition's older rows (an event far in the past, or one a hold kept).
		n, err := q.deleteEventsAccounted(ctx, `SELECT id FROM file_events_default file_events WHERE observed < ? AND NOT `+heldEvent, cut)
		total += n
		return err
	})
	return total, q.wrap("drop events", err)
}

// deleteEventsAccounted deletes the events whose ids the subquery ids selects, taking them out of
// the dashboards' counts first.
func (q *Queries) deleteEventsAccounted(ctx context.Context, ids string, args ...any) (int64, error) {
	if err := q.takeBackDashboards(ctx, ids, args...); err != nil {
		return 0, err
	}
	return q.deleteEvents(ctx, `id IN (`+ids+`)`, args...)
}

// dropMonth removes one month partition whole, but first keeps the events a case on legal hold
// keeps: they are copied aside, and after the partition is detached and dropped they are inserted
// again, landing in the default partition (their month no longer has a partition). Their keys stay
// in event_keys; the others' keys are deleted. It returns how many events left.
func (q *Queries) dropMonth(ctx context.Context, m eventMonth) (int64, error) {
	p := `"` + m.name + `"` // from pg_class, matched to file_events_pYYYYMM
	free := `SELECT id FROM ` + p + ` file_events WHERE NOT ` + heldEvent
	if err := q.takeBackDashboardsIn(ctx, p, free); err != nil {
		return 0, err
	}
	var n int64
	if err := q.w.QueryRowContext(ctx, `WITH k AS (DELETE FROM event_keys k USING `+p+` file_events
  WHERE k.dedupe = file_events.dedupe AND NOT `+heldEvent+` RETURNING 1) SELECT COUNT(*) FROM k`).Scan(&n); err != nil {
		return 0, err
	}
	if _, err := q.w.ExecContext(ctx, `CREATE TEMP TABLE held_events ON COMMIT DROP AS SELECT * FROM `+p+` file_events WHERE `+heldEvent); err != nil {
		return 0, err
	}
	for _, s := range []string{
		`ALTER TABLE file_events DETACH PARTITION ` + p,
		`DROP TABLE ` + p,
		`INSERT INTO file_events SELECT * FROM held_events`,
		`DROP TABLE held_events`,
	} {
		if _, err := q.w.ExecContext(ctx, s); err != nil {
			return 0, err
		}
	}
	return n, nil
}
