package console_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/telltale-dev/telltale/client"
	slackemu "github.com/telltale-dev/telltale/internal/emulator/slack"
	"github.com/telltale-dev/telltale/internal/emulator/webhook"
)

// TestBrowserFlows drives the integrations forms and the flows page in headless Chromium as an
// admin (issue 17, R7.3): a signed webhook and a Slack bot are added through their forms (a user
// token refused with what to use instead); a flow
// whose query does not parse is refused with the parser's message and the form kept; a flow from
// high alerts of one rule to a webhook is added, a test sent through it arrives at the receiver,
// and the flow is deleted. Every page passes axe-core.
func TestBrowserFlows(t *testing.T) {
	t.Parallel()
	if testing.Short() && !browserRequired() {
		t.Skip("browser test skipped in -short mode")
	}
	chromium := findChromium(t)
	ta := newTestApp(t, true)
	ctx := context.Background()
	const secret = "whsec-console-flows-0123456789"
	rx := webhook.New(secret)
	hook := httptest.NewServer(rx)
	defer hook.Close()
	slack := slackemu.New("xoxb-console-test", slackemu.Channel{ID: "C0SECURITY1", Member: true})
	slackSrv := httptest.NewServer(slack)
	defer slackSrv.Close()
	api := client.New(ta.URL, bootstrapToken)
	rules, err := api.Rules(ctx)
	if err != nil || len(rules) == 0 {
		t.Fatalf("rules: %+v %v", rules, err)
	}
	rule := rules[0]

	u := newUI(t, chromium, ta.URL)
	u.step = "sign in"
	u.open("/login?next=/integrations")
	u.do(chromedp.SendKeys(chromedp.CSS("#username"), "alice"), chromedp.SendKeys(chromedp.CSS("#password"), adminPassword),
		chromedp.Click(chromedp.CSS("form button[type=submit]")))
	u.waitText("h1", "Integrations", 10*time.Second)

	u.step = "add a signed webhook through the form"
	u.do(chromedp.Click(chromedp.CSS("#add-webhook summary")), chromedp.SendKeys(chromedp.CSS("#wh-name"), "SOAR hook"),
		chromedp.SendKeys(chromedp.CSS("#wh-url"), hook.URL+"/in"), chromedp.SendKeys(chromedp.CSS("#wh-secret"), secret),
		chromedp.Click(chromedp.CSS("#add-webhook button[type=submit]")))
	u.waitText("h1", "SOAR hook", 10*time.Second)

	u.step = "a Slack bot token of the wrong kind is refused, then a good one is added"
	u.open("/integrations")
	u.do(chromedp.Click(chromedp.CSS("#add-slack summary")), chromedp.SendKeys(chromedp.CSS("#slack-name"), "Slack security"),
		chromedp.SendKeys(chromedp.CSS("#slack-token"), "xoxp-user-token"), chromedp.SendKeys(chromedp.CSS("#slack-channel"), "C0SECURITY1"),
		chromedp.SendKeys(chromedp.CSS("#slack-api"), slackSrv.URL+"/api"), chromedp.Click(chromedp.CSS("#add-slack button[type=submit]")))
	u.waitText("main", "bot token (xoxb-", 10*time.Second)
	u.do(chromedp.SetValue(chromedp.CSS("#slack-token"), "xoxb-console-test"), chromedp.Click(chromedp.CSS("#add-slack button[type=submit]")))
	u.waitText("h1", "Slack security", 10*time.Second)
	u.checkPage("integrations, added through the forms")
	ints, err := api.Integrations(ctx)
	if err != nil || len(ints.Items) != 2 {
		t.Fatalf("integrations: %+v %v", ints, err)
	}
	var in client.Integration
	for _, x := range ints.Items {
		if x.Name == "SOAR hook" {
			in = x
		}
	}

	u.step = "flows page"
	u.open("/flows")
	u.waitText("h1", "Flows", 10*time.Second)
	u.waitText("main", "No flows yet", time.Second)
	u.checkPage("flows, empty")

	u.step = "a query that does not parse is refused, the form kept"
	u.do(chromedp.SendKeys(chromedp.CSS("#fl-name"), "High to SOAR"), chromedp.SetValue(chromedp.CSS("#fl-sev"), "high"),
		chromedp.Click(chromedp.CSS(`input[name=rule_ids][value="`+rule.ID+`"]`)), chromedp.SendKeys(chromedp.CSS("#fl-query"), "acton:file-shared"),
		chromedp.Click(chromedp.CSS(`input[name=integration_ids][value="`+in.ID+`"]`)), chromedp.Click(chromedp.CSS("#add-flow button[type=submit]")))
	u.waitText("main", `unknown field "acton" at 0: did you mean "actor"?`, 10*time.Second)
	u.checkPage("flows, refused")

	u.step = "add the flow"
	u.do(chromedp.SetValue(chromedp.CSS("#fl-query"), "action:file-shared"), chromedp.Click(chromedp.CSS("#add-flow button[type=submit]")))
	u.waitText("#flows", "High to SOAR", 10*time.Second)
	u.waitText("#flows", "severity at least high", time.Second)
	u.waitText("#flows", rule.Name, time.Second)
	u.waitText("#flows", "SOAR hook", time.Second)
	u.checkPage("flows, one")

	u.step = "send a test through it"
	u.do(chromedp.Click(chromedp.CSS(`#flows form[action$="/test"] button`)))
	u.waitText("#test-result", "Test deliveries queued through High to SOAR", 10*time.Second)
	for deadline := time.Now().Add(20 * time.Second); len(rx.Keys()) == 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the test delivery did not arrive at the receiver")
		}
	}

	u.step = "delete it"
	u.do(chromedp.Click(chromedp.CSS(`#flows form[action$="/delete"] button`)))
	u.waitText("main", "The flow is deleted", 10*time.Second)
	u.waitText("main", "No flows yet", time.Second)
	if fl, err := api.Flows(ctx); err != nil || len(fl.Items) != 0 {
		t.Errorf("flows after delete: %+v %v", fl, err)
	}

	u.step = "an HR departure flow takes no alert filter"
	u.do(chromedp.SendKeys(chromedp.CSS("#fl-name"), "Departures to SOAR"), chromedp.SetValue(chromedp.CSS("#fl-trigger"), "hr.departure"),
		chromedp.SetValue(chromedp.CSS("#fl-sev"), "high"), chromedp.Click(chromedp.CSS(`input[name=integration_ids][value="`+in.ID+`"]`)),
		chromedp.Click(chromedp.CSS("#add-flow button[type=submit]")))
	u.waitText("main", "a hr.departure flow takes none", 10*time.Second)
	u.do(chromedp.SetValue(chromedp.CSS("#fl-sev"), ""), chromedp.Click(chromedp.CSS("#add-flow button[type=submit]")))
	u.waitText("#flows", "HR departure", 10*time.Second)
	u.waitText("#flows", "every departure an HR source reports", time.Second)
	u.checkPage("flows, HR departure")
}
