-- 0045 event writers side by side: the event horizon (issue 19, several nodes; docs/ARCHITECTURE.md
-- "Event ids"). Keep in step with the other driver's migrations.
--
-- No older-nodes line: nodes of schema 44 and before insert events under the event lock held
-- exclusive and read events by id as if ids committed in order, which they no longer do once
-- writers of this release run side by side; and this release's followers cannot see where such
-- a node's ids begin. Stop every node, then start this release (Migrate refuses while older nodes
-- run).
--
-- Until 0044 every event transaction held one advisory lock (724202) from its first statement to
-- its commit, so that ids became visible in the order they were drawn: a follower of the events
-- (the alert evaluator, forwarding, an incremental export) that read up to id N never found an id
-- <= N later. That lock made every node's event writes one queue. Now a writer holds it shared
-- and, before it draws ids, takes a mark: a shared advisory lock on 2^62 + the id sequence's last
-- value, so every id it draws is above its mark (sqldb.Dialect.EventMark). A follower reads up to
-- the horizon this function returns: the smallest mark in flight, or the sequence's last value
-- when no writer is in flight; every id up to it that will ever be visible is visible now, to a
-- statement that starts after the function returned.
--
-- Why it holds: the sequence's value is read first, the marks second. A writer whose mark is
-- seen draws ids above it. A writer whose mark is not seen took it after the marks were read,
-- and draws its ids later still, above the value read first. A writer that had finished is
-- committed (PostgreSQL releases a transaction's locks after its commit is visible) or rolled
-- back. The moves that take the lock exclusive draw no ids (partitions) or take a mark too
-- (releasing held events).
CREATE OR REPLACE FUNCTION telltale_event_horizon() RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  s bigint;
  m bigint;
BEGIN
  SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END INTO s FROM file_events_id_seq;
  SELECT MIN(((l.classid::bigint << 32) | l.objid::bigint) - 4611686018427387904) INTO m
  FROM pg_locks l
  WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND l.classid::bigint >= 1073741824
    AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database());
  RETURN LEAST(s, COALESCE(m, s));
END $$;
