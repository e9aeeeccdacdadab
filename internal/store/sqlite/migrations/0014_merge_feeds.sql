-- 0014 one event per action from two feeds (issue 14, Google Drive's changes and Reports API):
-- files.state is the vendor state a connector compares a new file state with to tell which action
-- it means (Drive: parent, sharing), opaque to the store. event_merge keeps, for a while, the keys
-- of events another feed of the same connection may report again: the second report enriches the
-- stored event instead of adding one (ingest, merge.go). feed is the feed that stored the event;
-- joined is set once the other feed has reported it. Times are microseconds. Keep in step with the
-- other driver's migrations.
ALTER TABLE files ADD COLUMN state TEXT NOT NULL DEFAULT '';
CREATE TABLE event_merge (
  id INTEGER PRIMARY KEY,
  connection_id INTEGER NOT NULL,
  file_id TEXT NOT NULL,
  action TEXT NOT NULL,
  observed INTEGER NOT NULL,
  actor TEXT NOT NULL DEFAULT '',
  target TEXT NOT NULL DEFAULT '',
  feed TEXT NOT NULL,
  event_id INTEGER NOT NULL,
  joined INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX event_merge_file ON event_merge(connection_id, file_id, observed);
CREATE INDEX event_merge_observed ON event_merge(observed);
