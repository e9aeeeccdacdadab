package box_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
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
		name   string
		h      http.Header
		body   []byte
		reason string // "" accepted
	}{
		{"primary key", hdr(ts, sign("pk-1", body, ts), ""), body, ""},
		{"secondary key only (rotation)", hdr(ts, "bogus", sign("sk-2", body, ts)), body, ""},
		{"wrong key", hdr(ts, sign("other", body, ts), sign("other2", body, ts)), body, connector.WebhookBadSignature},
		{"body changed", hdr(ts, sign("pk-1", body, ts), ""), append([]byte(" "), body...), connector.WebhookBadSignature},
		{"stale timestamp", hdr(stale, sign("pk-1", body, stale), ""), body, connector.WebhookStale},
		{"timestamp not signed with body", hdr(now.Format(time.RFC3339), sign("pk-1", body, ts), ""), body, connector.WebhookBadSignature},
		{"no signature", hdr(ts, "", ""), body, connector.WebhookBadSignature},
		{"bad version", func() http.Header {
			h := hdr(ts, sign("pk-1", body, ts), "")
			h.Set("BOX-SIGNATURE-VERSION", "2")
			return h
		}(), body, connector.WebhookMalformed},
	} {
		d, err := sess.Deliver(context.Background(), connector.Push{Header: c.h, Body: c.body})
		var wr *connector.WebhookRefusal
		switch {
		case c.reason == "" && err != nil:
			t.Errorf("%s: refused: %v", c.name, err)
		case c.reason == "" && (d.ID != "event:d1" || !d.FreshUntil.Equal(now.Add(9*time.Minute))):
			t.Errorf("%s: delivery %+v, want id event:d1 fresh until %v", c.name, d, now.Add(9*time.Minute))
		case c.reason != "" && (!errors.Is(err, connector.ErrForged) || !errors.As(err, &wr) || wr.Reason != c.reason):
			t.Errorf("%s: got %v, want ErrForged with reason %s", c.name, err, c.reason)
		}
	}
	// Without configured keys every delivery is refused, with a message saying what to configure.
	cfg.Credentials = map[string]string{"client_secret": "s"}
	bare, _ := box.New().Open(context.Background(), cfg, connector.Deps{Clock: clk})
	var wr *connector.WebhookRefusal
	if _, err := bare.Deliver(context.Background(), connector.Push{Header: hdr(ts, sign("pk-1", body, ts), ""), Body: body}); !errors.As(err, &wr) || wr.Reason != connector.WebhookNoKeys {
		t.Errorf("no keys configured: %v", err)
	}
}

// TestWebhookDeliveryID: a delivery is identified by the signed body's id, the same for Box's
// retries (new BOX-DELIVERY-ID and timestamp) and for a replay with a changed BOX-DELIVERY-ID; a
// body without an id is identified by what was signed.
func TestWebhookDeliveryID(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	cfg := connector.Config{TenantID: "900001",
		Settings:    map[string]string{"enterprise_id": "900001", "client_id": "c", "admin_email": "a@example.com"},
		Credentials: map[string]string{"client_secret": "s", "webhook_primary_key": "pk-1"}}
	sess, err := box.New().Open(context.Background(), cfg, connector.Deps{Clock: clock.NewFake(now)})
	if err != nil {
		t.Fatal(err)
	}
	deliver := func(body, ts, deliveryID string) string {
		h := http.Header{}
		h.Set("BOX-DELIVERY-ID", deliveryID)
		h.Set("BOX-DELIVERY-TIMESTAMP", ts)
		h.Set("BOX-SIGNATURE-VERSION", "1")
		h.Set("BOX-SIGNATURE-ALGORITHM", "HmacSHA256")
		h.Set("BOX-SIGNATURE-PRIMARY", sign("pk-1", []byte(body), ts))
		d, err := sess.Deliver(context.Background(), connector.Push{Header: h, Body: []byte(body)})
		if err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		return d.ID
	}
	t1, t2 := now.Add(-2*time.Minute).Format(time.RFC3339), now.Format(time.RFC3339)
	a := deliver(`{"type":"webhook_event","id":"e-1"}`, t1, "d-1")
	if retry := deliver(`{"type":"webhook_event","id":"e-1"}`, t2, "d-2"); retry != a || a != "event:e-1" {
		t.Errorf("retry: %q and %q, want both event:e-1", a, retry)
	}
	if other := deliver(`{"type":"webhook_event","id":"e-2"}`, t1, "d-1"); other == a {
		t.Errorf("another event has the same id %q", other)
	}
	x := deliver(`{"type":"webhook_event"}`, t1, "d-1")
	if y := deliver(`{"type":"webhook_event"}`, t1, "d-9"); x != y || x == deliver(`{"type":"webhook_event"}`, t2, "d-1") {
		t.Errorf("bodies without id: %q %q", x, y)
	}
}

