package integration

import (
	"bytes"
	"context"
	"net/http"
	"strconv"

	"github.com/telltale-dev/telltale/internal/store"
)

// Webhook headers.
const (
	IdempotencyHeader = "Idempotency-Key"
	EventHeader       = "Telltale-Event"
	DeliveryHeader    = "Telltale-Delivery"
)

// webhook POSTs the payload, signed, with its idempotency key. Any 2xx is delivered.
func (d *Sender) webhook(ctx context.Context, st Settings, sec Secrets, it store.OutboxItem) Attempt {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, st.URL, bytes.NewReader(it.Payload))
	if err != nil {
		return Attempt{Err: &Failure{Msg: "the webhook URL: " + err.Error(), Permanent: true}}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(IdempotencyHeader, it.IdempotencyKey)
	req.Header.Set(EventHeader, it.Topic)
	req.Header.Set(DeliveryHeader, strconv.FormatInt(it.ID, 10))
	req.Header.Set(SignatureHeader, Sign(sec.SigningSecret, d.o.Clock.Now(), it.Payload))
	resp, body, f := d.post(ctx, "integration:"+strconv.FormatInt(it.IntegrationID, 10), req)
	if f != nil {
		return Attempt{Response: response(resp, body), Err: f}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return Attempt{Response: response(resp, body), Err: statusFailure(resp, body, d.o.Clock.Now(), "the webhook at "+hostOf(st.URL))}
	}
	return Attempt{Response: response(resp, body)}
}
