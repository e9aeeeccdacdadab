package gmail

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	gmailapi "google.golang.org/api/gmail/v1"

	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/connector/kit/googlekit"
)

// Push: users.watch makes Gmail publish {"emailAddress", "historyId"} to a Cloud Pub/Sub topic
// whenever a watched mailbox gets a message labelled SENT; the topic's push subscription (made by
// the admin, pointing at Telltale's webhook URL with authentication on) POSTs each message in
// Pub/Sub's envelope with an OIDC token of its service account, signed by Google
// (https://cloud.google.com/pubsub/docs/authenticate-push-subscriptions). Deliver verifies that
// token with the standard library (RS256 against Google's JWK Set) and wakes the mailbox's
// stream; the stream reads what changed (the notification carries no message).

var topicRE = regexp.MustCompile(`^projects/[^/]+/topics/[^/]+$`)

// watchLife is how long a users.watch lasts ("at least every 7 days"); Gmail's answer gives the
// exact expiration, this is only the fallback.
const watchLife = 7 * 24 * time.Hour

// Subscribe watches the mailbox's SENT label (users.watch as the user) when a topic is configured.
// A watch cannot be listed: one Telltale holds covers the mailbox.
func (s *session) Subscribe(ctx context.Context, d connector.Drive, _ string, have []connector.Subscription) ([]connector.Subscription, error) {
	if s.topic == "" || d.VendorID == "" {
		return nil, nil
	}
	for _, h := range have {
		if h.Drive == d.VendorID && h.Expires.After(s.deps.Clock.Now()) {
			return have, nil
		}
	}
	sub, err := s.watch(ctx, d.VendorID)
	if err != nil {
		return nil, err
	}
	return []connector.Subscription{sub}, nil
}

// watch is users.watch of mb's SENT label to the topic.
func (s *session) watch(ctx context.Context, mb string) (connector.Subscription, error) {
	ctx, svc := s.as(ctx, mb)
	r, err := svc.gmail.Users.Watch("me", &gmailapi.WatchRequest{TopicName: s.topic, LabelIds: []string{"SENT"}, LabelFilterBehavior: "include"}).Context(ctx).Do()
	if err != nil {
		if ge, ok := googlekit.Err(googlekit.Plain(err)); ok && (ge.Code == http.StatusForbidden || ge.Code == http.StatusBadRequest) && !googlekit.RateLimited(ge) && !mailOff(googlekit.Plain(err)) && !googlekit.NotEnabled(googlekit.Plain(err)) {
			return connector.Subscription{}, fmt.Errorf("%w: gmail: users.watch of %s to topic %s refused (%d %s: %s): the topic must be in the service account's project, and gmail-api-push@system.gserviceaccount.com must have the Pub/Sub Publisher role on it",
				connector.ErrPermission, mb, s.topic, ge.Code, googlekit.Reason(ge), ge.Message)
		}
		return connector.Subscription{}, s.mailboxErr(err, mb, "watching")
	}
	exp := s.deps.Clock.Now().Add(watchLife)
	if r.Expiration > 0 {
		exp = time.UnixMilli(r.Expiration)
	}
	return connector.Subscription{ID: strings.ToLower(mb), Drive: mb, Stream: historyKey, Resource: s.topic,
		Detail: strconv.FormatUint(r.HistoryId, 10), Expires: exp}, nil
}

// Renew watches the mailbox again (Google: renew at least every 7 days, daily recommended).
func (s *session) Renew(ctx context.Context, sub connector.Subscription) (connector.Subscription, error) {
	if s.topic == "" {
		return sub, fmt.Errorf("%w: gmail: no Pub/Sub topic is configured any more", connector.ErrSubscriptionGone)
	}
	return s.watch(ctx, sub.Drive)
}

