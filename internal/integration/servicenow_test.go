package integration_test

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/emulator/servicenow"
	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/integration"
	"github.com/telltale-dev/telltale/internal/store"
)

// change changes the newest alert's state (and adds a note) as the alert API does: the change and
// the integrations' alert.updated deliveries in one transaction.
func (e *env) change(state, note string) store.Alert {
	e.t.Helper()
	as, err := e.st.ListAlerts(ctx, store.AlertFilter{})
	if err != nil || len(as) == 0 {
		e.t.Fatalf("no alert to change: %v", err)
	}
	a := as[0]
	for _, x := range as {
		if x.ID > a.ID {
			a = x
		}
	}
	changes := []store.AlertChange{{Actor: "ann", Field: "state", From: a.State, To: state}}
	if note != "" {
		changes = append(changes, store.AlertChange{Actor: "ann", Field: "note", Note: note})
	}
	next := a
	next.State, next.UpdatedAt = state, e.clock.Now()
	if state == store.AlertResolved {
		next.Resolution = "true_positive"
	}
	var out store.Alert
	err = e.st.InTx(ctx, func(q store.Queries) error {
		var err error
		if out, err = q.UpdateAlert(ctx, next, changes); err != nil {
			return err
		}
		return e.svc.Changed(ctx, q, out, changes)
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

func (e *env) integration(in integration.Input) store.Integration {
	e.t.Helper()
	if in.Name == "" {
		in.Name = in.Kind
	}
	v, err := e.svc.Create(ctx, in, "ann")
	if err != nil {
		e.t.Fatal(err)
	}
	return v.Integration
}

// TestServiceNow: an alert becomes one incident whose correlation_id is the delivery's key; a
// redelivery (a replay, a crash after ServiceNow answered) finds it instead of creating a second;
// later changes of the alert update it (state, close code, work notes); OAuth tokens are fetched
// once and again when refused; ServiceNow's 401 and 429 show on the integration as an actionable
// error and condition.
func TestServiceNow(t *testing.T) {
	e := newEnv(t)
	emu := servicenow.New(servicenow.Options{Users: map[string]string{"telltale.integration": "pw-1"}, Clients: map[string]string{"cid-1": "csecret-1"}, Now: e.clock.Now})
	srv := httptest.NewServer(emu)
	defer srv.Close()
	sn := e.integration(integration.Input{Kind: integration.KindServiceNow, Settings: integration.Settings{URL: srv.URL, Username: "telltale.integration"},
		Secrets: &integration.Secrets{Password: "pw-1"}})
	if err := e.send.Verify(ctx, sn, integration.Secrets{Password: "pw-1"}); err != nil {
		t.Errorf("verify good credentials: %v", err)
	}
	if err := e.send.Verify(ctx, sn, integration.Secrets{Password: "wrong"}); err == nil || !strings.Contains(err.Error(), "refused the credentials") {
		t.Errorf("verify a wrong password: %v", err)
	}
	e.rule("shared outside", "action:file-shared", "critical")
	e.flow(integration.FlowInput{IntegrationIDs: []int64{sn.ID}})
	e.raise("alice@corp.example", event.ActionShared)
	e.sendDue()
	incs := emu.Incidents()
	ds := e.deliveries(sn.ID)
	if len(incs) != 1 || len(ds) != 1 || ds[0].State != store.OutboxDone {
		t.Fatalf("incidents %+v, deliveries %+v", incs, ds)
	}
	key := ds[0].IdempotencyKey
	f := incs[0].Fields
	if f["correlation_id"] != key || f["urgency"] != "1" || f["impact"] != "1" || !strings.Contains(f["short_description"], "shared outside (critical)") ||
		!strings.Contains(f["description"], "plan1.xlsx") || !strings.Contains(f["description"], "rival@other.example") {
		t.Errorf("incident %+v", f)
	}
	if !strings.Contains(ds[0].Response, "created "+f["number"]) {
		t.Errorf("the delivery's answer %q does not name %s", ds[0].Response, f["number"])
	}

	// Sent again (an admin's replay, or a crash after ServiceNow answered): no second incident.
	if _, err := e.svc.Replay(ctx, ds[0].ID); err != nil {
		t.Fatal(err)
	}
	e.sendDue()
	if n := emu.ByCorrelation()[key]; n != 1 || len(emu.Incidents()) != 1 {
		t.Fatalf("after a redelivery: %d incidents with the key, %d in all", n, len(emu.Incidents()))
	}
	if d, _ := e.st.GetOutbox(ctx, ds[0].ID); d.State != store.OutboxDone || !strings.Contains(d.Response, "not created again") {
		t.Errorf("redelivery %+v", d)
	}

	// More events join the open alert: a work note says so (no second incident).
	e.raiseFile("alice@corp.example", event.ActionShared, "plan1.xlsx")
	e.sendDue()
	if inc := emu.Incidents(); len(inc) != 1 || len(inc[0].Notes) != 1 || !strings.Contains(inc[0].Notes[0], "More events joined the alert: 2 in all") {
		t.Fatalf("after an event joined the alert: %+v", inc)
	}

	// The alert changes: its incident follows.
	e.change(store.AlertInProgress, "")
	e.sendDue()
	if st := emu.Incidents()[0].Fields["state"]; st != "2" {
		t.Errorf("in progress: incident state %q", st)
	}
	e.change(store.AlertResolved, "confirmed with HR")
	e.sendDue()
	inc := emu.Incidents()[0]
	if inc.Fields["state"] != "6" || inc.Fields["close_code"] == "" || !strings.Contains(inc.Fields["close_notes"], "true_positive") ||
		len(inc.Notes) != 3 || !strings.Contains(inc.Notes[2], "confirmed with HR") || len(emu.Incidents()) != 1 {
		t.Errorf("resolved: %+v", inc)
	}
	for _, d := range e.deliveries(sn.ID) {
		if d.State != store.OutboxDone {
			t.Errorf("delivery %d (%s) %s: %s", d.ID, d.Topic, d.State, d.LastError)
		}
	}
	// The updates sent again (a replay, or a crash after ServiceNow answered): no second work note.
	for _, d := range e.deliveries(sn.ID) {
		if d.Topic == integration.TopicAlertUpdated {
			e.svc.Replay(ctx, d.ID)
		}
	}
	e.sendDue()
	if inc := emu.Incidents()[0]; len(inc.Notes) != 3 {
		t.Errorf("after the updates were sent again: %d work notes", len(inc.Notes))
	}

	// An update whose incident does not exist yet waits (only the raised delivery creates).
	emu2 := servicenow.New(servicenow.Options{Users: map[string]string{"u": "p"}, Now: e.clock.Now})
	srv2 := httptest.NewServer(emu2)
	defer srv2.Close()
	late := e.integration(integration.Input{Kind: integration.KindServiceNow, Name: "late", Settings: integration.Settings{URL: srv2.URL, Username: "u"},
		Secrets: &integration.Secrets{Password: "p"}})
	e.flow(integration.FlowInput{Name: "late", IntegrationIDs: []int64{late.ID}})
	e.raise("bob@corp.example", event.ActionShared)
	raised := e.deliveries(late.ID)[0]
	e.st.FinishOutbox(ctx, raised.ID, "", store.OutboxPending, e.clock.Now().Add(time.Hour), "", "") // not due yet
	e.change(store.AlertInProgress, "")
	e.sendDue()
	var upd store.OutboxItem
	for _, d := range e.deliveries(late.ID) {
		if d.Topic == integration.TopicAlertUpdated {
			upd = d
		}
	}
	if upd.State != store.OutboxPending || !strings.Contains(upd.LastError, "not in ServiceNow yet") || len(emu2.Incidents()) != 0 {
		t.Errorf("an update before its incident: %+v, incidents %d", upd, len(emu2.Incidents()))
	}

	// OAuth: a token is fetched once and reused, fetched again when refused.
	oauth := e.integration(integration.Input{Kind: integration.KindServiceNow, Name: "oauth", Settings: integration.Settings{URL: srv.URL,
		Auth: integration.AuthOAuthPassword, Username: "telltale.integration", ClientID: "cid-1"}, Secrets: &integration.Secrets{Password: "pw-1", ClientSecret: "csecret-1"}})
	for i := range 3 {
		if i == 2 {
			emu.RevokeTokens()
		}
		e.clock.Advance(time.Second) // a test delivery's key has the time
		it, _ := e.svc.Test(ctx, oauth.ID, "ann")
		e.sendDue()
		if d, _ := e.st.GetOutbox(ctx, it.ID); d.State != store.OutboxDone {
			t.Fatalf("oauth test %d: %+v", i, d)
		}
	}
	if n := emu.Calls()["token"]; n != 2 {
		t.Errorf("%d token requests, want 2 (one, reused, then one after the revocation)", n)
	}
	// A change that gives only the password keeps the client secret (a new version: a new token).
	if _, err := e.svc.Update(ctx, oauth.ID, 0, integration.Input{Settings: integration.Settings{URL: srv.URL, Auth: integration.AuthOAuthPassword,
		Username: "telltale.integration", ClientID: "cid-1"}, Secrets: &integration.Secrets{Password: "pw-1"}}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Second)
	it0, _ := e.svc.Test(ctx, oauth.ID, "ann")
	e.sendDue()
	if d, _ := e.st.GetOutbox(ctx, it0.ID); d.State != store.OutboxDone || emu.Calls()["token"] != 3 {
		t.Errorf("after changing only the password: %+v, %d token requests", d, emu.Calls()["token"])
	}
	cc := e.integration(integration.Input{Kind: integration.KindServiceNow, Name: "cc", Settings: integration.Settings{URL: srv.URL,
		Auth: integration.AuthClientCredentials, ClientID: "cid-1"}, Secrets: &integration.Secrets{ClientSecret: "wrong"}})
	it, _ := e.svc.Test(ctx, cc.ID, "ann")
	e.sendDue()
	d, _ := e.st.GetOutbox(ctx, it.ID)
	i, _ := e.svc.Get(ctx, cc.ID)
	if d.State != store.OutboxDead || !strings.Contains(d.LastError, "OAuth endpoint refused") || integration.Condition(i.Integration) != integration.ConditionCredentialsRefused {
		t.Errorf("a refused OAuth client: %+v, integration %q %q", d, i.LastError, integration.Condition(i.Integration))
	}

	// ServiceNow's answers: 401 fails for good, 429 waits for Retry-After, garbage and 5xx retry.
	cases := []struct {
		fault     servicenow.Fault
		dead      bool
		errSubstr string
		condition string
	}{
		{servicenow.Fault{AuthFailed: true}, true, "refused the credentials (401 User Not Authenticated: Required to provide Auth information): check the username and password", integration.ConditionCredentialsRefused},
		{servicenow.Fault{Status: 403}, true, "itil role", integration.ConditionFailing},
		{servicenow.Fault{RateLimit: 20 * time.Minute}, false, "rate limiting the integration user (429 Rate limit exceeded", integration.ConditionRateLimited},
		{servicenow.Fault{Garbage: true}, false, "not the Table API's JSON", integration.ConditionFailing},
		{servicenow.Fault{Status: 503}, false, "503", integration.ConditionFailing},
	}
	for _, c := range cases {
		e.clock.Advance(time.Second)
		it, _ := e.svc.Test(ctx, sn.ID, "ann")
		emu.Fail(c.fault)
		e.sendDue()
		d, _ := e.st.GetOutbox(ctx, it.ID)
		i, _ := e.st.GetIntegration(ctx, sn.ID)
		if (d.State == store.OutboxDead) != c.dead || !strings.Contains(d.LastError, c.errSubstr) || !strings.Contains(i.LastError, c.errSubstr) || integration.Condition(i) != c.condition {
			t.Errorf("%+v: delivery %s %q, integration %q (%s)", c.fault, d.State, d.LastError, i.LastError, integration.Condition(i))
		}
		if c.fault.RateLimit > 0 && d.NextRunAt.Before(e.clock.Now().Add(c.fault.RateLimit)) {
			t.Errorf("429 with Retry-After %v: next attempt %v (now %v)", c.fault.RateLimit, d.NextRunAt, e.clock.Now())
		}
		e.clock.Advance(time.Hour)
		e.sendDue()
		if d, _ = e.st.GetOutbox(ctx, it.ID); !c.dead && d.State != store.OutboxDone {
			t.Errorf("%+v: not delivered on retry: %+v", c.fault, d)
		}
	}
	if i, _ := e.st.GetIntegration(ctx, sn.ID); integration.Condition(i) != integration.ConditionOK {
		t.Errorf("after a success the condition is %q (%q)", integration.Condition(i), i.LastError)
	}
	if n := emu.ByCorrelation(); len(n) != len(emu.Incidents()) {
		t.Errorf("a correlation_id with two incidents: %v", n)
	}
}
