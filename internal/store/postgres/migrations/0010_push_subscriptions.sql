-- 0010 push subscriptions a connection holds at its vendor (Box webhooks, Drive channels, Graph
-- subscriptions; issue 13, contract v2): ingest renews them before they expire, makes missing ones
-- again and removes them when collection stops. drive_id is the drives row they follow (0: the
-- tenant's feeds); stream names the stream a delivery wakes. Times are microseconds (0: none).
-- Keep in step with the other driver's migrations.
CREATE TABLE push_subscriptions (
  id BIGSERIAL PRIMARY KEY,
  connection_id BIGINT NOT NULL,
  drive_id BIGINT NOT NULL DEFAULT 0,
  vendor_id TEXT NOT NULL,
  stream TEXT NOT NULL,
  resource TEXT NOT NULL DEFAULT '',
  detail TEXT NOT NULL DEFAULT '',
  expires_at BIGINT NOT NULL DEFAULT 0,
  checked_at BIGINT NOT NULL,
  created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX push_subscriptions_vendor ON push_subscriptions(connection_id, vendor_id);
CREATE INDEX push_subscriptions_drive ON push_subscriptions(connection_id, drive_id);
