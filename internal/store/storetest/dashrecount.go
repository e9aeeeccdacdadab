package storetest

import (
	"cmp"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/eventgen"
	"github.com/telltale-dev/telltale/internal/store"
)

// testDashboardsRecount: after inserts (in batches, with duplicates), updates that move events
// across hours, days and weeks, and a connection's events deleted, every dashboard read over
// every range (hours, days, weeks and their edges) equals a recount from the events stored:
// whatever buckets the store reads a range from (issue 18: weeks for long ranges, one row per
// bucket for the people), the answer is the same as summing the events.
func testDashboardsRecount(t *testing.T, s store.Store) {
	checkDashRecount(t, s, loadDashRecount(t, s))
}

// DashboardWeeksMigration checks migration 0036 (dashboard weeks) on counts written before it:
// s is a store with every migration that has written events and counts; its weekly rows and
// people tables are removed and its schema version set back to before version, then reopen
// opens it again (the migration runs). Every dashboard read then equals the recount.
func DashboardWeeksMigration(t *testing.T, s store.Store, version int, reopen func(t *testing.T) store.Store) {
	end := loadDashRecount(t, s)
	for _, q := range []string{`DELETE FROM dash_hours WHERE span = 168`, `DELETE FROM dash_dims WHERE span = 168 OR vector = ''`,
		// 0036 makes dash_person_risky again, and 0043 drops it.
		`DROP TABLE IF EXISTS dash_person_risky`, `DROP TABLE dash_people`, fmt.Sprintf(`DELETE FROM schema_migrations WHERE version >= %d`, version),
		// The later migrations run again too: undo what they cannot do twice (migration 0038's
		// dash_deltas stays, with the deltas not yet folded: it is created if not there).
		`ALTER TABLE devices DROP COLUMN health_last`, `ALTER TABLE devices DROP COLUMN health_moved`} {
		rawExec(t, s, q)
	}
	restoreEventAddressText(t, s)
	noErr(t, s.Close())
	s = reopen(t)
	t.Cleanup(func() { s.Close() })
	checkDashRecount(t, s, end)
}

// restoreEventAddressText puts back the events' actor and owner as text beside their ids, as
// they were before migration 0044, for a test that sets the schema version back before it: 0039
// and 0044 then run again and read the text (0044 drops the id columns and makes them again).
func restoreEventAddressText(t *testing.T, s store.Store) {
	t.Helper()
	rawExec(t, s, `ALTER TABLE file_events ADD COLUMN actor TEXT`)
	rawExec(t, s, `ALTER TABLE file_events ADD COLUMN owner TEXT`)
	rawExec(t, s, `UPDATE file_events SET actor = (SELECT a.address FROM addresses a WHERE a.id = actor_id),
  owner = (SELECT a.address FROM addresses a WHERE a.id = owner_id)`)
}

// dashRecountEnd is the end of loadDashRecount's events: a Wednesday afternoon.
var dashRecountEnd = time.Date(2026, 11, 18, 13, 0, 0, 0, time.UTC)

// weekOfTime is the hour (since the epoch) of the Monday 00:00 UTC that starts t's week.
func weekOfTime(t time.Time) int64 {
	h := t.Unix() / 3600
	return h - ((h-96)%168+168)%168
}

// setWeekHorizon moves the dashboards' week horizon (migration 0041) to the hour h, so that the
// weeks from h on are written and read as a week not closed yet.
func setWeekHorizon(t *testing.T, s store.Store, h int64) {
	rawExec(t, s, fmt.Sprintf(`UPDATE dash_week_horizon SET at = %d WHERE id = 1`, h))
}

