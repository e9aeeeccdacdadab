package m365mail

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/connector/kit/graphkit"
)

// Graph change notifications (docs/connectors/microsoft365_mail.md, "Push"). Each followed
// mailbox gets one subscription on its sent items' messages (changeType created), whose
// notifications and lifecycle notifications come to Telltale's webhook URL. A delivery only wakes
// the mailbox's stream: delta stays the record, so a lost, refused or late notification costs
// latency, never mail.
//
// Graph chooses the subscription's id, so Telltale cannot sign it; it signs the clientState
// instead, which Graph repeats in every notification: "tt1.<user id>.<HMAC>", the HMAC of the
// mailbox's user id under a key derived from the client secret and the connection (stateKeyOf).
// A delivery is verified without any state, and a notification whose resource names another
// mailbox than its clientState is refused. The subscription's id is not covered, so each notice
// carries its clientState (Notice.State) and ingest matches it against the one the named
// subscription was made with (Subscription.Detail): another mailbox's genuine notification with
// its subscription id changed is refused there. After the client secret changes, held subscriptions
// no longer verify: Subscribe and Renew replace them.

// subLife is the expiry Telltale asks for: Graph's longest for Outlook messages is 10,070
// minutes (NOTES Corrections 8), less a margin for the clocks of Telltale and Graph.
const subLife = 10000 * time.Minute

// notifyFresh is how long a notification's id is remembered: Graph retries a failed delivery for
// up to 4 hours.
const notifyFresh = 5 * time.Hour

const statePrefix = "tt1."

// resourceTo ends a subscription's Resource before the address it pushes to.
const resourceTo = " to "

// clientState is the mailbox's signed clientState (at most 128 characters: 4 + 36 + 1 + 43).
func (s *session) clientState(userID string) string {
	return statePrefix + userID + "." + s.stateMAC(userID)
}

