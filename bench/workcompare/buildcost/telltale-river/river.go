package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
)

type probeArgs struct{}

func (probeArgs) Kind() string { return "probe" }

// riverProbe uses what Telltale would: a migrator, a client with workers, periodic jobs, inserts
// and snoozes, on PostgreSQL (pgx) or SQLite.
func riverProbe(args []string) int {
	if len(args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: telltale-river river-probe postgres|sqlite DSN")
		return 2
	}
	ctx := context.Background()
	workers := river.NewWorkers()
	river.AddWorker(workers, river.WorkFunc(func(ctx context.Context, j *river.Job[probeArgs]) error {
		return river.JobSnooze(0)
	}))
	cfg := &river.Config{Workers: workers, Queues: map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 4}},
		PeriodicJobs: []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(60e9),
			func() (river.JobArgs, *river.InsertOpts) { return probeArgs{}, nil }, nil)}}
	var err error
	if args[0] == "postgres" {
		var pool *pgxpool.Pool
		if pool, err = pgxpool.New(ctx, args[1]); err == nil {
			var m *rivermigrate.Migrator[pgxTx]
			if m, err = rivermigrate.New(riverpgxv5.New(pool), nil); err == nil {
				_, err = m.Migrate(ctx, rivermigrate.DirectionUp, nil)
			}
			if err == nil {
				var c *river.Client[pgxTx]
				if c, err = river.NewClient(riverpgxv5.New(pool), cfg); err == nil {
					if _, err = c.Insert(ctx, probeArgs{}, nil); err == nil {
						err = c.Start(ctx)
					}
				}
			}
		}
	} else {
		var db *sql.DB
		if db, err = sql.Open("sqlite", args[1]); err == nil {
			var m *rivermigrate.Migrator[*sql.Tx]
			if m, err = rivermigrate.New(riversqlite.New(db), nil); err == nil {
				_, err = m.Migrate(ctx, rivermigrate.DirectionUp, nil)
			}
			if err == nil {
				var c *river.Client[*sql.Tx]
				if c, err = river.NewClient(riversqlite.New(db), cfg); err == nil {
					if _, err = c.Insert(ctx, probeArgs{}, nil); err == nil {
						err = c.Start(ctx)
					}
				}
			}
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}
