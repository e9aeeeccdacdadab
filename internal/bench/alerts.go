package bench

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/telltale-dev/telltale/internal/alert"
	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/eventgen"
	"github.com/telltale-dev/telltale/internal/risk"
	"github.com/telltale-dev/telltale/internal/store"
	"github.com/telltale-dev/telltale/internal/store/postgres"
	"github.com/telltale-dev/telltale/internal/store/sqlite"
	"github.com/telltale-dev/telltale/internal/testutil/pgtest"
	"github.com/telltale-dev/telltale/internal/work"
)

// AlertsOptions configure the alert benchmarks (issue 16): ingest with and without enabled rules,
// event committed to alert raised, and a backtest over a large store.
type AlertsOptions struct {
	Runs    []string // ingest, latency, backtest
	Drivers []string
	// BacktestDrivers are the drivers the backtest (c) runs on (nil: Drivers): loading 10 M
	// events takes long, so (a) and (b) may cover more drivers than (c).
	BacktestDrivers []string
	DSN             string // a PostgreSQL database for the backtest (the ingest phases make their own)
	TempDir         string
	Reuse           bool // backtest: reuse a database of the search benchmark's shape in TempDir/-dsn

	// (a) ingest
	Events int // events per phase
	Page   int // events per ingest transaction (a connector page)
	Rounds int // pairs of phases: no rules, then Rules rules
	Rules  int

	// (b) latency
	LatencyFor  time.Duration // how long the stream runs
	LatencyRate int           // background events per second
	Canaries    int           // canary events per second (each raises one alert)

	// (c) backtest
	BacktestEvents int // events stored
	BacktestDays   int // the backtest's days
	BacktestRuns   int // runs of each rule
	ProfileDir     string
}

// IngestPhase is one measured ingest phase.
type IngestPhase struct {
	Round                int
	Rules                int
	Events               int
	StoreSecs, EvalSecs  float64 // until the last page committed; until the evaluator passed it
	StoreRate, TotalRate float64 // events/s
	Raised               int64
}

// AlertLatency is event committed -> alert raised.
type AlertLatency struct {
	Seconds       float64
	Events        int64 // events stored in the phase
	Canaries      int   // alerts measured
	Raised        int64 // alerts raised in the phase, every rule
	P50, P95, Max float64
	EvalP95       float64 // every event's commit -> its evaluation committed (the node's histogram's view), s
}

// BacktestRun is one rule's backtest.
type BacktestRun struct {
	Name, Query, Kind string
	Secs              []float64
	Median            float64
	Events            int
	Alerts            int
	Truncated         bool
}

// AlertsResult is one driver's outcome.
type AlertsResult struct {
	Driver                   string
	Ingest                   []IngestPhase
	None, With, Ratio        float64 // median total rates without and with rules, and With/None
	NoneStore, WithStore     float64
	Latency                  *AlertLatency
	Backtest                 []BacktestRun
	BacktestEvents           int
	BacktestLoad             LoadRecord
	BacktestReused           bool
	BacktestFrom, BacktestTo time.Time
	Profiles                 []string
	LoadAvg                  []string // /proc/loadavg at the start of each measurement
}

