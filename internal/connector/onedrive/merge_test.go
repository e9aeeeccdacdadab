package onedrive

import (
	"context"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/clock"
	"github.com/telltale-dev/telltale/internal/connector/connectortest"
	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/store"
)

// TestMergeOneEventPerAction: a generated working day of OneDrive activity, collected from both
// feeds (each drive's delta polled every five minutes, the Management Activity API with its real
// 60 to 90 minutes lag), is one event per ground-truth action: each action's audit record is on
// exactly one event, and every event the delta feed stored carries the audit record of its action
// (none is left as a second event of an action). Merged events say which feeds reported them and
// which fields the second one filled.
func TestMergeOneEventPerAction(t *testing.T) {
	e := connectortest.NewEnv(t, connectortest.Harness{Connector: New(), NewVendor: newDayVendor}, "all", nil)
	e.Settle(400)
	v := e.V.(*msVendor)
	var truths []connectortest.Truth
	for range 96 { // eight hours in six-minute steps
		truths = append(truths, e.V.Act(4)...)
		e.Poll()
	}
	for range 30 { // past the longest lag: every record is available
		e.Poll()
	}
	var evs []event.FileEvent
	for after := int64(0); ; {
		page, err := e.Store.ListEvents(context.Background(), store.EventFilter{ConnectionID: e.Conn.ID, AfterID: after, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		evs = append(evs, page...)
		after = page[len(page)-1].Event.ID
	}
	carried := map[string]int{}
	var deltaOnly []string
	merged, fromAudit := 0, 0
	for _, ev := range evs {
		hasDelta, hasAudit := false, false
		for _, id := range ev.Event.VendorIDs {
			carried[id]++
			if strings.HasPrefix(id, "delta:") {
				hasDelta = true
			} else {
				hasAudit = true
			}
		}
		switch {
		case hasDelta && !hasAudit:
			deltaOnly = append(deltaOnly, string(ev.Event.Action)+" "+ev.File.ID+" "+strings.Join(ev.Event.VendorIDs, ","))
		case hasDelta && hasAudit:
			merged++
			if len(ev.Event.Feeds) != 2 || len(ev.Event.Enriched) == 0 {
				t.Errorf("merged event %d: feeds %v, enriched %v", ev.Event.ID, ev.Event.Feeds, ev.Event.Enriched)
			}
			if ev.User.Email == "" || ev.Source.IP == "" {
				t.Errorf("merged event %d lacks the audit record's actor or IP: %+v %+v", ev.Event.ID, ev.User, ev.Source)
			}
		default:
			fromAudit++
		}
	}
	active, _ := v.Owners()
	want, missing, doubled := 0, 0, 0
	kinds := map[string]int{}
	wanted := map[string]bool{}
	for _, tr := range truths {
		if !tr.File || !slices.Contains(active, tr.Owner) {
			continue
		}
		want++
		wanted[tr.VendorID] = true
		switch carried[tr.VendorID] {
		case 0:
			missing++
			if missing <= 5 {
				t.Logf("missing %+v", tr)
			}
		case 1:
			kinds[tr.Kind]++
		default:
			doubled++
		}
	}
	var stray []string
	for id := range carried {
		if !strings.HasPrefix(id, "delta:") && !wanted[id] {
			stray = append(stray, id)
		}
	}
	if len(stray) > 0 {
		t.Errorf("%d events of records that are no monitored file action: %v", len(stray), firstOf(stray))
	}
	sort.Strings(deltaOnly)
	if missing+doubled > 0 || len(deltaOnly) > 0 {
		t.Errorf("of %d actions: %d missing, %d on more than one event; %d events from the delta feed never merged with their audit record: %v",
			want, missing, doubled, len(deltaOnly), firstOf(deltaOnly))
	}
	if merged < want/4 || fromAudit == 0 {
		t.Errorf("%d events merged from both feeds, %d from the audit feed alone, of %d actions: the day exercises too little", merged, fromAudit, want)
	}
	t.Logf("%d actions (%v): %d events merged from both feeds, %d from the audit feed alone", want, kinds, merged, fromAudit)
}

func firstOf(xs []string) []string {
	if len(xs) > 8 {
		return xs[:8]
	}
	return xs
}

// newDayVendor is the suite's vendor with Microsoft's typical availability, 60 to 90 minutes.
func newDayVendor(t *testing.T, clk *clock.Fake) connectortest.Vendor {
	return msVendorWith(t, clk, 60*time.Minute, 90*time.Minute)
}
