package bench

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/device"
)

// AgentsOptions configure the endpoint agent benchmark (issue 18): many simulated agents checking
// in on a rhythm against a real node, its CPU measured against the same node idle.
type AgentsOptions struct {
	Agents   int           // simulated agents
	Every    time.Duration // each agent's check-in rhythm
	Duration time.Duration // length of each phase
	Rounds   int           // rounds of (idle, check-ins)
	Clients  int           // concurrent HTTP clients sending the check-ins
	TempDir  string
	Binary   string
}

// AgentsPhase is one measured phase.
type AgentsPhase struct {
	Round            int
	Kind             string // idle or check-ins
	Seconds          float64
	CPU              float64 // node user+system seconds
	CheckIns, Errors int
	P50, P95, P99    float64 // ms, check-in latency
}

type simAgent struct {
	id      string
	key     ed25519.PrivateKey
	counter int64
}

// RunAgents enrols the agents and measures the phases.
func RunAgents(ctx context.Context, o AgentsOptions, progress io.Writer) ([]AgentsPhase, error) {
	bin := o.Binary
	if bin == "" {
		var err error
		if bin, err = buildTelltale(ctx, o.TempDir, progress); err != nil {
			return nil, err
		}
	}
	node, err := startNode(ctx, bin, o.TempDir, "agents", map[string]string{"TELLTALE_ENROLL_RATE": "100000000",
		// What the node tells agents (at least 5s); the simulated ones keep o.Every.
		"TELLTALE_AGENT_CHECKIN_INTERVAL": max(o.Every, 5*time.Second).String(),
		"TELLTALE_DEVICE_SILENT_AFTER":    "24h", "TELLTALE_AGENT_VERSION": "1.4.0"})
	if err != nil {
		return nil, err
	}
	defer node.stop()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: o.Clients * 2, MaxConnsPerHost: o.Clients * 2}, Timeout: 60 * time.Second}
	sec, err := client.New(node.URL, benchToken).CreateDeploymentSecret(ctx, client.DeploymentSecretInput{Name: "bench", ExpiresIn: "1d"})
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(progress, "enrolling %d agents\n", o.Agents)
	agents := make([]*simAgent, o.Agents)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, o.Clients)
	for w := 0; w < o.Clients; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= o.Agents || ctx.Err() != nil {
					return
				}
				pub, key, _ := ed25519.GenerateKey(nil)
				body, _ := json.Marshal(client.EnrollRequest{Secret: sec.Secret, PublicKey: base64.StdEncoding.EncodeToString(pub),
					AgentReport: client.AgentReport{HostName: fmt.Sprintf("host-%05d", i), OS: "linux", Arch: "amd64", AgentVersion: "1.4.0", UserName: fmt.Sprintf("user%d", i)}})
				var out client.EnrollResponse
				if err := postSigned(ctx, hc, node.URL+"/api/v1/agent/enroll", body, "", device.Sign(key, device.ContextEnroll, body), &out); err != nil {
					errs <- fmt.Errorf("enrol agent %d: %w", i, err)
					return
				}
				agents[i] = &simAgent{id: out.DeviceID, key: key}
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		return nil, err
	default:
	}
	var phases []AgentsPhase
	for r := 1; r <= o.Rounds; r++ {
		for _, kind := range []string{"idle", "check-ins"} {
			fmt.Fprintf(progress, "round %d: %s for %s\n", r, kind, o.Duration)
			p, err := agentsPhase(ctx, node, hc, agents, o, kind)
			if err != nil {
				return nil, err
			}
			p.Round = r
			phases = append(phases, p)
		}
	}
	return phases, nil
}

// agentsPhase measures the node's CPU for o.Duration, with every agent checking in once per
// o.Every at its own offset (check-ins) or none (idle).
func agentsPhase(ctx context.Context, node *subprocess, hc *http.Client, agents []*simAgent, o AgentsOptions, kind string) (AgentsPhase, error) {
	p := AgentsPhase{Kind: kind}
	cpu0, err := node.cpuSeconds()
	if err != nil {
		return p, err
	}
	start := time.Now()
	end := start.Add(o.Duration)
	var mu sync.Mutex
	var lat []float64
	if kind == "check-ins" {
		// A schedule: agent i checks in at start + (i/n)*Every, then every Every.
		n := len(agents)
		type due struct {
			at time.Time
			a  *simAgent
		}
		work := make(chan due, o.Clients)
		var wg sync.WaitGroup
		for w := 0; w < o.Clients; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for d := range work {
					if w := time.Until(d.at); w > 0 {
						time.Sleep(w)
					}
					d.a.counter++
					body, _ := json.Marshal(client.CheckInRequest{DeviceID: d.a.id, Counter: d.a.counter, SentAt: time.Now().UTC(),
						AgentReport: client.AgentReport{HostName: "host-" + d.a.id, OS: "linux", Arch: "amd64", AgentVersion: "1.4.0", UserName: "user" + d.a.id}})
					t0 := time.Now()
					err := postSigned(ctx, hc, node.URL+"/api/v1/agent/checkin", body, d.a.id, device.Sign(d.a.key, device.ContextCheckIn, body), nil)
					ms := float64(time.Since(t0).Microseconds()) / 1000
					mu.Lock()
					if err != nil {
						p.Errors++
					} else {
						p.CheckIns++
						lat = append(lat, ms)
					}
					mu.Unlock()
				}
			}()
		}
	schedule:
		for k := 0; ; k++ {
			for i, a := range agents {
				at := start.Add(time.Duration(k)*o.Every + time.Duration(int64(o.Every)*int64(i)/int64(n)))
				if !at.Before(end) {
					break schedule
				}
				select {
				case work <- due{at, a}:
				case <-ctx.Done():
					break schedule
				}
			}
		}
		close(work)
		wg.Wait()
	}
	if w := time.Until(end); w > 0 {
		select {
		case <-time.After(w):
		case <-ctx.Done():
			return p, ctx.Err()
		}
	}
	cpu1, err := node.cpuSeconds()
	if err != nil {
		return p, err
	}
	p.Seconds = time.Since(start).Seconds()
	p.CPU = cpu1 - cpu0
	sort.Float64s(lat)
	pct := func(q float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(q*float64(len(lat))))]
	}
	p.P50, p.P95, p.P99 = pct(0.50), pct(0.95), pct(0.99)
	return p, nil
}

