// Package agent is the endpoint agent, `telltale agent` (issue 18, R8.2): it enrols a device with a
// deployment secret, keeps the device identity (an ed25519 key pair; never the secret) in a state
// directory, and checks in on a rhythm with what it knows about the machine, each message signed
// with the device key and carrying a counter that only grows (the server refuses replays). When
// the server cannot be reached or refuses, it logs why (DNS, TLS, connection refused, timeout,
// secret revoked, device deactivated) and retries with backoff.
package agent

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/device"
)

// Files in the state directory.
const (
	stateFile   = "device.json" // server, device id, public key
	keyFile     = "device.key"  // the private key (base64 of the ed25519 seed), mode 0600
	counterFile = "counter"     // the last message counter used
)

// Options configure the agent.
type Options struct {
	StateDir string
	Log      *slog.Logger
	Version  string // the agent's version (the binary's)
	// UserEmail is the person's address when the deployment knows it (else the signed-in user
	// name is reported, and an address-shaped one names the person).
	UserEmail string
	// UserName overrides the signed-in user (default: the user running the agent).
	UserName string
	// HostName overrides the machine's host name (simulated agents of the demo).
	HostName string
	OS, Arch string // override runtime.GOOS and GOARCH (the demo)
	// Interval overrides the check-in rhythm the server gives (0: the server's).
	Interval time.Duration
	// Backoff is the first wait after a failure (0: 1s), doubled up to MaxBackoff (0: 5m).
	Backoff, MaxBackoff time.Duration
	// CAFile is a PEM file of certificates to trust for the server (a private CA).
	CAFile string
	// HTTP is the client to use (tests); nil builds one with timeouts and CAFile.
	HTTP *http.Client
	// Watch lists folders whose file changes Run sends as file events (none: check-ins only).
	Watch WatchOptions
}

// State is what enrolment leaves in the state directory (besides the key).
type State struct {
	Server     string    `json:"server"`
	DeviceID   string    `json:"device_id"`
	PublicKey  string    `json:"public_key"`
	EnrolledAt time.Time `json:"enrolled_at"`
}

// Agent is an enrolled agent.
type Agent struct {
	o     Options
	st    State
	key   ed25519.PrivateKey
	http  *http.Client
	log   *slog.Logger
	mu    sync.Mutex
	count int64
	// lastActivity is the newest local activity seen (file events), reported in check-ins.
	lastActivity time.Time
}

func (o *Options) defaults() error {
	if o.StateDir == "" {
		return errors.New("agent: no state directory: pass --state-dir")
	}
	abs, err := filepath.Abs(o.StateDir)
	if err != nil {
		return fmt.Errorf("agent: --state-dir: %w", err)
	}
	o.StateDir = filepath.Clean(abs) // the folder watch leaves it out by this name
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Backoff <= 0 {
		o.Backoff = time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 5 * time.Minute
	}
	if o.HTTP == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.Proxy = http.ProxyFromEnvironment
		if o.CAFile != "" {
			pem, err := os.ReadFile(o.CAFile)
			if err != nil {
				return fmt.Errorf("agent: --ca-file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return fmt.Errorf("agent: --ca-file %s holds no PEM certificate", o.CAFile)
			}
			tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		}
		o.HTTP = &http.Client{Transport: tr, Timeout: 30 * time.Second}
	}
	return nil
}

// Report is what the agent says about its machine.
func (o *Options) report() client.AgentReport {
	r := client.AgentReport{HostName: o.HostName, OS: o.OS, Arch: o.Arch, AgentVersion: o.Version, UserName: o.UserName, UserEmail: o.UserEmail}
	if r.HostName == "" {
		r.HostName, _ = os.Hostname()
	}
	if r.OS == "" {
		r.OS = runtime.GOOS
	}
	if r.Arch == "" {
		r.Arch = runtime.GOARCH
	}
	if r.UserName == "" {
		if u, err := user.Current(); err == nil {
			r.UserName = u.Username
		}
	}
	if r.AgentVersion == "" {
		r.AgentVersion = "dev"
	}
	return r
}

