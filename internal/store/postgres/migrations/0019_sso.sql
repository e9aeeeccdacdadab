-- 0019 single sign-on (issue 20, R9.2). A user who comes from an identity provider carries the
-- provider's id and the person's subject there ("sub", stable; the user name may change); the
-- pair is unique. role_source says where the role came from: "local" (set by an admin) or
-- "group:<name>" (mapped from the provider's groups at the last sign-in). last_sign_in_at is
-- microseconds, 0 = never. sso_states holds a sign-in in flight: the hash of its state parameter
-- (single use: taken by DELETE ... RETURNING), the hash of the secret in the browser's cookie
-- that binds it to that browser, the nonce, the PKCE verifier and where to go afterwards. Keep in
-- step with the other driver's migrations.
ALTER TABLE users ADD COLUMN provider TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN subject TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN role_source TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN last_sign_in_at BIGINT NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX users_provider_subject ON users(provider, subject) WHERE provider <> '';

CREATE TABLE sso_states (
  hash BYTEA PRIMARY KEY,
  provider TEXT NOT NULL,
  browser BYTEA NOT NULL,
  nonce TEXT NOT NULL,
  verifier TEXT NOT NULL,
  next TEXT NOT NULL DEFAULT '',
  expires_at BIGINT NOT NULL
);
