-- 0039 fewer bytes per stored event (issue 19). Keep in step with the other driver's migrations.
--
-- No older-nodes line: a node of schema 38 or before writes the vocabularies as text.
--
-- The closed vocabularies as integer codes instead of text: action, observer, category,
-- link_scope and severity hold the position of their value in the lists of sqldb/codes.go, from 1
-- (the storage format: the same mapping here, in the other driver's 0039 and in Go):
--   action: 1 file-created, 2 file-modified, 3 file-renamed, 4 file-moved, 5 file-deleted, 6 file-restored, 7 file-shared, 8 file-unshared, 9 file-downloaded, 10 file-viewed, 11 file-emailed
--   observer: 1 box, 2 google_drive, 3 onedrive, 4 gmail, 5 microsoft365_mail, 6 endpoint
--   category: 1 archive, 2 audio, 3 document, 4 executable, 5 image, 6 pdf, 7 presentation, 8 script, 9 source_code, 10 spreadsheet, 11 video, 12 virtual_disk, 13 email, 14 other
--   link_scope: 1 anyone, 2 organization, 3 specific, 4 none
--   severity: 1 none, 2 low, 3 moderate, 4 high, 5 critical
-- NULL stays NULL. A value outside its list gets code 0 and its text goes into the doc's "k"
-- object (a, o, c, l, s), where the store reads it back and an equality search finds it.
-- SQLite cannot change a column's type: the table is made again with INTEGER columns (a TEXT
-- column would turn a code back into text), the rows copied with their ids (the FTS5 name index
-- is keyed by id and stays as it is), and the indexes and triggers made again. The dedupe key
-- stays a 16-byte BLOB (PostgreSQL's becomes a uuid here: no header to save on SQLite). Applied
-- again (a schema version set back), it keeps the codes (typeof: a code is an integer, a value
-- not converted yet is text) and only makes the table again.
UPDATE file_events SET doc = CAST(json_patch(CAST(doc AS TEXT), json_object('k', json_patch('{}', json_object(
  'a', CASE WHEN (typeof(action) = 'text' AND action <> '' AND action NOT IN ('file-created', 'file-modified', 'file-renamed', 'file-moved', 'file-deleted', 'file-restored', 'file-shared', 'file-unshared', 'file-downloaded', 'file-viewed', 'file-emailed')) THEN action END,
  'o', CASE WHEN (typeof(observer) = 'text' AND observer <> '' AND observer NOT IN ('box', 'google_drive', 'onedrive', 'gmail', 'microsoft365_mail', 'endpoint')) THEN observer END,
  'c', CASE WHEN (typeof(category) = 'text' AND category <> '' AND category NOT IN ('archive', 'audio', 'document', 'executable', 'image', 'pdf', 'presentation', 'script', 'source_code', 'spreadsheet', 'video', 'virtual_disk', 'email', 'other')) THEN category END,
  'l', CASE WHEN (typeof(link_scope) = 'text' AND link_scope <> '' AND link_scope NOT IN ('anyone', 'organization', 'specific', 'none')) THEN link_scope END,
  's', CASE WHEN (typeof(severity) = 'text' AND severity <> '' AND severity NOT IN ('none', 'low', 'moderate', 'high', 'critical')) THEN severity END)))) AS BLOB)
WHERE (typeof(action) = 'text' AND action <> '' AND action NOT IN ('file-created', 'file-modified', 'file-renamed', 'file-moved', 'file-deleted', 'file-restored', 'file-shared', 'file-unshared', 'file-downloaded', 'file-viewed', 'file-emailed')) OR (typeof(observer) = 'text' AND observer <> '' AND observer NOT IN ('box', 'google_drive', 'onedrive', 'gmail', 'microsoft365_mail', 'endpoint')) OR (typeof(category) = 'text' AND category <> '' AND category NOT IN ('archive', 'audio', 'document', 'executable', 'image', 'pdf', 'presentation', 'script', 'source_code', 'spreadsheet', 'video', 'virtual_disk', 'email', 'other')) OR (typeof(link_scope) = 'text' AND link_scope <> '' AND link_scope NOT IN ('anyone', 'organization', 'specific', 'none')) OR (typeof(severity) = 'text' AND severity <> '' AND severity NOT IN ('none', 'low', 'moderate', 'high', 'critical'));
CREATE TABLE file_events_0039 (
  id INTEGER PRIMARY KEY,
  dedupe BLOB NOT NULL,
  held INTEGER NOT NULL DEFAULT 0,
  observed INTEGER NOT NULL,
  inserted INTEGER NOT NULL,
  action INTEGER NOT NULL,
  observer INTEGER NOT NULL,
  connection_id INTEGER NOT NULL,
  actor TEXT,
  file_id TEXT,
  file_name TEXT,
  directory TEXT,
  size INTEGER,
  category INTEGER,
  owner TEXT,
  md5 BLOB,
  sha256 BLOB,
  exposure INTEGER NOT NULL DEFAULT 0,
  link_scope INTEGER,
  trusted INTEGER NOT NULL DEFAULT 0,
  severity INTEGER,
  doc BLOB NOT NULL
);
INSERT INTO file_events_0039 (id, dedupe, held, observed, inserted, action, observer, connection_id, actor, file_id, file_name,
  directory, size, category, owner, md5, sha256, exposure, link_scope, trusted, severity, doc)
SELECT id, dedupe, held, observed, inserted,
  CASE WHEN typeof(action) = 'integer' THEN action WHEN action = 'file-created' THEN 1 WHEN action = 'file-modified' THEN 2 WHEN action = 'file-renamed' THEN 3 WHEN action = 'file-moved' THEN 4 WHEN action = 'file-deleted' THEN 5 WHEN action = 'file-restored' THEN 6 WHEN action = 'file-shared' THEN 7 WHEN action = 'file-unshared' THEN 8 WHEN action = 'file-downloaded' THEN 9 WHEN action = 'file-viewed' THEN 10 WHEN action = 'file-emailed' THEN 11 ELSE 0 END,
  CASE WHEN typeof(observer) = 'integer' THEN observer WHEN observer = 'box' THEN 1 WHEN observer = 'google_drive' THEN 2 WHEN observer = 'onedrive' THEN 3 WHEN observer = 'gmail' THEN 4 WHEN observer = 'microsoft365_mail' THEN 5 WHEN observer = 'endpoint' THEN 6 ELSE 0 END,
  connection_id, actor, file_id, file_name, directory, size,
  CASE WHEN typeof(category) = 'integer' THEN category WHEN category IS NULL OR category = '' THEN NULL WHEN category = 'archive' THEN 1 WHEN category = 'audio' THEN 2 WHEN category = 'document' THEN 3 WHEN category = 'executable' THEN 4 WHEN category = 'image' THEN 5 WHEN category = 'pdf' THEN 6 WHEN category = 'presentation' THEN 7 WHEN category = 'script' THEN 8 WHEN category = 'source_code' THEN 9 WHEN category = 'spreadsheet' THEN 10 WHEN category = 'video' THEN 11 WHEN category = 'virtual_disk' THEN 12 WHEN category = 'email' THEN 13 WHEN category = 'other' THEN 14 ELSE 0 END,
  owner, md5, sha256, exposure,
  CASE WHEN typeof(link_scope) = 'integer' THEN link_scope WHEN link_scope IS NULL OR link_scope = '' THEN NULL WHEN link_scope = 'anyone' THEN 1 WHEN link_scope = 'organization' THEN 2 WHEN link_scope = 'specific' THEN 3 WHEN link_scope = 'none' THEN 4 ELSE 0 END,
  trusted,
  CASE WHEN typeof(severity) = 'integer' THEN severity WHEN severity IS NULL OR severity = '' THEN NULL WHEN severity = 'none' THEN 1 WHEN severity = 'low' THEN 2 WHEN severity = 'moderate' THEN 3 WHEN severity = 'high' THEN 4 WHEN severity = 'critical' THEN 5 ELSE 0 END,
  doc FROM file_events ORDER BY id;
DROP TABLE file_events;
ALTER TABLE file_events_0039 RENAME TO file_events;
CREATE UNIQUE INDEX file_events_dedupe ON file_events(dedupe);
CREATE INDEX file_events_connection ON file_events(connection_id, id);
CREATE INDEX file_events_sha256 ON file_events(sha256) WHERE sha256 IS NOT NULL;
CREATE INDEX file_events_actor ON file_events(lower(COALESCE(actor, '')), observed, held);
CREATE INDEX file_events_exposed ON file_events(observed, exposure, held) WHERE exposure <> 0;
CREATE INDEX file_events_observed ON file_events(observed, held, actor);
CREATE INDEX file_events_sharing ON file_events(connection_id, file_id, observed, id)
  WHERE action IN (7, 8) OR exposure <> 0 OR link_scope IS NOT NULL;
CREATE TRIGGER file_events_name_insert AFTER INSERT ON file_events WHEN new.file_name IS NOT NULL BEGIN
  INSERT INTO file_events_name(rowid, file_name) VALUES (new.id, new.file_name); END;
CREATE TRIGGER file_events_name_delete AFTER DELETE ON file_events WHEN old.file_name IS NOT NULL BEGIN
  INSERT INTO file_events_name(file_events_name, rowid, file_name) VALUES ('delete', old.id, old.file_name); END;
CREATE TRIGGER file_events_name_update AFTER UPDATE OF id, file_name ON file_events BEGIN
  INSERT INTO file_events_name(file_events_name, rowid, file_name) SELECT 'delete', old.id, old.file_name WHERE old.file_name IS NOT NULL; INSERT INTO file_events_name(rowid, file_name) SELECT new.id, new.file_name WHERE new.file_name IS NOT NULL; END;
