-- 0038 dashboard deltas and the devices' last health.
-- Issue 18, R8.4, docs/ARCHITECTURE.md "Dashboards". Keep in step with the other driver's
-- migrations.
--
-- older-nodes: 37
-- Nodes of schema 37 keep working beside it during a rolling upgrade: they write the counts
-- directly, which the fold's upserts and the reads add to; their check-ins leave health_last as
-- it was, so a newer node's next check-in of such a device may write one health row that repeats
-- the last.
--
-- On PostgreSQL an event transaction appends its changes of the dashboards' counts here by COPY
-- (no index, no conflict to resolve) instead of upserting dash_hours, dash_dims and
-- dash_person_risky; a background fold moves them into those tables (and dash_people) in one
-- transaction that deletes what it folds, so each delta is counted once. The reads add the
-- deltas not yet folded, so the views stay exact and current. kind is the table: h (dash_hours),
-- p, v, d (dash_dims), r (dash_person_risky). SQLite writes the counts directly and leaves this
-- table empty. IF NOT EXISTS: a test re-runs the migrations from 0036 on.
CREATE TABLE IF NOT EXISTS dash_deltas (
    kind TEXT NOT NULL,
    span INTEGER NOT NULL,
    at BIGINT NOT NULL,
    value TEXT NOT NULL DEFAULT '',
    vector TEXT NOT NULL DEFAULT '',
    severity TEXT NOT NULL DEFAULT '',
    category TEXT NOT NULL DEFAULT '',
    trusted INTEGER NOT NULL DEFAULT 0,
    events BIGINT NOT NULL DEFAULT 0,
    risky BIGINT NOT NULL DEFAULT 0
);

-- Issue 18, agents' check-ins: what a device's last health row says is kept on the devices row,
-- so a check-in that changes nothing is one update that reads no other table (RecordCheckIn).
-- health_last: the last row's host, OS, agent version, outdated flag and person, separated by
-- U+001F, if that row is a check-in (checked_in, outdated), else empty (enrolled, silent,
-- deactivated, reactivated: the next check-in writes a row). health_moved: whether the last
-- check-in changed health_last (the update's answer to RecordCheckIn).
ALTER TABLE devices ADD COLUMN IF NOT EXISTS health_last TEXT NOT NULL DEFAULT '';
ALTER TABLE devices ADD COLUMN IF NOT EXISTS health_moved INTEGER NOT NULL DEFAULT 0;
UPDATE devices SET health_last = COALESCE((SELECT CASE WHEN h.kind IN ('checked_in', 'outdated')
    THEN h.host_name || chr(31) || h.os || chr(31) || h.agent_version || chr(31) || h.outdated || chr(31) || h.person ELSE '' END
  FROM device_health h WHERE h.device_id = devices.id ORDER BY h.id DESC LIMIT 1), '');
