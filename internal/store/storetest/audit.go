package storetest

import (
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/store"
)

// The tamper-evident audit log (issue 18, R8.8): every record is chained when written; a record
// changed, deleted, moved or added around the store is found by store.VerifyAudit.

// rawExec runs SQL on the store's database around the store (what a tamperer does).
func rawExec(t *testing.T, s store.Store, query string) {
	t.Helper()
	w, ok := s.(interface{ Writer() *sql.DB })
	if !ok {
		t.Fatalf("the store %T gives no raw database handle", s)
	}
	if _, err := w.Writer().ExecContext(ctx, query); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// auditLog writes n calls: plain entries, and started entries with their outcomes. It returns the
// raw records in id order.
func auditLog(t *testing.T, s store.Store, n int) []store.AuditEntry {
	t.Helper()
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		e := store.AuditEntry{At: t0.Add(time.Duration(i) * time.Minute), Actor: "admin", ActorID: 1, Action: "rule.update",
			Target: fmt.Sprint("rule/", i), ClientIP: "10.0.0.1", Outcome: "ok", Details: []byte(fmt.Sprintf(`{"n":%d}`, i))}
		if i%2 == 1 {
			e.Outcome, e.Details = store.AuditStarted, nil
			st := ok(s.AppendAudit(ctx, e))(t)
			noErr(t, s.FinishAudit(ctx, st.ID, "", []byte(`{"done":true}`), "403 Forbidden"))
			continue
		}
		ok(s.AppendAudit(ctx, e))(t)
	}
	return ok(s.AuditRecords(ctx, 0, 10000))(t)
}

func verifyOK(t *testing.T, s store.Store, want int64) {
	t.Helper()
	v := ok(store.VerifyAudit(ctx, s))(t)
	if !v.OK || v.Break != nil || v.Count != want {
		t.Fatalf("verify: ok %v, %d records (want %d), break %+v", v.OK, v.Count, want, v.Break)
	}
}

func verifyBreaks(t *testing.T, s store.Store, id int64, reason string) {
	t.Helper()
	v := ok(store.VerifyAudit(ctx, s))(t)
	if v.OK || v.Break == nil {
		t.Fatalf("verify passed a tampered log: %+v", v)
	}
	if v.Break.ID != id || !strings.Contains(v.Break.Reason, reason) {
		t.Fatalf("verify broke at record %d (%q), want record %d and %q", v.Break.ID, v.Break.Reason, id, reason)
	}
}

func testAuditChain(t *testing.T, s store.Store) {
	verifyOK(t, s, 0) // an empty log
	recs := auditLog(t, s, 6)
	if len(recs) != 9 { // 3 plain, 3 started + 3 outcomes
		t.Fatalf("records: %d, want 9", len(recs))
	}
	for i, r := range recs {
		if r.Seq != int64(i+1) || len(r.Hash) != 32 || (i == 0) != (len(r.PrevHash) == 0) || (i > 0 && string(r.PrevHash) != string(recs[i-1].Hash)) {
			t.Fatalf("record %d: seq %d, prev %x, hash %x", i, r.Seq, r.PrevHash, r.Hash)
		}
	}
	if recs[2].Finishes != recs[1].ID || recs[2].Outcome != "403 Forbidden" || recs[1].Outcome != store.AuditStarted {
		t.Errorf("an outcome is a record of its own, finishing its start: %+v / %+v", recs[1], recs[2])
	}
	// The list shows calls: each start with its outcome, newest first.
	calls := ok(s.ListAudit(ctx, store.AuditFilter{}))(t)
	if len(calls) != 6 || calls[4].ID != recs[1].ID || calls[4].Outcome != "403 Forbidden" || string(calls[4].Details) != `{"done":true}` ||
		calls[4].Target != "rule/1" || calls[4].FinishedAt.IsZero() || !calls[5].FinishedAt.IsZero() {
		t.Fatalf("folded list: %+v", calls)
	}
	h := ok(s.AuditHead(ctx))(t)
	if h.Count != 9 || string(h.Hash) != string(recs[8].Hash) {
		t.Errorf("head %+v", h)
	}
	verifyOK(t, s, 9)
	v := ok(store.VerifyAudit(ctx, s))(t)
	if v.HeadID != recs[8].ID || string(v.HeadHash) != string(recs[8].Hash) {
		t.Errorf("verify's head: %d %x", v.HeadID, v.HeadHash)
	}
}

