package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/internal/app"
	bambooemu "github.com/telltale-dev/telltale/internal/emulator/bamboohr"
	boxemu "github.com/telltale-dev/telltale/internal/emulator/box"
	"github.com/telltale-dev/telltale/internal/integration"
)

// The demo's HR source (issues 17 and 18, "Demo mode"): the BambooHR emulator, with the Box users
// as employees, and a BambooHR source connected to it with its webhook's private key. A little
// after the start, HR records a resignation in the emulator, which posts BambooHR's signed webhook
// to the demo's own address: the departing employee appears on the Departing employees watchlist
// with a line of history "by HR source", without setup. The source also polls the emulator.
const (
	demoHRName       = "BambooHR (demo emulator)"
	demoBambooCo     = "telltale-demo"
	demoBambooKey    = "demo-bamboohr-api-key"
	demoBambooSecret = "demo-bamboohr-webhook-private-key"
	demoHRID         = "1042" // the resigning employee's BambooHR id
)

// demoHRFirst is how long after the start HR records the resignation; a variable: tests make it sooner.
var demoHRFirst = 45 * time.Second

// startDemoBamboo serves the BambooHR emulator on loopback, with the Box users as active employees.
func startDemoBamboo(ctx context.Context, d *demoIntegrations) error {
	d.Bamboo = bambooemu.New(demoBambooCo, demoBambooKey)
	url, err := d.serve(ctx, d.Bamboo)
	d.BambooURL = url
	return err
}

// demoHRLeaver is the employee who resigns: the third active Box user (the first is the admin, the
// second the departing employee who is on the list from the start).
func demoHRLeaver(emu *boxemu.Emulator) (boxemu.User, bool) {
	n := 0
	for _, u := range emu.Users() {
		if u.Status != "active" || u.RootFolderID == "" {
			continue
		}
		if n++; n == 3 {
			return u, true
		}
	}
	return boxemu.User{}, false
}

// addDemoHR fills the emulator with the Box users as employees and adds (or, on a restarted demo,
// points at this run's emulator) the BambooHR source, connected through the same check an admin's
// Connect runs. It returns the source's id.
func addDemoHR(ctx context.Context, a *app.App, d *demoIntegrations, emu *boxemu.Emulator) (int64, error) {
	for i, u := range emu.Users() {
		if u.Status == "active" {
			d.Bamboo.Put(bambooemu.Employee{ID: strconv.Itoa(1000 + i), WorkEmail: strings.ToLower(u.Login), Status: "Active"})
		}
	}
	in := integration.Input{Kind: integration.KindBambooHR, Name: demoHRName,
		Settings: integration.Settings{Company: demoBambooCo, APIBase: d.BambooURL},
		Secrets:  &integration.Secrets{Token: demoBambooKey, SigningSecret: demoBambooSecret}}
	have, err := a.Integrations.List(ctx)
	if err != nil {
		return 0, err
	}
	var id int64
	for _, v := range have {
		if v.Name == in.Name && v.Kind == in.Kind {
			up, err := a.Integrations.Update(ctx, v.ID, v.Version, in)
			if err != nil {
				return 0, fmt.Errorf("demo: pointing %q at this run's emulator: %w", in.Name, err)
			}
			id = up.ID
		}
	}
	if id == 0 {
		v, err := a.Integrations.Create(ctx, in, "demo")
		if err != nil {
			return 0, fmt.Errorf("demo: adding %q: %w", in.Name, err)
		}
		id = v.ID
	}
	if _, err := a.Integrations.SetStatus(ctx, id, true, a.HR.Verify); err != nil {
		return 0, fmt.Errorf("demo: connecting %q: %w", in.Name, err)
	}
	return id, nil
}

// runDemoHR records the leaver's resignation in the emulator after demoHRFirst (leaving in three
// weeks) and posts BambooHR's signed webhook for it to the demo at base.
func runDemoHR(ctx context.Context, d *demoIntegrations, base string, source int64, leaver boxemu.User, log *slog.Logger) {
	select {
	case <-ctx.Done():
		return
	case <-time.After(demoHRFirst):
	}
	e := bambooemu.Employee{ID: demoHRID, WorkEmail: strings.ToLower(leaver.Login), Status: "Active",
		TerminationDate: time.Now().UTC().AddDate(0, 0, 21).Format(time.DateOnly)}
	d.Bamboo.Put(e)
	url := base + "/api/v1/hr-sources/" + strconv.FormatInt(source, 10) + "/bamboohr"
	c := &http.Client{Timeout: 30 * time.Second}
	for wait := time.Second; ; wait = min(2*wait, time.Minute) {
		resp, err := bambooemu.SendWebhook(c, url, demoBambooSecret, time.Now(), e)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			err = fmt.Errorf("answered %s", resp.Status)
		}
		log.Warn("demo: BambooHR's webhook was not accepted; sending it again", "err", err, "in", wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}
