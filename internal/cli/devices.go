package cli

import (
	"net/url"
	"strconv"

	"github.com/spf13/cobra"
	"github.com/telltale-dev/telltale/client"
)

// devicesCmd is `telltale devices` and `telltale deployment-secrets` (issue 18, R8.2).
func (e *env) devicesCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "devices", Short: "Enrolled endpoint agents: list with outdated and silent flags, deactivate, reactivate"}
	var q struct{ os, version, person, host, state, flag, sort, order string }
	var limit, offset int
	list := &cobra.Command{
		Use: "list", Short: "List devices", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := e.client(cmd)
			if err != nil {
				return err
			}
			v := url.Values{}
			for k, val := range map[string]string{"os": q.os, "version": q.version, "person": q.person, "host": q.host, "state": q.state, "flag": q.flag, "sort": q.sort, "order": q.order} {
				if val != "" {
					v.Set(k, val)
				}
			}
			v.Set("limit", strconv.Itoa(limit))
			v.Set("offset", strconv.Itoa(offset))
			l, err := c.Devices(cmd.Context(), v)
			if err != nil {
				return err
			}
			t := table{headers: []string{"id", "host", "person", "os", "version", "last_checkin", "state", "flags"}, value: l}
			for _, d := range l.Items {
				last, flags := "", ""
				if d.LastCheckInAt != nil {
					last = ts(*d.LastCheckInAt)
				}
				if d.Outdated {
					flags = "outdated"
				}
				if d.Silent {
					flags += " silent"
				}
				person := d.Person
				if person == "" {
					person = d.UserName
				}
				t.rows = append(t.rows, []string{d.ID, d.HostName, person, d.OS, d.AgentVersion, last, d.State, flags})
			}
			return render(cmd, e.stdout, t)
		},
	}
	f := list.Flags()
	f.StringVar(&q.os, "os", "", "operating system (linux, darwin, windows)")
	f.StringVar(&q.version, "version", "", "agent version")
	f.StringVar(&q.person, "person", "", "the person's address")
	f.StringVar(&q.host, "host", "", "part of the host name")
	f.StringVar(&q.state, "state", "", "active or inactive")
	f.StringVar(&q.flag, "flag", "", "outdated or silent")
	f.StringVar(&q.sort, "sort", "", "last_checkin (default), os, version, person or host")
	f.StringVar(&q.order, "order", "", "asc (default) or desc")
	f.IntVar(&limit, "limit", 100, "devices per page (1 to 1000)")
	f.IntVar(&offset, "offset", 0, "the next value of the previous page")
	action := func(verb, short string) *cobra.Command {
		return &cobra.Command{
			Use: verb + " ID", Short: short, Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				c, err := e.client(cmd)
				if err != nil {
					return err
				}
				d, err := c.DeviceAction(cmd.Context(), args[0], verb)
				if err != nil {
					return err
				}
				return render(cmd, e.stdout, table{headers: []string{"id", "host", "state"}, rows: [][]string{{d.ID, d.HostName, d.State}}, value: d})
			},
		}
	}
	cmd.AddCommand(list, action("deactivate", "Deactivate a device (refused while its person is under legal hold or in an open case)"), action("reactivate", "Reactivate a device"))
	return cmd
}

func secretRows(ss ...client.DeploymentSecret) [][]string {
	var rows [][]string
	for _, s := range ss {
		rows = append(rows, []string{s.ID, s.Name, s.Prefix, s.State, ts(s.ExpiresAt), strconv.FormatInt(s.Devices, 10)})
	}
	return rows
}

var secretHeaders = []string{"id", "name", "prefix", "state", "expires", "devices"}

func (e *env) secretsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "deployment-secrets", Short: "Deployment secrets endpoint agents enrol with (admins)"}
	list := &cobra.Command{
		Use: "list", Short: "List deployment secrets (never the secrets)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := e.client(cmd)
			if err != nil {
				return err
			}
			l, err := c.DeploymentSecrets(cmd.Context())
			if err != nil {
				return err
			}
			return render(cmd, e.stdout, table{headers: secretHeaders, rows: secretRows(l.Items...), value: l})
		},
	}
	var expiresIn string
	create := &cobra.Command{
		Use: "create NAME --expires-in 30d", Short: "Create a deployment secret; it is printed this once", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client(cmd)
			if err != nil {
				return err
			}
			s, err := c.CreateDeploymentSecret(cmd.Context(), client.DeploymentSecretInput{Name: args[0], ExpiresIn: expiresIn})
			if err != nil {
				return err
			}
			return render(cmd, e.stdout, table{headers: append(secretHeaders, "secret"), rows: [][]string{append(secretRows(s)[0], s.Secret)}, value: s})
		},
	}
	create.Flags().StringVar(&expiresIn, "expires-in", "30d", "how long it enrols agents (at most 366d)")
	action := func(verb, short string, withExpiry bool) *cobra.Command {
		var in string
		c := &cobra.Command{
			Use: verb + " ID", Short: short, Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				c, err := e.client(cmd)
				if err != nil {
					return err
				}
				var body *client.DeploymentSecretExpiry
				if in != "" {
					body = &client.DeploymentSecretExpiry{ExpiresIn: in}
				}
				s, err := c.DeploymentSecretAction(cmd.Context(), args[0], verb, body)
				if err != nil {
					return err
				}
				return render(cmd, e.stdout, table{headers: secretHeaders, rows: secretRows(s), value: s})
			},
		}
		if withExpiry {
			c.Flags().StringVar(&in, "expires-in", "", "the new expiry from now, such as 60d")
		}
		return c
	}
	cmd.AddCommand(list, create, action("extend", "Set a later expiry", true), action("revoke", "Revoke: no enrolment with it, and its devices' check-ins are refused", false),
		action("reactivate", "Lift a revocation (an expired secret needs --expires-in)", true))
	return cmd
}
