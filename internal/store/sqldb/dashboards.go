package sqldb

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/store"
)

// The dashboards' counts (migration 0026) are kept in the transaction that stores or updates the
// events, like person_risk: a count is committed exactly when its event is, so a crash can neither
// lose nor double one, and the dashboards are current to the last commit.

// spans are the bucket lengths kept, in hours: an hour, a UTC day and a week (from Monday 00:00
// UTC; migration 0033). The weeks serve the range totals (top lists, breakdowns): a range is read
// as its edge hours and days and its whole weeks (dashPieces), so a 90-day total reads 12 or 13
// weekly rows per value and a few daily ones, not 90.
var spans = [3]int64{1, 24, week}

// week is the longest bucket, in hours; weekStart is the hour of a Monday 00:00 UTC (1970-01-05).
const (
	week      = 168
	weekStart = 96
)

// allVectors is the vector of the dash_dims rows of days and weeks that total every vector of a
// value (migration 0033), so a top list over a long range reads one row per value and bucket.
// Hours have none: a range reads at most 46 edge hours.
const allVectors = ""

// dimVector is the condition on dash_dims.vector for reading a bucket of the span: one vector,
// or every vector (the total row of a day or week, the vectors' own rows of an hour).
func dimVector(vector string, span int64) (string, []any) {
	switch {
	case vector != "":
		return ` AND vector = ?`, []any{vector}
	case span == 1:
		return ` AND vector <> ''`, nil
	}
	return ` AND vector = ''`, nil
}

// bucketStart is the start of the bucket of the given span that holds the hour.
func bucketStart(hour, span int64) int64 {
	off := int64(0)
	if span == week {
		off = weekStart
	}
	return hour - (((hour-off)%span)+span)%span
}

type dashHourKey struct {
	span, at                   int64
	vector, severity, category string
	trusted                    bool
}

type dashDimKey struct {
	kind          string // p, v, d
	span, at      int64
	value, vector string
}

// dashPersonKey is a person's bucket (an hour or a day), where their risky total is the sum of
// their dash_dims rows (personRisky).
type dashPersonKey struct {
	span, at int64
	value    string
}

// DashSums are changes of the dashboards' counts. The benchmark's bulk load builds them too.
type DashSums struct {
	hours  map[dashHourKey]int64
	dims   map[dashDimKey][2]int64 // events, risky
	person map[dashPersonKey]int64 // change of the risky events per person and hour or day, every vector (not written: it moves dash_people)
	// spans are the bucket lengths summed: every kept span, or the hours alone where the days
	// and weeks are derived from the hours' deltas (PostgreSQL's event transaction).
	spans []int64
	// weeksBefore: weeks starting at or after it are not summed (their rows are made from their
	// days when they are over: the week horizon, migration 0041).
	weeksBefore int64
}

// NewDashSums returns empty sums of every bucket an event belongs to.
func NewDashSums() *DashSums {
	return &DashSums{hours: map[dashHourKey]int64{}, dims: map[dashDimKey][2]int64{}, person: map[dashPersonKey]int64{},
		spans: spans[:], weeksBefore: math.MaxInt64}
}

// newDashSums returns empty sums of the buckets this transaction writes: the hours alone where
// the dialect keeps deltas (writeDashChanges), else the hours, the days and the weeks before the
// week horizon (read in the transaction, so that no week closes meanwhile: SQLite has one writer).
func (q *Queries) newDashSums(ctx context.Context) (*DashSums, error) {
	s := NewDashSums()
	if q.hourDeltas() {
		s.spans = spans[:1]
		return s, nil
	}
	h, err := q.weekHorizon(ctx)
	s.weeksBefore = h
	return s, err
}

// Len is how many rows the sums would write (the people per bucket they move not included).
func (s *DashSums) Len() int { return len(s.hours) + len(s.dims) }

// dimKind maps a drill-down kind of the API to its letter in dash_dims.
var dimKind = map[string]string{store.DimPerson: "p", store.DimDevice: "v", store.DimDestination: "d"}

