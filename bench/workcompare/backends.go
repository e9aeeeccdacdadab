package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib" // "pgx" for database/sql
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"

	"github.com/telltale-dev/telltale/internal/store"
	"github.com/telltale-dev/telltale/internal/store/postgres"
	"github.com/telltale-dev/telltale/internal/store/sqlite"
	"github.com/telltale-dev/telltale/internal/work"
)

const kind = "bench"

// result is what a handler asks for; both systems map it to their own terms.
type result struct {
	again      time.Duration // > 0: run again after this (work: returned next; river: a new job)
	retryAfter time.Duration // > 0: the vendor said to come back later (work.RetryAfter, river.JobSnooze)
	err        error         // a failure: retried with backoff
}

// handler runs one unit or job identified by key; run counts from 1 per key within a system's
// own bookkeeping (attempts are not comparable, so scenarios count runs themselves).
type handler func(ctx context.Context, key string) result

type nodeOpts struct {
	concurrency int
	lease       time.Duration // work: LeaseFor; river: RescueStuckJobsAfter, JobTimeout 4/5 of it (0: defaults, JobTimeout -1)
	periodic    time.Duration // river: a periodic job of this interval (key "periodic")
	pollOnly    bool          // river: no LISTEN/NOTIFY
}

type node interface {
	kick() // work: Runner.Kick (same node); river: nothing (inserts notify)
	stop()
}

// backend is one system (internal/work or river) on one fresh database.
type backend interface {
	name() string
	// insert adds one unit/job per key due at due, unique per key, in one transaction.
	insert(ctx context.Context, keys []string, due time.Time) error
	// insertOne adds one unit/job outside any batch, as the product does for a single event.
	insertOne(ctx context.Context, key string, due time.Time) error
	startNode(ctx context.Context, o nodeOpts, h handler) (node, error)
	// pending counts units/jobs not finished.
	pending(ctx context.Context) (int, error)
	// rows counts rows in the system's table(s), finished ones included.
	rows(ctx context.Context) (int, error)
	raw() *sql.DB
	close()
}

var discard = func() *slog.Logger {
	if lv := os.Getenv("WORKCOMPARE_LOG"); lv != "" { // debug, info, warn
		var l slog.Level
		_ = l.UnmarshalText([]byte(lv))
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}()

// ---- internal/work ----

type workBackend struct {
	storeKind string // sqlite or postgres
	dsn       string // path for sqlite
	st        store.Store
	db        *sql.DB
	nodes     []*workNode
	seq       atomic.Int64
}

func openStore(ctx context.Context, storeKind, dsn string) (store.Store, error) {
	if storeKind == "sqlite" {
		return sqlite.Open(ctx, dsn, sqlite.Options{})
	}
	return postgres.Open(ctx, dsn, postgres.Options{})
}

func newWork(ctx context.Context, storeKind, dsn string) (*workBackend, error) {
	st, err := openStore(ctx, storeKind, dsn)
	if err != nil {
		return nil, err
	}
	b := &workBackend{storeKind: storeKind, dsn: dsn, st: st}
	if storeKind == "sqlite" {
		b.db, err = sql.Open("sqlite", sqlite.DSN(dsn, true))
	} else {
		b.db, err = sql.Open("pgx", dsn)
	}
	if err != nil {
		st.Close()
		return nil, err
	}
	return b, nil
}

func (b *workBackend) name() string { return "work/" + b.storeKind }
func (b *workBackend) raw() *sql.DB { return b.db }

func (b *workBackend) insert(ctx context.Context, keys []string, due time.Time) error {
	return b.st.InTx(ctx, func(q store.Queries) error {
		for _, k := range keys {
			if _, err := q.EnsureWork(ctx, store.Work{Kind: kind, Key: k, NextRunAt: due}); err != nil {
				return err
			}
		}
		return nil
	})
}

func (b *workBackend) insertOne(ctx context.Context, key string, due time.Time) error {
	// ScheduleWork is what the product calls when something asks a unit to run now.
	_, err := b.st.ScheduleWork(ctx, store.Work{Kind: kind, Key: key, NextRunAt: due})
	return err
}

type workNode struct {
	st store.Store
	r  *work.Runner
}

func (n *workNode) kick() { n.r.Kick() }
func (n *workNode) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = n.r.Stop(ctx)
	n.st.Close()
}

