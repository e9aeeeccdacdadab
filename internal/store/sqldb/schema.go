package sqldb

import "strings"

// Migration is one forward-only schema step.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// initSchema is written once for both drivers; {pk}, {int} and {blob} are replaced by the dialect.
// Booleans are integers 0/1; times are Unix microseconds (0 = unset); optional event columns are NULL
// when empty so that they cost nothing on disk.
const initSchema = `
CREATE TABLE connections (
  id {pk},
  name TEXT NOT NULL,
  name_key TEXT NOT NULL,
  service TEXT NOT NULL,
  service_type TEXT NOT NULL,
  status TEXT NOT NULL,
  prev_status TEXT NOT NULL DEFAULT '',
  error_reason TEXT NOT NULL DEFAULT '',
  scope_kind TEXT NOT NULL DEFAULT 'all',
  tenant_id TEXT NOT NULL DEFAULT '',
  settings {blob},
  credentials {blob},
  created_at {int} NOT NULL,
  created_by TEXT NOT NULL DEFAULT '',
  updated_at {int} NOT NULL,
  deauthorized_at {int} NOT NULL DEFAULT 0,
  throttled_until {int} NOT NULL DEFAULT 0,
  last_event_at {int} NOT NULL DEFAULT 0,
  version {int} NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX connections_name_key ON connections(name_key);

CREATE TABLE status_changes (
  id {pk},
  connection_id {int} NOT NULL,
  at {int} NOT NULL,
  from_status TEXT NOT NULL DEFAULT '',
  to_status TEXT NOT NULL,
  actor TEXT NOT NULL DEFAULT '',
  reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX status_changes_connection ON status_changes(connection_id, id);

CREATE TABLE scope_entries (
  connection_id {int} NOT NULL,
  kind TEXT NOT NULL,
  value TEXT NOT NULL,
  row_no {int} NOT NULL,
  found {int} NOT NULL DEFAULT 0,
  next_lookup_at {int} NOT NULL DEFAULT 0,
  PRIMARY KEY (connection_id, kind, value)
);

CREATE TABLE drives (
  id {pk},
  connection_id {int} NOT NULL,
  vendor_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  owner TEXT NOT NULL DEFAULT '',
  name TEXT NOT NULL DEFAULT '',
  state TEXT NOT NULL,
  error TEXT NOT NULL DEFAULT '',
  in_scope {int} NOT NULL DEFAULT 1,
  file_count {int} NOT NULL DEFAULT 0,
  discovered_at {int} NOT NULL,
  indexed_at {int} NOT NULL DEFAULT 0,
  updated_at {int} NOT NULL
);
CREATE UNIQUE INDEX drives_vendor ON drives(connection_id, vendor_id);

CREATE TABLE files (
  id {pk},
  connection_id {int} NOT NULL,
  drive_id {int} NOT NULL DEFAULT 0,
  vendor_id TEXT NOT NULL,
  name TEXT NOT NULL DEFAULT '',
  path TEXT NOT NULL DEFAULT '',
  size {int} NOT NULL DEFAULT 0,
  mime_type TEXT NOT NULL DEFAULT '',
  owner TEXT NOT NULL DEFAULT '',
  md5 TEXT NOT NULL DEFAULT '',
  sha256 TEXT NOT NULL DEFAULT '',
  sha1 TEXT NOT NULL DEFAULT '',
  quick_xor TEXT NOT NULL DEFAULT '',
  modified {int} NOT NULL DEFAULT 0,
  indexed_at {int} NOT NULL DEFAULT 0,
  deleted {int} NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX files_vendor ON files(connection_id, vendor_id);
CREATE INDEX files_drive ON files(drive_id);

CREATE TABLE file_events (
  id {pk},
  dedupe {blob} NOT NULL,
  held {int} NOT NULL DEFAULT 0,
  observed {int} NOT NULL,
  inserted {int} NOT NULL,
  action TEXT NOT NULL,
  observer TEXT NOT NULL,
  connection_id {int} NOT NULL,
  actor TEXT,
  file_id TEXT,
  file_name TEXT,
  directory TEXT,
  size {int},
  category TEXT,
  owner TEXT,
  md5 {blob},
  sha256 {blob},
  exposure {int} NOT NULL DEFAULT 0,
  link_scope TEXT,
  trusted {int} NOT NULL DEFAULT 0,
  severity TEXT,
  doc {blob} NOT NULL
);
CREATE UNIQUE INDEX file_events_dedupe ON file_events(dedupe);
CREATE INDEX file_events_observed ON file_events(observed);
CREATE INDEX file_events_actor ON file_events(actor, observed);
CREATE INDEX file_events_connection ON file_events(connection_id, id);
CREATE INDEX file_events_sha256 ON file_events(sha256) WHERE sha256 IS NOT NULL;

CREATE TABLE cursors (
  connection_id {int} NOT NULL,
  stream TEXT NOT NULL,
  value TEXT NOT NULL,
  updated_at {int} NOT NULL,
  PRIMARY KEY (connection_id, stream)
);

CREATE TABLE work (
  id {pk},
  kind TEXT NOT NULL,
  work_key TEXT NOT NULL,
  connection_id {int} NOT NULL DEFAULT 0,
  payload {blob},
  next_run_at {int} NOT NULL,
  lease_owner TEXT NOT NULL DEFAULT '',
  lease_until {int} NOT NULL DEFAULT 0,
  attempts {int} NOT NULL DEFAULT 0,
  last_error TEXT NOT NULL DEFAULT '',
  created_at {int} NOT NULL
);
CREATE UNIQUE INDEX work_kind_key ON work(kind, work_key);
CREATE INDEX work_due ON work(next_run_at);

CREATE TABLE outbox (
  id {pk},
  connection_id {int} NOT NULL DEFAULT 0,
  topic TEXT NOT NULL,
  idempotency_key TEXT NOT NULL,
  payload {blob},
  state TEXT NOT NULL,
  attempts {int} NOT NULL DEFAULT 0,
  last_error TEXT NOT NULL DEFAULT '',
  next_run_at {int} NOT NULL,
  lease_owner TEXT NOT NULL DEFAULT '',
  lease_until {int} NOT NULL DEFAULT 0,
  created_at {int} NOT NULL,
  done_at {int} NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX outbox_key ON outbox(idempotency_key);
CREATE INDEX outbox_due ON outbox(state, next_run_at);

CREATE TABLE people (
  id {pk},
  email TEXT NOT NULL,
  name TEXT NOT NULL DEFAULT '',
  aliases TEXT NOT NULL DEFAULT '',
  department TEXT NOT NULL DEFAULT '',
  manager TEXT NOT NULL DEFAULT '',
  employment_status TEXT NOT NULL DEFAULT '',
  status TEXT NOT NULL DEFAULT 'active',
  updated_at {int} NOT NULL
);
CREATE UNIQUE INDEX people_email ON people(email);

CREATE TABLE users (
  id {pk},
  username TEXT NOT NULL,
  username_key TEXT NOT NULL,
  name TEXT NOT NULL DEFAULT '',
  role TEXT NOT NULL,
  password_hash TEXT NOT NULL DEFAULT '',
  service_account {int} NOT NULL DEFAULT 0,
  disabled {int} NOT NULL DEFAULT 0,
  must_change_password {int} NOT NULL DEFAULT 0,
  created_at {int} NOT NULL,
  updated_at {int} NOT NULL
);
CREATE UNIQUE INDEX users_username ON users(username_key);

CREATE TABLE api_tokens (
  id {pk},
  user_id {int} NOT NULL,
  name TEXT NOT NULL DEFAULT '',
  prefix TEXT NOT NULL DEFAULT '',
  hash {blob} NOT NULL,
  created_at {int} NOT NULL,
  expires_at {int} NOT NULL DEFAULT 0,
  last_used_at {int} NOT NULL DEFAULT 0,
  revoked_at {int} NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX api_tokens_hash ON api_tokens(hash);

CREATE TABLE sessions (
  hash {blob} PRIMARY KEY,
  user_id {int} NOT NULL,
  csrf TEXT NOT NULL,
  created_at {int} NOT NULL,
  expires_at {int} NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE audit_log (
  id {pk},
  at {int} NOT NULL,
  actor TEXT NOT NULL DEFAULT '',
  actor_id {int} NOT NULL DEFAULT 0,
  action TEXT NOT NULL,
  target TEXT NOT NULL DEFAULT '',
  details {blob},
  client_ip TEXT NOT NULL DEFAULT '',
  outcome TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_at ON audit_log(at);

CREATE TABLE settings (
  key TEXT PRIMARY KEY,
  value {blob} NOT NULL,
  updated_at {int} NOT NULL
);
`

// InitMigration is migration 1 for the dialect.
func InitMigration(d *Dialect) Migration {
	return Migration{Version: 1, Name: "init", SQL: d.expand(initSchema)}
}

func (d *Dialect) expand(s string) string {
	return strings.NewReplacer("{pk}", d.PK, "{int}", d.Int, "{blob}", d.Blob).Replace(s)
}
