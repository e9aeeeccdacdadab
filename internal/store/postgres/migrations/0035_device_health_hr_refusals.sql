-- 0035 device health and HR refusals (issues 17 and 18,
-- docs/ARCHITECTURE.md "Health streams"). Times are microseconds. Keep in step with the other
-- driver's migrations.
--
-- device_health: what a SIEM destination's devices stream sends, one row per change of a device's
-- health, written in the transaction of the change: enrolled, checked_in (the first check-in,
-- one back after silence, or one reporting other details), outdated (a check-in with a version
-- older than the server's), silent (no check-in for longer than device-silent-after; since is
-- the last time it was heard from, so one silence is recorded once however many nodes look),
-- deactivated, reactivated. The rows carry the device's details then.
CREATE TABLE device_health (
  id BIGSERIAL PRIMARY KEY,
  device_id BIGINT NOT NULL,
  at BIGINT NOT NULL,
  kind TEXT NOT NULL,
  host_name TEXT NOT NULL DEFAULT '',
  os TEXT NOT NULL DEFAULT '',
  agent_version TEXT NOT NULL DEFAULT '',
  person TEXT NOT NULL DEFAULT '',
  outdated BIGINT NOT NULL DEFAULT 0,
  since BIGINT NOT NULL DEFAULT 0,
  actor TEXT NOT NULL DEFAULT ''
);
CREATE INDEX device_health_device ON device_health(device_id, id);
CREATE UNIQUE INDEX device_health_silence ON device_health(device_id, since) WHERE kind = 'silent';

-- hr_refusals: the last refused webhook deliveries of each HR source (bad signature, stale
-- timestamp, malformed body): when, why, from which address; never the body. At most 20 are
-- kept per source.
CREATE TABLE hr_refusals (
  id BIGSERIAL PRIMARY KEY,
  integration_id BIGINT NOT NULL,
  at BIGINT NOT NULL,
  reason TEXT NOT NULL,
  detail TEXT NOT NULL DEFAULT '',
  remote_addr TEXT NOT NULL DEFAULT ''
);
CREATE INDEX hr_refusals_source ON hr_refusals(integration_id, id);