func (b *workBackend) startNode(ctx context.Context, o nodeOpts, h handler) (node, error) {
	// Each node has its own store (connections), as separate processes would.
	st, err := openStore(ctx, b.storeKind, b.dsn)
	if err != nil {
		return nil, err
	}
	r := work.NewRunner(work.Options{Store: st, Log: discard, Concurrency: o.concurrency, LeaseFor: o.lease,
		Owner: fmt.Sprintf("node-%d-%d", os.Getpid(), b.seq.Add(1))})
	r.Handle(kind, func(ctx context.Context, w store.Work) (time.Time, error) {
		res := h(ctx, w.Key)
		switch {
		case res.retryAfter > 0:
			return time.Time{}, work.RetryAfter(res.retryAfter)
		case res.err != nil:
			return time.Time{}, res.err
		case res.again > 0:
			return time.Now().Add(res.again), nil
		}
		return time.Time{}, nil
	})
	if err := r.Start(ctx); err != nil {
		st.Close()
		return nil, err
	}
	n := &workNode{st: st, r: r}
	b.nodes = append(b.nodes, n)
	return n, nil
}

func (b *workBackend) pending(ctx context.Context) (int, error) {
	var n int
	err := b.db.QueryRowContext(ctx, `SELECT count(*) FROM work WHERE kind = 'bench'`).Scan(&n)
	return n, err
}

func (b *workBackend) rows(ctx context.Context) (int, error) { return b.pending(ctx) }

func (b *workBackend) close() {
	for _, n := range b.nodes {
		n.stop()
	}
	b.db.Close()
	b.st.Close()
}

// ---- river ----

type benchArgs struct {
	Key string `json:"key"`
}

func (benchArgs) Kind() string { return kind }

// uniqueOpts make a job unique per key, as a work unit is per kind+key. River's default states
// (every state but cancelled and discarded) apply: a completed job still blocks its key until the
// job cleaner removes it, unless ByState says otherwise.
func insertOpts(due time.Time) *river.InsertOpts {
	if !due.After(time.Now()) {
		// A job given any ScheduledAt is inserted "scheduled" and waits for the leader's scheduler
		// (every 5 s); one due now must leave it zero to be "available" at once.
		due = time.Time{}
	}
	return &river.InsertOpts{ScheduledAt: due, UniqueOpts: river.UniqueOpts{ByArgs: true,
		ByState: nonFinalStates}}
}

// nonFinalStates lets a key be enqueued again once its job completed (what a work unit allows).
var nonFinalStates = []rivertype.JobState{rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
	rivertype.JobStateRetryable, rivertype.JobStateScheduled}

type riverBackend struct {
	tuned     bool // FetchCooldown at River's minimum (1 ms) instead of its default 100 ms
	storeKind string
	dsn       string
	db        *sql.DB
	pool      *pgxpool.Pool          // postgres
	pgClient  *river.Client[pgx.Tx]  // insert-only client
	sqClient  *river.Client[*sql.Tx] // insert-only client
	closers   []func()
	seq       atomic.Int64
}

func (b *riverBackend) name() string {
	if b.tuned {
		return "river-tuned/" + b.storeKind
	}
	return "river/" + b.storeKind
}
func (b *riverBackend) raw() *sql.DB { return b.db }

func openSQLite(path string) (*sql.DB, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(10000)&_txlock=immediate")
	if err != nil {
		return nil, err
	}
	// The driver's advice: one connection, or "database is locked" under River's parallel work.
	db.SetMaxOpenConns(1)
	return db, nil
}

