// Package metrics is Telltale's Prometheus registry: a thin layer over
// github.com/prometheus/client_golang that keeps call sites short (counters, histograms and
// series computed at scrape time, each with its label names declared once) and writes the text
// exposition format at /metrics. The registry carries the Go runtime and process collectors.
//
// Names follow Prometheus conventions: counters end in _total, durations are in seconds and named
// _seconds, and label values come from closed sets (routes, services, reasons, connection ids),
// never from request input.
package metrics

import (
	"fmt"
	"io"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// Registry holds metric families. The zero value is not usable; call New.
type Registry struct {
	reg    *prometheus.Registry
	mu     sync.Mutex
	byName map[string]prometheus.Collector
}

// New returns a registry with the Go runtime and process collectors.
func New() *Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return &Registry{reg: reg, byName: map[string]prometheus.Collector{}}
}

// Prometheus returns the underlying registry, for collectors of other libraries.
func (r *Registry) Prometheus() *prometheus.Registry { return r.reg }

// register adds the collector make builds under name, or returns the one already registered
// under that name (a family is declared once; asking again by name, as tests do, gets it).
func register[C prometheus.Collector](r *Registry, name string, make func() C) C {
	r.mu.Lock()
	defer r.mu.Unlock()
	if existing, ok := r.byName[name]; ok {
		if c, ok := existing.(C); ok {
			return c
		}
		panic(fmt.Sprintf("metrics: %s is registered as another kind of metric", name))
	}
	c := make()
	r.reg.MustRegister(c)
	r.byName[name] = c
	return c
}

// Counter is a monotonically increasing count with labels.
type Counter struct{ v *prometheus.CounterVec }

// Counter registers (or returns) a counter family; its name should end in _total.
func (r *Registry) Counter(name, help string, labels ...string) Counter {
	return Counter{register(r, name, func() *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	})}
}

// Add adds n (>= 0) to the series with the given label values.
func (c Counter) Add(n int64, labelValues ...string) {
	c.v.WithLabelValues(labelValues...).Add(float64(n))
}

// Inc adds one.
func (c Counter) Inc(labelValues ...string) { c.v.WithLabelValues(labelValues...).Inc() }

// Value returns the current value of a series (for tests).
func (c Counter) Value(labelValues ...string) int64 {
	var m dto.Metric
	if err := c.v.WithLabelValues(labelValues...).Write(&m); err != nil {
		return 0
	}
	return int64(m.GetCounter().GetValue())
}

// Histogram counts observations in buckets (request latencies, in seconds).
type Histogram struct{ v *prometheus.HistogramVec }

// LatencyBuckets suit request latencies of an HTTP API backed by a database: 1 ms to 30 s.
var LatencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// Histogram registers (or returns) a histogram family; name it _seconds for durations.
func (r *Registry) Histogram(name, help string, buckets []float64, labels ...string) Histogram {
	return Histogram{register(r, name, func() *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
	})}
}

// Observe records one value in the series with the given label values.
func (h Histogram) Observe(v float64, labelValues ...string) {
	h.v.WithLabelValues(labelValues...).Observe(v)
}

// Count returns how many values a series has recorded (for tests).
func (h Histogram) Count(labelValues ...string) uint64 {
	var m dto.Metric
	if err := h.v.WithLabelValues(labelValues...).(prometheus.Metric).Write(&m); err != nil {
		return 0
	}
	return m.GetHistogram().GetSampleCount()
}

// scraped is a family whose series are produced at scrape time.
type scraped struct {
	desc    *prometheus.Desc
	kind    prometheus.ValueType
	collect func(emit func(value float64, labelValues ...string))
}

func (s *scraped) Describe(ch chan<- *prometheus.Desc) { ch <- s.desc }

func (s *scraped) Collect(ch chan<- prometheus.Metric) {
	s.collect(func(v float64, lv ...string) {
		m, err := prometheus.NewConstMetric(s.desc, s.kind, v, lv...)
		if err == nil {
			ch <- m
		}
	})
}

// GaugeFunc registers a gauge whose series collect produces at scrape time.
func (r *Registry) GaugeFunc(name, help string, labels []string, collect func(emit func(value float64, labelValues ...string))) {
	register(r, name, func() *scraped {
		return &scraped{desc: prometheus.NewDesc(name, help, labels, nil), kind: prometheus.GaugeValue, collect: collect}
	})
}

// CounterFunc registers a counter whose series collect produces at scrape time (totals kept
// elsewhere, such as collection's statistics); its name should end in _total.
func (r *Registry) CounterFunc(name, help string, labels []string, collect func(emit func(value float64, labelValues ...string))) {
	register(r, name, func() *scraped {
		return &scraped{desc: prometheus.NewDesc(name, help, labels, nil), kind: prometheus.CounterValue, collect: collect}
	})
}

// WriteText writes every family in the Prometheus text exposition format.
func (r *Registry) WriteText(w io.Writer) error {
	mfs, err := r.reg.Gather()
	if err != nil {
		return fmt.Errorf("metrics: gather: %w", err)
	}
	enc := expfmt.NewEncoder(w, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return fmt.Errorf("metrics: encode %s: %w", mf.GetName(), err)
		}
	}
	return nil
}

// ContentType is the media type WriteText writes.
var ContentType = string(expfmt.NewFormat(expfmt.TypeTextPlain))
