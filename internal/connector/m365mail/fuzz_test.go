package m365mail

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/clock"
	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/connector/connectortest"
)

// FuzzDeliver: Deliver never panics on any query or body; what it does not accept is a typed
// refusal; what it accepts is a handshake echoing its token, or a delivery with an id and one
// notice per subscription named, every one with a clientState this connection signed.
func FuzzDeliver(f *testing.F) {
	clk := clock.NewFake(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC))
	tenant := "0b9d6a9e-3f42-4c8e-9d6b-6a1f2f5c7e10"
	s := &session{tenant: tenant, stateKey: stateKeyOf("secret", 7), deps: connector.Deps{Clock: clk}.WithDefaults()}
	uid := "3ef62c30-1cb1-408b-8ba4-d791067b418e"
	state := s.clientState(uid)
	genuine := `{"value":[{"subscriptionId":"8a1f0c3e-1111-2222-3333-444455556666","subscriptionExpirationDateTime":"2026-11-09T09:00:00Z","changeType":"created","resource":"Users/` +
		uid + `/Messages/AAMkAD1","clientState":"` + state + `","tenantId":"` + tenant + `","resourceData":{"@odata.type":"#Microsoft.Graph.Message","id":"AAMkAD1"}}]}`
	lifecycle := `{"value":[{"subscriptionId":"8a1f0c3e-1111-2222-3333-444455556666","subscriptionExpirationDateTime":"2026-11-09T09:00:00Z","tenantId":"` + tenant +
		`","clientState":"` + state + `","lifecycleEvent":"missed"}]}`
	for _, b := range []string{genuine, lifecycle} {
		if d, err := s.Deliver(context.Background(), connector.Push{Body: []byte(b)}); err != nil || d.ID == "" {
			f.Fatalf("the genuine seed is refused: %+v %v", d, err)
		}
	}
	f.Add("", []byte(genuine))
	f.Add("", []byte(lifecycle))
	f.Add("validationToken=Validation%3A+hi", []byte(nil))
	f.Add("", []byte(`{"value":[{"subscriptionId":"s","changeType":"created","clientState":"tt1..x"}]}`))
	f.Add("", []byte(`{"value":null}`))
	f.Fuzz(func(t *testing.T, query string, body []byte) {
		q, _ := url.ParseQuery(query)
		d, err := s.Deliver(context.Background(), connector.Push{Query: q, Body: body})
		if err != nil {
			var wr *connector.WebhookRefusal
			if !errors.As(err, &wr) || !errors.Is(err, connector.ErrForged) {
				t.Fatalf("not a refusal: %v", err)
			}
			return
		}
		if d.Reply != nil {
			if d.ID != "" || len(d.Reply.Body) > connector.MaxReply || string(d.Reply.Body) != q.Get("validationToken") {
				t.Fatalf("handshake %+v", d)
			}
			return
		}
		if d.ID == "" || !strings.HasPrefix(d.ID, "graph:") || len(d.Notices) == 0 || !d.FreshUntil.After(clk.Now()) {
			t.Fatalf("accepted %+v", d)
		}
		if !strings.Contains(string(body), state) {
			t.Fatalf("accepted a body without this connection's clientState: %q", body)
		}
	})
}

// FuzzAdapt: DecodeMessage and Adapt never panic; an error says it is a message's; every record
// carries one valid event or a skip reason, and an id.
func FuzzAdapt(f *testing.F) {
	f.Add([]byte(`{"id":"m","sentDateTime":"2026-03-02T09:00:00Z","hasAttachments":true,"subject":"s","from":{"emailAddress":{"address":"A@corp.example"}},` +
		`"toRecipients":[{"emailAddress":{"address":"x@gmail.com"}}],"body":{"content":"a.docx: https://x/y"},` +
		`"attachments":[{"@odata.type":"#microsoft.graph.fileAttachment","id":"a1","name":"a.pdf","size":10,"contentType":"application/pdf"},` +
		`{"@odata.type":"#microsoft.graph.referenceAttachment","id":"a2","name":"a.docx"},{"@odata.type":"#microsoft.graph.itemAttachment","id":"a3","name":"fw"}]}`))
	f.Add([]byte(`{"id":"m","sentDateTime":"2026-03-02T09:00:00.1234567Z","toRecipients":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodeMessage(data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "microsoft365_mail message") {
				t.Fatalf("error does not say what failed: %v", err)
			}
			return
		}
		for _, mb := range []Mailbox{{}, {UserID: "u", UPN: "ann@corp.example"}} {
			for _, r := range Adapt(m, mb) {
				connectortest.CheckRecord(t, r)
			}
		}
	})
}
