-- 0008 export checkpoints belong to the user who created them (issue 12). Before, any analyst or
-- integration token could move anyone's checkpoint (even beyond the newest event, where it stayed).
-- owner_id is the creating user's id; 0 marks a checkpoint created before this migration, which the
-- first non-admin user to use it adopts (docs/SEARCH.md). Keep in step with postgres/migrations.
ALTER TABLE export_checkpoints ADD COLUMN owner_id INTEGER NOT NULL DEFAULT 0;
