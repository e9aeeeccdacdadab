package alert

import (
	"fmt"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/event"
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
