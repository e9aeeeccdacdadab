// Command telltale-river is cmd/telltale with River linked in, for measuring what River adds to the
// binary's size and build time (issue 19). It is cmd/telltale's main plus a River client on each
// driver that the linker cannot drop; it is never shipped.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/telltale-dev/telltale/internal/cli"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "river-probe" {
		os.Exit(riverProbe(os.Args[2:]))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