// benchRules are the rules of the ingest and latency phases: n rules, threshold and new_terms
// alternating, with queries of the kinds analysts write (an action, a category, an exposure, a
// destination). The first rule is the canary rule of the latency phase: a person's first share of
// a canary file to a domain outside the trusted ones.
func benchRules(n int) []store.AlertRule {
	cats := []string{"document", "spreadsheet", "presentation", "pdf", "source_code", "archive", "image", "email", "script", "video"}
	var th, nt []store.AlertRule
	add := func(list *[]store.AlertRule, query, kind string, p alert.Params) {
		b, _ := json.Marshal(p)
		*list = append(*list, store.AlertRule{Name: fmt.Sprintf("bench %s %d", kind, len(*list)+1), Query: query, Kind: kind, Params: b,
			Severity: "high", Enabled: true, CreatedBy: "bench", UpdatedBy: "bench"})
	}
	// The canary rule: its own files (name canary*), so the hourly cap other matches would reach
	// never holds a canary's alert back.
	add(&nt, "action:shared name:canary* exposure:outside_trusted_domains", alert.NewTerms, alert.Params{Fields: []string{"actor", "domain"}, HistoryDays: 90})
	add(&nt, "(action:shared OR action:emailed) exposure:outside_trusted_domains", alert.NewTerms, alert.Params{Fields: []string{"actor", "domain"}, HistoryDays: 90})
	add(&th, "action:shared exposure:outside_trusted_domains", alert.Threshold, alert.Params{Measure: alert.MeasureFiles, Value: 20, Window: "1h"})
	add(&th, "exposure:public_link", alert.Threshold, alert.Params{Value: 1, Window: "1h"})
	add(&th, "action:downloaded", alert.Threshold, alert.Params{Measure: alert.MeasureFiles, Value: 50, Window: "1h"})
	add(&th, "action:deleted", alert.Threshold, alert.Params{Value: 100, Window: "1h"})
	add(&th, "action:emailed", alert.Threshold, alert.Params{Value: 10, Window: "1h"})
	add(&th, "action:shared", alert.Threshold, alert.Params{Value: 10, Window: "1h", GroupBy: []string{"actor", "domain"}})
	add(&th, "risk.severity>=high", alert.Threshold, alert.Params{Value: 3, Window: "1h"})
	add(&th, "action:viewed", alert.Threshold, alert.Params{Value: 500, Window: "1h"})
	add(&nt, "action:emailed", alert.NewTerms, alert.Params{Fields: []string{"actor", "recipient"}, HistoryDays: 30})
	add(&nt, "action:downloaded", alert.NewTerms, alert.Params{Fields: []string{"actor", "category"}, HistoryDays: 30})
	add(&nt, "action:shared", alert.NewTerms, alert.Params{Fields: []string{"actor", "exposure"}, HistoryDays: 30})
	add(&nt, "action:shared", alert.NewTerms, alert.Params{Fields: []string{"domain"}, HistoryDays: 90})
	add(&nt, "action:deleted", alert.NewTerms, alert.Params{Fields: []string{"actor", "directory"}, HistoryDays: 30})
	for i := 0; len(th)+len(nt) < n; i++ {
		c := cats[i%len(cats)]
		switch i % 4 {
		case 0:
			add(&th, "action:shared category:"+c, alert.Threshold, alert.Params{Value: 5, Window: "1h"})
		case 1:
			add(&nt, "action:shared category:"+c, alert.NewTerms, alert.Params{Fields: []string{"actor", "domain"}, HistoryDays: 60})
		case 2:
			add(&th, "action:downloaded category:"+c, alert.Threshold, alert.Params{Measure: alert.MeasureBytes, Value: 100 << 20, Window: "1h"})
		case 3:
			add(&nt, "action:downloaded category:"+c, alert.NewTerms, alert.Params{Fields: []string{"actor", "owner"}, HistoryDays: 30})
		}
	}
	var out []store.AlertRule
	for i := 0; len(out) < n; i++ { // interleaved, the canary rule first
		if i < len(nt) {
			out = append(out, nt[i])
		}
		if i < len(th) && len(out) < n {
			out = append(out, th[i])
		}
	}
	return out
}

// alertsStore opens a fresh store for one phase.
func alertsStore(ctx context.Context, o AlertsOptions, driver, tag string) (store.Store, error) {
	switch driver {
	case "sqlite":
		path := filepath.Join(o.TempDir, tag+".db")
		for _, sfx := range []string{"", "-wal", "-shm"} {
			os.Remove(path + sfx)
		}
		return sqlite.Open(ctx, path, sqlite.Options{})
	case "postgres":
		dsn, err := pgtest.NewDatabase()
		if err != nil {
			return nil, fmt.Errorf("%w (install PostgreSQL 15 with postgresql-contrib)", err)
		}
		return postgres.Open(ctx, dsn, postgres.Options{})
	}
	return nil, fmt.Errorf("unknown driver %q: use sqlite or postgres", driver)
}

// benchScorer scores as ingest does with the default risk settings and corp.example trusted.
func benchScorer() *risk.Scorer {
	sc, _ := risk.NewScorer(risk.Defaults(), []string{"corp.example"})
	return sc
}

