-- 0042 the dashboards' count tables as WITHOUT ROWID tables (SQLite). Issue 19 (the ingest
-- ratio), issue 18, docs/ARCHITECTURE.md "Dashboards". Keep in step with the other driver's
-- migrations (PostgreSQL's 0042 changes nothing).
--
-- older-nodes: 39
-- SQLite has one node; the declaration is for the numbering's sake.
--
-- Every event transaction upserts about eight count rows (fewer when events share buckets). A
-- table with a composite primary key and a rowid keeps two B-trees, the rows by rowid and the
-- key's index, so a new count row was two B-tree inserts and an update a lookup in each. WITHOUT
-- ROWID keeps the rows in their key's B-tree: one insert, one lookup, and a row stored once
-- (docs/BENCHMARKS.md, the store section, measures it). The columns, keys and contents are the
-- same; each table is copied into its new form, then takes its name. The tables the SQLite
-- store leaves empty (the deltas and open hours, PostgreSQL's) are left as they are.
CREATE TABLE dash_hours_new (
  span INTEGER NOT NULL,
  at INTEGER NOT NULL,
  vector TEXT NOT NULL,
  severity TEXT NOT NULL,
  category TEXT NOT NULL,
  trusted INTEGER NOT NULL,
  events BIGINT NOT NULL,
  PRIMARY KEY (span, at, vector, severity, category, trusted)
) WITHOUT ROWID;
INSERT INTO dash_hours_new SELECT span, at, vector, severity, category, trusted, events FROM dash_hours;
DROP TABLE dash_hours;
ALTER TABLE dash_hours_new RENAME TO dash_hours;

CREATE TABLE dash_dims_new (
  kind TEXT NOT NULL,
  span INTEGER NOT NULL,
  at INTEGER NOT NULL,
  value TEXT NOT NULL,
  vector TEXT NOT NULL,
  events BIGINT NOT NULL,
  risky BIGINT NOT NULL,
  PRIMARY KEY (kind, span, at, value, vector)
) WITHOUT ROWID;
INSERT INTO dash_dims_new SELECT kind, span, at, value, vector, events, risky FROM dash_dims;
DROP TABLE dash_dims;
ALTER TABLE dash_dims_new RENAME TO dash_dims;

CREATE TABLE dash_person_risky_new (
  span INTEGER NOT NULL,
  at INTEGER NOT NULL,
  value TEXT NOT NULL,
  risky BIGINT NOT NULL,
  PRIMARY KEY (span, at, value)
) WITHOUT ROWID;
INSERT INTO dash_person_risky_new SELECT span, at, value, risky FROM dash_person_risky;
DROP TABLE dash_person_risky;
ALTER TABLE dash_person_risky_new RENAME TO dash_person_risky;

CREATE TABLE dash_people_new (
  span INTEGER NOT NULL,
  at INTEGER NOT NULL,
  people BIGINT NOT NULL,
  PRIMARY KEY (span, at)
) WITHOUT ROWID;
INSERT INTO dash_people_new SELECT span, at, people FROM dash_people;
DROP TABLE dash_people;
ALTER TABLE dash_people_new RENAME TO dash_people;
