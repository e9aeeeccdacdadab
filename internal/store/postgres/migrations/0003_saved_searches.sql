-- Forensic search (issue 4): saved searches and incremental-export checkpoints (R5.3).
CREATE TABLE saved_searches (
  id BIGSERIAL PRIMARY KEY,
  name TEXT NOT NULL,
  name_key TEXT NOT NULL,
  query TEXT NOT NULL,
  owner TEXT NOT NULL DEFAULT '',
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX saved_searches_name ON saved_searches(name_key);

CREATE TABLE export_checkpoints (
  name TEXT PRIMARY KEY,
  after_id BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
