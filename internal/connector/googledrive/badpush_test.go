package googledrive

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/connector/connectortest"
	"github.com/telltale-dev/telltale/internal/ingest"
)

// TestBadPushesRefusedCountedNothingLost (issue 14, "Bad input"): channel notifications that are
// malformed, carry a forged token, name a channel id Telltale did not make, or replay a message
// number already taken are refused by ingest's webhook gate as the API hands them over, each
// counted in telltale_webhook_refused_total{service="google_drive",reason}; none is accepted (none
// wakes a stream), and every activity of the drives, while those arrived, is still stored exactly
// once.
func TestBadPushesRefusedCountedNothingLost(t *testing.T) {
	e := connectortest.NewEnv(t, connectortest.Harness{Connector: New(), NewVendor: newGoogleVendor}, "all", nil)
	v := e.V.(*googleVendor)
	ctx := context.Background()
	truths, first := e.FirstPush(30, func(p connectortest.Push) bool { return p.Header.Get("X-Goog-Resource-State") == "change" })
	genuine := first.Header // a change notification the emulator sent, as it sent it

	// The organization goes on acting while bad notifications arrive; its own are lost, so only
	// the polls can collect this activity.
	v.DropPushes(true)
	truths = append(truths, e.V.Act(30)...)
	with := func(set map[string]string, del ...string) http.Header {
		h := genuine.Clone()
		for k, val := range set {
			h.Set(k, val)
		}
		for _, k := range del {
			h.Del(k)
		}
		return h
	}
	n := 1_000_000 // message numbers above any the emulator sent: only the check under test refuses
	next := func() string { n++; return strconv.Itoa(n) }
	bad := []struct {
		name, reason string
		h            http.Header
	}{
		{"no resource state", connector.WebhookMalformed, with(map[string]string{"X-Goog-Message-Number": next()}, "X-Goog-Resource-State")},
		{"no channel id", connector.WebhookMalformed, with(map[string]string{"X-Goog-Message-Number": next()}, "X-Goog-Channel-ID")},
		{"message number not a number", connector.WebhookMalformed, with(map[string]string{"X-Goog-Message-Number": "x"})},
		{"resource state unknown", connector.WebhookMalformed, with(map[string]string{"X-Goog-Message-Number": next(), "X-Goog-Resource-State": "exploded"})},
		{"forged token", connector.WebhookBadSignature, with(map[string]string{"X-Goog-Message-Number": next(), "X-Goog-Channel-Token": "forged"})},
		{"no token", connector.WebhookBadSignature, with(map[string]string{"X-Goog-Message-Number": next()}, "X-Goog-Channel-Token")},
		{"unknown channel id", connector.WebhookUnknownSubscription,
			with(map[string]string{"X-Goog-Message-Number": next(), "X-Goog-Channel-ID": "4ba78bf0-6a47-11e2-bcfd-0800200c9a77"})},
		{"replayed message number", connector.WebhookReplayed, genuine},
		{"older message number", connector.WebhookReplayed, with(map[string]string{"X-Goog-Message-Number": "1"})},
	}
	refused := e.Metrics.Counter("telltale_webhook_refused_total", "", "service", "reason")
	before := map[string]int64{}
	want := map[string]int64{}
	for _, b := range bad {
		before[b.reason] = refused.Value("google_drive", b.reason)
		want[b.reason]++
	}
	st0 := e.Ingest.Stats()
	id := strconv.FormatInt(e.Conn.ID, 10)
	for _, b := range bad {
		_, err := e.Ingest.Webhook(ctx, "google_drive", id, b.h, nil, strings.NewReader(""))
		if got := ingest.WebhookRefusalReason(err); got != b.reason {
			t.Errorf("%s: refused as %q (%v), want %q", b.name, got, err, b.reason)
		}
	}
	e.Ingest.WaitWebhooks()
	for reason, w := range want {
		if got := refused.Value("google_drive", reason) - before[reason]; got != w {
			t.Errorf(`telltale_webhook_refused_total{service="google_drive",reason=%q} grew by %d, want %d`, reason, got, w)
		}
	}
	// Each bad one was refused above, request by request; the accepted count is not compared: the
	// channel's genuine pushes may arrive meanwhile (a CI run saw 2).
	st := e.Ingest.Stats()
	if st.WebhooksRefused-st0.WebhooksRefused != int64(len(bad)) {
		t.Errorf("refused %d of %d bad notifications, want all", st.WebhooksRefused-st0.WebhooksRefused, len(bad))
	}

	// Nothing is lost: the polls store every activity once, those announced by the genuine
	// notifications and those whose notifications were lost among the bad ones.
	active, _ := v.Owners()
	connectortest.CollectAll(t, e, truths, connectortest.Monitored(active))
	v.DropPushes(false)
}
