package google

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Gmail push through Cloud Pub/Sub (https://developers.google.com/workspace/gmail/api/guides/push):
// users.watch names a topic; Gmail publishes {"emailAddress", "historyId"} to it when the mailbox
// changes (only for the watched labels); the topic's push subscription POSTs each message to its
// endpoint in Pub/Sub's push envelope, with an OIDC token of the subscription's service account
// (https://cloud.google.com/pubsub/docs/authenticate-push-subscriptions) that the endpoint
// verifies against Google's keys (GET /oauth2/v3/certs here). Topics exist only as the emulator is
// told (SetPushEndpoint); there is no Pub/Sub API, no pull subscription.

// PubSubIssuer is the iss of the push OIDC token.
const PubSubIssuer = "https://accounts.google.com"

// pushUserAgent is the User-Agent of Pub/Sub's push requests (Pub/Sub's push guide).
const pushUserAgent = "APIs-Google; (+https://developers.google.com/webmasters/APIs-Google.html)"

type gmailWatch struct {
	topic   string
	labels  []string
	exclude bool
	expires time.Time
}

// pushSub is a push subscription on a topic.
type pushSub struct {
	name, topic, endpoint, audience string
	queue                           chan []byte // envelopes, in order
	done                            chan struct{}
}

type pushKey struct {
	kid     string
	key     *rsa.PrivateKey
	retired time.Time // zero: the current key
}

// project is the Cloud project of the service account (the one a watch's topic must be in).
func (e *Emulator) project() string {
	p := "telltale-emu"
	if at := strings.Index(e.o.ClientEmail, "@"); at >= 0 {
		p = strings.Split(e.o.ClientEmail[at+1:], ".")[0]
	}
	return p
}

var topicRE = regexp.MustCompile(`^projects/([^/]+)/topics/([^/]+)$`)

// SetPushEndpoint creates topic (projects/<project>/topics/<name>, in the service account's
// project) with Gmail's right to publish, and a push subscription on it that POSTs to url with an
// OIDC token whose aud is audience (url when empty), signed by the push key (the subscription's
// service account is Options.PushServiceAccount). It returns the subscription's name
// (projects/<project>/subscriptions/<name>-push). An empty url deletes the subscription.
func (e *Emulator) SetPushEndpoint(topic, url, audience string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	m := topicRE.FindStringSubmatch(topic)
	if m == nil {
		panic("google emulator: SetPushEndpoint: topic must be projects/<project>/topics/<name>: " + topic)
	}
	if audience == "" {
		audience = url
	}
	name := "projects/" + m[1] + "/subscriptions/" + m[2] + "-push"
	if old := e.subs[topic]; old != nil {
		if url != "" {
			old.endpoint, old.audience = url, audience
			return old.name
		}
		close(old.done)
		delete(e.subs, topic)
		return name
	}
	e.topics[topic] = true
	if url == "" {
		return name
	}
	s := &pushSub{name: name, topic: topic, endpoint: url, audience: audience, queue: make(chan []byte, 4096), done: make(chan struct{})}
	e.subs[topic] = s
	e.wg.Add(1)
	go e.pushLoop(s)
	return name
}

// usersWatch is users.watch: the mailbox's notifications go to topicName (in the caller's project,
// a topic that exists) for the changes of the messages with labelIds (labelFilterBehavior include,
// the default) or without them (exclude); all changes when labelIds is empty. A watch again
// replaces the mailbox's watch. It lasts 7 days ("Call watch again before this time"; the guide
// says to renew at least every 7 days).
func (e *Emulator) usersWatch(c *call) (int, any, *apiError) {
	var body struct {
		TopicName           string   `json:"topicName"`
		LabelIDs            []string `json:"labelIds"`
		LabelFilterBehavior string   `json:"labelFilterBehavior"`
		LabelFilterAction   string   `json:"labelFilterAction"`
	}
	if err := json.NewDecoder(io.LimitReader(c.r.Body, 1<<20)).Decode(&body); err != nil {
		return 0, nil, gerr(400, "parseError", "Parse Error")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	mb, aerr := e.gmailBox(c)
	if aerr != nil {
		return 0, nil, aerr
	}
	// Modelled on the answers Gmail's users report: a topic outside the project is 400 "Invalid
	// topicName does not match projects/<project>/topics/*", a topic Gmail cannot publish to 403
	// "Error sending test message to Cloud PubSub <topic> : User not authorized to perform this
	// action." (here, a topic the emulator was not told of).
	if m := topicRE.FindStringSubmatch(body.TopicName); m == nil || m[1] != e.project() {
		return 0, nil, gerr(400, "invalidArgument", "Invalid topicName does not match projects/%s/topics/*", e.project())
	}
	if !e.topics[body.TopicName] {
		return 0, nil, gerr(403, "forbidden", "Error sending test message to Cloud PubSub %s : User not authorized to perform this action.", body.TopicName)
	}
	behavior := body.LabelFilterBehavior
	if behavior == "" {
		behavior = body.LabelFilterAction
	}
	w := &gmailWatch{topic: body.TopicName, labels: slices.Clone(body.LabelIDs), expires: e.clk.Now().Add(7 * 24 * time.Hour).Truncate(time.Millisecond)}
	switch strings.ToLower(behavior) {
	case "", "include":
	case "exclude":
		w.exclude = true
	default:
		return 0, nil, gerr(400, "invalidArgument", "Invalid value at 'label_filter_behavior', %q", behavior)
	}
	mb.watch = w
	return 200, map[string]any{"historyId": strconv.FormatInt(mb.hist, 10), "expiration": strconv.FormatInt(w.expires.UnixMilli(), 10)}, nil
}

// usersStop is users.stop: no more notifications for the mailbox; 204.
func (e *Emulator) usersStop(c *call) (int, any, *apiError) {
	e.mu.Lock()
	defer e.mu.Unlock()
	mb, aerr := e.gmailBox(c)
	if aerr != nil {
		return 0, nil, aerr
	}
	mb.watch = nil
	return 204, nil, nil
}

// notifyGmail publishes a notification of r to the mailbox's watch topic when the watch is live
// and r's message has (include) or lacks (exclude) a watched label. Called with e.mu held.
func (e *Emulator) notifyGmail(mb *mailbox, r *histRecord) {
	w := mb.watch
	if w == nil {
		return
	}
	now := e.clk.Now()
	if !now.Before(w.expires) {
		mb.watch = nil
		return
	}
	if len(w.labels) > 0 && slices.ContainsFunc(r.labels, func(l string) bool { return slices.Contains(w.labels, l) }) == w.exclude {
		return
	}
	// The data: {"emailAddress", "historyId"}, historyId the mailbox's current one. The guide's
	// example shows historyId as a string; Gmail sends a JSON number (googleworkspace/python-samples#200
	// quotes {'emailAddress': ..., 'historyId': 1710}), as here.
	data, _ := json.Marshal(map[string]any{"emailAddress": mb.u.email, "historyId": mb.hist})
	e.publish(w.topic, data, now)
}

// publish sends a message to the topic's push subscription. Pub/Sub's push envelope
// (https://cloud.google.com/pubsub/docs/push): {"message": {"data" (base64), "messageId",
// "message_id", "publishTime", "publish_time"}, "subscription"}; Gmail sets no attributes, so
// there are none (modelled: an empty attributes map is left out). messageId is a decimal number
// unique in the topic. Called with e.mu held.
func (e *Emulator) publish(topic string, data []byte, now time.Time) {
	s := e.subs[topic]
	if s == nil {
		return // a topic without a push subscription: nobody is told
	}
	if e.pubsubSeq == 0 {
		e.pubsubSeq = 2070443601311540 + int64(hashString(e.o.ClientEmail)%1e9)
	}
	e.pubsubSeq += 1 + int64(hashString(topic+strconv.FormatInt(e.pubsubSeq, 10))%97)
	id := strconv.FormatInt(e.pubsubSeq, 10)
	at := now.UTC().Format(rfc3339ms)
	env, _ := json.Marshal(map[string]any{
		"message":      map[string]any{"data": base64.StdEncoding.EncodeToString(data), "messageId": id, "message_id": id, "publishTime": at, "publish_time": at},
		"subscription": s.name})
	select {
	case s.queue <- env:
	default: // a full queue: the message is lost
	}
}

// pushLoop delivers a subscription's messages in order: a POST with the envelope and
// Authorization: Bearer <OIDC token>; a 2xx answer acknowledges it, anything else is retried
// Options.PushRetries times with an exponential backoff from 10 ms (modelled: Pub/Sub retries
// until the message expires, backing off from 10 s). LosePushes drops messages before they are
// sent.
func (e *Emulator) pushLoop(s *pushSub) {
	defer e.wg.Done()
	for {
		var env []byte
		select {
		case <-e.ctx.Done():
			return
		case <-s.done:
			return
		case env = <-s.queue:
		}
		if e.hooks.Losing() {
			continue
		}
		for attempt := 0; ; attempt++ {
			e.mu.Lock()
			endpoint, aud := s.endpoint, s.audience
			tok := e.pushToken(aud)
			e.mu.Unlock()
			ok := e.postPush(endpoint, tok, env)
			e.mu.Lock()
			if ok {
				e.stats.PushDeliveries++
			} else {
				e.stats.PushFailures++
			}
			e.mu.Unlock()
			if ok || attempt >= e.o.PushRetries {
				break
			}
			select {
			case <-e.ctx.Done():
				return
			case <-s.done:
				return
			case <-time.After(10 * time.Millisecond << min(attempt, 10)):
			}
		}
	}
}

func (e *Emulator) postPush(endpoint, tok string, env []byte) bool {
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(env))
	if err != nil {
		return false
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", pushUserAgent)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := e.hc.Do(req)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode/100 == 2
}

// pushKeyNow is the current push signing key, made on first use. Called with e.mu held.
func (e *Emulator) pushKeyNow() *pushKey {
	for _, k := range e.pushKeys {
		if k.retired.IsZero() {
			return k
		}
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic("google emulator: rsa key: " + err.Error())
	}
	sum := sha1.Sum(key.N.Bytes())
	k := &pushKey{kid: hex.EncodeToString(sum[:]), key: key}
	e.pushKeys = append(e.pushKeys, k)
	return k
}

// RotatePushKey retires the push signing key and makes a new one, returning its key id (kid). The
// retired key stays in GET /oauth2/v3/certs for Options.PushKeyOverlap (on the emulator's clock),
// as Google keeps a previous key published for a while (modelled: Google does not document for
// how long).
func (e *Emulator) RotatePushKey() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	old := e.pushKeyNow()
	old.retired = e.clk.Now()
	return e.pushKeyNow().kid
}

// PushKeyID returns the key id (kid) the push tokens are signed with now.
func (e *Emulator) PushKeyID() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.pushKeyNow().kid
}