// loadDashRecount stores, updates and deletes events, and returns the end of their time range.
func loadDashRecount(t *testing.T, s store.Store) time.Time {
	c1, c2 := mkConn(t, s, "recount-1"), mkConn(t, s, "recount-2")
	end := dashRecountEnd
	g := eventgen.New(eventgen.Options{Seed: 7, People: 25, Days: 100, End: end,
		Connections: []eventgen.Conn{{ID: c1.ID, Name: "recount-1", Observer: event.ObserverBox}, {ID: c2.ID, Name: "recount-2", Observer: event.ObserverBox}}})
	evs := make([]*event.FileEvent, 0, 3000)
	for i, e := range g.Batch(3000) {
		e := e
		if i%7 == 0 { // the endpoint agent: a device
			e.Event.Observer, e.Event.Action, e.File.DriveID = event.ObserverEndpoint, event.ActionCreated, fmt.Sprintf("device/%d", i%5)
		}
		e.Risk.Score = i % 4
		e.Risk.Severity = []event.Severity{event.SeverityNone, event.SeverityLow, event.SeverityModerate, event.SeverityHigh}[i%4]
		e.Risk.Trusted = i%9 == 0
		evs = append(evs, &e)
	}
	for i := 0; i < len(evs); i += 200 {
		ok(s.InsertEvents(ctx, evs[i:min(i+200, len(evs))], false))(t)
	}
	dup := *evs[3]
	dup.Event.ID = 0
	ok(s.InsertEvents(ctx, []*event.FileEvent{&dup}, false))(t) // counts once
	// Updates: later and earlier by hours and days (across weeks), another person, another score.
	for i := 1; i < len(evs); i += 37 {
		e := evs[i]
		if e.Event.ID == 0 {
			continue
		}
		e.Timestamp = e.Timestamp.Add(time.Duration(i%200-100) * 7 * time.Hour)
		e.User.Email = fmt.Sprintf("Mover%d@corp.example", i%3)
		e.Risk.Score, e.Risk.Severity = (e.Risk.Score+1)%4, event.SeverityCritical
		noErr(t, s.UpdateEvent(ctx, e))
	}
	for {
		if n := ok(s.DeleteConnectionEvents(ctx, c2.ID, 250))(t); n == 0 {
			break
		}
	}
	for i, p := range []string{"", "Sales", "Engineering"} {
		if p != "" {
			for _, e := range evs[i*11 : i*11+5] {
				ok(s.UpsertPerson(ctx, store.Person{Email: e.User.Email, Department: p}))(t)
			}
		}
	}
	return end
}

