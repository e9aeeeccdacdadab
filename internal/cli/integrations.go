package cli

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/telltale-dev/telltale/client"
)

// secretFromEnv reads a secret from the environment variable named, so that it is never on a
// command line (shell history, process list).
func (e *env) secretFromEnv(flag, name string) (string, error) {
	if name == "" {
		return "", nil
	}
	v := e.getenv(name)
	if v == "" {
		return "", fmt.Errorf("--%s names %s, which is empty or unset", flag, name)
	}
	return v, nil
}

func (e *env) integrationsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "integrations", Short: "Automated integrations: signed webhooks, Slack, ServiceNow, Jira and Okta, their deliveries (docs/INTEGRATIONS.md)"}
	list := &cobra.Command{
		Use: "list", Short: "List the integrations with their status and last error", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := e.client(cmd)
			if err != nil {
				return err
			}
			l, err := c.Integrations(cmd.Context())
			if err != nil {
				return err
			}
			t := table{headers: []string{"ID", "NAME", "KIND", "STATUS", "CONDITION", "LAST ERROR"}, value: l}
			for _, i := range l.Items {
				kind := i.Kind
				if i.Settings.Mode != "" {
					kind += "/" + i.Settings.Mode
				}
				t.rows = append(t.rows, []string{i.ID, i.Name, kind, i.Status, i.Condition, i.LastError})
			}
			return render(cmd, e.stdout, t)
		},
	}
	var in client.IntegrationInput
	var secretEnv, tokenEnv, hookEnv, passwordEnv, clientSecretEnv string
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Add an integration; secrets are read from the environment variables named by --secret-env, --token-env, --webhook-url-env, --password-env or --client-secret-env",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client(cmd)
			if err != nil {
				return err
			}
			in.Name = args[0]
			sec := client.IntegrationSecrets{}
			if sec.SigningSecret, err = e.secretFromEnv("secret-env", secretEnv); err != nil {
				return err
			}
			if sec.Token, err = e.secretFromEnv("token-env", tokenEnv); err != nil {
				return err
			}
			if sec.WebhookURL, err = e.secretFromEnv("webhook-url-env", hookEnv); err != nil {
				return err
			}
			if sec.Password, err = e.secretFromEnv("password-env", passwordEnv); err != nil {
				return err
			}
			if sec.ClientSecret, err = e.secretFromEnv("client-secret-env", clientSecretEnv); err != nil {
				return err
			}
			in.Secrets = &sec
			i, err := c.CreateIntegration(cmd.Context(), in)
			if err != nil {
				return err
			}
			t := table{headers: []string{"ID", "NAME", "KIND", "STATUS"}, value: i, rows: [][]string{{i.ID, i.Name, i.Kind, i.Status}}}
			return render(cmd, e.stdout, t)
		},
	}
	create.Flags().StringVar(&in.Kind, "kind", "webhook", "webhook, slack, servicenow, jira or okta; or an HR source: workday, bamboohr, hr_csv, hr_webhook (docs/OPERATIONS.md)")
	create.Flags().StringVar(&in.Settings.Company, "company", "", "bamboohr: the company's subdomain (acme for acme.bamboohr.com)")
	create.Flags().IntVar(&in.Settings.WindowDays, "window-days", 0, "workday: how many days back the report's termination dates reach (default 30)")
	create.Flags().StringVar(&in.Settings.URL, "url", "", "webhook: the URL deliveries are POSTed to; servicenow, jira, okta: the instance's, site's or org's base URL")
	create.Flags().StringVar(&in.Settings.Auth, "auth", "", "servicenow: basic (default), oauth_password or oauth_client_credentials")
	create.Flags().StringVar(&in.Settings.Username, "username", "", "servicenow: the integration user (itil role); workday: the integration system user")
	create.Flags().StringVar(&in.Settings.ClientID, "client-id", "", "servicenow OAuth: the client id")
	create.Flags().StringVar(&in.Settings.Email, "email", "", "jira: the account whose API token is given")
	create.Flags().StringVar(&in.Settings.Project, "project", "", "jira: the project key, e.g. SEC")
	create.Flags().StringVar(&in.Settings.IssueType, "issue-type", "", "jira: the issue type (default Task)")
	create.Flags().StringVar(&in.Settings.GroupID, "group-id", "", "okta: the group's id (00g...)")
	create.Flags().StringVar(&in.Settings.Operation, "operation", "", "okta: add (default) or remove the alert's person")
	create.Flags().StringVar(&passwordEnv, "password-env", "", "servicenow: the environment variable holding the user's password")
	create.Flags().StringVar(&clientSecretEnv, "client-secret-env", "", "servicenow OAuth: the environment variable holding the client secret")
	create.Flags().StringVar(&in.Settings.Mode, "mode", "", "slack: bot (chat.postMessage) or webhook (incoming webhook)")
	create.Flags().StringVar(&in.Settings.Channel, "channel", "", "slack bot: the channel id")
	create.Flags().StringVar(&in.Settings.APIBase, "api-base", "", "slack bot: the Web API base (default https://slack.com/api)")
	create.Flags().StringVar(&secretEnv, "secret-env", "", "webhook: the environment variable holding the signing secret")
	create.Flags().StringVar(&tokenEnv, "token-env", "", "slack bot, jira, okta: the environment variable holding the token (xoxb-, the API token)")
	create.Flags().StringVar(&hookEnv, "webhook-url-env", "", "slack webhook: the environment variable holding the incoming webhook URL")

	status := func(use string, connected bool, short string) *cobra.Command {
		return &cobra.Command{Use: use + " ID", Short: short, Args: cobra.ExactArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client(cmd)
			if err != nil {
				return err
			}
			i, err := c.SetIntegrationConnected(cmd.Context(), args[0], connected)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "integration %s is %s\n", i.ID, i.Status)
			return nil
		}}
	}
	test := &cobra.Command{Use: "test ID", Short: "Send a test delivery", Args: cobra.ExactArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
		c, err := e.client(cmd)
		if err != nil {
			return err
		}
		d, err := c.TestIntegration(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "test delivery %s queued (key %s); see `telltale integrations deliveries %s`\n", d.ID, d.IdempotencyKey, args[0])
		return nil
	}}
	var state string
	var limit int
	deliveries := &cobra.Command{Use: "deliveries ID", Short: "An integration's deliveries, newest first, with the destination's answer", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client(cmd)
			if err != nil {
				return err
			}
			l, err := c.Deliveries(cmd.Context(), args[0], state, "", limit)
			if err != nil {
				return err
			}
			t := table{headers: []string{"ID", "SUBJECT", "STATE", "ATTEMPTS", "CREATED", "ERROR", "ANSWER"}, value: l}
			for _, d := range l.Items {
				t.rows = append(t.rows, []string{d.ID, d.Subject, d.State, strconv.Itoa(d.Attempts), ts(d.CreatedAt), d.LastError, d.Response})
			}
			return render(cmd, e.stdout, t)
		}}
	deliveries.Flags().StringVar(&state, "state", "", "pending, done or dead")
	deliveries.Flags().IntVar(&limit, "limit", 100, "at most this many (1 to 500)")
	replay := &cobra.Command{Use: "replay DELIVERY_ID", Short: "Send a delivery again with its idempotency key", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client(cmd)
			if err != nil {
				return err
			}
			d, err := c.ReplayDelivery(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "delivery %s is %s again\n", d.ID, d.State)
			return nil
		}}
	cmd.AddCommand(list, create, status("connect", true, "Verify the credentials and connect"), status("disconnect", false, "Disconnect (flows stop sending to it)"),
		test, deliveries, replay)
	return cmd
}