// ingestPage stores a page of events the way ingest's stream does in its page transaction
// (internal/ingest, stream.go): the vendor records marked (the duplicate check), risk assessed
// (first use recorded in the transaction), the events inserted, the file index rows of the files
// they touch upserted and the stream's cursor saved. Hashing jobs are left out (the events carry
// their hashes).
func ingestPage(ctx context.Context, s store.Store, sc *risk.Scorer, conn int64, cursor int, evs []event.FileEvent) error {
	return s.InTx(ctx, func(q store.Queries) error {
		ids := make([]string, 0, len(evs))
		for i := range evs {
			ids = append(ids, evs[i].Event.VendorIDs...)
		}
		fresh, err := q.MarkVendorRecords(ctx, conn, ids, time.Now())
		if err != nil {
			return err
		}
		if len(fresh) != len(ids) {
			return fmt.Errorf("%d of %d vendor records fresh", len(fresh), len(ids))
		}
		ptrs := make([]*event.FileEvent, len(evs))
		files := map[string]store.File{}
		var fileIDs []string
		for i := range evs {
			e := &evs[i]
			e.Event.ConnectionID = conn
			var fresh []string
			if keys := sc.Destinations(e); len(keys) > 0 {
				var err error
				if fresh, err = q.MarkDestinations(ctx, risk.Person(e), keys, e.Timestamp); err != nil {
					return err
				}
			}
			e.Risk = sc.Assess(e, fresh)
			ptrs[i] = e
			if _, ok := files[e.File.ID]; !ok {
				fileIDs = append(fileIDs, e.File.ID)
			}
			files[e.File.ID] = store.File{ConnectionID: conn, VendorID: e.File.ID, Name: e.File.Name, Path: e.File.Path, Size: e.File.Size,
				MimeType: e.File.MimeType, Owner: e.File.Owner, SHA1: e.File.Hash.SHA1, MD5: e.File.Hash.MD5, SHA256: e.File.Hash.SHA256,
				Modified: e.Timestamp, IndexedAt: time.Now(), Deleted: e.Event.Action == event.ActionDeleted}
		}
		n, err := q.InsertEvents(ctx, ptrs, false)
		if err == nil && n != len(evs) {
			err = fmt.Errorf("inserted %d of a page of %d", n, len(evs))
		}
		if err != nil {
			return err
		}
		if _, err := q.FindFiles(ctx, conn, fileIDs); err != nil { // as ingest reads what it knows of them
			return err
		}
		up := make([]store.File, 0, len(fileIDs))
		for _, id := range fileIDs {
			up = append(up, files[id])
		}
		if err := q.UpsertFiles(ctx, up); err != nil {
			return err
		}
		return q.SaveCursor(ctx, conn, "stream", fmt.Sprint(cursor))
	})
}

// benchConnection is the connection the phase's events are stored under.
func benchConnection(ctx context.Context, s store.Store) (int64, error) {
	c, err := s.CreateConnection(ctx, store.Connection{Name: "bench", Service: "box", ServiceType: "cloud", Status: "Monitoring", ScopeKind: "all"})
	return c.ID, err
}