// checkDashRecount compares every dashboard read over many ranges before end with a recount
// from the stored events.
func checkDashRecount(t *testing.T, s store.Store, end time.Time) {
	var stored []event.FileEvent
	for after := int64(0); ; {
		page := ok(s.ListEvents(ctx, store.EventFilter{AfterID: after, Limit: 1000, IncludeHeld: true}))(t)
		if len(page) == 0 {
			break
		}
		stored = append(stored, page...)
		after = page[len(page)-1].Event.ID
	}
	if len(stored) < 1000 {
		t.Fatalf("only %d events stored", len(stored))
	}
	dept := map[string]string{}
	for _, e := range stored {
		k := strings.ToLower(strings.TrimSpace(e.User.Email))
		if p, err := s.GetPersonByEmail(ctx, k); err == nil {
			dept[k] = p.Department
		}
	}
	rc := dashRecount{evs: stored, dept: dept}

	day := 24 * time.Hour
	ranges := []store.DashQuery{
		{From: end.Add(-day), To: end, Step: time.Hour},
		{From: end.Add(-7 * day), To: end, Step: time.Hour},
		{From: end.Add(-14*day - 30*time.Minute), To: end.Add(-3*day + 10*time.Minute), Step: time.Hour},
		{From: end.Add(-7 * day), To: end, Step: day},
		{From: end.Add(-30 * day), To: end, Step: day},
		{From: end.Add(-90 * day), To: end, Step: day},
		{From: end.Add(-365 * day), To: end.Add(day), Step: day},
		{From: end.Add(-61*day - 5*time.Hour), To: end.Add(-9 * day), Step: day},
		{From: end.Add(-2 * day), To: end.Add(-2*day + time.Hour), Step: day},
		{From: end.Add(-60 * day), To: end.Add(7 * day), Step: day}, // the end's whole week
	}
	for _, q := range ranges {
		name := fmt.Sprintf("%s..%s per %s", q.From.Format(time.RFC3339), q.To.Format(time.RFC3339), q.Step)
		for _, vec := range []string{"", store.VectorEmail, store.VectorEndpoint} {
			vq := q
			vq.Vector = vec
			if d := gocmp.Diff(rc.series(vq), ok(s.DashboardSeries(ctx, vq))(t)); d != "" {
				t.Errorf("%s, vector %q: series (-recount +store):\n%s", name, vec, d)
			}
			for _, dim := range []string{store.DimPerson, store.DimDevice, store.DimDestination} {
				want := rc.top(vq, dim)
				if d := gocmp.Diff(want, ok(s.DashboardTop(ctx, vq, dim, 1000))(t)); d != "" {
					t.Errorf("%s, vector %q: top %s (-recount +store):\n%s", name, vec, dim, d)
				}
				if len(want) > 3 {
					if d := gocmp.Diff(want[:3], ok(s.DashboardTop(ctx, vq, dim, 3))(t)); d != "" {
						t.Errorf("%s, vector %q: top 3 %s (-recount +store):\n%s", name, vec, dim, d)
					}
				}
				if len(want) > 0 { // drill down into the first and the last value
					for _, v := range []string{want[0].Value, want[len(want)-1].Value} {
						dq := vq
						dq.Dim, dq.Value = dim, v
						if d := gocmp.Diff(rc.series(dq), ok(s.DashboardSeries(ctx, dq))(t)); d != "" {
							t.Errorf("%s, vector %q: %s %s's series (-recount +store):\n%s", name, vec, dim, v, d)
						}
					}
				}
			}
			if d := gocmp.Diff(rc.breakdown(vq), ok(s.DashboardBreakdown(ctx, vq))(t)); d != "" {
				t.Errorf("%s, vector %q: breakdown (-recount +store):\n%s", name, vec, d)
			}
		}
		if d := gocmp.Diff(rc.people(q), ok(s.DashboardPeople(ctx, q))(t)); d != "" {
			t.Errorf("%s: people (-recount +store):\n%s", name, d)
		}
		if d := gocmp.Diff(rc.departments(q), ok(s.DashboardDepartments(ctx, q, 1000))(t)); d != "" {
			t.Errorf("%s: departments (-recount +store):\n%s", name, d)
		}
	}
}

// dashRecount answers the dashboards' reads from the events themselves.
type dashRecount struct {
	evs  []event.FileEvent
	dept map[string]string
}

// each calls fn with the bucket start of every untrusted (or, with trusted, every) event in q's
// range that moves a file out, and its vector.
func (r dashRecount) each(q store.DashQuery, trustedToo bool, fn func(at time.Time, e *event.FileEvent, vec string, trusted bool)) {
	from := q.From.UTC().Truncate(q.Step)
	to := q.To.UTC().Truncate(q.Step)
	if to.Before(q.To) {
		to = to.Add(q.Step)
	}
	for i := range r.evs {
		e := &r.evs[i]
		vec, trusted := store.ExposureVector(e)
		if vec == "" || (trusted && !trustedToo) || (q.Vector != "" && vec != q.Vector) {
			continue
		}
		at := e.Timestamp.UTC().Truncate(q.Step)
		if at.Before(from) || !at.Before(to) {
			continue
		}
		fn(at, e, vec, trusted)
	}
}

func dimValues(e *event.FileEvent, dim string) []string {
	switch dim {
	case store.DimPerson:
		if p := strings.ToLower(strings.TrimSpace(e.User.Email)); p != "" {
			return []string{p}
		}
	case store.DimDevice:
		if d := store.DeviceOf(e); d != "" {
			return []string{d}
		}
	case store.DimDestination:
		return store.DestinationDomains(e)
	}
	return nil
}

func (r dashRecount) series(q store.DashQuery) []store.DashPoint {
	sums := map[store.DashPoint]int64{}
	r.each(q, false, func(at time.Time, e *event.FileEvent, vec string, _ bool) {
		if q.Dim == "" || slices.Contains(dimValues(e, q.Dim), q.Value) {
			sums[store.DashPoint{At: at, Series: vec}]++
		}
	})
	var out []store.DashPoint
	for p, n := range sums {
		p.Events = n
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b store.DashPoint) int { return cmp.Or(a.At.Compare(b.At), strings.Compare(a.Series, b.Series)) })
	return out
}

