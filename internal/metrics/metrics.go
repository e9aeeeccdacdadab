// Package metrics keeps Telltale's counters and gauges and writes them in the Prometheus text
// exposition format (version 0.0.4) at /metrics. It is a few dozen lines instead of a dependency:
// Telltale needs counters, gauges and callback gauges, nothing more.
package metrics

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Registry holds metric families. The zero value is not usable; call New.
type Registry struct {
	mu       sync.Mutex
	families map[string]*family
}

type family struct {
	name, help, kind string
	labels           []string
	mu               sync.Mutex
	series           map[string]*atomic.Int64 // key: label values joined by \xff
	floats           map[string]*floatVal
	collect          func(emit func(value float64, labelValues ...string))
}

type floatVal struct {
	mu sync.Mutex
	v  float64
}

// New returns an empty registry.
func New() *Registry { return &Registry{families: map[string]*family{}} }

func (r *Registry) add(name, help, kind string, labels []string) *family {
	r.mu.Lock()
	defer r.mu.Unlock()
	if f, ok := r.families[name]; ok {
		return f
	}
	f := &family{name: name, help: help, kind: kind, labels: labels, series: map[string]*atomic.Int64{}, floats: map[string]*floatVal{}}
	r.families[name] = f
	return f
}

// Counter is a monotonically increasing integer with labels.
type Counter struct{ f *family }

// Counter registers (or returns) a counter family.
func (r *Registry) Counter(name, help string, labels ...string) Counter {
	return Counter{r.add(name, help, "counter", labels)}
}

// Add adds n to the series with the given label values.
func (c Counter) Add(n int64, labelValues ...string) { c.f.get(labelValues).Add(n) }

// Inc adds one.
func (c Counter) Inc(labelValues ...string) { c.Add(1, labelValues...) }

// Value returns the current value of a series (for tests).
func (c Counter) Value(labelValues ...string) int64 { return c.f.get(labelValues).Load() }

// Sum is a float counter (e.g. seconds spent), exposed as a counter.
type Sum struct{ f *family }

// Sum registers a float counter family.
func (r *Registry) Sum(name, help string, labels ...string) Sum {
	return Sum{r.add(name, help, "counter", labels)}
}

// Add adds v to the series.
func (s Sum) Add(v float64, labelValues ...string) {
	k := key(labelValues)
	s.f.mu.Lock()
	fv, ok := s.f.floats[k]
	if !ok {
		fv = &floatVal{}
		s.f.floats[k] = fv
	}
	s.f.mu.Unlock()
	fv.mu.Lock()
	fv.v += v
	fv.mu.Unlock()
}

// GaugeFunc registers a gauge whose series are produced at scrape time by collect.
func (r *Registry) GaugeFunc(name, help string, labels []string, collect func(emit func(value float64, labelValues ...string))) {
	f := r.add(name, help, "gauge", labels)
	f.collect = collect
}

func key(vals []string) string { return strings.Join(vals, "\xff") }

func (f *family) get(vals []string) *atomic.Int64 {
	if len(vals) != len(f.labels) {
		panic(fmt.Sprintf("metrics: %s wants %d label values, got %d", f.name, len(f.labels), len(vals)))
	}
	k := key(vals)
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.series[k]
	if !ok {
		v = &atomic.Int64{}
		f.series[k] = v
	}
	return v
}

// WriteText writes every family in the Prometheus text format, families and series sorted.
func (r *Registry) WriteText(w io.Writer) error {
	r.mu.Lock()
	names := make([]string, 0, len(r.families))
	for n := range r.families {
		names = append(names, n)
	}
	r.mu.Unlock()
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		r.mu.Lock()
		f := r.families[n]
		r.mu.Unlock()
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", f.name, escapeHelp(f.help), f.name, f.kind)
		type line struct{ labels, value string }
		var lines []line
		if f.collect != nil {
			f.collect(func(v float64, vals ...string) {
				lines = append(lines, line{f.labelText(vals), strconv.FormatFloat(v, 'g', -1, 64)})
			})
		}
		f.mu.Lock()
		for k, v := range f.series {
			lines = append(lines, line{f.labelText(split(k, len(f.labels))), strconv.FormatInt(v.Load(), 10)})
		}
		for k, v := range f.floats {
			v.mu.Lock()
			lines = append(lines, line{f.labelText(split(k, len(f.labels))), strconv.FormatFloat(v.v, 'g', -1, 64)})
			v.mu.Unlock()
		}
		f.mu.Unlock()
		sort.Slice(lines, func(i, j int) bool { return lines[i].labels < lines[j].labels })
		for _, l := range lines {
			fmt.Fprintf(&b, "%s%s %s\n", f.name, l.labels, l.value)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func split(k string, n int) []string {
	if n == 0 {
		return nil
	}
	return strings.Split(k, "\xff")
}

func (f *family) labelText(vals []string) string {
	if len(f.labels) == 0 {
		return ""
	}
	parts := make([]string, len(f.labels))
	for i, l := range f.labels {
		v := ""
		if i < len(vals) {
			v = vals[i]
		}
		parts[i] = l + `="` + escapeValue(v) + `"`
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func escapeHelp(s string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(s)
}

func escapeValue(s string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`).Replace(s)
}
