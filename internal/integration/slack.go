package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/telltale-dev/telltale/internal/store"
)

// slackErrors say what to do about Slack's ok:false errors (chat.postMessage and auth.test) and
// incoming webhooks' error bodies; the listed ones are permanent (retrying cannot fix them).
var slackErrors = map[string]string{
	"invalid_auth":                      "Slack refused the bot token (invalid_auth): enter a valid xoxb- token and connect again",
	"not_authed":                        "Slack received no token (not_authed): enter the bot token and connect again",
	"token_revoked":                     "the bot token was revoked (token_revoked): reinstall the Slack app and enter its new token",
	"account_inactive":                  "the bot's Slack account is inactive (account_inactive): reinstall the Slack app",
	"channel_not_found":                 "Slack does not know the channel (channel_not_found): enter the channel's id (C0123ABCDEF) and check the app can see it",
	"not_in_channel":                    "the bot is not a member of the channel (not_in_channel): invite it there with /invite @<app name>",
	"is_archived":                       "the channel is archived (is_archived): unarchive it or choose another channel",
	"channel_is_archived":               "the channel is archived (channel_is_archived): unarchive it or create a new incoming webhook",
	"msg_too_long":                      "Slack refused the message as too long (msg_too_long)",
	"no_text":                           "Slack refused a message without text (no_text)",
	"invalid_payload":                   "Slack refused the message (invalid_payload)",
	"invalid_token":                     "Slack refused the incoming webhook (invalid_token): create a new incoming webhook and enter its URL",
	"action_prohibited":                 "Slack's admin settings prohibit this webhook (action_prohibited)",
	"no_service":                        "the incoming webhook was removed (no_service): create a new one and enter its URL",
	"no_active_hooks":                   "the incoming webhook is disabled (no_active_hooks): enable it or create a new one",
	"posting_to_general_channel_denied": "only admins may post to this channel (posting_to_general_channel_denied): choose another channel",
}

// slackAuthErrors are Slack's answers refusing the credentials.
var slackAuthErrors = map[string]bool{"invalid_auth": true, "not_authed": true, "token_revoked": true, "account_inactive": true, "invalid_token": true, "no_service": true}

func slackFailure(code string) *Failure {
	if msg, ok := slackErrors[code]; ok {
		f := &Failure{Msg: msg, Permanent: true}
		if slackAuthErrors[code] {
			f.Kind = store.IntegrationErrAuth
		}
		return f
	}
	return &Failure{Msg: "Slack answered " + code}
}

// SlackMessage is the message made from a payload: text (the notification's fallback) and Block Kit blocks.
type SlackMessage struct {
	Channel string           `json:"channel,omitempty"`
	Text    string           `json:"text"`
	Blocks  []map[string]any `json:"blocks"`
}

// slackEscape escapes the three characters Slack's mrkdwn gives meaning to.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func plain(s string, n int) map[string]any {
	return map[string]any{"type": "plain_text", "text": clip(s, n)}
}
func mrkdwn(s string) map[string]any { return map[string]any{"type": "mrkdwn", "text": clip(s, 2900)} }

// Message builds the Slack message of a payload.
func Message(p Payload) SlackMessage {
	a := p.Alert
	title := fmt.Sprintf("Telltale alert: %s (%s)", a.RuleName, a.Severity)
	if p.Test {
		title = "Telltale test delivery"
	}
	fields := []map[string]any{
		mrkdwn("*Severity*\n" + slackEscape(a.Severity)),
		mrkdwn("*Person*\n" + slackEscape(cmpStr(a.Person, "—"))),
		mrkdwn("*Rule*\n" + slackEscape(a.RuleName)),
		mrkdwn("*Events*\n" + strconv.FormatInt(a.EventCount, 10)),
	}
	blocks := []map[string]any{
		{"type": "header", "text": plain(title, 150)},
		{"type": "section", "text": mrkdwn(slackEscape(a.Summary)), "fields": fields},
	}
	if len(p.Events) > 0 {
		var b strings.Builder
		for i, e := range p.Events {
			if i == 5 {
				fmt.Fprintf(&b, "…and %d more\n", len(p.Events)-5+int(p.MoreEvents))
				break
			}
			fmt.Fprintf(&b, "• %s %s `%s`", e.ObservedAt.UTC().Format(time.RFC3339), slackEscape(e.Action), slackEscape(e.File))
			if len(e.Destinations) > 0 {
				fmt.Fprintf(&b, " → %s", slackEscape(strings.Join(e.Destinations, ", ")))
			}
			b.WriteByte('\n')
		}
		blocks = append(blocks, map[string]any{"type": "section", "text": mrkdwn(b.String())})
	}
	blocks = append(blocks, map[string]any{"type": "context", "elements": []map[string]any{mrkdwn("Delivery " + slackEscape(p.IdempotencyKey))}})
	return SlackMessage{Text: clip(title+": "+a.Summary, 3000), Blocks: blocks}
}

