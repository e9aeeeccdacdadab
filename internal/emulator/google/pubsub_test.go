package google

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/api/gmail/v1"
)

// checkJWKS: {"keys": [{kty, alg, use, kid, n, e}]}, the JWK Set Google serves at
// https://www.googleapis.com/oauth2/v3/certs.
func checkJWKS(x exchange) error {
	top, err := strictKeys(x.body, "keys")
	if err != nil {
		return err
	}
	keys, ok := top["keys"].([]any)
	if !ok || len(keys) == 0 {
		return fmt.Errorf("keys is not a non-empty array")
	}
	for i, k := range keys {
		b, _ := json.Marshal(k)
		m, err := strictKeys(b, "kty", "alg", "use", "kid", "n", "e")
		if err != nil {
			return fmt.Errorf("keys[%d].%w", i, err)
		}
		if m["kty"] != "RSA" || m["alg"] != "RS256" || m["use"] != "sig" || m["kid"] == nil || m["n"] == nil || m["e"] == nil {
			return fmt.Errorf("keys[%d]: %v", i, m)
		}
	}
	return nil
}

// push is one push request the test endpoint received.
type push struct {
	header http.Header
	body   []byte
}

// endpoint is a push endpoint answering status (200 by default), keeping what it receives.
type endpoint struct {
	srv    *httptest.Server
	mu     sync.Mutex
	got    []push
	status int
	ch     chan struct{}
}

func newEndpoint(t *testing.T) *endpoint {
	ep := &endpoint{status: 200, ch: make(chan struct{}, 100)}
	ep.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		ep.mu.Lock()
		ep.got = append(ep.got, push{r.Header.Clone(), b})
		st := ep.status
		ep.mu.Unlock()
		w.WriteHeader(st)
		ep.ch <- struct{}{}
	}))
	t.Cleanup(ep.srv.Close)
	return ep
}

// wait waits for n more requests.
func (ep *endpoint) wait(t *testing.T, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		select {
		case <-ep.ch:
		case <-time.After(5 * time.Second):
			t.Fatalf("push %d of %d never came", i+1, n)
		}
	}
}

// none asserts nothing more arrives for a while.
func (ep *endpoint) none(t *testing.T) {
	t.Helper()
	select {
	case <-ep.ch:
		t.Fatalf("an unexpected push: %s", ep.last().body)
	case <-time.After(150 * time.Millisecond):
	}
}

func (ep *endpoint) last() push {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	return ep.got[len(ep.got)-1]
}

type jwk struct{ Kty, Alg, Use, Kid, N, E string }

// certs fetches the emulator's JWKS through the recording client (so it is checked too).
func (h *harness) certs() map[string]*rsa.PublicKey {
	h.t.Helper()
	resp, err := h.hc.Get(h.srv.URL + "/oauth2/v3/certs")
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "max-age=") {
		h.t.Errorf("certs Cache-Control %q", cc)
	}
	var set struct{ Keys []jwk }
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		h.t.Fatal(err)
	}
	out := map[string]*rsa.PublicKey{}
	for _, k := range set.Keys {
		n, err1 := base64.RawURLEncoding.DecodeString(k.N)
		e, err2 := base64.RawURLEncoding.DecodeString(k.E)
		if err1 != nil || err2 != nil {
			h.t.Fatalf("jwk %+v", k)
		}
		out[k.Kid] = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	}
	return out
}

// verifyJWT checks an RS256 JWT by hand against keys and returns its kid and claims.
func verifyJWT(t *testing.T, tok string, keys map[string]*rsa.PublicKey) (string, map[string]any) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", tok)
	}
	var hdr struct{ Alg, Kid, Typ string }
	var claims map[string]any
	hb, _ := base64.RawURLEncoding.DecodeString(parts[0])
	cb, _ := base64.RawURLEncoding.DecodeString(parts[1])
	if json.Unmarshal(hb, &hdr) != nil || json.Unmarshal(cb, &claims) != nil || hdr.Alg != "RS256" || hdr.Typ != "JWT" {
		t.Fatalf("JWT header %s claims %s", hb, cb)
	}
	key := keys[hdr.Kid]
	if key == nil {
		t.Fatalf("kid %s is not in the JWKS", hdr.Kid)
	}
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(key, crypto.SHA256, sum[:], sig); err != nil {
		t.Fatalf("JWT signature: %v", err)
	}
	return hdr.Kid, claims
}

