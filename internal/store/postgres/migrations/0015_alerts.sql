-- 0015 alert rules and alerts (issue 16, internal/alert). A rule is a search query plus a kind
-- (threshold or new_terms) whose parameters are JSON the alert package validates. The evaluator
-- follows events in id order from alert_position and writes alerts, alert_events, its pending
-- threshold matches, new terms and its new position in one transaction. Times are microseconds
-- (0: none). Keep in step with the other driver's migrations.
CREATE TABLE alert_rules (
  id BIGSERIAL PRIMARY KEY,
  name TEXT NOT NULL,
  name_key TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  query TEXT NOT NULL,
  kind TEXT NOT NULL,
  params TEXT NOT NULL DEFAULT '{}',
  severity TEXT NOT NULL,
  enabled BIGINT NOT NULL DEFAULT 0,
  template TEXT NOT NULL DEFAULT '',
  warning TEXT NOT NULL DEFAULT '',
  suppressed BIGINT NOT NULL DEFAULT 0,
  seeded BIGINT NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL,
  created_by TEXT NOT NULL DEFAULT '',
  updated_at BIGINT NOT NULL,
  updated_by TEXT NOT NULL DEFAULT '',
  version BIGINT NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX alert_rules_name ON alert_rules(name_key);

CREATE TABLE alerts (
  id BIGSERIAL PRIMARY KEY,
  rule_id BIGINT NOT NULL,
  rule_name TEXT NOT NULL,
  group_key TEXT NOT NULL,
  person TEXT NOT NULL DEFAULT '',
  state TEXT NOT NULL,
  resolution TEXT NOT NULL DEFAULT '',
  assignee TEXT NOT NULL DEFAULT '',
  severity TEXT NOT NULL,
  summary TEXT NOT NULL DEFAULT '',
  first_event_at BIGINT NOT NULL,
  last_event_at BIGINT NOT NULL,
  window_end BIGINT NOT NULL,
  event_count BIGINT NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  version BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX alerts_rule_group ON alerts(rule_id, group_key, window_end);
CREATE INDEX alerts_rule_created ON alerts(rule_id, created_at);
CREATE INDEX alerts_state ON alerts(state, id);
CREATE INDEX alerts_person ON alerts(person, id);

CREATE TABLE alert_events (
  alert_id BIGINT NOT NULL,
  event_id BIGINT NOT NULL,
  PRIMARY KEY (alert_id, event_id)
);

CREATE TABLE alert_changes (
  id BIGSERIAL PRIMARY KEY,
  alert_id BIGINT NOT NULL,
  at BIGINT NOT NULL,
  actor TEXT NOT NULL,
  field TEXT NOT NULL,
  from_value TEXT NOT NULL DEFAULT '',
  to_value TEXT NOT NULL DEFAULT '',
  note TEXT NOT NULL DEFAULT ''
);
CREATE INDEX alert_changes_alert ON alert_changes(alert_id, id);

-- Threshold matches of a group not yet enough for an alert, pruned as they leave the window.
CREATE TABLE alert_matches (
  rule_id BIGINT NOT NULL,
  group_key TEXT NOT NULL,
  event_id BIGINT NOT NULL,
  at BIGINT NOT NULL,
  file TEXT NOT NULL DEFAULT '',
  size BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (rule_id, group_key, event_id)
);

-- The terms a new_terms rule has seen, with when last.
CREATE TABLE alert_terms (
  rule_id BIGINT NOT NULL,
  term TEXT NOT NULL,
  last_seen BIGINT NOT NULL,
  PRIMARY KEY (rule_id, term)
);

CREATE TABLE alert_position (
  name TEXT PRIMARY KEY,
  after_id BIGINT NOT NULL
);