// Add counts e (sign -1 takes it back) in every bucket it belongs to.
func (s *DashSums) Add(e *event.FileEvent, sign int64) {
	vec, trusted := store.ExposureVector(e)
	if vec == "" {
		return
	}
	hour := e.Timestamp.Unix()
	if hour < 0 {
		hour -= 3599
	}
	hour /= 3600
	var risky int64
	if e.Risk.Score > 0 {
		risky = sign
	}
	person := strings.ToLower(strings.TrimSpace(e.User.Email))
	var domains []string
	if !trusted {
		domains = store.DestinationDomains(e)
	}
	device := store.DeviceOf(e)
	for _, span := range s.spans {
		at := bucketStart(hour, span)
		if span == week && at >= s.weeksBefore {
			continue
		}
		s.hours[dashHourKey{span, at, vec, string(e.Risk.Severity), string(e.File.Category), trusted}] += sign
		if trusted {
			continue
		}
		dim := func(kind, value string) {
			k := dashDimKey{kind, span, at, value, vec}
			v := s.dims[k]
			s.dims[k] = [2]int64{v[0] + sign, v[1] + risky}
			if span != 1 { // days and weeks keep every vector's total too
				k.vector = allVectors
				v := s.dims[k]
				s.dims[k] = [2]int64{v[0] + sign, v[1] + risky}
			}
		}
		if person != "" {
			dim("p", person)
			if risky != 0 && span != week {
				s.person[dashPersonKey{span, at, person}] += risky
			}
		}
		if device != "" {
			dim("v", device)
		}
		for _, d := range domains {
			dim("d", d)
		}
	}
}

// dashboardsOff turns the counts off (benchmarks measure ingest without them).
func (q *Queries) dashboardsOff() bool { return q.d.NoDashboards }

// SetDashboards turns the dashboards' counts on or off for this database handle. Off is for the
// benchmark that measures what they cost; a store run with them off has dashboards that miss events.
func (db *DB) SetDashboards(on bool) { db.d.NoDashboards = !on }

// addDashboards counts the inserted events.
func (q *Queries) addDashboards(ctx context.Context, evs []*event.FileEvent) error {
	if q.dashboardsOff() {
		return nil
	}
	if q.dashWrite != nil {
		t0 := time.Now()
		defer func() { q.dashWrite.Add(int64(time.Since(t0))) }()
	}
	s, err := q.newDashSums(ctx)
	if err != nil {
		return err
	}
	for _, e := range evs {
		s.Add(e, 1)
	}
	return q.writeDashChanges(ctx, s)
}

// DashWriteTime is the time the event transactions have spent on the dashboards' counts (summing
// them and writing them or their deltas), since the store opened: the dashboards benchmark charges
// it to the events.
func (db *DB) DashWriteTime() time.Duration { return time.Duration(db.dashWrite.Load()) }

// dashChunk is how many rows one upsert statement carries.
const dashChunk = 50

