package integration_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	jiraemu "github.com/telltale-dev/telltale/internal/emulator/jira"
	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/integration"
	"github.com/telltale-dev/telltale/internal/store"
)

// TestJira: an alert becomes one issue with its details in Atlassian Document Format and its
// delivery key as a label (searched with JQL before creating, so a redelivery finds the issue);
// later changes become comments; Jira's 401 and 429 (Retry-After) show on the integration as an
// actionable error and condition; a refused issue (400) says which field.
func TestJira(t *testing.T) {
	e := newEnv(t)
	emu := jiraemu.New(jiraemu.Options{Email: "sec-bot@corp.example", Token: "atl-token-1", Projects: []string{"SEC"}, Now: e.clock.Now})
	srv := httptest.NewServer(emu)
	defer srv.Close()
	in := integration.Input{Kind: integration.KindJira, Settings: integration.Settings{URL: srv.URL, Email: "sec-bot@corp.example", Project: "sec"},
		Secrets: &integration.Secrets{Token: "atl-token-1"}}
	j := e.integration(in)
	if v, _ := e.svc.Get(ctx, j.ID); v.Config.Project != "SEC" || v.Config.IssueType != "Task" {
		t.Errorf("settings %+v", v.Config)
	}
	if err := e.send.Verify(ctx, j, integration.Secrets{Token: "atl-token-1"}); err != nil {
		t.Errorf("verify: %v", err)
	}
	if err := e.send.Verify(ctx, j, integration.Secrets{Token: "revoked"}); err == nil || !strings.Contains(err.Error(), "create a new API token") {
		t.Errorf("verify a bad token: %v", err)
	}
	e.rule("shared outside", "action:file-shared", "high")
	e.flow(integration.FlowInput{IntegrationIDs: []int64{j.ID}})
	e.raise("alice@corp.example", event.ActionShared)
	e.sendDue()
	ds := e.deliveries(j.ID)
	iss := emu.Issues()
	if len(iss) != 1 || len(ds) != 1 || ds[0].State != store.OutboxDone {
		t.Fatalf("issues %+v, deliveries %+v", iss, ds)
	}
	key := ds[0].IdempotencyKey
	label := integration.JiraLabel(key)
	if iss[0].Key != "SEC-1" || iss[0].IssueType != "Task" || !strings.Contains(iss[0].Summary, "shared outside (high)") || !strings.Contains(strings.Join(iss[0].Labels, " "), label) {
		t.Errorf("issue %+v", iss[0])
	}
	if p, _ := iss[0].Properties["telltale"].(map[string]any); p["idempotency_key"] != key {
		t.Errorf("issue property %v", iss[0].Properties)
	}
	desc, _ := json.Marshal(iss[0].Description)
	for _, want := range []string{`"type":"doc"`, `"version":1`, `"bulletList"`, "alice@corp.example", "plan1.xlsx", "rival@other.example", key} {
		if !strings.Contains(string(desc), want) {
			t.Errorf("the ADF description lacks %s: %s", want, desc)
		}
	}
	if strings.ContainsAny(label, " /") {
		t.Errorf("label %q", label)
	}

	// Sent again: found by its label, not created again.
	e.svc.Replay(ctx, ds[0].ID)
	e.sendDue()
	if n := emu.ByLabel()[label]; n != 1 || len(emu.Issues()) != 1 {
		t.Fatalf("after a redelivery: %d issues with the label", n)
	}
	// Changes become comments on the issue.
	e.change(store.AlertResolved, "confirmed with HR")
	e.sendDue()
	iss = emu.Issues()
	c, _ := json.Marshal(iss[0].Comments)
	if len(iss[0].Comments) != 1 || !strings.Contains(string(c), "confirmed with HR") || !strings.Contains(string(c), "resolved") {
		t.Errorf("comments %s", c)
	}
	// The update sent again (a replay, or a crash after Jira answered): no second comment.
	for _, d := range e.deliveries(j.ID) {
		if d.Topic == integration.TopicAlertUpdated {
			e.svc.Replay(ctx, d.ID)
		}
	}
	e.sendDue()
	if n := len(emu.Issues()[0].Comments); n != 1 {
		t.Errorf("after the update was sent again: %d comments", n)
	}

	// Jira's answers.
	cases := []struct {
		fault     jiraemu.Fault
		token     string
		dead      bool
		errSubstr string
		condition string
	}{
		{token: "revoked", dead: true, errSubstr: "Jira refused the email and API token (401 Client must be authenticated to access this resource.): create a new API token for sec-bot@corp.example", condition: integration.ConditionCredentialsRefused},
		{fault: jiraemu.Fault{RateLimit: 15 * time.Minute}, errSubstr: "Jira is rate limiting this account (429 Rate limit exceeded.)", condition: integration.ConditionRateLimited},
		{fault: jiraemu.Fault{Status: 403}, dead: true, errSubstr: "Create issues", condition: integration.ConditionFailing},
		{fault: jiraemu.Fault{Garbage: true}, errSubstr: "not JSON", condition: integration.ConditionFailing},
		{fault: jiraemu.Fault{Status: 503}, errSubstr: "503", condition: integration.ConditionFailing},
	}
	for _, c := range cases {
		e.clock.Advance(time.Second)
		it, _ := e.svc.Test(ctx, j.ID, "ann")
		if c.token != "" {
			emu.SetToken(c.token)
		} else {
			emu.Fail(c.fault)
		}
		e.sendDue()
		emu.SetToken("atl-token-1")
		d, _ := e.st.GetOutbox(ctx, it.ID)
		i, _ := e.st.GetIntegration(ctx, j.ID)
		if (d.State == store.OutboxDead) != c.dead || !strings.Contains(d.LastError, c.errSubstr) || integration.Condition(i) != c.condition {
			t.Errorf("%+v: delivery %s %q, integration %q (%s)", c, d.State, d.LastError, i.LastError, integration.Condition(i))
		}
		if c.fault.RateLimit > 0 && d.NextRunAt.Before(e.clock.Now().Add(c.fault.RateLimit)) {
			t.Errorf("429 with Retry-After %v: next attempt %v (now %v)", c.fault.RateLimit, d.NextRunAt, e.clock.Now())
		}
		e.clock.Advance(time.Hour)
		e.sendDue()
		if d, _ = e.st.GetOutbox(ctx, it.ID); !c.dead && d.State != store.OutboxDone {
			t.Errorf("%+v: not delivered on retry: %+v", c, d)
		}
	}

	// A project key that does not exist: Jira's 400 names the field.
	bad := e.integration(integration.Input{Kind: integration.KindJira, Name: "bad", Settings: integration.Settings{URL: srv.URL, Email: "sec-bot@corp.example", Project: "SEC", IssueType: "Epic"},
		Secrets: &integration.Secrets{Token: "atl-token-1"}})
	it, _ := e.svc.Test(ctx, bad.ID, "ann")
	e.sendDue()
	if d, _ := e.st.GetOutbox(ctx, it.ID); d.State != store.OutboxDead || !strings.Contains(d.LastError, "issuetype: Specify a valid issue type") || !strings.Contains(d.LastError, `"Epic"`) {
		t.Errorf("a bad issue type: %+v", d)
	}
	for l, n := range emu.ByLabel() {
		if n > 1 && l != "telltale" {
			t.Errorf("label %s on %d issues", l, n)
		}
	}

	// Bad input is refused with what to fix, and nothing is stored.
	before, _ := e.svc.List(ctx)
	for _, c := range []struct {
		s    integration.Settings
		sec  integration.Secrets
		want string
	}{
		{integration.Settings{URL: srv.URL, Email: "x@corp.example", Project: "1SEC"}, integration.Secrets{Token: "t"}, "project key"},
		{integration.Settings{URL: srv.URL, Project: "SEC"}, integration.Secrets{Token: "t"}, "email is required"},
		{integration.Settings{URL: srv.URL, Email: "x@corp.example", Project: "SEC"}, integration.Secrets{}, "API token"},
		{integration.Settings{URL: srv.URL + "/rest/api/3", Email: "x@corp.example", Project: "SEC"}, integration.Secrets{Token: "t"}, "base URL only"},
		{integration.Settings{URL: "http://10.0.0.1", Email: "x@corp.example", Project: "SEC"}, integration.Secrets{Token: "t"}, "url"},
	} {
		sec := c.sec
		if _, err := e.svc.Create(ctx, integration.Input{Kind: integration.KindJira, Name: "x", Settings: c.s, Secrets: &sec}, "ann"); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.s, err, c.want)
		}
	}
	if after, _ := e.svc.List(ctx); len(after) != len(before) {
		t.Errorf("refused input stored an integration")
	}
}

