-- 0020 event updates: a merge (ingest, two feeds) rewrites a stored event in place; each rewrite
-- appends a row here, in commit order, so the alert evaluator (internal/alert) evaluates the
-- enriched event again (position "updates" in alert_position). Rows the evaluator has passed are
-- deleted by it. Keep in step with the other driver's migrations.
CREATE TABLE event_updates (
  seq INTEGER PRIMARY KEY,
  event_id INTEGER NOT NULL,
  at INTEGER NOT NULL
);