func cmpStr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// slackAnswer is Slack's Web API envelope.
type slackAnswer struct {
	OK    *bool  `json:"ok"`
	Error string `json:"error"`
}

func (d *Sender) slack(ctx context.Context, st Settings, sec Secrets, it store.OutboxItem) Attempt {
	var p Payload
	if err := json.Unmarshal(it.Payload, &p); err != nil {
		return Attempt{Err: &Failure{Msg: "the delivery's payload: " + err.Error(), Permanent: true}}
	}
	m := Message(p)
	target, what := sec.WebhookURL, "Slack's incoming webhook"
	if st.Mode == SlackBot {
		m.Channel, target, what = st.Channel, st.APIBase+"/chat.postMessage", "Slack"
	}
	body, _ := json.Marshal(m)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return Attempt{Err: &Failure{Msg: "the Slack URL: " + err.Error(), Permanent: true}}
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	if st.Mode == SlackBot {
		req.Header.Set("Authorization", "Bearer "+sec.Token)
	}
	resp, rb, f := d.post(ctx, "integration:"+strconv.FormatInt(it.IntegrationID, 10), req)
	out := Attempt{Response: response(resp, rb)}
	if f != nil {
		out.Err = f
		return out
	}
	now := d.o.Clock.Now()
	if resp.StatusCode == http.StatusTooManyRequests {
		f := statusFailure(resp, rb, now, what)
		f.Msg = "Slack is rate limiting this integration (rate_limited); retrying after its Retry-After"
		f.Kind = store.IntegrationErrRateLimited
		out.Err = f
		return out
	}
	if st.Mode == SlackWebhook {
		// Incoming webhooks answer 200 "ok", or an error code as text with 400, 403, 404 or 410.
		text := strings.TrimSpace(string(rb))
		if resp.StatusCode == 200 && text == "ok" {
			return out
		}
		if _, known := slackErrors[text]; known && resp.StatusCode < 500 {
			out.Err = slackFailure(text)
			return out
		}
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			out.Err = &Failure{Msg: what + " answered " + resp.Status + " with something other than \"ok\": " + excerpt(rb, 200)}
			return out
		}
		out.Err = statusFailure(resp, rb, now, what)
		return out
	}
	var ans slackAnswer
	if err := json.Unmarshal(rb, &ans); err != nil || ans.OK == nil {
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			out.Err = &Failure{Msg: "Slack answered " + resp.Status + " with something that is not its JSON envelope: " + excerpt(rb, 200)}
		} else {
			out.Err = statusFailure(resp, rb, now, what)
		}
		return out
	}
	if !*ans.OK {
		if ans.Error == "rate_limited" || ans.Error == "ratelimited" {
			out.Err = &Failure{Msg: "Slack is rate limiting this integration (rate_limited)", Kind: store.IntegrationErrRateLimited}
			return out
		}
		out.Err = slackFailure(ans.Error)
		return out
	}
	return out
}

// Verify checks an integration's credentials before it is connected (R7.4): a Slack bot token with
// auth.test; a webhook's or an incoming webhook's URL against the guard (they cannot be checked
// without posting).
func (d *Sender) Verify(ctx context.Context, i store.Integration, sec Secrets) error {
	v, err := d.s.view(i)
	if err != nil {
		return err
	}
	st := v.Config
	switch {
	case i.Kind == KindServiceNow:
		return d.verifyServiceNow(ctx, i, st, sec)
	case i.Kind == KindJira:
		return d.verifyJira(ctx, i, st, sec)
	case i.Kind == KindOkta:
		return d.verifyOkta(ctx, i, st, sec)
	case i.Kind == KindWebhook:
		return d.s.checkURL(ctx, "url", st.URL)
	case st.Mode != SlackBot:
		return d.s.checkURL(ctx, "webhook_url", sec.WebhookURL)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, st.APIBase+"/auth.test", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+sec.Token)
	resp, rb, f := d.post(ctx, "integration:"+strconv.FormatInt(i.ID, 10), req)
	if f != nil {
		return f
	}
	var ans slackAnswer
	if err := json.Unmarshal(rb, &ans); err != nil || ans.OK == nil {
		return &Failure{Msg: "Slack answered " + resp.Status + " with something that is not its JSON envelope: " + excerpt(rb, 200)}
	}
	if !*ans.OK {
		return slackFailure(ans.Error)
	}
	return nil
}