// WriteDashSums adds the sums to the counts, in one order for every writer (no deadlock between
// two PostgreSQL transactions), many rows per statement.
func (q *Queries) WriteDashSums(ctx context.Context, s *DashSums) error {
	// The people's risky totals before this write, read before dash_dims moves.
	was, err := q.personTotals(ctx, s)
	if err != nil {
		return q.wrap("dashboards", err)
	}
	hk := make([]dashHourKey, 0, len(s.hours))
	for k, v := range s.hours {
		if v != 0 {
			hk = append(hk, k)
		}
	}
	slices.SortFunc(hk, func(a, b dashHourKey) int {
		return cmp.Or(cmp.Compare(a.span, b.span), cmp.Compare(a.at, b.at), strings.Compare(a.vector, b.vector),
			strings.Compare(a.severity, b.severity), strings.Compare(a.category, b.category), cmp.Compare(b2i(a.trusted), b2i(b.trusted)))
	})
	dk := make([]dashDimKey, 0, len(s.dims))
	for k, v := range s.dims {
		if v != [2]int64{} {
			dk = append(dk, k)
		}
	}
	slices.SortFunc(dk, func(a, b dashDimKey) int {
		return cmp.Or(strings.Compare(a.kind, b.kind), cmp.Compare(a.span, b.span), cmp.Compare(a.at, b.at),
			strings.Compare(a.value, b.value), strings.Compare(a.vector, b.vector))
	})
	if q.d.Arrays { // PostgreSQL: each table's rows in one statement, as arrays
		if err := q.writeDashArrays(ctx, s, hk, dk); err != nil {
			return err
		}
		return q.writeDashPeople(ctx, s, was)
	}
	for start := 0; start < len(hk); start += dashChunk {
		part := hk[start:min(start+dashChunk, len(hk))]
		args := make([]any, 0, 7*len(part))
		for _, k := range part {
			args = append(args, k.span, k.at, k.vector, k.severity, k.category, b2i(k.trusted), s.hours[k])
		}
		if _, err := q.w.ExecContext(ctx, q.d.q(`INSERT INTO dash_hours (span, at, vector, severity, category, trusted, events) VALUES `+
			rowMarks(len(part), 7)+` ON CONFLICT (span, at, vector, severity, category, trusted) DO UPDATE SET events = dash_hours.events + excluded.events`), args...); err != nil {
			return q.wrap("dashboards", err)
		}
	}
	for start := 0; start < len(dk); start += dashChunk {
		part := dk[start:min(start+dashChunk, len(dk))]
		args := make([]any, 0, 7*len(part))
		for _, k := range part {
			v := s.dims[k]
			args = append(args, k.kind, k.span, k.at, k.value, k.vector, v[0], v[1])
		}
		if _, err := q.w.ExecContext(ctx, q.d.q(`INSERT INTO dash_dims (kind, span, at, value, vector, events, risky) VALUES `+
			rowMarks(len(part), 7)+` ON CONFLICT (kind, span, at, value, vector) DO UPDATE SET events = dash_dims.events + excluded.events, risky = dash_dims.risky + excluded.risky`), args...); err != nil {
			return q.wrap("dashboards", err)
		}
	}
	return q.writeDashPeople(ctx, s, was)
}

// personRisky is the condition on dash_dims rows of kind p that selects a person's risky total
// in a bucket: every vector's row of an hour, the every-vector row of a day (migration 0043: the
// totals are read from dash_dims, not kept apart).
const personRisky = `(span = 1 OR vector = '')`

// personTotal is a person's risky total in a bucket before a statement's changes, by personRisky:
// one seek into dash_dims for the row pk (span, at, value) of the statement. personCrossing is,
// of a person with the total o before and the change r, +1 if the bucket gains them, -1 if it
// loses them (the SQL of writeDashPeople's test).
const (
	personTotal = `COALESCE((SELECT SUM(x.risky) FROM dash_dims x WHERE x.kind = 'p' AND x.span = pk.span AND x.at = pk.at AND x.value = pk.value
    AND (x.span = 1 OR x.vector = '')), 0)`
	personCrossing = `CASE WHEN o <= 0 AND o + r > 0 THEN 1 WHEN o > 0 AND o + r <= 0 THEN -1 ELSE 0 END`
)

