-- 0023 SIEM forwarding (issue 17, R8.7, internal/forward): destinations (Splunk HEC, syslog) with
-- their settings, sealed secrets, payload format and a durable position over the event log (the
-- largest event id the destination acknowledged), moved by compare-and-set with each batch.
-- Times are microseconds. Keep in step with the other driver's migrations.
CREATE TABLE forward_destinations (
  id BIGSERIAL PRIMARY KEY,
  name TEXT NOT NULL,
  name_key TEXT NOT NULL,
  kind TEXT NOT NULL,
  format TEXT NOT NULL,
  settings BYTEA,
  secrets BYTEA,
  paused BIGINT NOT NULL DEFAULT 0,
  position BIGINT NOT NULL DEFAULT 0,
  sent BIGINT NOT NULL DEFAULT 0,
  state TEXT NOT NULL DEFAULT 'ok',
  failures BIGINT NOT NULL DEFAULT 0,
  last_error TEXT NOT NULL DEFAULT '',
  last_error_at BIGINT NOT NULL DEFAULT 0,
  last_sent_at BIGINT NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL,
  created_by TEXT NOT NULL DEFAULT '',
  updated_at BIGINT NOT NULL,
  version BIGINT NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX forward_destinations_name ON forward_destinations(name_key);
