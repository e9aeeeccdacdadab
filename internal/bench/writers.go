package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// WritersOptions configure the concurrent event writers benchmark (issue 19, several nodes:
// `telltale-bench writers`).
type WritersOptions struct {
	Events  int   // events per run
	Batch   int   // events per InsertEvents call (a page)
	Writers []int // concurrent writers, each measured
	Rounds  int   // runs of each lock mode, alternated
	TempDir string
}

// WritersResult is one writer count's outcome: events/s per round and their medians, with the
// event writers side by side (the event horizon, migration 0045) and one at a time (the event
// lock held exclusive, as before it).
type WritersResult struct {
	Writers                   int
	Shared, Exclusive         []float64
	SharedRate, ExclusiveRate float64
}

type exclusiveSetter interface{ SetExclusiveEventWriters(on bool) }

// RunWriters inserts o.Events eventgen events into a fresh PostgreSQL database per run through
// the store's InsertEvents, o.Batch per call, from N goroutines at once (each takes the next page
// in turn), in both lock modes, alternating.
func RunWriters(ctx context.Context, o WritersOptions, progress io.Writer) ([]WritersResult, error) {
	var out []WritersResult
	for _, n := range o.Writers {
		r := WritersResult{Writers: n}
		for round := 0; round < o.Rounds; round++ {
			for _, exclusive := range []bool{round%2 == 1, round%2 == 0} { // the first side alternates
				rate, err := writersRun(ctx, o, n, exclusive, round)
				if err != nil {
					return nil, err
				}
				mode := "side by side"
				if exclusive {
					mode = "one at a time"
					r.Exclusive = append(r.Exclusive, rate)
				} else {
					r.Shared = append(r.Shared, rate)
				}
				fmt.Fprintf(progress, "%d writers, %s, round %d: %.0f events/s\n", n, mode, round+1, rate)
			}
		}
		r.SharedRate, r.ExclusiveRate = Median(r.Shared), Median(r.Exclusive)
		out = append(out, r)
	}
	return out, nil
}

func writersRun(ctx context.Context, o WritersOptions, writers int, exclusive bool, round int) (float64, error) {
	mode := "shared"
	if exclusive {
		mode = "exclusive"
	}
	db, err := open(ctx, StoreOptions{TempDir: o.TempDir}, "postgres", fmt.Sprintf("writers-%d-%s-%d", writers, mode, round))
	if err != nil {
		return 0, err
	}
	defer db.s.Close()
	es, ok := db.s.(exclusiveSetter)
	if !ok {
		return 0, fmt.Errorf("the postgres store cannot switch its event lock mode")
	}
	es.SetExclusiveEventWriters(exclusive)
	evs := events(StoreOptions{Events: o.Events}, round)
	pages := (len(evs) + o.Batch - 1) / o.Batch
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, writers)
	start := time.Now()
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				p := int(next.Add(1) - 1)
				if p >= pages {
					return
				}
				page := evs[p*o.Batch : min((p+1)*o.Batch, len(evs))]
				n, err := db.s.InsertEvents(ctx, page, false)
				if err == nil && n != len(page) {
					err = fmt.Errorf("inserted %d of a page of %d", n, len(page))
				}
				if err != nil {
					errs[w] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	for _, err := range errs {
		if err != nil {
			return 0, err
		}
	}
	return float64(len(evs)) / el.Seconds(), nil
}

// WritersCommand is `telltale-bench writers`.
func WritersCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("writers", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := WritersOptions{}
	writers := fs.String("writers", "1,2,4", "concurrent writers, each measured")
	fs.IntVar(&o.Events, "events", 100000, "events per run")
	fs.IntVar(&o.Batch, "batch", 500, "events per InsertEvents call (a page)")
	fs.IntVar(&o.Rounds, "rounds", 3, "runs of each lock mode, alternated")
	write := fs.String("write", "", "write the result section into this markdown file")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("writers: %w", err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("writers: unexpected argument %q", fs.Arg(0))
	}
	var err error
	if o.Writers, err = counts("writers", "-writers", "writer", *writers, 32); err != nil {
		return err
	}
	if o.Events < 1 || o.Batch < 1 || o.Rounds < 1 {
		return errors.New("writers: -events, -batch and -rounds must be at least 1")
	}
	done, err := scratchDir(&o.TempDir, "telltale-bench-writers-")
	if err != nil {
		return err
	}
	defer done()
	rs, err := RunWriters(ctx, o, stderr)
	if err != nil {
		return err
	}
	return publish(stdout, *write, "writers", WritersSection(o, rs, "go run ./cmd/telltale-bench writers "+strings.Join(args, " ")))
}

// WritersSection renders the results as the body of the markdown section bench:writers.
func WritersSection(o WritersOptions, rs []WritersResult, command string) string {
	var b strings.Builder
	b.WriteString("## Event writers side by side on one PostgreSQL (issue 19, several nodes)\n\n")
	fmt.Fprintf(&b, "- Date: %s. Machine: %s. Load average at the end: %s.\n- Command: `%s`\n", Stamp(), Machine(), loadAvg(), command)
	fmt.Fprintf(&b, "- Each run inserts %d eventgen events (random times over 90 days, as the store section) into a fresh database made by our migrations (the throwaway PostgreSQL 15, `fsync=off`) through the store's `InsertEvents`, %d events a call, from N goroutines at once, each taking the next page; the store's own path (dedupe keys, ids, addresses, person risk, the dashboards' deltas), one transaction per call, on one connection each. **Side by side**: the event lock held shared and a mark per transaction (migration 0045, as shipped). **One at a time**: the event lock held exclusive by every event transaction to its commit, as before 0045 (`SetExclusiveEventWriters`, the benchmark's switch). Modes alternate within each round, the first one alternating too; %d rounds; medians.\n\n", o.Events, o.Batch, o.Rounds)
	b.WriteString("| writers | side by side, events/s per round | median | one at a time, events/s per round | median | side by side / one at a time |\n|---:|---|---:|---|---:|---:|\n")
	for _, r := range rs {
		fmt.Fprintf(&b, "| %d | %s | %.0f | %s | %.0f | x%.2f |\n", r.Writers, rates(r.Shared), r.SharedRate, rates(r.Exclusive), r.ExclusiveRate, r.SharedRate/r.ExclusiveRate)
	}
	return b.String()
}