// checkServer refuses a server URL that is not http(s)://host.
func checkServer(server string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(server))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("agent: --server %q is not a URL such as https://telltale.example.com", server)
	}
	return strings.TrimSuffix(u.String(), "/"), nil
}

// Enroll creates the device identity in the state directory and enrols it with the server using
// the deployment secret. A state directory that holds an enrolment already is refused.
func Enroll(ctx context.Context, server, secret string, o Options) (State, error) {
	if err := o.defaults(); err != nil {
		return State{}, err
	}
	server, err := checkServer(server)
	if err != nil {
		return State{}, err
	}
	if strings.TrimSpace(secret) == "" {
		return State{}, errors.New("agent: no deployment secret: pass --secret (an admin creates one on the console's Devices page)")
	}
	if b, err := os.ReadFile(filepath.Join(o.StateDir, stateFile)); err == nil {
		var st State
		json.Unmarshal(b, &st)
		return State{}, fmt.Errorf("agent: %s holds an enrolment already (device %s on %s): an agent enrols once; to start over, remove that directory and deactivate the old device on the server", o.StateDir, st.DeviceID, st.Server)
	}
	if err := os.MkdirAll(o.StateDir, 0o700); err != nil {
		return State{}, fmt.Errorf("agent: state directory: %w", err)
	}
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return State{}, err
	}
	if err := writeFile(filepath.Join(o.StateDir, keyFile), []byte(base64.StdEncoding.EncodeToString(key.Seed())+"\n")); err != nil {
		return State{}, err
	}
	body, _ := json.Marshal(client.EnrollRequest{Secret: strings.TrimSpace(secret), PublicKey: base64.StdEncoding.EncodeToString(pub), AgentReport: o.report()})
	var out client.EnrollResponse
	if err := post(ctx, o.HTTP, server+"/api/v1/agent/enroll", body, map[string]string{device.HeaderSignature: device.Sign(key, device.ContextEnroll, body)}, &out); err != nil {
		return State{}, fmt.Errorf("agent: enrolment with %s failed: %s", server, Explain(err))
	}
	st := State{Server: server, DeviceID: out.DeviceID, PublicKey: base64.StdEncoding.EncodeToString(pub), EnrolledAt: time.Now().UTC()}
	b, _ := json.MarshalIndent(st, "", "  ")
	if err := writeFile(filepath.Join(o.StateDir, stateFile), append(b, '\n')); err != nil {
		return State{}, err
	}
	o.Log.Info("agent enrolled", "server", server, "device_id", st.DeviceID, "state_dir", o.StateDir)
	return st, nil
}

// writeFile writes a file readable by its owner only, atomically (temporary file, sync, rename).
func writeFile(path string, b []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("agent: write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("agent: sync %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	return nil
}

// Open loads an enrolled agent from its state directory.
func Open(o Options) (*Agent, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(o.StateDir, stateFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("agent: %s holds no enrolment: run `telltale agent enroll --server URL --secret S --state-dir %s` first", o.StateDir, o.StateDir)
	}
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil || st.DeviceID == "" || st.Server == "" {
		return nil, fmt.Errorf("agent: %s is damaged (%v): remove the state directory and enrol again", filepath.Join(o.StateDir, stateFile), err)
	}
	kb, err := os.ReadFile(filepath.Join(o.StateDir, keyFile))
	if err != nil {
		return nil, fmt.Errorf("agent: device key: %w", err)
	}
	seed, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(kb)))
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("agent: %s is damaged: remove the state directory and enrol again", filepath.Join(o.StateDir, keyFile))
	}
	a := &Agent{o: o, st: st, key: ed25519.NewKeyFromSeed(seed), http: o.HTTP, log: o.Log}
	if cb, err := os.ReadFile(filepath.Join(o.StateDir, counterFile)); err == nil {
		a.count, _ = strconv.ParseInt(strings.TrimSpace(string(cb)), 10, 64)
	}
	return a, nil
}

