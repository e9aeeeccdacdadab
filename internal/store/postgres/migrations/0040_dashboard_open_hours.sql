-- 0040 the dashboards' open hours. Issue 18, R8.4, docs/ARCHITECTURE.md "Dashboards". Keep in
-- step with the other driver's migrations.
--
-- older-nodes: 39
-- Nodes of schema 39 keep working beside it during a rolling upgrade: they append the days'
-- deltas with the hours' to dash_deltas, which every fold folds as before; they neither read nor
-- fold the two tables below, so while they run their dashboards miss the newer nodes' counts not
-- yet folded into the count tables (the last hours at most), and a newer node folds them.
--
-- On PostgreSQL an event transaction appends its changes of the hours' counts only, by COPY, to
-- dash_hour_deltas (no index); the days and weeks they belong to are derived, not written. The
-- fold moves a delta of an hour that is over into every bucket it belongs to (hour, day, week),
-- as for dash_deltas; a delta of an open hour (the current hour and the two before) it adds to
-- its hour's row of dash_open_hours only, and the fold after the hour closes moves that row into
-- the hour's, day's and week's counts at once. A busy person's day and week rows are then
-- rewritten once an hour instead of at every fold. The reads add the open hours' rows and the
-- deltas not yet folded to every bucket they belong to, so the views stay exact and current.
-- kind is the count table, as in dash_deltas: h (dash_hours), p, v, d (dash_dims), r
-- (dash_person_risky). SQLite writes the counts directly and leaves both tables empty.
-- IF NOT EXISTS: a test re-runs the migrations from 0036 on.
CREATE TABLE IF NOT EXISTS dash_hour_deltas (
    kind TEXT NOT NULL,
    at BIGINT NOT NULL,
    value TEXT NOT NULL DEFAULT '',
    vector TEXT NOT NULL DEFAULT '',
    severity TEXT NOT NULL DEFAULT '',
    category TEXT NOT NULL DEFAULT '',
    trusted INTEGER NOT NULL DEFAULT 0,
    events BIGINT NOT NULL DEFAULT 0,
    risky BIGINT NOT NULL DEFAULT 0
);

-- The open hours' sums, one row per count row of an hour (its at first: the fold moves the
-- closed hours by a range of the key).
CREATE TABLE IF NOT EXISTS dash_open_hours (
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    vector TEXT NOT NULL,
    severity TEXT NOT NULL,
    category TEXT NOT NULL,
    trusted INTEGER NOT NULL,
    events BIGINT NOT NULL,
    risky BIGINT NOT NULL,
    PRIMARY KEY (at, kind, value, vector, severity, category, trusted)
);
