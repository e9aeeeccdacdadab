package alert

import (
	"fmt"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/risk"
	"github.com/telltale-dev/telltale/internal/search"
	"github.com/telltale-dev/telltale/internal/store"
)

// TestTrustRecommendations: a domain many people use often is offered with its counts; one used
// by too few people or too rarely, a personal-mail domain, a trusted domain and a domain an alert
// confirmed as a true positive went to are not.
func TestTrustRecommendations(t *testing.T) {
	e := newEnv(t)
	now := e.clock.Now()
	share := func(actor, to string, ago time.Duration) *event.FileEvent {
		x := e.ev(actor, 0, event.ActionShared)
		x.Timestamp = now.Add(-ago)
		x.Sharing.SharedWith = []string{to}
		return x
	}
	var evs []*event.FileEvent
	for i := range 6 {
		p := fmt.Sprintf("p%d@corp.example", i)
		for _, d := range []string{"vendor.example", "partner.example", "confirmed.example", "rare.example"} {
			if _, err := e.st.MarkDestinations(ctx, p, []string{d}, now.Add(-48*time.Hour)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := e.st.MarkDestinations(ctx, p, []string{"gmail.com"}, now); err != nil {
			t.Fatal(err)
		}
		evs = append(evs, share(p, "a@vendor.example", time.Hour), share(p, "b@partner.example", time.Hour), share(p, "c@confirmed.example", time.Hour),
			share(p, "x@gmail.com", time.Hour), share(p, "d@vendor.example", 40*24*time.Hour)) // the last: older than 30 days
	}
	evs = append(evs, share("p0@corp.example", "r@rare.example", time.Hour))
	for i := range 2 { // few people
		p := fmt.Sprintf("q%d@corp.example", i)
		if _, err := e.st.MarkDestinations(ctx, p, []string{"few.example"}, now); err != nil {
			t.Fatal(err)
		}
	}
	e.insert(evs...)
	r := e.rule("confirmed shares", "domain:confirmed.example", Threshold, Params{Value: 1, Window: "24h"}, "high")
	e.drain()
	as := e.alerts(r.ID)
	if len(as) == 0 {
		t.Fatal("no alert to confirm")
	}
	a := as[0]
	a.State, a.Resolution = store.AlertResolved, "true_positive"
	if _, err := e.st.UpdateAlert(ctx, a, nil); err != nil {
		t.Fatal(err)
	}
	got, err := Recommend(ctx, e.st, []string{"partner.example"}, TrustOptions{MinPeople: 5, MinEvents: 3}, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Domain != "vendor.example" || got[0].People != 6 || got[0].Events != 6 || got[0].Truncated ||
		!got[0].FirstSeen.Equal(now.Add(-48*time.Hour)) {
		t.Fatalf("recommendations: %+v", got)
	}
	// Trusting it leaves nothing to offer.
	if got, err := Recommend(ctx, e.st, []string{"partner.example", "vendor.example"}, TrustOptions{MinPeople: 5, MinEvents: 3}, now); err != nil || len(got) != 0 {
		t.Errorf("after trusting it: %+v %v", got, err)
	}
}

// TestTrustedTenantSuppresses (R6.5): an event whose every destination is in a partner's trusted
// tenant (a Google domain share to the partner's Workspace, as the adapter records it) is stored
// trusted with the entry named, raises no alert, is left out of the dashboards' counts and is
// found by trusted:true; the same share to an address the record does not place is scored and
// alerts.
func TestTrustedTenantSuppresses(t *testing.T) {
	e := newEnv(t)
	entries, err := risk.NormalizeTrust([]risk.TrustEntry{{Kind: risk.TrustTenant, Service: "google", Value: "jv.example", Reason: "joint venture, contract JV-7"}})
	if err != nil {
		t.Fatal(err)
	}
	sc, err := risk.NewScorer(risk.Defaults(), []string{"corp.example"})
	if err != nil {
		t.Fatal(err)
	}
	sc = sc.WithTrust(entries)
	share := func(actor string, at time.Duration, to string, tenants ...event.DestinationTenant) *event.FileEvent {
		x := e.ev(actor, at, event.ActionShared, func(x *event.FileEvent) {
			x.Event.Observer, x.Sharing.SharedWith, x.Sharing.Tenants = event.ObserverGoogleDrive, []string{to}, tenants
		})
		x.Risk = sc.Assess(x, nil)
		return x
	}
	r := e.rule("every share", "action:shared", Threshold, Params{Value: 1, Window: "1h"}, "high")
	e.insert(share("ann@corp.example", 0, "jv.example", event.DestinationTenant{To: "jv.example", Tenant: "jv.example"}),
		share("bob@corp.example", time.Minute, "pat@jv.example"))
	e.drain()
	if as := e.alerts(r.ID); len(as) != 1 || as[0].Person != "bob@corp.example" {
		t.Fatalf("alerts %s, want bob's only (ann's share is to a trusted tenant)", summary(as))
	}
	q, err := search.Parse("trusted:true", e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	found, err := e.st.SearchEvents(ctx, q, store.SearchOptions{})
	if err != nil || len(found) != 1 || found[0].User.Email != "ann@corp.example" ||
		found[0].Risk.TrustReason != "every destination is trusted: the trusted google tenant jv.example (joint venture, contract JV-7)" {
		t.Fatalf("trusted:true finds %+v (%v)", found, err)
	}
	b, err := e.st.DashboardBreakdown(ctx, store.DashQuery{From: t0, To: t0, Step: 24 * time.Hour})
	if err != nil || b.Trusted != 1 {
		t.Errorf("dashboard breakdown %+v (%v), want the trusted share left out, counted as trusted", b, err)
	}
	for _, c := range b.BySeverity {
		if c.Events != 1 {
			t.Errorf("dashboard severities %+v, want bob's share only", b.BySeverity)
		}
	}
}
