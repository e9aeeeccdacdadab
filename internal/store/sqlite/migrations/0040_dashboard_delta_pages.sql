-- 0040 dashboard delta pages (issue 18). On PostgreSQL an event transaction inserts its dashboard
-- deltas as one row of arrays here. SQLite writes the counts directly in the event transaction and
-- leaves this table empty (as it leaves dash_deltas); it exists so that both drivers have one
-- schema (TestDriversHaveTheSameSchema). Keep in step with the other driver's migrations.
-- older-nodes: 39
CREATE TABLE IF NOT EXISTS dash_delta_pages (
    kind TEXT NOT NULL,
    span TEXT NOT NULL,
    at TEXT NOT NULL,
    value TEXT NOT NULL,
    vector TEXT NOT NULL,
    severity TEXT NOT NULL,
    category TEXT NOT NULL,
    trusted TEXT NOT NULL,
    events TEXT NOT NULL,
    risky TEXT NOT NULL
);
