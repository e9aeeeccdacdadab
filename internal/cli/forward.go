package cli

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/telltale-dev/telltale/client"
)

// forwardCmd: SIEM destinations (docs/INTEGRATIONS.md, "SIEM forwarding"). They are added on the
// console's Forwarding page or with the API; these commands list them and choose their streams.
func (e *env) forwardCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "forward", Short: "SIEM destinations: list them and choose the streams each takes (docs/INTEGRATIONS.md)"}
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
	cmd.AddCommand(list, streams)
	return cmd
}