// personTotals reads, for each person and bucket whose risky count s changes, the total there
// before the change (none: zero).
func (q *Queries) personTotals(ctx context.Context, s *DashSums) (map[dashPersonKey]int64, error) {
	pk := make([]dashPersonKey, 0, len(s.person))
	for k, v := range s.person {
		if v != 0 {
			pk = append(pk, k)
		}
	}
	was := map[dashPersonKey]int64{}
	if len(pk) == 0 {
		return was, nil
	}
	slices.SortFunc(pk, func(a, b dashPersonKey) int {
		return cmp.Or(cmp.Compare(a.span, b.span), cmp.Compare(a.at, b.at), strings.Compare(a.value, b.value))
	})
	if q.d.Arrays { // PostgreSQL: one statement, a seek per key
		var spans, ats []int64
		var values []string
		for _, k := range pk {
			spans, ats, values = append(spans, k.span), append(ats, k.at), append(values, k.value)
		}
		rows, err := q.w.QueryContext(ctx, `SELECT pk.span, pk.at, pk.value, `+personTotal+` FROM unnest($1::int[], $2::bigint[], $3::text[]) AS pk(span, at, value)`,
			spans, ats, values)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		for rows.Next() {
			var k dashPersonKey
			var n int64
			if err := rows.Scan(&k.span, &k.at, &k.value, &n); err != nil {
				return nil, err
			}
			was[k] = n
		}
		return was, rows.Err()
	}
	// SQLite: per bucket, the people's values in lists; the rows of a key summed here (an hour's
	// vectors), which spares the statement a grouping.
	for i := 0; i < len(pk); {
		j := i + 1
		for j < len(pk) && j-i < dashChunk*4 && pk[j].span == pk[i].span && pk[j].at == pk[i].at {
			j++
		}
		args := []any{pk[i].span, pk[i].at}
		for _, k := range pk[i:j] {
			args = append(args, k.value)
		}
		rows, err := q.w.QueryContext(ctx, `SELECT value, risky FROM dash_dims WHERE kind = 'p' AND span = ? AND at = ? AND value IN (`+
			strings.TrimSuffix(strings.Repeat("?, ", j-i), ", ")+`) AND `+personRisky+` AND risky <> 0`, args...)
		if err != nil {
			return nil, err
		}
		k := dashPersonKey{span: pk[i].span, at: pk[i].at}
		for rows.Next() {
			var n int64
			if err := rows.Scan(&k.value, &n); err != nil {
				rows.Close()
				return nil, err
			}
			was[k] += n
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
		i = j
	}
	return was, nil
}

// writeDashPeople moves dash_people (how many people have a risky event in the bucket) by the
// people whose risky total there crossed zero: was holds the totals before the sums were
// written (personTotals), the change is in the sums. So the people per bucket are read as one
// row per bucket.
func (q *Queries) writeDashPeople(ctx context.Context, s *DashSums, was map[dashPersonKey]int64) error {
	moved := map[[2]int64]int64{} // span, at: change of the people
	for k, v := range s.person {
		before := was[k]
		switch now := before + v; {
		case before <= 0 && now > 0:
			moved[[2]int64{k.span, k.at}]++
		case before > 0 && now <= 0:
			moved[[2]int64{k.span, k.at}]--
		}
	}
	bk := make([][2]int64, 0, len(moved))
	for k, v := range moved {
		if v != 0 {
			bk = append(bk, k)
		}
	}
	slices.SortFunc(bk, func(a, b [2]int64) int { return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1])) })
	if q.d.Arrays && len(bk) > 0 {
		var spans, ats, people []int64
		for _, k := range bk {
			spans, ats, people = append(spans, k[0]), append(ats, k[1]), append(people, moved[k])
		}
		if _, err := q.w.ExecContext(ctx, `INSERT INTO dash_people (span, at, people)
SELECT span, at, people FROM unnest($1::int[], $2::bigint[], $3::bigint[]) WITH ORDINALITY AS r(span, at, people, n) ORDER BY n
ON CONFLICT (span, at) DO UPDATE SET people = dash_people.people + excluded.people`,
			spans, ats, people); err != nil {
			return q.wrap("dashboards", err)
		}
		return nil
	}
	for start := 0; start < len(bk); start += dashChunk {
		part := bk[start:min(start+dashChunk, len(bk))]
		args := make([]any, 0, 3*len(part))
		for _, k := range part {
			args = append(args, k[0], k[1], moved[k])
		}
		if _, err := q.w.ExecContext(ctx, q.d.q(`INSERT INTO dash_people (span, at, people) VALUES `+rowMarks(len(part), 3)+
			` ON CONFLICT (span, at) DO UPDATE SET people = dash_people.people + excluded.people`), args...); err != nil {
			return q.wrap("dashboards", err)
		}
	}
	return nil
}

