-- 0027 HR sources (issue 17, R7.2, internal/hr): the sync state of each HR source (an integration of
-- kind workday, bamboohr, hr_csv or hr_webhook): its cursor, last sync and its outcome; the HR
-- system's employee ids it has seen with their addresses (a deleted BambooHR employee is named by
-- id only); the history of watchlist changes per person shown on the person's page; and the
-- trigger of a flow (alert.raised, watchlist.changed or hr.departure). Times are microseconds.
-- Keep in step with the other driver's migrations.
CREATE TABLE hr_sync (
  integration_id BIGINT PRIMARY KEY,
  sync_cursor TEXT NOT NULL DEFAULT '',
  last_sync_at BIGINT NOT NULL DEFAULT 0,
  last_ok_at BIGINT NOT NULL DEFAULT 0,
  summary TEXT NOT NULL DEFAULT ''
);

CREATE TABLE hr_people (
  integration_id BIGINT NOT NULL,
  external_id TEXT NOT NULL,
  email TEXT NOT NULL,
  PRIMARY KEY (integration_id, external_id)
);

CREATE TABLE person_history (
  id BIGSERIAL PRIMARY KEY,
  email TEXT NOT NULL,
  at BIGINT NOT NULL,
  watchlist_id BIGINT NOT NULL,
  action TEXT NOT NULL,
  departure_date TEXT NOT NULL DEFAULT '',
  source TEXT NOT NULL DEFAULT '',
  actor TEXT NOT NULL DEFAULT ''
);
CREATE INDEX person_history_email ON person_history(email, id);

ALTER TABLE flows ADD COLUMN trigger_kind TEXT NOT NULL DEFAULT 'alert.raised';
