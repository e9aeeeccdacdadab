package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"github.com/telltale-dev/telltale/client"
)

func (e *env) connectionsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "connections", Aliases: []string{"connection", "conn"}, Short: "Manage data connections"}
	connTable := func(cs []client.Connection, value any) table {
		t := table{headers: []string{"id", "name", "service", "type", "status", "scope", "drives", "error"}, value: value}
		for _, c := range cs {
			drives := ""
			if n := c.Drives; n != nil {
				drives = fmt.Sprintf("%d/%d indexed", n.Indexed, n.Total)
			} else if n := c.Mailboxes; n != nil {
				drives = fmt.Sprintf("%d/%d registered", n.Indexed, n.Total)
			}
			t.rows = append(t.rows, []string{c.ID, c.Name, c.Service, c.ServiceType, c.StatusLabel, c.ScopeKind, drives, c.ErrorReason})
		}
		return t
	}
	list := &cobra.Command{
		Use: "list", Short: "List data connections", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := e.client(cmd)
			if err != nil {
				return err
			}
			cs, err := c.Connections(cmd.Context())
			if err != nil {
				return err
			}
			return render(cmd, e.stdout, connTable(cs, cs))
		},
	}
	one := func(use, short string, call func(cmd *cobra.Command, c *client.Client, id string) (client.Connection, error)) *cobra.Command {
		return &cobra.Command{
			Use: use + " ID", Short: short, Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				c, err := e.client(cmd)
				if err != nil {
					return err
				}
				conn, err := call(cmd, c, args[0])
				if err != nil {
					return err
				}
				return render(cmd, e.stdout, connTable([]client.Connection{conn}, conn))
			},
		}
	}
	get := one("get", "Show one data connection", func(cmd *cobra.Command, c *client.Client, id string) (client.Connection, error) {
		return c.Connection(cmd.Context(), id)
	})
	deauth := one("deauthorize", "Deauthorize a connection: collection stops; its data stays searchable for the retention period",
		func(cmd *cobra.Command, c *client.Client, id string) (client.Connection, error) {
			return c.Deauthorize(cmd.Context(), id)
		})
	var scopeKind, scopeFile string
	resume := one("resume", "Resume monitoring a deauthorized connection (optionally with a new scope)",
		func(cmd *cobra.Command, c *client.Client, id string) (client.Connection, error) {
			var r client.ResumeRequest
			if scopeKind != "" {
				r.Scope = &client.ScopeInput{Kind: scopeKind}
				if scopeFile != "" {
					b, err := os.ReadFile(scopeFile)
					if err != nil {
						return client.Connection{}, err
					}
					r.Scope.CSV = string(b)
				}
			}
			return c.Resume(cmd.Context(), id, r)
		})
	resume.Flags().StringVar(&scopeKind, "scope", "", "new scope: all, users or groups (default: keep the current scope)")
	resume.Flags().StringVar(&scopeFile, "scope-file", "", "CSV of users (Email column) or groups (Group Name column) for --scope users|groups")

	history := &cobra.Command{
		Use: "history ID", Short: "Show a connection's status history", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client(cmd)
			if err != nil {
				return err
			}
			hs, err := c.StatusHistory(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			t := table{headers: []string{"at", "from", "to", "actor", "reason"}, value: hs}
			for _, h := range hs {
				t.rows = append(t.rows, []string{ts(h.At), h.FromLabel, h.ToLabel, h.Actor, h.Reason})
			}
			return render(cmd, e.stdout, t)
		},
	}
	cmd.AddCommand(list, get, deauth, resume, history, e.scopeCmd(), e.importCmd())
	return cmd
}