func (s *session) stateMAC(userID string) string {
	mac := hmac.New(sha256.New, s.stateKey)
	mac.Write([]byte(statePrefix + userID))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// checkState verifies a clientState and returns the mailbox's user id it was made for. It computes
// the HMAC whatever the input, so its time says nothing about what is wrong.
func (s *session) checkState(state string) (string, bool) {
	rest, okPrefix := strings.CutPrefix(state, statePrefix)
	i := strings.LastIndexByte(rest, '.')
	uid, mac := "", ""
	if i >= 0 {
		uid, mac = rest[:i], rest[i+1:]
	}
	want := s.stateMAC(uid)
	ok := hmac.Equal([]byte(mac), []byte(want))
	return uid, ok && okPrefix && uid != ""
}

// subResource is the resource of a mailbox's sent items subscription.
func subResource(userID string) string {
	return "users/" + userID + "/mailFolders('sentitems')/messages"
}

type graphSub struct {
	ID                 string    `json:"id"`
	ExpirationDateTime time.Time `json:"expirationDateTime"`
}

// Subscribe makes the mailbox's subscription unless have holds a live one to pushURL made with
// the current key. Held ones to another address (the public URL changed) or with a clientState
// that no longer verifies (the client secret changed) are deleted and left out. Graph can list
// the app's subscriptions, but only all of them at once (every mailbox's): what Telltale holds is
// taken as the truth, and one Graph dropped is found by Renew (404) or a subscriptionRemoved
// lifecycle notification.
func (s *session) Subscribe(ctx context.Context, d connector.Drive, pushURL string, have []connector.Subscription) ([]connector.Subscription, error) {
	if d.VendorID == "" || pushURL == "" {
		return nil, nil
	}
	now := s.deps.Clock.Now()
	var live []connector.Subscription
	for _, h := range have {
		if h.Stream != sentKey || !h.Expires.After(now) {
			continue
		}
		if !strings.HasSuffix(h.Resource, resourceTo+pushURL) || h.Detail != s.clientState(d.VendorID) {
			if err := s.Unsubscribe(ctx, h); err != nil {
				s.log.Warn("microsoft365_mail: deleting an outdated subscription failed; it ends at its expiry", "subscription", h.ID, "expires", h.Expires, "err", err)
			}
			continue
		}
		live = append(live, h)
	}
	if len(live) > 0 {
		return live, nil
	}
	exp := now.Add(subLife)
	state := s.clientState(d.VendorID)
	var got graphSub
	err := s.api.do(ctx, call{method: http.MethodPost, path: "/subscriptions", once: true, body: map[string]any{
		"changeType": "created", "notificationUrl": pushURL, "lifecycleNotificationUrl": pushURL,
		"resource": subResource(d.VendorID), "expirationDateTime": exp.UTC().Format(time.RFC3339),
		"clientState": state, "latestSupportedTlsVersion": "v1_2",
	}}, &got)
	if graphkit.MaybeCreated(err) {
		// Graph may have made it: keep that one if it lists it, delete any other of ours for the
		// mailbox, so the connection never holds two (or one it does not know).
		kept, ok, serr := graphkit.Settle(ctx, func(ctx context.Context, p string, out any) error {
			return s.api.get(ctx, p, "", nil, out)
		}, func(ctx context.Context, id string) error {
			return s.api.do(ctx, call{method: http.MethodDelete, path: "/subscriptions/" + url.PathEscape(id)}, nil)
		}, subResource(d.VendorID), pushURL, state)
		if serr != nil {
			s.log.Warn("microsoft365_mail: settling a failed subscription creation: a subscription Graph made may remain until its expiry", "mailbox", d.VendorID, "err", serr)
		}
		if ok {
			got, err = graphSub{ID: kept.ID}, nil
			if t, perr := time.Parse(time.RFC3339Nano, kept.ExpirationDateTime); perr == nil {
				got.ExpirationDateTime = t
			}
		}
	}
	if ge, ok := asGraphError(err); ok && ge.Status == http.StatusBadRequest && (ge.Code == "ValidationError" || strings.Contains(ge.Message, "validation")) {
		return nil, fmt.Errorf("microsoft365_mail: subscribing to the sent items of %s: Microsoft Graph could not validate Telltale's webhook URL %s (400 %s: %s): it must be reachable from the internet over HTTPS and answer the validationToken within 10 seconds",
			d.Owner, pushURL, ge.Code, ge.Message)
	}
	if err != nil {
		return nil, s.mailboxErr(err, d, "subscribing to the sent items of")
	}
	if got.ID == "" {
		return nil, fmt.Errorf("%w: microsoft365_mail: creating the subscription of %s answered no id", connector.ErrMalformed, d.Owner)
	}
	if !got.ExpirationDateTime.IsZero() {
		exp = got.ExpirationDateTime
	}
	return []connector.Subscription{{ID: got.ID, Drive: d.VendorID, Stream: sentKey,
		Resource: "sent items of " + cmpOr(d.Owner, d.VendorID) + resourceTo + pushURL, Detail: state, Expires: exp}}, nil
}

// Renew extends a subscription to Graph's longest (PATCH expirationDateTime). One Graph no
// longer has (404), or whose clientState no longer verifies (the client secret changed: it is
// deleted), is ErrSubscriptionGone: ingest subscribes again.
func (s *session) Renew(ctx context.Context, sub connector.Subscription) (connector.Subscription, error) {
	if uid, ok := s.checkState(sub.Detail); !ok || uid != sub.Drive {
		if err := s.Unsubscribe(ctx, sub); err != nil {
			s.log.Warn("microsoft365_mail: deleting a subscription of an old key failed; it ends at its expiry", "subscription", sub.ID, "err", err)
		}
		return sub, fmt.Errorf("%w: microsoft365_mail: subscription %s was made with another client secret", connector.ErrSubscriptionGone, sub.ID)
	}
	exp := s.deps.Clock.Now().Add(subLife)
	var got graphSub
	err := s.api.do(ctx, call{method: http.MethodPatch, path: "/subscriptions/" + url.PathEscape(sub.ID),
		body: map[string]any{"expirationDateTime": exp.UTC().Format(time.RFC3339)}}, &got)
	if isStatus(err, http.StatusNotFound) {
		return sub, fmt.Errorf("%w: microsoft365_mail: Microsoft Graph no longer has subscription %s", connector.ErrSubscriptionGone, sub.ID)
	}
	if err != nil {
		return sub, fmt.Errorf("microsoft365_mail: renewing subscription %s: %w", sub.ID, refusedToken(err))
	}
	sub.Expires = exp
	if !got.ExpirationDateTime.IsZero() {
		sub.Expires = got.ExpirationDateTime
	}
	return sub, nil
}

// Unsubscribe deletes a subscription; one Graph no longer has (404, expired) is not an error.
func (s *session) Unsubscribe(ctx context.Context, sub connector.Subscription) error {
	if !sub.Expires.IsZero() && !s.deps.Clock.Now().Before(sub.Expires) {
		return nil // Graph dropped it at its expiry
	}
	err := s.api.do(ctx, call{method: http.MethodDelete, path: "/subscriptions/" + url.PathEscape(sub.ID)}, nil)
	if err == nil || isStatus(err, http.StatusNotFound) {
		return nil
	}
	return fmt.Errorf("microsoft365_mail: deleting subscription %s: %w", sub.ID, refusedToken(err))
}

// notification is one item of a Graph delivery: a change notification or a lifecycle one.
type notification struct {
	SubscriptionID string `json:"subscriptionId"`
	ChangeType     string `json:"changeType"`
	Resource       string `json:"resource"`
	ClientState    string `json:"clientState"`
	TenantID       string `json:"tenantId"`
	LifecycleEvent string `json:"lifecycleEvent"`
	Expiration     string `json:"subscriptionExpirationDateTime"`
	ResourceData   *struct {
		ID string `json:"id"`
	} `json:"resourceData"`
}

var lifecycles = map[string]string{
	"reauthorizationRequired": connector.LifecycleReauthorize,
	"missed":                  connector.LifecycleMissed,
	"subscriptionRemoved":     connector.LifecycleRemoved,
}

var guidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// maxNotifications bounds the items of one delivery (Graph batches at most a few hundred).
const maxNotifications = 1000

// Deliver verifies a Graph delivery. A validationToken in the query is the handshake of a
// subscription being made or moved: the token is echoed (Graph wants it within 10 s, text/plain).
// Otherwise the body is {"value":[...]}: every item's clientState must verify (HMAC computed for
// every item first, whatever else is wrong), name the mailbox its resource names, and come from
// this connection's tenant when the tenant is configured by id. Each item is a Notice for its
// subscription: activity wakes the mailbox's stream, lifecycle notifications map to
// connector.Lifecycle* (reauthorizationRequired renews, missed polls, subscriptionRemoved
// subscribes again). The delivery's id covers its items (subscription, change or lifecycle event,
// message or expiry), the same for Graph's retries. No vendor call.
func (s *session) Deliver(_ context.Context, p connector.Push) (connector.Delivery, error) {
	refuse := func(reason, format string, a ...any) (connector.Delivery, error) {
		return connector.Delivery{}, &connector.WebhookRefusal{Reason: reason, Detail: "microsoft365_mail: " + fmt.Sprintf(format, a...)}
	}
	if tok, ok := p.Query["validationToken"]; ok {
		switch {
		case len(tok) != 1 || tok[0] == "":
			return refuse(connector.WebhookMalformed, "an empty or repeated validationToken")
		case len(tok[0]) > connector.MaxReply:
			return refuse(connector.WebhookMalformed, "a validationToken of %d bytes (at most %d)", len(tok[0]), connector.MaxReply)
		}
		return connector.Delivery{Reply: &connector.Reply{Body: []byte(tok[0])}}, nil
	}
	var body struct {
		Value []notification `json:"value"`
	}
	err := json.Unmarshal(p.Body, &body)
	// The signature work first, for every item, whatever is wrong.
	type checked struct {
		uid string
		ok  bool
	}
	checks := make([]checked, 0, min(len(body.Value), maxNotifications))
	for i, n := range body.Value {
		if i >= maxNotifications {
			break
		}
		uid, ok := s.checkState(n.ClientState)
		checks = append(checks, checked{uid, ok})
	}
	switch {
	case err != nil:
		return refuse(connector.WebhookMalformed, "the body is not Graph's notification JSON: %v", err)
	case len(body.Value) == 0:
		return refuse(connector.WebhookMalformed, "a delivery without notifications")
	case len(body.Value) > maxNotifications:
		return refuse(connector.WebhookMalformed, "a delivery of %d notifications (at most %d)", len(body.Value), maxNotifications)
	}
	tenantGUID := guidRE.MatchString(s.tenant)
	var ids []string
	var notices []connector.Notice
	seen := map[connector.Notice]bool{}
	for i, n := range body.Value {
		life, isLife := lifecycles[n.LifecycleEvent]
		switch {
		case n.SubscriptionID == "" || len(n.SubscriptionID) > 128:
			return refuse(connector.WebhookMalformed, "notification %d: no subscriptionId", i)
		case n.LifecycleEvent != "" && !isLife:
			return refuse(connector.WebhookMalformed, "notification %d: lifecycleEvent %q is not Graph's", i, echo(n.LifecycleEvent))
		case n.LifecycleEvent == "" && n.ChangeType == "":
			return refuse(connector.WebhookMalformed, "notification %d: neither changeType nor lifecycleEvent", i)
		case n.ClientState == "":
			return refuse(connector.WebhookBadSignature, "notification %d (subscription %s): no clientState", i, echo(n.SubscriptionID))
		case !checks[i].ok:
			return refuse(connector.WebhookBadSignature, "notification %d (subscription %s): the clientState is not one this connection signed", i, echo(n.SubscriptionID))
		case tenantGUID && n.TenantID != "" && !strings.EqualFold(n.TenantID, s.tenant):
			return refuse(connector.WebhookUnknownSubscription, "notification %d: tenant %s is not this connection's", i, echo(n.TenantID))
		}
		if !isLife {
			mbox, _, _ := strings.Cut(strings.TrimPrefix(strings.ToLower(strings.TrimPrefix(n.Resource, "/")), "users/"), "/")
			if !strings.EqualFold(mbox, checks[i].uid) {
				return refuse(connector.WebhookBadSignature, "notification %d: resource %q is not the mailbox its clientState was made for", i, echo(n.Resource))
			}
		}
		what := n.ChangeType + ":" + n.Resource
		if n.ResourceData != nil && n.ResourceData.ID != "" {
			what = n.ChangeType + ":" + n.ResourceData.ID
		}
		if isLife {
			what = "lifecycle:" + n.LifecycleEvent + ":" + n.Expiration
		}
		ids = append(ids, n.SubscriptionID+"\x00"+what)
		nt := connector.Notice{Subscription: n.SubscriptionID, Lifecycle: life, State: n.ClientState}
		if !seen[nt] {
			seen[nt] = true
			notices = append(notices, nt)
		}
	}
	sort.Strings(ids)
	h := sha256.Sum256([]byte(strings.Join(ids, "\x01")))
	return connector.Delivery{ID: "graph:" + hex.EncodeToString(h[:16]), FreshUntil: s.deps.Clock.Now().Add(notifyFresh), Notices: notices}, nil
}

// echo is at most 64 bytes of a value a refusal repeats (for the debug log): a sender chooses
// its body, so a refusal must not repeat it whole.
func echo(v string) string {
	if len(v) > 64 {
		return v[:64] + "..."
	}
	return v
}
