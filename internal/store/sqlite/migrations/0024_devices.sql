-- 0024 endpoint agents and devices (issue 18, R8.2, docs/ARCHITECTURE.md "Endpoint agent"). Times
-- are microseconds, 0 = never. Keep in step with the other driver's migrations.
--
-- deployment_secrets: what an agent enrols with. Only the SHA-256 of the secret is kept (the admin
-- sees it once); prefix tells secrets apart. A secret enrols until expires_at unless revoked_at is
-- set; revoking one also stops the devices enrolled with it from checking in.
CREATE TABLE deployment_secrets (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  prefix TEXT NOT NULL,
  hash BLOB NOT NULL,
  created_at INTEGER NOT NULL,
  created_by TEXT NOT NULL DEFAULT '',
  expires_at INTEGER NOT NULL,
  revoked_at INTEGER NOT NULL DEFAULT 0,
  updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX deployment_secrets_hash ON deployment_secrets(hash);

-- devices: one row per enrolled agent, keyed by its ed25519 public key (the device keeps the
-- private key). counter is the largest signed-message counter accepted (a replay carries one not
-- above it); event_seq the largest file-event sequence number accepted (events at or below it
-- are duplicates).
CREATE TABLE devices (
  id INTEGER PRIMARY KEY,
  public_key BLOB NOT NULL,
  secret_id INTEGER NOT NULL,
  host_name TEXT NOT NULL DEFAULT '',
  os TEXT NOT NULL DEFAULT '',
  arch TEXT NOT NULL DEFAULT '',
  agent_version TEXT NOT NULL DEFAULT '',
  user_name TEXT NOT NULL DEFAULT '',
  person TEXT NOT NULL DEFAULT '',
  enrolled_at INTEGER NOT NULL,
  last_checkin_at INTEGER NOT NULL DEFAULT 0,
  last_activity_at INTEGER NOT NULL DEFAULT 0,
  counter INTEGER NOT NULL DEFAULT 0,
  event_seq INTEGER NOT NULL DEFAULT 0,
  active INTEGER NOT NULL DEFAULT 1,
  deactivated_at INTEGER NOT NULL DEFAULT 0,
  deactivated_by TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX devices_public_key ON devices(public_key);
CREATE INDEX devices_checkin ON devices(last_checkin_at, id);
CREATE INDEX devices_person ON devices(person, id);
CREATE INDEX devices_secret ON devices(secret_id);
