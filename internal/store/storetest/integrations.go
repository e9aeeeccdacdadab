package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/store"
)

// testIntegrations: integrations have unique names, a compare-and-set version, an error that the
// sender sets without a new version, and go with their deliveries; flows keep their filter and
// integrations.
func testIntegrations(t *testing.T, s store.Store) {
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	i := ok(s.CreateIntegration(ctx, store.Integration{Kind: "slack", Name: " SOC channel ", Settings: []byte(`{"channel":"C1"}`),
		Secrets: []byte{1, 2, 3}, Status: store.IntegrationConnected, CreatedBy: "ann", CreatedAt: t0}))(t)
	if i.ID == 0 || i.Name != "SOC channel" || i.Version != 1 || string(i.Secrets) != "\x01\x02\x03" || !i.UpdatedAt.Equal(t0) || i.CreatedBy != "ann" {
		t.Fatalf("created %+v", i)
	}
	if _, err := s.CreateIntegration(ctx, store.Integration{Kind: "webhook", Name: "soc CHANNEL", Status: store.IntegrationConnected}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("duplicate name: %v", err)
	}
	w := ok(s.CreateIntegration(ctx, store.Integration{Kind: "webhook", Name: "hook", Status: store.IntegrationConnected}))(t)
	noErr(t, s.SetIntegrationError(ctx, i.ID, "invalid_auth: the token is revoked", store.IntegrationErrAuth, t0.Add(time.Minute)))
	got := ok(s.GetIntegration(ctx, i.ID))(t)
	if got.LastError != "invalid_auth: the token is revoked" || got.ErrorKind != store.IntegrationErrAuth || !got.LastErrorAt.Equal(t0.Add(time.Minute)) || got.Version != 1 {
		t.Errorf("error set: %+v", got)
	}
	noErr(t, s.SetIntegrationError(ctx, i.ID, "503 from the destination", "", t0.Add(time.Minute)))
	if got = ok(s.GetIntegration(ctx, i.ID))(t); got.ErrorKind != store.IntegrationErrOther {
		t.Errorf("an error of no named kind: %+v", got)
	}
	noErr(t, s.SetIntegrationError(ctx, i.ID, "", store.IntegrationErrRateLimited, t0.Add(2*time.Minute)))
	if got = ok(s.GetIntegration(ctx, i.ID))(t); got.LastError != "" || !got.LastErrorAt.IsZero() || got.ErrorKind != "" {
		t.Errorf("error cleared: %+v", got)
	}
	if err := s.SetIntegrationError(ctx, 999, "x", "", t0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("error of a missing integration: %v", err)
	}
	got.Status, got.Name = store.IntegrationDisconnected, "SOC"
	up := ok(s.UpdateIntegration(ctx, got))(t)
	if up.Version != 2 || up.Status != store.IntegrationDisconnected || up.Name != "SOC" {
		t.Errorf("updated %+v", up)
	}
	if _, err := s.UpdateIntegration(ctx, got); !errors.Is(err, store.ErrConflict) {
		t.Errorf("stale version: %v", err)
	}
	up.Name = "HOOK"
	if _, err := s.UpdateIntegration(ctx, up); !errors.Is(err, store.ErrConflict) {
		t.Errorf("taken name: %v", err)
	}
	if _, err := s.UpdateIntegration(ctx, store.Integration{ID: 999, Version: 1}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing: %v", err)
	}
	if l := ok(s.ListIntegrations(ctx))(t); len(l) != 2 || l[0].ID != i.ID || l[1].ID != w.ID {
		t.Errorf("list %+v", l)
	}

	f := ok(s.CreateFlow(ctx, store.Flow{Name: "High to SOC", Enabled: true, MinSeverity: "high", RuleIDs: []int64{3, 5},
		Query: `person:"a@b.c"`, IntegrationIDs: []int64{i.ID, w.ID}, CreatedBy: "ann", CreatedAt: t0}))(t)
	if f.ID == 0 || !f.Enabled || f.MinSeverity != "high" || !slices.Equal(f.RuleIDs, []int64{3, 5}) || !slices.Equal(f.IntegrationIDs, []int64{i.ID, w.ID}) || !f.CreatedAt.Equal(t0) {
		t.Fatalf("flow %+v", f)
	}
	if _, err := s.CreateFlow(ctx, store.Flow{Name: "high to soc"}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("duplicate flow: %v", err)
	}
	g := ok(s.CreateFlow(ctx, store.Flow{Name: "all"}))(t)
	if f.Trigger != "alert.raised" || g.Trigger != "alert.raised" {
		t.Errorf("default trigger %q %q, want alert.raised", f.Trigger, g.Trigger)
	}
	h := ok(s.CreateFlow(ctx, store.Flow{Name: "departures", Trigger: "hr.departure", IntegrationIDs: []int64{i.ID}}))(t)
	if got := ok(s.GetFlow(ctx, h.ID))(t); got.Trigger != "hr.departure" {
		t.Errorf("trigger %q, want hr.departure", got.Trigger)
	}
	noErr(t, s.DeleteFlow(ctx, h.ID))
	if g.Enabled || len(g.RuleIDs) != 0 || len(g.IntegrationIDs) != 0 {
		t.Errorf("empty flow %+v", g)
	}
	if l := ok(s.ListFlows(ctx))(t); len(l) != 2 || l[0].Query != `person:"a@b.c"` {
		t.Errorf("flows %+v", l)
	}
	noErr(t, s.DeleteFlow(ctx, g.ID))
	if _, err := s.GetFlow(ctx, g.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleted flow: %v", err)
	}

	d := ok(s.EnqueueOutbox(ctx, store.OutboxItem{IntegrationID: i.ID, Subject: "alert/1", Topic: "alert.raised", IdempotencyKey: "k1", NextRunAt: t0}))(t)
	ok(s.EnqueueOutbox(ctx, store.OutboxItem{IntegrationID: w.ID, Subject: "alert/1", Topic: "alert.raised", IdempotencyKey: "k2", NextRunAt: t0}))(t)
	noErr(t, s.DeleteIntegration(ctx, i.ID))
	if _, err := s.GetOutbox(ctx, d.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("delivery of a deleted integration: %v", err)
	}
	if l := ok(s.ListDeliveries(ctx, store.DeliveryFilter{}))(t); len(l) != 1 || l[0].IntegrationID != w.ID {
		t.Errorf("deliveries left %+v", l)
	}
	if err := s.DeleteIntegration(ctx, i.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleted twice: %v", err)
	}
}