// writeDashArrays writes the hours' and values' sums on PostgreSQL: one upsert per table whose
// rows come from arrays (unnest) in the keys' order, so a page of events costs two statements
// whatever its rows, and two writers still lock rows in one order (no deadlock between nodes).
func (q *Queries) writeDashArrays(ctx context.Context, s *DashSums, hk []dashHourKey, dk []dashDimKey) error {
	if len(hk) > 0 {
		var spans, ats, trusted, events []int64
		var vectors, severities, categories []string
		for _, k := range hk {
			spans, ats, trusted, events = append(spans, k.span), append(ats, k.at), append(trusted, b2i(k.trusted)), append(events, s.hours[k])
			vectors, severities, categories = append(vectors, k.vector), append(severities, k.severity), append(categories, k.category)
		}
		if _, err := q.w.ExecContext(ctx, `INSERT INTO dash_hours (span, at, vector, severity, category, trusted, events)
SELECT span, at, vector, severity, category, trusted, events FROM unnest($1::int[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::int[], $7::bigint[]) WITH ORDINALITY AS r(span, at, vector, severity, category, trusted, events, n) ORDER BY n
ON CONFLICT (span, at, vector, severity, category, trusted) DO UPDATE SET events = dash_hours.events + excluded.events`,
			spans, ats, vectors, severities, categories, trusted, events); err != nil {
			return q.wrap("dashboards", err)
		}
	}
	if len(dk) > 0 {
		var spans, ats, events, risky []int64
		var kinds, values, vectors []string
		for _, k := range dk {
			v := s.dims[k]
			spans, ats, events, risky = append(spans, k.span), append(ats, k.at), append(events, v[0]), append(risky, v[1])
			kinds, values, vectors = append(kinds, k.kind), append(values, k.value), append(vectors, k.vector)
		}
		if _, err := q.w.ExecContext(ctx, `INSERT INTO dash_dims (kind, span, at, value, vector, events, risky)
SELECT kind, span, at, value, vector, events, risky FROM unnest($1::text[], $2::int[], $3::bigint[], $4::text[], $5::text[], $6::bigint[], $7::bigint[]) WITH ORDINALITY AS r(kind, span, at, value, vector, events, risky, n) ORDER BY n
ON CONFLICT (kind, span, at, value, vector) DO UPDATE SET events = dash_dims.events + excluded.events, risky = dash_dims.risky + excluded.risky`,
			kinds, spans, ats, values, vectors, events, risky); err != nil {
			return q.wrap("dashboards", err)
		}
	}
	return nil
}

// rowMarks is n rows of k placeholders: "(?, ?), (?, ?)".
func rowMarks(n, k int) string {
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", k), ", ") + ")"
	return strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
}

// dashRange is a query's span and bucket range [from, to) in hours.
func dashRange(q store.DashQuery) (span, from, to int64, err error) {
	span = int64(q.Step / time.Hour)
	if span != 1 && span != 24 {
		return 0, 0, 0, fmt.Errorf("store: dashboards: step %s is not an hour or a day", q.Step)
	}
	floor := func(t time.Time) int64 {
		h := t.Unix()
		if h < 0 {
			h -= 3599
		}
		h /= 3600
		return h - ((h%span)+span)%span
	}
	from, to = floor(q.From), floor(q.To)
	if !q.To.Equal(time.Unix(to*3600, 0)) {
		to += span
	}
	return span, from, to, nil
}

func hourTime(at int64) time.Time { return time.Unix(at*3600, 0).UTC() }

// dashPiece is the buckets of one span in [from, to).
type dashPiece struct{ span, from, to int64 }

// dashPieces splits a range of buckets of the given span into the fewest buckets of the kept
// spans (the same or longer) that cover it exactly: its edges in the given span, then in days,
// its middle in weeks, those before the week horizon weeksBefore (the weeks from it on are read
// as their days). A sum over the pieces equals the sum over the range's own buckets, since
// every longer bucket holds exactly the shorter ones within it.
func dashPieces(span, from, to, weeksBefore int64) []dashPiece {
	var out []dashPiece
	var split func(levels []int64, from, to int64)
	split = func(levels []int64, from, to int64) {
		if from >= to {
			return
		}
		if len(levels) > 1 {
			next := levels[1]
			a := bucketStart(from, next)
			if a < from {
				a += next
			}
			b := bucketStart(to, next)
			if next == week {
				b = min(b, weeksBefore)
			}
			if a < b {
				out = append(out, dashPiece{levels[0], from, a})
				split(levels[1:], a, b)
				out = append(out, dashPiece{levels[0], b, to})
				return
			}
		}
		out = append(out, dashPiece{levels[0], from, to})
	}
	levels := spans[:]
	for len(levels) > 1 && levels[0] != span {
		levels = levels[1:]
	}
	split(levels, from, to)
	return slices.DeleteFunc(out, func(p dashPiece) bool { return p.from >= p.to })
}

