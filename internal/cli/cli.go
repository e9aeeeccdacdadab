// Package cli is Telltale's command tree (cobra): `serve` runs a node; the other verbs talk to a
// running server through the public client package, with --output table|csv|json.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/app"
)

// env lets tests replace the environment.
type env struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// Main runs the command line and returns the exit status.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{getenv: osGetenv, stdin: stdin, stdout: stdout, stderr: stderr}
	root := e.root()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		var ee exitError
		if errors.As(err, &ee) {
			return int(ee) // the command already said what went wrong
		}
		var p *client.Problem
		var te *client.TimeoutError
		switch {
		case errors.As(err, &p):
			fmt.Fprintf(stderr, "telltale: %s\n", p.Error())
		case errors.As(err, &te) && te.Idle:
			fmt.Fprintf(stderr, "telltale: %v\n(a server that is busy but well may need a longer --idle-timeout)\n", err)
		case errors.As(err, &te):
			fmt.Fprintf(stderr, "telltale: %v\n(a server that is busy but well may need a longer --timeout)\n", err)
		default:
			fmt.Fprintf(stderr, "telltale: %v\n", err)
		}
		return 1
	}
	return 0
}

// exitError carries a specific exit status.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func (e *env) root() *cobra.Command {
	root := &cobra.Command{
		Use:           "telltale",
		Short:         "Self-hosted insider-risk data connections: cloud drives and email, every file event",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().String("server", "", "Telltale server URL (env TELLTALE_SERVER, default http://127.0.0.1:8080)")
	root.PersistentFlags().String("token", "", "API token (env TELLTALE_TOKEN)")
	root.PersistentFlags().StringP("output", "o", "table", "output format: table, csv or json")
	root.PersistentFlags().Duration("timeout", client.DefaultTimeout, "longest an ordinary API call may take; 0: no limit")
	root.PersistentFlags().Duration("idle-timeout", client.DefaultIdleTimeout, "longest a streaming call (export, scope download and upload, import) may go without a byte moving; 0: no limit")
	root.AddCommand(e.versionCmd(), e.serveCmd(), e.demoCmd(), e.emulateCmd(), e.normalizeCmd(), e.connectionsCmd(), e.eventsCmd(), e.searchesCmd(), e.alertsCmd(), e.rulesCmd(), e.watchlistsCmd(), e.riskCmd(), e.casesCmd(), e.peopleCmd(), e.integrationsCmd(), e.flowsCmd(), e.hrCmd(), e.auditCmd(), e.tokensCmd(), e.agentCmd(), e.devicesCmd(), e.secretsCmd(), e.forwardCmd())
	return root
}

func (e *env) versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(e.stdout, "telltale %s\n", app.Version)
			return nil
		},
	}
}

// client builds the API client from flags and environment.
func (e *env) client(cmd *cobra.Command) (*client.Client, error) {
	server, _ := cmd.Flags().GetString("server")
	if server == "" {
		server = e.getenv("TELLTALE_SERVER")
	}
	if server == "" {
		server = "http://127.0.0.1:8080"
	}
	token, _ := cmd.Flags().GetString("token")
	if token == "" {
		token = e.getenv("TELLTALE_TOKEN")
	}
	if token == "" {
		return nil, errors.New("no API token: pass --token or set TELLTALE_TOKEN (the first start of `telltale serve` prints the admin's token)")
	}
	total, _ := cmd.Flags().GetDuration("timeout")
	idle, _ := cmd.Flags().GetDuration("idle-timeout")
	return client.New(server, token).WithTimeouts(total, idle), nil
}