// pushAccountID is the numeric unique id of the push service account (the token's sub and azp).
func (e *Emulator) pushAccountID() string {
	return fmt.Sprintf("1%020d", hashString(e.o.PushServiceAccount)%1e19)
}

// pushToken is the OIDC token of a push: RS256, header kid and typ JWT, claims aud, azp, email
// (the subscription's service account), email_verified, exp (an hour after iat), iat, iss
// (https://accounts.google.com) and sub, as Pub/Sub's "Authentication for push subscriptions"
// shows them. Called with e.mu held.
func (e *Emulator) pushToken(aud string) string {
	k := e.pushKeyNow()
	now := e.clk.Now().Unix()
	hdr, _ := json.Marshal(map[string]any{"alg": "RS256", "kid": k.kid, "typ": "JWT"})
	claims, _ := json.Marshal(map[string]any{"aud": aud, "azp": e.pushAccountID(), "email": e.o.PushServiceAccount,
		"email_verified": true, "exp": now + 3600, "iat": now, "iss": PubSubIssuer, "sub": e.pushAccountID()})
	signed := base64.RawURLEncoding.EncodeToString(hdr) + "." + base64.RawURLEncoding.EncodeToString(claims)
	sum := sha256.Sum256([]byte(signed))
	sig, err := rsa.SignPKCS1v15(rand.Reader, k.key, crypto.SHA256, sum[:])
	if err != nil {
		panic("google emulator: sign: " + err.Error())
	}
	return signed + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// certs is GET /oauth2/v3/certs: Google's OAuth 2.0 signing keys as a JWK Set ({"keys": [{kty RSA,
// alg RS256, use sig, kid, n, e}]}), with a Cache-Control max-age clients cache it by (modelled:
// an hour).
func (e *Emulator) certs(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	e.stats.Requests++
	e.stats.CertsRequests++
	e.pushKeyNow()
	now := e.clk.Now()
	var keys []any
	for _, k := range e.pushKeys {
		if !k.retired.IsZero() && !now.Before(k.retired.Add(e.o.PushKeyOverlap)) {
			continue
		}
		keys = append(keys, map[string]any{"kty": "RSA", "alg": "RS256", "use": "sig", "kid": k.kid,
			"n": base64.RawURLEncoding.EncodeToString(k.key.N.Bytes()),
			"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.key.E)).Bytes())})
	}
	e.mu.Unlock()
	w.Header().Set("Cache-Control", "public, max-age=3600, must-revalidate, no-transform")
	writeJSON(w, 200, map[string]any{"keys": keys})
}