func postSigned(ctx context.Context, hc *http.Client, url string, body []byte, id, sig string, out any) error {
	req, err := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(device.HeaderSignature, sig)
	if id != "" {
		req.Header.Set(device.HeaderDevice, id)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%d: %s", resp.StatusCode, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// FormatAgents renders the result section.
func FormatAgents(ps []AgentsPhase, o AgentsOptions, command string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## Endpoint agents checking in (issue 18)\n\n")
	fmt.Fprintf(&b, "- Date: %s. Machine: %s. The machine is shared: other builds and tests may have been running during the run.\n", Stamp(), Machine())
	fmt.Fprintf(&b, "- Command: `%s`\n", command)
	fmt.Fprintf(&b, "- Telltale runs as a subprocess (`telltale serve`, SQLite) with %d enrolled devices. The benchmark process simulates the agents: in a **check-ins** phase each one sends a signed check-in (`POST /api/v1/agent/checkin`: ed25519 verification with the device's key as the node remembers it, then a compare-and-set of the counter that also checks the device's standing, committed in groups) once every %s at its own offset, through %d HTTP clients; an **idle** phase of the same length sends none. Node CPU is the process's user+system time over the phase, as a share of one core. %d rounds, alternated.\n\n",
		o.Agents, o.Every, o.Clients, o.Rounds)
	fmt.Fprintf(&b, "| round | phase | seconds | check-ins | errors | check-ins/s | node CPU s | share of one core | latency p50 / p95 / p99 ms |\n|---:|---|---:|---:|---:|---:|---:|---:|---:|\n")
	var idle, busy []float64
	for _, p := range ps {
		share := p.CPU / p.Seconds
		if p.Kind == "idle" {
			idle = append(idle, share)
		} else {
			busy = append(busy, share)
		}
		lat := "–"
		if p.CheckIns > 0 {
			lat = fmt.Sprintf("%.1f / %.1f / %.1f", p.P50, p.P95, p.P99)
		}
		fmt.Fprintf(&b, "| %d | %s | %.0f | %d | %d | %.0f | %.2f | %.1f%% | %s |\n", p.Round, p.Kind, p.Seconds, p.CheckIns, p.Errors, float64(p.CheckIns)/p.Seconds, p.CPU, 100*share, lat)
	}
	mi, mb := Median(idle), Median(busy)
	fmt.Fprintf(&b, "\n| phase | share of one core (median) |\n|---|---:|\n| idle | %.1f%% |\n| check-ins | %.1f%% |\n| check-ins minus idle | **%.1f%%** |\n", 100*mi, 100*mb, 100*(mb-mi))
	verdict := "meets"
	if mb >= 0.10 {
		verdict = "misses"
	}
	fmt.Fprintf(&b, "\nWhat it shows: %d agents checking in every %s cost the node %.1f%% of one core (%.1f%% above idle), which %s the target of under 10%% (issue 18).\n",
		o.Agents, o.Every, 100*mb, 100*(mb-mi), verdict)
	return b.String()
}

// AgentsCommand is `telltale-bench agents`.
func AgentsCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("agents", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := AgentsOptions{}
	fs.IntVar(&o.Agents, "agents", 10000, "simulated agents")
	fs.DurationVar(&o.Every, "every", time.Minute, "each agent's check-in rhythm")
	fs.DurationVar(&o.Duration, "duration", 2*time.Minute, "length of each phase")
	fs.IntVar(&o.Rounds, "rounds", 2, "rounds of (idle, check-ins); medians reported")
	fs.IntVar(&o.Clients, "clients", 32, "concurrent HTTP clients")
	fs.StringVar(&o.TempDir, "dir", "", "directory for the data dir and log (default: a new temporary directory)")
	fs.StringVar(&o.Binary, "binary", "", "a built telltale binary (default: go build ./cmd/telltale)")
	write := fs.String("write", "", "write the result section into this markdown file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.Agents < 1 || o.Rounds < 1 || o.Clients < 1 || o.Every <= 0 || o.Duration <= 0 {
		return fmt.Errorf("agents: -agents, -rounds and -clients must be at least 1, -every and -duration positive")
	}
	done, err := scratchDir(&o.TempDir, "telltale-bench-agents-")
	if err != nil {
		return err
	}
	defer done()
	ps, err := RunAgents(ctx, o, stderr)
	if err != nil {
		return err
	}
	return publish(stdout, *write, "agents", FormatAgents(ps, o, "go run ./cmd/telltale-bench agents "+strings.Join(args, " ")))
}
