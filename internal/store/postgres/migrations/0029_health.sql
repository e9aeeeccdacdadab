-- 0029 environment health (issue 18, R8.1, docs/ARCHITECTURE.md "Environment health"). Times are
-- microseconds. Keep in step with the other driver's migrations.
--
-- health_throttles: each throttling a connection's vendor imposed (until when), kept a week, so
-- that the health view shows throttling over the last day and not only the latest.
CREATE TABLE health_throttles (
  id BIGSERIAL PRIMARY KEY,
  connection_id BIGINT NOT NULL,
  at BIGINT NOT NULL,
  until_at BIGINT NOT NULL
);
CREATE INDEX health_throttles_at ON health_throttles(at);

-- health_streams: one row per activity stream of a connection: when it last committed a page,
-- the newest event time it has stored, when it stored it, and how late that page came (the lag
-- between the newest vendor time of the page and the commit).
CREATE TABLE health_streams (
  connection_id BIGINT NOT NULL,
  stream TEXT NOT NULL,
  page_at BIGINT NOT NULL,
  event_at BIGINT NOT NULL DEFAULT 0,
  stored_at BIGINT NOT NULL DEFAULT 0,
  lag BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (connection_id, stream)
);

-- health_feed_counts: how many actions each feed of a connection with two feeds (a change feed
-- and an audit feed) reported per file and hour (hour = start of the UTC hour of the action), for
-- the completeness check. Kept 8 days.
CREATE TABLE health_feed_counts (
  connection_id BIGINT NOT NULL,
  hour BIGINT NOT NULL,
  file_id TEXT NOT NULL,
  feed TEXT NOT NULL,
  n BIGINT NOT NULL,
  PRIMARY KEY (connection_id, hour, file_id, feed)
);