// dropFirstCreate forwards Jira's create issue call, then loses its answer once (a timeout or a
// reset connection after Jira created the issue).
type dropFirstCreate struct {
	mu      sync.Mutex
	dropped bool
}

func (d *dropFirstCreate) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	d.mu.Lock()
	defer d.mu.Unlock()
	if err == nil && r.Method == http.MethodPost && r.URL.Path == "/rest/api/3/issue" && !d.dropped {
		d.dropped = true
		resp.Body.Close()
		return nil, errors.New("read: connection reset by peer")
	}
	return resp, err
}

// TestJiraIndexLag: Jira's search is eventually consistent, so a create whose outcome is unknown
// must not be followed by a second create while the index lags: when the answer to a create is
// lost, or the process dies after sending it, the next attempt that finds nothing waits until
// JiraIndexWait has passed since that create, then finds the issue. One issue in the end.
func TestJiraIndexLag(t *testing.T) {
	e := newEnv(t)
	emu := jiraemu.New(jiraemu.Options{Email: "bot@corp.example", Token: "tok", Projects: []string{"SEC"}, Now: e.clock.Now, IndexDelay: 5 * time.Minute})
	srv := httptest.NewServer(emu)
	defer srv.Close()
	send := integration.NewSender(integration.SenderOptions{Service: e.svc, Clock: e.clock, MaxAttempts: 8, Transport: &dropFirstCreate{},
		Backoff: func(n int) time.Duration { return time.Duration(n) * time.Minute }, JiraIndexWait: 10 * time.Minute})
	run := func() {
		if _, err := send.RunOnce(ctx, "node"); err != nil {
			t.Fatal(err)
		}
	}
	j := e.integration(integration.Input{Kind: integration.KindJira, Settings: integration.Settings{URL: srv.URL, Email: "bot@corp.example", Project: "SEC"},
		Secrets: &integration.Secrets{Token: "tok"}})

	// The answer to the create is lost.
	it, _ := e.svc.Test(ctx, j.ID, "ann")
	run()
	d, _ := e.st.GetOutbox(ctx, it.ID)
	if len(emu.Issues()) != 1 || d.State != store.OutboxPending || !strings.Contains(d.Response, "creating in Jira at") {
		t.Fatalf("after a lost answer: %d issues, %+v", len(emu.Issues()), d)
	}
	e.clock.Advance(time.Minute + time.Second)
	run() // the search does not show the issue yet: wait
	d, _ = e.st.GetOutbox(ctx, it.ID)
	if len(emu.Issues()) != 1 || d.State != store.OutboxPending || !strings.Contains(d.LastError, "index lags") || d.NextRunAt.Before(t0.Add(10*time.Minute)) {
		t.Fatalf("while the index lags: %d issues, %+v", len(emu.Issues()), d)
	}
	e.clock.Advance(10 * time.Minute)
	run()
	if d, _ = e.st.GetOutbox(ctx, it.ID); len(emu.Issues()) != 1 || d.State != store.OutboxDone || !strings.Contains(d.Response, "not created again") {
		t.Fatalf("after the index caught up: %d issues, %+v", len(emu.Issues()), d)
	}

	// The process died after sending the create (its note is the delivery's answer, its lease
	// released at restart).
	e.clock.Advance(time.Hour)
	it, _ = e.svc.Test(ctx, j.ID, "ann")
	claimed, err := e.st.ClaimOutbox(ctx, store.ClaimRequest{Owner: "dead-node", Now: e.clock.Now(), LeaseFor: time.Hour, Limit: 10})
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %v %v", claimed, err)
	}
	if err := e.st.NoteOutbox(ctx, it.ID, "dead-node", "creating in Jira at "+e.clock.Now().UTC().Format(time.RFC3339Nano)); err != nil {
		t.Fatal(err)
	}
	var p integration.Payload
	json.Unmarshal(claimed[0].Payload, &p)
	body := `{"fields":{"project":{"key":"SEC"},"issuetype":{"name":"Task"},"summary":"s","labels":["` + integration.JiraLabel(p.IdempotencyKey) + `"]}}`
	req, _ := http.NewRequest("POST", srv.URL+"/rest/api/3/issue", strings.NewReader(body))
	req.SetBasicAuth("bot@corp.example", "tok")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 201 {
		t.Fatalf("the create the dead process sent: %v %v", resp, err)
	}
	if _, err := e.st.ReleaseLeases(ctx); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(2 * time.Second)
	run()
	if d, _ = e.st.GetOutbox(ctx, it.ID); len(emu.Issues()) != 2 || d.State != store.OutboxPending {
		t.Fatalf("after the restart: %d issues, %+v", len(emu.Issues()), d)
	}
	e.clock.Advance(11 * time.Minute)
	run()
	if d, _ = e.st.GetOutbox(ctx, it.ID); len(emu.Issues()) != 2 || d.State != store.OutboxDone {
		t.Fatalf("finally: %d issues, %+v", len(emu.Issues()), d)
	}
}
