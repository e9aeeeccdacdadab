package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"github.com/telltale-dev/telltale/internal/app"
	"github.com/telltale-dev/telltale/internal/config"
	"github.com/telltale-dev/telltale/internal/connection"
	"github.com/telltale-dev/telltale/internal/device"
	boxemu "github.com/telltale-dev/telltale/internal/emulator/box"
	googleemu "github.com/telltale-dev/telltale/internal/emulator/google"
	msemu "github.com/telltale-dev/telltale/internal/emulator/microsoft"
	"github.com/telltale-dev/telltale/internal/settings"
	"github.com/telltale-dev/telltale/internal/store"
)

// demoConnection and demoGoogleConnection are the display names of the demo's connections.
const (
	demoConnection       = "Box (demo emulator)"
	demoGoogleConnection = "Google Drive (demo emulator)"
	demoGmailConnection  = "Gmail (demo emulator)"
	// the Microsoft 365 ones
	demoOneDriveConnection = "OneDrive (demo emulator)"
	demoM365MailConnection = "Microsoft 365 mail (demo emulator)"
)

func (e *env) demoCmd() *cobra.Command {
	var users, googleUsers, msUsers int
	var every time.Duration
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run Telltale on SQLite against built-in Box, Google Workspace and Microsoft 365 emulators with simulated organizations",
		Long: `Run a Telltale node on embedded SQLite (in --data-dir, default a new temporary directory) together
with the built-in Box, Google Workspace and Microsoft 365 API emulators on loopback. Simulated
organizations produce activity, Box, Google Drive, Gmail, OneDrive and Microsoft 365 mail
connections to them are added, and events start arriving within seconds. Prints the console URL and the demo login. Nothing leaves this machine.

Unless --sso-providers is given, a demo OpenID provider and a demo SAML IdP run on loopback too:
the sign-in page offers "Sign in with the demo IdP" beside the local admin, for the demo analyst
it prints.

The ServiceNow and Slack emulators and a syslog receiver run on loopback too: a ServiceNow
integration gets an incident for every alert, Slack a message for high and critical ones, and the
syslog receiver every event as CEF, so deliveries and forwarding show without setup.

Demo mode always lets vendor URLs point at loopback, whatever --allow-loopback-vendors says: its
emulator serves on loopback. Use "telltale serve" for anything but a demo.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cmd.Flags(), e.getenv)
			if err != nil {
				return err
			}
			if !cmd.Flags().Changed("data-dir") && e.getenv("TELLTALE_DATA_DIR") == "" {
				if cfg.DataDir, err = os.MkdirTemp("", "telltale-demo-"); err != nil {
					return err
				}
			}
			if !cmd.Flags().Changed("poll-interval") && e.getenv("TELLTALE_POLL_INTERVAL") == "" {
				cfg.PollInterval = 5 * time.Second
			}
			if cfg.DiscoveryEvery == 0 {
				cfg.DiscoveryEvery = time.Minute
			}
			cfg.AllowLoopback = true
			fmt.Fprintf(e.stderr, "Telltale demo starting (compiling is done): opening the data in %s and starting the Box, Google Workspace and Microsoft 365 emulators\n", cfg.DataDir)
			ctx := cmd.Context()
			log := newLogger(e.stderr, cfg)
			epoch, err := demoEpoch(cfg.DataDir)
			if err != nil {
				return err
			}
			emu, emuURL, stopEmu, err := startBoxEmulator(ctx, boxemu.Options{Seed: 1, Epoch: epoch, Users: users, Log: log.With("emulator", "box")})
			if err != nil {
				return err
			}
			defer stopEmu()
			memu, msURL, stopMS, err := startMicrosoftEmulator(ctx, msemu.Options{Seed: 1, Users: msUsers, RateLimitPerMinute: -1,
				AuditLagMin: 10 * time.Second, AuditLagMax: 2 * time.Minute, AuditBlobInterval: 10 * time.Second})
			if err != nil {
				return err
			}
			defer stopMS()
			gemu, googleURL, stopGoogle, err := startGoogleEmulator(ctx, googleemu.Options{Seed: 1, Users: googleUsers, Log: log.With("emulator", "google"),
				ReportsLagMin: 10 * time.Second, ReportsLagMax: 2 * time.Minute, RateLimitPerMinute: -1})
			if err != nil {
				return err
			}
			defer stopGoogle()
			ints, err := startDemoIntegrations(ctx)
			if err != nil {
				return err
			}
			defer ints.Close()
			// Listen first: the demo's identity providers must know the console's address.
			ln, err := net.Listen("tcp", cfg.Listen)
			if err != nil {
				return fmt.Errorf("listen on %s: %w (is another process using it? choose another with --listen)", cfg.Listen, err)
			}
			var idps *demoIdPs
			if cfg.SSOProviders == "" {
				if idps, err = startDemoIdPs(cfg.DataDir, "http://"+ln.Addr().String()); err != nil {
					ln.Close()
					return err
				}
				defer idps.Close()
				cfg.SSOProviders = idps.file
			}
			if cfg.AgentVersion == "" && !device.IsVersion(app.Version) {
				cfg.AgentVersion = demoAgentVersion // a development build: the demo's agents still show one outdated
			}
			a, err := app.New(ctx, cfg, log)
			if err != nil {
				ln.Close()
				return err
			}
			if err := addDemoConnection(ctx, a, emuURL); err != nil {
				a.Close()
				ln.Close()
				return err
			}
			if err := addGoogleDemoConnection(ctx, a, gemu, googleURL); err != nil {
				a.Close()
				ln.Close()
				return err
			}
			if err := addMicrosoftDemoConnections(ctx, a, memu, msURL); err != nil {
				a.Close()
				ln.Close()
				return err
			}
			if err := addDemoIntegrations(ctx, a, ints); err != nil {
				a.Close()
				ln.Close()
				return err
			}
			departing, err := addDemoDeparting(ctx, a, emu)
			if err != nil {
				a.Close()
				ln.Close()
				return err
			}
			hrSource, err := addDemoHR(ctx, a, ints, emu)
			if err != nil {
				a.Close()
				ln.Close()
				return err
			}
			leaver, hasLeaver := demoHRLeaver(emu)
			if hasLeaver {
				go runDemoHR(ctx, ints, "http://"+ln.Addr().String(), hrSource, leaver, log.With("demo", "hr"))
			}
			go emu.Run(ctx, every)
			go runGoogle(ctx, gemu, every)
			go runMicrosoft(ctx, memu, every)
			go runDemoDeparting(ctx, emu, departing, log.With("demo", "departing employee"))
			var people []string
			for _, u := range gemu.Users() {
				people = append(people, u.Email)
			}
			current := cfg.AgentVersion
			if current == "" {
				current = app.Version
			}
			go func() {
				if err := startDemoAgents(ctx, a, "http://"+ln.Addr().String(), current, people, log.With("demo", "agents")); err != nil && ctx.Err() == nil {
					log.Error("demo: the simulated endpoint agents did not start", "err", err)
				}
			}()
			a.PrintBootstrap(e.stdout)
			fmt.Fprintf(e.stdout, "Telltale %s demo serving on http://%s (data: %s)\n", app.Version, ln.Addr(), cfg.DataDir)
			fmt.Fprintf(e.stdout, "Box emulator on %s with %d simulated users (start %d of this organization); connection %q collects every %s.\n", emuURL, users, epoch+1, demoConnection, cfg.PollInterval)
			fmt.Fprintf(e.stdout, "Google Workspace emulator on %s with %d simulated users; connection %q follows each drive's changes and the Drive audit log (records listed 10 s to 2 min late), %q the attachments they send.\n", googleURL, googleUsers, demoGoogleConnection, demoGmailConnection)
			fmt.Fprintf(e.stdout, "Departing employee: %s (Box) is on the departing employee watchlist and moves files out from %s on; the shipped rule %q alerts on it.\n", departing.Login, demoDepartingFirst, "Departing employee exfiltration")
			fmt.Fprintf(e.stdout, "%d simulated endpoint agents (one outdated, one silent) check in; ann-laptop watches %s.\n", len(demoAgents), filepath.Join(cfg.DataDir, "demo-agents", "ann-laptop-documents"))
			fmt.Fprintf(e.stdout, "Microsoft 365 emulator on %s with %d simulated users; connections %q (delta and the audit log, 10 s to 2 min late) and %q.\n", msURL, msUsers, demoOneDriveConnection, demoM365MailConnection)
			fmt.Fprintf(e.stdout, "Integrations: the ServiceNow emulator on %s gets an incident for every alert (flow %q; see each delivery and the incident number on the integration's page), the Slack emulator on %s a message for high and critical ones, and a syslog receiver on %s every event, alert, audit entry and device and connection health change as CEF (%q, on the Forwarding page).\n",
				ints.ServiceNowURL, demoFlowName, ints.SlackURL, ints.Syslog.TCPAddr(), demoSyslogName)
			if hasLeaver {
				fmt.Fprintf(e.stdout, "HR: the BambooHR emulator on %s (source %q, on the HR sources page) records %s's resignation %s after the start and posts its signed webhook: they appear on the departing employee watchlist, with the line of history on their person page.\n",
					ints.BambooURL, demoHRName, leaver.Login, demoHRFirst)
			}
			if idps != nil {
				go func() {
					if err := idps.registerSP(ctx); err != nil && ctx.Err() == nil {
						log.Warn("demo: the SAML IdP could not read the console's SP metadata; SAML sign-in will fail", "err", err)
					}
				}()
				fmt.Fprintf(e.stdout, "Sign in with the demo IdP: on the sign-in page choose \"Sign in with the demo IdP (OpenID Connect)\" (on %s) or \"(SAML)\" (on %s), as %s with the password %s: an analyst through the group %s. The local admin above stays the break-glass account.\n",
					idps.oidc.URL, idps.saml.URL, demoSSOUser, demoSSOPassword, demoSSOGroup)
			}
			return a.Run(ctx, ln)
		},
	}
	config.Bind(cmd.Flags())
	cmd.Flags().IntVar(&users, "demo-users", 25, "simulated Box users")
	cmd.Flags().IntVar(&googleUsers, "demo-google-users", 15, "simulated Google Workspace users")
	cmd.Flags().IntVar(&msUsers, "demo-microsoft-users", 15, "simulated Microsoft 365 users")
	cmd.Flags().DurationVar(&every, "demo-activity-every", 2*time.Second, "how often the simulated organization acts")
	return cmd
}

// startBoxEmulator serves the emulator on a loopback port.
func startBoxEmulator(ctx context.Context, o boxemu.Options) (*boxemu.Emulator, string, func(), error) {
	emu := boxemu.New(o)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", nil, err
	}
	srv := &http.Server{Handler: emu.Handler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(slog.Default().Handler(), slog.LevelWarn)}
	go srv.Serve(ln)
	stop := func() {
		c, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		srv.Shutdown(c)
	}
	return emu, "http://" + ln.Addr().String(), stop, nil
}

// addDemoConnection adds the Box connection to the emulator (once per data dir) and trusts the
// simulated company's domain.
func addDemoConnection(ctx context.Context, a *app.App, emuURL string) error {
	cs, err := a.Store.ListConnections(ctx)
	if err != nil {
		return err
	}
	for _, c := range cs {
		if c.Name == demoConnection {
			// A restarted demo: point the connection at this run's emulator port.
			return repointDemo(ctx, a, c, emuURL)
		}
	}
	if _, err := settings.Save(ctx, a.Store, settings.Settings{TrustedDomains: []string{"example.com"}, RetentionDays: int(a.Config.Retention / (24 * time.Hour))}); err != nil {
		return err
	}
	creds, err := json.Marshal(map[string]string{"client_secret": "emu-client-secret", "webhook_primary_key": "emu-primary-key", "webhook_secondary_key": "emu-secondary-key"})
	if err != nil {
		return err
	}
	sealed, err := a.Keyring.Seal(creds)
	if err != nil {
		return err
	}
	st, _ := json.Marshal(demoSettings(emuURL))
	_, err = a.Connections.Create(ctx, connection.NewConnection{Name: demoConnection, Service: "box", TenantID: "900001", ScopeKind: "all",
		Settings: st, Credentials: sealed}, "demo")
	return err
}

func demoSettings(emuURL string) map[string]string {
	return map[string]string{"enterprise_id": "900001", "client_id": "emu-client-id", "admin_email": "admin@example.com", "api_url": emuURL}
}

func repointDemo(ctx context.Context, a *app.App, c store.Connection, emuURL string) error {
	st, _ := json.Marshal(demoSettings(emuURL))
	c.Settings = st
	_, err := a.Store.UpdateConnection(ctx, c)
	if errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("demo: the demo connection changed while starting; start again")
	}
	return err
}

// demoStartsFile counts the demo's starts in its data dir: each start's emulator runs the next
// epoch of the same simulated organization.
const demoStartsFile = "demo-emulator.json"

// demoEpoch returns this start's emulator epoch and records the start before the emulator runs,
// so that a demo killed at any moment never hands its epoch to the next start: a restarted demo
// continues the organization with new event ids, item ids and stream positions above those
// Telltale stored, instead of replaying the first run's, which ingest would drop as duplicates. A
// data dir from a demo without this file but with a database starts at epoch 1.
func demoEpoch(dataDir string) (int, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return 0, err
	}
	path := filepath.Join(dataDir, demoStartsFile)
	var st struct {
		Starts int `json:"starts"`
	}
	switch b, err := os.ReadFile(path); {
	case err == nil:
		if err := json.Unmarshal(b, &st); err != nil || st.Starts < 0 {
			return 0, fmt.Errorf("demo: %s is damaged (%v); remove it to start the simulated organization over", path, err)
		}
	case errors.Is(err, fs.ErrNotExist):
		if _, err := os.Stat(filepath.Join(dataDir, "telltale.db")); err == nil {
			st.Starts = 1
		}
	default:
		return 0, fmt.Errorf("demo: %w", err)
	}
	epoch := st.Starts
	if epoch > boxemu.MaxEpoch {
		return 0, fmt.Errorf("demo: the data in %s has been started %d times, the most the emulator can tell apart; use another --data-dir", dataDir, epoch)
	}
	st.Starts++
	b, _ := json.Marshal(st)
	if err := writeFileSync(path, b); err != nil {
		return 0, fmt.Errorf("demo: recording the start: %w", err)
	}
	return epoch, nil
}

// writeFileSync replaces path with b durably: a temporary file, fsync, rename, fsync of the folder.
func writeFileSync(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// startGoogleEmulator serves the Google Workspace emulator on a loopback port.
func startGoogleEmulator(ctx context.Context, o googleemu.Options) (*googleemu.Emulator, string, func(), error) {
	emu := googleemu.New(o)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		emu.Close()
		return nil, "", nil, err
	}
	srv := &http.Server{Handler: emu.Handler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(slog.Default().Handler(), slog.LevelWarn)}
	go srv.Serve(ln)
	stop := func() {
		c, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		srv.Shutdown(c)
		emu.Close()
	}
	return emu, "http://" + ln.Addr().String(), stop, nil
}

// runGoogle makes the simulated Google organization act every interval until ctx ends.
func runGoogle(ctx context.Context, emu *googleemu.Emulator, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			emu.Step(2)
			emu.StepMail(1)
		}
	}
}

// googleDemoSettings point the Google Drive connection at the emulator; the emulator lists audit
// records within two minutes, so the Reports API overlap is short.
func googleDemoSettings(emu *googleemu.Emulator, url string) map[string]string {
	return map[string]string{"admin_email": emu.Users()[0].Email, "customer": "C01emu7x9", "reports_overlap": "5m",
		"token_url": url + "/token", "drive_url": url + "/drive/v3/", "directory_url": url + "/"}
}

// addGoogleDemoConnection adds the Google Drive and Gmail connections to the emulator, or points
// the ones a previous start added at this run's emulator (Gmail is polled: no Pub/Sub push). The emulator's organization is the same at every
// start but its feeds start over: the connection's stored positions are refused and its drives
// crawled again (recorded in its history), and activity from then on is collected.
func addGoogleDemoConnection(ctx context.Context, a *app.App, emu *googleemu.Emulator, url string) error {
	cs, err := a.Store.ListConnections(ctx)
	if err != nil {
		return err
	}
	key := emu.ServiceAccountKey(url + "/token")
	creds, err := json.Marshal(map[string]string{"service_account_key": string(key)})
	if err != nil {
		return err
	}
	sealed, err := a.Keyring.Seal(creds)
	if err != nil {
		return err
	}
	drive, _ := json.Marshal(googleDemoSettings(emu, url))
	mail, _ := json.Marshal(map[string]string{"admin_email": emu.Users()[0].Email, "customer": "C01emu7x9",
		"token_url": url + "/token", "gmail_url": url + "/", "directory_url": url + "/", "jwks_url": url + "/oauth2/v3/certs"})
	for _, want := range []struct {
		name, service string
		settings      []byte
	}{{demoGoogleConnection, "google_drive", drive}, {demoGmailConnection, "gmail", mail}} {
		found := false
		for _, c := range cs {
			if c.Name != want.name {
				continue
			}
			// A restarted demo: a new emulator (a new key) on a new port.
			found = true
			c.Settings, c.Credentials = want.settings, sealed
			if _, err := a.Store.UpdateConnection(ctx, c); errors.Is(err, store.ErrConflict) {
				return fmt.Errorf("demo: the demo connection changed while starting; start again")
			} else if err != nil {
				return err
			}
		}
		if found {
			continue
		}
		if _, err := a.Connections.Create(ctx, connection.NewConnection{Name: want.name, Service: want.service, TenantID: "C01emu7x9",
			ScopeKind: "all", Settings: want.settings, Credentials: sealed}, "demo"); err != nil {
			return err
		}
	}
	return nil
}

// startMicrosoftEmulator serves the Microsoft 365 emulator on a loopback port.
func startMicrosoftEmulator(ctx context.Context, o msemu.Options) (*msemu.Emulator, string, func(), error) {
	emu := msemu.New(o)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		emu.Close()
		return nil, "", nil, err
	}
	srv := &http.Server{Handler: emu.Handler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(slog.Default().Handler(), slog.LevelWarn)}
	go srv.Serve(ln)
	stop := func() {
		c, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		srv.Shutdown(c)
		emu.Close()
	}
	return emu, "http://" + ln.Addr().String(), stop, nil
}

// runMicrosoft makes the simulated Microsoft 365 tenant act every interval until ctx ends.
func runMicrosoft(ctx context.Context, emu *msemu.Emulator, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			emu.Step(2)
			emu.StepMail(1)
		}
	}
}

// addMicrosoftDemoConnections adds the OneDrive and Microsoft 365 mail connections to the
// emulator, or points the ones a previous start added at this run's emulator. The emulator's
// tenant is the same at every start (its secret too) but its feeds start over: stored positions
// are refused and drives crawled again (recorded in the history).
func addMicrosoftDemoConnections(ctx context.Context, a *app.App, emu *msemu.Emulator, url string) error {
	cs, err := a.Store.ListConnections(ctx)
	if err != nil {
		return err
	}
	creds, err := json.Marshal(map[string]string{"client_secret": emu.ClientSecret()})
	if err != nil {
		return err
	}
	sealed, err := a.Keyring.Seal(creds)
	if err != nil {
		return err
	}
	base := map[string]string{"tenant_id": emu.TenantID(), "client_id": emu.ClientID(), "login_url": url, "graph_url": url + "/v1.0"}
	drive := map[string]string{"manage_url": url, "audit_overlap": "5m"}
	for k, v := range base {
		drive[k] = v
	}
	ds, _ := json.Marshal(drive)
	ms, _ := json.Marshal(base)
	for _, want := range []struct {
		name, service string
		settings      []byte
	}{{demoOneDriveConnection, "onedrive", ds}, {demoM365MailConnection, "microsoft365_mail", ms}} {
		found := false
		for _, c := range cs {
			if c.Name != want.name {
				continue
			}
			found = true
			c.Settings, c.Credentials = want.settings, sealed
			if _, err := a.Store.UpdateConnection(ctx, c); errors.Is(err, store.ErrConflict) {
				return fmt.Errorf("demo: the demo connection changed while starting; start again")
			} else if err != nil {
				return err
			}
		}
		if found {
			continue
		}
		if _, err := a.Connections.Create(ctx, connection.NewConnection{Name: want.name, Service: want.service, TenantID: emu.TenantID(),
			ScopeKind: "all", Settings: want.settings, Credentials: sealed}, "demo"); err != nil {
			return err
		}
	}
	return nil
}
