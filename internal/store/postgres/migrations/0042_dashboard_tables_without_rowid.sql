-- 0042 the dashboards' count tables as WITHOUT ROWID tables: SQLite's only (its 0042 says why);
-- PostgreSQL's tables are heaps with a primary key index, and this changes nothing. Keep in step
-- with the other driver's migrations.
--
-- older-nodes: 39
SELECT 1;
