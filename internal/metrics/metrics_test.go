package metrics

import (
	"strings"
	"testing"
)

func TestWriteText(t *testing.T) {
	r := New()
	c := r.Counter("telltale_http_requests_total", "HTTP requests by route and status.", "route", "code")
	c.Inc("GET /x", "200")
	c.Add(2, "GET /x", "200")
	c.Inc(`we"ird`, "500")
	s := r.Sum("telltale_http_request_seconds_total", "Seconds spent.")
	s.Add(0.25)
	s.Add(0.5)
	r.GaugeFunc("telltale_connections", "Connections by status.", []string{"status"}, func(emit func(float64, ...string)) {
		emit(3, "monitoring")
	})
	var b strings.Builder
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	want := `# HELP telltale_connections Connections by status.
# TYPE telltale_connections gauge
telltale_connections{status="monitoring"} 3
# HELP telltale_http_request_seconds_total Seconds spent.
# TYPE telltale_http_request_seconds_total counter
telltale_http_request_seconds_total 0.75
# HELP telltale_http_requests_total HTTP requests by route and status.
# TYPE telltale_http_requests_total counter
telltale_http_requests_total{route="GET /x",code="200"} 3
telltale_http_requests_total{route="we\"ird",code="500"} 1
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
	if c.Value("GET /x", "200") != 3 {
		t.Error("Value")
	}
}
