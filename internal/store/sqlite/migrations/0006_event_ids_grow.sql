-- 0006 event ids only grow (issue 4): an incremental export resumes after the last id it wrote, so
-- an event must never get an id at or below one already handed out.
--
-- SQLite gives a new row the largest rowid + 1, so deleting a connection whose events are the
-- newest would hand their ids out again. DeleteConnectionEvents records the largest id before it
-- deletes, and InsertEvents starts above it.
CREATE TABLE event_id_floor (
  k INTEGER PRIMARY KEY CHECK (k = 1),
  id INTEGER NOT NULL
);

-- Releasing events held during Maintenance gives them new ids after every stored event (they
-- become visible now: an export that has passed their old ids must still get them), so the name
-- index follows an id change too.
DROP TRIGGER file_events_name_update;
CREATE TRIGGER file_events_name_update AFTER UPDATE OF id, file_name ON file_events BEGIN
  INSERT INTO file_events_name(file_events_name, rowid, file_name) SELECT 'delete', old.id, old.file_name WHERE old.file_name IS NOT NULL; INSERT INTO file_events_name(rowid, file_name) SELECT new.id, new.file_name WHERE new.file_name IS NOT NULL; END;
