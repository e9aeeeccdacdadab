-- 0009 drives are found by their owner's address: activity records that name no drive are put in
-- or out of scope by the drive of the file's owner (issue 13, R2.8). Keep in step with the other
-- driver's migrations.
CREATE INDEX drives_owner ON drives(connection_id, owner);
