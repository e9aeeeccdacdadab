-- 0016 watchlists (issue 16, R6.3, internal/watchlist): one list per built-in type, created here,
-- and custom lists with their own names; members by address (lower case). watchlist_revision moves
-- with every change so that the caches of ingest and the alert evaluator reload only then. Times
-- are microseconds. Keep in step with the other driver's migrations.
CREATE TABLE watchlists (
  id BIGSERIAL PRIMARY KEY,
  type TEXT NOT NULL,
  name TEXT NOT NULL,
  name_key TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  created_at BIGINT NOT NULL,
  created_by TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX watchlists_name ON watchlists(name_key);

CREATE TABLE watchlist_members (
  watchlist_id BIGINT NOT NULL,
  email TEXT NOT NULL,
  departure_date TEXT NOT NULL DEFAULT '',
  notes TEXT NOT NULL DEFAULT '',
  added_by TEXT NOT NULL DEFAULT '',
  added_at BIGINT NOT NULL,
  PRIMARY KEY (watchlist_id, email)
);
CREATE INDEX watchlist_members_email ON watchlist_members(email);

CREATE TABLE watchlist_revision (
  name TEXT PRIMARY KEY,
  n BIGINT NOT NULL
);
INSERT INTO watchlist_revision (name, n) VALUES ('all', 1);

INSERT INTO watchlists (type, name, name_key, description, created_at, created_by) VALUES
  ('departing_employee', 'departing_employee', 'departing_employee', 'People leaving the organization, with their departure date', 0, 'system'),
  ('flight_risk', 'flight_risk', 'flight_risk', 'People who may leave soon', 0, 'system'),
  ('contractor', 'contractor', 'contractor', 'Contractors and other non-employees', 0, 'system'),
  ('new_hire', 'new_hire', 'new_hire', 'People who joined recently', 0, 'system'),
  ('elevated_access', 'elevated_access', 'elevated_access', 'People with privileged or broad access', 0, 'system'),
  ('high_impact', 'high_impact', 'high_impact', 'Executives and others whose data matters most', 0, 'system'),
  ('performance_concerns', 'performance_concerns', 'performance_concerns', 'People with performance concerns', 0, 'system'),
  ('poor_security_practices', 'poor_security_practices', 'poor_security_practices', 'People with a record of unsafe handling', 0, 'system');