func newRiver(ctx context.Context, storeKind, dsn string) (*riverBackend, error) {
	b := &riverBackend{storeKind: storeKind, dsn: dsn}
	var err error
	if storeKind == "sqlite" {
		if b.db, err = openSQLite(dsn); err != nil {
			return nil, err
		}
		m, err := rivermigrate.New(riversqlite.New(b.db), &rivermigrate.Config{Logger: discard})
		if err != nil {
			return nil, err
		}
		if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
			return nil, fmt.Errorf("river migrate: %w", err)
		}
		b.sqClient, err = river.NewClient(riversqlite.New(b.db), &river.Config{Logger: discard})
		return b, err
	}
	if b.pool, err = newPool(ctx, dsn); err != nil {
		return nil, err
	}
	if b.db, err = sql.Open("pgx", dsn); err != nil {
		return nil, err
	}
	m, err := rivermigrate.New(riverpgxv5.New(b.pool), &rivermigrate.Config{Logger: discard})
	if err != nil {
		return nil, err
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return nil, fmt.Errorf("river migrate: %w", err)
	}
	b.pgClient, err = river.NewClient(riverpgxv5.New(b.pool), &river.Config{Logger: discard})
	return b, err
}

func (b *riverBackend) params(keys []string, due time.Time) []river.InsertManyParams {
	ps := make([]river.InsertManyParams, len(keys))
	for i, k := range keys {
		ps[i] = river.InsertManyParams{Args: benchArgs{Key: k}, InsertOpts: insertOpts(due)}
	}
	return ps
}

func (b *riverBackend) insert(ctx context.Context, keys []string, due time.Time) error {
	var err error
	if b.sqClient != nil {
		_, err = b.sqClient.InsertMany(ctx, b.params(keys, due))
	} else {
		_, err = b.pgClient.InsertMany(ctx, b.params(keys, due))
	}
	return err
}

func (b *riverBackend) insertOne(ctx context.Context, key string, due time.Time) error {
	var err error
	if b.sqClient != nil {
		_, err = b.sqClient.Insert(ctx, benchArgs{Key: key}, insertOpts(due))
	} else {
		_, err = b.pgClient.Insert(ctx, benchArgs{Key: key}, insertOpts(due))
	}
	return err
}

type riverStopper struct{ stopFn func() }

func (n riverStopper) kick() {}
func (n riverStopper) stop() { n.stopFn() }

