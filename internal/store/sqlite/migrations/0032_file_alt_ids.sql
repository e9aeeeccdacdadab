-- 0032 files.alt_id is another id the vendor names the file by (OneDrive: the SharePoint list
-- item's UniqueId, the GUID Audit.SharePoint records name files by), so that a connector finds an
-- indexed file by it in the store instead of keeping a map of every file in memory (issue 15,
-- memory flat in the number of drives). '' when the vendor has none. The index is by drive: a
-- crawl page's random GUIDs then land in one drive's part of it, which costs a crawl 2-10 % more
-- CPU where an index by connection cost 25 % (telltale-bench microsoft (b), docs/BENCHMARKS.md).
-- Keep in step with the other driver's migrations.
ALTER TABLE files ADD COLUMN alt_id TEXT NOT NULL DEFAULT '';
CREATE INDEX files_alt ON files(drive_id, alt_id) WHERE alt_id <> '';
