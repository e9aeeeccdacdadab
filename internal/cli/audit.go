package cli

import (
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/spf13/cobra"
	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/app"
	"github.com/telltale-dev/telltale/internal/config"
	"github.com/telltale-dev/telltale/internal/store"
)

// auditVerifyCmd checks the audit log's hash chain, through the API or, with --offline, in the
// database itself (the data dir, or --database), which needs no running server and no token.
func (e *env) auditVerifyCmd() *cobra.Command {
	var offline bool
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check the audit log's hash chain: OK with the count, or the first record where it breaks",
		Long: `Check the audit log's hash chain from its first record to its last. Every record is sealed
with the SHA-256 of its fields and the seal of the record before it (docs/OPERATIONS.md, "Audit
log", gives the encoding), so a record changed, deleted, moved or added around Telltale breaks the
chain. Prints OK with the number of records and the last one's id and hash (note them: a later check
must still find that record with that hash), or the first record where the chain breaks and what
differs, and then exits with status 1.

By default it asks the server (--server, --token; admins only). With --offline it opens the
database itself: the SQLite database in --data-dir, or the PostgreSQL of --database.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var v client.AuditVerification
			if offline {
				cfg, err := config.Load(cmd.Flags(), e.getenv)
				if err != nil {
					return err
				}
				if !cfg.UsesPostgres() {
					if _, err := os.Stat(filepath.Join(cfg.DataDir, "telltale.db")); err != nil {
						return fmt.Errorf("no Telltale database in %s (%v): pass the server's --data-dir, or --database for PostgreSQL", cfg.DataDir, err)
					}
				}
				st, err := app.OpenStore(cmd.Context(), cfg)
				if err != nil {
					return err
				}
				defer st.Close()
				sv, err := store.VerifyAudit(cmd.Context(), st)
				if err != nil {
					return err
				}
				v = client.AuditVerification{OK: sv.OK, Records: sv.Count, HeadHash: hex.EncodeToString(sv.HeadHash)}
				if sv.HeadID > 0 {
					v.HeadID = strconv.FormatInt(sv.HeadID, 10)
				}
				if b := sv.Break; b != nil {
					v.Break = &client.AuditBreak{Position: b.Seq, Reason: b.Reason}
					if b.ID != 0 {
						v.Break.ID = strconv.FormatInt(b.ID, 10)
					}
				}
			} else {
				c, err := e.client(cmd)
				if err != nil {
					return err
				}
				if v, err = c.VerifyAudit(cmd.Context()); err != nil {
					return err
				}
			}
			if err := printVerification(cmd, e.stdout, v); err != nil {
				return err
			}
			if !v.OK {
				fmt.Fprintln(e.stderr, "telltale: the audit log's hash chain is broken (see above)")
				return exitError(1)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&offline, "offline", false, "open the database instead of asking a server")
	cmd.Flags().String("data-dir", "./data", "with --offline: the server's data directory (env TELLTALE_DATA_DIR)")
	cmd.Flags().String("database", "", "with --offline: a postgres:// URL instead of the data dir's SQLite (env TELLTALE_DATABASE)")
	cmd.Flags().String("config", "", "with --offline: the server's config file of KEY=value lines")
	return cmd
}

func printVerification(cmd *cobra.Command, w io.Writer, v client.AuditVerification) error {
	t := table{headers: []string{"ok", "records", "head_id", "head_hash", "break_id", "break_position", "reason"}, value: v}
	row := []string{strconv.FormatBool(v.OK), strconv.FormatInt(v.Records, 10), v.HeadID, v.HeadHash, "", "", ""}
	if b := v.Break; b != nil {
		row[4], row[5], row[6] = b.ID, strconv.FormatInt(b.Position, 10), b.Reason
	}
	t.rows = [][]string{row}
	if f, _ := outputFormat(cmd); f != "table" {
		return render(cmd, w, t)
	}
	if v.OK {
		_, err := fmt.Fprintf(w, "OK: %d audit records verified; the last is record %s with hash %s\n", v.Records, v.HeadID, v.HeadHash)
		return err
	}
	where := "at the end of the log"
	if v.Break.ID != "" {
		where = fmt.Sprintf("at record %s (position %d)", v.Break.ID, v.Break.Position)
	}
	_, err := fmt.Fprintf(w, "BROKEN %s, after %d records that verify:\n  %s\n", where, v.Records, v.Break.Reason)
	return err
}

// auditExportCmd streams the audit log's entries (the list's filters) as CSV or JSON lines.
func (e *env) auditExportCmd() *cobra.Command {
	var q client.AuditQuery
	var since, until, format, out string
	cmd := &cobra.Command{
		Use: "export", Short: "Write every audit entry matching the filters, newest first, as CSV or JSON lines", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "csv" && format != "jsonl" {
				return fmt.Errorf("--format %q: want csv or jsonl", format)
			}
			var err error
			if since != "" {
				if q.Since, err = parseTime(since); err != nil {
					return fmt.Errorf("--since: %w", err)
				}
			}
			if until != "" {
				if q.Until, err = parseTime(until); err != nil {
					return fmt.Errorf("--until: %w", err)
				}
			}
			c, err := e.client(cmd)
			if err != nil {
				return err
			}
			body, err := c.ExportAudit(cmd.Context(), q, format)
			if err != nil {
				return err
			}
			defer body.Close()
			w := e.stdout
			if out != "" && out != "-" {
				f, err := os.Create(out)
				if err != nil {
					return err
				}
				defer f.Close()
				w = f
			}
			if _, err := io.Copy(w, body); err != nil {
				return fmt.Errorf("the export stopped before its end: %w", err)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&q.Actor, "actor", "", "only this user")
	cmd.Flags().StringVar(&q.Action, "action", "", "only actions starting with this, e.g. connection.")
	cmd.Flags().StringVar(&q.Target, "target", "", "only this target, e.g. connection/7")
	cmd.Flags().StringVar(&since, "since", "", "only entries at or after this time (RFC 3339 or YYYY-MM-DD)")
	cmd.Flags().StringVar(&until, "until", "", "only entries before this time (RFC 3339 or YYYY-MM-DD)")
	cmd.Flags().StringVar(&format, "format", "csv", "csv or jsonl")
	cmd.Flags().StringVar(&out, "out", "", "write to this file instead of standard output")
	return cmd
}
