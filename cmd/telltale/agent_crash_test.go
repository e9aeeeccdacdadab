package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	mathrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// agentRig is a real server and a real agent watching a folder, both the built binary.
type agentRig struct {
	t        *testing.T
	bin      string
	env      []string
	listen   string
	url      string
	token    string
	server   *node
	agent    *exec.Cmd
	agentLog *syncWriter
	logBuf   *bytes.Buffer
	state    string
	root     string
	scratch  string
	want     map[string]int // "action path sha256" -> times expected
	content  map[string]string
	n        int
}

func newAgentRig(t *testing.T) *agentRig {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	listen := ln.Addr().String()
	ln.Close()
	r := &agentRig{t: t, bin: buildBinary(t), listen: listen, token: "agent-crash-bootstrap-token-0123456789",
		state: filepath.Join(t.TempDir(), "agent"), root: t.TempDir(), scratch: t.TempDir(), want: map[string]int{}, content: map[string]string{},
		logBuf: &bytes.Buffer{}}
	r.agentLog = &syncWriter{w: r.logBuf}
	r.env = []string{"TELLTALE_DATA_DIR=" + t.TempDir(), "TELLTALE_BOOTSTRAP_TOKEN=" + r.token, "TELLTALE_SECRET_KEY=" + randomKey(t), "TELLTALE_LOG_LEVEL=warn"}
	r.startServer()
	code, b, err := api(context.Background(), r.url, r.token, "POST", "/api/v1/deployment-secrets", map[string]string{"name": "crash test", "expires_in": "1d"})
	if err != nil || code != 201 {
		t.Fatalf("create secret: %d %s %v", code, b, err)
	}
	var sec struct{ Secret string }
	json.Unmarshal(b, &sec)
	out, err := exec.Command(r.bin, "agent", "enroll", "--server", r.url, "--secret", sec.Secret, "--state-dir", r.state, "--user-email", "ann@corp.example").CombinedOutput()
	if err != nil {
		t.Fatalf("agent enroll: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("agent log:\n%s", r.agentLogText())
		}
	})
	return r
}

func (r *agentRig) agentLogText() string {
	r.agentLog.mu.Lock()
	defer r.agentLog.mu.Unlock()
	return r.logBuf.String()
}

func (r *agentRig) startServer() {
	r.server = startProcess(r.t, r.bin, []string{"serve", "--listen", r.listen}, r.env)
	r.url = r.server.url
}

func (r *agentRig) killServer() {
	r.server.cmd.Process.Signal(syscall.SIGKILL)
	r.server.cmd.Wait()
}

func (r *agentRig) startAgent() {
	cmd := exec.Command(r.bin, "agent", "run", "--state-dir", r.state, "--watch", r.root, "--interval", "1s", "--max-backoff", "300ms", "--log-level", "debug")
	cmd.Stderr = r.agentLog
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	r.agent = cmd
	r.t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
}

func (r *agentRig) killAgent() {
	r.agent.Process.Signal(syscall.SIGKILL)
	r.agent.Wait()
}

func digest(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }

// put writes content to name in the watched folder in one step (written beside, renamed in).
func (r *agentRig) put(name, content string) {
	r.n++
	tmp := filepath.Join(r.scratch, fmt.Sprintf("t%d", r.n))
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		r.t.Fatal(err)
	}
	p := filepath.Join(r.root, name)
	action := "file-created"
	if _, ok := r.content[p]; ok {
		action = "file-modified"
	}
	if err := os.Rename(tmp, p); err != nil {
		r.t.Fatal(err)
	}
	r.content[p] = content
	r.want[action+" "+p+" "+digest(content)]++
}

func (r *agentRig) remove(name string) {
	p := filepath.Join(r.root, name)
	if err := os.Remove(p); err != nil {
		r.t.Fatal(err)
	}
	r.want["file-deleted "+p+" "+digest(r.content[p])]++
	delete(r.content, p)
}

// changes are one cycle's file changes, each file changed once: four new files, a change of one
// from the cycle before and the removal of another.
func (r *agentRig) changes(cycle int) []func() {
	var fs []func()
	for j := 0; j < 4; j++ {
		fs = append(fs, func() {
			r.put(fmt.Sprintf("c%d-%d.txt", cycle, j), fmt.Sprintf("cycle %d file %d %d", cycle, j, mathrand.Int64()))
		})
	}
	if cycle > 0 {
		fs = append(fs, func() {
			r.put(fmt.Sprintf("c%d-0.txt", cycle-1), fmt.Sprintf("cycle %d changed %d", cycle, mathrand.Int64()))
		})
		fs = append(fs, func() { r.remove(fmt.Sprintf("c%d-1.txt", cycle-1)) })
	}
	return fs
}

