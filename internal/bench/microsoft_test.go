package bench

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

// TestRunMicrosoftSmoke runs the subprocess benchmarks at a tiny size so the program keeps
// compiling and working; the numbers themselves mean nothing at this size.
func TestRunMicrosoftSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the telltale binary")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	o := MicrosoftOptions{Runs: []string{"rate", "cpu", "rss"}, RateDrives: 2, RateFiles: 1500, RateLimit: 600, RateBurst: 5,
		CPUFiles: []int{200, 400}, CPUUsers: 4, RSSDrives: []int{10, 20}, RSSFiles: 2, TempDir: t.TempDir()}
	r, err := RunMicrosoft(ctx, o, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if a := r.Rate; a == nil || a.Indexed != a.Files || a.Files != 3000 || a.Requests == 0 || a.Window <= 0 || a.Ratio <= 0 {
		t.Errorf("rate run: %+v", r.Rate)
	}
	if len(r.CPU) != 2 || len(r.RSS) != 2 {
		t.Fatalf("cpu runs %+v, rss runs %+v", r.CPU, r.RSS)
	}
	for i, c := range r.RSS {
		if c.Users != o.RSSDrives[i] {
			t.Errorf("rss run %d: %d OneDrives, want %d", i, c.Users, o.RSSDrives[i])
		}
	}
	for _, c := range append(r.CPU, r.RSS...) {
		if c.Indexed != c.Files || c.DrivesIndexed != c.Users || c.PeakRSS <= 0 || c.FilesPerSecond <= 0 || c.CPUSeconds <= 0 {
			t.Errorf("indexing run: %+v", c)
		}
	}
	out := FormatMicrosoft(r, o, "go run ./cmd/telltale-bench microsoft")
	for _, want := range []string{"## OneDrive for Business collection", "### (a) Rate-bound indexing", "### (b) CPU-bound indexing",
		"### (e) Memory from 10 to 20 OneDrives", "Peak RSS at", "Load average"} {
		if !strings.Contains(out, want) {
			t.Errorf("section lacks %q:\n%s", want, out)
		}
	}
}

func TestRunMicrosoftRefuses(t *testing.T) {
	for _, c := range []struct {
		name string
		runs []string
		want string
	}{
		{"unknown run", []string{"speed"}, "unknown microsoft run"},
		{"latency without launcher", []string{"latency"}, "needs a Launcher"},
		{"audit without launcher", []string{"audit"}, "needs a Launcher"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := RunMicrosoft(context.Background(), MicrosoftOptions{Runs: c.runs, TempDir: t.TempDir()}, io.Discard)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
}

func TestMSUsersForDrives(t *testing.T) {
	for _, n := range []int{1, 9, 20, 5000, 50000} {
		u := msUsersForDrives(n)
		// OneDrives: users, less the unlicensed tenth and the disabled one
		if got := u - u/10 - 1; got != n {
			t.Errorf("msUsersForDrives(%d) = %d users: %d OneDrives", n, u, got)
		}
	}
}

// TestFormatMicrosoftAudit: the audit row says whether every record was searchable within one
// poll of its availability.
func TestFormatMicrosoftAudit(t *testing.T) {
	a := &AuditLatencyResult{PollInterval: 10 * time.Second, Target: 15 * time.Second, Actions: 60, Records: 60, Available: 60, Found: 60,
		WithinPoll: 60, P50: 5 * time.Second, P95: 9 * time.Second, Max: 10 * time.Second}
	if out := FormatMicrosoft(MicrosoftResults{Audit: a}, MicrosoftOptions{}, "cmd"); !strings.Contains(out, "| 10s | 60 | 60 | 60 | 60 | 60 | 5s | 9s | 10s | <= 15s (met) |") {
		t.Errorf("met:\n%s", out)
	}
	a.Found, a.WithinPoll, a.Max = 59, 58, 40*time.Second
	if out := FormatMicrosoft(MicrosoftResults{Audit: a}, MicrosoftOptions{}, "cmd"); !strings.Contains(out, "(**missed**)") {
		t.Errorf("missed:\n%s", out)
	}
}
