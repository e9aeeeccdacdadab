package cli

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"github.com/telltale-dev/telltale/internal/agent"
	"github.com/telltale-dev/telltale/internal/app"
)

// agentCmd is `telltale agent`: the same binary as an endpoint agent (issue 18, R8.2).
func (e *env) agentCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run as an endpoint agent: enrol this machine with a deployment secret, then check in",
		Long: `The endpoint agent is this same binary. "telltale agent enroll" creates the device identity (an
ed25519 key pair) in the state directory and enrols it with the server using a deployment secret
an admin created (the secret is not kept). "telltale agent run" then checks in on the server's
rhythm with the agent version, OS, architecture, host name, signed-in user and last activity, each
message signed with the device key. When the server cannot be reached or refuses, the log says why
(DNS, TLS, connection refused, timeout, secret revoked, device deactivated) and the agent retries
with backoff.`,
	}
	var o agent.Options
	var level string
	cmd.PersistentFlags().StringVar(&o.StateDir, "state-dir", "", "directory of the device identity (env TELLTALE_AGENT_STATE_DIR; default: the user's config directory/telltale-agent)")
	cmd.PersistentFlags().StringVar(&o.UserEmail, "user-email", "", "the address of the person who uses this machine, when the deployment knows it (env TELLTALE_AGENT_USER_EMAIL)")
	cmd.PersistentFlags().StringVar(&o.CAFile, "ca-file", "", "PEM file of the certificate authority that signed the server's certificate, when it is not a public one")
	cmd.PersistentFlags().StringVar(&level, "log-level", "info", "debug, info, warn or error")
	setup := func(cmd *cobra.Command) error {
		if o.StateDir == "" {
			o.StateDir = e.getenv("TELLTALE_AGENT_STATE_DIR")
		}
		if o.StateDir == "" {
			dir, err := os.UserConfigDir()
			if err != nil {
				return fmt.Errorf("no --state-dir and no user config directory: %w", err)
			}
			o.StateDir = filepath.Join(dir, "telltale-agent")
		}
		if o.UserEmail == "" {
			o.UserEmail = e.getenv("TELLTALE_AGENT_USER_EMAIL")
		}
		var lv slog.Level
		if err := lv.UnmarshalText([]byte(level)); err != nil {
			return fmt.Errorf("--log-level: want debug, info, warn or error, got %q", level)
		}
		o.Log = slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: lv}))
		o.Version = app.Version
		return nil
	}

	var secret string
	enroll := &cobra.Command{
		Use:   "enroll --server URL --secret S",
		Short: "Create this device's identity and enrol it with the server",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := setup(cmd); err != nil {
				return err
			}
			server, _ := cmd.Flags().GetString("server")
			if server == "" {
				server = e.getenv("TELLTALE_SERVER")
			}
			if secret == "" {
				secret = e.getenv("TELLTALE_AGENT_SECRET")
			}
			st, err := agent.Enroll(cmd.Context(), server, secret, o)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "enrolled as device %s on %s (identity in %s)\n", st.DeviceID, st.Server, o.StateDir)
			return nil
		},
	}
	enroll.Flags().StringVar(&secret, "secret", "", "the deployment secret (env TELLTALE_AGENT_SECRET, which keeps it out of the process list)")

	// open reads the flags and opens the enrolled agent of the state directory.
	open := func(cmd *cobra.Command) (*agent.Agent, error) {
		if err := setup(cmd); err != nil {
			return nil, err
		}
		return agent.Open(o)
	}
	run := &cobra.Command{
		Use:   "run",
		Short: "Check in with the server until stopped",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := open(cmd)
			if err != nil {
				return err
			}
			return a.Run(cmd.Context())
		},
	}
	run.Flags().DurationVar(&o.Interval, "interval", 0, "check-in rhythm; 0: the server's (agent-checkin-interval)")
	run.Flags().StringArrayVar(&o.Watch.Folders, "watch", nil, "a folder whose file changes are sent as file events (repeat for several); changes are queued in the state directory while the server cannot be reached")
	run.Flags().DurationVar(&o.Watch.RescanEvery, "rescan", 10*time.Minute, "how often the watched folders are compared with what the agent has seen (finds changes the system's notifications missed)")
	run.Flags().DurationVar(&o.MaxBackoff, "max-backoff", 5*time.Minute, "longest wait between retries while the server cannot be reached")
	var limit int
	queue := &cobra.Command{
		Use:   "queue",
		Short: "Show how many file events wait to be sent, and those set aside (refused by the server, or damaged)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := open(cmd)
			if err != nil {
				return err
			}
			n, err := a.Queued()
			if err != nil {
				return err
			}
			aside, total, err := a.SetAside(limit)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%d file events queued\n%d set aside (refused by the server or damaged; not sent)\n", n, total)
			if len(aside) < total {
				fmt.Fprintf(e.stdout, "the oldest %d:\n", len(aside))
			}
			for _, s := range aside {
				fmt.Fprintf(e.stdout, "seq %d at %s: %s\n  %s\n", s.Seq, s.At.Format(time.RFC3339), s.Reason, s.Body)
			}
			return nil
		},
	}
	queue.Flags().IntVar(&limit, "limit", 100, "show at most this many set-aside events (0: all)")
	cmd.AddCommand(enroll, run, queue)
	return cmd
}
