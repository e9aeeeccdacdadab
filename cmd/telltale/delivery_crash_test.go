package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	mathrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	jiraemu "github.com/telltale-dev/telltale/internal/emulator/jira"
	oktaemu "github.com/telltale-dev/telltale/internal/emulator/okta"
	"github.com/telltale-dev/telltale/internal/emulator/servicenow"
	"github.com/telltale-dev/telltale/internal/emulator/webhook"
	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/integration"
	"github.com/telltale-dev/telltale/internal/store"
	"github.com/telltale-dev/telltale/internal/store/sqlite"
)

// TestKill9DuringDelivery kills `telltale serve` with SIGKILL at random moments while events keep
// being committed, its evaluator raises an alert per event and a flow delivers each alert to a
// signed webhook (a receiver that acts once per Idempotency-Key and counts the keys it saw again),
// to the ServiceNow emulator (an incident per alert) and to the Jira emulator (an issue per
// alert) and to the Okta emulator (the alert's person added to a group), restarts it each time (10 cycles, TELLTALE_KILL9_CYCLES for more), and checks that every
// alert was delivered, that none was acted on twice, that every alert has exactly one incident and
// one issue (the emulators' state: a redelivery after a kill must find its ticket by correlation_id
// or label, never open a second), that every alert's Okta delivery was made and every person is in
// the group, and that no delivery failed; it reports how many arrivals were
// repeats (at-least-once: a kill between the receiver's answer and the commit of "sent" repeats
// that delivery, with its key).
func TestKill9DuringDelivery(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the real binary")
	}
	const signing = "whsec-crash-test-0123456789"
	rx := webhook.New(signing)
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Duration(mathrand.IntN(30)) * time.Millisecond) // kills land while requests are in flight
		rx.ServeHTTP(w, r)
	})
	srv := httptest.NewServer(slow)
	defer srv.Close()
	sn := servicenow.New(servicenow.Options{Users: map[string]string{"telltale.integration": "sn-pw-1"}})
	snSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Duration(mathrand.IntN(20)) * time.Millisecond)
		sn.ServeHTTP(w, r)
	}))
	defer snSrv.Close()
	jr := jiraemu.New(jiraemu.Options{Email: "bot@corp.example", Token: "jira-token-1", Projects: []string{"SEC"}, IndexDelay: 2 * time.Second}) // search lags creation, as in Jira
	jrSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Duration(mathrand.IntN(20)) * time.Millisecond)
		jr.ServeHTTP(w, r)
	}))
	defer jrSrv.Close()
	const oktaToken, oktaGroup = "00OktaCrashToken0123456789abcdefghijklm", "00gRESTRICTED0000001"
	var people []oktaemu.User
	for i := range 7 {
		people = append(people, oktaemu.User{ID: fmt.Sprintf("00uCRASH%012d", i), Login: fmt.Sprintf("p%d@corp.example", i), First: "P", Last: fmt.Sprint(i)})
	}
	ok := oktaemu.New(oktaToken, people, []oktaemu.Group{{ID: oktaGroup, Name: "Restricted"}})
	okSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Duration(mathrand.IntN(20)) * time.Millisecond)
		ok.ServeHTTP(w, r)
	}))
	defer okSrv.Close()

	bin := buildBinary(t)
	dataDir := t.TempDir()
	token := "delivery-crash-bootstrap-token-0123456789"
	env := []string{"TELLTALE_DATA_DIR=" + dataDir, "TELLTALE_BOOTSTRAP_TOKEN=" + token, "TELLTALE_SECRET_KEY=" + randomKey(t),
		"TELLTALE_LOG_LEVEL=warn", "TELLTALE_ALLOW_LOOPBACK_VENDORS=true"}
	n := startNode(t, bin, env)
	ctx := context.Background()
	code, body, err := api(ctx, n.url, token, "POST", "/api/v1/rules", map[string]any{"name": "every file", "query": "action:modified",
		"kind": "threshold", "params": map[string]any{"value": 1, "group_by": []string{"file_id"}, "max_alerts_per_hour": 10000}, "severity": "high"})
	if err != nil || code != http.StatusCreated {
		t.Fatalf("create rule: %d %s %v", code, body, err)
	}
	code, body, err = api(ctx, n.url, token, "POST", "/api/v1/integrations", map[string]any{"kind": "webhook", "name": "receiver",
		"settings": map[string]any{"url": srv.URL + "/in"}, "secrets": map[string]any{"signing_secret": signing}})
	if err != nil || code != http.StatusCreated {
		t.Fatalf("create integration: %d %s %v", code, body, err)
	}
	var integ, snInteg, jrInteg struct{ ID string }
	json.Unmarshal(body, &integ)
	code, body, err = api(ctx, n.url, token, "POST", "/api/v1/integrations", map[string]any{"kind": "servicenow", "name": "ServiceNow",
		"settings": map[string]any{"url": snSrv.URL, "username": "telltale.integration"}, "secrets": map[string]any{"password": "sn-pw-1"}})
	if err != nil || code != http.StatusCreated {
		t.Fatalf("create the ServiceNow integration: %d %s %v", code, body, err)
	}
	json.Unmarshal(body, &snInteg)
	code, body, err = api(ctx, n.url, token, "POST", "/api/v1/integrations", map[string]any{"kind": "jira", "name": "Jira",
		"settings": map[string]any{"url": jrSrv.URL, "email": "bot@corp.example", "project": "SEC"}, "secrets": map[string]any{"token": "jira-token-1"}})
	if err != nil || code != http.StatusCreated {
		t.Fatalf("create the Jira integration: %d %s %v", code, body, err)
	}
	json.Unmarshal(body, &jrInteg)
	var okInteg struct{ ID string }
	code, body, err = api(ctx, n.url, token, "POST", "/api/v1/integrations", map[string]any{"kind": "okta", "name": "Okta",
		"settings": map[string]any{"url": okSrv.URL, "group_id": oktaGroup, "operation": "add"}, "secrets": map[string]any{"token": oktaToken}})
	if err != nil || code != http.StatusCreated {
		t.Fatalf("create the Okta integration: %d %s %v", code, body, err)
	}
	json.Unmarshal(body, &okInteg)
	code, body, err = api(ctx, n.url, token, "POST", "/api/v1/flows", map[string]any{"name": "all to receiver", "integration_ids": []string{integ.ID, snInteg.ID, jrInteg.ID, okInteg.ID}})
	if err != nil || code != http.StatusCreated {
		t.Fatalf("create flow: %d %s %v", code, body, err)
	}

	st, err := sqlite.Open(ctx, filepath.Join(dataDir, "telltale.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	conn, err := st.CreateConnection(ctx, store.Connection{Name: "crash feed", Service: "crash-test", ServiceType: "cloud", Status: "Monitoring", ScopeKind: "all"})
	if err != nil {
		t.Fatal(err)
	}
	writeCtx, stopWriting := context.WithCancel(ctx)
	var writing sync.WaitGroup
	var committed int
	writing.Add(1)
	go func() {
		defer writing.Done()
		for i := 0; writeCtx.Err() == nil; i++ {
			var evs []*event.FileEvent
			for j := range 5 {
				k := i*5 + j
				evs = append(evs, &event.FileEvent{Timestamp: time.Now().UTC(),
					Event: event.Meta{Action: event.ActionModified, Observer: event.ObserverBox, ConnectionID: conn.ID, VendorIDs: []string{fmt.Sprint("crash-", k)}},
					User:  event.User{Email: fmt.Sprintf("p%d@corp.example", k%7)}, File: event.File{ID: fmt.Sprint("file-", k), Name: "a.docx"}})
			}
			if _, err := st.InsertEvents(writeCtx, evs, false); err != nil {
				if !errors.Is(err, context.Canceled) {
					t.Errorf("insert: %v", err)
				}
				return
			}
			committed += len(evs)
			time.Sleep(40 * time.Millisecond)
		}
	}()
	cycles := kill9Cycles(t)
	started := time.Now()
	for round := 1; round <= cycles; round++ {
		time.Sleep(time.Duration(300+mathrand.IntN(1500)) * time.Millisecond)
		n.cmd.Process.Signal(syscall.SIGKILL)
		n.cmd.Wait()
		n = startNode(t, bin, env)
	}
	stopWriting()
	writing.Wait()

	// Wait until evaluation passed the newest event and no delivery is pending.
	newest, err := st.NewestEventID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		pos, err := st.GetAlertPosition(ctx)
		pending, perr := st.ListDeliveries(ctx, store.DeliveryFilter{State: store.OutboxPending, Limit: 1})
		if err == nil && perr == nil && pos >= newest && len(pending) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 90 s: evaluation at %d of %d (%v), pending deliveries %v (%v); node stderr:\n%s", pos, newest, err, pending, perr, n.stderr)
		}
		time.Sleep(200 * time.Millisecond)
	}
	alerts := map[int64]bool{}
	for before := int64(0); ; {
		as, err := st.ListAlerts(ctx, store.AlertFilter{BeforeID: before, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		if len(as) == 0 {
			break
		}
		for _, a := range as {
			alerts[a.ID] = true
			before = a.ID
		}
	}
	var integID, snID, jrID int64
	fmt.Sscan(integ.ID, &integID)
	fmt.Sscan(snInteg.ID, &snID)
	fmt.Sscan(jrInteg.ID, &jrID)
	keys := rx.Keys()
	incidents, issues := sn.ByCorrelation(), jr.ByLabel()
	var missing, noIncident, noIssue []int64
	for a := range alerts {
		if keys[integration.Key(a, integID, integration.TopicAlertRaised)] == 0 {
			missing = append(missing, a)
		}
		if incidents[integration.Key(a, snID, integration.TopicAlertRaised)] != 1 {
			noIncident = append(noIncident, a)
		}
		if issues[integration.JiraLabel(integration.Key(a, jrID, integration.TopicAlertRaised))] != 1 {
			noIssue = append(noIssue, a)
		}
	}
	var secondTickets int
	for _, n := range incidents {
		secondTickets += n - 1
	}
	for l, n := range issues {
		if l != "telltale" {
			secondTickets += n - 1
		}
	}
	snCalls, jrCalls := sn.Calls(), jr.Calls()
	t.Logf("kill -9 tickets: %d incidents (%d creates, %d searches), %d issues (%d creates, %d searches), %d second tickets, %d alerts without exactly one incident, %d without exactly one issue",
		len(sn.Incidents()), snCalls["create"], snCalls["search"], len(jr.Issues()), jrCalls["create"], jrCalls["search"], secondTickets, len(noIncident), len(noIssue))
	if len(noIncident) > 0 || len(noIssue) > 0 || secondTickets > 0 || len(sn.Incidents()) != len(alerts) || len(jr.Issues()) != len(alerts) {
		t.Errorf("tickets: alerts without exactly one incident %v, without exactly one issue %v; %d second tickets; %d incidents and %d issues for %d alerts",
			headIDs(noIncident), headIDs(noIssue), secondTickets, len(sn.Incidents()), len(jr.Issues()), len(alerts))
	}
	// Okta: one delivery per alert, each done (a group assignment is idempotent: a repeat after a
	// kill assigns again, harmlessly), and every person in the group.
	var okID int64
	fmt.Sscan(okInteg.ID, &okID)
	okDone := 0
	for before := int64(0); ; {
		ds, err := st.ListDeliveries(ctx, store.DeliveryFilter{IntegrationID: okID, BeforeID: before, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) == 0 {
			break
		}
		for _, d := range ds {
			if d.State == store.OutboxDone && d.Topic == integration.TopicAlertRaised {
				okDone++
			}
			before = d.ID
		}
	}
	members := ok.Members(oktaGroup)
	t.Logf("kill -9 Okta: %d deliveries done for %d alerts, %d assignment calls, group members %v", okDone, len(alerts), ok.Calls()["assign"], members)
	if okDone != len(alerts) || len(members) != len(people) || ok.Calls()["assign"] < len(alerts) {
		t.Errorf("Okta: %d deliveries done for %d alerts, %d assignments; members %v, want all %d people", okDone, len(alerts), ok.Calls()["assign"], members, len(people))
	}
	dead, err := st.ListDeliveries(ctx, store.DeliveryFilter{State: store.OutboxDead, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("kill -9 result: %d cycles over %s, %d events committed, %d alerts, %d delivered (distinct keys), %d missing, %d repeated arrivals (acted on once), %d refused by signature, %d failed for good",
		cycles, time.Since(started).Round(time.Second), committed, len(alerts), len(keys), len(missing), rx.Duplicates(), rx.Refused(), len(dead))
	if committed < 200 || len(alerts) != committed {
		t.Errorf("%d events committed, %d alerts: want at least 200 and one alert each", committed, len(alerts))
	}
	if len(missing) > 0 || len(keys) != len(alerts) || len(dead) > 0 || rx.Refused() > 0 {
		t.Errorf("missing %d: %v; keys %d for %d alerts; dead %+v; refused %d\nlast stderr:\n%s", len(missing), headIDs(missing), len(keys), len(alerts), dead, rx.Refused(), n.stderr)
	}
}