// dashRangeRows is a subquery of the rows of table in [from, to) read as dashPieces (the week
// horizon read first), each piece from dashSource(table, the piece's range): cols of each row,
// where the condition holds (its arguments are args, repeated for every piece) and where the
// condition more gives for the piece's span holds.
func (q *Queries) dashRangeRows(ctx context.Context, table, cols, cond string, more func(span int64) (string, []any), span, from, to int64, args ...any) (string, []any, error) {
	h, err := readWeekHorizon(ctx, q.r)
	if err != nil {
		return "", nil, q.wrap("dashboards", err)
	}
	var parts []string
	var all []any
	for _, p := range dashPieces(span, from, to, h) {
		extra, eargs := "", []any(nil)
		if more != nil {
			extra, eargs = more(p.span)
		}
		parts = append(parts, `SELECT `+cols+` FROM `+q.dashSource(table, p.from, p.to)+` WHERE `+cond+` AND span = ? AND at >= ? AND at < ?`+extra)
		all = append(append(append(all, args...), p.span, p.from, p.to), eargs...)
	}
	if len(parts) == 0 { // an empty range: no row
		return `SELECT ` + cols + ` FROM ` + table + ` WHERE 1 = 0`, nil, nil
	}
	return strings.Join(parts, ` UNION ALL `), all, nil
}

// DashboardSeries implements store.DashboardQueries.
func (q *Queries) DashboardSeries(ctx context.Context, dq store.DashQuery) ([]store.DashPoint, error) {
	span, from, to, err := dashRange(dq)
	if err != nil {
		return nil, err
	}
	var sqlText string
	args := []any{span, from, to}
	if dq.Dim != "" {
		kind, ok := dimKind[dq.Dim]
		if !ok {
			return nil, fmt.Errorf("store: dashboards: unknown drill-down %q", dq.Dim)
		}
		// One value's buckets: the range's bucket starts are listed, so the primary key (kind,
		// span, at, value, ...) seeks each one rather than reading every value's rows in range.
		if n := (to - from) / span; n > 0 && n <= maxSeekBuckets {
			marks := strings.TrimSuffix(strings.Repeat("?, ", int(n)), ", ")
			sqlText = `SELECT at, vector, SUM(events) FROM ` + q.dashSource("dash_dims", from, to) + ` WHERE kind = ? AND span = ? AND at IN (` + marks + `) AND value = ?`
			args = []any{kind, span}
			for at := from; at < to; at += span {
				args = append(args, at)
			}
			args = append(args, dq.Value)
		} else {
			sqlText = `SELECT at, vector, SUM(events) FROM ` + q.dashSource("dash_dims", from, to) + ` WHERE kind = ? AND span = ? AND at >= ? AND at < ? AND value = ?`
			args = []any{kind, span, from, to, dq.Value}
		}
	} else {
		sqlText = `SELECT at, vector, SUM(events) FROM ` + q.dashSource("dash_hours", from, to) + ` WHERE span = ? AND at >= ? AND at < ? AND trusted = 0`
	}
	if dq.Vector != "" {
		sqlText += ` AND vector = ?`
		args = append(args, dq.Vector)
	} else if dq.Dim != "" {
		sqlText += ` AND vector <> ''` // not the days' totals of every vector
	}
	rows, err := q.r.QueryContext(ctx, q.d.q(sqlText+` GROUP BY at, vector HAVING SUM(events) <> 0 ORDER BY at, vector`), args...)
	if err != nil {
		return nil, q.wrap("dashboard series", err)
	}
	defer rows.Close()
	var out []store.DashPoint
	for rows.Next() {
		var p store.DashPoint
		var at int64
		if err := rows.Scan(&at, &p.Series, &p.Events); err != nil {
			return nil, q.wrap("dashboard series", err)
		}
		p.At = hourTime(at)
		out = append(out, p)
	}
	return out, q.wrap("dashboard series", rows.Err())
}

// maxSeekBuckets is the most buckets a drill-down series lists (a year of days, a fortnight of
// hours and more); a longer range is read as a range.
const maxSeekBuckets = 1000

