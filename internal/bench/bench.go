// Package bench holds Telltale's benchmark programs (run by cmd/telltale-bench). Benchmarks are
// programs, not timed tests: they measure side by side in one run, report medians and ratios, and
// write their table into docs/BENCHMARKS.md with the machine and the command.
package bench

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strings"
	"time"
)

// Machine describes where a benchmark ran.
func Machine() string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				cpu = strings.TrimSpace(strings.SplitN(l, ":", 2)[1])
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		fmt.Sscanf(strings.SplitN(string(b), "\n", 2)[0], "MemTotal: %d kB", &kb)
		mem = fmt.Sprintf(", %.0f GiB RAM", float64(kb)/1024/1024)
	}
	pg := ""
	if out, err := exec.Command("sh", "-c", "ls /usr/lib/postgresql/*/bin/postgres | tail -1").Output(); err == nil && len(out) > 0 {
		if v, err := exec.Command(strings.TrimSpace(string(out)), "--version").Output(); err == nil {
			pg = ", " + strings.TrimSpace(string(v))
		}
	}
	return fmt.Sprintf("%s, %d cores%s, %s %s/%s%s", cpu, runtime.NumCPU(), mem, runtime.Version(), runtime.GOOS, runtime.GOARCH, pg)
}

// Median of durations or floats.
func Median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// WriteSection replaces the text between <!-- bench:NAME --> and <!-- /bench:NAME --> in path
// (appending the section if absent).
func WriteSection(path, name, body string) error {
	start, end := "<!-- bench:"+name+" -->", "<!-- /bench:"+name+" -->"
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	doc := string(b)
	if doc == "" {
		doc = "# Benchmarks\n\nEvery number here comes from a benchmark program run on the machine named with it; re-run the\ncommand shown to reproduce. These machines are shared and noisy: compare ratios measured in one run.\n"
	}
	section := start + "\n" + strings.TrimSpace(body) + "\n" + end
	if i := strings.Index(doc, start); i >= 0 {
		j := strings.Index(doc, end)
		if j < 0 {
			return fmt.Errorf("%s: %s has no end marker", path, start)
		}
		doc = doc[:i] + section + doc[j+len(end):]
	} else {
		doc = strings.TrimRight(doc, "\n") + "\n\n" + section + "\n"
	}
	return os.WriteFile(path, []byte(doc), 0o644)
}

// eachDriver runs one driver's benchmark after the other and collects the results; an error
// names its driver and stops the rest.
func eachDriver[R any](drivers []string, run func(driver string) (R, error)) ([]R, error) {
	var out []R
	for _, d := range drivers {
		r, err := run(d)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", d, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// scratchDir sets *dir to a new temporary directory when it is empty; done removes what it created.
func scratchDir(dir *string, prefix string) (done func(), err error) {
	if *dir != "" {
		return func() {}, nil
	}
	if *dir, err = os.MkdirTemp("", prefix); err != nil {
		return nil, err
	}
	d := *dir
	return func() { os.RemoveAll(d) }, nil
}

// publish prints a section and, when write names a file, writes it there as section name.
func publish(stdout io.Writer, write, name, section string) error {
	fmt.Fprintln(stdout, section)
	if write == "" {
		return nil
	}
	return WriteSection(write, name, section)
}

// Stamp is the date line of a section.
func Stamp() string { return time.Now().UTC().Format("2006-01-02") }
