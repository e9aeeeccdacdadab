package hr_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	oktaemu "github.com/telltale-dev/telltale/internal/emulator/okta"
	"github.com/telltale-dev/telltale/internal/hr"
	"github.com/telltale-dev/telltale/internal/integration"
	"github.com/telltale-dev/telltale/internal/store"
)

// TestDepartureFlowToOkta: a flow "HR departure -> add to an Okta group" delivers, through the Okta
// emulator, the person an HR source reports as departing; a date change is a departure too (Okta's
// assignment is idempotent), a removal and an unchanged row are not; a watchlist.changed flow
// gets every change, removals included; each change is delivered once.
func TestDepartureFlowToOkta(t *testing.T) {
	e := newEnv(t)
	const token, group = "00OktaApiToken0123456789abcdefghijklmnop", "00g1departing0000001"
	emu := oktaemu.New(token, []oktaemu.User{{ID: "00u1dana000000000001", Login: "dana@corp.example", First: "Dana", Last: "Li"}},
		[]oktaemu.Group{{ID: group, Name: "Departing: restricted"}})
	emu.Now = e.clock.Now
	srv := httptest.NewServer(emu)
	defer srv.Close()
	e.hr = hr.New(hr.Options{Integrations: e.integ, Clock: e.clock, Metrics: e.reg, Changed: e.integ.WatchlistChanged})
	send := integration.NewSender(integration.SenderOptions{Service: e.integ, Clock: e.clock})
	okta := e.source(integration.Input{Kind: integration.KindOkta, Name: "Okta restricted", Settings: integration.Settings{URL: srv.URL, GroupID: group},
		Secrets: &integration.Secrets{Token: token}})
	slackLike := e.source(integration.Input{Kind: integration.KindWebhook, Name: "all changes", Settings: integration.Settings{URL: srv.URL + "/hook"},
		Secrets: &integration.Secrets{SigningSecret: "whsec-0123456789abcdef"}})
	if _, err := e.integ.CreateFlow(ctx, integration.FlowInput{Name: "departures to Okta", Trigger: integration.TriggerHRDeparture, Enabled: true,
		IntegrationIDs: []int64{okta.ID}}, "ann"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.integ.CreateFlow(ctx, integration.FlowInput{Name: "every change", Trigger: integration.TriggerWatchlistChanged, Enabled: true,
		IntegrationIDs: []int64{slackLike.ID}}, "ann"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.integ.CreateFlow(ctx, integration.FlowInput{Name: "bad", Trigger: integration.TriggerHRDeparture, Query: "action:shared",
		IntegrationIDs: []int64{okta.ID}}, "ann"); err == nil || !strings.Contains(err.Error(), "takes none") {
		t.Errorf("a departure flow with an alert filter: %v", err)
	}
	csv := e.source(integration.Input{Kind: integration.KindHRCSV, Name: "HR export"})
	upload := func(body string) {
		t.Helper()
		if _, err := e.hr.Upload(ctx, csv.ID, strings.NewReader(body), "ann"); err != nil {
			t.Fatal(err)
		}
		for {
			n, err := send.RunOnce(ctx, "test")
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				return
			}
		}
	}
	deliveries := func(id int64) []store.OutboxItem {
		t.Helper()
		ds, err := e.st.ListDeliveries(ctx, store.DeliveryFilter{IntegrationID: id})
		if err != nil {
			t.Fatal(err)
		}
		return ds
	}
	upload("Email,Departure Date\ndana@corp.example,2026-12-31\n")
	ds := deliveries(okta.ID)
	if len(ds) != 1 || ds[0].State != store.OutboxDone || ds[0].Topic != integration.TriggerHRDeparture || strings.Join(emu.Members(group), ",") != "dana@corp.example" {
		t.Fatalf("departure: deliveries %+v, members %v", ds, emu.Members(group))
	}
	upload("Email,Departure Date\ndana@corp.example,2026-12-31\n") // unchanged: nothing to deliver
	upload("Email,Departure Date\ndana@corp.example,2027-01-15\n") // a new date: a departure again
	upload("Email,Action\ndana@corp.example,remove\n")             // not a departure
	if ds := deliveries(okta.ID); len(ds) != 2 || len(emu.Members(group)) != 1 {
		t.Errorf("okta deliveries %d (want 2: added, updated), members %v", len(ds), emu.Members(group))
	}
	all := deliveries(slackLike.ID)
	if len(all) != 3 || all[0].Subject != "person/dana@corp.example" || !strings.Contains(string(all[0].Payload), `"action":"removed"`) {
		t.Errorf("watchlist.changed deliveries %d: %+v", len(all), all)
	}
}