// RunAlerts runs the alert benchmarks on each driver.
func RunAlerts(ctx context.Context, o AlertsOptions, progress io.Writer) ([]AlertsResult, error) {
	return eachDriver(o.Drivers, func(d string) (AlertsResult, error) {
		r := AlertsResult{Driver: d}
		if slices.Contains(o.Runs, "ingest") {
			if err := alertsIngest(ctx, o, d, &r, progress); err != nil {
				return r, fmt.Errorf("ingest: %w", err)
			}
		}
		if slices.Contains(o.Runs, "latency") {
			if err := alertsLatency(ctx, o, d, &r, progress); err != nil {
				return r, fmt.Errorf("latency: %w", err)
			}
		}
		if slices.Contains(o.Runs, "backtest") && (o.BacktestDrivers == nil || slices.Contains(o.BacktestDrivers, d)) {
			if err := alertsBacktest(ctx, o, d, &r, progress); err != nil {
				return r, fmt.Errorf("backtest: %w", err)
			}
		}
		return r, nil
	})
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// alertsIngest measures, round after round, a phase with no rule and a phase with o.Rules
// enabled rules, each on a fresh store: o.Events events stored page after page as fast as the
// store takes them while the evaluator follows them. A phase ends when the evaluator has passed
// the last event; its rate is events / that time (stored and evaluated).
func alertsIngest(ctx context.Context, o AlertsOptions, driver string, r *AlertsResult, progress io.Writer) error {
	r.LoadAvg = append(r.LoadAvg, "ingest: "+loadavg())
	var none, with, noneS, withS []float64
	for round := 1; round <= o.Rounds; round++ {
		for _, n := range []int{0, o.Rules} {
			ph, err := ingestPhase(ctx, o, driver, round, n)
			if err != nil {
				return err
			}
			r.Ingest = append(r.Ingest, ph)
			fmt.Fprintf(progress, "%s: round %d, %d rules: stored %d events in %.1f s (%.0f/s), evaluated after %.1f s (%.0f/s), %d alerts\n",
				driver, round, n, ph.Events, ph.StoreSecs, ph.StoreRate, ph.EvalSecs, ph.TotalRate, ph.Raised)
			if n == 0 {
				none, noneS = append(none, ph.TotalRate), append(noneS, ph.StoreRate)
			} else {
				with, withS = append(with, ph.TotalRate), append(withS, ph.StoreRate)
			}
		}
	}
	r.None, r.With, r.NoneStore, r.WithStore = Median(none), Median(with), Median(noneS), Median(withS)
	if r.None > 0 {
		r.Ratio = r.With / r.None
	}
	return nil
}

func ingestPhase(ctx context.Context, o AlertsOptions, driver string, round, rules int) (IngestPhase, error) {
	ph := IngestPhase{Round: round, Rules: rules, Events: o.Events}
	s, err := alertsStore(ctx, o, driver, fmt.Sprintf("alerts-ingest-%d-%d", round, rules))
	if err != nil {
		return ph, err
	}
	defer s.Close()
	for _, ar := range benchRules(rules) {
		if _, err := s.CreateAlertRule(ctx, ar); err != nil {
			return ph, err
		}
	}
	now := time.Now().UTC()
	// The same events on both sides of a round: the last day's activity of 5,000 people.
	evs := eventgen.New(eventgen.Options{Seed: uint64(round), Days: 1, End: now}).Batch(o.Events)
	sc := benchScorer()
	conn, err := benchConnection(ctx, s)
	if err != nil {
		return ph, err
	}
	ev := alert.New(alert.Options{Store: s})
	if err := ev.Start(ctx); err != nil {
		return ph, err
	}
	ectx, stop := context.WithCancel(ctx)
	defer stop()
	evalErr := make(chan error, 1)
	go func() {
		// As the node's evaluation unit runs: batch after batch until caught up, then idle (50 ms
		// here instead of the unit's 2 s, so the phase's end is not rounded up to the idle).
		for ectx.Err() == nil {
			n, err := ev.RunOnce(ectx)
			if err != nil {
				if ectx.Err() == nil {
					evalErr <- err
				}
				return
			}
			if n == 0 {
				select {
				case <-ectx.Done():
				case <-time.After(50 * time.Millisecond):
				}
			}
		}
	}()
	if o.ProfileDir != "" && rules > 0 && round == o.Rounds {
		stop, err := cpuProfile(filepath.Join(o.ProfileDir, fmt.Sprintf("alerts-ingest-%s.pprof", driver)))
		if err != nil {
			return ph, err
		}
		defer stop()
	}
	start := time.Now()
	for i := 0; i < len(evs); i += o.Page {
		if err := ingestPage(ctx, s, sc, conn, i, evs[i:min(i+o.Page, len(evs))]); err != nil {
			return ph, err
		}
		select {
		case err := <-evalErr:
			return ph, fmt.Errorf("evaluator: %w", err)
		default:
		}
	}
	ph.StoreSecs = time.Since(start).Seconds()
	last, err := s.NewestEventID(ctx)
	if err != nil {
		return ph, err
	}
	for {
		pos, err := s.GetAlertPosition(ctx)
		if err != nil {
			return ph, err
		}
		if pos >= last {
			break
		}
		select {
		case err := <-evalErr:
			return ph, fmt.Errorf("evaluator: %w", err)
		case <-ctx.Done():
			return ph, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	ph.EvalSecs = time.Since(start).Seconds()
	stop()
	ph.StoreRate, ph.TotalRate = float64(ph.Events)/ph.StoreSecs, float64(ph.Events)/ph.EvalSecs
	as, err := s.ListAlerts(ctx, store.AlertFilter{Limit: 1})
	if err != nil {
		return ph, err
	}
	if len(as) > 0 {
		ph.Raised = as[0].ID
	}
	return ph, nil
}

// alertsLatency runs a node's evaluation as the node does (a work runner with its defaults: the
// evaluation unit idles 2 s when caught up, the runner polls every second) with o.Rules rules,
// while pages of events arrive every 200 ms at o.LatencyRate events a second. Each second,
// o.Canaries events are a first share to a new domain by a new person: the canary rule raises
// one alert for each. Latency is from the commit of the canary's page to the alert's commit, as
// seen by a reader polling every 20 ms.
func alertsLatency(ctx context.Context, o AlertsOptions, driver string, r *AlertsResult, progress io.Writer) error {
	r.LoadAvg = append(r.LoadAvg, "latency: "+loadavg())
	s, err := alertsStore(ctx, o, driver, "alerts-latency")
	if err != nil {
		return err
	}
	defer s.Close()
	var canaryRule int64
	for i, ar := range benchRules(o.Rules) {
		c, err := s.CreateAlertRule(ctx, ar)
		if err != nil {
			return err
		}
		if i == 0 {
			canaryRule = c.ID
		}
	}
	conn, err := benchConnection(ctx, s)
	if err != nil {
		return err
	}
	ev := alert.New(alert.Options{Store: s})
	if err := ev.Start(ctx); err != nil {
		return err
	}
	runner := work.NewRunner(work.Options{Store: s})
	ev.Register(runner)
	if _, err := s.EnsureWork(ctx, ev.Unit()); err != nil {
		return err
	}
	if err := runner.Start(ctx); err != nil {
		return err
	}
	defer runner.Stop(context.Background())

	var mu sync.Mutex
	committed := map[string]time.Time{} // canary person -> its page's commit
	var lat []float64
	seen := map[int64]bool{}
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pollDone := make(chan error, 1)
	go func() {
		var before int64
		for pctx.Err() == nil {
			as, err := s.ListAlerts(pctx, store.AlertFilter{RuleID: canaryRule, Limit: 200})
			t := time.Now()
			if err != nil {
				if pctx.Err() != nil {
					err = nil // stopped while reading
				}
				pollDone <- err
				return
			}
			mu.Lock()
			for _, a := range as {
				if a.ID <= before || seen[a.ID] {
					continue
				}
				if c, ok := committed[a.Person]; ok {
					seen[a.ID] = true
					lat = append(lat, t.Sub(c).Seconds())
				}
			}
			mu.Unlock()
			select {
			case <-pctx.Done():
			case <-time.After(20 * time.Millisecond):
			}
		}
		pollDone <- nil
	}()

	sc := benchScorer()
	gen := eventgen.New(eventgen.Options{Seed: 99, Days: 1, End: time.Now().UTC()})
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	canary := 0
	var stored int64
	for i := 0; time.Since(start) < o.LatencyFor; i++ {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		evs := gen.Batch(o.LatencyRate / 5)
		var persons []string
		if i%5 == 0 {
			for k := 0; k < o.Canaries; k++ {
				canary++
				p := fmt.Sprintf("canary-%d@corp.example", canary)
				persons = append(persons, p)
				now := time.Now().UTC()
				evs = append(evs, event.FileEvent{Timestamp: now,
					Event: event.Meta{Action: event.ActionShared, Observer: event.ObserverBox, ConnectionID: 1, ConnectionName: "Box",
						VendorIDs: []string{fmt.Sprintf("canary-%d", canary)}},
					User: event.User{Email: p},
					File: event.File{ID: fmt.Sprint(900000000 + canary), Name: fmt.Sprintf("canary-%d.docx", canary), Path: fmt.Sprintf("/canary/canary-%d.docx", canary),
						Size: 12345, Category: event.CategoryOf("canary.docx", "")},
					Sharing: event.Sharing{LinkScope: event.LinkSpecific, SharedWith: []string{fmt.Sprintf("someone@partner-%d.example", canary)},
						Exposure: []event.Exposure{event.ExposureOutsideTrustedDomain}}})
			}
		}
		if err := ingestPage(ctx, s, sc, conn, i, evs); err != nil {
			return err
		}
		t := time.Now()
		stored += int64(len(evs))
		mu.Lock()
		for _, p := range persons {
			committed[p] = t
		}
		mu.Unlock()
	}
	// Let the last canaries through (bounded).
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		n := len(lat)
		mu.Unlock()
		if n >= canary {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-pollDone; err != nil {
		return err
	}
	lr := &AlertLatency{Seconds: time.Since(start).Seconds(), Events: stored, Canaries: len(lat)}
	lr.P50, lr.P95, lr.Max = Percentile(lat, 50), Percentile(lat, 95), Percentile(lat, 100)
	if all, err := s.ListAlerts(ctx, store.AlertFilter{Limit: 1}); err == nil && len(all) > 0 {
		lr.Raised = all[0].ID
	}
	if len(lat) < canary {
		return fmt.Errorf("%d of %d canary alerts raised within 30 s of the stream's end", len(lat), canary)
	}
	r.Latency = lr
	fmt.Fprintf(progress, "%s: latency: %d events in %.0f s, %d canary alerts: p50 %.2f s, p95 %.2f s, max %.2f s; %d alerts raised in all\n",
		driver, lr.Events, lr.Seconds, lr.Canaries, lr.P50, lr.P95, lr.Max, lr.Raised)
	return nil
}

// backtestRules are the rules backtested: every shipped template, then rules of the templates'
// kinds that match more of what eventgen makes.
func backtestRules() []store.AlertRule {
	mk := func(name, query, kind string, p alert.Params) store.AlertRule {
		b, _ := json.Marshal(p)
		return store.AlertRule{Name: name, Query: query, Kind: kind, Params: b, Severity: "high", Enabled: true}
	}
	var out []store.AlertRule
	for _, t := range alert.Templates() {
		out = append(out, mk("template "+t.Key, t.Query, t.Kind, t.Params))
	}
	return append(out, []store.AlertRule{
		mk("public link (template)", "exposure:public_link", alert.Threshold, alert.Params{Value: 1, Window: "1h"}),
		mk("external sharing volume (template)", "action:shared exposure:outside_trusted_domains", alert.Threshold,
			alert.Params{Measure: alert.MeasureFiles, Value: 20, Window: "1h"}),
		mk("first external domain per person, 90 days of history", "(action:shared OR action:emailed) exposure:outside_trusted_domains", alert.NewTerms,
			alert.Params{Fields: []string{"actor", "domain"}, HistoryDays: 90}),
		mk("bulk download (every download)", "action:downloaded", alert.Threshold, alert.Params{Measure: alert.MeasureFiles, Value: 50, Window: "1h"}),
	}...)
}

// alertsBacktest loads o.BacktestEvents events as the search benchmark does (90 days of
// eventgen.Timeline, the same database with -dir -reuse) and backtests each rule over the last
// o.BacktestDays days as POST /api/v1/rules/test does (alert.Backtest, its default limit).
func alertsBacktest(ctx context.Context, o AlertsOptions, driver string, r *AlertsResult, progress io.Writer) error {
	so := SearchOptions{Events: o.BacktestEvents, People: 5000, Days: 90, Batch: 5000, Drivers: []string{driver}, DSN: o.DSN,
		TempDir: o.TempDir, Reuse: o.Reuse, Seed: 1}
	bdb, err := openBenchDB(ctx, so, driver)
	if err != nil {
		return err
	}
	defer bdb.remove()
	defer bdb.s.Close()
	var have int64
	if err := bdb.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM file_events`).Scan(&have); err != nil {
		return err
	}
	record := filepath.Join(o.TempDir, "search-"+driver+".load.json")
	switch {
	case have == 0:
		if r.BacktestLoad, err = loadSearch(ctx, so, driver, bdb, progress); err != nil {
			return err
		}
		if b, err := json.Marshal(r.BacktestLoad); err == nil {
			os.WriteFile(record, b, 0o644)
		}
	case have == int64(o.BacktestEvents) && o.Reuse:
		b, err := os.ReadFile(record)
		if err == nil {
			err = json.Unmarshal(b, &r.BacktestLoad)
		}
		if err != nil {
			return fmt.Errorf("the database holds %d events but its load record %s: %v", have, record, err)
		}
		r.BacktestReused = true
	default:
		return fmt.Errorf("the database already holds %d events, not %d: remove it or use another -dir/-dsn", have, o.BacktestEvents)
	}
	r.BacktestEvents = o.BacktestEvents
	r.LoadAvg = append(r.LoadAvg, "backtest: "+loadavg())
	now := eventgen.NewTimeline(eventgen.Options{Seed: 1, People: 5000, Days: 90}, 0).End()
	r.BacktestFrom, r.BacktestTo = now.AddDate(0, 0, -o.BacktestDays), now
	if o.ProfileDir != "" {
		path := filepath.Join(o.ProfileDir, "alerts-backtest-"+driver+".pprof")
		stop, err := cpuProfile(path)
		if err != nil {
			return err
		}
		r.Profiles = append(r.Profiles, path)
		defer stop()
	}
	for _, rule := range backtestRules() {
		br := BacktestRun{Name: rule.Name, Query: rule.Query, Kind: rule.Kind}
		for i := 0; i < o.BacktestRuns; i++ {
			t0 := time.Now()
			res, err := alert.Backtest(ctx, bdb.s, rule, o.BacktestDays, now, 0)
			if err != nil {
				return fmt.Errorf("%s: %w", rule.Name, err)
			}
			br.Secs = append(br.Secs, time.Since(t0).Seconds())
			br.Events, br.Alerts, br.Truncated = res.Events, res.Alerts, res.Truncated
		}
		br.Median = Median(br.Secs)
		r.Backtest = append(r.Backtest, br)
		fmt.Fprintf(progress, "%s: backtest %s: median %.2f s over %d runs; %d events read (truncated %v), %d alerts\n",
			driver, rule.Name, br.Median, len(br.Secs), br.Events, br.Truncated, br.Alerts)
	}
	return nil
}

// FormatAlerts renders the BENCHMARKS.md section.
func FormatAlerts(rs []AlertsResult, o AlertsOptions, command string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## Alerts: ingest with rules, time to alert, backtest (issue 16)\n\n")
	fmt.Fprintf(&b, "- Date: %s. Machine: %s.\n- Command: `%s`\n", Stamp(), Machine(), command)
	for _, r := range rs {
		fmt.Fprintf(&b, "- %s load average (1, 5, 15 min) at each measurement's start: %s.\n", r.Driver, strings.Join(r.LoadAvg, "; "))
	}
	met := func(ok bool) string {
		if ok {
			return "met"
		}
		return "**missed**"
	}
	if slices.Contains(o.Runs, "ingest") {
		fmt.Fprintf(&b, "\n### (a) Ingest with %d enabled rules next to none\n\n", o.Rules)
		fmt.Fprintf(&b, "Each phase is a fresh store; %d events of eventgen (the last day of 5,000 people, the same events on both sides of a round) are stored in pages of %d, each page in one transaction as ingest's stream stores it (vendor records marked, risk assessed with first use recorded, events inserted, the touched files' index rows upserted, the cursor saved; hashing jobs left out), as fast as the store takes them, while the evaluator (`alert.Evaluator.RunOnce`, as the node's evaluation unit runs it, idling 50 ms when caught up) follows them. A phase ends when the evaluator has passed the last event: **rate = events / (stored and evaluated)**. The %d rules alternate threshold (counts, distinct files, bytes; by person or by person and domain) and new_terms (person + domain, recipient, category, owner, directory, exposure) over actions, categories, exposures and risk; no connector or vendor runs (their HTTP and parsing would weigh on both sides alike). Phases alternate, %d rounds; medians.\n\n", o.Events, o.Page, o.Rules, o.Rounds)
		fmt.Fprintln(&b, "| driver | phase | stored events/s | stored and evaluated events/s | alerts raised |")
		fmt.Fprintln(&b, "|---|---|---:|---:|---:|")
		for _, r := range rs {
			for _, ph := range r.Ingest {
				fmt.Fprintf(&b, "| %s | round %d, %d rules | %.0f | %.0f | %d |\n", r.Driver, ph.Round, ph.Rules, ph.StoreRate, ph.TotalRate, ph.Raised)
			}
		}
		fmt.Fprintln(&b)
		for _, r := range rs {
			fmt.Fprintf(&b, "- %s: median stored and evaluated **%.0f events/s with %d rules, %.0f with none: ratio %.2f** (target >= 0.8: %s); stored only: %.0f and %.0f.\n",
				r.Driver, r.With, o.Rules, r.None, r.Ratio, met(r.Ratio >= 0.8), r.WithStore, r.NoneStore)
		}
	}
	if slices.Contains(o.Runs, "latency") {
		fmt.Fprintf(&b, "\n### (b) Event committed to alert raised\n\n")
		fmt.Fprintf(&b, "A fresh store with the same %d rules; the evaluator runs as on a node (a `work.Runner` with its defaults: the evaluation unit idles 2 s when caught up and the runner polls every second). For %s, pages of events arrive every 200 ms (%d events a second); each second %d of them are a canary (a new person's first share of a canary file to a new partner domain), which the first rule (new_terms on person + domain, limited to canary files so that the hourly cap the other events reach never holds a canary back) raises one alert for. Latency: from the commit of the canary's page to the alert, as a reader polling the alerts every 20 ms sees it.\n\n", o.Rules, o.LatencyFor, o.LatencyRate, o.Canaries)
		fmt.Fprintln(&b, "| driver | events stored | canary alerts | p50 | p95 (target <= 5 s) | max | alerts raised by all rules |")
		fmt.Fprintln(&b, "|---|---:|---:|---:|---:|---:|---:|")
		for _, r := range rs {
			if l := r.Latency; l != nil {
				fmt.Fprintf(&b, "| %s | %d | %d | %.2f s | **%.2f s** (%s) | %.2f s | %d |\n", r.Driver, l.Events, l.Canaries, l.P50, l.P95, met(l.P95 <= 5), l.Max, l.Raised)
			}
		}
	}
	if slices.Contains(o.Runs, "backtest") {
		fmt.Fprintf(&b, "\n### (c) A %d-day backtest\n\n", o.BacktestDays)
		for _, r := range rs {
			if r.BacktestEvents == 0 {
				continue // not backtested on this driver (-backtest-drivers)
			}
			load := fmt.Sprintf("loaded in %s (%s)", dur(r.BacktestLoad.Seconds), r.BacktestLoad.Method)
			if r.BacktestReused {
				load = "loaded on " + r.BacktestLoad.Date + " by an earlier run"
			}
			fmt.Fprintf(&b, "%s: %s events of `eventgen.Timeline` over 90 days (the search benchmark's database; %s); each rule backtested %d times over %s to %s with `alert.Backtest` as `POST /api/v1/rules/test` runs it (a threshold rule measured per person and bucket of its window in the database first, then the events of the buckets that can reach the threshold read in observed order; a new_terms rule reads every matching event and its history window; at most %d events read). Target: 30 s.\n\n",
				r.Driver, count(r.BacktestEvents), load, o.BacktestRuns, r.BacktestFrom.Format("2006-01-02"), r.BacktestTo.Format("2006-01-02"), alert.DefaultBacktestLimit)
		}
		fmt.Fprintln(&b, "| driver | rule | kind | median | events read | alerts |")
		fmt.Fprintln(&b, "|---|---|---|---:|---:|---:|")
		for _, r := range rs {
			for _, br := range r.Backtest {
				tr := ""
				if br.Truncated {
					tr = " (truncated at the read limit or the 20 s budget: the oldest ones only)"
				}
				// A truncated backtest answered in time but incompletely: not met.
				fmt.Fprintf(&b, "| %s | %s `%s` | %s | **%.2f s** (%s) | %d%s | %d |\n", r.Driver, br.Name, br.Query, br.Kind, br.Median, met(br.Median <= 30 && !br.Truncated), br.Events, tr, br.Alerts)
			}
		}
	}
	return b.String()
}

// AlertsCommand is `telltale-bench alerts`.
func AlertsCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, write, err := parseAlertsArgs(args, stderr)
	if err != nil {
		return err
	}
	done, err := scratchDir(&o.TempDir, "telltale-bench-alerts-")
	if err != nil {
		return err
	}
	defer done()
	rs, err := RunAlerts(ctx, o, stderr)
	if err != nil {
		return err
	}
	return publish(stdout, write, "alerts", FormatAlerts(rs, o, "go run ./cmd/telltale-bench alerts "+strings.Join(args, " ")))
}

func parseAlertsArgs(args []string, stderr io.Writer) (AlertsOptions, string, error) {
	fs := flag.NewFlagSet("alerts", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := AlertsOptions{}
	runs := fs.String("runs", "ingest,latency,backtest", "which measurements: ingest (a), latency (b), backtest (c)")
	drivers := fs.String("drivers", "sqlite", "drivers to measure (sqlite, postgres)")
	fs.IntVar(&o.Events, "events", 100000, "(a) events per phase")
	fs.IntVar(&o.Page, "page", 500, "(a) events per ingest transaction")
	fs.IntVar(&o.Rounds, "rounds", 2, "(a) rounds of the two phases")
	fs.IntVar(&o.Rules, "rules", 50, "(a, b) enabled rules")
	fs.DurationVar(&o.LatencyFor, "latency-for", time.Minute, "(b) how long the stream runs")
	fs.IntVar(&o.LatencyRate, "rate", 500, "(b) background events a second")
	fs.IntVar(&o.Canaries, "canaries", 1, "(b) canary events a second")
	fs.IntVar(&o.BacktestEvents, "backtest-events", 10000000, "(c) events stored")
	fs.IntVar(&o.BacktestDays, "days", 30, "(c) the backtest's days")
	fs.IntVar(&o.BacktestRuns, "backtest-runs", 3, "(c) runs of each rule")
	fs.StringVar(&o.DSN, "dsn", "", "(c) a PostgreSQL database to load or reuse (default: a throwaway server)")
	fs.StringVar(&o.TempDir, "dir", "", "directory for the SQLite databases (default: a new temporary directory)")
	fs.BoolVar(&o.Reuse, "reuse", false, "(c) keep the backtest database and reuse one holding -backtest-events events (the search benchmark's, same -dir/-dsn)")
	fs.StringVar(&o.ProfileDir, "cpuprofile", "", "write CPU profiles of the last ingest phase with rules (a) and of the backtests (c) into this directory")
	btDrivers := fs.String("backtest-drivers", "", "(c) drivers to backtest on (default: -drivers)")
	write := fs.String("write", "", "write the result section into this markdown file")
	if err := fs.Parse(args); err != nil {
		return o, "", err
	}
	if *btDrivers != "" {
		o.BacktestDrivers = strings.Split(*btDrivers, ",")
		for _, d := range o.BacktestDrivers {
			if !slices.Contains(strings.Split(*drivers, ","), d) {
				return o, "", fmt.Errorf("alerts: -backtest-drivers: %q is not one of -drivers %s; list it there too", d, *drivers)
			}
		}
	}
	o.Runs = strings.Split(*runs, ",")
	o.Drivers = strings.Split(*drivers, ",")
	for _, x := range o.Runs {
		if !slices.Contains([]string{"ingest", "latency", "backtest"}, x) {
			return o, "", fmt.Errorf("alerts: -runs: %q is not a measurement; use ingest, latency, backtest", x)
		}
	}
	switch {
	case o.Events < 1000 || o.Page < 1 || o.Rounds < 1:
		return o, "", errors.New("alerts: -events must be at least 1000, -page and -rounds at least 1")
	case o.Rules < 1 || o.Rules > 500:
		return o, "", errors.New("alerts: -rules must be between 1 and 500")
	case o.LatencyRate < 5 || o.Canaries < 1:
		return o, "", errors.New("alerts: -rate must be at least 5 and -canaries at least 1")
	case o.BacktestEvents < 10000 || o.BacktestDays < 1 || o.BacktestDays > alert.MaxBacktestDays || o.BacktestRuns < 1:
		return o, "", fmt.Errorf("alerts: -backtest-events must be at least 10000, -days between 1 and %d, -backtest-runs at least 1", alert.MaxBacktestDays)
	case o.Reuse && o.TempDir == "":
		return o, "", errors.New("alerts: -reuse needs -dir")
	}
	return o, *write, nil
}
