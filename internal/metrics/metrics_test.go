package metrics

import (
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// TestWriteText: what /metrics serves parses as the Prometheus text format, with the declared
// types, the runtime and process collectors, escaped label values and histogram buckets.
func TestWriteText(t *testing.T) {
	r := New()
	c := r.Counter("telltale_http_requests_total", "HTTP requests by route and status.", "route", "code")
	c.Inc("GET /x", "200")
	c.Add(2, "GET /x", "200")
	c.Inc(`we"ird`, "500")
	if again := r.Counter("telltale_http_requests_total", "HTTP requests by route and status.", "route", "code"); again.Value("GET /x", "200") != 3 {
		t.Errorf("registering again does not return the same family")
	}
	h := r.Histogram("telltale_http_request_duration_seconds", "Time to serve.", LatencyBuckets, "route")
	h.Observe(0.003, "GET /x")
	h.Observe(2, "GET /x")
	r.GaugeFunc("telltale_connections", "Connections by status.", []string{"status"}, func(emit func(float64, ...string)) {
		emit(3, "monitoring")
	})
	r.CounterFunc("telltale_collect_records_total", "Records.", []string{"outcome"}, func(emit func(float64, ...string)) {
		emit(42, "read")
	})
	var b strings.Builder
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(b.String()))
	if err != nil {
		t.Fatalf("not the text format: %v\n%s", err, b.String())
	}
	for name, want := range map[string]dto.MetricType{
		"telltale_http_requests_total":           dto.MetricType_COUNTER,
		"telltale_http_request_duration_seconds": dto.MetricType_HISTOGRAM,
		"telltale_connections":                   dto.MetricType_GAUGE,
		"telltale_collect_records_total":         dto.MetricType_COUNTER,
		"go_goroutines":                          dto.MetricType_GAUGE,
		"process_resident_memory_bytes":          dto.MetricType_GAUGE,
	} {
		f, ok := fams[name]
		if !ok {
			t.Errorf("%s missing", name)
			continue
		}
		if f.GetType() != want {
			t.Errorf("%s is a %v, want %v", name, f.GetType(), want)
		}
	}
	if !strings.Contains(b.String(), `telltale_http_requests_total{code="200",route="GET /x"} 3`) || !strings.Contains(b.String(), `route="we\"ird"`) {
		t.Errorf("counter series:\n%s", b.String())
	}
	if !strings.Contains(b.String(), `telltale_http_request_duration_seconds_bucket{route="GET /x",le="0.005"} 1`) ||
		!strings.Contains(b.String(), `telltale_http_request_duration_seconds_bucket{route="GET /x",le="+Inf"} 2`) || h.Count("GET /x") != 2 {
		t.Errorf("histogram series:\n%s", b.String())
	}
	if !strings.Contains(b.String(), `telltale_collect_records_total{outcome="read"} 42`) {
		t.Errorf("scrape-time counter:\n%s", b.String())
	}
}
