package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
)

// AuditChainVersion names the encoding AuditHash uses; it is the first field hashed.
const AuditChainVersion = "telltale-audit-v1"

// AuditHash is the SHA-256 of a record's canonical encoding (docs/OPERATIONS.md, "Audit log"):
// netstrings (`<length in bytes, decimal>:<bytes>,`) of, in order, AuditChainVersion, the previous
// record's hash in lower-case hex (empty for the first record), and the record's seq, at (Unix
// microseconds), actor, actor_id, action, target, details, client_ip, outcome and finishes, whole
// numbers in decimal. Netstrings make the encoding unambiguous: no choice of field values makes
// two different records encode alike.
func AuditHash(e AuditEntry) []byte {
	h := sha256.New()
	var b []byte
	ns := func(v []byte) {
		b = strconv.AppendInt(b[:0], int64(len(v)), 10)
		b = append(b, ':')
		h.Write(b)
		h.Write(v)
		h.Write([]byte{','})
	}
	num := func(n int64) { ns(strconv.AppendInt(nil, n, 10)) }
	ns([]byte(AuditChainVersion))
	ns([]byte(hex.EncodeToString(e.PrevHash)))
	num(e.Seq)
	var at int64
	if !e.At.IsZero() {
		at = e.At.UnixMicro()
	}
	num(at)
	ns([]byte(e.Actor))
	num(e.ActorID)
	ns([]byte(e.Action))
	ns([]byte(e.Target))
	ns(e.Details)
	ns([]byte(e.ClientIP))
	ns([]byte(e.Outcome))
	num(e.Finishes)
	return h.Sum(nil)
}

// AuditVerification is the result of VerifyAudit: OK with the number of records and the hash of
// the last one, or the first record where the chain breaks.
type AuditVerification struct {
	OK       bool
	Count    int64  // records that verified (up to the break, when there is one)
	HeadID   int64  // the last record that verified
	HeadHash []byte // its hash
	Break    *AuditBreak
}

// AuditBreak is where the chain breaks: the record (ID 0 when it is the end of the log) and
// what differs, in words an auditor can act on.
type AuditBreak struct {
	ID     int64
	Seq    int64
	Reason string
}

// AuditReader is what VerifyAudit reads.
type AuditReader interface {
	AuditRecords(ctx context.Context, afterID int64, limit int) ([]AuditEntry, error)
	AuditHead(ctx context.Context) (AuditHead, error)
}

// auditVerifyPage is how many records VerifyAudit holds at a time.
const auditVerifyPage = 1000

// VerifyAudit walks the whole audit log in id order, recomputing every record's hash, and compares
// its end with the head the store keeps. Memory is one page of records whatever the log's size.
// A log that is being written meanwhile verifies, the records appended meanwhile included.
func VerifyAudit(ctx context.Context, q AuditReader) (AuditVerification, error) {
	// The head is read first: every record up to it is committed (the head moves in the
	// transaction that appends), and later records have larger ids (ids are assigned under the
	// chain's lock), so a record found beyond it must be in the head when it is read again.
	head, err := q.AuditHead(ctx)
	if err != nil {
		return AuditVerification{}, err
	}
	var v AuditVerification
	var prev []byte
	var after int64
	brk := func(e AuditEntry, format string, args ...any) (AuditVerification, error) {
		v.Break = &AuditBreak{ID: e.ID, Seq: e.Seq, Reason: fmt.Sprintf(format, args...)}
		return v, nil
	}
	const unsealed = "record %d is not sealed (it has no hash): it was written around the store, e.g. with SQL"
	for done := false; !done; {
		page, err := q.AuditRecords(ctx, after, auditVerifyPage)
		if err != nil {
			return AuditVerification{}, err
		}
		done = len(page) == 0
		for _, e := range page {
			after = e.ID
			if len(e.Hash) == 0 {
				// The store seals a record in the transaction that writes it, so no writer at
				// work leaves one unsealed.
				return brk(e, unsealed, e.ID)
			}
			if v.Count == head.Count {
				// Beyond the head read: either appended since (then the head has moved past it,
				// since a record and the head move in one transaction), or added around the store.
				if head, err = q.AuditHead(ctx); err != nil {
					return AuditVerification{}, err
				}
				if head.Count <= v.Count {
					return brk(e, "record %d is beyond the chain's head (%d records): it was added around the store, e.g. with SQL", e.ID, head.Count)
				}
			}
			want := v.Count + 1
			switch {
			case e.Seq > want:
				return brk(e, "record %d is at position %d but the chain expected %d: %d record(s) before it were deleted or moved", e.ID, e.Seq, want, e.Seq-want)
			case e.Seq < want:
				return brk(e, "record %d is at position %d but the chain expected %d: a record was inserted or moved before it", e.ID, e.Seq, want)
			case !bytes.Equal(e.PrevHash, prev):
				return brk(e, "record %d does not follow the record before it: its previous hash is %q, the record before it has %q: a record was inserted, deleted or reordered here", e.ID, hex.EncodeToString(e.PrevHash), hex.EncodeToString(prev))
			}
			if got := AuditHash(e); !bytes.Equal(got, e.Hash) {
				return brk(e, "record %d was changed after it was written: its fields hash to %s but its seal is %s", e.ID, hex.EncodeToString(got), hex.EncodeToString(e.Hash))
			}
			prev, v.Count, v.HeadID, v.HeadHash = e.Hash, e.Seq, e.ID, e.Hash
		}
		// A short page ends the log, unless the head (read again above) counts records the
		// page was read too early to hold: they are committed now, so one more read finds them.
		done = done || (len(page) < auditVerifyPage && v.Count >= head.Count)
	}
	if v.Count != head.Count || !bytes.Equal(prev, head.Hash) {
		v.Break = &AuditBreak{Reason: fmt.Sprintf("the log ends after %d record(s) (last hash %q) but the chain's head records %d ending with hash %q: the newest records were deleted, or the head was changed",
			v.Count, hex.EncodeToString(prev), head.Count, hex.EncodeToString(head.Hash))}
		return v, nil
	}
	v.OK = true
	return v, nil
}
