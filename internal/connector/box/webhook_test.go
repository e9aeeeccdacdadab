package box_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/clock"
	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/connector/box"
)

func sign(key string, body []byte, ts string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write(body)
	m.Write([]byte(ts))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// TestWebhookSignatures: deliveries signed with either key within 10 minutes pass; a forged,
// stale, re-serialized or unsigned one is refused with ErrForged (Box webhooks v2 signatures).
func TestWebhookSignatures(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	clk := clock.NewFake(now)
	cfg := connector.Config{TenantID: "900001",
		Settings:    map[string]string{"enterprise_id": "900001", "client_id": "c", "admin_email": "a@example.com"},
		Credentials: map[string]string{"client_secret": "s", "webhook_primary_key": "pk-1", "webhook_secondary_key": "sk-2"}}
	sess, err := box.New().Open(context.Background(), cfg, connector.Deps{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"type":"webhook_event","id":"d1","trigger":"FILE.UPLOADED","source":{"id":"12","type":"file"}}`)
	ts := now.Add(-time.Minute).Format(time.RFC3339)
	hdr := func(ts, primary, secondary string) http.Header {
		h := http.Header{}
		h.Set("BOX-DELIVERY-ID", "x")
		h.Set("BOX-DELIVERY-TIMESTAMP", ts)
		h.Set("BOX-SIGNATURE-VERSION", "1")
		h.Set("BOX-SIGNATURE-ALGORITHM", "HmacSHA256")
		if primary != "" {
			h.Set("BOX-SIGNATURE-PRIMARY", primary)
		}
		if secondary != "" {
			h.Set("BOX-SIGNATURE-SECONDARY", secondary)
		}
		return h
	}
	stale := now.Add(-11 * time.Minute).Format(time.RFC3339)
	for _, c := range []struct {
		name string
		h    http.Header
		body []byte
		ok   bool
	}{
		{"primary key", hdr(ts, sign("pk-1", body, ts), ""), body, true},
		{"secondary key only (rotation)", hdr(ts, "bogus", sign("sk-2", body, ts)), body, true},
		{"wrong key", hdr(ts, sign("other", body, ts), sign("other2", body, ts)), body, false},
		{"body changed", hdr(ts, sign("pk-1", body, ts), ""), append([]byte(" "), body...), false},
		{"stale timestamp", hdr(stale, sign("pk-1", body, stale), ""), body, false},
		{"timestamp not signed with body", hdr(now.Format(time.RFC3339), sign("pk-1", body, ts), ""), body, false},
		{"no signature", hdr(ts, "", ""), body, false},
		{"bad version", func() http.Header {
			h := hdr(ts, sign("pk-1", body, ts), "")
			h.Set("BOX-SIGNATURE-VERSION", "2")
			return h
		}(), body, false},
	} {
		err := sess.Webhook(c.h, c.body)
		if c.ok && err != nil {
			t.Errorf("%s: refused: %v", c.name, err)
		}
		if !c.ok && !errors.Is(err, connector.ErrForged) {
			t.Errorf("%s: got %v, want ErrForged", c.name, err)
		}
	}
	// Without configured keys every delivery is refused, with a message saying what to configure.
	cfg.Credentials = map[string]string{"client_secret": "s"}
	bare, _ := box.New().Open(context.Background(), cfg, connector.Deps{Clock: clk})
	if err := bare.Webhook(hdr(ts, sign("pk-1", body, ts), ""), body); !errors.Is(err, connector.ErrForged) {
		t.Errorf("no keys configured: %v", err)
	}
}