// envelope decodes a push body strictly: Pub/Sub's push envelope and Gmail's notification.
func envelope(t *testing.T, body []byte) (sub, email string, historyID uint64, msgID string) {
	t.Helper()
	top, err := strictKeys(body, "message", "subscription")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(top["message"])
	m, err := strictKeys(b, "data", "messageId", "message_id", "publishTime", "publish_time", "attributes")
	if err != nil {
		t.Fatal(err)
	}
	if m["messageId"] != m["message_id"] || m["publishTime"] != m["publish_time"] {
		t.Errorf("message ids or times differ: %v", m)
	}
	if _, err := time.Parse(time.RFC3339Nano, m["publishTime"].(string)); err != nil {
		t.Errorf("publishTime %v", m["publishTime"])
	}
	data, err := base64.StdEncoding.DecodeString(m["data"].(string))
	if err != nil {
		t.Fatal(err)
	}
	var n struct {
		EmailAddress string
		HistoryID    json.Number `json:"historyId"`
	}
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	if err := d.Decode(&n); err != nil {
		t.Fatalf("notification %s: %v", data, err)
	}
	if strings.Contains(string(data), `"historyId":"`) {
		t.Errorf("historyId is a string: %s", data)
	}
	hid, err := n.HistoryID.Int64()
	if err != nil {
		t.Fatal(err)
	}
	return top["subscription"].(string), n.EmailAddress, uint64(hid), m["messageId"].(string)
}

const topic = "projects/telltale-emu/topics/gmail"

