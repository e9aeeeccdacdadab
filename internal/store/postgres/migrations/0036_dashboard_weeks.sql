-- 0036 dashboard weeks. Issue 18, R8.4, docs/ARCHITECTURE.md
-- "Dashboards": longer ranges read in as few rows as shorter ones. Keep in step with the other
-- driver's migrations.
--
-- dash_hours and dash_dims gain span 168: the week from Monday 00:00 UTC (at = 96 + 168 k, hours
-- since 1970-01-01 UTC), summed here from the days already counted and kept from now on in the
-- event transaction like the hours and days. A range's totals read its edge hours and days and
-- its whole weeks.
INSERT INTO dash_hours (span, at, vector, severity, category, trusted, events)
SELECT 168, at - (((at - 96) % 168) + 168) % 168, vector, severity, category, trusted, SUM(events)
FROM dash_hours WHERE span = 24
GROUP BY at - (((at - 96) % 168) + 168) % 168, vector, severity, category, trusted;

INSERT INTO dash_dims (kind, span, at, value, vector, events, risky)
SELECT kind, 168, at - (((at - 96) % 168) + 168) % 168, value, vector, SUM(events), SUM(risky)
FROM dash_dims WHERE span = 24
GROUP BY kind, at - (((at - 96) % 168) + 168) % 168, value, vector;

-- dash_dims rows of days and weeks with vector '' total every vector of a value, so a top list
-- over a long range reads one row per value and bucket.
INSERT INTO dash_dims (kind, span, at, value, vector, events, risky)
SELECT kind, span, at, value, '', SUM(events), SUM(risky)
FROM dash_dims WHERE span IN (24, 168)
GROUP BY kind, span, at, value;

-- dash_person_risky: a person's events with a risk score above 0 toward untrusted destinations
-- per hour (span 1) and day (span 24), every vector together.
CREATE TABLE dash_person_risky (
  span INTEGER NOT NULL,
  at BIGINT NOT NULL,
  value TEXT NOT NULL,
  risky BIGINT NOT NULL,
  PRIMARY KEY (span, at, value)
);

INSERT INTO dash_person_risky (span, at, value, risky)
SELECT span, at, value, SUM(risky) FROM dash_dims WHERE kind = 'p' AND span IN (1, 24)
GROUP BY span, at, value HAVING SUM(risky) <> 0;

-- dash_people: how many people have risky above 0 in dash_person_risky, per bucket; moved by the
-- writer when a person's count crosses zero, so the dashboards read one row per bucket.
CREATE TABLE dash_people (
  span INTEGER NOT NULL,
  at BIGINT NOT NULL,
  people BIGINT NOT NULL,
  PRIMARY KEY (span, at)
);

INSERT INTO dash_people (span, at, people)
SELECT span, at, COUNT(*) FROM dash_person_risky WHERE risky > 0 GROUP BY span, at;
