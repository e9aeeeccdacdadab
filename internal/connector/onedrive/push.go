package onedrive

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/connector/kit/graphkit"
)

// Graph change notifications (docs/connectors/onedrive.md, "Change notifications"; NOTES
// Corrections 8). Each followed drive gets one subscription on its root (changeType updated,
// the only one driveItem subscriptions take), notificationUrl and lifecycleNotificationUrl both
// the connection's webhook URL, expiring at driveItem's longest, 42,300 minutes. A notification
// only wakes the drive's delta stream: delta stays the record, so a lost, refused or late
// notification costs latency, never activity. The audit stream has no push (the Management API's
// webhooks are not used): it is polled.
//
// clientState is "tt1.<nonce>.<mac>", the mac an HMAC-SHA256 of the nonce under a key derived
// from the connection's client secret, its id and tenant, so a delivery is verified here without
// any stored state. Graph chooses the subscription id after the clientState is sent, so the mac
// cannot cover it: each subscription keeps the clientState it was made with (Subscription.Detail)
// and each notice carries the one it came with (Notice.State), which ingest matches against the
// subscription the notification names (ingest/webhook.go): a genuine clientState copied from one
// of the connection's subscriptions onto another's id is refused there. Rotating the client
// secret changes the key: deliveries of older subscriptions are refused, and Subscribe replaces
// held subscriptions whose clientState no longer verifies.

// subLife is the expiry Telltale asks for: driveItem's maximum, 42,300 minutes, less a minute for
// the clocks.
const subLife = 42300*time.Minute - time.Minute

// subSlack is how long after its subscription's expiry a notification is still taken.
const subSlack = 5 * time.Minute

// deliveryFresh is how long ingest remembers a delivery's id. Each id is new (Deliver), so it only
// bounds that memory.
const deliveryFresh = time.Minute

const statePrefix = "tt1."

// clientStateKey derives the key clientStates are signed with; never stored.
func clientStateKey(secret string, conn int64, tenant string) []byte {
	h := sha256.New()
	h.Write([]byte("telltale onedrive clientState v1\x00"))
	h.Write([]byte(strconv.FormatInt(conn, 10) + "\x00" + strings.ToLower(tenant) + "\x00"))
	h.Write([]byte(secret))
	return h.Sum(nil)
}

func (s *session) stateMAC(nonce string) string {
	m := hmac.New(sha256.New, s.stateKey)
	m.Write([]byte(statePrefix + nonce))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// newClientState is a fresh clientState (80 characters; Graph allows 128).
func (s *session) newClientState() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("onedrive: no randomness for a clientState: " + err.Error())
	}
	nonce := hex.EncodeToString(b[:])
	return statePrefix + nonce + "." + s.stateMAC(nonce)
}

// checkClientState reports whether cs is one this connection made. The mac is always computed,
// whatever the shape, so the time to answer says little.
func (s *session) checkClientState(cs string) bool {
	rest, ok := strings.CutPrefix(cs, statePrefix)
	nonce, mac, ok2 := strings.Cut(rest, ".")
	want := s.stateMAC(nonce)
	return ok && ok2 && len(nonce) == 32 && hmac.Equal([]byte(mac), []byte(want))
}

var _ connector.Pusher = (*session)(nil)

// resourceTo ends a subscription's Resource before the address it pushes to.
const resourceTo = " to "

func driveResource(d string) string { return "drives/" + d + "/root" }

type graphSub struct {
	ID                 string `json:"id"`
	Resource           string `json:"resource"`
	NotificationURL    string `json:"notificationUrl"`
	ExpirationDateTime string `json:"expirationDateTime"`
}