// DashboardTop implements store.DashboardQueries.
func (q *Queries) DashboardTop(ctx context.Context, dq store.DashQuery, dim string, limit int) ([]store.DashCount, error) {
	span, from, to, err := dashRange(dq)
	if err != nil {
		return nil, err
	}
	kind, ok := dimKind[dim]
	if !ok {
		return nil, fmt.Errorf("store: dashboards: unknown drill-down %q", dim)
	}
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	sub, args, err := q.dashRangeRows(ctx, "dash_dims", "value, events, risky", `kind = ?`, func(span int64) (string, []any) { return dimVector(dq.Vector, span) },
		span, from, to, kind)
	if err != nil {
		return nil, err
	}
	return q.dashCounts(ctx, "dashboard top", `SELECT value, SUM(events), SUM(risky) FROM (`+sub+`) x GROUP BY value HAVING SUM(events) > 0 ORDER BY 2 DESC, value LIMIT ?`, append(args, limit)...)
}

func (q *Queries) dashCounts(ctx context.Context, what, sqlText string, args ...any) ([]store.DashCount, error) {
	rows, err := q.r.QueryContext(ctx, q.d.q(sqlText), args...)
	if err != nil {
		return nil, q.wrap(what, err)
	}
	defer rows.Close()
	var out []store.DashCount
	for rows.Next() {
		var c store.DashCount
		if err := rows.Scan(&c.Value, &c.Events, &c.Risky); err != nil {
			return nil, q.wrap(what, err)
		}
		out = append(out, c)
	}
	return out, q.wrap(what, rows.Err())
}

// DashboardBreakdown implements store.DashboardQueries.
func (q *Queries) DashboardBreakdown(ctx context.Context, dq store.DashQuery) (store.DashBreakdown, error) {
	var b store.DashBreakdown
	span, from, to, err := dashRange(dq)
	if err != nil {
		return b, err
	}
	cond, cargs := `1 = 1`, []any{}
	if dq.Vector != "" {
		cond, cargs = `vector = ?`, []any{dq.Vector}
	}
	// The range's rows once (its edges and whole weeks), grouped three ways in Go.
	sub, args, err := q.dashRangeRows(ctx, "dash_hours", "vector, severity, category, trusted, events", cond, nil, span, from, to, cargs...)
	if err != nil {
		return b, err
	}
	rows, err := q.r.QueryContext(ctx, q.d.q(`SELECT vector, severity, category, trusted, SUM(events) FROM (`+sub+`) x GROUP BY vector, severity, category, trusted`), args...)
	if err != nil {
		return b, q.wrap("dashboard breakdown", err)
	}
	defer rows.Close()
	groups := [3]map[string]*store.DashCount{{}, {}, {}}
	for rows.Next() {
		var vec, sev, cat string
		var trusted, n int64
		if err := rows.Scan(&vec, &sev, &cat, &trusted, &n); err != nil {
			return b, q.wrap("dashboard breakdown", err)
		}
		if trusted != 0 {
			b.Trusted += n
			continue
		}
		var risky int64
		switch event.Severity(sev) {
		case event.SeverityLow, event.SeverityModerate, event.SeverityHigh, event.SeverityCritical:
			risky = n
		}
		for i, v := range []string{vec, sev, cat} {
			c := groups[i][v]
			if c == nil {
				c = &store.DashCount{Value: v}
				groups[i][v] = c
			}
			c.Events += n
			c.Risky += risky
		}
	}
	if err := rows.Err(); err != nil {
		return b, q.wrap("dashboard breakdown", err)
	}
	for i, out := range []*[]store.DashCount{&b.ByVector, &b.BySeverity, &b.ByCategory} {
		for _, c := range groups[i] {
			if c.Events > 0 {
				*out = append(*out, *c)
			}
		}
		slices.SortFunc(*out, func(x, y store.DashCount) int {
			return cmp.Or(cmp.Compare(y.Events, x.Events), strings.Compare(x.Value, y.Value))
		})
	}
	return b, nil
}

// DashboardPeople implements store.DashboardQueries.
func (q *Queries) DashboardPeople(ctx context.Context, dq store.DashQuery) ([]store.DashPoint, error) {
	span, from, to, err := dashRange(dq)
	if err != nil {
		return nil, err
	}
	// dash_people keeps the count per bucket (writeDashPeople); the deltas not yet folded move it.
	sqlText, args := q.dashPeopleSQL(span, from, to)
	rows, err := q.r.QueryContext(ctx, q.d.q(sqlText), args...)
	if err != nil {
		return nil, q.wrap("dashboard people", err)
	}
	defer rows.Close()
	var out []store.DashPoint
	for rows.Next() {
		var at int64
		p := store.DashPoint{Series: "people"}
		if err := rows.Scan(&at, &p.Events); err != nil {
			return nil, q.wrap("dashboard people", err)
		}
		p.At = hourTime(at)
		out = append(out, p)
	}
	return out, q.wrap("dashboard people", rows.Err())
}

