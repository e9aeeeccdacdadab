// Command telltale is Telltale's one binary: the server, demo mode and the command-line client.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/telltale-dev/telltale/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