// Subscribe makes the drive root's subscription unless have holds a live one to pushURL.
// Nothing for the tenant (the audit stream is polled) nor without a URL. Held subscriptions to
// another address (the public URL changed) are deleted and left out.
func (s *session) Subscribe(ctx context.Context, d connector.Drive, pushURL string, have []connector.Subscription) ([]connector.Subscription, error) {
	if d.VendorID == "" || pushURL == "" {
		return nil, nil
	}
	if err := readable(d); err != nil {
		return nil, err
	}
	now := s.deps.Clock.Now()
	var live []connector.Subscription
	for _, h := range have {
		if h.Stream != deltaKey || !h.Expires.After(now) {
			continue
		}
		if !strings.HasSuffix(h.Resource, resourceTo+pushURL) || !s.checkClientState(h.Detail) {
			if err := s.Unsubscribe(ctx, h); err != nil {
				s.log.Warn("onedrive: deleting an outdated subscription (an old address, or made before its clientState was kept or with another client secret) failed; it ends at its expiry", "subscription", h.ID, "expires", h.Expires, "err", err)
			}
			continue
		}
		live = append(live, h)
	}
	if len(live) > 0 {
		return live, nil
	}
	exp := now.Add(subLife).UTC()
	body := map[string]string{"changeType": "updated", "notificationUrl": pushURL, "lifecycleNotificationUrl": pushURL,
		"resource": driveResource(d.VendorID), "expirationDateTime": exp.Format(time.RFC3339), "clientState": s.newClientState()}
	var got graphSub
	err := s.api.create(ctx, "/subscriptions", PermFilesReadAll, body, &got)
	if graphkit.MaybeCreated(err) {
		// Graph may have made it: keep that one if it lists it, delete any other of ours for
		// the drive, so the connection never holds two (or one it does not know).
		kept, ok, serr := graphkit.Settle(ctx, func(ctx context.Context, p string, out any) error {
			return s.api.get(ctx, p, PermFilesReadAll, nil, out)
		}, func(ctx context.Context, id string) error {
			return s.api.send(ctx, http.MethodDelete, "/subscriptions/"+url.PathEscape(id), PermFilesReadAll, nil, nil, nil)
		}, body["resource"], pushURL, body["clientState"])
		if serr != nil {
			s.log.Warn("onedrive: settling a failed subscription creation: a subscription Graph made may remain until its expiry", "drive", d.VendorID, "err", serr)
		}
		if ok {
			got, err = graphSub{ID: kept.ID, ExpirationDateTime: kept.ExpirationDateTime}, nil
		}
	}
	if err != nil {
		return nil, s.driveErr(err, d, "subscribing to changes of")
	}
	if got.ID == "" {
		return nil, fmt.Errorf("%w: onedrive: POST /subscriptions answered no id for %s", connector.ErrMalformed, driveName(d))
	}
	return []connector.Subscription{{ID: got.ID, Drive: d.VendorID, Stream: deltaKey,
		Resource: driveResource(d.VendorID) + resourceTo + pushURL, Detail: body["clientState"], Expires: parseExpiry(got.ExpirationDateTime, exp)}}, nil
}

func parseExpiry(s string, def time.Time) time.Time {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC()
	}
	return def
}

// Renew extends a subscription to driveItem's longest lifetime (PATCH expirationDateTime). One
// Graph no longer has (404) is ErrSubscriptionGone: ingest subscribes again.
func (s *session) Renew(ctx context.Context, sub connector.Subscription) (connector.Subscription, error) {
	exp := s.deps.Clock.Now().Add(subLife).UTC()
	var got graphSub
	err := s.api.send(ctx, http.MethodPatch, "/subscriptions/"+url.PathEscape(sub.ID), PermFilesReadAll, nil,
		map[string]string{"expirationDateTime": exp.Format(time.RFC3339)}, &got)
	if isStatus(err, http.StatusNotFound) {
		return sub, fmt.Errorf("%w: onedrive: subscription %s: %v", connector.ErrSubscriptionGone, sub.ID, err)
	}
	if err != nil {
		return sub, fmt.Errorf("onedrive: renewing subscription %s: %w", sub.ID, refusedToken(err))
	}
	sub.Expires = parseExpiry(got.ExpirationDateTime, exp)
	return sub, nil
}

// Unsubscribe deletes a subscription; one Graph no longer has (404, or expired) is not an error.
func (s *session) Unsubscribe(ctx context.Context, sub connector.Subscription) error {
	if !sub.Expires.IsZero() && !s.deps.Clock.Now().Before(sub.Expires) {
		return nil // Graph dropped it at its expiry
	}
	err := s.api.send(ctx, http.MethodDelete, "/subscriptions/"+url.PathEscape(sub.ID), PermFilesReadAll, nil, nil, nil)
	if err == nil || isStatus(err, http.StatusNotFound) {
		return nil
	}
	return fmt.Errorf("onedrive: deleting subscription %s: %w", sub.ID, refusedToken(err))
}

// notification is one change or lifecycle notification of a delivery.
type notification struct {
	SubscriptionID                 string `json:"subscriptionId"`
	SubscriptionExpirationDateTime string `json:"subscriptionExpirationDateTime"`
	ChangeType                     string `json:"changeType"`
	Resource                       string `json:"resource"`
	ClientState                    string `json:"clientState"`
	TenantID                       string `json:"tenantId"`
	LifecycleEvent                 string `json:"lifecycleEvent"`
}

// maxNotifications bounds the notifications of one delivery (Graph batches them).
const maxNotifications = 1000

var lifecycles = map[string]string{"reauthorizationRequired": connector.LifecycleReauthorize,
	"subscriptionRemoved": connector.LifecycleRemoved, "missed": connector.LifecycleMissed}

