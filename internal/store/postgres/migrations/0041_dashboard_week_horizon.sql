-- 0041 the dashboards' week horizon. Issue 18, R8.4, docs/ARCHITECTURE.md "The week horizon".
-- Keep in step with the other driver's migrations.
--
-- older-nodes: 39
-- Nodes of schema 39 and 40 keep working beside it during a rolling upgrade. They write (or fold
-- into) the week rows of every week, this one's too; the newer nodes read no week row at or after
-- the horizon and replace those rows when the week closes, so the older nodes' writes change
-- nothing they answer. The older nodes read the week rows of whole weeks: while they run, their
-- totals over a week that has ended but not closed yet (until the first fold after Tuesday 02:00
-- UTC) miss the newer nodes' counts of it.
--
-- The weeks before the horizon (an hour, the Monday 00:00 UTC a week starts at) have their week
-- rows in dash_hours and dash_dims, as before; a week at or after it has none a read takes: the
-- reads sum its day rows instead. A fold (PostgreSQL) or an event transaction (SQLite) writes
-- the week rows of the weeks before the horizon only (a late event's); the first fold a day after
-- a week is over (Tuesday 02:00 UTC, so that a day's backlog stored on a Monday still falls in a
-- week not closed) makes the week's rows from its day rows, once, and moves the horizon past it
-- in the same transaction. So the busy weeks' rows are written once a week,
-- instead of by every fold (or event transaction) that touches one of their days.
CREATE TABLE IF NOT EXISTS dash_week_horizon (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    at BIGINT NOT NULL
);

-- The week a close as of now would stop at (closingWeek: the week of the hour 26 hours ago):
-- every week before it has its rows (the nodes before this one wrote them all).
INSERT INTO dash_week_horizon (id, at)
SELECT 1, h - (((h - 96) % 168) + 168) % 168 FROM (SELECT floor(extract(epoch FROM now()) / 3600)::bigint - 26 AS h) n
ON CONFLICT (id) DO NOTHING;
