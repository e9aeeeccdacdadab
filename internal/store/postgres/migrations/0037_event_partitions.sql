-- 0037 file_events partitioned by month on observed (issue 19).
--
-- Searches bound on observed (the vendor's time), and retention removes the oldest months, so the
-- table is a declarative RANGE partition per calendar month (UTC) of observed, named
-- file_events_pYYYYMM, plus file_events_default for anything outside them (an event far in the past
-- or future is never refused). The store creates the current month and the next three at start and
-- from the lifecycle unit every minute (telltale_event_partitions below); a month created after rows
-- for it reached the default partition takes those rows with it. Monthly rather than weekly: a look-up
-- by id (GetEvent, exports by id, cases) probes every partition's id index, and a month holds up to
-- ~10 M events at 100 M a year, where a search bounded to days still prunes to one or two partitions.
--
-- A unique index on a partitioned table must contain the partition key, and the dedupe key does
-- not determine the time (an event with a vendor id is keyed by observer, connection and that id;
-- a vendor may send the same record again with another time), so exact dedupe across partitions
-- lives in its own table, event_keys, written in the same transaction as the event (sqldb
-- insertCopy) and cleared with it (deleteEvents, DropEventsBefore). file_events keeps its key
-- (dedupe) so that a dropped month's keys can be found.
--
-- Narrower rows: the 8-byte columns first, then the small ones, then the variable ones (no
-- alignment padding between them); held, trusted and exposure are smallint (they were bigint); no
-- primary key (it would have to include observed): id is unique by the sequence and indexed.
--
-- An existing table is converted here: its rows are copied into the partitions (the months present,
-- within 30 years back and 2 years ahead; the rest to the default partition) before the indexes are
-- built. docs/OPERATIONS.md says how long that takes per million events. Applied again to a table
-- already partitioned (a schema version set back), it changes nothing.

-- telltale_event_month creates the partition of the month starting at m (UTC) unless it exists,
-- moving in the rows the default partition holds for that month; true when it created one.
CREATE OR REPLACE FUNCTION telltale_event_month(m date) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
  t0 timestamp := date_trunc('month', m::timestamp);
  lo bigint := (extract(epoch FROM t0 AT TIME ZONE 'UTC') * 1000000)::bigint;
  hi bigint := (extract(epoch FROM (t0 + interval '1 month') AT TIME ZONE 'UTC') * 1000000)::bigint;
  part text := 'file_events_p' || to_char(t0, 'YYYYMM');
BEGIN
  IF to_regclass(part) IS NOT NULL THEN
    RETURN false;
  END IF;
  EXECUTE format('CREATE TABLE %I (LIKE file_events INCLUDING DEFAULTS)', part);
  EXECUTE format('WITH m AS (DELETE FROM file_events_default WHERE observed >= %s AND observed < %s RETURNING *) INSERT INTO %I SELECT * FROM m', lo, hi, part);
  EXECUTE format('ALTER TABLE file_events ATTACH PARTITION %I FOR VALUES FROM (%s) TO (%s)', part, lo, hi);
  RETURN true;
END $$;

-- telltale_event_partitions creates the partitions of the month holding at and of the ahead months
-- after it that do not exist yet, and returns how many it created. Nodes calling it at once wait
-- for each other (the advisory lock).
CREATE OR REPLACE FUNCTION telltale_event_partitions(at timestamptz, ahead int) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
  n int := 0;
BEGIN
  PERFORM pg_advisory_xact_lock(724203);
  FOR i IN 0..ahead LOOP
    IF telltale_event_month((date_trunc('month', at AT TIME ZONE 'UTC') + make_interval(months => i))::date) THEN
      n := n + 1;
    END IF;
  END LOOP;
  RETURN n;
END $$;

DO $$
DECLARE
  m date;
BEGIN
  IF (SELECT relkind FROM pg_class WHERE oid = 'file_events'::regclass) = 'p' THEN
    RETURN; -- converted already
  END IF;
  ALTER TABLE file_events RENAME TO file_events_old;
  ALTER TABLE file_events_old RENAME CONSTRAINT file_events_pkey TO file_events_old_pkey;
  DROP INDEX IF EXISTS file_events_dedupe, file_events_observed, file_events_actor, file_events_connection,
    file_events_sha256, file_events_exposed, file_events_name, file_events_sharing;

  CREATE TABLE file_events (
    id BIGINT NOT NULL DEFAULT nextval('file_events_id_seq'),
    observed BIGINT NOT NULL,
    inserted BIGINT NOT NULL,
    connection_id BIGINT NOT NULL,
    size BIGINT,
    held SMALLINT NOT NULL DEFAULT 0,
    trusted SMALLINT NOT NULL DEFAULT 0,
    exposure SMALLINT NOT NULL DEFAULT 0,
    dedupe BYTEA NOT NULL,
    action TEXT NOT NULL,
    observer TEXT NOT NULL,
    actor TEXT,
    file_id TEXT,
    file_name TEXT,
    directory TEXT,
    category TEXT,
    owner TEXT,
    md5 BYTEA,
    sha256 BYTEA,
    link_scope TEXT,
    severity TEXT,
    doc BYTEA NOT NULL
  ) PARTITION BY RANGE (observed);
  ALTER SEQUENCE file_events_id_seq OWNED BY file_events.id;
  CREATE TABLE file_events_default PARTITION OF file_events DEFAULT;
  -- event_keys: every stored event's dedupe key, unique across partitions.
  CREATE TABLE event_keys (dedupe BYTEA PRIMARY KEY);

  -- The months present (30 years back to 2 years ahead; the rest go to the default partition)
  -- and the months ahead, then the rows, then the indexes, built once over them.
  FOR m IN SELECT DISTINCT date_trunc('month', to_timestamp(observed / 1000000.0) AT TIME ZONE 'UTC')::date FROM file_events_old
    WHERE observed >= (extract(epoch FROM now() - interval '30 years') * 1000000)::bigint
      AND observed < (extract(epoch FROM now() + interval '2 years') * 1000000)::bigint
  LOOP
    PERFORM telltale_event_month(m);
  END LOOP;
  PERFORM telltale_event_partitions(now(), 3);
  INSERT INTO file_events (id, observed, inserted, connection_id, size, held, trusted, exposure, dedupe, action, observer, actor,
    file_id, file_name, directory, category, owner, md5, sha256, link_scope, severity, doc)
  SELECT id, observed, inserted, connection_id, size, held, trusted, exposure, dedupe, action, observer, actor,
    file_id, file_name, directory, category, owner, md5, sha256, link_scope, severity, doc FROM file_events_old;
  INSERT INTO event_keys (dedupe) SELECT dedupe FROM file_events_old;
  DROP TABLE file_events_old;

  -- The indexes of 0001, 0005, 0007 and 0018, on every partition (and on each one created later),
  -- except the unique dedupe index (event_keys) and the primary key (id is indexed).
  CREATE INDEX file_events_id ON file_events (id);
  CREATE INDEX file_events_observed ON file_events (observed) INCLUDE (held, actor);
  CREATE INDEX file_events_actor ON file_events ((translate(COALESCE(actor, ''), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')), observed, held) INCLUDE (actor);
  CREATE INDEX file_events_connection ON file_events (connection_id, id);
  CREATE INDEX file_events_sha256 ON file_events (sha256) WHERE sha256 IS NOT NULL;
  CREATE INDEX file_events_exposed ON file_events (observed, exposure, held) WHERE exposure <> 0;
  CREATE INDEX file_events_name ON file_events USING gin ((translate(COALESCE(file_name, ''), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')) gin_trgm_ops);
  CREATE INDEX file_events_sharing ON file_events (connection_id, file_id, observed, id)
    WHERE action IN ('file-shared', 'file-unshared') OR exposure <> 0 OR link_scope IS NOT NULL;
END $$;