// Deliver answers Graph's validation handshake (POST ?validationToken=...: the token, decoded, as
// text/plain; ingest sends it only while it is making this connection's subscriptions) and
// verifies notifications: a JSON {"value":[...]} of at most 1,000 notifications, each with a
// subscription id, this connection's clientState (every one checked before any refusal), this
// tenant's id when it is a GUID, a known change type or lifecycle event, and a subscription not
// expired. A change wakes its subscription's drive stream; reauthorizationRequired renews the
// subscription, subscriptionRemoved makes it again, missed polls the stream. No vendor call.
func (s *session) Deliver(_ context.Context, p connector.Push) (connector.Delivery, error) {
	refuse := func(reason, format string, a ...any) (connector.Delivery, error) {
		return connector.Delivery{}, &connector.WebhookRefusal{Reason: reason, Detail: "onedrive: " + fmt.Sprintf(format, a...)}
	}
	if p.Query.Has("validationToken") {
		tok := p.Query.Get("validationToken")
		switch {
		case tok == "":
			return refuse(connector.WebhookMalformed, "an empty validationToken")
		case len(tok) > connector.MaxReply:
			return refuse(connector.WebhookMalformed, "a validationToken of %d bytes", len(tok))
		case len(p.Body) > 0:
			return refuse(connector.WebhookMalformed, "a validation request with a body")
		}
		return connector.Delivery{Reply: &connector.Reply{Body: []byte(tok)}}, nil
	}
	var b struct {
		Value []notification `json:"value"`
	}
	if err := json.Unmarshal(p.Body, &b); err != nil {
		return refuse(connector.WebhookMalformed, "the body is not a notification collection: %v", err)
	}
	if len(b.Value) == 0 || len(b.Value) > maxNotifications {
		return refuse(connector.WebhookMalformed, "%d notifications (want 1 to %d)", len(b.Value), maxNotifications)
	}
	signed := true
	for _, n := range b.Value {
		if !s.checkClientState(n.ClientState) {
			signed = false // every one is checked: the time says nothing about which failed
		}
	}
	now := s.deps.Clock.Now()
	var out connector.Delivery
	seen := map[connector.Notice]bool{}
	fresh := now.Add(deliveryFresh)
	for i, n := range b.Value {
		exp, err := time.Parse(time.RFC3339Nano, n.SubscriptionExpirationDateTime)
		switch {
		case n.SubscriptionID == "":
			return refuse(connector.WebhookMalformed, "notification %d names no subscription", i)
		case !signed && n.ClientState == "":
			return refuse(connector.WebhookBadSignature, "notification %d of subscription %.64q has no clientState", i, n.SubscriptionID)
		case !signed:
			return refuse(connector.WebhookBadSignature, "a clientState of the delivery is not one this connection made (subscription %.64q)", n.SubscriptionID)
		case !guidRe.MatchString(n.SubscriptionID):
			return refuse(connector.WebhookUnknownSubscription, "subscription id %.64q is not Graph's", n.SubscriptionID)
		case guidRe.MatchString(s.tenant) && !strings.EqualFold(n.TenantID, s.tenant):
			return refuse(connector.WebhookUnknownSubscription, "subscription %s: tenant %.64q is not this connection's", n.SubscriptionID, n.TenantID)
		case n.LifecycleEvent == "" && n.ChangeType != "updated" && n.ChangeType != "created" && n.ChangeType != "deleted":
			return refuse(connector.WebhookMalformed, "subscription %s: change type %.32q", n.SubscriptionID, n.ChangeType)
		case n.LifecycleEvent != "" && lifecycles[n.LifecycleEvent] == "":
			return refuse(connector.WebhookMalformed, "subscription %s: lifecycle event %.32q", n.SubscriptionID, n.LifecycleEvent)
		case err != nil:
			return refuse(connector.WebhookMalformed, "subscription %s: subscriptionExpirationDateTime %.40q", n.SubscriptionID, n.SubscriptionExpirationDateTime)
		case now.After(exp.Add(subSlack)) && n.LifecycleEvent == "":
			return refuse(connector.WebhookStale, "subscription %s expired at %s", n.SubscriptionID, exp.Format(time.RFC3339))
		}
		nt := connector.Notice{Subscription: n.SubscriptionID, Lifecycle: lifecycles[n.LifecycleEvent], State: n.ClientState}
		if !seen[nt] {
			seen[nt] = true
			out.Notices = append(out.Notices, nt)
		}
	}
	// A driveItem notification says only "something in this drive changed": every notification of
	// a drive is the same body (no resourceData, no change id), so a retry of Graph's cannot be
	// told from the next change's notification. Each delivery is therefore its own (a random id):
	// deduplicating by body would drop every change's notification after a drive's first for as
	// long as the id is remembered, leaving those changes to the poll. A retry or a replay only
	// wakes the stream once more (one delta read that finds nothing).
	sum := sha256.Sum256(p.Body)
	var nonce [8]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		panic("onedrive: no randomness for a delivery id: " + err.Error())
	}
	out.ID = "graph:" + hex.EncodeToString(sum[:8]) + "." + hex.EncodeToString(nonce[:])
	out.FreshUntil = fresh
	return out, nil
}
