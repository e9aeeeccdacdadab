-- 0026 SIEM forwarding of alerts and the audit log (issue 17, R8.7, internal/forward): each
-- destination's position over each stream other than file events (whose position stays on
-- forward_destinations): the largest alert or audit entry id it acknowledged, moved by
-- compare-and-set with each batch. Times are microseconds. Keep in step with the other driver's.
CREATE TABLE forward_streams (
  destination_id INTEGER NOT NULL REFERENCES forward_destinations(id) ON DELETE CASCADE,
  stream TEXT NOT NULL,
  position INTEGER NOT NULL DEFAULT 0,
  sent INTEGER NOT NULL DEFAULT 0,
  last_sent_at INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (destination_id, stream)
);
