-- 0005 search indexes (issue 4): the indexes the forensic-search reference queries need (see the
-- search section of docs/BENCHMARKS.md). Keep the index names in step with postgres/migrations.
--
-- actor: search compares lower(COALESCE(actor, '')) (ASCII folding, sqldb/search.go), which the
-- plain (actor, observed) index cannot serve; the index is rebuilt on that exact expression.
DROP INDEX file_events_actor;
CREATE INDEX file_events_actor ON file_events(lower(COALESCE(actor, '')), observed, held);

-- exposure: the few events that exposed a file, newest first (search emits "exposure <> 0 AND ...").
-- held is in both indexes so that counts (CountSearch, held = 0) read the index alone.
CREATE INDEX file_events_exposed ON file_events(observed, exposure, held) WHERE exposure <> 0;

-- file-name substrings: an FTS5 trigram index over file_events.file_name (external content, no
-- positions: search re-checks every candidate with its exact LIKE). Triggers keep it in step; the
-- migration runner splits statements at ";" + newline, so a trigger's inner statements end mid-line.
CREATE VIRTUAL TABLE file_events_name USING fts5(file_name, content='file_events', content_rowid='id', tokenize='trigram', detail='none', columnsize=0);
INSERT INTO file_events_name(file_events_name) VALUES ('rebuild');
CREATE TRIGGER file_events_name_insert AFTER INSERT ON file_events WHEN new.file_name IS NOT NULL BEGIN
  INSERT INTO file_events_name(rowid, file_name) VALUES (new.id, new.file_name); END;
CREATE TRIGGER file_events_name_delete AFTER DELETE ON file_events WHEN old.file_name IS NOT NULL BEGIN
  INSERT INTO file_events_name(file_events_name, rowid, file_name) VALUES ('delete', old.id, old.file_name); END;
CREATE TRIGGER file_events_name_update AFTER UPDATE OF file_name ON file_events BEGIN
  INSERT INTO file_events_name(file_events_name, rowid, file_name) SELECT 'delete', old.id, old.file_name WHERE old.file_name IS NOT NULL; INSERT INTO file_events_name(rowid, file_name) SELECT new.id, new.file_name WHERE new.file_name IS NOT NULL; END;
