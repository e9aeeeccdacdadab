-- 0005 search indexes (issue 4): the indexes the forensic-search reference queries need (see the
-- search section of docs/BENCHMARKS.md). Keep the index names in step with sqlite/migrations.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- actor: search compares translate(COALESCE(actor, ''), A-Z, a-z) (ASCII folding, sqldb/search.go),
-- which the plain (actor, observed) index cannot serve; the index is rebuilt on that exact expression.
-- INCLUDE (actor): PostgreSQL reads an expression index alone (an index-only count) only when the
-- columns inside the expression are in the index too.
DROP INDEX file_events_actor;
CREATE INDEX file_events_actor ON file_events ((translate(COALESCE(actor, ''), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')), observed, held) INCLUDE (actor);

-- exposure: the few events that exposed a file, newest first (search emits "exposure <> 0 AND ...").
-- held is in both indexes so that counts (CountSearch, held = 0) can read the index alone.
CREATE INDEX file_events_exposed ON file_events (observed, exposure, held) WHERE exposure <> 0;

-- file-name substrings: a pg_trgm GIN index on the folded name, the exact expression search's
-- LIKE uses (SQLite has an FTS5 trigram table of the same name).
CREATE INDEX file_events_name ON file_events USING gin ((translate(COALESCE(file_name, ''), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')) gin_trgm_ops);
