-- 0043 the people per bucket from dash_dims; dash_person_risky dropped. Issue 18, R8.4,
-- docs/ARCHITECTURE.md "Dashboards". Keep in step with the other driver's migrations.
--
-- No older-nodes declaration: nodes of schema 42 and before fold their people's risky totals
-- into dash_person_risky and compare them with dash_people; with the table gone their folds and
-- people reads fail, and beside newer nodes that no longer keep it their crossings would be
-- wrong. Stop every node, then start this release (Migrate refuses while older nodes run).
--
-- dash_person_risky held, per person and hour or day, the risky events toward untrusted
-- destinations of every vector: exactly the sum of the person's dash_dims rows of kind p (every
-- vector's row of an hour, the every-vector row of a day). It existed so that a write could tell
-- whose total crossed zero (dash_people, the people per bucket) from its upsert's answer; now the
-- writers read the totals before their change from dash_dims, a seek per person and bucket,
-- instead of upserting a second row for them. In a day's backlog those rows were about a third
-- of the fold's count rows and of the event transactions' deltas (docs/BENCHMARKS.md,
-- dashboards, fourteenth session). The deltas of kind r (dash_person_risky's) still pending are
-- dropped: the p deltas beside them carry the same counts.
DROP TABLE dash_person_risky;
DELETE FROM dash_deltas WHERE kind = 'r';
DELETE FROM dash_hour_deltas WHERE kind = 'r';
DELETE FROM dash_open_hours WHERE kind = 'r';