func (e *env) scopeCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "scope", Short: "Upload or download a connection's scope CSV"}
	var kind string
	upload := &cobra.Command{
		Use:   "upload ID FILE",
		Short: "Replace the scope of a deauthorized connection with a CSV (then resume it)",
		Long: `Replace the scope of a deauthorized connection. Users: a column headed Email or Email Address.
Groups: a column headed Group Name or Groups. At most 1,000 entries. A bad file changes nothing and
every bad row is named. Use - for standard input.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client(cmd)
			if err != nil {
				return err
			}
			in, closeIn, err := e.input(args[1])
			if err != nil {
				return err
			}
			defer closeIn()
			conn, err := c.UploadScope(cmd.Context(), args[0], kind, in)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "scope of %q is now %s; resume the connection to apply it\n", conn.Name, conn.ScopeKind)
			return nil
		},
	}
	upload.Flags().StringVar(&kind, "kind", "users", "what the CSV lists: users or groups")
	download := &cobra.Command{
		Use: "download ID", Short: "Write the connection's scope as CSV to standard output", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client(cmd)
			if err != nil {
				return err
			}
			return c.DownloadScope(cmd.Context(), args[0], e.stdout)
		},
	}
	cmd.AddCommand(upload, download)
	return cmd
}

func (e *env) auditCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "Read the audit log"}
	var q client.AuditQuery
	var since, until string
	list := &cobra.Command{
		Use: "list", Short: "List audit log entries, newest first", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := e.client(cmd)
			if err != nil {
				return err
			}
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
			l, err := c.Audit(cmd.Context(), q)
			if err != nil {
				return err
			}
			t := table{headers: []string{"id", "at", "actor", "action", "target", "client_ip", "outcome", "details"}, value: l.Items}
			for _, a := range l.Items {
				var details bytes.Buffer
				if len(a.Details) > 0 && json.Compact(&details, a.Details) != nil {
					details.Reset()
					details.Write(a.Details)
				}
				t.rows = append(t.rows, []string{a.ID, ts(a.At), a.Actor, a.Action, a.Target, a.ClientIP, a.Outcome, details.String()})
			}
			return render(cmd, e.stdout, t)
		},
	}
	list.Flags().StringVar(&q.Actor, "actor", "", "only this user")
	list.Flags().StringVar(&q.Action, "action", "", "only actions starting with this, e.g. connection.")
	list.Flags().StringVar(&q.Target, "target", "", "only this target, e.g. connection/7")
	list.Flags().StringVar(&since, "since", "", "only entries at or after this time (RFC 3339 or YYYY-MM-DD)")
	list.Flags().StringVar(&until, "until", "", "only entries before this time (RFC 3339 or YYYY-MM-DD)")
	list.Flags().StringVar(&q.Before, "before", "", "page: entries older than this id")
	list.Flags().IntVar(&q.Limit, "limit", 100, "at most this many entries (1 to 1000)")
	cmd.AddCommand(list, e.auditVerifyCmd(), e.auditExportCmd())
	return cmd
}

func (e *env) tokensCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "tokens", Short: "Manage API tokens"}
	var name, user string
	var days int
	var scopes []string
	create := &cobra.Command{
		Use: "create", Short: "Create an API token (for yourself, or with --user for a service account); it is shown once", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := e.client(cmd)
			if err != nil {
				return err
			}
			t, err := c.CreateToken(cmd.Context(), user, client.NewToken{Name: name, ExpiresInDays: days, Scopes: scopes})
			if err != nil {
				return err
			}
			if f, _ := outputFormat(cmd); f == "json" {
				return render(cmd, e.stdout, table{value: t})
			}
			fmt.Fprintln(e.stdout, t.Secret)
			return nil
		},
	}
	create.Flags().StringVar(&name, "name", "cli", "a name to tell the token apart")
	create.Flags().StringVar(&user, "user", "", "user id to create the token for (admins)")
	create.Flags().IntVar(&days, "expires-in-days", 0, "days until the token expires (0: never)")
	create.Flags().StringSliceVar(&scopes, "scope", nil, "limit the token to an API area, as area:read or area:write (repeat or comma-separate; e.g. file-events:read,watchlists:write; default: all its role allows)")
	cmd.AddCommand(create)
	return cmd
}

// input opens a file named on the command line, or standard input for "-".
func (e *env) input(name string) (io.Reader, func(), error) {
	if name == "-" {
		return e.stdin, func() {}, nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, nil, err
	}
	return f, func() { f.Close() }, nil
}
