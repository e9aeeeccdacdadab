package health

import (
	"fmt"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/event"
	"github.com/telltale-dev/telltale/internal/store"
)

// BenchmarkReport builds the health view of a large deployment on SQLite: 50 connections of
// 2,000 events each (a rhythm to read), 30 status changes and 200 streams each, 2,000 per-feed
// counts each in the compared window, 20 rules with alerts, a 1,000-member watchlist and 2,000
// drives. docs/BENCHMARKS.md, "Health view".
func BenchmarkReport(b *testing.B) {
	e := newEnv(b, nil)
	now := time.Now().UTC()
	e.clk.Set(now)
	hour := now.Add(-CompareSettle - time.Hour).Truncate(time.Hour)
	for ci := range 50 {
		c, err := e.st.CreateConnection(ctx, store.Connection{Name: fmt.Sprint("c", ci), Service: "google_drive", ServiceType: "cloud", Status: "monitoring", ScopeKind: "all"})
		if err != nil {
			b.Fatal(err)
		}
		evs := make([]*event.FileEvent, 2000)
		for i := range evs {
			evs[i] = &event.FileEvent{Timestamp: now.Add(-time.Duration(i) * time.Minute), Event: event.Meta{Action: event.ActionModified, Observer: event.ObserverGoogleDrive,
				ConnectionID: c.ID, VendorIDs: []string{fmt.Sprint(ci, "-", i)}}, User: event.User{Email: fmt.Sprint("p", i%500, "@x.com")}, File: event.File{ID: fmt.Sprint("f", i)}}
		}
		if _, err := e.st.InsertEvents(ctx, evs, false); err != nil {
			b.Fatal(err)
		}
		for i := range 30 {
			if _, err := e.st.AppendStatusChange(ctx, store.StatusChange{ConnectionID: c.ID, At: now.Add(-time.Duration(i) * time.Hour), From: "monitoring", To: "monitoring", Actor: "system", Reason: "note"}); err != nil {
				b.Fatal(err)
			}
		}
		var cs []store.FeedCount
		for i := range 1000 {
			cs = append(cs, store.FeedCount{ConnectionID: c.ID, Hour: hour, FileID: fmt.Sprint("f", i), Feed: "changes", N: 1},
				store.FeedCount{ConnectionID: c.ID, Hour: hour, FileID: fmt.Sprint("f", i), Feed: "reports", N: 1})
		}
		if err := e.st.AddFeedCounts(ctx, cs); err != nil {
			b.Fatal(err)
		}
		for i := range 200 {
			if err := e.st.RecordStreamPage(ctx, store.StreamPage{ConnectionID: c.ID, Stream: fmt.Sprint("drive:", i), At: now, NewestEvent: now.Add(-time.Duration(i) * time.Second), Lag: time.Duration(i) * time.Second}); err != nil {
				b.Fatal(err)
			}
		}
		for i := range 40 {
			owner := fmt.Sprint("p", ci*40+i, "@x.com")
			if _, err := e.st.UpsertDrive(ctx, store.Drive{ConnectionID: c.ID, VendorID: owner, Kind: "user", Owner: owner, State: store.DriveIndexed, InScope: true, DiscoveredAt: now}); err != nil {
				b.Fatal(err)
			}
		}
	}
	for ri := range 20 {
		r, err := e.st.CreateAlertRule(ctx, store.AlertRule{Name: fmt.Sprint("r", ri), Query: "action:shared", Kind: "threshold", Params: []byte(`{}`), Severity: "low", Enabled: true})
		if err != nil {
			b.Fatal(err)
		}
		for i := range 50 {
			p := fmt.Sprint("p", i, "@x.com")
			if _, err := e.st.CreateAlert(ctx, store.Alert{RuleID: r.ID, RuleName: r.Name, GroupKey: p, Person: p, State: store.AlertOpen, Severity: "low",
				FirstEventAt: now, LastEventAt: now, WindowEnd: now, CreatedAt: now}, nil); err != nil {
				b.Fatal(err)
			}
		}
	}
	wls, err := e.st.ListWatchlists(ctx)
	if err != nil {
		b.Fatal(err)
	}
	ms := make([]store.WatchlistMember, 1000)
	for i := range ms {
		ms[i] = store.WatchlistMember{WatchlistID: wls[0].ID, Email: fmt.Sprint("p", i*3, "@x.com")}
	}
	if _, err := e.st.PutWatchlistMembers(ctx, wls[0].ID, ms); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		h, err := e.chk.Report(ctx)
		if err != nil || len(h.Connections) != 50 {
			b.Fatal(len(h.Connections), err)
		}
	}
}