func testAuditTamper(t *testing.T, open func(t *testing.T) store.Store) {
	cases := []struct {
		name   string
		tamper func(t *testing.T, s store.Store, recs []store.AuditEntry) (int64, string) // the record verify must name, and its reason
	}{
		{"details changed", func(t *testing.T, s store.Store, recs []store.AuditEntry) (int64, string) {
			rawExec(t, s, fmt.Sprintf(`UPDATE audit_log SET details = '{"n":99}' WHERE id = %d`, recs[3].ID))
			return recs[3].ID, "was changed after it was written"
		}},
		{"outcome changed", func(t *testing.T, s store.Store, recs []store.AuditEntry) (int64, string) {
			rawExec(t, s, fmt.Sprintf(`UPDATE audit_log SET outcome = 'ok' WHERE id = %d`, recs[5].ID))
			return recs[5].ID, "was changed after it was written"
		}},
		{"record resealed", func(t *testing.T, s store.Store, recs []store.AuditEntry) (int64, string) {
			// A tamperer who knows the encoding changes a record and seals it again: the next
			// record no longer follows it.
			e := recs[3]
			e.Actor = "someone-else"
			rawExec(t, s, fmt.Sprintf(`UPDATE audit_log SET actor = 'someone-else', hash = %s WHERE id = %d`, hexLit(s, store.AuditHash(e)), e.ID))
			return recs[4].ID, "does not follow the record before it"
		}},
		{"record deleted", func(t *testing.T, s store.Store, recs []store.AuditEntry) (int64, string) {
			rawExec(t, s, fmt.Sprintf(`DELETE FROM audit_log WHERE id = %d`, recs[4].ID))
			return recs[5].ID, "1 record(s) before it were deleted"
		}},
		{"newest deleted", func(t *testing.T, s store.Store, recs []store.AuditEntry) (int64, string) {
			rawExec(t, s, fmt.Sprintf(`DELETE FROM audit_log WHERE id >= %d`, recs[7].ID))
			return 0, "the newest records were deleted"
		}},
		{"records reordered", func(t *testing.T, s store.Store, recs []store.AuditEntry) (int64, string) {
			a, b := recs[2].ID, recs[6].ID
			rawExec(t, s, fmt.Sprintf(`UPDATE audit_log SET id = -1 WHERE id = %d`, a))
			rawExec(t, s, fmt.Sprintf(`UPDATE audit_log SET id = %d WHERE id = %d`, a, b))
			rawExec(t, s, fmt.Sprintf(`UPDATE audit_log SET id = %d WHERE id = -1`, b))
			return a, "deleted or moved"
		}},
		{"record inserted unsealed", func(t *testing.T, s store.Store, recs []store.AuditEntry) (int64, string) {
			rawExec(t, s, fmt.Sprintf(`INSERT INTO audit_log (id, at, actor, action, outcome) VALUES (%d, 1, 'admin', 'user.create', 'ok')`, recs[8].ID+10))
			return recs[8].ID + 10, "is not sealed"
		}},
		{"record inserted sealed", func(t *testing.T, s store.Store, recs []store.AuditEntry) (int64, string) {
			// Chained correctly after the last record, but not through the store: the head
			// does not know it.
			e := store.AuditEntry{ID: recs[8].ID + 10, At: time.UnixMicro(1).UTC(), Actor: "admin", Action: "user.create", Outcome: "ok", Seq: 10, PrevHash: recs[8].Hash}
			rawExec(t, s, fmt.Sprintf(`INSERT INTO audit_log (id, at, actor, action, outcome, seq, prev_hash, hash) VALUES (%d, 1, 'admin', 'user.create', 'ok', 10, %s, %s)`,
				e.ID, hexLit(s, e.PrevHash), hexLit(s, store.AuditHash(e))))
			return e.ID, "beyond the chain's head"
		}},
		{"record inserted in the middle", func(t *testing.T, s store.Store, recs []store.AuditEntry) (int64, string) {
			// The newest record is removed to make room, the one before it moves up, and a forged
			// record sealed after recs[6] takes its place: the moved record then repeats a position.
			// (The unique index on seq is no defence against someone who can write SQL.)
			rawExec(t, s, `DROP INDEX audit_log_seq`)
			rawExec(t, s, fmt.Sprintf(`DELETE FROM audit_log WHERE id = %d`, recs[8].ID))
			rawExec(t, s, fmt.Sprintf(`UPDATE audit_log SET id = %d WHERE id = %d`, recs[8].ID, recs[7].ID))
			e := store.AuditEntry{ID: recs[7].ID, At: time.UnixMicro(1).UTC(), Actor: "admin", Action: "user.create", Outcome: "ok", Seq: 8, PrevHash: recs[6].Hash}
			rawExec(t, s, fmt.Sprintf(`INSERT INTO audit_log (id, at, actor, action, outcome, seq, prev_hash, hash) VALUES (%d, 1, 'admin', 'user.create', 'ok', 8, %s, %s)`,
				e.ID, hexLit(s, e.PrevHash), hexLit(s, store.AuditHash(e))))
			return recs[8].ID, "a record was inserted or moved before it"
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() { s.Close() })
			recs := auditLog(t, s, 6)
			verifyOK(t, s, int64(len(recs)))
			id, reason := c.tamper(t, s, recs)
			verifyBreaks(t, s, id, reason)
		})
	}
}