// FuzzWebhook: whatever the headers and body, Webhook never panics; it accepts a delivery only
// when a configured key signed exactly that body and timestamp within the window, and then names
// the delivery with an id no longer than what was signed; every refusal is a *WebhookRefusal
// with a known reason and a detail bounded whatever the input.
func FuzzWebhook(f *testing.F) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	cfg := connector.Config{TenantID: "900001",
		Settings:    map[string]string{"enterprise_id": "900001", "client_id": "c", "admin_email": "a@example.com"},
		Credentials: map[string]string{"client_secret": "s", "webhook_primary_key": "pk-1", "webhook_secondary_key": "sk-2"}}
	sess, err := box.New().Open(context.Background(), cfg, connector.Deps{Clock: clock.NewFake(now)})
	if err != nil {
		f.Fatal(err)
	}
	ts := now.Add(-time.Minute).Format(time.RFC3339)
	body := `{"type":"webhook_event","id":"d1","trigger":"FILE.UPLOADED","source":{"id":"12","type":"file"}}`
	f.Add(body, ts, "1", "HmacSHA256", sign("pk-1", []byte(body), ts), "", false)
	f.Add(body, ts, "1", "HmacSHA256", "", sign("sk-2", []byte(body), ts), false)
	f.Add(body, ts, "1", "HmacSHA256", "forged", "", true)
	f.Add("", "", "", "", "", "", true)
	f.Add("{", "2026-11-22T09:00:00Z", "2", "HmacSHA1", "AAAA", "BBBB", false)
	reasons := map[string]bool{connector.WebhookMalformed: true, connector.WebhookStale: true, connector.WebhookNoKeys: true, connector.WebhookBadSignature: true}
	f.Fuzz(func(t *testing.T, body, ts, version, alg, primary, secondary string, signNow bool) {
		if signNow { // a genuine signature over the fuzzed body and timestamp
			primary = sign("pk-1", []byte(body), ts)
		}
		h := http.Header{}
		for k, v := range map[string]string{"BOX-DELIVERY-TIMESTAMP": ts, "BOX-SIGNATURE-VERSION": version, "BOX-SIGNATURE-ALGORITHM": alg,
			"BOX-SIGNATURE-PRIMARY": primary, "BOX-SIGNATURE-SECONDARY": secondary} {
			if v != "" {
				h.Set(k, v)
			}
		}
		d, err := sess.Deliver(context.Background(), connector.Push{Header: h, Body: []byte(body)})
		if err != nil {
			var wr *connector.WebhookRefusal
			if !errors.As(err, &wr) || !errors.Is(err, connector.ErrForged) || !reasons[wr.Reason] {
				t.Fatalf("refusal %v (%T) is not a WebhookRefusal with a known reason", err, err)
			}
			if len(wr.Detail) > 500 {
				t.Fatalf("refusal detail of %d bytes for a %d-byte delivery", len(wr.Detail), len(body)+len(ts))
			}
			return
		}
		genuine := primary == sign("pk-1", []byte(body), ts) || primary == sign("sk-2", []byte(body), ts) ||
			secondary == sign("pk-1", []byte(body), ts) || secondary == sign("sk-2", []byte(body), ts)
		if !genuine {
			t.Fatalf("accepted a delivery no key signed: %q %q", primary, secondary)
		}
		at, perr := time.Parse(time.RFC3339, ts)
		if perr != nil || now.Sub(at) > 10*time.Minute || at.Sub(now) > 10*time.Minute {
			t.Fatalf("accepted a delivery signed at %q (now %s)", ts, now)
		}
		if d.ID == "" || len(d.ID) > len(body)+64 {
			t.Fatalf("delivery id %q for a %d-byte body", d.ID, len(body))
		}
	})
}

// TestContentHasNoParts: Box content is whole files; a reference to a part (an attachment, for mail
// vendors) is refused before any call, saying so.
func TestContentHasNoParts(t *testing.T) {
	cfg := connector.Config{TenantID: "900001", Settings: map[string]string{"enterprise_id": "900001", "client_id": "c", "admin_email": "a@example.com"},
		Credentials: map[string]string{"client_secret": "s"}}
	sess, err := box.New().Open(context.Background(), cfg, connector.Deps{Clock: clock.NewFake(time.Now())})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sess.Content(context.Background(), connector.ContentRef{Drive: "1", File: "2", Part: "att-3"}); err == nil || !strings.Contains(err.Error(), "no part") {
		t.Errorf("a part of a Box file: %v", err)
	}
}
