-- 0037 dashboard deltas (the number assigned to this change is 0040; the loader wants no gaps).
-- Issue 18, R8.4, docs/ARCHITECTURE.md "Dashboards". Keep in step with the other driver's
-- migrations.
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
