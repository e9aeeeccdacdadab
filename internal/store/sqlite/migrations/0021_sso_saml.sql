-- 0021 SAML sign-in and second factors for local accounts (issue 20). sso_assertions holds the ids
-- of the SAML assertions already accepted, keyed "<provider>:<assertion id>", until the assertion
-- would have expired anyway (microseconds): a replayed assertion finds its id and is refused, after
-- a restart too. Rows past expires_at are deleted as new ones come. user_totp holds a local
-- account's TOTP secret (RFC 6238), sealed with the server's key; enabled_at is 0 while the person
-- has not yet proved they can make codes with it; last_step is the last time step a code was
-- accepted for, so a code is used once. recovery_codes are the one-time codes that replace a lost
-- authenticator, stored as SHA-256 hashes only; used_at 0 = unused. Keep in step with the other
-- driver's migrations.
CREATE TABLE sso_assertions (
  id TEXT PRIMARY KEY,
  expires_at INTEGER NOT NULL
);

CREATE TABLE user_totp (
  user_id INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
  secret BLOB NOT NULL,
  enabled_at INTEGER NOT NULL DEFAULT 0,
  last_step INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE recovery_codes (
  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  hash BLOB NOT NULL,
  used_at INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (user_id, hash)
);
