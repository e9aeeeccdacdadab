package googledrive

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/telltale-dev/telltale/internal/clock"
	"github.com/telltale-dev/telltale/internal/connector/connectortest"
	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/store"
)

// TestMergeOneEventPerAction: a generated working day of Drive activity, collected from both
// feeds (changes polled every five minutes, the Reports API with its 30 minutes to 3 hours lag),
// is one event per ground-truth action: each action's Reports record is on exactly one event, and
// every event the changes feed stored carries the Reports record of its action (none is left as a
// second event of an action), and each record is on an event of its own action and file (a merge
// joined the right two). Each event says which feeds reported it and which fields the second one
// filled.
func TestMergeOneEventPerAction(t *testing.T) {
	e := connectortest.NewEnv(t, connectortest.Harness{Connector: New(), NewVendor: newDayVendor}, "all", nil)
	e.Settle(400)
	v := e.V.(*googleVendor)
	var truths []connectortest.Truth
	for range 96 { // eight hours in five-minute steps
		truths = append(truths, e.V.Act(4)...)
		e.Poll() // 6 minutes
	}
	for range 40 { // past the longest lag: every record is reported
		e.Poll()
	}
	ctx := context.Background()
	var evs []event.FileEvent
	for after := int64(0); ; {
		page, err := e.Store.ListEvents(ctx, store.EventFilter{ConnectionID: e.Conn.ID, AfterID: after, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		evs = append(evs, page...)
		after = page[len(page)-1].Event.ID
	}
	// What each Reports record is of, by its id: the action Adapt gives its event name (a sharing
	// change may also be an unshare) and the file it names.
	type reported struct {
		kind string
		file string
	}
	byRecord := map[string]reported{}
	for _, a := range v.emu.Activities() {
		file := a.FileID
		if a.DocType == "folder" {
			file = "" // a folder's event id is folder:<id>; only files are checked
		}
		byRecord[reportsRecordID(a)] = reported{kind: a.Name, file: file}
	}
	carried := map[string]int{}
	var changeOnly, mismatched []string
	merged, fromReports := 0, 0
	for _, ev := range evs {
		hasChange, hasReport := false, false
		for _, id := range ev.Event.VendorIDs {
			carried[id]++
			if strings.HasPrefix(id, "change:") {
				hasChange = true
				continue
			}
			hasReport = true
			// The record is of this event's action and file: a merge joined the right two.
			rep, ok := byRecord[id]
			if !ok {
				continue // not a ground-truth record: counted as stray below
			}
			r, _ := lookup(rep.kind)
			sharing := r.kind == kindUserAccess || r.kind == kindVisibility || r.kind == kindAccessScope || r.kind == kindMembership
			action := ev.Event.Action == r.action || sharing && ev.Event.Action == event.ActionUnshared
			if !action || rep.file != "" && rep.file != ev.File.ID {
				mismatched = append(mismatched, fmt.Sprintf("event %d (%s %s) carries record %s of %s on %s",
					ev.Event.ID, ev.Event.Action, ev.File.ID, id, rep.kind, rep.file))
			}
		}
		switch {
		case hasChange && !hasReport:
			changeOnly = append(changeOnly, string(ev.Event.Action)+" "+ev.File.ID+" "+strings.Join(ev.Event.VendorIDs, ","))
		case hasChange && hasReport:
			merged++
			if len(ev.Event.Feeds) != 2 || len(ev.Event.Enriched) == 0 {
				t.Errorf("merged event %d: feeds %v, enriched %v", ev.Event.ID, ev.Event.Feeds, ev.Event.Enriched)
			}
			if ev.User.Email == "" || ev.Source.IP == "" {
				t.Errorf("merged event %d lacks the report's actor or IP: %+v %+v", ev.Event.ID, ev.User, ev.Source)
			}
		default:
			fromReports++
		}
	}
	active, _ := v.Owners()
	want, missing, doubled := 0, 0, 0
	names := map[string]int{}
	for _, tr := range truths {
		if !tr.File || !(tr.Shared || contains(active, tr.Owner)) {
			continue
		}
		want++
		switch carried[tr.VendorID] {
		case 0:
			missing++
			if missing <= 5 {
				t.Logf("missing %+v", tr)
			}
		case 1:
			names[tr.Kind]++
		default:
			doubled++
		}
	}
	wanted := map[string]bool{}
	for _, tr := range truths {
		if tr.File && (tr.Shared || contains(active, tr.Owner)) {
			wanted[tr.VendorID] = true
		}
	}
	var stray []string
	for id := range carried {
		if !strings.HasPrefix(id, "change:") && !wanted[id] {
			stray = append(stray, id)
		}
	}
	if len(stray) > 0 {
		t.Errorf("%d events of records that are no monitored file action: %v", len(stray), head(stray))
	}
	if len(mismatched) > 0 {
		t.Errorf("%d Reports records on an event of another action or file (merged with the wrong event): %v", len(mismatched), head(mismatched))
	}
	sort.Strings(changeOnly)
	if missing+doubled > 0 || len(changeOnly) > 0 {
		t.Errorf("of %d actions: %d missing, %d on more than one event; %d events from the changes feed never merged with their report: %v",
			want, missing, doubled, len(changeOnly), head(changeOnly))
	}
	if merged < want/4 || fromReports == 0 {
		t.Errorf("%d events merged from both feeds, %d from the Reports API alone, of %d actions: the day exercises too little", merged, fromReports, want)
	}
	t.Logf("%d actions (%v): %d events merged from both feeds, %d from Reports alone", want, names, merged, fromReports)
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func head(xs []string) []string {
	if len(xs) > 8 {
		return xs[:8]
	}
	return xs
}

// newDayVendor is the suite's vendor with Google's real Reports lag (30 minutes to 3 hours).
func newDayVendor(t *testing.T, clk *clock.Fake) connectortest.Vendor {
	return googleVendorWith(t, clk, 0, 0)
}
