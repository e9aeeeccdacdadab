-- 0022 integration health (issue 17, part 2, R7.4): the kind of an integration's last error, so the
-- console and the API show "credentials refused" or "rate limited" as its condition beside
-- Connected, not only as text. '' when it has no error; auth, rate_limited or error otherwise.
-- Keep in step with the other driver's migrations.
ALTER TABLE integrations ADD COLUMN error_kind TEXT NOT NULL DEFAULT '';
