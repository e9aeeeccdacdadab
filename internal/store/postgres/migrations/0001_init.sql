-- 0001 init: every table of the store contract (PostgreSQL).
-- Booleans are integers 0/1; times are Unix microseconds UTC (0 = unset); optional event columns are
-- NULL when empty so that they cost nothing on disk. Keep in step with sqlite/migrations.

-- name_key is lower(trim(name)) computed in Go (Unicode-aware and the same on both drivers).
CREATE TABLE connections (
  id BIGSERIAL PRIMARY KEY,
  name TEXT NOT NULL,
  name_key TEXT NOT NULL,
  service TEXT NOT NULL,
  service_type TEXT NOT NULL,
  status TEXT NOT NULL,
  prev_status TEXT NOT NULL DEFAULT '',
  error_reason TEXT NOT NULL DEFAULT '',
  scope_kind TEXT NOT NULL DEFAULT 'all',
  tenant_id TEXT NOT NULL DEFAULT '',
  settings BYTEA,
  credentials BYTEA,
  created_at BIGINT NOT NULL,
  created_by TEXT NOT NULL DEFAULT '',
  updated_at BIGINT NOT NULL,
  deauthorized_at BIGINT NOT NULL DEFAULT 0,
  throttled_until BIGINT NOT NULL DEFAULT 0,
  last_event_at BIGINT NOT NULL DEFAULT 0,
  version BIGINT NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX connections_name_key ON connections(name_key);

CREATE TABLE status_changes (
  id BIGSERIAL PRIMARY KEY,
  connection_id BIGINT NOT NULL,
  at BIGINT NOT NULL,
  from_status TEXT NOT NULL DEFAULT '',
  to_status TEXT NOT NULL,
  actor TEXT NOT NULL DEFAULT '',
  reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX status_changes_connection ON status_changes(connection_id, id);

CREATE TABLE scope_entries (
  connection_id BIGINT NOT NULL,
  kind TEXT NOT NULL,
  value TEXT NOT NULL,
  row_no BIGINT NOT NULL,
  found BIGINT NOT NULL DEFAULT 0,
  next_lookup_at BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (connection_id, kind, value)
);

CREATE TABLE drives (
  id BIGSERIAL PRIMARY KEY,
  connection_id BIGINT NOT NULL,
  vendor_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  owner TEXT NOT NULL DEFAULT '',
  name TEXT NOT NULL DEFAULT '',
  state TEXT NOT NULL,
  error TEXT NOT NULL DEFAULT '',
  in_scope BIGINT NOT NULL DEFAULT 1,
  file_count BIGINT NOT NULL DEFAULT 0,
  discovered_at BIGINT NOT NULL,
  indexed_at BIGINT NOT NULL DEFAULT 0,
  updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX drives_vendor ON drives(connection_id, vendor_id);

CREATE TABLE files (
  id BIGSERIAL PRIMARY KEY,
  connection_id BIGINT NOT NULL,
  drive_id BIGINT NOT NULL DEFAULT 0,
  vendor_id TEXT NOT NULL,
  name TEXT NOT NULL DEFAULT '',
  path TEXT NOT NULL DEFAULT '',
  size BIGINT NOT NULL DEFAULT 0,
  mime_type TEXT NOT NULL DEFAULT '',
  owner TEXT NOT NULL DEFAULT '',
  md5 TEXT NOT NULL DEFAULT '',
  sha256 TEXT NOT NULL DEFAULT '',
  sha1 TEXT NOT NULL DEFAULT '',
  quick_xor TEXT NOT NULL DEFAULT '',
  modified BIGINT NOT NULL DEFAULT 0,
  indexed_at BIGINT NOT NULL DEFAULT 0,
  deleted BIGINT NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX files_vendor ON files(connection_id, vendor_id);
CREATE INDEX files_drive ON files(drive_id);

-- file_events: id is the insertion order (event.id); dedupe is FileEvent.DedupeKey(); held marks
-- events collected during Maintenance. observed/inserted are microseconds; md5/sha256 hold the hex
-- digests decoded to bytes; exposure is event.ExposureBits; doc is the compact JSON of every field
-- that is not a column (sqldb/events.go).
CREATE TABLE file_events (
  id BIGSERIAL PRIMARY KEY,
  dedupe BYTEA NOT NULL,
  held BIGINT NOT NULL DEFAULT 0,
  observed BIGINT NOT NULL,
  inserted BIGINT NOT NULL,
  action TEXT NOT NULL,
  observer TEXT NOT NULL,
  connection_id BIGINT NOT NULL,
  actor TEXT,
  file_id TEXT,
  file_name TEXT,
  directory TEXT,
  size BIGINT,
  category TEXT,
  owner TEXT,
  md5 BYTEA,
  sha256 BYTEA,
  exposure BIGINT NOT NULL DEFAULT 0,
  link_scope TEXT,
  trusted BIGINT NOT NULL DEFAULT 0,
  severity TEXT,
  doc BYTEA NOT NULL
);
CREATE UNIQUE INDEX file_events_dedupe ON file_events(dedupe);
CREATE INDEX file_events_observed ON file_events(observed);
CREATE INDEX file_events_actor ON file_events(actor, observed);
CREATE INDEX file_events_connection ON file_events(connection_id, id);
CREATE INDEX file_events_sha256 ON file_events(sha256) WHERE sha256 IS NOT NULL;

CREATE TABLE cursors (
  connection_id BIGINT NOT NULL,
  stream TEXT NOT NULL,
  value TEXT NOT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (connection_id, stream)
);

CREATE TABLE work (
  id BIGSERIAL PRIMARY KEY,
  kind TEXT NOT NULL,
  work_key TEXT NOT NULL,
  connection_id BIGINT NOT NULL DEFAULT 0,
  payload BYTEA,
  next_run_at BIGINT NOT NULL,
  lease_owner TEXT NOT NULL DEFAULT '',
  lease_until BIGINT NOT NULL DEFAULT 0,
  attempts BIGINT NOT NULL DEFAULT 0,
  last_error TEXT NOT NULL DEFAULT '',
  created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX work_kind_key ON work(kind, work_key);
CREATE INDEX work_due ON work(next_run_at);

CREATE TABLE outbox (
  id BIGSERIAL PRIMARY KEY,
  connection_id BIGINT NOT NULL DEFAULT 0,
  topic TEXT NOT NULL,
  idempotency_key TEXT NOT NULL,
  payload BYTEA,
  state TEXT NOT NULL,
  attempts BIGINT NOT NULL DEFAULT 0,
  last_error TEXT NOT NULL DEFAULT '',
  next_run_at BIGINT NOT NULL,
  lease_owner TEXT NOT NULL DEFAULT '',
  lease_until BIGINT NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL,
  done_at BIGINT NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX outbox_key ON outbox(idempotency_key);
CREATE INDEX outbox_due ON outbox(state, next_run_at);

CREATE TABLE people (
  id BIGSERIAL PRIMARY KEY,
  email TEXT NOT NULL,
  name TEXT NOT NULL DEFAULT '',
  aliases TEXT NOT NULL DEFAULT '',
  department TEXT NOT NULL DEFAULT '',
  manager TEXT NOT NULL DEFAULT '',
  employment_status TEXT NOT NULL DEFAULT '',
  status TEXT NOT NULL DEFAULT 'active',
  updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX people_email ON people(email);

CREATE TABLE users (
  id BIGSERIAL PRIMARY KEY,
  username TEXT NOT NULL,
  username_key TEXT NOT NULL,
  name TEXT NOT NULL DEFAULT '',
  role TEXT NOT NULL,
  password_hash TEXT NOT NULL DEFAULT '',
  service_account BIGINT NOT NULL DEFAULT 0,
  disabled BIGINT NOT NULL DEFAULT 0,
  must_change_password BIGINT NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX users_username ON users(username_key);

CREATE TABLE api_tokens (
  id BIGSERIAL PRIMARY KEY,
  user_id BIGINT NOT NULL,
  name TEXT NOT NULL DEFAULT '',
  prefix TEXT NOT NULL DEFAULT '',
  hash BYTEA NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL DEFAULT 0,
  last_used_at BIGINT NOT NULL DEFAULT 0,
  revoked_at BIGINT NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX api_tokens_hash ON api_tokens(hash);

CREATE TABLE sessions (
  hash BYTEA PRIMARY KEY,
  user_id BIGINT NOT NULL,
  csrf TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE audit_log (
  id BIGSERIAL PRIMARY KEY,
  at BIGINT NOT NULL,
  actor TEXT NOT NULL DEFAULT '',
  actor_id BIGINT NOT NULL DEFAULT 0,
  action TEXT NOT NULL,
  target TEXT NOT NULL DEFAULT '',
  details BYTEA,
  client_ip TEXT NOT NULL DEFAULT '',
  outcome TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_at ON audit_log(at);

CREATE TABLE settings (
  key TEXT PRIMARY KEY,
  value BYTEA NOT NULL,
  updated_at BIGINT NOT NULL
);
