package forward_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/emulator/syslog"
	"github.com/telltale-dev/telltale/internal/forward"
	"github.com/telltale-dev/telltale/internal/store"
)

// TestAlertAndAuditStreams (R8.7): a destination that takes file events, alerts and the audit log
// gets each, in id order, with its own id parameter and position; a restarted service resends
// nothing; an audit entry still waiting for its outcome holds the entries after it until it has
// one (or is old enough to be sent as started).
func TestAlertAndAuditStreams(t *testing.T) {
	e := newEnv(t)
	r, err := syslog.Listen(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	s := e.service(forward.Options{Batch: 3})
	if _, err := s.Create(ctx, forward.Input{Name: "bad", Kind: forward.KindSyslog, Format: forward.FormatJSON,
		Settings: forward.Settings{Address: r.TCPAddr(), Transport: forward.SyslogTCP, Streams: []string{"events", "alert"}}}, "ann"); !errors.Is(err, forward.ErrInvalid) ||
		!strings.Contains(err.Error(), `"alert" is not a stream`) {
		t.Errorf("unknown stream: %v", err)
	}
	if _, err := s.Create(ctx, forward.Input{Name: "bad", Kind: forward.KindSyslog, Format: forward.FormatJSON,
		Settings: forward.Settings{Address: r.TCPAddr(), Transport: forward.SyslogTCP, Streams: []string{"audit"}, Query: "action:file-shared"}}, "ann"); !errors.Is(err, forward.ErrInvalid) {
		t.Errorf("a query without the events stream: %v", err)
	}
	v, err := s.Create(ctx, forward.Input{Name: "siem", Kind: forward.KindSyslog, Format: forward.FormatJSON,
		Settings: forward.Settings{Address: r.TCPAddr(), Transport: forward.SyslogTCP, Streams: []string{"alerts", "events", "audit", "alerts"}}, FromStart: true}, "ann")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(v.Config.Streams, ","); got != "alerts,events,audit" {
		t.Errorf("streams stored %q", got)
	}
	e.insert(4)
	past := e.clk.Now().Add(-time.Minute)
	for i := range 7 {
		if _, err := e.st.CreateAlert(ctx, store.Alert{RuleID: 1, RuleName: "Departing employee exfiltration", GroupKey: "alice@corp.example",
			Person: "alice@corp.example", State: store.AlertOpen, Severity: "high", Summary: "files shared", CreatedAt: past.Add(time.Duration(i) * time.Second)}, []int64{1}); err != nil {
			t.Fatal(err)
		}
	}
	var audit []store.AuditEntry
	for i, outcome := range []string{"ok", "ok", store.AuditStarted, "ok"} {
		a, err := e.st.AppendAudit(ctx, store.AuditEntry{At: past, Actor: "ann", Action: "connection.update", Target: "connection/" + itoa(i), Outcome: outcome})
		if err != nil {
			t.Fatal(err)
		}
		audit = append(audit, a)
	}
	drain(t, s, v.ID, 3)
	waitFor(t, func() bool { return r.Stats().Messages == 4+7+2 })
	ids := map[string][]string{}
	for _, m := range r.Messages() {
		for k, val := range m.SD[forward.SDID] {
			ids[m.MsgID+"/"+k] = append(ids[m.MsgID+"/"+k], val)
		}
	}
	if strings.Join(ids["alert/alert_id"], ",") != "1,2,3,4,5,6,7" || strings.Join(ids["audit/audit_id"], ",") != itoa(audit[0].ID)+","+itoa(audit[1].ID) ||
		len(ids["file_event/event_id"]) != 4 || len(ids) != 3 {
		t.Errorf("sent: %v (the started audit entry holds those after it)", ids)
	}
	got := get(t, s, v.ID)
	if got.Streams["alerts"].Position != 7 || got.Streams["alerts"].Sent != 7 || got.Streams["audit"].Position != audit[1].ID || got.Position != 4 {
		t.Errorf("positions: events %d, streams %+v", got.Position, got.Streams)
	}

	// The started entry gets its outcome: it and the one after it go; a new service (a restart)
	// resends nothing.
	if err := e.st.FinishAudit(ctx, audit[2].ID, "", nil, "ok"); err != nil {
		t.Fatal(err)
	}
	s2 := e.service(forward.Options{Batch: 3})
	drain(t, s2, v.ID, 2)
	waitFor(t, func() bool { return r.Stats().Messages == 4+7+4 })
	time.Sleep(100 * time.Millisecond)
	if st := r.Stats(); st.Messages != 15 || st.Bad != 0 {
		t.Errorf("after restart: %+v %v", st, r.Errors())
	}
	// An entry that never gets its outcome goes as started once old enough.
	late, err := e.st.AppendAudit(ctx, store.AuditEntry{At: e.clk.Now(), Actor: "ann", Action: "case.export", Outcome: store.AuditStarted})
	if err != nil {
		t.Fatal(err)
	}
	drain(t, s2, v.ID, 1)
	if get(t, s2, v.ID).Streams["audit"].Position == late.ID {
		t.Errorf("a fresh started entry was sent at once")
	}
	e.clk.Advance(3 * time.Minute)
	drain(t, s2, v.ID, 1)
	if p := get(t, s2, v.ID).Streams["audit"].Position; p != late.ID {
		t.Errorf("an old started entry is not sent: position %d, want %d", p, late.ID)
	}
}

func itoa[T int | int64](n T) string { return strconv.FormatInt(int64(n), 10) }

// TestUpdatedEventsSentAgain: an event rewritten after it was sent (a later report filled in its
// actor or changed its risk) is sent again as it is now, marked updated; one rewritten before it
// was sent goes once, as it is now; the updates are kept until every follower passed them.
func TestUpdatedEventsSentAgain(t *testing.T) {
	e := newEnv(t)
	r, err := syslog.Listen(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	s := e.service(forward.Options{Batch: 10})
	v, err := s.Create(ctx, forward.Input{Name: "siem", Kind: forward.KindSyslog, Format: forward.FormatJSON,
		Settings: forward.Settings{Address: r.TCPAddr(), Transport: forward.SyslogTCP}, FromStart: true}, "ann")
	if err != nil {
		t.Fatal(err)
	}
	// The alert evaluator follows the updates too, from before any.
	if _, err := e.st.InitUpdatesPosition(ctx); err != nil {
		t.Fatal(err)
	}
	e.insert(5)
	drain(t, s, v.ID, 1)
	waitFor(t, func() bool { return r.Stats().Messages == 5 })
	update := func(id int64, who string) {
		t.Helper()
		evs, err := e.st.ListEvents(ctx, store.EventFilter{AfterID: id - 1, Limit: 1})
		if err != nil || len(evs) != 1 {
			t.Fatal(evs, err)
		}
		evs[0].User.Email = who
		if err := e.st.UpdateEvent(ctx, &evs[0]); err != nil {
			t.Fatal(err)
		}
	}
	update(2, "bob@corp.example")
	e.insert(1) // event 6, rewritten before it is sent
	update(6, "carol@corp.example")
	// The evaluator passes the updates first: they stay for the destination.
	if err := e.st.AdvanceUpdatesPosition(ctx, 0, 2); err != nil {
		t.Fatal(err)
	}
	if n, err := e.st.NewestEventUpdate(ctx); err != nil || n != 2 {
		t.Fatalf("updates the destination has not passed are gone: newest %d %v", n, err)
	}
	drain(t, s, v.ID, 2)
	waitFor(t, func() bool { return r.Stats().Messages == 7 })
	time.Sleep(100 * time.Millisecond)
	msgs := r.Messages()
	if len(msgs) != 7 {
		t.Fatalf("%d messages", len(msgs))
	}
	again := map[string]string{}
	for _, m := range msgs[5:] {
		again[m.SD[forward.SDID]["event_id"]] = m.SD[forward.SDID]["updated"]
		if !strings.Contains(m.Msg, "bob@corp.example") && !strings.Contains(m.Msg, "carol@corp.example") {
			t.Errorf("not the event as it is now: %s", m.Msg)
		}
	}
	if again["2"] != "true" || again["6"] != "" || len(again) != 2 {
		t.Errorf("sent after the updates: %v (event 2 again marked updated, event 6 once)", again)
	}
	// Every follower passed them: they are gone.
	if n, _ := e.st.NewestEventUpdate(ctx); n != 0 {
		t.Errorf("updates every follower passed are kept: newest %d", n)
	}
}