// DashboardDepartments implements store.DashboardQueries.
func (q *Queries) DashboardDepartments(ctx context.Context, dq store.DashQuery, limit int) ([]store.DashCount, error) {
	span, from, to, err := dashRange(dq)
	if err != nil {
		return nil, err
	}
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	sub, args, err := q.dashRangeRows(ctx, "dash_dims", "value, events, risky", `kind = 'p'`, func(span int64) (string, []any) { return dimVector("", span) },
		span, from, to)
	if err != nil {
		return nil, err
	}
	return q.dashCounts(ctx, "dashboard departments", `SELECT COALESCE(p.department, ''), SUM(x.events), SUM(x.risky)
FROM (SELECT value, SUM(events) AS events, SUM(risky) AS risky FROM (`+sub+`) r GROUP BY value) x
LEFT JOIN people p ON p.email = x.value
GROUP BY COALESCE(p.department, '') HAVING SUM(x.events) > 0 ORDER BY 2 DESC, 1 LIMIT ?`, append(args, limit)...)
}

// DashboardAlerts implements store.DashboardQueries.
func (q *Queries) DashboardAlerts(ctx context.Context, dq store.DashQuery) ([]store.DashAlertCount, error) {
	_, from, to, err := dashRange(dq)
	if err != nil {
		return nil, err
	}
	rows, err := q.r.QueryContext(ctx, q.d.q(`SELECT severity, state, COUNT(*) FROM alerts WHERE created_at >= ? AND created_at < ? GROUP BY severity, state ORDER BY severity, state`),
		from*3600*1_000_000, to*3600*1_000_000)
	if err != nil {
		return nil, q.wrap("dashboard alerts", err)
	}
	defer rows.Close()
	var out []store.DashAlertCount
	for rows.Next() {
		var c store.DashAlertCount
		if err := rows.Scan(&c.Severity, &c.State, &c.Alerts); err != nil {
			return nil, q.wrap("dashboard alerts", err)
		}
		out = append(out, c)
	}
	return out, q.wrap("dashboard alerts", rows.Err())
}

// takeBackDashboards subtracts from the counts the events a delete is about to remove: those
// whose ids the subquery ids selects (it reads file_events unaliased).
func (q *Queries) takeBackDashboards(ctx context.Context, ids string, args ...any) error {
	return q.takeBackDashboardsIn(ctx, "file_events", ids, args...)
}

// takeBackDashboardsIn is takeBackDashboards reading the events from table (a partition of
// file_events, so that the ids are looked up in it alone).
func (q *Queries) takeBackDashboardsIn(ctx context.Context, table, ids string, args ...any) error {
	if q.dashboardsOff() {
		return nil
	}
	s, err := q.newDashSums(ctx)
	if err != nil {
		return err
	}
	// The rows stream (a whole month partition when retention drops one), so the addresses are
	// joined here instead of named after the rows (scanColumns takes the text as it comes).
	query := q.selectEventsFrom(table)
	if !q.d.TextAddresses {
		query = `SELECT ` + strings.NewReplacer("e.actor_id", "aa.address", "e.owner_id", "ao.address").Replace(eventCols) +
			` FROM ` + table + ` e` + connectionJoin + addressJoins
	}
	rows, err := q.w.QueryContext(ctx, q.d.q(query+`WHERE e.id IN (`+ids+`)`), args...)
	if err != nil {
		return q.wrap("dashboards", err)
	}
	defer rows.Close()
	for rows.Next() {
		e, _, err := scanEvent(rows)
		if err != nil {
			return q.wrap("dashboards", err)
		}
		s.Add(&e, -1)
	}
	if err := rows.Err(); err != nil {
		return q.wrap("dashboards", err)
	}
	rows.Close()
	return q.writeDashChanges(ctx, s)
}
