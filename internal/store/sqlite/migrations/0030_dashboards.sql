-- 0030 dashboards. Issue 18, R8.4, docs/ARCHITECTURE.md "Dashboards": counts of the events that move
-- files toward untrusted destinations, per hour and per day, kept in the transaction that
-- stores (or updates) the events. Keep in step with the other driver's migrations.
--
-- span is the bucket's length in hours (1: an hour, 24: a UTC day); at is the bucket's start in
-- hours since 1970-01-01 UTC. vector is public_link, external_share, email or endpoint
-- (store.ExposureVector); severity the event's risk severity ('' unscored); category its file
-- category ('' unknown); trusted 1 for a share or e-mail whose destinations are all trusted.
CREATE TABLE dash_hours (
  span INTEGER NOT NULL,
  at INTEGER NOT NULL,
  vector TEXT NOT NULL,
  severity TEXT NOT NULL,
  category TEXT NOT NULL,
  trusted INTEGER NOT NULL,
  events BIGINT NOT NULL,
  PRIMARY KEY (span, at, vector, severity, category, trusted)
);

-- dash_dims: the same untrusted events per drill-down value: kind p (person, the actor's address
-- in lower case), v (device, "device/ID") or d (destination domain). risky counts those with a
-- risk score above 0.
CREATE TABLE dash_dims (
  kind TEXT NOT NULL,
  span INTEGER NOT NULL,
  at INTEGER NOT NULL,
  value TEXT NOT NULL,
  vector TEXT NOT NULL,
  events BIGINT NOT NULL,
  risky BIGINT NOT NULL,
  PRIMARY KEY (kind, span, at, value, vector)
);