// serverEvents counts the endpoint events on the server by "action path sha256".
func (r *agentRig) serverEvents() (map[string]int, error) {
	code, b, err := api(context.Background(), r.url, r.token, "POST", "/api/v1/file-events/search",
		map[string]any{"query": "service:endpoint", "limit": 10000, "sort": "id", "order": "asc"})
	if err != nil || code != 200 {
		return nil, fmt.Errorf("search: %d %s %v", code, b, err)
	}
	var res struct {
		Items []struct {
			Event struct{ Action string }
			File  struct {
				Path string
				Hash struct{ SHA256 string }
			}
		}
	}
	if err := json.Unmarshal(b, &res); err != nil {
		return nil, err
	}
	got := map[string]int{}
	for _, e := range res.Items {
		got[e.Event.Action+" "+e.File.Path+" "+e.File.Hash.SHA256]++
	}
	return got, nil
}

func diff(got, want map[string]int) string {
	var out []string
	for k, n := range want {
		if got[k] != n {
			out = append(out, fmt.Sprintf("%s: %d events, want %d", k, got[k], n))
		}
	}
	for k, n := range got {
		if _, ok := want[k]; !ok {
			out = append(out, fmt.Sprintf("%s: %d events, want none", k, n))
		}
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

// waitExactlyOnce waits until the server holds every expected event once and nothing else.
func (r *agentRig) waitExactlyOnce(what string) {
	r.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		got, err := r.serverEvents()
		if err == nil && diff(got, r.want) == "" {
			break
		}
		if time.Now().After(deadline) {
			if err != nil {
				r.t.Fatalf("%s: %v", what, err)
			}
			r.t.Fatalf("%s: every file change should be on the server exactly once:\n%s", what, diff(got, r.want))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestAgentKill9ExactlyOnce kills the real agent with SIGKILL at a random moment of each of 10
// cycles of file changes (changes keep happening while it is down) and then the real server, 10
// cycles more, while the agent runs; after each restart every file change is on the server exactly
// once: none lost, none doubled.
func TestAgentKill9ExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the real binary")
	}
	r := newAgentRig(t)
	r.startAgent()
	cycle := 0
	t.Run("agent killed", func(t *testing.T) {
		for i := 0; i < 10; i++ {
			fs := r.changes(cycle)
			killAt := mathrand.IntN(len(fs) + 1)
			for j, f := range fs {
				if j == killAt {
					time.Sleep(time.Duration(mathrand.IntN(150)) * time.Millisecond)
					r.killAgent()
				}
				f()
				time.Sleep(time.Duration(mathrand.IntN(40)) * time.Millisecond)
			}
			if killAt == len(fs) {
				time.Sleep(time.Duration(mathrand.IntN(300)) * time.Millisecond)
				r.killAgent()
			}
			r.startAgent()
			r.waitExactlyOnce(fmt.Sprintf("agent cycle %d (killed before change %d)", i, killAt))
			cycle++
		}
	})
	t.Run("server killed", func(t *testing.T) {
		for i := 0; i < 10; i++ {
			fs := r.changes(cycle)
			killAt := mathrand.IntN(len(fs) + 1)
			for j, f := range fs {
				if j == killAt {
					r.killServer()
				}
				f()
				time.Sleep(time.Duration(mathrand.IntN(60)) * time.Millisecond)
			}
			if killAt == len(fs) {
				time.Sleep(time.Duration(mathrand.IntN(200)) * time.Millisecond)
				r.killServer()
			}
			time.Sleep(time.Duration(mathrand.IntN(500)) * time.Millisecond)
			r.startServer()
			r.waitExactlyOnce(fmt.Sprintf("server cycle %d (killed before change %d)", i, killAt))
			cycle++
		}
	})
	// Nothing arrives late: a batch sent again after the last kill adds no second copy.
	time.Sleep(2 * time.Second)
	if got, err := r.serverEvents(); err != nil || diff(got, r.want) != "" {
		t.Errorf("after the last cycle: %v\n%s", err, diff(got, r.want))
	}
	if !strings.Contains(r.agentLogText(), "reason=refused") {
		t.Errorf("the agent never logged that the server refused connections while it was down")
	}
	total := 0
	for _, n := range r.want {
		total += n
	}
	t.Logf("%d file changes, each on the server once", total)
}
