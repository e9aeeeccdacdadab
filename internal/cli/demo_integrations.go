package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/telltale-dev/telltale/internal/app"
	bambooemu "github.com/telltale-dev/telltale/internal/emulator/bamboohr"
	snemu "github.com/telltale-dev/telltale/internal/emulator/servicenow"
	slackemu "github.com/telltale-dev/telltale/internal/emulator/slack"
	syslogemu "github.com/telltale-dev/telltale/internal/emulator/syslog"
	"github.com/telltale-dev/telltale/internal/forward"
	"github.com/telltale-dev/telltale/internal/integration"
)

// The demo's integrations (issue 17, "Demo mode"): the ServiceNow and Slack emulators and a syslog
// receiver run on loopback; the demo adds a ServiceNow integration (Connected), a Slack bot
// integration, a flow from every alert to ServiceNow and from high and critical alerts to Slack, and
// a syslog forwarder (CEF over TCP), so a newcomer sees tickets and forwarded events appear
// without setup. Each is added once per data dir (found again by name) and, on a restarted demo,
// pointed at this run's emulators (new ports; the emulators keep nothing between runs).
const (
	demoServiceNowName = "ServiceNow (demo emulator)"
	demoSlackName      = "Slack #security-alerts (demo emulator)"
	demoFlowName       = "Every alert to ServiceNow"
	demoSlackFlowName  = "High and critical alerts to Slack"
	demoSyslogName     = "Syslog receiver (demo, CEF over TCP)"

	demoServiceNowUser     = "telltale.integration"
	demoServiceNowPassword = "demo-servicenow-password"
	demoSlackToken         = "xoxb-demo-telltale-bot"
	demoSlackChannel       = "C0SECALERTS"
)

// demoIntegrations are the emulators the demo's integrations talk to.
type demoIntegrations struct {
	ServiceNow    *snemu.Server
	ServiceNowURL string
	Slack         *slackemu.Server
	SlackURL      string
	Syslog        *syslogemu.Receiver
	Bamboo        *bambooemu.Server
	BambooURL     string
	stop          []func()
}

// Close stops the emulators.
func (d *demoIntegrations) Close() {
	for _, f := range d.stop {
		f()
	}
}

// startDemoIntegrations starts the ServiceNow and Slack emulators and the syslog receiver on loopback.
func startDemoIntegrations(ctx context.Context) (*demoIntegrations, error) {
	d := &demoIntegrations{
		ServiceNow: snemu.New(snemu.Options{Users: map[string]string{demoServiceNowUser: demoServiceNowPassword}}),
		Slack:      slackemu.New(demoSlackToken, slackemu.Channel{ID: demoSlackChannel, Member: true}),
	}
	serve := func(h http.Handler) (string, error) { return d.serve(ctx, h) }
	var err error
	if d.ServiceNowURL, err = serve(d.ServiceNow); err != nil {
		d.Close()
		return nil, err
	}
	if d.SlackURL, err = serve(d.Slack); err != nil {
		d.Close()
		return nil, err
	}
	if d.Syslog, err = syslogemu.Listen(nil); err != nil {
		d.Close()
		return nil, err
	}
	d.Syslog.SetKeep(1000) // a demo runs for hours: keep the last thousand messages, count the rest
	d.stop = append(d.stop, func() { d.Syslog.Close() })
	if err := startDemoBamboo(ctx, d); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// serve serves h on a loopback port until Close.
func (d *demoIntegrations) serve(ctx context.Context, h http.Handler) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(slog.Default().Handler(), slog.LevelWarn)}
	go srv.Serve(ln)
	d.stop = append(d.stop, func() {
		c, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		srv.Shutdown(c)
	})
	return "http://" + ln.Addr().String(), nil
}

// addDemoIntegrations adds (or, on a restarted demo, repoints) the demo's integrations, flows and
// syslog forwarder. The integrations are connected through the same credential check an admin's
// "Connect" runs.
func addDemoIntegrations(ctx context.Context, a *app.App, d *demoIntegrations) error {
	const actor = "demo"
	sn := integration.Input{Kind: integration.KindServiceNow, Name: demoServiceNowName,
		Settings: integration.Settings{URL: d.ServiceNowURL, Auth: integration.AuthBasic, Username: demoServiceNowUser},
		Secrets:  &integration.Secrets{Password: demoServiceNowPassword}}
	sl := integration.Input{Kind: integration.KindSlack, Name: demoSlackName,
		Settings: integration.Settings{Mode: integration.SlackBot, Channel: demoSlackChannel, APIBase: d.SlackURL + "/api"},
		Secrets:  &integration.Secrets{Token: demoSlackToken}}
	have, err := a.Integrations.List(ctx)
	if err != nil {
		return err
	}
	ids := map[string]int64{}
	for _, in := range []integration.Input{sn, sl} {
		var id int64
		for _, v := range have {
			if v.Name == in.Name && v.Kind == in.Kind {
				up, err := a.Integrations.Update(ctx, v.ID, v.Version, in)
				if err != nil {
					return fmt.Errorf("demo: pointing %q at this run's emulator: %w", in.Name, err)
				}
				id = up.ID
			}
		}
		if id == 0 {
			v, err := a.Integrations.Create(ctx, in, actor)
			if err != nil {
				return fmt.Errorf("demo: adding %q: %w", in.Name, err)
			}
			id = v.ID
		}
		if _, err := a.Integrations.SetStatus(ctx, id, true, a.Deliveries.Verify); err != nil {
			return fmt.Errorf("demo: connecting %q: %w", in.Name, err)
		}
		ids[in.Name] = id
	}
	flows, err := a.Store.ListFlows(ctx)
	if err != nil {
		return err
	}
	for _, f := range []integration.FlowInput{
		{Name: demoFlowName, Enabled: true, IntegrationIDs: []int64{ids[demoServiceNowName]}},
		{Name: demoSlackFlowName, Enabled: true, MinSeverity: "high", IntegrationIDs: []int64{ids[demoSlackName]}},
	} {
		exists := false
		for _, g := range flows {
			exists = exists || g.Name == f.Name
		}
		if !exists {
			if _, err := a.Integrations.CreateFlow(ctx, f, actor); err != nil {
				return fmt.Errorf("demo: adding the flow %q: %w", f.Name, err)
			}
		}
	}
	fwd := forward.Input{Name: demoSyslogName, Kind: forward.KindSyslog, Format: "cef",
		Settings: forward.Settings{Address: d.Syslog.TCPAddr(), Transport: "tcp", Streams: forward.Streams()}}
	dests, err := a.Forward.List(ctx)
	if err != nil {
		return err
	}
	for _, v := range dests {
		if v.Name == demoSyslogName {
			if _, err := a.Forward.Update(ctx, v.ID, v.Version, fwd); err != nil {
				return fmt.Errorf("demo: pointing %q at this run's receiver: %w", demoSyslogName, err)
			}
			return nil
		}
	}
	fwd.FromStart = true
	if _, err := a.Forward.Create(ctx, fwd, actor); err != nil {
		return fmt.Errorf("demo: adding %q: %w", demoSyslogName, err)
	}
	return nil
}
