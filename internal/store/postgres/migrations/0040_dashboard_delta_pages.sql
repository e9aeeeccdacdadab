-- 0040 dashboard delta pages. Issue 18, R8.4, docs/ARCHITECTURE.md "Dashboards". Keep in step with
-- the other driver's migrations.
--
-- older-nodes: 39
-- Nodes of schema 39 keep working beside it during a rolling upgrade: they append their deltas
-- to dash_deltas as before, which this version's fold folds and its reads add; their own reads
-- do not see the pages below until a newer node has folded them (the fold runs every 2 s), so
-- their dashboards lag that much behind, never more, and never count anything twice.
--
-- An event transaction on PostgreSQL appended one dash_deltas row per count its page changed
-- (about 2.4 per event), each a heap tuple with its own header and WAL record: the share of the
-- event transactions' time that the dashboards took (issue 18 measured 9-14 %). Now it inserts one
-- row here per transaction: the same deltas as parallel arrays, the i-th delta being (kind[i],
-- span[i], at[i], ..., risky[i]) with the columns of dash_deltas. The fold and the reads unnest
-- them (unnest with several arrays, FROM dash_delta_pages p, unnest(p.kind, p.span, ...)); the
-- fold deletes the pages it folds, in the transaction that upserts their sums, as it does the
-- rows of dash_deltas.
--
-- STORAGE EXTERNAL: a page's arrays (tens of kilobytes) are moved out of line uncompressed; the
-- pages live for seconds, so compressing them would cost CPU for disk that is freed at the fold.
CREATE TABLE IF NOT EXISTS dash_delta_pages (
    kind TEXT[] NOT NULL,
    span BIGINT[] NOT NULL,
    at BIGINT[] NOT NULL,
    value TEXT[] NOT NULL,
    vector TEXT[] NOT NULL,
    severity TEXT[] NOT NULL,
    category TEXT[] NOT NULL,
    trusted BIGINT[] NOT NULL,
    events BIGINT[] NOT NULL,
    risky BIGINT[] NOT NULL
);
ALTER TABLE dash_delta_pages
  ALTER COLUMN kind SET STORAGE EXTERNAL, ALTER COLUMN span SET STORAGE EXTERNAL,
  ALTER COLUMN at SET STORAGE EXTERNAL, ALTER COLUMN value SET STORAGE EXTERNAL,
  ALTER COLUMN vector SET STORAGE EXTERNAL, ALTER COLUMN severity SET STORAGE EXTERNAL,
  ALTER COLUMN category SET STORAGE EXTERNAL, ALTER COLUMN trusted SET STORAGE EXTERNAL,
  ALTER COLUMN events SET STORAGE EXTERNAL, ALTER COLUMN risky SET STORAGE EXTERNAL;
