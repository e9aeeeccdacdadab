-- Collection (issue 3): vendor records already ingested (dedupe across pages and coalesced events,
-- R3.8) and when discovery last saw each drive (drives not seen leave scope, R2.7).
CREATE TABLE vendor_records (
  connection_id INTEGER NOT NULL,
  vendor_id TEXT NOT NULL,
  seen_at INTEGER NOT NULL,
  PRIMARY KEY (connection_id, vendor_id)
);
CREATE INDEX vendor_records_seen ON vendor_records(seen_at);

ALTER TABLE drives ADD COLUMN seen_at INTEGER NOT NULL DEFAULT 0;