// TestGmailPush: users.watch on SENT; a sent message is pushed to the subscription's endpoint in
// Pub/Sub's envelope with Gmail's notification, its OIDC token verifies against the JWKS with
// Pub/Sub's claims; drafts and received mail are not pushed; stop ends it; lost and failed pushes
// are counted; watch refuses foreign and unknown topics.
func TestGmailPush(t *testing.T) {
	h := newHarness(t, Options{Users: 6})
	a, b := h.active()[0], h.active()[1]
	ep := newEndpoint(t)
	const aud = "https://telltale.example/push/gmail"
	sub := h.emu.SetPushEndpoint(topic, ep.srv.URL, aud)
	s := h.gmail(a.Email)
	w, err := s.Users.Watch("me", &gmail.WatchRequest{TopicName: topic, LabelIds: []string{"SENT"}, LabelFilterBehavior: "include"}).Do()
	if err != nil {
		t.Fatal(err)
	}
	if exp := time.UnixMilli(w.Expiration); !exp.Equal(t0.Add(7*24*time.Hour)) || w.HistoryId != profileHistory(t, s) {
		t.Errorf("watch %+v", w)
	}
	h.emu.SendMail(a.Email, []string{"x@partner.example"}, nil, nil, "pushed", nil)
	ep.wait(t, 1)
	p := ep.last()
	gotSub, email, hid, mid := envelope(t, p.body)
	if gotSub != sub || sub != "projects/telltale-emu/subscriptions/gmail-push" || email != a.Email || hid != profileHistory(t, s) || mid == "" {
		t.Errorf("envelope %s: %s %s %d", p.body, gotSub, email, hid)
	}
	if p.header.Get("Content-Type") != "application/json" || !strings.HasPrefix(p.header.Get("User-Agent"), "APIs-Google") {
		t.Errorf("push headers %v", p.header)
	}
	tok, _ := strings.CutPrefix(p.header.Get("Authorization"), "Bearer ")
	keys := h.certs()
	kid, claims := verifyJWT(t, tok, keys)
	if claims["iss"] != "https://accounts.google.com" || claims["aud"] != aud || claims["email"] != "gmail-push@telltale-emu.iam.gserviceaccount.com" ||
		claims["email_verified"] != true || claims["sub"] == nil || claims["azp"] != claims["sub"] ||
		claims["exp"].(float64)-claims["iat"].(float64) != 3600 || int64(claims["iat"].(float64)) != t0.Unix() {
		t.Errorf("claims %v", claims)
	}

	// Drafts and mail received are not SENT: no push.
	h.emu.SaveDraft("", a.Email, []string{"x@gmail.com"}, nil, nil, "draft", nil)
	h.emu.SendMail(b.Email, []string{a.Email}, nil, nil, "to a", nil)
	ep.none(t)

	// Key rotation: the next push is signed by the new key; the JWKS serves both until the old one
	// has been retired for Options.PushKeyOverlap.
	newKid := h.emu.RotatePushKey()
	if newKid == kid || h.emu.PushKeyID() != newKid {
		t.Fatalf("rotation: %s -> %s", kid, newKid)
	}
	h.emu.SendMail(a.Email, []string{"x@partner.example"}, nil, nil, "after rotation", nil)
	ep.wait(t, 1)
	tok, _ = strings.CutPrefix(ep.last().header.Get("Authorization"), "Bearer ")
	keys = h.certs()
	if len(keys) != 2 || keys[kid] == nil {
		t.Errorf("JWKS after rotation: %v", keys)
	}
	if k, _ := verifyJWT(t, tok, keys); k != newKid {
		t.Errorf("signed by %s, want %s", k, newKid)
	}
	h.clk.Advance(25 * time.Hour)
	if keys = h.certs(); len(keys) != 1 || keys[newKid] == nil {
		t.Errorf("JWKS a day later: %v", keys)
	}
	s = h.gmail(a.Email) // a fresh token: the clock moved

	// Lost pushes are not sent; failed ones are retried and counted.
	h.emu.LosePushes(true)
	h.emu.SendMail(a.Email, []string{"x@partner.example"}, nil, nil, "lost", nil)
	ep.none(t)
	h.emu.LosePushes(false)
	ep.mu.Lock()
	ep.status = 503
	ep.mu.Unlock()
	h.emu.ResetStats()
	h.emu.SendMail(a.Email, []string{"x@partner.example"}, nil, nil, "failing", nil)
	ep.wait(t, 4) // the first try and 3 retries
	ep.none(t)
	if st := h.emu.Stats(); st.PushFailures != 4 || st.PushDeliveries != 0 {
		t.Errorf("stats after failures: %+v", st)
	}
	ep.mu.Lock()
	ep.status = 200
	ep.mu.Unlock()

	// The watch is gone after stop, and after 7 days.
	if err := s.Users.Stop("me").Do(); err != nil {
		t.Fatal(err)
	}
	h.emu.SendMail(a.Email, []string{"x@partner.example"}, nil, nil, "stopped", nil)
	ep.none(t)
	if _, err := s.Users.Watch("me", &gmail.WatchRequest{TopicName: topic}).Do(); err != nil {
		t.Fatal(err)
	}
	h.emu.SendMail(b.Email, []string{a.Email}, nil, nil, "all labels", nil)
	ep.wait(t, 1)
	h.clk.Advance(7*24*time.Hour + time.Second)
	h.emu.SendMail(b.Email, []string{a.Email}, nil, nil, "expired", nil)
	ep.none(t)
	s = h.gmail(a.Email)

	// exclude: everything but the labels.
	if _, err := s.Users.Watch("me", &gmail.WatchRequest{TopicName: topic, LabelIds: []string{"SENT"}, LabelFilterBehavior: "exclude"}).Do(); err != nil {
		t.Fatal(err)
	}
	h.emu.SendMail(a.Email, []string{"x@partner.example"}, nil, nil, "sent, excluded", nil)
	ep.none(t)
	h.emu.SendMail(b.Email, []string{a.Email}, nil, nil, "inbox, pushed", nil)
	ep.wait(t, 1)

	// Refusals.
	_, err = s.Users.Watch("me", &gmail.WatchRequest{TopicName: "projects/other/topics/gmail"}).Do()
	apiErr(t, err, 400, "invalidArgument")
	_, err = s.Users.Watch("me", &gmail.WatchRequest{TopicName: "projects/telltale-emu/topics/nope"}).Do()
	apiErr(t, err, 403, "forbidden")
	_, err = s.Users.Watch(b.Email, &gmail.WatchRequest{TopicName: topic}).Do()
	apiErr(t, err, 403, "forbidden")
}
