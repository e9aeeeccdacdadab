-- 0013 push subscriptions are found by expiry: the renewal unit reads only those due soon instead
-- of walking every drive (issue 13 review). Keep in step with the other driver's migrations.
CREATE INDEX push_subscriptions_expiry ON push_subscriptions(connection_id, expires_at) WHERE expires_at > 0;