// testDeliveries: outbox items carry their integration, subject and the destination's answer, are
// listed per integration and state newest first, and a finished one is replayed with its attempts
// restarted; a pending one is not.
func testDeliveries(t *testing.T, s store.Store) {
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	var ids []int64
	for n, integ := range []int64{1, 2, 1, 1} {
		it := ok(s.EnqueueOutbox(ctx, store.OutboxItem{IntegrationID: integ, Subject: "alert/7", Topic: "alert.raised",
			IdempotencyKey: "alert/7/" + string(rune('a'+n)), Payload: []byte(`{}`), NextRunAt: t0}))(t)
		if it.IntegrationID != integ || it.Subject != "alert/7" || it.Topic != "alert.raised" {
			t.Fatalf("enqueued %+v", it)
		}
		ids = append(ids, it.ID)
	}
	got := ok(s.ClaimOutbox(ctx, store.ClaimRequest{Owner: "n1", Now: t0, LeaseFor: time.Minute, Limit: 2}))(t)
	if len(got) != 2 || got[0].ID != ids[0] {
		t.Fatalf("claimed %+v", got)
	}
	// A note by the lease owner is kept without finishing the item; another owner's is refused.
	noErr(t, s.NoteOutbox(ctx, ids[0], "n1", "creating in Jira at 2026-12-01T09:00:00Z"))
	if n := ok(s.GetOutbox(ctx, ids[0]))(t); n.Response != "creating in Jira at 2026-12-01T09:00:00Z" || n.State != store.OutboxPending || n.LeaseOwner != "n1" || n.Attempts != 0 {
		t.Errorf("noted %+v", n)
	}
	if err := s.NoteOutbox(ctx, ids[0], "n2", "x"); !errors.Is(err, store.ErrConflict) {
		t.Errorf("a note by another owner: %v", err)
	}
	if err := s.NoteOutbox(ctx, ids[2], "n1", "x"); !errors.Is(err, store.ErrConflict) {
		t.Errorf("a note on an unclaimed item: %v", err)
	}
	noErr(t, s.FinishOutbox(ctx, ids[0], "n1", store.OutboxDead, time.Time{}, "500 Internal Server Error", "500: <html>oops</html>"))
	noErr(t, s.FinishOutbox(ctx, ids[1], "n1", store.OutboxPending, t0.Add(time.Minute), "429", "429: slow down"))
	dead := ok(s.GetOutbox(ctx, ids[0]))(t)
	if dead.State != store.OutboxDead || dead.Attempts != 1 || dead.LastError != "500 Internal Server Error" || dead.Response != "500: <html>oops</html>" || dead.DoneAt.IsZero() {
		t.Errorf("dead %+v", dead)
	}
	l := ok(s.ListDeliveries(ctx, store.DeliveryFilter{IntegrationID: 1}))(t)
	if len(l) != 3 || l[0].ID != ids[3] || l[2].ID != ids[0] {
		t.Errorf("per integration %+v", l)
	}
	if l = ok(s.ListDeliveries(ctx, store.DeliveryFilter{IntegrationID: 1, State: store.OutboxDead}))(t); len(l) != 1 || l[0].ID != ids[0] {
		t.Errorf("dead ones %+v", l)
	}
	if l = ok(s.ListDeliveries(ctx, store.DeliveryFilter{BeforeID: ids[2], Limit: 1}))(t); len(l) != 1 || l[0].ID != ids[1] {
		t.Errorf("paged %+v", l)
	}
	if _, err := s.ReplayOutbox(ctx, ids[1], t0); !errors.Is(err, store.ErrConflict) {
		t.Errorf("replay of a pending item: %v", err)
	}
	if _, err := s.ReplayOutbox(ctx, 999, t0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("replay of a missing item: %v", err)
	}
	r := ok(s.ReplayOutbox(ctx, ids[0], t0.Add(time.Hour)))(t)
	if r.State != store.OutboxPending || r.Attempts != 0 || !r.NextRunAt.Equal(t0.Add(time.Hour)) || !r.DoneAt.IsZero() || r.Response != "500: <html>oops</html>" {
		t.Errorf("replayed %+v", r)
	}
	again := ok(s.ClaimOutbox(ctx, store.ClaimRequest{Owner: "n2", Now: t0.Add(time.Hour), LeaseFor: time.Minute, Limit: 10}))(t)
	if !slices.ContainsFunc(again, func(it store.OutboxItem) bool { return it.ID == ids[0] }) {
		t.Errorf("replayed item not claimed: %+v", again)
	}
}
