-- 0011 the hash queue: content to download and hash into stored events, written in the transaction
-- that stores those events, so that hashing runs off the activity stream and a slow download never
-- delays capture (issue 13, defect 1). One row per event to fill; drive_id and file_id are the
-- vendor's ids, part an opaque reference within the file (connector.ContentRef.Part). Keep in step
-- with the other driver's migrations.
CREATE TABLE hash_jobs (
  id INTEGER PRIMARY KEY,
  connection_id INTEGER NOT NULL,
  drive_id TEXT NOT NULL DEFAULT '',
  file_id TEXT NOT NULL,
  part TEXT NOT NULL DEFAULT '',
  event_id INTEGER NOT NULL,
  enqueued_at INTEGER NOT NULL
);
CREATE INDEX hash_jobs_connection ON hash_jobs(connection_id, id);
CREATE INDEX hash_jobs_file ON hash_jobs(connection_id, drive_id, file_id, part);
CREATE INDEX hash_jobs_event ON hash_jobs(event_id);
