package ingest_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/connector"
	boxemu "github.com/telltale-dev/telltale/internal/emulator/box"
	"github.com/telltale-dev/telltale/internal/ingest"
)

// boxDelivery is a Box webhook v2 delivery signed with key at ts.
func boxDelivery(key string, body []byte, ts time.Time, deliveryID string) http.Header {
	h := http.Header{}
	stamp := ts.UTC().Format(time.RFC3339)
	h.Set("BOX-DELIVERY-ID", deliveryID)
	h.Set("BOX-DELIVERY-TIMESTAMP", stamp)
	h.Set("BOX-SIGNATURE-VERSION", "1")
	h.Set("BOX-SIGNATURE-ALGORITHM", "HmacSHA256")
	h.Set("BOX-SIGNATURE-PRIMARY", boxemu.Sign(key, body, stamp))
	return h
}

// TestWebhookReplayActsOnce (issue 12, defect 8): a validly signed delivery wakes collection once;
// replaying it within the signature's freshness window (even with a new BOX-DELIVERY-ID, which Box
// does not sign), or Box retrying it with a new timestamp, is acknowledged without effect. The
// remembered ids expire with the window, after which the replay is refused as stale.
func TestWebhookReplayActsOnce(t *testing.T) {
	e := newEnv(t, nil, true)
	c := e.connect("Box hooks", "", nil)
	id := strconv.FormatInt(c.ID, 10)
	body := []byte(`{"type":"webhook_event","id":"11111111-2222","trigger":"FILE.UPLOADED","source":{"id":"12","type":"file"}}`)
	signedAt := e.clock.Now()
	h := boxDelivery("emu-primary-key", body, signedAt, "delivery-1")
	if err := e.webhook("box", id, h, bytes.NewReader(body)); err != nil {
		t.Fatalf("genuine delivery: %v", err)
	}
	e.clock.Advance(time.Minute)
	replayed := h.Clone()
	replayed.Set("BOX-DELIVERY-ID", "delivery-forged-2")
	retry := boxDelivery("emu-primary-key", body, e.clock.Now(), "delivery-3")
	for name, hdr := range map[string]http.Header{"replay": h, "replay with another delivery id": replayed, "vendor retry": retry} {
		if err := e.webhook("box", id, hdr, bytes.NewReader(body)); err != nil {
			t.Errorf("%s: %v, want acknowledged", name, err)
		}
	}
	if e.kicks != 1 {
		t.Errorf("collection woken %d times, want once", e.kicks)
	}
	st := e.ingest.Stats()
	if st.WebhooksAccepted != 1 || st.WebhookDuplicates != 3 {
		t.Errorf("accepted %d duplicates %d, want 1 and 3", st.WebhooksAccepted, st.WebhookDuplicates)
	}
	dup := e.metrics.Counter("telltale_webhook_deliveries_total", "", "service", "result")
	if dup.Value("box", "accepted") != 1 || dup.Value("box", "duplicate") != 3 {
		t.Errorf("deliveries metric: accepted %d duplicate %d", dup.Value("box", "accepted"), dup.Value("box", "duplicate"))
	}
	// Another event is accepted.
	other := []byte(`{"type":"webhook_event","id":"33333333-4444"}`)
	if err := e.webhook("box", id, boxDelivery("emu-primary-key", other, e.clock.Now(), "d-4"), bytes.NewReader(other)); err != nil || e.kicks != 2 {
		t.Errorf("another event: %v, kicks %d", err, e.kicks)
	}
	// After the freshness window the replay is stale, and the ids are forgotten (memory stays bounded).
	e.clock.Advance(15 * time.Minute)
	err := e.webhook("box", id, h, bytes.NewReader(body))
	if ingest.WebhookRefusalReason(err) != connector.WebhookStale {
		t.Errorf("replay after the window: %v, want a stale refusal", err)
	}
	fresh := []byte(`{"type":"webhook_event","id":"55555555-6666"}`)
	if err := e.webhook("box", id, boxDelivery("emu-primary-key", fresh, e.clock.Now(), "d-5"), bytes.NewReader(fresh)); err != nil {
		t.Fatal(err)
	}
	if n := e.ingest.SeenWebhookDeliveries(c.ID); n != 1 {
		t.Errorf("%d delivery ids remembered after the window, want 1 (the newest)", n)
	}
}

// TestWebhookRefusalsDoNotFloodTheLog (issue 12, defect 8): 1,000 forged deliveries within a
// minute write one warning line; the metric counts each by reason; the next line, a minute later,
// says how many were refused since and why.
func TestWebhookRefusalsDoNotFloodTheLog(t *testing.T) {
	e := newEnv(t, nil, true)
	c := e.connect("Box hooks", "", nil)
	id := strconv.FormatInt(c.ID, 10)
	body := []byte(`{"type":"webhook_event","id":"forged"}`)
	for i := 0; i < 1000; i++ {
		h := boxDelivery("not-the-key", body, e.clock.Now(), fmt.Sprint("d-", i))
		if err := e.webhook("box", id, h, bytes.NewReader(body)); ingest.WebhookRefusalReason(err) != connector.WebhookBadSignature {
			t.Fatalf("forged delivery %d: %v", i, err)
		}
		e.clock.Advance(50 * time.Millisecond) // 1,000 in 50 seconds
	}
	lines := strings.Count(e.logs.String(), "push notifications refused")
	if lines != 1 {
		t.Errorf("%d log lines for 1,000 forged deliveries within a minute, want 1:\n%s", lines, e.logs.String())
	}
	refused := e.metrics.Counter("telltale_webhook_refused_total", "", "service", "reason")
	if n := refused.Value("box", connector.WebhookBadSignature); n != 1000 {
		t.Errorf("telltale_webhook_refused_total{service=box,reason=bad_signature} = %d, want 1000", n)
	}
	if e.kicks != 0 {
		t.Errorf("forged deliveries woke collection %d times", e.kicks)
	}
	// Unknown ids, and a service path that is not a connector, are counted without a label per path.
	e.clock.Advance(20 * time.Second)
	if err := e.webhook("no-such-vendor-"+strings.Repeat("x", 40), "99999", http.Header{}, bytes.NewReader(body)); ingest.WebhookRefusalReason(err) != ingest.WebhookUnknownConnection {
		t.Errorf("unknown connection: %v", err)
	}
	if n := refused.Value("unknown", ingest.WebhookUnknownConnection); n != 1 {
		t.Errorf("refusals of an unknown service are labelled unknown: %d", n)
	}
	if err := e.webhook("box", id, boxDelivery("not-the-key", body, e.clock.Now(), "last"), bytes.NewReader(body)); err == nil {
		t.Fatal("forged delivery accepted")
	}
	log := e.logs.String()
	if n := strings.Count(log, "push notifications refused"); n != 3 || !strings.Contains(log, "refused=1000") || !strings.Contains(log, `reasons="bad_signature=1000"`) {
		t.Errorf("after the minute: %d lines, want the box line to report the 1,000 since the last one:\n%s", n, log)
	}
}

// webhook hands a push notification to ingest as the API does (no query), keeping the error.
func (e *env) webhook(service, id string, h http.Header, body io.Reader) error {
	_, err := e.ingest.Webhook(ctx, service, id, h, nil, body)
	e.ingest.WaitWebhooks() // acted on after the answer: wait, as a test looks at the effect
	return err
}