// State returns the enrolment.
func (a *Agent) State() State { return a.st }

// next returns the next message counter, saved before it is used: it grows across restarts, and
// from the clock too (microseconds), so a state directory restored from a backup does not send
// counters the server saw already.
func (a *Agent) next() (int64, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := max(a.count+1, time.Now().UnixMicro())
	if err := writeFile(filepath.Join(a.o.StateDir, counterFile), []byte(strconv.FormatInt(n, 10)+"\n")); err != nil {
		return 0, err
	}
	a.count = n
	return n, nil
}

// SawActivity records local activity (the newest is reported in check-ins).
func (a *Agent) SawActivity(t time.Time) {
	a.mu.Lock()
	if t.After(a.lastActivity) {
		a.lastActivity = t
	}
	a.mu.Unlock()
}

// CheckIn sends one signed check-in.
func (a *Agent) CheckIn(ctx context.Context) (client.CheckInResponse, error) {
	n, err := a.next()
	if err != nil {
		return client.CheckInResponse{}, err
	}
	in := client.CheckInRequest{DeviceID: a.st.DeviceID, Counter: n, SentAt: time.Now().UTC(), AgentReport: a.o.report()}
	a.mu.Lock()
	if !a.lastActivity.IsZero() {
		t := a.lastActivity
		in.LastActivityAt = &t
	}
	a.mu.Unlock()
	body, _ := json.Marshal(in)
	var out client.CheckInResponse
	err = post(ctx, a.http, a.st.Server+"/api/v1/agent/checkin", body, map[string]string{
		device.HeaderDevice: a.st.DeviceID, device.HeaderSignature: device.Sign(a.key, device.ContextCheckIn, body)}, &out)
	return out, err
}

// Run checks in until ctx ends: at the server's rhythm (or Options.Interval) while it works, with
// backoff while it does not, logging why.
func (a *Agent) Run(ctx context.Context) error {
	a.log.Info("agent running", "server", a.st.Server, "device_id", a.st.DeviceID)
	watchErr := make(chan error, 1)
	if len(a.o.Watch.Folders) > 0 {
		ctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		defer func() { cancel(); <-done }()
		go func() { defer close(done); watchErr <- a.Watch(ctx, a.o.Watch) }()
	}
	interval := a.o.Interval
	failures := 0
	for {
		resp, err := a.CheckIn(ctx)
		wait := interval
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			failures++
			wait = a.backoff(failures)
			a.log.Warn("agent: check-in failed", "reason", Reason(err), "why", Explain(err), "failures", failures, "retry_in", wait.String())
		} else {
			if failures > 0 {
				a.log.Info("agent: check-in works again", "after_failures", failures)
			}
			failures = 0
			if wait <= 0 {
				wait = time.Duration(resp.CheckInSeconds) * time.Second
			}
			if wait <= 0 {
				wait = time.Minute
			}
			if resp.Outdated {
				a.log.Warn("agent: this agent is outdated", "version", a.o.Version, "current_version", resp.CurrentVersion)
			}
			a.log.Debug("agent: checked in", "next_in", wait.String())
		}
		select {
		case <-ctx.Done():
			return nil
		case err := <-watchErr:
			if err != nil {
				return err
			}
			return nil
		case <-time.After(wait):
		}
	}
}

// backoff is the wait after the n-th failure in a row: doubling from Backoff up to MaxBackoff,
// with up to a fifth of jitter so that many agents do not retry together.
func (a *Agent) backoff(n int) time.Duration {
	d := a.o.Backoff
	for i := 1; i < n && d < a.o.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, a.o.MaxBackoff)
	if j := int64(d / 5); j > 0 {
		r, _ := rand.Int(rand.Reader, big.NewInt(j))
		d += time.Duration(r.Int64())
	}
	return d
}