func (e *env) flowsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "flows", Short: "Flows: alert raised (with a filter), an HR departure or a watchlist change, to integrations (docs/INTEGRATIONS.md)"}
	list := &cobra.Command{Use: "list", Short: "List the flows", Args: cobra.NoArgs, RunE: func(cmd *cobra.Command, _ []string) error {
		c, err := e.client(cmd)
		if err != nil {
			return err
		}
		l, err := c.Flows(cmd.Context())
		if err != nil {
			return err
		}
		t := table{headers: []string{"ID", "NAME", "TRIGGER", "ENABLED", "MIN SEVERITY", "RULES", "QUERY", "INTEGRATIONS"}, value: l}
		for _, f := range l.Items {
			t.rows = append(t.rows, []string{f.ID, f.Name, f.Trigger, strconv.FormatBool(f.Enabled), f.MinSeverity, strings.Join(f.RuleIDs, ","), f.Query, strings.Join(f.IntegrationIDs, ",")})
		}
		return render(cmd, e.stdout, t)
	}}
	var in client.FlowInput
	var disabled bool
	create := &cobra.Command{Use: "create NAME", Short: "Add a flow from a trigger (alert raised, HR departure, watchlist change) to integrations", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client(cmd)
			if err != nil {
				return err
			}
			in.Name = args[0]
			enabled := !disabled
			in.Enabled = &enabled
			f, err := c.CreateFlow(cmd.Context(), in)
			if err != nil {
				return err
			}
			t := table{headers: []string{"ID", "NAME", "INTEGRATIONS"}, value: f, rows: [][]string{{f.ID, f.Name, strings.Join(f.IntegrationIDs, ",")}}}
			return render(cmd, e.stdout, t)
		}}
	create.Flags().StringVar(&in.Trigger, "trigger", "", "alert.raised (default), hr.departure (an HR source reports a departure) or watchlist.changed (any change an HR source makes)")
	create.Flags().StringVar(&in.MinSeverity, "min-severity", "", "only alerts of this severity or higher (low, moderate, high, critical)")
	create.Flags().StringSliceVar(&in.RuleIDs, "rule", nil, "only alerts of these rule ids (repeat or comma-separate)")
	create.Flags().StringVar(&in.Query, "query", "", "only alerts with an event this search query matches")
	create.Flags().StringSliceVar(&in.IntegrationIDs, "integration", nil, "the integration ids to deliver to (required)")
	create.Flags().BoolVar(&disabled, "disabled", false, "create it disabled")
	test := &cobra.Command{Use: "test ID", Short: "Send a test delivery to each of the flow's integrations", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client(cmd)
			if err != nil {
				return err
			}
			l, err := c.TestFlow(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%d test deliveries queued\n", len(l.Items))
			return nil
		}}
	cmd.AddCommand(list, create, test)
	return cmd
}
