-- 0031 the tamper-evident audit log (issue 18, R8.8; docs/ARCHITECTURE.md "Audit log", the
-- encoding in docs/OPERATIONS.md). Keep in step with the other driver's migrations.
--
-- Every audit record is chained when it is written: seq is its position (1, 2, ...), prev_hash
-- the hash of the record before it, hash the SHA-256 of its canonical encoding (store.AuditHash).
-- Records are never updated: the outcome of a started call is a record of its own whose finishes
-- holds the started record's id (at most one per started record).
ALTER TABLE audit_log ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE audit_log ADD COLUMN finishes BIGINT NOT NULL DEFAULT 0;
ALTER TABLE audit_log ADD COLUMN prev_hash BYTEA;
ALTER TABLE audit_log ADD COLUMN hash BYTEA;
CREATE UNIQUE INDEX audit_log_finishes ON audit_log(finishes) WHERE finishes > 0;
CREATE UNIQUE INDEX audit_log_seq ON audit_log(seq) WHERE seq > 0;

-- audit_chain: the head of the chain, one row, moved in the transaction of every append (its row
-- lock orders the appends of every node). legacy_until is the largest id written before this
-- migration: those records are sealed, in id order, when the store is next opened (SQL has no
-- SHA-256 here), and it is then set to 0 so that nothing is ever sealed after the fact again.
CREATE TABLE audit_chain (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  records BIGINT NOT NULL,
  head_hash BYTEA,
  legacy_until BIGINT NOT NULL
);
INSERT INTO audit_chain (id, records, head_hash, legacy_until) SELECT 1, 0, NULL, COALESCE(MAX(id), 0) FROM audit_log;

-- person_aliases: one person across services (issue 18, R8.3). A person is their primary address
-- (email, lower case); each alias (a Box login, a Google address, a Microsoft UPN that is not the
-- primary, lower case) belongs to at most one person and is never a primary itself. Addresses
-- that differ only in case need no alias: they are one person already.
CREATE TABLE person_aliases (
  alias TEXT PRIMARY KEY,
  email TEXT NOT NULL,
  created_by TEXT NOT NULL DEFAULT '',
  created_at BIGINT NOT NULL
);
CREATE INDEX person_aliases_email ON person_aliases(email);
