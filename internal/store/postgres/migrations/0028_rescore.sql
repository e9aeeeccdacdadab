-- 0028 risk re-score jobs (issue 16, docs/RISK.md "Re-scoring stored events"): an admin applies the
-- current risk settings to the events observed in [from_at, to_at) and stored up to max_id. The
-- job's position (after_observed, after_id) moves in (observed, id) order in the transaction that
-- rewrites each page of events, so a crash resumes where the last page committed. Times are
-- microseconds, 0 = never. Keep in step with the other driver's migrations.
CREATE TABLE rescore_jobs (
  id BIGSERIAL PRIMARY KEY,
  from_at BIGINT NOT NULL,
  to_at BIGINT NOT NULL,
  settings TEXT NOT NULL,
  state TEXT NOT NULL,
  max_id BIGINT NOT NULL,
  after_observed BIGINT NOT NULL DEFAULT 0,
  after_id BIGINT NOT NULL DEFAULT 0,
  total BIGINT NOT NULL DEFAULT 0,
  scanned BIGINT NOT NULL DEFAULT 0,
  changed BIGINT NOT NULL DEFAULT 0,
  error TEXT NOT NULL DEFAULT '',
  created_by TEXT NOT NULL DEFAULT '',
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  finished_at BIGINT NOT NULL DEFAULT 0
);
-- One running job at a time.
CREATE UNIQUE INDEX rescore_jobs_running ON rescore_jobs(state) WHERE state = 'running';
