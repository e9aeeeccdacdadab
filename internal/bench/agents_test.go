package bench

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

// TestRunAgentsSmoke runs the agents benchmark at a tiny size so the program keeps compiling and
// working; the numbers mean nothing at this size.
func TestRunAgentsSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the telltale binary")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	o := AgentsOptions{Agents: 20, Every: time.Second, Duration: 2 * time.Second, Rounds: 1, Clients: 4, TempDir: t.TempDir()}
	ps, err := RunAgents(ctx, o, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 2 || ps[0].Kind != "idle" || ps[0].CheckIns != 0 || ps[1].Kind != "check-ins" || ps[1].CheckIns < 20 || ps[1].Errors != 0 {
		t.Fatalf("phases: %+v", ps)
	}
	out := FormatAgents(ps, o, "go run ./cmd/telltale-bench agents")
	for _, want := range []string{"## Endpoint agents checking in", "| 1 | check-ins |", "check-ins minus idle"} {
		if !strings.Contains(out, want) {
			t.Errorf("section lacks %q:\n%s", want, out)
		}
	}
}

func TestAgentsCommandRefuses(t *testing.T) {
	var errb bytes.Buffer
	err := AgentsCommand(context.Background(), []string{"-agents", "0"}, io.Discard, &errb)
	if err == nil || !strings.Contains(err.Error(), "at least 1") {
		t.Errorf("got %v", err)
	}
}
