package app_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/telltale-dev/telltale/client"
	"github.com/telltale-dev/telltale/internal/app"
	"github.com/telltale-dev/telltale/internal/config"
	boxemu "github.com/telltale-dev/telltale/internal/emulator/box"
	"github.com/telltale-dev/telltale/internal/store"
)

// TestWebhookPath: with a public URL the Box connection registers webhooks while indexing; a
// signed delivery makes the stream poll at once, so activity is stored within seconds although
// the poll interval is 10 minutes. A forged delivery is refused and counted.
func TestWebhookPath(t *testing.T) {
	emu := boxemu.New(boxemu.Options{Seed: 3, Users: 4, InactiveUsers: 1, FilesPerUser: 10, FoldersPerUser: 3, Depth: 1, RateLimitPerMinute: -1, MaxFileSize: 1024})
	vendor := httptest.NewServer(emu.Handler())
	defer vendor.Close()
	defer emu.Close()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	rand.Read(key)
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.SecretKey = base64.StdEncoding.EncodeToString(key)
	cfg.BootstrapToken = "webhook-test-bootstrap-token-0123456789"
	cfg.AllowLoopback = true
	cfg.PollInterval = 10 * time.Minute
	cfg.PublicURL = "http://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, err := app.New(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, ln) }()
	defer func() { cancel(); <-done }()

	cl := client.New(cfg.PublicURL, cfg.BootstrapToken)
	c, err := cl.CreateConnection(ctx, client.NewConnection{Name: "Box hooks", Service: "box", TenantID: "900001",
		Settings:    map[string]string{"enterprise_id": "900001", "client_id": "emu-client-id", "admin_email": "admin@example.com", "api_url": vendor.URL, "rate_limit": "0"},
		Credentials: map[string]string{"client_secret": "emu-client-secret", "webhook_primary_key": "emu-primary-key", "webhook_secondary_key": "emu-secondary-key"}})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the connection to reach Monitoring", func() bool {
		got, err := cl.Connection(ctx, c.ID)
		return err == nil && got.Status == "monitoring"
	})
	// The first stream poll has run; from now on only webhooks can make collection poll within 10 minutes.
	time.Sleep(200 * time.Millisecond)
	acts := emu.Step(40)
	want := map[string]bool{}
	for _, x := range acts {
		if x.FileActivity && x.ItemType == "file" {
			want[x.EventID] = true
		}
	}
	stored := func() int {
		evs, _ := a.Store.ListEvents(ctx, store.EventFilter{Limit: 10000})
		n := 0
		for _, e := range evs {
			for _, id := range e.Event.VendorIDs {
				if want[id] {
					n++
				}
			}
		}
		return n
	}
	waitFor(t, 20*time.Second, "webhook deliveries to bring activity in", func() bool { return stored() > 0 })
	if emu.Stats().WebhookDeliveries == 0 || a.Ingest.Stats().WebhooksAccepted == 0 {
		t.Errorf("deliveries %d, accepted %d", emu.Stats().WebhookDeliveries, a.Ingest.Stats().WebhooksAccepted)
	}

	// A forged delivery: 401, counted, nothing scheduled.
	body := []byte(`{"type":"webhook_event","id":"forged"}`)
	req, _ := http.NewRequest("POST", cfg.PublicURL+"/api/v1/webhooks/box/"+c.ID, bytes.NewReader(body))
	req.Header.Set("BOX-DELIVERY-TIMESTAMP", time.Now().UTC().Format(time.RFC3339))
	req.Header.Set("BOX-SIGNATURE-VERSION", "1")
	req.Header.Set("BOX-SIGNATURE-ALGORITHM", "HmacSHA256")
	req.Header.Set("BOX-SIGNATURE-PRIMARY", boxemu.Sign("not-the-key", body, req.Header.Get("BOX-DELIVERY-TIMESTAMP")))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || a.Ingest.Stats().WebhooksRefused == 0 {
		t.Errorf("forged delivery: %d, refused count %d", resp.StatusCode, a.Ingest.Stats().WebhooksRefused)
	}

	// Per-connection metrics: events stored, the lag and the age of the stream's cursor. The lag
	// needs the connection's newest event time, recorded when the stream's run ends.
	var fams map[string]*dto.MetricFamily
	scrape := func() {
		req, _ := http.NewRequest("GET", cfg.PublicURL+"/metrics", nil)
		req.Header.Set("Authorization", "Bearer "+cfg.BootstrapToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		parser := expfmt.NewTextParser(model.UTF8Validation)
		if fams, err = parser.TextToMetricFamilies(resp.Body); err != nil {
			t.Fatal(err)
		}
	}
	value := func(name string) (float64, bool) {
		for _, m := range fams[name].GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "connection_id" && l.GetValue() == c.ID {
					return m.GetCounter().GetValue() + m.GetGauge().GetValue(), true
				}
			}
		}
		return 0, false
	}
	waitFor(t, 20*time.Second, "the connection's lag to be measured", func() bool {
		scrape()
		_, ok := value("telltale_connection_lag_seconds")
		return ok
	})
	// Events the stream stored, counted after each commit: some, and no more than the connection's
	// events in the store now (which also holds the baseline crawl's and what arrived since).
	connID, _ := strconv.ParseInt(c.ID, 10, 64)
	evs, err := a.Store.ListEvents(ctx, store.EventFilter{ConnectionID: connID, Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := value("telltale_connection_events_total"); !ok || v == 0 || v > float64(len(evs)) {
		t.Errorf("telltale_connection_events_total = %v (%v), want from 1 to the %d events stored", v, ok, len(evs))
	}
	if v, ok := value("telltale_connection_records_total"); !ok || v == 0 {
		t.Errorf("telltale_connection_records_total = %v (%v)", v, ok)
	}
	if v, ok := value("telltale_stream_cursor_age_seconds"); !ok || v < 0 || v > 60 {
		t.Errorf("telltale_stream_cursor_age_seconds = %v (%v)", v, ok)
	}
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