func (b *riverBackend) startNode(ctx context.Context, o nodeOpts, h handler) (node, error) {
	workers := river.NewWorkers()
	// The closure needs the client (to enqueue a follow-up job), set once it exists.
	var again func(ctx context.Context, key string, at time.Time) error
	river.AddWorker(workers, river.WorkFunc(func(ctx context.Context, j *river.Job[benchArgs]) error {
		res := h(ctx, j.Args.Key)
		switch {
		case res.retryAfter > 0:
			return river.JobSnooze(res.retryAfter)
		case res.err != nil:
			return res.err
		case res.again > 0:
			// A job does not reschedule itself: it inserts the next one. Running is a required
			// unique state, so a unique follow-up would be refused as a duplicate of this very job:
			// it goes in without uniqueness.
			return again(ctx, j.Args.Key, time.Now().Add(res.again))
		}
		return nil
	}))
	cfg := &river.Config{
		ID:         fmt.Sprintf("node-%d-%d", os.Getpid(), b.seq.Add(1)),
		Logger:     discard,
		Queues:     map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: o.concurrency}},
		Workers:    workers,
		PollOnly:   o.pollOnly,
		JobTimeout: -1, // a work unit has no timeout either; the lease is what bounds it
	}
	if b.tuned {
		cfg.FetchCooldown = river.FetchCooldownMin
	}
	if o.lease > 0 {
		// River rescues a job only once its JobTimeout has passed (never with -1: a job of a
		// killed client stays "running" for good), and RescueStuckJobsAfter must exceed it.
		cfg.JobTimeout = o.lease * 4 / 5
		cfg.RescueStuckJobsAfter = o.lease
	}
	if o.periodic > 0 {
		cfg.PeriodicJobs = []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(o.periodic),
			func() (river.JobArgs, *river.InsertOpts) { return benchArgs{Key: "periodic"}, nil },
			&river.PeriodicJobOpts{RunOnStart: true})}
	}
	if b.storeKind == "sqlite" {
		db, err := openSQLite(b.dsn)
		if err != nil {
			return nil, err
		}
		c, err := river.NewClient(riversqlite.New(db), cfg)
		if err != nil {
			db.Close()
			return nil, err
		}
		again = func(ctx context.Context, key string, at time.Time) error {
			_, err := c.Insert(ctx, benchArgs{Key: key}, &river.InsertOpts{ScheduledAt: at})
			return err
		}
		if err := c.Start(ctx); err != nil {
			db.Close()
			return nil, err
		}
		stop := func() {
			sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_ = c.Stop(sctx)
			db.Close()
		}
		b.closers = append(b.closers, stop)
		return riverStopper{stop}, nil
	}
	pool, err := newPool(ctx, b.dsn)
	if err != nil {
		return nil, err
	}
	c, err := river.NewClient(riverpgxv5.New(pool), cfg)
	if err != nil {
		pool.Close()
		return nil, err
	}
	again = func(ctx context.Context, key string, at time.Time) error {
		_, err := c.Insert(ctx, benchArgs{Key: key}, &river.InsertOpts{ScheduledAt: at})
		return err
	}
	if err := c.Start(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	stop := func() {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = c.Stop(sctx)
		pool.Close()
	}
	b.closers = append(b.closers, stop)
	return riverStopper{stop}, nil
}

func (b *riverBackend) pending(ctx context.Context) (int, error) {
	var n int
	err := b.db.QueryRowContext(ctx, `SELECT count(*) FROM river_job WHERE state NOT IN ('completed', 'discarded', 'cancelled')`).Scan(&n)
	return n, err
}

func (b *riverBackend) rows(ctx context.Context) (int, error) {
	var n int
	err := b.db.QueryRowContext(ctx, `SELECT count(*) FROM river_job`).Scan(&n)
	return n, err
}

func (b *riverBackend) close() {
	for i := len(b.closers) - 1; i >= 0; i-- {
		b.closers[i]()
	}
	if b.pool != nil {
		b.pool.Close()
	}
	b.db.Close()
}

// newBackend makes system on a fresh database.
func newBackend(ctx context.Context, env *env, system, storeKind string) (backend, error) {
	n := env.seq.Add(1)
	var dsn string
	switch storeKind {
	case "sqlite":
		dsn = filepath.Join(env.dir, fmt.Sprintf("%s-%d.db", system, n))
	case "postgres":
		if env.pg == nil {
			return nil, errors.New("no PostgreSQL")
		}
		var err error
		if dsn, err = env.pg.newDB(fmt.Sprintf("wc_%s_%d", strings.ReplaceAll(system, "-", "_"), n)); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("unknown store %q: use sqlite or postgres", storeKind)
	}
	var b backend
	var err error
	if system == "work" {
		b, err = newWork(ctx, storeKind, dsn)
	} else {
		var rb *riverBackend
		rb, err = newRiver(ctx, storeKind, dsn)
		if err == nil {
			rb.tuned = system == "river-tuned"
			b = rb
		}
	}
	if err == nil {
		env.mu.Lock()
		env.dsns[b] = dsn
		env.mu.Unlock()
	}
	return b, err
}

// newPool opens a pgx pool of 10 connections, as many as the PostgreSQL store opens (pgxpool's
// default of max(4, CPUs) starves River's notifier, elector, producer and completer here).
func newPool(ctx context.Context, dsn string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = 10
	return pgxpool.NewWithConfig(ctx, cfg)
}
