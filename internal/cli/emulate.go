package cli

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/cobra"
	boxemu "github.com/telltale-dev/telltale/internal/emulator/box"
)

func (e *env) emulateCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "emulate", Short: "Serve a built-in vendor API emulator on loopback (tests, benchmarks, demos)"}
	var o boxemu.Options
	var every time.Duration
	box := &cobra.Command{
		Use:   "box",
		Short: "Serve the Box API emulator with a simulated enterprise",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Log = slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
			emu, url, stop, err := startBoxEmulator(cmd.Context(), o)
			if err != nil {
				return err
			}
			defer stop()
			fmt.Fprintf(e.stdout, "box emulator: %s enterprise_id=900001 client_id=emu-client-id client_secret=emu-client-secret\n", url)
			if every > 0 {
				go emu.Run(cmd.Context(), every)
			}
			<-cmd.Context().Done()
			return nil
		},
	}
	box.Flags().Int64Var(&o.Seed, "seed", 1, "seed of the simulated enterprise")
	box.Flags().IntVar(&o.Users, "users", 20, "managed users")
	box.Flags().IntVar(&o.FilesPerUser, "files-per-user", 20, "files in each user's drive")
	box.Flags().IntVar(&o.FoldersPerUser, "folders-per-user", 4, "folders in each user's drive")
	box.Flags().IntVar(&o.Depth, "depth", 2, "folder nesting depth")
	box.Flags().IntVar(&o.MinFileSize, "min-file-size", 0, "smallest file content in bytes (0: emulator default)")
	box.Flags().IntVar(&o.MaxFileSize, "max-file-size", 0, "largest file content in bytes (0: emulator default)")
	box.Flags().IntVar(&o.RateLimitPerMinute, "rate-limit", 0, "requests per minute per user; 0: Box's 1000; negative: off")
	box.Flags().DurationVar(&every, "activity-every", 0, "generate activity this often (0: none)")
	cmd.AddCommand(box)
	return cmd
}
