-- 0033 person_states: what each connection's directory says of a person it does not monitor
-- (issue 18, R8.3): blocked (the vendor refuses the person's sign-in: a suspended Google user, a
-- disabled Microsoft account) or inactive (deactivated: a Box user made inactive, an archived
-- Google user). Active people are the owners of the connections' in-scope drives. Each discovery
-- replaces its connection's rows and refreshes people.status from both. Keep in step with the
-- other driver's migrations.
CREATE TABLE person_states (
  connection_id BIGINT NOT NULL,
  email TEXT NOT NULL,
  status TEXT NOT NULL,
  reason TEXT NOT NULL DEFAULT '',
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (connection_id, email)
);
CREATE INDEX person_states_email ON person_states(email);
