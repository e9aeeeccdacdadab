// Command telltale-bench runs Telltale's benchmark programs and writes their tables into
// docs/BENCHMARKS.md. It is a separate binary so that benchmark and test-support code never ships
// in telltale itself.
//
//	go run ./cmd/telltale-bench store [-events 100000] [-rounds 3] [-drivers sqlite,postgres] [-write docs/BENCHMARKS.md]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"

	"github.com/telltale-dev/telltale/internal/bench"
)

func main() {
	if len(os.Args) < 2 || os.Args[1] != "store" {
		fmt.Fprintln(os.Stderr, "usage: telltale-bench store [flags]   (run with -h for the flags)")
		os.Exit(2)
	}
	fs := flag.NewFlagSet("store", flag.ExitOnError)
	o := bench.StoreOptions{}
	fs.IntVar(&o.Events, "events", 100000, "events per run")
	fs.IntVar(&o.Batch, "batch", 500, "events per transaction")
	fs.IntVar(&o.Rounds, "rounds", 3, "runs of each side")
	drivers := fs.String("drivers", "sqlite,postgres", "drivers to measure")
	write := fs.String("write", "", "write the result section into this markdown file")
	fs.Parse(os.Args[2:])
	o.Drivers = strings.Split(*drivers, ",")
	dir, err := os.MkdirTemp("", "telltale-bench-")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(dir)
	o.TempDir = dir
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rs, err := bench.RunStore(ctx, o, os.Stderr)
	if err != nil {
		fail(err)
	}
	cmd := "go run ./cmd/telltale-bench " + strings.Join(os.Args[1:], " ")
	section := bench.FormatStore(rs, o, cmd)
	fmt.Println(section)
	if *write != "" {
		if err := bench.WriteSection(*write, "store", section); err != nil {
			fail(err)
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "telltale-bench:", err)
	os.Exit(1)
}
