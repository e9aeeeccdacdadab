-- 0039 fewer bytes per stored event (issue 19). On PostgreSQL the dedupe key becomes a uuid;
-- SQLite stores it as a 16-byte BLOB already (no header to save): nothing to do here.
SELECT 1;
