-- 0039 fewer bytes per stored event (issue 19). Keep in step with the other driver's migrations.
--
-- No older-nodes line: a node of schema 38 or before writes the dedupe key as bytea, which the
-- uuid columns below refuse, so Migrate does not apply this beside live older nodes (stop them
-- first; docs/OPERATIONS.md, "Upgrading").
--
-- The dedupe key (16 bytes, event.FileEvent.DedupeKey) as a fixed-width uuid instead of bytea, in
-- event_keys and in file_events: no varlena header and no padding to it. In event_keys that is 8
-- bytes less per event in the heap (a 24-byte tuple header + 16 is 40, MAXALIGNed 40, where 17
-- made 48) and 8 in its primary key (8 + 16 = 24 where 8 + 17 padded to 32). The key is the same
-- 16 bytes; uuid is only its type (the Go side passes and reads them as bytes: sqldb insertCopy).
-- One ALTER TABLE per table: PostgreSQL rewrites every partition of file_events once, with its
-- indexes. Applied again (a schema version set back), it changes nothing.
DO $$
BEGIN
  IF (SELECT atttypid FROM pg_attribute WHERE attrelid = 'event_keys'::regclass AND attname = 'dedupe') = 'bytea'::regtype THEN
    ALTER TABLE event_keys ALTER COLUMN dedupe TYPE uuid USING encode(dedupe, 'hex')::uuid;
  END IF;
  IF (SELECT atttypid FROM pg_attribute WHERE attrelid = 'file_events'::regclass AND attname = 'dedupe') = 'bytea'::regtype THEN
    ALTER TABLE file_events ALTER COLUMN dedupe TYPE uuid USING encode(dedupe, 'hex')::uuid;
  END IF;
END $$;
