-- 0044 the events' actor and owner as ids into a table of addresses (issue 19: fewer bytes per
-- stored event; docs/ARCHITECTURE.md "Fewer bytes per stored event"). Keep in step with the
-- other driver's migrations.
--
-- No older-nodes line: a node of schema 43 or before writes the actor and owner as text.
--
-- An address is stored once in addresses, as first written (case kept: two spellings are two
-- rows, as they were two texts), and file_events holds actor_id and owner_id in place of the
-- texts; its two indexes on the actor hold the id too (file_events_actor: the id, then time, in
-- place of the lower-case address; file_events_observed). A search folds case on the addresses
-- (addresses_folded) and looks the ids up. SQLite cannot change a column's type: the table is
-- made again, the rows copied with their ids (the FTS5 name index, keyed by id, stays), the
-- indexes and triggers made again. A test that sets the schema version back puts the text
-- columns back first (storetest: restoreEventAddressText).
CREATE TABLE IF NOT EXISTS addresses (
  id INTEGER PRIMARY KEY,
  address TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS addresses_address ON addresses(address);
CREATE INDEX IF NOT EXISTS addresses_folded ON addresses(lower(COALESCE(address, '')));
INSERT INTO addresses (address) SELECT actor FROM file_events WHERE actor IS NOT NULL AND actor <> ''
  UNION SELECT owner FROM file_events WHERE owner IS NOT NULL AND owner <> ''
  ON CONFLICT (address) DO NOTHING;
CREATE TABLE file_events_0044 (
  id INTEGER PRIMARY KEY,
  dedupe BLOB NOT NULL,
  held INTEGER NOT NULL DEFAULT 0,
  observed INTEGER NOT NULL,
  inserted INTEGER NOT NULL,
  action INTEGER NOT NULL,
  observer INTEGER NOT NULL,
  connection_id INTEGER NOT NULL,
  actor_id INTEGER,
  file_id TEXT,
  file_name TEXT,
  directory TEXT,
  size INTEGER,
  category INTEGER,
  owner_id INTEGER,
  md5 BLOB,
  sha256 BLOB,
  exposure INTEGER NOT NULL DEFAULT 0,
  link_scope INTEGER,
  trusted INTEGER NOT NULL DEFAULT 0,
  severity INTEGER,
  doc BLOB NOT NULL
);
INSERT INTO file_events_0044 (id, dedupe, held, observed, inserted, action, observer, connection_id, actor_id, file_id, file_name,
  directory, size, category, owner_id, md5, sha256, exposure, link_scope, trusted, severity, doc)
SELECT f.id, f.dedupe, f.held, f.observed, f.inserted, f.action, f.observer, f.connection_id,
  (SELECT a.id FROM addresses a WHERE a.address = f.actor), f.file_id, f.file_name, f.directory, f.size, f.category,
  (SELECT a.id FROM addresses a WHERE a.address = f.owner), f.md5, f.sha256, f.exposure, f.link_scope, f.trusted, f.severity, f.doc
FROM file_events f ORDER BY f.id;
DROP TABLE file_events;
ALTER TABLE file_events_0044 RENAME TO file_events;
CREATE UNIQUE INDEX file_events_dedupe ON file_events(dedupe);
CREATE INDEX file_events_connection ON file_events(connection_id, id);
CREATE INDEX file_events_sha256 ON file_events(sha256) WHERE sha256 IS NOT NULL;
CREATE INDEX file_events_actor ON file_events(actor_id, observed, held);
CREATE INDEX file_events_exposed ON file_events(observed, exposure, held) WHERE exposure <> 0;
CREATE INDEX file_events_observed ON file_events(observed, held, actor_id);
CREATE INDEX file_events_sharing ON file_events(connection_id, file_id, observed, id)
  WHERE action IN (7, 8) OR exposure <> 0 OR link_scope IS NOT NULL;
CREATE TRIGGER file_events_name_insert AFTER INSERT ON file_events WHEN new.file_name IS NOT NULL BEGIN
  INSERT INTO file_events_name(rowid, file_name) VALUES (new.id, new.file_name); END;
CREATE TRIGGER file_events_name_delete AFTER DELETE ON file_events WHEN old.file_name IS NOT NULL BEGIN
  INSERT INTO file_events_name(file_events_name, rowid, file_name) VALUES ('delete', old.id, old.file_name); END;
CREATE TRIGGER file_events_name_update AFTER UPDATE OF id, file_name ON file_events BEGIN
  INSERT INTO file_events_name(file_events_name, rowid, file_name) SELECT 'delete', old.id, old.file_name WHERE old.file_name IS NOT NULL; INSERT INTO file_events_name(rowid, file_name) SELECT new.id, new.file_name WHERE new.file_name IS NOT NULL; END;
