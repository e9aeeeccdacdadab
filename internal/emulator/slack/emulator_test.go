package slack

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/integration"
)

func post(t *testing.T, url, token, body string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// TestAnswersFollowTheSpec: every answer of the Web API calls, successes and each ok:false error,
// validates against Slack's spec, and so does every request argument.
func TestAnswersFollowTheSpec(t *testing.T) {
	spec := LoadSpec(t)
	emu := New("xoxb-good", Channel{ID: "C0SECURITY1", Member: true}, Channel{ID: "C0OUTSIDE01"}, Channel{ID: "C0ARCHIVED1", Member: true, Archived: true})
	emu.Check = spec.Check
	srv := httptest.NewServer(emu)
	defer srv.Close()
	msg := `{"channel":"%s","text":"hello","blocks":[{"type":"section","text":{"type":"mrkdwn","text":"hi"}},{"type":"context","elements":[{"type":"mrkdwn","text":"Delivery k1"}]}]}`
	cases := []struct {
		token, channel, want string
	}{
		{"xoxb-good", "C0SECURITY1", `"ok":true`},
		{"xoxb-bad", "C0SECURITY1", `"error":"invalid_auth"`},
		{"", "C0SECURITY1", `"error":"not_authed"`},
		{"xoxb-good", "C0MISSING01", `"error":"channel_not_found"`},
		{"xoxb-good", "C0OUTSIDE01", `"error":"not_in_channel"`},
		{"xoxb-good", "C0ARCHIVED1", `"error":"is_archived"`},
	}
	for _, c := range cases {
		code, _, body := post(t, srv.URL+"/api/chat.postMessage", c.token, strings.Replace(msg, "%s", c.channel, 1))
		if code != 200 || !strings.Contains(body, c.want) {
			t.Errorf("%s/%s: %d %s, want %s", c.token, c.channel, code, body, c.want)
		}
	}
	emu.Fail(Fault{RateLimit: 3 * time.Second})
	code, h, body := post(t, srv.URL+"/api/chat.postMessage", "xoxb-good", strings.Replace(msg, "%s", "C0SECURITY1", 1))
	if code != 429 || h.Get("Retry-After") != "3" || !strings.Contains(body, "rate_limited") {
		t.Errorf("rate limited: %d %v %s", code, h, body)
	}
	for _, tok := range []string{"xoxb-good", "xoxb-bad"} {
		if _, _, body := post(t, srv.URL+"/api/auth.test", tok, ""); !strings.Contains(body, `"ok"`) {
			t.Errorf("auth.test: %s", body)
		}
	}
	if errs := spec.Errors(); len(errs) > 0 {
		t.Errorf("spec findings:\n%s", strings.Join(errs, "\n"))
	}
	if m := emu.Messages(); len(m) != 1 || m[0].Key != "k1" || m[0].Channel != "C0SECURITY1" {
		t.Errorf("messages %+v", m)
	}
}

// TestSpecIsStrict: the checker is strict enough that a renamed field in an answer, a renamed
// argument in a request or a missing required argument fails.
func TestSpecIsStrict(t *testing.T) {
	spec := LoadSpec(t)
	good := map[string]any{"ok": true, "channel": "C0SECURITY1", "ts": "1700000001.000001",
		"message": map[string]any{"type": "message", "text": "x", "ts": "1700000001.000001", "user": BotID, "team": TeamID}}
	b, _ := json.Marshal(good)
	spec.Check("chat.postMessage", nil, 200, b)
	if errs := spec.Errors(); len(errs) != 0 {
		t.Fatalf("a good answer fails: %v", errs)
	}
	renamed := strings.Replace(string(b), `"channel"`, `"channel_id"`, 1)
	spec.Check("chat.postMessage", nil, 200, []byte(renamed))
	if len(spec.Errors()) == 0 {
		t.Error("an answer with channel renamed passed")
	}
	n := len(spec.Errors())
	spec.Check("chat.postMessage", nil, 200, []byte(`{"ok":false,"error":"channel_not_here"}`))
	if len(spec.Errors()) == n {
		t.Error("an error outside the spec's enum passed")
	}
	n = len(spec.Errors())
	spec.Check("chat.postMessage", map[string]any{"channel": "C1", "txt": "x"}, 0, nil)
	if len(spec.Errors()) == n {
		t.Error("a renamed argument passed")
	}
	n = len(spec.Errors())
	spec.Check("chat.postMessage", map[string]any{"text": "x"}, 0, nil)
	if len(spec.Errors()) == n {
		t.Error("a missing channel passed")
	}
}

// TestIncomingWebhook: "ok" for a message, error codes as text for a wrong path or an empty message.
func TestIncomingWebhook(t *testing.T) {
	emu := New("xoxb-good")
	srv := httptest.NewServer(emu)
	defer srv.Close()
	if code, _, body := post(t, srv.URL+emu.HookPath(), "", `{"text":"hi"}`); code != 200 || body != "ok" {
		t.Errorf("post: %d %s", code, body)
	}
	if code, _, body := post(t, srv.URL+"/services/T0/B0/wrong", "", `{"text":"hi"}`); code != 403 || body != "invalid_token" {
		t.Errorf("wrong hook: %d %s", code, body)
	}
	if code, _, body := post(t, srv.URL+emu.HookPath(), "", `{}`); code != 400 || body != "no_text" {
		t.Errorf("empty: %d %s", code, body)
	}
}

// TestTelltaleMessageFollowsTheSpec: the message Telltale's integration sends carries only
// arguments chat.postMessage declares, and Block Kit blocks the emulator accepts.
func TestTelltaleMessageFollowsTheSpec(t *testing.T) {
	spec := LoadSpec(t)
	emu := New("xoxb-good", Channel{ID: "C0SECURITY1", Member: true})
	emu.Check = spec.Check
	srv := httptest.NewServer(emu)
	defer srv.Close()
	m := integration.Message(integration.Payload{Event: "alert.raised", IdempotencyKey: "alert/1/integration/2/alert.raised",
		Alert:  integration.AlertBody{RuleName: "r <x>", Severity: "high", Summary: "a & b", EventCount: 7},
		Events: []integration.EventSummary{{ID: "1", Action: "file-shared", File: "plan.xlsx", Destinations: []string{"x@y.example"}}}})
	m.Channel = "C0SECURITY1"
	b, _ := json.Marshal(m)
	if code, _, body := post(t, srv.URL+"/api/chat.postMessage", "xoxb-good", string(b)); code != 200 || !strings.Contains(body, `"ok":true`) {
		t.Fatalf("%d %s", code, body)
	}
	if errs := spec.Errors(); len(errs) > 0 {
		t.Errorf("spec findings:\n%s", strings.Join(errs, "\n"))
	}
	if got := emu.Messages(); len(got) != 1 || got[0].Key != "alert/1/integration/2/alert.raised" || !strings.Contains(got[0].Text, "a & b") {
		t.Errorf("%+v", got)
	}
}
