package gmail

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/connector/connectortest"
	"github.com/telltale-dev/telltale/internal/ingest"
)

// TestBadPushesRefusedCountedNothingLost (issue 14, "Bad input"): Pub/Sub pushes that are
// malformed (no token, a token that is not a JWT, a body that is not Pub/Sub's envelope or whose
// data is not Gmail's notification) or carry a forged OIDC token (signed with another key, or
// Google's signature over changed claims) are refused by ingest's webhook gate as the API hands
// them over, each counted in telltale_webhook_refused_total{service="gmail",reason}; a replay of a
// genuine push is acknowledged without effect and counted as a duplicate. None is accepted, and
// every attachment sent meanwhile is still stored exactly once.
func TestBadPushesRefusedCountedNothingLost(t *testing.T) {
	e := connectortest.NewEnv(t, connectortest.Harness{Connector: New(), NewVendor: newGmailVendor}, "all", nil)
	v := e.V.(*gmailVendor)
	ctx := context.Background()
	truths, first := e.FirstPush(20, func(connectortest.Push) bool { return true })
	p := &push{first.Header, first.Body} // a push Pub/Sub sent, as it sent it

	// Users go on sending while bad pushes arrive; Pub/Sub's own are lost, so only the polls can
	// collect these attachments.
	v.DropPushes(true)
	truths = append(truths, e.V.Act(20)...)

	tok := strings.TrimPrefix(p.header.Get("Authorization"), "Bearer ")
	seg := strings.Split(tok, ".")
	if len(seg) != 3 {
		t.Fatalf("the genuine push's token is not a JWT: %q", tok)
	}
	cb, _ := base64.RawURLEncoding.DecodeString(seg[1])
	var claims map[string]any
	if err := json.Unmarshal(cb, &claims); err != nil {
		t.Fatal(err)
	}
	forger, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	encode := func(c map[string]any) string {
		b, _ := json.Marshal(c)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	forged := func(c map[string]any) string { // Google's key id, another key
		signed := seg[0] + "." + encode(c)
		sum := sha256.Sum256([]byte(signed))
		sig, _ := rsa.SignPKCS1v15(rand.Reader, forger, crypto.SHA256, sum[:])
		return signed + "." + base64.RawURLEncoding.EncodeToString(sig)
	}
	changed := map[string]any{}
	for k, val := range claims {
		changed[k] = val
	}
	changed["aud"] = "https://attacker.example/hook"
	bearer := func(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }
	n := 0
	envelope := func(data string) []byte { // a new Pub/Sub message id each time: never a replay
		n++
		return []byte(fmt.Sprintf(`{"message":{"data":%q,"messageId":"bad-%d"},"subscription":"projects/p/subscriptions/s"}`, data, n))
	}
	note := base64.StdEncoding.EncodeToString([]byte(`{"emailAddress":"` + v.activeMailboxes()[0] + `","historyId":"1"}`))
	bad := []struct {
		name, reason string
		h            http.Header
		body         []byte
	}{
		{"no token", connector.WebhookMalformed, http.Header{}, envelope(note)},
		{"not a JWT", connector.WebhookMalformed, bearer("abc"), envelope(note)},
		{"body not JSON", connector.WebhookMalformed, p.header, []byte("{")},
		{"not an envelope", connector.WebhookMalformed, p.header, []byte(`[1]`)},
		{"data not base64", connector.WebhookMalformed, p.header, envelope("!!")},
		{"data not Gmail's", connector.WebhookMalformed, p.header, envelope(base64.StdEncoding.EncodeToString([]byte(`{"x":1}`)))},
		{"no message id", connector.WebhookMalformed, p.header, []byte(`{"message":{"data":"` + note + `"}}`)},
		{"forged token", connector.WebhookBadSignature, bearer(forged(claims)), envelope(note)},
		{"claims changed under Google's signature", connector.WebhookBadSignature, bearer(seg[0] + "." + encode(changed) + "." + seg[2]), envelope(note)},
		{"another algorithm", connector.WebhookBadSignature,
			bearer(base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`)) + "." + seg[1] + "."), envelope(note)},
	}
	refused := e.Metrics.Counter("telltale_webhook_refused_total", "", "service", "reason")
	deliveries := e.Metrics.Counter("telltale_webhook_deliveries_total", "", "service", "result")
	before, want := map[string]int64{}, map[string]int64{}
	for _, b := range bad {
		before[b.reason] = refused.Value("gmail", b.reason)
		want[b.reason]++
	}
	dup0 := deliveries.Value("gmail", "duplicate")
	st0 := e.Ingest.Stats()
	id := strconv.FormatInt(e.Conn.ID, 10)
	for _, b := range bad {
		_, err := e.Ingest.Webhook(ctx, "gmail", id, b.h, nil, bytes.NewReader(b.body))
		if got := ingest.WebhookRefusalReason(err); got != b.reason {
			t.Errorf("%s: refused as %q (%v), want %q", b.name, got, err, b.reason)
		}
	}
	// A replay of the genuine push (same Pub/Sub message id, within its token's hour).
	if _, err := e.Ingest.Webhook(ctx, "gmail", id, p.header, nil, bytes.NewReader(p.body)); err != nil {
		t.Errorf("a replay of a genuine push: %v, want acknowledged without effect", err)
	}
	e.Ingest.WaitWebhooks()
	for reason, w := range want {
		if got := refused.Value("gmail", reason) - before[reason]; got != w {
			t.Errorf(`telltale_webhook_refused_total{service="gmail",reason=%q} grew by %d, want %d`, reason, got, w)
		}
	}
	st := e.Ingest.Stats()
	if st.WebhooksRefused-st0.WebhooksRefused != int64(len(bad)) || st.WebhooksAccepted != st0.WebhooksAccepted {
		t.Errorf("refused %d and accepted %d of %d bad pushes, want all refused",
			st.WebhooksRefused-st0.WebhooksRefused, st.WebhooksAccepted-st0.WebhooksAccepted, len(bad))
	}
	if d := deliveries.Value("gmail", "duplicate") - dup0; d != 1 || st.WebhookDuplicates-st0.WebhookDuplicates != 1 {
		t.Errorf(`the replay: telltale_webhook_deliveries_total{service="gmail",result="duplicate"} grew by %d, want 1`, d)
	}

	// Nothing is lost: the polls store every attachment once.
	active, _ := v.Owners()
	connectortest.CollectAll(t, e, truths, connectortest.Monitored(active))
	v.DropPushes(false)
}
