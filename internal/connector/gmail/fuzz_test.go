package gmail

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/clock"
	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/connector/connectortest"
)

// FuzzAdapt: DecodeMessage and Adapt never panic; an error says it is a Gmail message's; every
// record carries one valid event or a skip reason, and an id.
func FuzzAdapt(f *testing.F) {
	f.Add(message([]string{"SENT"}, "1764511387000", sentHeaders))
	f.Add([]byte(`{"id":"m","labelIds":["SENT"],"internalDate":1,"payload":{"filename":"a.txt","body":{"data":"aGk="},"headers":[{"name":"To","value":"x@y, <<"}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodeMessage(data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "gmail message") {
				t.Fatalf("error does not say what failed: %v", err)
			}
			return
		}
		for _, mailbox := range []string{"", "alice@corp.example"} {
			for _, r := range Adapt(m, mailbox) {
				connectortest.CheckRecord(t, r)
			}
		}
	})
}

// FuzzDeliver: Deliver never panics on any header or body; what it does not accept is a typed
// refusal, what it accepts has an id and names a mailbox.
func FuzzDeliver(f *testing.F) {
	key, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		f.Fatal(err)
	}
	clk := clock.NewFake(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC))
	s := &session{topic: pushTopic, pushSA: pushSA, audience: "https://t.example/hook", deps: connector.Deps{Clock: clk}.WithDefaults()}
	s.keys.keys, s.keys.lastTry = map[string]*rsa.PublicKey{"k1": &key.PublicKey}, clk.Now() // no fetch: the set was just read
	sign := func(claims string) string {
		signed := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","kid":"k1"}`)) + "." + base64.RawURLEncoding.EncodeToString([]byte(claims))
		sum := sha256.Sum256([]byte(signed))
		sig, _ := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
		return signed + "." + base64.RawURLEncoding.EncodeToString(sig)
	}
	good := sign(fmt.Sprintf(`{"iss":"https://accounts.google.com","aud":"https://t.example/hook","email":%q,"email_verified":true,"iat":%d,"exp":%d}`,
		pushSA, clk.Now().Unix(), clk.Now().Add(time.Hour).Unix()))
	data := base64.StdEncoding.EncodeToString([]byte(`{"emailAddress":"a@example.com","historyId":12}`))
	genuine := []byte(`{"message":{"data":"` + data + `","messageId":"7"},"subscription":"s"}`)
	if d, err := s.Deliver(context.Background(), connector.Push{Header: http.Header{"Authorization": {"Bearer " + good}}, Body: genuine}); err != nil || d.ID != "pubsub:7" {
		f.Fatalf("the genuine seed is refused: %+v %v", d, err)
	}
	f.Add(good, genuine)
	f.Add(good, []byte(`{"message":{"data":"!!"}}`))
	f.Add("a.b.c", []byte(`{}`))
	f.Fuzz(func(t *testing.T, tok string, body []byte) {
		d, err := s.Deliver(context.Background(), connector.Push{Header: http.Header{"Authorization": {"Bearer " + tok}}, Body: body})
		if err != nil {
			var wr *connector.WebhookRefusal
			if !errors.As(err, &wr) {
				t.Fatalf("not a refusal: %v", err)
			}
			return
		}
		if d.ID == "" || len(d.Notices) != 1 || !strings.Contains(d.Notices[0].Subscription, "@") {
			t.Fatalf("accepted %+v", d)
		}
	})
}
