-- 0006 event ids only grow (issue 4). An incremental export resumes after the last id it wrote, so
-- an event must never get an id at or below one already handed out. PostgreSQL's sequence never
-- goes back, and releasing held events takes new sequence values (sqldb.ReleaseHeld), so nothing
-- here needs the table: it keeps the schema the same as SQLite's, where it remembers the largest id
-- before events are deleted.
CREATE TABLE event_id_floor (
  k BIGINT PRIMARY KEY CHECK (k = 1),
  id BIGINT NOT NULL
);
