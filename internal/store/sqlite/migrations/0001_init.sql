-- 0001 init: every table of the store contract (SQLite).
-- Booleans are integers 0/1; times are Unix microseconds UTC (0 = unset); optional event columns are
-- NULL when empty so that they cost nothing on disk. Keep in step with postgres/migrations.

-- name_key is lower(trim(name)) computed in Go (Unicode-aware and the same on both drivers).
CREATE TABLE connections (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  name_key TEXT NOT NULL,
  service TEXT NOT NULL,
  service_type TEXT NOT NULL,
  status TEXT NOT NULL,
  prev_status TEXT NOT NULL DEFAULT '',
  error_reason TEXT NOT NULL DEFAULT '',
  scope_kind TEXT NOT NULL DEFAULT 'all',
  tenant_id TEXT NOT NULL DEFAULT '',
  settings BLOB,
  credentials BLOB,
  created_at INTEGER NOT NULL,
  created_by TEXT NOT NULL DEFAULT '',
  updated_at INTEGER NOT NULL,
  deauthorized_at INTEGER NOT NULL DEFAULT 0,
  throttled_until INTEGER NOT NULL DEFAULT 0,
  last_event_at INTEGER NOT NULL DEFAULT 0,
  version INTEGER NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX connections_name_key ON connections(name_key);

CREATE TABLE status_changes (
  id INTEGER PRIMARY KEY,
  connection_id INTEGER NOT NULL,
  at INTEGER NOT NULL,
  from_status TEXT NOT NULL DEFAULT '',
  to_status TEXT NOT NULL,
  actor TEXT NOT NULL DEFAULT '',
  reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX status_changes_connection ON status_changes(connection_id, id);

CREATE TABLE scope_entries (
  connection_id INTEGER NOT NULL,
  kind TEXT NOT NULL,
  value TEXT NOT NULL,
  row_no INTEGER NOT NULL,
  found INTEGER NOT NULL DEFAULT 0,
  next_lookup_at INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (connection_id, kind, value)
);

CREATE TABLE drives (
  id INTEGER PRIMARY KEY,
  connection_id INTEGER NOT NULL,
  vendor_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  owner TEXT NOT NULL DEFAULT '',
  name TEXT NOT NULL DEFAULT '',
  state TEXT NOT NULL,
  error TEXT NOT NULL DEFAULT '',
  in_scope INTEGER NOT NULL DEFAULT 1,
  file_count INTEGER NOT NULL DEFAULT 0,
  discovered_at INTEGER NOT NULL,
  indexed_at INTEGER NOT NULL DEFAULT 0,
  updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX drives_vendor ON drives(connection_id, vendor_id);

CREATE TABLE files (
  id INTEGER PRIMARY KEY,
  connection_id INTEGER NOT NULL,
  drive_id INTEGER NOT NULL DEFAULT 0,
  vendor_id TEXT NOT NULL,
  name TEXT NOT NULL DEFAULT '',
  path TEXT NOT NULL DEFAULT '',
  size INTEGER NOT NULL DEFAULT 0,
  mime_type TEXT NOT NULL DEFAULT '',
  owner TEXT NOT NULL DEFAULT '',
  md5 TEXT NOT NULL DEFAULT '',
  sha256 TEXT NOT NULL DEFAULT '',
  sha1 TEXT NOT NULL DEFAULT '',
  quick_xor TEXT NOT NULL DEFAULT '',
  modified INTEGER NOT NULL DEFAULT 0,
  indexed_at INTEGER NOT NULL DEFAULT 0,
  deleted INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX files_vendor ON files(connection_id, vendor_id);
CREATE INDEX files_drive ON files(drive_id);

-- file_events: id is the insertion order (event.id); dedupe is FileEvent.DedupeKey(); held marks
-- events collected during Maintenance. observed/inserted are microseconds; md5/sha256 hold the hex
-- digests decoded to bytes; exposure is event.ExposureBits; doc is the compact JSON of every field
-- that is not a column (sqldb/events.go).
CREATE TABLE file_events (
  id INTEGER PRIMARY KEY,
  dedupe BLOB NOT NULL,
  held INTEGER NOT NULL DEFAULT 0,
  observed INTEGER NOT NULL,
  inserted INTEGER NOT NULL,
  action TEXT NOT NULL,
  observer TEXT NOT NULL,
  connection_id INTEGER NOT NULL,
  actor TEXT,
  file_id TEXT,
  file_name TEXT,
  directory TEXT,
  size INTEGER,
  category TEXT,
  owner TEXT,
  md5 BLOB,
  sha256 BLOB,
  exposure INTEGER NOT NULL DEFAULT 0,
  link_scope TEXT,
  trusted INTEGER NOT NULL DEFAULT 0,
  severity TEXT,
  doc BLOB NOT NULL
);
CREATE UNIQUE INDEX file_events_dedupe ON file_events(dedupe);
CREATE INDEX file_events_observed ON file_events(observed);
CREATE INDEX file_events_actor ON file_events(actor, observed);
CREATE INDEX file_events_connection ON file_events(connection_id, id);
CREATE INDEX file_events_sha256 ON file_events(sha256) WHERE sha256 IS NOT NULL;

CREATE TABLE cursors (
  connection_id INTEGER NOT NULL,
  stream TEXT NOT NULL,
  value TEXT NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (connection_id, stream)
);

CREATE TABLE work (
  id INTEGER PRIMARY KEY,
  kind TEXT NOT NULL,
  work_key TEXT NOT NULL,
  connection_id INTEGER NOT NULL DEFAULT 0,
  payload BLOB,
  next_run_at INTEGER NOT NULL,
  lease_owner TEXT NOT NULL DEFAULT '',
  lease_until INTEGER NOT NULL DEFAULT 0,
  attempts INTEGER NOT NULL DEFAULT 0,
  last_error TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX work_kind_key ON work(kind, work_key);
CREATE INDEX work_due ON work(next_run_at);

CREATE TABLE outbox (
  id INTEGER PRIMARY KEY,
  connection_id INTEGER NOT NULL DEFAULT 0,
  topic TEXT NOT NULL,
  idempotency_key TEXT NOT NULL,
  payload BLOB,
  state TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  last_error TEXT NOT NULL DEFAULT '',
  next_run_at INTEGER NOT NULL,
  lease_owner TEXT NOT NULL DEFAULT '',
  lease_until INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  done_at INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX outbox_key ON outbox(idempotency_key);
CREATE INDEX outbox_due ON outbox(state, next_run_at);

CREATE TABLE people (
  id INTEGER PRIMARY KEY,
  email TEXT NOT NULL,
  name TEXT NOT NULL DEFAULT '',
  aliases TEXT NOT NULL DEFAULT '',
  department TEXT NOT NULL DEFAULT '',
  manager TEXT NOT NULL DEFAULT '',
  employment_status TEXT NOT NULL DEFAULT '',
  status TEXT NOT NULL DEFAULT 'active',
  updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX people_email ON people(email);

CREATE TABLE users (
  id INTEGER PRIMARY KEY,
  username TEXT NOT NULL,
  username_key TEXT NOT NULL,
  name TEXT NOT NULL DEFAULT '',
  role TEXT NOT NULL,
  password_hash TEXT NOT NULL DEFAULT '',
  service_account INTEGER NOT NULL DEFAULT 0,
  disabled INTEGER NOT NULL DEFAULT 0,
  must_change_password INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX users_username ON users(username_key);

CREATE TABLE api_tokens (
  id INTEGER PRIMARY KEY,
  user_id INTEGER NOT NULL,
  name TEXT NOT NULL DEFAULT '',
  prefix TEXT NOT NULL DEFAULT '',
  hash BLOB NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL DEFAULT 0,
  last_used_at INTEGER NOT NULL DEFAULT 0,
  revoked_at INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX api_tokens_hash ON api_tokens(hash);

CREATE TABLE sessions (
  hash BLOB PRIMARY KEY,
  user_id INTEGER NOT NULL,
  csrf TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE audit_log (
  id INTEGER PRIMARY KEY,
  at INTEGER NOT NULL,
  actor TEXT NOT NULL DEFAULT '',
  actor_id INTEGER NOT NULL DEFAULT 0,
  action TEXT NOT NULL,
  target TEXT NOT NULL DEFAULT '',
  details BLOB,
  client_ip TEXT NOT NULL DEFAULT '',
  outcome TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_at ON audit_log(at);

CREATE TABLE settings (
  key TEXT PRIMARY KEY,
  value BLOB NOT NULL,
  updated_at INTEGER NOT NULL
);
