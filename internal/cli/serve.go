package cli

import (
	"fmt"
	"log/slog"
	"net"
	"os"

	"github.com/spf13/cobra"
	"github.com/telltale-dev/telltale/internal/app"
	"github.com/telltale-dev/telltale/internal/config"
)

var osGetenv = os.Getenv

func (e *env) serveCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a Telltale node: the API, the console and the collection workers",
		Long: `Run a Telltale node. With no --database it keeps everything in SQLite in --data-dir; with
--database postgres://... several nodes can share one PostgreSQL and split the work.
Every flag can also be set with its TELLTALE_* environment variable or in a --config file.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cmd.Flags(), e.getenv)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stderr, "Telltale starting (compiling is done): opening the data in %s\n", where(cfg))
			log := newLogger(e.stderr, cfg)
			ctx := cmd.Context()
			a, err := app.New(ctx, cfg, log)
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", cfg.Listen)
			if err != nil {
				a.Close()
				return fmt.Errorf("listen on %s: %w (is another process using it? choose another with --listen)", cfg.Listen, err)
			}
			a.PrintBootstrap(e.stdout)
			fmt.Fprintf(e.stdout, "Telltale %s serving on http://%s (data: %s)\n", app.Version, ln.Addr(), where(cfg))
			return a.Run(ctx, ln)
		},
	}
	config.Bind(cmd.Flags())
	return cmd
}

func where(cfg config.Config) string {
	if cfg.UsesPostgres() {
		return "PostgreSQL"
	}
	return cfg.DataDir
}

func newLogger(w interface{ Write([]byte) (int, error) }, cfg config.Config) *slog.Logger {
	var lvl slog.Level
	lvl.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: lvl}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
