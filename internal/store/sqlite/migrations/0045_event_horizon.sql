-- 0045 event writers side by side: PostgreSQL's only (its 0045 says why); SQLite has one writer,
-- whose ids are visible in the order they are drawn, and this changes nothing. Keep in step with
-- the other driver's migrations.
SELECT 1;
