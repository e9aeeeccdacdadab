package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/internal/agent"
	"github.com/telltale-dev/telltale/internal/app"
	"github.com/telltale-dev/telltale/internal/device"
	"github.com/telltale-dev/telltale/internal/store"
)

// Simulated endpoint agents of the demo (issue 18): real agents (internal/agent) in this process,
// each with its own state directory under the data dir, enrolled with a demo deployment secret, so
// that the devices page has devices at first sight: one outdated, one silent, one that watches a
// folder the demo writes into (its changes become endpoint file events).

// demoAgentVersion is what the demo's current agents report and the server expects, when neither
// the build (a development build has no version) nor --agent-version says otherwise.
const demoAgentVersion = "1.4.0"

type demoAgent struct {
	host, os, arch, version string
	silent, watch           bool
}

var demoAgents = []demoAgent{
	{host: "ann-laptop", os: "darwin", arch: "arm64", watch: true},
	{host: "bob-desktop", os: "windows", arch: "amd64"},
	{host: "cara-laptop", os: "linux", arch: "amd64", version: "1.2.0"}, // outdated
	{host: "dan-macbook", os: "darwin", arch: "arm64", silent: true},
	{host: "erin-desktop", os: "windows", arch: "amd64"},
}

// startDemoAgents enrols the simulated agents (once per data dir) and runs them until ctx ends.
// people are the addresses of the simulated organization; current is the version expected.
func startDemoAgents(ctx context.Context, a *app.App, url, current string, people []string, log *slog.Logger) error {
	dir := filepath.Join(a.Config.DataDir, "demo-agents")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	// Wait until the node answers (it starts serving just after this is called).
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get(url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("demo agents: the node did not become ready: %v", err)
		}
	}
	var secret string
	for i, d := range demoAgents {
		version := d.version
		if version == "" {
			version = current
		}
		person := ""
		if len(people) > 0 {
			person = people[i%len(people)]
		}
		o := agent.Options{StateDir: filepath.Join(dir, d.host), HostName: d.host, OS: d.os, Arch: d.arch, Version: version,
			UserEmail: person, UserName: strings.SplitN(person, "@", 2)[0], Log: log.With("demo_agent", d.host)}
		if d.watch {
			folder := filepath.Join(dir, d.host+"-documents")
			if err := os.MkdirAll(folder, 0o700); err != nil {
				return err
			}
			o.Watch = agent.WatchOptions{Folders: []string{folder}}
			go demoDocuments(ctx, folder)
		}
		if _, err := os.Stat(filepath.Join(o.StateDir, "device.json")); errors.Is(err, os.ErrNotExist) {
			if secret == "" {
				s, prefix := device.NewSecret()
				now := time.Now()
				if _, err := a.Store.CreateDeploymentSecret(ctx, store.DeploymentSecret{Name: "Demo agents", Prefix: prefix, Hash: device.HashSecret(s),
					CreatedAt: now, CreatedBy: "demo", ExpiresAt: now.Add(90 * 24 * time.Hour), UpdatedAt: now}); err != nil {
					return err
				}
				secret = s
			}
			st, err := agent.Enroll(ctx, url, secret, o)
			if err != nil {
				return err
			}
			if d.silent {
				// Its one check-in was two days ago; it has not been heard from since.
				id, _ := strconv.ParseInt(st.DeviceID, 10, 64)
				if _, err := a.Store.RecordCheckIn(ctx, id, store.CheckIn{Counter: 1, At: time.Now().Add(-49 * time.Hour), HostName: d.host, OS: d.os, Arch: d.arch,
					AgentVersion: version, UserName: o.UserName, Person: person}); err != nil {
					return err
				}
			}
		} else if err != nil {
			return err
		}
		if d.silent {
			continue
		}
		ag, err := agent.Open(o)
		if err != nil {
			return err
		}
		go ag.Run(ctx)
	}
	return nil
}

// demoDocuments writes, changes and removes a few documents now and then, as a person at work.
func demoDocuments(ctx context.Context, folder string) {
	t := time.NewTicker(20 * time.Second)
	defer t.Stop()
	for i := 0; ; i++ {
		name := filepath.Join(folder, fmt.Sprintf("report-%d.docx", i%4))
		if i%5 == 4 {
			os.Remove(name)
		} else {
			os.WriteFile(name, []byte(fmt.Sprintf("quarterly report, draft %d (%s)", i, time.Now().Format(time.RFC3339Nano))), 0o600)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
