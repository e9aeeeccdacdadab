package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/store"
)

// testSubscriptions: push subscriptions are saved and replaced by (connection, vendor id), listed
// by drive (0: the tenant's), found by vendor id, deleted, and deleted with their connection.
func testSubscriptions(t *testing.T, s store.Store) {
	c1, c2 := mkConn(t, s, "push one"), mkConn(t, s, "push two")
	t0 := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	sub := func(conn, drive int64, id string) store.Subscription {
		return store.Subscription{ConnectionID: conn, DriveID: drive, VendorID: id, Stream: "drive:1:feed", Resource: "/drives/" + id,
			Detail: "resource-id", ExpiresAt: t0.Add(72 * time.Hour), CheckedAt: t0}
	}
	a := ok(s.SaveSubscription(ctx, sub(c1.ID, 1, "a")))(t)
	if a.ID == 0 || a.VendorID != "a" || !a.ExpiresAt.Equal(t0.Add(72*time.Hour)) || !a.CreatedAt.Equal(t0) || a.Detail != "resource-id" {
		t.Fatalf("saved %+v", a)
	}
	ok(s.SaveSubscription(ctx, sub(c1.ID, 2, "b")))(t)
	ok(s.SaveSubscription(ctx, sub(c1.ID, 0, "tenant")))(t)
	ok(s.SaveSubscription(ctx, sub(c2.ID, 1, "a")))(t) // the same vendor id in another connection
	// Renewed: replaced in place, created time kept.
	renewed := sub(c1.ID, 1, "a")
	renewed.ExpiresAt, renewed.CheckedAt = t0.Add(144*time.Hour), t0.Add(48*time.Hour)
	r := ok(s.SaveSubscription(ctx, renewed))(t)
	if r.ID != a.ID || !r.ExpiresAt.Equal(renewed.ExpiresAt) || !r.CheckedAt.Equal(renewed.CheckedAt) || !r.CreatedAt.Equal(t0) {
		t.Errorf("renewed %+v, want row %d with the new expiry and the first created time", r, a.ID)
	}
	if got := ok(s.ListSubscriptions(ctx, c1.ID, []int64{1, 2}))(t); len(got) != 2 || got[0].VendorID != "a" || got[1].VendorID != "b" {
		t.Errorf("drives 1 and 2: %+v", got)
	}
	if got := ok(s.ListSubscriptions(ctx, c1.ID, []int64{0}))(t); len(got) != 1 || got[0].VendorID != "tenant" {
		t.Errorf("tenant: %+v", got)
	}
	if got := ok(s.ListSubscriptions(ctx, c1.ID, nil))(t); len(got) != 0 {
		t.Errorf("no drives: %+v", got)
	}
	if f := ok(s.FindSubscription(ctx, c2.ID, "a"))(t); f.ConnectionID != c2.ID {
		t.Errorf("found %+v in connection %d", f, c2.ID)
	}
	if _, err := s.FindSubscription(ctx, c1.ID, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown vendor id: %v, want ErrNotFound", err)
	}
	// Expiring: "a" expires at t0+144h (renewed above), "b" and "tenant" at t0+72h; c2's not listed.
	if got := ok(s.ListExpiringSubscriptions(ctx, c1.ID, t0.Add(100*time.Hour), 10))(t); len(got) != 2 || got[0].VendorID != "b" || got[1].VendorID != "tenant" {
		t.Errorf("expiring by t0+100h: %+v", got)
	}
	if got := ok(s.ListExpiringSubscriptions(ctx, c1.ID, t0.Add(200*time.Hour), 1))(t); len(got) != 1 {
		t.Errorf("limit 1: %+v", got)
	}
	if n := ok(s.CountSubscriptions(ctx, c1.ID))(t); n != 3 {
		t.Errorf("connection one holds %d subscriptions, want 3", n)
	}
	noErr(t, s.DeleteSubscription(ctx, c1.ID, "b"))
	if got := ok(s.ListSubscriptions(ctx, c1.ID, []int64{2}))(t); len(got) != 0 {
		t.Errorf("deleted, still listed: %+v", got)
	}
	noErr(t, s.DeleteConnection(ctx, c1.ID))
	if got := ok(s.ListSubscriptions(ctx, c1.ID, []int64{0, 1}))(t); len(got) != 0 {
		t.Errorf("the connection is deleted but its subscriptions remain: %+v", got)
	}
	if _, err := s.FindSubscription(ctx, c2.ID, "a"); err != nil {
		t.Errorf("another connection's subscription went with it: %v", err)
	}
}
