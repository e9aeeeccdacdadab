-- 0039 fewer bytes per stored event (issue 19). Keep in step with the other driver's migrations.
--
-- No older-nodes line: a node of schema 38 or before writes the dedupe key as bytea and the
-- vocabularies as text, which the columns below refuse, so Migrate does not apply this beside live
-- older nodes (stop them first; docs/OPERATIONS.md, "Upgrading").
--
-- The dedupe key (16 bytes, event.FileEvent.DedupeKey) as a fixed-width uuid instead of bytea, in
-- event_keys and in file_events: no varlena header and no padding to it. In event_keys that is 8
-- bytes less per event in the heap (a 24-byte tuple header + 16 is 40, MAXALIGNed 40, where 17
-- made 48) and 8 in its primary key (8 + 16 = 24 where 8 + 17 padded to 32). The key is the same
-- 16 bytes; uuid is only its type (the Go side passes and reads them as bytes: sqldb insertCopy).
--
-- The closed vocabularies as smallint codes instead of text: action, observer, category,
-- link_scope and severity hold the position of their value in the lists of sqldb/codes.go, from 1
-- (the storage format: the same mapping here, in the other driver's 0039 and in Go):
--   action: 1 file-created, 2 file-modified, 3 file-renamed, 4 file-moved, 5 file-deleted, 6 file-restored, 7 file-shared, 8 file-unshared, 9 file-downloaded, 10 file-viewed, 11 file-emailed
--   observer: 1 box, 2 google_drive, 3 onedrive, 4 gmail, 5 microsoft365_mail, 6 endpoint
--   category: 1 archive, 2 audio, 3 document, 4 executable, 5 image, 6 pdf, 7 presentation, 8 script, 9 source_code, 10 spreadsheet, 11 video, 12 virtual_disk, 13 email, 14 other
--   link_scope: 1 anyone, 2 organization, 3 specific, 4 none
--   severity: 1 none, 2 low, 3 moderate, 4 high, 5 critical
-- NULL stays NULL (no value). A value outside its list gets code 0 and its text goes into the
-- doc's "k" object (a, o, c, l, s), where the store reads it back and an equality search finds it;
-- the few such rows get their doc rewritten first (as jsonb text: the store reads either form).
-- The partial index file_events_sharing names two actions, so it is dropped and made again on the
-- codes (7 file-shared, 8 file-unshared).
--
-- One ALTER TABLE per table: PostgreSQL rewrites every partition of file_events once, partition
-- by partition, with its indexes (docs/OPERATIONS.md: how long per million events). Applied again
-- (a schema version set back), it changes nothing.
DO $$
BEGIN
  IF (SELECT atttypid FROM pg_attribute WHERE attrelid = 'event_keys'::regclass AND attname = 'dedupe') = 'bytea'::regtype THEN
    ALTER TABLE event_keys ALTER COLUMN dedupe TYPE uuid USING encode(dedupe, 'hex')::uuid;
  END IF;
  IF (SELECT atttypid FROM pg_attribute WHERE attrelid = 'file_events'::regclass AND attname = 'action') <> 'text'::regtype THEN
    RETURN; -- converted already
  END IF;
  UPDATE file_events SET doc = convert_to((convert_from(doc, 'UTF8')::jsonb || jsonb_build_object('k', jsonb_strip_nulls(jsonb_build_object(
    'a', CASE WHEN (action <> '' AND action NOT IN ('file-created', 'file-modified', 'file-renamed', 'file-moved', 'file-deleted', 'file-restored', 'file-shared', 'file-unshared', 'file-downloaded', 'file-viewed', 'file-emailed')) THEN action END,
    'o', CASE WHEN (observer <> '' AND observer NOT IN ('box', 'google_drive', 'onedrive', 'gmail', 'microsoft365_mail', 'endpoint')) THEN observer END,
    'c', CASE WHEN (category <> '' AND category NOT IN ('archive', 'audio', 'document', 'executable', 'image', 'pdf', 'presentation', 'script', 'source_code', 'spreadsheet', 'video', 'virtual_disk', 'email', 'other')) THEN category END,
    'l', CASE WHEN (link_scope <> '' AND link_scope NOT IN ('anyone', 'organization', 'specific', 'none')) THEN link_scope END,
    's', CASE WHEN (severity <> '' AND severity NOT IN ('none', 'low', 'moderate', 'high', 'critical')) THEN severity END))))::text, 'UTF8')
  WHERE (action <> '' AND action NOT IN ('file-created', 'file-modified', 'file-renamed', 'file-moved', 'file-deleted', 'file-restored', 'file-shared', 'file-unshared', 'file-downloaded', 'file-viewed', 'file-emailed')) OR (observer <> '' AND observer NOT IN ('box', 'google_drive', 'onedrive', 'gmail', 'microsoft365_mail', 'endpoint')) OR (category <> '' AND category NOT IN ('archive', 'audio', 'document', 'executable', 'image', 'pdf', 'presentation', 'script', 'source_code', 'spreadsheet', 'video', 'virtual_disk', 'email', 'other')) OR (link_scope <> '' AND link_scope NOT IN ('anyone', 'organization', 'specific', 'none')) OR (severity <> '' AND severity NOT IN ('none', 'low', 'moderate', 'high', 'critical'));
  DROP INDEX IF EXISTS file_events_sharing;
  ALTER TABLE file_events
    ALTER COLUMN dedupe TYPE uuid USING encode(dedupe, 'hex')::uuid,
    ALTER COLUMN action TYPE smallint USING (CASE action WHEN 'file-created' THEN 1 WHEN 'file-modified' THEN 2 WHEN 'file-renamed' THEN 3 WHEN 'file-moved' THEN 4 WHEN 'file-deleted' THEN 5 WHEN 'file-restored' THEN 6 WHEN 'file-shared' THEN 7 WHEN 'file-unshared' THEN 8 WHEN 'file-downloaded' THEN 9 WHEN 'file-viewed' THEN 10 WHEN 'file-emailed' THEN 11 ELSE 0 END),
    ALTER COLUMN observer TYPE smallint USING (CASE observer WHEN 'box' THEN 1 WHEN 'google_drive' THEN 2 WHEN 'onedrive' THEN 3 WHEN 'gmail' THEN 4 WHEN 'microsoft365_mail' THEN 5 WHEN 'endpoint' THEN 6 ELSE 0 END),
    ALTER COLUMN category TYPE smallint USING (CASE WHEN category IS NULL OR category = '' THEN NULL WHEN category = 'archive' THEN 1 WHEN category = 'audio' THEN 2 WHEN category = 'document' THEN 3 WHEN category = 'executable' THEN 4 WHEN category = 'image' THEN 5 WHEN category = 'pdf' THEN 6 WHEN category = 'presentation' THEN 7 WHEN category = 'script' THEN 8 WHEN category = 'source_code' THEN 9 WHEN category = 'spreadsheet' THEN 10 WHEN category = 'video' THEN 11 WHEN category = 'virtual_disk' THEN 12 WHEN category = 'email' THEN 13 WHEN category = 'other' THEN 14 ELSE 0 END),
    ALTER COLUMN link_scope TYPE smallint USING (CASE WHEN link_scope IS NULL OR link_scope = '' THEN NULL WHEN link_scope = 'anyone' THEN 1 WHEN link_scope = 'organization' THEN 2 WHEN link_scope = 'specific' THEN 3 WHEN link_scope = 'none' THEN 4 ELSE 0 END),
    ALTER COLUMN severity TYPE smallint USING (CASE WHEN severity IS NULL OR severity = '' THEN NULL WHEN severity = 'none' THEN 1 WHEN severity = 'low' THEN 2 WHEN severity = 'moderate' THEN 3 WHEN severity = 'high' THEN 4 WHEN severity = 'critical' THEN 5 ELSE 0 END);
  CREATE INDEX file_events_sharing ON file_events (connection_id, file_id, observed, id)
    WHERE action IN (7, 8) OR exposure <> 0 OR link_scope IS NOT NULL;
END $$;