// hexLit is a byte-string literal for the store's SQL.
func hexLit(s store.Store, b []byte) string {
	if s.Driver() == "postgres" {
		return fmt.Sprintf(`'\x%x'::bytea`, b)
	}
	return fmt.Sprintf(`X'%x'`, b)
}

// testAuditConcurrent: writers appending and finishing at once (several nodes share PostgreSQL)
// leave a chain that verifies, and verification while they write passes too.
func testAuditConcurrent(t *testing.T, s store.Store) {
	const writers, each = 6, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers*each+100)
	stop := make(chan struct{})
	verified := 0
	go func() { // a verifier running throughout
		defer close(errs)
		for {
			select {
			case <-stop:
				return
			default:
			}
			v, err := store.VerifyAudit(ctx, s)
			if err == nil && !v.OK {
				err = fmt.Errorf("verify during writes: %+v", v.Break)
			}
			if err != nil {
				errs <- err
				return
			}
			verified++
		}
	}()
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				e := store.AuditEntry{Actor: fmt.Sprint("user", w), Action: "file_events.search", Outcome: "ok", Details: []byte(fmt.Sprintf(`{"i":%d}`, i))}
				if i%3 == 0 {
					e.Outcome = store.AuditStarted
				}
				got, err := s.AppendAudit(ctx, e)
				if err == nil && i%3 == 0 {
					err = s.FinishAudit(ctx, got.ID, "", nil, "ok")
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	for err := range errs {
		t.Fatal(err)
	}
	started := 0
	for i := range each {
		if i%3 == 0 {
			started++
		}
	}
	verifyOK(t, s, int64(writers*(each+started)))
	if verified == 0 {
		t.Log("the verifier did not complete a run while the writers wrote")
	}
}

// AuditLegacyMigration checks migration 0031 on a log written before the chain existed: exec runs
// SQL on the database migrated up to just before it; reopen opens it with every migration. The
// old records are sealed once, in id order, when the store is opened; a record added around the
// store later is never sealed by a restart and stays reported.
func AuditLegacyMigration(t *testing.T, exec func(q string) error, reopen func(t *testing.T) store.Store) {
	t.Helper()
	for _, q := range []string{
		`INSERT INTO audit_log (at, actor, actor_id, action, target, details, client_ip, outcome) VALUES (1000, 'admin', 1, 'connection.create', 'connection/1', NULL, '10.0.0.1', 'ok')`,
		`INSERT INTO audit_log (at, actor, actor_id, action, target, details, client_ip, outcome) VALUES (2000, 'admin', 1, 'connection.delete', 'connection/1', NULL, '10.0.0.1', 'started')`,
		`INSERT INTO audit_log (at, actor, actor_id, action, target, details, client_ip, outcome) VALUES (3000, 'ana', 2, 'user.update', 'user/2', NULL, '', '404 Not Found')`,
	} {
		if err := exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	s := reopen(t)
	verifyOK(t, s, 3)
	calls := ok(s.ListAudit(ctx, store.AuditFilter{}))(t)
	if len(calls) != 3 || calls[0].Actor != "ana" || calls[1].Outcome != store.AuditStarted || calls[2].Action != "connection.create" {
		t.Fatalf("the old entries as listed: %+v", calls)
	}
	ok(s.AppendAudit(ctx, store.AuditEntry{Actor: "admin", Action: "rule.create", Outcome: "ok"}))(t)
	verifyOK(t, s, 4)
	rawExec(t, s, `INSERT INTO audit_log (at, actor, action, outcome) VALUES (4000, 'admin', 'user.create', 'ok')`)
	noErr(t, s.Close())

	s = reopen(t)
	t.Cleanup(func() { s.Close() })
	v := ok(store.VerifyAudit(ctx, s))(t)
	if v.OK || v.Break == nil || !strings.Contains(v.Break.Reason, "is not sealed") || v.Count != 4 {
		t.Fatalf("a record added around the store after the migration was sealed by a restart: %+v %+v", v, v.Break)
	}
}