// Unsubscribe is users.stop as the mailbox's user; a user gone or without Gmail has no watch.
func (s *session) Unsubscribe(ctx context.Context, sub connector.Subscription) error {
	ctx, svc := s.as(ctx, sub.Drive)
	err := googlekit.Plain(svc.gmail.Users.Stop("me").Context(ctx).Do())
	if err == nil || googlekit.IsCode(err, http.StatusNotFound) || mailOff(err) || errors.Is(err, googlekit.ErrBadSubject) {
		return nil
	}
	return s.mailboxErr(err, sub.Drive, "stopping the watch")
}

// Token checks: Google's issuers, and the clock skew tolerated on exp and iat.
var googleIssuers = map[string]bool{"accounts.google.com": true, "https://accounts.google.com": true}

const tokenSkew = 2 * time.Minute

// jwksRefresh: an unknown key id fetches the key set again at most this often.
const jwksRefresh = time.Minute

// jwks caches Google's signing keys by key id.
type jwks struct {
	mu      sync.Mutex
	keys    map[string]*rsa.PublicKey
	lastTry time.Time
}

// key returns the key kid, fetching the set when kid is unknown (at most once a jwksRefresh).
func (s *session) key(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	k := &s.keys
	k.mu.Lock()
	defer k.mu.Unlock()
	if pk := k.keys[kid]; pk != nil {
		return pk, nil
	}
	now := s.deps.Clock.Now()
	if !k.lastTry.IsZero() && now.Sub(k.lastTry) < jwksRefresh {
		return nil, fmt.Errorf("no key %q in Google's key set (fetched %s ago)", kid, now.Sub(k.lastTry).Round(time.Second))
	}
	k.lastTry = now
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.jwksURL, nil)
	if err != nil {
		return nil, err
	}
	_, body, err := s.hc.Do(ctx, "google:certs", req, 1<<20)
	if err != nil {
		return nil, fmt.Errorf("fetching Google's keys from %s: %w", s.jwksURL, err)
	}
	var set struct {
		Keys []struct{ Kty, Kid, N, E, Alg string } `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("Google's key set at %s is not a JWK Set: %v", s.jwksURL, err)
	}
	keys := map[string]*rsa.PublicKey{}
	for _, j := range set.Keys {
		if j.Kty != "RSA" || j.Kid == "" {
			continue
		}
		n, err1 := base64.RawURLEncoding.DecodeString(strings.TrimRight(j.N, "="))
		e, err2 := base64.RawURLEncoding.DecodeString(strings.TrimRight(j.E, "="))
		if err1 != nil || err2 != nil || len(e) == 0 || len(e) > 4 {
			continue
		}
		keys[j.Kid] = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	}
	k.keys = keys
	if pk := keys[kid]; pk != nil {
		return pk, nil
	}
	return nil, fmt.Errorf("no key %q in Google's key set", kid)
}

// claims are the OIDC token's claims Deliver checks.
type claims struct {
	Iss           string          `json:"iss"`
	Aud           json.RawMessage `json:"aud"` // a string, or an array of strings
	Email         string          `json:"email"`
	EmailVerified bool            `json:"email_verified"`
	Exp, Iat      int64
}

func (c claims) audiences() []string {
	var one string
	if json.Unmarshal(c.Aud, &one) == nil {
		return []string{one}
	}
	var many []string
	_ = json.Unmarshal(c.Aud, &many)
	return many
}

// Deliver verifies a Pub/Sub push: its bearer token is an OIDC token signed by Google (RS256, key
// by kid from the key set), issued by accounts.google.com to the configured audience for the push
// subscription's service account, not expired; its body is Pub/Sub's envelope whose data is
// Gmail's {"emailAddress", "historyId"}. The delivery's id is Pub/Sub's messageId (the same for
// Pub/Sub's redeliveries); its notice names the mailbox's watch, so only its stream polls.
func (s *session) Deliver(ctx context.Context, p connector.Push) (connector.Delivery, error) {
	refuse := func(reason, format string, a ...any) (connector.Delivery, error) {
		return connector.Delivery{}, &connector.WebhookRefusal{Reason: reason, Detail: fmt.Sprintf(format, a...)}
	}
	if s.topic == "" {
		return refuse(connector.WebhookNoKeys, "no Pub/Sub topic is configured: this connection's mailboxes are polled")
	}
	auth := p.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok {
		return refuse(connector.WebhookMalformed, "no Authorization: Bearer token (turn on authentication on the push subscription)")
	}
	parts := strings.Split(strings.TrimSpace(tok), ".")
	if len(parts) != 3 {
		return refuse(connector.WebhookMalformed, "the bearer token is not a JWT")
	}
	var hdr struct{ Alg, Kid string }
	hb, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	cb, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	var cl claims
	if err1 != nil || err2 != nil || err3 != nil || json.Unmarshal(hb, &hdr) != nil || json.Unmarshal(cb, &cl) != nil {
		return refuse(connector.WebhookMalformed, "the bearer token's parts are not base64url JSON")
	}
	if hdr.Alg != "RS256" {
		return refuse(connector.WebhookBadSignature, "token algorithm %q, want RS256", hdr.Alg)
	}
	pk, err := s.key(ctx, hdr.Kid)
	if err != nil {
		return refuse(connector.WebhookBadSignature, "%v", err)
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(pk, crypto.SHA256, sum[:], sig); err != nil {
		return refuse(connector.WebhookBadSignature, "the token's signature does not verify with Google's key %q", hdr.Kid)
	}
	now := s.deps.Clock.Now()
	switch {
	case !googleIssuers[cl.Iss]:
		return refuse(connector.WebhookBadSignature, "token issuer %q is not Google's", cl.Iss)
	case s.audience == "" || !contains(cl.audiences(), s.audience):
		return refuse(connector.WebhookBadSignature, "token audience %v, want %q (the push subscription's audience)", cl.audiences(), s.audience)
	case !strings.EqualFold(cl.Email, s.pushSA) || !cl.EmailVerified:
		return refuse(connector.WebhookBadSignature, "token of %q, want the push subscription's service account %q", cl.Email, s.pushSA)
	case cl.Exp == 0 || now.After(time.Unix(cl.Exp, 0).Add(tokenSkew)):
		return refuse(connector.WebhookStale, "token expired at %s", time.Unix(cl.Exp, 0).UTC().Format(time.RFC3339))
	case cl.Iat == 0 || time.Unix(cl.Iat, 0).After(now.Add(tokenSkew)):
		return refuse(connector.WebhookStale, "token issued in the future (%s)", time.Unix(cl.Iat, 0).UTC().Format(time.RFC3339))
	}
	var env struct {
		Message struct {
			Data      string `json:"data"`
			MessageID string `json:"messageId"`
			MessageI2 string `json:"message_id"`
		} `json:"message"`
		Subscription string `json:"subscription"`
	}
	if err := json.Unmarshal(p.Body, &env); err != nil {
		return refuse(connector.WebhookMalformed, "the body is not Pub/Sub's push envelope: %v", err)
	}
	id := cmpOr(env.Message.MessageID, env.Message.MessageI2)
	data, err := base64.StdEncoding.DecodeString(env.Message.Data)
	if err != nil {
		data, err = base64.URLEncoding.DecodeString(env.Message.Data)
	}
	var note struct {
		EmailAddress string          `json:"emailAddress"`
		HistoryID    json.RawMessage `json:"historyId"`
	}
	if id == "" || err != nil || json.Unmarshal(data, &note) != nil || !strings.Contains(note.EmailAddress, "@") {
		return refuse(connector.WebhookMalformed, "the envelope has no messageId, or its data is not Gmail's {emailAddress, historyId}")
	}
	return connector.Delivery{ID: "pubsub:" + id, FreshUntil: time.Unix(cl.Exp, 0).Add(tokenSkew),
		Notices: []connector.Notice{{Subscription: strings.ToLower(note.EmailAddress)}}}, nil
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}