func sortedCounts(m map[string]*store.DashCount, limit int) []store.DashCount {
	var out []store.DashCount
	for _, c := range m {
		if c.Events > 0 {
			out = append(out, *c)
		}
	}
	slices.SortFunc(out, func(a, b store.DashCount) int {
		return cmp.Or(cmp.Compare(b.Events, a.Events), strings.Compare(a.Value, b.Value))
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out
}

func addCount(m map[string]*store.DashCount, v string, risky bool) {
	c := m[v]
	if c == nil {
		c = &store.DashCount{Value: v}
		m[v] = c
	}
	c.Events++
	if risky {
		c.Risky++
	}
}

func (r dashRecount) top(q store.DashQuery, dim string) []store.DashCount {
	m := map[string]*store.DashCount{}
	r.each(q, false, func(_ time.Time, e *event.FileEvent, _ string, _ bool) {
		for _, v := range dimValues(e, dim) {
			addCount(m, v, e.Risk.Score > 0)
		}
	})
	return sortedCounts(m, 0)
}

func (r dashRecount) breakdown(q store.DashQuery) store.DashBreakdown {
	var b store.DashBreakdown
	ms := [3]map[string]*store.DashCount{{}, {}, {}}
	r.each(q, true, func(_ time.Time, e *event.FileEvent, vec string, trusted bool) {
		if trusted {
			b.Trusted++
			return
		}
		risky := slices.Contains([]event.Severity{event.SeverityLow, event.SeverityModerate, event.SeverityHigh, event.SeverityCritical}, e.Risk.Severity)
		for i, v := range []string{vec, string(e.Risk.Severity), string(e.File.Category)} {
			addCount(ms[i], v, risky)
		}
	})
	b.ByVector, b.BySeverity, b.ByCategory = sortedCounts(ms[0], 0), sortedCounts(ms[1], 0), sortedCounts(ms[2], 0)
	return b
}

func (r dashRecount) people(q store.DashQuery) []store.DashPoint {
	q.Vector = ""
	seen := map[time.Time]map[string]bool{}
	r.each(q, false, func(at time.Time, e *event.FileEvent, _ string, _ bool) {
		if p := dimValues(e, store.DimPerson); len(p) > 0 && e.Risk.Score > 0 {
			if seen[at] == nil {
				seen[at] = map[string]bool{}
			}
			seen[at][p[0]] = true
		}
	})
	var out []store.DashPoint
	for at, ps := range seen {
		out = append(out, store.DashPoint{At: at, Series: "people", Events: int64(len(ps))})
	}
	slices.SortFunc(out, func(a, b store.DashPoint) int { return a.At.Compare(b.At) })
	return out
}

func (r dashRecount) departments(q store.DashQuery) []store.DashCount {
	q.Vector = ""
	m := map[string]*store.DashCount{}
	r.each(q, false, func(_ time.Time, e *event.FileEvent, _ string, _ bool) {
		if p := dimValues(e, store.DimPerson); len(p) > 0 {
			addCount(m, r.dept[p[0]], e.Risk.Score > 0)
		}
	})
	return sortedCounts(m, 0)
}

// DashboardFold checks counts kept as deltas and folded later (PostgreSQL, migrations 0038 and
// 0040): s keeps deltas and folds none by itself; each of folds folds at most limit deltas
// through its own database handle (a node) as at the time now; breakFold makes a fold fail once
// it has deleted its deltas and begun upserting their sums (a crash midway), mendFold undoes
// that. Part of the deltas are rewritten as a node of schema 39 writes them (dash_deltas: the
// days' with the hours'). Every dashboard read must equal the recount from the events with
// every delta pending, after the broken fold, with part of them folded and part of the hours
// open, after two nodes whose clocks differ by more than a day folded the rest at once, and
// once every hour is closed.
//
// timedFold, if set, times a fold of every pending delta as of now twice and rolls it back (the
// benchmark's measurement), returning how many it timed: it must change nothing.
func DashboardFold(t *testing.T, s store.Store, folds []func(limit int, now time.Time) (int, error), breakFold, mendFold []string, timedFold func(now time.Time) (int, error)) {
	// The weeks from three before the end's are not closed: the folds close them as their
	// clocks pass them (migration 0041).
	setWeekHorizon(t, s, weekOfTime(dashRecountEnd)-3*168)
	end := loadDashRecount(t, s)
	const pendingSQL = `SELECT (SELECT COUNT(*) FROM dash_deltas) + (SELECT COUNT(*) FROM dash_hour_deltas)`
	if n := countRows(t, s, `SELECT COUNT(*) FROM dash_deltas`); n != 0 {
		t.Fatalf("%d deltas in dash_deltas: a node of this schema writes the hours' deltas only", n)
	}
	if countRows(t, s, `SELECT COUNT(*) FROM dash_hour_deltas`) == 0 {
		t.Fatal("no dashboard deltas pending: the event transactions wrote the counts directly")
	}
	// An older node's deltas: a third of the hours', with their days' (and the days' totals of
	// every vector for the drill-down kinds), as schema 39 wrote them.
	for _, q := range []string{
		`INSERT INTO dash_deltas (kind, span, at, value, vector, severity, category, trusted, events, risky)
SELECT kind, 1, at, value, vector, severity, category, trusted, events, risky FROM dash_hour_deltas WHERE at % 3 = 0
UNION ALL SELECT kind, 24, at - ((at % 24) + 24) % 24, value, vector, severity, category, trusted, events, risky FROM dash_hour_deltas WHERE at % 3 = 0
UNION ALL SELECT kind, 24, at - ((at % 24) + 24) % 24, value, '', severity, category, trusted, events, risky FROM dash_hour_deltas WHERE at % 3 = 0 AND kind IN ('p', 'v', 'd')`,
		`DELETE FROM dash_hour_deltas WHERE at % 3 = 0`} {
		rawExec(t, s, q)
	}
	pending := countRows(t, s, pendingSQL)
	if countRows(t, s, `SELECT COUNT(*) FROM dash_deltas`) == 0 {
		t.Fatal("no older node's deltas")
	}
	checkDashRecount(t, s, end) // the deltas not yet folded are counted
	if timedFold != nil {
		counts := `SELECT (SELECT COUNT(*) + COALESCE(SUM(events), 0) FROM dash_hours) + (SELECT COUNT(*) + COALESCE(SUM(events + risky), 0) FROM dash_dims)
+ (SELECT COUNT(*) FROM dash_open_hours) + (SELECT at FROM dash_week_horizon)`
		before := countRows(t, s, counts)
		if n := ok(timedFold(end.Add(-30 * time.Hour)))(t); n != 2 {
			t.Fatalf("timed %d folds, want 2", n)
		}
		if n := countRows(t, s, pendingSQL); n != pending {
			t.Fatalf("after timed folds %d deltas are pending, want all %d", n, pending)
		}
		if after := countRows(t, s, counts); after != before {
			t.Fatalf("timed folds changed the counts (%d, was %d)", after, before)
		}
	}
	for _, q := range breakFold {
		rawExec(t, s, q)
	}
	early := end.Add(-30 * time.Hour) // the last 32 hours of the events are open
	if n, err := folds[0](1<<30, early); err == nil {
		t.Fatalf("a fold that fails midway reported success (%d deltas folded)", n)
	}
	if n := countRows(t, s, pendingSQL); n != pending {
		t.Fatalf("after a failed fold %d deltas are pending, want all %d", n, pending)
	}
	checkDashRecount(t, s, end) // neither lost nor doubled
	for _, q := range mendFold {
		rawExec(t, s, q)
	}
	if n := ok(folds[0](int(pending/3), early))(t); n == 0 || int64(n) > 2*(pending/3) {
		t.Fatalf("a fold of at most %d deltas of each table folded %d", pending/3, n)
	}
	if countRows(t, s, `SELECT COUNT(*) FROM dash_open_hours`) == 0 {
		t.Fatal("no open hour after a fold of the last hours' deltas")
	}
	checkDashRecount(t, s, end) // part folded, part open, part pending
	var wg sync.WaitGroup
	errs := make([]error, len(folds))
	for i, fold := range folds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			now := end.Add(time.Duration(-20-30*i) * time.Hour) // the nodes' clocks differ
			for range 10000 {
				n, err := fold(97, now)
				if err != nil {
					errs[i] = err
					return
				}
				if n == 0 && countRows(t, s, pendingSQL) == 0 {
					return
				}
			}
			errs[i] = fmt.Errorf("fold %d: deltas still pending after 10000 folds", i)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		noErr(t, err)
	}
	if n := countRows(t, s, pendingSQL); n != 0 {
		t.Fatalf("%d deltas pending after the folds", n)
	}
	if countRows(t, s, `SELECT COUNT(*) FROM dash_open_hours`) == 0 {
		t.Fatal("no open hour left: the folds closed hours that were open")
	}
	checkDashRecount(t, s, end) // all folded once, the last hours open
	ok(folds[1](10, end.Add(1000*time.Hour)))(t)
	if n := countRows(t, s, `SELECT COUNT(*) FROM dash_open_hours`); n != 0 {
		t.Fatalf("%d open hours' rows left after a fold with every hour closed", n)
	}
	checkDashRecount(t, s, end) // every hour closed: all in the counts, once
}

// countRows runs a raw COUNT query.
func countRows(t *testing.T, s store.Store, query string) int64 {
	w, isRaw := s.(interface{ Writer() *sql.DB })
	if !isRaw {
		t.Fatalf("the store %T gives no raw database handle", s)
	}
	var n int64
	if err := w.Writer().QueryRowContext(ctx, query).Scan(&n); err != nil {
		t.Errorf("%s: %v", query, err)
	}
	return n
}

// DashboardWeekHorizon checks the dashboards' week horizon (migration 0041). With the horizon
// set three weeks before the events' last week, the events are stored and settled as of the
// horizon's first hour (settle: PostgreSQL folds every delta as of then, SQLite closes the weeks
// over as of then): no week row of a week from the horizon on is written, and every read equals
// the recount (such weeks are read from their days). Week rows an older node wrote there change
// no answer. Settled as of the events' last day, the weeks before the last one are closed (their
// rows made from their days, the older node's replaced, the horizon moved to the last week);
// settled as of long after, the last one too. Every read equals the recount after each step.
func DashboardWeekHorizon(t *testing.T, s store.Store, settle func(now time.Time) error) {
	end, last := dashRecountEnd, weekOfTime(dashRecountEnd)
	h := last - 3*168
	setWeekHorizon(t, s, h)
	loadDashRecount(t, s)
	noErr(t, settle(time.Unix(h*3600+1800, 0)))
	weekRows := func(from int64) int64 {
		return countRows(t, s, fmt.Sprintf(`SELECT (SELECT COUNT(*) FROM dash_hours WHERE span = 168 AND at >= %d)
+ (SELECT COUNT(*) FROM dash_dims WHERE span = 168 AND at >= %d)`, from, from))
	}
	if n := weekRows(h); n != 0 {
		t.Fatalf("%d week rows written for the weeks from the horizon on", n)
	}
	if n := weekRows(0); n == 0 {
		t.Fatal("no week rows at all: the weeks before the horizon lost theirs")
	}
	checkDashRecount(t, s, end)
	// An older node's week rows in the weeks not closed: the newer reads take none of them.
	for _, at := range []int64{h, last} {
		rawExec(t, s, fmt.Sprintf(`INSERT INTO dash_hours (span, at, vector, severity, category, trusted, events) VALUES (168, %d, 'email', 'high', 'document', 0, 1000)`, at))
		rawExec(t, s, fmt.Sprintf(`INSERT INTO dash_dims (kind, span, at, value, vector, events, risky) VALUES ('p', 168, %d, 'older@corp.example', '', 1000, 1000)`, at))
	}
	checkDashRecount(t, s, end)
	horizon := func() int64 { return countRows(t, s, `SELECT at FROM dash_week_horizon`) }
	noErr(t, settle(end.Add(-30*time.Hour)))
	if got := horizon(); got != last {
		t.Fatalf("settled as of the last week's Tuesday, the horizon is at hour %d, want %d (the last week's start)", got, last)
	}
	if n := weekRows(last); n != 2 {
		t.Fatalf("%d week rows of the last week, want the older node's 2", n)
	}
	if n := countRows(t, s, fmt.Sprintf(`SELECT COUNT(*) FROM dash_dims WHERE span = 168 AND value = 'older@corp.example' AND at < %d`, last)); n != 0 {
		t.Fatalf("the older node's week rows of a closed week are kept (%d)", n)
	}
	checkDashRecount(t, s, end)
	noErr(t, settle(end.Add(1000*time.Hour)))
	if got := horizon(); got <= last {
		t.Fatalf("settled as of long after the events, the horizon is at hour %d, not past the last week (%d)", got, last)
	}
	if n := countRows(t, s, `SELECT COUNT(*) FROM dash_dims WHERE value = 'older@corp.example'`); n != 0 {
		t.Fatalf("the older node's week rows are kept after their weeks closed (%d)", n)
	}
	checkDashRecount(t, s, end)
}

// DashboardPeopleMigration checks migration 0043 (the people per bucket from dash_dims): s is a
// store of schema 42 (PostgreSQL's: it keeps deltas) whose events' deltas wait unfolded; the
// deltas of kind r a node of that schema wrote beside the p ones (dash_person_risky's) are put
// in every delta table, then reopen migrates. They are gone with the table, and every read,
// before and after a fold, equals the recount.
func DashboardPeopleMigration(t *testing.T, s store.Store, reopen func(t *testing.T) store.Store, fold func(s store.Store) error) {
	end := loadDashRecount(t, s)
	for _, q := range []string{
		`INSERT INTO dash_open_hours (at, kind, value, vector, severity, category, trusted, events, risky)
SELECT at, 'r', value, '', '', '', 0, 0, SUM(risky) FROM dash_hour_deltas WHERE kind = 'p' AND at % 2 = 0 GROUP BY at, value`,
		`INSERT INTO dash_deltas (kind, span, at, value, vector, severity, category, trusted, events, risky)
SELECT 'r', 1, at, value, '', '', '', 0, 0, SUM(risky) FROM dash_hour_deltas WHERE kind = 'p' AND at % 3 = 0 GROUP BY at, value`,
		`INSERT INTO dash_hour_deltas (kind, at, value, vector, severity, category, trusted, events, risky)
SELECT 'r', at, value, '', '', '', 0, 0, SUM(risky) FROM dash_hour_deltas WHERE kind = 'p' GROUP BY at, value`,
		`INSERT INTO dash_person_risky (span, at, value, risky) VALUES (1, 1, 'ghost@corp.example', 7)`,
	} {
		rawExec(t, s, q)
	}
	const rRows = `SELECT (SELECT COUNT(*) FROM dash_deltas WHERE kind = 'r') + (SELECT COUNT(*) FROM dash_hour_deltas WHERE kind = 'r') + (SELECT COUNT(*) FROM dash_open_hours WHERE kind = 'r')`
	if n := countRows(t, s, rRows); n == 0 {
		t.Fatal("no deltas of kind r to drop")
	}
	noErr(t, s.Close())
	s = reopen(t)
	t.Cleanup(func() { s.Close() })
	if n := countRows(t, s, rRows); n != 0 {
		t.Errorf("%d deltas of kind r left after migration 0043", n)
	}
	w := s.(interface{ Writer() *sql.DB }).Writer()
	if _, err := w.ExecContext(ctx, `SELECT 1 FROM dash_person_risky`); err == nil {
		t.Error("dash_person_risky is still there after migration 0043")
	}
	checkDashRecount(t, s, end)
	noErr(t, fold(s))
	if n := countRows(t, s, `SELECT (SELECT COUNT(*) FROM dash_deltas) + (SELECT COUNT(*) FROM dash_hour_deltas)`); n != 0 {
		t.Errorf("%d deltas left after the fold", n)
	}
	checkDashRecount(t, s, end)
}