// ServerError is the server's refusal of a message: its status and problem document.
type ServerError struct {
	Status  int
	Problem client.Problem
}

func (e *ServerError) Error() string {
	if e.Problem.Detail != "" {
		return fmt.Sprintf("the server answered %d: %s", e.Status, e.Problem.Detail)
	}
	return fmt.Sprintf("the server answered %d %s", e.Status, http.StatusText(e.Status))
}

// Refusal is the server's reason (device.RefusalType), or "".
func (e *ServerError) Refusal() string {
	r, _ := strings.CutPrefix(e.Problem.Type, device.RefusalType)
	if r == e.Problem.Type {
		return ""
	}
	return r
}

// post sends a JSON body with headers and decodes a 2xx JSON answer into out.
func post(ctx context.Context, hc *http.Client, u string, body []byte, headers map[string]string, out any) error {
	req, err := http.NewRequestWithContext(ctx, "POST", u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "telltale-agent")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("reading the answer: %w", err)
	}
	if resp.StatusCode >= 300 {
		se := &ServerError{Status: resp.StatusCode}
		json.Unmarshal(b, &se.Problem)
		return se
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("the server's answer is not the JSON expected (is %s a Telltale server?): %w", u, err)
		}
	}
	return nil
}

// Reason classifies why a message did not get through: dns, tls, refused, timeout, network,
// secret_revoked, secret_expired, secret_unknown, deactivated, unknown_device, rate_limited,
// rejected (other refusals), server_error, or other.
func Reason(err error) string {
	var dns *net.DNSError
	var se *ServerError
	var ne net.Error
	switch {
	case errors.As(err, &se):
		switch r := se.Refusal(); {
		case r == "secret_revoked", r == "secret_expired", r == "secret_unknown", r == "deactivated", r == "unknown_device", r == "rate_limited":
			return r
		case se.Status >= 500:
			return "server_error"
		}
		return "rejected"
	case errors.As(err, &dns):
		return "dns"
	case isTLS(err):
		return "tls"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.As(err, new(*net.OpError)), errors.As(err, new(*url.Error)):
		return "network"
	}
	return "other"
}

func isTLS(err error) bool {
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	var ci x509.CertificateInvalidError
	var cv *tls.CertificateVerificationError
	var rh tls.RecordHeaderError
	return errors.As(err, &ua) || errors.As(err, &he) || errors.As(err, &ci) || errors.As(err, &cv) || errors.As(err, &rh) ||
		strings.Contains(err.Error(), "tls: ")
}

// Explain says in words why a message did not get through and what to check.
func Explain(err error) string {
	var dns *net.DNSError
	var se *ServerError
	switch Reason(err) {
	case "dns":
		errors.As(err, &dns)
		return fmt.Sprintf("DNS: the server's name %q does not resolve (%v): check --server and this machine's DNS", dns.Name, dns.Err)
	case "tls":
		return fmt.Sprintf("TLS: the server's certificate is not trusted or the connection is not TLS (%v): check the URL's scheme, or give its CA with --ca-file", err)
	case "refused":
		return fmt.Sprintf("connection refused: nothing listens at the server's address (%v): is the server running, and is the port right?", err)
	case "timeout":
		return fmt.Sprintf("timeout: the server did not answer in time (%v): check the network path and firewalls", err)
	case "network":
		return fmt.Sprintf("network: %v", err)
	case "secret_revoked":
		errors.As(err, &se)
		return "secret revoked: " + se.Problem.Detail
	case "secret_expired":
		errors.As(err, &se)
		return "secret expired: " + se.Problem.Detail
	case "secret_unknown":
		errors.As(err, &se)
		return "secret unknown: " + se.Problem.Detail
	case "deactivated":
		errors.As(err, &se)
		return "device deactivated: " + se.Problem.Detail
	case "unknown_device":
		errors.As(err, &se)
		return "unknown device: " + se.Problem.Detail
	}
	if errors.As(err, &se) {
		return se.Error()
	}
	return err.Error()
}
