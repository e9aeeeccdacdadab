package bench

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

// TestRunBoxSmoke runs the subprocess benchmarks at a tiny size so the program keeps compiling and
// working; the numbers themselves mean nothing at this size.
func TestRunBoxSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the telltale binary")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	o := BoxOptions{Runs: []string{"rate", "cpu"}, RateFiles: 400, CPUUsers: []int{5, 20}, CPUFiles: 4, TempDir: t.TempDir()}
	r, err := RunBox(ctx, o, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if r.Rate == nil || r.Rate.Indexed != r.Rate.Files || r.Rate.Requests == 0 {
		t.Errorf("rate run: %+v", r.Rate)
	}
	if len(r.CPU) != 2 {
		t.Fatalf("cpu runs: %+v", r.CPU)
	}
	for _, c := range r.CPU {
		if c.Indexed != c.Files || c.PeakRSS <= 0 || c.FilesPerSecond <= 0 || c.CPUSeconds <= 0 {
			t.Errorf("cpu run: %+v", c)
		}
	}
	out := FormatBox(r, o, "go run ./cmd/telltale-bench box")
	for _, want := range []string{"### (a) Rate-bound indexing", "### (b) CPU-bound indexing", "| 20 | 80 |"} {
		if !strings.Contains(out, want) {
			t.Errorf("section lacks %q:\n%s", want, out)
		}
	}
}

func TestRunBoxRefuses(t *testing.T) {
	for _, c := range []struct {
		name string
		runs []string
		want string
	}{
		{"unknown run", []string{"speed"}, "unknown box run"},
		{"latency without launcher", []string{"latency"}, "needs a Launcher"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := RunBox(context.Background(), BoxOptions{Runs: c.runs, TempDir: t.TempDir()}, io.Discard)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
}

func TestQuantile(t *testing.T) {
	ds := []time.Duration{5, 1, 4, 2, 3, 6, 7, 8, 9, 10}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 5}, {0.95, 10}, {1, 10}, {0, 1}} {
		if got := quantile(ds, c.q); got != c.want {
			t.Errorf("quantile(%v) = %v, want %v", c.q, got, c.want)
		}
	}
	if quantile(nil, 0.5) != 0 {
		t.Error("quantile of nothing is not 0")
	}
}
