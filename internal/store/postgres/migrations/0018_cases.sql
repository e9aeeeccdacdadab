-- 0018 cases, departure exposure and per-person risk (issue 16, R6.4, docs/CASES.md). Times are
-- microseconds. Keep in step with the other driver's migrations.
--
-- cases gather people, alerts and events for an investigation; case_changes is the history of every
-- change. A case with legal_hold keeps its events (those added and those of its alerts) past
-- retention: event deletion skips them (sqldb DeleteConnectionEvents, DeleteConnection), hence the
-- indexes by event id on case_events and alert_events.
CREATE TABLE cases (
  id BIGSERIAL PRIMARY KEY,
  title TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  state TEXT NOT NULL,
  assignee TEXT NOT NULL DEFAULT '',
  legal_hold BIGINT NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL,
  created_by TEXT NOT NULL DEFAULT '',
  updated_at BIGINT NOT NULL,
  version BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX cases_state ON cases(state, id);
CREATE INDEX cases_held ON cases(id) WHERE legal_hold <> 0;

CREATE TABLE case_people (
  case_id BIGINT NOT NULL,
  email TEXT NOT NULL,
  PRIMARY KEY (case_id, email)
);
CREATE INDEX case_people_email ON case_people(email, case_id);

CREATE TABLE case_alerts (
  case_id BIGINT NOT NULL,
  alert_id BIGINT NOT NULL,
  PRIMARY KEY (case_id, alert_id)
);
CREATE INDEX case_alerts_alert ON case_alerts(alert_id);

CREATE TABLE case_events (
  case_id BIGINT NOT NULL,
  event_id BIGINT NOT NULL,
  PRIMARY KEY (case_id, event_id)
);
CREATE INDEX case_events_event ON case_events(event_id);
CREATE INDEX alert_events_event ON alert_events(event_id);

CREATE TABLE case_changes (
  id BIGSERIAL PRIMARY KEY,
  case_id BIGINT NOT NULL,
  at BIGINT NOT NULL,
  actor TEXT NOT NULL,
  field TEXT NOT NULL,
  from_value TEXT NOT NULL DEFAULT '',
  to_value TEXT NOT NULL DEFAULT '',
  note TEXT NOT NULL DEFAULT ''
);
CREATE INDEX case_changes_case ON case_changes(case_id, id);

-- person_risk: the sum of the risk scores of a person's scored events per UTC day (by time observed),
-- written by InsertEvents in the transaction that stores the events; a person's rolling score is
-- the sum of the days of the window.
CREATE TABLE person_risk (
  email TEXT NOT NULL,
  day BIGINT NOT NULL,
  score BIGINT NOT NULL,
  events BIGINT NOT NULL,
  PRIMARY KEY (email, day)
);

-- Departure exposure: a person's files (by owner) and, per file, its latest sharing state.
CREATE INDEX files_owner ON files(lower(owner), id);
CREATE INDEX file_events_sharing ON file_events(connection_id, file_id, observed, id)
  WHERE action IN ('file-shared', 'file-unshared') OR exposure <> 0 OR link_scope IS NOT NULL;
