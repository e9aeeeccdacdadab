package sqldb

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/store"
)

// The dashboards' counts (migration 0026) are kept in the transaction that stores or updates the
// events, like person_risk: a count is committed exactly when its event is, so a crash can neither
// lose nor double one, and the dashboards are current to the last commit.

// spans are the bucket lengths kept, in hours.
var spans = [2]int64{1, 24}

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

// DashSums are changes of the dashboards' counts. The benchmark's bulk load builds them too.
type DashSums struct {
	hours map[dashHourKey]int64
	dims  map[dashDimKey][2]int64 // events, risky
}

// NewDashSums returns empty sums.
func NewDashSums() *DashSums {
	return &DashSums{hours: map[dashHourKey]int64{}, dims: map[dashDimKey][2]int64{}}
}

// Len is how many rows the sums would write.
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
	for _, span := range spans {
		at := hour - ((hour%span)+span)%span
		s.hours[dashHourKey{span, at, vec, string(e.Risk.Severity), string(e.File.Category), trusted}] += sign
		if trusted {
			continue
		}
		dim := func(kind, value string) {
			k := dashDimKey{kind, span, at, value, vec}
			v := s.dims[k]
			s.dims[k] = [2]int64{v[0] + sign, v[1] + risky}
		}
		if person != "" {
			dim("p", person)
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
	s := NewDashSums()
	for _, e := range evs {
		s.Add(e, 1)
	}
	return q.WriteDashSums(ctx, s)
}

// dashChunk is how many rows one upsert statement carries.
const dashChunk = 50

// WriteDashSums adds the sums to the counts, in one order for every writer (no deadlock between
// two PostgreSQL transactions), many rows per statement.
func (q *Queries) WriteDashSums(ctx context.Context, s *DashSums) error {
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
		sqlText = `SELECT at, vector, SUM(events) FROM dash_dims WHERE kind = ? AND span = ? AND at >= ? AND at < ? AND value = ?`
		args = []any{kind, span, from, to, dq.Value}
	} else {
		sqlText = `SELECT at, vector, SUM(events) FROM dash_hours WHERE span = ? AND at >= ? AND at < ? AND trusted = 0`
	}
	if dq.Vector != "" {
		sqlText += ` AND vector = ?`
		args = append(args, dq.Vector)
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
	sqlText := `SELECT value, SUM(events), SUM(risky) FROM dash_dims WHERE kind = ? AND span = ? AND at >= ? AND at < ?`
	args := []any{kind, span, from, to}
	if dq.Vector != "" {
		sqlText += ` AND vector = ?`
		args = append(args, dq.Vector)
	}
	return q.dashCounts(ctx, "dashboard top", sqlText+` GROUP BY value HAVING SUM(events) > 0 ORDER BY 2 DESC, value LIMIT ?`, append(args, limit)...)
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
	where, args := `span = ? AND at >= ? AND at < ?`, []any{span, from, to}
	if dq.Vector != "" {
		where += ` AND vector = ?`
		args = append(args, dq.Vector)
	}
	risky := `SUM(CASE WHEN severity IN ('low', 'moderate', 'high', 'critical') THEN events ELSE 0 END)`
	for _, g := range []struct {
		col string
		out *[]store.DashCount
	}{{"vector", &b.ByVector}, {"severity", &b.BySeverity}, {"category", &b.ByCategory}} {
		if *g.out, err = q.dashCounts(ctx, "dashboard breakdown", `SELECT `+g.col+`, SUM(events), `+risky+` FROM dash_hours WHERE `+where+
			` AND trusted = 0 GROUP BY `+g.col+` HAVING SUM(events) > 0 ORDER BY 2 DESC, 1`, args...); err != nil {
			return b, err
		}
	}
	err = q.r.QueryRowContext(ctx, q.d.q(`SELECT COALESCE(SUM(events), 0) FROM dash_hours WHERE `+where+` AND trusted = 1`), args...).Scan(&b.Trusted)
	return b, q.wrap("dashboard breakdown", err)
}

// DashboardPeople implements store.DashboardQueries.
func (q *Queries) DashboardPeople(ctx context.Context, dq store.DashQuery) ([]store.DashPoint, error) {
	span, from, to, err := dashRange(dq)
	if err != nil {
		return nil, err
	}
	// A person's row per vector: the inner query sums them, so a person counts once per bucket.
	rows, err := q.r.QueryContext(ctx, q.d.q(`SELECT at, COUNT(*) FROM (SELECT at, value FROM dash_dims WHERE kind = 'p' AND span = ? AND at >= ? AND at < ?
GROUP BY at, value HAVING SUM(risky) > 0) x GROUP BY at ORDER BY at`), span, from, to)
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
	return q.dashCounts(ctx, "dashboard departments", `SELECT COALESCE(p.department, ''), SUM(x.events), SUM(x.risky)
FROM (SELECT value, SUM(events) AS events, SUM(risky) AS risky FROM dash_dims WHERE kind = 'p' AND span = ? AND at >= ? AND at < ? GROUP BY value) x
LEFT JOIN people p ON p.email = x.value
GROUP BY COALESCE(p.department, '') HAVING SUM(x.events) > 0 ORDER BY 2 DESC, 1 LIMIT ?`, span, from, to, limit)
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
	if q.dashboardsOff() {
		return nil
	}
	rows, err := q.w.QueryContext(ctx, q.d.q(`SELECT `+eventCols+eventFrom+`WHERE e.id IN (`+ids+`)`), args...)
	if err != nil {
		return q.wrap("dashboards", err)
	}
	defer rows.Close()
	s := NewDashSums()
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return q.wrap("dashboards", err)
		}
		s.Add(&e, -1)
	}
	if err := rows.Err(); err != nil {
		return q.wrap("dashboards", err)
	}
	rows.Close()
	return q.WriteDashSums(ctx, s)
}
