-- 0023 SAML sign-in (issue 20). sso_assertions holds the ids of the SAML assertions already
-- accepted, keyed "<provider>:<assertion id>", until the assertion would have expired anyway
-- (microseconds): a replayed assertion finds its id and is refused, after a restart too. Rows
-- past expires_at are deleted as new ones come. Keep in step with the other driver's migrations.
CREATE TABLE sso_assertions (
  id TEXT PRIMARY KEY,
  expires_at BIGINT NOT NULL
);
