package integration_test

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	slackemu "github.com/telltale-dev/telltale/internal/emulator/slack"
	"github.com/telltale-dev/telltale/internal/integration"
	"github.com/telltale-dev/telltale/internal/store"
)

// TestSlack: chat.postMessage with Block Kit and a bot token, and an incoming webhook, against the
// emulator; ok:false errors fail the delivery for good with an actionable error on the integration;
// rate_limited waits for Retry-After; garbage is retried.
func TestSlack(t *testing.T) {
	e := newEnv(t)
	emu := slackemu.New("xoxb-1-good", slackemu.Channel{ID: "C0SECURITY1", Member: true}, slackemu.Channel{ID: "C0OUTSIDE01"})
	srv := httptest.NewServer(emu)
	defer srv.Close()
	bot, err := e.svc.Create(ctx, integration.Input{Kind: integration.KindSlack, Name: "soc", Settings: integration.Settings{Mode: integration.SlackBot,
		Channel: "C0SECURITY1", APIBase: srv.URL + "/api"}, Secrets: &integration.Secrets{Token: "xoxb-1-good"}}, "ann")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.send.Verify(ctx, bot.Integration, integration.Secrets{Token: "xoxb-1-good"}); err != nil {
		t.Errorf("auth.test of a good token: %v", err)
	}
	if err := e.send.Verify(ctx, bot.Integration, integration.Secrets{Token: "xoxb-1-bad"}); err == nil || !strings.Contains(err.Error(), "invalid_auth") {
		t.Errorf("auth.test of a bad token: %v", err)
	}
	e.rule("shared", "action:file-shared", "critical")
	e.flow(integration.FlowInput{IntegrationIDs: []int64{bot.ID}})
	e.raise("alice@corp.example", "file-shared")
	e.sendDue()
	ms := emu.Messages()
	if len(ms) != 1 || ms[0].Channel != "C0SECURITY1" || !strings.Contains(ms[0].Text, "shared (critical)") || len(ms[0].Blocks) < 3 || ms[0].Key == "" {
		t.Fatalf("messages %+v", ms)
	}
	if ds := e.deliveries(bot.ID); ds[0].State != store.OutboxDone || ds[0].IdempotencyKey != ms[0].Key || !strings.Contains(ds[0].Response, `"ok":true`) {
		t.Fatalf("delivery %+v", ds[0])
	}

	// Errors: each shown on the integration, permanent ones fail at once.
	cases := []struct {
		fault     slackemu.Fault
		dead      bool
		errSubstr string
	}{
		{slackemu.Fault{SlackError: "invalid_auth"}, true, "invalid_auth"},
		{slackemu.Fault{SlackError: "channel_not_found"}, true, "channel_not_found"},
		{slackemu.Fault{SlackError: "not_in_channel"}, true, "/invite"},
		{slackemu.Fault{Garbage: true}, false, "not its JSON envelope"},
		{slackemu.Fault{Status: 500}, false, "500"},
	}
	for _, c := range cases {
		it, _ := e.svc.Test(ctx, bot.ID, "ann")
		emu.Fail(c.fault)
		e.sendDue()
		d, _ := e.st.GetOutbox(ctx, it.ID)
		i, _ := e.st.GetIntegration(ctx, bot.ID)
		if (d.State == store.OutboxDead) != c.dead || !strings.Contains(d.LastError, c.errSubstr) || !strings.Contains(i.LastError, c.errSubstr) {
			t.Errorf("%+v: delivery %s %q, integration error %q", c.fault, d.State, d.LastError, i.LastError)
		}
		e.clock.Advance(time.Hour)
		e.sendDue() // the retried ones arrive now
		if d, _ = e.st.GetOutbox(ctx, it.ID); !c.dead && d.State != store.OutboxDone {
			t.Errorf("%+v: not delivered on retry: %+v", c.fault, d)
		}
	}
	// rate_limited: not retried before Retry-After.
	it, _ := e.svc.Test(ctx, bot.ID, "ann")
	emu.Fail(slackemu.Fault{RateLimit: 30 * time.Minute})
	e.sendDue()
	d, _ := e.st.GetOutbox(ctx, it.ID)
	if d.State != store.OutboxPending || d.NextRunAt.Before(e.clock.Now().Add(30*time.Minute)) || !strings.Contains(d.LastError, "rate_limited") {
		t.Fatalf("rate limited: %+v (now %v)", d, e.clock.Now())
	}
	e.clock.Advance(31 * time.Minute)
	e.sendDue()
	if d, _ = e.st.GetOutbox(ctx, it.ID); d.State != store.OutboxDone {
		t.Errorf("after Retry-After: %+v", d)
	}

	// Incoming webhook.
	hook, err := e.svc.Create(ctx, integration.Input{Kind: integration.KindSlack, Name: "hook", Settings: integration.Settings{Mode: integration.SlackWebhook},
		Secrets: &integration.Secrets{WebhookURL: srv.URL + emu.HookPath()}}, "ann")
	if err != nil {
		t.Fatal(err)
	}
	it, _ = e.svc.Test(ctx, hook.ID, "ann")
	e.sendDue()
	if d, _ = e.st.GetOutbox(ctx, it.ID); d.State != store.OutboxDone || emu.Messages()[len(emu.Messages())-1].Via != "webhook" {
		t.Errorf("incoming webhook: %+v", d)
	}
	bad, _ := e.svc.Create(ctx, integration.Input{Kind: integration.KindSlack, Name: "gone", Settings: integration.Settings{Mode: integration.SlackWebhook},
		Secrets: &integration.Secrets{WebhookURL: srv.URL + "/services/T0/B0/revoked"}}, "ann")
	it, _ = e.svc.Test(ctx, bad.ID, "ann")
	e.sendDue()
	if d, _ = e.st.GetOutbox(ctx, it.ID); d.State != store.OutboxDead || !strings.Contains(d.LastError, "invalid_token") {
		t.Errorf("revoked incoming webhook: %+v", d)
	}
	// The incoming webhook's URL is a secret: an error naming the URL does not show it.
	down, _ := e.svc.Create(ctx, integration.Input{Kind: integration.KindSlack, Name: "down", Settings: integration.Settings{Mode: integration.SlackWebhook},
		Secrets: &integration.Secrets{WebhookURL: "http://127.0.0.1:1/services/T0AAA/B0BBB/s3cr3tp4th"}}, "ann")
	it, _ = e.svc.Test(ctx, down.ID, "ann")
	e.sendDue()
	d, _ = e.st.GetOutbox(ctx, it.ID)
	i, _ := e.st.GetIntegration(ctx, down.ID)
	if d.LastError == "" || strings.Contains(d.LastError+d.Response+i.LastError, "s3cr3tp4th") {
		t.Errorf("unreachable incoming webhook: error %q, integration %q", d.LastError, i.LastError)
	}
}
