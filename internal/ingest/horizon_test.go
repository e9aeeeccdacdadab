package ingest_test

import (
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/connector/box"
)

// longHorizon is the Box connector declaring that its vendor may repeat records for 60 days.
type longHorizon struct{ connector.Connector }

func (l longHorizon) Spec() connector.Spec {
	sp := l.Connector.Spec()
	sp.DedupeHorizon = 60 * 24 * time.Hour
	return sp
}

// TestDedupeHorizonComesFromTheSpec (issue 13: vendor facts live in the connector's spec): record ids
// are remembered at least as long as the connector says its vendor may deliver a record again, not
// ingest's own default of 21 days.
func TestDedupeHorizonComesFromTheSpec(t *testing.T) {
	e := newEnv(t, longHorizon{box.New()}, true)
	c := e.connect("Box long horizon", "", nil)
	seen := e.clock.Now()
	if _, err := e.store.MarkVendorRecords(ctx, c.ID, []string{"rec-1"}, seen); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(50 * 24 * time.Hour) // past the default, within the vendor's horizon
	if err := e.ingest.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	fresh, err := e.store.MarkVendorRecords(ctx, c.ID, []string{"rec-1"}, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(fresh) != 0 {
		t.Errorf("a record seen 50 days ago was forgotten although the vendor may repeat it for 60: it would be stored twice")
	}
}
