package store_test

import (
	"encoding/hex"
	"testing"
	"time"

	"github.com/telltale-dev/telltale/internal/store"
)

// TestAuditHashVector pins the encoding docs/OPERATIONS.md documents: the vector below is the one
// the documentation's Python recomputes, so a change to AuditHash that auditors' tools would not
// follow fails here.
func TestAuditHashVector(t *testing.T) {
	prev, _ := hex.DecodeString("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff")
	e := store.AuditEntry{PrevHash: prev, Seq: 2, At: time.UnixMicro(1764979200123456), Actor: "alice", ActorID: 3,
		Action: "connection.delete", Target: "connection/7", Details: []byte(`{"name":"Box"}`), ClientIP: "192.0.2.1", Outcome: "ok", Finishes: 41}
	const want = "f2138ed829b4a6808f4be1e20888c396c28397722299de57a5a783d35ca1981c"
	if got := hex.EncodeToString(store.AuditHash(e)); got != want {
		t.Errorf("AuditHash = %s, want %s", got, want)
	}
	first := store.AuditEntry{Seq: 1, Action: "x"}
	if hex.EncodeToString(store.AuditHash(first)) == hex.EncodeToString(store.AuditHash(store.AuditEntry{Seq: 1, Actor: "x"})) {
		t.Error("moving a value from one field to the next keeps the hash")
	}
}
