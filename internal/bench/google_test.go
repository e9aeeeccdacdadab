package bench

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

// TestRunGoogleSmoke runs the subprocess benchmarks at a tiny size so the program keeps compiling
// and working; the numbers themselves mean nothing at this size.
func TestRunGoogleSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the telltale binary")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	o := GoogleOptions{Runs: []string{"rate", "cpu", "rss"}, RateUsers: 2, RateFiles: 1500, RateLimit: 600, RateBurst: 5,
		CPUFiles: []int{200, 400}, CPUUsers: 4, RSSUsers: []int{10, 20}, RSSFiles: 2, TempDir: t.TempDir()}
	r, err := RunGoogle(ctx, o, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if a := r.Rate; a == nil || a.Indexed != a.Files || a.Requests == 0 || len(a.Users) != 2 || a.Ratio <= 0 {
		t.Errorf("rate run: %+v", r.Rate)
	}
	if len(r.CPU) != 2 || len(r.RSS) != 2 {
		t.Fatalf("cpu runs %+v, rss runs %+v", r.CPU, r.RSS)
	}
	for _, c := range append(r.CPU, r.RSS...) {
		if c.Indexed != c.Files || c.DrivesIndexed != c.Users || c.PeakRSS <= 0 || c.FilesPerSecond <= 0 || c.CPUSeconds <= 0 {
			t.Errorf("indexing run: %+v", c)
		}
	}
	out := FormatGoogle(r, o, "go run ./cmd/telltale-bench google")
	for _, want := range []string{"## Google Drive collection", "### (a) Rate-bound indexing", "### (b) CPU-bound indexing", "### (d) Memory from",
		"Peak RSS at", "Load average"} {
		if !strings.Contains(out, want) {
			t.Errorf("section lacks %q:\n%s", want, out)
		}
	}
}

func TestRunGoogleRefuses(t *testing.T) {
	for _, c := range []struct {
		name string
		runs []string
		want string
	}{
		{"unknown run", []string{"speed"}, "unknown google run"},
		{"latency without launcher", []string{"latency"}, "needs a Launcher"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := RunGoogle(context.Background(), GoogleOptions{Runs: c.runs, TempDir: t.TempDir()}, io.Discard)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
}

// TestFormatGoogleLatencyPath: a run without push deliveries says it measured the polled path.
func TestFormatGoogleLatencyPath(t *testing.T) {
	poll := FormatGoogle(GoogleResults{Latency: &LatencyResult{Path: "poll", PollInterval: 10 * time.Second, Sent: 50, Arrived: 50,
		P95: 9 * time.Second, Target: 15 * time.Second}}, GoogleOptions{}, "cmd")
	if !strings.Contains(poll, "this is the polled path") || !strings.Contains(poll, "| poll | 10s | 50 / 50 |") {
		t.Errorf("poll section:\n%s", poll)
	}
	push := FormatGoogle(GoogleResults{Latency: &LatencyResult{Path: "push", Sent: 50, Arrived: 50, P95: time.Second, Target: 5 * time.Second,
		Deliveries: 60}}, GoogleOptions{}, "cmd")
	if strings.Contains(push, "polled path") || !strings.Contains(push, "<= 5s (met)") {
		t.Errorf("push section:\n%s", push)
	}
}

func TestUsersForDrives(t *testing.T) {
	for _, n := range []int{1, 9, 20, 5000, 50000} {
		u := usersForDrives(n)
		// drives: users, less the suspended tenth and the archived one, plus the shared drive
		if got := u - u/10 - 1 + 1; got != n {
			t.Errorf("usersForDrives(%d) = %d users: %d drives", n, u, got)
		}
	}
}
