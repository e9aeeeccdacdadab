-- 0017 automated integrations (issue 17, R7, internal/integration): integrations (a generic
-- webhook, Slack) with their settings and sealed secrets, flows from "alert raised" to
-- integrations, and the outbox rows that are their deliveries (integration, subject, the vendor's
-- last answer). Times are microseconds. Keep in step with the other driver's migrations.
CREATE TABLE integrations (
  id INTEGER PRIMARY KEY,
  kind TEXT NOT NULL,
  name TEXT NOT NULL,
  name_key TEXT NOT NULL,
  settings BLOB,
  secrets BLOB,
  status TEXT NOT NULL,
  last_error TEXT NOT NULL DEFAULT '',
  last_error_at INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  created_by TEXT NOT NULL DEFAULT '',
  updated_at INTEGER NOT NULL,
  version INTEGER NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX integrations_name ON integrations(name_key);

CREATE TABLE flows (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  name_key TEXT NOT NULL,
  enabled INTEGER NOT NULL DEFAULT 1,
  min_severity TEXT NOT NULL DEFAULT '',
  rule_ids TEXT NOT NULL DEFAULT '',
  query TEXT NOT NULL DEFAULT '',
  integration_ids TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL,
  created_by TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX flows_name ON flows(name_key);

ALTER TABLE outbox ADD COLUMN integration_id INTEGER NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN subject TEXT NOT NULL DEFAULT '';
ALTER TABLE outbox ADD COLUMN response TEXT NOT NULL DEFAULT '';
CREATE INDEX outbox_integration ON outbox(integration_id, id);
