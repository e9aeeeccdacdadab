package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/store"
)

// testHRSources: an HR source's sync state is zero before its first sync and then what was last
// written; employee ids map to addresses (the last one written wins, lower case); a person's
// history lists their changes newest first, bounded, and only theirs.
func testHRSources(t *testing.T, s store.Store) {
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	z := ok(s.GetHRSync(ctx, 7))(t)
	if z.IntegrationID != 7 || z.Cursor != "" || !z.LastSyncAt.IsZero() || !z.LastOKAt.IsZero() || z.Summary != "" {
		t.Fatalf("never synced: %+v", z)
	}
	noErr(t, s.PutHRSync(ctx, store.HRSync{IntegrationID: 7, Cursor: "2026-12-01T09:00:00+00:00", LastSyncAt: t0, LastOKAt: t0, Summary: "1 added"}))
	noErr(t, s.PutHRSync(ctx, store.HRSync{IntegrationID: 7, Cursor: "c2", LastSyncAt: t0.Add(time.Hour), LastOKAt: t0, Summary: "credentials refused"}))
	noErr(t, s.PutHRSync(ctx, store.HRSync{IntegrationID: 8, Cursor: "other"}))
	got := ok(s.GetHRSync(ctx, 7))(t)
	if got.Cursor != "c2" || !got.LastSyncAt.Equal(t0.Add(time.Hour)) || !got.LastOKAt.Equal(t0) || got.Summary != "credentials refused" {
		t.Errorf("sync state %+v", got)
	}

	if _, err := s.GetHRPerson(ctx, 7, "42"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown employee: %v, want ErrNotFound", err)
	}
	noErr(t, s.PutHRPerson(ctx, 7, "42", "Old@Corp.Example"))
	noErr(t, s.PutHRPerson(ctx, 7, "42", " New@Corp.Example "))
	noErr(t, s.PutHRPerson(ctx, 8, "42", "someone@corp.example"))
	// An HR system's id that PostgreSQL's text or index cannot hold as it is (a NUL, kilobytes)
	// is kept as event keys are, and found by the same id.
	for _, id := range []string{"4\x002", longText("employee", 4000)} {
		noErr(t, s.PutHRPerson(ctx, 9, id, "odd@corp.example"))
		if e := ok(s.GetHRPerson(ctx, 9, id))(t); e != "odd@corp.example" {
			t.Errorf("odd HR id %.10q: %q", id, e)
		}
	}
	if e := ok(s.GetHRPerson(ctx, 7, "42"))(t); e != "new@corp.example" {
		t.Errorf("employee 42 of source 7: %q", e)
	}

	for i, a := range []string{"added", "updated", "removed"} {
		ok(s.AppendPersonChange(ctx, store.PersonChange{Email: "Dana@Corp.Example", At: t0.Add(time.Duration(i) * time.Minute), WatchlistID: 1,
			Action: a, DepartureDate: "2026-12-31", Source: "Workday", Actor: "hr-source/7"}))(t)
	}
	ok(s.AppendPersonChange(ctx, store.PersonChange{Email: "eve@corp.example", WatchlistID: 1, Action: "added"}))(t)
	h := ok(s.ListPersonChanges(ctx, "dana@corp.example", 0))(t)
	if len(h) != 3 || h[0].Action != "removed" || h[2].Action != "added" || h[0].Email != "dana@corp.example" || !h[0].At.Equal(t0.Add(2*time.Minute)) ||
		h[0].Source != "Workday" || h[0].Actor != "hr-source/7" || h[0].DepartureDate != "2026-12-31" || h[0].WatchlistID != 1 {
		t.Errorf("history %+v", h)
	}
	if h := ok(s.ListPersonChanges(ctx, "DANA@corp.example", 2))(t); len(h) != 2 || h[1].Action != "updated" {
		t.Errorf("history limited to 2: %+v", h)
	}
}
