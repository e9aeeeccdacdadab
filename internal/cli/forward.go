package cli

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/telltale-dev/telltale/client"
)

// forwardCmd: SIEM destinations (docs/INTEGRATIONS.md, "SIEM forwarding"), as on the console's
// Forwarding page: add, list, test, pause, resume, delete, and choose their streams.
func (e *env) forwardCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "forward", Short: "SIEM destinations: add, list, test, pause, resume, delete, and choose the streams each takes (docs/INTEGRATIONS.md)"}
	list := &cobra.Command{Use: "list", Short: "List the SIEM destinations with their state, streams and what each stream sent", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := e.client(cmd)
			if err != nil {
				return err
			}
			l, err := c.ForwardDestinations(cmd.Context())
			if err != nil {
				return err
			}
			t := table{headers: []string{"ID", "NAME", "KIND", "FORMAT", "STATE", "STREAMS", "SENT"}, value: l}
			for _, d := range l.Items {
				streams := d.Settings.Streams
				if len(streams) == 0 {
					streams = []string{"events"}
				}
				sent := []string{"events " + strconv.FormatInt(d.Sent, 10)}
				for _, s := range streams {
					if p, ok := d.Streams[s]; ok {
						sent = append(sent, s+" "+strconv.FormatInt(p.Sent, 10))
					}
				}
				t.rows = append(t.rows, []string{d.ID, d.Name, d.Kind, d.Format, d.State, strings.Join(streams, ","), strings.Join(sent, ", ")})
			}
			return render(cmd, e.stdout, t)
		}}
	streams := &cobra.Command{Use: "streams ID STREAM...", Short: "Set the streams a destination takes: events, alerts, audit, devices (device health), connections (connection health)",
		Args: cobra.MinimumNArgs(2), RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client(cmd)
			if err != nil {
				return err
			}
			d, err := c.ForwardDestination(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			var names []string
			for _, a := range args[1:] {
				for _, s := range strings.Split(a, ",") {
					if s = strings.TrimSpace(s); s != "" {
						names = append(names, s)
					}
				}
			}
			st := d.Settings
			st.Streams = names
			out, err := c.UpdateForwardDestination(cmd.Context(), args[0], client.ForwardInput{Name: d.Name, Format: d.Format, Settings: st, Version: d.Version})
			if err != nil {
				return err
			}
			got := out.Settings.Streams
			if len(got) == 0 {
				got = []string{"events"}
			}
			fmt.Fprintf(e.stdout, "destination %s (%s) takes: %s\n", out.ID, out.Name, strings.Join(got, ", "))
			return nil
		}}
	cmd.AddCommand(list, streams, e.forwardAddCmd())
	for _, a := range []struct {
		use, short string
		do         func(c *client.Client, cmd *cobra.Command, id string) (string, error)
	}{
		{"test ID", "Check that the destination answers and accepts its token, without sending an event",
			func(c *client.Client, cmd *cobra.Command, id string) (string, error) {
				r, err := c.TestForwardDestination(cmd.Context(), id)
				switch {
				case err != nil:
					return "", err
				case !r.OK:
					return "", fmt.Errorf("destination %s failed its test: %s", id, r.Error)
				}
				return "destination " + id + " answers", nil
			}},
		{"pause ID", "Pause a destination: its events wait in the store from its position",
			func(c *client.Client, cmd *cobra.Command, id string) (string, error) {
				d, err := c.PauseForwardDestination(cmd.Context(), id)
				return "destination " + d.ID + " (" + d.Name + ") paused", err
			}},
		{"resume ID", "Resume a paused destination from its position",
			func(c *client.Client, cmd *cobra.Command, id string) (string, error) {
				d, err := c.ResumeForwardDestination(cmd.Context(), id)
				return "destination " + d.ID + " (" + d.Name + ") resumed", err
			}},
		{"delete ID", "Delete a destination; events not yet sent to it are not sent",
			func(c *client.Client, cmd *cobra.Command, id string) (string, error) {
				return "destination " + id + " deleted", c.DeleteForwardDestination(cmd.Context(), id)
			}},
	} {
		cmd.AddCommand(&cobra.Command{Use: a.use, Short: a.short, Args: cobra.ExactArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client(cmd)
			if err != nil {
				return err
			}
			msg, err := a.do(c, cmd, args[0])
			if err != nil {
				return err
			}
			fmt.Fprintln(e.stdout, msg)
			return nil
		}})
	}
	return cmd
}

// forwardAddCmd adds a destination. The HEC token is read from the environment variable that
// --token-env names, never from the command line.
func (e *env) forwardAddCmd() *cobra.Command {
	var in client.ForwardInput
	var tokenEnv, caFile, streams string
	add := &cobra.Command{Use: "add NAME", Short: "Add a SIEM destination: Splunk HEC (--url, --token-env) or syslog (--address); its address must pass the SSRF guard",
		Args: cobra.ExactArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
			in.Name = args[0]
			tok, err := e.secretFromEnv("token-env", tokenEnv)
			if err != nil {
				return err
			}
			if tok != "" {
				in.Secrets = &client.ForwardSecrets{Token: tok}
			}
			if caFile != "" {
				b, err := os.ReadFile(caFile)
				if err != nil {
					return fmt.Errorf("--ca-file: %w", err)
				}
				in.Settings.CAPEM = string(b)
			}
			for _, s := range strings.Split(streams, ",") {
				if s = strings.TrimSpace(s); s != "" {
					in.Settings.Streams = append(in.Settings.Streams, s)
				}
			}
			c, err := e.client(cmd)
			if err != nil {
				return err
			}
			d, err := c.CreateForwardDestination(cmd.Context(), in)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "destination %s (%s) added: %s, %s\n", d.ID, d.Name, d.Kind, d.Format)
			return nil
		}}
	f := add.Flags()
	f.StringVar(&in.Kind, "kind", "syslog", "splunk_hec or syslog")
	f.StringVar(&in.Format, "format", "ocsf", "ocsf (OCSF 1.8.0), json (Telltale's event schema) or cef")
	f.StringVar(&in.Settings.URL, "url", "", "splunk_hec: the collector's base URL, e.g. https://splunk.example.com:8088")
	f.StringVar(&tokenEnv, "token-env", "", "splunk_hec: the environment variable holding the HEC token")
	f.BoolVar(&in.Settings.Acks, "acks", false, "splunk_hec: indexer acknowledgement (a batch counts once acknowledged; recommended)")
	f.StringVar(&in.Settings.Index, "index", "", "splunk_hec: the index")
	f.StringVar(&in.Settings.Sourcetype, "sourcetype", "", "splunk_hec: the sourcetype (default telltale:<record class>)")
	f.StringVar(&in.Settings.Address, "address", "", "syslog: host:port")
	f.StringVar(&in.Settings.Transport, "transport", "", "syslog: tls (default), tcp or udp")
	f.StringVar(&in.Settings.ServerName, "server-name", "", "syslog tls: the name to verify (default: the address's host)")
	f.StringVar(&caFile, "ca-file", "", "syslog tls: a PEM file of extra CA certificates to trust")
	f.StringVar(&in.Settings.Query, "query", "", "only events this search query matches (docs/SEARCH.md)")
	f.StringVar(&streams, "streams", "", "what it takes, comma-separated: events, alerts, audit, devices, connections (default: events)")
	f.BoolVar(&in.FromStart, "from-start", false, "send the events already stored too (default: from now on)")
	return add
}
